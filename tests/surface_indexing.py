"""Probes of indexing and functional index updates: ``take``, ``take_along_axis``,
``where`` (three arguments, and one), ``nonzero``, ``argwhere``, ``flatnonzero`` and
``at`` (each update method, repeated indices, slices, masks, out-of-bound indices),
against NumPy (``np.add.at`` and its siblings for the updates)."""

from __future__ import annotations

import numpy as np
from surface import Probe, distinct, uniform, uniforms

import fungrad.numpy as fnp

# Repeated indices (0 twice, 3 three times), and negative ones (-2 is 3).
REPEATED = np.array([0, 3, 0, -2, 1, 3])
ROWS = (np.array([2, 0, 2]), slice(None), np.array([1, 1, 3]))  # arrays around a slice
MASK = np.array([[True, False, True], [False, False, True]])


def _numpy_at(ufunc, index):
    def reference(x, y):
        out = x.copy()
        ufunc.at(out, index, y)
        return out

    return reference


def _numpy_set(index):
    def reference(x, y):
        out = x.copy()
        out[index] = y  # NumPy keeps the last of repeated indices, as fungrad does
        return out

    return reference


def _distinct_pair(x_shape, y_shape):
    def draw(rng):
        values = distinct(rng, (int(np.prod(x_shape)) + int(np.prod(y_shape)),), gap=0.2)
        n = int(np.prod(x_shape))
        return values[:n].reshape(x_shape), values[n:].reshape(y_shape)

    return draw


def _zeros_and_values(rng, shape=(3, 4)):
    return (rng.choice([0.0, 0.0, 1.5, -2.0], shape),)


def _indices(rng):
    return (rng.standard_normal((3, 4)), rng.integers(-3, 3, (2, 5)))


NOT_TRACEABLE = (
    "the result's shape depends on the values (the number of nonzero elements): "
    "concrete values only, as in JAX without a size argument"
)

