"""Rows of the primitive table for the scatters behind ``x.at[idx]`` (fungrad/primitives/
indexing.py): ``scatter`` (set), ``scatter_mul``, ``scatter_min`` and ``scatter_max``.

Each takes an operand of shape ``(*batch, n)``, integer flat positions and updates of
shape ``(*batch, m)``, the batch dimensions broadcasting; positions outside ``[0, n)``
are dropped. The cases draw repeated and invalid positions (``scatter_mul``: unique
ones, since its derivative in the updates needs them; repeated ones are in
tests/test_updates.py), and values without ties for the extrema.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from primitive_table import Case, Row, _floats, array, distinct_array


@st.composite
def _positions(draw, shape: tuple[int, ...], n: int, unique: bool) -> np.ndarray:
    """Positions in ``[-1, n]`` (both ends dropped); unique within each row if asked."""
    m = shape[-1]
    rows = []
    for _ in range(int(np.prod(shape[:-1], dtype=np.int64))):
        if unique:
            rows.append(draw(st.permutations(list(range(-1, n + 1))))[:m])
        else:
            rows.append(draw(st.lists(st.integers(-1, n), min_size=m, max_size=m)))
    dtype = draw(st.sampled_from([np.int64, np.int32]))
    return np.array(rows, dtype).reshape(shape)


def scatter_cases(unique: bool = False, distinct: bool = False, params=None):
    @st.composite
    def cases(draw, dtype):
        k = draw(st.integers(0, 2))
        batch = tuple(draw(st.lists(st.integers(1, 3), min_size=k, max_size=k)))

        def sub():
            return tuple(b if draw(st.booleans()) else 1 for b in batch)

        n = draw(st.integers(1, 4))
        m = draw(st.integers(1, n + 2 if unique else 4))
        x_shape, p_shape, u_shape = (*sub(), n), (*sub(), m), (*sub(), m)
        positions = draw(_positions(p_shape, n, unique))
        if distinct:
            size_x, size_u = int(np.prod(x_shape)), int(np.prod(u_shape))
            pool = draw(distinct_array(dtype, (size_x + size_u,)))
            x = pool[:size_x].reshape(x_shape)
            u = pool[size_x:].reshape(u_shape)
        else:
            x = draw(array(dtype, x_shape, _floats(dtype, -3, 3)))
            u = draw(array(dtype, u_shape, _floats(dtype, -3, 3)))
        return Case((x, positions, u), draw(params) if params is not None else {})

    return cases


def _meaning(combine):
    """Row by row, in order: each valid update combined into its position."""

    def meaning(case: Case) -> np.ndarray:
        x, positions, u = case.args
        n = x.shape[-1]
        batch = np.broadcast_shapes(x.shape[:-1], positions.shape[:-1], u.shape[:-1])
        out = np.array(np.broadcast_to(x, (*batch, n)))
        p = np.broadcast_to(positions, (*batch, positions.shape[-1]))
        u = np.broadcast_to(u, p.shape)
        for b in np.ndindex(*batch):
            for j, pos in enumerate(p[b]):
                if 0 <= pos < n:
                    out[b][pos] = combine(out[b][pos], u[b][j])
        return out

    return meaning


def _recast_distinct(case: Case, dtype: np.dtype) -> Case:
    x, positions, u = case.args
    return Case((x.astype(dtype), positions, u.astype(dtype)), case.params, case.note)


def _unique_params():
    return st.fixed_dictionaries({"unique_indices": st.booleans()})


ROWS = [
    Row(
        "scatter",
        scatter_cases(),
        _meaning(lambda old, new: new),
        diff=(0, 2),
        linear=((0, 2),),
        several_operands=True,
        free_integers=True,
    ),
    Row(
        "scatter_mul",
        scatter_cases(unique=True, params=_unique_params()),
        _meaning(lambda old, new: old * new),
        diff=(0, 2),
        linear=((0,),),
        several_operands=True,
    ),
    Row(
        "scatter_min",
        scatter_cases(distinct=True),
        _meaning(min),
        diff=(0, 2),
        several_operands=True,
        free_integers=True,
        recast=_recast_distinct,
    ),
    Row(
        "scatter_max",
        scatter_cases(distinct=True),
        _meaning(max),
        diff=(0, 2),
        several_operands=True,
        free_integers=True,
        recast=_recast_distinct,
    ),
]
