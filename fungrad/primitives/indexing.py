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

from fungrad.core import ShapedArray, Tracer, Zero, get_aval, new_primitive, shape_of
from fungrad.errors import ConcretizationError, FungradValueError, ShapeError
from fungrad.primitives import elementwise as ew
from fungrad.primitives.builders import (
    UndefinedPrimal,
    axis_size,
    broadcast_tangent,
    defjvp,
    move_batch_dim,
    register_batch,
    register_jvp,
    register_transpose,
    require_constant,
    to_front,
    unbroadcast,
)
from fungrad.primitives.structural import broadcast_to, reshape, transpose
from fungrad.primitives.structural import convert_element_type as _convert


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


# ---------------------------------------------------------------------------------------
# Scatters with an operand: ``x.at[idx].set/multiply/min/max`` (fungrad/numpy/_updates.py).
#
# They work on flat positions: ``x`` has shape ``(*batch, n)``, ``positions`` (integers)
# and ``updates`` have shape ``(*batch, m)``, the batch dimensions of the three
# broadcasting together (equal ranks). Row ``b`` of the result is row ``b`` of ``x`` with
# ``updates[b, j]`` combined into element ``positions[b, j]``; a position outside
# ``[0, n)`` is dropped (JAX's FILL_OR_DROP). Any NumPy index of any array becomes flat
# positions (an integer gather of ``arange``), and the batch dimensions make batching a
# matter of adding one in front. ``updates`` have ``x``'s dtype.
#
# - ``scatter``: set; with repeated positions the last update wins (as NumPy's
#   ``x[idx] = y`` in practice). Linear jointly in ``x`` and ``updates``.
# - ``scatter_mul``: repeated positions multiply. Linear in ``x``; its derivative in the
#   updates needs unique positions (checked when they are concrete, or promised with
#   ``unique_indices=True``), as in JAX.
# - ``scatter_min``/``scatter_max``: repeated positions reduce; the derivative goes to
#   the element that attains the result, split evenly among ties.


def _scatter_abstract_eval(name):
    def abstract_eval(x, positions, updates, **params):
        if positions.dtype.kind not in "iu":
            raise ShapeError(f"{name}: positions must be integers, got {positions.str_short()}")
        if not (x.ndim == positions.ndim == updates.ndim >= 1):
            raise ShapeError(
                f"{name}: operand, positions and updates need equal ranks (at least 1), got "
                f"{x.str_short()}, {positions.str_short()} and {updates.str_short()}"
            )
        if positions.shape[-1] != updates.shape[-1] or updates.dtype != x.dtype:
            raise ShapeError(
                f"{name}: updates {updates.str_short()} must match positions "
                f"{positions.str_short()} in their last dimension and have the operand's "
                f"dtype {x.str_short()}"
            )
        try:
            batch = np.broadcast_shapes(x.shape[:-1], positions.shape[:-1], updates.shape[:-1])
        except ValueError:
            raise ShapeError(
                f"{name}: batch dimensions of {x.shape}, {positions.shape} and "
                f"{updates.shape} do not broadcast"
            ) from None
        return ShapedArray((*batch, x.shape[-1]), x.dtype, x.weak_type)

    return abstract_eval


def _flat_arrays(x, positions, updates):
    """The result buffer (a copy of ``x``, broadcast) and the valid flat positions and
    updates, in order."""
    x, positions, updates = np.asarray(x), np.asarray(positions), np.asarray(updates)
    n, m = x.shape[-1], positions.shape[-1]
    batch = np.broadcast_shapes(x.shape[:-1], positions.shape[:-1], updates.shape[:-1])
    out = np.array(np.broadcast_to(x, (*batch, n)), order="C")
    p = np.broadcast_to(positions, (*batch, m)).astype(np.intp)
    u = np.broadcast_to(updates, (*batch, m))
    valid = (p >= 0) & (p < n)
    offsets = (np.arange(int(np.prod(batch, dtype=np.int64))) * n).reshape((*batch, 1))
    return out, (p + offsets)[valid], u[valid]


def _scatter_set_impl(x, positions, updates):
    out, flat, u = _flat_arrays(x, positions, updates)
    order = np.arange(flat.size)
    last = np.full(out.size, -1, np.intp)
    np.maximum.at(last, flat, order)  # the last update to each position wins
    written = np.nonzero(last >= 0)[0]
    out.reshape(-1)[written] = u[last[written]]
    return out


def _ufunc_scatter_impl(ufunc):
    def impl(x, positions, updates, **params):
        out, flat, u = _flat_arrays(x, positions, updates)
        ufunc.at(out.reshape(-1), flat, u)
        return out

    return impl


scatter_p = new_primitive("scatter")
scatter_p.impl = _scatter_set_impl
scatter_p.abstract_eval = _scatter_abstract_eval("scatter")

