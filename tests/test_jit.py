"""Tests for fungrad.jit: jit against eager on a table of functions, composition with the
other transformations, the cache, inspection (make_jaxpr, lower) and the errors.

The central property: for any function ``f`` written with fungrad.numpy, ``jit(f)``
returns what ``f`` returns (same pytree, shapes, dtypes and values), traces once per
signature, and, because the generated code reuses the buffers of dead intermediates,
never lets one call's buffers leak into another: inputs are left untouched and a result
is not overwritten by a later call. The simplification passes and the code generator
have their own tests in test_jit_passes.py.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import math
import re
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import fungrad
import fungrad.numpy as fnp
from fungrad import (
    ClosedJaxpr,
    eval_jaxpr,
    grad,
    hessian,
    jacfwd,
    jacrev,
    jit,
    jvp,
    linear_transpose,
    make_jaxpr,
    nn,
    value_and_grad,
    vmap,
)
from fungrad.errors import ConcretizationError
from fungrad.jit import _compile_flattener, _NotPlain, _plain_signature
from fungrad.tree_util import (
    register_pytree_node,
    tree_flatten,
    tree_leaves,
    tree_map,
    tree_structure,
    tree_unflatten,
)

RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}
ATOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-6}


def assert_same(actual: Any, expected: Any, exact: bool = False) -> None:
    """Same pytree structure; each leaf the same shape, dtype and (nearly) the same values."""
    assert tree_structure(actual) == tree_structure(expected)
    for a, e in zip(tree_leaves(actual), tree_leaves(expected)):
        a, e = np.asarray(a), np.asarray(e)
        assert a.shape == e.shape, (a.shape, e.shape)
        assert a.dtype == e.dtype, (a.dtype, e.dtype)
        if exact or a.dtype.kind not in "fc":
            np.testing.assert_array_equal(a, e)
        else:
            assert_allclose(a, e, rtol=RTOL.get(a.dtype, 1e-12), atol=ATOL.get(a.dtype, 1e-12))


def copy_tree(tree: Any) -> Any:
    """A deep copy of the arrays in ``tree``; Python scalars stay Python scalars."""
    return tree_map(lambda x: x.copy() if isinstance(x, np.ndarray) else x, tree)


seeds = st.integers(0, 2**32 - 1)
sizes = st.integers(1, 4)
float_dtypes = st.sampled_from([np.float64, np.float32])


# ---------------------------------------------------------------------------------------
# The table: one row per kind of program; each row draws its arguments from a seed


@dataclasses.dataclass(frozen=True)
class Case:
    """A function and how to make its arguments from (rng, sizes, float dtype)."""

    name: str
    fn: Callable[..., Any]
    args: Callable[[np.random.Generator, tuple[int, int, int], Any], tuple]

    def __repr__(self) -> str:
        return self.name


def normal(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


def elementwise_chain(x):
    y = fnp.tanh(fnp.sin(x) * 2.0 + 1.0) ** 2 - fnp.exp(-x) / (1.0 + x * x)
    z = fnp.sqrt(fnp.abs(y) + 1.0) * fnp.cos(y) - 3.0 * y
    return z * z + fnp.log(1.0 + z * z) - fnp.maximum(z, 0.5) / 2.0


def broadcasting(x, row, col):
    return x * row + col - fnp.cos(row) / (2.0 + col * col), fnp.minimum(row, col) * 2.0


def reductions(x):
    return (
        fnp.sum(x, axis=0),
        fnp.mean(x, axis=(1, 2)),
        fnp.max(x, axis=-1, keepdims=True),
        fnp.min(x),
        fnp.sum(x * x),
        fnp.var(x, axis=1),
        x - fnp.mean(x, axis=0),
    )


def matmuls(a, b, v):
    h = fnp.tanh(a @ b)
    return h @ v, a.T @ a, fnp.dot(b.T, a.T) * 2.0, fnp.sum(fnp.outer(v, v) @ b.T)


def indexing(x, idx):
    return (
        x[1:, ::2],
        x[idx],
        x[:, 0] * 2.0,
        x[idx, -1] + x[0, 0],
        x[::-1] * x,
        fnp.take(x, idx, axis=0).sum(axis=0),
    )


_CONSTANT_INDEX = np.array([0, 0, -1])


def indexing_by_a_constant(x):
    return x[_CONSTANT_INDEX] * 3.0 + fnp.sin(x[_CONSTANT_INDEX, :])


def where(x, y):
    return (
        fnp.where(x > 0, x, 0.1 * x),
        fnp.where(x < y, fnp.exp(-x * x), 0.0),
        fnp.where(x > y, 1.0, y),
        nn.relu(x) * nn.sigmoid(y),
    )


def log_softmax(x):
    return nn.log_softmax(x, axis=-1), nn.softmax(x, axis=0), nn.logsumexp(x, axis=1)


def mlp_loss(params, x, labels):
    logits = nn.mlp(params, x, activation=fnp.tanh)
    return fnp.mean(nn.softmax_cross_entropy_with_integer_labels(logits, labels))


def shape_ops(x, y):
    # Views of intermediates (transpose, reshape, broadcast) used after the intermediate's
    # own last use, while equally shaped buffers are being recycled.
    t = fnp.sin(x)
    view = fnp.transpose(t)
    flat = fnp.reshape(t, (-1,))
    wide = fnp.broadcast_to(t, (2,) + t.shape)
    u = fnp.exp(-t * t)
    w = u * 2.0 + 1.0
    s = fnp.cos(w) * fnp.tanh(y)
    joined = fnp.concatenate([s, w], axis=0)
    stacked = fnp.stack([s, w])
    return view * 3.0 + 1.0, flat, wide[1] - s, joined, fnp.expand_dims(stacked.sum(0), 0)


def pytrees(tree, scale):
    a, (b, c) = tree["a"], tree["bc"]
    return {"sum": a + b * scale, "prod": [a * c, fnp.sin(c) * scale], "none": None}


def mlp_args(rng, dims, dtype):
    batch, hidden, classes = dims
    params = nn.init_mlp(rng, [3, hidden + 1, classes + 1], dtype=dtype)
    x = normal(rng, (batch, 3), dtype)
    labels = rng.integers(0, classes + 1, batch)
    return params, x, labels


CASES = [
    Case("elementwise_chain", elementwise_chain, lambda r, d, t: (normal(r, d[:2], t),)),
    Case(
        "broadcasting",
        broadcasting,
        lambda r, d, t: (normal(r, d[:2], t), normal(r, d[1:2], t), normal(r, (d[0], 1), t)),
    ),
    Case("reductions", reductions, lambda r, d, t: (normal(r, d, t),)),
    Case(
        "matmuls",
        matmuls,
        lambda r, d, t: (normal(r, d[:2], t), normal(r, d[1:], t), normal(r, d[2:], t)),
    ),
    Case(
        "indexing",
        indexing,
        lambda r, d, t: (normal(r, d[:2], t), r.integers(-d[0], d[0], d[2])),
    ),
    Case("indexing_by_a_constant", indexing_by_a_constant, lambda r, d, t: (normal(r, d, t),)),
    Case("where", where, lambda r, d, t: (normal(r, d[:2], t), normal(r, d[1:2], t))),
    Case("log_softmax", log_softmax, lambda r, d, t: (normal(r, d[:2], t),)),
    Case("mlp_loss", mlp_loss, mlp_args),
    Case(
        "shape_ops",
        shape_ops,
        lambda r, d, t: (normal(r, (d[0], d[0]), t), normal(r, (d[0], 1), t)),
    ),
    Case(
        "pytrees",
        pytrees,
        lambda r, d, t: (
            {"a": normal(r, d[:2], t), "bc": (normal(r, d[1:2], t), normal(r, d[:2], t))},
            float(r.standard_normal()),
        ),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=repr)
@given(dims=st.tuples(sizes, sizes, sizes), seed1=seeds, seed2=seeds, dtype=float_dtypes)
def test_jit_matches_eager_and_one_trace_serves_new_values(case, dims, seed1, seed2, dtype):
    args1 = case.args(np.random.default_rng(seed1), dims, dtype)
    args2 = case.args(np.random.default_rng(seed2), dims, dtype)
    pristine1, pristine2 = copy_tree(args1), copy_tree(args2)
    expected1, expected2 = case.fn(*pristine1), case.fn(*pristine2)
    f = jit(case.fn)

    out1 = f(*args1)
    assert_same(out1, expected1)
    kept1 = copy_tree(out1)
    out2 = f(*args2)
    assert_same(out2, expected2)
    assert (f.trace_count, f.cache_size()) == (1, 1)
    # Buffer reuse stays inside one call: the inputs are untouched, and the first
    # call's results are not overwritten by the second call.
    assert_same(args1, pristine1, exact=True)
    assert_same(args2, pristine2, exact=True)
    assert_same(out1, kept1, exact=True)
    assert_same(f(*args1), expected1)
    assert f.trace_count == 1


@given(dims=st.tuples(sizes, sizes, sizes), seed=seeds)
def test_jit_keeps_float32_programs_in_float32(dims, seed):
    rng = np.random.default_rng(seed)
    params, x, labels = mlp_args(rng, dims, np.float32)
    loss, grads = jit(value_and_grad(mlp_loss))(params, x, labels)
    assert loss.dtype == np.float32
    assert {g.dtype for g in tree_leaves(grads)} == {np.dtype(np.float32)}
    assert elementwise_chain(x).dtype == jit(elementwise_chain)(x).dtype == np.float32


@given(n=sizes, seed=seeds, length=st.integers(20, 60))
def test_long_elementwise_chain_on_arrays_reuses_buffers_without_corrupting_results(
    n, seed, length
):
    def chain(x, y):
        for i in range(length):
            x = fnp.sin(x) * 0.9 + y if i % 3 else fnp.tanh(x - y) * 2.0
        return x, fnp.cos(y)

    rng = np.random.default_rng(seed)
    f = jit(chain)
    x1, y1, x2, y2 = (rng.standard_normal((n, 3)) for _ in range(4))
    out1 = f(x1, y1)
    kept = copy_tree(out1)
    out2 = f(x2, y2)
    assert_same(out1, chain(x1, y1))
    assert_same(out2, chain(x2, y2))
    assert_same(out1, kept, exact=True)
    assert "out=" in f.lower(x1, y1).as_text()


def test_non_finite_python_float_constants_compile():
    x = np.array([1.0, -2.0, 0.5])
    fns = [
        lambda x: fnp.maximum(x, -np.inf),
        lambda x: fnp.where(x > 0, x, -np.inf),
        lambda x: fnp.where(x > 0, x, np.nan),
        lambda x: fnp.minimum(x * float("inf"), 1.0),
    ]
    for f in fns:
        assert_same(jit(f)(x), f(x))


def assert_same_bits(actual: Any, expected: Any) -> None:
    """Same pytree, shapes and dtypes (and Python scalars where eager code gives them), and
    bit for bit the same values: 0.0 is not -0.0, and nan is nan."""
    assert tree_structure(actual) == tree_structure(expected)
    for a, e in zip(tree_leaves(actual), tree_leaves(expected)):
        python = (bool, int, float, complex)
        assert type(a) in python if type(e) in python else type(a) not in python, (a, e)
        a, e = np.asarray(a), np.asarray(e)
        assert (a.shape, a.dtype) == (e.shape, e.dtype), (a.shape, a.dtype, e.shape, e.dtype)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(e))
        np.testing.assert_array_equal(np.copysign(1.0, a), np.copysign(1.0, e))
        assert (np.isnan(a) | (a == e)).all(), (a, e)


SIGNED_ZERO_PROGRAMS = [
    lambda x: (x * 0.0, x * -0.0),
    lambda x: (x * -0.0, x * 0.0),
    lambda x: (x * 0.0, x * 0.0 * -1.0, -(x * 0.0)),
    lambda x: (x / float("inf"), x / -float("inf")),
    lambda x: (x * float("nan"), x * np.nan, x * float("nan")),
    lambda x: (fnp.maximum(x, float("nan")), fnp.minimum(x, -0.0), fnp.maximum(x, 0.0)),
    lambda x: (x * 0.0 + x * -0.0, x * -0.0 + x * -0.0),
    lambda x: (x - 0.0, x + -0.0, -0.0 - x, 0.0 - x),
    lambda x: (x * 1, x * 1.0, x + 1, x + 1.0, x * 2, x * 2.0),
    lambda x: (fnp.where(x > 0.0, x, -0.0), fnp.where(x > 0.0, x, 0.0)),
    lambda x: (x * np.float32(-0.0), x * np.float64(0.0), x * np.float32(0.0)),
    lambda x: (x * np.array(-0.0), x * np.array(0.0), x * np.array(0.0, np.float32)),
    lambda x: (fnp.sum(x * 0.0 * fnp.ones((2, 1))), fnp.sum(x * -0.0 * fnp.ones((2, 1)))),
    # x + 0.0 and x - (-0.0) turn -0.0 into 0.0, so they are not identities to drop
    lambda x: (x + 0.0, 0.0 + x, x + 0, x - (-0.0), x - np.float64(-0.0)),
    lambda x: (fnp.sum(x, axis=()), fnp.sum(x * 1.0, axis=())),
]


@pytest.mark.parametrize("program", SIGNED_ZERO_PROGRAMS)
@pytest.mark.parametrize(
    "x",
    [-1.0, 0.0, -0.0, 2.5, float("nan"), np.array([-1.0, -0.0, 0.0, 3.0]), np.float32(-2.0)],
    ids=repr,
)
def test_jit_equals_eager_bit_for_bit_with_signed_zeros_and_nan(program, x):
    with np.errstate(invalid="ignore"):  # nan * 0 and the like, in both
        expected = program(x)
        f = jit(program)
        assert_same_bits(f(x), expected)
        assert_same_bits(f(x), expected)  # the second call: the fast path


def test_mutating_a_result_does_not_change_later_results():
    # Results that the simplifier folds to constants (the gradient of a sum, the
    # gradient of a linear function) must still be new arrays on every call.
    c = np.array([1.0, 2.0, 3.0])
    fns = [
        grad(lambda x: fnp.sum(x)),
        grad(lambda x: fnp.sum(x * c)),
        lambda x: (x * 2.0, c * 2.0),
        jit(lambda x: np.ones(3)),
    ]
    x = np.array([0.5, -1.0, 2.0])
    for f in fns:
        jf = jit(f)
        expected = f(x)
        first = jf(x)
        for leaf in tree_leaves(first):
            leaf *= 10.0  # the caller owns what jit returns
        assert_same(jf(x), expected)
    np.testing.assert_array_equal(c, [1.0, 2.0, 3.0])


# Mixed dtypes: Python scalars are weakly typed (they take the array's dtype), NumPy
# scalars and arrays are not; jit must promote exactly as eager NumPy code does.
def _scalar_or_array(kind: str, rng: np.random.Generator, n: int) -> Any:
    value = rng.uniform(0.5, 1.5, n)
    return {
        "python_float": float(value[0]),
        "python_int": 2,
        "float32": value.astype(np.float32),
        "float64": value,
        "int32": np.arange(1, n + 1, dtype=np.int32),
        "float32_scalar": np.float32(value[0]),
        "float64_0d": np.asarray(value[0]),
    }[kind]


kinds = st.sampled_from(
    ["python_float", "python_int", "float32", "float64", "int32", "float32_scalar", "float64_0d"]
)


def mixed(a, b, c):
    t = fnp.exp(a * b)  # a buffer jit may reuse for the next results
    u = fnp.sin(t) - c
    return t + c, u * b, a / b


@given(kind_a=kinds, kind_b=kinds, kind_c=kinds, n=sizes, seed=seeds)
def test_jit_promotes_python_scalars_numpy_scalars_and_arrays_as_eager_does(
    kind_a, kind_b, kind_c, n, seed
):
    rng = np.random.default_rng(seed)
    args = [_scalar_or_array(k, rng, n) for k in (kind_a, kind_b, kind_c)]
    assert_same(jit(mixed)(*args), mixed(*args))


def test_python_scalar_argument_is_weakly_typed_like_in_eager_code():
    # exp(x * s) is float32 when s is a Python float; adding a float64 array then
    # gives float64, which must not be written into the float32 buffer of exp(x * s).
    f = lambda x, s, y: fnp.exp(x * s) + y
    x, y = np.full(3, 0.1, np.float32), np.full(3, 1e-9)
    assert_same(jit(f)(x, 2.0, y), f(x, 2.0, y))
    assert jit(f).lower(x, 2.0, y).jaxpr.in_avals[1].weak_type


# ---------------------------------------------------------------------------------------
# Composition with the other transformations


def scalar_fn(x, y):
    return fnp.sum(fnp.sin(x) * y + fnp.tanh(x @ x) * x**3) / (1.0 + fnp.sum(y * y))


vectors = st.integers(1, 5).flatmap(lambda n: st.tuples(st.just(n), seeds))


@given(vectors)
def test_grad_of_jit_equals_jit_of_grad_equals_grad(n_seed):
    n, seed = n_seed
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal(n), rng.standard_normal(n)
    expected = grad(scalar_fn, argnums=(0, 1))(x, y)
    assert_same(grad(jit(scalar_fn), argnums=(0, 1))(x, y), expected)
    assert_same(jit(grad(scalar_fn, argnums=(0, 1)))(x, y), expected)
    assert_same(jit(grad(jit(scalar_fn), argnums=(0, 1)))(x, y), expected)


@given(vectors, st.integers(1, 3))
def test_vmap_of_jit_equals_vmap_equals_jit_of_vmap(n_seed, batch):
    n, seed = n_seed
    rng = np.random.default_rng(seed)
    xs, y = rng.standard_normal((batch, n)), rng.standard_normal(n)
    expected = vmap(scalar_fn, in_axes=(0, None))(xs, y)
    assert_same(vmap(jit(scalar_fn), in_axes=(0, None))(xs, y), expected)
    assert_same(jit(vmap(scalar_fn, in_axes=(0, None)))(xs, y), expected)
    loop = np.stack([scalar_fn(x, y) for x in xs])
    assert_allclose(expected, loop, rtol=1e-12)


def test_vmap_of_jit_of_per_example_gradients():
    rng = np.random.default_rng(0)
    xs, y = rng.standard_normal((4, 3)), rng.standard_normal(3)
    per_example = vmap(jit(grad(scalar_fn)), in_axes=(0, None))(xs, y)
    assert_same(per_example, np.stack([grad(scalar_fn)(x, y) for x in xs]))


def test_jit_of_jit_and_a_jitted_function_called_twice_inside_another():
    inner = jit(lambda x: fnp.sin(x) * 2.0)
    outer = jit(lambda x: inner(x) + inner(x * x) + jit(inner)(x))
    x = np.linspace(-1.0, 1.0, 5)
    expected = np.sin(x) * 2.0 + np.sin(x * x) * 2.0 + np.sin(x) * 2.0
    assert_same(jit(jit(inner))(x), np.sin(x) * 2.0)
    assert_same(outer(x), expected)
    assert_same(outer(x + 1.0), expected_fn(x + 1.0))
    assert outer.trace_count == 1
    assert_same(grad(lambda x: fnp.sum(outer(x)))(x), grad(lambda x: fnp.sum(expected_fn(x)))(x))


def expected_fn(x):
    return fnp.sin(x) * 2.0 + fnp.sin(x * x) * 2.0 + fnp.sin(x) * 2.0


def test_jit_of_a_transformed_jitted_function_computes_the_transformed_function():
    f = lambda x: fnp.sum(fnp.sin(x) * x)
    x = np.array([0.5, -1.0, 2.0])
    assert_same(jit(grad(jit(f)))(x), grad(f)(x))
    assert_same(jit(value_and_grad(jit(f)))(x), value_and_grad(f)(x))
    assert_same(jit(vmap(jit(f)))(x[None]), vmap(f)(x[None]))
    assert_same(jit(hessian(jit(f)))(x), hessian(f)(x))


def test_jit_of_a_jitted_function_keeps_its_own_cache():
    inner = jit(lambda x: x * 2.0)
    outer = jit(inner)
    outer(np.ones(2))
    assert (outer.trace_count, outer.cache_size()) == (1, 1)
    assert inner.trace_count == 1  # traced once, inside the outer trace
    inner(np.ones(3))
    assert (outer.trace_count, outer.cache_size()) == (1, 1)


def test_jvp_of_jit_equals_jvp():
    x, t = np.linspace(-1.0, 1.0, 4), np.linspace(0.5, 2.0, 4)
    y = np.cos(x)
    f = lambda x: (scalar_fn(x, y), fnp.exp(x) * x)
    assert_same(jvp(jit(f), (x,), (t,)), jvp(f, (x,), (t,)))
    assert_same(jit(lambda x, t: jvp(f, (x,), (t,)))(x, t), jvp(f, (x,), (t,)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_jit_of_value_and_grad_of_an_mlp_loss_matches_eager_across_steps(dtype):
    rng = np.random.default_rng(1)
    params, x, labels = mlp_args(rng, (8, 6, 3), dtype)
    step = jit(value_and_grad(mlp_loss))
    for _ in range(3):
        expected = value_and_grad(mlp_loss)(params, x, labels)
        actual = step(params, x, labels)
        assert_same(actual, expected)
        params = tree_map(lambda p, g: p - dtype(0.1) * g, params, actual[1])
    assert step.trace_count == 1


def test_jacobians_and_hessian_under_jit():
    x = np.array([0.3, -0.7, 1.1])
    f = lambda x: fnp.sin(x) * fnp.sum(x**2) + fnp.exp(x[::-1])
    s = lambda x: fnp.sum(fnp.tanh(x) * x) * fnp.sum(fnp.cos(x) ** 2)
    for jac in (jacfwd, jacrev):
        assert_same(jac(jit(f))(x), jac(f)(x))
        assert_same(jit(jac(f))(x), jac(f)(x))
    assert_same(hessian(jit(s))(x), hessian(s)(x))
    assert_same(jit(hessian(s))(x), hessian(s)(x))
    assert_same(jit(hessian(jit(s)))(x), hessian(s)(x))


def test_jit_closing_over_a_value_being_differentiated():
    assert grad(lambda x: jit(lambda y: x * y)(2.0))(3.0) == 2.0
    assert grad(lambda x: jit(lambda y: x * y)(2.0))(3.0) == 2.0

    def g(x):
        return jit(lambda y: fnp.sin(x) * y)(2.0)

    for x in (0.3, 1.2):
        assert_allclose(grad(g)(x), 2.0 * np.cos(x), rtol=1e-12)


def test_persistent_jitted_function_closing_over_a_tracer_is_not_served_from_the_cache():
    cell = {}
    scaled = jit(lambda y: cell["x"] * y)

    def g(x):
        cell["x"] = x
        return scaled(2.0)

    assert grad(g)(3.0) == 2.0
    assert_allclose(jvp(g, (5.0,), (1.0,))[1], 2.0)
    cell["x"] = 4.0
    assert scaled(2.0) == 8.0


def test_linear_transpose_of_jit_equals_linear_transpose():
    x = np.arange(6.0).reshape(2, 3)
    w = np.linspace(-1.0, 1.0, 3)
    linear = lambda x: (2.0 * x[:, ::-1] * w, fnp.sum(x, axis=0) - x[0])
    ct = (np.ones((2, 3)), np.array([1.0, -2.0, 3.0]))
    assert_same(linear_transpose(jit(linear), x)(ct), linear_transpose(linear, x)(ct))


def test_integer_arguments_of_a_jitted_function_under_grad_and_vmap():
    f = lambda x, idx: fnp.sum(x[idx] ** 2) + fnp.sum(fnp.where(x > 0, x, 0.0))
    x, idx = np.array([1.0, -2.0, 3.0]), np.array([0, 2, 2])
    assert_same(grad(jit(f))(x, idx), grad(f)(x, idx))
    assert_same(jit(grad(f))(x, idx), grad(f)(x, idx))
    xs, idxs = np.stack([x, -x]), np.stack([idx, idx[::-1]])
    assert_same(vmap(jit(f), in_axes=(0, None))(xs, idx), vmap(f, in_axes=(0, None))(xs, idx))
    loop = np.stack([f(x, i) for i in idxs])  # (x[idx] needs x traced to batch idx)
    assert_same(vmap(jit(f), in_axes=(None, 0))(x, idxs), loop)


def test_vjp_linearize_and_second_order_through_jit():
    f = lambda x: (fnp.sin(x) * x, fnp.exp(-x) * 2.0)
    x, t = np.array([0.3, -1.2, 2.0]), np.array([1.0, 0.5, -2.0])
    ct = (np.ones(3), np.array([1.0, 2.0, 3.0]))
    assert_same(fungrad.vjp(jit(f), x)[1](ct), fungrad.vjp(f, x)[1](ct))
    assert_same(fungrad.linearize(jit(f), x)[1](t), fungrad.linearize(f, x)[1](t))
    sin = jit(jit(lambda x: fnp.sin(x)))
    assert_allclose(grad(grad(sin))(0.3), -np.sin(0.3), rtol=1e-12)
    assert_allclose(jit(grad(jit(grad(sin))))(0.3), -np.sin(0.3), rtol=1e-12)


def test_jit_with_keyword_and_pytree_arguments_composes_with_grad():
    f = lambda p, x, *, scale: fnp.sum((x @ p["w"] + p["b"]) ** 2) * scale
    p = {"w": np.ones((3, 2)) * 0.5, "b": np.array([0.1, -0.2])}
    x = np.arange(6.0).reshape(2, 3)
    assert_same(grad(jit(f))(p, x, scale=2.0), grad(f)(p, x, scale=2.0))
    assert_same(jit(f)(p, x, scale=2.0), f(p, x, scale=2.0))


# ---------------------------------------------------------------------------------------
# The cache


def counted(f: Callable) -> tuple[Callable, list]:
    """``f`` and a list that records each Python execution (that is, each trace)."""
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(1)
        return f(*args, **kwargs)

    return wrapper, calls


def test_new_values_do_not_retrace_but_new_shapes_dtypes_and_structures_do():
    fn, calls = counted(lambda x: fnp.sum(x * 2.0))
    f = jit(fn)
    f(np.ones(3))
    f(np.arange(3.0))
    assert (f.trace_count, len(calls)) == (1, 1)
    f(np.ones(4))
    assert f.trace_count == 2
    f(np.ones(4, np.float32))
    assert f.trace_count == 3
    f(np.ones((4, 1)))
    assert f.trace_count == 4
    f(np.zeros(3))
    f(np.full(4, 7.0, np.float32))
    assert (f.trace_count, len(calls), f.cache_size()) == (4, 4, 4)


def test_new_pytree_structures_retrace():
    f = jit(lambda t: sum(fnp.sum(v) for v in tree_leaves(t)))
    f({"a": np.ones(2)})
    f({"a": np.zeros(2)})
    assert f.trace_count == 1
    f({"b": np.ones(2)})
    f({"a": np.ones(2), "b": np.ones(2)})
    f((np.ones(2),))
    f([np.ones(2)])
    assert f.trace_count == 5
    f([np.full(2, 3.0)])
    assert f.trace_count == 5


def test_calls_under_a_transformation_reuse_the_trace_of_an_eager_call():
    f = jit(lambda x: fnp.sum(fnp.sin(x)))
    x = np.ones(3)
    f(x)
    grad(f)(x)
    vmap(f)(np.ones((2, 3)))  # a new signature (3,) under vmap: still the same
    assert f.trace_count == 1


def test_python_scalars_and_arrays_have_separate_signatures():
    f = jit(lambda x: x * 2.0)
    assert_same(f(1.5), np.asarray(3.0))
    assert_same(f(2.5), np.asarray(5.0))
    assert f.trace_count == 1
    assert_same(f(np.array(2.5)), np.asarray(5.0))
    assert f.trace_count == 2
    assert_same(f(3), np.asarray(6.0))
    assert f.trace_count == 3
    assert_same(f(np.float32(2.0)), np.float32(2.0) * 2.0)
    assert f.trace_count == 4
    f(7)
    f(np.array(1.0))
    assert f.trace_count == 4


def test_static_argnums_values_are_part_of_the_signature():
    def power(x, n):
        out = x
        for _ in range(n - 1):  # Python control flow on the static argument
            out = out * x
        return out

    f = jit(power, static_argnums=1)
    x = np.array([1.5, -2.0])
    assert_same(f(x, 3), x**3)
    assert_same(f(x + 1.0, 3), (x + 1.0) ** 3)
    assert f.trace_count == 1
    assert_same(f(x, 2), x**2)
    assert f.trace_count == 2
    assert_same(f(x, 3), x**3)
    assert f.trace_count == 2
    assert_same(jit(power, static_argnums=-1)(x, 4), x**4)
    assert_same(jit(power, static_argnums=(1,))(x, 1), x)


def test_static_argnames_values_are_part_of_the_signature():
    def f(x, *, mode="sin", axis=0):
        return fnp.sum(fnp.sin(x) if mode == "sin" else fnp.cos(x), axis=axis)

    g = jit(f, static_argnames=("mode", "axis"))
    x = np.arange(6.0).reshape(2, 3)
    assert_same(g(x, mode="sin"), f(x, mode="sin"))
    assert_same(g(x + 1.0, mode="sin"), f(x + 1.0, mode="sin"))
    assert g.trace_count == 1
    assert_same(g(x, mode="cos", axis=1), f(x, mode="cos", axis=1))
    assert g.trace_count == 2
    assert_same(jit(f, static_argnames="mode")(x, mode="cos"), f(x, mode="cos"))


def bits(x: Any) -> tuple:
    """A value's type and exact bits, so that 0.0 and -0.0 (and nan and nan) compare as
    they really are."""
    a = np.asarray(x)
    return type(x), a.dtype, a.shape, a.tobytes()


@pytest.mark.parametrize(
    "first, second",
    [
        (2, 2.0),
        (2.0, 2),
        (True, 1),
        (1, True),
        (0.0, -0.0),
        (-0.0, 0.0),
        (np.float32(2.0), np.float64(2.0)),
        ((2,), (2.0,)),
        ((0.0, "a"), (-0.0, "a")),
        (frozenset([1]), frozenset([1.0])),
        ((1, (True,)), (1, (1,))),
    ],
    ids=repr,
)
def test_equal_static_values_of_different_types_or_signs_get_separate_traces(first, second):
    def describe(x, n):
        """A number that depends on the type and sign of every number in ``n``."""
        codes = {bool: 1, int: 2, float: 3, np.float32: 4, np.float64: 5}
        total = 0.0
        for v in n if isinstance(n, (tuple, frozenset)) else (n,):
            if isinstance(v, tuple):
                total = total * 100 + describe(0.0, v)
            elif not isinstance(v, str):
                total = total * 10 + codes[type(v)] * math.copysign(1.0, v)
        return x + total

    assert first == second and hash(first) == hash(second)  # one key in a plain dict
    assert describe(1.0, first) != describe(1.0, second)
    f = jit(describe, static_argnums=1)
    assert bits(f(1.0, first)) == bits(describe(1.0, first))
    assert bits(f(1.0, second)) == bits(describe(1.0, second))
    assert f.trace_count == 2
    assert bits(f(1.0, first)) == bits(describe(1.0, first))
    assert f.trace_count == 2
    g = jit(describe, static_argnames="n")
    assert bits(g(1.0, n=first)) == bits(describe(1.0, first))
    assert bits(g(1.0, n=second)) == bits(describe(1.0, second))
    assert g.trace_count == 2


def test_static_int_and_float_give_the_results_eager_gives():
    f = jit(lambda x, n: x * n if isinstance(n, float) else x + n, static_argnums=1)
    assert bits(f(1.0, 2)) == bits(3.0)
    assert bits(f(1.0, 2.0)) == bits(2.0)
    assert f.trace_count == 2


@pytest.mark.parametrize("nan", [float("nan"), np.float64("nan"), (float("nan"), 1)], ids=repr)
def test_a_static_nan_hits_the_cache_on_the_next_call(nan):
    f = jit(lambda x, n: x + 1.0, static_argnums=1)
    for _ in range(3):
        copy = tuple(float(str(v)) for v in nan) if isinstance(nan, tuple) else type(nan)("nan")
        assert bits(f(1.0, copy)) == bits(2.0)
    assert (f.trace_count, f.cache_size()) == (1, 1)


def test_a_static_nan_and_a_static_number_get_separate_traces():
    f = jit(lambda x, n: x * 0.0 + (1.0 if n == n else 2.0), static_argnums=1)
    assert f(1.0, 3.0) == 1.0
    assert f(1.0, float("nan")) == 2.0
    assert f(1.0, float("-nan")) == 2.0  # another bit pattern: its own trace
    assert f(1.0, 3.0) == 1.0
    assert f.trace_count == 3


def test_omitted_static_argument_with_a_default_uses_the_default():
    def h(x, n=3):
        return x * n

    by_name = jit(h, static_argnames="n")
    assert by_name(2.0) == 6.0
    assert by_name(2.0, n=4) == 8.0
    by_position = jit(h, static_argnums=1)
    assert by_position(2.0) == 6.0
    assert by_position(2.0, 5) == 10.0
    assert by_position(2.0, n=5) == 10.0
    assert by_position(np.ones(2)).tolist() == [3.0, 3.0]
    # The default is the static value in the key.
    traced = []

    def counted_h(x, n=3):
        traced.append(n)
        return x * n

    f = jit(counted_h, static_argnums=1)
    assert (f(2.0), f(4.0), f(2.0, 3), f(2.0, 2)) == (6.0, 12.0, 6.0, 4.0)
    assert traced == [3, 2]


def test_omitted_static_arguments_with_defaults_of_every_kind_of_parameter():
    def f(x, a=1, /, b=2.0, *, c=(3,)):
        return x * a + b + c[0]

    for options in [{"static_argnums": (1, 2)}, {"static_argnames": ("b", "c")}]:
        g = jit(f, **options)
        assert bits(g(1.0)) == bits(f(1.0))
        assert bits(g(1.0, 10)) == bits(f(1.0, 10))
        assert bits(g(1.0, 10, b=-0.0)) == bits(f(1.0, 10, b=-0.0))
        assert bits(g(1.0, c=(4.0,))) == bits(f(1.0, c=(4.0,)))
    h = jit(f, static_argnames="c")
    assert bits(h(1.0)) == bits(f(1.0))
    assert bits(h(1.0, c=(3.0,))) == bits(f(1.0, c=(3.0,)))
    assert h.trace_count == 2


def test_omitted_static_argument_without_a_default_is_named():
    f = jit(lambda x, n: x * n, static_argnums=1)
    with pytest.raises(TypeError, match=r"static argument 1 \('n'\).*has no default"):
        f(1.0)


def test_grad_through_jit_with_a_static_argument():
    f = lambda x, n: fnp.sum(x**n) if n > 1 else fnp.sum(x)
    g = jit(f, static_argnums=1)
    x = np.array([0.5, 2.0])
    assert_same(grad(g)(x, 3), 3.0 * x**2)
    assert_same(grad(g)(x, 1), np.ones(2))
    assert_same(vmap(lambda x: g(x, 2))(np.ones((2, 2))), np.full(2, 2.0))


@pytest.mark.parametrize("static", [[1, 2], {"a": 1}, np.ones(2)])
def test_unhashable_static_argument_raises_a_type_error_naming_it(static):
    f = jit(lambda x, n: x, static_argnums=1)
    with pytest.raises(TypeError, match=r"static argument 1 .*must be hashable"):
        f(1.0, static)
    g = jit(lambda x, n: x, static_argnames="n")
    with pytest.raises(TypeError, match=r"static argument 'n' .*must be hashable"):
        g(1.0, n=static)


@given(sizes_seen=st.lists(st.integers(1, 6), min_size=1, max_size=20), bound=st.integers(1, 4))
def test_cache_size_never_exceeds_its_bound(sizes_seen, bound):
    f = jit(lambda x: x + 1.0, cache_size=bound)
    for n in sizes_seen:
        assert_same(f(np.zeros(n)), np.ones(n))
        assert f.cache_size() <= bound
    assert f.cache_size() == min(bound, len(set(sizes_seen)))


def test_cache_evicts_the_least_recently_used_signature():
    f = jit(lambda x: x + 1.0, cache_size=2)
    f(np.zeros(1))
    f(np.zeros(2))
    f(np.zeros(1))  # 1 is now the most recently used
    f(np.zeros(3))  # evicts 2
    assert (f.trace_count, f.cache_size()) == (3, 2)
    f(np.zeros(1))
    assert f.trace_count == 3
    f(np.zeros(2))
    assert f.trace_count == 4


def test_clear_cache_empties_the_cache_and_forces_a_retrace():
    f = jit(lambda x: x * 3.0)
    f(np.ones(2))
    f(np.ones(3))
    assert f.cache_size() == 2
    f.clear_cache()
    assert f.cache_size() == 0
    assert_same(f(np.ones(2)), np.full(2, 3.0))
    assert (f.trace_count, f.cache_size()) == (3, 1)


def test_jit_as_a_decorator_with_options_and_on_methods():
    @jit(static_argnums=1)
    def scale(x, k):
        return x * k

    class Model:
        def __init__(self, w):
            self.w = w

        @jit(static_argnums=0)
        def apply(self, x):
            return x @ self.w

    assert_same(scale(np.ones(2), 3), np.full(2, 3.0))
    w = np.arange(6.0).reshape(3, 2)
    assert_same(Model(w).apply(np.ones(3)), np.ones(3) @ w)
    assert scale.__name__ == "scale"


# ---------------------------------------------------------------------------------------
# Inspection: make_jaxpr, lower, as_text, compile


def test_make_jaxpr_of_jit_shows_the_call_with_its_program():
    f = jit(lambda x: fnp.sin(x) * 2.0)
    closed = make_jaxpr(lambda x: f(x) + 1.0)(np.ones(3))
    text = str(closed)
    assert [e.primitive.name for e in closed.eqns] == ["jit", "add"]
    assert "jit[call_jaxpr={ lambda ; a:f64[3]. let" in text
    assert "sin a" in text and "mul b 2.0" in text
    assert_same(
        eval_jaxpr(closed.jaxpr, closed.consts, np.arange(3.0))[0],
        np.sin(np.arange(3.0)) * 2.0 + 1.0,
    )


def test_lower_gives_the_simplified_jaxpr_and_the_generated_source():
    inner = jit(lambda x: fnp.cos(x))
    python = lambda x: fnp.sin(x) * 1.0 - 0.0 + inner(x) + fnp.sin(x)
    f = jit(python)
    x = np.linspace(0.0, 1.0, 4)
    lowered = f.lower(x)
    assert isinstance(lowered.jaxpr, ClosedJaxpr)
    names = [e.primitive.name for e in lowered.jaxpr.eqns]
    assert sorted(names) == ["add", "add", "cos", "sin"]  # inlined, identities and CSE done
    assert_same(eval_jaxpr(lowered.jaxpr.jaxpr, lowered.jaxpr.consts, x)[0], python(x))
    source = lowered.as_text()
    compile(source, "<test>", "exec")
    assert source.startswith("def ") and "return [" in source
    fn = lowered.compile()
    # One NumPy call per equation: the names the source calls are NumPy's functions.
    called = re.findall(r"= (\w+)\(", source)
    assert len(called) == 4
    assert {fn.__globals__[c] for c in called} == {np.sin, np.cos, np.add}
    assert_same(fn(x), [np.sin(x) + np.cos(x) + np.sin(x)])
    assert f.trace_count == 1


def test_lower_uses_the_cache_and_follows_the_signature():
    f = jit(lambda x, n: x * n, static_argnums=1)
    text3 = f.lower(np.ones(2), 3).as_text()
    assert "3" in text3
    f(np.ones(2), 3)
    assert f.trace_count == 1
    assert f.lower(np.ones((2, 2), np.float32), 3).jaxpr.in_avals[0].shape == (2, 2)
    assert f.trace_count == 2


# ---------------------------------------------------------------------------------------
# Errors


def test_control_flow_on_a_traced_argument_names_the_argument_and_suggests_static_argnums():
    def f(x, y):
        if x > 0:
            return y
        return -y

    with pytest.raises(ConcretizationError, match=r"argument 0 \('x'\)") as info:
        jit(f)(1.0, 2.0)
    assert isinstance(info.value, TypeError)
    assert "static_argnums" in str(info.value)


def test_control_flow_on_a_traced_argument_itself_names_it():
    def f(x, y):
        if y:
            return x
        return -x

    with pytest.raises(TypeError, match=r"argument 1 \('y'\).*static_argnums"):
        jit(f)(1.0, 2.0)
    assert_same(jit(f, static_argnums=1)(1.0, 2.0), np.asarray(1.0))


def test_jit_of_a_non_callable_raises_a_type_error():
    with pytest.raises(TypeError, match="jit expects a callable, got a int"):
        jit(3)


@pytest.mark.parametrize("argnums", [2, -3, (0, 5)])
def test_static_argnums_out_of_range_raises_a_value_error(argnums):
    f = jit(lambda x, y: x + y, static_argnums=argnums)
    with pytest.raises(ValueError, match=r"static_argnums=-?\d+ is out of range.*2 positional"):
        f(1.0, 2.0)


def test_non_array_argument_is_named():
    f = jit(lambda x, s: x)
    with pytest.raises(TypeError, match=r"argument 1 \('s'\) is a str, not an array"):
        f(1.0, "hello")
    with pytest.raises(TypeError, match=r"argument 0 \('x'\) at path \['b'\] is a str"):
        f({"a": 1.0, "b": "hello"}, 2.0)


def test_numpy_scalar_and_zero_d_array_share_a_signature():
    f = jit(lambda x: x + 1)
    f(np.float64(1.0))
    f(np.array(2.0))
    assert f.trace_count == 1


def test_leaves_are_named_past_static_arguments_and_by_keyword():
    f = jit(lambda n, x, y=None: x, static_argnums=0)
    with pytest.raises(TypeError, match=re.escape("jit: argument 1 ('x') at path ['a'] is a str")):
        f(2, {"a": "s"})
    with pytest.raises(
        TypeError, match=re.escape("jit: keyword argument 'y' at path [0] is a str")
    ):
        f(2, 1.0, y=["s"])
    g = jit(lambda n, x: x if x > 0 else -x, static_argnums=0)
    with pytest.raises(ConcretizationError, match=re.escape("depends on argument 1 ('x')")):
        g(2, 1.0)


# ---------------------------------------------------------------------------------------
# The cache key. A call with positional arrays, Python scalars and builtin containers is
# keyed twice: by the fast path (_plain_signature, a flat key built while collecting the
# leaves) and, on a miss, by the general path (treedef, static values, each leaf's
# signature). Both must agree with what a trace depends on, or the fast path would run
# another signature's code (or retrace what it need not).

_Pair = collections.namedtuple("_Pair", "first second")
_Other = collections.namedtuple("_Other", "first second")  # _Pair's fields, another class

# Leaves in groups of likely confusions: Python float, int and bool are weakly typed and
# keyed by type alone (0.0, -0.0 and nan share a trace); NumPy scalars and 0-d arrays are
# strongly typed and share one; float32 against float64 against int and bool; shapes (3,)
# against (3, 1).
_KEY_LEAF_GROUPS = [
    [0.0, -0.0, math.nan, 0, 1, True, False],
    [2.5, 1j, np.float64(1.0), np.zeros(()), np.array(np.nan), np.complex128(1j)],
    [np.float64(-0.0), np.float32(1.0), np.zeros((), np.float32), np.int64(1), np.bool_(True)],
    [np.zeros(3), np.full(3, -0.0), np.zeros(3, np.float32), np.zeros((3, 1)), np.arange(3)],
    [np.ones(3, bool), np.array(1), np.array(1.0), 1.0, 7, False],
]
_KEY_LEAVES = list({id(x): x for group in _KEY_LEAF_GROUPS for x in group}.values())
_x = np.zeros(2)
# Trees easy to confuse with one another (one leaf each where they have one).
_KEY_STRUCTURES = [
    _x,
    None,
    [_x],
    (_x,),
    [[_x]],
    [(_x,)],
    ((_x,),),
    [_x, None],
    (None, _x),
    [],
    (),
    {},
    [None],
    (None,),
    {"a": _x},
    {"b": _x},
    {"a": None},
    {"a": _x, "b": None},
    {1: _x},
    {2.5: _x},
    {"a": [_x]},
    {"a": (_x,)},
    collections.OrderedDict(a=_x),
    _Pair(_x, None),
    _Pair(None, _x),
    _Other(_x, None),
    (_x, None),
]
_key_trees = st.recursive(
    st.sampled_from(_KEY_LEAVES) | st.none(),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.sampled_from(["a", "b", "c"]), children, max_size=3),
        st.dictionaries(st.sampled_from([0, 1, True, 0.0, -0.0, 2.5]), children, max_size=2),
        st.tuples(children, children).map(lambda pair: _Pair(*pair)),
        st.dictionaries(st.sampled_from(["a", "b"]), children, max_size=2).map(
            collections.OrderedDict
        ),
    ),
    max_leaves=5,
)


def _confusable_with(x: Any) -> list[Any]:
    return [y for group in _KEY_LEAF_GROUPS if any(x is z for z in group) for y in group]


def _trace_signature(args: tuple) -> Any:
    """What a trace depends on: the pytree structure, and for each leaf its type if it is
    a Python scalar, else its shape and dtype."""
    leaves, treedef = tree_flatten(args)
    python_scalars = (bool, int, float, complex)
    return treedef, [
        type(x) if type(x) in python_scalars else (np.shape(x), np.asarray(x).dtype)
        for x in leaves
    ]


def _plain(args: tuple) -> Any:
    """_plain_signature's key and leaves (by identity) for ``args``, or None where it
    declines them."""
    leaves: list[Any] = []
    parts: list[Any] = []
    try:
        _plain_signature(args, leaves, parts)
    except (_NotPlain, TypeError):
        return None
    return tuple(parts), [id(x) for x in leaves]


def _fast_key(args: tuple) -> Any:
    """The fast path's key for a call with positional ``args`` (None where it declines)."""
    plain = _plain(args)
    if plain is None:
        return None
    assert plain[1] == [id(x) for x in tree_leaves(args)]  # tree_flatten's order
    return plain[0]


