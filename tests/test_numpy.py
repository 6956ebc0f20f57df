"""Tests for fungrad.numpy: with no transformation active every function returns plain
NumPy values equal to NumPy's own; under transformations its derivatives agree with central
differences (fungrad.test_util.numerical_jacobian); traced values behave like arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose

import fungrad.numpy as fnp
from fungrad import grad, jacfwd, jacrev, jvp, make_jaxpr, vjp
from fungrad.core import Tracer
from fungrad.test_util import check_grads, numerical_jacobian

RNG = np.random.default_rng(1234)
X234 = RNG.standard_normal((2, 3, 4))
X34 = RNG.standard_normal((3, 4))
X3 = RNG.standard_normal(3)
X4 = RNG.standard_normal(4)


def assert_same_as_numpy(actual: Any, expected: Any) -> None:
    """A plain NumPy value (array or scalar) with NumPy's shape, dtype and values."""
    assert isinstance(actual, (np.ndarray, np.generic)), type(actual)
    assert not isinstance(actual, Tracer)
    expected = np.asarray(expected)
    assert np.shape(actual) == expected.shape
    assert np.asarray(actual).dtype == expected.dtype
    assert_allclose(actual, expected, rtol=1e-12, atol=1e-12)


def eager_case(name: str, fn: Callable, np_fn: Callable, *args: Any):
    return pytest.param(fn, np_fn, args, id=name)


# ---------------------------------------------------------------------------------------
# Eager mode equals NumPy

