"""Reductions and scans beyond sum/mean/max: products, cumulative sums and products,
``any``/``all``, sorting, order statistics, weighted averages and closeness tests.

The public names join :mod:`fungrad.numpy` (see the end of its ``__init__``).

Derivatives are exact wherever the function is differentiable, zeros included:
``prod`` and ``cumprod`` never divide by the operand. At the points where it is not
(ties in ``sort``, ``median`` and ``quantile``; ``q`` at a data point), each
docstring says which one-sided or averaged value fungrad gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import fungrad.numpy as fnp
from fungrad.core import Tracer
from fungrad.errors import ConcretizationError, FungradTypeError, FungradValueError
from fungrad.numpy import (
    ArrayLike,
    _axis_index,
    _axis_tuple,
    _dtype,
    _normalize_axes,
    _operand,
    _reduce,
    _strong,
    ndim,
    shape,
)
from fungrad.primitives import elementwise as ew
from fungrad.primitives import reductions as red
from fungrad.primitives.structural import convert_element_type as _convert
from fungrad.primitives.structural import reshape as _reshape
from fungrad.primitives.structural import transpose as _transpose

__all__: list[str] = [
    "prod", "cumsum", "cumprod", "any", "all", "argsort", "sort", "median", "quantile",
    "percentile", "average", "logsumexp", "isclose", "allclose", "array_equal", "nansum",
    "nanmean",
]  # fmt: skip

Axis = int | Sequence[int] | None


def _accumulated(a: Any, dtype: Any) -> Any:
    """``a`` in the dtype NumPy sums and multiplies it in: ``dtype`` if given, else 64-bit
    for booleans and small integers (as ``numpy.sum`` and ``numpy.prod``)."""
    if dtype is not None:
        dtype = np.dtype(dtype)
    else:
        kind, size = _dtype(a).kind, _dtype(a).itemsize
        if kind == "b" or (kind in "iu" and size < 8):
            dtype = np.dtype(np.uint64 if kind == "u" else np.int64)
    if dtype is None or (_dtype(a) == dtype and not _is_weak(a)):
        return a
    return _convert(a, dtype)


def _is_weak(a: Any) -> bool:
    return type(a) in (float, int, complex, bool) or (isinstance(a, Tracer) and a.weak_type)


def _isnan(a: Any) -> Any:
    return ew.ne(a, a)


def _scalar(out: Any) -> Any:
    """A 0-d NumPy result as NumPy's scalar (``np.float64(2.5)``, not ``array(2.5)``)."""
    return out[()] if type(out) is np.ndarray and out.ndim == 0 else out


def _size(axes: tuple[int, ...], shape_: tuple[int, ...]) -> int:
    return int(np.prod([shape_[i] for i in axes], dtype=np.int64))


# ---------------------------------------------------------------------------------------
# Products and scans


def prod(
    a: ArrayLike,
    axis: Axis = None,
    dtype: Any = None,
    *,
    keepdims: bool = False,
    initial: Any = None,
) -> Any:
    """Product over ``axis`` (all axes by default), as ``numpy.prod``.

    Booleans and small integers are multiplied in 64 bits, as in NumPy. The derivative
    with respect to each element is the product of the others (computed from prefix
    and suffix products, never ``prod / x``), so it is exact where elements are zero,
    at every order.

    >>> import numpy as np, fungrad, fungrad.numpy as fnp
    >>> fnp.prod(np.array([[1.0, 2.0], [3.0, 4.0]]), axis=1)
    array([ 2., 12.])
    >>> fungrad.grad(fnp.prod)(np.array([2.0, 0.0, 5.0]))
    array([ 0., 10.,  0.])
    """
    a = _accumulated(_operand(a), dtype)
    out = _reduce(red.reduce_prod, a, axis, keepdims, "prod")
    if initial is not None:
        out = ew.mul(out, _operand(initial))
    return out


