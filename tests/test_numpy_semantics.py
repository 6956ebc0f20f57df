"""fungrad.numpy against NumPy where the two used to disagree: matrix and vector norms,
NaN through relu, take_along_axis broadcasting, axis checking, reductions of Python
scalars, array methods under every transformation, rounding and integer division, shape
functions' NumPy conventions, the module's public names, and dtype promotion.

Values are compared with NumPy's own; derivatives with central differences.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import fungrad
import fungrad.numpy as fnp
from fungrad import grad, hessian, jacfwd, jacrev, jit, jvp, make_jaxpr, nn, vmap
from fungrad.core import Tracer
from fungrad.errors import AxisError, FungradTypeError, FungradValueError
from fungrad.test_util import check_grads, numerical_jacobian

RNG = np.random.default_rng(7)
X2 = RNG.standard_normal((2, 3))
X3 = RNG.standard_normal((3, 4, 5))
V = RNG.standard_normal(5)


def assert_like_numpy(actual: Any, expected: Any, exact: bool = False) -> None:
    """Same shape, dtype and values (to rounding unless ``exact``) as NumPy's result."""
    expected = np.asarray(expected)
    assert np.shape(actual) == expected.shape
    assert np.asarray(actual).dtype == expected.dtype
    if exact:
        assert_array_equal(actual, expected)
    else:
        assert_allclose(actual, expected, rtol=1e-12, atol=1e-12)


def tangent_like(x: np.ndarray) -> np.ndarray:
    """Ones for a floating ``x``; the (empty) float0 tangent of an integer one."""
    if x.dtype.kind in "fc":
        return np.ones_like(x)
    return np.zeros(x.shape, fungrad.dtypes.float0)


def assert_jacobians_match_central_differences(f: Callable, x: np.ndarray) -> None:
    expected = numerical_jacobian(f, x)
    assert_allclose(jacrev(f)(x), expected, rtol=1e-5, atol=1e-6)
    assert_allclose(jacfwd(f)(x), expected, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------
# 1. linalg.norm: matrix norms are NumPy's, vector norms cover every vector ord

MATRIX_ORDS = [None, "fro", 1, -1, np.inf, -np.inf, 2, -2, "nuc"]
MATRIX_AXES = [
    pytest.param(X2, None, id="2d"),
    pytest.param(X3, (0, 1), id="axes01"),
    pytest.param(X3, (1, 0), id="axes10"),
    pytest.param(X3, (2, 0), id="axes20"),
    pytest.param(X3, (-1, -2), id="negative_axes"),
]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize(("x", "axis"), MATRIX_AXES)
@pytest.mark.parametrize("ord", MATRIX_ORDS)
def test_matrix_norm_matches_numpy(ord, x, axis, keepdims):
    assert_like_numpy(
        fnp.linalg.norm(x, ord, axis, keepdims), np.linalg.norm(x, ord, axis, keepdims)
    )


@pytest.mark.parametrize(("x", "axis"), MATRIX_AXES)
@pytest.mark.parametrize("ord", MATRIX_ORDS)
def test_matrix_norm_gradient_matches_central_differences(ord, x, axis):
    assert_jacobians_match_central_differences(lambda x: fnp.linalg.norm(x, ord, axis), x)


VECTOR_ORDS = [None, 2, 1, np.inf, -np.inf, 0, 3, 0.5, -1, 2.5]
VECTOR_AXES = [
    pytest.param(V, None, id="1d"),
    pytest.param(X3, 0, id="axis0"),
    pytest.param(X3, -1, id="axis_neg"),
    pytest.param(X3, (1,), id="axis_tuple"),
]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize(("x", "axis"), VECTOR_AXES)
@pytest.mark.parametrize("ord", VECTOR_ORDS)
def test_vector_norm_matches_numpy(ord, x, axis, keepdims):
    assert_like_numpy(
        fnp.linalg.norm(x, ord, axis, keepdims), np.linalg.norm(x, ord, axis, keepdims)
    )


@pytest.mark.parametrize(("x", "axis"), VECTOR_AXES)
@pytest.mark.parametrize("ord", [o for o in VECTOR_ORDS if o != 0])
def test_vector_norm_gradient_matches_central_differences(ord, x, axis):
    assert_jacobians_match_central_differences(lambda x: fnp.linalg.norm(x, ord, axis), x)


def test_zero_norm_counts_nonzero_entries_and_has_zero_derivative():
    x = np.array([0.0, 1.5, 0.0, -2.0])
    assert_like_numpy(fnp.linalg.norm(x, 0), np.linalg.norm(x, 0))
    assert_array_equal(grad(lambda x: fnp.linalg.norm(x, 0))(x), np.zeros(4))


def test_norm_default_over_all_entries_keeps_dims_and_float32():
    x = X3.astype(np.float32)
    assert_allclose(fnp.linalg.norm(x, keepdims=True), np.linalg.norm(x, keepdims=True), 1e-6)
    assert fnp.linalg.norm(x, keepdims=True).shape == (1, 1, 1)
    assert fnp.linalg.norm(x).shape == ()
    assert fnp.linalg.norm(x).dtype == np.float32
    assert fnp.linalg.norm(x[0], 1).dtype == np.float32


def test_norm_of_integers_is_a_float_norm_as_in_numpy():
    m = np.array([[1, -2], [3, 4]])
    for ord in (None, 1, np.inf, "fro"):
        assert_like_numpy(fnp.linalg.norm(m, ord), np.linalg.norm(m, ord))
    assert_like_numpy(fnp.linalg.norm(m[0], 1), np.linalg.norm(m[0], 1))


def test_matrix_norm_under_jit_equals_eager():
    f = jit(lambda x: fnp.linalg.norm(x, 1, axis=(2, 0), keepdims=True))
    assert_allclose(f(X3), np.linalg.norm(X3, 1, axis=(2, 0), keepdims=True))


def test_norm_rejects_orders_and_axes_numpy_rejects():
    with pytest.raises(FungradValueError, match="norm: invalid norm order 'fro' for vectors"):
        fnp.linalg.norm(V, "fro")
    with pytest.raises(FungradValueError, match="norm: invalid norm order 3 for matrices"):
        fnp.linalg.norm(X2, 3)
    with pytest.raises(FungradValueError, match=r"norm: axis=\(0, 1, 2\) names 3 axes"):
        fnp.linalg.norm(X3, axis=(0, 1, 2))
    with pytest.raises(FungradValueError, match=r"norm: ord=1 with axis=None needs a 1-D"):
        fnp.linalg.norm(X3, 1)
    with pytest.raises(FungradValueError, match=r"norm: repeated axis in axis=\(1, -2\)"):
        fnp.linalg.norm(X3, axis=(1, -2))


# ---------------------------------------------------------------------------------------
# 2. relu propagates NaN as maximum(x, 0) does


def test_relu_propagates_nan_as_maximum_does():
    x = np.array([np.nan, -1.0, 0.0, 2.0, -np.inf, np.inf])
    expected = np.maximum(x, 0.0)
    assert_like_numpy(nn.relu(x), expected, exact=True)
    assert_like_numpy(jit(nn.relu)(x), expected, exact=True)
    assert np.isnan(nn.relu(np.float32(np.nan)))


def test_relu_derivative_is_one_above_zero_and_zero_at_and_below():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0])
    expected = np.array([0.0, 0.0, 0.0, 1.0, 1.0])
    assert_array_equal(grad(lambda x: fnp.sum(nn.relu(x)))(x), expected)
    assert_array_equal(jacfwd(nn.relu)(x), np.diag(expected))
    assert_array_equal(jit(grad(lambda x: fnp.sum(nn.relu(x))))(x), expected)


