"""fungrad.explain: the forward and adjoint traces of the lectures, checked against
closed forms, the lecture's published numbers, and central differences."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fungrad
import fungrad.numpy as fnp
from fungrad import lax


def lecture(x1, x2):
    # Baydin et al.'s example, written one primal-trace line per statement.
    v1 = fnp.log(x1)
    v2 = x1 * x2
    v3 = fnp.sin(x2)
    v4 = v1 + v2
    return v4 - v3


def lecture_one_line(x1, x2):
    return fnp.log(x1) + x1 * x2 - fnp.sin(x2)


def central_difference(f, args, i, eps=1e-6):
    """The gradient of scalar ``f`` in its argument ``i``, elementwise central differences."""
    x = np.asarray(args[i], dtype=float)
    out = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[k] += eps
        down[k] -= eps
        hi = f(*args[:i], up if x.ndim else float(up), *args[i + 1 :])
        lo = f(*args[:i], down if x.ndim else float(down), *args[i + 1 :])
        out[k] = (float(hi) - float(lo)) / (2 * eps)
    return out


# ---------------------------------------------------------------------------------------
# The lecture's numbers


def test_lecture_primal_trace_has_every_intermediate():
    e = fungrad.explain(lecture)(2.0, 5.0)
    expected = {
        "v-1": 2.0,
        "v0": 5.0,
        "v1": math.log(2.0),  # 0.693
        "v2": 10.0,
        "v3": math.sin(5.0),  # -0.959
        "v4": math.log(2.0) + 10.0,  # 10.693
        "v5": math.log(2.0) + 10.0 - math.sin(5.0),  # 11.652
    }
    assert set(e.values) == set(expected)
    for name, value in expected.items():
        assert float(e.values[name]) == pytest.approx(value, rel=1e-12), name
    assert round(float(e.output), 3) == 11.652
    assert e.arg_names == {"v-1": "x1", "v0": "x2"}
    assert [row["primitive"] for row in e.forward] == [
        None,
        None,
        "log",
        "mul",
        "sin",
        "add",
        "sub",
    ]


def test_lecture_adjoint_trace_has_every_intermediate():
    e = fungrad.explain(lecture)(2.0, 5.0)
    cos5 = math.cos(5.0)
    expected = {
        "v5": 1.0,
        "v4": 1.0,
        "v3": -1.0,
        "v2": 1.0,
        "v1": 1.0,
        "v0": 2.0 - cos5,  # x1 - cos x2 = 1.716
        "v-1": 5.0 + 0.5,  # x2 + 1/x1 = 5.5
    }
    assert set(e.adjoints) == set(expected)
    for name, value in expected.items():
        assert float(e.adjoints[name]) == pytest.approx(value, rel=1e-12), name
    dx1, dx2 = e.gradient
    assert float(dx1) == 5.5
    assert round(float(dx2), 3) == 1.716


def test_lecture_adjoint_rows_follow_the_lecture_table():
    # v̄0 gets -cos 5 from sin, then += v-1 from mul; v̄-1 gets v0 from mul, += 1/v-1 from log.
    e = fungrad.explain(lecture)(2.0, 5.0)
    rows = [
        (r["adjoint"], r["accumulated"], r["local_value"], round(float(r["value"]), 4))
        for r in e.backward
    ]
    cos5 = round(math.cos(5.0), 4)
    assert rows == [
        ("v̄5", False, None, 1.0),
        ("v̄4", False, 1.0, 1.0),
        ("v̄3", False, -1.0, -1.0),
        ("v̄1", False, 1.0, 1.0),
        ("v̄2", False, 1.0, 1.0),
        ("v̄0", False, pytest.approx(math.cos(5.0)), -cos5),
        ("v̄-1", False, 5.0, 5.0),
        ("v̄0", True, 2.0, round(2.0 - math.cos(5.0), 4)),
        ("v̄-1", True, 0.5, 5.5),
    ]
    locals_ = [r["local"] for r in e.backward]
    assert locals_ == ["", "1", "-1", "1", "1", "cos v0", "v0", "v-1", "1/v-1"]
    assert e.backward[-1]["chain"] == "v̄1 · ∂v1/∂v-1"
    assert float(e.backward[-2]["contribution"]) == 2.0


def test_one_line_lecture_function_gives_the_same_derivatives():
    e = fungrad.explain(lecture_one_line)(2.0, 5.0)
    assert [float(g) for g in e.gradient] == pytest.approx([5.5, 2.0 - math.cos(5.0)])
    # Python evaluates the sum before sin, so the trace numbers them in that order.
    assert [r["expression"] for r in e.forward[2:]] == [
        "log v-1",
        "v-1 · v0",
        "v1 + v2",
        "sin v0",
        "v3 - v4",
    ]


def test_lecture_table_text_shows_the_published_numbers():
    text = str(fungrad.explain(lecture)(2.0, 5.0))
    for shown in ["0.69315", "-0.95892", "10.693", "11.652", "1.7163", "cos v0 = 0.28366"]:
        assert shown in text, shown
    assert "∂lecture/∂x1 = v̄-1 = 5.5" in text
    assert "∂lecture/∂x2 = v̄0 = 1.7163" in text
    lines = text.splitlines()
    assert lines[0] == "forward (primal) trace"
    (accumulating,) = [line for line in lines if "1/v-1" in line]
    assert accumulating.split()[:2] == ["v̄-1", "+="]


# ---------------------------------------------------------------------------------------
# Forward mode


def test_forward_mode_lecture_tangent_trace():
    e = fungrad.explain(lecture, mode="forward", tangent=(1.0, 0.0))(2.0, 5.0)
    tangents = {name: float(t) for name, t in e.tangents.items()}
    assert tangents == {
        "v-1": 1.0,
        "v0": 0.0,
        "v1": 0.5,
        "v2": 5.0,
        "v3": 0.0,
        "v4": 5.5,
        "v5": 5.5,
    }
    assert float(e.output_tangent) == 5.5  # ∂f/∂x1 = 1/x1 + x2
    assert e.adjoints == {} and e.backward == []
    rules = [r["tangent_rule"] for r in e.forward]
    assert rules == [
        "given",
        "given",
        "v̇-1/v-1",
        "v̇-1·v0 + v̇0·v-1",
        "v̇0·cos v0",
        "v̇1 + v̇2",
        "v̇4 - v̇3",
    ]
    text = str(e)
    assert "tangent" in text and "v̇1" in text and "output tangent: v̇5 = 5.5" in text


def test_forward_mode_tangents_equal_jvp_and_central_differences():
    def f(W, x):
        return fnp.tanh(x @ W) * 2.0

    rng = np.random.default_rng(1)
    W, x, dW = rng.normal(size=(3, 2)), rng.normal(size=(4, 3)), rng.normal(size=(3, 2))
    e = fungrad.explain(f, argnums=0, mode="forward", tangent=dW)(W, x)
    _, expected = fungrad.jvp(lambda W: f(W, x), (W,), (dW,))
    np.testing.assert_allclose(e.output_tangent, expected, rtol=1e-12)
    eps = 1e-6
    difference = (f(W + eps * dW, x) - f(W - eps * dW, x)) / (2 * eps)
    np.testing.assert_allclose(e.output_tangent, difference, rtol=1e-6, atol=1e-8)
    assert "v0" not in e.tangents  # x is not differentiated: it has no tangent


# ---------------------------------------------------------------------------------------
# Adjoints of array functions


def linear_layer_loss(W, b, x):
    return fnp.mean((x @ W + b) ** 2)


def test_linear_layer_adjoints_match_closed_forms():
    rng = np.random.default_rng(0)
    W, b, x = rng.normal(size=(3, 2)), rng.normal(size=2), rng.normal(size=(4, 3))
    e = fungrad.explain(linear_layer_loss)(W, b, x)
    y = x @ W + b
    y_bar = 2 * y / y.size
    dW, db, dx = e.gradient
    np.testing.assert_allclose(dW, x.T @ y_bar, rtol=1e-12)  # the product's adjoint: xᵀ ȳ
    np.testing.assert_allclose(db, y_bar.sum(axis=0), rtol=1e-12)  # broadcast's: a sum
    np.testing.assert_allclose(dx, y_bar @ W.T, rtol=1e-12)
    rows = {r["adjoint"]: r for r in e.backward}
    assert rows["v̄-2"]["local"] == "v0ᵀ @ v̄1"
    assert rows["v̄0"]["local"] == "v̄1 @ v-2ᵀ"
    assert rows["v̄-1"]["local"] == "1, summed over the broadcast axes (0,)"
    assert rows["v̄3"]["local"] == "v̄4 broadcast back to (4, 2)"
    assert e.forward[3]["expression"] == "v0 @ v-2"


@pytest.mark.parametrize(
    "f, shapes",
    [
        (linear_layer_loss, [(3, 2), (2,), (4, 3)]),
        (lambda W, b, x: fnp.sum(fnp.tanh(x @ W + b[None, :])), [(2, 3), (3,), (5, 2)]),
        (lambda a, b: fnp.sum(fnp.exp(a) / (1.0 + b * b)) - fnp.max(a), [(2, 3), (3,)]),
        (lambda a: fnp.sum(fnp.sqrt(a.T.reshape(6) ** 2 + 1.0)), [(2, 3)]),
        (lambda a, b: fnp.mean(fnp.maximum(a, b) * fnp.log1p(a * a)), [(4,), (4,)]),
    ],
)
def test_adjoints_equal_grad_and_central_differences(f, shapes):
    rng = np.random.default_rng(len(shapes))
    args = [rng.normal(size=s) for s in shapes]
    e = fungrad.explain(f)(*args)
    expected = fungrad.grad(f, argnums=tuple(range(len(args))))(*args)
    for i, (got, want) in enumerate(zip(e.gradient, expected)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got, central_difference(f, args, i), rtol=1e-5, atol=1e-7)


_STEPS = {
    "sin": fnp.sin,
    "tanh": fnp.tanh,
    "square": lambda v: v * v,
    "log1p_square": lambda v: fnp.log1p(v * v),
    "shift_by_row_mean": lambda v: v - fnp.mean(v, axis=-1, keepdims=True),
    "scale_by_weights": lambda v: v * np.array([0.5, -1.5, 2.0]),
}


@given(
    steps=st.lists(st.sampled_from(sorted(_STEPS)), min_size=1, max_size=4),
    seed=st.integers(0, 2**16),
)
def test_random_compositions_match_central_differences(steps, seed):
    def f(x, w):
        v = x @ w
        for step in steps:
            v = _STEPS[step](v)
        return fnp.sum(v)

    rng = np.random.default_rng(seed)
    args = [rng.normal(size=(2, 3)), rng.normal(size=(3, 3))]
    e = fungrad.explain(f)(*args)
    # central differences lose digits to cancellation in proportion to the terms' size
    largest = max(float(np.max(np.abs(v))) for v in e.values.values())
    for i, got in enumerate(e.gradient):
        expected = central_difference(f, args, i)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-9 * (1 + largest))


def test_vector_output_needs_a_cotangent_and_pulls_it_back():
    def f(x):
        return fnp.sin(x) * 3.0

    x, ct = np.array([0.1, 0.2, 0.3]), np.array([1.0, -2.0, 0.5])
    with pytest.raises(ValueError, match=r"returned an array of shape \(3,\).*Pass cotangent="):
        fungrad.explain(f)(x)
    e = fungrad.explain(f, cotangent=ct)(x)
    np.testing.assert_allclose(e.gradient[0], 3.0 * np.cos(x) * ct, rtol=1e-12)
    assert e.backward[0]["chain"] == "seed"


def test_pytree_arguments_are_named_by_path():
    def f(params, x):
        return fnp.sum(params["w"] * x) + params["b"]

    params = {"b": 0.5, "w": np.array([1.0, 2.0])}
    e = fungrad.explain(f, argnums=0)(params, np.array([3.0, 4.0]))
    assert sorted(e.arg_names.values()) == ["params['b']", "params['w']", "x"]
    assert float(e.gradient["b"]) == 1.0
    np.testing.assert_array_equal(e.gradient["w"], [3.0, 4.0])
    assert not any(r["variable"] == "v0" for r in e.backward)  # x is held constant


# ---------------------------------------------------------------------------------------
# Higher-order primitives


def test_jit_and_checkpoint_bodies_are_inlined():
    def f(x, y):
        h = fungrad.jit(lambda a: fnp.tanh(a) * a)
        return h(x) + h(y) + fungrad.checkpoint(fnp.exp)(x)

    e = fungrad.explain(f)(0.5, 1.0)
    prims = [r["primitive"] for r in e.forward if r["primitive"]]
    assert prims == ["tanh", "mul", "tanh", "mul", "add", "exp", "add"]
    t = math.tanh
    expected_x = (1 - t(0.5) ** 2) * 0.5 + t(0.5) + math.exp(0.5)
    expected_y = (1 - t(1.0) ** 2) * 1.0 + t(1.0)
    assert [float(g) for g in e.gradient] == pytest.approx([expected_x, expected_y], rel=1e-12)


def test_cond_is_one_row_with_its_own_vjp():
    def f(x):
        return lax.cond(x > 0, fnp.sin, fnp.cos, x) * x

    e = fungrad.explain(f)(0.5)
    (row,) = [r for r in e.backward if r["primitive"] == "cond"]
    assert row["local"] == "vjp of cond"
    assert row["local_value"] == pytest.approx(math.cos(0.5))
    assert float(e.gradient[0]) == pytest.approx(math.sin(0.5) + 0.5 * math.cos(0.5))


def test_scan_with_an_integer_carry_is_one_row_and_matches_central_differences():
    def f(x):
        def step(carry, _):
            i, v = carry
            return (i + 1, fnp.sin(v) * 2.0), v

        (_, last), seen = lax.scan(step, (0, x), None, length=3)
        return last + fnp.sum(seen)

    e = fungrad.explain(f)(0.5)
    (row,) = [r for r in e.backward if r["primitive"] == "scan"]
    assert row["local"] == "vjp of scan"
    assert row["chain"].startswith("(v̄3, v̄4) · ∂(v3, v4)/∂v1")  # the integer carry has none
    assert float(e.gradient[0]) == pytest.approx(float(central_difference(f, [0.5], 0)), rel=1e-6)


def test_forward_mode_on_a_pytree_argument():
    def f(params, x):
        return fnp.sum(params["w"] * x) * params["b"]

    params = {"b": 2.0, "w": np.array([1.0, -1.0])}
    x = np.array([3.0, 4.0])
    t = {"b": 1.0, "w": np.array([0.5, 0.0])}
    e = fungrad.explain(f, argnums=0, mode="forward", tangent=t)(params, x)
    # d/ds of sum((w + s t_w) x) (b + s t_b) at s = 0: sum(t_w x) b + sum(w x) t_b
    assert float(e.output_tangent) == 1.5 * 2.0 + (-1.0) * 1.0
    with pytest.raises(ValueError, match=r"argument 0 \('params'\) at params\['w'\] has shape"):
        bad = {"b": 1.0, "w": np.zeros(3)}
        fungrad.explain(f, argnums=0, mode="forward", tangent=bad)(params, x)


def test_a_custom_jvp_rule_is_the_one_explained():
    @fungrad.custom_jvp
    def square(x):
        return x * x

    # A deliberately different rule, to see that explain uses it: 3x rather than 2x.
    square.defjvp(lambda primals, tangents: (square(primals[0]), 3.0 * primals[0] * tangents[0]))
    e = fungrad.explain(lambda x: square(x) + 1.0)(2.0)
    assert float(e.gradient[0]) == 6.0
    assert [r["primitive"] for r in e.backward] == [None, "add", "custom_jvp_call"]


# ---------------------------------------------------------------------------------------
# Rows as data, display, source lines


def test_rows_are_plain_data():
    e = fungrad.explain(lecture)(2.0, 5.0)
    assert all(isinstance(r, dict) for r in e.forward + e.backward)
    assert set(e.forward[2]) == {
        "variable",
        "primitive",
        "inputs",
        "expression",
        "value",
        "source",
    }
    assert e.forward[3]["inputs"] == ["v-1", "v0"]
    assert set(e.backward[1]) == {
        "adjoint",
        "variable",
        "equation",
        "primitive",
        "chain",
        "local",
        "local_value",
        "contribution",
        "accumulated",
        "value",
        "source",
    }


def test_every_equation_row_names_its_source_line():
    e = fungrad.explain(lecture)(2.0, 5.0)
    first = lecture.__code__.co_firstlineno
    sources = [r["source"] for r in e.forward if r["primitive"]]
    assert sources == [f"test_explain.py:{first + k}" for k in (2, 3, 4, 5, 6)]
    assert f"test_explain.py:{first + 4}" in str(e)
    assert all(r["source"] for r in e.backward[1:])


def test_html_shows_both_tables():
    e = fungrad.explain(lecture)(2.0, 5.0)
    page = e._repr_html_()
    assert page.count("<table>") == 2
    assert "<th>local derivative</th>" in page
    assert "<td>cos v0 = 0.28366</td>" in page
    assert "∂lecture/∂x1 = v̄-1 = 5.5" in page


def test_large_arrays_are_summarised():
    x = np.linspace(-1.0, 2.0, 50)
    text = str(fungrad.explain(lambda x: fnp.sum(x * x))(x))
    assert "f64[50] min -1 max 2" in text
    assert "\n" not in text.splitlines()[3]


def test_variable_names_number_inputs_from_one_minus_n():
    from fungrad.explain import variable_names

    closed = fungrad.make_jaxpr(lambda a, b, c: a * b + c)(1.0, 2.0, 3.0)
    names = variable_names(closed)
    jaxpr = closed.jaxpr
    assert [names[v] for v in jaxpr.invars] == ["v-2", "v-1", "v0"]
    assert [names[e.outputs[0]] for e in jaxpr.eqns] == ["v1", "v2"]


def test_importing_the_module_keeps_fungrad_explain_the_function():
    import fungrad.explain  # noqa: F401  (the submodule, already loaded by fungrad)

    assert callable(fungrad.explain)
    assert fungrad.explain.__module__ == "fungrad.explain"
    assert fungrad.explain(lambda x: x * x)(3.0).gradient == (6.0,)


# ---------------------------------------------------------------------------------------
# Errors


def test_integer_input_is_named():
    with pytest.raises(TypeError, match=r"argument 1 \('n'\).*dtype int64.*2\.0 rather than 2"):
        fungrad.explain(lambda x, n: x * n)(2.0, 3)
    e = fungrad.explain(lambda x, n: x**n, argnums=0)(2.0, 3)  # n held constant: fine
    assert float(e.gradient) == 12.0


def test_tangent_errors_name_the_argument():
    def f(x1, x2):
        return x1 * x2

    with pytest.raises(ValueError, match=r"needs tangent="):
        fungrad.explain(f, mode="forward")(1.0, 2.0)
    with pytest.raises(ValueError, match=r"one tangent per differentiated argument \(2: "):
        fungrad.explain(f, mode="forward", tangent=(1.0,))(1.0, 2.0)
    with pytest.raises(ValueError, match=r"argument 1 \('x2'\) has shape \(2,\), but the arg"):
        fungrad.explain(f, mode="forward", tangent=(1.0, np.ones(2)))(1.0, 2.0)
    with pytest.raises(ValueError, match=r"tangent= is the input direction of forward mode"):
        fungrad.explain(f, tangent=(1.0, 0.0))
    with pytest.raises(ValueError, match=r"mode must be 'reverse' or 'forward'"):
        fungrad.explain(f, mode="backward")


def test_cotangent_errors():
    with pytest.raises(ValueError, match=r"cotangent= of shape \(2,\) does not match the output"):
        fungrad.explain(lambda x: x * 2.0, cotangent=np.ones(2))(np.ones(3))
    with pytest.raises(ValueError, match=r"cotangent= is the output seed of reverse mode"):
        fungrad.explain(lambda x: x, mode="forward", tangent=1.0, cotangent=1.0)


# ---------------------------------------------------------------------------------------
# Regressions found in review: each was a wrong number shown as right, or a crash


def test_gradient_follows_the_order_of_argnums():
    f = lambda x, y: x * y**2  # noqa: E731
    e = fungrad.explain(f, argnums=(1, 0))(2.0, 3.0)
    assert [float(g) for g in e.gradient] == [float(g) for g in fungrad.grad(f, (1, 0))(2.0, 3.0)]
    assert [float(g) for g in e.gradient] == [12.0, 9.0]


def test_a_scalar_custom_vjp_is_one_row_with_its_own_rule():
    @fungrad.custom_vjp
    def sine(x):
        return fnp.sin(x)

    sine.defvjp(lambda x: (fnp.sin(x), x), lambda x, g: (5.0 * g,))  # a deliberate rule
    f = lambda x: sine(x) * x  # noqa: E731
    e = fungrad.explain(f)(0.7)
    assert float(e.gradient[0]) == pytest.approx(float(fungrad.grad(f)(0.7)))
    (row,) = [r for r in e.backward if r["primitive"] == "custom_vjp_call"]
    assert row["local_value"] == pytest.approx(5.0)


def test_nested_jit_and_checkpoint_calls_are_inlined():
    c2 = np.array([1.0, 2.0, 3.0])
    inner = fungrad.jit(lambda y: fnp.sin(y) * c2)
    outer = fungrad.jit(lambda y: fungrad.checkpoint(inner)(y) * 2.0 + inner(y))
    f = lambda x: fnp.sum(outer(x))  # noqa: E731
    x = np.array([0.1, 0.2, 0.3])
    e = fungrad.explain(f)(x)
    np.testing.assert_allclose(e.gradient[0], fungrad.grad(f)(x), rtol=1e-14)
    assert {r["primitive"] for r in e.forward} >= {"sin", "mul", "add", "reduce_sum"}
    assert not {r["primitive"] for r in e.forward} & {"jit", "checkpoint"}


def test_small_array_values_are_not_shown_as_zeros():
    e = fungrad.explain(lambda x: fnp.sum(x * 1e-6))(np.array([1.0, 2.0]))
    assert "1.e-06" in str(e).splitlines()[-1] and "[0. 0.]" not in str(e)
    assert "1.e-06" in fungrad.graph.format_value(np.array([1e-6, 2e-6]))


def test_an_output_used_twice_accumulates_its_seed():
    e = fungrad.explain(lambda x: (x, x), cotangent=(1.0, 2.0))(0.7)
    seeds = [r for r in e.backward if r["chain"] == "seed"]
    assert [r["accumulated"] for r in seeds] == [False, True]
    assert [float(r["value"]) for r in seeds] == [1.0, 3.0]
    assert "v̄0       +=  seed" in str(e)


def test_an_integer_output_has_no_gradient_to_explain():
    with pytest.raises(TypeError, match=r"floating-point output.*int64"):
        fungrad.explain(lambda x: fnp.argmax(x))(np.ones(3))


def test_a_complex_cotangent_of_a_real_output_is_refused():
    with pytest.raises(TypeError, match=r"cotangent= is complex.*real"):
        fungrad.explain(lambda x: x * 2.0, cotangent=np.ones(3) * 1j)(np.ones(3))


def test_max_at_a_tie_says_each_operand_gets_half():
    e = fungrad.explain(lambda x, y: fnp.maximum(x, y))(2.0, 2.0)
    rows = [r for r in e.backward if r["primitive"] == "max"]
    assert [r["local_value"] for r in rows] == [0.5, 0.5]
    assert all("1/2 at a tie" in r["local"] for r in rows)
    assert [float(g) for g in e.gradient] == [
        float(g) for g in fungrad.grad(fnp.maximum, (0, 1))(2.0, 2.0)
    ]
