"""Probes of fungrad.scipy: special functions and distributions.

References are formulas over NumPy and Python's ``math`` (never SciPy): ``math.erf``,
``math.lgamma``, bisection on ``math.erf`` for the inverses, and direct sums for
digamma/polygamma (from tests/rows_special.py). Accuracy against tabulated SciPy
values is tested in tests/test_scipy.py.
"""

from __future__ import annotations

import math

import numpy as np
from rows_special import _bisect, _digamma_reference, _polygamma_reference
from surface import Probe, uniform, uniforms

import fungrad.scipy.special as fsp
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

S = (2, 3)
T = (3,)
DISCRETE = "k is a count or outcome: derivatives are taken in the parameters only."
LOG2PI = math.log(2 * math.pi)


def vec(fn):
    return np.vectorize(fn, otypes=[np.float64])


erf_ref = vec(math.erf)
erfc_ref = vec(math.erfc)
lgamma_ref = vec(math.lgamma)
gamma_ref = vec(math.gamma)
digamma_ref = vec(_digamma_reference)
erfinv_ref = vec(lambda y: _bisect(math.erf, y, -6.0, 6.0))
ndtr_ref = vec(lambda x: 0.5 * math.erfc(-x / math.sqrt(2)))
log_ndtr_ref = vec(lambda x: math.log(0.5 * math.erfc(-x / math.sqrt(2))))
ndtri_ref = vec(lambda p: _bisect(lambda x: 0.5 * math.erfc(-x / math.sqrt(2)), p))


def polygamma_ref(n):
    return vec(lambda x: _polygamma_reference(n, x))


def logsumexp_ref(a, axis=None, b=None, keepdims=False):
    b = np.ones_like(a) if b is None else b
    return np.log(np.sum(b * np.exp(a), axis=axis, keepdims=keepdims))


def softmax_ref(x, axis=None):
    e = np.exp(x)
    return e / np.sum(e, axis=axis, keepdims=True)


def _with_zeros(rng):
    x = rng.uniform(-3, 3, S) * (rng.random(S) < 0.6)
    return x, rng.uniform(0.2, 3, T)


def _with_zeros_1p(rng):
    x = rng.uniform(-3, 3, S) * (rng.random(S) < 0.6)
    return x, rng.uniform(-0.8, 3, T)


def _mvn_args(d, batch=()):
    def draw(rng):
        return (
            rng.standard_normal((*batch, d)),
            rng.standard_normal(d),
            rng.standard_normal((d, d)),
        )

    return draw


def _cov(a):
    return a @ a.T / a.shape[0] + np.eye(a.shape[0])


def mvn_ref(x, mean, a):
    cov = _cov(a)
    d = mean.shape[0]
    diff = x - mean
    maha = np.sum(diff * np.linalg.solve(cov, diff[..., None])[..., 0], axis=-1)
    return -0.5 * (d * LOG2PI + np.linalg.slogdet(cov)[1] + maha)


def t_ref(x, df, loc, scale):
    z = (x - loc) / scale
    return (
        lgamma_ref((df + 1) / 2)
        - lgamma_ref(df / 2)
        - 0.5 * np.log(df * np.pi)
        - np.log(scale)
        - (df + 1) / 2 * np.log1p(z * z / df)
    )


def beta_ref(x, a, b):
    return (
        (a - 1) * np.log(x)
        + (b - 1) * np.log1p(-x)
        - lgamma_ref(a)
        - lgamma_ref(b)
        + lgamma_ref(a + b)
    )


def gamma_dist_ref(x, a, loc, scale):
    z = (x - loc) / scale
    return (a - 1) * np.log(z) - z - lgamma_ref(a) - np.log(scale)


def poisson_ref(k, mu):
    return k * np.log(mu) - mu - lgamma_ref(k + 1.0)


def _dirichlet_args(k, full):
    def draw(rng):
        alpha = rng.uniform(0.5, 3, k)
        x = rng.dirichlet(np.full(k, 5.0))
        return (x if full else x[:-1]), alpha

    return draw


def dirichlet_ref(x, alpha):
    if x.shape[0] == alpha.shape[0] - 1:
        x = np.concatenate([x, [1 - x.sum()]])
    return np.sum((alpha - 1) * np.log(x)) - np.sum(lgamma_ref(alpha)) + lgamma_ref(alpha.sum())


def _counts(rng):
    return rng.integers(0, 8, S), rng.uniform(0.5, 4, T)


def _outcomes(rng):
    return rng.integers(0, 2, S), rng.uniform(0.1, 0.9, T)


def _norm_args(lo=-3, hi=3):
    return uniforms((lo, hi, S), (-1, 1, T), (0.5, 2, T))


