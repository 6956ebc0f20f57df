"""``fungrad.scipy.special``: SciPy's special functions, with derivatives of every order.

The functions NumPy lacks are primitives (fungrad/primitives/special.py) computed in
NumPy and Python's ``math``, accurate to about 1e-13 relative in float64 (the ranges
are in that module's docstring and docs/scipy.md); the rest are formulas over them.
``logsumexp`` is ``fungrad.numpy.logsumexp``, re-exported; ``softmax`` and
``log_softmax`` are :mod:`fungrad.nn`'s, with SciPy's default ``axis=None``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

import fungrad.numpy as fnp
from fungrad import nn
from fungrad.core import Tracer
from fungrad.errors import FungradTypeError, FungradValueError
from fungrad.numpy import _operand, _with_numpy_results
from fungrad.primitives import elementwise as ew
from fungrad.primitives import special as sp

__all__ = [
    "beta",
    "betaln",
    "digamma",
    "erf",
    "erfc",
    "erfinv",
    "expit",
    "gamma",
    "gammaln",
    "log_ndtr",
    "log_softmax",
    "logit",
    "logsumexp",
    "multigammaln",
    "ndtr",
    "ndtri",
    "polygamma",
    "softmax",
    "xlog1py",
    "xlogy",
]

Array = Any


def __dir__() -> list[str]:
    return sorted(__all__)


def _floating(x: Array) -> Array:
    """``x`` as an operand, integers and booleans as float64 (SciPy's ufuncs do the same)."""
    if type(x) in (int, bool):
        x = float(x)  # a Python scalar stays weakly typed
    x = _operand(x)
    if fnp.result_type(x).kind not in "fc":
        x = fnp.astype(x, np.float64)
    return x


def expit(x: Array) -> Array:
    """The logistic sigmoid ``1 / (1 + exp(-x))``, stable for any ``x``.

    >>> import fungrad.scipy.special as fsp
    >>> float(fsp.expit(0.0)), float(fsp.expit(-800.0))
    (0.5, 0.0)
    """
    return ew.logistic(_floating(x))


def logit(p: Array) -> Array:
    """``log(p / (1 - p))``, the inverse of :func:`expit`.

    >>> import fungrad.scipy.special as fsp
    >>> float(fsp.logit(0.5)), float(fsp.logit(0.75))
    (0.0, 1.0986122886681096)
    """
    p = _floating(p)
    return ew.sub(ew.log(p), ew.log1p(ew.neg(p)))


def erf(z: Array) -> Array:
    """The error function ``2/sqrt(pi) * integral_0^z exp(-t**2) dt``.

    >>> import fungrad.scipy.special as fsp
    >>> float(fsp.erf(1.0))
    0.8427007929497149
    """
    return sp.erf(_floating(z))


def erfc(x: Array) -> Array:
    """``1 - erf(x)``, without cancellation for large ``x``.

    >>> import fungrad.scipy.special as fsp
    >>> float(fsp.erfc(5.0))
    1.5374597944280351e-12
    """
    return sp.erfc(_floating(x))


def erfinv(y: Array) -> Array:
    """The inverse of :func:`erf` on ``(-1, 1)`` (``±inf`` at ``±1``, NaN outside).

    >>> import fungrad.scipy.special as fsp
    >>> float(fsp.erfinv(0.5))
    0.4769362762044699
    """
    return sp.erfinv(_floating(y))


def gammaln(x: Array) -> Array:
    """``log|Gamma(x)|`` (``inf`` at the poles 0, -1, -2, ...); derivative :func:`digamma`.

    >>> import fungrad.scipy.special as fsp
    >>> float(fsp.gammaln(10.0))  # log(9!)
    12.801827480081467
    """
    return sp.lgamma(_floating(x))


def gamma(z: Array) -> Array:
    """The gamma function (``gamma(n + 1) = n!``).

    >>> import fungrad.scipy.special as fsp
    >>> float(fsp.gamma(5.0)), float(fsp.gamma(0.5) ** 2)
    (24.0, 3.1415926535897927)
    """
    return sp.gamma(_floating(z))


def digamma(x: Array) -> Array:
    """``d/dx log Gamma(x)`` (NaN at the poles 0, -1, -2, ...); derivative ``polygamma(1, x)``.

    >>> import fungrad.scipy.special as fsp
    >>> float(fsp.digamma(1.0))  # minus the Euler-Mascheroni constant
    -0.5772156649015324
    """
    return sp.digamma(_floating(x))


def _static_order(n: Any, name: str) -> Any:
    if isinstance(n, Tracer):
        raise FungradTypeError(
            f"{name}: the order n must be a concrete integer (or array of integers), not a "
            "traced value; fungrad differentiates polygamma in x only"
        )
    n_arr = np.asarray(n)
    if n_arr.dtype.kind == "f" and np.all(n_arr == np.floor(n_arr)):
        n_arr = n_arr.astype(np.int64)
    if n_arr.dtype.kind not in "iu" or np.any(n_arr < 0):
        raise FungradValueError(f"{name}: the order n must be a non-negative integer, got {n!r}")
    return n_arr


def polygamma(n: Any, x: Array) -> Array:
    """The ``n``-th derivative of :func:`digamma` (``n = 0``: digamma itself).

    ``n`` is a concrete non-negative integer or array of them (broadcast with ``x``);
    derivatives are taken in ``x``: ``polygamma(n, x)' = polygamma(n + 1, x)``.

    >>> import fungrad.scipy.special as fsp
    >>> float(fsp.polygamma(1, 1.0))  # pi**2 / 6
    1.6449340668482264
    """
    n_arr = _static_order(n, "polygamma")
    x = _floating(x)
    if n_arr.ndim == 0:
        return sp.polygamma(int(n_arr), x)
    shape = np.broadcast_shapes(n_arr.shape, fnp.shape(x))
    n_b = np.broadcast_to(n_arr, shape)
    x_b = fnp.broadcast_to(x, shape)
    out = None
    for k in np.unique(n_b):
        value = sp.polygamma(int(k), x_b)
        out = value if out is None else fnp.where(n_b == k, value, out)
    return out


def beta(a: Array, b: Array) -> Array:
    """The beta function ``Gamma(a) Gamma(b) / Gamma(a + b)``, for ``a, b > 0`` (NaN
    elsewhere); ``exp(betaln(a, b))`` where ``a + b >= 170``.

    >>> import fungrad.scipy.special as fsp
    >>> float(fsp.beta(2.0, 3.0))  # 1 / 12
    0.08333333333333333
    """
    a, b = _floating(a), _floating(b)
    positive = fnp.logical_and(fnp.greater(a, 0), fnp.greater(b, 0))
    # the gamma functions directly while they cannot overflow, else through betaln
    small = fnp.logical_and(positive, fnp.less(a + b, 170.0))
    safe_a, safe_b = fnp.where(small, a, 1.0), fnp.where(small, b, 1.0)
    direct = sp.gamma(safe_a) * sp.gamma(safe_b) / sp.gamma(safe_a + safe_b)
    large = fnp.exp(betaln(fnp.where(positive, a, 1.0), fnp.where(positive, b, 1.0)))
    return fnp.where(small, direct, fnp.where(positive, large, np.nan))


def betaln(a: Array, b: Array) -> Array:
    """``log|B(a, b)| = gammaln(a) + gammaln(b) - gammaln(a + b)``.

    >>> import fungrad.scipy.special as fsp
    >>> float(fsp.betaln(2.0, 3.0))
    -2.484906649788
    """
    a, b = _floating(a), _floating(b)
    return sp.lgamma(a) + sp.lgamma(b) - sp.lgamma(a + b)


def xlogy(x: Array, y: Array) -> Array:
    """``x * log(y)``, 0 where ``x == 0`` (even at ``y == 0``).

    Its derivatives are those of the product: ``log(y)`` in ``x`` and ``x / y`` in
    ``y``, so 0 in ``y`` where ``x == 0``.

    >>> import fungrad.scipy.special as fsp
    >>> float(fsp.xlogy(0.0, 0.0)), float(fsp.xlogy(2.0, np.e))
    (0.0, 2.0)
    """
    return sp.xlogy(_floating(x), _floating(y))


def xlog1py(x: Array, y: Array) -> Array:
    """``x * log1p(y)``, 0 where ``x == 0`` (even at ``y == -1``); derivatives as :func:`xlogy`.

    >>> import fungrad.scipy.special as fsp
    >>> float(fsp.xlog1py(0.0, -1.0)), float(fsp.xlog1py(2.0, 1e-20))
    (0.0, 2e-20)
    """
    return sp.xlog1py(_floating(x), _floating(y))


def ndtr(x: Array) -> Array:
    """The standard normal CDF, ``erfc(-x / sqrt(2)) / 2``.

    >>> import fungrad.scipy.special as fsp
    >>> float(fsp.ndtr(0.0)), float(fsp.ndtr(-10.0))
    (0.5, 7.619853024160593e-24)
    """
    x = _floating(x)
    return ew.mul(0.5, sp.erfc(ew.mul(x, -1 / math.sqrt(2.0))))


def log_ndtr(x: Array) -> Array:
    """``log(ndtr(x))``, accurate for any ``x`` (an asymptotic series far in the left tail).

    >>> import fungrad.scipy.special as fsp
    >>> float(fsp.log_ndtr(-40.0))
    -804.6084420137538
    """
    return sp.log_ndtr(_floating(x))


def ndtri(y: Array) -> Array:
    """The inverse of :func:`ndtr` (the standard normal quantile function).

    >>> import fungrad.scipy.special as fsp
    >>> float(fsp.ndtri(0.975))
    1.959963984540054
    """
    return sp.ndtri(_floating(y))


def multigammaln(a: Array, d: int) -> Array:
    """The log of the multivariate gamma function of dimension ``d`` (a static int):
    ``d (d-1)/4 log(pi) + sum_{j=1..d} gammaln(a + (1 - j)/2)``.

    >>> import fungrad.scipy.special as fsp
    >>> float(fsp.multigammaln(3.0, 2))
    1.5501949939575645
    """
    if isinstance(d, Tracer) or int(d) != d or d < 1:
        raise FungradValueError(f"multigammaln: d must be a positive integer, got {d!r}")
    d = int(d)
    a = _floating(a)
    out = d * (d - 1) / 4 * math.log(math.pi)
    for j in range(1, d + 1):
        out = ew.add(out, sp.lgamma(ew.add(a, (1 - j) / 2)))
    return out


# One implementation, fungrad.numpy's (SciPy's signature: a, axis, b, keepdims,
# return_sign), re-exported here under SciPy's name.
logsumexp = fnp.logsumexp


def softmax(x: Array, axis: int | Sequence[int] | None = None) -> Array:
    """``exp(x) / sum(exp(x))`` over ``axis`` (SciPy's default: all of ``x``).

    >>> import fungrad.scipy.special as fsp
    >>> fsp.softmax(np.array([0.0, np.log(3.0)]))
    array([0.25, 0.75])
    """
    return nn.softmax(_floating(x), axis=axis)


def log_softmax(x: Array, axis: int | Sequence[int] | None = None) -> Array:
    """``x - logsumexp(x)`` over ``axis`` (SciPy's default: all of ``x``).

    >>> import fungrad.scipy.special as fsp
    >>> fsp.log_softmax(np.array([0.0, np.log(3.0)]))
    array([-1.38629436, -0.28768207])
    """
    return nn.log_softmax(_floating(x), axis=axis)


for _name in set(__all__) - {"logsumexp"}:  # logsumexp is wrapped in fungrad.numpy
    globals()[_name] = _with_numpy_results(globals()[_name])
del _name