def _general_key(fun: Callable, args: tuple, kwargs: dict, **options: Any) -> Any:
    """The key the general path files a call under (the one entry of a fresh cache)."""
    f = jit(fun, **options)
    f._entry(args, kwargs)
    (key,) = f._cache
    return key


def _assert_keys_agree_with_signatures(calls: list[tuple]) -> None:
    """For every two calls: same fast-path key, same general key and same trace signature
    go together (the fast path declining a call makes no claim)."""
    fun = lambda *args: 0.0  # noqa: E731
    keyed = [(_trace_signature(a), _fast_key(a), _general_key(fun, a, {})) for a in calls]
    for (a, (sig_a, fast_a, general_a)), (b, (sig_b, fast_b, general_b)) in itertools.product(
        zip(calls, keyed), repeat=2
    ):
        same = sig_a == sig_b
        assert (general_a == general_b) == same, (a, b)
        if fast_a is not None and fast_b is not None:
            assert (fast_a == fast_b) == same, (a, b)


def _flattened(flattener: Any, args: tuple) -> Any:
    got = flattener.fn(args)
    return None if got is None else (got[0], [id(x) for x in got[1]])


@settings(max_examples=max(200, settings.default.max_examples))
@given(st.data())
def test_a_structure_s_flattener_reads_what_plain_signature_reads_or_declines(data):
    # The fast path reads a repeated structure with a flattener generated for it: on any
    # arguments it must give _plain_signature's key and leaves exactly, or None.
    first = data.draw(_key_trees, label="first")
    assume(_plain((first,)) is not None)
    flattener = _compile_flattener((first,))
    assert _flattened(flattener, (first,)) == _plain((first,))
    leaves, treedef = tree_flatten(first)
    if leaves and data.draw(st.booleans(), label="same structure"):
        second = tree_unflatten(
            treedef, [data.draw(st.sampled_from(_confusable_with(x))) for x in leaves]
        )
    else:
        second = data.draw(_key_trees, label="second")
    got = _flattened(flattener, (second,))
    assert got is None or got == _plain((second,)), (first, second)