def norm_logpdf_ref(x, loc, scale):
    z = (x - loc) / scale
    return -0.5 * z * z - np.log(scale) - 0.5 * LOG2PI


def _z(x, loc, scale):
    return (x - loc) / scale


# fmt: off
PROBES = [
    # scipy.special
    Probe("scipy.special.expit", fsp.expit, uniform(-5, 5, *S),
          reference=lambda x: 1 / (1 + np.exp(-x))),
    Probe("scipy.special.logit", fsp.logit, uniform(0.05, 0.95, *S),
          reference=lambda p: np.log(p / (1 - p))),
    Probe("scipy.special.erf", fsp.erf, uniform(-3, 3, *S), reference=erf_ref),
    Probe("scipy.special.erfc", fsp.erfc, uniform(-3, 3, *S), reference=erfc_ref),
    Probe("scipy.special.erfinv", fsp.erfinv, uniform(-0.9, 0.9, *S), reference=erfinv_ref,
          ref_atol=1e-12),
    Probe("scipy.special.gammaln", fsp.gammaln, uniform(0.2, 10, *S), reference=lgamma_ref),
    Probe("scipy.special.gammaln", fsp.gammaln, uniform(-2.9, -2.1, *S), reference=lgamma_ref,
          kinks="log|Gamma| has poles at 0, -1, -2, ...: +inf there, with a NaN derivative."),
    Probe("scipy.special.gamma", fsp.gamma, uniform(0.2, 6, *S), reference=gamma_ref,
          kinks="poles at 0, -1, -2, ...: inf at 0, NaN at the negative integers."),
    Probe("scipy.special.digamma", fsp.digamma, uniform(0.3, 10, *S), reference=digamma_ref,
          ref_atol=1e-11),
    Probe("scipy.special.digamma", fsp.digamma, uniform(-1.8, -1.2, *S),
          reference=lambda x: digamma_ref(1 - x) - np.pi / np.tan(np.pi * x), ref_atol=1e-11,
          kinks="poles at 0, -1, -2, ...: NaN there."),
    Probe("scipy.special.polygamma", lambda x: fsp.polygamma(1, x), uniform(0.3, 10, *S),
          reference=polygamma_ref(1)),
    Probe("scipy.special.polygamma", lambda x: fsp.polygamma(3, x), uniform(0.5, 10, *S),
          reference=polygamma_ref(3)),
    Probe("scipy.special.polygamma", lambda x: fsp.polygamma(np.array([0, 1, 2]), x),
          uniform(0.5, 5, *S),
          reference=lambda x: np.stack([digamma_ref(x[:, 0]), polygamma_ref(1)(x[:, 1]),
                                        polygamma_ref(2)(x[:, 2])], axis=-1),
          ref_atol=1e-11),
    Probe("scipy.special.beta", fsp.beta, uniforms((0.3, 5, S), (0.3, 5, T)),
          reference=lambda a, b: gamma_ref(a) * gamma_ref(b) / gamma_ref(a + b)),
    Probe("scipy.special.beta", fsp.beta, uniforms((90, 100, S), (80, 90, T)),
          reference=lambda a, b: np.exp(lgamma_ref(a) + lgamma_ref(b) - lgamma_ref(a + b)),
          ref_rtol=1e-9),
    Probe("scipy.special.betaln", fsp.betaln, uniforms((0.3, 5, S), (0.3, 5, T)),
          reference=lambda a, b: lgamma_ref(a) + lgamma_ref(b) - lgamma_ref(a + b)),
    Probe("scipy.special.xlogy", fsp.xlogy, _with_zeros, diff=(0, 1),
          reference=lambda x, y: np.where(x == 0, 0.0, x * np.log(y)),
          kinks="0 where x == 0 (even at y == 0); the derivative there is log(y) in x and "
                "0 in y."),
    Probe("scipy.special.xlog1py", fsp.xlog1py, _with_zeros_1p, diff=(0, 1),
          reference=lambda x, y: np.where(x == 0, 0.0, x * np.log1p(y)),
          kinks="0 where x == 0 (even at y == -1); the derivative there is log1p(y) in x "
                "and 0 in y."),
    Probe("scipy.special.ndtr", fsp.ndtr, uniform(-5, 5, *S), reference=ndtr_ref),
    Probe("scipy.special.log_ndtr", fsp.log_ndtr, uniform(-20, 5, *S),
          reference=log_ndtr_ref),
    Probe("scipy.special.log_ndtr", fsp.log_ndtr, uniform(-60, -30, *S),
          reference=lambda x: -0.5 * x * x - np.log(-x) - 0.5 * LOG2PI
          + np.log1p(-1 / x**2 + 3 / x**4 - 15 / x**6 + 105 / x**8),
          ref_rtol=1e-12, rtol=1e-4, eps=1e-4),
    Probe("scipy.special.ndtri", fsp.ndtri, uniform(0.02, 0.98, *S), reference=ndtri_ref,
          ref_atol=1e-12),
    Probe("scipy.special.multigammaln", lambda a: fsp.multigammaln(a, 3), uniform(1.5, 6, *S),
          reference=lambda a: 1.5 * np.log(np.pi) + lgamma_ref(a) + lgamma_ref(a - 0.5)
          + lgamma_ref(a - 1)),
    Probe("scipy.special.logsumexp", fsp.logsumexp, uniform(-3, 3, *S),
          reference=logsumexp_ref),
    Probe("scipy.special.logsumexp", lambda a: fsp.logsumexp(a, axis=1, keepdims=True),
          uniform(-3, 3, *S), reference=lambda a: logsumexp_ref(a, 1, keepdims=True)),
    Probe("scipy.special.logsumexp", lambda a, b: fsp.logsumexp(a, axis=0, b=b),
          uniforms((-3, 3, S), (0.5, 2, T)), diff=(0, 1),
          reference=lambda a, b: logsumexp_ref(a, 0, np.broadcast_to(b, S))),
    Probe("scipy.special.logsumexp",
          lambda a: fsp.logsumexp(a, axis=-1, b=np.array([1.0, -3.0, 1.0]),
                                  return_sign=True),
          uniform(-1, 1, *S),
          reference=lambda a: (np.log(np.abs(np.sum(np.exp(a) * [1, -3, 1], -1))),
                               np.sign(np.sum(np.exp(a) * [1, -3, 1], -1)))),
    Probe("scipy.special.softmax", fsp.softmax, uniform(-3, 3, *S), reference=softmax_ref),
    Probe("scipy.special.softmax", lambda x: fsp.softmax(x, axis=1), uniform(-3, 3, *S),
          reference=lambda x: softmax_ref(x, 1)),
    Probe("scipy.special.log_softmax", fsp.log_softmax, uniform(-3, 3, *S),
          reference=lambda x: np.log(softmax_ref(x))),
    Probe("scipy.special.log_softmax", lambda x: fsp.log_softmax(x, axis=0),
          uniform(-3, 3, *S), reference=lambda x: np.log(softmax_ref(x, 0))),
    # scipy.stats.norm
    Probe("scipy.stats.norm.logpdf", norm.logpdf, _norm_args(), diff=(0, 1, 2),
          reference=norm_logpdf_ref),
    Probe("scipy.stats.norm.logpdf", norm.logpdf, uniform(-3, 3, *S),
          reference=lambda x: norm_logpdf_ref(x, 0.0, 1.0)),
    Probe("scipy.stats.norm.pdf", norm.pdf, _norm_args(), diff=(0, 1, 2),
          reference=lambda x, loc, scale: np.exp(norm_logpdf_ref(x, loc, scale))),
    Probe("scipy.stats.norm.cdf", norm.cdf, _norm_args(), diff=(0, 1, 2),
          reference=lambda x, loc, scale: ndtr_ref(_z(x, loc, scale))),
    Probe("scipy.stats.norm.logcdf", norm.logcdf, _norm_args(), diff=(0, 1, 2),
          reference=lambda x, loc, scale: log_ndtr_ref(_z(x, loc, scale))),
    Probe("scipy.stats.norm.sf", norm.sf, _norm_args(), diff=(0, 1, 2),
          reference=lambda x, loc, scale: ndtr_ref(-_z(x, loc, scale))),
    Probe("scipy.stats.norm.logsf", norm.logsf, _norm_args(), diff=(0, 1, 2),
          reference=lambda x, loc, scale: log_ndtr_ref(-_z(x, loc, scale))),
    Probe("scipy.stats.norm.ppf", norm.ppf, uniforms((0.05, 0.95, S), (-1, 1, T), (0.5, 2, T)),
          diff=(0, 1, 2), reference=lambda q, loc, scale: loc + scale * ndtri_ref(q),
          ref_atol=1e-11),
    # scipy.stats.multivariate_normal (cov = A A^T / d + I, differentiated through A)
    Probe("scipy.stats.multivariate_normal.logpdf",
          lambda x, mean, a: multivariate_normal.logpdf(x, mean, _cov(a)),
          _mvn_args(3), diff=(0, 1, 2), reference=mvn_ref),
    Probe("scipy.stats.multivariate_normal.logpdf",
          lambda x, mean, a: multivariate_normal.logpdf(x, mean, _cov(a)),
          _mvn_args(2, (4,)), diff=(0, 1, 2), reference=mvn_ref),
    Probe("scipy.stats.multivariate_normal.logpdf",
          lambda x, mean: multivariate_normal.logpdf(x, mean, cov=2.0),
          lambda rng: _mvn_args(3, (2,))(rng)[:2], diff=(0, 1),
          reference=lambda x, mean: mvn_ref(x, mean, np.sqrt(3.0) * np.eye(3))),
    Probe("scipy.stats.multivariate_normal.pdf",
          lambda x, mean, a: multivariate_normal.pdf(x, mean, _cov(a)),
          _mvn_args(3), diff=(0, 1, 2), reference=lambda *a: np.exp(mvn_ref(*a))),
    # scipy.stats.t, beta, gamma
    Probe("scipy.stats.t.logpdf", t.logpdf,
          uniforms((-3, 3, S), (1, 10, T), (-1, 1, T), (0.5, 2, T)), diff=(0, 1, 2, 3),
          reference=t_ref),
    Probe("scipy.stats.t.pdf", t.pdf,
          uniforms((-3, 3, S), (1, 10, T), (-1, 1, T), (0.5, 2, T)), diff=(0, 1, 2, 3),
          reference=lambda *a: np.exp(t_ref(*a))),
    Probe("scipy.stats.beta.logpdf", beta.logpdf,
          uniforms((0.1, 0.9, S), (0.5, 3, T), (0.5, 3, T)), diff=(0, 1, 2),
          reference=beta_ref,
          kinks="-inf outside the support [loc, loc + scale], with derivative 0 there."),
    Probe("scipy.stats.beta.logpdf", lambda x, a, b: beta.logpdf(x, a, b, loc=-1.0, scale=3.0),
          uniforms((-0.7, 1.7, S), (0.5, 3, T), (0.5, 3, T)), diff=(0, 1, 2),
          reference=lambda x, a, b: beta_ref((x + 1) / 3, a, b) - np.log(3.0)),
    Probe("scipy.stats.beta.pdf", beta.pdf,
          uniforms((0.1, 0.9, S), (0.5, 3, T), (0.5, 3, T)), diff=(0, 1, 2),
          reference=lambda *a: np.exp(beta_ref(*a))),
    Probe("scipy.stats.gamma.logpdf", gamma.logpdf,
          uniforms((1, 5, S), (0.5, 4, T), (-0.5, 0.5, T), (0.5, 2, T)), diff=(0, 1, 2, 3),
          reference=gamma_dist_ref, kinks="-inf below loc, with derivative 0 there."),
    Probe("scipy.stats.gamma.pdf", gamma.pdf,
          uniforms((1, 5, S), (0.5, 4, T), (-0.5, 0.5, T), (0.5, 2, T)), diff=(0, 1, 2, 3),
          reference=lambda *a: np.exp(gamma_dist_ref(*a))),
    # scipy.stats.poisson, bernoulli (discrete: derivatives in the parameter)
    Probe("scipy.stats.poisson.logpmf", poisson.logpmf, _counts, diff=(1,),
          reference=poisson_ref, kinks=DISCRETE),
    Probe("scipy.stats.poisson.pmf", poisson.pmf, _counts, diff=(1,),
          reference=lambda k, mu: np.exp(poisson_ref(k, mu)), kinks=DISCRETE),
    Probe("scipy.stats.bernoulli.logpmf", bernoulli.logpmf, _outcomes, diff=(1,),
          reference=lambda k, p: np.where(k == 1, np.log(p), np.log1p(-p)), kinks=DISCRETE),
    Probe("scipy.stats.bernoulli.pmf", bernoulli.pmf, _outcomes, diff=(1,),
          reference=lambda k, p: np.where(k == 1, p, 1 - p), kinks=DISCRETE),
    # scipy.stats.dirichlet: components along the first axis
    Probe("scipy.stats.dirichlet.logpdf", dirichlet.logpdf, _dirichlet_args(4, full=False),
          diff=(0, 1), reference=dirichlet_ref),
    Probe("scipy.stats.dirichlet.logpdf", dirichlet.logpdf, _dirichlet_args(3, full=True),
          diff=(1,), reference=dirichlet_ref,
          kinks="with all K components, x is not perturbed off the simplex: derivatives in "
                "alpha (and in x with K - 1 components)."),
    Probe("scipy.stats.dirichlet.pdf", dirichlet.pdf, _dirichlet_args(3, full=False),
          diff=(0, 1), reference=lambda *a: np.exp(dirichlet_ref(*a))),
]
# fmt: on
