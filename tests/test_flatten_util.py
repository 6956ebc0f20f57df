"""fungrad.flatten_util.ravel_pytree: round trips, dtypes, transformations, errors."""

from __future__ import annotations

import numpy as np
import pytest

import fungrad
import fungrad.numpy as fnp
from fungrad.errors import ShapeError
from fungrad.flatten_util import ravel_pytree
from fungrad.test_util import check_grads


def _tree():
    return {
        "w": np.arange(6.0).reshape(2, 3),
        "b": (np.array([1.5, -2.0]), 3.0),
        "n": None,
    }


def test_round_trip_keeps_structure_shapes_and_values():
    tree = _tree()
    flat, unravel = ravel_pytree(tree)
    assert flat.shape == (9,) and flat.dtype == np.float64
    np.testing.assert_array_equal(flat, [1.5, -2.0, 3.0, 0, 1, 2, 3, 4, 5])
    back = unravel(flat)
    assert back["n"] is None
    np.testing.assert_array_equal(back["w"], tree["w"])
    np.testing.assert_array_equal(back["b"][0], tree["b"][0])
    assert np.shape(back["b"][1]) == ()


def test_dtypes_are_promoted_and_restored():
    tree = [np.ones(2, np.float32), np.arange(3, dtype=np.int32), np.array([True])]
    flat, unravel = ravel_pytree(tree)
    assert flat.dtype == np.float64  # float32 with int32 promotes as NumPy does
    back = unravel(flat)
    assert [leaf.dtype for leaf in back] == [np.float32, np.int32, np.bool_]
    flat32, _ = ravel_pytree([np.ones(2, np.float32), np.ones(1, np.float32)])
    assert flat32.dtype == np.float32


def test_empty_trees():
    for tree in ({}, [], (None,)):
        flat, unravel = ravel_pytree(tree)
        assert flat.shape == (0,)
        assert unravel(flat) == tree


def test_unravel_of_a_wrong_size_vector_raises():
    _, unravel = ravel_pytree(_tree())
    with pytest.raises(ShapeError, match=r"expected a 1-D array of length 9 .* got shape \(8,\)"):
        unravel(np.zeros(8))
    with pytest.raises(ShapeError, match=r"got shape \(3, 3\)"):
        unravel(np.zeros((3, 3)))


def _loss(params):
    w, (b, c) = params["w"], params["b"]
    return fnp.sum(fnp.tanh(w) ** 2) + fnp.sum(b**3) * c


def test_grad_through_unravel_and_ravel():
    tree = _tree()
    flat, unravel = ravel_pytree(tree)
    g_flat = fungrad.grad(lambda v: _loss(unravel(v)))(flat)
    g_tree = fungrad.grad(_loss)(tree)
    np.testing.assert_allclose(g_flat, ravel_pytree(g_tree)[0], rtol=1e-14)
    check_grads(lambda v: _loss(unravel(v)), (flat,), order=2)
    # and through ravel itself
    g = fungrad.grad(lambda t: fnp.sum(ravel_pytree(t)[0] ** 2))(tree)
    np.testing.assert_allclose(g["w"], 2 * tree["w"])


def test_vmap_and_jit():
    _, unravel = ravel_pytree(_tree())
    batch = np.random.default_rng(0).standard_normal((4, 9))
    out = fungrad.vmap(unravel)(batch)
    assert out["w"].shape == (4, 2, 3)
    np.testing.assert_array_equal(out["w"][2], unravel(batch[2])["w"])
    stacked = fungrad.vmap(lambda t: ravel_pytree(t)[0])({"a": np.ones((4, 2)), "b": np.zeros(4)})
    assert stacked.shape == (4, 3)
    flat = fungrad.jit(lambda t: ravel_pytree(t)[0])(_tree())
    np.testing.assert_array_equal(flat, ravel_pytree(_tree())[0])


def test_newton_step_on_the_flat_vector():
    tree = {"a": np.array([0.3, -0.2]), "b": np.array(0.1)}
    flat, unravel = ravel_pytree(tree)

    def f(v):
        p = unravel(v)
        return fnp.sum((p["a"] - 1.0) ** 2) + 3 * (p["b"] + 2.0) ** 2 + p["a"][0] * p["b"]

    step = np.linalg.solve(fungrad.hessian(f)(flat), fungrad.grad(f)(flat))
    new = flat - step  # a quadratic: one Newton step lands on the minimum
    np.testing.assert_allclose(fungrad.grad(f)(new), 0.0, atol=1e-12)
