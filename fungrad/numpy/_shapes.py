"""Shapes and joining beyond the core: splitting, flipping and rolling, tiling and
repeating, padding, diagonals and triangles, grids, products (``kron``, ``cross``,
and the remaining constructors (``einsum`` is in _einsum.py).

Everything here is a composition of primitives (slices and index arrays are
``gather``, whose transpose is ``scatter_add``; joining is ``concatenate``;
``einsum`` contracts pairwise with ``dot_general``), so it needs no derivative rule
of its own and is differentiable to any order, batched by ``vmap`` and compiled by
``jit``. Sizes, sections, shifts, repeats and pad widths must be concrete: they
decide the result's shape.

The public names join :mod:`fungrad.numpy` (see the end of its ``__init__``).
"""

from __future__ import annotations

import builtins
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

import fungrad.numpy as fnp
from fungrad.core import Tracer
from fungrad.errors import ConcretizationError, FungradTypeError, FungradValueError
from fungrad.numpy import (
    _axis_index,
    _axis_tuple,
    _dtype,
    _holds_tracer,
    _is_integer,
    _operand,
    _strong,
    getitem,
    ndim,
    shape,
)
from fungrad.primitives import elementwise as ew
from fungrad.primitives.indexing import ARRAY, StaticIndex, gather, scatter_add
from fungrad.primitives.shape import concatenate as _concatenate
from fungrad.primitives.structural import broadcast_to as _broadcast_to
from fungrad.primitives.structural import convert_element_type as _convert

__all__: list[str] = [
    # joining and splitting
    "dstack", "column_stack", "split", "array_split", "hsplit", "vsplit", "dsplit",
    # rearranging
    "flip", "fliplr", "flipud", "rot90", "roll", "broadcast_arrays", "tile", "repeat", "pad",
    # diagonals and triangles
    "diag", "diagonal", "diagflat", "trace", "triu", "tril",
    # grids and products
    "meshgrid", "kron", "cross",
    # constructors
    "empty_like", "tri", "logspace", "copy", "full", "full_like", "linspace",
]  # fmt: skip

ArrayLike = Any


def _concrete_int(value: Any, name: str, arg: str) -> int:
    """``value`` as a Python int, or an error naming ``name`` and ``arg``."""
    if isinstance(value, Tracer):
        raise ConcretizationError(
            f"{name}: {arg} decides the result's shape, so it must be a concrete integer, "
            "not a traced value. Pass it as a Python int (a static argument under jit)."
        )
    try:
        return operator.index(value)
    except TypeError:
        raise FungradTypeError(f"{name}: {arg} must be an integer, got {value!r}") from None


def _int_array(value: Any, name: str, arg: str) -> np.ndarray:
    """``value`` (ints, or nested sequences of them) as a concrete integer array."""
    if _holds_tracer(value):
        raise ConcretizationError(
            f"{name}: {arg} decides the result's shape, so it must be concrete integers, "
            "not traced values."
        )
    arr = np.asarray(value)
    if arr.size and arr.dtype.kind not in "iu":
        raise FungradTypeError(f"{name}: {arg} must be integers, got {value!r}")
    return arr.astype(np.int64)


def _slice_on(a: Any, axis: int, index: Any) -> Any:
    """``a[:, ..., index, ...]`` with ``index`` (a slice or an index array) on ``axis``."""
    return getitem(a, (slice(None),) * axis + (index,))


# ---------------------------------------------------------------------------------------
# Joining and splitting


def dstack(tup: Sequence[ArrayLike]) -> Any:
    """Concatenate along the third axis after ``atleast_3d``, as ``numpy.dstack``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.dstack([np.ones(2), np.zeros(2)]).shape
    (1, 2, 2)
    """
    arrays = [fnp.atleast_3d(a) for a in tup]
    if not arrays:
        raise FungradValueError("dstack needs at least one array")
    return fnp.concatenate(arrays, axis=2)


def column_stack(tup: Sequence[ArrayLike]) -> Any:
    """Stack 1-D arrays as columns (2-D arrays as they are), as ``numpy.column_stack``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.column_stack([np.array([1, 2]), np.array([3, 4])])
    array([[1, 3],
           [2, 4]])
    """
    arrays = []
    for a in tup:
        a = _operand(a)
        if ndim(a) < 2:
            a = fnp.reshape(a, (-1, 1))
        arrays.append(a)
    if not arrays:
        raise FungradValueError("column_stack needs at least one array")
    return fnp.concatenate(arrays, axis=1)


