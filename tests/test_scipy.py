"""fungrad.scipy: accuracy against tabulated values, edge cases, dtypes and errors.

The tabulated values below were computed with SciPy 1.x (``scipy.special`` and
``scipy.stats``, float64) in a scratch script, and pasted here as literals: SciPy is
not a dependency of fungrad or of its tests.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fungrad
import fungrad.numpy as fnp
import fungrad.scipy.special as fsp
from fungrad.errors import FungradTypeError, FungradValueError, ShapeError
from fungrad.scipy import stats
from fungrad.test_util import check_grads

# (x, scipy.special.f(x)) pairs, from SciPy.
ERF = [
    (-3.0, -0.9999779095030014),
    (-0.5, -0.5204998778130465),
    (1e-10, 1.1283791670955126e-10),
    (0.3, 0.3286267594591274),
    (1.0, 0.8427007929497148),
    (2.5, 0.999593047982555),
    (5.5, 0.9999999999999927),
]  # noqa: E501
ERFC = [
    (-1.0, 1.8427007929497148),
    (0.5, 0.4795001221869535),
    (3.0, 2.2090496998585445e-05),
    (10.0, 2.0884875837625446e-45),
    (26.0, 5.663192408856145e-296),
]  # noqa: E501
ERFINV = [
    (-0.999999, -3.458910737275499),
    (-0.5, -0.4769362762044699),
    (1e-12, 8.86226925452758e-13),
    (0.1, 0.08885599049425769),
    (0.9, 1.1630871536766743),
    (0.999, 2.326753765513524),
    (0.999999999999, 5.042031898572696),
]  # noqa: E501
NDTRI = [
    (1e-300, -37.0470962993612),
    (1e-50, -14.933337534788487),
    (1e-10, -6.361340902404056),
    (0.001, -3.090232306167813),
    (0.3, -0.5244005127080409),
    (0.5, 0.0),
    (0.975, 1.959963984540054),
    (0.999999, 4.753424308817087),
]  # noqa: E501
LOG_NDTR = [
    (-10000.0, -50000010.12927892),
    (-200.0, -20006.21728089819),
    (-40.0, -804.6084420137539),
    (-38.0, -726.5572160188201),
    (-37.0, -689.0305855768908),
    (-36.0, -652.5032275937986),
    (-20.0, -203.9171553710973),
    (-5.0, -15.064998393988727),
    (-1.0, -1.8410216450092634),
    (0.0, -0.6931471805599453),
    (2.0, -0.023012909328963476),
    (8.0, -6.220960574271742e-16),
]  # noqa: E501
DIGAMMA = [
    (-7.5, 2.0800908175794204),
    (-2.5, 1.1031566406452433),
    (-0.5, 0.03648997397857651),
    (1e-08, -100000000.57721564),
    (0.5, -1.9635100260214235),
    (1.0, -0.5772156649015329),
    (2.0, 0.42278433509846713),
    (7.3, 1.917820335637986),
    (25.0, 3.198742512851974),
    (1000.0, 6.907255195648812),
    (100000000.0, 18.420680738952367),
]  # noqa: E501
POLYGAMMA = {
    1: [
        (0.01, 10001.621213528311),
        (0.5, 4.93480220054468),
        (1.0, 1.6449340668482266),
        (3.7, 0.31003785767003833),
        (30.0, 0.033895060357739946),
        (500.0, 0.002002001333332266),
        (-0.5, 8.934802200544679),
        (-2.3, 14.725912160961292),
    ],  # noqa: E501
    2: [
        (0.01, -2000002.3403986772),
        (0.5, -16.828796644234316),
        (1.0, -2.404113806319188),
        (3.7, -0.09539530872855405),
        (30.0, -0.0011487652037285997),
        (500.0, -4.008007999989334e-06),
    ],  # noqa: E501
    3: [
        (0.01, 600000006.2510617),
        (0.5, 97.40909103400242),
        (1.0, 6.493939402266829),
        (3.7, 0.05827921795656364),
        (30.0, 7.786003664736127e-05),
        (500.0, 1.6048063999872002e-08),
    ],  # noqa: E501
    6: [
        (0.01, -7.2000000000000664e16),
        (0.5, -92203.45792380295),
        (1.0, -726.0114797149845),
        (3.7, -0.09576004675283735),
        (30.0, -1.8170925411158243e-07),
        (500.0, -7.726187519483909e-15),
    ],  # noqa: E501
    15: [
        (0.01, 1.3076743679999996e44),
        (0.5, 8.569974937266651e16),
        (1.0, 1307694352218.9136),
        (3.7, 1084.1239039425384),
        (30.0, 7.72876221994624e-12),
        (500.0, 2.8997366477300093e-30),
    ],  # noqa: E501
}
GAMMALN = [
    (-4.5, -2.813084081769316),
    (-0.5, 1.2655121234846454),
    (1e-05, 11.512919692895826),
    (0.5, 0.5723649429247),
    (3.0, 0.6931471805599453),
    (12.5, 18.73434751193645),
    (100.0, 359.1342053695754),
    (170.5, 704.0044277342047),
]  # noqa: E501
GAMMA = [
    (-4.5, -0.06001960130050425),
    (-0.5, -3.5449077018110318),
    (1e-05, 99999.42279422554),
    (0.5, 1.7724538509055159),
    (3.0, 2.0),
    (12.5, 136843365.46556586),
    (100.0, 9.332621544394417e155),
    (170.5, 5.562092414559999e305),
]  # noqa: E501

TABLES = [
    (fsp.erf, ERF),
    (fsp.erfc, ERFC),
    (fsp.erfinv, ERFINV),
    (fsp.ndtri, NDTRI),
    (fsp.log_ndtr, LOG_NDTR),
    (fsp.digamma, DIGAMMA),
    (fsp.gammaln, GAMMALN),
    (fsp.gamma, GAMMA),
] + [(lambda x, n=n: fsp.polygamma(n, x), table) for n, table in POLYGAMMA.items()]


@pytest.mark.parametrize("fn, table", TABLES, ids=lambda v: getattr(v, "__name__", ""))
def test_special_functions_match_tabulated_values_to_1e_12(fn, table):
    x, expected = (np.array(column) for column in zip(*table))
    np.testing.assert_allclose(fn(x), expected, rtol=1e-12, atol=0)


def test_digamma_near_its_zero_is_accurate_in_absolute_terms():
    assert abs(fsp.digamma(1.4616321449683622) - (-9.241265521729427e-17)) < 1e-15


def test_distributions_match_tabulated_values():
    mvn = stats.multivariate_normal.logpdf(
        np.array([0.3, -1.2]), np.array([0.1, 0.2]), np.array([[2.0, 0.3], [0.3, 0.5]])
    )
    values = [
        (mvn, -4.047864583816581),
        (stats.t.logpdf(1.3, 3.5, loc=0.2, scale=1.7), -1.7743365440077974),
        (stats.beta.logpdf(0.3, 2.5, 0.7, loc=-0.1, scale=1.5), -1.9551976794401689),
        (stats.gamma.logpdf(2.2, 1.7, loc=0.3, scale=0.8), -1.4505505450381013),
        (stats.poisson.logpmf(7, 3.2), -3.583105692425648),
        (stats.poisson.logpmf(9, 3.2, loc=2), -3.583105692425648),
        (stats.dirichlet.logpdf(np.array([0.2, 0.3, 0.5]), np.array([1.5, 2.0, 3.5])),
         1.7575001353554232),
        (stats.dirichlet.logpdf(np.array([0.2, 0.3]), np.array([1.5, 2.0, 3.5])),
         1.7575001353554232),
        (stats.norm.logsf(30.0, loc=1.0, scale=0.5), -1686.9796785883188),
        (stats.norm.ppf(0.01, 1.0, 2.0), -3.6526957480816815),
        (fsp.multigammaln(4.2, 3), 6.0791276195549875),
        (fsp.beta(2.5, 1.5), 0.19634954084936204),
        (fsp.xlogy(3.0, 0.2), -4.828313737302301),
        (fsp.xlog1py(3.0, -0.2), -0.6694306539426294),
    ]  # fmt: skip
    for got, expected in values:
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    # betaln is a difference of gammaln values: accurate in absolute terms
    assert abs(fsp.betaln(0.3, 40.0) - (-0.008236524273342209)) < 1e-13
    value, sign = fsp.logsumexp(
        np.array([1.0, 2.0, 3.0]), b=np.array([0.5, -2.0, 1.0]), return_sign=True
    )
    np.testing.assert_allclose((value, sign), (1.897104830704441, 1.0), rtol=1e-12)


# ---------------------------------------------------------------------------------------
# Derivatives at special points


def test_xlogy_at_x_zero_has_the_derivatives_of_the_product():
    # d/dx = log(y), d/dy = x / y = 0, d2/dxdy = 1/y, d2/dy2 = -x/y**2 = 0
    y = 2.5
    gx, gy = fungrad.grad(fsp.xlogy, argnums=(0, 1))(0.0, y)
    assert (float(gx), float(gy)) == (math.log(y), 0.0)
    hessian = fungrad.hessian(lambda v: fsp.xlogy(v[0], v[1]))(np.array([0.0, y]))
    np.testing.assert_allclose(hessian, [[0.0, 1 / y], [1 / y, 0.0]], rtol=1e-15)
    check_grads(fsp.xlogy, (0.0, y), order=2)
    check_grads(fsp.xlog1py, (0.0, 0.7), order=2)
    assert float(fsp.xlogy(0.0, 0.0)) == 0.0 and float(fsp.xlog1py(0.0, -1.0)) == 0.0


# (x, d/dx log Phi(x), d2/dx2 log Phi(x)), computed with mpmath at 50 digits.
LOG_NDTR_DERIVATIVES = [
    (-40.0, 40.02496884720726, -0.9993773316214086),
    (-37.0, 37.02698768612699, -0.9992727219011225),
    (-36.9, 36.927060610170976, -0.9992687919319901),
    (-200.0, 200.00499975003123, -0.999975003749219),
]


@pytest.mark.parametrize("x, first, second", LOG_NDTR_DERIVATIVES)
def test_log_ndtr_derivatives_far_in_the_left_tail(x, first, second):
    assert float(fungrad.grad(fsp.log_ndtr)(x)) == pytest.approx(first, rel=1e-12)
    assert float(fungrad.grad(fungrad.grad(fsp.log_ndtr))(x)) == pytest.approx(second, rel=1e-9)


def test_log_ndtr_derivatives_across_the_switch_to_the_series():
    check_grads(fsp.log_ndtr, (np.array([-45.0, -37.01, -36.99, -3.0, 4.0]),), order=2,
                eps=1e-4, rtol=1e-4)  # fmt: skip


def test_derivative_rules_of_every_order():
    # gammaln' = digamma, digamma' = polygamma(1), and so on: third order vs polygamma(2)
    x = 2.3
    d3 = fungrad.grad(fungrad.grad(fungrad.grad(fsp.gammaln)))(x)
    np.testing.assert_allclose(d3, fsp.polygamma(2, x), rtol=1e-13)
    np.testing.assert_allclose(
        fungrad.grad(fsp.erfinv)(0.3), math.sqrt(math.pi) / 2 * math.exp(fsp.erfinv(0.3) ** 2)
    )
    np.testing.assert_allclose(
        fungrad.grad(fsp.ndtri)(0.975), 1 / stats.norm.pdf(1.959963984540054)
    )
    check_grads(fsp.erfinv, (np.array([-0.95, 0.2, 0.999]),), order=3, eps=1e-6, rtol=1e-4)


def test_logsumexp_of_minus_infinities_and_its_gradient():
    a = np.array([-np.inf, -np.inf])
    with np.errstate(divide="ignore"):
        assert fsp.logsumexp(a) == -np.inf
    g = fungrad.grad(fsp.logsumexp)(np.array([1000.0, 1000.0]))
    np.testing.assert_allclose(g, [0.5, 0.5])


def test_polygamma_with_an_array_of_orders_broadcasts():
    out = fsp.polygamma(np.array([[0], [1]]), np.array([1.0, 2.0]))
    expected = [
        [-0.5772156649015329, 0.42278433509846713],
        [1.6449340668482266, 0.6449340668482264],
    ]
    np.testing.assert_allclose(out, expected, rtol=1e-13)


# ---------------------------------------------------------------------------------------
# dtypes and types


@pytest.mark.parametrize(
    "fn",
    [fsp.erf, fsp.erfc, fsp.erfinv, fsp.gammaln, fsp.digamma, fsp.ndtr, fsp.log_ndtr,
     fsp.ndtri, fsp.expit, fsp.logit, lambda x: fsp.polygamma(2, x), fsp.softmax,
     lambda x: stats.norm.logpdf(x, 0.5, 2.0), lambda x: stats.t.logpdf(x, 3.0)],
)  # fmt: skip
def test_float32_stays_float32(fn):
    x = np.array([0.1, 0.4, 0.7], np.float32)
    assert fn(x).dtype == np.float32
    assert fungrad.grad(lambda v: fnp.sum(fn(v)))(x).dtype == np.float32


def test_scalars_give_numpy_scalars_and_integers_become_float64():
    assert type(fsp.erf(1.0)) is np.float64
    assert type(fsp.gammaln(3)) is np.float64
    assert fsp.erf(np.arange(3)).dtype == np.float64


def test_vmap_and_jit_over_leading_dimensions():
    x = np.random.default_rng(0).uniform(-2, 2, (4, 5))
    batched = fungrad.vmap(lambda r: fsp.logsumexp(r, b=np.arange(1.0, 6.0)))(x)
    np.testing.assert_allclose(batched, [fsp.logsumexp(r, b=np.arange(1.0, 6.0)) for r in x])
    jitted = fungrad.jit(lambda v: stats.norm.logcdf(v, 0.5, 2.0))(x)
    np.testing.assert_allclose(jitted, stats.norm.logcdf(x, 0.5, 2.0), rtol=1e-15)


def test_support_and_parameter_edges():
    assert stats.beta.logpdf(1.5, 2.0, 2.0) == -np.inf
    assert stats.gamma.logpdf(-1.0, 2.0) == -np.inf
    assert stats.poisson.logpmf(2.5, 1.0) == -np.inf and stats.poisson.pmf(-1, 1.0) == 0.0
    assert stats.bernoulli.logpmf(2, 0.3) == -np.inf
    assert stats.bernoulli.logpmf(0, 0.0) == 0.0
    assert np.isnan(stats.norm.logpdf(0.0, scale=-1.0))
    # outside the support the derivative in the parameters is 0, not NaN
    assert float(fungrad.grad(stats.gamma.logpdf, argnums=1)(-1.0, 2.0)) == 0.0


def test_multivariate_normal_batches_and_matches_independent_normals():
    rng = np.random.default_rng(1)
    x, mean = rng.standard_normal((5, 3)), rng.standard_normal(3)
    var = np.array([0.5, 1.0, 2.0])
    out = stats.multivariate_normal.logpdf(x, mean, var)  # a vector cov: the diagonal
    expected = np.sum(stats.norm.logpdf(x, mean, np.sqrt(var)), axis=-1)
    np.testing.assert_allclose(out, expected, rtol=1e-13)
    one_d = stats.multivariate_normal.logpdf(np.array([0.1, 0.5]), 0.2, 2.0)
    np.testing.assert_allclose(one_d, stats.norm.logpdf(np.array([0.1, 0.5]), 0.2, np.sqrt(2.0)))


# ---------------------------------------------------------------------------------------
# Errors


def test_errors_name_the_function_and_the_argument():
    with pytest.raises(FungradTypeError, match="polygamma: the order n must be a concrete"):
        fungrad.grad(lambda n: fsp.polygamma(n, 2.0))(1.0)
    with pytest.raises(FungradValueError, match="polygamma: the order n must be a non-negative"):
        fsp.polygamma(-1, 2.0)
    with pytest.raises(FungradValueError, match="multigammaln: d must be a positive integer"):
        fsp.multigammaln(2.0, 0)
    with pytest.raises(ShapeError, match=r"multivariate_normal.logpdf: x of shape \(4,\)"):
        stats.multivariate_normal.logpdf(np.ones(4), np.zeros(3), np.eye(3))
    with pytest.raises(ShapeError, match="mean of shape .* and cov of shape"):
        stats.multivariate_normal.logpdf(np.ones(3), np.zeros(3), np.eye(2)[None])
    with pytest.raises(FungradValueError, match="allow_singular=True is not supported"):
        stats.multivariate_normal.logpdf(np.ones(2), allow_singular=True)
    with pytest.raises(FungradValueError, match="dirichlet: x must lie on the simplex"):
        stats.dirichlet.logpdf(np.array([0.5, 0.6]), np.array([1.0, 1.0]))
    with pytest.raises(ShapeError, match=r"dirichlet: x of shape \(4,\) needs 2 \(or 1\)"):
        stats.dirichlet.logpdf(np.full(4, 0.25), np.array([1.0, 1.0]))
