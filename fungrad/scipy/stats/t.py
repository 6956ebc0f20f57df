"""Student's t distribution, as ``scipy.stats.t``: ``df`` degrees of freedom."""

from __future__ import annotations

import math
from typing import Any

import fungrad.numpy as fnp
from fungrad.primitives import elementwise as ew
from fungrad.primitives import special as sp
from fungrad.scipy.stats._common import floating, public, standardize

__all__ = ["logpdf", "pdf"]

Array = Any


def logpdf(x: Array, df: Array, loc: Array = 0, scale: Array = 1) -> Array:
    """``log Gamma((df+1)/2) - log Gamma(df/2) - log(df pi)/2 - log(scale)
    - (df+1)/2 log(1 + z**2/df)`` with ``z = (x - loc)/scale``.

    >>> from fungrad.scipy.stats import t
    >>> float(t.logpdf(0.0, 1.0))  # the Cauchy density at 0: 1/pi
    -1.1447298858494004
    """
    z, _, log_scale = standardize(x, loc, scale)
    (df,) = floating(df)
    half = 0.5 * (df + 1.0)
    return (
        sp.lgamma(half)
        - sp.lgamma(0.5 * df)
        - 0.5 * ew.log(df * math.pi)
        - log_scale
        - half * ew.log1p(z * z / df)
    )


def pdf(x: Array, df: Array, loc: Array = 0, scale: Array = 1) -> Array:
    """The density, ``exp(logpdf)``.

    >>> from fungrad.scipy.stats import t
    >>> float(t.pdf(0.0, 1.0))
    0.3183098861837906
    """
    return fnp.exp(logpdf(x, df, loc, scale))


public(globals())
