"""Jacobians and Hessians: ``jacfwd``, ``jacrev``, ``hessian``, ``hvp``.

Each is one batched pass: ``jacfwd`` is ``vmap`` of the jvp (linearized once) over
the standard basis of the inputs, ``jacrev`` is ``vmap`` of the vjp over the basis of
the outputs, and ``hessian = jacfwd(jacrev(f))``. ``chunk_size`` bounds memory by
pushing the basis through in chunks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import fungrad.numpy as fnp
from fungrad.api import grad, jvp, vjp_of_call
from fungrad.arguments import (
    FlatFun,
    as_output,
    check_argnums,
    check_differentiable,
    flatten_args,
    normalize_argnums,
    partial_argnums,
)
from fungrad.basis import IdentityRows, batch_over_basis
from fungrad.core import ShapedArray, eval_jaxpr, get_aval, zeros_for
from fungrad.errors import FungradTypeError, FungradValueError
from fungrad.interpreters.partial_eval import linearize_flat
from fungrad.traceback_util import api_boundary
from fungrad.tree_util import PyTreeDef, tree_flatten, tree_unflatten


def _basis_chunks(aval: ShapedArray, chunk_size: int | None):
    """The standard basis of ``aval``'s space, as stacked arrays of at most chunk_size rows."""
    size = int(np.prod(aval.shape, dtype=np.int64))
    if size == 0:  # no basis vectors: one empty batch still gives the right shapes
        yield IdentityRows(0, 0, aval.shape, aval.dtype)
        return
    step = size if chunk_size is None else chunk_size
    for start in range(0, size, max(step, 1)):
        yield IdentityRows(start, min(step, size - start), aval.shape, aval.dtype)


def _check_chunk_size(transformation: str, chunk_size: int | None) -> None:
    if chunk_size is not None and (type(chunk_size) is not int or chunk_size < 1):
        raise FungradValueError(
            f"{transformation}: chunk_size must be a positive int or None, got {chunk_size!r}"
        )


def _batched_over_basis(
    linear_fun: Callable[..., list[Any]],
    aval: ShapedArray,
    chunk_size: int | None,
) -> list[Any]:
    """``linear_fun`` applied to every basis vector of ``aval``'s space, stacked on axis 0."""
    pieces: list[list[Any]] = []
    for chunk in _basis_chunks(aval, chunk_size):
        outs = batch_over_basis(linear_fun, chunk)
        pieces.append([_with_batch(value, dim, chunk.shape[0]) for value, dim in outs])
    if len(pieces) == 1:
        return pieces[0]
    return [fnp.concatenate(parts, axis=0) for parts in zip(*pieces)]


def _with_batch(value: Any, dim: int | None, size: int) -> Any:
    from fungrad.primitives.structural import move_batch_dim

    return move_batch_dim(value, dim, 0, size)


def jacrev(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    chunk_size: int | None = None,
) -> Callable[..., Any]:
    """The Jacobian of ``fun`` by reverse mode: the vjp mapped over the output basis.

    The result has the output's pytree structure outside and the argument's inside;
    each leaf has shape ``out.shape + in.shape``. ``chunk_size`` limits how many
    basis vectors are pulled back at once.

    >>> import fungrad, fungrad.numpy as fnp
    >>> fungrad.jacrev(lambda x: x ** 2)(fnp.array([1.0, 2.0])).tolist()
    [[2.0, 0.0], [0.0, 4.0]]
    """
    argnums_t = normalize_argnums("jacrev", argnums)
    _check_chunk_size("jacrev", chunk_size)

    @api_boundary("jacrev")
    @functools.wraps(fun)
    def jacrev_f(*args: Any, **kwargs: Any) -> Any:
        resolved = check_argnums("jacrev", argnums_t, len(args))
        diff_args = [args[i] for i in resolved]
        out, vjp_fun, *aux = vjp_of_call("jacrev", fun, args, kwargs, resolved, has_aux)
        out_leaves, out_tree = tree_flatten(out)
        in_avals = [get_aval(x) for x in tree_flatten(tuple(diff_args))[0]]
        out_avals = [get_aval(x) for x in out_leaves]
        blocks = []
        for i, aval in enumerate(out_avals):
            if aval.dtype.kind != "f":
                why = (
                    " jacrev can take (split complex outputs into real and imaginary parts)"
                    if aval.dtype.kind == "c"
                    else ""
                )
                raise FungradTypeError(
                    f"jacrev requires floating-point outputs, but output leaf {i} has dtype "
                    f"{aval.dtype}; it has no derivative{why}."
                )

            def pull_back(ct, i=i):
                cts = [ct if j == i else zeros_for(a) for j, a in enumerate(out_avals)]
                return tree_flatten(vjp_fun(tree_unflatten(out_tree, cts)))[0]

            rows = _batched_over_basis(pull_back, aval, chunk_size)
            blocks.append([fnp.reshape(r, aval.shape + a.shape) for r, a in zip(rows, in_avals)])
        jac = _nest(out_tree, tree_flatten(tuple(diff_args))[1], blocks, isinstance(argnums, int))
        return (jac, aux[0]) if has_aux else jac

    return jacrev_f


