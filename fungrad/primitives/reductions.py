"""Reductions over axes: sum (linear), max and min, argmax and argmin.

``axes`` is always a sorted tuple of non-negative ints; the NumPy layer normalises
``axis=`` and implements ``keepdims`` with a reshape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fungrad.core import ShapedArray, get_aval, new_primitive
from fungrad.errors import ShapeError
from fungrad.interpreters.batching import register_batch
from fungrad.interpreters.jvp import defjvp, deflinear_jvp, zero_jvp
from fungrad.interpreters.lowering import Emitted, impl_emitter
from fungrad.interpreters.simplify_rules import register_identity
from fungrad.interpreters.transpose import register_transpose
from fungrad.primitives.elementwise import convert_element_type, div, eq, mul


def _reduced_shape(name: str, x: ShapedArray, axes: tuple[int, ...]) -> tuple[int, ...]:
    for a in axes:
        if not 0 <= a < x.ndim:
            raise ShapeError(f"{name}: axis {a} is out of range for an array of shape {x.shape}")
    return tuple(d for i, d in enumerate(x.shape) if i not in axes)


def keepdims_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` with each reduced axis kept as size 1."""
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def _batched_axis(axis: int, batch_dim: int) -> int:
    """Where a per-example axis is in the batched array."""
    return axis if axis < batch_dim else axis + 1


def reduction(name: str, fn: Any):
    prim = new_primitive(name)
    prim.impl = lambda x, axes: fn(x, axis=axes)
    prim.abstract_eval = lambda x, axes: ShapedArray(
        _reduced_shape(name, x, axes), x.dtype, x.weak_type
    )

    def batch_rule(values, dims, axes):
        (x,), (d,) = values, dims
        batched_axes = tuple(sorted(_batched_axis(a, d) for a in axes))
        return prim.bind(x, axes=batched_axes), d - sum(1 for a in axes if a < d)

    register_batch(prim, batch_rule)

    def emit(ns, args, params, out, avals):
        axes = params["axes"]
        return Emitted(f"{ns.name(fn, name)}({args[0]}, axis={axes!r})", bool(axes), False)

    prim.emit = emit
    return prim


reduce_sum_p = reduction("reduce_sum", np.add.reduce)
reduce_max_p = reduction("reduce_max", np.maximum.reduce)
reduce_min_p = reduction("reduce_min", np.minimum.reduce)


def reduce_sum(x: Any, axes: tuple[int, ...]) -> Any:
    return reduce_sum_p.bind(x, axes=axes)


def reduce_max(x: Any, axes: tuple[int, ...]) -> Any:
    return reduce_max_p.bind(x, axes=axes)


def reduce_min(x: Any, axes: tuple[int, ...]) -> Any:
    return reduce_min_p.bind(x, axes=axes)


deflinear_jvp(reduce_sum_p)


def _reduce_sum_transpose(ct, x, axes):
    from fungrad.primitives.shape import broadcast_in_dim

    kept = tuple(i for i in range(x.aval.ndim) if i not in axes)
    return (broadcast_in_dim(ct, x.aval.shape, kept),)


register_transpose(reduce_sum_p, _reduce_sum_transpose)
# A sum over no axes is the operand, except that NumPy's turns -0.0 into 0.0.
register_identity(
    reduce_sum_p,
    lambda avals, consts, axes: 0 if not axes and avals[0].dtype.kind not in "fc" else None,
)


def _chosen_jvp(t, ans, x, axes):
    # The tangent at the extremum, averaged over ties (as JAX does). ``x`` may be a
    # Python scalar (``fnp.max(3.0)``), so its shape and dtype come from its aval.
    from fungrad.primitives.shape import reshape

    x_aval = get_aval(x)
    at_extremum = eq(x, reshape(ans, keepdims_shape(x_aval.shape, axes)))
    location = convert_element_type(at_extremum, x_aval.dtype)
    return div(reduce_sum(mul(t, location), axes), reduce_sum(location, axes))


defjvp(reduce_max_p, _chosen_jvp)
defjvp(reduce_min_p, _chosen_jvp)


def _arg_reduction(name: str, fn: Any):
    prim = new_primitive(name)
    prim.impl = lambda x, axis: fn(x, axis=axis)
    prim.abstract_eval = lambda x, axis: ShapedArray(
        _reduced_shape(name, x, (axis,)), np.dtype(np.int64)
    )
    zero_jvp(prim)

    def batch_rule(values, dims, axis):
        (x,), (d,) = values, dims
        return prim.bind(x, axis=_batched_axis(axis, d)), d if axis >= d else d - 1

    register_batch(prim, batch_rule)
    prim.emit = impl_emitter(prim.impl, name, fresh=True)
    return prim


argmax_p = _arg_reduction("argmax", np.argmax)
argmin_p = _arg_reduction("argmin", np.argmin)


def argmax(x: Any, axis: int) -> Any:
    return argmax_p.bind(x, axis=axis)


def argmin(x: Any, axis: int) -> Any:
    return argmin_p.bind(x, axis=axis)
