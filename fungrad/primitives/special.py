"""Special functions NumPy lacks (``erf``, ``lgamma``, ``digamma``, ...), as elementwise
primitives with NumPy implementations and jvp rules over fungrad primitives.

Every implementation computes in float64 and returns the input's floating dtype
(float64 for integers). Accuracy, float64, checked against tabulated values
(tests/test_scipy.py):

- ``erf``, ``erfc``, ``lgamma``, ``gamma``: Python's ``math`` functions, correctly
  rounded or within an ulp or two, element by element.
- ``digamma``: upward recurrence to ``x >= 10`` and the asymptotic series (reflection
  for ``x < 0``): 1e-13 relative, except near its zero at 1.4616..., where the error
  is 1e-16 absolute.
- ``polygamma(n, x)``, ``n >= 1``: ``(-1)**(n+1) n! zeta(n+1, x)``, the Hurwitz zeta by
  the recurrence ``zeta(s, x) = x**-s + zeta(s, x+1)`` up to ``x >= 15 + n`` and
  Euler-Maclaurin there: 1e-13 relative for ``0 < x <= 1e3``, ``n <= 20``.
- ``erfinv``, ``ndtri``: Winitzki's approximation, then three Halley steps on
  ``erf``/``erfc``: 1e-14 relative on ``|y| < 1`` (``1e-300 <= p <= 1 - 1e-16``).
- ``log_ndtr``: ``log(erfc)`` down to ``x = -37``, an asymptotic series below:
  1e-13 relative for any ``x``.

Derivatives are jvp rules over primitives, so every order works: erf' = 2/sqrt(pi)
exp(-x**2), lgamma' = digamma, digamma' = polygamma(1, .), polygamma(n)' =
polygamma(n+1), erfinv' = sqrt(pi)/2 exp(erfinv**2), ndtri' = sqrt(2 pi)
exp(ndtri**2/2), log_ndtr' = exp(-x**2/2 - log_ndtr) / sqrt(2 pi), and ``xlogy``,
``xlog1py`` (``x log y`` and ``x log1p y``, 0 where x == 0) differentiate as the
products they are: ``log y`` in x, ``x / y`` in y, at x == 0 too.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fungrad.core import ShapedArray, new_primitive, ufunc_result_dtype
from fungrad.primitives.builders import defjvp, defvectorized
from fungrad.primitives.elementwise import (
    add,
    div,
    exp,
    log,
    log1p,
    mul,
    nary_elementwise,
    neg,
    sub,
    unary_elementwise,
)

_SQRT_PI = math.sqrt(math.pi)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _float_dtype(x: Any) -> np.dtype:
    dtype = np.asarray(x).dtype
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def _elementwise(fn):
    """``fn`` of float64 arrays, applied to ``x`` and returned in ``x``'s floating dtype."""

    def impl(x):
        dtype = _float_dtype(x)
        with np.errstate(all="ignore"):
            out = fn(np.asarray(x, np.float64))
        return np.asarray(out, np.float64).astype(dtype, copy=False)[()]  # NumPy's 0-d: a scalar

    impl.__name__ = fn.__name__
    return impl


def _math_function(fn, at_error):
    """A ``math`` function applied element by element; ``at_error(v)`` where it raises."""

    def one(v: float) -> float:
        try:
            return fn(v)
        except (ValueError, OverflowError):
            return at_error(v)

    vectorized = np.vectorize(one, otypes=[np.float64])

    def apply(x):
        return vectorized(x) if x.size else np.empty(x.shape)

    apply.__name__ = fn.__name__
    return apply


def _gamma_at_error(v: float) -> float:
    if v == 0:
        return math.copysign(math.inf, v)
    if v > 0:
        return math.inf  # overflow
    if v == math.floor(v):
        return math.nan  # a pole at a negative integer
    return 0.0  # underflow far to the left


# ---------------------------------------------------------------------------------------
# erf, erfc

erf_p = unary_elementwise("erf", _elementwise(_math_function(math.erf, lambda v: math.nan)))


def erf(x: Any) -> Any:
    return erf_p.bind(x)


