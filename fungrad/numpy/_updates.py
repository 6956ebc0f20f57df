"""Functional index updates: ``x.at[idx].set/add/multiply/...`` and the function form
``fungrad.numpy.at(x)[idx]`` for plain arrays; ``where`` with one argument, ``nonzero``,
``argwhere`` and ``flatnonzero`` of concrete values.

An update never modifies ``x``: it returns a new array. The index is anything
``x[idx]`` accepts (ints, slices, ``None``, ``...``, integer arrays, concrete boolean
masks, mixed), and the updates broadcast to the shape of ``x[idx]``, as in JAX:

- out-of-bound indices are **dropped** by the updates and **clamped** by ``get`` (the
  default, ``mode=None``); ``mode="clip"`` clamps them, ``"drop"``/``"fill"`` drop
  them (``get`` then returns ``fill_value``: NaN for floats, the most negative value
  for signed integers, the largest for unsigned ones, True for booleans), and
  ``"promise_in_bounds"`` behaves as the default. Negative indices count from the end,
  once (``-n`` is the first element, ``-n - 1`` is out of bounds);
- repeated indices: ``add``, ``subtract``, ``multiply``, ``divide``, ``power``, ``min``
  and ``max`` apply every update (``np.add.at`` and its siblings); ``set`` keeps the
  **last** update to each element (NumPy's ``x[idx] = y`` in practice; JAX leaves the
  choice unspecified), and only that update gets a derivative;
- derivatives are exact at every order in ``x`` and the updates. ``min``/``max`` give
  the derivative to the element that attains the result, split evenly among ties. The
  derivative of ``multiply`` (and ``divide``, ``power``) in the updates with repeated
  indices is exact when the indices are concrete (the updates are applied in rounds of
  unique indices); with traced indices (under ``jit``, or ``vmap`` over them) it needs
  ``unique_indices=True``, as in JAX, and raises otherwise;
- ``power`` with repeated traced indices raises the element to the product of the
  exponents (NumPy's sequential powers for positive bases); with concrete ones it
  applies them in turn, as ``np.power.at``.

``indices_are_sorted`` is accepted and ignored. Updates are cast to ``x``'s dtype.

The public names join :mod:`fungrad.numpy` (see the end of its ``__init__``).
"""

from __future__ import annotations

import builtins
import operator
from typing import Any

import numpy as np

from fungrad.core import Tracer
from fungrad.errors import ConcretizationError, FungradTypeError, FungradValueError
from fungrad.numpy import _is_integer, _operand, _scalar_mask, _static_int
from fungrad.numpy import where as _select_where
from fungrad.primitives import elementwise as ew
from fungrad.primitives.indexing import (
    ARRAY,
    StaticIndex,
    gather,
    scatter,
    scatter_add_flat,
    scatter_max,
    scatter_min,
    scatter_mul,
)
from fungrad.primitives.structural import broadcast_to as _broadcast_to
from fungrad.primitives.structural import convert_element_type as _convert
from fungrad.primitives.structural import reshape as _reshape

__all__: list[str] = ["at", "where", "nonzero", "argwhere", "flatnonzero"]

_MODES = (None, "promise_in_bounds", "clip", "drop", "fill")


# ---------------------------------------------------------------------------------------
# Parsing an index


