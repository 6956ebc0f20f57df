"""checkpoint / remat: the same numbers under every transformation, less saved for the
backward pass, and the recomputation visible in the linearized program."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import fungrad
import fungrad.numpy as fnp
from fungrad import checkpoint, checkpoint_policies, remat
from fungrad.errors import FungradTypeError
from fungrad.test_util import check_grads

POLICIES = [
    None,
    checkpoint_policies.nothing_saveable,
    checkpoint_policies.everything_saveable,
    checkpoint_policies.dots_saveable,
    checkpoint_policies.dots_with_no_batch_dims_saveable,
    checkpoint_policies.save_only_these_primitives("tanh"),
    checkpoint_policies.save_anything_except_these_names("tanh"),
]


def layer(w, x):
    return fnp.tanh(x @ w) * fnp.sin(x @ w)


def network(ws, x, policy="none"):
    for w in ws:
        x = layer(w, x) if policy == "none" else checkpoint(layer, policy=policy)(w, x)
    return fnp.sum(x**2)


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    ws = [rng.normal(size=(4, 4)) / 2 for _ in range(3)]
    x = rng.normal(size=(5, 4))
    return ws, x


@pytest.mark.parametrize("policy", POLICIES, ids=repr)
def test_gradient_is_the_unchecked_one_for_every_policy(problem, policy):
    ws, x = problem
    want = fungrad.grad(network, argnums=(0, 1))(ws, x)
    got = fungrad.grad(lambda ws, x: network(ws, x, policy), argnums=(0, 1))(ws, x)
    for a, b in zip(fungrad.tree_util.tree_leaves(got), fungrad.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_derivatives_match_central_differences_to_second_order(problem):
    ws, x = problem
    f = checkpoint(lambda w, x: fnp.sum(layer(w, layer(w, x)) ** 2))
    check_grads(f, (ws[0], x), order=2)


@pytest.mark.parametrize(
    "transform",
    ["jit_grad", "grad_jit", "vmap_grad", "grad_vmap", "jacfwd", "jacrev", "hessian", "jvp"],
)
def test_agrees_with_the_plain_function_under_transformations(transform):
    def plain(x):
        return fnp.sin(fnp.cos(x) * x)

    ck = checkpoint(plain)
    x = np.linspace(-1.0, 1.5, 4)

    def apply(f):
        if transform == "jit_grad":
            return fungrad.jit(fungrad.grad(lambda x: fnp.sum(f(x))))(x)
        if transform == "grad_jit":
            return fungrad.grad(fungrad.jit(lambda x: fnp.sum(f(x))))(x)
        if transform == "vmap_grad":
            return fungrad.vmap(fungrad.grad(f))(x)
        if transform == "grad_vmap":
            return fungrad.grad(lambda x: fnp.sum(fungrad.vmap(f)(x)))(x)
        if transform == "jvp":
            return fungrad.jvp(f, (x,), (x + 1.0,))
        return getattr(fungrad, transform)(f)(x)

    for a, b in zip(
        fungrad.tree_util.tree_leaves(apply(ck)), fungrad.tree_util.tree_leaves(apply(plain))
    ):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_linearized_program_shows_the_recomputation():
    f = checkpoint(lambda x: fnp.sin(fnp.sin(x)))
    _, f_jvp = fungrad.linearize(f, 1.0)
    printed = str(fungrad.make_jaxpr(f_jvp)(1.0))
    # The tangent program recomputes sin(x) (the inner value it did not save) inside
    # the checkpoint equation, from the saved input alone.
    assert "checkpoint[" in printed
    assert "sin" in printed.split("checkpoint[", 1)[1]
    assert "policy=nothing_saveable" in printed
    # Without checkpoint, the same program has no sin: it reads saved cosines.
    plain = str(fungrad.make_jaxpr(fungrad.linearize(lambda x: fnp.sin(fnp.sin(x)), 1.0)[1])(1.0))
    assert "sin" not in plain


def test_saved_values_follow_the_policy():
    def f(w, x):
        return fnp.sum(fnp.tanh(x @ w))

    w, x = np.ones((3, 3)), np.ones((2, 3))

    def linear_program(policy):
        _, f_jvp = fungrad.linearize(checkpoint(f, policy=policy), w, x)
        return fungrad.make_jaxpr(f_jvp)(w, x)

    # dots_saveable: the product is saved (a constant of the linear program) and not
    # recomputed; nothing_saveable: the product is recomputed inside the checkpoint.
    saved = linear_program(checkpoint_policies.dots_saveable)
    (eqn,) = [e for e in saved.eqns if e.primitive.name == "checkpoint"]
    inner = [e.primitive.name for e in eqn.params["jaxpr"].eqns]
    assert "tanh" in inner and inner.count("dot_general") == 2  # the two tangent products
    recomputed = linear_program(checkpoint_policies.nothing_saveable)
    (eqn,) = [e for e in recomputed.eqns if e.primitive.name == "checkpoint"]
    inner = [e.primitive.name for e in eqn.params["jaxpr"].eqns]
    assert inner.count("dot_general") == 3  # the forward product, recomputed
    everything = linear_program(checkpoint_policies.everything_saveable)
    (eqn,) = [e for e in everything.eqns if e.primitive.name == "checkpoint"]
    assert "tanh" not in [e.primitive.name for e in eqn.params["jaxpr"].eqns]


def _peak_bytes(fn, *args):
    tracemalloc.start()
    try:
        fn(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_checkpointing_each_layer_lowers_the_peak_memory_of_a_gradient():
    rng = np.random.default_rng(1)
    ws = [rng.normal(size=(64, 64)) / 8 for _ in range(12)]
    x = rng.normal(size=(256, 64))
    plain = fungrad.value_and_grad(network)
    checked = fungrad.value_and_grad(lambda ws, x: network(ws, x, None))
    plain(ws, x), checked(ws, x)  # warm caches
    assert _peak_bytes(checked, ws, x) < 0.85 * _peak_bytes(plain, ws, x)


def test_remat_is_checkpoint_and_pytrees_and_static_arguments_work():
    assert remat is checkpoint

    def f(params, n, scale):
        return fnp.sum(params["w"] ** n) * scale

    ck = checkpoint(f, static_argnums=(1,))
    params = {"w": np.arange(1.0, 4.0)}
    got = fungrad.grad(ck)(params, 3, 2.0)
    np.testing.assert_allclose(got["w"], 6.0 * params["w"] ** 2)


def test_closure_over_a_traced_value():
    def outer(a, x):
        return checkpoint(lambda x: fnp.sin(a * x))(x)

    got = fungrad.grad(outer, argnums=(0, 1))(0.7, 1.3)
    np.testing.assert_allclose(got, (1.3 * np.cos(0.91), 0.7 * np.cos(0.91)))


def test_errors_name_what_is_wrong():
    with pytest.raises(FungradTypeError, match="expected a function"):
        checkpoint(3.0)
    with pytest.raises(FungradTypeError, match="policy must be a function"):
        checkpoint(lambda x: x, policy="dots")
    with pytest.raises(FungradTypeError, match="static_argnums"):
        checkpoint(lambda x, s: x)(1.0, "relu")


def test_checkpoint_around_control_flow_to_second_order():
    # A loop inside a checkpoint is split by its own rule, then recomputed: reverse
    # mode and its derivatives agree with the plain function and central differences.
    def f(w, x):
        def body(c, _):
            return fnp.sin(c * w), None

        return fungrad.lax.scan(body, x, None, length=3)[0]

    for transform in (fungrad.grad, fungrad.hessian):
        np.testing.assert_allclose(
            transform(checkpoint(f), argnums=(0, 1))(0.7, 0.3),
            transform(f, argnums=(0, 1))(0.7, 0.3),
            rtol=1e-12,
        )
    check_grads(checkpoint(f), (0.7, 0.3), order=2)
