"""Tests for fungrad.test_util: check_grads accepts correct derivatives at every order and
mode and rejects a primitive with a deliberately wrong jvp rule; numerical_jacobian and
numerical_jvp are right on known functions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

import fungrad.numpy as fnp
from fungrad import core, jvp, vjp
from fungrad.core import ShapedArray, new_primitive
from fungrad.primitives.builders import defjvp
from fungrad.primitives.elementwise import cos, mul, neg, sin
from fungrad.test_util import check_grads, numerical_jacobian, numerical_jvp


def _same_aval(x: ShapedArray) -> ShapedArray:
    return ShapedArray(x.shape, x.dtype, x.weak_type)


class ScratchPrimitives:
    """Primitives made for these tests only; removed from the registry afterwards, so the
    completeness test over every registered primitive never sees them."""

    def __init__(self) -> None:
        self.names: list[str] = []
        # sin with a correct jvp rule, defined the way fungrad's own primitives are.
        self.good_sin = self.unary("test_util_good_sin", np.sin)
        defjvp(self.good_sin, lambda t, ans, x: mul(t, cos(x)))
        # sin whose jvp rule is wrong at first order: it claims d/dx sin(x) = sin(x).
        self.wrong_sin = self.unary("test_util_wrong_sin", np.sin)
        defjvp(self.wrong_sin, lambda t, ans, x: mul(t, sin(x)))
        # sin whose first derivative is right but whose derivative, wrong_cos, has a wrong
        # rule (d/dx cos(x) = +sin(x)): only second and higher order checks can see it.
        wrong_cos = self.unary("test_util_wrong_cos", np.cos)
        defjvp(wrong_cos, lambda t, ans, x: mul(t, sin(x)))
        self.second_order_wrong_sin = self.unary("test_util_second_order_wrong_sin", np.sin)
        defjvp(self.second_order_wrong_sin, lambda t, ans, x: mul(t, wrong_cos.bind(x)))

    def unary(self, name: str, impl):
        prim = new_primitive(name)
        self.names.append(name)
        prim.impl = impl
        prim.abstract_eval = _same_aval
        return prim

    def remove(self) -> None:
        for name in self.names:
            del core.primitives[name]


@pytest.fixture(scope="module")
def prims():
    scratch = ScratchPrimitives()
    yield scratch
    scratch.remove()


X = np.array([0.3, -1.1, 2.0])


# ---------------------------------------------------------------------------------------
# check_grads passes on correct functions


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("modes", [("fwd",), ("rev",), ("fwd", "rev")])
def test_check_grads_passes_on_a_correct_function(order, modes):
    check_grads(lambda x: fnp.sin(x) * fnp.exp(x / 3.0), (X,), order=order, modes=modes)


@pytest.mark.parametrize("order", [1, 2])
def test_check_grads_passes_on_several_arguments_and_pytrees(order):
    def f(p, s):
        return {"y": fnp.tanh(p["w"] @ p["x"]) * s, "z": (fnp.sum(p["x"] ** 2),)}

    p = {"w": np.array([[1.0, -0.5, 0.2], [0.3, 0.8, -1.0]]), "x": X}
    check_grads(f, (p, 1.5), order=order)


def test_check_grads_passes_with_python_scalar_arguments():
    check_grads(lambda x, y: fnp.log(x) + x * y - fnp.sin(y), (2.0, 5.0), order=3)


def test_check_grads_passes_on_float32_with_dtype_tolerances():
    check_grads(lambda x: fnp.tanh(x) * x, (X.astype(np.float32),), order=2)


@pytest.mark.parametrize("order", [1, 2])
def test_check_grads_passes_with_an_integer_argument(order):
    check_grads(lambda x, i: x[i] * fnp.sin(x), (X, np.array(2)), order=order)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_check_grads_passes_on_a_new_primitive_with_a_correct_rule(order, prims):
    check_grads(prims.good_sin.bind, (X,), order=order)


# ---------------------------------------------------------------------------------------
# check_grads fails on wrong derivatives


def test_wrong_primitive_computes_the_right_values(prims):
    assert_allclose(prims.wrong_sin.bind(X), np.sin(X))


@pytest.mark.parametrize("modes", [("fwd",), ("rev",), ("fwd", "rev")])
def test_check_grads_raises_for_a_primitive_with_a_wrong_jvp_rule(modes, prims):
    with pytest.raises(AssertionError):
        check_grads(prims.wrong_sin.bind, (X,), order=1, modes=modes)


def test_check_grads_failure_in_forward_mode_names_the_jvp(prims):
    with pytest.raises(AssertionError, match=r"jvp tangent.*differs"):
        check_grads(prims.wrong_sin.bind, (X,), order=1, modes=("fwd",))


def test_check_grads_failure_in_reverse_mode_names_the_vjp(prims):
    with pytest.raises(AssertionError, match=r"vjp"):
        check_grads(prims.wrong_sin.bind, (X,), order=1, modes=("rev",))


def test_check_grads_raises_when_the_wrong_primitive_is_inside_a_larger_function(prims):
    with pytest.raises(AssertionError):
        check_grads(lambda x: fnp.sum(prims.wrong_sin.bind(x * 2.0) ** 2), (X,), order=1)


@pytest.mark.parametrize("modes", [("fwd",), ("rev",)])
def test_check_grads_finds_an_error_that_only_second_order_sees(modes, prims):
    check_grads(prims.second_order_wrong_sin.bind, (X,), order=1, modes=modes)
    with pytest.raises(AssertionError):
        check_grads(prims.second_order_wrong_sin.bind, (X,), order=2, modes=modes)


def test_check_grads_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match=r"unknown mode 'backward'"):
        check_grads(fnp.sin, (X,), order=1, modes=("backward",))


def test_wrong_rule_really_is_wrong_in_both_modes(prims):
    _, t = jvp(prims.wrong_sin.bind, (X,), (np.ones(3),))
    assert_allclose(t, np.sin(X))
    _, f_vjp = vjp(prims.wrong_sin.bind, X)
    assert_allclose(f_vjp(np.ones(3))[0], np.sin(X))


# ---------------------------------------------------------------------------------------
# numerical_jacobian and numerical_jvp


def test_numerical_jacobian_of_a_known_function():
    def f(x):
        return np.array([x[0] * x[1], np.sin(x[2]), x[0] ** 2])

    x = np.array([2.0, 3.0, 0.5])
    expected = np.array([[3.0, 2.0, 0.0], [0.0, 0.0, math.cos(0.5)], [4.0, 0.0, 0.0]])
    assert_allclose(numerical_jacobian(f, x), expected, rtol=1e-8, atol=1e-9)


def test_numerical_jacobian_shape_is_output_shape_plus_input_shape():
    a = np.arange(6.0).reshape(3, 2)
    j = numerical_jacobian(lambda x: a @ x, np.ones((2, 4)))
    assert j.shape == (3, 4, 2, 4)
    expected = np.einsum("ik,jl->ijkl", a, np.eye(4))
    assert_allclose(j, expected, rtol=1e-8, atol=1e-8)


def test_numerical_jacobian_of_scalar_function_has_input_shape():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert_allclose(numerical_jacobian(lambda x: np.sum(x**2), x), 2 * x, rtol=1e-8)


def test_numerical_jacobian_of_scalar_input():
    assert_allclose(numerical_jacobian(np.exp, np.array(1.0)), math.e, rtol=1e-9)


def test_numerical_jacobian_works_on_fungrad_numpy_functions():
    f = lambda x: fnp.tanh(x) * x[::-1]
    j = numerical_jacobian(f, X)
    expected = np.diag((1 - np.tanh(X) ** 2) * X[::-1]) + np.tanh(X)[:, None] * np.eye(3)[::-1]
    assert_allclose(j, expected, rtol=1e-8, atol=1e-9)


def test_numerical_jacobian_in_float32_uses_a_larger_step():
    j = numerical_jacobian(lambda x: x**2, np.array([1.0, 3.0], np.float32))
    assert_allclose(j, np.diag([2.0, 6.0]), rtol=1e-3)


def test_numerical_jvp_is_the_directional_derivative():
    f = lambda x, y: x * np.sin(y)
    t = numerical_jvp(f, (2.0, 0.5), (1.0, -1.0))
    assert_allclose(t, math.sin(0.5) - 2.0 * math.cos(0.5), rtol=1e-8)


def test_numerical_jvp_does_not_perturb_integer_inputs():
    f = lambda x, i: x[i] * 3.0
    assert_allclose(numerical_jvp(f, (X, np.array(1)), (np.ones(3), np.array(0))), 3.0)


def test_numerical_jvp_on_pytrees_returns_the_output_structure():
    f = lambda p: {"a": p["x"] ** 2, "b": (neg(p["x"]),)}
    t = numerical_jvp(f, ({"x": np.array([1.0, 2.0])},), ({"x": np.array([1.0, 1.0])},))
    assert_allclose(t["a"], [2.0, 4.0], rtol=1e-8)
    assert_allclose(t["b"][0], [-1.0, -1.0], rtol=1e-8)
