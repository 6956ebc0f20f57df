"""Primitive-table rows of the solves and factorizations (fungrad/primitives/factorizations.py).

Operands are built from a drawn seed so that every case is generic and well away from
where a derivative fails to exist: solves of diagonally dominant matrices, symmetric
matrices with eigenvalues at least 0.5 apart, matrices with singular values at least
0.5 apart and 0.5 from zero. The vmap tests mix elements of cases into new operands
(not symmetric, possibly singular): there the primitives' NaN for a failed
factorization is what both the loop and the batch give.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from primitive_table import Case, Row

_lead_shapes = st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple)


def _rng(draw) -> np.random.Generator:
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1)))


def _orthogonal(rng: np.random.Generator, lead: tuple[int, ...], n: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((*lead, n, n)))
    return q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]


def _spread(rng: np.random.Generator, lead: tuple[int, ...], k: int, low: float) -> np.ndarray:
    """Sorted values from ``low`` with gaps of at least 0.5, in random order."""
    gaps = 0.5 + rng.uniform(0.0, 1.0, (*lead, k))
    return rng.permuted(low + np.cumsum(gaps, axis=-1) - gaps[..., :1], axis=-1)


def _dominant(rng: np.random.Generator, lead: tuple[int, ...], n: int) -> np.ndarray:
    """A well-conditioned matrix: uniform entries, a dominant diagonal of either sign."""
    a = rng.uniform(-1.0, 1.0, (*lead, n, n))
    diag = (n + 0.5 + rng.uniform(0, 1, (*lead, n))) * rng.choice([-1.0, 1.0], (*lead, n))
    return a + diag[..., None] * np.eye(n)


@st.composite
def _square_cases(draw, dtype):
    rng = _rng(draw)
    a = _dominant(rng, draw(_lead_shapes), draw(st.integers(1, 3)))
    return Case((a.astype(dtype),), {})


@st.composite
def _solve_cases(draw, dtype, triangular: bool = False):
    rng = _rng(draw)
    lead = draw(_lead_shapes)
    n, k = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    # The leading dimensions broadcast: either operand may have size 1 where the other
    # has more.
    a_lead = tuple(d if draw(st.booleans()) else 1 for d in lead)
    b_lead = tuple(d if draw(st.booleans()) else 1 for d in lead)
    a = _dominant(rng, a_lead, n).astype(dtype)
    b = rng.uniform(-2.0, 2.0, (*b_lead, n, k)).astype(dtype)
    params = {}
    if triangular:
        params = {"lower": draw(st.booleans()), "transpose_a": draw(st.booleans())}
    return Case((a, b), params)


@st.composite
def _spd_cases(draw, dtype):
    rng = _rng(draw)
    lead, n = draw(_lead_shapes), draw(st.integers(1, 3))
    q = _orthogonal(rng, lead, n)
    w = _spread(rng, lead, n, low=0.5)
    a = (q * w[..., None, :]) @ np.swapaxes(q, -1, -2)
    a = (a + np.swapaxes(a, -1, -2)) / 2  # exactly symmetric
    return Case((a.astype(dtype),), {})


@st.composite
def _eigh_cases(draw, dtype):
    rng = _rng(draw)
    lead, n = draw(_lead_shapes), draw(st.integers(1, 3))
    q = _orthogonal(rng, lead, n)
    w = _spread(rng, lead, n, low=-1.5)
    a = (q * w[..., None, :]) @ np.swapaxes(q, -1, -2)
    a = (a + np.swapaxes(a, -1, -2)) / 2
    return Case((a.astype(dtype),), {}, result=draw(st.integers(0, 1)))


def _rectangular(rng, lead, m, n) -> np.ndarray:
    k = min(m, n)
    u = _orthogonal(rng, lead, m)[..., :, :k]
    v = _orthogonal(rng, lead, n)[..., :, :k]
    s = _spread(rng, lead, k, low=0.5)
    return (u * s[..., None, :]) @ np.swapaxes(v, -1, -2)


@st.composite
def _svd_cases(draw, dtype):
    rng = _rng(draw)
    lead, m, n = draw(_lead_shapes), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    full = m == n and draw(st.booleans())  # non-square full_matrices has no derivative
    a = _rectangular(rng, lead, m, n).astype(dtype)
    return Case((a,), {"full_matrices": full}, result=draw(st.integers(0, 2)))


@st.composite
def _svdvals_cases(draw, dtype):
    rng = _rng(draw)
    lead, m, n = draw(_lead_shapes), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return Case((_rectangular(rng, lead, m, n).astype(dtype),), {})


@st.composite
def _qr_cases(draw, dtype):
    rng = _rng(draw)
    lead, n = draw(_lead_shapes), draw(st.integers(1, 3))
    m = n + draw(st.integers(0, 2))  # at least as many rows as columns: differentiable
    complete = m == n and draw(st.booleans())
    a = _rectangular(rng, lead, m, n).astype(dtype)
    return Case((a,), {"complete": complete}, result=draw(st.integers(0, 1)))


@st.composite
def _slogdet_cases(draw, dtype):
    case = draw(_square_cases(dtype))
    return Case(case.args, {}, result=draw(st.integers(0, 1)))


def _sym(a: np.ndarray) -> np.ndarray:
    return (a + np.swapaxes(a, -1, -2)) * a.dtype.type(0.5)


def _triangular_meaning(case: Case) -> np.ndarray:
    a, b = case.args
    t = np.tril(a) if case.params["lower"] else np.triu(a)
    if case.params["transpose_a"]:
        t = np.swapaxes(t, -1, -2)
    return np.linalg.solve(t, b)


def _recast(case: Case, dtype: np.dtype) -> Case:
    # Keeps ``case.result`` (the table's default recast drops it).
    return Case(tuple(a.astype(dtype) for a in case.args), case.params, case.note, case.result)


def _result(fn):
    return lambda case: fn(*case.args, **case.params)[case.result]


ROWS = [
    Row(
        "solve",
        _solve_cases,
        lambda case: np.linalg.solve(*case.args),
        diff=(0, 1),
        linear=((1,),),
        several_operands=True,
    ),
    Row(
        "triangular_solve",
        lambda dtype: _solve_cases(dtype, triangular=True),
        _triangular_meaning,
        diff=(0, 1),
        linear=((1,),),
        several_operands=True,
    ),
    Row("cholesky", _spd_cases, lambda case: np.linalg.cholesky(_sym(case.args[0])), diff=(0,)),
    Row(
        "eigh",
        _eigh_cases,
        _result(lambda a: np.linalg.eigh(_sym(a))),
        recast=_recast,
        diff=(0,),
    ),
    Row("eigvalsh", _eigh_cases, lambda case: np.linalg.eigvalsh(_sym(case.args[0])), diff=(0,)),
    Row(
        "svd",
        _svd_cases,
        _result(lambda a, full_matrices: np.linalg.svd(a, full_matrices=full_matrices)),
        recast=_recast,
        diff=(0,),
    ),
    Row(
        "svdvals",
        _svdvals_cases,
        lambda case: np.linalg.svd(case.args[0], compute_uv=False),
        diff=(0,),
    ),
    Row(
        "qr",
        _qr_cases,
        _result(lambda a, complete: np.linalg.qr(a, mode="complete" if complete else "reduced")),
        recast=_recast,
        diff=(0,),
    ),
    Row("det", _square_cases, lambda case: np.linalg.det(case.args[0]), diff=(0,)),
    Row("slogdet", _slogdet_cases, _result(np.linalg.slogdet), diff=(0,), recast=_recast),
]
