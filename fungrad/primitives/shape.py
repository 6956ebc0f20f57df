"""Joining arrays: ``concatenate`` (linear). The structural shape primitives
(broadcast_in_dim, reshape, transpose) are in structural.py."""

from __future__ import annotations

from typing import Any

import numpy as np

from fungrad import dtypes
from fungrad.core import ShapedArray, new_primitive, shape_of
from fungrad.errors import ShapeError
from fungrad.primitives.builders import (
    axis_size,
    cast_like,
    deflinear,
    is_undefined,
    move_batch_dim,
    register_batch,
)
from fungrad.primitives.indexing import slice_along

# ---------------------------------------------------------------------------------------
# concatenate along one axis

concatenate_p = new_primitive("concatenate")
concatenate_p.impl = lambda *xs, axis: np.concatenate(xs, axis=axis)


def _concatenate_abstract_eval(*xs, axis):
    first = xs[0]
    for x in xs:
        if x.ndim != first.ndim or any(
            a != b for i, (a, b) in enumerate(zip(x.shape, first.shape)) if i != axis
        ):
            shapes = ", ".join(str(x.shape) for x in xs)
            raise ShapeError(f"concatenate along axis {axis}: shapes {shapes} do not match")
    shape = list(first.shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    dtype, weak = dtypes.result_type(*xs)
    return ShapedArray(tuple(shape), dtype)


def _concatenate_transpose(ct, *xs, axis):
    cts = []
    start = 0
    for x in xs:
        size = shape_of(x)[axis] if not is_undefined(x) else x.aval.shape[axis]
        if is_undefined(x):
            cts.append(cast_like(slice_along(ct, axis, start, start + size), x.aval.dtype))
        else:
            cts.append(None)
        start += size
    return cts


concatenate_p.abstract_eval = _concatenate_abstract_eval
deflinear(concatenate_p, _concatenate_transpose)


def _concatenate_batch(values, dims, axis):
    size = axis_size(values, dims)
    moved = [move_batch_dim(v, d, 0, size) for v, d in zip(values, dims)]
    return concatenate(moved, axis + 1), 0


register_batch(concatenate_p, _concatenate_batch)


def concatenate(xs: Any, axis: int) -> Any:
    return concatenate_p.bind(*xs, axis=axis)
