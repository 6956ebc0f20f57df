"""``fungrad.numpy``: NumPy's names and signatures, written in terms of fungrad primitives.

Porting NumPy code is an import change (``import fungrad.numpy as fnp``). With no
transformation active every function returns plain NumPy values; inside ``grad``,
``jvp``, ``make_jaxpr`` and the rest, the same code is traced. A function here that
is a composition of primitives needs no derivative rule of its own.
"""

from __future__ import annotations

import builtins
import functools
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy import (  # dtypes and constants, and NumPy's random module, re-exported
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
    random,  # as autograd users write npr = np.random: samples are constants
    uint8,
)

import fungrad.primitives  # noqa: F401  (registers the primitives)
from fungrad.core import Tracer, _state
from fungrad.errors import (
    AxisError,
    ConcretizationError,
    FungradTypeError,
    FungradValueError,
    IndexShapeError,
)
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
from fungrad.primitives.shape import concatenate as _concatenate
from fungrad.primitives.structural import broadcast_to as _broadcast_to
from fungrad.primitives.structural import convert_element_type as _convert
from fungrad.primitives.structural import reshape as _reshape
from fungrad.primitives.structural import transpose as _transpose

# The public names, NumPy's (plus ``stop_gradient``). ``dir(fungrad.numpy)`` lists only
# these; the helpers imported above stay importable for fungrad's own modules.
__all__ = [
    # dtypes and constants
    "bool_", "complex64", "complex128", "float16", "float32", "float64", "int8", "int16",
    "int32", "int64", "uint8", "e", "inf", "nan", "newaxis", "pi",
    # array properties
    "shape", "ndim", "size", "result_type",
    # creation
    "array", "asarray", "zeros", "ones", "empty", "arange", "eye", "identity", "zeros_like",
    "ones_like",
    # arithmetic
    "add", "subtract", "multiply", "divide", "true_divide", "floor_divide", "remainder",
    "mod", "divmod", "negative", "power", "square", "reciprocal", "maximum", "minimum",
    "clip", "abs", "absolute", "sign", "floor", "ceil", "round", "around",
    # math
    "exp", "exp2", "expm1", "log", "log1p", "log2", "log10", "logaddexp", "sqrt", "sin",
    "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
    # logic
    "less", "less_equal", "greater", "greater_equal", "equal", "not_equal", "logical_and",
    "logical_or", "logical_xor", "logical_not", "isfinite",
    # reductions
    "sum", "mean", "var", "std", "max", "min", "amax", "amin", "argmax", "argmin",
    # shapes
    "reshape", "ravel", "transpose", "swapaxes", "moveaxis", "expand_dims", "squeeze",
    "broadcast_to", "atleast_1d", "atleast_2d", "atleast_3d", "concatenate", "stack",
    "hstack", "vstack",
    # products
    "dot", "matmul", "tensordot", "inner", "outer", "vdot",
    # indexing
    "take", "take_along_axis",
    # other
    "astype", "stop_gradient", "linalg", "random",
]  # fmt: skip


def __dir__() -> list[str]:
    return sorted(__all__)


ArrayLike = Any


def _operand(x: ArrayLike) -> Any:
    """An operand for a primitive: tracers, arrays and Python scalars as they are."""
    if isinstance(x, (Tracer, np.ndarray, float, int, bool, complex, np.generic)):
        return x
    if isinstance(x, (list, tuple)):
        if _holds_tracer(x):
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


def _holds_tracer(x: Any) -> bool:
    """Whether ``x`` is traced, or a (nested) list or tuple with a traced value in it."""
    if isinstance(x, Tracer):
        return True
    return isinstance(x, (list, tuple)) and builtins.any(
        isinstance(v, Tracer) for v in _flat_items(x)
    )


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
    if _holds_tracer(object):
        return stack([array(v, dtype) for v in object])
    return np.array(object, dtype=dtype)


def asarray(a: Any, dtype: Any = None) -> Any:
    if _holds_tracer(a):
        return array(a, dtype)
    return np.asarray(a, dtype=dtype)


zeros = np.zeros
ones = np.ones
empty = np.zeros  # no uninitialised memory: a traced program must be deterministic
arange = np.arange
eye = np.eye
identity = np.identity


def zeros_like(a: ArrayLike, dtype: Any = None) -> np.ndarray:
    return np.zeros(shape(a), dtype=dtype or _dtype(a))


