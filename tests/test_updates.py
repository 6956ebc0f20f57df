"""Functional index updates (``x.at[idx]``, ``fungrad.numpy.at``) and ``where``/``nonzero``/
``argwhere``/``flatnonzero``: values against NumPy, repeated indices, out-of-bound modes,
errors, inputs left unchanged, derivatives, and vmap over every operand."""

from __future__ import annotations

import numpy as np
import pytest

import fungrad
import fungrad.numpy as fnp
from fungrad.errors import ConcretizationError, FungradTypeError, FungradValueError
from fungrad.primitives.indexing import scatter_mul
from fungrad.test_util import check_grads

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4, 5))

INDICES = {
    "int": 1,
    "negative int": -1,
    "slice": (slice(None), slice(3, 0, -2)),
    "ellipsis": (Ellipsis, 1),
    "none": (None, 1, slice(1, 3)),
    "repeated array": np.array([0, 2, 0, -1]),
    "arrays around a slice": (np.array([0, 2, 2]), slice(None), np.array([1, 1, 4])),
    "broadcast arrays": (slice(None), np.array([[0], [3]]), np.array([1, 2, 1])),
    "array, none, ellipsis": (np.array([1, 0]), None, Ellipsis, np.array([2, 2])),
    "mask": X[..., 0] > 0,
    "mask and int": (1, X[0, :, 0] > 0, slice(None, None, -1)),
    "scalar bool": (True,),
    "false scalar bool": (False, 1),
    "list": (np.int64(2), [0, 1, 1]),
    "empty list": ([],),
}

NUMPY = {
    "set": lambda a, i, y: a.__setitem__(i, y),
    "add": np.add.at,
    "subtract": np.subtract.at,
    "multiply": np.multiply.at,
    "divide": np.divide.at,
    "power": np.power.at,
    "min": np.minimum.at,
    "max": np.maximum.at,
}


def _numpy(method, x, index, y):
    out = x.copy()
    NUMPY[method](out, index, y)
    return out


@pytest.mark.parametrize("method", list(NUMPY))
@pytest.mark.parametrize("name", list(INDICES))
def test_each_method_matches_numpy_eager_and_under_jit(method, name):
    index = INDICES[name]
    x = np.abs(X) + 0.5 if method == "power" else X
    y = RNG.uniform(0.5, 1.5, x[index].shape)
    kept = x.copy()
    expected = _numpy(method, x, index, y)
    out = getattr(fnp.at(x)[index], method)(y)
    np.testing.assert_allclose(out, expected, rtol=1e-13)
    np.testing.assert_array_equal(x, kept)  # the input is never modified
    jitted = fungrad.jit(lambda x, y: getattr(x.at[index], method)(y))(x, y)
    np.testing.assert_allclose(jitted, expected, rtol=1e-13)


@pytest.mark.parametrize("name", list(INDICES))
def test_get_is_getitem(name):
    index = INDICES[name]
    np.testing.assert_array_equal(fnp.at(X)[index].get(), X[index])
    np.testing.assert_array_equal(fungrad.jit(lambda x: x.at[index].get())(X), X[index])


def test_updates_broadcast_and_scalars_work():
    x = np.zeros((2, 3))
    np.testing.assert_array_equal(fnp.at(x)[:, 1].set(5.0), [[0, 5, 0], [0, 5, 0]])
    np.testing.assert_array_equal(fnp.at(x)[0].add(np.array([1.0, 2, 3])), [[1, 2, 3], [0, 0, 0]])


def test_repeated_indices_accumulate_and_set_keeps_the_last():
    x = np.zeros(3)
    i = np.array([1, 1, 1])
    y = np.array([2.0, 3.0, 4.0])
    np.testing.assert_array_equal(fnp.at(x)[i].add(y), [0, 9, 0])
    np.testing.assert_array_equal(fnp.at(x + 1)[i].multiply(y), [1, 24, 1])
    np.testing.assert_array_equal(fnp.at(x)[i].set(y), [0, 4, 0])
    np.testing.assert_array_equal(fnp.at(x)[i].min(y), [0, 0, 0])
    np.testing.assert_array_equal(fnp.at(x)[i].max(y), [0, 4, 0])


