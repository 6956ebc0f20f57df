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
from fungrad import grad, jacfwd, jacrev, nn, value_and_grad
from fungrad.test_util import numerical_jacobian

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