def _split(ary: Any, indices_or_sections: Any, axis: int, name: str, equal: bool) -> list[Any]:
    ary = _operand(ary)
    if ndim(ary) == 0:
        raise FungradValueError(f"{name}: cannot split a zero-dimensional array")
    axis = _axis_index(axis, ndim(ary), name)
    total = shape(ary)[axis]
    if _is_integer(indices_or_sections) or isinstance(indices_or_sections, Tracer):
        sections = _concrete_int(indices_or_sections, name, "indices_or_sections")
        if sections <= 0:
            raise FungradValueError(
                f"{name}: the number of sections must be larger than 0, got {sections}"
            )
        each, extra = divmod(total, sections)
        if equal and extra:
            raise FungradValueError(
                f"{name}: an axis of length {total} (axis {axis} of shape {shape(ary)}) "
                f"does not split into {sections} equal sections; use array_split for "
                "sections of unequal size"
            )
        sizes = [each + 1] * extra + [each] * (sections - extra)
        bounds = np.concatenate([[0], np.cumsum(sizes)]).tolist()
    else:
        indices = _int_array(indices_or_sections, name, "indices_or_sections")
        if indices.ndim != 1:
            raise FungradValueError(
                f"{name}: indices_or_sections must be an integer or a 1-D sequence of "
                f"indices, got {indices_or_sections!r}"
            )
        bounds = [0, *indices.tolist(), total]
    return [_slice_on(ary, axis, slice(s, e)) for s, e in zip(bounds[:-1], bounds[1:])]


def split(ary: ArrayLike, indices_or_sections: Any, axis: int = 0) -> list[Any]:
    """Split into equal sections, or at the given indices, along ``axis``, as
    ``numpy.split``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> [p.tolist() for p in fnp.split(np.arange(6.0), [2, 5])]
    [[0.0, 1.0], [2.0, 3.0, 4.0], [5.0]]
    """
    return _split(ary, indices_or_sections, axis, "split", equal=True)


def array_split(ary: ArrayLike, indices_or_sections: Any, axis: int = 0) -> list[Any]:
    """As ``split``, but ``n`` sections need not be equal: the first ``len % n`` get
    one element more, as ``numpy.array_split``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> [len(p) for p in fnp.array_split(np.arange(7.0), 3)]
    [3, 2, 2]
    """
    return _split(ary, indices_or_sections, axis, "array_split", equal=False)


def hsplit(ary: ArrayLike, indices_or_sections: Any) -> list[Any]:
    """``split`` along the second axis (the first for 1-D arrays), as ``numpy.hsplit``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> [p.shape for p in fnp.hsplit(np.zeros((2, 4)), 2)]
    [(2, 2), (2, 2)]
    """
    ary = _operand(ary)
    if ndim(ary) == 0:
        raise FungradValueError("hsplit only works on arrays of 1 or more dimensions")
    return split(ary, indices_or_sections, 1 if ndim(ary) > 1 else 0)


def vsplit(ary: ArrayLike, indices_or_sections: Any) -> list[Any]:
    """``split`` along the first axis of an array of 2 or more dimensions, as
    ``numpy.vsplit``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> [p.shape for p in fnp.vsplit(np.zeros((4, 2)), 2)]
    [(2, 2), (2, 2)]
    """
    ary = _operand(ary)
    if ndim(ary) < 2:
        raise FungradValueError(
            f"vsplit only works on arrays of 2 or more dimensions, got shape {shape(ary)}"
        )
    return split(ary, indices_or_sections, 0)


def dsplit(ary: ArrayLike, indices_or_sections: Any) -> list[Any]:
    """``split`` along the third axis of an array of 3 or more dimensions, as
    ``numpy.dsplit``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> [p.shape for p in fnp.dsplit(np.zeros((1, 2, 4)), [1])]
    [(1, 2, 1), (1, 2, 3)]
    """
    ary = _operand(ary)
    if ndim(ary) < 3:
        raise FungradValueError(
            f"dsplit only works on arrays of 3 or more dimensions, got shape {shape(ary)}"
        )
    return split(ary, indices_or_sections, 2)


# ---------------------------------------------------------------------------------------
# Rearranging