def test_set_gives_the_derivative_to_the_winning_update_only():
    x = np.arange(4.0)
    i = np.array([2, 0, 2, -2])  # -2 is 2: the last of three updates to element 2 wins
    y = np.array([1.0, 2.0, 3.0, 4.0])
    grads = fungrad.grad(lambda x, y: fnp.sum(fnp.at(x)[i].set(y) * 10.0), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(grads[0], [0, 10, 0, 10])
    np.testing.assert_array_equal(grads[1], [0, 10, 0, 10])
    # the same with traced indices (the winners are computed from them)
    traced = fungrad.jit(
        fungrad.grad(lambda x, y, i: fnp.sum(fnp.at(x)[i].set(y) * 10.0), argnums=(0, 1))
    )(x, y, i)
    np.testing.assert_array_equal(traced[1], [0, 10, 0, 10])


@pytest.mark.parametrize("method", list(NUMPY) + ["get"])
def test_second_order_derivatives_with_repeated_indices(method):
    rng = np.random.default_rng(3)
    x = rng.uniform(0.5, 2.0, (4, 3))
    index = (np.array([0, 2, 0, 3]), np.array([1, 1, 1, 0]))
    y = rng.uniform(0.5, 2.0, 4) + np.arange(4) * 0.1  # no ties for min and max
    if method == "get":

        def f(x, y):
            return fnp.at(x)[index].get() * y
    else:

        def f(x, y):
            return getattr(fnp.at(x)[index], method)(y)

    check_grads(f, (x, y), order=2)


@pytest.mark.parametrize("method", ["min", "max"])
def test_min_and_max_split_the_derivative_evenly_among_ties(method):
    x = np.array([1.0, 5.0])
    i = np.array([0, 0])
    y = np.array([1.0, 1.0])  # x[0] and both updates tie
    gx, gy = fungrad.grad(lambda x, y: fnp.sum(getattr(fnp.at(x)[i], method)(y)), argnums=(0, 1))(
        x, y
    )
    np.testing.assert_allclose(gx, [1 / 3, 1.0])
    np.testing.assert_allclose(gy, [1 / 3, 1 / 3])


def test_multiply_with_traced_repeated_indices_needs_unique_indices():
    x, y = np.ones(3), np.array([2.0, 3.0])

    def f(y, i, **kw):
        return fnp.sum(fnp.at(x)[i].multiply(y, **kw))

    with pytest.raises(FungradValueError, match="unique_indices=True"):
        fungrad.jit(fungrad.grad(f))(y, np.array([0, 2]))
    g = fungrad.jit(fungrad.grad(lambda y, i: f(y, i, unique_indices=True)))(y, np.array([0, 2]))
    np.testing.assert_allclose(g, [1.0, 1.0])
    # concrete repeated indices: exact (2 * 3 at element 1)
    np.testing.assert_allclose(fungrad.grad(f)(y, np.array([1, 1])), [3.0, 2.0])


def test_the_primitive_checks_concrete_positions_for_repeats():
    with pytest.raises(FungradValueError, match="repeated indices"):
        fungrad.jvp(
            lambda u: scatter_mul(np.ones(3), np.array([1, 1]), u),
            (np.ones(2),),
            (np.ones(2),),
        )


# ---------------------------------------------------------------------------------------
# Out-of-bound indices


def test_out_of_bound_updates_are_dropped_by_default():
    x = np.arange(5.0)
    i = np.array([1, 5, -6, -5, 100])  # -5 is 0; 5, -6 and 100 are out of bounds
    y = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    for mode in (None, "drop", "fill", "promise_in_bounds"):
        np.testing.assert_array_equal(fnp.at(x)[i].add(y, mode=mode), [40, 11, 2, 3, 4])
        np.testing.assert_array_equal(fnp.at(x)[i].set(y, mode=mode), [40, 10, 2, 3, 4])
    np.testing.assert_array_equal(fnp.at(x)[7].set(1.0), x)
    # traced indices too
    out = fungrad.jit(lambda i: fnp.at(x)[i].add(y))(i)
    np.testing.assert_array_equal(out, [40, 11, 2, 3, 4])


def test_clip_mode_clamps_updates():
    x = np.zeros(3)
    out = fnp.at(x)[np.array([-7, 9, 1])].add(np.array([1.0, 2.0, 3.0]), mode="clip")
    np.testing.assert_array_equal(out, [1, 3, 2])
    np.testing.assert_array_equal(fnp.at(x)[9].set(4.0, mode="clip"), [0, 0, 4])


def test_get_clamps_by_default_and_fills_on_request():
    x = np.arange(4.0)
    i = np.array([0, 4, -5, -1])
    np.testing.assert_array_equal(fnp.at(x)[i].get(), [0, 3, 0, 3])
    np.testing.assert_array_equal(fnp.at(x)[i].get(mode="clip"), [0, 3, 0, 3])
    np.testing.assert_array_equal(fnp.at(x)[i].get(mode="fill", fill_value=-1.0), [0, -1, -1, 3])
    assert np.isnan(fnp.at(x)[i].get(mode="drop")).tolist() == [False, True, True, False]
    ints = np.arange(4)
    assert fnp.at(ints)[9].get(mode="fill") == np.iinfo(np.int64).min
    traced = fungrad.jit(lambda i: fnp.at(x)[i].get(mode="fill", fill_value=-1.0))(i)
    np.testing.assert_array_equal(traced, [0, -1, -1, 3])


# ---------------------------------------------------------------------------------------
# Errors


def test_updates_of_the_wrong_shape_name_the_shapes():
    with pytest.raises(
        FungradValueError, match=r"updates of shape \(4,\).*shape \(3,\).*\(2, 3\)"
    ):
        fnp.at(np.zeros((2, 3)))[0].set(np.ones(4))


def test_unknown_mode():
    with pytest.raises(FungradValueError, match="unknown mode='wrap'"):
        fnp.at(np.zeros(3))[0].add(1.0, mode="wrap")


def test_bad_indices():
    x = np.zeros((2, 3))
    with pytest.raises(FungradValueError, match=r"boolean index of shape \(1,\)"):
        fnp.at(x)[np.array([True])].set(1.0)
    with pytest.raises(FungradValueError, match="too many indices"):
        fnp.at(x)[0, 0, 0].set(1.0)
    with pytest.raises(FungradTypeError, match="integers or booleans"):
        fnp.at(x)[np.array([0.5])].set(1.0)
    with pytest.raises(FungradValueError, match="single ellipsis"):
        fnp.at(x)[..., ...].set(1.0)
    with pytest.raises(FungradTypeError, match="integer or boolean array"):
        fnp.at(np.arange(3))[0].divide(2)


def test_a_traced_mask_is_a_concretization_error():
    with pytest.raises(ConcretizationError, match="where"):
        fungrad.vmap(lambda x: x.at[x > 0].set(0.0))(np.ones((2, 3)))


# ---------------------------------------------------------------------------------------
# Types and batching


def test_float32_and_integer_dtypes_are_kept():
    x = np.zeros(3, np.float32)
    assert fnp.at(x)[0].add(1.0).dtype == np.float32
    assert fnp.at(x)[0].set(np.float64(1.0)).dtype == np.float32
    ints = np.arange(3)
    out = fnp.at(ints)[np.array([0, 0])].add(2)
    assert out.dtype == ints.dtype and out.tolist() == [4, 1, 2]
    assert fnp.at(np.zeros(2, bool))[1].add(True).tolist() == [False, True]
    g = fungrad.grad(lambda x: fnp.sum(fnp.at(x)[1].multiply(3.0)))(x)
    assert g.dtype == np.float32


@pytest.mark.parametrize("method", list(NUMPY) + ["get"])
@pytest.mark.parametrize("mapped", [(0, None, None), (None, 0, None), (None, None, 0), (0, 0, 0)])
def test_vmap_over_x_indices_and_updates(method, mapped):
    rng = np.random.default_rng(5)
    xs = rng.uniform(0.5, 2.0, (3, 4, 2))
    idxs = rng.integers(-4, 4, (3, 5))
    ys = rng.uniform(0.5, 2.0, (3, 5, 2))

    def f(x, i, y):
        ref = fnp.at(x)[i]
        return (
            ref.get(mode="fill", fill_value=0.0) * y
            if method == "get"
            else getattr(ref, method)(y)
        )

    args = [xs, idxs, ys]
    batched = fungrad.vmap(f, in_axes=mapped)(
        *[a if m == 0 else a[0] for a, m in zip(args, mapped)]
    )
    loop = np.stack(
        [f(*[a[k] if m == 0 else a[0] for a, m in zip(args, mapped)]) for k in range(3)]
    )
    np.testing.assert_allclose(batched, loop, rtol=1e-13)


def test_grad_under_vmap_over_indices():
    x = np.arange(4.0)
    idxs = np.array([[0, 0, 3], [1, 2, 2]])
    y = np.array([1.0, 2.0, 3.0])

    def loss(y, i):
        return fnp.sum(fnp.at(x)[i].set(y) ** 2)

    out = fungrad.vmap(fungrad.grad(loss), in_axes=(None, 0))(y, idxs)
    np.testing.assert_array_equal(out, [[0, 4, 6], [2, 0, 6]])


def test_tracers_have_the_at_property():
    out = fungrad.grad(lambda x: fnp.sum(x.at[1:].multiply(x[:-1])))(np.array([1.0, 2.0, 3.0]))
    # x0 + x1 x0 + x2 x1: gradient (1 + x1, x0 + x2, x1)
    np.testing.assert_array_equal(out, [3.0, 4.0, 2.0])


# ---------------------------------------------------------------------------------------
# where(condition), nonzero, argwhere, flatnonzero


def test_nonzero_family_matches_numpy():
    a = np.array([[0.0, 1.5], [-2.0, 0.0]])
    for ours, theirs in [
        (fnp.where, np.where),
        (fnp.nonzero, np.nonzero),
        (fnp.argwhere, np.argwhere),
        (fnp.flatnonzero, np.flatnonzero),
    ]:
        out, expected = ours(a), theirs(a)
        for o, e in zip(np.atleast_1d(out), np.atleast_1d(expected)):
            np.testing.assert_array_equal(o, e)
    # inside grad the values are concrete: allowed, the indices are constants
    g = fungrad.grad(lambda x: fnp.sum(x[fnp.nonzero(x)] ** 2))(a)
    np.testing.assert_array_equal(g, 2 * a)


@pytest.mark.parametrize("name", ["where", "nonzero", "argwhere", "flatnonzero"])
def test_nonzero_family_of_traced_values_is_a_concretization_error(name):
    with pytest.raises(ConcretizationError, match=name):
        fungrad.jit(getattr(fnp, name))(np.ones(3))


def test_where_with_two_arguments_is_an_error():
    with pytest.raises(FungradValueError, match="both x and y, or neither"):
        fnp.where(np.ones(2) > 0, 1.0)
