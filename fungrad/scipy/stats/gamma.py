"""The gamma distribution, as ``scipy.stats.gamma``: shape ``a``, ``loc`` and ``scale``."""

from __future__ import annotations

from typing import Any

import numpy as np

import fungrad.numpy as fnp
from fungrad.primitives import special as sp
from fungrad.scipy.stats._common import floating, public, standardize

__all__ = ["logpdf", "pdf"]

Array = Any


def logpdf(x: Array, a: Array, loc: Array = 0, scale: Array = 1) -> Array:
    """``xlogy(a - 1, z) - z - gammaln(a) - log(scale)`` for ``z = (x - loc)/scale >= 0``,
    ``-inf`` below.

    >>> from fungrad.scipy.stats import gamma
    >>> float(gamma.logpdf(1.0, 1.0))  # the exponential density exp(-1)
    -1.0
    """
    z, _, log_scale = standardize(x, loc, scale)
    (a,) = floating(a)
    inside = fnp.greater_equal(z, 0)
    z = fnp.where(inside, z, 1.0)  # keeps the branch not taken finite
    out = sp.xlogy(a - 1.0, z) - z - sp.lgamma(a) - log_scale
    return fnp.where(inside, out, -np.inf)


def pdf(x: Array, a: Array, loc: Array = 0, scale: Array = 1) -> Array:
    """The density, ``exp(logpdf)`` (0 below ``loc``).

    >>> from fungrad.scipy.stats import gamma
    >>> float(gamma.pdf(2.0, 3.0))  # 2**2 exp(-2) / 2!
    0.27067056647322546
    """
    return fnp.exp(logpdf(x, a, loc, scale))


public(globals())
