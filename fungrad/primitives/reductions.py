"""Reductions over axes: max and min, argmax and argmin (the sum is in structural.py).

``axes`` is always a sorted tuple of non-negative ints; the NumPy layer normalises
``axis=`` and implements ``keepdims`` with a reshape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fungrad.core import ShapedArray, get_aval, new_primitive
from fungrad.primitives.builders import defjvp, register_batch, zero_jvp
from fungrad.primitives.elementwise import div, eq, mul
from fungrad.primitives.structural import (
    batched_axis,
    convert_element_type,
    reduce_sum,
    reduced_shape,
    reduction_batch_rule,
    reshape,
)


def keepdims_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` with each reduced axis kept as size 1."""
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def _chosen_jvp(t, ans, x, axes):
    # The tangent at the extremum, averaged over ties (as JAX does). ``x`` may be a
    # Python scalar (``fnp.max(3.0)``), so its shape and dtype come from its aval.
    x_aval = get_aval(x)
    at_extremum = eq(x, reshape(ans, keepdims_shape(x_aval.shape, axes)))
    location = convert_element_type(at_extremum, x_aval.dtype)
    return div(reduce_sum(mul(t, location), axes), reduce_sum(location, axes))


def _extremum(name: str, fn: Any):
    """``reduce_max``/``reduce_min``: the derivative flows to the extremum."""
    prim = new_primitive(name)
    prim.impl = lambda x, axes: fn(x, axis=axes)
    prim.abstract_eval = lambda x, axes: ShapedArray(
        reduced_shape(name, x, axes), x.dtype, x.weak_type
    )
    defjvp(prim, _chosen_jvp)
    register_batch(
        prim, lambda values, dims, axes: reduction_batch_rule(values, dims, axes, prim=prim)
    )

    return prim


reduce_max_p = _extremum("reduce_max", np.maximum.reduce)


def reduce_max(x: Any, axes: tuple[int, ...]) -> Any:
    return reduce_max_p.bind(x, axes=axes)


reduce_min_p = _extremum("reduce_min", np.minimum.reduce)


def reduce_min(x: Any, axes: tuple[int, ...]) -> Any:
    return reduce_min_p.bind(x, axes=axes)


def _arg_reduction(name: str, fn: Any):
    """``argmax``/``argmin`` along one axis: integer output, no derivative."""
    prim = new_primitive(name)
    prim.impl = lambda x, axis: fn(x, axis=axis)
    prim.abstract_eval = lambda x, axis: ShapedArray(
        reduced_shape(name, x, (axis,)), np.dtype(np.int64)
    )
    zero_jvp(prim)

    def batch_rule(values, dims, axis):
        (x,), (d,) = values, dims
        return prim.bind(x, axis=batched_axis(axis, d)), d if axis >= d else d - 1

    register_batch(prim, batch_rule)
    return prim


argmax_p = _arg_reduction("argmax", np.argmax)


def argmax(x: Any, axis: int) -> Any:
    return argmax_p.bind(x, axis=axis)


argmin_p = _arg_reduction("argmin", np.argmin)


def argmin(x: Any, axis: int) -> Any:
    return argmin_p.bind(x, axis=axis)
