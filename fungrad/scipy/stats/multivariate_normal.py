"""The multivariate normal distribution, as ``scipy.stats.multivariate_normal``.

``cov`` is a scalar (``cov * I``), a vector (a diagonal) or a matrix; the log density
goes through its Cholesky factor, so it differentiates in ``x``, ``mean`` and ``cov``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import fungrad.numpy as fnp
from fungrad.errors import FungradValueError, ShapeError
from fungrad.scipy.stats._common import floating, public

__all__ = ["logpdf", "pdf"]

Array = Any


def _dimension(mean: Array | None, cov: Array) -> int:
    """The dimension, as SciPy finds it: from ``mean``, else from ``cov`` (1 for scalars)."""
    if mean is not None:
        return int(np.prod(fnp.shape(mean), dtype=np.int64))
    return fnp.shape(cov)[-1] if fnp.ndim(cov) >= 1 else 1


def logpdf(x: Array, mean: Array | None = None, cov: Array = 1, allow_singular: bool = False):
    """``-(d log(2 pi) + log det cov + (x - mean)^T cov^-1 (x - mean)) / 2``.

    ``x`` holds points along its last axis (shape ``(..., d)``; the result has shape
    ``(...)``); ``mean`` has shape ``(d,)``. The dimension ``d`` is ``mean``'s size, else
    ``cov``'s (1 for a scalar ``cov``); for ``d == 1``, a 1-D ``x`` is a list of points.
    ``cov`` must be positive definite (``allow_singular=True`` is not supported).

    >>> import numpy as np
    >>> from fungrad.scipy.stats import multivariate_normal
    >>> float(multivariate_normal.logpdf(np.zeros(2), cov=np.eye(2)))  # -log(2 pi)
    -1.8378770664093453
    """
    if allow_singular:
        raise FungradValueError(
            "multivariate_normal.logpdf: allow_singular=True is not supported; pass a "
            "positive-definite cov"
        )
    d = _dimension(mean, cov)
    (x,) = floating(x)
    if d == 1 and (fnp.ndim(x) == 0 or fnp.shape(x)[-1] != 1):
        x = fnp.expand_dims(x, -1)  # SciPy: one-dimensional points may drop their axis
    if fnp.shape(x)[-1] != d:
        raise ShapeError(
            f"multivariate_normal.logpdf: x of shape {fnp.shape(x)} does not hold points of "
            f"dimension {d} along its last axis (the dimension of mean and cov)"
        )
    mean = np.zeros(d) if mean is None else floating(mean)[0]
    (cov,) = floating(cov)
    if fnp.ndim(cov) == 0:
        cov = cov * np.eye(d)
    elif fnp.ndim(cov) == 1:
        cov = cov * np.eye(d)  # a diagonal
    if fnp.shape(cov) != (d, d) or fnp.ndim(mean) > 1:
        raise ShapeError(
            f"multivariate_normal.logpdf: mean of shape {fnp.shape(mean)} and cov of shape "
            f"{fnp.shape(cov)} do not describe a distribution of dimension {d}: mean needs "
            f"shape ({d},) and cov ({d}, {d})"
        )
    chol = fnp.linalg.cholesky(cov)
    batch = fnp.shape(x)[:-1]
    diff = fnp.reshape(x - mean, (-1, d))
    z = fnp.linalg.solve(chol, fnp.transpose(diff))  # (d, n): L z = x - mean
    maha = fnp.reshape(fnp.sum(z * z, axis=0), batch)
    log_det = 2.0 * fnp.sum(fnp.log(fnp.sum(chol * np.eye(d), axis=-1)))
    return -0.5 * (d * math.log(2 * math.pi) + log_det + maha)


def pdf(x: Array, mean: Array | None = None, cov: Array = 1, allow_singular: bool = False):
    """The density, ``exp(logpdf)``.

    >>> import numpy as np
    >>> from fungrad.scipy.stats import multivariate_normal
    >>> float(multivariate_normal.pdf(np.zeros(2), cov=np.eye(2)))  # 1/(2 pi)
    0.15915494309189535
    """
    return fnp.exp(logpdf(x, mean, cov, allow_singular))


public(globals())