def flip(m: ArrayLike, axis: int | Sequence[int] | None = None) -> Any:
    """Reverse the order of elements along ``axis`` (all axes by default), as
    ``numpy.flip``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.flip(np.array([[1, 2], [3, 4]]), 1)
    array([[2, 1],
           [4, 3]])
    """
    m = _operand(m)
    n = ndim(m)
    axes = tuple(range(n)) if axis is None else _axis_tuple(axis, n, "flip")
    if not axes:
        return m
    return getitem(m, tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(n)))


def fliplr(m: ArrayLike) -> Any:
    """Reverse the order of the columns (axis 1), as ``numpy.fliplr``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.fliplr(np.array([[1, 2, 3]]))
    array([[3, 2, 1]])
    """
    m = _operand(m)
    if ndim(m) < 2:
        raise FungradValueError(f"fliplr: the input must be at least 2-D, got shape {shape(m)}")
    return flip(m, 1)


def flipud(m: ArrayLike) -> Any:
    """Reverse the order of the rows (axis 0), as ``numpy.flipud``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.flipud(np.array([1, 2, 3]))
    array([3, 2, 1])
    """
    m = _operand(m)
    if ndim(m) < 1:
        raise FungradValueError("flipud: the input must be at least 1-D, got a scalar")
    return flip(m, 0)


def rot90(m: ArrayLike, k: int = 1, axes: Sequence[int] = (0, 1)) -> Any:
    """Rotate by 90 degrees ``k`` times, from the first of ``axes`` towards the second,
    as ``numpy.rot90``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.rot90(np.array([[1, 2], [3, 4]]))
    array([[2, 4],
           [1, 3]])
    """
    m = _operand(m)
    axes = tuple(axes)
    if len(axes) != 2:
        raise FungradValueError(f"rot90: axes must name two axes, got axes={axes!r}")
    n = ndim(m)
    a0, a1 = (_axis_index(a, n, "rot90") for a in axes)
    if a0 == a1:
        raise FungradValueError(f"rot90: axes must be different, got axes={axes!r}")
    k = _concrete_int(k, "rot90", "k") % 4
    if k == 0:
        return m
    if k == 2:
        return flip(m, (a0, a1))
    perm = list(range(n))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    if k == 1:
        return fnp.transpose(flip(m, a1), perm)
    return flip(fnp.transpose(m, perm), a1)


def roll(a: ArrayLike, shift: int | Sequence[int], axis: int | Sequence[int] | None = None) -> Any:
    """Shift elements cyclically along ``axis`` (of the flattened array by default), as
    ``numpy.roll``; several shifts of one axis add up.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.roll(np.arange(5), 2)
    array([3, 4, 0, 1, 2])
    """
    a = _operand(a)
    shifts = _int_array(shift, "roll", "shift")
    if axis is None:
        return fnp.reshape(roll(fnp.ravel(a), shifts.sum(), 0), shape(a))
    axes = np.asarray(axis)
    try:
        pairs = np.broadcast(shifts, axes)
    except ValueError:
        raise FungradValueError(
            f"roll: shift={shift!r} and axis={axis!r} must be broadcastable to each other"
        ) from None
    total: dict[int, int] = {}
    for s, ax in pairs:
        ax = _axis_index(ax, ndim(a), "roll")
        total[ax] = total.get(ax, 0) + int(s)
    for ax, s in total.items():
        n = shape(a)[ax]
        s = s % n if n else 0
        if s:
            a = _concatenate(
                [_slice_on(a, ax, slice(n - s, n)), _slice_on(a, ax, slice(0, n - s))], ax
            )
    return a


def broadcast_arrays(*args: ArrayLike) -> tuple[Any, ...]:
    """The arrays broadcast against each other, as ``numpy.broadcast_arrays``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> [x.shape for x in fnp.broadcast_arrays(np.ones(3), np.ones((2, 1)))]
    [(2, 3), (2, 3)]
    """
    arrays = [_operand(a) for a in args]
    try:
        target = np.broadcast_shapes(*(shape(a) for a in arrays))
    except ValueError:
        shapes = ", ".join(str(shape(a)) for a in arrays)
        raise FungradValueError(f"broadcast_arrays: shapes {shapes} do not broadcast") from None
    return tuple(fnp.broadcast_to(a, target) for a in arrays)


