"""The transformations users call: grad, value_and_grad, jvp, vjp, linearize,
linear_transpose, make_jaxpr (jacobians, vmap and jit have modules of their own).
Beneath grad and jacrev is a public building block, :func:`vjp_of_call`: vjp with
respect to some arguments of a call, with errors that name the transformation built on it.

Argument conventions (argnums, has_aux, pytrees, naming arguments in errors) come
from fungrad.arguments; this module adds each transformation's checks and errors.
The work itself is done by the interpreters on flat lists of arrays: jvp by
:func:`jvp_flat`, reverse mode by :func:`linearize_flat` (jvp + partial evaluation)
then :func:`backward_pass`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import fungrad.primitives  # noqa: F401  (registers the primitives and tangent operations)
from fungrad import dtypes
from fungrad.arguments import (
    ArgNames,
    FlatFun,
    as_array,
    as_output,
    check_argnums,
    check_differentiable,
    flatten_args,
    normalize_argnums,
    partial_argnums,
)
from fungrad.core import (
    ClosedJaxpr,
    ShapedArray,
    Zero,
    get_aval,
    zeros_for,
)
from fungrad.errors import FungradTypeError, FungradValueError
from fungrad.interpreters.jvp import jvp_flat
from fungrad.interpreters.partial_eval import linearize_flat, trace_to_jaxpr
from fungrad.interpreters.transpose import backward_pass
from fungrad.traceback_util import api_boundary
from fungrad.tree_util import (
    structure_mismatch_message,
    tree_flatten,
    tree_map,
    tree_unflatten,
)

__all__ = [
    "grad",
    "value_and_grad",
    "jvp",
    "vjp",
    "linearize",
    "vjp_of_call",
    "linear_transpose",
    "make_jaxpr",
]

# ---------------------------------------------------------------------------------------
# Forward mode


@api_boundary("jvp")
def jvp(
    fun: Callable, primals: Sequence[Any], tangents: Sequence[Any], has_aux: bool = False
) -> tuple[Any, ...]:
    """Evaluate ``fun`` at ``primals`` and its directional derivative along ``tangents``.

    Returns ``(primals_out, tangents_out)`` (plus ``aux`` with ``has_aux=True``).

    >>> import fungrad, fungrad.numpy as fnp
    >>> y, dy = fungrad.jvp(fnp.sin, (0.0,), (2.0,))
    >>> float(y), float(dy)
    (0.0, 2.0)
    """
    for name, value in (("primals", primals), ("tangents", tangents)):
        if not isinstance(value, (tuple, list)):
            raise FungradTypeError(
                f"jvp: {name} must be a tuple or list with one entry per argument of the "
                f"function, got a {type(value).__name__}. Write jvp(f, (x,), (t,))."
            )
    argnums = tuple(range(len(primals)))
    flat_primals, in_tree, names = flatten_args("jvp", fun, primals, argnums)
    flat_tangents, tangent_tree = tree_flatten(tuple(tangents))
    if tangent_tree != in_tree:
        raise FungradTypeError(
            structure_mismatch_message(
                "jvp: primals and tangents must have the same pytree structure",
                "primals",
                in_tree,
                "tangents",
                tangent_tree,
            )
        )
    checked = [
        _check_tangent(p, t, names, i) for i, (p, t) in enumerate(zip(flat_primals, flat_tangents))
    ]
    flat_fun = FlatFun("jvp", fun, in_tree, has_aux)
    out_primals, out_tangents = jvp_flat(flat_fun, flat_primals, checked, "jvp")
    out_tree = flat_fun.out_tree
    primals_out = tree_unflatten(out_tree, out_primals)
    tangents_out = tree_unflatten(
        out_tree, [as_output(zeros_for(t.aval) if type(t) is Zero else t) for t in out_tangents]
    )
    if has_aux:
        return primals_out, tangents_out, flat_fun.aux
    return primals_out, tangents_out


def _check_tangent(primal: Any, tangent: Any, names: ArgNames, i: int) -> Any:
    p_aval = get_aval(primal)
    tangent = as_array(tangent, lambda: f"jvp: the tangent for {names[i]}")
    t_aval = get_aval(tangent)
    if not dtypes.is_differentiable(p_aval.dtype):
        if t_aval.dtype != dtypes.float0 or t_aval.shape != p_aval.shape:
            raise FungradTypeError(
                f"jvp: {names[i]} has integer dtype {p_aval.dtype}, so it has no derivative; its "
                f"tangent must be an array of dtype fungrad.dtypes.float0 and shape "
                f"{p_aval.shape}, got {t_aval.str_short()}."
            )
        return Zero(p_aval)
    if t_aval.shape != p_aval.shape:
        raise FungradValueError(
            f"jvp: the tangent for {names[i]} has shape {t_aval.shape}, but the primal has shape "
            f"{p_aval.shape}; they must match."
        )
    if t_aval.dtype != p_aval.dtype:
        if type(tangent) in (float, int) and not p_aval.shape:
            return np.asarray(tangent, p_aval.dtype)  # a Python scalar tangent: adopt the dtype
        raise FungradTypeError(
            f"jvp: the tangent for {names[i]} has dtype {t_aval.dtype}, but the primal has dtype "
            f"{p_aval.dtype}; they must match."
        )
    return tangent


@api_boundary("linearize")
def linearize(fun: Callable, *primals: Any) -> tuple[Any, Callable[..., Any]]:
    """Evaluate ``fun`` at ``primals`` and return its jvp there as a linear function.

    The returned function maps tangents (one per primal) to output tangents; it
    reuses the residuals of this one forward pass on every call.

    >>> import fungrad, fungrad.numpy as fnp
    >>> y, f_jvp = fungrad.linearize(fnp.sin, 0.0)
    >>> float(f_jvp(3.0))
    3.0
    """
    argnums = tuple(range(len(primals)))
    flat_primals, in_tree, names = flatten_args("linearize", fun, primals, argnums)
    flat_fun = FlatFun("linearize", fun, in_tree, False)
    out_primals, jaxpr, zero_outs, tangent_avals = _linearize(flat_fun, flat_primals, "linearize")
    out_tree = flat_fun.out_tree
    out_avals = [get_aval(p) for p in out_primals]

    @api_boundary("linearize_jvp")
    def f_jvp(*tangents: Any) -> Any:
        flat_tangents, tangent_tree = tree_flatten(tuple(tangents))
        if tangent_tree != in_tree:
            raise FungradTypeError(
                structure_mismatch_message(
                    "linearize: the tangents must have the same pytree structure as the primals",
                    "primals",
                    in_tree,
                    "tangents",
                    tangent_tree,
                )
            )
        checked = [
            _check_tangent(p, t, names, i)
            for i, (p, t) in enumerate(zip(flat_primals, flat_tangents))
        ]
        args = [t for t, aval in zip(checked, tangent_avals) if aval is not None]
        from fungrad.core import eval_jaxpr

        results = iter(eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, *args))
        outs = [zeros_for(a) if z else next(results) for a, z in zip(out_avals, zero_outs)]
        return tree_unflatten(out_tree, [as_output(o) for o in outs])

    return tree_unflatten(out_tree, out_primals), f_jvp


def _linearize(flat_fun: Callable, flat_primals: list[Any], transformation: str):
    tangent_avals = [
        ShapedArray(a.shape, a.dtype) if dtypes.is_differentiable(a.dtype) else None
        for a in map(get_aval, flat_primals)
    ]
    out_primals, jaxpr, zero_outs = linearize_flat(
        flat_fun, flat_primals, tangent_avals, transformation
    )
    return out_primals, jaxpr, zero_outs, tangent_avals


# ---------------------------------------------------------------------------------------
# Reverse mode


@api_boundary("vjp")
def vjp(fun: Callable, *primals: Any, has_aux: bool = False) -> tuple[Any, ...]:
    """Evaluate ``fun`` at ``primals`` and return a function pulling cotangents back.

    Returns ``(primals_out, vjp_fun)`` (plus ``aux`` with ``has_aux=True``);
    ``vjp_fun(cotangent)`` returns a tuple with one cotangent per primal.

    >>> import fungrad, fungrad.numpy as fnp
    >>> y, f_vjp = fungrad.vjp(lambda x: x * x, 3.0)
    >>> float(f_vjp(1.0)[0])
    6.0
    """
    return _vjp("vjp", fun, primals, tuple(range(len(primals))), has_aux, check_inputs=False)


def vjp_of_call(
    transformation: str,
    fun: Callable,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    argnums: Sequence[int],
    has_aux: bool = False,
) -> tuple[Any, ...]:
    """:func:`vjp` of the call ``fun(*args, **kwargs)`` with respect to the arguments
    numbered ``argnums``: the building block of ``grad`` and ``jacrev``, for writing a
    transformation of one's own.

    Returns ``(out, vjp_fun)`` (plus ``aux`` with ``has_aux=True``); ``vjp_fun`` returns
    one cotangent per entry of ``argnums``. The differentiated arguments must be
    floating-point, and errors name ``transformation`` and each argument by ``fun``'s
    parameters (``argument 1 ('x')``), as the user called it.

    >>> import fungrad.numpy as fnp
    >>> def loss(w, x):
    ...     return fnp.sum(w * x)
    >>> out, vjp_fun = vjp_of_call("mygrad", loss, (fnp.ones(2), fnp.array([1.0, 2.0])), {}, (0,))
    >>> vjp_fun(1.0)[0].tolist()
    [1.0, 2.0]
    """
    resolved = check_argnums(transformation, tuple(argnums), len(args))
    diff_args = [args[i] for i in resolved]
    restricted = partial_argnums(fun, args, resolved, kwargs)
    return _vjp(transformation, restricted, diff_args, resolved, has_aux, fun)


def _vjp(
    transformation: str,
    fun: Callable,
    primals: Sequence[Any],
    argnums: Sequence[int],
    has_aux: bool,
    named_fun: Callable | None = None,
    check_inputs: bool = True,
) -> tuple[Any, ...]:
    """vjp of ``fun`` at ``primals``, which are arguments ``argnums`` of ``named_fun``."""
    flat_primals, in_tree, names = flatten_args(transformation, named_fun or fun, primals, argnums)
    if check_inputs:
        check_differentiable(transformation, flat_primals, names)
    flat_fun = FlatFun(transformation, fun, in_tree, has_aux)
    out_primals, jaxpr, zero_outs, tangent_avals = _linearize(
        flat_fun, flat_primals, transformation
    )
    out_tree = flat_fun.out_tree
    out_avals = [get_aval(p) for p in out_primals]
    primals_out = tree_unflatten(out_tree, out_primals)

    @api_boundary(f"{transformation}_pullback")
    def vjp_fun(cotangent: Any) -> tuple[Any, ...]:
        flat_cts, ct_tree = tree_flatten(cotangent)
        if ct_tree != out_tree:
            raise FungradTypeError(
                structure_mismatch_message(
                    f"{transformation}: the cotangent must have the same pytree structure as "
                    "the function's output",
                    "output",
                    out_tree,
                    "cotangent",
                    ct_tree,
                )
            )
        cts = []
        for i, (ct, aval, zero) in enumerate(zip(flat_cts, out_avals, zero_outs)):
            ct = _check_cotangent(transformation, ct, aval, out_tree, i)
            if not zero:
                cts.append(ct)
        in_cts = iter(backward_pass(jaxpr.jaxpr, jaxpr.consts, cts, transformation))
        flat = []
        for p, aval in zip(flat_primals, tangent_avals):
            ct = next(in_cts) if aval is not None else Zero(get_aval(p))
            flat.append(as_output(zeros_for(ct.aval) if type(ct) is Zero else ct))
        return tree_unflatten(in_tree, flat)

    if has_aux:
        return primals_out, vjp_fun, flat_fun.aux
    return primals_out, vjp_fun


def _check_cotangent(transformation, ct, aval, out_tree, i):
    ct = as_array(ct, lambda: f"{transformation}: cotangent leaf {i}")
    ct_aval = get_aval(ct)
    if ct_aval.shape != aval.shape:
        raise FungradValueError(
            f"{transformation}: cotangent leaf {i} has shape {ct_aval.shape}, but the "
            f"corresponding output has shape {aval.shape}; they must match."
        )
    if not dtypes.is_differentiable(aval.dtype):
        return ct  # an integer output has no derivative: its cotangent is ignored
    if ct_aval.dtype != aval.dtype and isinstance(ct, np.ndarray):
        ct = ct.astype(aval.dtype)
    return ct


def value_and_grad(
    fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """Like :func:`grad`, but the new function returns ``(value, gradient)``.

    With ``has_aux=True`` it returns ``((value, aux), gradient)``.

    >>> import fungrad, fungrad.numpy as fnp
    >>> value, g = fungrad.value_and_grad(lambda x: fnp.sum(x ** 2))(fnp.array([1.0, 2.0]))
    >>> float(value), g.tolist()
    (5.0, [2.0, 4.0])
    """
    argnums_t = normalize_argnums("grad", argnums)

    @api_boundary("value_and_grad")
    @functools.wraps(fun)
    def value_and_grad_f(*args: Any, **kwargs: Any) -> Any:
        out, vjp_fun, *aux = vjp_of_call("grad", fun, args, kwargs, argnums_t, has_aux)
        _check_scalar_output(out, has_aux)
        g = vjp_fun(np.ones((), get_aval(out).dtype))
        g = g[0] if isinstance(argnums, int) else g
        return ((out, aux[0]) if has_aux else out), g

    return value_and_grad_f


def grad(
    fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """The gradient of a scalar-valued ``fun`` with respect to argument(s) ``argnums``.

    The gradient has the pytree structure of the differentiated argument (a tuple of
    them when ``argnums`` is a tuple). With ``has_aux=True``, ``fun`` returns
    ``(loss, aux)`` and the new function returns ``(gradient, aux)``.

    >>> import fungrad, fungrad.numpy as fnp
    >>> float(fungrad.grad(fnp.tanh)(0.0))
    1.0
    >>> fungrad.grad(lambda p: p["w"] * p["b"])({"w": 2.0, "b": 3.0})
    {'b': array(2.), 'w': array(3.)}
    """
    value_and_grad_f = value_and_grad(fun, argnums, has_aux)

    @api_boundary("grad")
    @functools.wraps(fun)
    def grad_f(*args: Any, **kwargs: Any) -> Any:
        value, g = value_and_grad_f(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return grad_f


def _check_scalar_output(out: Any, has_aux: bool) -> None:
    if isinstance(out, (tuple, list, dict)):
        hint = (
            " If the function returns (loss, extras), pass has_aux=True."
            if isinstance(out, (tuple, list)) and not has_aux
            else ""
        )
        raise FungradTypeError(
            f"grad requires a scalar output, but the function returned a "
            f"{type(out).__name__} of {len(out)} values.{hint} To differentiate several "
            "outputs use jacrev or vjp."
        )
    aval = get_aval(out)
    if aval.shape != ():
        raise FungradTypeError(
            f"grad requires a scalar output, but the function returned an array of shape "
            f"{aval.shape}. To differentiate a vector-valued function use jacrev or vjp; "
            "if the function returns (loss, extras), pass has_aux=True."
        )
    if not dtypes.is_differentiable(aval.dtype) or aval.dtype.kind == "c":
        raise FungradTypeError(
            f"grad requires a real floating-point output, but the function returned dtype "
            f"{aval.dtype}."
        )


@api_boundary("linear_transpose")
def linear_transpose(fun: Callable, *primals: Any) -> Callable[..., tuple[Any, ...]]:
    """The transpose of a linear function ``fun``, traced at ``primals``' shapes and dtypes.

    ``primals`` give only shapes and dtypes; the returned function maps an output
    cotangent to a tuple of input cotangents. If ``fun`` is not linear, calling the
    transpose raises an error naming the non-linear operation.

    >>> import fungrad, fungrad.numpy as fnp
    >>> f_t = fungrad.linear_transpose(lambda x: 2.0 * x, fnp.ones(2))
    >>> f_t(fnp.array([1.0, 3.0]))[0].tolist()
    [2.0, 6.0]
    """
    argnums = tuple(range(len(primals)))
    flat_primals, in_tree, names = flatten_args("linear_transpose", fun, primals, argnums)
    check_differentiable("linear_transpose", flat_primals, names)
    in_avals = [get_aval(p).strip_weak_type() for p in flat_primals]
    flat_fun = FlatFun("linear_transpose", fun, in_tree, False)
    jaxpr, outs = trace_to_jaxpr(flat_fun, in_avals, list(names), "linear_transpose")
    out_tree = flat_fun.out_tree
    out_avals = [get_aval(o) for o in outs]

    @api_boundary("linear_transpose")
    def transpose_fun(cotangent: Any) -> tuple[Any, ...]:
        flat_cts, ct_tree = tree_flatten(cotangent)
        if ct_tree != out_tree:
            raise FungradTypeError(
                structure_mismatch_message(
                    "linear_transpose: the cotangent must have the same pytree structure as "
                    "the function's output",
                    "output",
                    out_tree,
                    "cotangent",
                    ct_tree,
                )
            )
        cts = [
            _check_cotangent("linear_transpose", ct, aval, out_tree, i)
            for i, (ct, aval) in enumerate(zip(flat_cts, out_avals))
        ]
        in_cts = backward_pass(jaxpr.jaxpr, jaxpr.consts, cts, "linear_transpose")
        flat = [as_output(zeros_for(c.aval) if type(c) is Zero else c) for c in in_cts]
        return tree_unflatten(in_tree, flat)

    return transpose_fun


# ---------------------------------------------------------------------------------------
# Tracing to a jaxpr


def make_jaxpr(
    fun: Callable, static_argnums: int | Sequence[int] = (), source_info: bool = False
) -> Callable[..., ClosedJaxpr]:
    """A function that traces ``fun`` on example arguments and returns its jaxpr.

    Only shapes and dtypes of the arguments matter, except for ``static_argnums``,
    whose values are used as they are (so Python control flow may depend on them).
    Every equation records the user's line that produced it (``eqn.source_info``);
    with ``source_info=True`` the printed jaxpr shows it after each equation (so does
    ``closed.pretty_print(source_info=True)``). The backward-pass equations of a
    gradient are marked with the line of the operation they are the adjoint of.

    >>> import fungrad, fungrad.numpy as fnp
    >>> print(fungrad.make_jaxpr(lambda x: fnp.sin(x) * 2.0)(fnp.ones(3)))
    { lambda ; a:f64[3]. let
        b:f64[3] = sin a
        c:f64[3] = mul b 2.0
      in (c,) }
    """
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    @api_boundary("make_jaxpr")
    @functools.wraps(fun)
    def make_jaxpr_f(*args: Any, **kwargs: Any) -> ClosedJaxpr:
        resolved_static = (
            check_argnums("make_jaxpr", static, len(args), "static_argnums") if static else ()
        )
        dynamic = tuple(i for i in range(len(args)) if i not in resolved_static)
        restricted = partial_argnums(fun, args, dynamic, kwargs)
        flat, in_tree, names = flatten_args("make_jaxpr", fun, [args[i] for i in dynamic], dynamic)
        in_avals = [get_aval(x) for x in flat]
        flat_fun = FlatFun("make_jaxpr", restricted, in_tree, False)
        jaxpr, _ = trace_to_jaxpr(flat_fun, in_avals, list(names), "make_jaxpr")
        jaxpr.show_source_info = source_info
        return jaxpr

    return make_jaxpr_f


def tree_stop_gradient(tree: Any) -> Any:
    from fungrad.primitives.elementwise import stop_gradient

    return tree_map(stop_gradient, tree)