EAGER_CASES = [
    # reductions
    eager_case("sum", fnp.sum, np.sum, X234),
    eager_case("sum_axis1", lambda x: fnp.sum(x, axis=1), lambda x: np.sum(x, axis=1), X234),
    eager_case("sum_axis_neg", lambda x: fnp.sum(x, axis=-1), lambda x: np.sum(x, axis=-1), X234),
    eager_case(
        "sum_axes_keepdims",
        lambda x: fnp.sum(x, axis=(0, 2), keepdims=True),
        lambda x: np.sum(x, axis=(0, 2), keepdims=True),
        X234,
    ),
    eager_case("sum_int", fnp.sum, np.sum, np.arange(6, dtype=np.int32)),
    eager_case("sum_bool", fnp.sum, np.sum, np.array([True, False, True])),
    eager_case("mean", fnp.mean, np.mean, X234),
    eager_case(
        "mean_axis_keepdims",
        lambda x: fnp.mean(x, axis=1, keepdims=True),
        lambda x: np.mean(x, axis=1, keepdims=True),
        X234,
    ),
    eager_case("max", fnp.max, np.max, X234),
    eager_case("max_axis", lambda x: fnp.max(x, axis=2), lambda x: np.max(x, axis=2), X234),
    eager_case(
        "max_keepdims",
        lambda x: fnp.max(x, axis=0, keepdims=True),
        lambda x: np.max(x, axis=0, keepdims=True),
        X234,
    ),
    eager_case("min", fnp.min, np.min, X234),
    eager_case(
        "min_axes", lambda x: fnp.min(x, axis=(1, 2)), lambda x: np.min(x, axis=(1, 2)), X234
    ),
    eager_case("var", fnp.var, np.var, X234),
    eager_case(
        "var_axis_keepdims",
        lambda x: fnp.var(x, axis=-1, keepdims=True),
        lambda x: np.var(x, axis=-1, keepdims=True),
        X234,
    ),
    eager_case("var_ddof", lambda x: fnp.var(x, ddof=1), lambda x: np.var(x, ddof=1), X34),
    eager_case("std", fnp.std, np.std, X234),
    eager_case("std_axis", lambda x: fnp.std(x, axis=0), lambda x: np.std(x, axis=0), X234),
    eager_case(
        "std_keepdims",
        lambda x: fnp.std(x, axis=(0, 1), keepdims=True),
        lambda x: np.std(x, axis=(0, 1), keepdims=True),
        X234,
    ),
    eager_case("argmax", fnp.argmax, np.argmax, X234),
    eager_case(
        "argmax_axis", lambda x: fnp.argmax(x, axis=1), lambda x: np.argmax(x, axis=1), X234
    ),
    eager_case(
        "argmax_keepdims",
        lambda x: fnp.argmax(x, axis=-1, keepdims=True),
        lambda x: np.argmax(x, axis=-1, keepdims=True),
        X234,
    ),
    eager_case("argmin", lambda x: fnp.argmin(x, axis=0), lambda x: np.argmin(x, axis=0), X34),
    # elementwise
    eager_case("where", fnp.where, np.where, X34 > 0, X34, -X34),
    eager_case("where_scalar", fnp.where, np.where, X34 > 0, X34, 0.0),
    eager_case("where_broadcast", fnp.where, np.where, X4 > 0, X34, X4),
    eager_case("maximum", fnp.maximum, np.maximum, X34, X4),
    eager_case("maximum_scalar", fnp.maximum, np.maximum, X34, 0.0),
    eager_case("minimum", fnp.minimum, np.minimum, X34, X4),
    eager_case("clip", fnp.clip, np.clip, X34, -0.5, 0.5),
    eager_case("exp", fnp.exp, np.exp, X34),
    eager_case("log", fnp.log, np.log, np.abs(X34)),
    eager_case("sin", fnp.sin, np.sin, X34),
    eager_case("cos", fnp.cos, np.cos, X34),
    eager_case("tanh", fnp.tanh, np.tanh, X34),
    eager_case("sqrt", fnp.sqrt, np.sqrt, np.abs(X34)),
    eager_case("abs", fnp.abs, np.abs, X34),
    eager_case("power_int", fnp.power, np.power, X34, 3),
    eager_case("power_float", fnp.power, np.power, np.abs(X34), 1.5),
    eager_case("square", fnp.square, np.square, X34),
    eager_case("add_broadcast", fnp.add, np.add, X234, X4),
    eager_case("divide", fnp.divide, np.divide, X34, 2.0),
    eager_case("greater", fnp.greater, np.greater, X34, X4),
    # products
    eager_case("dot_vv", fnp.dot, np.dot, X3, X3),
    eager_case("dot_mv", fnp.dot, np.dot, X34, X4),
    eager_case("dot_vm", fnp.dot, np.dot, X3, X34),
    eager_case("dot_mm", fnp.dot, np.dot, X34, X34.T),
    eager_case("dot_nd", fnp.dot, np.dot, X234, RNG.standard_normal((5, 4, 2))),
    eager_case("dot_scalar", fnp.dot, np.dot, 2.0, X34),
    eager_case("matmul_mm", fnp.matmul, np.matmul, X34, X34.T),
    eager_case("matmul_vv", fnp.matmul, np.matmul, X4, X4),
    eager_case("matmul_vm", fnp.matmul, np.matmul, X3, X34),
    eager_case("matmul_mv", fnp.matmul, np.matmul, X34, X4),
    eager_case("matmul_batched_m", fnp.matmul, np.matmul, X234, X34.T),
    eager_case("matmul_batched_v", fnp.matmul, np.matmul, X234, X4),
    eager_case("matmul_v_batched", fnp.matmul, np.matmul, X3, X234),
    eager_case(
        "matmul_batched_batched", fnp.matmul, np.matmul, X234, RNG.standard_normal((2, 4, 5))
    ),
    eager_case(
        "matmul_broadcast_batch",
        fnp.matmul,
        np.matmul,
        RNG.standard_normal((2, 1, 3, 4)),
        RNG.standard_normal((5, 4, 2)),
    ),
    eager_case("tensordot_2", fnp.tensordot, np.tensordot, X234, RNG.standard_normal((3, 4, 5))),
    eager_case(
        "tensordot_1",
        lambda a, b: fnp.tensordot(a, b, 1),
        lambda a, b: np.tensordot(a, b, 1),
        X234,
        X34.T,
    ),
    eager_case(
        "tensordot_axes",
        lambda a, b: fnp.tensordot(a, b, axes=([1, 0], [0, 1])),
        lambda a, b: np.tensordot(a, b, axes=([1, 0], [0, 1])),
        X234,
        RNG.standard_normal((3, 2, 5)),
    ),
    eager_case("outer", fnp.outer, np.outer, X3, X4),
    eager_case("inner", fnp.inner, np.inner, X34, X34),
    eager_case("vdot", fnp.vdot, np.vdot, X34, X34),
    # shapes
    eager_case(
        "reshape_minus_one", lambda x: fnp.reshape(x, -1), lambda x: np.reshape(x, -1), X234
    ),
    eager_case(
        "reshape_partial_minus_one",
        lambda x: fnp.reshape(x, (4, -1)),
        lambda x: np.reshape(x, (4, -1)),
        X234,
    ),
    eager_case("transpose", fnp.transpose, np.transpose, X234),
    eager_case(
        "transpose_axes",
        lambda x: fnp.transpose(x, (1, 0, 2)),
        lambda x: np.transpose(x, (1, 0, 2)),
        X234,
    ),
    eager_case(
        "swapaxes", lambda x: fnp.swapaxes(x, 0, -1), lambda x: np.swapaxes(x, 0, -1), X234
    ),
    eager_case(
        "moveaxis", lambda x: fnp.moveaxis(x, 0, -1), lambda x: np.moveaxis(x, 0, -1), X234
    ),
    eager_case(
        "moveaxis_back", lambda x: fnp.moveaxis(x, -1, 0), lambda x: np.moveaxis(x, -1, 0), X234
    ),
    eager_case("squeeze", fnp.squeeze, np.squeeze, X3.reshape(1, 3, 1)),
    eager_case(
        "squeeze_axis",
        lambda x: fnp.squeeze(x, axis=0),
        lambda x: np.squeeze(x, axis=0),
        X3.reshape(1, 3, 1),
    ),
    eager_case(
        "expand_dims", lambda x: fnp.expand_dims(x, 1), lambda x: np.expand_dims(x, 1), X34
    ),
    eager_case(
        "expand_dims_neg", lambda x: fnp.expand_dims(x, -1), lambda x: np.expand_dims(x, -1), X34
    ),
    eager_case(
        "expand_dims_tuple",
        lambda x: fnp.expand_dims(x, (0, 3)),
        lambda x: np.expand_dims(x, (0, 3)),
        X34,
    ),
    eager_case("ravel", fnp.ravel, np.ravel, X234),
    eager_case(
        "broadcast_to",
        lambda x: fnp.broadcast_to(x, (2, 3, 4)),
        lambda x: np.broadcast_to(x, (2, 3, 4)),
        X4,
    ),
    eager_case(
        "concatenate",
        lambda a, b: fnp.concatenate([a, b]),
        lambda a, b: np.concatenate([a, b]),
        X34,
        X34,
    ),
    eager_case(
        "concatenate_axis_neg",
        lambda a, b: fnp.concatenate([a, b, a], axis=-1),
        lambda a, b: np.concatenate([a, b, a], axis=-1),
        X34,
        X34[:, :2],
    ),
    eager_case("stack", lambda a, b: fnp.stack([a, b]), lambda a, b: np.stack([a, b]), X34, X34),
    eager_case(
        "stack_axis_neg",
        lambda a, b: fnp.stack([a, b], axis=-1),
        lambda a, b: np.stack([a, b], axis=-1),
        X34,
        X34,
    ),
    eager_case(
        "hstack_1d", lambda a, b: fnp.hstack([a, b]), lambda a, b: np.hstack([a, b]), X3, X4
    ),
    eager_case(
        "hstack_2d", lambda a, b: fnp.hstack([a, b]), lambda a, b: np.hstack([a, b]), X34, X34
    ),
    eager_case(
        "vstack_1d", lambda a, b: fnp.vstack([a, b]), lambda a, b: np.vstack([a, b]), X4, X4
    ),
    eager_case(
        "vstack_2d", lambda a, b: fnp.vstack([a, b]), lambda a, b: np.vstack([a, b]), X34, X4
    ),
    # indexing
    eager_case("take", lambda x: fnp.take(x, [0, 2, 2]), lambda x: np.take(x, [0, 2, 2]), X34),
    eager_case(
        "take_axis",
        lambda x: fnp.take(x, np.array([3, 0]), axis=1),
        lambda x: np.take(x, np.array([3, 0]), axis=1),
        X34,
    ),
    eager_case(
        "take_along_axis",
        lambda x: fnp.take_along_axis(x, np.array([[1], [0], [3]]), axis=1),
        lambda x: np.take_along_axis(x, np.array([[1], [0], [3]]), axis=1),
        X34,
    ),
    eager_case(
        "take_along_axis_0",
        lambda x: fnp.take_along_axis(x, np.array([[2, 0, 1, 1]]), axis=0),
        lambda x: np.take_along_axis(x, np.array([[2, 0, 1, 1]]), axis=0),
        X34,
    ),
    # dtypes
    eager_case(
        "astype_f32", lambda x: fnp.astype(x, np.float32), lambda x: x.astype(np.float32), X34
    ),
    eager_case("astype_int", lambda x: fnp.astype(x, np.int64), lambda x: x.astype(np.int64), X34),
]


