"""Batching: the vmap interpreter, and helpers for writing batching rules.

A :class:`BatchTracer` carries a value with one extra *batch dimension* (``batch_dim``,
an int), or no batch dimension at all (``None``) for values that are the same for
every example. The interpreter calls each primitive's batching rule once for the
whole batch: ``rule(args, dims, **params) -> (out, out_dim)``. Unbatched operands
stay unbatched: rules broadcast only when an operation really needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fungrad.core import (
    Interpreter,
    Primitive,
    ShapedArray,
    Tracer,
    _state,
    activate,
    get_aval,
    missing_rule,
    shape_of,
)
from fungrad.errors import ConcretizationError

#: Each primitive's batching rule: ``rule(values, dims, **params) -> (out, out_dim)``,
#: ``dims`` holding each operand's batch dimension or None. Registered with
#: :func:`register_batch`.
batch_rules: dict[Primitive, Callable[..., Any]] = {}


def register_batch(prim: Primitive, rule: Callable[..., Any]) -> None:
    """Make ``rule`` the batching rule of ``prim``."""
    batch_rules[prim] = rule


class BatchTracer(Tracer):
    __slots__ = ("value", "batch_dim")

    def __init__(self, interpreter: BatchInterpreter, value: Any, batch_dim: int | None):
        self.interpreter = interpreter
        self.value = value
        self.batch_dim = batch_dim

    @property
    def aval(self) -> ShapedArray:
        aval = get_aval(self.value)
        if self.batch_dim is None:
            return aval
        shape = aval.shape[: self.batch_dim] + aval.shape[self.batch_dim + 1 :]
        return ShapedArray(shape, aval.dtype, aval.weak_type)

    def to_concrete(self) -> Any:
        raise ConcretizationError(
            f"A concrete value was needed (for `if`, `while`, `bool()`, `int()` or an index) "
            f"but this value differs across the batch under `vmap`: {self.aval.str_short()} "
            "per example. Python control flow cannot branch on it once for the whole batch. "
            "Compute both results and choose with `fungrad.numpy.where(condition, a, b)`, "
            "or write it as `fungrad.lax.cond` (`lax.while_loop` for a loop), which vmap "
            "batches per example (docs/control_flow.md)."
        )


class BatchInterpreter(Interpreter):
    __slots__ = ("axis_size",)

    def __init__(self, parent: Interpreter, axis_size: int, transformation: str = "vmap"):
        super().__init__(parent, transformation)
        self.axis_size = axis_size

    def process_primitive(self, prim: Primitive, args: Sequence[Any], params: dict) -> Any:
        values = []
        dims = []
        own = False
        for x in args:
            if type(x) is BatchTracer and x.interpreter is self:
                values.append(x.value)
                dims.append(x.batch_dim)
                own = own or x.batch_dim is not None
            else:
                values.append(x)
                dims.append(None)
        if not own:
            # Nothing here varies across the batch: compute it once.
            return self.forward_to_parent(prim, values, params)
        rule = batch_rules.get(prim)
        if rule is None:
            raise missing_rule(prim, "batching")
        _state.current = self.parent
        try:
            out, out_dim = rule(values, dims, **params)
        finally:
            _state.current = self
        if prim.multiple_results:
            return [BatchTracer(self, o, d) for o, d in zip(out, out_dim)]
        return BatchTracer(self, out, out_dim)

    def unpack(self, x: Any) -> tuple[Any, int | None]:
        if type(x) is BatchTracer and x.interpreter is self:
            return x.value, x.batch_dim
        return x, None


def batch_flat(
    fun: Callable[..., Sequence[Any]],
    args: Sequence[Any],
    in_dims: Sequence[int | None],
    axis_size: int,
) -> list[tuple[Any, int | None]]:
    """Run ``fun`` once over a batch (flat lists in and out).

    Returns each output with its batch dimension (None if it does not vary).
    """
    interp = BatchInterpreter(_state.current, axis_size)
    tracers = [BatchTracer(interp, x, d) if d is not None else x for x, d in zip(args, in_dims)]
    with activate(interp):
        outs = fun(*tracers)
    return [interp.unpack(x) for x in outs]


# ---------------------------------------------------------------------------------------
# Helpers for rule writers (those that need primitives are in fungrad/primitives/builders.py)


def axis_size(values: Sequence[Any], dims: Sequence[int | None]) -> int:
    """The batch size, read off the first batched operand (for batching rules)."""
    return next(shape_of(v)[d] for v, d in zip(values, dims) if d is not None)


def defvectorized(prim: Primitive) -> None:
    """Batching rule of an operation that maps each element (or each array along its
    batch dimension) on its own: apply it to the batch, the batch dimension stays put."""
    register_batch(prim, lambda values, dims, **params: (prim.bind(*values, **params), dims[0]))
