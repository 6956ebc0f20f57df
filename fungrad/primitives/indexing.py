"""Indexing: ``gather`` (NumPy's ``x[index]``) and its transpose ``scatter_add``.

An index is split into a static part, a :class:`StaticIndex` held in the equation's
params (ints, slices, ``None``, ``...``), and dynamic integer index arrays passed as
operands. So basic slicing, integer indexing and integer-array ("fancy") indexing are
one pair of primitives, each the other's transpose.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from fungrad.core import ShapedArray, new_primitive, shape_of
from fungrad.errors import ShapeError
from fungrad.primitives.builders import (
    axis_size,
    defjvp,
    move_batch_dim,
    register_batch,
    register_transpose,
    require_constant,
    to_front,
)
from fungrad.primitives.structural import reshape, transpose


class _ArraySlot:
    """Marks the place of the next dynamic index array in a StaticIndex."""

    def __repr__(self) -> str:
        return "•"


ARRAY = _ArraySlot()


class StaticIndex:
    """The static structure of a NumPy index, hashable, printed in index syntax."""

    __slots__ = ("entries",)

    def __init__(self, entries: tuple[Any, ...]):
        # Slices are stored as (start, stop, step) triples so the index is hashable.
        self.entries = tuple(
            ("slice", e.start, e.stop, e.step) if isinstance(e, slice) else e for e in entries
        )

    def build(self, arrays: tuple[Any, ...]) -> tuple[Any, ...]:
        """The NumPy index, with ``arrays`` in the array slots."""
        it = iter(arrays)
        out = []
        for e in self.entries:
            if e is ARRAY:
                out.append(next(it))
            elif type(e) is tuple:
                out.append(slice(e[1], e[2], e[3]))
            else:
                out.append(e)
        return tuple(out)

    @property
    def has_arrays(self) -> bool:
        return any(e is ARRAY for e in self.entries)

    def __eq__(self, other: object) -> bool:
        return type(other) is StaticIndex and self.entries == other.entries

    def __hash__(self) -> int:
        return hash(self.entries)

    def __repr__(self) -> str:
        def show(e: Any) -> str:
            if type(e) is tuple:
                start, stop, step = ("" if v is None else str(v) for v in e[1:])
                return f"{start}:{stop}" + (f":{step}" if step else "")
            return "..." if e is Ellipsis else repr(e)

        return "[" + ", ".join(show(e) for e in self.entries) + "]"


def _fake_array(aval: ShapedArray) -> np.ndarray:
    """An array of ``aval``'s shape that allocates nothing (all strides zero)."""
    return np.lib.stride_tricks.as_strided(
        np.zeros(1, aval.dtype), shape=aval.shape, strides=(0,) * aval.ndim
    )


def _gather_abstract_eval(x, *index_arrays, index):
    for a in index_arrays:
        if a.dtype.kind not in "iu":
            raise ShapeError(f"gather: index arrays must be integers, got {a.str_short()}")
    try:
        fake_indices = tuple(np.zeros(a.shape, np.int64) for a in index_arrays)
        shape = _fake_array(x)[index.build(fake_indices)].shape
    except IndexError as err:
        raise ShapeError(f"indexing an array of shape {x.shape} with {index}: {err}") from None
    return ShapedArray(shape, x.dtype, x.weak_type)


gather_p = new_primitive("gather")
gather_p.impl = lambda x, *index_arrays, index: np.asarray(x)[index.build(index_arrays)]
gather_p.abstract_eval = _gather_abstract_eval


def gather(x: Any, *index_arrays: Any, index: StaticIndex) -> Any:
    return gather_p.bind(x, *index_arrays, index=index)


def _scatter_add_impl(ct, *index_arrays, index, shape):
    out = np.zeros(shape, np.result_type(ct))
    idx = index.build(index_arrays)
    if index.has_arrays:
        np.add.at(out, idx, ct)  # repeated indices accumulate
    else:
        out[idx] = ct  # basic indexing never repeats an element
    return out


def _scatter_add_abstract_eval(ct, *index_arrays, index, shape):
    return ShapedArray(shape, ct.dtype, ct.weak_type)


scatter_add_p = new_primitive("scatter_add")
scatter_add_p.impl = _scatter_add_impl
scatter_add_p.abstract_eval = _scatter_add_abstract_eval


def scatter_add(ct: Any, *index_arrays: Any, index: StaticIndex, shape: tuple[int, ...]):
    """Zeros of ``shape`` with ``ct`` added at ``index`` (the transpose of gather)."""
    return scatter_add_p.bind(ct, *index_arrays, index=index, shape=shape)


def _linear_in_first(prim):
    def partial(t, ans, x, *index_arrays, **params):
        return prim.bind(t, *index_arrays, **params)

    return partial


defjvp(gather_p, _linear_in_first(gather_p))
defjvp(scatter_add_p, _linear_in_first(scatter_add_p))


def _gather_transpose(ct, x, *index_arrays, index):
    require_constant("gather", **{f"index{i}": a for i, a in enumerate(index_arrays)})
    ct_x = scatter_add(ct, *index_arrays, index=index, shape=x.aval.shape)
    return (ct_x, *(None for _ in index_arrays))


