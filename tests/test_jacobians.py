"""Tests for fungrad.jacfwd, jacrev, hessian and hvp: agreement with each other and
with central differences on random functions of pytrees, JAX's nested result layout,
argnums, has_aux, chunk_size, dtypes, and the error messages.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal

import fungrad.numpy as fnp
from fungrad import grad, hessian, hvp, jacfwd, jacrev, make_jaxpr, nn
from fungrad.api import vjp_of_call
from fungrad.test_util import numerical_jacobian, numerical_jvp
from fungrad.tree_util import tree_flatten, tree_leaves, tree_map, tree_structure, tree_unflatten

JACOBIANS = [jacfwd, jacrev]
JAC_IDS = ["jacfwd", "jacrev"]


def assert_trees_close(actual: Any, expected: Any, rtol: float, atol: float) -> None:
    assert tree_structure(actual) == tree_structure(expected)
    for a, e in zip(tree_leaves(actual), tree_leaves(expected)):
        assert np.shape(a) == np.shape(e), (np.shape(a), np.shape(e))
        assert_allclose(a, e, rtol=rtol, atol=atol)


def assert_trees_equal(actual: Any, expected: Any) -> None:
    assert tree_structure(actual) == tree_structure(expected)
    for a, e in zip(tree_leaves(actual), tree_leaves(expected)):
        assert np.shape(a) == np.shape(e) and np.result_type(a) == np.result_type(e)
        assert_array_equal(a, e)


def numerical_jacobian_tree(f: Callable, args: tuple, argnums: int | tuple[int, ...]) -> Any:
    """The Jacobian of ``f`` at ``args`` by central differences, in JAX's nested layout:
    the output's structure outside, the differentiated arguments' structure inside, and
    each leaf of shape out.shape + in.shape."""
    nums = (argnums,) if isinstance(argnums, int) else argnums
    diff = tuple(args[i] for i in nums)
    in_leaves, in_tree = tree_flatten(diff)
    out_leaves, out_tree = tree_flatten(f(*args))
    zeros = tree_map(lambda a: np.zeros(np.shape(a)), tuple(args))
    blocks: list[list[np.ndarray]] = [[] for _ in out_leaves]
    for li, leaf in enumerate(in_leaves):
        leaf = np.asarray(leaf)
        columns: list[list[np.ndarray]] = [[] for _ in out_leaves]
        for e in range(leaf.size):
            basis = np.zeros(leaf.size)
            basis[e] = 1.0
            tangent_leaves = [np.zeros(np.shape(x)) for x in in_leaves]
            tangent_leaves[li] = basis.reshape(leaf.shape)
            tangent_diff = tree_unflatten(in_tree, tangent_leaves)
            tangents = list(zeros)
            for i, t in zip(nums, tangent_diff):
                tangents[i] = t
            column = tree_leaves(numerical_jvp(f, args, tuple(tangents)))
            for k, c in enumerate(column):
                columns[k].append(np.asarray(c))
        for k, out in enumerate(out_leaves):
            shape = np.shape(out) + leaf.shape
            stacked = np.stack(columns[k], axis=-1) if columns[k] else np.zeros(shape)
            blocks[k].append(stacked.reshape(shape))
    per_out = []
    for row in blocks:
        inner = tree_unflatten(in_tree, row)
        per_out.append(inner[0] if isinstance(argnums, int) else inner)
    return tree_unflatten(out_tree, per_out)


# ---------------------------------------------------------------------------------------
# Random smooth functions of pytrees, drawn by hypothesis.
#
# Each output leaf is built from one input leaf by a chain of shape-changing and
# elementwise steps, then mixed with (a reduction of) another input leaf, so that every
# Jacobian block can be non-zero and non-diagonal.


def fixed_matrix(n: int) -> np.ndarray:
    return np.random.default_rng(n).standard_normal((n, 2))


ELEMENTWISE = {
    "sin": fnp.sin,
    "tanh": fnp.tanh,
    "square": lambda x: x * x,
    "gauss": lambda x: fnp.exp(-x * x),
    "softplus": nn.softplus,
    "affine": lambda x: 3.0 * x - 1.0,
}


def reshape_step(name: str) -> Callable:
    def step(x):
        if fnp.ndim(x) == 0:
            return x
        if name == "reverse":
            return x[::-1]
        if name == "transpose":
            return fnp.transpose(x)
        if name == "ravel":
            return fnp.ravel(x)
        if name == "sum0":
            return fnp.sum(x, axis=0)
        if name == "sum_keep":
            return fnp.sum(x, axis=-1, keepdims=True)
        if name == "matrix":
            return x @ fixed_matrix(fnp.shape(x)[-1])
        if name == "concat":
            return fnp.concatenate([x, fnp.cos(x)], axis=-1)
        if name == "softmax":
            return nn.softmax(x, axis=-1)
        raise AssertionError(name)

    return step


RESHAPES = ["reverse", "transpose", "ravel", "sum0", "sum_keep", "matrix", "concat", "softmax"]

MIXERS = {
    "times_sum": lambda x, y: x * fnp.sum(fnp.sin(y)),
    "plus_mean_square": lambda x, y: x + fnp.mean(y * y),
    "times_norm": lambda x, y: x * fnp.sqrt(fnp.sum(y * y) + 1.0),
    "none": lambda x, y: x,
}


@dataclasses.dataclass(frozen=True)
class OutputRecipe:
    source: int
    steps: tuple[str, ...]
    mixer: str
    partner: int


def apply_recipe(recipe: OutputRecipe, leaves: list[Any]) -> Any:
    x = leaves[recipe.source]
    for step in recipe.steps:
        x = ELEMENTWISE[step](x) if step in ELEMENTWISE else reshape_step(step)(x)
    return MIXERS[recipe.mixer](x, leaves[recipe.partner])


leaf_shapes = hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3)


@st.composite
def pytree_of(draw, leaves: st.SearchStrategy) -> Any:
    kind = draw(st.sampled_from(["leaf", "tuple", "dict", "nested"]))
    if kind == "leaf":
        return draw(leaves)
    if kind == "tuple":
        return (draw(leaves), draw(leaves))
    if kind == "dict":
        return {"w": draw(leaves), "b": draw(leaves)}
    return {"layer": [draw(leaves), {"scale": draw(leaves)}]}


@dataclasses.dataclass
class RandomProblem:
    fun: Callable
    args: tuple
    argnums: int | tuple[int, ...]


@st.composite
def random_problems(draw) -> RandomProblem:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_args = draw(st.integers(1, 2))
    args = tuple(
        draw(pytree_of(leaf_shapes.map(lambda s: rng.standard_normal(s)))) for _ in range(n_args)
    )
    n_leaves = len(tree_leaves(args))
    recipe = st.builds(
        OutputRecipe,
        source=st.integers(0, n_leaves - 1),
        steps=st.lists(st.sampled_from(sorted(ELEMENTWISE) + RESHAPES), max_size=3).map(tuple),
        mixer=st.sampled_from(sorted(MIXERS)),
        partner=st.integers(0, n_leaves - 1),
    )
    out_template = draw(pytree_of(recipe))
    recipes, out_tree = tree_flatten(out_template, is_leaf=lambda x: isinstance(x, OutputRecipe))

    def fun(*call_args):
        leaves = tree_leaves(call_args)
        return tree_unflatten(out_tree, [apply_recipe(r, leaves) for r in recipes])

    if n_args == 1 or draw(st.booleans()):
        argnums: int | tuple[int, ...] = draw(st.integers(-n_args, n_args - 1))
    else:
        argnums = tuple(draw(st.permutations(range(n_args))))[: draw(st.integers(1, n_args))]
    return RandomProblem(fun, args, argnums)


@given(problem=random_problems())
def test_jacfwd_equals_jacrev_equals_numerical_jacobian(problem):
    fwd = jacfwd(problem.fun, argnums=problem.argnums)(*problem.args)
    rev = jacrev(problem.fun, argnums=problem.argnums)(*problem.args)
    assert_trees_close(fwd, rev, rtol=1e-10, atol=1e-12)
    numerical = numerical_jacobian_tree(problem.fun, problem.args, problem.argnums)
    assert_trees_close(fwd, numerical, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("jac", JACOBIANS, ids=JAC_IDS)
@given(problem=random_problems(), chunk_size=st.sampled_from([1, 2, 3, 1000]))
def test_chunk_size_gives_identical_results(jac, problem, chunk_size):
    whole = jac(problem.fun, argnums=problem.argnums)(*problem.args)
    chunked = jac(problem.fun, argnums=problem.argnums, chunk_size=chunk_size)(*problem.args)
    # The same arithmetic per basis vector; only BLAS may round a (1, n) @ (n, m) product
    # differently from a (3, n) @ (n, m) one, in the last bit.
    assert_trees_close(chunked, whole, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("jac", JACOBIANS, ids=JAC_IDS)
@given(problem=random_problems())
def test_has_aux_returns_the_aux_and_the_same_jacobian(jac, problem):
    def with_aux(*args):
        out = problem.fun(*args)
        return out, {"out": out, "count": 3}

    jacobian, aux = jac(with_aux, argnums=problem.argnums, has_aux=True)(*problem.args)
    assert_trees_equal(jacobian, jac(problem.fun, argnums=problem.argnums)(*problem.args))
    expected = problem.fun(*problem.args)
    # eager `ndarray @ ndarray` is NumPy's matmul, traced it is dot_general (np.dot)
    assert_trees_close(aux["out"], expected, rtol=1e-14, atol=1e-15)
    assert aux["count"] == 3
    assert all(type(x) in (np.ndarray, np.float64) for x in tree_leaves(aux["out"]))


# ---------------------------------------------------------------------------------------
# The layout, pinned on small examples


def layout_function(params, x):
    return {
        "y": params["w"] @ x + params["b"],
        "norm": [fnp.sum(x * x)],
    }


PARAMS = {"w": np.arange(6.0).reshape(2, 3) / 4, "b": np.array([1.0, -1.0])}
X = np.array([0.5, -1.0, 2.0])


@pytest.mark.parametrize("jac", JACOBIANS, ids=JAC_IDS)
def test_nested_layout_output_outside_input_inside(jac):
    j = jac(layout_function, argnums=(0, 1))(PARAMS, X)
    assert set(j) == {"y", "norm"}
    j_params, j_x = j["y"]
    assert j_params["w"].shape == (2, 2, 3)  # out (2,) + in (2, 3)
    assert j_params["b"].shape == (2, 2)
    assert_allclose(j_x, PARAMS["w"], rtol=1e-15)
    assert_allclose(j_params["b"], np.eye(2), rtol=1e-15)
    # d y_i / d w_jk = delta_ij x_k
    assert_allclose(j_params["w"], np.einsum("ij,k->ijk", np.eye(2), X), rtol=1e-15)
    (norm_params, norm_x) = j["norm"][0]
    assert norm_params["w"].shape == (2, 3) and norm_params["b"].shape == (2,)
    assert_allclose(norm_params["w"], 0.0)
    assert_allclose(norm_x, 2 * X, rtol=1e-15)


@pytest.mark.parametrize("jac", JACOBIANS, ids=JAC_IDS)
def test_int_argnums_gives_that_arguments_structure_without_a_tuple(jac):
    j = jac(layout_function)(PARAMS, X)
    assert set(j["y"]) == {"w", "b"}
    j1 = jac(layout_function, argnums=1)(PARAMS, X)
    assert j1["y"].shape == (2, 3)
    j_tuple = jac(layout_function, argnums=(1,))(PARAMS, X)
    assert isinstance(j_tuple["y"], tuple) and len(j_tuple["y"]) == 1
    assert_allclose(j_tuple["y"][0], j1["y"], rtol=0)
    j_neg = jac(layout_function, argnums=-1)(PARAMS, X)
    assert_allclose(j_neg["norm"][0], j1["norm"][0], rtol=0)


@pytest.mark.parametrize("jac", JACOBIANS, ids=JAC_IDS)
def test_scalar_input_and_output_shapes(jac):
    assert jac(lambda s: s * s)(3.0).shape == ()
    assert jac(lambda s: fnp.stack([s, s * s]))(3.0).shape == (2,)
    assert jac(lambda x: fnp.sum(x))(np.ones((2, 3))).shape == (2, 3)
    assert jac(lambda m: m.T)(np.ones((2, 3))).shape == (3, 2, 2, 3)


@pytest.mark.parametrize("jac", JACOBIANS, ids=JAC_IDS)
def test_jacobian_of_a_function_ignoring_its_input_is_zero(jac):
    j = jac(lambda x, y: (y * 2.0, fnp.ones(2)), argnums=0)(np.ones(3), np.ones(2))
    assert_allclose(j[0], np.zeros((2, 3)))
    assert_allclose(j[1], np.zeros((2, 3)))
    assert j[0].dtype == np.float64


@pytest.mark.parametrize("jac", JACOBIANS, ids=JAC_IDS)
def test_jacobian_with_respect_to_an_empty_array(jac):
    # JAX returns an empty Jacobian: shape out.shape + in.shape with a zero in it.
    assert jac(lambda x: fnp.sum(x) + 1.0)(np.ones(0)).shape == (0,)
    assert jac(lambda x: x * 2.0)(np.ones((2, 0))).shape == (2, 0, 2, 0)


@pytest.mark.parametrize("jac", JACOBIANS, ids=JAC_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_jacobians_preserve_the_floating_dtype(jac, dtype):
    x = np.linspace(-1, 1, 4, dtype=dtype)
    j = jac(lambda x: fnp.tanh(x) * fnp.sum(x * x))(x)
    assert j.dtype == dtype
    expected = numerical_jacobian(lambda x: np.tanh(x) * np.sum(x * x), x.astype(np.float64))
    assert_allclose(j, expected, rtol=1e-4 if dtype == np.float32 else 1e-7, atol=1e-6)


@pytest.mark.parametrize("jac", JACOBIANS, ids=JAC_IDS)
def test_chunks_never_put_the_whole_identity_basis_in_the_program(jac):
    n = 6
    closed = make_jaxpr(jac(lambda x: fnp.sin(x) * fnp.sum(x), chunk_size=2))(np.ones(n))
    assert all(np.size(c) <= 2 * n for c in closed.consts)
    whole = make_jaxpr(jac(lambda x: fnp.sin(x) * fnp.sum(x)))(np.ones(n))
    assert str(closed.out_avals) == str(whole.out_avals)


# ---------------------------------------------------------------------------------------
# hessian and hvp


def scalar_function(x):
    return fnp.sum(fnp.sin(x) * x**2) + fnp.sum(x) ** 2 * 0.1 + nn.logsumexp(x * 2.0)


@given(shape=hnp.array_shapes(min_dims=0, max_dims=2, max_side=3), seed=st.integers(0, 99))
def test_hessian_equals_the_numerical_jacobian_of_grad_and_is_symmetric(shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    h = hessian(scalar_function)(x)
    assert h.shape == shape + shape
    assert_allclose(h, numerical_jacobian(grad(scalar_function), x), rtol=1e-6, atol=1e-7)
    square = h.reshape(x.size, x.size)
    assert_allclose(square, square.T, rtol=1e-12, atol=1e-12)
    assert_allclose(h, jacrev(jacfwd(scalar_function))(x), rtol=1e-10, atol=1e-12)


@given(shape=hnp.array_shapes(min_dims=0, max_dims=2, max_side=3), seed=st.integers(0, 99))
def test_hvp_equals_hessian_times_vector(shape, seed):
    rng = np.random.default_rng(seed)
    x, v = rng.standard_normal(shape), rng.standard_normal(shape)
    h = hessian(scalar_function)(x)
    out = hvp(scalar_function, (x,), (v,))
    assert out.shape == shape
    assert_allclose(out, np.tensordot(h, v, axes=len(shape)), rtol=1e-10, atol=1e-12)


def two_argument_scalar(x, y):
    return fnp.sum(fnp.tanh(x) @ y) + fnp.sum(x**2) * fnp.sum(fnp.sin(y))


def test_hessian_of_several_arguments_has_every_block():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(3), rng.standard_normal((3, 2))
    h = hessian(two_argument_scalar, argnums=(0, 1))(x, y)
    assert [[b.shape for b in row] for row in h] == [
        [(3, 3), (3, 3, 2)],
        [(3, 2, 3), (3, 2, 3, 2)],
    ]
    assert_allclose(h[0][1], np.moveaxis(h[1][0], -1, 0), rtol=1e-12)  # symmetry across blocks
    numerical = numerical_jacobian_tree(
        grad(two_argument_scalar, argnums=(0, 1)), (x, y), argnums=(0, 1)
    )
    assert_trees_close(h, numerical, rtol=1e-6, atol=1e-7)


def test_hvp_with_several_arguments_combines_the_blocks():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(3), rng.standard_normal((3, 2))
    vx, vy = rng.standard_normal(3), rng.standard_normal((3, 2))
    h = hessian(two_argument_scalar, argnums=(0, 1))(x, y)
    out_x, out_y = hvp(two_argument_scalar, (x, y), (vx, vy))
    assert_allclose(out_x, h[0][0] @ vx + np.tensordot(h[0][1], vy, axes=2), rtol=1e-10)
    assert_allclose(
        out_y, np.tensordot(h[1][0], vx, axes=1) + np.tensordot(h[1][1], vy, axes=2), rtol=1e-10
    )


def test_hvp_of_a_pytree_argument():
    params = {"w": np.array([[0.5, -1.0], [2.0, 0.3]]), "b": np.array([0.1, -0.2])}
    tangent = {"w": np.ones((2, 2)), "b": np.array([1.0, -1.0])}

    def loss(p):
        return fnp.sum(fnp.tanh(p["w"] @ p["b"]) ** 2)

    out = hvp(loss, (params,), (tangent,))
    assert set(out) == {"w", "b"}
    h = hessian(loss)(params)
    for k in ("w", "b"):
        expected = sum(np.tensordot(h[k][j], tangent[j], axes=tangent[j].ndim) for j in ("w", "b"))
        assert_allclose(out[k], expected, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("chunk_size", [1, 3, None, 100])
def test_hessian_chunk_size_gives_identical_results(chunk_size):
    x = np.random.default_rng(2).standard_normal((2, 3))
    chunked = hessian(scalar_function, chunk_size=chunk_size)(x)
    assert_trees_close(chunked, hessian(scalar_function)(x), rtol=1e-14, atol=1e-15)


def test_hessian_with_has_aux():
    x = np.array([0.5, -1.0])
    h, aux = hessian(lambda x: (fnp.sum(x**4), {"x2": x * x}), has_aux=True)(x)
    assert_allclose(h, np.diag(12 * x**2), rtol=1e-14)
    assert_allclose(aux["x2"], x * x, rtol=0)


def test_hessian_and_hvp_preserve_float32():
    x = np.array([0.5, -1.0, 2.0], np.float32)
    h = hessian(scalar_function)(x)
    assert h.dtype == np.float32
    out = hvp(scalar_function, (x,), (np.ones(3, np.float32),))
    assert out.dtype == np.float32
    assert_allclose(out, h @ np.ones(3, np.float32), rtol=1e-4)
    assert_allclose(h, hessian(scalar_function)(x.astype(np.float64)), rtol=1e-3, atol=1e-4)


# ---------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize("transformation", [jacfwd, jacrev, hessian])
@pytest.mark.parametrize("chunk_size", [0, -2, 2.0])
def test_chunk_size_must_be_a_positive_int(transformation, chunk_size):
    with pytest.raises(
        ValueError, match=rf"chunk_size must be a positive int or None, got {chunk_size}"
    ):
        transformation(fnp.sin, chunk_size=chunk_size)


@pytest.mark.parametrize(
    "transformation, name", [(jacfwd, "jacfwd"), (jacrev, "jacrev"), (hessian, "hessian")]
)
def test_integer_inputs_are_rejected_naming_the_argument(transformation, name):
    with pytest.raises(
        TypeError,
        match=rf"{name} requires floating-point inputs .* but argument 1 \('y'\) has dtype "
        r"int64\. Convert it",
    ):
        transformation(lambda x, y: fnp.sum(x * y), argnums=(0, 1))(np.ones(3), np.arange(3))


def test_integer_inputs_in_a_pytree_are_named_by_path():
    with pytest.raises(TypeError, match=r"argument 0 \('p'\) at path \['n'\] has dtype int64"):
        jacrev(lambda p: p["x"] * p["n"])({"x": np.ones(2), "n": np.arange(2)})


def test_integer_arguments_outside_argnums_are_fine():
    out = jacrev(lambda x, n: x * n, argnums=0)(np.ones(3), np.arange(3))
    assert_allclose(out, np.diag(np.arange(3.0)))


@pytest.mark.parametrize(
    "fun, leaf, dtype",
    [
        (lambda x: x > 0, 0, "bool"),
        (lambda x: (x, fnp.argmax(x)), 1, "int64"),
    ],
    ids=["bool", "int"],
)
def test_jacrev_requires_floating_point_outputs(fun, leaf, dtype):
    with pytest.raises(
        TypeError,
        match=rf"jacrev requires floating-point outputs, but output leaf {leaf} has dtype "
        rf"{dtype}; it has no derivative",
    ):
        jacrev(fun)(np.ones(3))


def test_hvp_requires_a_scalar_function():
    with pytest.raises(TypeError, match=r"grad requires a scalar output, .* shape \(3,\)"):
        hvp(lambda x: x**2, (np.ones(3),), (np.ones(3),))


def test_hvp_requires_tuples_of_primals_and_tangents():
    with pytest.raises(TypeError, match=r"hvp: primals and tangents must be tuples"):
        hvp(fnp.sum, np.ones(3), np.ones(3))


@pytest.mark.parametrize("jac", JACOBIANS, ids=JAC_IDS)
def test_argnums_out_of_range(jac):
    with pytest.raises(ValueError, match=r"argnums=2 is out of range: .* 1 positional argument"):
        jac(fnp.sin, argnums=2)(np.ones(3))


@pytest.mark.parametrize("jac", JACOBIANS, ids=JAC_IDS)
def test_has_aux_without_a_pair(jac):
    name = jac.__name__
    with pytest.raises(TypeError, match=rf"{name} with has_aux=True requires .* pair"):
        jac(fnp.sin, has_aux=True)(np.ones(3))


@pytest.mark.parametrize("chunk_size", [None, 3])
def test_jacfwd_of_a_matrix_product_slices_instead_of_multiplying_by_the_basis(chunk_size):
    A = np.arange(20.0).reshape(4, 5)
    jac = jacfwd(lambda x: A @ x, chunk_size=chunk_size)
    jaxpr = str(make_jaxpr(jac)(np.ones(5)))
    # Only the primal product A @ x remains: no identity constant, no product with it.
    assert jaxpr.count("dot_general") == 1 and "f64[5,5]" not in jaxpr
    np.testing.assert_array_equal(jac(np.ones(5)), A)
    np.testing.assert_array_equal(jacfwd(lambda x: x @ A.T, chunk_size=chunk_size)(np.ones(5)), A)


@pytest.mark.parametrize("jac", [jacfwd, jacrev])
def test_scaled_basis_times_a_matrix_is_a_scaled_slice(jac, monkeypatch):
    from fungrad.primitives import linalg

    A = np.arange(20.0).reshape(4, 5) / 10
    f = lambda x: fnp.tanh(A @ x) * 2.0 + fnp.sin(x[:4]) * x[:4]  # noqa: E731
    x = np.linspace(-1, 1, 5)
    # The basis times the (concrete) derivative of tanh stays diagonal, so no product
    # with the identity is ever computed: the only products are A @ x (and, for
    # jacrev, nothing else). The values are the analytic Jacobian.
    products = []
    impl = linalg.dot_general_p.impl

    def recording(a, b, **params):
        products.append((np.shape(a), np.shape(b)))
        return impl(a, b, **params)

    monkeypatch.setattr(linalg.dot_general_p, "impl", recording)
    result = jac(f)(x)
    assert products == [((4, 5), (5,))]
    t = np.tanh(A @ x)
    expected = 2.0 * (1 - t**2)[:, None] * A
    expected[:, :4] += np.diag(np.cos(x[:4]) * x[:4] + np.sin(x[:4]))
    np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-12)


def test_jacobians_are_built_on_public_functions_only():
    module = importlib.import_module("fungrad.jacobians")
    tree = ast.parse(Path(module.__file__).read_text())
    imported = [
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module.startswith("fungrad")
        for alias in node.names
    ]
    assert ("fungrad.api", "vjp_of_call") in imported
    assert [(m, name) for m, name in imported if name.startswith("_")] == []


def _scaled_dot(a, w, x, scale=1.0):
    return scale * fnp.sum(w * x) + a


def test_vjp_of_call_differentiates_the_arguments_in_argnums():
    w, x = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    out, vjp_fun = vjp_of_call("mine", _scaled_dot, (5.0, w, x), {"scale": 2.0}, (-1, 1))
    assert_allclose(out, 2.0 * 11.0 + 5.0)
    ct_x, ct_w = vjp_fun(1.0)  # in the order of argnums
    assert_allclose(ct_x, 2.0 * w)
    assert_allclose(ct_w, 2.0 * x)
    out, vjp_fun, aux = vjp_of_call(
        "mine", lambda w, x: (fnp.sum(w * x), {"n": 3}), (w, x), {}, (0,), has_aux=True
    )
    assert aux == {"n": 3}
    assert_allclose(vjp_fun(1.0)[0], x)


def test_vjp_of_call_names_the_transformation_and_the_parameter():
    with pytest.raises(
        TypeError,
        match=r"^mine requires floating-point inputs for the arguments it differentiates, but "
        r"argument 2 \('x'\) at path \['n'\] has dtype int64\.",
    ):
        vjp_of_call("mine", _scaled_dot, (5.0, 1.0, {"n": np.arange(2)}), {}, (1, 2))
    with pytest.raises(ValueError, match=r"^mine: argnums=4 is out of range"):
        vjp_of_call("mine", _scaled_dot, (5.0, 1.0, 2.0), {}, (4,))
    with pytest.raises(TypeError, match=r"^mine: the output at \[1\] is a str, not an array"):
        vjp_of_call("mine", lambda x: (x, "s"), (1.0,), {}, (0,))