def test_flatteners_read_arrays_and_numpy_scalars_alike_and_other_structures_not():
    state = _Pair(np.zeros((), np.int32), [{"w": np.ones(2), "b": 1.0}])
    flattener = _compile_flattener((state,))
    as_scalar = _Pair(np.int32(4), [{"w": np.ones(2), "b": 2.0}])
    assert _flattened(flattener, (as_scalar,)) == _plain((as_scalar,))
    for other in (
        _Other(np.int32(4), [{"w": np.ones(2), "b": 2.0}]),  # another class
        _Pair(np.int32(4), [{"w": np.ones(2), "c": 2.0}]),  # another key
        _Pair(np.int32(4), [{"w": np.ones(2), "b": 2}]),  # an int where a float was
        _Pair(np.int32(4), [{"w": np.ones(2), "b": 2.0}, None]),  # a longer list
        _Pair(np.int32(4), ({"w": np.ones(2), "b": 2.0},)),  # a tuple for a list
    ):
        assert _flattened(flattener, (other,)) is None, other


def test_registering_a_namedtuple_class_retires_the_flatteners_that_read_it():
    Point = collections.namedtuple("Point", "x y")
    f = jit(lambda p: p[0] * 2.0 + p[1])
    for _ in range(3):
        assert float(f(Point(np.float64(1.0), np.float64(3.0)))) == 5.0
    assert f._flat is not None and f._flat.current()
    register_pytree_node(Point, lambda p: ((p.y, p.x), None), lambda _, c: Point(c[1], c[0]))
    assert not f._flat.current()
    assert float(f(Point(np.float64(1.0), np.float64(3.0)))) == 5.0


