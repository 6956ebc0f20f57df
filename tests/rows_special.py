"""Primitive-table rows of the special functions (fungrad/primitives/special.py).

References are written independently of the implementations: Python's ``math``
functions, bisection on ``math.erf``, and for digamma/polygamma direct sums with a
different shift and fewer Euler-Maclaurin terms. Their accuracy against tabulated
values is tested in tests/test_scipy.py.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from primitive_table import F64, Row, _floats, elementwise, numpy_meaning, real, unary_row


def _like(fn, dtype_of):
    """``fn`` of float64 values, returned in the floating dtype of ``dtype_of``'s operand."""

    def ref(*args):
        dtype = np.result_type(*[args[i] for i in dtype_of])
        dtype = dtype if dtype.kind == "f" else F64
        with np.errstate(all="ignore"):
            out = fn(*[np.asarray(a, np.float64) for a in args])
        return np.asarray(out, np.float64).astype(dtype)

    return ref


def _vectorized(fn):
    return _like(np.vectorize(fn, otypes=[np.float64]), (0,))


def _bisect(f, y, lo=-40.0, hi=40.0):
    """x with f(x) = y for an increasing f, by 200 bisection steps."""
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if f(mid) < y:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _digamma_reference(x):
    shift = 0.0
    while x < 40.0:
        shift -= 1.0 / x
        x += 1.0
    return shift + math.log(x) - 0.5 / x - 1 / (12 * x**2) + 1 / (120 * x**4) - 1 / (252 * x**6)


def _polygamma_reference(n, x):
    if n == 0:
        return _digamma_reference(x)
    s = n + 1
    total = 0.0
    while x < 60.0:
        total += x**-s
        x += 1.0
    tail = x ** (1 - s) / (s - 1) + 0.5 * x**-s + s * x ** (-s - 1) / 12
    tail -= s * (s + 1) * (s + 2) * x ** (-s - 3) / 720
    return (-1) ** (n + 1) * math.factorial(n) * (total + tail)


def _with_zeros(lo, hi):
    """Values in [lo, hi], often exactly zero (xlogy's special point)."""
    return lambda dtype: (dtype, st.one_of(st.just(0.0), _floats(dtype, lo, hi)))


ROWS = [
    unary_row("erf", _vectorized(math.erf), real(-3, 3)),
    unary_row("erfc", _vectorized(math.erfc), real(-3, 3)),
    unary_row("erfinv", _vectorized(lambda y: _bisect(math.erf, y, -6.0, 6.0)), real(-0.9, 0.9)),
    unary_row(
        "ndtri",
        _vectorized(lambda p: _bisect(lambda x: 0.5 * math.erfc(-x / math.sqrt(2)), p)),
        real(0.05, 0.95),
    ),
    unary_row(
        "log_ndtr",
        _vectorized(lambda x: math.log(0.5 * math.erfc(-x / math.sqrt(2)))),
        real(-20, 5),
    ),
    unary_row("lgamma", _vectorized(math.lgamma), real(0.2, 8)),
    unary_row("gamma", _vectorized(math.gamma), real(0.2, 6)),
    unary_row("digamma", _vectorized(_digamma_reference), real(0.3, 8)),
    Row(
        "polygamma",
        elementwise(real(0.5, 6), params=st.fixed_dictionaries({"n": st.integers(0, 3)})),
        numpy_meaning(
            lambda x, n: _like(np.vectorize(lambda v: _polygamma_reference(n, v)), (0,))(x)
        ),
        diff=(0,),
        elementwise=True,
    ),
    Row(
        "xlogy",
        elementwise(_with_zeros(-3, 3), real(0.1, 5)),
        numpy_meaning(_like(lambda x, y: np.where(x == 0, 0.0, x * np.log(y)), (0, 1))),
        diff=(0, 1),
        promotes=True,
        elementwise=True,
        several_operands=True,
    ),
    Row(
        "xlog1py",
        elementwise(_with_zeros(-3, 3), real(-0.9, 3)),
        numpy_meaning(_like(lambda x, y: np.where(x == 0, 0.0, x * np.log1p(y)), (0, 1))),
        diff=(0, 1),
        promotes=True,
        elementwise=True,
        several_operands=True,
    ),
]
