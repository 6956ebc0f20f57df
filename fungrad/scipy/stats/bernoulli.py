"""The Bernoulli distribution, as ``scipy.stats.bernoulli``: ``P(X = 1) = p``.

``k`` is an outcome (0 or 1, shifted by ``loc``): derivatives are taken in ``p`` only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import fungrad.numpy as fnp
from fungrad.primitives import special as sp
from fungrad.scipy.stats._common import floating, public

__all__ = ["logpmf", "pmf"]

Array = Any


def logpmf(k: Array, p: Array, loc: Array = 0) -> Array:
    """``xlogy(k, p) + xlog1py(1 - k, -p)`` for ``k - loc`` in ``{0, 1}``, ``-inf`` elsewhere.

    >>> from fungrad.scipy.stats import bernoulli
    >>> float(bernoulli.logpmf(1, 0.25)), float(bernoulli.logpmf(0, 0.0))
    (-1.3862943611198906, 0.0)
    """
    k, p, loc = floating(k, p, loc)
    k = fnp.stop_gradient(k - loc)
    inside = fnp.logical_or(fnp.equal(k, 0), fnp.equal(k, 1))
    k = fnp.where(inside, k, 0.0)
    out = sp.xlogy(k, p) + sp.xlog1py(1.0 - k, -p)
    return fnp.where(inside, out, -np.inf)


def pmf(k: Array, p: Array, loc: Array = 0) -> Array:
    """``P(X = k)``: ``p`` for 1, ``1 - p`` for 0.

    >>> from fungrad.scipy.stats import bernoulli
    >>> float(bernoulli.pmf(0, 0.25))
    0.75
    """
    return fnp.exp(logpmf(k, p, loc))


public(globals())
