"""The primitives behind custom derivatives (fungrad/custom_derivatives.py):
the calls ``custom_jvp_call`` and ``custom_vjp_call``, and the linear ``custom_lin``.

The two calls carry the program of the user's function as ``call_jaxpr`` (its first
``num_consts`` operands are values the function closes over), which ``impl``
evaluates, ``make_jaxpr`` prints and ``jit`` inlines, and the user's rule as a
*flat callable*, which their jvp rules call instead of differentiating the program:

- ``jvp(primals, tangents) -> (primals_out, tangents_out)``: flat lists; a tangent
  may be a symbolic ``Zero``, in and out;
- ``fwd(*primals) -> (primals_out, residuals, bwd)``, and then
  ``bwd(residuals, cts)`` gives one cotangent per operand (``None`` for none); an
  output cotangent may be a ``Zero``.

``custom_vjp_call``'s jvp rule runs ``fwd`` now and returns, as its tangent,
``custom_lin`` of the residuals and the tangents: a primitive linear in the
tangents, whose transpose rule calls ``bwd``. So reverse mode (jvp, then partial
evaluation, then transposition) reaches ``bwd`` without ever computing a jvp. Only
forward mode evaluates ``custom_lin``: its ``_forward`` param, which for a custom_vjp
function raises the error that explains why there is no forward-mode derivative.

Batching rules bind the primitive again on the whole batch: the program batched, and
the callables wrapped to run the user's rule under ``batch_flat``, so that the rule
survives ``vmap`` (``grad(vmap(f))`` still uses it). Every batched output has its
batch axis first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fungrad import dtypes
from fungrad.core import (
    ClosedJaxpr,
    ShapedArray,
    Zero,
    eval_jaxpr,
    get_aval,
    new_primitive,
    zeros_for,
)
from fungrad.errors import FungradTypeError
from fungrad.interpreters.batching import axis_size, batch_flat, register_batch
from fungrad.interpreters.jvp import jvp_flat, register_jvp
from fungrad.interpreters.partial_eval import trace_to_jaxpr
from fungrad.interpreters.simplify_rules import register_inlinable
from fungrad.interpreters.transpose import is_undefined, register_transpose, require_constant
from fungrad.primitives.structural import move_batch_dim, reduce_sum

__all__ = ["custom_jvp_call_p", "custom_lin_p", "custom_vjp_call_p"]


def _call_impl(*args: Any, call_jaxpr: ClosedJaxpr, **_params: Any) -> list[Any]:
    return eval_jaxpr(call_jaxpr.jaxpr, call_jaxpr.consts, *args)


def _call_abstract_eval(*avals: ShapedArray, call_jaxpr: ClosedJaxpr, **_params: Any):
    return call_jaxpr.out_avals


def _zero_tangents(outs: Sequence[Any]) -> list[Zero]:
    return [Zero(get_aval(o).strip_weak_type()) for o in outs]


def _refuse_closure_tangents(kind: str, name: str, tangents: Sequence[Any]) -> None:
    """The closed-over operands of a custom call must not be differentiated: the user's
    rule speaks only of the function's arguments."""
    for t in tangents:
        if type(t) is not Zero:
            raise FungradTypeError(
                f"Detected differentiation of the {kind} function `{name}` with respect to a "
                f"value it closes over (a {get_aval(t).str_short()} array that an enclosing "
                f"transformation differentiates): its custom rule says how to differentiate "
                f"`{name}` with respect to its arguments only. Pass the value to `{name}` as "
                "an argument and give the rule its derivative; or, if no derivative should "
                "flow through it, close over `fungrad.stop_gradient(value)` instead."
            )


# ---------------------------------------------------------------------------------------
# Batching helpers: run a flat callable once for a whole batch


def _one_example(aval: ShapedArray, dim: int | None) -> ShapedArray:
    if dim is None:
        return aval
    return ShapedArray(aval.shape[:dim] + aval.shape[dim + 1 :], aval.dtype, aval.weak_type)


def _stacked(aval: ShapedArray, size: int) -> ShapedArray:
    return ShapedArray((size, *aval.shape), aval.dtype)


