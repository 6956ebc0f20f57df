"""Everything a rule writer needs to give a primitive its rules, in one module.

A primitive is one block: its declaration (``new_primitive``, ``impl``,
``abstract_eval``), its wrapper function, then one registration per kind of rule:

- **jvp**: ``defjvp(prim, *partials)`` from one linear map per input, or
  ``register_jvp(prim, rule)`` for a whole rule; ``zero_jvp`` for outputs with no
  derivative.
- **transpose** (linear primitives only): ``deflinear(prim, transpose)`` for a
  primitive linear in all its inputs (it also gives the jvp), ``defbilinear`` for a
  product, ``register_transpose(prim, rule)`` for a primitive linear in some inputs.
- **batching**: ``register_batch(prim, rule)``; ``defvectorized`` and
  ``defbroadcasting`` give the two common rules.
- **identity** and **broadcasting** (optional, for ``jit``'s simplifier):
  ``register_identity``, ``register_broadcasting``.

Lowering to NumPy source for ``jit`` is the backend's business, not the primitive's.
The tables these fill live with the interpreters that read them
(fungrad/interpreters/); this module adds the helpers that need primitives
themselves (adding, broadcasting and casting tangents, moving batch dimensions).
``fungrad.extend`` is the public face of this module.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

from fungrad.core import Primitive, Zero, add, get_aval, shape_of
from fungrad.interpreters.batching import axis_size, defvectorized, register_batch
from fungrad.interpreters.jvp import check_real_tangent, register_jvp, zero_jvp
from fungrad.interpreters.simplify_rules import register_broadcasting, register_identity
from fungrad.interpreters.transpose import (
    UndefinedPrimal,
    deflinear,
    is_undefined,
    register_transpose,
    require_constant,
)
from fungrad.primitives.structural import (
    broadcast_to,
    cast_like,
    move_batch_dim,
    reshape,
    to_front,
    unbroadcast,
)

__all__ = [
    "UndefinedPrimal",
    "axis_size",
    "broadcast_tangent",
    "broadcasting_rule",
    "cast_like",
    "defbilinear",
    "defbroadcasting",
    "defjvp",
    "deflinear",
    "defvectorized",
    "is_undefined",
    "move_batch_dim",
    "register_batch",
    "register_broadcasting",
    "register_identity",
    "register_jvp",
    "register_transpose",
    "require_constant",
    "to_front",
    "unbroadcast",
    "zero_jvp",
]


# ---------------------------------------------------------------------------------------
# jvp


def broadcast_tangent(t: Any, ans: Any) -> Any:
    """Give a tangent contribution the shape and dtype of the primal output ``ans``."""
    ans_shape = shape_of(ans)
    if shape_of(t) != ans_shape:
        t = broadcast_to(t, ans_shape)
    dtype = ans.dtype if hasattr(ans, "dtype") else get_aval(ans).dtype
    if dtype.kind == "c":
        check_real_tangent(dtype)
    return cast_like(t, dtype)


def defjvp(prim: Primitive, *partials: Callable[..., Any] | None) -> None:
    """Define ``prim``'s jvp from one linear map per input: ``partial(t, ans, *args, **params)``.

    Each gives the output tangent contributed by that input's tangent ``t``; ``ans``
    is the primal output. ``None`` marks an input with no derivative. Symbolic-zero
    tangents are skipped, so a partial never sees a Zero; the contributions are
    summed and given the output's shape and dtype.
    """

    def jvp_rule(primals, tangents, **params):
        ans = prim.bind(*primals, **params)
        out = None
        for partial, t in zip(partials, tangents):
            if partial is None or type(t) is Zero:
                continue
            contribution = partial(t, ans, *primals, **params)
            out = contribution if out is None else add(out, contribution)
        if out is None:
            return ans, Zero(get_aval(ans))
        return ans, broadcast_tangent(out, ans)

    register_jvp(prim, jvp_rule)


def defbilinear(
    prim: Primitive,
    lhs_transpose: Callable[..., Any],
    rhs_transpose: Callable[..., Any],
    operand_names: tuple[str, str] = ("x", "y"),
) -> None:
    """Declare ``prim(x, y)`` linear in each operand separately (a product).

    Its jvp is ``prim(tx, y) + prim(x, ty)``. ``lhs_transpose(ct, x, y, **params)``
    gives the cotangent of ``x`` (an UndefinedPrimal; ``y`` is a value) and
    ``rhs_transpose(ct, x, y, **params)`` that of ``y``. Transposing with respect to
    both operands at once is not linear, and raises an error that calls the second
    operand by its name in ``operand_names``.
    """
    rhs_name = operand_names[1]
    defjvp(
        prim,
        lambda t, ans, x, y, **params: prim.bind(t, y, **params),
        lambda t, ans, x, y, **params: prim.bind(x, t, **params),
    )

    def transpose_rule(ct, x, y, **params):
        if type(x) is UndefinedPrimal:
            if type(y) is UndefinedPrimal:  # both depend on the input: not linear
                require_constant(prim.name, **{rhs_name: y})
            return lhs_transpose(ct, x, y, **params), None
        return None, rhs_transpose(ct, x, y, **params)

    register_transpose(prim, transpose_rule)


# ---------------------------------------------------------------------------------------
# Batching


def defbroadcasting(prim: Primitive) -> None:
    """Give ``prim`` the batching rule of a NumPy-broadcasting primitive."""
    register_batch(prim, broadcasting_rule(prim))


def broadcasting_rule(prim: Primitive) -> Callable[..., Any]:
    """Batching rule of a NumPy-broadcasting primitive.

    Broadcasting aligns trailing dimensions, so batched operands get their batch
    dimension first and, if they have fewer dimensions than the result, size-1
    dimensions after it; unbatched operands are left as they are.
    """

    def rule(values, dims, **params):
        shapes = [shape_of(v) for v in values]
        first = dims[0]
        if (
            first is not None
            and all(d == first for d in dims)
            and all(len(s) == len(shapes[0]) for s in shapes)
        ):
            return prim.bind(*values, **params), first
        ranks = [len(s) - (d is not None) for s, d in zip(shapes, dims)]
        out_rank = builtins.max(ranks)
        moved = []
        for v, d, r in zip(values, dims, ranks):
            if d is not None:
                v = to_front(v, d)
                if r < out_rank:
                    front = shape_of(v)
                    v = reshape(v, front[:1] + (1,) * (out_rank - r) + front[1:])
            moved.append(v)
        return prim.bind(*moved, **params), 0

    return rule