# ---------------------------------------------------------------------------------------
# 3. take_along_axis broadcasts its index; argmax/argmin keepdims with axis=None

TAKE_ALONG_CASES = [
    pytest.param(X2, np.array([[0, 2]]), 1, id="index_row_broadcast"),
    pytest.param(X2, np.array([[1], [0], [1]]), 0, id="index_column_broadcast"),
    pytest.param(X2, np.array([[2, 0, 1, 1]]), -1, id="negative_axis"),
    pytest.param(X3, np.array([[[3], [0]]]), 1, id="3d_broadcast"),
    pytest.param(X3, np.array([[[-1], [0], [2], [-5]]]), 2, id="negative_indices"),
]


@pytest.mark.parametrize(("x", "indices", "axis"), TAKE_ALONG_CASES)
def test_take_along_axis_broadcasts_the_index_as_numpy(x, indices, axis):
    expected = np.take_along_axis(x, indices, axis=axis)
    assert_like_numpy(fnp.take_along_axis(x, indices, axis), expected)
    assert_like_numpy(jit(lambda x: fnp.take_along_axis(x, indices, axis))(x), expected)
    assert_jacobians_match_central_differences(
        lambda x: fnp.take_along_axis(x, indices, axis) * 2.0, x
    )


def test_take_along_axis_with_axis_none_indexes_the_flattened_array():
    indices = np.array([5, 0, 5, 2])
    expected = np.take_along_axis(X2, indices, axis=None)
    assert_like_numpy(fnp.take_along_axis(X2, indices, axis=None), expected)
    g = grad(lambda x: fnp.sum(fnp.take_along_axis(x, indices, axis=None)))(X2)
    assert_array_equal(g, [[1.0, 0.0, 1.0], [0.0, 0.0, 2.0]])


def test_take_along_axis_defaults_to_the_last_axis_as_numpy():
    indices = np.array([[2], [0]])
    assert_like_numpy(fnp.take_along_axis(X2, indices), np.take_along_axis(X2, indices))


def test_take_along_axis_errors_name_the_shapes():
    with pytest.raises(FungradValueError, match=r"indices of shape \(2,\) do not fit .*\(2, 3\)"):
        fnp.take_along_axis(X2, np.array([0, 1]), axis=1)
    with pytest.raises(FungradValueError, match=r"indices of shape \(3, 2\) do not fit"):
        fnp.take_along_axis(X2, np.zeros((3, 2), int), axis=1)
    with pytest.raises(FungradValueError, match=r"axis=None the indices must be 1-D"):
        fnp.take_along_axis(X2, np.zeros((1, 1), int), axis=None)
    with pytest.raises(FungradTypeError, match="take_along_axis: indices must be integers"):
        fnp.take_along_axis(X2, np.zeros((1, 1)), axis=1)