class _Index:
    """An index into an array of ``shape``, in gather's terms.

    ``entries`` is the StaticIndex structure, ``arrays`` the index arrays (after
    boolean masks became their ``nonzero``), ``sizes`` the length of the dimension each
    array indexes, ``new_axes`` the axes inserted for scalar booleans (``shape`` has them).
    """

    def __init__(self, shape: tuple[int, ...], index: Any, name: str):
        if not isinstance(index, tuple):
            index = (index,)
        items: list[tuple[str, Any]] = []
        for item in index:
            if item is None or item is Ellipsis:
                items.append(("none" if item is None else "ellipsis", item))
            elif isinstance(item, slice):
                items.append(
                    (
                        "slice",
                        slice(
                            _static_int(item.start, "start"),
                            _static_int(item.stop, "stop"),
                            _static_int(item.step, "step"),
                        ),
                    )
                )
            elif _is_integer(item):
                items.append(("int", operator.index(item)))
            else:
                scalar = _scalar_mask(item)
                if scalar is not None:
                    items.append(("scalar_bool", scalar))
                    continue
                if not isinstance(item, Tracer):
                    item = _operand(item) if isinstance(item, (list, tuple)) else item
                    if not isinstance(item, Tracer):
                        item = np.asarray(item)
                        if item.size == 0 and item.dtype.kind == "f":
                            item = item.astype(np.intp)  # [] is an empty index, as in NumPy
                kind = item.dtype.kind
                if kind == "b":
                    items.append(("mask", _concrete_mask(item, name)))
                elif kind in "iu":
                    items.append(("array", item))
                else:
                    raise FungradTypeError(
                        f"{name}: array indices must be integers or booleans, got {item.dtype}"
                    )
        if sum(kind == "ellipsis" for kind, _ in items) > 1:
            raise FungradValueError(f"{name}: an index can only have a single ellipsis ('...')")
        # Scalar booleans index a new axis of length 1 (True) or 0 (False), as in NumPy.
        self.new_axes = self._inserted_positions(items, len(shape))
        full = list(shape)
        for p in self.new_axes:
            full.insert(p, 1)
        self.shape = tuple(full)
        consumed = sum(
            item.ndim if kind == "mask" else 1
            for kind, item in items
            if kind in ("slice", "int", "array", "mask", "scalar_bool")
        )
        if consumed > len(self.shape):
            raise FungradValueError(
                f"{name}: too many indices for an array of shape {shape}: {consumed} "
                f"dimensions indexed, {len(shape)} present"
            )
        self.entries: list[Any] = []
        self.arrays: list[Any] = []
        self.sizes: list[int] = []
        self.ints: list[tuple[int, int]] = []  # (entry position, size) of int entries
        dim = 0
        for kind, item in items:
            if kind == "none":
                self.entries.append(None)
            elif kind == "ellipsis":
                self.entries.append(Ellipsis)
                dim += len(self.shape) - consumed
            elif kind == "slice":
                self.entries.append(item)
                dim += 1
            elif kind == "int":
                self.ints.append((len(self.entries), self.shape[dim]))
                self.entries.append(item)
                dim += 1
            elif kind == "scalar_bool":
                self.entries.append(ARRAY)
                self.arrays.append(np.zeros(1 if item else 0, np.intp))
                self.sizes.append(1)
                dim += 1
            elif kind == "array":
                self.entries.append(ARRAY)
                self.arrays.append(item)
                self.sizes.append(self.shape[dim])
                dim += 1
            else:  # a boolean mask: its nonzero, one index array per dimension it covers
                covered = self.shape[dim : dim + item.ndim]
                if item.shape != covered:
                    raise FungradValueError(
                        f"{name}: a boolean index of shape {item.shape} does not match the "
                        f"indexed dimensions {covered} of an array of shape {shape}"
                    )
                for k, idx in enumerate(np.nonzero(item)):
                    self.entries.append(ARRAY)
                    self.arrays.append(idx)
                    self.sizes.append(self.shape[dim + k])
                dim += item.ndim

    @staticmethod
    def _inserted_positions(items: list, ndim: int) -> tuple[int, ...]:
        consumed = sum(
            item.ndim if kind == "mask" else 1
            for kind, item in items
            if kind in ("slice", "int", "array", "mask")
        )
        positions, position = [], 0
        for kind, item in items:
            if kind == "scalar_bool":
                positions.append(position)
                position += 1
            elif kind == "ellipsis":
                position += ndim - consumed
            elif kind == "mask":
                position += item.ndim
            elif kind != "none":
                position += 1
        return tuple(positions)


def _concrete_mask(mask: Any, name: str) -> np.ndarray:
    if not isinstance(mask, Tracer):
        return np.asarray(mask)
    try:
        return np.asarray(mask.to_concrete())
    except ConcretizationError as err:
        raise ConcretizationError(
            f"{name}: a boolean mask index selects a number of elements that depends on "
            "its values, which are abstract here. Use fungrad.numpy.where(mask, new, x) "
            f"instead. {err}"
        ) from None


def _is_concrete(v: Any) -> bool:
    return not isinstance(v, Tracer)