@pytest.mark.parametrize(("fn", "np_fn", "args"), EAGER_CASES)
def test_eager_function_returns_plain_numpy_equal_to_numpy(fn, np_fn, args):
    assert_same_as_numpy(fn(*args), np_fn(*args))


INDICES = [
    pytest.param(1, id="int"),
    pytest.param(-1, id="negative_int"),
    pytest.param((1, -2), id="two_ints"),
    pytest.param(slice(1, 3), id="slice"),
    pytest.param(slice(None, None, -1), id="reversed"),
    pytest.param((slice(None), slice(1, None, 2)), id="step_slice"),
    pytest.param((slice(-2, None), 0), id="negative_slice_and_int"),
    pytest.param(None, id="none"),
    pytest.param((slice(None), None, 1), id="none_in_middle"),
    pytest.param(Ellipsis, id="ellipsis"),
    pytest.param((Ellipsis, 0), id="ellipsis_int"),
    pytest.param((None, Ellipsis, 2), id="none_ellipsis_int"),
    pytest.param([0, 2], id="int_list"),
    pytest.param(np.array([[0, 1], [2, 0]]), id="int_array_2d"),
    pytest.param(np.array([-1, 0]), id="negative_int_array"),
    pytest.param((1, [0, 3]), id="int_and_int_list"),
    pytest.param(([0, 1], [1, 3]), id="two_int_arrays"),
    pytest.param((slice(None), np.array([3, 0])), id="slice_and_int_array"),
    pytest.param(X34 > 0, id="boolean_mask"),
    pytest.param(np.array([True, False, True]), id="boolean_row_mask"),
    pytest.param((slice(None), np.array([True, False, False, True])), id="boolean_column_mask"),
]