def _scan(prim: Any, a: ArrayLike, axis: int | None, dtype: Any, name: str) -> Any:
    a = _accumulated(_operand(a), dtype)
    if axis is None:
        a, axis = fnp.ravel(a), 0
    elif type(a) in (float, int, complex, bool):
        a = np.asarray(a)
    return prim(a, _axis_index(axis, ndim(a), name))


def cumsum(a: ArrayLike, axis: int | None = None, dtype: Any = None) -> Any:
    """Cumulative sum along ``axis`` (of the flattened array by default), as
    ``numpy.cumsum``.

    Linear: its transpose is the cumulative sum from the other end.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.cumsum(np.array([[1, 2], [3, 4]]))
    array([ 1,  3,  6, 10])
    >>> fnp.cumsum(np.array([[1.0, 2.0], [3.0, 4.0]]), axis=0)
    array([[1., 2.],
           [4., 6.]])
    """
    return _scan(red.cumsum, a, axis, dtype, "cumsum")


def cumprod(a: ArrayLike, axis: int | None = None, dtype: Any = None) -> Any:
    """Cumulative product along ``axis`` (of the flattened array by default), as
    ``numpy.cumprod``.

    Its derivatives never divide by the operand (they are those of a log-depth scan
    of products), so they are exact where elements are zero, at every order.

    >>> import numpy as np, fungrad, fungrad.numpy as fnp
    >>> fnp.cumprod(np.array([1.0, 2.0, 0.0, 4.0]))
    array([1., 2., 0., 0.])
    >>> fungrad.grad(lambda x: fnp.cumprod(x)[-1])(np.array([3.0, 0.0, 2.0]))
    array([0., 6., 0.])
    """
    return _scan(red.cumprod, a, axis, dtype, "cumprod")


# ---------------------------------------------------------------------------------------
# any, all


def _truth_reduce(
    reduce: Any, a: ArrayLike, axis: Axis, keepdims: bool, empty: bool, name: str
) -> Any:
    a = _operand(a)
    if not isinstance(a, Tracer):
        a = np.asarray(a)
    truth = a if _dtype(a) == np.bool_ else ew.ne(a, 0)
    axes = _normalize_axes(axis, ndim(truth), name)
    if _size(axes, shape(truth)) == 0:  # NumPy's identities: any() False, all() True
        kept = red.keepdims_shape(shape(truth), axes)
        out_shape = kept if keepdims else tuple(d for i, d in enumerate(kept) if i not in axes)
        return _scalar(np.full(out_shape, empty))
    return _reduce(reduce, truth, axes, keepdims, name)


def any(a: ArrayLike, axis: Axis = None, *, keepdims: bool = False) -> Any:
    """Whether any element along ``axis`` is true (non-zero), as ``numpy.any``.

    A boolean array (no derivative); it can be traced, unlike Python's ``if``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.any(np.array([[0.0, 0.0], [0.0, 2.0]]), axis=1)
    array([False,  True])
    """
    return _truth_reduce(red.reduce_max, a, axis, keepdims, False, "any")


def all(a: ArrayLike, axis: Axis = None, *, keepdims: bool = False) -> Any:
    """Whether every element along ``axis`` is true (non-zero), as ``numpy.all``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.all(np.array([[1.0, 0.0], [3.0, 2.0]]), axis=1)
    array([False,  True])
    """
    return _truth_reduce(red.reduce_min, a, axis, keepdims, True, "all")


# ---------------------------------------------------------------------------------------
# Sorting


def _sort_axis(a: Any, axis: int | None, kind: Any, order: Any, name: str) -> tuple[Any, int]:
    if order is not None:
        raise FungradValueError(
            f"{name}: order= sorts structured arrays by field, which fungrad does not have"
        )
    if kind not in (None, "quicksort", "mergesort", "heapsort", "stable"):
        raise FungradValueError(f"{name}: unknown kind={kind!r}")
    if axis is None:
        return fnp.ravel(a), 0
    return a, _axis_index(axis, ndim(a), name)