def _normalized(a: Any, n: int, mode: str) -> tuple[Any, Any]:
    """An index array with negative indices counted from the end, as ``(clipped,
    marked)``: clamped into ``[0, n)``, and with out-of-bound indices replaced by ``n``
    (the padding slot of the position grid), for dropping."""
    if _is_concrete(a):
        a = np.asarray(a).astype(np.intp)
        a = np.where(a < 0, a + n, a)
        clipped = np.clip(a, 0, builtins.max(n - 1, 0))
        if mode == "clip":
            return clipped, clipped
        return clipped, np.where((a >= 0) & (a < n), a, n)
    a = _convert(a, np.dtype(np.intp)) if a.dtype != np.intp else a
    a = ew.select(ew.lt(a, 0), ew.add(a, n), a)
    clipped = ew.max(ew.min(a, builtins.max(n - 1, 0)), 0)
    if mode == "clip":
        return clipped, clipped
    valid = ew.and_p.bind(ew.ge(a, 0), ew.lt(a, n))
    return clipped, ew.select(valid, a, n)


def _plan(x_shape: tuple[int, ...], idx: _Index, mode: str):
    """The gather index of the clamped indices, and the flat positions of ``x[idx]``'s
    elements in ``x`` (-1 where an index is out of bounds and ``mode`` drops it)."""
    entries = list(idx.entries)
    arrays: list[Any] = []
    marked: list[Any] = []
    for a, n in zip(idx.arrays, idx.sizes):
        c, m = _normalized(a, n, mode)
        arrays.append(c)
        marked.append(m)
    for position, n in idx.ints:
        i = entries[position]
        i = i + n if i < 0 else i
        if 0 <= i < n:
            entries[position] = i
        elif mode == "clip":
            entries[position] = builtins.min(builtins.max(i, 0), n - 1)
        else:  # dropped: an index array holding the padding slot
            entries[position] = ARRAY
            k = sum(1 for e in entries[:position] if e is ARRAY)
            arrays.insert(k, np.array(builtins.min(builtins.max(i, 0), n - 1), np.intp))
            marked.insert(k, np.array(n, np.intp))
    index = StaticIndex(tuple(entries))
    grid = np.arange(int(np.prod(x_shape, dtype=np.int64)), dtype=np.intp).reshape(x_shape)
    if mode != "clip":
        # One padding slot, holding -1, after each dimension that an index array indexes.
        pad = [(0, 0)] * len(x_shape)
        dim = 0
        consumed = sum(1 for e in entries if e is ARRAY or type(e) in (int, slice))
        for e in entries:
            if e is Ellipsis:
                dim += len(x_shape) - consumed
            elif e is ARRAY:
                pad[dim] = (0, 1)
                dim += 1
            elif e is not None:
                dim += 1
        grid = np.pad(grid, pad, constant_values=-1)
    if all(_is_concrete(m) for m in marked):
        positions = grid[index.build(tuple(marked))]
    else:
        positions = gather(grid, *marked, index=index)
    return index, arrays, positions


# ---------------------------------------------------------------------------------------
# The update itself


def _shape(v: Any) -> tuple[int, ...]:
    return v.shape if isinstance(v, Tracer) else np.shape(v)


def _updates_like(name: str, values: Any, target: tuple[int, ...], x: Any, dtype: np.dtype):
    values = _operand(values)
    v_shape = _shape(values)
    try:
        ok = np.broadcast_shapes(v_shape, target) == target
    except ValueError:
        ok = False
    if not ok:
        raise FungradValueError(
            f"at[...].{name}: updates of shape {v_shape} cannot be broadcast to the shape "
            f"{target} of the indexed part of an array of shape {_shape(x)}"
        )
    v_dtype = values.dtype if isinstance(values, Tracer) else np.result_type(values)
    if isinstance(values, Tracer):
        if v_dtype != dtype or values.aval.weak_type:
            values = _convert(values, dtype)
    else:
        values = np.asarray(values, dtype)
    if v_shape != target:
        values = _broadcast_to(values, target)
    return values


def _rounds(positions: Any) -> list[np.ndarray] | None:
    """For concrete flat positions: the updates in rounds, each touching an element at
    most once, in order (None for traced positions)."""
    if not _is_concrete(positions):
        return None
    positions = np.asarray(positions)
    seen: dict[int, int] = {}
    occurrence = np.zeros(positions.size, np.intp)
    for j, p in enumerate(positions.tolist()):
        if p >= 0:
            occurrence[j] = seen.get(p, 0)
            seen[p] = occurrence[j] + 1
    valid = positions >= 0
    return [
        np.nonzero(valid & (occurrence == r))[0]
        for r in range(int(occurrence[valid].max(initial=-1)) + 1)
    ]


