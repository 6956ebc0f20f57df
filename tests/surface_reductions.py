# ruff: noqa: E501  (a table of probes)
"""Probes of the reductions, scans, sorting and order statistics of fungrad.numpy (see
tests/surface.py): the core ones of fungrad/numpy/__init__.py (``sum`` ... ``argmin``)
and those of fungrad/numpy/_reductions.py.

Operands of ``max``, ``min``, ``sort``, ``median`` and ``quantile`` have no ties
(``distinct``), and ``q`` stays clear of the data points, where those are not
differentiable; ``kinks`` says what fungrad gives there. ``prod`` and ``cumprod`` are
polynomials, differentiable everywhere: their zeros are tested in tests/test_reductions.py.
"""

from __future__ import annotations

import numpy as np
from surface import Probe, distinct, uniform, uniforms

import fungrad.numpy as fnp

TIES_SHARED = "at ties the derivative is shared equally among the tied extrema"
TIES_STABLE = "at ties the stable order decides: the k-th of equal elements gets the derivative of the k-th of their places"
TIES_MEDIAN = (
    "at ties the stable order of sort decides which of the equal elements get the derivative"
)
Q_KINK = (
    "in q, where q (n - 1) is an integer: the slope on the right (on the left at q = 1); in a, "
    + TIES_MEDIAN
)
SQRT_KINK = "where all elements are equal, std (a square root of 0) has an infinite derivative: fungrad gives nan"
NO_CONCRETE = "returns a Python bool, which needs concrete values: it raises ConcretizationError under jit and vmap"


def u(*shape: int):
    return uniform(-1.0, 1.0, *shape)


def pos(*shape: int):
    return uniform(0.5, 2.0, *shape)


def d(*shape: int):
    return lambda rng: (distinct(rng, shape),)


def f32(*shape: int):
    return lambda rng: (rng.uniform(-1.0, 1.0, shape).astype(np.float32),)


def some_zeros(*shape: int):
    """Floats with about half of them exactly zero (for any/all)."""
    return lambda rng: (rng.uniform(-1.0, 1.0, shape) * (rng.uniform(size=shape) < 0.5),)


def with_nans(*shape: int):
    """Floats with about a quarter of them NaN, the first row free of NaN."""

    def draw(rng):
        x = rng.uniform(-1.0, 1.0, shape)
        x[1:][rng.uniform(size=x[1:].shape) < 0.25] = np.nan
        return (x,)

    return draw


def sorted_and_q(shape: tuple[int, ...], n: int, q_shape: tuple[int, ...] = ()):
    """Distinct values and ``q`` with ``q (n - 1)`` between integers (clear of data points)."""

    def draw(rng):
        k = rng.integers(0, n - 1, q_shape)
        q = (k + rng.uniform(0.2, 0.8, q_shape)) / (n - 1)
        return distinct(rng, shape), q

    return draw


def close_pairs(*shape: int):
    """``a`` and ``b``: some elements within isclose's tolerance, some not, some infinite."""

    def draw(rng):
        a = rng.uniform(-1.0, 1.0, shape)
        near = rng.uniform(size=shape) < 0.5
        b = np.where(near, a * (1 + 1e-7), a + rng.uniform(0.1, 1.0, shape))
        b.flat[0] = a.flat[0] = np.inf
        return a, b

    return draw


def _quantile_lerp(a, q, axis=None):
    return np.quantile(a, q, axis=axis)