PROBES = [
    # take and take_along_axis
    Probe("take", lambda a: fnp.take(a, np.array([3, 0, 3, -1])), uniform(-2, 2, 2, 3),
          reference=lambda a: np.take(a, np.array([3, 0, 3, -1]))),
    Probe("take", lambda a: fnp.take(a, np.array([[2, 0], [1, 2]]), axis=1),
          uniform(-2, 2, 2, 3), reference=lambda a: np.take(a, [[2, 0], [1, 2]], axis=1)),
    Probe("take", lambda a, i: fnp.take(a, i, axis=0),
          lambda rng: (rng.uniform(-2, 2, (4, 2)), rng.integers(-4, 4, (3,))),
          reference=lambda a, i: np.take(a, i, axis=0)),
    Probe("take_along_axis", lambda a: fnp.take_along_axis(a, np.array([[2, 0, 0]]), axis=1),
          uniform(-2, 2, 2, 3),
          reference=lambda a: np.take_along_axis(a, np.array([[2, 0, 0]]), axis=1)),
    Probe("take_along_axis", lambda a: fnp.take_along_axis(a, np.array([4, 0, 4]), axis=None),
          uniform(-2, 2, 2, 3),
          reference=lambda a: np.take_along_axis(a, np.array([4, 0, 4]), axis=None)),
    # where: three arguments (differentiable in x and y), and one (nonzero)
    Probe("where", lambda c, x, y: fnp.where(c > 0, x, y), uniforms(
        (-1, 1, (3, 4)), (-2, 2, (3, 4)), (-2, 2, (4,))), diff=(1, 2),
        reference=lambda c, x, y: np.where(c > 0, x, y),
        kinks="none in x and y: the condition only chooses; it has no derivative"),
    Probe("where", fnp.where, _zeros_and_values, diff=(),
          reference=np.where, vmap=False, jit=False, why=NOT_TRACEABLE),
    Probe("nonzero", fnp.nonzero, _zeros_and_values, diff=(),
          reference=np.nonzero, vmap=False, jit=False, why=NOT_TRACEABLE),
    Probe("argwhere", fnp.argwhere, _zeros_and_values, diff=(),
          reference=np.argwhere, vmap=False, jit=False, why=NOT_TRACEABLE),
    Probe("flatnonzero", fnp.flatnonzero, _zeros_and_values, diff=(),
          reference=np.flatnonzero, vmap=False, jit=False, why=NOT_TRACEABLE),
    # at: each method, with repeated and negative indices
    Probe("at", lambda x, y: fnp.at(x)[REPEATED].set(y), uniforms((-2, 2, (5,)), (-2, 2, (6,))),
          diff=(0, 1), reference=_numpy_set(REPEATED)),
    Probe("at", lambda x, y: fnp.at(x)[REPEATED].add(y), uniforms((-2, 2, (5,)), (-2, 2, (6,))),
          diff=(0, 1), reference=_numpy_at(np.add, REPEATED)),
    Probe("at", lambda x, y: fnp.at(x)[REPEATED].subtract(y),
          uniforms((-2, 2, (5,)), (-2, 2, (6,))), diff=(0, 1),
          reference=_numpy_at(np.subtract, REPEATED)),
    Probe("at", lambda x, y: fnp.at(x)[REPEATED].multiply(y),
          uniforms((-2, 2, (5,)), (-2, 2, (6,))), diff=(0, 1),
          reference=_numpy_at(np.multiply, REPEATED)),
    Probe("at", lambda x, y: fnp.at(x)[REPEATED].divide(y),
          uniforms((-2, 2, (5,)), (0.5, 2, (6,))), diff=(0, 1),
          reference=_numpy_at(np.divide, REPEATED), ref_rtol=1e-13),
    Probe("at", lambda x, y: fnp.at(x)[REPEATED].power(y),
          uniforms((0.5, 2, (5,)), (0.5, 1.5, (6,))), diff=(0, 1),
          reference=_numpy_at(np.power, REPEATED), ref_rtol=1e-13),
    Probe("at", lambda x, y: fnp.at(x)[REPEATED].min(y), _distinct_pair((5,), (6,)),
          diff=(0, 1), reference=_numpy_at(np.minimum, REPEATED),
          kinks="at ties the derivative is split evenly among the tied elements"),
    Probe("at", lambda x, y: fnp.at(x)[REPEATED].max(y), _distinct_pair((5,), (6,)),
          diff=(0, 1), reference=_numpy_at(np.maximum, REPEATED),
          kinks="at ties the derivative is split evenly among the tied elements"),
    Probe("at", lambda x: fnp.at(x)[REPEATED].get(), uniform(-2, 2, 5),
          reference=lambda x: x[REPEATED]),
    # slices, index arrays around a slice, masks; updates broadcast
    Probe("at", lambda x, y: fnp.at(x)[1:, ::2].set(y), uniforms((-2, 2, (3, 4)), (-2, 2, (2,))),
          diff=(0, 1), reference=_numpy_set((slice(1, None), slice(None, None, 2)))),
    Probe("at", lambda x, y: fnp.at(x)[ROWS].add(y),
          uniforms((-2, 2, (3, 2, 4)), (-2, 2, (3, 1))), diff=(0, 1),
          reference=_numpy_at(np.add, ROWS)),
    Probe("at", lambda x, y: fnp.at(x)[ROWS].multiply(y),
          uniforms((-2, 2, (3, 2, 4)), (-2, 2, (3, 2))), diff=(0, 1),
          reference=_numpy_at(np.multiply, ROWS)),
    Probe("at", lambda x, y: fnp.at(x)[MASK].set(y), uniforms((-2, 2, (2, 3)), (-2, 2, (3,))),
          diff=(0, 1), reference=_numpy_set(MASK)),
    Probe("at", lambda x, y: fnp.at(x)[None, ..., 1].max(y), _distinct_pair((2, 3), (1, 2)),
          diff=(0, 1), reference=_numpy_at(np.maximum, (None, Ellipsis, 1)),
          kinks="at ties the derivative is split evenly among the tied elements"),
    # indices as operands: traced under vmap (over them too) and jit
    Probe("at", lambda x, i, y: fnp.at(x)[i].set(y),
          lambda rng: (rng.uniform(-2, 2, 4), rng.integers(-4, 4, 5), rng.uniform(-2, 2, 5)),
          diff=(0, 2), reference=lambda x, i, y: _numpy_set(i)(x, y)),
    Probe("at", lambda x, i, y: fnp.at(x)[:, i].add(y),
          lambda rng: (rng.uniform(-2, 2, (2, 4)), rng.integers(-4, 4, 5),
                       rng.uniform(-2, 2, (2, 5))),
          diff=(0, 2), reference=lambda x, i, y: _numpy_at(np.add, (slice(None), i))(x, y)),
    # out-of-bound indices: dropped by updates, clamped or filled by get
    Probe("at", lambda x, y: fnp.at(x)[np.array([1, 7, -9])].add(y),
          uniforms((-2, 2, (5,)), (-2, 2, (3,))), diff=(0, 1),
          reference=lambda x, y: _numpy_at(np.add, np.array([1]))(x, y[:1])),
    Probe("at", lambda x, y: fnp.at(x)[np.array([1, 7, -9])].set(y, mode="clip"),
          uniforms((-2, 2, (5,)), (-2, 2, (3,))), diff=(0, 1),
          reference=_numpy_set(np.array([1, 4, 0]))),
    Probe("at", lambda x: fnp.at(x)[np.array([1, 7, -9])].get(mode="fill", fill_value=0.5),
          uniform(-2, 2, 5),
          reference=lambda x: np.where(np.array([True, False, False]), x[[1, 0, 0]], 0.5)),
]  # fmt: skip
