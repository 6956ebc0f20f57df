"""``fungrad.numpy``: NumPy's names and signatures, written in terms of fungrad primitives.

Porting NumPy code is an import change (``import fungrad.numpy as fnp``). With no
transformation active every function returns plain NumPy values; inside ``grad``,
``jvp``, ``make_jaxpr`` and the rest, the same code is traced. A function here that
is a composition of primitives needs no derivative rule of its own.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy import (  # noqa: F401  (dtypes and constants, re-exported)
    bool_,
    complex64,
    complex128,
    float16,
    float32,
    float64,
    inf,
    int8,
    int16,
    int32,
    int64,
    nan,
    newaxis,
    pi,
    uint8,
)

import fungrad.primitives  # noqa: F401  (registers the primitives)
from fungrad.core import Tracer
from fungrad.errors import ConcretizationError, FungradTypeError, FungradValueError
from fungrad.primitives import elementwise as ew
from fungrad.primitives.indexing import ARRAY, StaticIndex, gather
from fungrad.primitives.linalg import dot_general
from fungrad.primitives.reductions import (
    argmax as _argmax,
)
from fungrad.primitives.reductions import (
    argmin as _argmin,
)
from fungrad.primitives.reductions import (
    keepdims_shape,
    reduce_max,
    reduce_min,
    reduce_sum,
)
from fungrad.primitives.shape import broadcast_to as _broadcast_to
from fungrad.primitives.shape import concatenate as _concatenate
from fungrad.primitives.shape import reshape as _reshape
from fungrad.primitives.shape import transpose as _transpose

ArrayLike = Any


def _operand(x: ArrayLike) -> Any:
    """An operand for a primitive: tracers, arrays and Python scalars as they are."""
    if isinstance(x, (Tracer, np.ndarray, float, int, bool, complex, np.generic)):
        return x
    if isinstance(x, (list, tuple)):
        if any(isinstance(v, Tracer) for v in _flat_items(x)):
            return array(x)
        return np.asarray(x)
    raise FungradTypeError(
        f"fungrad.numpy cannot use a value of type {type(x).__name__} as an array."
    )


def _flat_items(x: Any):
    if isinstance(x, (list, tuple)):
        for v in x:
            yield from _flat_items(v)
    else:
        yield x


def shape(x: ArrayLike) -> tuple[int, ...]:
    return np.shape(x) if not isinstance(x, Tracer) else x.shape


def ndim(x: ArrayLike) -> int:
    return len(shape(x))


def size(x: ArrayLike) -> int:
    return int(np.prod(shape(x), dtype=np.int64))


def result_type(*xs: ArrayLike) -> np.dtype:
    return np.result_type(*(x.dtype if isinstance(x, Tracer) else x for x in xs))


# ---------------------------------------------------------------------------------------
# Creating arrays (constants: no transformation sees them)


def array(object: Any, dtype: Any = None) -> Any:
    """Like ``np.array``; nested lists may contain traced values."""
    if isinstance(object, Tracer):
        return object if dtype is None else astype(object, dtype)
    if isinstance(object, (list, tuple)) and any(
        isinstance(v, Tracer) for v in _flat_items(object)
    ):
        return stack([array(v, dtype) for v in object])
    return np.array(object, dtype=dtype)


def asarray(a: Any, dtype: Any = None) -> Any:
    if isinstance(a, Tracer) or (
        isinstance(a, (list, tuple)) and any(isinstance(v, Tracer) for v in _flat_items(a))
    ):
        return array(a, dtype)
    return np.asarray(a, dtype=dtype)


zeros = np.zeros
ones = np.ones
full = np.full
empty = np.zeros  # no uninitialised memory: a traced program must be deterministic
arange = np.arange
linspace = np.linspace
eye = np.eye
identity = np.identity


def zeros_like(a: ArrayLike, dtype: Any = None) -> np.ndarray:
    return np.zeros(shape(a), dtype=dtype or _dtype(a))


def ones_like(a: ArrayLike, dtype: Any = None) -> np.ndarray:
    return np.ones(shape(a), dtype=dtype or _dtype(a))


def full_like(a: ArrayLike, fill_value: Any, dtype: Any = None) -> np.ndarray:
    return np.full(shape(a), fill_value, dtype=dtype or _dtype(a))


def _dtype(a: ArrayLike) -> np.dtype:
    return a.dtype if isinstance(a, Tracer) else np.result_type(a)


# ---------------------------------------------------------------------------------------
# Elementwise arithmetic and math


def add(x: ArrayLike, y: ArrayLike) -> Any:
    return ew.add(_operand(x), _operand(y))


def subtract(x: ArrayLike, y: ArrayLike) -> Any:
    return ew.sub(_operand(x), _operand(y))


def multiply(x: ArrayLike, y: ArrayLike) -> Any:
    return ew.mul(_operand(x), _operand(y))


def divide(x: ArrayLike, y: ArrayLike) -> Any:
    return ew.div(_operand(x), _operand(y))


true_divide = divide


def negative(x: ArrayLike) -> Any:
    return ew.neg(_operand(x))


def power(x: ArrayLike, y: ArrayLike) -> Any:
    x = _operand(x)
    if isinstance(y, (int, np.integer)) and not isinstance(y, bool):
        return ew.integer_pow(x, int(y))
    return ew.pow(x, _operand(y))


def square(x: ArrayLike) -> Any:
    return ew.integer_pow(_operand(x), 2)


def reciprocal(x: ArrayLike) -> Any:
    return ew.div(1.0, _operand(x))


def _unary(prim_fn, doc_name: str):
    def fn(x: ArrayLike) -> Any:
        return prim_fn(_operand(x))

    fn.__name__ = fn.__qualname__ = doc_name
    fn.__doc__ = f"Elementwise ``{doc_name}``, as ``numpy.{doc_name}``."
    return fn


exp = _unary(ew.exp, "exp")
log = _unary(ew.log, "log")
log1p = _unary(ew.log1p, "log1p")
expm1 = _unary(ew.expm1, "expm1")
sin = _unary(ew.sin, "sin")
cos = _unary(ew.cos, "cos")
tan = _unary(ew.tan, "tan")
tanh = _unary(ew.tanh, "tanh")
sinh = _unary(ew.sinh, "sinh")
cosh = _unary(ew.cosh, "cosh")
arctan = _unary(ew.arctan, "arctan")
arcsin = _unary(ew.arcsin, "arcsin")
arccos = _unary(ew.arccos, "arccos")
sqrt = _unary(ew.sqrt, "sqrt")
abs = _unary(ew.abs, "abs")
absolute = abs
sign = _unary(ew.sign, "sign")
floor = _unary(ew.floor, "floor")
ceil = _unary(ew.ceil, "ceil")
round = _unary(ew.round, "round")
isfinite = _unary(ew.isfinite_p.bind, "isfinite")
logical_not = _unary(ew.not_p.bind, "logical_not")


def log2(x: ArrayLike) -> Any:
    return ew.div(ew.log(_operand(x)), float(np.log(2.0)))


def log10(x: ArrayLike) -> Any:
    return ew.div(ew.log(_operand(x)), float(np.log(10.0)))


def exp2(x: ArrayLike) -> Any:
    return ew.exp(ew.mul(_operand(x), float(np.log(2.0))))


def logaddexp(x: ArrayLike, y: ArrayLike) -> Any:
    """``log(exp(x) + exp(y))``, computed without overflow, as ``numpy.logaddexp``."""
    return ew.logaddexp(_operand(x), _operand(y))


def maximum(x: ArrayLike, y: ArrayLike) -> Any:
    return ew.max(_operand(x), _operand(y))


def minimum(x: ArrayLike, y: ArrayLike) -> Any:
    return ew.min(_operand(x), _operand(y))


def clip(a: ArrayLike, a_min: ArrayLike = None, a_max: ArrayLike = None) -> Any:
    a = _operand(a)
    if a_min is not None:
        a = ew.max(a, _operand(a_min))
    if a_max is not None:
        a = ew.min(a, _operand(a_max))
    return a


def _binary(prim_fn, doc_name: str):
    def fn(x: ArrayLike, y: ArrayLike) -> Any:
        return prim_fn(_operand(x), _operand(y))

    fn.__name__ = fn.__qualname__ = doc_name
    fn.__doc__ = f"Elementwise ``{doc_name}``, as ``numpy.{doc_name}``."
    return fn


less = _binary(ew.lt, "less")
less_equal = _binary(ew.le, "less_equal")
greater = _binary(ew.gt, "greater")
greater_equal = _binary(ew.ge, "greater_equal")
equal = _binary(ew.eq, "equal")
not_equal = _binary(ew.ne, "not_equal")
logical_and = _binary(ew.and_p.bind, "logical_and")
logical_or = _binary(ew.or_p.bind, "logical_or")
logical_xor = _binary(ew.xor_p.bind, "logical_xor")


def where(condition: ArrayLike, x: ArrayLike = None, y: ArrayLike = None) -> Any:
    """``x`` where ``condition`` holds, else ``y`` (broadcasting). Gradients flow to both."""
    if x is None or y is None:
        raise FungradTypeError(
            "fungrad.numpy.where needs all three arguments (condition, x, y); the "
            "one-argument form has a data-dependent shape. Use numpy.nonzero outside "
            "transformed code."
        )
    condition = _operand(condition)
    if _dtype(condition) != np.bool_:
        condition = ew.ne(condition, 0)
    return ew.select(condition, _operand(x), _operand(y))


def astype(x: ArrayLike, dtype: Any) -> Any:
    x = _operand(x)
    if _dtype(x) == np.dtype(dtype) and isinstance(x, Tracer):
        return x
    return ew.convert_element_type(x, dtype)


def stop_gradient(x: ArrayLike) -> Any:
    return ew.stop_gradient(_operand(x))


# ---------------------------------------------------------------------------------------
# Reductions


def _normalize_axes(axis: int | Sequence[int] | None, ndim: int, name: str) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise FungradValueError(
                f"{name}: axis {a} is out of bounds for an array of dimension {ndim}"
            )
        out.append(int(a) % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise FungradValueError(f"{name}: repeated axis in {axis}")
    return tuple(sorted(out))


def _reduce(fn, x, axis, keepdims, name):
    x = _operand(x)
    axes = _normalize_axes(axis, ndim(x), name)
    out = fn(x, axes)
    if keepdims:
        out = _reshape(out, keepdims_shape(shape(x), axes))
    return out


def sum(a: ArrayLike, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Any:
    """Sum over ``axis`` (all axes by default), as ``numpy.sum``."""
    a = _operand(a)
    dtype = _dtype(a)
    if dtype.kind == "b" or (dtype.kind in "iu" and dtype.itemsize < 8):
        a = ew.convert_element_type(a, np.uint64 if dtype.kind == "u" else np.int64)
    return _reduce(reduce_sum, a, axis, keepdims, "sum")


def mean(a: ArrayLike, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Any:
    """Arithmetic mean over ``axis``, as ``numpy.mean``."""
    a = _operand(a)
    axes = _normalize_axes(axis, ndim(a), "mean")
    count = int(np.prod([shape(a)[i] for i in axes], dtype=np.int64))
    total = sum(a, axis=axes, keepdims=keepdims)
    return ew.div(total, float(count))


def var(
    a: ArrayLike, axis: int | Sequence[int] | None = None, ddof: int = 0, keepdims: bool = False
) -> Any:
    a = _operand(a)
    axes = _normalize_axes(axis, ndim(a), "var")
    count = int(np.prod([shape(a)[i] for i in axes], dtype=np.int64))
    centered = ew.sub(a, mean(a, axis=axes, keepdims=True))
    return ew.div(
        sum(ew.mul(centered, centered), axis=axes, keepdims=keepdims), float(count - ddof)
    )


def std(
    a: ArrayLike, axis: int | Sequence[int] | None = None, ddof: int = 0, keepdims: bool = False
) -> Any:
    return ew.sqrt(var(a, axis=axis, ddof=ddof, keepdims=keepdims))


def max(a: ArrayLike, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Any:
    """Maximum over ``axis``; the gradient is shared equally among tied maxima."""
    return _reduce(reduce_max, a, axis, keepdims, "max")


def min(a: ArrayLike, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Any:
    """Minimum over ``axis``; the gradient is shared equally among tied minima."""
    return _reduce(reduce_min, a, axis, keepdims, "min")


amax = max
amin = min


def _arg_reduce(fn, a, axis, keepdims, name):
    a = _operand(a)
    if axis is None:
        return fn(ravel(a), 0)
    (ax,) = _normalize_axes(axis, ndim(a), name)
    out = fn(a, ax)
    return _reshape(out, keepdims_shape(shape(a), (ax,))) if keepdims else out


def argmax(a: ArrayLike, axis: int | None = None, keepdims: bool = False) -> Any:
    return _arg_reduce(_argmax, a, axis, keepdims, "argmax")


def argmin(a: ArrayLike, axis: int | None = None, keepdims: bool = False) -> Any:
    return _arg_reduce(_argmin, a, axis, keepdims, "argmin")


# ---------------------------------------------------------------------------------------
# Shapes


def reshape(a: ArrayLike, newshape: int | Sequence[int]) -> Any:
    """As ``numpy.reshape``; one dimension may be -1."""
    a = _operand(a)
    dims = [newshape] if isinstance(newshape, (int, np.integer)) else list(newshape)
    total = size(a)
    if -1 in dims:
        known = int(np.prod([d for d in dims if d != -1], dtype=np.int64))
        if dims.count(-1) > 1 or known == 0 or total % known:
            raise FungradValueError(f"cannot reshape an array of shape {shape(a)} into {newshape}")
        dims[dims.index(-1)] = total // known
    dims_t = tuple(int(d) for d in dims)
    if dims_t == shape(a):
        return a
    return _reshape(a, dims_t)


def ravel(a: ArrayLike) -> Any:
    return reshape(a, (-1,))


def transpose(a: ArrayLike, axes: Sequence[int] | None = None) -> Any:
    a = _operand(a)
    n = ndim(a)
    perm = tuple(reversed(range(n))) if axes is None else tuple(int(x) % n for x in axes)
    if perm == tuple(range(n)):
        return a
    return _transpose(a, perm)


def swapaxes(a: ArrayLike, axis1: int, axis2: int) -> Any:
    perm = list(range(ndim(a)))
    axis1, axis2 = axis1 % len(perm), axis2 % len(perm)
    perm[axis1], perm[axis2] = perm[axis2], perm[axis1]
    return transpose(a, perm)


def moveaxis(a: ArrayLike, source: int, destination: int) -> Any:
    perm = list(range(ndim(a)))
    src = perm.pop(source % len(perm))
    perm.insert(destination % (len(perm) + 1), src)
    return transpose(a, perm)


def expand_dims(a: ArrayLike, axis: int | Sequence[int]) -> Any:
    a = _operand(a)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out_ndim = ndim(a) + len(axes)
    positions = sorted(int(x) % out_ndim for x in axes)
    dims = list(shape(a))
    for p in positions:
        dims.insert(p, 1)
    return _reshape(a, tuple(dims))


def squeeze(a: ArrayLike, axis: int | Sequence[int] | None = None) -> Any:
    a = _operand(a)
    s = shape(a)
    if axis is None:
        axes = tuple(i for i, d in enumerate(s) if d == 1)
    else:
        axes = _normalize_axes(axis, len(s), "squeeze")
        for i in axes:
            if s[i] != 1:
                raise FungradValueError(
                    f"squeeze: cannot remove axis {i} of size {s[i]} from shape {s}"
                )
    return _reshape(a, tuple(d for i, d in enumerate(s) if i not in axes))


def broadcast_to(a: ArrayLike, shape_: Sequence[int]) -> Any:
    a = _operand(a)
    target = tuple(shape_)
    if shape(a) == target:
        return a
    if len(target) < ndim(a) or any(
        d not in (1, t) for d, t in zip(reversed(shape(a)), reversed(target))
    ):
        raise FungradValueError(f"broadcast_to: cannot broadcast shape {shape(a)} to {target}")
    return _broadcast_to(a, target)


def concatenate(arrays: Sequence[ArrayLike], axis: int = 0) -> Any:
    arrays = [_operand(a) for a in arrays]
    if not arrays:
        raise FungradValueError("concatenate needs at least one array")
    axis = int(axis) % builtins.max(ndim(arrays[0]), 1)
    return _concatenate(arrays, axis)


def stack(arrays: Sequence[ArrayLike], axis: int = 0) -> Any:
    arrays = [_operand(a) for a in arrays]
    if not arrays:
        raise FungradValueError("stack needs at least one array")
    shapes = {shape(a) for a in arrays}
    if len(shapes) != 1:
        raise FungradValueError(f"stack: all input arrays must have the same shape, got {shapes}")
    axis = int(axis) % (ndim(arrays[0]) + 1)
    return _concatenate([expand_dims(a, axis) for a in arrays], axis)


def hstack(arrays: Sequence[ArrayLike]) -> Any:
    arrays = [_operand(a) for a in arrays]
    return concatenate(arrays, axis=0 if ndim(arrays[0]) == 1 else 1)


def vstack(arrays: Sequence[ArrayLike]) -> Any:
    arrays = [_operand(a) for a in arrays]
    return concatenate([a if ndim(a) >= 2 else reshape(a, (1, -1)) for a in arrays], axis=0)


# ---------------------------------------------------------------------------------------
# Products


def dot(a: ArrayLike, b: ArrayLike) -> Any:
    """As ``numpy.dot``: the last axis of ``a`` with the second-to-last of ``b``."""
    a, b = _operand(a), _operand(b)
    na, nb = ndim(a), ndim(b)
    if na == 0 or nb == 0:
        return ew.mul(a, b)
    b_axis = 0 if nb == 1 else nb - 2
    _check_contract("dot", shape(a), shape(b), na - 1, b_axis)
    return dot_general(a, b, (((na - 1,), (b_axis,)), ((), ())))


def _check_contract(name, sa, sb, ia, ib):
    if sa[ia] != sb[ib]:
        raise FungradValueError(
            f"{name}: shapes {sa} and {sb} not aligned: {sa[ia]} (dim {ia}) != {sb[ib]} (dim {ib})"
        )


def matmul(a: ArrayLike, b: ArrayLike) -> Any:
    """As ``numpy.matmul`` (the ``@`` operator), with broadcast batch dimensions."""
    a, b = _operand(a), _operand(b)
    na, nb = ndim(a), ndim(b)
    if na == 0 or nb == 0:
        raise FungradValueError("matmul: input operands must not be scalars (use *)")
    if nb <= 2:
        b_axis = 0
        _check_contract("matmul", shape(a), shape(b), na - 1, b_axis)
        return dot_general(a, b, (((na - 1,), (b_axis,)), ((), ())))
    if na == 1:
        _check_contract("matmul", shape(a), shape(b), 0, nb - 2)
        out = dot_general(a, b, (((0,), (nb - 2,)), ((), ())))
        return out
    _check_contract("matmul", shape(a), shape(b), na - 1, nb - 2)
    batch = np.broadcast_shapes(shape(a)[:-2], shape(b)[:-2])
    a = broadcast_to(a, batch + shape(a)[-2:])
    b = broadcast_to(b, batch + shape(b)[-2:])
    nbatch = len(batch)
    dims = ((nbatch + 1,), (nbatch,)), (tuple(range(nbatch)), tuple(range(nbatch)))
    return dot_general(a, b, dims)


def tensordot(a: ArrayLike, b: ArrayLike, axes: int | Sequence[Sequence[int]] = 2) -> Any:
    a, b = _operand(a), _operand(b)
    if isinstance(axes, (int, np.integer)):
        a_axes = tuple(range(ndim(a) - axes, ndim(a)))
        b_axes = tuple(range(axes))
    else:
        a_axes, b_axes = axes
        a_axes = (a_axes,) if isinstance(a_axes, int) else tuple(a_axes)
        b_axes = (b_axes,) if isinstance(b_axes, int) else tuple(b_axes)
        a_axes = tuple(x % ndim(a) for x in a_axes)
        b_axes = tuple(x % ndim(b) for x in b_axes)
    for ia, ib in zip(a_axes, b_axes):
        _check_contract("tensordot", shape(a), shape(b), ia, ib)
    return dot_general(a, b, ((a_axes, b_axes), ((), ())))


def inner(a: ArrayLike, b: ArrayLike) -> Any:
    a, b = _operand(a), _operand(b)
    if ndim(a) == 0 or ndim(b) == 0:
        return ew.mul(a, b)
    return dot_general(a, b, (((ndim(a) - 1,), (ndim(b) - 1,)), ((), ())))


def outer(a: ArrayLike, b: ArrayLike) -> Any:
    return ew.mul(reshape(a, (-1, 1)), reshape(b, (1, -1)))


def vdot(a: ArrayLike, b: ArrayLike) -> Any:
    return dot(ravel(a), ravel(b))


# ---------------------------------------------------------------------------------------
# Indexing


def _static_int(v: Any, what: str) -> int | None:
    if v is None:
        return None
    try:
        return int(v.__index__())
    except ConcretizationError as err:
        raise ConcretizationError(f"a slice {what} must be a concrete integer. {err}") from None


def getitem(x: ArrayLike, index: Any) -> Any:
    """``x[index]`` with NumPy's basic and integer-array indexing."""
    x = _operand(x)
    if not isinstance(index, tuple):
        index = (index,)
    entries: list[Any] = []
    arrays: list[Any] = []
    for item in index:
        if item is None or item is Ellipsis:
            entries.append(item)
        elif isinstance(item, slice):
            entries.append(
                slice(
                    _static_int(item.start, "start"),
                    _static_int(item.stop, "stop"),
                    _static_int(item.step, "step"),
                )
            )
        elif isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_)):
            entries.append(int(item))
        else:
            _add_array_index(item, entries, arrays)
    return gather(x, *arrays, index=StaticIndex(tuple(entries)))