scatter_mul_p = new_primitive("scatter_mul")
scatter_mul_p.impl = _ufunc_scatter_impl(np.multiply)
scatter_mul_p.abstract_eval = _scatter_abstract_eval("scatter_mul")

scatter_min_p = new_primitive("scatter_min")
scatter_min_p.impl = _ufunc_scatter_impl(np.minimum)
scatter_min_p.abstract_eval = _scatter_abstract_eval("scatter_min")

scatter_max_p = new_primitive("scatter_max")
scatter_max_p.impl = _ufunc_scatter_impl(np.maximum)
scatter_max_p.abstract_eval = _scatter_abstract_eval("scatter_max")


def scatter(x: Any, positions: Any, updates: Any) -> Any:
    """``x`` with ``updates`` written at the flat ``positions`` (the last one wins)."""
    return scatter_p.bind(x, positions, updates)


def scatter_mul(x: Any, positions: Any, updates: Any, unique_indices: bool = False) -> Any:
    """``x`` with the elements at ``positions`` multiplied by ``updates``."""
    return scatter_mul_p.bind(x, positions, updates, unique_indices=bool(unique_indices))


def scatter_min(x: Any, positions: Any, updates: Any) -> Any:
    return scatter_min_p.bind(x, positions, updates)


def scatter_max(x: Any, positions: Any, updates: Any) -> Any:
    return scatter_max_p.bind(x, positions, updates)


# Index arithmetic on positions, with primitives, so that traced positions work too.


def _valid(positions: Any, n: int) -> Any:
    return ew.and_p.bind(ew.ge(positions, 0), ew.lt(positions, n))


def take_positions(v: Any, positions: Any) -> Any:
    """``v[..., positions]`` row by row (``v`` of shape ``(*batch, n)``, positions of
    shape ``(*batch, m)``, broadcasting), with invalid positions clipped into range."""
    v_shape = shape_of(v)
    n, k = v_shape[-1], len(v_shape) - 1
    clipped = ew.max(ew.min(positions, n - 1), 0)
    arrays = []
    for i, size in enumerate(v_shape[:-1]):
        dims = [1] * (k + 1)
        dims[i] = size
        arrays.append(np.arange(size).reshape(dims))
    return gather(v, *arrays, clipped, index=StaticIndex((ARRAY,) * (k + 1)))


def _winners(positions: Any, n: int) -> Any:
    """True for each valid update that a ``scatter`` keeps (the last to its position)."""
    p_shape = shape_of(positions)
    m = p_shape[-1]
    order = np.arange(m).reshape((1,) * (len(p_shape) - 1) + (m,))
    last = scatter_max(np.full((1,) * (len(p_shape) - 1) + (n,), -1, np.intp), positions, order)
    last = ew.select(_valid(positions, n), take_positions(last, positions), -1)
    return ew.eq(last, order)


def _row_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """One row of ``shape``: size-1 batch dimensions (they broadcast), the last kept."""
    return (1,) * (len(shape) - 1) + shape[-1:]


def _zeros(aval_or_value: Any) -> np.ndarray:
    aval = getattr(aval_or_value, "aval", None) or get_aval(aval_or_value)
    return np.zeros(aval.shape, aval.dtype)


def _scatter_jvp(primals, tangents):
    x, positions, updates = primals
    tx, _, tu = tangents
    ans = scatter(x, positions, updates)
    if type(tx) is Zero and type(tu) is Zero:
        return ans, Zero(get_aval(ans))
    tx = _zeros(x) if type(tx) is Zero else tx
    tu = _zeros(updates) if type(tu) is Zero else tu
    return ans, scatter(tx, positions, tu)


def _scatter_transpose(ct, x, positions, updates):
    require_constant("scatter", positions=positions)
    ct_x = ct_u = None
    if type(x) is UndefinedPrimal:
        no_updates = np.zeros(_row_shape(shape_of(positions)), ct.dtype)
        ct_x = unbroadcast(scatter(ct, positions, no_updates), x.aval)
    if type(updates) is UndefinedPrimal:
        n = x.aval.shape[-1] if type(x) is UndefinedPrimal else shape_of(x)[-1]
        keep = _winners(positions, n)
        ct_u = unbroadcast(ew.select(keep, take_positions(ct, positions), 0.0), updates.aval)
    return ct_x, None, ct_u


register_jvp(scatter_p, _scatter_jvp)
register_transpose(scatter_p, _scatter_transpose)


def _concrete(v: Any) -> np.ndarray | None:
    if not isinstance(v, Tracer):
        return np.asarray(v)
    try:
        return np.asarray(v.to_concrete())
    except (ConcretizationError, NotImplementedError):
        return None


def positions_are_unique(positions: np.ndarray, n: int) -> bool:
    """Whether no valid position repeats within a row (concrete positions)."""
    rows = positions.reshape(-1, positions.shape[-1]) if positions.size else positions
    for row in rows:
        row = row[(row >= 0) & (row < n)]
        if np.unique(row).size != row.size:
            return False
    return True