def _unbatch_zeros(values: Sequence[Any], dims: Sequence[int | None]):
    """A symbolic zero goes into ``batch_flat`` unbatched, typed as one example."""
    values, dims = list(values), list(dims)
    for i, (v, d) in enumerate(zip(values, dims)):
        if type(v) is Zero:
            values[i], dims[i] = Zero(_one_example(v.aval, d)), None
    return values, dims


def _batch_first(v: Any, dim: int | None, size: int) -> Any:
    """An output of the batched callable with its batch axis first (a zero stays symbolic)."""
    if type(v) is Zero:
        return Zero(_stacked(v.aval, size))
    return move_batch_dim(v, dim, 0, size)


def _batch_at(ct: Any, dim: int | None, target: int | None, size: int) -> Any:
    """A cotangent of an operand batched at ``target`` (None: the operand is the same
    for every example, so the examples' cotangents are summed)."""
    if ct is None or type(ct) is Zero:
        return None
    if target is None:
        return ct if dim is None else reduce_sum(ct, (dim,))
    return move_batch_dim(ct, dim, target, size)


def batch_program(
    closed: ClosedJaxpr, values: Sequence[Any], dims: Sequence[int | None], size: int
) -> ClosedJaxpr:
    """``closed`` on a batch: operands batched at ``dims``, every output batched first."""

    def batched(*args: Any) -> list[Any]:
        outs = batch_flat(
            lambda *xs: eval_jaxpr(closed.jaxpr, closed.consts, *xs), args, dims, size
        )
        return [move_batch_dim(v, d, 0, size) for v, d in outs]

    avals = [get_aval(v) for v in values]
    origins = [f"operand {i} of a batched custom call" for i in range(len(values))]
    program, _ = trace_to_jaxpr(batched, avals, origins, "vmap")
    return program


class _Batched:
    """Base of the batched callables; printed as ``vmap(rule)`` in a jaxpr."""

    def __init__(self, inner: Callable[..., Any], dims: Sequence[int | None], size: int):
        self.inner = inner
        self.dims = list(dims)
        self.size = size

    def __repr__(self) -> str:
        return f"vmap({self.inner!r})"


class BatchedJVP(_Batched):
    """A custom_jvp rule on a batch: primals and tangents batched at ``dims``."""

    def __call__(self, primals: Sequence[Any], tangents: Sequence[Any]):
        n = len(primals)
        tangents, tangent_dims = _unbatch_zeros(tangents, self.dims)

        def run(*xs: Any) -> list[Any]:
            outs, tangents_out = self.inner(list(xs[:n]), list(xs[n:]))
            return [*outs, *tangents_out]

        results = batch_flat(run, [*primals, *tangents], self.dims + tangent_dims, self.size)
        outs = [_batch_first(v, d, self.size) for v, d in results]
        half = len(outs) // 2
        return outs[:half], outs[half:]


class BatchedBwd(_Batched):
    """A bwd callable on a batch: residuals batched at ``dims``, the cotangents of the
    batched outputs batched first; gives cotangents batched as the operands are
    (``targets``)."""

    def __init__(self, inner, dims, size, targets: Sequence[int | None]):
        super().__init__(inner, dims, size)
        self.targets = list(targets)

    def __call__(self, residuals: Sequence[Any], cts: Sequence[Any]) -> list[Any]:
        n = len(residuals)
        cts, ct_dims = _unbatch_zeros(cts, [0] * len(cts))
        results = batch_flat(
            lambda *xs: self.inner(list(xs[:n]), list(xs[n:])),
            [*residuals, *cts],
            self.dims + ct_dims,
            self.size,
        )
        return [_batch_at(v, d, t, self.size) for (v, d), t in zip(results, self.targets)]


class BatchedFwd(_Batched):
    """A custom_vjp ``fwd`` on a batch: primals batched at ``dims``."""

    def __call__(self, *primals: Any):
        found: list[Any] = []

        def run(*xs: Any) -> list[Any]:
            outs, residuals, bwd = self.inner(*xs)
            found.append((len(outs), bwd))
            return [*outs, *residuals]

        results = batch_flat(run, primals, self.dims, self.size)
        n_out, bwd = found[0]
        outs = [_batch_first(v, d, self.size) for v, d in results[:n_out]]
        residuals = [v for v, _ in results[n_out:]]
        res_dims = [d for _, d in results[n_out:]]
        return outs, residuals, BatchedBwd(bwd, res_dims, self.size, self.dims)