def tile(A: ArrayLike, reps: int | Sequence[int]) -> Any:
    """``A`` repeated ``reps`` times along each axis, as ``numpy.tile``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.tile(np.array([1, 2]), (2, 2))
    array([[1, 2, 1, 2],
           [1, 2, 1, 2]])
    """
    A = _operand(A)
    reps_t = tuple(int(r) for r in np.atleast_1d(_int_array(reps, "tile", "reps")))
    if any(r < 0 for r in reps_t):
        raise FungradValueError(f"tile: reps must not be negative, got reps={reps!r}")
    n = builtins.max(len(reps_t), ndim(A))
    reps_t = (1,) * (n - len(reps_t)) + reps_t
    dims = (1,) * (n - ndim(A)) + shape(A)
    if all(r == 1 for r in reps_t):
        return fnp.reshape(A, dims)
    interleaved = tuple(v for r, d in zip(reps_t, dims) for v in (1, d))
    target = tuple(v for r, d in zip(reps_t, dims) for v in (r, d))
    out = fnp.broadcast_to(fnp.reshape(A, interleaved), target)
    return fnp.reshape(out, tuple(r * d for r, d in zip(reps_t, dims)))


def repeat(a: ArrayLike, repeats: int | Sequence[int], axis: int | None = None) -> Any:
    """Each element repeated ``repeats`` times (one count, or one per element) along
    ``axis`` (of the flattened array by default), as ``numpy.repeat``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.repeat(np.array([1, 2, 3]), [1, 0, 2])
    array([1, 3, 3])
    """
    a = _operand(a)
    if axis is None:
        a, axis = fnp.ravel(a), 0
    else:
        axis = _axis_index(axis, ndim(a), "repeat")
    counts = _int_array(repeats, "repeat", "repeats")
    if np.any(counts < 0):
        raise FungradValueError(f"repeat: repeats must not be negative, got {repeats!r}")
    n = shape(a)[axis]
    if counts.size == 1:
        r = int(counts.reshape(()))
        dims = shape(a)
        expanded = fnp.expand_dims(a, axis + 1)
        target = dims[: axis + 1] + (r,) + dims[axis + 1 :]
        out = fnp.broadcast_to(expanded, target)
        return fnp.reshape(out, dims[:axis] + (n * r,) + dims[axis + 1 :])
    if counts.ndim != 1 or counts.size != n:
        raise FungradValueError(
            f"repeat: repeats of shape {counts.shape} do not fit axis {axis} of length {n} "
            f"(shape {shape(a)}): give one count, or one per element"
        )
    return _slice_on(a, axis, np.repeat(np.arange(n), counts))


_PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap", "empty")


def _pad_pairs(value: Any, n: int, what: str, as_index: bool) -> list[tuple[Any, Any]]:
    """NumPy's forms of ``pad_width`` / ``constant_values`` as one (before, after) per axis."""
    if as_index:
        arr = _int_array(value, "pad", what)
        if np.any(arr < 0):
            raise FungradValueError(f"pad: {what} must not be negative, got {value!r}")
    else:
        if isinstance(value, Tracer):
            if value.shape:
                raise FungradValueError(f"pad: a traced {what} must be a scalar")
            return [(value, value)] * n
        arr = np.asarray(value)
    if arr.ndim < 3:
        if arr.size == 1:
            v = arr.ravel()[0]
            return [(v, v)] * n
        if arr.size == 2 and arr.shape != (2, 1):
            v = arr.ravel()
            return [(v[0], v[1])] * n
    try:
        pairs = np.broadcast_to(arr, (n, 2))
    except ValueError:
        raise FungradValueError(
            f"pad: {what}={value!r} does not fit an array of {n} dimensions; give an int, "
            f"a (before, after) pair, or one pair per axis ({n} pairs)"
        ) from None
    return [(p[0], p[1]) for p in pairs]