@pytest.mark.parametrize("x", [X2, X3, np.array(2.5)], ids=["2d", "3d", "0d"])
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_and_argmin_keepdims_with_axis_none_keep_every_axis(name, x):
    fn, np_fn = getattr(fnp, name), getattr(np, name)
    expected = np_fn(x, keepdims=True)
    assert_like_numpy(fn(x, keepdims=True), expected)
    assert_like_numpy(jit(lambda x: fn(x, keepdims=True))(x), expected)
    assert_like_numpy(fn(x), np_fn(x))


# ---------------------------------------------------------------------------------------
# 4. An axis out of range is an AxisError everywhere, never wrapped around

AXIS_CASES = [
    ("sum", lambda m, x: m.sum(x, axis=2), 2, 2),
    ("sum", lambda m, x: m.sum(x, axis=-3), -3, 2),
    ("sum", lambda m, x: m.sum(x, axis=(0, 2)), 2, 2),
    ("mean", lambda m, x: m.mean(x, axis=2), 2, 2),
    ("var", lambda m, x: m.var(x, axis=2), 2, 2),
    ("std", lambda m, x: m.std(x, axis=2), 2, 2),
    ("max", lambda m, x: m.max(x, axis=2), 2, 2),
    ("min", lambda m, x: m.min(x, axis=-3), -3, 2),
    ("max", lambda m, x: m.amax(x, axis=2), 2, 2),
    ("min", lambda m, x: m.amin(x, axis=2), 2, 2),
    ("argmax", lambda m, x: m.argmax(x, axis=2), 2, 2),
    ("argmin", lambda m, x: m.argmin(x, axis=-3), -3, 2),
    ("expand_dims", lambda m, x: m.expand_dims(x, 3), 3, 3),
    ("expand_dims", lambda m, x: m.expand_dims(x, (0, -5)), -5, 4),
    ("squeeze", lambda m, x: m.squeeze(x[None], axis=3), 3, 3),
    ("moveaxis", lambda m, x: m.moveaxis(x, 2, 0), 2, 2),
    ("moveaxis", lambda m, x: m.moveaxis(x, 0, -3), -3, 2),
    ("swapaxes", lambda m, x: m.swapaxes(x, 0, 2), 2, 2),
    ("swapaxes", lambda m, x: m.swapaxes(x, -3, 1), -3, 2),
    ("concatenate", lambda m, x: m.concatenate([x, x], axis=2), 2, 2),
    ("stack", lambda m, x: m.stack([x, x], axis=3), 3, 3),
    ("stack", lambda m, x: m.stack([x, x], axis=-4), -4, 3),
    ("take", lambda m, x: m.take(x, np.array([0]), axis=2), 2, 2),
    ("take_along_axis", lambda m, x: m.take_along_axis(x, np.zeros((1, 1), int), 2), 2, 2),
    ("transpose", lambda m, x: m.transpose(x, (0, 2)), 2, 2),
    ("tensordot", lambda m, x: m.tensordot(x, x, axes=([2], [0])), 2, 2),
    ("norm", lambda m, x: m.linalg.norm(x, axis=2), 2, 2),
    ("norm", lambda m, x: m.linalg.norm(x, axis=(0, -3)), -3, 2),
]
AXIS_IDS = [f"{name}_{i}" for i, (name, *_) in enumerate(AXIS_CASES)]


def _run(mode: str, f: Callable[[Any], Any], x: np.ndarray) -> Any:
    if mode == "eager":
        return f(x)
    if mode == "jit":
        return jit(f)(x)
    if mode == "jvp":
        return jvp(f, (x,), (np.ones_like(x),))
    return vmap(f)(np.stack([x, x]))


@pytest.mark.parametrize("mode", ["eager", "jit", "jvp", "vmap"])
@pytest.mark.parametrize(("name", "call", "axis", "ndim"), AXIS_CASES, ids=AXIS_IDS)
def test_axis_out_of_range_raises_axis_error_naming_the_function(name, call, axis, ndim, mode):
    with pytest.raises(IndexError):  # NumPy rejects the same call (AxisError is one)
        call(np, X2)
    message = f"{name}: axis {axis} is out of bounds for an array of dimension {ndim}"
    with pytest.raises(AxisError, match=re.escape(message)) as info:
        _run(mode, lambda x: call(fnp, x), X2)
    assert isinstance(info.value, (np.exceptions.AxisError, FungradValueError, IndexError))


@pytest.mark.parametrize(
    "method",
    [
        lambda x: x.sum(axis=2),
        lambda x: x.mean(axis=-3),
        lambda x: x.argmax(axis=5),
        lambda x: x.swapaxes(0, 2),
        lambda x: x.transpose(2, 0),
        lambda x: x.squeeze(axis=2),
    ],
)
def test_tracer_methods_raise_axis_error_for_an_axis_out_of_range(method):
    with pytest.raises(AxisError, match="is out of bounds for an array of dimension 2"):
        jit(method)(X2)


