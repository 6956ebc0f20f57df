"""``fungrad.scipy.stats``: SciPy's distributions as modules of functions.

Each distribution is a module (``norm``, ``multivariate_normal``, ``t``, ``beta``,
``gamma``, ``poisson``, ``dirichlet``, ``bernoulli``) whose functions take SciPy's
arguments, keywords included (``loc``, ``scale``, shape parameters), broadcast them
as SciPy does, and differentiate in the point and in every continuous parameter.
"""

from __future__ import annotations

from fungrad.scipy.stats import (
    bernoulli,
    beta,
    dirichlet,
    gamma,
    multivariate_normal,
    norm,
    poisson,
    t,
)

__all__ = [
    "bernoulli",
    "beta",
    "dirichlet",
    "gamma",
    "multivariate_normal",
    "norm",
    "poisson",
    "t",
]
