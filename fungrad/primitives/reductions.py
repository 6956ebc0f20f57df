"""Reductions over axes: max and min, argmax and argmin, the product (the sum is in
structural.py); scans along one axis: cumulative sums and products; and argsort.

``axes`` is always a sorted tuple of non-negative ints; the NumPy layer normalises
``axis=`` and implements ``keepdims`` with a reshape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fungrad.core import ShapedArray, Zero, add, get_aval, new_primitive
from fungrad.errors import ShapeError
from fungrad.primitives.builders import (
    broadcast_tangent,
    defjvp,
    deflinear,
    register_batch,
    register_jvp,
    zero_jvp,
)
from fungrad.primitives.elementwise import div, eq, mul
from fungrad.primitives.indexing import slice_along
from fungrad.primitives.shape import concatenate
from fungrad.primitives.structural import (
    batched_axis,
    convert_element_type,
    reduce_sum,
    reduced_shape,
    reduction_batch_rule,
    reshape,
    transpose,
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


# ---------------------------------------------------------------------------------------
# Shifting along an axis (the scans below use it): ``x`` moved ``k`` places along
# ``axis``, toward the end (``reverse`` False) or the start, with ``fill`` in the gap.


def shift_along(x: Any, axis: int, k: int, fill: Any, reverse: bool = False) -> Any:
    shape = get_aval(x).shape
    n = shape[axis]
    k = min(k, n)
    gap = np.full(shape[:axis] + (k,) + shape[axis + 1 :], fill, get_aval(x).dtype)
    if reverse:
        return concatenate([slice_along(x, axis, k, n), gap], axis)
    return concatenate([gap, slice_along(x, axis, 0, n - k)], axis)


def _along_axis_batch(prim):
    """Batching rule of a primitive applied along one ``axis``, keeping the shape."""

    def rule(values, dims, axis, **params):
        (x,), (d,) = values, dims
        return prim.bind(x, axis=batched_axis(axis, d), **params), d

    return rule


def _scan_impl(fn):
    def impl(x, axis, reverse):
        if not reverse:
            return fn(x, axis=axis)
        return np.flip(fn(np.flip(x, axis), axis=axis), axis)

    return impl


def _along_axis_aval(name: str):
    def abstract_eval(x, axis, **params):
        if not 0 <= axis < x.ndim:
            raise ShapeError(
                f"{name}: axis {axis} is out of range for an array of shape {x.shape}"
            )
        return ShapedArray(x.shape, x.dtype)

    return abstract_eval


# ---------------------------------------------------------------------------------------
# cumsum along ``axis`` (from the end if ``reverse``): linear, and its transpose is the
# cumulative sum in the other direction.

cumsum_p = new_primitive("cumsum")
cumsum_p.impl = _scan_impl(np.cumsum)
cumsum_p.abstract_eval = _along_axis_aval("cumsum")


def cumsum(x: Any, axis: int, reverse: bool = False) -> Any:
    return cumsum_p.bind(x, axis=axis, reverse=reverse)


deflinear(cumsum_p, lambda ct, x, axis, reverse: (cumsum(ct, axis=axis, reverse=not reverse),))
register_batch(cumsum_p, _along_axis_batch(cumsum_p))


# ---------------------------------------------------------------------------------------
# cumprod along ``axis`` (from the end if ``reverse``). Its jvp never divides by ``x``,
# so it is exact where ``x`` has zeros: it is the jvp of a log-depth (Hillis-Steele)
# scan of ``mul``, which carries (partial product, its tangent) pairs and combines
# ``(p, dp)`` with the pair ``d`` places before it into ``(p' p, dp' p + p' dp)``. The
# tangent is linear in ``t`` (each ``p`` is a value), and is built from ``mul`` of
# ``x``, so derivatives of every order are exact too.

cumprod_p = new_primitive("cumprod")
cumprod_p.impl = _scan_impl(np.cumprod)
cumprod_p.abstract_eval = _along_axis_aval("cumprod")


def cumprod(x: Any, axis: int, reverse: bool = False) -> Any:
    return cumprod_p.bind(x, axis=axis, reverse=reverse)


def _cumprod_jvp(primals, tangents, axis, reverse):
    (x,), (t,) = primals, tangents
    ans = cumprod(x, axis=axis, reverse=reverse)
    if type(t) is Zero:
        return ans, t
    t = broadcast_tangent(t, ans)
    n = get_aval(ans).shape[axis]
    partial, tangent = x, t
    step = 1
    while step < n:
        before = shift_along(partial, axis, step, 1, reverse)
        tangent = add(
            mul(shift_along(tangent, axis, step, 0, reverse), partial), mul(before, tangent)
        )
        partial = mul(before, partial)
        step *= 2
    return ans, tangent


register_jvp(cumprod_p, _cumprod_jvp)
register_batch(cumprod_p, _along_axis_batch(cumprod_p))


# ---------------------------------------------------------------------------------------
# reduce_prod over ``axes``. d prod / dx_i is the product of the other elements, taken
# as (product before i) * (product after i) along the reduced elements in a row: two
# exclusive cumulative products, never prod / x_i, so it is exact with zeros, and at
# every order (the cumprod jvp above never divides either).

reduce_prod_p = new_primitive("reduce_prod")
reduce_prod_p.impl = lambda x, axes: np.multiply.reduce(x, axis=axes)
reduce_prod_p.abstract_eval = lambda x, axes: ShapedArray(
    reduced_shape("reduce_prod", x, axes), x.dtype, x.weak_type
)


def reduce_prod(x: Any, axes: tuple[int, ...]) -> Any:
    return reduce_prod_p.bind(x, axes=axes)


def exclusive_products(x: Any, axes: tuple[int, ...]) -> Any:
    """For each element of ``x``, the product of the others in its slice over ``axes``."""
    shape = get_aval(x).shape
    kept = tuple(i for i in range(len(shape)) if i not in axes)
    perm = kept + tuple(axes)
    moved = tuple(shape[i] for i in perm)
    n = int(np.prod([shape[i] for i in axes], dtype=np.int64))
    row_shape = tuple(shape[i] for i in kept) + (n,)
    row = x if perm == tuple(range(len(shape))) else transpose(x, perm)
    row = row if row_shape == moved else reshape(row, row_shape)
    last = len(kept)
    before = shift_along(cumprod(row, last), last, 1, 1)
    after = shift_along(cumprod(row, last, reverse=True), last, 1, 1, reverse=True)
    others = mul(before, after)
    others = others if row_shape == moved else reshape(others, moved)
    if perm == tuple(range(len(shape))):
        return others
    return transpose(others, tuple(np.argsort(perm).tolist()))


def _reduce_prod_jvp(t, ans, x, axes):
    if not axes:
        return t
    return reduce_sum(mul(t, exclusive_products(x, axes)), axes)


defjvp(reduce_prod_p, _reduce_prod_jvp)
register_batch(
    reduce_prod_p,
    lambda values, dims, axes: reduction_batch_rule(values, dims, axes, prim=reduce_prod_p),
)


# ---------------------------------------------------------------------------------------
# argsort along ``axis``: a stable sort's permutation (ties keep their order), integer
# output, no derivative. ``sort`` is the operand gathered at it, so its derivative
# follows the values.

argsort_p = new_primitive("argsort")
argsort_p.impl = lambda x, axis: np.argsort(x, axis=axis, kind="stable")


argsort_p.abstract_eval = lambda x, axis: ShapedArray(
    _along_axis_aval("argsort")(x, axis).shape, np.dtype(np.int64)
)


def argsort(x: Any, axis: int) -> Any:
    return argsort_p.bind(x, axis=axis)


zero_jvp(argsort_p)
register_batch(argsort_p, _along_axis_batch(argsort_p))