def argsort(
    a: ArrayLike,
    axis: int | None = -1,
    kind: str | None = None,
    order: None = None,
    *,
    stable: bool | None = None,
) -> Any:
    """Indices that sort ``a`` along ``axis`` (of the flattened array for ``None``), as
    ``numpy.argsort``.

    Always a stable sort, whatever ``kind`` (NumPy allows any order of ties for the
    others): equal elements keep their order. Integers, so no derivative.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.argsort(np.array([3.0, 1.0, 2.0, 1.0]))
    array([1, 3, 2, 0])
    """
    a, axis = _sort_axis(_operand(a), axis, kind, order, "argsort")
    return red.argsort(a, axis)


def sort(
    a: ArrayLike,
    axis: int | None = -1,
    kind: str | None = None,
    order: None = None,
    *,
    stable: bool | None = None,
) -> Any:
    """``a`` sorted along ``axis`` (flattened for ``None``), as ``numpy.sort``.

    The values at :func:`argsort`'s indices, so the derivative follows each element
    to its place. At ties (a kink) the stable order decides: the first of equal
    elements gives the derivative of the first of their places.

    >>> import numpy as np, fungrad, fungrad.numpy as fnp
    >>> fnp.sort(np.array([[3.0, 1.0], [0.0, 2.0]]), axis=None)
    array([0., 1., 2., 3.])
    >>> fungrad.grad(lambda x: fnp.sort(x)[0])(np.array([3.0, 1.0, 2.0]))
    array([0., 1., 0.])
    """
    a, axis = _sort_axis(_operand(a), axis, kind, order, "sort")
    return fnp.take_along_axis(a, red.argsort(a, axis), axis)


# ---------------------------------------------------------------------------------------
# Order statistics


def _sorted_rows(a: Any, axis: Axis, name: str) -> tuple[Any, Any, tuple[int, ...]]:
    """``a`` (as floats) with the axes of ``axis`` flattened into a last axis and sorted
    along it; whether each row holds a NaN; the reduced axes."""
    if _dtype(a).kind == "c":
        raise FungradTypeError(f"{name}: a must be an array of real numbers, got {_dtype(a)}")
    if _dtype(a).kind in "biu":
        a = _convert(a, np.float64)
    elif not isinstance(a, Tracer):
        a = np.asarray(a)
    nd = ndim(a)
    axes = _normalize_axes(axis, nd, name)
    kept = tuple(i for i in range(nd) if i not in axes)
    n = _size(axes, shape(a))
    if n == 0:
        raise FungradValueError(
            f"{name}: no elements to take the {name} of along axis={axis!r} of an array of "
            f"shape {shape(a)}"
        )
    if kept + axes != tuple(range(nd)):
        a = _transpose(a, kept + axes)
    rows = fnp.reshape(a, tuple(shape(a)[: len(kept)]) + (n,))
    has_nan = red.reduce_max(_isnan(rows), (len(kept),))
    return sort(rows, axis=-1), has_nan, axes


def _finish(
    out: Any, has_nan: Any, q_ndim: int, a_shape: tuple, axes: tuple, keepdims: bool
) -> Any:
    """``out`` of shape ``kept + q`` with NaN for rows holding one, as ``q + kept``."""
    kept_ndim = ndim(has_nan)
    if q_ndim:
        has_nan = _reshape(has_nan, shape(has_nan) + (1,) * q_ndim)
    out = ew.select(has_nan, np.nan, out)
    if q_ndim:
        out = fnp.transpose(
            out, tuple(range(kept_ndim, kept_ndim + q_ndim)) + tuple(range(kept_ndim))
        )
    if keepdims:
        out = _reshape(out, shape(out)[:q_ndim] + red.keepdims_shape(a_shape, axes))
    return _scalar(out)


