"""``fungrad.scipy``: SciPy's special functions and probability distributions, differentiable.

``fungrad.scipy.special`` holds the special functions (``erf``, ``gammaln``,
``logsumexp``, ...), ``fungrad.scipy.stats`` the distributions (``norm``,
``multivariate_normal``, ``t``, ``beta``, ``gamma``, ``poisson``, ``dirichlet``,
``bernoulli``), with SciPy's names, arguments and broadcasting. Everything is built on
NumPy alone: SciPy is not needed. See docs/scipy.md.
"""

from __future__ import annotations

from fungrad.scipy import special, stats

__all__ = ["special", "stats"]
