"""Tests for fungrad.nn: activations and losses are correct and finite at the extremes (in
value and gradient), initialisers give the documented shapes, and a small MLP trains.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose

import fungrad.numpy as fnp
from fungrad import grad, jacfwd, jacrev, jit, jvp, nn, value_and_grad, vmap
from fungrad.test_util import check_grads, numerical_jacobian

EXTREMES = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])


def reference_sigmoid(x):
    return np.exp(-np.logaddexp(0.0, -x))


def reference_softplus(x):
    return np.logaddexp(0.0, x)


def reference_logsumexp(x, axis=None, keepdims=False):
    return np.logaddexp.reduce(x, axis=axis, keepdims=keepdims)


def assert_finite(*values):
    for v in values:
        assert np.all(np.isfinite(v)), v


# ---------------------------------------------------------------------------------------
# Activations at the extremes


def test_sigmoid_is_exact_and_finite_at_extremes():
    out = nn.sigmoid(EXTREMES)
    assert_finite(out)
    assert_allclose(out, reference_sigmoid(EXTREMES), rtol=1e-15, atol=0)
    assert out[0] == 0.0 and out[-1] == 1.0 and out[2] == 0.5


def test_sigmoid_gradient_is_finite_at_extremes_and_equals_s_times_one_minus_s():
    g = grad(lambda x: fnp.sum(nn.sigmoid(x)))(EXTREMES)
    assert_finite(g)
    s = reference_sigmoid(EXTREMES)
    assert_allclose(g, s * (1 - s), rtol=1e-12, atol=1e-300)
    assert g[0] == 0.0 and g[-1] == 0.0 and g[2] == 0.25


def test_softplus_is_exact_and_finite_at_extremes():
    out = nn.softplus(EXTREMES)
    assert_finite(out)
    assert_allclose(out, reference_softplus(EXTREMES), rtol=1e-15)
    assert out[-1] == 1000.0 and out[0] == 0.0
    assert out[2] == pytest.approx(math.log(2.0))


def test_softplus_gradient_is_sigmoid_and_finite_at_extremes():
    g = jacrev(lambda x: fnp.sum(nn.softplus(x)))(EXTREMES)
    assert_finite(g)
    assert_allclose(g, reference_sigmoid(EXTREMES), rtol=1e-12, atol=1e-300)
    assert g[0] == 0.0 and g[-1] == 1.0


def test_log_sigmoid_is_finite_for_very_negative_inputs():
    out = nn.log_sigmoid(EXTREMES)
    assert_finite(out)
    assert_allclose(out, -reference_softplus(-EXTREMES), rtol=1e-15)
    assert out[0] == -1000.0
    g = grad(lambda x: fnp.sum(nn.log_sigmoid(x)))(EXTREMES)
    assert_finite(g)
    assert_allclose(g, 1 - reference_sigmoid(EXTREMES), atol=1e-15)


@given(hnp.arrays(np.float64, (5,), elements=st.floats(-700.0, 700.0)))
def test_sigmoid_and_softplus_match_references_everywhere(x):
    assert_allclose(nn.sigmoid(x), reference_sigmoid(x), rtol=1e-12, atol=1e-300)
    assert_allclose(nn.softplus(x), reference_softplus(x), rtol=1e-12, atol=1e-300)


def test_relu_value_and_gradient_with_zero_derivative_at_zero():
    x = np.array([-2.0, 0.0, 3.0])
    assert_allclose(nn.relu(x), [0.0, 0.0, 3.0])
    assert_allclose(grad(lambda x: fnp.sum(nn.relu(x)))(x), [0.0, 0.0, 1.0])


# ---------------------------------------------------------------------------------------
# logsumexp, log_softmax, softmax


@pytest.mark.parametrize("big", [1000.0, -1000.0])
def test_logsumexp_of_equal_huge_values_is_value_plus_log_n(big):
    x = np.full(4, big)
    out = nn.logsumexp(x)
    assert_finite(out)
    assert float(out) == pytest.approx(big + math.log(4.0), rel=1e-15)
    g = grad(nn.logsumexp)(x)
    assert_finite(g)
    assert_allclose(g, np.full(4, 0.25))


def test_logsumexp_of_spread_extremes_is_the_maximum_and_gradient_is_one_hot():
    out = nn.logsumexp(EXTREMES)
    assert float(out) == 1000.0
    g = grad(nn.logsumexp)(EXTREMES)
    assert_finite(g)
    assert_allclose(g, [0.0, 0.0, 0.0, 0.0, 1.0])


def test_logsumexp_ignores_minus_infinity_entries():
    x = np.array([-np.inf, 0.0, 0.0])
    assert float(nn.logsumexp(x)) == pytest.approx(math.log(2.0))
    assert_allclose(grad(nn.logsumexp)(x), [0.0, 0.5, 0.5])


@pytest.mark.parametrize(
    ("axis", "keepdims"), [(None, False), (0, False), (1, True), (-1, False), ((0, 1), True)]
)
def test_logsumexp_axis_and_keepdims_match_reference(axis, keepdims):
    x = np.array([[1000.0, -1000.0, 3.0], [0.5, 999.0, -2.0]])
    out = nn.logsumexp(x, axis=axis, keepdims=keepdims)
    expected = reference_logsumexp(x, axis=axis, keepdims=keepdims)
    assert np.shape(out) == np.shape(expected)
    assert_allclose(out, expected, rtol=1e-15)


@given(hnp.arrays(np.float64, (2, 3), elements=st.floats(-1000.0, 1000.0)))
def test_logsumexp_matches_reference_and_its_gradient_is_softmax(x):
    assert_allclose(
        nn.logsumexp(x, axis=1), reference_logsumexp(x, axis=1), rtol=1e-12, atol=1e-12
    )
    g = grad(lambda x: fnp.sum(nn.logsumexp(x, axis=1)))(x)
    shifted = np.exp(x - x.max(axis=1, keepdims=True))
    assert_allclose(g, shifted / shifted.sum(axis=1, keepdims=True), rtol=1e-9, atol=1e-300)


def test_log_softmax_is_finite_and_exact_at_extremes():
    x = np.array([1000.0, 0.0, -1000.0])
    out = nn.log_softmax(x)
    assert_finite(out)
    assert_allclose(out, [0.0, -1000.0, -2000.0])


def test_log_softmax_jacobian_is_finite_at_extremes():
    x = np.array([1000.0, 0.0, -1000.0])
    j = jacrev(nn.log_softmax)(x)
    assert_finite(j)
    assert_allclose(j, np.eye(3) - np.array([1.0, 0.0, 0.0]), atol=1e-300)
    assert_allclose(jacfwd(nn.log_softmax)(x), j)


def test_log_softmax_matches_numerical_jacobian_at_ordinary_values():
    x = np.array([[0.3, -1.2, 2.0], [1.0, 1.0, -0.5]])
    f = lambda x: nn.log_softmax(x, axis=0)
    assert_allclose(jacrev(f)(x), numerical_jacobian(f, x), rtol=1e-6, atol=1e-9)


def test_softmax_at_extremes_sums_to_one_with_finite_gradient():
    x = np.array([1000.0, 999.0, -1000.0])
    p = nn.softmax(x)
    assert_finite(p)
    assert float(np.sum(p)) == pytest.approx(1.0)
    e = math.exp(-1.0)
    assert_allclose(p, [1 / (1 + e), e / (1 + e), 0.0], atol=1e-300)
    assert_finite(jacrev(nn.softmax)(x))


# ---------------------------------------------------------------------------------------
# Losses


def test_binary_cross_entropy_with_logits_is_exact_at_extremes():
    logits = np.array([1000.0, 1000.0, -1000.0, -1000.0, 0.0])
    labels = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    out = nn.binary_cross_entropy_with_logits(logits, labels)
    assert_finite(out)
    assert_allclose(out, [0.0, 1000.0, 0.0, 1000.0, math.log(2.0)])


def test_binary_cross_entropy_with_logits_gradient_is_sigmoid_minus_label_at_extremes():
    logits = np.array([1000.0, 1000.0, -1000.0, -1000.0, 0.0])
    labels = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    g = grad(lambda z: fnp.sum(nn.binary_cross_entropy_with_logits(z, labels)))(logits)
    assert_finite(g)
    assert_allclose(g, [0.0, 1.0, 0.0, -1.0, -0.5])


@given(st.floats(-1000.0, 1000.0), st.floats(0.0, 1.0))
def test_binary_cross_entropy_with_logits_matches_a_stable_reference(z, y):
    # -[y log s + (1 - y) log(1 - s)] = y log(1 + e^-z) + (1 - y) log(1 + e^z)
    reference = y * np.logaddexp(0.0, -z) + (1 - y) * np.logaddexp(0.0, z)
    value = float(nn.binary_cross_entropy_with_logits(z, y))
    assert value == pytest.approx(reference, rel=1e-9, abs=1e-9)


# Moderate: beyond |z| ~ 15, 1 - sigmoid(z) keeps too few digits for the naive formula
# to be a reference at rel=1e-6 (at z = 27 it is off by 2e-5).
@given(st.floats(-15.0, 15.0), st.floats(0.05, 0.95))
def test_binary_cross_entropy_with_logits_matches_the_naive_formula_at_moderate_logits(z, y):
    s = 1.0 / (1.0 + math.exp(-z))
    naive = -(y * math.log(s) + (1 - y) * math.log(1 - s))
    value = float(nn.binary_cross_entropy_with_logits(z, y))
    assert value == pytest.approx(naive, rel=1e-6)


def test_softmax_cross_entropy_with_integer_labels_equals_one_hot_version():
    logits = np.array([[1000.0, 0.0, -1000.0], [0.1, 0.2, 0.3]])
    labels = np.array([1, 2])
    by_index = nn.softmax_cross_entropy_with_integer_labels(logits, labels)
    by_one_hot = nn.softmax_cross_entropy(logits, nn.one_hot(labels, 3))
    assert_finite(by_index)
    assert_allclose(by_index, by_one_hot)
    assert float(by_index[0]) == 1000.0
    g_index = grad(lambda z: fnp.sum(nn.softmax_cross_entropy_with_integer_labels(z, labels)))(
        logits
    )
    g_hot = grad(lambda z: fnp.sum(nn.softmax_cross_entropy(z, nn.one_hot(labels, 3))))(logits)
    assert_finite(g_index)
    assert_allclose(g_index, g_hot)


@given(
    st.lists(st.floats(-1e3, 1e3), min_size=12, max_size=12),
    st.lists(st.integers(-4, 3), min_size=3, max_size=3),
    st.sampled_from([np.float64, np.float32]),
)
def test_integer_label_cross_entropy_is_minus_log_softmax_at_the_label_to_the_bit(
    values, labels, dtype
):
    # It is written as log(sum(exp(shifted))) - shifted[label] for a shorter backward
    # pass; the value is -log_softmax(logits)[label] exactly, and the gradient is
    # softmax - one_hot.
    logits = np.array(values, dtype).reshape(3, 4)
    labels = np.array(labels)
    got = nn.softmax_cross_entropy_with_integer_labels(logits, labels)
    want = -np.take_along_axis(nn.log_softmax(logits), labels[:, None], axis=1)[:, 0]
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, want)
    g = grad(lambda z: fnp.sum(nn.softmax_cross_entropy_with_integer_labels(z, labels)))(logits)
    expected = nn.softmax(logits) - nn.one_hot(labels % 4, 4)
    assert_allclose(g, expected, rtol=0, atol=8 * np.finfo(dtype).eps)


def test_one_hot_rows_of_the_identity():
    assert_allclose(nn.one_hot([2, 0], 3), [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])


def test_mse_value_and_gradient():
    pred, target = np.array([1.0, 2.0, 4.0]), np.array([1.0, 0.0, 1.0])
    value, g = value_and_grad(nn.mse)(pred, target)
    assert float(value) == pytest.approx(13.0 / 3.0)
    assert_allclose(g, 2 * (pred - target) / 3)


# ---------------------------------------------------------------------------------------
# Initialisers and the MLP


def test_init_mlp_shapes_and_dtypes():
    params = nn.init_mlp(np.random.default_rng(0), [5, 16, 8, 3])
    assert [(p["w"].shape, p["b"].shape) for p in params] == [
        ((5, 16), (16,)),
        ((16, 8), (8,)),
        ((8, 3), (3,)),
    ]
    assert all(p["w"].dtype == np.float64 and np.all(p["b"] == 0) for p in params)
    params32 = nn.init_mlp(np.random.default_rng(0), [2, 4], dtype=np.float32)
    assert params32[0]["w"].dtype == np.float32 and params32[0]["b"].dtype == np.float32


def test_init_mlp_is_deterministic_given_the_rng():
    a = nn.init_mlp(np.random.default_rng(7), [3, 4, 2])
    b = nn.init_mlp(np.random.default_rng(7), [3, 4, 2])
    for la, lb in zip(a, b):
        assert_allclose(la["w"], lb["w"])


def test_he_and_glorot_initialisers_have_the_documented_variance():
    rng = np.random.default_rng(0)
    he = nn.he_normal(rng, (200, 300))
    glorot = nn.glorot_normal(rng, (200, 300))
    assert he.var() == pytest.approx(2.0 / 200, rel=0.05)
    assert glorot.var() == pytest.approx(2.0 / 500, rel=0.05)


def test_mlp_output_shape_for_a_batch_and_a_single_example():
    params = nn.init_mlp(np.random.default_rng(0), [4, 8, 3])
    assert nn.mlp(params, np.ones((10, 4))).shape == (10, 3)
    assert nn.mlp(params, np.ones(4)).shape == (3,)


def test_mlp_gradient_has_the_parameter_structure_and_matches_differences():
    params = nn.init_mlp(np.random.default_rng(1), [3, 4, 2])
    x = np.random.default_rng(2).standard_normal((5, 3))
    loss = lambda p: fnp.sum(nn.mlp(p, x, activation=fnp.tanh) ** 2)
    g = grad(loss)(params)
    assert isinstance(g, list) and len(g) == 2
    assert g[0]["w"].shape == (3, 4) and g[1]["b"].shape == (2,)

    def loss_of_first_weight(w):
        return loss([{"w": w, "b": params[0]["b"]}, params[1]])

    numerical = numerical_jacobian(loss_of_first_weight, params[0]["w"])
    assert_allclose(g[0]["w"], numerical, rtol=1e-6, atol=1e-8)


def test_training_a_small_mlp_with_grad_reduces_the_loss():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 2))
    labels = (x[:, 0] * x[:, 1] > 0).astype(np.int64)  # XOR of the signs
    params = nn.init_mlp(rng, [2, 16, 2])

    def loss(params, x, labels):
        return fnp.mean(nn.softmax_cross_entropy_with_integer_labels(nn.mlp(params, x), labels))

    loss_and_grad = value_and_grad(loss)
    first, _ = loss_and_grad(params, x, labels)
    for _ in range(150):
        value, g = loss_and_grad(params, x, labels)
        params = [{k: p[k] - 0.5 * gp[k] for k in p} for p, gp in zip(params, g)]
    last = float(loss(params, x, labels))
    assert last < 0.5 * float(first)
    accuracy = np.mean(np.argmax(nn.mlp(params, x), axis=1) == labels)
    assert accuracy > 0.85


def test_training_in_float32_stays_float32():
    rng = np.random.default_rng(0)
    params = nn.init_mlp(rng, [3, 4, 1], dtype=np.float32)
    x = rng.standard_normal((8, 3)).astype(np.float32)
    y = rng.standard_normal((8, 1)).astype(np.float32)
    value, g = value_and_grad(lambda p: nn.mse(nn.mlp(p, x), y))(params)
    assert value.dtype == np.float32
    assert all(leaf.dtype == np.float32 for layer in g for leaf in layer.values())


# =======================================================================================
# The full jax.nn activation set: values and derivatives against closed forms in Python's
# `math` (float64, written in a stable form), at the extremes, at the kinks and in between.


def _sig(u):
    """Logistic function, stable for any float."""
    if u >= 0:
        return 1.0 / (1.0 + math.exp(-u))
    e = math.exp(u)
    return e / (1.0 + e)


def _dsig(u):
    e = math.exp(-abs(u))
    return e / (1.0 + e) ** 2


def _softplus(u):
    return max(u, 0.0) + math.log1p(math.exp(-abs(u)))


def _sech2(u):
    e = math.exp(-2.0 * abs(u))
    return 4.0 * e / (1.0 + e) ** 2


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
GELU_C = math.sqrt(2.0 / math.pi)


def _gelu_tanh(x):
    # x/2 (1 + tanh z) = x sigmoid(2z): an identity, written without cancellation
    return x * _sig(2.0 * GELU_C * (x + 0.044715 * x**3))


def _dgelu_tanh(x):
    u = 2.0 * GELU_C * (x + 0.044715 * x**3)
    du = 2.0 * GELU_C * (1.0 + 3 * 0.044715 * x**2)
    return _sig(u) + (x * _dsig(u) * du if _dsig(u) else 0.0)


def _hs(x):
    return min(max(x + 3.0, 0.0), 6.0) / 6.0


def _dhs(x):
    return 1.0 / 6.0 if -3.0 < x < 3.0 else 0.0


# name -> (function under test, value(x), derivative(x)); derivatives at kinks are JAX's.
ACTIVATIONS = {
    "sigmoid": (nn.sigmoid, _sig, _dsig),
    "tanh": (nn.tanh, math.tanh, _sech2),
    "relu": (nn.relu, lambda x: max(x, 0.0), lambda x: 1.0 if x > 0 else 0.0),
    "relu6": (
        nn.relu6,
        lambda x: min(max(x, 0.0), 6.0),
        lambda x: 1.0 if 0 < x < 6 else 0.0,
    ),
    "leaky_relu": (
        nn.leaky_relu,
        lambda x: x if x >= 0 else 0.01 * x,
        lambda x: 1.0 if x >= 0 else 0.01,
    ),
    "prelu": (
        lambda x: nn.prelu(x, 0.25),
        lambda x: x if x >= 0 else 0.25 * x,
        lambda x: 1.0 if x >= 0 else 0.25,
    ),
    "elu": (
        nn.elu,
        lambda x: x if x > 0 else math.expm1(x),
        lambda x: 1.0 if x > 0 else math.exp(x),
    ),
    "selu": (
        nn.selu,
        lambda x: SELU_SCALE * (x if x > 0 else SELU_ALPHA * math.expm1(x)),
        lambda x: SELU_SCALE * (1.0 if x > 0 else SELU_ALPHA * math.exp(x)),
    ),
    "celu": (
        lambda x: nn.celu(x, alpha=2.0),
        lambda x: x if x > 0 else 2.0 * math.expm1(x / 2.0),
        lambda x: 1.0 if x > 0 else math.exp(x / 2.0),
    ),
    "gelu_exact": (
        lambda x: nn.gelu(x, approximate=False),
        lambda x: 0.5 * x * math.erfc(-x / math.sqrt(2.0)),
        lambda x: (
            0.5 * math.erfc(-x / math.sqrt(2.0))
            + x * math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
        ),
    ),
    "gelu_tanh": (nn.gelu, _gelu_tanh, _dgelu_tanh),
    "silu": (nn.silu, lambda x: x * _sig(x), lambda x: _sig(x) + x * _dsig(x)),
    "mish": (
        nn.mish,
        lambda x: x * math.tanh(_softplus(x)),
        lambda x: math.tanh(_softplus(x)) + x * _sech2(_softplus(x)) * _sig(x),
    ),
    "softplus": (nn.softplus, _softplus, _sig),
    "soft_sign": (
        nn.soft_sign,
        lambda x: x / (1.0 + abs(x)),
        lambda x: 1.0 / (1.0 + abs(x)) ** 2,
    ),
    "hard_tanh": (
        nn.hard_tanh,
        lambda x: min(max(x, -1.0), 1.0),
        lambda x: 1.0 if -1 <= x <= 1 else 0.0,
    ),
    "hard_sigmoid": (nn.hard_sigmoid, _hs, _dhs),
    "hard_silu": (nn.hard_silu, lambda x: x * _hs(x), lambda x: _hs(x) + x * _dhs(x)),
    "log_sigmoid": (nn.log_sigmoid, lambda x: -_softplus(-x), lambda x: _sig(-x)),
}

# The extremes, zero, every kink (0, ±1, ±3, 6) and ordinary values.
POINTS = [-1000.0, -50.0, -6.0, -3.0, -1.7, -1.0, -0.3, 0.0, 0.3, 1.0, 2.5, 3.0, 6.0, 7.5]
POINTS += [50.0, 1000.0]
# float64: closed forms agree to a few ulps; float32: the input is rounded to float32
# first (the reference uses that rounded input), then a few float32 ulps.
TOLERANCES = {np.float64: (1e-13, 1e-300), np.float32: (3e-6, 1e-37)}


def _reference(fn, xs):
    return np.array([fn(float(x)) for x in xs])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_value_and_derivative_match_closed_forms(name, dtype):
    f, value, derivative = ACTIVATIONS[name]
    x = np.array(POINTS, dtype=dtype)
    rtol, atol = TOLERANCES[dtype]
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # not even internally
        out = f(x)
        g_rev = grad(lambda x: fnp.sum(f(x)))(x)
        _, g_fwd = jvp(f, (x,), (np.ones_like(x),))
    for result in (out, g_rev, g_fwd):
        assert_finite(result)
        assert result.dtype == dtype
    assert_allclose(out, _reference(value, x), rtol=rtol, atol=atol)
    # Derivatives: relative accuracy, or absolute accuracy 2 eps (sigmoid' = s (1 - s) and
    # tanh' = 1 - tanh**2 are formed so in the primitives, as in JAX, losing the relative
    # accuracy of values below eps, e.g. sigmoid'(50) ~ 2e-22 comes out as 0).
    eps = 2 * float(np.finfo(dtype).eps)
    assert_allclose(g_rev, _reference(derivative, x), rtol=rtol, atol=eps)
    assert_allclose(g_fwd, _reference(derivative, x), rtol=rtol, atol=eps)


@given(hnp.arrays(np.float64, (6,), elements=st.floats(-60.0, 60.0)))
def test_activations_match_closed_forms_everywhere(x):
    for name, (f, value, derivative) in ACTIVATIONS.items():
        assert_allclose(f(x), _reference(value, x), rtol=1e-12, atol=1e-300, err_msg=name)
        g = grad(lambda x, f=f: fnp.sum(f(x)))(x)
        assert_allclose(g, _reference(derivative, x), rtol=1e-11, atol=4.5e-16, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_propagates_nan(name, dtype):
    f = ACTIVATIONS[name][0]
    x = np.array([np.nan, 1.0], dtype=dtype)
    with np.errstate(invalid="ignore"):
        out = f(x)
    assert np.isnan(out[0]) and np.isfinite(out[1])


# Kinks: the exact derivative JAX defines there (cited in docs/nn.md).
KINKS = [
    ("relu", nn.relu, 0.0, 0.0),
    ("relu6", nn.relu6, 0.0, 0.0),
    ("relu6", nn.relu6, 6.0, 0.0),
    ("leaky_relu", nn.leaky_relu, 0.0, 1.0),
    ("prelu", lambda x: nn.prelu(x, 0.3), 0.0, 1.0),
    ("hard_tanh", nn.hard_tanh, -1.0, 1.0),
    ("hard_tanh", nn.hard_tanh, 1.0, 1.0),
    ("hard_sigmoid", nn.hard_sigmoid, -3.0, 0.0),
    ("hard_sigmoid", nn.hard_sigmoid, 3.0, 0.0),
    ("hard_silu", nn.hard_silu, -3.0, 0.0),
    ("hard_silu", nn.hard_silu, 3.0, 1.0),
    ("elu", lambda x: nn.elu(x, alpha=0.5), 0.0, 0.5),
    ("celu", lambda x: nn.celu(x, alpha=0.5), 0.0, 1.0),
    ("selu", nn.selu, 0.0, SELU_SCALE * SELU_ALPHA),
    ("soft_sign", nn.soft_sign, 0.0, 1.0),
]


@pytest.mark.parametrize(
    ("name", "f", "x", "expected"), KINKS, ids=[f"{k[0]}@{k[2]}" for k in KINKS]
)
def test_derivative_at_a_kink_is_jaxs_choice(name, f, x, expected):
    assert float(grad(f)(x)) == expected
    assert float(jvp(f, (x,), (1.0,))[1]) == expected
    assert float(grad(f)(np.float32(x))) == pytest.approx(expected, rel=1e-7)


# Away from every kink, two orders of derivatives in both modes against differences.
SMOOTH_POINTS = np.array([-2.3, -0.7, -0.2, 0.4, 1.9, 4.2])


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_second_derivatives_match_central_differences(name):
    check_grads(ACTIVATIONS[name][0], (SMOOTH_POINTS,), order=2)


def test_swish_and_hard_swish_are_the_silu_functions():
    assert nn.swish is nn.silu and nn.hard_swish is nn.hard_silu


def test_gelu_exact_and_tanh_approximation_differ_by_less_than_1e_3():
    x = np.linspace(-6.0, 6.0, 121)
    gap = np.abs(nn.gelu(x) - nn.gelu(x, approximate=False))
    assert gap.max() < 1e-3 and gap.max() > 1e-5  # close, but a different function


def test_prelu_slope_broadcasts_and_gets_the_gradient_of_the_negative_part():
    x = np.array([[-2.0, 1.0, -1.0], [3.0, -4.0, 0.0]])
    slope = np.array([0.1, 0.2, 0.3])
    expected = np.where(x >= 0, x, slope * x)
    assert_allclose(nn.prelu(x, slope), expected)
    g_slope = grad(lambda s: fnp.sum(nn.prelu(x, s)))(slope)
    assert_allclose(g_slope, np.where(x >= 0, 0.0, x).sum(axis=0))
    check_grads(lambda s: nn.prelu(x, s), (slope,), order=2)


def test_integer_inputs_are_promoted_to_float():
    assert nn.elu(np.array([-1, 2])).dtype == np.float64
    assert nn.gelu(np.array([1]), approximate=False).dtype == np.float64
    assert float(nn.silu(0)) == 0.0


# ---------------------------------------------------------------------------------------
# maxout, standardize, softmax family in float32, one_hot


def test_maxout_takes_the_maximum_over_consecutive_blocks():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 6))
    # 3 pieces of 2 units: unit j is max(x[j], x[2 + j], x[4 + j])
    expected = np.maximum(np.maximum(x[:, 0:2], x[:, 2:4]), x[:, 4:6])
    assert_allclose(nn.maxout(x, 3), expected)
    assert_allclose(nn.maxout(x.T, 3, axis=0), expected.T)


def test_maxout_gradient_goes_to_the_winning_piece_and_splits_ties():
    x = np.array([1.0, 5.0, 3.0, 2.0, 2.5, 0.0])  # units: max(1,3,2.5)=3, max(5,2,0)=5
    g = grad(lambda x: fnp.sum(nn.maxout(x, 3)))(x)
    assert_allclose(g, [0.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    tie = grad(lambda x: fnp.sum(nn.maxout(x, 2)))(np.array([2.0, 2.0]))
    assert_allclose(tie, [0.5, 0.5])
    check_grads(lambda x: nn.maxout(x, 3), (np.array([1.0, 5.0, 3.0, 2.0, 3.5, 0.0]),), 2)


@pytest.mark.parametrize("num_pieces", [4, 0, -2])
def test_maxout_refuses_a_piece_count_that_does_not_divide_the_axis(num_pieces):
    with pytest.raises(ValueError, match="num_pieces"):
        nn.maxout(np.ones((2, 6)), num_pieces)


def _np_standardize(x, axis, epsilon):
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=axis, keepdims=True)
    return (x - mean) / np.sqrt(((x - mean) ** 2).mean(axis=axis, keepdims=True) + epsilon)


@given(hnp.arrays(np.float64, (3, 4), elements=st.floats(-1e3, 1e3)))
def test_standardize_matches_a_numpy_reference(x):
    assert_allclose(nn.standardize(x), _np_standardize(x, -1, 1e-5), rtol=1e-9, atol=1e-9)
    assert_allclose(
        nn.standardize(x, axis=0, epsilon=1e-3), _np_standardize(x, 0, 1e-3), atol=1e-9
    )


def test_standardize_is_accurate_in_float32_far_from_zero():
    # E[x^2] - E[x]^2 (JAX's formula) cancels here: var ~ 1 against E[x^2] ~ 1e6.
    rng = np.random.default_rng(0)
    x = (1000.0 + rng.standard_normal((2, 64))).astype(np.float32)
    out = nn.standardize(x)
    assert out.dtype == np.float32
    assert_allclose(out, _np_standardize(x, -1, 1e-5), rtol=1e-3, atol=2e-3)


def test_standardize_with_given_statistics_and_its_derivatives():
    x = np.array([[1.0, 2.0, 4.0], [0.0, -1.0, 3.0]])
    out = nn.standardize(x, mean=np.array([[1.0], [0.0]]), variance=4.0, epsilon=0.0)
    assert_allclose(out, (x - [[1.0], [0.0]]) / 2.0)
    check_grads(nn.standardize, (x,), order=2)
    const = nn.standardize(np.full(3, 1000.0))  # zero variance: epsilon keeps it finite
    assert_allclose(const, 0.0)
    assert_finite(grad(lambda x: fnp.sum(nn.standardize(x) ** 2))(np.full(3, 1000.0)))


@pytest.mark.parametrize("f", [nn.softmax, nn.log_softmax, nn.logsumexp])
def test_softmax_family_in_float32_at_extremes_is_finite_with_finite_gradient(f):
    x = np.array([1000.0, 0.0, -1000.0, 999.0], dtype=np.float32)
    out = f(x)
    assert_finite(out)
    assert np.asarray(out).dtype == np.float32
    g = jacrev(f)(x)
    assert_finite(g)
    shifted = np.exp(x.astype(np.float64) - 1000.0)
    p = shifted / shifted.sum()
    if f is nn.logsumexp:
        assert_allclose(g, p, rtol=1e-6, atol=1e-37)
    elif f is nn.softmax:
        assert_allclose(out, p, rtol=1e-6, atol=1e-37)
        assert_allclose(g, np.diag(p) - np.outer(p, p), rtol=1e-5, atol=1e-30)
    else:
        assert_allclose(g, np.eye(4) - p, rtol=1e-6, atol=1e-30)


@pytest.mark.parametrize("f", [nn.softmax, nn.log_softmax, nn.logsumexp])
def test_softmax_family_propagates_nan(f):
    with np.errstate(invalid="ignore"):
        assert np.all(np.isnan(f(np.array([np.nan, 1.0, 2.0]))))


def test_one_hot_out_of_range_labels_give_zero_rows_and_axis_moves_the_class_axis():
    assert_allclose(nn.one_hot([3, -1, 1], 3), [[0, 0, 0], [0, 0, 0], [0, 1, 0]])
    out = nn.one_hot([[0, 2]], 3, axis=0)
    assert out.shape == (3, 1, 2)
    assert_allclose(out[:, 0, :], [[1, 0], [0, 0], [0, 1]])
    assert nn.one_hot([1], 2, dtype=np.float32).dtype == np.float32


# ---------------------------------------------------------------------------------------
# Regression losses and penalties


@given(
    hnp.arrays(np.float64, (7,), elements=st.floats(-1e3, 1e3)),
    hnp.arrays(np.float64, (7,), elements=st.floats(-1e3, 1e3)),
    st.floats(0.1, 10.0),
)
def test_l1_and_huber_match_hand_written_references(p, t, delta):
    e = p - t
    assert float(nn.l1_loss(p, t)) == pytest.approx(np.mean(np.abs(e)), rel=1e-12, abs=1e-12)
    huber = [0.5 * v * v if abs(v) <= delta else delta * (abs(v) - 0.5 * delta) for v in e]
    assert float(nn.huber_loss(p, t, delta)) == pytest.approx(np.mean(huber), rel=1e-9, abs=1e-12)
    g = grad(nn.huber_loss)(p, t, delta)
    assert_allclose(g, np.clip(e, -delta, delta) / 7, rtol=1e-9, atol=1e-12)


def test_l1_and_huber_derivatives_at_their_kinks():
    p, t = np.array([0.0, 2.0, -1.5, 3.0]), np.array([0.0, 0.0, 0.0, 0.0])
    # l1: derivative of |e| is 0 at e = 0 (abs'(0) = sign(0), as in JAX)
    assert_allclose(grad(nn.l1_loss)(p, t), [0.0, 0.25, -0.25, 0.25])
    # huber with delta = 2: continuous derivative e clipped to [-2, 2], also at |e| = 2
    assert_allclose(grad(lambda p: nn.huber_loss(p, t, delta=2.0))(p), [0.0, 0.5, -0.375, 0.5])
    assert float(nn.huber_loss(np.array([1e3]), np.array([-1e3]))) == 1999.5
    check_grads(lambda p: nn.huber_loss(p, t, 2.0), (np.array([0.3, 1.2, -2.5, 3.1]),), 2)


@pytest.mark.parametrize("loss", [nn.mse, nn.l1_loss, nn.huber_loss])
def test_regression_losses_refuse_mismatched_shapes(loss):
    with pytest.raises(ValueError, match=r"predictions has shape \(4, 1\)"):
        loss(np.zeros((4, 1)), np.zeros(4))
    assert np.isfinite(loss(np.zeros(4), 0.0))  # a scalar target broadcasts


def test_huber_refuses_a_non_positive_delta():
    with pytest.raises(ValueError, match="delta"):
        nn.huber_loss(np.zeros(2), np.zeros(2), delta=0.0)


def test_penalties_sum_over_every_leaf_of_a_pytree():
    params = {"dense": [{"w": np.array([[1.0, -2.0]]), "b": np.array([3.0])}], "s": -0.5}
    assert float(nn.l2_penalty(params)) == 1.0 + 4.0 + 9.0 + 0.25
    assert float(nn.l1_penalty(params)) == 1.0 + 2.0 + 3.0 + 0.5
    g2 = grad(nn.l2_penalty)(params)
    assert_allclose(g2["dense"][0]["w"], [[2.0, -4.0]])
    assert float(g2["s"]) == -1.0
    g1 = grad(nn.l1_penalty)({"w": np.array([2.0, -3.0, 0.0])})
    assert_allclose(g1["w"], [1.0, -1.0, 0.0])
    assert float(nn.l2_penalty({})) == 0.0 and float(nn.l1_penalty([])) == 0.0


def test_penalties_name_an_integer_leaf():
    with pytest.raises(ValueError, match=r"\['step'\].*int64"):
        nn.l2_penalty({"w": np.ones(2), "step": np.array(3)})


# ---------------------------------------------------------------------------------------
# Classification losses


@given(
    hnp.arrays(np.float64, (3, 4), elements=st.floats(-1e3, 1e3)),
    hnp.arrays(np.float64, (3, 4), elements=st.floats(0.0, 1.0)),
)
def test_softmax_cross_entropy_with_soft_labels_matches_reference(logits, weights):
    labels = (weights + 1e-3) / (weights + 1e-3).sum(axis=1, keepdims=True)
    logp = logits - reference_logsumexp(logits, axis=1, keepdims=True)
    expected = -(labels * logp).sum(axis=1)
    out = nn.softmax_cross_entropy(logits, labels)
    assert_allclose(out, expected, rtol=1e-9, atol=1e-9)
    g = grad(lambda z: fnp.sum(nn.softmax_cross_entropy(z, labels)))(logits)
    p = np.exp(logp)
    assert_allclose(g, p - labels, atol=1e-12)  # the labels sum to one per row


def test_softmax_cross_entropy_refuses_integer_labels_of_another_shape():
    with pytest.raises(ValueError, match="softmax_cross_entropy_with_integer_labels"):
        nn.softmax_cross_entropy(np.zeros((3, 3)), np.array([0, 1, 2]))


@pytest.mark.parametrize("labels", [np.array([0, 3]), np.array([-4, 0])])
def test_integer_labels_out_of_range_are_refused(labels):
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        nn.softmax_cross_entropy_with_integer_labels(np.zeros((2, 3)), labels)


def test_a_negative_integer_label_counts_from_the_end_as_a_numpy_index():
    logits = np.array([[0.1, 2.0, -1.0]])
    logp = logits - reference_logsumexp(logits, axis=1, keepdims=True)
    out = nn.softmax_cross_entropy_with_integer_labels(logits, np.array([-1]))
    assert_allclose(out, [-logp[0, 2]], rtol=1e-14)


def test_integer_label_loss_refuses_float_labels_and_wrong_shapes():
    with pytest.raises(ValueError, match="integers"):
        nn.softmax_cross_entropy_with_integer_labels(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        nn.softmax_cross_entropy_with_integer_labels(np.zeros((2, 3)), np.array([[0], [1]]))


def test_integer_label_loss_under_vmap_and_jit_matches_numpy():
    logits = np.array([[0.1, 2.0, -1.0], [3.0, 0.0, 0.5]])
    labels = np.array([1, 2])
    logp = logits - reference_logsumexp(logits, axis=1, keepdims=True)
    expected = -logp[np.arange(2), labels]
    loss = nn.softmax_cross_entropy_with_integer_labels
    assert_allclose(jit(loss)(logits, labels), expected, rtol=1e-12)
    assert_allclose(vmap(loss)(logits, labels), expected, rtol=1e-12)


# ---------------------------------------------------------------------------------------
# Initialisers: variance within a tolerance from the sample size

INITIALISERS = {
    # name: (function, variance from (fan_in, fan_out), 3 for a uniform or None)
    "glorot_uniform": (nn.glorot_uniform, lambda i, o: 2.0 / (i + o), 3.0),
    "he_uniform": (nn.he_uniform, lambda i, o: 2.0 / i, 3.0),
    "lecun_uniform": (nn.lecun_uniform, lambda i, o: 1.0 / i, 3.0),
    "glorot_normal": (nn.glorot_normal, lambda i, o: 2.0 / (i + o), None),
    "he_normal": (nn.he_normal, lambda i, o: 2.0 / i, None),
    "lecun_normal": (nn.lecun_normal, lambda i, o: 1.0 / i, None),
}


def _check_moments(w, variance):
    n = w.size
    # The sample variance of n draws has standard deviation variance * sqrt((kurtosis -
    # 1) / n); kurtosis <= 3 for all of these (normal 3, uniform 1.8): allow 5 of those.
    assert abs(w.var() / variance - 1.0) < 5 * math.sqrt(2.0 / n)
    assert abs(w.mean()) < 5 * math.sqrt(variance / n)


@pytest.mark.parametrize("name", sorted(INITIALISERS))
@pytest.mark.parametrize("shape", [(200, 300), (3, 3, 40, 50)])
def test_initialiser_variance_and_bounds(name, shape):
    f, variance_of, uniform = INITIALISERS[name]
    receptive = math.prod(shape[:-2])
    fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
    variance = variance_of(fan_in, fan_out)
    w = f(np.random.default_rng(1), shape)
    assert w.shape == shape and w.dtype == np.float64
    _check_moments(w, variance)
    if uniform:
        limit = math.sqrt(uniform * variance)
        assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit
    else:
        assert np.abs(w).max() > 3.0 * math.sqrt(variance)  # not truncated by default


@pytest.mark.parametrize("name", ["glorot_normal", "he_normal", "lecun_normal"])
def test_truncated_normals_stay_within_two_deviations_and_keep_the_variance(name):
    f, variance_of, _ = INITIALISERS[name]
    w = f(np.random.default_rng(2), (300, 200), truncated=True)
    variance = variance_of(300, 200)
    _check_moments(w, variance)
    # values beyond 2 standard deviations of the underlying (rescaled) normal are redrawn
    assert np.abs(w).max() <= 2.0 * math.sqrt(variance) / 0.87962566103423978


def test_normal_initialisers_keep_their_previous_draws():
    # init_mlp's parameters depend on these: a plain normal times the standard deviation
    w = nn.he_normal(np.random.default_rng(5), (4, 3))
    assert_allclose(w, np.random.default_rng(5).standard_normal((4, 3)) * math.sqrt(2.0 / 4))
    w = nn.glorot_normal(np.random.default_rng(5), (4, 3))
    assert_allclose(w, np.random.default_rng(5).standard_normal((4, 3)) * math.sqrt(2.0 / 7))


@pytest.mark.parametrize("name", sorted(INITIALISERS))
def test_initialisers_dtype_determinism_and_errors(name):
    f = INITIALISERS[name][0]
    a = f(np.random.default_rng(3), (5, 4), np.float32)
    assert a.dtype == np.float32
    assert_allclose(a, f(np.random.default_rng(3), (5, 4), np.float32))
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        f(3, (5, 4))
    with pytest.raises(ValueError, match="two positive dimensions"):
        f(np.random.default_rng(0), (5,))


# ---------------------------------------------------------------------------------------
# Dropout


def test_dropout_keeps_about_one_minus_rate_and_scales_the_kept_units():
    x = np.arange(1.0, 20001.0)
    out = nn.dropout(np.random.default_rng(0), 0.3, x)
    kept = out != 0
    n = x.size
    assert abs(kept.mean() - 0.7) < 5 * math.sqrt(0.7 * 0.3 / n)  # binomial, 5 sigma
    assert_allclose(out[kept], x[kept] / 0.7, rtol=1e-15)


def test_dropout_is_a_pure_function_of_the_seed_and_advances_a_generator():
    x = np.ones(50)
    assert_allclose(nn.dropout(7, 0.5, x), nn.dropout(7, 0.5, x))
    rng = np.random.default_rng(7)
    first, second = nn.dropout(rng, 0.5, x), nn.dropout(rng, 0.5, x)
    assert_allclose(first, nn.dropout(np.random.default_rng(7), 0.5, x))
    assert not np.array_equal(first, second)


def test_dropout_gradient_is_the_scaled_mask():
    x = np.linspace(-1.0, 1.0, 40)
    mask = nn.dropout(11, 0.25, np.ones(40)) != 0
    g = grad(lambda x: fnp.sum(nn.dropout(11, 0.25, x) ** 2))(x)
    assert_allclose(g, np.where(mask, 2 * x / 0.75**2, 0.0), rtol=1e-14)
    check_grads(lambda x: nn.dropout(11, 0.25, x), (x,), order=2)


def test_dropout_edge_rates_and_evaluation_mode():
    x = np.array([1.0, -2.0, 3.0], dtype=np.float32)
    assert nn.dropout(0, 0.5, x, deterministic=True) is x
    assert nn.dropout(0, 0.0, x) is x
    assert_allclose(nn.dropout(0, 1.0, x), 0.0)
    assert_allclose(grad(lambda x: fnp.sum(nn.dropout(0, 1.0, x)))(x), 0.0)
    assert nn.dropout(0, 0.5, x).dtype == np.float32


@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan")])
def test_dropout_refuses_a_rate_outside_0_1(rate):
    with pytest.raises(ValueError, match="rate"):
        nn.dropout(0, rate, np.ones(3))


def test_dropout_refuses_to_draw_a_mask_that_jit_or_vmap_would_reuse():
    with pytest.raises(ValueError, match="`jit`"):
        jit(lambda x: nn.dropout(0, 0.5, x))(np.ones(3))
    with pytest.raises(ValueError, match="`vmap`"):
        vmap(lambda x: nn.dropout(0, 0.5, x))(np.ones((2, 3)))
    with pytest.raises(TypeError, match="Generator or an integer"):
        nn.dropout(0.5, 0.5, np.ones(3))