@pytest.mark.parametrize("index", INDICES)
def test_eager_indexing_equals_numpy(index):
    assert_same_as_numpy(fnp.getitem(X34, index), X34[index])


@pytest.mark.parametrize("index", INDICES)
def test_traced_indexing_equals_numpy_and_gradient_scatters_ones(index):
    out = jvp(lambda x: x[index], (X34,), (np.ones_like(X34),))[0]
    assert_same_as_numpy(out, X34[index])
    g = grad(lambda x: fnp.sum(x[index]))(X34)
    expected = np.zeros_like(X34)
    np.add.at(expected, index, 1.0)
    assert_allclose(g, expected)


def test_gradient_of_repeated_integer_index_accumulates():
    g = grad(lambda x: fnp.sum(x[np.array([0, 0, 2, 0])] * np.array([1.0, 2.0, 3.0, 4.0])))(X3)
    assert_allclose(g, [7.0, 0.0, 3.0])


def test_boolean_mask_computed_from_the_traced_value_works_under_grad():
    x = np.array([1.0, -2.0, 3.0, -4.0])
    g = grad(lambda x: fnp.sum(x[x > 0] ** 2))(x)
    assert_allclose(g, [2.0, 0.0, 6.0, 0.0])


def test_traced_integer_index_from_argmax_works_under_grad():
    x = np.array([1.0, 5.0, 3.0])
    assert_allclose(grad(lambda x: x[fnp.argmax(x)] * 2.0)(x), [0.0, 2.0, 0.0])


# ---------------------------------------------------------------------------------------
# Creating arrays


