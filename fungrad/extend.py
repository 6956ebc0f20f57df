"""Define new primitives with their own rules: the boundary for rule writers.

A primitive is an operation that every transformation knows by its rules. Define
one when a function needs its own derivative (for stability or speed), or wraps
a NumPy routine that fungrad.numpy does not have. The worked example is in
docs/extend.md::

    from fungrad import extend

    logcosh_p = extend.new_primitive("logcosh")
    logcosh_p.impl = lambda x: np.logaddexp(x, -x) - np.log(2.0)
    logcosh_p.abstract_eval = lambda x: x   # same shape and dtype
    extend.defjvp(logcosh_p, lambda t, ans, x: fnp.tanh(x) * t)
    extend.defvectorized(logcosh_p)

Everything here is re-exported from the modules that own it: the primitive and
its avals from ``fungrad.core``, the registration functions and helpers from
``fungrad.primitives.builders``, and ``register_lowering`` from the NumPy backend
of ``jit`` (without a lowering, ``jit`` calls the primitive's ``impl``).
"""

from __future__ import annotations

from fungrad.core import Primitive, ShapedArray, Zero, get_aval, new_primitive
from fungrad.jit.lowering import Emitted, Operand, impl_lowering, register_lowering, ufunc_lowering
from fungrad.primitives.builders import (
    UndefinedPrimal,
    broadcast_tangent,
    broadcasting_rule,
    cast_like,
    defbilinear,
    defbroadcasting,
    defjvp,
    deflinear,
    defvectorized,
    is_undefined,
    move_batch_dim,
    register_batch,
    register_broadcasting,
    register_identity,
    register_jvp,
    register_transpose,
    require_constant,
    to_front,
    unbroadcast,
    zero_jvp,
)

__all__ = [
    "Emitted",
    "Operand",
    "Primitive",
    "ShapedArray",
    "UndefinedPrimal",
    "Zero",
    "broadcast_tangent",
    "broadcasting_rule",
    "cast_like",
    "defbilinear",
    "defbroadcasting",
    "defjvp",
    "deflinear",
    "defvectorized",
    "get_aval",
    "impl_lowering",
    "is_undefined",
    "move_batch_dim",
    "new_primitive",
    "register_batch",
    "register_broadcasting",
    "register_identity",
    "register_jvp",
    "register_lowering",
    "register_transpose",
    "require_constant",
    "to_front",
    "ufunc_lowering",
    "unbroadcast",
    "zero_jvp",
]
