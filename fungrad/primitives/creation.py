"""Primitives that make an array from their params alone (no operands): ``eye``.

A program that needs a constant of size n×n (the standard basis that ``jacfwd`` and
``jacrev`` push through a function) generates it with one of these instead of
capturing the array as data, so ``make_jaxpr(jacrev(f))`` shows ``eye[...]`` rather
than an n×n constant. With no operands there is nothing to differentiate or batch:
the jvp interpreter and the batching interpreter never own such an equation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fungrad.core import ShapedArray, new_primitive
from fungrad.primitives.builders import register_batch, zero_jvp


def _eye_impl(shape: tuple[int, ...], offset: int, dtype: np.dtype) -> np.ndarray:
    count = shape[0]
    size = int(np.prod(shape[1:], dtype=np.int64))
    rows = np.zeros((count, size), dtype)
    rows[np.arange(count), np.arange(offset, offset + count)] = 1
    return rows.reshape(shape)


eye_p = new_primitive("eye")
eye_p.impl = _eye_impl
eye_p.abstract_eval = lambda shape, offset, dtype: ShapedArray(shape, dtype)
zero_jvp(eye_p)
register_batch(eye_p, lambda values, dims, **params: (eye_p.bind(**params), None))


def eye(shape: tuple[int, ...], offset: int, dtype: Any) -> Any:
    """Rows ``offset .. offset + shape[0]`` of the identity on a space of shape
    ``shape[1:]`` (flattened): ``eye((2, 3), 1, float)`` is ``np.eye(3)[1:3]``."""
    return eye_p.bind(shape=tuple(shape), offset=offset, dtype=np.dtype(dtype))
