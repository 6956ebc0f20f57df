"""``fungrad.numpy.linalg``: norms, built from primitives."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import fungrad.numpy as fnp
from fungrad.errors import FungradValueError
from fungrad.primitives.reductions import keepdims_shape

__all__ = ["norm"]


def __dir__() -> list[str]:
    return sorted(__all__)


def norm(
    x: Any, ord: Any = None, axis: int | Sequence[int] | None = None, keepdims: bool = False
) -> Any:
    """Vector or matrix norm, as ``numpy.linalg.norm``.

    Over one axis (a 1-D ``x``, or an int ``axis``) it is a vector norm: ``ord=None`` or
    2 Euclidean, 1, ``inf``, ``-inf``, 0 (the number of nonzero entries, with zero
    derivative) or any other ``p``, ``sum(|x|**p) ** (1/p)``. Over two axes (a 2-D
    ``x``, or a pair ``axis``) it is a matrix norm: ``None``/``'fro'`` Frobenius, 1 and
    -1 the largest and smallest column sum of ``|x|``, ``inf`` and ``-inf`` the largest
    and smallest row sum. ``ord=None`` with ``axis=None`` is the 2-norm of all entries,
    whatever ``x``'s dimension. The matrix 2-norm and nuclear norm (``ord=2``, ``-2``,
    ``'nuc'`` over two axes) need singular values and are not supported yet.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> a = np.array([[1.0, -2.0], [3.0, 4.0]])
    >>> [float(fnp.linalg.norm(a, ord)) for ord in (None, 1, fnp.inf)]
    [5.477225575051661, 6.0, 7.0]
    >>> fnp.linalg.norm(a, 3, axis=1)
    array([2.08008382, 4.49794145])
    """
    x = fnp.asarray(x)
    dtype = fnp.result_type(x)
    if dtype.kind not in "fc":
        x = fnp.astype(x, np.float64)  # as NumPy: integers and booleans are normed as floats
    nd = fnp.ndim(x)
    if axis is None:
        if ord is None:
            out = _euclidean(x, None)
            return fnp.reshape(out, (1,) * nd) if keepdims else out
        if nd not in (1, 2):
            raise FungradValueError(
                f"norm: ord={ord!r} with axis=None needs a 1-D or 2-D array, got shape "
                f"{fnp.shape(x)}; pass axis= to choose the axes"
            )
        axes = tuple(range(nd))
    else:
        axes = fnp._axis_tuple(axis, nd, "norm")
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2:
        out = _matrix_norm(x, ord, *axes)
        return fnp.reshape(out, keepdims_shape(fnp.shape(x), axes)) if keepdims else out
    raise FungradValueError(
        f"norm: axis={axis!r} names {len(axes)} axes; a norm is over one axis (a vector "
        "norm) or two (a matrix norm)"
    )


def _abs_squared(x: Any) -> Any:
    a = fnp.abs(x) if fnp.result_type(x).kind == "c" else x
    return a * a


def _euclidean(x: Any, axis: Any, keepdims: bool = False) -> Any:
    return fnp.sqrt(fnp.sum(_abs_squared(x), axis=axis, keepdims=keepdims))


def _vector_norm(x: Any, ord: Any, axis: int, keepdims: bool) -> Any:
    if isinstance(ord, str):
        raise FungradValueError(f"norm: invalid norm order {ord!r} for vectors")
    if ord is None or ord == 2:
        return _euclidean(x, axis, keepdims)
    if ord == fnp.inf:
        return fnp.max(fnp.abs(x), axis=axis, keepdims=keepdims)
    if ord == -fnp.inf:
        return fnp.min(fnp.abs(x), axis=axis, keepdims=keepdims)
    if ord == 0:
        real_dtype = np.finfo(fnp.result_type(x)).dtype  # float32 for complex64
        nonzero = fnp.astype(fnp.not_equal(x, 0), real_dtype)
        return fnp.sum(nonzero, axis=axis, keepdims=keepdims)
    if ord == 1:
        return fnp.sum(fnp.abs(x), axis=axis, keepdims=keepdims)
    p = float(ord)
    return fnp.power(fnp.sum(fnp.power(fnp.abs(x), p), axis=axis, keepdims=keepdims), 1.0 / p)


def _matrix_norm(x: Any, ord: Any, row_axis: int, col_axis: int) -> Any:
    if ord is None or (isinstance(ord, str) and ord in ("fro", "f")):
        return _euclidean(x, (row_axis, col_axis))
    if isinstance(ord, str) and ord == "nuc" or not isinstance(ord, str) and ord in (2, -2):
        raise NotImplementedError(
            f"norm: ord={ord!r} over two axes is the matrix "
            f"{'nuclear norm' if ord == 'nuc' else '2-norm'}, which needs singular values; "
            "fungrad.numpy.linalg does not support the matrix 2-norm or nuclear norm yet. "
            "For the Frobenius norm use ord='fro' (fnp.sqrt(fnp.sum(x * x)))."
        )
    if isinstance(ord, str) or ord not in (1, -1, fnp.inf, -fnp.inf):
        raise FungradValueError(
            f"norm: invalid norm order {ord!r} for matrices; use None, 'fro', 1, -1, inf or -inf"
        )
    if ord in (1, -1):  # over columns: sum each column, then the largest/smallest
        sums = fnp.sum(fnp.abs(x), axis=row_axis)
        axis = col_axis - (col_axis > row_axis)
    else:  # over rows
        sums = fnp.sum(fnp.abs(x), axis=col_axis)
        axis = row_axis - (row_axis > col_axis)
    return fnp.max(sums, axis=axis) if ord > 0 else fnp.min(sums, axis=axis)