def test_fast_path_and_general_path_keys_agree_on_every_two_leaves():
    _assert_keys_agree_with_signatures([(x,) for x in _KEY_LEAVES])
    _assert_keys_agree_with_signatures([([x], {"a": x}) for x in _KEY_LEAVES])


def test_namedtuples_take_the_fast_path_and_outputs_are_built_by_code_made_once(monkeypatch):
    # An optimiser's state is a tree of namedtuples: a training step passes one every
    # call, and the fast path used to decline it, sending each call through the general
    # path, which also generated the output builder anew each time.
    jit_module = sys.modules["fungrad.jit"]  # the package; fungrad.jit is the function
    made = []
    original = jit_module.compile_unflatten
    monkeypatch.setattr(
        jit_module, "compile_unflatten", lambda tree: made.append(tree) or original(tree)
    )
    f = jit(lambda p, state: (p * 2.0, _Other(state.first + 1.0, state.second)))
    for k in range(3):
        out = f(np.ones(2), _Pair(np.full(2, float(k)), None))
        assert type(out[1]) is _Other and out[1].first.tolist() == [k + 1.0, k + 1.0]
    assert len(f._fast) == 1 and len(made) == 1 and f.trace_count == 1
    assert type(f(np.ones(2), _Other(np.zeros(2), None))[1]) is _Other
    assert f.trace_count == 2  # another class of the same fields is another signature


