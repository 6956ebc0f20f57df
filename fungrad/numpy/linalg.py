"""``fungrad.numpy.linalg``: norms, built from primitives."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import fungrad.numpy as fnp


def norm(
    x: Any, ord: Any = None, axis: int | Sequence[int] | None = None, keepdims: bool = False
) -> Any:
    """Vector 2-norm (default), 1-norm, inf-norm, or the Frobenius norm of a matrix."""
    if ord in (None, 2, "fro") and (ord != 2 or axis is not None or fnp.ndim(x) == 1):
        return fnp.sqrt(fnp.sum(x * x, axis=axis, keepdims=keepdims))
    if ord == 1:
        return fnp.sum(fnp.abs(x), axis=axis, keepdims=keepdims)
    if ord == fnp.inf:
        return fnp.max(fnp.abs(x), axis=axis, keepdims=keepdims)
    raise NotImplementedError(f"fungrad.numpy.linalg.norm does not support ord={ord!r} yet")
