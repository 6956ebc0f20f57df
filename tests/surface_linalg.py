# ruff: noqa: E501  (a table of probes)
"""Probes of fungrad.numpy.linalg (see tests/surface.py).

Operands are well conditioned: symmetric positive-definite matrices from
``surface.spd_matrix``, diagonally dominant matrices for the general solves, and, where
derivatives divide by gaps between eigenvalues or singular values (``eigh``, ``svd``,
the matrix 2-norm), matrices built with values at least 0.5 apart and 0.5 from zero.
Functions with several results are probed as tuples of their results.
"""

from __future__ import annotations

import numpy as np
from surface import Probe, spd_matrix, uniform

import fungrad.numpy as fnp

LA = np.linalg
EIG_KINK = "repeated eigenvalues: eigenvector derivatives are inf/NaN (with a divide-by-zero warning); eigenvalue first derivatives stay finite"
SVD_KINK = "repeated or zero singular values: vector derivatives are inf/NaN; full_matrices=True of a non-square matrix raises"
SINGULAR = "singular matrices: the value and derivatives are NaN (NumPy raises LinAlgError)"
FULL_RANK = "rank-deficient matrices: meaningless values (huge, inf or NaN) (fungrad assumes full rank; NumPy truncates small singular values)"
NORM_KINK = (
    "ties of the extreme singular value share the derivative; a zero singular value is a kink"
)


def _orthogonal(rng, batch, n):
    q, r = np.linalg.qr(rng.standard_normal((*batch, n, n)))
    return q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]


def _spread(rng, batch, k, low):
    gaps = 0.5 + rng.uniform(0.0, 1.0, (*batch, k))
    return rng.permuted(low + np.cumsum(gaps, axis=-1) - gaps[..., :1], axis=-1)


def symmetric(n, *batch):
    """Symmetric, eigenvalues at least 0.5 apart (some negative)."""

    def draw(rng):
        q = _orthogonal(rng, batch, n)
        a = (q * _spread(rng, batch, n, -1.0)[..., None, :]) @ np.swapaxes(q, -1, -2)
        return ((a + np.swapaxes(a, -1, -2)) / 2,)

    return draw


def separated(m, n, *batch):
    """Singular values at least 0.5 apart and from zero."""

    def draw(rng):
        k = min(m, n)
        u = _orthogonal(rng, batch, m)[..., :k]
        v = _orthogonal(rng, batch, n)[..., :k]
        return ((u * _spread(rng, batch, k, 0.5)[..., None, :]) @ np.swapaxes(v, -1, -2),)

    return draw


def spd(n, *batch):
    return lambda rng: (spd_matrix(rng, n, tuple(batch)),)


def general(n, *batch):
    """Diagonally dominant (well conditioned), diagonal of either sign."""

    def draw(rng):
        a = rng.uniform(-1.0, 1.0, (*batch, n, n))
        diag = (n + 0.5 + rng.uniform(0, 1, (*batch, n))) * rng.choice([-1.0, 1.0], (*batch, n))
        return (a + diag[..., None] * np.eye(n),)

    return draw


def both(a_draw, *b_shape):
    return lambda rng: (*a_draw(rng), rng.uniform(-1.0, 1.0, b_shape))


def spd_and(n, *b_shape, batch=()):
    return lambda rng: (spd_matrix(rng, n, tuple(batch)), rng.uniform(-1.0, 1.0, b_shape))