@pytest.mark.parametrize(
    ("fn", "np_fn", "args"),
    [
        eager_case("zeros", fnp.zeros, np.zeros, (2, 3)),
        eager_case("ones", fnp.ones, np.ones, 4),
        eager_case(
            "ones_f32", lambda s: fnp.ones(s, np.float32), lambda s: np.ones(s, np.float32), 3
        ),
        eager_case("arange", fnp.arange, np.arange, 5),
        eager_case("arange_float", fnp.arange, np.arange, 0.0, 1.0, 0.25),
        eager_case("linspace", fnp.linspace, np.linspace, 0.0, 1.0, 7),
        eager_case("eye", fnp.eye, np.eye, 3),
        eager_case("eye_rect", fnp.eye, np.eye, 2, 4),
        eager_case("zeros_like", fnp.zeros_like, np.zeros_like, X34),
        eager_case("ones_like", fnp.ones_like, np.ones_like, X34.astype(np.float32)),
        eager_case("ones_like_int", fnp.ones_like, np.ones_like, np.arange(3)),
        eager_case("full_like", fnp.full_like, np.full_like, X34, 2.5),
        eager_case("array", fnp.array, np.array, [[1.0, 2.0], [3.0, 4.0]]),
        eager_case("asarray", fnp.asarray, np.asarray, [1, 2, 3]),
    ],
)
def test_array_creation_returns_numpy_arrays(fn, np_fn, args):
    assert_same_as_numpy(fn(*args), np_fn(*args))


def test_like_functions_of_tracers_are_constants_of_the_right_shape_and_dtype():
    seen = {}

    def f(x):
        seen["zeros"] = fnp.zeros_like(x)
        seen["ones"] = fnp.ones_like(x)
        return fnp.sum(x * seen["ones"] + seen["zeros"])

    g = grad(f)(np.ones((2, 3), np.float32))
    assert_allclose(g, np.ones((2, 3)))
    for value in seen.values():
        assert type(value) is np.ndarray
        assert value.shape == (2, 3) and value.dtype == np.float32


def test_array_of_a_list_of_tracers_is_differentiable():
    f = lambda x: fnp.array([x[0] * x[1], x[2], 3.0])
    assert_allclose(jacrev(f)(X3), numerical_jacobian(f, X3), atol=1e-8)


# ---------------------------------------------------------------------------------------
# Gradients against central differences


def jac_case(name: str, f: Callable, x: np.ndarray):
    return pytest.param(f, x, id=name)


POSITIVE34 = np.abs(X34) + 0.5

