"""The Dirichlet distribution, as ``scipy.stats.dirichlet``: concentrations ``alpha``.

As in SciPy, the components of ``x`` run along its *first* axis: ``x`` has shape
``(K, ...)`` for ``alpha`` of shape ``(K,)``, or ``(K - 1, ...)``, the last component
then being ``1 - sum(x)``. The result has shape ``x.shape[1:]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import fungrad.numpy as fnp
from fungrad.core import Tracer
from fungrad.errors import FungradValueError, ShapeError
from fungrad.primitives import special as sp
from fungrad.scipy.stats._common import floating, public

__all__ = ["logpdf", "pdf"]

Array = Any


def _components(x: Array, alpha: Array) -> tuple[Array, Array]:
    x, alpha = floating(x, alpha)
    if fnp.ndim(alpha) != 1:
        raise ShapeError(
            f"dirichlet: alpha must be a vector of concentrations, got shape {fnp.shape(alpha)}"
        )
    k = fnp.shape(alpha)[0]
    if fnp.ndim(x) == 0 or fnp.shape(x)[0] not in (k, k - 1):
        raise ShapeError(
            f"dirichlet: x of shape {fnp.shape(x)} needs {k} (or {k - 1}) components along "
            f"its first axis, for alpha of shape ({k},)"
        )
    if fnp.shape(x)[0] == k - 1:
        last = 1.0 - fnp.sum(x, axis=0, keepdims=True)
        x = fnp.concatenate([x, last], axis=0)
    if not isinstance(x, Tracer):
        values = np.asarray(x)
        if np.any(values < 0) or np.any(np.abs(values.sum(axis=0) - 1) > 1e-9):
            raise FungradValueError(
                "dirichlet: x must lie on the simplex (components >= 0 along the first axis, "
                "summing to 1)"
            )
    alpha = fnp.reshape(alpha, (k,) + (1,) * (fnp.ndim(x) - 1))
    return x, alpha


def logpdf(x: Array, alpha: Array) -> Array:
    """``sum((alpha - 1) log x) - (sum(gammaln(alpha)) - gammaln(sum(alpha)))``.

    Concrete ``x`` off the simplex raises, as in SciPy; traced ``x`` (under ``jit`` or
    ``vmap``) is not checked. The derivative in ``x`` is that of the formula.

    >>> import numpy as np
    >>> from fungrad.scipy.stats import dirichlet
    >>> float(dirichlet.logpdf(np.array([0.25, 0.75]), np.array([1.0, 1.0])))
    0.0
    """
    x, alpha = _components(x, alpha)
    log_norm = fnp.sum(sp.lgamma(alpha), axis=0) - sp.lgamma(fnp.sum(alpha, axis=0))
    return fnp.sum(sp.xlogy(alpha - 1.0, x), axis=0) - log_norm


def pdf(x: Array, alpha: Array) -> Array:
    """The density, ``exp(logpdf)``.

    >>> import numpy as np
    >>> from fungrad.scipy.stats import dirichlet
    >>> float(dirichlet.pdf(np.array([0.5, 0.5]), np.array([2.0, 2.0])))
    1.5000000000000007
    """
    return fnp.exp(logpdf(x, alpha))


public(globals())