class BatchedForward(_Batched):
    """``custom_lin``'s forward callable on a batch."""

    def __init__(self, inner, dims, size, num_res: int):
        super().__init__(inner, dims, size)
        self.num_res = num_res

    def __call__(self, residuals: Sequence[Any], tangents: Sequence[Any]) -> list[Any]:
        n = self.num_res
        results = batch_flat(
            lambda *xs: self.inner(list(xs[:n]), list(xs[n:])),
            [*residuals, *tangents],
            self.dims,
            self.size,
        )
        return [_batch_first(v, d, self.size) for v, d in results]


# ---------------------------------------------------------------------------------------
# custom_jvp_call: a call whose jvp is the user's rule


custom_jvp_call_p = new_primitive("custom_jvp_call", multiple_results=True)
custom_jvp_call_p.impl = _call_impl
custom_jvp_call_p.abstract_eval = _call_abstract_eval


def _custom_jvp_call_jvp(primals, tangents, *, call_jaxpr, jvp, num_consts, name):
    if all(type(t) is Zero for t in tangents):
        outs = custom_jvp_call_p.bind(
            *primals, call_jaxpr=call_jaxpr, jvp=jvp, num_consts=num_consts, name=name
        )
        return outs, _zero_tangents(outs)
    _refuse_closure_tangents("custom_jvp", name, tangents[:num_consts])
    return jvp(list(primals), list(tangents))


def _custom_jvp_call_batch(values, dims, *, call_jaxpr, jvp, num_consts, name):
    size = axis_size(values, dims)
    outs = custom_jvp_call_p.bind(
        *values,
        call_jaxpr=batch_program(call_jaxpr, values, dims, size),
        jvp=BatchedJVP(jvp, dims, size),
        num_consts=num_consts,
        name=name,
    )
    return outs, [0] * len(outs)


register_jvp(custom_jvp_call_p, _custom_jvp_call_jvp)
register_batch(custom_jvp_call_p, _custom_jvp_call_batch)
register_inlinable(custom_jvp_call_p)


# ---------------------------------------------------------------------------------------
# custom_vjp_call: a call whose tangent is custom_lin, transposed by the user's bwd


custom_vjp_call_p = new_primitive("custom_vjp_call", multiple_results=True)
custom_vjp_call_p.impl = _call_impl
custom_vjp_call_p.abstract_eval = _call_abstract_eval