def jacfwd(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    chunk_size: int | None = None,
) -> Callable[..., Any]:
    """The Jacobian of ``fun`` by forward mode: the jvp mapped over the input basis.

    Same layout as :func:`jacrev`: output structure outside, argument structure
    inside, each leaf of shape ``out.shape + in.shape``.

    >>> import fungrad, fungrad.numpy as fnp
    >>> fungrad.jacfwd(lambda x: x[0] * x[1])(fnp.array([3.0, 4.0])).tolist()
    [4.0, 3.0]
    """
    argnums_t = normalize_argnums("jacfwd", argnums)
    _check_chunk_size("jacfwd", chunk_size)

    @api_boundary("jacfwd")
    @functools.wraps(fun)
    def jacfwd_f(*args: Any, **kwargs: Any) -> Any:
        resolved = check_argnums("jacfwd", argnums_t, len(args))
        restricted = partial_argnums(fun, args, resolved, kwargs)
        diff_args = [args[i] for i in resolved]
        flat_primals, in_tree, names = flatten_args("jacfwd", fun, diff_args, resolved)
        check_differentiable("jacfwd", flat_primals, names)
        flat_fun = FlatFun("jacfwd", restricted, in_tree, has_aux)
        in_avals = [get_aval(p) for p in flat_primals]
        # The jvp as a linear jaxpr, traced once and pushed every basis vector: the
        # flat form of fungrad.linearize, without its checks and pytrees on every push.
        tangent_avals = [ShapedArray(a.shape, a.dtype) for a in in_avals]
        out_primals, jaxpr, zero_outs = linearize_flat(
            flat_fun, flat_primals, tangent_avals, "jacfwd"
        )
        out_avals = [get_aval(p) for p in out_primals]
        columns_per_input = []
        for k, aval in enumerate(in_avals):

            def push_forward(t, k=k):
                tangents = [t if j == k else zeros_for(a) for j, a in enumerate(in_avals)]
                return eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, *tangents)

            columns_per_input.append(iter(_batched_over_basis(push_forward, aval, chunk_size)))
        blocks = []
        for out_aval, zero in zip(out_avals, zero_outs):
            row = []
            for columns, in_aval in zip(columns_per_input, in_avals):
                shape = out_aval.shape + in_aval.shape
                if zero:
                    row.append(zeros_for(ShapedArray(shape, out_aval.dtype)))
                    continue
                # columns: (in.size, *out.shape) -> out.shape + in.shape
                col = next(columns)
                col = fnp.moveaxis(col, 0, -1) if out_aval.shape else col
                row.append(fnp.reshape(col, shape))
            blocks.append(row)
        jac = _nest(flat_fun.out_tree, in_tree, blocks, isinstance(argnums, int))
        return (jac, flat_fun.aux) if has_aux else jac

    return jacfwd_f


def _nest(out_tree: PyTreeDef, in_tree: PyTreeDef, blocks: list[list[Any]], single: bool):
    """Arrange Jacobian blocks: output structure outside, argument structure inside."""
    per_out = []
    for row in blocks:
        inner = tree_unflatten(in_tree, [as_output(b) for b in row])
        per_out.append(inner[0] if single else inner)
    return tree_unflatten(out_tree, per_out)


def hessian(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    chunk_size: int | None = None,
) -> Callable[..., Any]:
    """The Hessian of a scalar ``fun``: ``jacfwd(jacrev(fun))``.

    >>> import fungrad, fungrad.numpy as fnp
    >>> fungrad.hessian(lambda x: fnp.sum(x ** 3))(fnp.array([1.0, 2.0])).tolist()
    [[6.0, 0.0], [0.0, 12.0]]
    """
    argnums_t = normalize_argnums("hessian", argnums)
    _check_chunk_size("hessian", chunk_size)
    forward_over_reverse = jacfwd(
        jacrev(fun, argnums, has_aux, chunk_size), argnums, has_aux, chunk_size
    )

    @api_boundary("hessian")
    @functools.wraps(fun)
    def hessian_f(*args: Any, **kwargs: Any) -> Any:
        resolved = check_argnums("hessian", argnums_t, len(args))
        leaves, _, names = flatten_args("hessian", fun, [args[i] for i in resolved], resolved)
        check_differentiable("hessian", leaves, names)
        return forward_over_reverse(*args, **kwargs)

    return hessian_f


@api_boundary("hvp")
def hvp(fun: Callable, primals: Sequence[Any], tangents: Sequence[Any]) -> Any:
    """Hessian-vector product of a scalar ``fun`` at ``primals`` along ``tangents``.

    Forward-over-reverse (``jvp`` of ``grad``): one pass, never the whole Hessian.
    ``primals`` and ``tangents`` are tuples with one entry per argument; the result
    has the structure of the arguments (the single argument's, if there is one).

    >>> import fungrad, fungrad.numpy as fnp
    >>> fungrad.hvp(lambda x: fnp.sum(x ** 3), (fnp.array([1.0, 2.0]),), (fnp.ones(2),))
    array([ 6., 12.])
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise FungradTypeError(
            "hvp: primals and tangents must be tuples with one entry per argument: "
            "hvp(f, (x,), (v,))"
        )
    argnums = 0 if len(primals) == 1 else tuple(range(len(primals)))
    return jvp(grad(fun, argnums), tuple(primals), tuple(tangents))[1]