def test_numpy_scalars_take_the_fast_path_with_0d_arrays():
    # A jitted step's 0-d results (a step count) are NumPy scalars; fed back in, they used
    # to send every later call through the general path.
    step = jit(lambda count, x: (count + 1, x * 2.0))
    count, x = np.zeros((), np.int32), np.ones(2)
    for _ in range(3):
        count, x = step(count, x)
    assert isinstance(count, np.int32 | np.ndarray) and int(count) == 3
    assert step.trace_count == 1 and len(step._fast) == 1
    step(np.float64(1.0), x)  # another dtype: another signature, on either path
    assert step.trace_count == 2


def test_fast_path_and_general_path_keys_agree_on_every_two_structures():
    _assert_keys_agree_with_signatures([(tree,) for tree in _KEY_STRUCTURES])
    _assert_keys_agree_with_signatures([(tree, 1.0) for tree in _KEY_STRUCTURES])


@settings(max_examples=max(200, settings.default.max_examples))
@given(st.data())
def test_fast_path_and_general_path_keys_agree_on_which_calls_share_a_trace(data):
    first = data.draw(_key_trees, label="first")
    leaves, treedef = tree_flatten(first)
    change = data.draw(st.sampled_from(["one leaf", "every leaf", "everything"]), label="change")
    if change == "everything" or not leaves:
        second = data.draw(_key_trees, label="second")
    else:
        changed = [
            data.draw(st.sampled_from(_confusable_with(x))) if change == "every leaf" else x
            for x in leaves
        ]
        if change == "one leaf":
            k = data.draw(st.integers(0, len(leaves) - 1), label="leaf")
            changed[k] = data.draw(st.sampled_from(_confusable_with(leaves[k])), label="new")
        second = tree_unflatten(treedef, changed)
    a, b = (first, 1.0), (second, 1.0)
    _assert_keys_agree_with_signatures([a, b])
    f = jit(lambda *args: 0.0)
    f(*a)
    f(*b)  # by the fast path where it applies
    assert f.trace_count == (1 if _trace_signature(a) == _trace_signature(b) else 2)


