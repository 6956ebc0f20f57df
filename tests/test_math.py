"""Edge cases of fungrad.numpy's elementwise math (fungrad/numpy/_math.py): kinks,
branch cuts, overflow, NaN, signed zeros, dtypes, complex values and errors. The
probes (tests/surface_math.py) and rows (tests/rows_elementwise.py) test the same
functions at generic points."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fungrad
import fungrad.numpy as fnp
from fungrad.errors import FungradTypeError
from fungrad.primitives import elementwise as ew

grad, jvp = fungrad.grad, fungrad.jvp


def nth_grad(f, n):
    for _ in range(n):
        f = grad(f)
    return f


def nth_jvp(f, n):
    """The n-th derivative of a scalar function by nested forward mode."""
    if n == 0:
        return f
    inner = nth_jvp(f, n - 1)
    return lambda x: jvp(inner, (x,), (1.0,))[1]


# ---------------------------------------------------------------------------------------
# sinc: derivatives of every order at and near 0


def sinc_derivative(x: float, n: int) -> float:
    """The n-th derivative of sin(pi x) / (pi x) from its power series (exact to
    rounding for |x| <= 1): sum_k (-1)^k pi^2k x^(2k-n) (2k)! / ((2k-n)! (2k+1)!)."""
    total = 0.0
    for k in range(40):
        p = 2 * k
        if p < n:
            continue
        total += (
            (-1) ** k
            * math.pi**p
            * x ** (p - n)
            * math.factorial(p)
            / (math.factorial(p - n) * math.factorial(p + 1))
        )
    return total


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4])
def test_sinc_derivatives_at_zero_are_the_analytic_values(n):
    # 1, 0, -pi^2/3, 0, pi^4/5
    expected = [1.0, 0.0, -(math.pi**2) / 3, 0.0, math.pi**4 / 5][n]
    for derivative in (nth_grad(fnp.sinc, n), nth_jvp(fnp.sinc, n)):
        out = float(derivative(0.0))
        assert math.isclose(out, expected, rel_tol=1e-14, abs_tol=1e-14), (n, out, expected)


@pytest.mark.parametrize("x", [1e-8, -1e-4, 0.05, 0.0999999, 0.1, 0.1000001, -0.3, 0.9])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_sinc_derivatives_near_zero_match_the_series(x, n):
    expected = sinc_derivative(x, n)
    for derivative in (nth_grad(fnp.sinc, n), nth_jvp(fnp.sinc, n)):
        out = float(derivative(x))
        assert math.isclose(out, expected, rel_tol=1e-9, abs_tol=1e-9 * n**2), (x, n, out)


def test_sinc_values_match_numpy_and_reverse_mode_at_zero_has_no_nan():
    x = np.array([-2.5, -1.0, -0.1, -1e-9, 0.0, 1e-9, 0.05, 0.1, 1.0, 3.3])
    np.testing.assert_allclose(fnp.sinc(x), np.sinc(x), rtol=1e-15, atol=1e-16)
    g = grad(lambda v: fnp.sum(fnp.sinc(v)))(x)
    assert np.all(np.isfinite(g))
    assert fnp.sinc(np.arange(3)).dtype == np.float64  # integers: float64, as NumPy
    assert fnp.sinc(np.float32(0.3)).dtype == np.float32
    assert float(fungrad.jit(fnp.sinc)(0.0)) == 1.0


# ---------------------------------------------------------------------------------------
# hypot: no overflow, the kink at the origin


def test_hypot_of_huge_values_neither_overflows_nor_loses_its_derivative():
    assert float(fnp.hypot(1e300, 1e300)) == float(np.hypot(1e300, 1e300))
    assert math.isfinite(float(fnp.hypot(1e300, 1e300)))
    gx, gy = grad(fnp.hypot, argnums=(0, 1))(3e300, 4e300)
    assert (float(gx), float(gy)) == pytest.approx((0.6, 0.8), rel=1e-15)
    assert float(fnp.hypot(3e-300, 4e-300)) == pytest.approx(5e-300, rel=1e-15)
    big32 = np.float32(3e30)
    assert fnp.hypot(big32, big32).dtype == np.float32
    assert np.isfinite(fnp.hypot(big32, big32))


def test_hypot_at_the_origin_has_zero_derivatives_of_every_order():
    gx, gy = grad(fnp.hypot, argnums=(0, 1))(0.0, 0.0)
    assert (float(gx), float(gy)) == (0.0, 0.0)
    h = fungrad.hessian(lambda v: fnp.hypot(v[0], v[1]))(np.zeros(2))
    np.testing.assert_array_equal(h, np.zeros((2, 2)))
    # away from it, the second derivative is y^2 / r^3
    assert float(grad(grad(fnp.hypot))(3.0, 4.0)) == pytest.approx(16 / 125, rel=1e-14)


def test_arcsinh_derivative_does_not_overflow():
    assert float(grad(fnp.arcsinh)(1e200)) == pytest.approx(1e-200, rel=1e-14)
    assert float(grad(fnp.arccosh)(1e200)) == pytest.approx(1e-200, rel=1e-14)


# ---------------------------------------------------------------------------------------
# arctan2: quadrant boundaries and signed zeros


@pytest.mark.parametrize(
    "y, x",
    [
        (0.0, 0.0), (-0.0, 0.0), (0.0, -0.0), (-0.0, -0.0), (0.0, -1.0), (-0.0, -1.0),
        (1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (np.inf, np.inf), (-np.inf, -np.inf),
        (1.0, -np.inf), (np.nan, 1.0),
    ],
)  # fmt: skip
def test_arctan2_values_match_numpy_on_the_axes(y, x):
    np.testing.assert_array_equal(fnp.arctan2(y, x), np.arctan2(y, x))
    assert np.signbit(fnp.arctan2(y, x)) == np.signbit(np.arctan2(y, x))


@pytest.mark.parametrize(
    "y, x, dy, dx",
    [
        (0.0, 1.0, 1.0, 0.0),  # positive x axis
        (1.0, 0.0, 0.0, -1.0),  # positive y axis
        (0.0, -1.0, -1.0, 0.0),  # negative x axis: the same on both sides of the cut
        (-0.0, -1.0, -1.0, 0.0),
        (-1.0, 0.0, 0.0, 1.0),
        (3.0, 4.0, 4 / 25, -3 / 25),
    ],
)
def test_arctan2_derivatives_on_the_quadrant_boundaries(y, x, dy, dx):
    gy, gx = grad(fnp.arctan2, argnums=(0, 1))(y, x)
    assert (float(gy), float(gx)) == pytest.approx((dy, dx), abs=1e-15)
    _, t = jvp(fnp.arctan2, (y, x), (1.0, 1.0))
    assert float(t) == pytest.approx(dy + dx, abs=1e-15)


def test_arctan2_derivative_at_the_origin_is_nan():
    with np.errstate(invalid="ignore"):
        gy, gx = grad(fnp.arctan2, argnums=(0, 1))(0.0, 0.0)
    assert np.isnan(gy) and np.isnan(gx)


def test_arctan2_second_derivative():
    # d2/dy2 atan2(y, x) = -2 x y / (x^2 + y^2)^2
    assert float(grad(grad(fnp.arctan2))(1.0, 2.0)) == pytest.approx(-4 / 25, rel=1e-14)


# ---------------------------------------------------------------------------------------
# fmax / fmin with NaN; ties


def test_fmax_and_fmin_ignore_nan_in_value_and_derivative():
    x = np.array([1.0, np.nan, np.nan, 2.0])
    y = np.array([np.nan, 3.0, np.nan, 1.0])
    for f, ref in ((fnp.fmax, np.fmax), (fnp.fmin, np.fmin)):
        np.testing.assert_array_equal(f(x, y), ref(x, y))
        gx, gy = grad(lambda a, b, f=f: fnp.sum(f(a, b)), argnums=(0, 1))(x, y)
        expected_x = np.array([1.0, 0.0, 0.0, 1.0 if f is fnp.fmax else 0.0])
        expected_y = np.array([0.0, 1.0, 0.0, 0.0 if f is fnp.fmax else 1.0])
        np.testing.assert_array_equal(gx, expected_x)
        np.testing.assert_array_equal(gy, expected_y)


def test_fmax_splits_ties_evenly():
    gx, gy = grad(fnp.fmax, argnums=(0, 1))(2.0, 2.0)
    assert (float(gx), float(gy)) == (0.5, 0.5)


# ---------------------------------------------------------------------------------------
# cbrt, fmod, copysign, heaviside, rounding


def test_cbrt_of_negative_values_and_its_infinite_slope_at_zero():
    x = np.array([-27.0, -8.0, -0.0, 0.0])
    np.testing.assert_array_equal(fnp.cbrt(x), np.cbrt(x))
    np.testing.assert_allclose(fnp.cbrt(x), [-3.0, -2.0, 0.0, 0.0], rtol=1e-15)
    assert float(grad(fnp.cbrt)(-8.0)) == pytest.approx(1 / 12, rel=1e-15)
    assert float(grad(grad(fnp.cbrt))(8.0)) == pytest.approx(-2 / 9 / 32, rel=1e-14)
    with np.errstate(divide="ignore", invalid="ignore"):
        assert float(jvp(fnp.cbrt, (0.0,), (1.0,))[1]) == np.inf
        assert np.isnan(jvp(fnp.cbrt, (0.0,), (0.0,))[1])


def test_fmod_takes_the_sign_of_x_and_its_derivatives_are_those_of_x_minus_trunc():
    x = np.array([7.5, -7.5, 7.5, -7.5])
    y = np.array([2.0, 2.0, -2.0, -2.0])
    np.testing.assert_array_equal(fnp.fmod(x, y), np.fmod(x, y))
    gx, gy = grad(lambda a, b: fnp.sum(fnp.fmod(a, b)), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, np.ones(4))
    np.testing.assert_array_equal(gy, -np.trunc(x / y))
    np.testing.assert_array_equal(fnp.fmod(np.array([7, -7]), 3), [1, -1])


def test_copysign_derivative_and_signed_zeros():
    x = np.array([1.0, -2.0, 3.0, 0.0, -0.0])
    y = np.array([-1.0, 1.0, -0.0, -1.0, 1.0])
    out = fnp.copysign(x, y)
    np.testing.assert_array_equal(np.signbit(out), np.signbit(np.copysign(x, y)))
    gx, gy = grad(lambda a, b: fnp.sum(fnp.copysign(a, b)), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, [-1.0, -1.0, -1.0, 0.0, 0.0])
    np.testing.assert_array_equal(gy, np.zeros(5))
    assert fnp.copysign(np.array([1, 2]), -1).dtype == np.copysign(np.array([1, 2]), -1).dtype


def test_heaviside_derivative_is_in_x2_where_x1_is_zero():
    x1 = np.array([-1.0, 0.0, -0.0, 2.0])
    x2 = np.array([0.3, 0.3, 0.7, 0.3])
    np.testing.assert_array_equal(fnp.heaviside(x1, x2), np.heaviside(x1, x2))
    g1, g2 = grad(lambda a, b: fnp.sum(fnp.heaviside(a, b)), argnums=(0, 1))(x1, x2)
    np.testing.assert_array_equal(g1, np.zeros(4))
    np.testing.assert_array_equal(g2, [0.0, 1.0, 1.0, 0.0])


@pytest.mark.parametrize("name", ["trunc", "fix", "rint", "floor", "ceil", "round", "sign"])
def test_rounding_has_zero_derivative_at_and_between_jumps(name):
    f = getattr(fnp, name)
    x = np.array([-2.5, -1.0, -0.5, 0.0, 0.3, 1.5, 2.0])
    np.testing.assert_array_equal(f(x), getattr(np, name)(x))
    np.testing.assert_array_equal(grad(lambda v: fnp.sum(f(v)))(x), np.zeros(7))


def test_trunc_keeps_negative_zero_and_rint_rounds_halves_to_even():
    assert np.signbit(fnp.trunc(-0.5)) and np.signbit(fnp.fix(-0.5))
    np.testing.assert_array_equal(fnp.rint(np.array([0.5, 1.5, 2.5, -0.5])), [0, 2, 2, -0.0])
    assert fnp.rint(np.array([1, 2], np.int64)).dtype == np.float64


# ---------------------------------------------------------------------------------------
# nan_to_num and the predicates


def test_nan_to_num_defaults_are_the_dtype_limits_and_the_derivative_is_masked():
    x = np.array([np.nan, np.inf, -np.inf, 1.5], np.float32)
    out = fnp.nan_to_num(x)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.nan_to_num(x))
    g = grad(lambda v: fnp.sum(fnp.nan_to_num(v, nan=1.0, posinf=2.0, neginf=3.0)))(x)
    np.testing.assert_array_equal(g, [0.0, 0.0, 0.0, 1.0])
    assert g.dtype == np.float32
    ints = np.array([1, 2])
    np.testing.assert_array_equal(fnp.nan_to_num(ints), ints)
    z = np.array([complex(np.nan, np.inf), complex(1.0, -np.inf)])
    np.testing.assert_array_equal(fnp.nan_to_num(z, posinf=5.0, neginf=-5.0),
                                  np.nan_to_num(z, posinf=5.0, neginf=-5.0))  # fmt: skip


def test_predicates_on_special_values():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, -np.nan, 1.0])
    for name in ("isnan", "isinf", "isposinf", "isneginf", "signbit", "isfinite"):
        np.testing.assert_array_equal(getattr(fnp, name)(x), getattr(np, name)(x), err_msg=name)
        jitted = fungrad.jit(getattr(fnp, name))(x)
        np.testing.assert_array_equal(jitted, getattr(np, name)(x), err_msg=name)


def test_isposinf_of_complex_values_raises_as_numpy_does():
    z = np.array([1 + 1j])
    with pytest.raises(FungradTypeError, match=r"isposinf: x is complex \(complex128\)"):
        fnp.isposinf(z)
    with pytest.raises(FungradTypeError, match=r"isneginf: x is complex"):
        fnp.isneginf(z)


# ---------------------------------------------------------------------------------------
# real, imag, conj: complex values without derivatives


def test_real_imag_conj_of_complex_values_as_numpy_eager_jit_and_vmap():
    z = np.array([[1 + 2j, -3 - 4j], [0.5j, 2.0 + 0j]])
    for name in ("real", "imag", "conj", "conjugate"):
        f, ref = getattr(fnp, name), getattr(np, name)
        for out in (f(z), fungrad.jit(f)(z), fungrad.vmap(f)(z)):
            assert np.asarray(out).dtype == ref(z).dtype, name
            np.testing.assert_array_equal(out, ref(z), err_msg=name)
    z32 = z.astype(np.complex64)
    assert fnp.real(z32).dtype == np.float32 and fnp.imag(z32).dtype == np.float32


def test_real_imag_conj_of_real_values_and_their_derivatives():
    x = np.array([1.5, -2.0], np.float32)
    np.testing.assert_array_equal(fnp.real(x), x)
    np.testing.assert_array_equal(fnp.conj(x), x)
    np.testing.assert_array_equal(fnp.imag(x), np.zeros(2, np.float32))
    assert fnp.imag(x).dtype == np.float32
    assert float(grad(lambda v: fnp.real(v) * 3.0)(2.0)) == 3.0
    assert float(grad(lambda v: fnp.conj(v) * 3.0)(2.0)) == 3.0
    assert float(grad(lambda v: fnp.imag(v) + v)(2.0)) == 1.0
    # jit drops real and conj of real values
    assert not fungrad.jit(fnp.real).lower(x).jaxpr.eqns


def test_a_derivative_reaching_a_complex_input_of_real_imag_conj_raises():
    z = np.array([1 + 2j])
    for name in ("real", "imag", "conj"):
        f = getattr(fnp, name)
        with pytest.raises(FungradTypeError, match="cannot differentiate through complex"):
            jvp(f, (z,), (np.array([1 + 0j]),))
    # a real tangent made complex on the way raises too, before real() is reached
    with pytest.raises(FungradTypeError, match="cannot differentiate through complex"):
        grad(lambda v: fnp.real(v * 1j))(1.0)


# ---------------------------------------------------------------------------------------
# dtypes: float32 stays float32, integers as NumPy promotes them

NEW_UNARY = [
    "arcsinh", "arccosh", "arctanh", "cbrt", "sinc", "deg2rad", "rad2deg", "degrees",
    "radians", "trunc", "fix", "rint", "isnan", "isinf", "isposinf", "isneginf", "signbit",
    "real", "imag", "conj", "conjugate", "nan_to_num", "exp2", "log2", "log10",
]  # fmt: skip
NEW_BINARY = [
    "arctan2", "hypot", "logaddexp2", "fmod", "fmax", "fmin", "copysign", "heaviside",
]  # fmt: skip


@pytest.mark.parametrize("name", NEW_UNARY)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int8, np.int64])
def test_unary_result_dtypes_are_numpy_s(name, dtype):
    x = np.array([1.0, 2.0]).astype(dtype)
    with np.errstate(all="ignore"):
        expected = getattr(np, name)(x)
        out = getattr(fnp, name)(x)
        staged = fungrad.jit(getattr(fnp, name))(x)
    assert np.asarray(out).dtype == expected.dtype
    assert np.asarray(staged).dtype == expected.dtype
    np.testing.assert_allclose(out, expected, rtol=1e-3 if dtype == np.float16 else 1e-6)


@pytest.mark.parametrize("name", NEW_BINARY)
@pytest.mark.parametrize(
    "dtypes",
    [(np.float32, np.float32), (np.float32, float), (np.float32, np.float64), (np.int8, int)],
)
def test_binary_result_dtypes_are_numpy_s(name, dtypes):
    x = np.array([1.0, 2.0]).astype(dtypes[0])
    y = 0.5 if dtypes[1] is float else 3 if dtypes[1] is int else np.array([0.5, 3.0], dtypes[1])
    expected = getattr(np, name)(x, y)
    out = getattr(fnp, name)(x, y)
    assert np.asarray(out).dtype == expected.dtype
    np.testing.assert_allclose(out, expected, rtol=1e-6)


@pytest.mark.parametrize("name", ["arcsinh", "cbrt", "sinc", "deg2rad", "rad2deg", "exp2"])
def test_float32_derivatives_stay_float32(name):
    f = getattr(fnp, name)
    x = np.array([0.3, 0.7], np.float32)
    g = grad(lambda v: fnp.sum(f(v)))(x)
    assert g.dtype == np.float32
    g2 = grad(lambda v: fnp.sum(grad(lambda u: fnp.sum(f(u)))(v)))(x)
    assert g2.dtype == np.float32


@pytest.mark.parametrize("name", ["arctan2", "hypot", "logaddexp2", "fmax", "copysign"])
def test_float32_derivatives_of_binary_functions_stay_float32(name):
    f = getattr(fnp, name)
    x = np.array([0.3, 0.7], np.float32)
    y = np.array([0.5, -0.2], np.float32)
    gx, gy = grad(lambda a, b: fnp.sum(f(a, b)), argnums=(0, 1))(x, y)
    assert gx.dtype == np.float32 and gy.dtype == np.float32


def test_degrees_and_radians_are_exactly_numpy_s():
    x = np.linspace(-720, 720, 101)
    for dtype in (np.float64, np.float32):
        v = x.astype(dtype)
        np.testing.assert_array_equal(fnp.deg2rad(v), np.deg2rad(v))
        np.testing.assert_array_equal(fnp.rad2deg(v), np.rad2deg(v))
    assert float(grad(fnp.radians)(1.0)) == math.pi / 180
    assert float(grad(fnp.degrees)(1.0)) == 180 / math.pi


def test_exp2_log2_log10_primitives_are_exact_at_powers():
    # The primitives fungrad.numpy's exp2, log2 and log10 should bind (see the issue 13
    # report): the compositions through exp and log are off by an ulp or more there.
    np.testing.assert_array_equal(ew.exp2(np.array([3.0, 10.0, -4.0])), [8.0, 1024.0, 0.0625])
    np.testing.assert_array_equal(ew.log10(np.array([10.0, 1000.0, 1e-5])), [1.0, 3.0, -5.0])
    np.testing.assert_array_equal(ew.log2(np.array([8.0, 2.0**-20])), [3.0, -20.0])
    assert float(grad(ew.log2)(4.0)) == pytest.approx(1 / (4 * math.log(2)), rel=1e-15)
    assert float(grad(ew.log10)(4.0)) == pytest.approx(1 / (4 * math.log(10)), rel=1e-15)
    assert float(grad(grad(ew.exp2))(3.0)) == pytest.approx(8 * math.log(2) ** 2, rel=1e-15)


def test_logaddexp2_of_large_values_does_not_overflow():
    assert float(fnp.logaddexp2(5000.0, 5000.0)) == 5001.0
    gx, gy = grad(fnp.logaddexp2, argnums=(0, 1))(5000.0, 4999.0)
    assert (float(gx), float(gy)) == pytest.approx((2 / 3, 1 / 3), rel=1e-14)