def _take(v: Any, selection: np.ndarray) -> Any:
    if _is_concrete(v):
        return np.asarray(v)[selection]
    return gather(v, selection, index=StaticIndex((ARRAY,)))


def _fill_value(dtype: np.dtype, fill_value: Any) -> Any:
    if fill_value is not None:
        return np.asarray(fill_value, dtype)
    if dtype.kind in "fc":
        return np.asarray(np.nan, dtype)
    if dtype.kind == "i":
        return np.asarray(np.iinfo(dtype).min, dtype)
    if dtype.kind == "u":
        return np.asarray(np.iinfo(dtype).max, dtype)
    return np.asarray(True, dtype)


class _IndexRef:
    """``x.at[idx]``: the methods that return ``x`` updated at ``idx``."""

    __slots__ = ("_x", "_index")

    def __init__(self, x: Any, index: Any):
        self._x, self._index = x, index

    def __repr__(self) -> str:
        return f"_IndexRef(shape={_shape(self._x)}, index={self._index!r})"

    def _parse(self, name: str, mode: Any):
        if mode not in _MODES:
            raise FungradValueError(
                f"at[...].{name}: unknown mode={mode!r}; use one of 'promise_in_bounds', "
                "'clip', 'drop' or 'fill' (or None, the default)"
            )
        x = self._x
        idx = _Index(_shape(x), self._index, f"at[...].{name}")
        if idx.new_axes:
            x = _reshape(x, idx.shape) if isinstance(x, Tracer) else np.reshape(x, idx.shape)
        return x, idx

    def get(
        self,
        *,
        indices_are_sorted: bool = False,
        unique_indices: bool = False,
        mode: str | None = None,
        fill_value: Any = None,
    ) -> Any:
        """``x[idx]``; out-of-bound indices are clamped (``mode="fill"`` or ``"drop"``:
        give ``fill_value``)."""
        x, idx = self._parse("get", mode)
        fill = mode in ("fill", "drop")
        index, arrays, positions = _plan(idx.shape, idx, "drop" if fill else "clip")
        out = gather(x, *arrays, index=index)
        if fill:
            value = _fill_value(_dtype(x), fill_value)
            out = ew.select(ew.ge(positions, 0), out, value)
        return out

    def _apply(self, name: str, values: Any, mode: Any, unique_indices: bool, combine) -> Any:
        x, idx = self._parse(name, mode)
        _, _, positions = _plan(idx.shape, idx, "clip" if mode == "clip" else "drop")
        target = _shape(positions)
        dtype = _dtype(x)
        values = _updates_like(name, values, target, self._x, dtype)
        size = int(np.prod(idx.shape, dtype=np.int64))
        m = int(np.prod(target, dtype=np.int64))
        # One update touches one element: unique, whatever its (traced) index.
        unique = bool(unique_indices) or m <= 1
        out = combine(
            _reshaped(x, (size,)), _reshaped(positions, (m,)), _reshaped(values, (m,)), unique
        )
        return _reshaped(out, _shape(self._x))

    def set(
        self,
        values: Any,
        *,
        indices_are_sorted: bool = False,
        unique_indices: bool = False,
        mode: str | None = None,
    ) -> Any:
        """``x`` with ``x[idx] = values`` (the last of repeated indices wins)."""
        return self._apply(
            "set", values, mode, unique_indices, lambda x, p, v, u: scatter(x, p, v)
        )

    def add(
        self,
        values: Any,
        *,
        indices_are_sorted: bool = False,
        unique_indices: bool = False,
        mode: str | None = None,
    ) -> Any:
        """``x`` with ``values`` added at ``idx`` (repeated indices accumulate)."""
        return self._apply("add", values, mode, unique_indices, _add)

    def subtract(
        self,
        values: Any,
        *,
        indices_are_sorted: bool = False,
        unique_indices: bool = False,
        mode: str | None = None,
    ) -> Any:
        """``x`` with ``values`` subtracted at ``idx`` (repeated indices accumulate)."""
        return self._apply(
            "subtract", values, mode, unique_indices, lambda x, p, v, u: _add(x, p, ew.neg(v), u)
        )

    def multiply(
        self,
        values: Any,
        *,
        indices_are_sorted: bool = False,
        unique_indices: bool = False,
        mode: str | None = None,
    ) -> Any:
        """``x`` with the elements at ``idx`` multiplied by ``values`` (repeats multiply)."""
        return self._apply("multiply", values, mode, unique_indices, _multiply)

    def divide(
        self,
        values: Any,
        *,
        indices_are_sorted: bool = False,
        unique_indices: bool = False,
        mode: str | None = None,
    ) -> Any:
        """``x`` with the elements at ``idx`` divided by ``values`` (repeats divide)."""
        if _dtype(self._x).kind not in "fc":
            raise FungradTypeError(
                f"at[...].divide: cannot divide an integer or boolean array "
                f"({_dtype(self._x)}) in place; convert it to a floating dtype first"
            )

        def combine(x, p, v, u):
            ones = np.ones(_shape(x), _dtype(x))
            return ew.div(x, _multiply(ones, p, v, u))

        return self._apply("divide", values, mode, unique_indices, combine)

    def power(
        self,
        values: Any,
        *,
        indices_are_sorted: bool = False,
        unique_indices: bool = False,
        mode: str | None = None,
    ) -> Any:
        """``x`` with the elements at ``idx`` raised to ``values`` (repeats in turn)."""
        return self._apply("power", values, mode, unique_indices, _power)

    def min(
        self,
        values: Any,
        *,
        indices_are_sorted: bool = False,
        unique_indices: bool = False,
        mode: str | None = None,
    ) -> Any:
        """``x`` with ``x[idx] = minimum(x[idx], values)`` (repeated indices reduce)."""
        return self._apply(
            "min", values, mode, unique_indices, lambda x, p, v, u: scatter_min(x, p, v)
        )

    def max(
        self,
        values: Any,
        *,
        indices_are_sorted: bool = False,
        unique_indices: bool = False,
        mode: str | None = None,
    ) -> Any:
        """``x`` with ``x[idx] = maximum(x[idx], values)`` (repeated indices reduce)."""
        return self._apply(
            "max", values, mode, unique_indices, lambda x, p, v, u: scatter_max(x, p, v)
        )