class ForwardModeError:
    """``custom_lin``'s forward callable for a custom_vjp function: there is none."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, residuals: Sequence[Any], tangents: Sequence[Any]) -> list[Any]:
        raise FungradTypeError(
            f"can't apply forward-mode autodiff (jvp) to a custom_vjp function: `{self.name}` "
            "defines only a reverse-mode rule (fwd and bwd), and forward mode (jvp, jacfwd, "
            "the function returned by linearize, hessian's jacfwd over fwd) has none to "
            "evaluate. Use reverse mode (grad, vjp, jacrev, jacrev of jacrev), or define the "
            "function with custom_jvp, whose rule serves both modes."
        )

    def __repr__(self) -> str:
        return f"no_forward_mode({self.name})"


class _LinearBwd:
    """``bwd`` as ``custom_lin`` transposes it: cotangents of the differentiable outputs
    in, cotangents of the operands whose tangents are not zero out."""

    def __init__(self, bwd, out_avals: Sequence[ShapedArray], diff_outs, linear):
        self.bwd = bwd
        self.out_avals = out_avals
        self.diff_outs = diff_outs
        self.linear = linear

    def __call__(self, residuals: Sequence[Any], cts: Sequence[Any]) -> list[Any]:
        full: list[Any] = [Zero(a) for a in self.out_avals]
        for i, ct in zip(self.diff_outs, cts):
            full[i] = ct
        cts_in = self.bwd(residuals, full)
        return [cts_in[i] for i in self.linear]

    def __repr__(self) -> str:
        return repr(self.bwd)


def _custom_vjp_call_jvp(primals, tangents, *, call_jaxpr, fwd, num_consts, name):
    if all(type(t) is Zero for t in tangents):
        outs = custom_vjp_call_p.bind(
            *primals, call_jaxpr=call_jaxpr, fwd=fwd, num_consts=num_consts, name=name
        )
        return outs, _zero_tangents(outs)
    _refuse_closure_tangents("custom_vjp", name, tangents[:num_consts])
    outs, residuals, bwd = fwd(*primals)
    tangents_out: list[Any] = _zero_tangents(outs)
    out_avals = [t.aval for t in tangents_out]
    diff_outs = [i for i, a in enumerate(out_avals) if dtypes.is_differentiable(a.dtype)]
    if not diff_outs:
        return outs, tangents_out
    linear = [i for i, t in enumerate(tangents) if type(t) is not Zero]
    lin_outs = custom_lin_p.bind(
        *residuals,
        *(tangents[i] for i in linear),
        num_res=len(residuals),
        bwd=_LinearBwd(bwd, out_avals, diff_outs, linear),
        _out_avals=tuple(out_avals[i] for i in diff_outs),
        _forward=ForwardModeError(name),
    )
    for i, t in zip(diff_outs, lin_outs):
        tangents_out[i] = t
    return outs, tangents_out


def _custom_vjp_call_batch(values, dims, *, call_jaxpr, fwd, num_consts, name):
    size = axis_size(values, dims)
    outs = custom_vjp_call_p.bind(
        *values,
        call_jaxpr=batch_program(call_jaxpr, values, dims, size),
        fwd=BatchedFwd(fwd, dims, size),
        num_consts=num_consts,
        name=name,
    )
    return outs, [0] * len(outs)


register_jvp(custom_vjp_call_p, _custom_vjp_call_jvp)
register_batch(custom_vjp_call_p, _custom_vjp_call_batch)
register_inlinable(custom_vjp_call_p)


# ---------------------------------------------------------------------------------------
# custom_lin: linear in its operands after the first num_res (the residuals); its
# transpose is the ``bwd`` param, its value the ``_forward`` param:
# ``bwd(residuals, cts) -> cts of the linear operands`` (None for none) and
# ``_forward(residuals, tangents) -> outputs``; ``_out_avals`` types the outputs.

custom_lin_p = new_primitive("custom_lin", multiple_results=True)
custom_lin_p.impl = lambda *args, num_res, bwd, _out_avals, _forward: _forward(
    list(args[:num_res]), list(args[num_res:])
)
custom_lin_p.abstract_eval = lambda *avals, num_res, bwd, _out_avals, _forward: list(_out_avals)


def _custom_lin_jvp(primals, tangents, *, num_res, bwd, _out_avals, _forward):
    # Only forward mode reaches this (reverse mode transposes custom_lin instead):
    # the derivative of the forward computation, whatever it is.
    def forward(*xs: Any) -> list[Any]:
        return _forward(list(xs[:num_res]), list(xs[num_res:]))

    return jvp_flat(forward, primals, tangents, "jvp")


def _custom_lin_transpose(cts, *args, num_res, bwd, _out_avals, _forward):
    residuals, linear = args[:num_res], args[num_res:]
    require_constant("custom_lin", **{f"residual{i}": r for i, r in enumerate(residuals)})
    cts = [zeros_for(a) if type(ct) is Zero else ct for ct, a in zip(cts, _out_avals)]
    cts_in = bwd(list(residuals), cts)
    return [None] * num_res + [
        ct if is_undefined(x) and ct is not None and type(ct) is not Zero else None
        for ct, x in zip(cts_in, linear)
    ]


def _custom_lin_batch(values, dims, *, num_res, bwd, _out_avals, _forward):
    size = axis_size(values, dims)
    outs = custom_lin_p.bind(
        *values,
        num_res=num_res,
        bwd=BatchedBwd(bwd, dims[:num_res], size, dims[num_res:]),
        _out_avals=tuple(_stacked(a, size) for a in _out_avals),
        _forward=BatchedForward(_forward, dims, size, num_res),
    )
    return outs, [0] * len(outs)


register_jvp(custom_lin_p, _custom_lin_jvp)
register_transpose(custom_lin_p, _custom_lin_transpose)
register_batch(custom_lin_p, _custom_lin_batch)