def ones_like(a: ArrayLike, dtype: Any = None) -> np.ndarray:
    return np.ones(shape(a), dtype=dtype or _dtype(a))


def _dtype(a: ArrayLike) -> np.dtype:
    if isinstance(a, Tracer):
        return a.dtype
    return np.asarray(a).dtype if isinstance(a, (list, tuple)) else np.result_type(a)


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
    """``x ** y``, as ``numpy.power``."""
    x = _operand(x)
    # A Python int exponent is weakly typed, so integer_pow (whose dtype is x's) is
    # exact; a NumPy integer takes part in promotion, and booleans have their own rule.
    if type(y) is int and _dtype(x).kind != "b":
        return ew.integer_pow(x, y)
    return ew.pow(x, _operand(y))


def square(x: ArrayLike) -> Any:
    """``x * x``, as ``numpy.square`` (booleans give int8, as in NumPy)."""
    x = _operand(x)
    if _dtype(x).kind == "b":
        x = _convert(x, np.int8)
    return ew.integer_pow(x, 2)


def reciprocal(x: ArrayLike) -> Any:
    """``1 / x``, as ``numpy.reciprocal``: of the same dtype, so for integers it is
    truncated (1 and -1 are their own reciprocals, every other integer gives 0)."""
    x = _operand(x)
    kind = _dtype(x).kind
    if kind in "fc":
        return ew.div(1.0, x)
    if kind == "b":
        x = _convert(x, np.int8)  # NumPy's boolean reciprocal is int8
    return ew.select(ew.eq(ew.abs(x), 1), x, ew.mul(x, 0))


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
isfinite = _unary(ew.isfinite_p.bind, "isfinite")
logical_not = _unary(ew.not_p.bind, "logical_not")


def floor_divide(x: ArrayLike, y: ArrayLike) -> Any:
    """``x // y``, rounded toward minus infinity, as ``numpy.floor_divide`` (exact for
    integers). Piecewise constant: its derivative is zero in both arguments.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.floor_divide(np.array([7, -7]), 2)
    array([ 3, -4])
    """
    return ew.floor_divide(_operand(x), _operand(y))


def remainder(x: ArrayLike, y: ArrayLike) -> Any:
    """``x % y`` with the sign of ``y``, as ``numpy.remainder`` (exact for integers).

    ``x % y = x - (x // y) * y``, so between its jumps the derivative is 1 in ``x`` and
    ``-(x // y)`` in ``y``.

    >>> import numpy as np, fungrad, fungrad.numpy as fnp
    >>> fnp.remainder(np.array([7, -7]), 3)
    array([1, 2])
    >>> float(fungrad.grad(lambda y: fnp.remainder(7.5, y))(2.0))
    -3.0
    """
    return ew.mod(_operand(x), _operand(y))


mod = remainder


def divmod(x: ArrayLike, y: ArrayLike) -> tuple[Any, Any]:
    """``(x // y, x % y)``, as ``numpy.divmod``."""
    x, y = _operand(x), _operand(y)
    return ew.floor_divide(x, y), ew.mod(x, y)


def _power_of_ten(n: int) -> float:
    # As NumPy computes it for round, so that the results agree to the last bit.
    if n < 9:
        return float(10**n)
    out = 1e9
    for _ in range(n - 9):
        out *= 10.0
    return out


def round(a: ArrayLike, decimals: int = 0) -> Any:
    """Round to ``decimals`` decimal places (halves to even), as ``numpy.round``.

    Negative ``decimals`` round to tens, hundreds, ...; integers stay integers. The
    derivative is zero almost everywhere.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.round(np.array([0.5, 1.5, 2.5])), fnp.round(np.array([15, 25]), -1)
    (array([0., 2., 2.]), array([20, 20]))
    >>> fnp.round(np.array([3.14159, -0.0123]), 2)
    array([ 3.14, -0.01])
    """
    a = _operand(a)
    decimals = operator.index(decimals)
    kind = _dtype(a).kind
    if decimals == 0 or (decimals > 0 and kind in "iub"):
        return ew.round(a)
    if kind == "b":
        raise FungradTypeError(f"round: cannot round a boolean array to decimals={decimals}")
    if kind in "iu":
        # NumPy rounds integers to tens, hundreds, ... through float64, and so do we.
        as_float = _convert(a, np.float64)
        return _convert(round(as_float, decimals), _dtype(a))
    if decimals > 0:
        scale = _power_of_ten(decimals)
        return ew.div(ew.round(ew.mul(a, scale)), scale)
    scale = _power_of_ten(-decimals)
    return ew.mul(ew.round(ew.div(a, scale)), scale)


