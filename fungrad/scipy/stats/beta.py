"""The beta distribution, as ``scipy.stats.beta``: shapes ``a``, ``b`` on ``[loc, loc+scale]``."""

from __future__ import annotations

from typing import Any

import numpy as np

import fungrad.numpy as fnp
from fungrad.primitives import special as sp
from fungrad.scipy.stats._common import floating, public, standardize

__all__ = ["logpdf", "pdf"]

Array = Any


def logpdf(x: Array, a: Array, b: Array, loc: Array = 0, scale: Array = 1) -> Array:
    """``xlogy(a-1, z) + xlog1py(b-1, -z) - betaln(a, b) - log(scale)`` on ``0 <= z <= 1``
    (``z = (x - loc)/scale``), ``-inf`` outside.

    >>> from fungrad.scipy.stats import beta
    >>> float(beta.logpdf(0.5, 2.0, 2.0))  # density 1.5
    0.40546510810816483
    """
    z, _, log_scale = standardize(x, loc, scale)
    a, b = floating(a, b)
    inside = fnp.logical_and(fnp.greater_equal(z, 0), fnp.less_equal(z, 1))
    z = fnp.where(inside, z, 0.5)  # keeps the branch not taken finite
    betaln = sp.lgamma(a) + sp.lgamma(b) - sp.lgamma(a + b)
    out = sp.xlogy(a - 1.0, z) + sp.xlog1py(b - 1.0, -z) - betaln - log_scale
    return fnp.where(inside, out, -np.inf)


def pdf(x: Array, a: Array, b: Array, loc: Array = 0, scale: Array = 1) -> Array:
    """The density, ``exp(logpdf)`` (0 outside the support).

    >>> from fungrad.scipy.stats import beta
    >>> float(beta.pdf(0.5, 2.0, 2.0))
    1.5000000000000007
    """
    return fnp.exp(logpdf(x, a, b, loc, scale))


public(globals())