def test_nn_functions_raise_axis_error_for_an_axis_out_of_range():
    for f in (nn.softmax, nn.log_softmax, nn.logsumexp):
        with pytest.raises(np.exceptions.AxisError, match="axis 2 is out of bounds"):
            f(X2, axis=2)


def test_axis_errors_are_numpy_axis_errors_and_value_and_index_errors():
    for cls in (np.exceptions.AxisError, FungradValueError, ValueError, IndexError):
        with pytest.raises(cls):
            fnp.sum(X2, axis=7)


def test_repeated_and_non_integer_axes_are_rejected():
    with pytest.raises(FungradValueError, match=r"sum: repeated axis in axis=\(1, -1\)"):
        fnp.sum(X2, axis=(1, -1))
    with pytest.raises(FungradValueError, match=r"transpose: repeated axis in axes=\(0, 0\)"):
        fnp.transpose(X2, (0, 0))
    with pytest.raises(FungradValueError, match=r"transpose: axes \(0,\) don't match"):
        fnp.transpose(X2, (0,))
    with pytest.raises(FungradTypeError, match="mean: axis must be an integer"):
        fnp.mean(X2, axis=1.0)


# ---------------------------------------------------------------------------------------
# 5. max and min of Python scalars, under every differentiation transformation


@pytest.mark.parametrize("fn", [fnp.max, fnp.min, fnp.amax, fnp.amin], ids=lambda f: f.__name__)
def test_max_and_min_of_a_python_scalar_are_differentiable(fn):
    assert fn(3.0) == 3.0
    assert float(grad(lambda x: fn(x))(3.0)) == 1.0
    out, tangent = jvp(lambda x: fn(x), (3.0,), (1.0,))
    assert float(out) == 3.0 and float(tangent) == 1.0
    assert float(hessian(lambda x: fn(x) ** 3)(3.0)) == 18.0
    assert float(jit(grad(lambda x: fn(x) * 2.0))(3.0)) == 2.0
    assert float(grad(lambda x: fn(x, keepdims=True) * x)(3.0)) == 6.0


# ---------------------------------------------------------------------------------------
# 6. Array methods on tracers work under every transformation

METHOD_CALLS = {
    "var": (lambda x: x.var(), lambda x: np.var(x)),
    "var_axis_ddof": (lambda x: x.var(axis=0, ddof=1), lambda x: np.var(x, axis=0, ddof=1)),
    "std": (lambda x: x.std(), lambda x: np.std(x)),
    "std_keepdims": (
        lambda x: x.std(axis=-1, keepdims=True),
        lambda x: np.std(x, axis=-1, keepdims=True),
    ),
    "round": (lambda x: x.round(1), lambda x: np.round(x, 1)),
}


@pytest.mark.parametrize(("method", "np_method"), METHOD_CALLS.values(), ids=METHOD_CALLS.keys())
def test_array_methods_work_under_jit_make_jaxpr_grad_and_vmap(method, np_method):
    expected = np_method(X2)
    assert_allclose(jit(method)(X2), expected, rtol=1e-12)
    closed = make_jaxpr(method)(X2)
    assert_allclose(fungrad.eval_jaxpr(closed.jaxpr, closed.consts, X2)[0], expected, 1e-12)
    assert_allclose(vmap(method)(np.stack([X2, 2 * X2])), [expected, np_method(2 * X2)], 1e-12)
    scalar = lambda x: fnp.sum(method(x))
    assert_allclose(grad(scalar)(X2), numerical_jacobian(scalar, X2), rtol=1e-6, atol=1e-6)
    assert_allclose(jit(grad(scalar))(X2), grad(scalar)(X2), rtol=1e-12)


def _tracer_classes() -> list[type]:
    found, todo = [], [Tracer]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_no_tracer_class_shadows_an_installed_array_method():
    from fungrad.numpy import _methods

    installed = {**_methods._OPERATORS, **_methods._METHODS}
    classes = _tracer_classes()
    assert len(classes) >= 4  # Tracer and the jvp, staging and batching tracers
    shadowed = [
        f"{cls.__module__}.{cls.__qualname__}.{name}"
        for cls in classes
        for name, fn in installed.items()
        if inspect.getattr_static(cls, name) is not fn
    ]
    assert not shadowed, f"attributes hiding the array methods of tracers: {shadowed}"


# ---------------------------------------------------------------------------------------
# 7. Rounding, floor division and remainder, with NumPy's semantics

ROUND_INPUTS = [
    pytest.param(np.array([0.5, 1.5, 2.5, -0.5, -2.5, 1.2345, -7.77, 123.456]), id="f64"),
    pytest.param(np.array([0.5, 1.5, 2.675, -1.25, 1234.5], np.float32), id="f32"),
    pytest.param(np.array([-25, -15, 15, 25, 1234, 7]), id="i64"),
    pytest.param(np.array([-25, 15, 125], np.int32), id="i32"),
]