around = round


def log2(x: ArrayLike) -> Any:
    """Base-2 logarithm, as ``numpy.log2``."""
    return ew.log2(_operand(x))


def log10(x: ArrayLike) -> Any:
    """Base-10 logarithm, as ``numpy.log10``."""
    return ew.log10(_operand(x))


def exp2(x: ArrayLike) -> Any:
    """``2 ** x``, as ``numpy.exp2``."""
    return ew.exp2(_operand(x))


def logaddexp(x: ArrayLike, y: ArrayLike) -> Any:
    """``log(exp(x) + exp(y))``, computed without overflow, as ``numpy.logaddexp``."""
    return ew.logaddexp(_operand(x), _operand(y))


def maximum(x: ArrayLike, y: ArrayLike) -> Any:
    return ew.max(_operand(x), _operand(y))


def minimum(x: ArrayLike, y: ArrayLike) -> Any:
    return ew.min(_operand(x), _operand(y))


def clip(a: ArrayLike, a_min: ArrayLike = None, a_max: ArrayLike = None) -> Any:
    """``a`` limited to ``[a_min, a_max]`` (either may be None), as ``numpy.clip``."""
    a = _strong(_operand(a))
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
    return _convert(x, dtype)


def stop_gradient(x: ArrayLike) -> Any:
    return ew.stop_gradient(_operand(x))


# ---------------------------------------------------------------------------------------
# Reductions


def _axis_index(axis: Any, ndim: int, name: str) -> int:
    """One ``axis`` argument as a non-negative int, or an AxisError naming ``name``."""
    try:
        a = operator.index(axis)
    except TypeError:
        raise FungradTypeError(
            f"{name}: axis must be an integer, a tuple of integers or None, got {axis!r}"
        ) from None
    if not -ndim <= a < ndim:
        raise AxisError(f"{name}: axis {a} is out of bounds for an array of dimension {ndim}")
    return a % ndim


def _axis_tuple(axis: int | Sequence[int], ndim: int, name: str, arg: str = "axis") -> tuple:
    """``axis`` (an int or a sequence of ints) as non-negative ints, in the given order."""
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    out = tuple(_axis_index(a, ndim, name) for a in axes)
    if len(set(out)) != len(out):
        raise FungradValueError(f"{name}: repeated axis in {arg}={axis!r}")
    return out