def _scatter_mul_updates_partial(t, ans, x, positions, updates, unique_indices):
    n = shape_of(x)[-1]
    if not unique_indices:
        concrete = _concrete(positions)
        if concrete is None:
            raise FungradValueError(
                "x.at[idx].multiply: the derivative with respect to the updates is only "
                "exact for unique indices, and the indices here are traced, so fungrad "
                "cannot check them. If no index repeats, pass unique_indices=True (as in "
                "JAX); otherwise make the indices concrete (not an argument of jit or vmap)."
            )
        if not positions_are_unique(concrete, n):
            raise FungradValueError(
                "x.at[idx].multiply: the derivative with respect to the updates is not "
                "implemented for repeated indices at the primitive scatter_mul (the "
                "fungrad.numpy function splits concrete repeated indices into unique "
                "rounds; use it, or make the indices unique)."
            )
    # unique: d out[pos_j] = x[pos_j] * t_j (dropped positions contribute nothing)
    zeros = np.zeros(_row_shape(shape_of(ans)), get_aval(ans).dtype)
    return scatter(zeros, positions, ew.mul(take_positions(x, positions), t))


defjvp(
    scatter_mul_p,
    lambda t, ans, x, positions, updates, unique_indices: scatter_mul(
        t, positions, updates, unique_indices
    ),
    None,
    _scatter_mul_updates_partial,
)


def _scatter_mul_transpose(ct, x, positions, updates, unique_indices):
    require_constant("scatter_mul", positions=positions, updates=updates)
    ct_x = scatter_mul(ct, positions, updates, unique_indices)
    return unbroadcast(ct_x, x.aval), None, None


register_transpose(scatter_mul_p, _scatter_mul_transpose)


def _extremum_jvp(prim):
    def jvp(primals, tangents):
        x, positions, updates = primals
        tx, _, tu = tangents
        ans = prim.bind(x, positions, updates)
        if type(tx) is Zero and type(tu) is Zero:
            return ans, Zero(get_aval(ans))
        n = shape_of(x)[-1]
        out_aval = get_aval(ans)
        dtype = out_aval.dtype
        # Who attains the result: x itself, and each valid update equal to it there.
        x_hits = ew.eq(x, ans)
        u_hits = ew.and_p.bind(
            _valid(positions, n), ew.eq(updates, take_positions(ans, positions))
        )
        zeros = np.zeros(_row_shape(out_aval.shape), dtype)
        u_count = scatter_add_flat(zeros, positions, _convert(u_hits, dtype))
        count = ew.add(_convert(x_hits, dtype), u_count)
        total = None
        if type(tx) is not Zero:
            total = ew.select(x_hits, tx, 0.0)
        if type(tu) is not Zero:
            share = scatter_add_flat(zeros, positions, ew.select(u_hits, tu, 0.0))
            total = share if total is None else ew.add(total, share)
        return ans, broadcast_tangent(ew.div(total, count), ans)

    return jvp


def scatter_add_flat(x: Any, positions: Any, updates: Any) -> Any:
    """``x`` plus ``updates`` added at the flat ``positions`` (repeats accumulate, invalid
    positions dropped), with ``scatter_add``: linear in ``x`` and ``updates`` jointly."""
    x_shape, p_shape, u_shape = shape_of(x), shape_of(positions), shape_of(updates)
    n = x_shape[-1]
    batch = np.broadcast_shapes(x_shape[:-1], p_shape[:-1], u_shape[:-1])
    m = p_shape[-1]
    dtype = updates.dtype if hasattr(updates, "dtype") else get_aval(updates).dtype
    updates = ew.select(_valid(positions, n), updates, np.zeros((), dtype))
    if shape_of(updates) != (*batch, m):
        updates = broadcast_to(updates, (*batch, m))
    clipped = ew.max(ew.min(positions, n - 1), 0)
    k = len(batch)
    arrays = []
    for i, size in enumerate(batch):
        dims = [1] * (k + 1)
        dims[i] = size
        arrays.append(np.arange(size).reshape(dims))
    added = scatter_add(
        updates, *arrays, clipped, index=StaticIndex((ARRAY,) * (k + 1)), shape=(*batch, n)
    )
    return ew.add(x, added)


register_jvp(scatter_min_p, _extremum_jvp(scatter_min_p))
register_jvp(scatter_max_p, _extremum_jvp(scatter_max_p))


def _scatter_batch(prim):
    def rule(values, dims, **params):
        moved = [
            reshape(v, (1, *shape_of(v))) if d is None else to_front(v, d)
            for v, d in zip(values, dims)
        ]
        return prim.bind(*moved, **params), 0

    return rule


for _prim in (scatter_p, scatter_mul_p, scatter_min_p, scatter_max_p):
    register_batch(_prim, _scatter_batch(_prim))