def _add_array_index(item: Any, entries: list[Any], arrays: list[Any]) -> None:
    if isinstance(item, Tracer):
        kind = item.dtype.kind
        if kind == "b":
            try:
                mask = np.asarray(item.to_concrete())
            except ConcretizationError as err:
                raise ConcretizationError(
                    "boolean mask indexing gives a result whose shape depends on the mask's "
                    f"values, which are abstract here. Use fungrad.numpy.where instead. {err}"
                ) from None
            for idx in np.nonzero(mask):
                entries.append(ARRAY)
                arrays.append(idx)
            return
        if kind not in "iu":
            raise FungradTypeError(f"array indices must be integers or booleans, got {item.dtype}")
        entries.append(ARRAY)
        arrays.append(item)
        return
    arr = np.asarray(item)
    if arr.dtype.kind == "b":
        for idx in np.nonzero(arr):
            entries.append(ARRAY)
            arrays.append(idx)
    elif arr.dtype.kind in "iu":
        entries.append(ARRAY)
        arrays.append(arr)
    else:
        raise FungradTypeError(
            f"array indices must be integers or booleans, got {arr.dtype} (from {item!r:.60})"
        )


def take(a: ArrayLike, indices: ArrayLike, axis: int | None = None) -> Any:
    if axis is None:
        return getitem(ravel(a), indices)
    axis = int(axis) % ndim(a)
    return getitem(a, (slice(None),) * axis + (_operand(indices),))


def take_along_axis(arr: ArrayLike, indices: ArrayLike, axis: int) -> Any:
    """As ``numpy.take_along_axis`` (used to pick per-example entries, e.g. log-probs)."""
    arr = _operand(arr)
    axis = int(axis) % ndim(arr)
    idx_shape = shape(indices)
    index: list[Any] = []
    for i in range(ndim(arr)):
        if i == axis:
            index.append(_operand(indices))
        else:
            dims = [1] * ndim(arr)
            dims[i] = idx_shape[i]
            index.append(np.arange(idx_shape[i]).reshape(dims))
    return getitem(arr, tuple(index))


e = np.e

from fungrad.numpy import _methods, linalg  # noqa: E402,F401  (installs tracer methods)