def _scatter_add_transpose(ct, x, *index_arrays, index, shape):
    require_constant("scatter_add", **{f"index{i}": a for i, a in enumerate(index_arrays)})
    return (gather(ct, *index_arrays, index=index), *(None for _ in index_arrays))


register_transpose(gather_p, _gather_transpose)
register_transpose(scatter_add_p, _scatter_add_transpose)


def slice_along(x: Any, axis: int, start: int, stop: int) -> Any:
    """``x[..., start:stop, ...]`` with the slice on ``axis``."""
    entries = (slice(None),) * axis + (slice(start, stop),)
    return gather(x, index=StaticIndex(entries))


# ---------------------------------------------------------------------------------------
# Batching. With only basic indexing, a leading full slice keeps the batch dimension
# in front. With index arrays, the batch gets its own index array ``arange(size)``
# in front; NumPy then puts the whole block of array-indexed dimensions first, with
# the batch dimension leading it. Per example, NumPy keeps that block where the
# array indices were if they were adjacent, so the batched result is transposed to
# match (and a cotangent being scattered is transposed the other way).


def _batched_index(
    index: StaticIndex, arrays: tuple, dims: tuple, size: int
) -> tuple[list[Any], StaticIndex, int]:
    """The batched index operands and structure, and the rank of the array-index block."""
    ranks = [len(shape_of(a)) - (d is not None) for a, d in zip(arrays, dims)]
    n_adv = builtins.max(ranks, default=0)
    moved = []
    for a, d, r in zip(arrays, dims, ranks):
        if d is not None:
            a = to_front(a, d)
            front = shape_of(a)
            a = reshape(a, front[:1] + (1,) * (n_adv - r) + front[1:])
        moved.append(a)
    batch_positions = np.arange(size).reshape((size,) + (1,) * n_adv)
    return [batch_positions, *moved], StaticIndex((ARRAY, *index.entries)), n_adv


def _dims_before_array_block(index: StaticIndex, ndim: int) -> int:
    """How many result dimensions precede the array-index block for one example.

    0 when NumPy puts the block first anyway (array indices not adjacent, or first).
    """
    advanced = [i for i, e in enumerate(index.entries) if e is ARRAY or type(e) is int]
    if advanced != list(range(advanced[0], advanced[-1] + 1)):
        return 0
    consumed = sum(1 for e in index.entries if e is ARRAY or type(e) in (int, tuple))
    before = 0
    for e in index.entries[: advanced[0]]:
        before += ndim - consumed if e is Ellipsis else 1
    return before


def _block_order(n_adv: int, before: int, total: int) -> tuple[int, ...]:
    """Permutation taking [batch, block, before, rest] to [batch, before, block, rest]."""
    block = list(range(1, 1 + n_adv))
    prefix = list(range(1 + n_adv, 1 + n_adv + before))
    rest = list(range(1 + n_adv + before, total))
    return tuple([0, *prefix, *block, *rest])


def _gather_batch(values, dims, index):
    x, arrays = values[0], tuple(values[1:])
    dx, array_dims = dims[0], tuple(dims[1:])
    size = axis_size(values, dims)
    if not index.has_arrays:
        return gather(to_front(x, dx), index=StaticIndex((slice(None), *index.entries))), 0
    if dx is None:
        # Only the indices vary: index the shared array with batched index arrays. The
        # batch leads their broadcast block, which NumPy places as it does per example.
        new_arrays, _, _ = _batched_index(index, arrays, array_dims, size)
        out = gather(x, *new_arrays[1:], index=index)
        return out, _dims_before_array_block(index, len(shape_of(x)))
    x = to_front(x, dx)
    new_arrays, new_index, n_adv = _batched_index(index, arrays, array_dims, size)
    out = gather(x, *new_arrays, index=new_index)
    before = _dims_before_array_block(index, len(shape_of(x)) - 1)
    if before:
        out = transpose(out, _block_order(n_adv, before, len(shape_of(out))))
    return out, 0


def _scatter_add_batch(values, dims, index, shape):
    ct, arrays = values[0], tuple(values[1:])
    dct, array_dims = dims[0], tuple(dims[1:])
    size = axis_size(values, dims)
    out_shape = (size, *shape)
    if not index.has_arrays:
        entries = StaticIndex((slice(None), *index.entries))
        return scatter_add(to_front(ct, dct), index=entries, shape=out_shape), 0
    ct = move_batch_dim(ct, dct, 0, size)
    new_arrays, new_index, n_adv = _batched_index(index, arrays, array_dims, size)
    before = _dims_before_array_block(index, len(shape))
    if before:
        order = _block_order(n_adv, before, len(shape_of(ct)))
        ct = transpose(ct, tuple(np.argsort(order).tolist()))
    return scatter_add(ct, *new_arrays, index=new_index, shape=out_shape), 0


register_batch(gather_p, _gather_batch)
register_batch(scatter_add_p, _scatter_add_batch)
