"""The normal distribution, as ``scipy.stats.norm``: ``loc`` the mean, ``scale`` the
standard deviation."""

from __future__ import annotations

import math
from typing import Any

import fungrad.numpy as fnp
from fungrad.scipy import special
from fungrad.scipy.stats._common import floating, public, standardize

__all__ = ["cdf", "logcdf", "logpdf", "logsf", "pdf", "ppf", "sf"]

Array = Any
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def logpdf(x: Array, loc: Array = 0, scale: Array = 1) -> Array:
    """``-((x - loc)/scale)**2 / 2 - log(scale) - log(2 pi)/2``.

    >>> from fungrad.scipy.stats import norm
    >>> float(norm.logpdf(0.0))
    -0.9189385332046727
    """
    z, _, log_scale = standardize(x, loc, scale)
    return -0.5 * z * z - log_scale - _LOG_SQRT_2PI


def pdf(x: Array, loc: Array = 0, scale: Array = 1) -> Array:
    """The density, ``exp(logpdf)``.

    >>> from fungrad.scipy.stats import norm
    >>> float(norm.pdf(1.0, loc=1.0, scale=2.0))
    0.19947114020071632
    """
    return fnp.exp(logpdf(x, loc, scale))


def cdf(x: Array, loc: Array = 0, scale: Array = 1) -> Array:
    """``P(X <= x)``, through :func:`fungrad.scipy.special.ndtr`.

    >>> from fungrad.scipy.stats import norm
    >>> float(norm.cdf(0.0))
    0.5
    """
    z, _, _ = standardize(x, loc, scale)
    return special.ndtr(z)


def logcdf(x: Array, loc: Array = 0, scale: Array = 1) -> Array:
    """``log P(X <= x)``, accurate far into the left tail (``special.log_ndtr``).

    >>> from fungrad.scipy.stats import norm
    >>> float(norm.logcdf(-40.0))
    -804.6084420137538
    """
    z, _, _ = standardize(x, loc, scale)
    return special.log_ndtr(z)


def sf(x: Array, loc: Array = 0, scale: Array = 1) -> Array:
    """The survival function ``P(X > x) = ndtr(-z)``.

    >>> from fungrad.scipy.stats import norm
    >>> float(norm.sf(0.0))
    0.5
    """
    z, _, _ = standardize(x, loc, scale)
    return special.ndtr(-z)


def logsf(x: Array, loc: Array = 0, scale: Array = 1) -> Array:
    """``log P(X > x) = log_ndtr(-z)``, accurate far into the right tail.

    >>> from fungrad.scipy.stats import norm
    >>> float(norm.logsf(40.0))
    -804.6084420137538
    """
    z, _, _ = standardize(x, loc, scale)
    return special.log_ndtr(-z)


def ppf(q: Array, loc: Array = 0, scale: Array = 1) -> Array:
    """The quantile function, ``loc + scale * ndtri(q)``.

    >>> from fungrad.scipy.stats import norm
    >>> float(norm.ppf(0.975))
    1.959963984540054
    """
    _, scale, _ = standardize(0.0, 0.0, scale)
    (loc,) = floating(loc)
    return loc + scale * special.ndtri(q)


public(globals())