GRADIENT_CASES = [
    jac_case("sum_axis", lambda x: fnp.sum(x, axis=1), X234),
    jac_case("sum_keepdims", lambda x: fnp.sum(x, axis=(0, 2), keepdims=True), X234),
    jac_case("mean_axis", lambda x: fnp.mean(x, axis=-1), X34),
    jac_case("mean_keepdims", lambda x: fnp.mean(x, axis=0, keepdims=True), X34),
    jac_case("max", lambda x: fnp.max(x, axis=1), X34),
    jac_case("max_keepdims", lambda x: fnp.max(x, axis=0, keepdims=True), X34),
    jac_case("min", lambda x: fnp.min(x), X34),
    jac_case("var", lambda x: fnp.var(x, axis=1), X34),
    jac_case("var_ddof_keepdims", lambda x: fnp.var(x, axis=0, ddof=1, keepdims=True), X34),
    jac_case("std", lambda x: fnp.std(x, axis=-1), X34),
    jac_case("where", lambda x: fnp.where(x > 0, x**2, fnp.sin(x)), X34),
    jac_case("maximum", lambda x: fnp.maximum(x, 0.1 * x[::-1]), X4),
    jac_case("minimum_broadcast", lambda x: fnp.minimum(x, X4), X34),
    jac_case("clip", lambda x: fnp.clip(x, -0.5, 0.5), X34 + 0.01),
    jac_case("exp_log", lambda x: fnp.log(x) * fnp.exp(-x), POSITIVE34),
    jac_case("sqrt_abs", lambda x: fnp.sqrt(fnp.abs(x)), X34),
    jac_case("tanh_cos", lambda x: fnp.tanh(x) * fnp.cos(x), X34),
    jac_case("power_float", lambda x: fnp.power(x, 2.5), POSITIVE34),
    jac_case("power_traced_exponent", lambda x: fnp.power(x[0], x[1]), POSITIVE34[0]),
    jac_case("dot_vv", lambda x: fnp.dot(x, x[::-1]), X4),
    jac_case("dot_mv", lambda x: fnp.dot(x, X4), X34),
    jac_case("dot_vm", lambda x: fnp.dot(x, X34), X3),
    jac_case("dot_nd", lambda x: fnp.dot(x, X34.T), X234),
    jac_case("matmul_mm", lambda x: x @ x.T, X34),
    jac_case("matmul_batched", lambda x: fnp.matmul(x, X34.T), X234),
    jac_case("matmul_batched_batched", lambda x: fnp.matmul(x, fnp.swapaxes(x, 1, 2)), X234),
    jac_case("matmul_vm", lambda x: fnp.matmul(x, X34), X3),
    jac_case("matmul_mv", lambda x: fnp.matmul(x, X4), X34),
    jac_case("matmul_vv", lambda x: fnp.matmul(x, x), X4),
    jac_case("matmul_broadcast_batch", lambda x: fnp.matmul(x[None], X34.T[None, None]), X234),
    jac_case("tensordot", lambda x: fnp.tensordot(x, X34, axes=([1, 2], [0, 1])), X234),
    jac_case("tensordot_1", lambda x: fnp.tensordot(X34, x, 1), X4),
    jac_case("outer", lambda x: fnp.outer(x, x**2), X3),
    jac_case("reshape", lambda x: fnp.reshape(x, -1) * fnp.arange(24.0), X234),
    jac_case("transpose", lambda x: fnp.transpose(x, (2, 0, 1)) ** 2, X234),
    jac_case("swapaxes", lambda x: fnp.sin(fnp.swapaxes(x, 0, 2)), X234),
    jac_case("moveaxis", lambda x: fnp.moveaxis(x, 0, -1) ** 3, X234),
    jac_case("squeeze", lambda x: fnp.squeeze(x[None, :, None]) ** 2, X3),
    jac_case("expand_dims", lambda x: fnp.expand_dims(x, 1) * X34, X3),
    jac_case("ravel", lambda x: fnp.exp(fnp.ravel(x)), X34),
    jac_case("broadcast_to", lambda x: fnp.broadcast_to(x, (3, 4)) * X34, X4),
    jac_case("concatenate", lambda x: fnp.concatenate([x, x**2, x[:, :1]], axis=1), X34),
    jac_case("stack", lambda x: fnp.stack([x, fnp.sin(x)], axis=1), X34),
    jac_case("hstack", lambda x: fnp.hstack([x, x**2]), X3),
    jac_case("vstack", lambda x: fnp.vstack([x, x * 2.0]), X4),
    jac_case("take", lambda x: fnp.take(x, np.array([2, 0, 2])), X34),
    jac_case(
        "take_along_axis", lambda x: fnp.take_along_axis(x, np.array([[1], [0], [3]]), 1), X34
    ),
    jac_case("getitem_mixed", lambda x: x[1:, None, [3, 0, 0]] ** 2, X34),
    jac_case("getitem_mask", lambda x: x[X34 > 0] ** 2, X34),
    jac_case("astype", lambda x: fnp.astype(x * 3.0, np.float64), X34.astype(np.float32)),
]