def _is_integer(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _normalize_axes(axis: int | Sequence[int] | None, ndim: int, name: str) -> tuple[int, ...]:
    """The sorted axes a reduction runs over (all of them for ``axis=None``)."""
    if axis is None:
        return tuple(range(ndim))
    return tuple(sorted(_axis_tuple(axis, ndim, name)))


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
        a = _convert(a, np.uint64 if dtype.kind == "u" else np.int64)
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
    """Variance over ``axis`` (divided by ``N - ddof``), as ``numpy.var``."""
    a = _operand(a)
    axes = _normalize_axes(axis, ndim(a), "var")
    count = int(np.prod([shape(a)[i] for i in axes], dtype=np.int64))
    centered = ew.sub(a, mean(a, axis=axes, keepdims=True))
    if _dtype(centered).kind == "c":  # |x - mean|², as NumPy: a real variance
        re, im = ew.real(centered), ew.imag(centered)
        squares = ew.add(ew.mul(re, re), ew.mul(im, im))
    else:
        squares = ew.mul(centered, centered)
    # NumPy divides by max(N - ddof, 0): no degrees of freedom left gives inf or nan.
    return ew.div(sum(squares, axis=axes, keepdims=keepdims), float(builtins.max(count - ddof, 0)))


def std(
    a: ArrayLike, axis: int | Sequence[int] | None = None, ddof: int = 0, keepdims: bool = False
) -> Any:
    """Standard deviation over ``axis``, as ``numpy.std``."""
    a = _operand(a)
    _normalize_axes(axis, ndim(a), "std")  # so that an error names std, not var
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
        out = fn(ravel(a), 0)
        return _reshape(out, (1,) * ndim(a)) if keepdims else out
    ax = _axis_index(axis, ndim(a), name)
    out = fn(a, ax)
    return _reshape(out, keepdims_shape(shape(a), (ax,))) if keepdims else out


def argmax(a: ArrayLike, axis: int | None = None, keepdims: bool = False) -> Any:
    """Index of the maximum along ``axis`` (of the flattened array by default)."""
    return _arg_reduce(_argmax, a, axis, keepdims, "argmax")


def argmin(a: ArrayLike, axis: int | None = None, keepdims: bool = False) -> Any:
    """Index of the minimum along ``axis`` (of the flattened array by default)."""
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
    """Permute the axes (reverse them by default), as ``numpy.transpose``."""
    a = _operand(a)
    n = ndim(a)
    if axes is None:
        perm = tuple(reversed(range(n)))
    else:
        if len(axes) != n:
            raise FungradValueError(
                f"transpose: axes {tuple(axes)} don't match an array of shape {shape(a)}"
            )
        perm = _axis_tuple(tuple(axes), n, "transpose", "axes")
    if perm == tuple(range(n)):
        return a
    return _transpose(a, perm)


def swapaxes(a: ArrayLike, axis1: int, axis2: int) -> Any:
    """Interchange two axes, as ``numpy.swapaxes``."""
    a = _operand(a)
    perm = list(range(ndim(a)))
    axis1 = _axis_index(axis1, len(perm), "swapaxes")
    axis2 = _axis_index(axis2, len(perm), "swapaxes")
    perm[axis1], perm[axis2] = perm[axis2], perm[axis1]
    return transpose(a, perm)


def moveaxis(a: ArrayLike, source: int | Sequence[int], destination: int | Sequence[int]) -> Any:
    """Move axes to new positions, the others keeping their order, as ``numpy.moveaxis``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.moveaxis(np.zeros((2, 3, 4)), (0, 1), (2, 0)).shape
    (3, 4, 2)
    """
    a = _operand(a)
    n = ndim(a)
    src = _axis_tuple(source, n, "moveaxis", "source")
    dst = _axis_tuple(destination, n, "moveaxis", "destination")
    if len(src) != len(dst):
        raise FungradValueError(
            f"moveaxis: source={source!r} and destination={destination!r} must have the "
            "same number of elements"
        )
    order = [i for i in range(n) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(a, order)


def expand_dims(a: ArrayLike, axis: int | Sequence[int]) -> Any:
    """Insert size-1 axes at ``axis`` (positions in the result), as ``numpy.expand_dims``."""
    a = _operand(a)
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    positions = _axis_tuple(axes, ndim(a) + len(axes), "expand_dims")
    dims = list(shape(a))
    for p in sorted(positions):
        dims.insert(p, 1)
    return _reshape(a, tuple(dims))


def squeeze(a: ArrayLike, axis: int | Sequence[int] | None = None) -> Any:
    """Remove size-1 axes (all of them, or those in ``axis``), as ``numpy.squeeze``."""
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
    """Broadcast ``a`` to ``shape_`` (trailing dimensions aligned), as ``numpy.broadcast_to``."""
    a = _operand(a)
    target = tuple(shape_)
    if shape(a) == target:
        return a
    if len(target) < ndim(a) or builtins.any(
        d not in (1, t) for d, t in zip(reversed(shape(a)), reversed(target))
    ):
        raise FungradValueError(f"broadcast_to: cannot broadcast shape {shape(a)} to {target}")
    return _broadcast_to(a, target)


def _reshaped_each(arys: tuple, new_shape: Any) -> Any:
    """Each of ``arys`` reshaped to ``new_shape(its shape)``; one array, or a tuple of them."""
    out = []
    for a in arys:
        a = _operand(a)
        target = new_shape(shape(a))
        out.append(a if target == shape(a) else _reshape(a, target))
    return out[0] if len(out) == 1 else tuple(out)


def atleast_1d(*arys: ArrayLike) -> Any:
    """Each input with at least one dimension (a scalar becomes shape ``(1,)``)."""
    return _reshaped_each(arys, lambda s: s or (1,))


def atleast_2d(*arys: ArrayLike) -> Any:
    """Each input with at least two dimensions: ``(N,)`` becomes ``(1, N)``."""
    return _reshaped_each(arys, lambda s: (1,) * (2 - len(s)) + s)


def atleast_3d(*arys: ArrayLike) -> Any:
    """Each input with at least three dimensions: ``()`` becomes ``(1, 1, 1)``, ``(N,)``
    becomes ``(1, N, 1)`` and ``(M, N)`` becomes ``(M, N, 1)``, as in NumPy."""
    return _reshaped_each(arys, lambda s: {0: (1, 1, 1), 1: (1, *s, 1), 2: (*s, 1)}.get(len(s), s))


def concatenate(arrays: Sequence[ArrayLike], axis: int | None = 0) -> Any:
    """Join arrays along an existing axis (``axis=None``: flattened first), as NumPy."""
    arrays = [_operand(a) for a in arrays]
    if not arrays:
        raise FungradValueError("concatenate needs at least one array")
    if axis is None:
        # Python scalars promote weakly, as in NumPy: [float32 array, 2.0] is float32.
        dtype = result_type(*arrays)
        arrays = [
            ravel(np.asarray(a, dtype) if type(a) in (float, int, complex) else a) for a in arrays
        ]
        axis = 0
    if ndim(arrays[0]) == 0:
        raise FungradValueError(
            "concatenate: zero-dimensional arrays cannot be concatenated (use stack, or "
            "hstack, which makes them 1-D first)"
        )
    return _concatenate(arrays, _axis_index(axis, ndim(arrays[0]), "concatenate"))


def stack(arrays: Sequence[ArrayLike], axis: int = 0) -> Any:
    """Join same-shaped arrays along a new axis, as ``numpy.stack``."""
    arrays = [_operand(a) for a in arrays]
    if not arrays:
        raise FungradValueError("stack needs at least one array")
    shapes = {shape(a) for a in arrays}
    if len(shapes) != 1:
        raise FungradValueError(f"stack: all input arrays must have the same shape, got {shapes}")
    axis = _axis_index(axis, ndim(arrays[0]) + 1, "stack")
    return _concatenate([expand_dims(a, axis) for a in arrays], axis)


def hstack(arrays: Sequence[ArrayLike]) -> Any:
    """Concatenate column-wise (along axis 0 for 1-D inputs), after ``atleast_1d``."""
    arrays = [atleast_1d(a) for a in arrays]
    if not arrays:
        raise FungradValueError("hstack needs at least one array")
    return concatenate(arrays, axis=0 if ndim(arrays[0]) == 1 else 1)


def vstack(arrays: Sequence[ArrayLike]) -> Any:
    """Concatenate row-wise after ``atleast_2d`` (a 1-D input becomes one row)."""
    return concatenate([atleast_2d(a) for a in arrays], axis=0)


# ---------------------------------------------------------------------------------------
# Products


def _strong(x: Any) -> Any:
    """``x`` with a Python scalar made a NumPy value, for the functions that (unlike
    ufuncs) promote Python scalars as arrays of their default dtype, as NumPy does."""
    if type(x) in (float, int, complex):
        return np.asarray(x)
    if isinstance(x, Tracer) and x.aval.weak_type:
        return _convert(x, x.dtype)
    return x


def dot(a: ArrayLike, b: ArrayLike) -> Any:
    """As ``numpy.dot``: the last axis of ``a`` with the second-to-last of ``b``."""
    a, b = _strong(_operand(a)), _strong(_operand(b))
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
    """Sum of products over ``axes`` (the last ``axes`` of ``a`` with the first of ``b``,
    or a pair of axis lists), as ``numpy.tensordot``."""
    a, b = _strong(_operand(a)), _strong(_operand(b))
    if _is_integer(axes):
        if not 0 <= axes <= builtins.min(ndim(a), ndim(b)):
            raise FungradValueError(
                f"tensordot: axes={axes} for operands of shapes {shape(a)} and {shape(b)}"
            )
        a_axes = tuple(range(ndim(a) - axes, ndim(a)))
        b_axes = tuple(range(axes))
    else:
        a_axes, b_axes = axes
        a_axes = _axis_tuple(a_axes, ndim(a), "tensordot", "axes")
        b_axes = _axis_tuple(b_axes, ndim(b), "tensordot", "axes")
        if len(a_axes) != len(b_axes):
            raise FungradValueError(
                f"tensordot: axes={axes!r} must name as many axes of a as of b"
            )
    for ia, ib in zip(a_axes, b_axes):
        _check_contract("tensordot", shape(a), shape(b), ia, ib)
    return dot_general(a, b, ((a_axes, b_axes), ((), ())))


def inner(a: ArrayLike, b: ArrayLike) -> Any:
    """Sum of products over the last axes, as ``numpy.inner``."""
    a, b = _strong(_operand(a)), _strong(_operand(b))
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
    """``x[index]`` with NumPy's basic and integer-array indexing, boolean masks included."""
    x = _operand(x)
    if not isinstance(index, tuple):
        index = (index,)
    _check_masks(index, shape(x))
    entries: list[Any] = []
    arrays: list[Any] = []
    new_axes: list[int] = []  # entries that index an axis inserted for a scalar boolean
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
        elif _is_integer(item):
            entries.append(int(item))
        else:
            mask = _scalar_mask(item)
            if mask is None:
                _add_array_index(item, entries, arrays)
            else:
                # NumPy reads a scalar boolean as a 0-d mask: a new axis of length 1
                # (True) or 0 (False). So: insert a size-1 axis, then index it with
                # [0] or [], an ordinary array index.
                new_axes.append(len(entries))
                entries.append(ARRAY)
                arrays.append(np.zeros(1 if mask else 0, np.intp))
    if new_axes:
        x = expand_dims(x, _inserted_axes(entries, new_axes, ndim(x) + len(new_axes)))
    return gather(x, *arrays, index=StaticIndex(tuple(entries)))


def _check_masks(index: tuple, x_shape: tuple[int, ...]) -> None:
    """NumPy's IndexError for a boolean mask whose shape is not that of the axes it indexes."""
    spans = []  # (item, how many axes of x it indexes)
    for item in index:
        if item is None or item is Ellipsis or _scalar_mask(item) is not None:
            spans.append((item, 0))
        elif isinstance(item, (Tracer, np.ndarray)) and item.dtype.kind == "b":
            spans.append((item, item.ndim))
        elif isinstance(item, (list, tuple)) and not _holds_tracer(item):
            arr = np.asarray(item)
            spans.append((arr, arr.ndim if arr.dtype.kind == "b" else 1))
        else:
            spans.append((item, 1))
    ellipsis_axes = len(x_shape) - builtins.sum(n for _, n in spans)
    axis = 0
    for item, n in spans:
        if item is Ellipsis:
            axis += ellipsis_axes
            continue
        mask_shape = tuple(item.shape) if n and getattr(item, "dtype", None) == np.bool_ else None
        if mask_shape is not None and tuple(x_shape[axis : axis + n]) != mask_shape:
            raise IndexShapeError(
                f"boolean index of shape {mask_shape} does not match the axes "
                f"{tuple(range(axis, axis + n))} of an array of shape {x_shape} it indexes "
                f"(of sizes {tuple(x_shape[axis : axis + n])})"
            )
        axis += n


def _scalar_mask(item: Any) -> bool | None:
    """The value of a scalar boolean index (``True``, a 0-d boolean array), else None."""
    if isinstance(item, (bool, np.bool_)):
        return bool(item)
    if isinstance(item, Tracer):
        if item.dtype.kind != "b" or item.shape:
            return None
        try:
            return bool(np.asarray(item.to_concrete()))
        except ConcretizationError as err:
            raise ConcretizationError(
                "indexing with a scalar boolean adds an axis of length 1 or 0 depending "
                "on its value, which is abstract here. Use fungrad.numpy.where instead. "
                f"{err}"
            ) from None
    if isinstance(item, np.ndarray) and item.dtype.kind == "b" and not item.shape:
        return bool(item)
    return None


def _inserted_axes(entries: list[Any], new_axes: list[int], full_ndim: int) -> tuple[int, ...]:
    """Positions, in the array with the new axes, of the axes the ``new_axes`` entries index."""
    consumed = builtins.sum(1 for e in entries if e is ARRAY or type(e) in (int, slice))
    positions = []
    position = 0
    for i, e in enumerate(entries):
        if i in new_axes:
            positions.append(position)
        if e is Ellipsis:
            position += full_ndim - consumed
        elif e is not None:
            position += 1
    return tuple(positions)


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
    if arr.size == 0 and isinstance(item, (list, tuple)):
        arr = arr.astype(np.intp)  # NumPy reads an empty list as an empty integer index
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
    """Elements at ``indices`` along ``axis`` (of the flattened array by default)."""
    a = _operand(a)
    if axis is None:
        return getitem(ravel(a), _operand(indices))
    axis = _axis_index(axis, ndim(a), "take")
    return getitem(a, (slice(None),) * axis + (_operand(indices),))


def take_along_axis(arr: ArrayLike, indices: ArrayLike, axis: int | None = -1) -> Any:
    """As ``numpy.take_along_axis``: ``indices`` picks entries along ``axis`` and broadcasts
    against ``arr`` in the other dimensions (``axis=None``: of the flattened array).

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.take_along_axis(np.array([[10, 11, 12], [20, 21, 22]]), np.array([[2, 0]]), 1)
    array([[12, 10],
           [22, 20]])
    """
    arr, indices = _operand(arr), _operand(indices)
    if _dtype(indices).kind not in "iu":
        raise FungradTypeError(
            f"take_along_axis: indices must be integers, got dtype {_dtype(indices)}"
        )
    if axis is None:
        if ndim(indices) != 1:
            raise FungradValueError(
                "take_along_axis: with axis=None the indices must be 1-D, got shape "
                f"{shape(indices)}"
            )
        arr, axis = ravel(arr), 0
    axis = _axis_index(axis, ndim(arr), "take_along_axis")
    if ndim(indices) != ndim(arr) or builtins.any(
        i != axis and d not in (1, n) for i, (d, n) in enumerate(zip(shape(indices), shape(arr)))
    ):
        raise FungradValueError(
            f"take_along_axis: indices of shape {shape(indices)} do not fit an array of shape "
            f"{shape(arr)} along axis {axis}: they need as many dimensions, each of size 1 or "
            "the array's, except along axis"
        )
    index: list[Any] = []
    for i, n in enumerate(shape(arr)):
        if i == axis:
            index.append(indices)
        else:
            dims = [1] * ndim(arr)
            dims[i] = n
            index.append(np.arange(n).reshape(dims))
    return getitem(arr, tuple(index))


e = np.e


# ---------------------------------------------------------------------------------------
# NumPy's result types for Python scalars

# A result computed from Python scalars alone is a Python scalar inside fungrad (weakly
# typed, as Python arithmetic keeps it), but ``numpy.sin(2.0)`` is a ``numpy.float64``,
# which takes part in promotion: so is ``fnp.sin(2.0)``, under every transformation
# (see core._State.numpy_typing). What NumPy returns for Python scalars:
_NUMPY_SCALAR = {float: np.float64, int: np.int64, complex: np.complex128, bool: np.bool_}


def _numpy_value(out: Any) -> Any:
    """``out`` as NumPy types it: a value returned without computing it (an argument
    passed through) is still a NumPy scalar, or a strongly typed traced value."""
    convert = _NUMPY_SCALAR.get(type(out))
    if convert is not None:
        return convert(out)
    if isinstance(out, Tracer):
        return _convert(out, out.dtype) if out.weak_type else out
    if type(out) is tuple:
        return tuple(_numpy_value(o) for o in out)
    return out


def _with_numpy_results(fn: Any) -> Any:
    # Sets core._State.numpy_typing while fn runs (inline: every fnp call is wrapped).
    @functools.wraps(fn)
    def numpy_function(*args: Any, **kwargs: Any) -> Any:
        state = _state
        previous = state.numpy_typing
        state.numpy_typing = True
        try:
            out = fn(*args, **kwargs)
        finally:
            state.numpy_typing = previous
        if type(out) is np.ndarray or (isinstance(out, Tracer) and not out.weak_type):
            return out
        return _numpy_value(out)

    return numpy_function


# ---------------------------------------------------------------------------------------
# Families kept in modules of their own. Their public names are this module's: they
# join ``__all__`` and are wrapped below like the functions defined here.

from fungrad.numpy import _einsum, _math, _reductions, _shapes, _updates  # noqa: E402

for _module in (_math, _reductions, _shapes, _einsum, _updates):
    for _name in _module.__all__:
        globals()[_name] = getattr(_module, _name)
    __all__ += _module.__all__

# Every public function of this module returns NumPy's types. The operators of traced
# values use the unwrapped functions (``__wrapped__``): ``x * 2.0`` of a Python float x
# is a Python float, and stays weakly typed when x is traced.
_RESULT_AS_IS = {
    *("shape", "ndim", "size", "result_type", "array", "asarray", "linalg", "random"),
    *("allclose", "array_equal"),  # Python bools, as NumPy's
}
for _name in set(__all__) - _RESULT_AS_IS:
    _fn = globals()[_name]
    if getattr(_fn, "__module__", "").startswith(__name__):
        globals()[_name] = _with_numpy_results(_fn)

from fungrad.numpy import _methods, linalg  # noqa: E402,F401  (installs tracer methods)