def _logsumexp(a, axis=None, b=None, keepdims=False):
    m = np.max(a, axis=axis, keepdims=True)
    e = np.exp(a - m) if b is None else b * np.exp(a - m)
    out = np.log(np.sum(e, axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


PROBES = [
    # -- sums and moments (fungrad/numpy/__init__.py)
    Probe("sum", fnp.sum, u(2, 3), reference=np.sum),
    Probe("sum", lambda x: fnp.sum(x, axis=1), u(2, 3, 2), reference=lambda x: np.sum(x, axis=1)),
    Probe(
        "sum",
        lambda x: fnp.sum(x, axis=(0, 2), keepdims=True),
        u(2, 3, 2),
        reference=lambda x: np.sum(x, axis=(0, 2), keepdims=True),
    ),
    Probe("mean", fnp.mean, u(2, 3), reference=np.mean),
    Probe(
        "mean",
        lambda x: fnp.mean(x, axis=-1, keepdims=True),
        u(2, 3),
        reference=lambda x: np.mean(x, axis=-1, keepdims=True),
    ),
    Probe(
        "mean",
        lambda x: fnp.mean(x, axis=(0, 1)),
        f32(2, 3, 2),
        reference=lambda x: np.mean(x, axis=(0, 1)),
        rtol=1e-2,
        atol=1e-3,
        ref_rtol=1e-6,
        ref_atol=1e-7,
    ),
    Probe("var", fnp.var, u(2, 3), reference=np.var, kinks="none: a polynomial"),
    Probe(
        "var",
        lambda x: fnp.var(x, axis=0, ddof=1),
        u(4, 3),
        reference=lambda x: np.var(x, axis=0, ddof=1),
    ),
    Probe(
        "var",
        lambda x: fnp.var(x, axis=(0, 2), keepdims=True),
        u(2, 3, 2),
        reference=lambda x: np.var(x, axis=(0, 2), keepdims=True),
    ),
    Probe("std", fnp.std, u(2, 3), reference=np.std, kinks=SQRT_KINK),
    Probe(
        "std",
        lambda x: fnp.std(x, axis=1, ddof=1),
        u(2, 4),
        reference=lambda x: np.std(x, axis=1, ddof=1),
        kinks=SQRT_KINK,
    ),
    Probe(
        "std",
        lambda x: fnp.std(x, axis=0, keepdims=True),
        u(3, 2),
        reference=lambda x: np.std(x, axis=0, keepdims=True),
        kinks=SQRT_KINK,
    ),
    # -- extrema
    Probe("max", fnp.max, d(2, 3), reference=np.max, kinks=TIES_SHARED),
    Probe(
        "max",
        lambda x: fnp.max(x, axis=1),
        d(2, 3, 2),
        reference=lambda x: np.max(x, axis=1),
        kinks=TIES_SHARED,
    ),
    Probe(
        "max",
        lambda x: fnp.max(x, axis=(0, 2), keepdims=True),
        d(2, 3, 2),
        reference=lambda x: np.max(x, axis=(0, 2), keepdims=True),
        kinks=TIES_SHARED,
    ),
    Probe("min", fnp.min, d(2, 3), reference=np.min, kinks=TIES_SHARED),
    Probe(
        "min",
        lambda x: fnp.min(x, axis=0, keepdims=True),
        d(3, 2),
        reference=lambda x: np.min(x, axis=0, keepdims=True),
        kinks=TIES_SHARED,
    ),
    Probe(
        "amax",
        lambda x: fnp.amax(x, axis=-1),
        d(3, 4),
        reference=lambda x: np.amax(x, axis=-1),
        kinks=TIES_SHARED,
    ),
    Probe(
        "amin",
        lambda x: fnp.amin(x, axis=(0, 1)),
        d(2, 2, 3),
        reference=lambda x: np.amin(x, axis=(0, 1)),
        kinks=TIES_SHARED,
    ),
    Probe("argmax", fnp.argmax, d(2, 3), diff=(), reference=np.argmax),
    Probe(
        "argmax",
        lambda x: fnp.argmax(x, axis=1, keepdims=True),
        d(2, 3),
        diff=(),
        reference=lambda x: np.argmax(x, axis=1, keepdims=True),
    ),
    Probe("argmin", fnp.argmin, d(2, 3), diff=(), reference=np.argmin),
    Probe(
        "argmin",
        lambda x: fnp.argmin(x, axis=0),
        d(3, 2),
        diff=(),
        reference=lambda x: np.argmin(x, axis=0),
    ),
    # -- products and scans
    Probe(
        "prod", fnp.prod, u(2, 3), reference=np.prod, kinks="none: a polynomial (exact at zeros)"
    ),
    Probe("prod", lambda x: fnp.prod(x, axis=1), u(3, 4), reference=lambda x: np.prod(x, axis=1)),
    Probe(
        "prod",
        lambda x: fnp.prod(x, axis=(0, 2), keepdims=True),
        u(2, 3, 2),
        reference=lambda x: np.prod(x, axis=(0, 2), keepdims=True),
    ),
    Probe(
        "prod",
        lambda x: fnp.prod(x, axis=0, initial=2.0),
        u(3, 2),
        reference=lambda x: np.prod(x, axis=0, initial=2.0),
    ),
    Probe(
        "prod",
        lambda x: fnp.prod(x, axis=-1),
        f32(2, 3),
        reference=lambda x: np.prod(x, axis=-1),
        rtol=1e-2,
        atol=1e-3,
        ref_rtol=1e-6,
        ref_atol=1e-7,
    ),
    Probe("cumsum", fnp.cumsum, u(2, 3), reference=np.cumsum),
    Probe(
        "cumsum",
        lambda x: fnp.cumsum(x, axis=0),
        u(3, 2),
        reference=lambda x: np.cumsum(x, axis=0),
    ),
    Probe(
        "cumsum",
        lambda x: fnp.cumsum(x, axis=-1, dtype=np.float32),
        u(2, 4),
        reference=lambda x: np.cumsum(x, axis=-1, dtype=np.float32),
        eps=0.25,  # linear: any step is exact, and a large one hides float32 rounding
        rtol=1e-2,
        atol=1e-3,
        ref_rtol=1e-6,
        ref_atol=1e-6,
    ),
    Probe(
        "cumprod",
        fnp.cumprod,
        u(2, 3),
        reference=np.cumprod,
        kinks="none: a polynomial (exact at zeros)",
    ),
    Probe(
        "cumprod",
        lambda x: fnp.cumprod(x, axis=1),
        u(2, 5),
        reference=lambda x: np.cumprod(x, axis=1),
    ),
    Probe(
        "cumprod",
        lambda x: fnp.cumprod(x, axis=0),
        u(4, 2, 2),
        reference=lambda x: np.cumprod(x, axis=0),
    ),
    # -- truth reductions
    Probe("any", fnp.any, some_zeros(2, 3), diff=(), reference=np.any),
    Probe(
        "any",
        lambda x: fnp.any(x, axis=1, keepdims=True),
        some_zeros(3, 2),
        diff=(),
        reference=lambda x: np.any(x, axis=1, keepdims=True),
    ),
    Probe("all", fnp.all, some_zeros(2, 3), diff=(), reference=np.all),
    Probe(
        "all",
        lambda x: fnp.all(x, axis=(0, 2)),
        some_zeros(2, 3, 2),
        diff=(),
        reference=lambda x: np.all(x, axis=(0, 2)),
    ),
    # -- sorting
    Probe("argsort", fnp.argsort, d(2, 4), diff=(), reference=np.argsort),
    Probe(
        "argsort",
        lambda x: fnp.argsort(x, axis=0),
        d(3, 2),
        diff=(),
        reference=lambda x: np.argsort(x, axis=0),
    ),
    Probe(
        "argsort",
        lambda x: fnp.argsort(x, axis=None),
        d(2, 3),
        diff=(),
        reference=lambda x: np.argsort(x, axis=None),
    ),
    Probe("sort", fnp.sort, d(2, 4), reference=np.sort, kinks=TIES_STABLE),
    Probe(
        "sort",
        lambda x: fnp.sort(x, axis=0),
        d(3, 2, 2),
        reference=lambda x: np.sort(x, axis=0),
        kinks=TIES_STABLE,
    ),
    Probe(
        "sort",
        lambda x: fnp.sort(x, axis=None),
        d(2, 3),
        reference=lambda x: np.sort(x, axis=None),
        kinks=TIES_STABLE,
    ),
    # -- order statistics
    Probe("median", fnp.median, d(5), reference=np.median, kinks=TIES_MEDIAN),
    Probe("median", fnp.median, d(2, 3), reference=np.median, kinks=TIES_MEDIAN),
    Probe(
        "median",
        lambda x: fnp.median(x, axis=1),
        d(3, 4),
        reference=lambda x: np.median(x, axis=1),
        kinks=TIES_MEDIAN,
    ),
    Probe(
        "median",
        lambda x: fnp.median(x, axis=(0, 2), keepdims=True),
        d(3, 2, 3),
        reference=lambda x: np.median(x, axis=(0, 2), keepdims=True),
        kinks=TIES_MEDIAN,
    ),
    Probe(
        "quantile",
        fnp.quantile,
        sorted_and_q((7,), 7),
        diff=(0, 1),
        reference=np.quantile,
        kinks=Q_KINK,
    ),
    Probe(
        "quantile",
        lambda a, q: fnp.quantile(a, q, axis=1),
        sorted_and_q((2, 5), 5, (3,)),
        diff=(0, 1),
        reference=lambda a, q: np.quantile(a, q, axis=1),
        kinks=Q_KINK,
    ),
    Probe(
        "quantile",
        lambda a, q: fnp.quantile(a, q, axis=(0, 2), keepdims=True),
        sorted_and_q((2, 3, 2), 4, (2,)),
        diff=(0, 1),
        reference=lambda a, q: np.quantile(a, q, axis=(0, 2), keepdims=True),
        kinks=Q_KINK,
    ),
    Probe(
        "quantile",
        lambda a: fnp.quantile(a, [0.1, 0.5, 1.0], axis=0),
        d(5, 2),
        reference=lambda a: np.quantile(a, [0.1, 0.5, 1.0], axis=0),
        kinks=TIES_MEDIAN,
    ),
    Probe(
        "quantile",
        lambda a: fnp.quantile(a, 0.3, axis=-1, method="lower"),
        d(2, 6),
        reference=lambda a: np.quantile(a, 0.3, axis=-1, method="lower"),
        kinks=TIES_MEDIAN,
    ),
    Probe(
        "quantile",
        lambda a: fnp.quantile(a, 0.3, method="higher"),
        d(6),
        reference=lambda a: np.quantile(a, 0.3, method="higher"),
        kinks=TIES_MEDIAN,
    ),
    Probe(
        "quantile",
        lambda a: fnp.quantile(a, [0.3, 0.5, 0.7], method="nearest"),
        d(6),
        reference=lambda a: np.quantile(a, [0.3, 0.5, 0.7], method="nearest"),
        kinks=TIES_MEDIAN,
    ),
    Probe(
        "quantile",
        lambda a: fnp.quantile(a, [0.3, 0.6], method="midpoint"),
        d(6),
        reference=lambda a: np.quantile(a, [0.3, 0.6], method="midpoint"),
        kinks=TIES_MEDIAN,
    ),
    Probe(
        "percentile",
        lambda a: fnp.percentile(a, 30.0),
        d(6),
        reference=lambda a: np.percentile(a, 30.0),
        kinks=TIES_MEDIAN,
    ),
    Probe(
        "percentile",
        lambda a: fnp.percentile(a, [10.0, 95.0], axis=1, keepdims=True),
        d(2, 5),
        reference=lambda a: np.percentile(a, [10.0, 95.0], axis=1, keepdims=True),
        kinks=TIES_MEDIAN,
    ),
    Probe(
        "percentile",
        lambda a, q: fnp.percentile(a, 100 * q, axis=0),
        sorted_and_q((4, 2), 4),
        diff=(0, 1),
        reference=lambda a, q: np.percentile(a, 100 * q, axis=0),
        kinks=Q_KINK,
    ),
    # -- weighted averages
    Probe("average", fnp.average, u(2, 3), reference=np.average),
    Probe(
        "average",
        lambda a, w: fnp.average(a, axis=1, weights=w),
        uniforms((-1, 1, (2, 3)), (0.5, 2, (3,))),
        diff=(0, 1),
        reference=lambda a, w: np.average(a, axis=1, weights=w),
    ),
    Probe(
        "average",
        lambda a, w: fnp.average(a, weights=w, returned=True),
        uniforms((-1, 1, (2, 3)), (0.5, 2, (2, 3))),
        diff=(0, 1),
        reference=lambda a, w: np.average(a, weights=w, returned=True),
    ),
    Probe(
        "average",
        lambda a, w: fnp.average(a, axis=(0, 2), weights=w, keepdims=True),
        uniforms((-1, 1, (2, 3, 2)), (0.5, 2, (2, 2))),
        diff=(0, 1),
        reference=lambda a, w: np.average(a, axis=(0, 2), weights=w, keepdims=True),
    ),
    Probe(
        "average",
        lambda a: fnp.average(a, axis=0, returned=True),
        u(3, 2),
        reference=lambda a: np.average(a, axis=0, returned=True),
    ),
    # -- logsumexp (scipy.special.logsumexp; NumPy has none): references are formulas
    Probe("logsumexp", fnp.logsumexp, u(2, 3), reference=_logsumexp),
    Probe(
        "logsumexp",
        lambda a: fnp.logsumexp(a, axis=1, keepdims=True),
        uniform(-50.0, 800.0, 2, 3),
        reference=lambda a: _logsumexp(a, axis=1, keepdims=True),
        rtol=1e-4,
        atol=1e-4,
    ),
    Probe(
        "logsumexp",
        lambda a, b: fnp.logsumexp(a, axis=0, b=b),
        uniforms((-1, 1, (3, 2)), (0.5, 2, (3, 2))),
        diff=(0, 1),
        reference=lambda a, b: _logsumexp(a, axis=0, b=b),
    ),
    # -- closeness and equality: booleans, no derivative
    Probe("isclose", fnp.isclose, close_pairs(2, 3), diff=(), reference=np.isclose),
    Probe(
        "isclose",
        lambda a, b: fnp.isclose(a, b, rtol=0.0, atol=0.5, equal_nan=True),
        close_pairs(4),
        diff=(),
        reference=lambda a, b: np.isclose(a, b, rtol=0.0, atol=0.5, equal_nan=True),
    ),
    Probe(
        "allclose",
        fnp.allclose,
        close_pairs(3),
        diff=(),
        reference=np.allclose,
        vmap=False,
        jit=False,
        why=NO_CONCRETE,
    ),
    Probe(
        "allclose",
        lambda a: fnp.allclose(a, a * (1 + 1e-9)),
        u(2, 2),
        diff=(),
        reference=lambda a: np.allclose(a, a * (1 + 1e-9)),
        vmap=False,
        jit=False,
        why=NO_CONCRETE,
    ),
    Probe(
        "array_equal",
        fnp.array_equal,
        close_pairs(3),
        diff=(),
        reference=np.array_equal,
        vmap=False,
        jit=False,
        why=NO_CONCRETE,
    ),
    Probe(
        "array_equal",
        lambda a: fnp.array_equal(a, a + 0.0),
        u(2, 2),
        diff=(),
        reference=lambda a: np.array_equal(a, a + 0.0),
        vmap=False,
        jit=False,
        why=NO_CONCRETE,
    ),
    # -- NaN-ignoring reductions
    Probe(
        "nansum",
        lambda x: fnp.nansum(x, axis=1),
        with_nans(3, 4),
        reference=lambda x: np.nansum(x, axis=1),
        kinks="the derivative with respect to a NaN element is 0",
    ),
    Probe("nansum", fnp.nansum, u(2, 3), reference=np.nansum),
    Probe(
        "nanmean",
        lambda x: fnp.nanmean(x, axis=0, keepdims=True),
        with_nans(4, 3),
        reference=lambda x: np.nanmean(x, axis=0, keepdims=True),
        kinks="the derivative with respect to a NaN element is 0",
    ),
    Probe("nanmean", fnp.nanmean, u(2, 3), reference=np.nanmean),
]