@pytest.mark.parametrize("decimals", [-2, -1, 0, 1, 2, 3])
@pytest.mark.parametrize("x", ROUND_INPUTS)
def test_round_with_decimals_matches_numpy(x, decimals):
    expected = np.round(x, decimals)
    assert_like_numpy(fnp.round(x, decimals), expected, exact=True)
    assert_like_numpy(fnp.around(x, decimals), expected, exact=True)
    assert_like_numpy(jit(lambda x: fnp.round(x, decimals))(x), expected, exact=True)
    assert_like_numpy(jit(lambda x: x.round(decimals))(x), expected, exact=True)


def test_python_round_of_a_tracer_rounds_half_to_even_and_keeps_the_dtype():
    x = np.array([0.5, 1.5, 2.5, -1.26], np.float32)
    assert_like_numpy(jit(lambda x: round(x))(x), np.round(x), exact=True)
    assert_like_numpy(jit(lambda x: round(x, 1))(x), np.round(x, 1), exact=True)
    assert_like_numpy(
        jvp(lambda x: round(x), (x,), (np.ones_like(x),))[1], np.zeros(4, np.float32)
    )


@pytest.mark.parametrize("decimals", [-1, 0, 2])
def test_round_has_zero_derivative(decimals):
    x = np.array([0.3, 1.7, -2.2, 14.2])
    f = lambda x: fnp.round(x, decimals) * x
    assert_allclose(jacrev(f)(x), np.diag(np.round(x, decimals)))
    assert_allclose(jacfwd(f)(x), np.diag(np.round(x, decimals)))
    assert float(grad(lambda x: round(x))(2.3)) == 0.0


def test_round_of_booleans_to_tens_is_rejected_as_numpy_does():
    with pytest.raises(FungradTypeError, match="round: cannot round a boolean array"):
        fnp.round(np.array([True]), -1)


DIVISION_OPERANDS = [
    pytest.param(
        np.array([7.5, -7.5, 7.5, -7.5, 0.0, -0.0, 1.0]),
        np.array([2.0, 2.0, -2.0, -2.0, 3.0, 3.0, 0.1]),
        id="f64",
    ),
    pytest.param(
        np.array([7.5, -7.5, 3.25], np.float32), np.array([2.0, -2.0, -0.5], np.float32), id="f32"
    ),
    pytest.param(np.array([7, -7, 7, -7, 0, 9]), np.array([2, 2, -2, -2, 5, 3]), id="i64"),
    pytest.param(np.array([7, -7, 100], np.int32), np.array([-3, 3, 7], np.int32), id="i32"),
    pytest.param(np.array([7, -7, 100], np.int32), 3, id="i32_python_int"),
    pytest.param(np.array([7, -7, 100], np.int32), 2.5, id="i32_python_float"),
    pytest.param(np.array([7.5, -7.5], np.float32), 2, id="f32_python_int"),
    pytest.param(np.array([7, 250], np.uint8), np.array([3, 7], np.uint8), id="u8"),
]  # fmt: skip