def pad(array: ArrayLike, pad_width: Any, mode: str = "constant", **kwargs: Any) -> Any:
    """``array`` padded by ``pad_width`` elements before and after each axis, as
    ``numpy.pad``.

    ``mode`` is ``"constant"`` (``constant_values``, possibly a traced scalar),
    ``"edge"``, ``"reflect"``, ``"symmetric"``, ``"wrap"`` or ``"empty"`` (zeros);
    ``pad_width`` takes NumPy's forms (an int, a pair, or one pair per axis).

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.pad(np.array([1, 2, 3]), (1, 2), constant_values=9)
    array([9, 1, 2, 3, 9, 9])
    >>> fnp.pad(np.array([1, 2, 3]), 2, mode="reflect")
    array([3, 2, 1, 2, 3, 2, 1])
    """
    array = _operand(array)
    n = ndim(array)
    widths = [(int(b), int(e)) for b, e in _pad_pairs(pad_width, n, "pad_width", True)]
    if mode not in _PAD_MODES:
        raise FungradValueError(
            f"pad: mode {mode!r} is not supported; choose one of {', '.join(_PAD_MODES)}"
        )
    allowed = {"constant": {"constant_values"}, "reflect": {"reflect_type"}}
    allowed["symmetric"] = allowed["reflect"]
    unknown = set(kwargs) - allowed.get(mode, set())
    if unknown:
        raise FungradValueError(f"pad: mode {mode!r} takes no keyword {sorted(unknown)}")
    if kwargs.get("reflect_type", "even") != "even":
        raise FungradValueError("pad: only reflect_type='even' is supported")
    dtype = _dtype(array)
    if mode in ("constant", "empty"):
        values = _pad_pairs(kwargs.get("constant_values", 0), n, "constant_values", False)
        for ax, ((b, e), (vb, ve)) in enumerate(zip(widths, values)):
            parts = []
            for width, v in ((b, vb), (0, None), (e, ve)):
                if v is None:
                    parts.append(array)
                elif width:
                    block = shape(array)[:ax] + (width,) + shape(array)[ax + 1 :]
                    if mode == "empty":
                        v = 0
                    parts.append(_constant_block(v, block, dtype))
            if len(parts) > 1:
                array = _concatenate(parts, ax)
        return array
    for ax, (b, e) in enumerate(widths):
        if not (b or e):
            continue
        size = shape(array)[ax]
        if size == 0:
            raise FungradValueError(
                f"pad: cannot pad axis {ax} of length 0 (shape {shape(array)}) in mode "
                f"{mode!r}: there is nothing to repeat; use mode='constant'"
            )
        index = np.pad(np.arange(size), (b, e), mode=mode)
        array = _slice_on(array, ax, index)
    return array


def _constant_block(v: Any, block: tuple[int, ...], dtype: np.dtype) -> Any:
    if isinstance(v, Tracer):
        if v.dtype != dtype:
            v = _convert(v, dtype)
        return _broadcast_to(v, block)
    return np.full(block, v, dtype)


# ---------------------------------------------------------------------------------------
# Diagonals and triangles