def _reshaped(v: Any, shape: tuple[int, ...]) -> Any:
    if _shape(v) == shape:
        return v
    return _reshape(v, shape) if isinstance(v, Tracer) else np.reshape(v, shape)


def _dtype(x: Any) -> np.dtype:
    return x.dtype if isinstance(x, Tracer) else np.result_type(x)


def _add(x, p, v, unique):
    if _dtype(x).kind == "b":
        # NumPy's boolean add is a logical or.
        hit = scatter_max(np.zeros(_shape(x), np.bool_), p, v)
        return ew.or_p.bind(x, hit)
    return scatter_add_flat(x, p, v)


def _multiply(x, p, v, unique):
    rounds = _rounds(p)
    if rounds is None:
        return scatter_mul(x, p, v, unique)
    for selection in rounds:
        x = scatter_mul(x, p[selection], _take(v, selection), True)
    return x


def _power(x, p, v, unique):
    def step(x, p, e):
        touched = scatter_max(np.zeros(_shape(x), np.bool_), p, np.ones(_shape(p), np.bool_))
        exponents = scatter(np.ones(_shape(x), _dtype(x)), p, e)
        # x ** 1 where untouched would do, but its derivative in the exponent (log x) is
        # NaN for negative x: the untouched elements keep x itself, exactly.
        base = ew.select(touched, x, np.ones((), _dtype(x)))
        return ew.select(touched, ew.pow(base, exponents), x)

    rounds = _rounds(p)
    if rounds is None:
        ones = np.ones(_shape(x), _dtype(x))
        products = scatter_mul(ones, p, v, unique)
        touched = scatter_max(np.zeros(_shape(x), np.bool_), p, np.ones(_shape(p), np.bool_))
        base = ew.select(touched, x, np.ones((), _dtype(x)))
        return ew.select(touched, ew.pow(base, products), x)
    for selection in rounds:
        x = step(x, p[selection], _take(v, selection))
    return x