DIVISION_FUNCTIONS = {
    "floor_divide": (fnp.floor_divide, np.floor_divide),
    "remainder": (fnp.remainder, np.remainder),
    "mod": (fnp.mod, np.mod),
    "divmod_quotient": (lambda x, y: fnp.divmod(x, y)[0], lambda x, y: np.divmod(x, y)[0]),
    "divmod_remainder": (lambda x, y: fnp.divmod(x, y)[1], lambda x, y: np.divmod(x, y)[1]),
    "operator_floordiv": (lambda x, y: x // y, lambda x, y: x // y),
    "operator_mod": (lambda x, y: x % y, lambda x, y: x % y),
    "builtin_divmod": (lambda x, y: divmod(x, y)[1], lambda x, y: np.divmod(x, y)[1]),
    "reflected_floordiv": (lambda x, y: 100 // x, lambda x, y: 100 // x),
    "reflected_mod": (lambda x, y: 100 % x, lambda x, y: 100 % x),
    "reflected_divmod": (lambda x, y: divmod(9, x)[0], lambda x, y: np.divmod(9, x)[0]),
}


@pytest.mark.parametrize(
    ("fn", "np_fn"), DIVISION_FUNCTIONS.values(), ids=DIVISION_FUNCTIONS.keys()
)
@pytest.mark.parametrize(("x", "y"), DIVISION_OPERANDS)
def test_floor_division_and_remainder_match_numpy_on_tracers(fn, np_fn, x, y):
    in_axes = (0, 0) if isinstance(y, np.ndarray) else (0, None)
    with np.errstate(divide="ignore", invalid="ignore"):  # 100 // 0.0 is inf, as in NumPy
        expected = np_fn(x, y)
        assert_like_numpy(jit(lambda x: fn(x, y))(x), expected, exact=True)
        assert_like_numpy(vmap(fn, in_axes=in_axes)(x, y), expected, exact=True)
        assert_like_numpy(jvp(lambda x: fn(x, y), (x,), (tangent_like(x),))[0], expected, True)


def test_integer_floor_division_and_remainder_are_exact_beyond_float_precision():
    x = np.array([2**62 + 1, -(2**62) - 3, 2**53 + 1], np.int64)
    y = np.array([3, 7, -2], np.int64)
    for fn, np_fn in [(fnp.floor_divide, np.floor_divide), (fnp.remainder, np.remainder)]:
        assert_like_numpy(fn(x, y), np_fn(x, y), exact=True)
        assert_like_numpy(jit(fn)(x, y), np_fn(x, y), exact=True)


def test_ndarray_on_the_left_of_floordiv_and_mod_is_traced():
    a = np.array([7.0, -7.0])

    def f(x):
        for y in (a // x, a % x, np.divmod(a, x)[1]):
            assert isinstance(y, Tracer), type(y)
        return fnp.sum(a % x)

    assert_allclose(grad(f)(np.array([2.0, 3.0])), [-3.0, 3.0])


X_DIV = np.array([7.3, -7.3, 2.9, -0.4])
Y_DIV = np.array([2.0, 2.0, -1.5, 0.7])


def test_floor_divide_has_zero_derivative_in_both_arguments():
    for argnums in (0, 1):
        for jac in (jacrev, jacfwd):
            assert_array_equal(jac(fnp.floor_divide, argnums)(X_DIV, Y_DIV), np.zeros((4, 4)))
    assert float(grad(lambda x: x // 2.0)(2.3)) == 0.0


def test_remainder_derivatives_are_one_and_minus_the_quotient():
    quotient = np.floor(X_DIV / Y_DIV)
    for jac in (jacrev, jacfwd):
        assert_allclose(jac(fnp.remainder, 0)(X_DIV, Y_DIV), np.eye(4))
        assert_allclose(jac(fnp.remainder, 1)(X_DIV, Y_DIV), np.diag(-quotient))
    check_grads(lambda x, y: x % y, (X_DIV, Y_DIV), order=2)
    check_grads(lambda x: fnp.sum(x % 0.75 * x), (X_DIV,), order=2)


# ---------------------------------------------------------------------------------------
# 8. Shape functions with NumPy's conventions; a[True] and a[False]

MOVEAXIS_CASES = [
    ((0, 1), (2, 0)),
    ((0, 1), (-1, -2)),
    ((2,), (0,)),
    ((), ()),
    (0, -1),
    ([1, 0], [0, 1]),
]


@pytest.mark.parametrize(("source", "destination"), MOVEAXIS_CASES)
def test_moveaxis_with_tuples_matches_numpy(source, destination):
    f = lambda x: fnp.moveaxis(x, source, destination)
    assert_like_numpy(f(X3), np.moveaxis(X3, source, destination))
    assert_like_numpy(jit(f)(X3), np.moveaxis(X3, source, destination))
    assert_jacobians_match_central_differences(lambda x: f(x) ** 2, X3[:2, :2, :2])


def test_moveaxis_rejects_mismatched_and_repeated_axes():
    with pytest.raises(FungradValueError, match="moveaxis: source=.* same number of elements"):
        fnp.moveaxis(X3, (0, 1), (0,))
    with pytest.raises(FungradValueError, match=r"moveaxis: repeated axis in source=\(0, -3\)"):
        fnp.moveaxis(X3, (0, -3), (1, 2))


def test_concatenate_with_axis_none_flattens_first():
    expected = np.concatenate([X2, X3[0], V], axis=None)
    assert_like_numpy(fnp.concatenate([X2, X3[0], V], axis=None), expected)
    f = lambda x: fnp.concatenate([x, x**2], axis=None)
    assert_like_numpy(jit(f)(X2), np.concatenate([X2, X2**2], axis=None))
    assert_jacobians_match_central_differences(f, X2)


def test_concatenate_of_zero_d_arrays_is_rejected_as_in_numpy():
    with pytest.raises(FungradValueError, match="zero-dimensional arrays cannot be concatenated"):
        fnp.concatenate([np.array(1.0), np.array(2.0)])


STACK_INPUTS = [
    pytest.param([np.array(1.0), np.array(2.0)], id="0d"),
    pytest.param([np.array(1.0), np.array([2.0, 3.0])], id="0d_and_1d"),
    pytest.param([np.array([1.0, 2.0]), np.array([3.0, 4.0])], id="1d"),
    pytest.param([np.ones((2, 1)), np.zeros((2, 2))], id="2d"),
]


@pytest.mark.parametrize("arrays", STACK_INPUTS)
@pytest.mark.parametrize("name", ["hstack", "vstack"])
def test_hstack_and_vstack_make_inputs_at_least_1d_and_2d_as_numpy(name, arrays):
    fn, np_fn = getattr(fnp, name), getattr(np, name)
    try:
        expected = np_fn(arrays)
    except ValueError:
        with pytest.raises(ValueError):
            fn(arrays)
        return
    assert_like_numpy(fn(arrays), expected)
    assert_like_numpy(jit(lambda *xs: fn(list(xs)))(*arrays), expected)


def test_hstack_of_traced_scalars_is_differentiable():
    f = lambda x: fnp.hstack([x[0] * x[1], x[2], 3.0 * x[0]])
    assert_jacobians_match_central_differences(f, V[:3])


@pytest.mark.parametrize("x", [np.array(2.0), V, X2, X3], ids=["0d", "1d", "2d", "3d"])
@pytest.mark.parametrize("name", ["atleast_1d", "atleast_2d", "atleast_3d"])
def test_atleast_nd_matches_numpy(name, x):
    assert_like_numpy(getattr(fnp, name)(x), getattr(np, name)(x))
    pair = getattr(fnp, name)(x, 1.0)
    assert [np.shape(p) for p in pair] == [np.shape(p) for p in getattr(np, name)(x, 1.0)]


SCALAR_BOOL_INDICES = [
    pytest.param(True, id="true"),
    pytest.param(False, id="false"),
    pytest.param(np.True_, id="numpy_true"),
    pytest.param(np.array(False), id="0d_false_array"),
    pytest.param((slice(None), True), id="slice_true"),
    pytest.param((Ellipsis, True), id="ellipsis_true"),
    pytest.param((True, [0, 1]), id="true_and_array"),
    pytest.param((0, True, [1, 2]), id="int_true_array"),
    pytest.param((True, slice(None), [1, 2]), id="true_slice_array"),
    pytest.param((None, True, 1), id="none_true_int"),
    pytest.param((True, True), id="two_trues"),
    pytest.param((False, Ellipsis, 0), id="false_ellipsis_int"),
]


@pytest.mark.parametrize("index", SCALAR_BOOL_INDICES)
def test_scalar_boolean_index_adds_an_axis_of_one_or_zero_as_numpy(index):
    expected = X2[index]
    assert_like_numpy(fnp.getitem(X2, index), expected)
    assert_like_numpy(jit(lambda x: x[index])(X2), expected)
    assert_like_numpy(vmap(lambda x: x[index])(np.stack([X2, -X2]))[1], -expected)
    g = grad(lambda x: fnp.sum(x[index] * 2.0))(X2)
    ones = np.zeros_like(X2)
    np.add.at(ones, index, 2.0)
    assert_array_equal(g, ones)


def test_traced_scalar_boolean_index_needs_a_concrete_value():
    assert_like_numpy(grad(lambda x: fnp.sum(fnp.getitem(V, x > 0.0)) * x)(1.0), np.sum(V))
    assert_like_numpy(grad(lambda x: fnp.sum(fnp.getitem(V, x < 0.0)) + x)(1.0), 1.0)
    with pytest.raises(fungrad.errors.ConcretizationError, match="scalar boolean"):
        jit(lambda x, c: x[c > 0])(X2, 1.0)


# ---------------------------------------------------------------------------------------
# 9. dir(fungrad.numpy) shows NumPy's names only

NOT_IN_NUMPY = {"stop_gradient", "at", "logsumexp"}  # documented in docs/api.md and docs/numpy.md


def test_dir_of_fungrad_numpy_shows_only_numpy_style_public_names():
    names = dir(fnp)
    assert names == sorted(fnp.__all__)
    foreign = [n for n in names if not hasattr(np, n) and n not in NOT_IN_NUMPY]
    assert not foreign, f"fungrad.numpy lists names NumPy does not have: {foreign}"
    for internal in ("np", "ew", "Tracer", "builtins", "gather", "reduce_max", "Any"):
        assert internal not in names
    linalg = dir(fnp.linalg)
    assert linalg == sorted(fnp.linalg.__all__)
    assert [n for n in linalg if not hasattr(np.linalg, n)] == []


def test_every_public_name_is_defined_and_every_public_function_is_listed():
    assert [n for n in fnp.__all__ if not hasattr(fnp, n)] == []
    defined_here = [
        name
        for name, value in vars(fnp).items()
        if callable(value) and getattr(value, "__module__", None) == "fungrad.numpy"
        and not name.startswith("_") and name != "getitem"
    ]  # fmt: skip
    assert sorted(set(defined_here) - set(fnp.__all__)) == []


def test_names_used_elsewhere_stay_importable():
    from fungrad.numpy import getitem, stop_gradient  # noqa: F401

    namespace: dict = {}
    exec("from fungrad.numpy import *", namespace)
    assert {"sum", "linalg", "float32", "floor_divide"} <= set(namespace)
    assert "Tracer" not in namespace


# ---------------------------------------------------------------------------------------
# 10. Result dtypes of mixed Python scalars, NumPy scalars and arrays

OPERANDS = {
    "py_float": 2.0,
    "py_int": 3,
    "py_bool": True,
    "f32_scalar": np.float32(1.5),
    "i32_scalar": np.int32(3),
    "f32": np.arange(1, 4, dtype=np.float32),
    "f16": np.arange(1, 4, dtype=np.float16),
    "i32": np.arange(1, 4, dtype=np.int32),
    "i64": np.arange(1, 4),
    "u8": np.arange(1, 4, dtype=np.uint8),
    "bool": np.array([True, False, True]),
}
BINARY = [
    "add", "subtract", "multiply", "divide", "floor_divide", "remainder", "power", "maximum",
    "minimum", "logaddexp", "less", "equal", "dot", "inner",
]  # fmt: skip
UNARY = [
    "negative", "square", "reciprocal", "exp", "exp2", "log2", "sqrt", "sin", "abs", "sign",
    "floor", "round", "sum", "mean", "var", "std", "max", "argmax",
]  # fmt: skip


def _numpy_dtype(fn: Callable, *args: Any) -> np.dtype | None:
    try:
        with np.errstate(all="ignore"):
            return np.result_type(fn(*args))
    except (TypeError, ValueError):
        return None  # NumPy rejects the mix (e.g. integers to negative powers)


@pytest.mark.parametrize("name", BINARY)
def test_binary_functions_promote_as_numpy(name):
    fn, np_fn = getattr(fnp, name), getattr(np, name)
    wrong = []
    for (kx, x), (ky, y) in [(a, b) for a in OPERANDS.items() for b in OPERANDS.items()]:
        expected = _numpy_dtype(np_fn, x, y)
        if expected is None:
            continue
        with np.errstate(all="ignore"):
            got = np.result_type(fn(x, y))
        if got != expected:
            wrong.append(f"{kx}, {ky}: {got} (NumPy: {expected})")
    assert not wrong, f"{name}: " + "; ".join(wrong)


@pytest.mark.parametrize("name", UNARY)
def test_unary_functions_promote_as_numpy(name):
    fn, np_fn = getattr(fnp, name), getattr(np, name)
    wrong = []
    for kx, x in OPERANDS.items():
        expected = _numpy_dtype(np_fn, x)
        if expected is None:
            continue
        with np.errstate(all="ignore"):
            got = np.result_type(fn(x))
        if got != expected:
            wrong.append(f"{kx}: {got} (NumPy: {expected})")
    assert not wrong, f"{name}: " + "; ".join(wrong)


@pytest.mark.parametrize(
    ("fn", "args", "expected"),
    [
        (fnp.add, (np.float32(1), 2.0), np.float32),
        (fnp.multiply, (np.arange(3, dtype=np.int32), 2.5), np.float64),
        (fnp.multiply, (np.arange(3, dtype=np.float32), 2), np.float32),
        (fnp.power, (np.arange(3, dtype=np.float32), np.int32(2)), np.float64),
        (fnp.where, (np.array([True, False]), np.ones(2, np.float32), 0.0), np.float32),
        (fnp.where, (np.array([True, False]), np.ones(2, np.int32), 2.5), np.float64),
        (fnp.clip, (np.arange(3, dtype=np.int32), 0.5, None), np.float64),
        (fnp.clip, (2.0, np.float32(1.0), None), np.float64),
    ],
)
def test_promotion_examples_match_numpy(fn, args, expected):
    assert np.result_type(fn(*args)) == expected
    traced = jit(lambda x: fn(x, *args[1:]))(args[0])
    assert np.result_type(traced) == expected


@pytest.mark.parametrize(
    "index",
    [
        np.array([True, False]),  # too short for axis 0
        (slice(None), np.array([True, False, True])),  # too short for axis 1
        (Ellipsis, np.array([True] * 5)),  # too long for the last axis
        np.ones((3, 3), bool),  # two axes, the second of the wrong size
    ],
)
def test_a_boolean_mask_of_the_wrong_shape_is_an_error_as_in_numpy(index):
    x = np.zeros((3, 4))
    with pytest.raises(IndexError):
        x[index]
    with pytest.raises(IndexError, match="boolean index"):
        fnp.getitem(x, index)
    with pytest.raises(IndexError, match="boolean index"):
        fungrad.jit(lambda x: x[index])(x)


def test_an_empty_list_index_selects_nothing_as_in_numpy():
    x = np.arange(12.0).reshape(3, 4)
    assert fnp.getitem(x, []).shape == x[[]].shape == (0, 4)
    assert fungrad.jit(lambda x: x[[]])(x).shape == (0, 4)


def test_logsumexp_derivative_in_b_is_right_where_b_is_zero():
    # d/db_i log(sum_j b_j exp(a_j)) = exp(a_i) / sum_j b_j exp(a_j), b_i == 0 included.
    a, b = np.array([0.0, 1.0]), np.array([1.0, 0.0])
    assert_allclose(grad(lambda b: fnp.logsumexp(a, b=b))(b), [1.0, np.e])
    check_grads(lambda a, b: fnp.logsumexp(a, b=b), (a, b), order=2)
    # A term that does not count may be huge: the value stays SciPy's.
    assert fnp.logsumexp(np.array([0.0, 1000.0]), b=np.array([1.0, 0.0])) == 0.0


@pytest.mark.parametrize("ddof", [3, 4])
def test_var_with_no_degrees_of_freedom_left_is_inf_as_in_numpy(ddof):
    x = np.array([1.0, 2.0, 4.0])
    with np.errstate(divide="ignore"), pytest.warns(RuntimeWarning):
        expected = np.var(x, ddof=ddof)
    with np.errstate(divide="ignore"):
        assert fnp.var(x, ddof=ddof) == expected == np.inf


def test_var_and_std_of_complex_values_are_real_as_in_numpy():
    x = np.array([1 + 1j, 2 - 1j, 0.5j])
    assert_allclose(fnp.var(x), np.var(x))
    assert_allclose(fnp.std(x, ddof=1), np.std(x, ddof=1))