PROBES = [
    # solve: b a vector only when b.ndim == 1 (NumPy 2)
    Probe(
        "linalg.solve",
        fnp.linalg.solve,
        both(general(3), 3),
        diff=(0, 1),
        reference=LA.solve,
        kinks=SINGULAR,
    ),
    Probe(
        "linalg.solve",
        fnp.linalg.solve,
        both(general(3), 3, 2),
        diff=(0, 1),
        reference=LA.solve,
        kinks=SINGULAR,
    ),
    Probe(
        "linalg.solve",
        fnp.linalg.solve,
        both(general(3, 2), 2, 3, 2),
        diff=(0, 1),
        reference=LA.solve,
        kinks=SINGULAR,
    ),
    Probe(
        "linalg.solve",
        fnp.linalg.solve,
        both(general(3, 2), 3),
        diff=(0, 1),
        reference=LA.solve,
        kinks=SINGULAR,
    ),
    Probe(
        "linalg.solve",
        fnp.linalg.solve,
        spd_and(2, 4, 1, 2, 3, batch=(1,)),
        diff=(0, 1),
        reference=LA.solve,
        kinks=SINGULAR,
    ),
    Probe("linalg.inv", fnp.linalg.inv, general(3), reference=LA.inv, kinks=SINGULAR),
    Probe("linalg.inv", fnp.linalg.inv, spd(2, 3), reference=LA.inv, kinks=SINGULAR),
    Probe(
        "linalg.det",
        fnp.linalg.det,
        general(3),
        reference=LA.det,
        kinks="singular matrices: det is 0, its derivative NaN",
    ),
    Probe(
        "linalg.det",
        fnp.linalg.det,
        general(2, 2, 2),
        reference=LA.det,
        kinks="singular matrices: det is 0, its derivative NaN",
    ),
    Probe(
        "linalg.slogdet",
        lambda a: tuple(fnp.linalg.slogdet(a)),
        general(3),
        reference=lambda a: tuple(LA.slogdet(a)),
        kinks="singular matrices: logabsdet is -inf, its derivative NaN; sign has derivative 0",
    ),
    Probe(
        "linalg.slogdet",
        lambda a: tuple(fnp.linalg.slogdet(a)),
        general(2, 3),
        reference=lambda a: tuple(LA.slogdet(a)),
        kinks="singular matrices: logabsdet is -inf, its derivative NaN; sign has derivative 0",
    ),
    Probe(
        "linalg.matrix_power",
        lambda a: fnp.linalg.matrix_power(a, 3),
        uniform(-1.0, 1.0, 3, 3),
        reference=lambda a: LA.matrix_power(a, 3),
    ),
    Probe(
        "linalg.matrix_power",
        lambda a: fnp.linalg.matrix_power(a, -2),
        general(2, 2),
        reference=lambda a: LA.matrix_power(a, -2),
        kinks=SINGULAR,
    ),
    Probe(
        "linalg.matrix_power",
        lambda a: fnp.linalg.matrix_power(a, 0),
        uniform(-1.0, 1.0, 2, 2),
        diff=(),
        reference=lambda a: LA.matrix_power(a, 0),
    ),
    Probe(
        "linalg.multi_dot",
        lambda x, y, z: fnp.linalg.multi_dot([x, y, z]),
        lambda rng: (
            rng.uniform(-1, 1, 4),
            rng.uniform(-1, 1, (4, 2)),
            rng.uniform(-1, 1, (2, 3)),
        ),
        diff=(0, 1, 2),
        reference=lambda x, y, z: LA.multi_dot([x, y, z]),
        vmap=True,
    ),
    Probe(
        "linalg.multi_dot",
        lambda w, x, y, z: fnp.linalg.multi_dot([w, x, y, z]),
        lambda rng: (
            rng.uniform(-1, 1, (3, 5)),
            rng.uniform(-1, 1, (5, 1)),
            rng.uniform(-1, 1, (1, 4)),
            rng.uniform(-1, 1, 4),
        ),
        diff=(0, 1, 2, 3),
        reference=lambda w, x, y, z: LA.multi_dot([w, x, y, z]),
    ),
    # factorizations
    Probe(
        "linalg.cholesky",
        fnp.linalg.cholesky,
        spd(3),
        reference=LA.cholesky,
        kinks="not positive definite: NaN (NumPy raises LinAlgError)",
    ),
    Probe(
        "linalg.cholesky",
        lambda a: fnp.linalg.cholesky(a, upper=True),
        spd(3, 2),
        reference=lambda a: LA.cholesky(a, upper=True),
        kinks="not positive definite: NaN (NumPy raises LinAlgError)",
    ),
    Probe(
        "linalg.eigh",
        lambda a: tuple(fnp.linalg.eigh(a)),
        symmetric(3),
        reference=lambda a: tuple(LA.eigh(a)),
        kinks=EIG_KINK,
    ),
    Probe(
        "linalg.eigh",
        lambda a: tuple(fnp.linalg.eigh(a)),
        symmetric(2, 2),
        reference=lambda a: tuple(LA.eigh(a)),
        kinks=EIG_KINK,
    ),
    Probe(
        "linalg.eigvalsh", fnp.linalg.eigvalsh, symmetric(3), reference=LA.eigvalsh, kinks=EIG_KINK
    ),
    Probe(
        "linalg.eigvalsh",
        fnp.linalg.eigvalsh,
        symmetric(3, 2),
        reference=LA.eigvalsh,
        kinks=EIG_KINK,
    ),
    Probe(
        "linalg.svd",
        lambda a: tuple(fnp.linalg.svd(a)),
        separated(3, 3),
        reference=lambda a: tuple(LA.svd(a)),
        kinks=SVD_KINK,
    ),
    Probe(
        "linalg.svd",
        lambda a: tuple(fnp.linalg.svd(a, full_matrices=False)),
        separated(4, 2),
        reference=lambda a: tuple(LA.svd(a, full_matrices=False)),
        kinks=SVD_KINK,
    ),
    Probe(
        "linalg.svd",
        lambda a: tuple(fnp.linalg.svd(a, full_matrices=False)),
        separated(2, 3, 2),
        reference=lambda a: tuple(LA.svd(a, full_matrices=False)),
        kinks=SVD_KINK,
    ),
    Probe(
        "linalg.svd",
        lambda a: fnp.linalg.svd(a, compute_uv=False),
        separated(3, 2),
        reference=lambda a: LA.svd(a, compute_uv=False),
        kinks=SVD_KINK,
    ),
    Probe(
        "linalg.svdvals",
        fnp.linalg.svdvals,
        separated(2, 3, 2),
        reference=LA.svdvals,
        kinks=SVD_KINK,
    ),
    Probe(
        "linalg.qr",
        lambda a: tuple(fnp.linalg.qr(a)),
        separated(4, 2),
        reference=lambda a: tuple(LA.qr(a)),
        kinks="rank-deficient matrices; no derivative for fewer rows than columns, or mode='complete' with more (raises)",
    ),
    Probe(
        "linalg.qr",
        lambda a: tuple(fnp.linalg.qr(a, mode="complete")),
        separated(3, 3, 2),
        reference=lambda a: tuple(LA.qr(a, mode="complete")),
        kinks="rank-deficient matrices",
    ),
    Probe(
        "linalg.qr",
        lambda a: fnp.linalg.qr(a, mode="r"),
        separated(3, 2),
        reference=lambda a: LA.qr(a, mode="r"),
        kinks="rank-deficient matrices",
    ),
    Probe("linalg.pinv", fnp.linalg.pinv, separated(4, 2), reference=LA.pinv, kinks=FULL_RANK),
    Probe("linalg.pinv", fnp.linalg.pinv, separated(2, 3, 2), reference=LA.pinv, kinks=FULL_RANK),
    Probe(
        "linalg.lstsq",
        lambda a, b: _lstsq_float(fnp.linalg.lstsq(a, b)),
        both(separated(4, 2), 4),
        diff=(0, 1),
        reference=lambda a, b: _lstsq_float(LA.lstsq(a, b)),
        kinks=FULL_RANK,
    ),
    Probe(
        "linalg.lstsq",
        lambda a, b: _lstsq_float(fnp.linalg.lstsq(a, b)),
        both(separated(4, 3), 4, 2),
        diff=(0, 1),
        reference=lambda a, b: _lstsq_float(LA.lstsq(a, b)),
        kinks=FULL_RANK,
    ),
    Probe(
        "linalg.lstsq",
        lambda a, b: fnp.linalg.lstsq(a, b)[0],
        both(separated(2, 3), 2),
        diff=(0, 1),
        reference=lambda a, b: LA.lstsq(a, b)[0],
        kinks=FULL_RANK,
    ),
    Probe(
        "linalg.lstsq",
        lambda a, b: fnp.linalg.lstsq(a, b)[2],
        both(separated(4, 2), 4),
        diff=(),
        reference=lambda a, b: LA.lstsq(a, b)[2],
    ),
    # norm: vector and matrix orders, axes, keepdims
    Probe(
        "linalg.norm",
        fnp.linalg.norm,
        uniform(0.5, 1.0, 4),
        reference=LA.norm,
        kinks="at 0 the Euclidean norm has no derivative",
    ),
    Probe(
        "linalg.norm",
        lambda x: fnp.linalg.norm(x, 3, axis=1, keepdims=True),
        uniform(0.5, 1.0, 2, 3),
        reference=lambda x: LA.norm(x, 3, axis=1, keepdims=True),
    ),
    Probe(
        "linalg.norm",
        lambda x: fnp.linalg.norm(x, "fro", axis=(0, 2)),
        uniform(-1.0, 1.0, 2, 3, 2),
        reference=lambda x: LA.norm(x, "fro", axis=(0, 2)),
    ),
    Probe(
        "linalg.norm",
        lambda x: fnp.linalg.norm(x, 2),
        separated(3, 2),
        reference=lambda x: LA.norm(x, 2),
        kinks=NORM_KINK,
    ),
    Probe(
        "linalg.norm",
        lambda x: fnp.linalg.norm(x, -2),
        separated(3, 3),
        reference=lambda x: LA.norm(x, -2),
        kinks=NORM_KINK,
    ),
    Probe(
        "linalg.norm",
        lambda x: fnp.linalg.norm(x, "nuc"),
        separated(2, 3),
        reference=lambda x: LA.norm(x, "nuc"),
        kinks=NORM_KINK,
    ),
    Probe(
        "linalg.norm",
        lambda x: fnp.linalg.norm(x, 2, axis=(2, 0), keepdims=True),
        lambda rng: (np.moveaxis(separated(3, 2, 2)(rng)[0], (1, 2), (2, 0)),),
        reference=lambda x: LA.norm(x, 2, axis=(2, 0), keepdims=True),
        kinks=NORM_KINK,
    ),
    Probe(
        "linalg.norm",
        lambda x: fnp.linalg.norm(x, "nuc", axis=(-2, -1)),
        separated(3, 3, 2),
        reference=lambda x: LA.norm(x, "nuc", axis=(-2, -1)),
        kinks=NORM_KINK,
    ),
]


def _lstsq_float(result):
    """lstsq's floating results (x, residuals, s); its rank has a probe of its own."""
    x, residuals, _, s = result
    return x, residuals, s