# Static values that are equal (==) but not interchangeable: 2, 2.0 and True; 0.0 and
# -0.0; float32 and float64; and nan, which is not equal to itself but must find its trace.
_STATIC_VALUES = [
    0.0,
    -0.0,
    math.nan,
    float("nan"),
    1.0,
    1,
    True,
    2,
    np.float64(1.0),
    np.float64(-0.0),
    np.float32(1.0),
    np.int64(1),
    1j,
    "a",
    None,
    (1, 2.0),
    (1, 2),
    (True, 2.0),
    (0.0,),
    (-0.0,),
]


def _interchangeable(a: Any, b: Any) -> bool:
    """The same types all the way down, and the same bits."""
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple):
        return len(a) == len(b) and all(map(_interchangeable, a, b))
    return a is b or np.asarray(a).tobytes() == np.asarray(b).tobytes()


@pytest.mark.parametrize("by_name", [False, True], ids=["static_argnums", "static_argnames"])
def test_static_values_share_a_cache_key_exactly_when_interchangeable(by_name):
    fun = lambda x, n: 0.0  # noqa: E731

    def key(value: Any) -> Any:
        if by_name:
            return _general_key(fun, (1.0,), {"n": value}, static_argnames="n")
        return _general_key(fun, (1.0, value), {}, static_argnums=1)

    keys = [key(v) for v in _STATIC_VALUES]
    for (a, key_a), (b, key_b) in itertools.product(zip(_STATIC_VALUES, keys), repeat=2):
        assert (key_a == key_b) == _interchangeable(a, b), (a, b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_scalar_arithmetic_written_as_operators_gives_eager_bits_and_types(dtype):
    # 0-d floating arithmetic is generated as Python operators on NumPy scalars (NumPy's
    # fast scalar path) rather than ufunc calls: the same values, dtypes and weak types.
    def f(t, s, w, n):
        a = t * 0.1 + s  # weak literal and weak argument, with a strong scalar
        b = (a - t) / (s + 3.0)
        c = fnp.where(a < b, a * b, b - a) + (a == t) + (b != s)
        d = 3.5 * n + n / 2.0 + (n > 1.5) * a  # a strong integer with floats
        return a, b, c, d, w * 2.0 + w / 3.0, n + 2  # w: a weak Python float alone

    args = (dtype(0.7), dtype(1.3), 0.25, np.int32(3))
    eager = f(*args)
    for got, want in zip(jit(f)(*args), eager):
        assert type(got) is type(want)
        assert_same_bits(np.real(got), np.real(want))
        assert_same_bits(np.imag(got), np.imag(want))
    source = jit(f).lower(*args).as_text()
    assert "(a0 * 0.1)" in source  # strong: the operator
    assert re.search(r"_multiply\d+\(a2, 2\.0\)", source)  # weak alone: the ufunc
    # A strong integer meets a float converted first; integer addition is not an operator.
    assert re.search(r"\(3\.5 \* _as\d+\(a3\)\)", source)
    assert re.search(r"_add\d+\(a3, _k\d+\)", source)


_INT_EDGES = {
    np.int8: [-128, -1, 0, 1, 127],
    np.int32: [-(2**31), -7, 0, 5, 2**31 - 1],
    np.uint8: [0, 1, 200, 255],
    np.uint64: [0, 3, 2**64 - 1],
    np.int64: [-(2**63), -1, 0, 2**63 - 1],
}


@pytest.mark.parametrize("dtype", list(_INT_EDGES), ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("zero_d", [False, True], ids=["numpy_scalars", "0d_arrays"])
def test_scalar_integer_arithmetic_wraps_as_the_ufunc_does_without_a_warning(dtype, zero_d):
    # 0-d integer add, subtract, minimum and maximum, booleans made numbers, and
    # integers meeting floats are generated as Python code on NumPy scalars: the same
    # bits and types as eager evaluation's ufuncs, wrapping silently on overflow (the
    # test runs warnings as errors), and never an argument's 0-d array given back.
    def f(a, b, flag):  # fnp's functions: the arguments may be NumPy scalars
        return (
            fnp.add(a, b),
            fnp.subtract(a, b),
            fnp.subtract(b, a),
            fnp.add(a, 1),
            fnp.minimum(a, b),
            fnp.maximum(a, 3),
            fnp.minimum(b, a),
            fnp.add(a, fnp.astype(flag, a.dtype)),
            fnp.multiply(fnp.astype(flag, np.float32), 1.5),
            fnp.multiply(a, 0.5),  # converted to float64 first, as the ufunc does
            fnp.true_divide(b, 3.0),
        )

    values = _INT_EDGES[dtype]
    make = (lambda v: np.array(v, dtype)) if zero_d else dtype
    for a, b in itertools.product(values, repeat=2):
        args = (make(a), make(b), np.array(a < b) if zero_d else np.bool_(a < b))
        eager = f(*args)
        got = jit(f)(*args)
        for g, want in zip(got, eager):
            assert np.asarray(g).dtype == np.asarray(want).dtype, (a, b)
            assert_same_bits(g, want)
            assert g is not args[0] and g is not args[1]
    lowered = jit(f).lower(*args)
    ufuncs = (np.add, np.subtract, np.minimum, np.maximum)
    assert not [v for v in lowered.compile().__globals__.values() if any(v is u for u in ufuncs)]
    assert re.search(r" if a2 else ", lowered.as_text())  # the boolean picks a scalar


def test_scalar_integer_fast_paths_leave_mixed_dtypes_and_large_literals_to_the_ufunc():
    # int32 with int64 promotes, and a Python int out of int8's range is NumPy's error
    # to raise: neither takes the Python path.
    def namespace(f, *args):
        return jit(f).lower(*args).compile().__globals__.values()

    assert any(v is np.add for v in namespace(lambda a, b: a + b, np.int32(1), np.int64(2)))
    assert any(v is np.add for v in namespace(lambda a: a + 300, np.int8(1)))
    assert not any(v is np.add for v in namespace(lambda a: a + 100, np.int8(1)))


def test_scatter_add_assigns_where_constant_rows_make_indices_distinct():
    # The transpose of picking one entry per row (a cross-entropy with integer labels)
    # is written as an assignment; a constant index with repeats keeps np.add.at.
    def by_rows(x, labels):
        return fnp.sum(fnp.take_along_axis(x, labels[:, None], axis=1) ** 2)

    def repeated(x):
        return fnp.sum(x[np.array([0, 0, 2])] ** 2)

    x = np.arange(12.0).reshape(4, 3) / 7.0
    labels = np.array([2, 0, 2, -1])  # -1 is the last column, as 2 is
    for f, args in ((by_rows, (x, labels)), (repeated, (x,))):
        g = fungrad.grad(f)
        assert_same_bits(jit(g)(*args), g(*args))
    from fungrad.core import primitives
    from fungrad.jit.lowering import _assigned

    def scatter_impls(f, *args):
        namespace = jit(fungrad.grad(f)).lower(*args).compile().__globals__
        values = namespace.values()
        found = {v.func for v in values if getattr(v, "func", None) is scatter_add}
        return found | {v for v in values if v is _assigned}

    scatter_add = primitives["scatter_add"].impl
    assert scatter_impls(by_rows, x, labels) == {_assigned}  # out[c0, v3,] = ct
    assert scatter_impls(repeated, x) == {scatter_add}


def test_scalar_arithmetic_with_a_python_bool_keeps_numpy_s_dtype():
    # A Python bool argument is strongly typed but stays a Python bool when the code
    # runs: Python's True * 1.5 is a float, which would then meet float32 as a weak
    # scalar, where the program (and eager evaluation) says float64.
    x = np.ones(2, np.float32)
    for f in (
        lambda b, x: fnp.multiply(b, 1.5) * x,
        lambda b, x: fnp.add(b, np.float32(2.0)) * x,
        lambda b, x: (b < 1.5) * x,
    ):
        assert_same_bits(jit(f)(True, x), f(True, x))


@pytest.mark.parametrize(
    "value", [True, np.bool_(False), np.int32(-7), np.array(3, np.uint8), np.float32(0.1)]
)
@pytest.mark.parametrize(
    "dtype", [np.bool_, np.int8, np.int64, np.float32, np.float64, np.complex64, np.complex128]
)
def test_0d_conversions_give_eager_bits(value, dtype):
    # 0-d conversions that are exact are written as the dtype's constructor.
    f = lambda v: fnp.asarray(v).astype(dtype) * 1  # noqa: E731
    with np.errstate(all="ignore"):  # float -> int and narrowing casts are not exact
        got, want = jit(f)(value), f(value)
    assert_same_bits(np.real(got), np.real(want))
    assert_same_bits(np.imag(got), np.imag(want))


@pytest.mark.parametrize("n", [3, 2.5, True, np.int32(3), np.array(4.0)])
def test_reshape_of_a_0d_argument_of_any_kind(n):
    # Arrays are reshaped by their method; a 0-d value may be a Python scalar (a bool is
    # strongly typed and stays one), which has none.
    f = lambda x, n: fnp.reshape(n, (1,)) * x  # noqa: E731
    assert_same_bits(jit(f)(np.ones(1), n), f(np.ones(1), n))
    assert_same_bits(jit(f)(np.ones((2, 3)), n).reshape(6), f(np.ones(6), n))


@pytest.mark.parametrize(
    "index",
    [
        lambda i: (i,),
        lambda i: (slice(None, None, -2), i),
        lambda i: (np.int64(1), Ellipsis, None),
        lambda i: (i[:, None], i),
        lambda i: (slice(1, None), slice(None), 0),
        lambda i: (),
    ],
)
def test_indexing_written_as_a_subscript_gives_eager_bits(index):
    # gather of an array is written as NumPy's subscript in the generated code.
    x = np.arange(24.0).reshape(4, 3, 2) - 7.5
    i = np.array([2, 0, -1])

    def f(x, i):
        return x[index(i)] * 2.0

    assert_same_bits(jit(f)(x, i), f(x, i))
    assert "_gather" not in jit(f).lower(x, i).as_text()