def median(
    a: ArrayLike, axis: Axis = None, *, overwrite_input: bool = False, keepdims: bool = False
) -> Any:
    """Median along ``axis`` (of all elements by default), as ``numpy.median``.

    The middle element of the sorted values, or the mean of the two middle ones for an
    even count; NaN where a NaN is present. The derivative goes to the middle element
    (half to each of the two middle ones). At ties, the stable order of :func:`sort`
    picks which of the equal elements get it. ``overwrite_input`` has no effect.

    >>> import numpy as np, fungrad, fungrad.numpy as fnp
    >>> fnp.median(np.array([[4.0, 1.0, 3.0, 2.0]]), axis=1)
    array([2.5])
    >>> fungrad.grad(fnp.median)(np.array([4.0, 1.0, 3.0, 2.0]))
    array([0. , 0. , 0.5, 0.5])
    """
    a = _operand(a)
    a_shape = shape(a)
    rows, has_nan, axes = _sorted_rows(a, axis, "median")
    n = shape(rows)[-1]
    middle = fnp.take(rows, n // 2, axis=-1)
    if n % 2 == 0:
        middle = ew.mul(ew.add(fnp.take(rows, n // 2 - 1, axis=-1), middle), 0.5)
    return _finish(middle, has_nan, 0, a_shape, axes, keepdims)


_METHODS = ("linear", "lower", "higher", "nearest", "midpoint")


def _lerp(lo: Any, hi: Any, t: Any) -> Any:
    """``lo + (hi - lo) t``, exact at both ends (NumPy's form of it)."""
    diff = ew.sub(hi, lo)
    if not isinstance(t, Tracer) and np.ndim(t) == 0:  # a known weight: one branch
        if t >= 0.5:
            return ew.sub(hi, ew.mul(diff, ew.sub(1.0, t)))
        return ew.add(lo, ew.mul(diff, t))
    return fnp.where(
        fnp.greater_equal(t, 0.5),
        ew.sub(hi, ew.mul(diff, ew.sub(1.0, t))),
        ew.add(lo, ew.mul(diff, t)),
    )


def _quantile(
    a: Any, q: Any, axis: Axis, method: str, keepdims: bool, scale: float, name: str
) -> Any:
    a = _operand(a)
    if method not in _METHODS:
        raise FungradValueError(
            f"{name}: method={method!r} is not supported; use one of {', '.join(_METHODS)}"
        )
    kind = _dtype(a).kind
    if type(q) in (float, int) and kind == "f":
        q = np.asarray(q, _dtype(a))  # as NumPy: a Python q takes a's precision
    q = _operand(q)
    if not isinstance(q, Tracer):
        q = np.asarray(q)
        if q.dtype.kind not in "f":
            q = q.astype(np.float64)
        if np.any((q < 0) | (q > scale)):  # NaN passes, as in NumPy
            raise FungradValueError(
                f"{name}: q must be in the range [0, {scale:g}], got {q.tolist()!r}"
            )
    if scale != 1:
        q = (fnp if isinstance(q, Tracer) else np).true_divide(q, scale)
    a_shape = shape(a)
    rows, has_nan, axes = _sorted_rows(a, axis, name)
    n = shape(rows)[-1]
    xp = fnp if isinstance(q, Tracer) else np

    def at(index: Any) -> Any:
        index = xp.astype(xp.clip(index, 0, n - 1), np.int64)
        return fnp.take(rows, index, axis=-1)

    position = xp.multiply(q, n - 1)
    if method == "linear":
        below = xp.clip(xp.floor(position), 0, max(n - 2, 0))
        out = _lerp(at(below), at(below + 1), xp.subtract(position, below))
    elif method == "lower":
        out = at(xp.floor(position))
    elif method == "higher":
        out = at(xp.ceil(position))
    elif method == "nearest":
        out = at(xp.round(position))
    else:
        out = _lerp(at(xp.floor(position)), at(xp.ceil(position)), 0.5)
    return _finish(out, has_nan, ndim(q), a_shape, axes, keepdims)


def quantile(
    a: ArrayLike,
    q: ArrayLike,
    axis: Axis = None,
    *,
    overwrite_input: bool = False,
    method: str = "linear",
    keepdims: bool = False,
) -> Any:
    """The ``q``-th quantiles (``0 <= q <= 1``) along ``axis``, as ``numpy.quantile``.

    ``method`` is NumPy's default ``"linear"`` (interpolating between the sorted values
    at ``floor`` and ``ceil`` of ``q (n - 1)``), or ``"lower"``, ``"higher"``,
    ``"nearest"``, ``"midpoint"``. An array ``q`` gives its own axes first. NaN where
    a NaN is present.

    Derivatives: in ``a``, they follow the interpolated sorted values (at ties, the
    stable order of :func:`sort` decides). In ``q`` (which may be traced), the slope
    between neighbouring sorted values; at a data point, the slope on its right (on
    its left at ``q = 1``); zero for the methods other than ``"linear"``.

    >>> import numpy as np, fungrad, fungrad.numpy as fnp
    >>> fnp.quantile(np.array([1.0, 2.0, 4.0, 8.0]), [0.5, 0.75])
    array([3., 5.])
    >>> float(fungrad.grad(fnp.quantile, argnums=1)(np.array([1.0, 2.0, 4.0]), 0.25))
    2.0
    """
    return _quantile(a, q, axis, method, keepdims, 1, "quantile")


def percentile(
    a: ArrayLike,
    q: ArrayLike,
    axis: Axis = None,
    *,
    overwrite_input: bool = False,
    method: str = "linear",
    keepdims: bool = False,
) -> Any:
    """The ``q``-th percentiles (``0 <= q <= 100``) along ``axis``, as
    ``numpy.percentile``: :func:`quantile` of ``q / 100``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.percentile(np.array([[1.0, 2.0, 3.0], [4.0, 8.0, 6.0]]), 50, axis=1)
    array([2., 6.])
    """
    return _quantile(a, q, axis, method, keepdims, 100, "percentile")


# ---------------------------------------------------------------------------------------
# Weighted averages


def average(
    a: ArrayLike,
    axis: Axis = None,
    weights: ArrayLike | None = None,
    returned: bool = False,
    *,
    keepdims: bool = False,
) -> Any:
    """Weighted average along ``axis``, as ``numpy.average``: ``sum(a w) / sum(w)``.

    ``weights`` has ``a``'s shape, or (with ``axis``) the shape of ``a`` along
    ``axis``. With ``returned``, also the sum of the weights, broadcast to the
    result's shape. Differentiable in ``a`` and ``weights``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.average(np.array([[1.0, 2.0], [3.0, 4.0]]), axis=1, weights=[3.0, 1.0])
    array([1.25, 3.25])
    >>> fnp.average(np.array([1.0, 2.0, 6.0]), returned=True)
    (np.float64(3.0), np.float64(3.0))
    """
    a = _strong(_operand(a))
    if weights is None:
        avg = fnp.mean(a, axis=axis, keepdims=keepdims)
        if not returned:
            return avg
        count = int(np.prod(shape(a), dtype=np.int64)) // max(int(np.prod(shape(avg))), 1)
        return avg, np.full(shape(avg), count, _dtype(avg))[()]
    w = _strong(_operand(weights))
    if _dtype(a).kind in "biu":
        result = np.result_type(_dtype(a), _dtype(w), np.float64)
    else:
        result = np.result_type(_dtype(a), _dtype(w))
    if shape(w) != shape(a):
        if axis is None:
            raise FungradTypeError(
                f"average: weights of shape {shape(w)} differ from a's shape {shape(a)}: "
                "give the axis they run along"
            )
        axes = _axis_tuple(axis, ndim(a), "average")
        if shape(w) != tuple(shape(a)[i] for i in axes):
            raise FungradValueError(
                f"average: weights of shape {shape(w)} must have a's shape {shape(a)} or its "
                f"shape along axis={axis!r}"
            )
        w = fnp.transpose(w, tuple(np.argsort(axes).tolist()))
        w = fnp.reshape(w, tuple(d if i in axes else 1 for i, d in enumerate(shape(a))))
    a, w = fnp.astype(a, result), fnp.astype(w, result)
    total = fnp.sum(w, axis=axis, keepdims=keepdims)
    if not isinstance(total, Tracer) and np.any(np.asarray(total) == 0):
        raise FungradValueError("average: the weights sum to zero, so they cannot be normalized")
    avg = ew.div(fnp.sum(ew.mul(a, w), axis=axis, keepdims=keepdims), total)
    if not returned:
        return avg
    if shape(total) != shape(avg):
        total = fnp.broadcast_to(total, shape(avg))
    return avg, total


def logsumexp(
    a: ArrayLike,
    axis: Axis = None,
    b: ArrayLike | None = None,
    keepdims: bool = False,
    return_sign: bool = False,
) -> Any:
    """``log(sum(b exp(a)))`` over ``axis``, as ``scipy.special.logsumexp`` (JAX:
    ``jax.nn.logsumexp``); NumPy has no such function.

    Computed after subtracting the maximum, so it does not overflow for large ``a``.
    Its gradient is ``softmax``: an element at ``-inf`` gets exactly zero. ``b`` weights
    the terms (a term with ``b == 0`` adds nothing, but keeps its derivative in ``b``,
    ``exp(a - logsumexp)``, the largest finite number where that overflows); with
    ``return_sign``, the result is ``(log|s|, sign(s))`` of the
    weighted sum ``s``.

    >>> import numpy as np, fungrad, fungrad.numpy as fnp
    >>> float(fnp.logsumexp(np.array([1000.0, 1000.0])))
    1000.6931471805599
    >>> fungrad.grad(fnp.logsumexp)(np.array([0.0, -np.inf, 0.0]))
    array([0.5, 0. , 0.5])
    """
    a = _operand(a)
    shifted_by = ew.stop_gradient(a)
    if b is not None:
        b = _operand(b)
        # The shift is the largest term that counts; a term with b == 0 adds nothing to
        # the value but keeps its derivative in b, exp(a - logsumexp).
        a = fnp.broadcast_arrays(a, b)[0]
        shifted_by = ew.select(ew.ne(b, 0), ew.stop_gradient(a), -np.inf)
    axes = _normalize_axes(axis, ndim(a), "logsumexp")
    shift = fnp.max(shifted_by, axis=axes, keepdims=True)
    shift = ew.select(ew.isfinite_p.bind(shift), shift, 0.0)
    exponent = ew.sub(a, shift)
    if b is not None:
        # Where b == 0, exp(a - shift) may overflow (a term that does not count may be
        # large): capped there at the largest finite value, it adds b * cap = 0.
        cap = float(np.log(np.finfo(fnp.result_type(exponent)).max))
        exponent = ew.select(ew.ne(b, 0), exponent, ew.min(exponent, cap))
    terms = ew.exp(exponent)
    if b is not None:
        terms = ew.mul(b, terms)
    total = fnp.sum(terms, axis=axes, keepdims=keepdims)
    if not keepdims:
        shift = _reshape(shift, shape(total))
    if return_sign:
        return ew.add(ew.log(ew.abs(total)), shift), ew.sign(total)
    return ew.add(ew.log(total), shift)


# ---------------------------------------------------------------------------------------
# Closeness and equality


def isclose(
    a: ArrayLike,
    b: ArrayLike,
    rtol: float = 1e-05,
    atol: float = 1e-08,
    equal_nan: bool = False,
) -> Any:
    """Elementwise ``|a - b| <= atol + rtol |b|`` (equal infinities too), as
    ``numpy.isclose``. A boolean array: traced under every transformation, no derivative.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> a = np.array([1.0, 1.1, np.inf, np.nan])
    >>> fnp.isclose(a, np.array([1.0 + 1e-9, 1.0, np.inf, np.nan]))
    array([ True, False,  True, False])
    """
    x, y = _operand(a), _operand(b)
    if not isinstance(y, Tracer) and type(y) is not float:
        y = np.asarray(y, np.result_type(y, 1.0))
    elif isinstance(y, Tracer) and y.dtype.kind not in "fc":
        y = _convert(y, np.result_type(y.dtype, 1.0))
    finite = ew.isfinite_p.bind(y)
    y_finite = ew.select(finite, y, 0)  # no inf - inf (NumPy silences that warning)
    close = ew.le(ew.abs(ew.sub(x, y_finite)), ew.add(atol, ew.mul(rtol, ew.abs(y_finite))))
    out = ew.or_p.bind(ew.and_p.bind(close, finite), ew.eq(x, y))
    if equal_nan:
        out = ew.or_p.bind(out, ew.and_p.bind(_isnan(x), _isnan(y)))
    return out


def _concrete_bool(value: Any, name: str, instead: str) -> bool:
    try:
        return bool(value)
    except ConcretizationError:
        raise ConcretizationError(
            f"{name} returns a Python bool, which needs the values of its operands, but "
            f"they are abstract here (under jit or another staging transformation). Use "
            f"{instead} instead, which gives a traced boolean."
        ) from None


def allclose(
    a: ArrayLike,
    b: ArrayLike,
    rtol: float = 1e-05,
    atol: float = 1e-08,
    equal_nan: bool = False,
) -> bool:
    """Whether :func:`isclose` holds everywhere, as ``numpy.allclose``.

    A Python bool, so it needs concrete values: under ``jit`` it raises a
    ``ConcretizationError``; use ``fnp.all(fnp.isclose(a, b))`` there.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> bool(fnp.allclose(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9])))
    True
    """
    close = all(isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))
    return _concrete_bool(close, "allclose", "fungrad.numpy.all(fungrad.numpy.isclose(a, b))")


def array_equal(a1: ArrayLike, a2: ArrayLike, equal_nan: bool = False) -> bool:
    """Whether the arrays have the same shape and elements, as ``numpy.array_equal``.

    A Python bool: like :func:`allclose`, it raises a ``ConcretizationError`` under
    ``jit``; use ``fnp.all(a1 == a2)`` there.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> bool(fnp.array_equal(np.array([1, 2]), np.array([1, 2])))
    True
    """
    x, y = _operand(a1), _operand(a2)
    if shape(x) != shape(y):
        return False
    equal = ew.eq(x, y)
    if equal_nan:
        equal = ew.or_p.bind(equal, ew.and_p.bind(_isnan(x), _isnan(y)))
    return _concrete_bool(all(equal), "array_equal", "fungrad.numpy.all(a1 == a2)")


# ---------------------------------------------------------------------------------------
# NaN-ignoring reductions


def _without_nans(a: Any) -> Any:
    return ew.select(_isnan(a), 0, a) if _dtype(a).kind in "fc" else a


def nansum(a: ArrayLike, axis: Axis = None, dtype: Any = None, keepdims: bool = False) -> Any:
    """Sum over ``axis`` treating NaN as zero, as ``numpy.nansum``. The derivative with
    respect to a NaN element is zero.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.nansum(np.array([[1.0, np.nan], [2.0, 3.0]]), axis=1)
    array([1., 5.])
    """
    a = _accumulated(_without_nans(_operand(a)), dtype)
    return fnp.sum(a, axis=axis, keepdims=keepdims)


def nanmean(a: ArrayLike, axis: Axis = None, dtype: Any = None, keepdims: bool = False) -> Any:
    """Mean over ``axis`` of the elements that are not NaN, as ``numpy.nanmean`` (NaN
    where all are). The derivative with respect to a NaN element is zero.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.nanmean(np.array([[1.0, np.nan], [2.0, 3.0]]), axis=1)
    array([1. , 2.5])
    """
    a = _operand(a)
    if dtype is not None:
        a = fnp.astype(a, dtype)
    if _dtype(a).kind not in "fc":
        return fnp.mean(a, axis=axis, keepdims=keepdims)
    count = fnp.sum(ew.not_p.bind(_isnan(a)), axis=axis, keepdims=keepdims)
    count = _convert(count, np.finfo(_dtype(a)).dtype)
    return ew.div(nansum(a, axis=axis, keepdims=keepdims), count)