def diagonal(a: ArrayLike, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """The diagonal ``a[i, i + offset]`` of the planes of ``axis1`` and ``axis2``, as the
    last axis of the result, as ``numpy.diagonal``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.diagonal(np.arange(9).reshape(3, 3), 1)
    array([1, 5])
    """
    a = _operand(a)
    n = ndim(a)
    if n < 2:
        raise FungradValueError(f"diagonal: the input must be at least 2-D, got shape {shape(a)}")
    ax1 = _axis_index(axis1, n, "diagonal")
    ax2 = _axis_index(axis2, n, "diagonal")
    if ax1 == ax2:
        raise FungradValueError(f"diagonal: axis1 and axis2 cannot be the same ({axis1})")
    offset = _concrete_int(offset, "diagonal", "offset")
    a = fnp.moveaxis(a, (ax1, ax2), (-2, -1))
    rows, cols = shape(a)[-2:]
    if offset >= 0:
        length = builtins.max(0, builtins.min(rows, cols - offset))
    else:
        length = builtins.max(0, builtins.min(rows + offset, cols))
    i = np.arange(length) + builtins.max(-offset, 0)
    j = np.arange(length) + builtins.max(offset, 0)
    return gather(a, i, j, index=StaticIndex((Ellipsis, ARRAY, ARRAY)))


def diag(v: ArrayLike, k: int = 0) -> Any:
    """A 2-D array with the 1-D ``v`` on its ``k``-th diagonal, or the ``k``-th diagonal
    of a 2-D ``v``, as ``numpy.diag``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.diag(np.array([1, 2]), 1)
    array([[0, 1, 0],
           [0, 0, 2],
           [0, 0, 0]])
    """
    v = _operand(v)
    k = _concrete_int(k, "diag", "k")
    if ndim(v) == 2:
        return diagonal(v, k)
    if ndim(v) != 1:
        raise FungradValueError(f"diag: the input must be 1-D or 2-D, got shape {shape(v)}")
    length = shape(v)[0]
    size = length + builtins.abs(k)
    rows = np.arange(length) + builtins.max(-k, 0)
    cols = np.arange(length) + builtins.max(k, 0)
    if not isinstance(v, Tracer):
        v = np.asarray(v)
    return scatter_add(v, rows, cols, index=StaticIndex((ARRAY, ARRAY)), shape=(size, size))


def diagflat(v: ArrayLike, k: int = 0) -> Any:
    """A 2-D array with the flattened ``v`` on its ``k``-th diagonal, as ``numpy.diagflat``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.diagflat(np.array([[1, 2]]))
    array([[1, 0],
           [0, 2]])
    """
    return diag(fnp.ravel(v), k)


def trace(a: ArrayLike, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None) -> Any:
    """The sum along a diagonal, as ``numpy.trace`` (small integers sum as int64).

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.trace(np.arange(9.0).reshape(3, 3))
    np.float64(12.0)
    """
    d = diagonal(a, offset, axis1, axis2)
    if dtype is not None:
        d = fnp.astype(d, dtype)
    return fnp.sum(d, axis=-1)


def _triangle(m: Any, keep: np.ndarray) -> Any:
    zero = np.zeros((), _dtype(m))
    return ew.select(keep, m, zero)


def tril(m: ArrayLike, k: int = 0) -> Any:
    """``m`` with the elements above the ``k``-th diagonal zeroed (of the last two axes),
    as ``numpy.tril``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.tril(np.ones((2, 3), int))
    array([[1, 0, 0],
           [1, 1, 0]])
    """
    m = _strong(_operand(m))
    k = _concrete_int(k, "tril", "k")
    if ndim(m) == 0:
        raise FungradValueError("tril: the input must be at least 1-D, got a scalar")
    return _triangle(m, np.tri(*shape(m)[-2:], k=k, dtype=bool))


def triu(m: ArrayLike, k: int = 0) -> Any:
    """``m`` with the elements below the ``k``-th diagonal zeroed (of the last two axes),
    as ``numpy.triu``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.triu(np.ones((2, 3), int), 1)
    array([[0, 1, 1],
           [0, 0, 1]])
    """
    m = _strong(_operand(m))
    k = _concrete_int(k, "triu", "k")
    if ndim(m) == 0:
        raise FungradValueError("triu: the input must be at least 1-D, got a scalar")
    return _triangle(m, ~np.tri(*shape(m)[-2:], k=k - 1, dtype=bool))


# ---------------------------------------------------------------------------------------
# Grids and products


def meshgrid(
    *xi: ArrayLike, copy: bool = True, sparse: bool = False, indexing: str = "xy"
) -> tuple[Any, ...]:
    """Coordinate arrays from coordinate vectors, as ``numpy.meshgrid`` (``indexing``
    ``"xy"``: the first two axes swapped, or ``"ij"``; ``sparse``: broadcastable arrays).

    >>> import numpy as np, fungrad.numpy as fnp
    >>> [g.shape for g in fnp.meshgrid(np.zeros(2), np.zeros(3))]
    [(3, 2), (3, 2)]
    """
    if indexing not in ("xy", "ij"):
        raise FungradValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    n = len(xi)
    grids = []
    for i, x in enumerate(xi):
        dims = [1] * n
        dims[i] = -1
        if indexing == "xy" and n > 1 and i < 2:
            dims[0], dims[1] = dims[1], dims[0]
        grids.append(fnp.reshape(_operand(x), tuple(dims)))
    if sparse:
        return tuple(grids)
    return broadcast_arrays(*grids)


def kron(a: ArrayLike, b: ArrayLike) -> Any:
    """The Kronecker product, blocks ``a[i, j] * b``, as ``numpy.kron``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.kron(np.array([1, 10]), np.array([1, 2, 3]))
    array([ 1,  2,  3, 10, 20, 30])
    """
    a, b = _strong(_operand(a)), _strong(_operand(b))
    if ndim(a) == 0 or ndim(b) == 0:
        return ew.mul(a, b)
    nd = builtins.max(ndim(a), ndim(b))
    sa = (1,) * (nd - ndim(a)) + shape(a)
    sb = (1,) * (nd - ndim(b)) + shape(b)
    a = fnp.reshape(a, tuple(v for d in sa for v in (d, 1)))
    b = fnp.reshape(b, tuple(v for d in sb for v in (1, d)))
    return fnp.reshape(ew.mul(a, b), tuple(x * y for x, y in zip(sa, sb)))


def cross(
    a: ArrayLike,
    b: ArrayLike,
    axisa: int = -1,
    axisb: int = -1,
    axisc: int = -1,
    axis: int | None = None,
) -> Any:
    """The cross product of 3-vectors (or 2-vectors, with a zero third component) along
    ``axisa`` of ``a`` and ``axisb`` of ``b``, broadcast, as ``numpy.cross``.

    Two 2-vectors give the scalar z component (NumPy deprecates that case, fungrad keeps it).

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.cross(np.array([1, 0, 0]), np.array([0, 1, 0]))
    array([0, 0, 1])
    """
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = _strong(_operand(a)), _strong(_operand(b))
    if ndim(a) == 0 or ndim(b) == 0:
        raise FungradValueError("cross: the inputs must be at least 1-D vectors")
    a = fnp.moveaxis(a, _axis_index(axisa, ndim(a), "cross"), -1)
    b = fnp.moveaxis(b, _axis_index(axisb, ndim(b), "cross"), -1)
    na, nb = shape(a)[-1], shape(b)[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise FungradValueError(
            f"cross: vectors must have 2 or 3 components, got {na} (a) and {nb} (b)"
        )

    def comp(x, i):
        return getitem(x, (Ellipsis, i))

    a0, a1, b0, b1 = comp(a, 0), comp(a, 1), comp(b, 0), comp(b, 1)
    z = ew.sub(ew.mul(a0, b1), ew.mul(a1, b0))
    if na == 2 and nb == 2:
        return z
    if na == 3 and nb == 3:
        a2, b2 = comp(a, 2), comp(b, 2)
        x = ew.sub(ew.mul(a1, b2), ew.mul(a2, b1))
        y = ew.sub(ew.mul(a2, b0), ew.mul(a0, b2))
    elif na == 2:
        b2 = comp(b, 2)
        x = ew.mul(a1, b2)
        y = ew.neg(ew.mul(a0, b2))
    else:
        a2 = comp(a, 2)
        x = ew.neg(ew.mul(a2, b1))
        y = ew.mul(a2, b0)
    x, y, z = broadcast_arrays(x, y, z)
    out = fnp.stack([x, y, z], axis=-1)
    return fnp.moveaxis(out, -1, _axis_index(axisc, ndim(out), "cross"))


# ---------------------------------------------------------------------------------------
# Constructors


def empty_like(
    prototype: ArrayLike, dtype: Any = None, shape: int | Sequence[int] | None = None
) -> np.ndarray:
    """An array like ``prototype`` (its shape and dtype unless given): zeros, since a
    traced program must be deterministic, as ``fnp.empty`` is.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.empty_like(np.ones((2, 1), np.float32))
    array([[0.],
           [0.]], dtype=float32)
    """
    dims = fnp.shape(prototype) if shape is None else shape
    return np.zeros(dims, dtype=dtype or _dtype(prototype))


def tri(N: int, M: int | None = None, k: int = 0, dtype: Any = float) -> np.ndarray:
    """Ones at and below the ``k``-th diagonal of an ``N`` by ``M`` array, as ``numpy.tri``.

    >>> import fungrad.numpy as fnp
    >>> fnp.tri(2, 3, dtype=int)
    array([[1, 0, 0],
           [1, 1, 0]])
    """
    return np.tri(
        _concrete_int(N, "tri", "N"),
        None if M is None else _concrete_int(M, "tri", "M"),
        _concrete_int(k, "tri", "k"),
        dtype,
    )


def _inexact_dtype(*values: Any) -> np.dtype:
    """NumPy's result dtype for ``linspace`` (Python scalars weak, at least floating)."""
    strong = [_dtype(v) for v in values if type(v) not in (float, int, complex, bool)]
    dtype = np.result_type(*strong) if strong else np.dtype(np.float64)
    if dtype.kind not in "fc":
        dtype = np.result_type(dtype, np.float64)
        if any(type(v) is complex for v in values):
            dtype = np.result_type(dtype, np.complex128)
    elif any(type(v) is complex for v in values) and dtype.kind == "f":
        dtype = np.result_type(dtype, np.complex64)
    return dtype


def linspace(
    start: ArrayLike,
    stop: ArrayLike,
    num: int = 50,
    endpoint: bool = True,
    retstep: bool = False,
    dtype: Any = None,
    axis: int = 0,
) -> Any:
    """``num`` evenly spaced values from ``start`` to ``stop``, as ``numpy.linspace``;
    differentiable in ``start`` and ``stop`` (NumPy computes constant ones).

    >>> import fungrad.numpy as fnp
    >>> fnp.linspace(0.0, 1.0, 5)
    array([0.  , 0.25, 0.5 , 0.75, 1.  ])
    """
    if not any(isinstance(v, Tracer) for v in (start, stop)):
        return np.linspace(start, stop, num, endpoint, retstep, dtype, axis)
    num = _concrete_int(num, "linspace", "num")
    if num < 0:
        raise FungradValueError(f"linspace: num must not be negative, got {num}")
    dt = _inexact_dtype(start, stop)
    start, stop = _operand(start), _operand(stop)
    start, stop = (fnp.astype(v, dt) for v in broadcast_arrays(start, stop))
    delta = ew.sub(stop, start)
    div = (num - 1) if endpoint else num
    grid = np.arange(num, dtype=dt).reshape((num,) + (1,) * ndim(start))
    target = (num,) + shape(start)
    if div > 0:
        step = ew.div(delta, np.asarray(div, dt))
        y = ew.add(ew.mul(grid, step), start)
        if endpoint and num > 1:
            last = np.zeros(target, bool)
            last[-1] = True
            y = ew.select(last, fnp.broadcast_to(stop, target), y)
    else:
        step = np.full(shape(start), np.nan, dt)
        y = ew.add(ew.mul(grid, delta), start)
    y = fnp.broadcast_to(y, target)
    if axis:
        y = fnp.moveaxis(y, 0, _axis_index(axis, len(target), "linspace"))
    if dtype is not None:
        if np.dtype(dtype).kind in "iu":
            y = fnp.floor(y)
        y = fnp.astype(y, dtype)
    return (y, step) if retstep else y


def logspace(
    start: ArrayLike,
    stop: ArrayLike,
    num: int = 50,
    endpoint: bool = True,
    base: ArrayLike = 10.0,
    dtype: Any = None,
    axis: int = 0,
) -> Any:
    """``base ** linspace(start, stop, num)``, as ``numpy.logspace``; differentiable in
    ``start``, ``stop`` and ``base``.

    >>> import fungrad.numpy as fnp
    >>> fnp.logspace(0, 2, 3)
    array([  1.,  10., 100.])
    """
    if not any(isinstance(v, Tracer) for v in (start, stop, base)):
        return np.logspace(start, stop, num, endpoint, base, dtype, axis)
    y = linspace(start, stop, num, endpoint, axis=0)
    base = _operand(base)
    if ndim(base):
        base = fnp.expand_dims(base, 0)
    out = fnp.power(base, y)
    if axis:
        out = fnp.moveaxis(out, 0, _axis_index(axis, ndim(out), "logspace"))
    return out if dtype is None else fnp.astype(out, dtype)


def full(shape: int | Sequence[int], fill_value: ArrayLike, dtype: Any = None) -> Any:
    """An array of ``shape`` filled with ``fill_value`` (which may be traced), as
    ``numpy.full``.

    >>> import fungrad.numpy as fnp
    >>> fnp.full((2,), 7)
    array([7, 7])
    """
    if not _holds_tracer(fill_value):
        return np.full(shape, fill_value, dtype)
    dims = (shape,) if _is_integer(shape) else tuple(shape)
    value = _operand(fill_value)
    if dtype is not None:
        value = fnp.astype(value, dtype)
    return fnp.broadcast_to(value, dims)


def full_like(a: ArrayLike, fill_value: ArrayLike, dtype: Any = None, shape: Any = None) -> Any:
    """An array of ``a``'s shape and dtype (unless given) filled with ``fill_value``
    (which may be traced), as ``numpy.full_like``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.full_like(np.zeros(2, np.float32), 1.5)
    array([1.5, 1.5], dtype=float32)
    """
    dims = fnp.shape(a) if shape is None else shape
    return full(dims, fill_value, dtype or _dtype(a))


def copy(a: ArrayLike, order: str = "K", subok: bool = False) -> Any:
    """A copy of ``a``, as ``numpy.copy`` (a traced value is immutable: itself).

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.copy(np.array([1.0, 2.0]))
    array([1., 2.])
    """
    if isinstance(a, Tracer):
        return a
    if _holds_tracer(a):
        return fnp.array(a)
    return np.copy(a, order=order)
