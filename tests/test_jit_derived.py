"""Transformations of a jitted function stay compiled: ``grad(jit(f))``, ``jvp(jit(f))``
and ``vmap(jit(f))`` bind the call primitive on programs derived from f's (its jvp, its
known and unknown parts, its transpose, its batched form), each compiled once."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import fungrad
import fungrad.numpy as fnp

fjit = importlib.import_module("fungrad.jit")  # the module (fungrad.jit is the function)


def loss(w, x):
    return fnp.sum(fnp.tanh(x @ w) ** 2) + fnp.sum(fnp.sin(w))


@pytest.fixture
def args():
    rng = np.random.default_rng(0)
    return rng.normal(size=(4, 3)), rng.normal(size=(5, 4))


def _top_level(jaxpr):
    return [e.primitive.name for e in jaxpr.eqns]


def test_grad_of_jit_is_a_compiled_forward_and_a_compiled_backward(args):
    jitted = fungrad.jit(loss)
    got = fungrad.grad(jitted, argnums=(0, 1))(*args)
    want = fungrad.grad(loss, argnums=(0, 1))(*args)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    program = fungrad.make_jaxpr(fungrad.grad(jitted))(*args)
    names = _top_level(program)
    assert names.count("jit") == 2, program  # the known part, and the transposed linear part
    assert "dot_general" not in names and "tanh" not in names, program
    calls = [e.params["name"] for e in program.eqns if e.primitive.name == "jit"]
    assert calls[0].startswith("known_") and calls[1].startswith("transpose_"), calls


def test_derived_programs_are_compiled_once(args, monkeypatch):
    jitted = fungrad.jit(loss)
    g = fungrad.value_and_grad(jitted)
    first = g(*args)
    generated = []
    original = fjit.generate
    monkeypatch.setattr(fjit, "generate", lambda *a, **k: generated.append(a) or original(*a, **k))
    for _ in range(3):
        again = g(*args)
    assert generated == [], f"{len(generated)} programs compiled again"
    np.testing.assert_allclose(again[0], first[0])
    np.testing.assert_allclose(again[1], first[1])


@pytest.mark.parametrize("kind", ["jvp", "vmap"])
def test_jvp_and_vmap_of_jit_stay_compiled(args, kind):
    jitted = fungrad.jit(loss)
    w, x = args
    if kind == "jvp":
        got = fungrad.jvp(jitted, (w, x), (w, x))
        want = fungrad.jvp(loss, (w, x), (w, x))
        program = fungrad.make_jaxpr(lambda w, x: fungrad.jvp(jitted, (w, x), (w, x)))(w, x)
    else:
        xs = np.stack([x, 2 * x, -x])
        got = fungrad.vmap(jitted, (None, 0))(w, xs)
        want = fungrad.vmap(loss, (None, 0))(w, xs)
        program = fungrad.make_jaxpr(fungrad.vmap(jitted, (None, 0)))(w, xs)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert _top_level(program) == ["jit"], program


@pytest.mark.parametrize("transform", ["hessian", "jacfwd", "jacrev"])
def test_higher_order_and_jacobians_of_jit(args, transform):
    w, x = args

    def f(w):
        return loss(w, x)

    got = getattr(fungrad, transform)(fungrad.jit(f))(w)
    want = getattr(fungrad, transform)(f)(w)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_grad_of_jit_closing_over_a_traced_value(args):
    w, x = args

    def outer(scale):
        inner = fungrad.jit(lambda w: loss(w * scale, x))
        return fungrad.grad(inner)(w).sum()

    def outer_plain(scale):
        return fungrad.grad(lambda w: loss(w * scale, x))(w).sum()

    np.testing.assert_allclose(
        fungrad.grad(outer)(1.3), fungrad.grad(outer_plain)(1.3), rtol=1e-10
    )


def test_grad_of_jit_with_integer_and_unused_inputs():
    def f(x, n, unused):
        return fnp.sum(x**n)

    jitted = fungrad.jit(f)
    x = np.arange(1.0, 4.0)
    np.testing.assert_allclose(fungrad.grad(jitted)(x, 3, 2.0), 3 * x**2)
    np.testing.assert_allclose(fungrad.grad(jitted, argnums=2)(x, 3, 2.0), 0.0)