@pytest.mark.parametrize(("f", "x"), GRADIENT_CASES)
def test_jacrev_matches_numerical_jacobian(f, x):
    assert_allclose(jacrev(f)(x), numerical_jacobian(f, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("f", "x"), GRADIENT_CASES)
def test_jacfwd_matches_numerical_jacobian(f, x):
    assert_allclose(jacfwd(f)(x), numerical_jacobian(f, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("f", "x"),
    [
        jac_case("var", lambda x: fnp.var(x, axis=1), X34),
        jac_case("matmul", lambda x: x @ fnp.tanh(x.T), X34),
        jac_case("getitem", lambda x: x[::-1, None] * x[0], X34),
        jac_case("logsumexp_like", lambda x: fnp.log(fnp.sum(fnp.exp(x), axis=0)), X34),
    ],
)
def test_second_order_derivatives_match_central_differences(f, x):
    check_grads(f, (x,), order=2)


def test_max_gradient_is_shared_between_ties():
    assert_allclose(grad(lambda x: fnp.max(x))(np.array([1.0, 3.0, 3.0])), [0.0, 0.5, 0.5])


@given(
    hnp.arrays(
        np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), elements=st.floats(-2, 2)
    )
)
def test_sum_and_mean_gradients_for_any_shape(x):
    assert_allclose(grad(lambda x: fnp.sum(x))(x), np.ones_like(x))
    assert_allclose(grad(lambda x: fnp.mean(x))(x), np.full_like(x, 1.0 / x.size))


def _sum_to_shape(g, shape):
    """Sum a broadcast gradient back down to ``shape`` (what reverse mode must do)."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


@given(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3), st.data())
def test_gradients_of_broadcasting_binary_operations_sum_back_to_each_shape(shapes, data):
    x_shape, y_shape = shapes.input_shapes
    elements = st.floats(0.5, 2.0)
    x = data.draw(hnp.arrays(np.float64, x_shape, elements=elements))
    y = data.draw(hnp.arrays(np.float64, y_shape, elements=elements))
    f = lambda x, y: fnp.sum(x * y + x / y - fnp.maximum(x, y) * 0.0)
    gx, gy = grad(f, argnums=(0, 1))(x, y)
    bx, by = np.broadcast_arrays(x, y)
    assert gx.shape == x_shape and gy.shape == y_shape
    # Sums of terms that may cancel: the tolerance is relative to the terms' size.
    scale = bx.size * np.max(np.abs(bx)) * (np.max(np.abs(by)) + np.max(np.abs(1 / by)) ** 2 + 1)
    assert_allclose(gx, _sum_to_shape(by + 1 / by, x_shape), rtol=1e-12, atol=1e-14 * scale)
    assert_allclose(gy, _sum_to_shape(bx - bx / by**2, y_shape), rtol=1e-12, atol=1e-14 * scale)


@given(st.integers(0, 2), st.booleans())
def test_reduction_axis_and_keepdims_shapes_match_numpy_under_jvp(axis, keepdims):
    for fn, np_fn in [(fnp.sum, np.sum), (fnp.max, np.max), (fnp.mean, np.mean)]:
        out, t = jvp(
            lambda x, fn=fn: fn(x, axis=axis, keepdims=keepdims), (X234,), (np.ones_like(X234),)
        )
        expected = np_fn(X234, axis=axis, keepdims=keepdims)
        assert_allclose(out, expected)
        assert np.shape(t) == expected.shape


# ---------------------------------------------------------------------------------------
# Traced values behave like arrays


def test_tracer_shape_dtype_ndim_size_and_len():
    seen = {}

    def f(x):
        seen.update(shape=x.shape, dtype=x.dtype, ndim=x.ndim, size=x.size, len=len(x))
        return fnp.sum(x)

    grad(f)(np.ones((3, 4), np.float32))
    assert seen == {"shape": (3, 4), "dtype": np.float32, "ndim": 2, "size": 12, "len": 3}


def test_tracer_T_reshape_sum_mean_methods():
    def f(x):
        return x.T.reshape(2, 6).sum(axis=0) * x.mean() + x.reshape((12,)).sum()

    x = X34
    assert_allclose(f(x), np.asarray(x.T.reshape(2, 6).sum(axis=0) * x.mean() + x.sum()))
    assert_allclose(jacrev(f)(x), numerical_jacobian(f, x), rtol=1e-6, atol=1e-8)


TRACER_METHODS = {
    "T": lambda x: x.T,
    "reshape": lambda x: x.reshape(-1),
    "transpose": lambda x: x.transpose(1, 0),
    "sum": lambda x: x.sum(axis=1, keepdims=True),
    "mean": lambda x: x.mean(axis=0),
    "max": lambda x: x.max(),
    "min": lambda x: x.min(axis=1),
    "var": lambda x: x.var(),
    "std": lambda x: x.std(axis=0),
    "ravel": lambda x: x.ravel(),
    "flatten": lambda x: x.flatten(),
    "astype": lambda x: x.astype(np.float32),
    "clip": lambda x: x.clip(-0.1, 0.1),
    "swapaxes": lambda x: x.swapaxes(0, 1),
    "dot": lambda x: x.dot(X4),
    "squeeze": lambda x: x[None].squeeze(),
    "argmax": lambda x: x.argmax(axis=1),
}


@pytest.mark.parametrize("method", TRACER_METHODS.values(), ids=TRACER_METHODS.keys())
def test_tracer_method_matches_the_ndarray_method_under_jvp(method):
    out, _ = jvp(method, (X34,), (np.ones_like(X34),))
    assert_same_as_numpy(out, method(X34))


def test_operators_on_tracers_with_numpy_arrays_on_the_left():
    a = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    c = np.array([0.5, -1.0, 2.0])

    def f(x):
        return fnp.sum(a @ x) + fnp.sum(c * x) + fnp.sum(c - x) + fnp.sum(c + x) + fnp.sum(c / x)

    x = np.array([1.0, 2.0, 4.0])
    expected = a.sum(axis=0) + c - 1.0 + 1.0 - c / x**2
    assert_allclose(grad(f)(x), expected)


def test_reflected_operators_with_scalars_on_the_left():
    x = 2.0
    assert float(grad(lambda x: 3.0 - x)(x)) == -1.0
    assert float(grad(lambda x: 8.0 / x)(x)) == -2.0
    assert float(grad(lambda x: 2.0**x)(x)) == pytest.approx(4.0 * np.log(2.0))
    assert float(grad(lambda x: -x + abs(x) + (+x))(x)) == 1.0


def test_operators_on_tracers_return_tracers_not_object_arrays():
    def f(x):
        for y in (np.ones(3) * x, np.ones(3) + x, np.ones((3, 3)) @ x, np.ones(3) ** x):
            assert isinstance(y, Tracer), type(y)
        return fnp.sum(x)

    grad(f)(np.ones(3))


def test_comparison_operators_on_tracers_give_boolean_values():
    def f(x):
        mask = (x > 0) & (x < 2.0) | (x == 3.0)
        return fnp.sum(fnp.where(mask, x, 0.0))

    assert_allclose(grad(f)(np.array([1.0, -1.0, 3.0, 2.5])), [1.0, 0.0, 1.0, 0.0])


def test_numpy_function_under_make_jaxpr_stages_one_primitive_per_operation():
    jaxpr = make_jaxpr(lambda x: fnp.maximum(x, 0.0).sum())(np.ones(3))
    assert [e.primitive.name for e in jaxpr.eqns] == ["max", "reduce_sum"]


def test_gradient_flows_through_a_float32_cast():
    f = lambda x: fnp.astype(x, np.float32) * 2.0
    assert_allclose(jacrev(f)(X3), 2.0 * np.eye(3))
    assert_allclose(jacfwd(f)(X3), 2.0 * np.eye(3))


def test_float32_is_preserved_through_numpy_functions():
    x = np.arange(1.0, 7.0, dtype=np.float32).reshape(2, 3)
    for f in [
        lambda x: fnp.mean(x, axis=0),
        lambda x: fnp.var(x),
        lambda x: fnp.std(x),
        lambda x: x @ x.T,
        lambda x: fnp.where(x > 0, x, 0.0),
        lambda x: fnp.clip(x, 0.0, 1.0),
        lambda x: fnp.concatenate([x, x]),
    ]:
        assert f(x).dtype == np.float32
        out, f_vjp = vjp(f, x)
        assert out.dtype == np.float32
        assert f_vjp(np.ones_like(out))[0].dtype == np.float32


def test_numpy_random_is_numpys_module_and_its_samples_are_constants():
    # Ported autograd code writes ``npr = np.random`` and samples noise for a
    # reparameterised estimator: the samples are constants, the parameters are not.
    assert fnp.random is np.random
    eps = fnp.random.default_rng(0).standard_normal(1000)

    def expected_square(params):
        mu, log_sigma = params
        return fnp.mean((mu + fnp.exp(log_sigma) * eps) ** 2)

    mu, log_sigma = 0.3, -0.5
    d_mu, d_log_sigma = grad(expected_square)((mu, log_sigma))
    sigma = np.exp(log_sigma)
    assert np.isclose(d_mu, np.mean(2 * (mu + sigma * eps)))
    assert np.isclose(d_log_sigma, np.mean(2 * (mu + sigma * eps) * sigma * eps))


def test_like_constructors_accept_nested_lists():
    assert fnp.full_like([1, 2], 3).tolist() == [3, 3]
    assert fnp.zeros_like([1.0, 2.0]).dtype == np.float64
    assert fnp.ones_like([[1]]).dtype == np.asarray([[1]]).dtype