def _gaussian(x: Any) -> Any:
    """``2/sqrt(pi) exp(-x**2)``, erf's derivative."""
    return mul(2.0 / _SQRT_PI, exp(neg(mul(x, x))))


defjvp(erf_p, lambda t, ans, x: mul(t, _gaussian(x)))

erfc_p = unary_elementwise("erfc", _elementwise(_math_function(math.erfc, lambda v: math.nan)))


def erfc(x: Any) -> Any:
    return erfc_p.bind(x)


defjvp(erfc_p, lambda t, ans, x: neg(mul(t, _gaussian(x))))

# ---------------------------------------------------------------------------------------
# erfinv and ndtri: the inverse of erf, by Halley's method on erf/erfc

_WINITZKI_A = 0.147


def _inverse_erf(y: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``x >= 0`` with ``erf(x) = y``, given ``y >= 0`` and ``q = 1 - y`` (each exact)."""
    # Winitzki's approximation (relative error below 2e-3), from log(1 - y**2) = log(q (2 - q)).
    log_term = np.log(q * (2.0 - q))
    c = 2.0 / (math.pi * _WINITZKI_A) + 0.5 * log_term
    x = np.sqrt(np.sqrt(c * c - log_term / _WINITZKI_A) - c)
    erf_v = np.vectorize(math.erf, otypes=[np.float64])
    erfc_v = np.vectorize(math.erfc, otypes=[np.float64])
    near_zero = y < 0.5  # there erf(x) - y keeps y's digits; in the tail q - erfc(x) does
    for _ in range(3):
        residual = np.where(near_zero, erf_v(x) - y, q - erfc_v(x))
        # residual / erf'(x), with exp(x**2) split in two halves so it cannot overflow
        half = np.exp(0.5 * x * x)
        step = residual * half * (0.5 * _SQRT_PI) * half
        x = x - step / (1.0 + x * step)
    return np.where(y == 0, 0.0, x)


def _erfinv(y: np.ndarray) -> np.ndarray:
    a = np.abs(y)
    x = _inverse_erf(np.minimum(a, 1.0), np.maximum(1.0 - a, 0.0))
    x = np.where(a == 1, np.inf, np.where(a > 1, np.nan, x))
    return np.copysign(x, y)


erfinv_p = unary_elementwise("erfinv", _elementwise(_erfinv))


def erfinv(x: Any) -> Any:
    return erfinv_p.bind(x)


defjvp(erfinv_p, lambda t, ans, x: mul(t, mul(0.5 * _SQRT_PI, exp(mul(ans, ans)))))


def _ndtri(p: np.ndarray) -> np.ndarray:
    # ndtri(p) = -sqrt(2) erfcinv(2p): for p < 1/2, erfc(x) = 2p with y = 1 - 2p; the
    # upper half by symmetry, from 1 - p (exact for p >= 1/2).
    lower = p < 0.5
    q = np.where(lower, 2.0 * p, 2.0 * (1.0 - p))
    q = np.clip(q, 0.0, 1.0)
    x = _inverse_erf(1.0 - q, q) * math.sqrt(2.0)
    x = np.where(lower, -x, x)
    x = np.where(p == 0, -np.inf, np.where(p == 1, np.inf, x))
    return np.where((p < 0) | (p > 1) | np.isnan(p), np.nan, x)


ndtri_p = unary_elementwise("ndtri", _elementwise(_ndtri))


def ndtri(x: Any) -> Any:
    return ndtri_p.bind(x)


defjvp(ndtri_p, lambda t, ans, x: mul(t, mul(_SQRT_2PI, exp(mul(0.5, mul(ans, ans))))))

# ---------------------------------------------------------------------------------------
# log_ndtr: the log of the standard normal CDF, accurate far into the left tail

_ERFC_LIMIT = -37.0  # below, erfc(-x/sqrt(2)) underflows: use the asymptotic series


def _log_ndtr(x: np.ndarray) -> np.ndarray:
    erfc_v = np.vectorize(math.erfc, otypes=[np.float64])
    tail = x < _ERFC_LIMIT
    middle = np.where(tail | (x > 0), -1.0, x)
    upper = np.where(x > 0, x, 1.0)
    out = np.where(
        x > 0,
        np.log1p(-0.5 * erfc_v(upper / math.sqrt(2.0))),
        np.log(0.5 * erfc_v(-middle / math.sqrt(2.0))),
    )
    # log Phi(x) = -x**2/2 - log(-x) - log sqrt(2 pi) + log(sum_k (-1)**k (2k-1)!! / x**2k)
    # (|x| > 37: the terms fall fast; twelve reach 1e-36).
    z = np.where(tail, x, -40.0)
    inv = 1.0 / (z * z)
    total = np.ones_like(z)
    term = np.ones_like(z)
    for k in range(1, 13):
        term = -term * (2 * k - 1) * inv
        total = total + term
    asymptotic = -0.5 * z * z - np.log(-z) - _LOG_SQRT_2PI + np.log(total)
    return np.where(tail, asymptotic, out)


log_ndtr_p = unary_elementwise("log_ndtr", _elementwise(_log_ndtr))


def log_ndtr(x: Any) -> Any:
    return log_ndtr_p.bind(x)


def _log_ndtr_partial(t, ans, x):
    # pdf(x) / Phi(x) = exp(-x**2/2 - log sqrt(2 pi) - log Phi(x)): finite for any x
    return mul(t, exp(sub(mul(-0.5, mul(x, x)), add(ans, _LOG_SQRT_2PI))))


defjvp(log_ndtr_p, _log_ndtr_partial)

# ---------------------------------------------------------------------------------------
# lgamma, gamma

lgamma_p = unary_elementwise(
    "lgamma", _elementwise(_math_function(math.lgamma, lambda v: math.inf))
)


def lgamma(x: Any) -> Any:
    """``log|Gamma(x)|`` (+inf at the poles 0, -1, -2, ...)."""
    return lgamma_p.bind(x)


defjvp(lgamma_p, lambda t, ans, x: mul(t, digamma(x)))

gamma_p = unary_elementwise("gamma", _elementwise(_math_function(math.gamma, _gamma_at_error)))


def gamma(x: Any) -> Any:
    return gamma_p.bind(x)


defjvp(gamma_p, lambda t, ans, x: mul(t, mul(ans, digamma(x))))

# ---------------------------------------------------------------------------------------
# digamma and polygamma

# B_2k for k = 1..12
_BERNOULLI = (
    1 / 6,
    -1 / 30,
    1 / 42,
    -1 / 30,
    5 / 66,
    -691 / 2730,
    7 / 6,
    -3617 / 510,
    43867 / 798,
    -174611 / 330,
    854513 / 138,
    -236364091 / 2730,
)


def _digamma_positive(x: np.ndarray) -> np.ndarray:
    """psi(x) for x > 0: psi(x) = psi(x + 1) - 1/x up to x >= 10, then the series."""
    shift = np.zeros_like(x)
    while True:
        small = x < 10.0
        if not small.any():
            break
        shift = shift - np.where(small, 1.0 / np.where(small, x, 1.0), 0.0)
        x = np.where(small, x + 1.0, x)
    inv2 = 1.0 / (x * x)
    series = np.zeros_like(x)
    for k in range(len(_BERNOULLI) - 1, -1, -1):  # sum B_2k / (2k x**2k), Horner in 1/x**2
        series = (series + _BERNOULLI[k] / (2 * (k + 1))) * inv2
    return shift + np.log(x) - 0.5 / x - series


def _digamma(x: np.ndarray) -> np.ndarray:
    negative = x <= 0
    xp = np.where(negative, 1.0 - x, x)
    out = _digamma_positive(np.where(np.isfinite(xp), xp, 1.0))
    # reflection: psi(x) = psi(1 - x) - pi / tan(pi x); poles at 0, -1, -2, ...
    reflected = out - math.pi / np.tan(math.pi * np.where(negative, x, 0.5))
    out = np.where(negative, reflected, out)
    out = np.where(negative & (x == np.floor(x)), np.nan, out)
    out = np.where(x == np.inf, np.inf, out)
    return np.where(np.isnan(x) | (x == -np.inf), np.nan, out)


digamma_p = unary_elementwise("digamma", _elementwise(_digamma))


def digamma(x: Any) -> Any:
    return digamma_p.bind(x)


defjvp(digamma_p, lambda t, ans, x: mul(t, polygamma(1, x)))


def _hurwitz_zeta(s: float, x: np.ndarray) -> np.ndarray:
    """zeta(s, x) = sum_k (x + k)**-s for integer s >= 2 and x not 0, -1, -2, ..."""
    target = 15.0 + s
    total = np.zeros_like(x)
    while True:
        small = x < target
        if not small.any():
            break
        total = total + np.where(small, np.where(small, x, 1.0) ** -s, 0.0)
        x = np.where(small, x + 1.0, x)
    # Euler-Maclaurin: x**(1-s)/(s-1) + x**-s/2 + sum_k B_2k/(2k)! (s)_(2k-1) x**(1-s-2k)
    tail = x ** (1.0 - s) / (s - 1.0) + 0.5 * x**-s
    rising = s * x**-s / x  # (s)_1 x**(-s-1)
    factorial = 2.0
    for k, b in enumerate(_BERNOULLI, start=1):
        tail = tail + b / factorial * rising
        rising = rising * (s + 2 * k - 1) * (s + 2 * k) / (x * x)
        factorial *= (2 * k + 1) * (2 * k + 2)
    return total + tail


def _polygamma_float64(x: np.ndarray, n: int) -> np.ndarray:
    if n == 0:
        return _digamma(x)
    valid = np.isfinite(x) & ~((x <= 0) & (x == np.floor(x)))
    zeta = _hurwitz_zeta(float(n + 1), np.where(valid, x, 1.0))
    out = (-1.0) ** (n + 1) * math.factorial(n) * zeta
    out = np.where(valid, out, np.nan)
    return np.where(x == np.inf, 0.0, out)  # every polygamma(n >= 1) tends to 0


def _polygamma_impl(x: Any, *, n: int) -> np.ndarray:
    return _elementwise(lambda v: _polygamma_float64(v, n))(x)


polygamma_p = new_primitive("polygamma")
polygamma_p.impl = _polygamma_impl


def _polygamma_abstract_eval(x: ShapedArray, *, n: int) -> ShapedArray:
    dtype, weak = ufunc_result_dtype(digamma_p.impl, (x,))
    return ShapedArray(x.shape, dtype, weak)


polygamma_p.abstract_eval = _polygamma_abstract_eval
defvectorized(polygamma_p)


def polygamma(n: int, x: Any) -> Any:
    """The ``n``-th derivative of digamma (``n >= 0`` a static int; ``n = 0``: digamma)."""
    return polygamma_p.bind(x, n=int(n))


defjvp(polygamma_p, lambda t, ans, x, *, n: mul(t, polygamma(n + 1, x)))

# ---------------------------------------------------------------------------------------
# xlogy, xlog1py: x log(y) and x log1p(y), 0 where x == 0


def _x_times(log_fn):
    def impl(x, y):
        dtype = np.result_type(x, y)  # Python scalars weakly typed, as NumPy does
        dtype = dtype if dtype.kind == "f" else np.dtype(np.float64)
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        with np.errstate(all="ignore"):
            out = np.where(x == 0, 0.0, x * log_fn(y))
        return np.asarray(out).astype(dtype, copy=False)[()]

    return impl


_xlogy = _x_times(np.log)
_xlog1py = _x_times(np.log1p)


xlogy_p = nary_elementwise("xlogy", _xlogy)


def xlogy(x: Any, y: Any) -> Any:
    return xlogy_p.bind(x, y)


defjvp(xlogy_p, lambda t, ans, x, y: mul(t, log(y)), lambda t, ans, x, y: mul(t, div(x, y)))

xlog1py_p = nary_elementwise("xlog1py", _xlog1py)


def xlog1py(x: Any, y: Any) -> Any:
    return xlog1py_p.bind(x, y)


defjvp(
    xlog1py_p,
    lambda t, ans, x, y: mul(t, log1p(y)),
    lambda t, ans, x, y: mul(t, div(x, add(y, 1.0))),
)