class _At:
    """``at(x)``: index it to get an :class:`_IndexRef`."""

    __slots__ = ("_x",)

    def __init__(self, x: Any):
        self._x = x

    def __getitem__(self, index: Any) -> _IndexRef:
        return _IndexRef(self._x, index)

    def __repr__(self) -> str:
        return f"at(array of shape {_shape(self._x)})"


def at(x: Any) -> _At:
    """Functional index updates of ``x``, as JAX's ``x.at``: ``at(x)[idx].set(y)``,
    ``.add``, ``.subtract``, ``.multiply``, ``.divide``, ``.power``, ``.min``, ``.max``
    and ``.get()``. Works for NumPy arrays and traced values alike (traced values also
    have the property ``x.at``). ``x`` is never modified: each returns a new array.

    >>> import numpy as np, fungrad, fungrad.numpy as fnp
    >>> x = np.zeros(4)
    >>> fnp.at(x)[np.array([0, 2, 2])].add(1.0)
    array([1., 0., 2., 0.])
    >>> fnp.at(x)[1:].set(np.array([7.0, 8.0, 9.0])), x
    (array([0., 7., 8., 9.]), array([0., 0., 0., 0.]))
    >>> fnp.at(np.arange(3.0))[5].get(mode="fill", fill_value=-1.0)
    array(-1.)
    >>> fungrad.grad(lambda y: fnp.sum(fnp.at(x)[np.array([0, 0, 3])].add(y) ** 2))(
    ...     np.array([1.0, 2.0, 3.0]))
    array([6., 6., 6.])
    """
    x = _operand(x)
    if not isinstance(x, (Tracer, np.ndarray)):
        x = np.asarray(x)
    return _At(x)


# ---------------------------------------------------------------------------------------
# Where the nonzero elements are: concrete values only (the result's shape depends on them)


def _concrete(a: Any, name: str) -> np.ndarray:
    a = _operand(a)
    if not isinstance(a, Tracer):
        return np.asarray(a)
    try:
        return np.asarray(a.to_concrete())
    except (ConcretizationError, NotImplementedError) as err:
        raise ConcretizationError(
            f"{name}: the number of nonzero elements, and so the shape of the result, "
            "depends on values that are abstract here (under jit or vmap). Use "
            "fungrad.numpy.where(condition, x, y) with three arguments, or call "
            f"{name} outside the transformation. {err}"
        ) from None


def nonzero(a: Any) -> tuple[np.ndarray, ...]:
    """Indices of the nonzero elements, one array per dimension, as ``numpy.nonzero``.

    Concrete values only (the result's size depends on them); the indices have no
    derivative.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.nonzero(np.array([[0, 3], [5, 0]]))
    (array([0, 1]), array([1, 0]))
    """
    a = _concrete(a, "nonzero")
    if a.ndim == 0:
        raise FungradValueError(
            "nonzero: a 0-d array has no dimensions to index; use atleast_1d(a) first"
        )
    return np.nonzero(a)


def argwhere(a: Any) -> np.ndarray:
    """The indices of the nonzero elements, one row each, as ``numpy.argwhere``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.argwhere(np.array([[0, 3], [5, 0]]))
    array([[0, 1],
           [1, 0]])
    """
    return np.argwhere(_concrete(a, "argwhere"))


def flatnonzero(a: Any) -> np.ndarray:
    """Indices of the nonzero elements of the flattened array, as ``numpy.flatnonzero``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.flatnonzero(np.array([[0, 3], [5, 0]]))
    array([1, 2])
    """
    return np.flatnonzero(_concrete(a, "flatnonzero"))


def where(condition: Any, x: Any = None, y: Any = None) -> Any:
    """``x`` where ``condition`` holds, else ``y`` (broadcasting), as ``numpy.where``;
    derivatives flow to both. With only ``condition``: ``nonzero(condition)``, for
    concrete values only (its shape depends on them).

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.where(np.array([True, False]), np.array([1.0, 2.0]), 0.0)
    array([1., 0.])
    >>> fnp.where(np.array([0, 4, 0, 2]))
    (array([1, 3]),)
    """
    if x is None and y is None:
        return nonzero(condition)
    if x is None or y is None:
        raise FungradValueError(
            "where: give both x and y, or neither (where(condition) is nonzero(condition))"
        )
    return _select_where(condition, x, y)
