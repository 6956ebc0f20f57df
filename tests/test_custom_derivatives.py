"""Tests of custom_jvp, custom_vjp and closure_convert (fungrad/custom_derivatives.py).

Values and derivatives are checked against analytic answers and central differences,
under every transformation and their compositions; the errors are pinned by text.
The primitives themselves (custom_jvp_call, custom_vjp_call, custom_lin) also have
rows in tests/test_primitives.py.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import fungrad
import fungrad.numpy as fnp
from fungrad import custom_jvp, custom_vjp
from fungrad.custom_derivatives import SymbolicZero
from fungrad.test_util import check_grads, numerical_jacobian

X = np.array([0.3, -1.2, 2.0])
Y = np.array([1.5, 0.5, -2.0])


# ---------------------------------------------------------------------------------------
# Functions used throughout


@custom_jvp
def log1pexp(x):
    return fnp.log1p(fnp.exp(x))


@log1pexp.defjvp
def log1pexp_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return log1pexp(x), t * (1.0 - 1.0 / (1.0 + fnp.exp(x)))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@custom_vjp
def sin_times(x, y):
    return fnp.sin(x) * y


def sin_times_fwd(x, y):
    return fnp.sin(x) * y, (fnp.cos(x), fnp.sin(x), y)


def sin_times_bwd(residuals, g):
    cos_x, sin_x, y = residuals
    return (cos_x * g * y, sin_x * g)


sin_times.defvjp(sin_times_fwd, sin_times_bwd)


@custom_vjp
def clip_gradient(lo, hi, x):
    return x


def clip_gradient_fwd(lo, hi, x):
    return x, (lo, hi)


def clip_gradient_bwd(residuals, g):
    lo, hi = residuals
    return (None, None, fnp.clip(g, lo, hi))


clip_gradient.defvjp(clip_gradient_fwd, clip_gradient_bwd)


def total_log1pexp(x):
    return fnp.sum(log1pexp(x))


# ---------------------------------------------------------------------------------------
# custom_jvp: values and derivatives


def test_custom_jvp_computes_the_function_eagerly():
    np.testing.assert_allclose(log1pexp(X), np.log1p(np.exp(X)))
    assert log1pexp.__name__ == "log1pexp"


def test_stable_log1pexp_gradient_at_100_is_one_where_autodiff_gives_nan():
    with np.errstate(over="ignore", invalid="ignore"):
        naive = float(fungrad.grad(lambda x: fnp.log1p(fnp.exp(x)))(1000.0))
    assert np.isnan(naive)
    assert float(fungrad.grad(log1pexp)(100.0)) == 1.0


def test_custom_jvp_derivatives_in_every_mode_match_the_analytic_ones():
    expected = sigmoid(X)
    np.testing.assert_allclose(fungrad.grad(total_log1pexp)(X), expected)
    out, t = fungrad.jvp(log1pexp, (X,), (Y,))
    np.testing.assert_allclose(out, np.log1p(np.exp(X)))
    np.testing.assert_allclose(t, expected * Y)
    _, f_jvp = fungrad.linearize(log1pexp, X)
    np.testing.assert_allclose(f_jvp(Y), expected * Y)
    _, f_vjp = fungrad.vjp(log1pexp, X)
    np.testing.assert_allclose(f_vjp(Y)[0], expected * Y)
    np.testing.assert_allclose(fungrad.jacfwd(log1pexp)(X), np.diag(expected))
    np.testing.assert_allclose(fungrad.jacrev(log1pexp)(X), np.diag(expected))
    hess = np.diag(expected * (1 - expected))
    np.testing.assert_allclose(fungrad.hessian(total_log1pexp)(X), hess)
    np.testing.assert_allclose(
        fungrad.jacrev(fungrad.jacrev(total_log1pexp))(X), hess, rtol=1e-12, atol=1e-15
    )


def test_check_grads_passes_for_a_correct_rule_to_second_order():
    check_grads(log1pexp, (X,), order=2)
    check_grads(sin_times, (X, Y), order=2, modes=("rev",))


def test_check_grads_catches_a_wrong_rule():
    @custom_jvp
    def square(x):
        return x * x

    @square.defjvp
    def square_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return x * x, 3.0 * x * t  # wrong: should be 2 x t

    with pytest.raises(AssertionError, match="jvp tangent"):
        check_grads(square, (X,), order=1, modes=("fwd",))
    with pytest.raises(AssertionError, match="vjp"):
        check_grads(square, (X,), order=1, modes=("rev",))


def test_the_rule_is_used_rather_than_the_body():
    @custom_jvp
    def f(x):
        return fnp.sin(x)

    f.defjvp(lambda primals, tangents: (f(*primals), 10.0 * tangents[0]))
    assert float(fungrad.grad(f)(0.3)) == 10.0
    assert float(fungrad.jvp(f, (0.3,), (1.0,))[1]) == 10.0
    assert float(fungrad.jit(fungrad.grad(f))(0.3)) == 10.0
    np.testing.assert_array_equal(fungrad.vmap(fungrad.grad(f))(X), 10.0)


def test_second_order_derivatives_differentiate_the_rule():
    @custom_jvp
    def f(x):
        return x**3

    f.defjvp(lambda p, t: (f(p[0]), 3.0 * p[0] ** 2 * t[0]))
    assert float(fungrad.grad(fungrad.grad(f))(2.0)) == 12.0
    assert float(fungrad.hessian(f)(2.0)) == 12.0
    assert float(fungrad.jvp(fungrad.grad(f), (2.0,), (1.0,))[1]) == 12.0


def test_defjvps_sums_one_rule_per_argument_and_skips_none():
    @custom_jvp
    def f(x, y):
        return fnp.sin(x) * y

    f.defjvps(lambda tx, ans, x, y: fnp.cos(x) * y * tx, lambda ty, ans, x, y: fnp.sin(x) * ty)
    gx, gy = fungrad.grad(lambda a, b: fnp.sum(f(a, b)), argnums=(0, 1))(X, Y)
    np.testing.assert_allclose(gx, np.cos(X) * Y)
    np.testing.assert_allclose(gy, np.sin(X))
    check_grads(f, (X, Y), order=2)

    @custom_jvp
    def g(x, n):
        return x * n

    g.defjvps(lambda tx, ans, x, n: tx * n, None)
    assert float(fungrad.grad(g)(2.0, 3.0)) == 3.0
    assert float(fungrad.grad(g, argnums=1)(2.0, 3.0)) == 0.0


def test_zero_tangents_are_zeros_or_symbolic_zeros():
    seen = []

    @custom_jvp
    def f(x, y):
        return x * y

    def rule(primals, tangents):
        seen.append(tangents)
        (x, y), (tx, ty) = primals, tangents
        out = 0.0
        if not isinstance(tx, SymbolicZero):
            out = out + tx * y
        if not isinstance(ty, SymbolicZero):
            out = out + x * ty
        return f(x, y), out

    f.defjvp(rule, symbolic_zeros=True)
    assert float(fungrad.grad(f)(2.0, 3.0)) == 3.0
    zero = seen[-1][1]
    assert isinstance(zero, SymbolicZero)
    assert (zero.shape, zero.dtype, zero.aval.shape) == ((), np.float64, ())
    np.testing.assert_array_equal(zero.zeros(), 0.0)

    f.defjvp(rule)  # without symbolic zeros: arrays of zeros
    assert float(fungrad.grad(f)(2.0, 3.0)) == 3.0
    assert isinstance(seen[-1][1], np.ndarray) and float(seen[-1][1]) == 0.0


def test_a_rule_may_return_a_symbolic_zero_tangent():
    @custom_jvp
    def f(x):
        return fnp.floor(x)

    f.defjvp(lambda p, t: (f(p[0]), SymbolicZero(fungrad.ShapedArray((3,), np.dtype(float)))))
    np.testing.assert_array_equal(fungrad.jacrev(f)(X), np.zeros((3, 3)))
    np.testing.assert_array_equal(fungrad.jvp(f, (X,), (Y,))[1], np.zeros(3))


def test_custom_jvp_pytrees_in_and_out():
    @custom_jvp
    def f(params, x):
        return {"out": params["w"] * x, "aux": (fnp.sum(params["b"]),)}

    @f.defjvp
    def f_jvp(primals, tangents):
        (params, x), (tp, tx) = primals, tangents
        return f(params, x), {
            "out": tp["w"] * x + params["w"] * tx,
            "aux": (fnp.sum(tp["b"]),),
        }

    params = {"w": X, "b": Y}
    loss = lambda p, x: fnp.sum(f(p, x)["out"]) + 2.0 * f(p, x)["aux"][0]
    g_params, g_x = fungrad.grad(loss, argnums=(0, 1))(params, Y)
    np.testing.assert_allclose(g_params["w"], Y)
    np.testing.assert_allclose(g_params["b"], 2.0 * np.ones(3))
    np.testing.assert_allclose(g_x, X)
    check_grads(f, (params, Y), order=1)


def test_custom_jvp_nondiff_argnums_pass_values_as_they_are():
    @functools.partial(custom_jvp, nondiff_argnums=(0,))
    def apply(fn, x):
        return fn(x)

    @apply.defjvp
    def apply_jvp(fn, primals, tangents):
        (x,), (t,) = primals, tangents
        return apply(fn, x), 2.0 * t

    assert float(fungrad.grad(lambda x: apply(fnp.sin, x))(1.0)) == 2.0
    np.testing.assert_array_equal(fungrad.vmap(fungrad.grad(lambda x: apply(fnp.sin, x)))(X), 2.0)
    np.testing.assert_allclose(apply(fnp.sin, X), np.sin(X))

    @functools.partial(custom_jvp, nondiff_argnums=(1,))
    def scaled(x, scale):
        return x * scale

    scaled.defjvp(lambda scale, p, t: (scaled(p[0], scale), t[0] * scale))
    # A traced value among nondiff_argnums gets no derivative (as in JAX).
    g = fungrad.grad(lambda x, s: scaled(x, s), argnums=(0, 1))(2.0, 3.0)
    assert (float(g[0]), float(g[1])) == (3.0, 0.0)


def test_keyword_arguments_are_placed_by_the_signature():
    @custom_jvp
    def f(x, y=2.0):
        return x * y

    f.defjvp(lambda p, t: (f(*p), t[0] * p[1] + p[0] * t[1]))
    assert float(fungrad.grad(lambda x: f(x, y=3.0))(1.0)) == 3.0
    assert float(fungrad.grad(lambda x: f(x))(1.0)) == 2.0


# ---------------------------------------------------------------------------------------
# custom_jvp under vmap, jit, make_jaxpr


def test_custom_jvp_under_vmap_with_batched_and_unbatched_arguments():
    @custom_jvp
    def f(x, y):
        return fnp.sin(x) * y

    f.defjvp(lambda p, t: (f(*p), fnp.cos(p[0]) * p[1] * t[0] + fnp.sin(p[0]) * t[1]))
    xs = np.stack([X, 2 * X])
    np.testing.assert_allclose(fungrad.vmap(f)(xs, np.stack([Y, Y])), np.sin(xs) * Y)
    np.testing.assert_allclose(fungrad.vmap(f, in_axes=(0, None))(xs, Y), np.sin(xs) * Y)
    np.testing.assert_allclose(fungrad.vmap(f, in_axes=(1, None))(xs.T, Y), np.sin(xs) * Y)
    # vmap of grad, grad of vmap, and jacobians through the batched rule
    per_example = fungrad.vmap(fungrad.grad(lambda x, y: fnp.sum(f(x, y))), in_axes=(0, None))
    np.testing.assert_allclose(per_example(xs, Y), np.cos(xs) * Y)
    summed = lambda x: fnp.sum(fungrad.vmap(f, in_axes=(0, None))(x, Y))
    np.testing.assert_allclose(fungrad.grad(summed)(xs), np.cos(xs) * Y)
    np.testing.assert_allclose(
        fungrad.jacfwd(lambda x: fungrad.vmap(f, in_axes=(0, None))(x, Y))(xs),
        numerical_jacobian(lambda x: np.sin(x) * Y, xs),
        atol=1e-8,
    )


def test_grad_of_vmap_uses_the_batched_rule():
    @custom_jvp
    def f(x):
        return fnp.sin(x)

    f.defjvp(lambda p, t: (f(p[0]), 10.0 * t[0]))
    g = fungrad.grad(lambda xs: fnp.sum(fungrad.vmap(f)(xs)))(X)
    np.testing.assert_array_equal(g, 10.0)
    np.testing.assert_array_equal(fungrad.vmap(fungrad.vmap(fungrad.grad(f)))(np.ones((2, 3))), 10)


def test_custom_jvp_under_jit_in_every_order():
    np.testing.assert_allclose(fungrad.jit(log1pexp)(X), np.log1p(np.exp(X)))
    np.testing.assert_allclose(fungrad.jit(fungrad.grad(total_log1pexp))(X), sigmoid(X))
    np.testing.assert_allclose(fungrad.grad(fungrad.jit(total_log1pexp))(X), sigmoid(X))
    assert float(fungrad.jit(fungrad.grad(log1pexp))(100.0)) == 1.0
    # jit inlines the call: the compiled program is the function's own operations
    lowered = fungrad.jit(log1pexp).lower(X)
    assert [e.primitive.name for e in lowered.jaxpr.eqns] == ["exp", "log1p"]


def test_make_jaxpr_shows_the_call_with_the_function_program_nested():
    text = str(fungrad.make_jaxpr(log1pexp)(1.0))
    assert text == (
        "{ lambda ; a:f64[]. let\n"
        "    b:f64[] = custom_jvp_call[call_jaxpr={ lambda ; a:f64[]. let\n"
        "        b:f64[] = exp a\n"
        "        c:f64[] = log1p b\n"
        "      in (c,) } jvp=log1pexp_jvp name='log1pexp' num_consts=0] a\n"
        "  in (b,) }"
    )
    # under grad, the rule's operations are traced, not the body's
    names = [e.primitive.name for e in fungrad.make_jaxpr(fungrad.grad(log1pexp))(1.0).eqns]
    assert "custom_jvp_call" in names and "log1p" not in names


def test_the_function_is_traced_once_per_signature_under_transformations():
    calls = []

    @custom_jvp
    def f(x):
        calls.append(1)
        return x * 2.0

    f.defjvp(lambda p, t: (p[0] * 2.0, t[0] * 2.0))
    for _ in range(3):
        fungrad.grad(f)(1.0)
    assert len(calls) == 1
    fungrad.grad(lambda x: fnp.sum(f(x)))(X)
    assert len(calls) == 2
    f(1.0)  # eagerly, the function simply runs
    assert len(calls) == 3


def test_nested_custom_functions():
    @custom_vjp
    def outer(x):
        return log1pexp(x) * 2.0

    outer.defvjp(
        lambda x: (outer(x), x), lambda x, g: (2.0 * g * fungrad.grad(total_log1pexp)(x),)
    )
    np.testing.assert_allclose(fungrad.grad(lambda x: fnp.sum(outer(x)))(X), 2 * sigmoid(X))
    np.testing.assert_allclose(fungrad.vmap(fungrad.grad(outer))(X), 2 * sigmoid(X), rtol=1e-12)

    @custom_jvp
    def twice(x):
        return log1pexp(log1pexp(x))

    twice.defjvp(lambda p, t: fungrad.jvp(lambda v: log1pexp(log1pexp(v)), p, t))
    expected = sigmoid(np.log1p(np.exp(X))) * sigmoid(X)
    np.testing.assert_allclose(fungrad.grad(lambda x: fnp.sum(twice(x)))(X), expected)
    check_grads(twice, (X,), order=2)


# ---------------------------------------------------------------------------------------
# custom_vjp


def test_custom_vjp_values_and_reverse_mode_derivatives():
    np.testing.assert_allclose(sin_times(X, Y), np.sin(X) * Y)
    gx, gy = fungrad.grad(lambda x, y: fnp.sum(sin_times(x, y)), argnums=(0, 1))(X, Y)
    np.testing.assert_allclose(gx, np.cos(X) * Y)
    np.testing.assert_allclose(gy, np.sin(X))
    out, f_vjp = fungrad.vjp(sin_times, X, Y)
    np.testing.assert_allclose(out, np.sin(X) * Y)
    np.testing.assert_allclose(f_vjp(np.ones(3))[0], np.cos(X) * Y)
    np.testing.assert_allclose(fungrad.jacrev(sin_times)(X, Y), np.diag(np.cos(X) * Y))
    second = fungrad.jacrev(fungrad.grad(lambda x: fnp.sum(sin_times(x, Y))))(X)
    np.testing.assert_allclose(second, np.diag(-np.sin(X) * Y))


def test_hessian_of_custom_vjp_differentiates_fwd_and_bwd_in_forward_mode():
    hess = fungrad.hessian(lambda x: fnp.sum(sin_times(x, Y)))(X)
    np.testing.assert_allclose(hess, np.diag(-np.sin(X) * Y), atol=1e-15)

    @custom_vjp
    def calls_itself(x):
        return fnp.sin(x)

    calls_itself.defvjp(lambda x: (calls_itself(x), x), lambda x, g: (fnp.cos(x) * g,))
    np.testing.assert_allclose(
        fungrad.jacrev(fungrad.grad(lambda x: fnp.sum(calls_itself(x))))(X), np.diag(-np.sin(X))
    )
    with pytest.raises(TypeError, match="can't apply forward-mode autodiff"):
        fungrad.hessian(lambda x: fnp.sum(calls_itself(x)))(X)


def test_gradient_clipping():
    def loss(x):
        return fnp.sum(3.0 * clip_gradient(-1.0, 1.0, x))

    np.testing.assert_allclose(loss(X), 3.0 * np.sum(X))
    np.testing.assert_array_equal(fungrad.grad(loss)(X), np.ones(3))
    np.testing.assert_array_equal(
        fungrad.grad(lambda x: fnp.sum(0.5 * clip_gradient(-1.0, 1.0, x)))(X), 0.5
    )
    # the bounds may be traced too: they are regular arguments, with None cotangents
    g = fungrad.grad(lambda x, hi: fnp.sum(3.0 * clip_gradient(-hi, hi, x)), argnums=(0, 1))
    gx, ghi = g(X, 2.0)
    np.testing.assert_array_equal(gx, 2.0)
    assert float(ghi) == 0.0


def test_custom_vjp_under_vmap_and_jit():
    xs = np.stack([X, 2 * X])
    np.testing.assert_allclose(fungrad.vmap(sin_times, in_axes=(0, None))(xs, Y), np.sin(xs) * Y)
    scalar = lambda x, y: fnp.sum(sin_times(x, y))
    per_example = fungrad.vmap(fungrad.grad(scalar), in_axes=(0, None))(xs, Y)
    np.testing.assert_allclose(per_example, np.cos(xs) * Y)
    batched_loss = lambda x, y: fnp.sum(fungrad.vmap(sin_times, in_axes=(0, None))(x, y))
    gx, gy = fungrad.grad(batched_loss, argnums=(0, 1))(xs, Y)
    np.testing.assert_allclose(gx, np.cos(xs) * Y)
    np.testing.assert_allclose(gy, np.sum(np.sin(xs), axis=0))  # an unbatched argument
    gx, gy = fungrad.grad(batched_loss, argnums=(0, 1))(xs.T.copy().T, Y)
    np.testing.assert_allclose(gx, np.cos(xs) * Y)
    np.testing.assert_allclose(fungrad.jit(fungrad.grad(scalar))(X, Y), np.cos(X) * Y)
    np.testing.assert_allclose(fungrad.grad(fungrad.jit(scalar))(X, Y), np.cos(X) * Y)
    np.testing.assert_allclose(fungrad.jit(sin_times)(X, Y), np.sin(X) * Y)


def test_grad_of_vmap_uses_the_batched_bwd():
    g = fungrad.grad(lambda x: fnp.sum(fungrad.vmap(lambda v: clip_gradient(-1.0, 1.0, v))(x) * 5))
    np.testing.assert_array_equal(g(np.ones((2, 3))), np.ones((2, 3)))


def test_make_jaxpr_shows_the_custom_vjp_call():
    text = str(fungrad.make_jaxpr(sin_times)(X, Y))
    assert text == (
        "{ lambda ; a:f64[3] b:f64[3]. let\n"
        "    c:f64[3] = custom_vjp_call[call_jaxpr={ lambda ; a:f64[3] b:f64[3]. let\n"
        "        c:f64[3] = sin a\n"
        "        d:f64[3] = mul c b\n"
        "      in (d,) } fwd=sin_times_fwd name='sin_times' num_consts=0] a b\n"
        "  in (c,) }"
    )


def test_custom_vjp_pytrees_and_none_cotangents():
    @custom_vjp
    def f(params, x):
        return {"y": params["w"] * x, "n": params["n"]}

    def f_fwd(params, x):
        return f(params, x), (params["w"], x)

    def f_bwd(residuals, ct):
        w, x = residuals
        return ({"w": ct["y"] * x, "n": None}, None)

    f.defvjp(f_fwd, f_bwd)
    params = {"w": X, "n": np.arange(3)}
    _, f_vjp = fungrad.vjp(lambda p, x: fnp.sum(f(p, x)["y"]), params, Y)
    g = f_vjp(1.0)
    np.testing.assert_allclose(g[0]["w"], Y)
    assert g[0]["n"].dtype == fungrad.float0
    np.testing.assert_array_equal(g[1], 0.0)


def test_custom_vjp_nondiff_argnums():
    @functools.partial(custom_vjp, nondiff_argnums=(0,))
    def apply(fn, x):
        return fn(x)

    apply.defvjp(lambda fn, x: (fn(x), x), lambda fn, x, g: (g * 7.0,))
    assert float(fungrad.grad(lambda x: apply(fnp.sin, x))(1.0)) == 7.0
    np.testing.assert_array_equal(fungrad.vmap(fungrad.grad(lambda x: apply(fnp.sin, x)))(X), 7)


def test_closure_convert_makes_closed_over_arrays_differentiable_through_custom_vjp():
    @functools.partial(custom_vjp, nondiff_argnums=(0,))
    def apply(fn, x, *consts):
        return fn(x, *consts)

    def apply_fwd(fn, x, *consts):
        return apply(fn, x, *consts), (x, consts)

    def apply_bwd(fn, residuals, g):
        x, consts = residuals
        _, fn_vjp = fungrad.vjp(fn, x, *consts)
        return fn_vjp(g)

    apply.defvjp(apply_fwd, apply_bwd)

    def loss(w, x):
        converted, consts = fungrad.closure_convert(lambda v: fnp.sin(v) * w, x)
        return fnp.sum(apply(converted, x, *consts))

    gw, gx = fungrad.grad(loss, argnums=(0, 1))(Y, X)
    np.testing.assert_allclose(gw, np.sin(X))
    np.testing.assert_allclose(gx, np.cos(X) * Y)


def test_closure_convert_hoists_floating_constants():
    w = np.array([1.0, 2.0, 3.0])
    converted, consts = fungrad.closure_convert(lambda x: {"y": x * w, "n": 2}, X)
    assert len(consts) == 1 and consts[0] is w
    out = converted(Y, np.ones(3))
    np.testing.assert_array_equal(out["y"], Y)
    with pytest.raises(TypeError, match="takes 1 arguments and then its 1 constants"):
        converted(Y)


# ---------------------------------------------------------------------------------------
# Closures over values of enclosing transformations


def _scaled_by(w):
    @custom_jvp
    def f(v):
        return v * fnp.exp(w)

    f.defjvp(lambda p, t: (f(p[0]), t[0] * fnp.exp(w)))
    return f


def test_closing_over_a_traced_value_works_where_it_is_not_differentiated():
    def g(v, w):
        return fnp.sum(_scaled_by(w)(v))

    expected = np.exp(0.5) * np.ones(3)
    np.testing.assert_allclose(fungrad.grad(g)(X, 0.5), expected)
    np.testing.assert_allclose(fungrad.grad(fungrad.jit(g))(X, 0.5), expected)
    per_w = fungrad.vmap(fungrad.grad(g), in_axes=(None, 0))(X, np.array([0.0, 0.5]))
    np.testing.assert_allclose(per_w, np.exp([[0.0] * 3, [0.5] * 3]))
    text = str(fungrad.make_jaxpr(g)(X, 0.5))
    assert "num_consts=1" in text


def test_differentiating_with_respect_to_a_closed_over_value_is_an_error():
    def g(w):
        return fnp.sum(_scaled_by(w)(X))

    with pytest.raises(TypeError, match="Detected differentiation of the custom_jvp function `f`"):
        fungrad.grad(g)(0.5)

    def h(w):
        @custom_vjp
        def f(v):
            return v * w

        f.defvjp(lambda v: (f(v), None), lambda r, g: (g * w,))
        return fnp.sum(f(X))

    with pytest.raises(TypeError, match="custom_vjp function `f` with respect to a value it"):
        fungrad.grad(h)(0.5)


def test_a_rule_closing_over_a_value_its_function_does_not_use_is_an_error():
    def g(v, w):
        @custom_jvp
        def f(x):
            return x * 2.0

        f.defjvp(lambda p, t: (f(p[0]), t[0] * w))
        return fnp.sum(f(v))

    # Under vmap of grad the rule runs inside the vmap: it may use w as it likes.
    per_w = fungrad.vmap(fungrad.grad(g), in_axes=(None, 0))(X, np.array([1.0, 2.0]))
    np.testing.assert_array_equal(per_w, [[1.0] * 3, [2.0] * 3])
    # Under grad of vmap it runs below the vmap, where w is not: the call must carry it.
    batched = lambda v: fnp.sum(fungrad.vmap(g, in_axes=(None, 0))(v, np.array([1.0, 2.0])))
    with pytest.raises(TypeError, match="does not use, so the call does not carry it"):
        fungrad.grad(batched)(X)


# ---------------------------------------------------------------------------------------
# Errors


def test_forward_mode_of_a_custom_vjp_function_is_an_error():
    f = lambda x: fnp.sum(sin_times(x, Y))
    match = "can't apply forward-mode autodiff \\(jvp\\) to a custom_vjp function: `sin_times`"
    with pytest.raises(TypeError, match=match):
        fungrad.jvp(f, (X,), (Y,))
    with pytest.raises(TypeError, match="define the function with custom_jvp"):
        fungrad.jacfwd(f)(X)
    _, f_jvp = fungrad.linearize(f, X)
    with pytest.raises(TypeError, match=match):
        f_jvp(Y)


def test_traced_array_in_custom_vjp_nondiff_argnums_is_an_error_naming_it():
    @functools.partial(custom_vjp, nondiff_argnums=(0,))
    def scale(s, x):
        return s * x

    scale.defvjp(lambda s, x: (s * x, None), lambda s, r, g: (s * g,))
    assert float(fungrad.grad(lambda x: scale(2.0, x))(1.0)) == 2.0
    with pytest.raises(
        TypeError,
        match=r"argument 0 \('s'\) is listed in nondiff_argnums, but it is a traced array "
        r"\(f64\[\], under `grad`\).*Pass an array as a regular argument",
    ):
        fungrad.grad(lambda x: scale(x, 1.0))(1.0)


def test_calling_without_a_rule_is_an_error():
    f = custom_jvp(lambda x: x)
    with pytest.raises(TypeError, match=r"No JVP rule defined .* `<lambda>.defjvp\(rule\)`"):
        f(1.0)
    g = custom_vjp(fnp.sin)
    with pytest.raises(TypeError, match=r"`sin.defvjp\(fwd, bwd\)`"):
        g(1.0)


def _jvp_rule_returning(result):
    @custom_jvp
    def f(x):
        return x * fnp.ones(3)

    f.defjvp(lambda primals, tangents: result(*primals, *tangents))
    return f


@pytest.mark.parametrize(
    "result, match",
    [
        (lambda x, t: x, r"must return a pair \(primal_out, tangent_out\), but it returned an"),
        (lambda x, t: (x * np.ones(2), t * np.ones(3)), r"primal output at the root that has"),
        (
            lambda x, t: (x * np.ones(3), (t,)),
            "must return a tangent output with the pytree structure of the primal output",
        ),
        (
            lambda x, t: (x * np.ones(3), t * np.ones(2)),
            r"tangent output at the root that has type f64\[2\], but the primal output there "
            r"is f64\[3\]",
        ),
        (
            lambda x, t: (x * np.ones(3), (t * np.ones(3)).astype(np.float32)),
            r"type f32\[3\], but the primal output there is f64\[3\]",
        ),
        (lambda x, t: (x * np.ones(3), "zero"), "is a str, not an array"),
    ],
)
def test_a_wrong_jvp_rule_result_is_named(result, match):
    with pytest.raises(TypeError, match=match):
        fungrad.jvp(_jvp_rule_returning(result), (2.0,), (1.0,))


def test_a_wrong_output_structure_in_the_rule_names_both_structures():
    @custom_jvp
    def f(x):
        return {"a": x, "b": x}

    f.defjvp(lambda p, t: ({"a": p[0]}, {"a": t[0]}))
    with pytest.raises(TypeError, match=r"the key 'b' at path \['b'\] is in the f's output"):
        fungrad.grad(lambda x: f(x)["a"])(1.0)


def _vjp_rule_returning(bwd, fwd=None):
    @custom_vjp
    def f(x, y):
        return x * y

    f.defvjp(fwd or (lambda x, y: (x * y, (x, y))), bwd)
    return lambda x, y: fnp.sum(f(x, y))


@pytest.mark.parametrize(
    "bwd, fwd, match",
    [
        (lambda r, g: g, None, r"must return a tuple with one cotangent per differentiable "),
        (lambda r, g: (g,), None, r"argument \(2\), but it returned a tuple of length 1"),
        (
            lambda r, g: (g * np.ones((2, 3)), None),
            None,
            r"cotangent for argument 0 that has type f64\[2,3\], but the argument is f64\[3\]",
        ),
        (
            lambda r, g: ([g], None),
            None,
            "must return, for argument 0, a cotangent with the pytree structure of the argument",
        ),
        (lambda r, g: (g, None), lambda x, y: x * y, r"must return a pair \(output, residuals\)"),
        (
            lambda r, g: (g, None),
            lambda x, y: (x[:2] * y, None),
            r"fwd rule of `f` returned a primal output at the root that has type f64\[2\], "
            r"but `f` returns f64\[3\]",
        ),
    ],
)
def test_a_wrong_vjp_rule_result_is_named(bwd, fwd, match):
    with pytest.raises(TypeError, match=match):
        fungrad.grad(_vjp_rule_returning(bwd, fwd))(X, 2.0)


def test_python_control_flow_on_values_in_the_function_is_explained():
    @custom_jvp
    def relu(x):
        return x if x > 0 else 0.0 * x

    relu.defjvp(lambda p, t: (relu(p[0]), t[0] * (p[0] > 0)))
    assert relu(2.0) == 2.0  # eagerly, the function simply runs
    with pytest.raises(TypeError, match="custom_jvp traces `relu` into a program"):
        fungrad.grad(relu)(2.0)


def test_nondiff_argnums_out_of_range_is_an_error():
    f = custom_jvp(lambda x: x, nondiff_argnums=(3,))
    f.defjvp(lambda *args: args)
    with pytest.raises(ValueError, match=r"nondiff_argnums=\(3,\) names argument 3"):
        fungrad.grad(f)(1.0)
    with pytest.raises(TypeError, match="defjvps cannot be used with nondiff_argnums"):
        f.defjvps(None)
