"""Behavioural tests of fungrad.lax's structured control flow: cond, switch, scan,
fori_loop, while_loop and map.

The reference for every construct is its unrolled Python equivalent: a Python loop or
``if`` over the same step functions, which fungrad differentiates as straight-line code.
Each model below is run through a table of transformations (grad, jvp, vjp, jacfwd,
jacrev, hessian, vmap with several in_axes, jit, and their compositions) and compared
with the same transformation of its reference; the vmap reference is a Python loop over
the examples. Central differences (fungrad.test_util.check_grads) check both against
mathematics. The rest of the file tests the semantics one at a time (pytrees, reverse,
empty scans, index clamping, dtypes, closures), while_loop's forward-only
differentiation, what jit generates, the error messages, and the printed programs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import fungrad.numpy as fnp
from fungrad import (
    core,
    grad,
    hessian,
    jacfwd,
    jacrev,
    jit,
    jvp,
    lax,
    linearize,
    make_jaxpr,
    vjp,
    vmap,
)
from fungrad.core import subjaxprs
from fungrad.errors import FungradTypeError, NonLinearError, ShapeError
from fungrad.interpreters import subprograms
from fungrad.primitives import control_flow
from fungrad.test_util import check_grads, numerical_jvp
from fungrad.tree_util import tree_leaves, tree_map, tree_structure

RTOL = 1e-9
ATOL = 1e-11


def assert_tree_close(actual: Any, expected: Any, rtol: float = RTOL, atol: float = ATOL) -> None:
    """Same pytree structure; each leaf the same shape and (nearly) the same values."""
    assert tree_structure(actual) == tree_structure(expected)
    for a, e in zip(tree_leaves(actual), tree_leaves(expected)):
        a, e = np.asarray(a), np.asarray(e)
        assert a.shape == e.shape, (a.shape, e.shape)
        if a.dtype.kind == "V" or e.dtype.kind == "V":  # float0: integer inputs
            assert a.dtype == e.dtype
            continue
        assert_allclose(a, e, rtol=rtol, atol=atol)


def unrolled_scan(step, init, xs=None, length=None, reverse=False):
    """The Python loop lax.scan stands for (the reference for scan)."""
    n = length if xs is None else len(tree_leaves(xs)[0])
    carry, ys = init, [None] * n
    for i in reversed(range(n)) if reverse else range(n):
        x = None if xs is None else tree_map(lambda v, i=i: v[i], xs)
        carry, ys[i] = step(carry, x)
    if n == 0 or ys[0] is None:
        return carry, None
    return carry, tree_map(lambda *y: fnp.stack(y), *ys)


# ---------------------------------------------------------------------------------------
# Models: a construct and its unrolled reference, on (w, x) with w: f64[2], x: f64[3].
#
# The three rows of XB take different paths: the cond predicate is false, true, false;
# the switch index (-3 + 2 * the number of positive entries) is 1, 3 (clamped to 2) and
# -1 (clamped to 0); the while loop runs 4, 2 and 3 steps.

WB = np.array([[0.7, -0.4], [0.2, 0.5], [-0.3, 0.9]])
XB = np.array([[0.3, -1.7, 0.8], [0.9, 0.4, 1.1], [-0.5, 0.7, -0.6]])
W, X = WB[0], XB[0]
TW, TX = np.array([0.3, -1.1]), np.array([0.5, 0.2, -0.7])


def _scan_step(w):
    def step(carry, xt):
        a, b = xt
        h = fnp.sin(carry["h"] * w + a) + b * carry["n"]
        return {"h": h, "n": carry["n"] + 1}, {"p": h * a, "s": fnp.sum(carry["h"])}

    return step


def _scan_out(carry, ys):
    return fnp.concatenate([carry["h"] * carry["n"], fnp.reshape(ys["p"], (-1,)), ys["s"]])


def scan_f(w, x):
    return _scan_out(*lax.scan(_scan_step(w), {"h": np.full(2, 0.1), "n": 0}, (x, 0.5 * x - 0.1)))


def scan_ref(w, x):
    return _scan_out(
        *unrolled_scan(_scan_step(w), {"h": np.full(2, 0.1), "n": 0}, (x, 0.5 * x - 0.1))
    )


def _reverse_step(w):
    def step(carry, x):
        h, s = carry
        h = fnp.tanh(h * w + x) - 0.3 * s
        return (h, s + fnp.sum(h * h)), (h[0] * s, x * w[1])

    return step


def _reverse_out(carry, ys):
    return fnp.concatenate([carry[0], fnp.reshape(carry[1], (1,)), ys[0], ys[1]])


def scan_reverse_f(w, x):
    return _reverse_out(*lax.scan(_reverse_step(w), (w * 0.5, 0.2), x, reverse=True))


def scan_reverse_ref(w, x):
    return _reverse_out(*unrolled_scan(_reverse_step(w), (w * 0.5, 0.2), x, reverse=True))


def _length_step(w, x):
    # No xs: the body closes over both arguments; no ys.
    def step(h, _):
        return fnp.sin(h * w) + x[:2] * fnp.cos(x[2] * h), None

    return step


def scan_length_f(w, x):
    carry, ys = lax.scan(_length_step(w, x), x[1:], None, length=4)
    assert ys is None
    return carry


def scan_length_ref(w, x):
    return unrolled_scan(_length_step(w, x), x[1:], None, length=4)[0]


def _fori_body(w, x):
    def body(i, c):
        return c * fnp.cos(w * i) + fnp.sin(x[:2]) * i + x[2]

    return body


def fori_f(w, x):
    return lax.fori_loop(1, 4, _fori_body(w, x), w * x[0])


def fori_ref(w, x):
    c = w * x[0]
    for i in range(1, 4):
        c = _fori_body(w, x)(i, c)
    return c


def _cond_branches(w, x):
    return (lambda u: fnp.sin(u * w) * x[2], lambda u: u * u * w + fnp.cos(x[2]))


def cond_f(w, x):
    yes, no = _cond_branches(w, x)
    return lax.cond(fnp.sum(x) > 0, yes, no, x[:2])


def cond_ref(w, x):
    yes, no = _cond_branches(w, x)
    return yes(x[:2]) if fnp.sum(x) > 0 else no(x[:2])


SWITCH_BRANCHES = [
    lambda u, w: u * w,
    lambda u, w: fnp.sin(u) * fnp.exp(w),
    lambda u, w: fnp.tanh(u * w) + u,
]


def _switch_index(x):
    return fnp.sum(fnp.asarray(x > 0, np.int64)) * 2 - 3


def switch_f(w, x):
    return lax.switch(_switch_index(x), SWITCH_BRANCHES, x[:2], w)


def switch_ref(w, x):
    index = int(np.clip(int(_switch_index(x)), 0, len(SWITCH_BRANCHES) - 1))
    return SWITCH_BRANCHES[index](x[:2], w)


def _map_fun(w):
    return lambda xi: fnp.sin(w * xi) + xi * xi * w[0]


def map_f(w, x):
    return fnp.reshape(lax.map(_map_fun(w), x), (-1,))


def map_ref(w, x):
    return fnp.reshape(fnp.stack([_map_fun(w)(x[i]) for i in range(3)]), (-1,))


def _while_parts(w, x):
    # The trip count depends on x only (so vmap over w alone keeps the predicate
    # unbatched), which the condition also closes over; the carry mixes a float
    # vector, a float scalar and an integer counter.
    def cond_fun(c):
        return c[1] < 2.0 + 0.1 * x[2]

    def body_fun(c):
        h, t, k = c
        return fnp.sin(h * w) + x[1:] * t, t + 0.5 + x[0] * x[0], k + 1

    return cond_fun, body_fun


def while_f(w, x):
    cond_fun, body_fun = _while_parts(w, x)
    h, _, k = lax.while_loop(cond_fun, body_fun, (w, 0.0, 0))
    return h * k


def while_ref(w, x):
    cond_fun, body_fun = _while_parts(w, x)
    c = (w, 0.0, 0)
    while cond_fun(c):
        c = body_fun(c)
    return c[0] * c[2]


class Model(NamedTuple):
    f: Callable
    ref: Callable
    reverse: bool  # reverse-mode differentiable


MODELS = {
    "scan": Model(scan_f, scan_ref, True),
    "scan_reverse": Model(scan_reverse_f, scan_reverse_ref, True),
    "scan_length": Model(scan_length_f, scan_length_ref, True),
    "fori_loop": Model(fori_f, fori_ref, True),
    "cond": Model(cond_f, cond_ref, True),
    "switch": Model(switch_f, switch_ref, True),
    "map": Model(map_f, map_ref, True),
    "while_loop": Model(while_f, while_ref, False),
}


def loss(out):
    return fnp.sum(fnp.sin(out))


def scalar(f):
    return lambda w, x: loss(f(w, x))


def per_example(fn, *args):
    """The vmap reference: ``fn`` on each example, stacked."""
    return tree_map(lambda *r: np.stack(r), *[fn(*a) for a in zip(*args)])


def _vjp(f):
    def run(w, x):
        out, pull = vjp(f, w, x)
        return pull(np.linspace(-1.0, 1.0, np.size(out)).reshape(np.shape(out)))

    return run


# name: (the transformation of a model, its reference from the reference function,
# whether it needs reverse mode)
TRANSFORMS: dict[str, tuple[Callable, Callable, bool]] = {
    "eval": (lambda f: f(W, X), lambda r: r(W, X), False),
    "jit": (lambda f: jit(f)(W, X), lambda r: r(W, X), False),
    "jvp": (lambda f: jvp(f, (W, X), (TW, TX)), lambda r: jvp(r, (W, X), (TW, TX)), False),
    "jacfwd": (
        lambda f: jacfwd(f, argnums=(0, 1))(W, X),
        lambda r: jacfwd(r, argnums=(0, 1))(W, X),
        False,
    ),
    "jacfwd_jacfwd": (
        lambda f: jacfwd(jacfwd(scalar(f)))(W, X),
        lambda r: jacfwd(jacfwd(scalar(r)))(W, X),
        False,
    ),
    "jit_jvp": (
        lambda f: jit(lambda w, x: jvp(f, (w, x), (TW, TX)))(W, X),
        lambda r: jvp(r, (W, X), (TW, TX)),
        False,
    ),
    "grad": (
        lambda f: grad(scalar(f), argnums=(0, 1))(W, X),
        lambda r: grad(scalar(r), argnums=(0, 1))(W, X),
        True,
    ),
    "vjp": (lambda f: _vjp(f)(W, X), lambda r: _vjp(r)(W, X), True),
    "jacrev": (
        lambda f: jacrev(f, argnums=(0, 1))(W, X),
        lambda r: jacrev(r, argnums=(0, 1))(W, X),
        True,
    ),
    "hessian": (
        lambda f: hessian(scalar(f), argnums=(0, 1))(W, X),
        lambda r: hessian(scalar(r), argnums=(0, 1))(W, X),
        True,
    ),
    "grad_jit": (
        lambda f: grad(jit(scalar(f)))(W, X),
        lambda r: grad(scalar(r))(W, X),
        True,
    ),
    "jit_grad": (
        lambda f: jit(grad(scalar(f), argnums=(0, 1)))(W, X),
        lambda r: grad(scalar(r), argnums=(0, 1))(W, X),
        True,
    ),
    "vmap_w": (
        lambda f: vmap(f, in_axes=(0, None))(WB, X),
        lambda r: per_example(r, WB, [X] * 3),
        False,
    ),
    "vmap_x": (
        lambda f: vmap(f, in_axes=(None, 0))(W, XB),
        lambda r: per_example(r, [W] * 3, XB),
        False,
    ),
    "vmap_axis1": (
        lambda f: vmap(f, in_axes=(1, 1), out_axes=1)(WB.T, XB.T),
        lambda r: per_example(r, WB, XB).T,
        False,
    ),
    "jit_vmap": (
        lambda f: jit(vmap(f))(WB, XB),
        lambda r: per_example(r, WB, XB),
        False,
    ),
    "vmap_jvp": (
        lambda f: vmap(lambda w, x: jvp(f, (w, x), (TW, TX)))(WB, XB),
        lambda r: per_example(lambda w, x: jvp(r, (w, x), (TW, TX)), WB, XB),
        False,
    ),
    "vmap_grad": (
        lambda f: vmap(grad(scalar(f), argnums=(0, 1)))(WB, XB),
        lambda r: per_example(grad(scalar(r), argnums=(0, 1)), WB, XB),
        True,
    ),
    "grad_vmap": (
        lambda f: grad(lambda ws, xs: fnp.sum(fnp.sin(vmap(f)(ws, xs))), argnums=(0, 1))(WB, XB),
        lambda r: grad(
            lambda ws, xs: sum(loss(r(ws[i], xs[i])) for i in range(3)), argnums=(0, 1)
        )(WB, XB),
        True,
    ),
}


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("model", MODELS)
def test_construct_matches_unrolled_python(model, transform):
    f, ref, reverse_ok = MODELS[model]
    run, run_ref, needs_reverse = TRANSFORMS[transform]
    if needs_reverse and not reverse_ok:
        with pytest.raises(NonLinearError, match="while_loop"):
            run(f)
        return
    assert_tree_close(run(f), run_ref(ref))


@pytest.mark.parametrize("model", MODELS)
def test_construct_matches_central_differences(model):
    f, _, reverse_ok = MODELS[model]
    modes = ("fwd", "rev") if reverse_ok else ("fwd",)
    check_grads(f, (W, X), order=2, modes=modes)


def test_models_take_the_paths_they_claim():
    # The comments above XB are what makes the table above cover every path.
    assert [bool(np.sum(x) > 0) for x in XB] == [False, True, False]
    assert [int(_switch_index(x)) for x in XB] == [1, 3, -1]
    steps = [int(lax.while_loop(*_while_parts(w, x), (w, 0.0, 0))[2]) for w, x in zip(WB, XB)]
    assert steps == [4, 2, 3]


# ---------------------------------------------------------------------------------------
# Nested constructs


def scan_in_cond(w, x):
    inner = lambda u: lax.scan(lambda c, xi: (fnp.sin(c * w[0] + xi), c * xi), u, x)  # noqa: E731
    other = lambda u: (u * w[1], fnp.stack([u, u * w[0], u]))  # noqa: E731
    carry, ys = lax.cond(w[0] > x[0], inner, other, 0.3)
    return fnp.concatenate([fnp.reshape(carry, (1,)), ys])


def scan_in_cond_ref(w, x):
    if w[0] > x[0]:
        carry, ys = unrolled_scan(lambda c, xi: (fnp.sin(c * w[0] + xi), c * xi), 0.3, x)
    else:
        carry, ys = 0.3 * w[1], fnp.stack([0.3, 0.3 * w[0], 0.3])
    return fnp.concatenate([fnp.reshape(carry, (1,)), ys])


def _cond_step(w):
    def step(c, xi):
        c = lax.cond(xi > 0, lambda c: fnp.sin(c * w[0]), lambda c: c * c * w[1], c)
        return c, c * xi

    return step


def _cond_step_ref(w):
    def step(c, xi):
        c = fnp.sin(c * w[0]) if xi > 0 else c * c * w[1]
        return c, c * xi

    return step


def cond_in_scan(w, x):
    c, ys = lax.scan(_cond_step(w), 0.5, x)
    return fnp.concatenate([fnp.reshape(c, (1,)), ys])


def cond_in_scan_ref(w, x):
    c, ys = unrolled_scan(_cond_step_ref(w), 0.5, x)
    return fnp.concatenate([fnp.reshape(c, (1,)), ys])


def _outer_step(scan_fn):
    def step(c, xi):
        inner = lambda h, xj: (fnp.tanh(h * c + xj * xi), h * xj)  # noqa: E731
        h, ys = scan_fn(inner, c, np.array([0.4, -0.2]))
        return fnp.sin(h) + c, fnp.sum(ys)

    return step


def scan_in_scan(w, x):
    c, ys = lax.scan(_outer_step(lax.scan), w[0], x * w[1])
    return fnp.concatenate([fnp.reshape(c, (1,)), ys])


def scan_in_scan_ref(w, x):
    c, ys = unrolled_scan(_outer_step(unrolled_scan), w[0], x * w[1])
    return fnp.concatenate([fnp.reshape(c, (1,)), ys])


def jit_in_scan(w, x):
    step = jit(lambda c, xi: (fnp.sin(c * w) + xi, fnp.exp(c[0] * xi)))
    c, ys = lax.scan(step, w * 0.5, x)
    return fnp.concatenate([fnp.sin(c), ys])


def jit_in_scan_ref(w, x):
    c, ys = unrolled_scan(lambda c, xi: (fnp.sin(c * w) + xi, fnp.exp(c[0] * xi)), w * 0.5, x)
    return fnp.concatenate([fnp.sin(c), ys])


def scan_in_jit(w, x):
    # The primal output of the inner scan feeds a non-linear function inside the jit.
    return jit(lambda w, x: fnp.sin(scan_f(w, x)))(w, x)


def scan_in_jit_ref(w, x):
    return fnp.sin(scan_ref(w, x))


NESTED = {
    "scan_in_cond": (scan_in_cond, scan_in_cond_ref),
    "cond_in_scan": (cond_in_scan, cond_in_scan_ref),
    "scan_in_scan": (scan_in_scan, scan_in_scan_ref),
    "jit_in_scan": (jit_in_scan, jit_in_scan_ref),
    "scan_in_jit": (scan_in_jit, scan_in_jit_ref),
}
NESTED_TRANSFORMS = ["eval", "jit", "jvp", "grad", "jacrev", "jit_grad", "hessian", "vmap_grad"]


@pytest.mark.parametrize("transform", NESTED_TRANSFORMS)
@pytest.mark.parametrize("model", NESTED)
def test_nested_constructs_match_unrolled_python(model, transform):
    f, ref = NESTED[model]
    run, run_ref, _ = TRANSFORMS[transform]
    assert_tree_close(run(f), run_ref(ref))


@pytest.mark.parametrize("model", NESTED)
def test_nested_constructs_match_central_differences(model):
    check_grads(NESTED[model][0], (W, X), order=2)


def test_nested_models_take_both_branches():
    # cond_in_scan: the steps of X take both branches.
    assert sorted({bool(xi > 0) for xi in X}) == [False, True]
    # scan_in_cond: W, X take the scan; the rows of WB, XB (vmap_grad) both branches.
    assert W[0] > X[0] and [bool(w[0] > x[0]) for w, x in zip(WB, XB)] == [True, False, True]


# ---------------------------------------------------------------------------------------
# Semantics, one at a time


def test_scan_pytrees_of_carries_xs_and_ys():
    def step(carry, x):
        (a, b), d = carry, x["d"]
        return ((a + d, b * x["e"][0]), {"u": a * d, "v": (b, x["e"])})

    xs = {"d": np.arange(3.0), "e": np.arange(6.0).reshape(3, 2)}
    carry, ys = lax.scan(step, (1.0, 2.0), xs)
    ref_carry, ref_ys = unrolled_scan(step, (1.0, 2.0), xs)
    assert_tree_close(carry, ref_carry)
    assert_tree_close(ys, ref_ys)
    assert ys["v"][1].shape == (3, 2)


def test_scan_reverse_runs_from_the_last_element_and_keeps_ys_in_place():
    carry, ys = lax.scan(
        lambda c, x: (c * 10 + x, c), 0.0, np.array([1.0, 2.0, 3.0]), reverse=True
    )
    assert float(carry) == 321.0
    assert ys.tolist() == [32.0, 3.0, 0.0]


def test_scan_with_length_and_no_xs_and_no_ys():
    carry, ys = lax.scan(lambda c, _: (c * 2.0, None), 1.5, None, length=3)
    assert float(carry) == 12.0 and ys is None
    carry, ys = lax.scan(lambda c, _: (c + 1.0, c), 0.0, None, length=3)
    assert ys.tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("wrap", [lambda f: f, jit], ids=["eager", "jit"])
def test_scan_of_length_zero(wrap):
    def f(c, xs):
        return lax.scan(lambda c, x: (fnp.sin(c) * x, {"y": c * x}), c, xs)

    g = wrap(f)
    init, empty = np.array([0.5, -1.0]), np.zeros((0, 2))
    carry, ys = g(init, empty)
    assert_tree_close(carry, init)
    assert ys["y"].shape == (0, 2) and ys["y"].dtype == np.float64
    # The derivative of an empty loop is the identity.
    assert_tree_close(jacrev(lambda c: g(c, empty)[0])(init), np.eye(2))
    assert_tree_close(jacfwd(lambda c: g(c, empty)[0])(init), np.eye(2))
    assert grad(lambda xs: fnp.sum(g(init, xs)[0]))(empty).shape == (0, 2)
    batched = vmap(lambda c: g(c, empty))(np.ones((4, 2)))
    assert_tree_close(batched[0], np.ones((4, 2)))
    assert batched[1]["y"].shape == (4, 0, 2)
    assert_tree_close(lax.fori_loop(3, 1, lambda i, c: c + 1.0, 2.0), 2.0)  # empty range


SWITCH_FNS = [lambda x: x + 1.0, lambda x: fnp.sin(x), lambda x: -x * x]


@pytest.mark.parametrize("index", [-5, -1, 0, 1, 2, 3, 100])
def test_switch_clamps_its_index(index):
    clamped = min(max(index, 0), 2)
    expected = [3.0, np.sin(2.0), -4.0][clamped]
    assert_allclose(lax.switch(index, SWITCH_FNS, 2.0), expected)
    assert_allclose(jit(lambda i, x: lax.switch(i, SWITCH_FNS, x))(index, 2.0), expected)
    assert_allclose(
        grad(lambda x: lax.switch(index, SWITCH_FNS, x))(2.0), [1.0, np.cos(2.0), -4.0][clamped]
    )


def test_switch_clamps_a_batched_index():
    indices = np.array([-5, -1, 0, 1, 2, 3, 100])
    xs = np.linspace(-1.0, 1.0, 7)
    expected = [SWITCH_FNS[min(max(i, 0), 2)](x) for i, x in zip(indices, xs)]
    assert_allclose(vmap(lambda i, x: lax.switch(i, SWITCH_FNS, x))(indices, xs), expected)
    assert_allclose(
        jit(vmap(lambda i: lax.switch(i, SWITCH_FNS, 2.0)))(indices),
        [SWITCH_FNS[min(max(i, 0), 2)](2.0) for i in indices],
    )
    grads = vmap(grad(lambda x, i: lax.switch(i, SWITCH_FNS, x)))(xs, indices)
    assert_allclose(
        grads, [[1.0, np.cos(x), -2 * x][min(max(i, 0), 2)] for i, x in zip(indices, xs)]
    )


@pytest.mark.parametrize(
    "pred, taken",
    [
        (True, True),
        (False, False),
        (np.bool_(True), True),
        (2, True),
        (-1, True),
        (0, False),
        (np.int32(0), False),
        (np.uint8(3), True),
    ],
)
def test_cond_takes_boolean_and_integer_predicates(pred, taken):
    def f(p, x):
        return lax.cond(p, lambda x: x * x, lambda x: -x, x)

    expected = 9.0 if taken else -3.0
    assert float(f(pred, 3.0)) == expected
    assert float(jit(f)(pred, 3.0)) == expected
    assert float(grad(f, argnums=1)(pred, 3.0)) == (6.0 if taken else -1.0)


def test_cond_with_a_batched_integer_predicate_and_an_unbatched_one():
    f = lambda p, x: lax.cond(p, lambda x: x * x, lambda x: -x, x)  # noqa: E731
    preds, xs = np.array([3, 0, -2, 0]), np.array([1.0, 2.0, 3.0, 4.0])
    assert vmap(f)(preds, xs).tolist() == [1.0, -2.0, 9.0, -4.0]
    assert vmap(f, in_axes=(None, 0))(0, xs).tolist() == [-1.0, -2.0, -3.0, -4.0]
    assert vmap(f, in_axes=(0, None))(preds, 3.0).tolist() == [9.0, -3.0, 9.0, -3.0]
    assert vmap(f, in_axes=(0, None))(preds.astype(bool), 3.0).tolist() == [9.0, -3.0, 9.0, -3.0]


def test_integer_loop_counters_mixed_with_float_carries():
    def f(w):
        def step(carry, x):
            i, v = carry
            return (i + 1, v * w + i * x), i

        return lax.scan(step, (0, 1.0), np.array([1.0, 2.0, 3.0]))

    (count, value), ys = f(2.0)
    assert count.dtype == np.int64 and int(count) == 3
    assert ys.dtype == np.int64 and ys.tolist() == [0, 1, 2]
    # v = ((1 * w + 0) * w + 2) * w + 6 = w**3 + 2w + 6
    assert float(value) == 8.0 + 4.0 + 6.0
    assert float(grad(lambda w: f(w)[0][1])(2.0)) == 3 * 4.0 + 2.0
    counter = lax.fori_loop(0, 4, lambda i, c: (c[0] + i, c[1] * 1.5), (0, 1.0))
    assert counter[0].dtype == np.int64 and int(counter[0]) == 6
    assert counter[1] == 1.5**4
    # The index has the bounds' integer dtype.
    short = lax.fori_loop(np.int32(0), np.int32(4), lambda i, c: c + i, np.int32(0))
    assert short.dtype == np.int32 and int(short) == 6


def test_closures_over_traced_values_are_differentiated():
    # d/dw of w**3 built by each construct from a w it closes over.
    w = 1.7
    by_scan = lambda w: lax.scan(lambda c, _: (c * w, None), 1.0, None, length=3)[0]  # noqa: E731
    by_fori = lambda w: lax.fori_loop(0, 3, lambda i, c: c * w, 1.0)  # noqa: E731
    by_cond = lambda w: lax.cond(True, lambda: w * w * w, lambda: w)  # noqa: E731
    for f in (by_scan, by_fori, by_cond):
        assert_allclose(grad(f)(w), 3 * w**2)
        assert_allclose(grad(grad(f))(w), 6 * w)
        assert_allclose(jit(grad(f))(w), 3 * w**2)
        assert_allclose(vmap(grad(f))(np.array([w, 2.0])), [3 * w**2, 12.0])
    # The while body closes over w: 1 -> w -> w**2 -> w**3 >= 4 when w = 1.7.
    by_while = lambda w: lax.while_loop(lambda c: c < 4.0, lambda c: c * w, 1.0)  # noqa: E731
    assert_allclose(jvp(by_while, (w,), (1.0,))[1], 3 * w**2)
    assert_allclose(jacfwd(jacfwd(by_while))(w), 6 * w)
    # ... and so does its condition: stop at the first power above w**2.
    by_cond_fun = lambda w: lax.while_loop(lambda c: c < w * w, lambda c: c * 1.5, 1.0)  # noqa: E731
    assert float(by_cond_fun(w)) == 1.5**3 and float(jvp(by_cond_fun, (w,), (1.0,))[1]) == 0.0


FLOAT32_CASES = {
    "scan": lambda c: lax.scan(lambda c, x: (c * 2.0 + x, c * 0.5), c, np.ones(3, np.float32)),
    "fori_loop": lambda c: lax.fori_loop(0, 3, lambda i, c: fnp.sin(c) * 2.0 + 1, c),
    "while_loop": lambda c: lax.while_loop(lambda c: c < 10.0, lambda c: c * 2.0 + 1.0, c),
    "cond": lambda c: lax.cond(c > 0, lambda c: c * 2.0, lambda c: c + 1, c),
    "switch": lambda c: lax.switch(1, [lambda c: c, lambda c: fnp.sin(c) * 3.0], c),
    "map": lambda c: lax.map(lambda r: r * 0.5 + 1.0, fnp.stack([c, c])),
}


@pytest.mark.parametrize("name", FLOAT32_CASES)
def test_float32_stays_float32(name):
    f = FLOAT32_CASES[name]
    x = np.float32(1.25)
    for out in tree_leaves(f(x)) + tree_leaves(jit(f)(x)):
        assert np.asarray(out).dtype == np.float32
    for out in tree_leaves(vmap(f)(np.array([1.25, 2.0], np.float32))):
        assert out.dtype == np.float32
    first = lambda c: tree_leaves(f(c))[0]  # noqa: E731
    assert np.asarray(jvp(first, (x,), (np.float32(1.0),))[1]).dtype == np.float32
    if name != "while_loop":
        assert np.asarray(grad(lambda c: fnp.sum(first(c)))(x)).dtype == np.float32


def test_map_is_a_loop_over_the_leading_axis():
    xs = np.arange(6.0).reshape(3, 2)
    out = lax.map(lambda r: {"s": fnp.sum(r), "p": r * r}, xs)
    assert out["s"].tolist() == [1.0, 5.0, 9.0]
    assert_tree_close(out["p"], xs * xs)
    assert_tree_close(jacrev(lambda xs: lax.map(fnp.sin, xs))(xs[0]), np.diag(np.cos(xs[0])))


@settings(max_examples=8)
@given(
    length=st.integers(0, 4),
    reverse=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_scan_matches_its_loop_for_any_length_and_direction(length, reverse, seed):
    rng = np.random.default_rng(seed)
    xs, w = rng.standard_normal((length, 2)), rng.standard_normal(2)

    def step(c, x):
        c = fnp.sin(c * w + x) + 0.5 * c
        return c, fnp.sum(c * x)

    def f(c, xs):
        carry, ys = lax.scan(step, c, xs, reverse=reverse)
        return fnp.sum(carry) + fnp.sum(ys * ys)

    def ref(c, xs):
        carry, ys = unrolled_scan(step, c, xs, reverse=reverse)
        return fnp.sum(carry) + (0.0 if ys is None else fnp.sum(ys * ys))

    c = rng.standard_normal(2)
    assert_tree_close(f(c, xs), ref(c, xs))
    assert_tree_close(grad(f, argnums=(0, 1))(c, xs), grad(ref, argnums=(0, 1))(c, xs))
    assert_tree_close(jit(f)(c, xs), ref(c, xs))


# ---------------------------------------------------------------------------------------
# while_loop and fori_loop


def _double_until(c):
    return lax.while_loop(lambda c: c[0] < 10.0, lambda c: (c[0] * 2.0 + c[1], c[1] * 0.5), c)


@pytest.mark.parametrize("transformation", [grad, jacrev, lambda f: lambda x: vjp(f, x)[1](1.0)])
def test_while_loop_reverse_mode_raises_naming_fori_loop_and_scan(transformation):
    with pytest.raises(NonLinearError) as info:
        transformation(lambda x: _double_until((x, 1.0))[0])(1.0)
    message = str(info.value)
    assert "while_loop" in message and "fori_loop" in message and "scan" in message


def test_while_loop_forward_mode_matches_the_unrolled_loop():
    x = 1.3
    c = (x, 1.0)
    while c[0] < 10.0:
        c = (c[0] * 2.0 + c[1], c[1] * 0.5)
    assert_tree_close(_double_until((x, 1.0)), c)
    # From (x, y) the loop runs 3 steps (1.3, 3.6, 7.7, 15.65):
    # c0 = 8x + 4y + 2 (y / 2) + y / 4 = 8x + 5.25y and c1 = y / 8.
    assert_allclose(c[0], 8 * x + 5.25)
    primal, tangent = jvp(lambda x: _double_until((x, 1.0))[0], (x,), (1.0,))
    assert_allclose(primal, c[0])
    assert_allclose(tangent, 8.0)
    # linearize stages the loop whole into its linear function, which runs forward.
    _, linear = linearize(lambda x: _double_until((x, 1.0))[0], x)
    assert_allclose(linear(2.0), 16.0)
    jac = jacfwd(lambda v: fnp.stack(_double_until((v[0], v[1]))))(np.array([x, 1.0]))
    assert_allclose(jac, [[8.0, 5.25], [0.0, 0.125]])


def test_while_loop_with_a_batched_predicate_runs_each_example_to_its_own_end():
    starts = np.array([0.5, 3.0, 20.0, 1.1])
    counted = lambda x: lax.while_loop(  # noqa: E731
        lambda c: c[0] < 10.0, lambda c: (c[0] * 2.0 + 0.25, c[1] + 1), (x, 0)
    )
    values, steps = vmap(counted)(starts)
    for x, v, n in zip(starts, values, steps):
        alone = counted(x)
        assert float(v) == float(alone[0]) and int(n) == int(alone[1])
    assert steps.tolist() == [4, 2, 0, 3]  # each example stops at its own step count
    assert_tree_close(jit(vmap(counted))(starts), (values, steps))
    # The tangent of an example is that of its own run: (2**n) for n steps.
    tangents = vmap(lambda x: jvp(lambda x: counted(x)[0], (x,), (1.0,))[1])(starts)
    assert tangents.tolist() == [2.0**n for n in steps.tolist()]
    # A condition closing over a batched value (and a body closing over another).
    limits = np.array([0.5, 2.5, 4.0])
    up_to = lambda lim, s: lax.while_loop(lambda c: c < lim, lambda c: c + s, 0.0)  # noqa: E731
    assert vmap(up_to, in_axes=(0, None))(limits, 1.0).tolist() == [1.0, 3.0, 4.0]
    assert vmap(up_to)(limits, np.array([1.0, 2.0, 0.5])).tolist() == [1.0, 4.0, 4.0]


def test_while_loop_batched_only_in_its_body_constants():
    # The condition does not see the batch: every example runs the same 3 steps.
    f = lambda w: lax.while_loop(lambda c: c[1] < 3, lambda c: (c[0] * w, c[1] + 1), (1.0, 0))  # noqa: E731
    values, steps = vmap(f)(np.array([0.0, 1.0, 2.0]))
    assert values.tolist() == [0.0, 1.0, 8.0] and steps.tolist() == [3, 3, 3]


def test_fori_loop_with_static_bounds_is_a_scan_and_reverse_differentiable():
    body = lambda i, c: fnp.sin(c) * 0.5 + c * i  # noqa: E731
    f = lambda x: lax.fori_loop(2, 5, body, x)  # noqa: E731

    def ref(x):
        for i in range(2, 5):
            x = body(i, x)
        return x

    assert "scan" in str(make_jaxpr(f)(0.3)) and "while" not in str(make_jaxpr(f)(0.3))
    assert_allclose(f(0.3), ref(0.3))
    assert_allclose(grad(f)(0.3), grad(ref)(0.3))
    assert_allclose(jacrev(jacrev(f))(0.3), grad(grad(ref))(0.3))
    check_grads(f, (0.3,), order=2)


def test_fori_loop_with_traced_bounds_is_a_while_loop():
    body = lambda i, c: fnp.sin(c) + c * i  # noqa: E731

    def ref(lower, upper, x):
        for i in range(lower, upper):
            x = body(i, x)
        return x

    f = jit(lambda lo, hi, x: lax.fori_loop(lo, hi, body, x))
    assert "while" in str(make_jaxpr(lambda lo, hi, x: lax.fori_loop(lo, hi, body, x))(1, 4, 0.3))
    for lower, upper in [(1, 4), (0, 2), (3, 3), (5, 2)]:
        assert_allclose(f(lower, upper, 0.3), ref(lower, upper, 0.3))
    tangent = jit(lambda hi, x: jvp(lambda x: lax.fori_loop(0, hi, body, x), (x,), (1.0,))[1])
    assert_allclose(tangent(4, 0.3), grad(lambda x: ref(0, 4, x))(0.3))
    assert_allclose(
        jit(lambda hi, x: jacfwd(lambda x: lax.fori_loop(0, hi, body, x))(x))(4, 0.3),
        numerical_jvp(lambda x: ref(0, 4, x), (0.3,), (1.0,)),
        rtol=1e-6,
    )
    # A batch of upper bounds: a batched condition that closes over the bound.
    uppers, starts = np.array([1, 3, 0, 5]), np.array([0.3, 0.1, 0.2, -0.3])
    batched = jit(vmap(lambda hi, x: lax.fori_loop(0, hi, body, x)))(uppers, starts)
    assert_allclose(batched, [ref(0, hi, x) for hi, x in zip(uppers, starts)])
    with pytest.raises(NonLinearError, match="fori_loop"):
        jit(lambda hi, x: grad(lambda x: lax.fori_loop(0, hi, body, x))(x))(4, 0.3)
    # The index has the bounds' dtype.
    seen = []

    def record(i, c):
        seen.append(i.dtype)
        return c + i

    out = jit(lambda hi: lax.fori_loop(np.int32(1), hi, record, np.int32(0)))(np.int32(4))
    assert seen == [np.dtype(np.int32)] and out.dtype == np.int32 and int(out) == 6


# ---------------------------------------------------------------------------------------
# jit: one generated body, called by a loop


def _count_eqns(closed) -> int:
    return sum(
        1 + sum(_count_eqns(sub) for sub in subjaxprs(eqn.params)) for eqn in closed.jaxpr.eqns
    )


def _long_scan(steps):
    def f(w, xs):
        c, ys = lax.scan(lambda c, x: (c + 0.001 * fnp.sin(c * w + x), c * x), 0.5, xs)
        return c + 0.001 * fnp.sum(ys)

    return f, np.linspace(-1.0, 1.0, steps)


@pytest.mark.parametrize(
    "make",
    [
        lambda n: (lambda x: lax.fori_loop(0, n, lambda i, c: c + 0.001 * fnp.sin(c * i), x), 0.3),
        lambda n: (_long_scan(n)[0], 0.7, _long_scan(n)[1]),
        lambda n: (grad(_long_scan(n)[0]), 0.7, _long_scan(n)[1]),
    ],
    ids=["fori_loop", "scan", "grad_of_scan"],
)
def test_jit_program_size_does_not_depend_on_the_step_count(make):
    (f, *args_10), (g, *args_1000) = make(10), make(1000)
    short, long = jit(f).lower(*args_10), jit(g).lower(*args_1000)
    assert _count_eqns(short.jaxpr) == _count_eqns(long.jaxpr)
    # Only the step count differs: "10" against "1000", once in each loop's call.
    loops = [e for e in short.jaxpr.jaxpr.eqns if e.primitive.name == "scan"]
    assert loops and all(e.params["length"] == 10 for e in loops)
    assert len(long.as_text()) - len(short.as_text()) == 2 * len(loops)


def test_jit_grad_of_a_thousand_step_scan_matches_central_differences():
    f, xs = _long_scan(1000)
    w = 0.7
    g_w, g_xs = jit(grad(f, argnums=(0, 1)))(w, xs)
    f_jit = jit(f)
    assert_allclose(g_w, numerical_jvp(f_jit, (w, xs), (1.0, np.zeros(1000))), rtol=1e-6)
    direction = np.random.default_rng(0).standard_normal(1000)
    assert_allclose(
        np.dot(g_xs, direction),
        numerical_jvp(f_jit, (w, xs), (0.0, direction)),
        rtol=1e-6,
    )
    assert_allclose(g_w, grad(f)(w, xs), rtol=1e-12)


@pytest.mark.parametrize(
    "f, args, kinds",
    [
        (
            lambda x: lax.scan(lambda c, y: (fnp.sin(c) + y, c), x, np.ones(3)),
            (0.5,),
            ["scan_body"],
        ),
        (lambda x: lax.cond(x > 0, fnp.sin, fnp.cos, x), (0.5,), ["branch", "branch"]),
        (
            lambda x: lax.while_loop(lambda c: c < 5.0, lambda c: fnp.exp(c), x),
            (0.5,),
            ["while_cond", "while_body"],
        ),
    ],
    ids=["scan", "cond", "while_loop"],
)
def test_jit_generates_a_function_for_each_body(f, args, kinds, monkeypatch):
    text = jit(f).lower(*args).as_text()
    defs = re.findall(r"^def (\w+)\(", text, re.MULTILINE)
    for kind in kinds:
        bodies = [d for d in defs if kind in d]
        assert bodies, (kind, text)
        for name in bodies:  # called, by name, from the program
            assert re.search(rf"[(,] ?{name}\b", text), (name, text)
    # The body's operations are lines of its own function.
    body = text.split(f"def {[d for d in defs if kinds[-1] in d][0]}(")[1].split("\ndef ")[0]
    assert re.search(r"_(sin|exp|cos)\d*\(", body), body
    # Once compiled, running it interprets no program.
    compiled, expected = jit(f), f(*args)
    compiled(*args)

    def interpret(*_):
        raise AssertionError("a jaxpr was interpreted")

    for module in (core, subprograms, control_flow):
        monkeypatch.setattr(module, "eval_jaxpr", interpret)
    assert_tree_close(compiled(*args), expected)


# ---------------------------------------------------------------------------------------
# Errors


def _raises(error, pattern, fn):
    with pytest.raises(error, match=pattern):
        fn()


def test_branches_must_return_the_same_structure_and_types():
    same = "must return the same pytree of the same shapes and dtypes"
    _raises(
        FungradTypeError,
        f"cond: false_fun and true_fun {same}.*PyTreeDef\\(\\(\\*, \\*\\)\\)",
        lambda: lax.cond(True, lambda x: (x, x), lambda x: x, 1.0),
    )
    _raises(
        FungradTypeError,
        f"cond: false_fun and true_fun {same}.*f32\\[\\].*f64\\[\\]",
        lambda: lax.cond(True, lambda x: x, lambda x: fnp.asarray(x, np.float32), 1.0),
    )
    _raises(
        FungradTypeError,
        f"{same}.*f64\\[2\\].*f64\\[\\]",
        lambda: lax.cond(True, lambda x: x[0], lambda x: x, np.ones(2)),
    )
    _raises(
        FungradTypeError,
        f"switch: branches\\[0\\] and branches\\[2\\] {same}",
        lambda: lax.switch(0, [lambda x: x, lambda x: x, lambda x: {"a": x}], 1.0),
    )
    # A Python scalar result is float64, as NumPy makes it, whatever the other branch.
    _raises(
        FungradTypeError,
        f"{same}.*f32\\[\\].*f64\\[\\]",
        lambda: lax.cond(True, lambda x: 1.0, lambda x: x, np.float32(2.0)),
    )
    # ... but a weak scalar combined with an operand takes the operand's type.
    assert lax.cond(True, lambda x: x * 2.0, lambda x: x, np.float32(2.0)).dtype == np.float32


def test_loop_bodies_must_return_a_carry_of_the_same_type():
    shapes = "must return a carry of the same shapes and dtypes as its input carry"
    _raises(
        FungradTypeError,
        f"scan: f {shapes}: init is f64\\[\\] in and f64\\[2\\] out",
        lambda: lax.scan(lambda c, x: (c + x, c), 0.0, np.ones((3, 2))),
    )
    _raises(
        FungradTypeError,
        f"scan: f {shapes}: init\\[1\\] is i64\\[\\] in and f64\\[\\] out",
        lambda: lax.scan(lambda c, x: ((c[0], c[1] * x), None), (0.0, 0), np.ones(3)),
    )
    _raises(
        FungradTypeError,
        "scan: f must return a carry of the same pytree structure",
        lambda: lax.scan(lambda c, x: ((c, c), c), 0.0, np.ones(3)),
    )
    _raises(
        FungradTypeError,
        r"scan: f must return a pair \(new_carry, y\), got an array f64\[\]$",
        lambda: lax.scan(lambda c, x: c, 0.0, np.ones(3)),
    )
    _raises(
        FungradTypeError,
        r"must return a pair \(new_carry, y\), got a tuple of length 3",
        lambda: lax.scan(lambda c, x: (c, c, c), 0.0, np.ones(3)),
    )
    _raises(
        FungradTypeError,
        f"while_loop: body_fun {shapes}: init_val is f32\\[\\] in and f64",
        lambda: lax.while_loop(
            lambda c: c < 1.0, lambda c: fnp.asarray(c, np.float64), np.float32(0.0)
        ),
    )
    _raises(
        FungradTypeError,
        "while_loop: body_fun must return a carry of the same pytree",
        lambda: lax.while_loop(lambda c: c < 1.0, lambda c: [c], 0.0),
    )
    # fori_loop names its own arguments, not those of the scan or while_loop it becomes.
    _raises(
        FungradTypeError,
        f"fori_loop: body_fun {shapes}: init_val is f64\\[\\] in and f64\\[2\\]",
        lambda: lax.fori_loop(0, 2, lambda i, c: c * np.ones(2), 0.0),
    )
    _raises(
        FungradTypeError,
        f"fori_loop: body_fun {shapes}: init_val\\['a'\\] is f32",
        lambda: jit(
            lambda n: lax.fori_loop(
                0, n, lambda i, c: {"a": c["a"] * 2.0 + i}, {"a": np.float32(1.0)}
            )
        )(3),
    )
    _raises(
        FungradTypeError,
        "fori_loop: body_fun must return a carry of the same pytree",
        lambda: lax.fori_loop(0, 2, lambda i, c: (c, c), 0.0),
    )
    _raises(
        FungradTypeError,
        "fori_loop: body_fun returned a str, which is not an array",
        lambda: lax.fori_loop(0, 2, lambda i, c: "c", 0.0),
    )
    _raises(
        FungradTypeError,
        "returned a str, which is not an array",
        lambda: lax.scan(lambda c, x: (c, "y"), 0.0, np.ones(3)),
    )


def test_scan_needs_xs_of_one_length_or_a_length():
    _raises(
        ShapeError,
        "same leading axis length: xs\\[0\\] has 3, xs\\[1\\] has 4",
        lambda: lax.scan(lambda c, x: (c, c), 0.0, (np.ones(3), np.ones(4))),
    )
    _raises(
        ShapeError,
        "xs has 3, length has 5",
        lambda: lax.scan(lambda c, x: (c, c), 0.0, np.ones(3), length=5),
    )
    _raises(
        FungradTypeError,
        "pass xs with a leading axis, or length= when xs is None",
        lambda: lax.scan(lambda c, x: (c, c), 0.0),
    )
    _raises(
        ShapeError,
        "xs\\['a'\\] is a scalar; every leaf of xs needs a leading axis",
        lambda: lax.scan(lambda c, x: (c, c), 0.0, {"a": 1.0}),
    )


def test_predicates_and_indices_must_be_integer_or_boolean_scalars():
    _raises(
        FungradTypeError,
        r"cond: pred must be a boolean or integer scalar, got f64\[\]",
        lambda: lax.cond(1.0, lambda: 1.0, lambda: 0.0),
    )
    _raises(
        FungradTypeError,
        r"cond: pred must be a boolean or integer scalar, got bool\[2\]",
        lambda: lax.cond(np.array([True, False]), lambda: 1.0, lambda: 0.0),
    )
    _raises(
        FungradTypeError,
        r"switch: the index must be an integer scalar, got f64\[\]",
        lambda: lax.switch(1.0, [lambda: 1.0]),
    )
    _raises(
        FungradTypeError,
        r"switch: the index must be an integer scalar, got i64\[2\]",
        lambda: lax.switch(np.array([0, 1]), [lambda: 1.0]),
    )
    _raises(
        FungradTypeError,
        r"fori_loop: upper must be an integer scalar, got f64\[\]",
        lambda: lax.fori_loop(0, 3.0, lambda i, c: c, 0.0),
    )
    # ... also when the predicate is traced.
    _raises(
        FungradTypeError,
        r"cond: pred must be a boolean or integer scalar, got f64\[\]",
        lambda: jit(lambda x: lax.cond(x, lambda: 1.0, lambda: 0.0))(1.0),
    )


def test_while_condition_must_return_a_boolean_scalar():
    for bad, shown in [
        (lambda c: c, "f64\\[\\]"),
        (lambda c: c > np.zeros(2), "bool\\[2\\]"),
        (lambda c: fnp.asarray(c, np.int64), "i64\\[\\]"),
    ]:
        _raises(
            FungradTypeError,
            f"while_loop: cond_fun must return a boolean scalar, got {shown}",
            lambda bad=bad: lax.while_loop(bad, lambda c: c - 1.0, 3.0),
        )


def test_functions_must_be_callable():
    _raises(
        FungradTypeError,
        "cond: true_fun and false_fun must be functions",
        lambda: lax.cond(True, 1.0, lambda: 0.0),
    )
    _raises(
        FungradTypeError,
        r"switch: branches\[1\] is a float, not a function",
        lambda: lax.switch(0, [lambda: 0.0, 1.0]),
    )
    _raises(
        FungradTypeError,
        "switch: branches must be a non-empty sequence",
        lambda: lax.switch(0, []),
    )
    _raises(
        FungradTypeError,
        "scan: f must be a function, got int",
        lambda: lax.scan(3, 0.0, np.ones(2)),
    )
    _raises(
        FungradTypeError,
        "while_loop: cond_fun and body_fun must be functions",
        lambda: lax.while_loop(lambda c: c < 1.0, None, 0.0),
    )
    _raises(
        FungradTypeError,
        "fori_loop: body_fun must be a function",
        lambda: lax.fori_loop(0, 2, "body", 0.0),
    )


# ---------------------------------------------------------------------------------------
# make_jaxpr prints the sub-programs, indented


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


@pytest.mark.parametrize(
    "f, inner",
    [
        (lambda x: lax.scan(lambda c, y: (fnp.sin(c) * y, c), x, np.ones(3)), ["sin", "mul"]),
        (lambda x: lax.cond(x > 0, fnp.exp, fnp.tanh, x), ["exp", "tanh"]),
        (lambda x: lax.while_loop(lambda c: c < 5.0, fnp.exp, x), ["lt", "exp"]),
        (lambda x: lax.fori_loop(0, 3, lambda i, c: fnp.cos(c), x), ["cos"]),
    ],
    ids=["scan", "cond", "while_loop", "fori_loop"],
)
def test_make_jaxpr_prints_sub_programs_indented(f, inner):
    text = str(make_jaxpr(f)(0.5))
    lines = text.splitlines()
    top = _indent(lines[1])  # the first equation of the outer program
    for prim in inner:
        found = [ln for ln in lines if re.search(rf"= {prim}\b", ln)]
        assert found, (prim, text)
        assert all(_indent(ln) > top for ln in found), text
    # The nested program opens inside the equation that carries it.
    assert re.search(r"(jaxpr|branches)=\(?\{ lambda", text)


def test_make_jaxpr_of_a_scan_nested_in_a_cond_nests_twice():
    def f(x):
        return lax.cond(
            x > 0,
            lambda x: lax.scan(lambda c, y: (fnp.sin(c), y), x, np.ones(2))[0],
            lambda x: x,
            x,
        )

    lines = str(make_jaxpr(f)(0.5)).splitlines()
    sin_line = next(ln for ln in lines if "= sin" in ln)
    scan_line = next(ln for ln in lines if "= scan[" in ln)
    cond_line = next(ln for ln in lines if "= cond[" in ln)
    assert _indent(sin_line) > _indent(scan_line) > _indent(cond_line)
