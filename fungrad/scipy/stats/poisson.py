"""The Poisson distribution, as ``scipy.stats.poisson``: mean ``mu``, shifted by ``loc``.

``k`` is a count: derivatives are taken in ``mu`` only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import fungrad.numpy as fnp
from fungrad.primitives import special as sp
from fungrad.scipy.stats._common import floating, public

__all__ = ["logpmf", "pmf"]

Array = Any


def logpmf(k: Array, mu: Array, loc: Array = 0) -> Array:
    """``xlogy(k, mu) - mu - gammaln(k + 1)`` for integer ``k - loc >= 0``, ``-inf`` elsewhere.

    >>> from fungrad.scipy.stats import poisson
    >>> float(poisson.logpmf(0, 2.0))
    -2.0
    """
    k, mu, loc = floating(k, mu, loc)
    k = fnp.stop_gradient(k - loc)
    inside = fnp.logical_and(fnp.greater_equal(k, 0), fnp.equal(fnp.floor(k), k))
    k = fnp.where(inside, k, 0.0)
    out = sp.xlogy(k, mu) - mu - sp.lgamma(k + 1.0)
    return fnp.where(inside, out, -np.inf)


def pmf(k: Array, mu: Array, loc: Array = 0) -> Array:
    """``P(X = k)``, ``exp(logpmf)``.

    >>> from fungrad.scipy.stats import poisson
    >>> float(poisson.pmf(2, 2.0))  # 2**2 exp(-2) / 2!
    0.27067056647322546
    """
    return fnp.exp(logpmf(k, mu, loc))


public(globals())
