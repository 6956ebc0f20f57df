"""Tests for the transformations in fungrad.api: grad, value_and_grad, jvp, vjp, linearize,
linear_transpose, jacfwd, jacrev, hessian, make_jaxpr, stop_gradient.

Behaviour only; the error messages of these functions are pinned in test_errors.py.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose

import fungrad
import fungrad.numpy as fnp
from fungrad import (
    eval_jaxpr,
    grad,
    hessian,
    jacfwd,
    jacrev,
    jvp,
    linear_transpose,
    linearize,
    make_jaxpr,
    stop_gradient,
    value_and_grad,
    vjp,
)
from fungrad.errors import ConcretizationError
from fungrad.test_util import numerical_jacobian
from fungrad.tree_util import register_dataclass, tree_map, tree_structure

Point = collections.namedtuple("Point", ["x", "y"])


@register_dataclass
@dataclasses.dataclass
class Linear:
    weight: Any
    bias: Any
    name: str = dataclasses.field(default="linear", metadata={"static": True})


def leaves_close(actual: Any, expected: Any, **kwargs: Any) -> None:
    """Same pytree structure and numerically equal leaves."""
    assert tree_structure(actual) == tree_structure(expected)
    tree_map(lambda a, e: assert_allclose(a, e, **kwargs), actual, expected)


# ---------------------------------------------------------------------------------------
# Classic worked examples from backpropagation lectures, with their published numbers


def lecture_sum_times(x, y, z):
    return (x + y) * z


def lecture_log_mul_sin(x1, x2):
    return fnp.log(x1) + x1 * x2 - fnp.sin(x2)


def lecture_e(a, b):
    return (a + b) * (b + 1.0)


def test_grad_of_x_plus_y_times_z_gives_lecture_numbers():
    value, grads = value_and_grad(lecture_sum_times, argnums=(0, 1, 2))(-2.0, 5.0, -4.0)
    assert float(value) == -12.0
    assert [float(g) for g in grads] == [-4.0, -4.0, 3.0]


def test_jacfwd_of_x_plus_y_times_z_gives_lecture_numbers():
    grads = jacfwd(lecture_sum_times, argnums=(0, 1, 2))(-2.0, 5.0, -4.0)
    assert [float(g) for g in grads] == [-4.0, -4.0, 3.0]


def test_vjp_of_x_plus_y_times_z_gives_lecture_numbers():
    out, f_vjp = vjp(lecture_sum_times, -2.0, 5.0, -4.0)
    assert float(out) == -12.0
    assert [float(g) for g in f_vjp(1.0)] == [-4.0, -4.0, 3.0]


def test_log_mul_sin_value_is_11_652():
    assert round(float(lecture_log_mul_sin(2.0, 5.0)), 3) == 11.652


def test_log_mul_sin_gradient_in_reverse_mode_with_grad():
    g1, g2 = grad(lecture_log_mul_sin, argnums=(0, 1))(2.0, 5.0)
    assert float(g1) == pytest.approx(5.5)
    assert round(float(g2), 3) == 1.716
    assert float(g2) == pytest.approx(2.0 - math.cos(5.0))


def test_log_mul_sin_gradient_in_reverse_mode_with_vjp():
    out, f_vjp = vjp(lecture_log_mul_sin, 2.0, 5.0)
    assert round(float(out), 3) == 11.652
    g1, g2 = f_vjp(1.0)
    assert float(g1) == pytest.approx(5.5)
    assert round(float(g2), 3) == 1.716


def test_log_mul_sin_gradient_in_forward_mode_with_jvp():
    out, d1 = jvp(lecture_log_mul_sin, (2.0, 5.0), (1.0, 0.0))
    _, d2 = jvp(lecture_log_mul_sin, (2.0, 5.0), (0.0, 1.0))
    assert round(float(out), 3) == 11.652
    assert float(d1) == pytest.approx(5.5)
    assert round(float(d2), 3) == 1.716


def test_log_mul_sin_gradient_in_forward_mode_with_jacfwd():
    g1, g2 = jacfwd(lecture_log_mul_sin, argnums=(0, 1))(2.0, 5.0)
    assert float(g1) == pytest.approx(5.5)
    assert round(float(g2), 3) == 1.716


def test_log_mul_sin_gradient_with_jacrev_equals_jacfwd():
    rev = jacrev(lecture_log_mul_sin, argnums=(0, 1))(2.0, 5.0)
    fwd = jacfwd(lecture_log_mul_sin, argnums=(0, 1))(2.0, 5.0)
    leaves_close(rev, fwd, rtol=1e-14)


def test_e_equals_a_plus_b_times_b_plus_1_has_de_db_5():
    de_da, de_db = grad(lecture_e, argnums=(0, 1))(2.0, 1.0)
    assert float(de_da) == 2.0
    assert float(de_db) == 5.0
    assert float(jvp(lecture_e, (2.0, 1.0), (0.0, 1.0))[1]) == 5.0


# ---------------------------------------------------------------------------------------
# Every transformation on every kind of pytree node


def tree_input() -> dict:
    return {
        "point": Point(x=np.array([0.5, -1.0]), y=np.array(2.0)),
        "layer": Linear(weight=np.array([[1.0, 2.0], [3.0, 4.0]]), bias=np.array([0.1, 0.2])),
        "extra": [np.array(3.0), None],
    }


def tree_function(t):
    """Pytree in (dict, namedtuple, dataclass, list, None); out (namedtuple, tuple, None)."""
    hidden = fnp.tanh(t["layer"].weight @ t["point"].x + t["layer"].bias)
    return Point(x=hidden * t["extra"][0], y=(t["point"].y ** 2 * fnp.sum(hidden), None))


def tree_tangent() -> dict:
    return tree_map(lambda x: np.full(np.shape(x), 0.5), tree_input())


def test_jvp_on_a_tree_of_every_node_kind_keeps_the_structures():
    out, t_out = jvp(tree_function, (tree_input(),), (tree_tangent(),))
    assert tree_structure(out) == tree_structure(t_out)
    assert isinstance(t_out, Point) and t_out.y[1] is None
    flat = lambda t: np.concatenate([t.x, [t.y[0]]])
    eps = 1e-6
    shifted = lambda s: tree_map(lambda x, d: x + s * eps * d, tree_input(), tree_tangent())
    numerical = (flat(tree_function(shifted(1))) - flat(tree_function(shifted(-1)))) / (2 * eps)
    assert_allclose(flat(t_out), numerical, rtol=1e-6)


def test_vjp_on_a_tree_of_every_node_kind_returns_the_input_structure():
    out, f_vjp = vjp(tree_function, tree_input())
    (ct,) = f_vjp(tree_map(np.ones_like, out))
    assert tree_structure(ct) == tree_structure(tree_input())
    assert isinstance(ct["layer"], Linear) and ct["layer"].name == "linear"
    assert isinstance(ct["point"], Point) and ct["extra"][1] is None
    # <vjp(1), t> == <1, jvp(t)>
    _, t_out = jvp(tree_function, (tree_input(),), (tree_tangent(),))
    lhs = sum(
        np.sum(c * t) for c, t in zip(*map(fungrad.tree_util.tree_leaves, (ct, tree_tangent())))
    )
    rhs = sum(np.sum(t) for t in fungrad.tree_util.tree_leaves(t_out))
    assert_allclose(lhs, rhs, rtol=1e-12)


def test_linearize_on_a_tree_of_every_node_kind_matches_jvp():
    _, f_jvp = linearize(tree_function, tree_input())
    leaves_close(f_jvp(tree_tangent()), jvp(tree_function, (tree_input(),), (tree_tangent(),))[1])


def test_linear_transpose_on_a_tree_of_every_node_kind_returns_the_input_structure():
    a = np.array([[1.0, -1.0], [0.5, 2.0]])

    def linear(t):
        x = a @ t["point"].x * 2.0 + t["layer"].weight[0]
        return Point(x=x, y=(t["extra"][0] - t["point"].y, None))

    f_t = linear_transpose(linear, tree_input())
    (ct,) = f_t(Point(x=np.array([1.0, 3.0]), y=(np.array(1.0), None)))
    assert tree_structure(ct) == tree_structure(tree_input())
    assert isinstance(ct["layer"], Linear) and isinstance(ct["point"], Point)
    assert ct["extra"][1] is None
    assert_allclose(ct["layer"].weight, [[1.0, 3.0], [0.0, 0.0]])
    assert_allclose(ct["point"].x, 2.0 * a.T @ [1.0, 3.0])
    assert_allclose(ct["point"].y, -1.0)
    assert_allclose(ct["extra"][0], 1.0)
    assert_allclose(ct["layer"].bias, [0.0, 0.0])


@pytest.mark.parametrize("jac", [jacfwd, jacrev], ids=["jacfwd", "jacrev"])
def test_jacobian_on_a_tree_of_every_node_kind_nests_input_inside_output(jac):
    j = jac(tree_function)(tree_input())
    assert isinstance(j, Point) and j.y[1] is None
    assert isinstance(j.x["layer"], Linear) and isinstance(j.y[0]["point"], Point)
    assert j.x["layer"].weight.shape == (2, 2, 2)
    assert j.x["point"].y.shape == (2,)
    assert j.y[0]["layer"].bias.shape == (2,)
    assert j.y[0]["extra"][1] is None
    # d y / d point.y = 2 y sum(hidden)
    hidden = np.tanh(np.array([[1.0, 2.0], [3.0, 4.0]]) @ [0.5, -1.0] + [0.1, 0.2])
    assert_allclose(j.y[0]["point"].y, 4.0 * hidden.sum())
    assert_allclose(j.x["extra"][0], hidden)


def test_jacfwd_and_jacrev_agree_on_a_tree_of_every_node_kind():
    leaves_close(jacfwd(tree_function)(tree_input()), jacrev(tree_function)(tree_input()))


def test_grad_value_and_grad_and_hessian_on_a_tree_of_every_node_kind():
    loss = lambda t: fnp.sum(tree_function(t).x) + tree_function(t).y[0]
    value, g = value_and_grad(loss)(tree_input())
    assert tree_structure(g) == tree_structure(tree_input())
    leaves_close(g, grad(loss)(tree_input()))
    h = hessian(loss)(tree_input())
    assert isinstance(h["layer"], Linear) and isinstance(h["layer"].weight["point"], Point)
    assert h["layer"].weight["point"].x.shape == (2, 2, 2)
    assert h["extra"][1] is None and h["extra"][0]["extra"][1] is None
    assert_allclose(h["point"].y["point"].y, 2.0 * np.sum(np.tanh([-1.4, -2.3])))


def test_make_jaxpr_on_a_tree_of_every_node_kind_has_one_input_per_leaf():
    jaxpr = make_jaxpr(tree_function)(tree_input())
    assert [str(a.str_short()) for a in jaxpr.in_avals] == [
        "f64[]",
        "f64[2,2]",
        "f64[2]",
        "f64[2]",
        "f64[]",
    ]
    leaves = fungrad.tree_util.tree_leaves(tree_input())
    out = eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, *leaves)
    assert len(out) == 2  # None is an empty subtree, not a leaf
    expected = tree_function(tree_input())
    assert_allclose(out[0], expected.x)
    assert_allclose(out[1], expected.y[0])


# ---------------------------------------------------------------------------------------
# Nesting: perturbation confusion and higher order


def test_nested_grad_does_not_confuse_perturbations():
    assert grad(lambda x: x * grad(lambda y: x + y)(1.0))(1.0) == 1.0


def test_nested_jvp_does_not_confuse_perturbations():
    # d/dx [x * d/dy (x + y)] = d/dx [x * 1] = 1
    def f(x):
        return x * jvp(lambda y: x + y, (1.0,), (1.0,))[1]

    assert float(jvp(f, (1.0,), (1.0,))[1]) == 1.0


def test_jvp_inside_grad_closes_over_the_outer_variable():
    # The inner jvp of y -> x*y has tangent x, so the function is x**2 and its gradient 2x.
    def f(x):
        return x * jvp(lambda y: x * y, (1.0,), (1.0,))[1]

    assert float(grad(f)(3.0)) == 6.0


def test_grad_inside_jvp_closes_over_the_outer_variable():
    def f(x):
        return grad(lambda y: x * y**2)(x)  # 2 x**2

    assert float(jvp(f, (3.0,), (1.0,))[1]) == 12.0


def test_grad_of_grad_of_cube():
    cube = lambda x: x**3
    assert float(grad(grad(cube))(2.0)) == 12.0
    assert float(grad(grad(grad(cube)))(2.0)) == 6.0


def test_hessian_of_function_calling_grad_inside():
    # g(x) = d/dy sum(x * y**2) at y = x = 2 x**2, so f(x) = sum(2 x**3), H = diag(12 x).
    def f(x):
        inner = grad(lambda y: fnp.sum(x * y**2))(x)
        return fnp.sum(inner * x)

    x = np.array([1.0, -2.0, 0.5])
    assert_allclose(f(x), np.sum(2 * x**3))
    assert_allclose(hessian(f)(x), np.diag(12 * x), rtol=1e-12)


def test_jacfwd_of_grad_equals_hessian():
    f = lambda x: fnp.sum(fnp.sin(x) * x[::-1])
    x = np.array([0.3, -1.2, 2.0])
    assert_allclose(jacfwd(grad(f))(x), hessian(f)(x), rtol=1e-12)
    assert_allclose(jacrev(grad(f))(x), hessian(f)(x), rtol=1e-12)


# ---------------------------------------------------------------------------------------
# grad and value_and_grad


def test_grad_of_dict_argument_has_the_dict_structure():
    g = grad(lambda p: p["w"] * p["b"])({"w": 2.0, "b": 3.0})
    assert set(g) == {"w", "b"}
    assert float(g["w"]) == 3.0 and float(g["b"]) == 2.0


def test_grad_of_nested_pytree_keeps_lists_tuples_namedtuples_and_none():
    params = {
        "layers": [np.array([1.0, 2.0]), (np.array(3.0), None)],
        "point": Point(x=np.array(4.0), y=np.array([5.0, 6.0])),
    }

    def loss(p):
        a, (b, _) = p["layers"]
        return fnp.sum(a * b) + p["point"].x * fnp.sum(p["point"].y ** 2)

    g = grad(loss)(params)
    expected = {
        "layers": [np.array([3.0, 3.0]), (np.array(3.0), None)],
        "point": Point(x=np.array(61.0), y=np.array([40.0, 48.0])),
    }
    leaves_close(g, expected)
    assert isinstance(g["point"], Point)
    assert isinstance(g["layers"], list) and isinstance(g["layers"][1], tuple)
    assert g["layers"][1][1] is None


def test_grad_of_registered_dataclass_returns_the_dataclass():
    layer = Linear(weight=np.array([[1.0, 2.0]]), bias=np.array([0.5]), name="head")
    x = np.array([3.0, 4.0])
    g = grad(lambda m: fnp.sum(m.weight @ x + m.bias))(layer)
    assert isinstance(g, Linear)
    assert g.name == "head"
    assert_allclose(g.weight, [[3.0, 4.0]])
    assert_allclose(g.bias, [1.0])


def test_value_and_grad_returns_value_and_gradient():
    value, g = value_and_grad(lambda x: fnp.sum(x**2))(np.array([1.0, 2.0]))
    assert float(value) == 5.0
    assert_allclose(g, [2.0, 4.0])


def test_grad_argnums_tuple_returns_a_tuple_of_gradients():
    g = grad(lambda x, y, z: x * y * z, argnums=(0, 2))(2.0, 3.0, 4.0)
    assert isinstance(g, tuple) and len(g) == 2
    assert [float(v) for v in g] == [12.0, 6.0]


def test_grad_argnums_one_element_tuple_returns_a_one_element_tuple():
    g = grad(lambda x, y: x * y, argnums=(1,))(2.0, 3.0)
    assert isinstance(g, tuple) and len(g) == 1
    assert float(g[0]) == 2.0


def test_grad_negative_argnums_counts_from_the_last_argument():
    f = lambda x, y, z: x * y**2 * z
    assert float(grad(f, argnums=-1)(2.0, 3.0, 4.0)) == 18.0
    assert float(grad(f, argnums=-2)(2.0, 3.0, 4.0)) == 48.0
    assert [float(g) for g in grad(f, argnums=(-3, -1))(2.0, 3.0, 4.0)] == [36.0, 18.0]


def test_grad_keyword_arguments_pass_through_undifferentiated():
    def f(x, *, scale, offset=0.0):
        return scale * x**2 + offset

    assert float(grad(f)(3.0, scale=2.0)) == 12.0
    assert float(grad(f)(3.0, scale=2.0, offset=5.0)) == 12.0
    value, g = value_and_grad(f)(3.0, scale=2.0, offset=1.0)
    assert (float(value), float(g)) == (19.0, 12.0)


def test_grad_keyword_argument_may_be_an_array():
    f = lambda x, w=None: fnp.sum(w * x)
    assert_allclose(grad(f)(np.ones(3), w=np.array([1.0, 2.0, 3.0])), [1.0, 2.0, 3.0])


def test_grad_has_aux_returns_gradient_and_aux():
    def f(x):
        loss = fnp.sum(x**2)
        return loss, {"loss": loss, "twice": 2 * x}

    g, aux = grad(f, has_aux=True)(np.array([1.0, 2.0]))
    assert_allclose(g, [2.0, 4.0])
    assert_allclose(aux["loss"], 5.0)
    assert_allclose(aux["twice"], [2.0, 4.0])
    assert type(aux["twice"]) is np.ndarray


def test_value_and_grad_has_aux_returns_value_aux_pair_and_gradient():
    (value, aux), g = value_and_grad(lambda x: (x**2, x + 1.0), has_aux=True)(3.0)
    assert (float(value), float(aux), float(g)) == (9.0, 4.0, 6.0)


def test_grad_of_function_not_using_its_argument_is_zero():
    g = grad(lambda x, y: y * 2.0)(np.ones(3), 1.0)
    assert type(g) is np.ndarray
    assert_allclose(g, np.zeros(3))


def test_grad_of_constant_function_is_zero():
    assert float(grad(lambda x: 3.0)(1.0)) == 0.0


def test_grad_of_argument_used_twice_accumulates():
    assert float(grad(lambda x: x * x + x)(3.0)) == 7.0


def test_grad_returns_plain_numpy_values():
    g = grad(lambda x: fnp.sum(fnp.tanh(x)))(np.zeros(3))
    assert type(g) is np.ndarray
    assert g.flags.writeable  # a user may update it in place
    g[0] = 5.0


# ---------------------------------------------------------------------------------------
# jvp


def test_jvp_of_sin_gives_cos_times_tangent():
    y, dy = jvp(fnp.sin, (0.5,), (2.0,))
    assert_allclose(y, math.sin(0.5))
    assert_allclose(dy, 2.0 * math.cos(0.5))


def test_jvp_on_pytree_inputs_and_outputs():
    def f(p):
        return {"sum": p["a"] + p["b"][0], "prod": (p["a"] * p["b"][1], None)}

    primals = ({"a": np.array([1.0, 2.0]), "b": [np.array(3.0), np.array([4.0, 5.0])]},)
    tangents = ({"a": np.array([1.0, 0.0]), "b": [np.array(1.0), np.array([0.0, 1.0])]},)
    out, t_out = jvp(f, primals, tangents)
    leaves_close(out, {"sum": np.array([4.0, 5.0]), "prod": (np.array([4.0, 10.0]), None)})
    leaves_close(t_out, {"sum": np.array([2.0, 1.0]), "prod": (np.array([4.0, 2.0]), None)})


def test_jvp_accepts_lists_of_primals_and_tangents():
    out, t = jvp(lambda x, y: x * y, [2.0, 3.0], [1.0, 0.0])
    assert (float(out), float(t)) == (6.0, 3.0)


def test_jvp_has_aux_returns_aux_as_a_plain_value():
    out, t, aux = jvp(lambda x: (x**2, x * 10.0), (3.0,), (1.0,), has_aux=True)
    assert (float(out), float(t), float(aux)) == (9.0, 6.0, 30.0)
    assert not isinstance(aux, fungrad.core.Tracer)


def test_jvp_with_integer_primal_takes_float0_tangent():
    x = np.array([1.0, 2.0])
    idx = np.array(1)
    out, t = jvp(lambda x, i: x[i] * 3.0, (x, idx), (np.ones(2), np.zeros((), fungrad.float0)))
    assert (float(out), float(t)) == (6.0, 3.0)


def test_jvp_of_output_independent_of_input_has_zero_tangent():
    out, t = jvp(lambda x: np.array([1.0, 2.0]), (3.0,), (1.0,))
    assert_allclose(t, np.zeros(2))


# ---------------------------------------------------------------------------------------
# vjp


def test_vjp_on_pytree_inputs_and_outputs():
    def f(x, p):
        return {"a": x * p[0], "b": (fnp.sum(x) * p[1], None)}

    x = np.array([1.0, 2.0])
    out, f_vjp = vjp(f, x, (3.0, 4.0))
    leaves_close(out, {"a": np.array([3.0, 6.0]), "b": (np.array(12.0), None)})
    ct_x, ct_p = f_vjp({"a": np.array([1.0, 1.0]), "b": (np.array(1.0), None)})
    assert_allclose(ct_x, [3.0 + 4.0, 3.0 + 4.0])
    assert isinstance(ct_p, tuple)
    assert_allclose(ct_p[0], 3.0)
    assert_allclose(ct_p[1], 3.0)


def test_vjp_function_can_be_called_many_times():
    a = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    _, f_vjp = vjp(lambda x: a @ fnp.sin(x), np.array([0.1, 0.2]))
    jac = a * np.cos([0.1, 0.2])
    for row in np.eye(3):
        (ct,) = f_vjp(row)
        assert_allclose(ct, row @ jac)


def test_vjp_has_aux_returns_aux_without_tracers():
    out, f_vjp, aux = vjp(lambda x: (x**2, [x, 2.0]), 3.0, has_aux=True)
    assert float(out) == 9.0
    assert float(f_vjp(1.0)[0]) == 6.0
    assert float(aux[0]) == 3.0 and aux[1] == 2.0
    assert not isinstance(aux[0], fungrad.core.Tracer)


# ---------------------------------------------------------------------------------------
# jacfwd, jacrev, hessian


def vector_function(x):
    """R^(2,3) -> R^(2,2), non-linear in every entry."""
    return fnp.tanh(x) @ fnp.exp(x.T * 0.3) + fnp.sin(x[:, :2]) * x[:, 2:]


@pytest.mark.parametrize("jac", [jacfwd, jacrev], ids=["jacfwd", "jacrev"])
def test_jacobian_matches_numerical_jacobian(jac):
    x = np.linspace(-1.0, 1.5, 6).reshape(2, 3)
    j = jac(vector_function)(x)
    assert j.shape == (2, 2, 2, 3)
    assert_allclose(j, numerical_jacobian(vector_function, x), rtol=1e-6, atol=1e-8)


@given(hnp.arrays(np.float64, (4,), elements=st.floats(-3.0, 3.0)))
def test_jacfwd_equals_jacrev_equals_numerical_jacobian(x):
    f = lambda x: fnp.stack([fnp.sum(fnp.sin(x) * x), x[0] * x[3], fnp.tanh(x[1] - x[2])])
    fwd = jacfwd(f)(x)
    rev = jacrev(f)(x)
    assert fwd.shape == rev.shape == (3, 4)
    assert_allclose(fwd, rev, rtol=1e-12, atol=1e-12)
    assert_allclose(fwd, numerical_jacobian(f, x), rtol=1e-5, atol=1e-6)


def pytree_function(p):
    return {
        "u": fnp.sin(p["a"]) * p["b"][0],
        "v": (fnp.sum(p["a"] ** 2) * p["b"][1], p["b"][1] ** 2),
    }


PYTREE_INPUT = {"a": np.array([0.5, -1.0]), "b": (np.array(2.0), np.array(3.0))}


@pytest.mark.parametrize("jac", [jacfwd, jacrev], ids=["jacfwd", "jacrev"])
def test_jacobian_of_pytrees_has_output_structure_outside_input_structure_inside(jac):
    j = jac(pytree_function)(PYTREE_INPUT)
    assert set(j) == {"u", "v"}
    assert set(j["u"]) == {"a", "b"}
    assert isinstance(j["v"], tuple) and isinstance(j["u"]["b"], tuple)
    assert j["u"]["a"].shape == (2, 2)
    assert j["u"]["b"][0].shape == (2,)
    assert j["v"][0]["a"].shape == (2,)
    assert j["v"][1]["b"][1].shape == ()
    a, (b0, b1) = PYTREE_INPUT["a"], PYTREE_INPUT["b"]
    assert_allclose(j["u"]["a"], np.diag(np.cos(a) * b0))
    assert_allclose(j["u"]["b"][0], np.sin(a))
    assert_allclose(j["u"]["b"][1], np.zeros(2))
    assert_allclose(j["v"][0]["a"], 2 * a * b1)
    assert_allclose(j["v"][0]["b"][1], np.sum(a**2))
    assert_allclose(j["v"][1]["b"][1], 2 * b1)
    assert_allclose(j["v"][1]["a"], np.zeros(2))


def test_jacfwd_and_jacrev_of_pytrees_agree():
    leaves_close(jacfwd(pytree_function)(PYTREE_INPUT), jacrev(pytree_function)(PYTREE_INPUT))


@pytest.mark.parametrize("jac", [jacfwd, jacrev], ids=["jacfwd", "jacrev"])
def test_jacobian_argnums_tuple_gives_a_tuple_per_output(jac):
    f = lambda x, y, z: {"p": x * y, "q": fnp.sum(y) * z}
    x, y, z = np.array([1.0, 2.0]), np.array([3.0, 4.0]), 5.0
    j = jac(f, argnums=(1, 2))(x, y, z)
    assert isinstance(j["p"], tuple) and len(j["p"]) == 2
    assert_allclose(j["p"][0], np.diag(x))
    assert_allclose(j["p"][1], np.zeros(2))
    assert_allclose(j["q"][0], [5.0, 5.0])
    assert_allclose(j["q"][1], 7.0)


@pytest.mark.parametrize("jac", [jacfwd, jacrev], ids=["jacfwd", "jacrev"])
def test_jacobian_negative_argnums(jac):
    f = lambda x, y: x * y**2
    assert_allclose(jac(f, argnums=-1)(np.array([1.0, 2.0]), 3.0), [6.0, 12.0])


@pytest.mark.parametrize("jac", [jacfwd, jacrev], ids=["jacfwd", "jacrev"])
def test_jacobian_has_aux(jac):
    j, aux = jac(lambda x: (x**2, {"mean": fnp.mean(x)}), has_aux=True)(np.array([1.0, 2.0]))
    assert_allclose(j, np.diag([2.0, 4.0]))
    assert_allclose(aux["mean"], 1.5)
    assert not isinstance(aux["mean"], fungrad.core.Tracer)


@pytest.mark.parametrize("jac", [jacfwd, jacrev], ids=["jacfwd", "jacrev"])
def test_jacobian_keyword_arguments_pass_through(jac):
    f = lambda x, power=2: x**power
    assert_allclose(jac(f)(np.array([1.0, 2.0]), power=3), np.diag([3.0, 12.0]))


@pytest.mark.parametrize("jac", [jacfwd, jacrev], ids=["jacfwd", "jacrev"])
def test_jacobian_of_scalar_function_of_matrix_has_matrix_shape(jac):
    x = np.arange(6.0).reshape(2, 3)
    assert_allclose(jac(lambda x: fnp.sum(x**2))(x), 2 * x)


@pytest.mark.parametrize("jac", [jacfwd, jacrev], ids=["jacfwd", "jacrev"])
def test_jacobian_of_vector_of_scalar_input_has_output_shape(jac):
    assert_allclose(jac(lambda t: fnp.stack([t, t**2, t**3]))(2.0), [1.0, 4.0, 12.0])


def hand_hessian_function(x):
    return x[0] ** 2 * x[1] + fnp.sin(x[1]) * x[2] + x[2] ** 3


def hand_hessian(x):
    x0, x1, x2 = x
    return np.array(
        [
            [2 * x1, 2 * x0, 0.0],
            [2 * x0, -math.sin(x1) * x2, math.cos(x1)],
            [0.0, math.cos(x1), 6 * x2],
        ]
    )


def test_hessian_matches_hand_derived_hessian():
    x = np.array([0.7, -1.3, 2.1])
    assert_allclose(hessian(hand_hessian_function)(x), hand_hessian(x), rtol=1e-12)


@given(hnp.arrays(np.float64, (3,), elements=st.floats(-2.0, 2.0)))
def test_hessian_matches_hand_derived_hessian_everywhere(x):
    assert_allclose(hessian(hand_hessian_function)(x), hand_hessian(x), rtol=1e-10, atol=1e-12)


def test_hessian_argnums_tuple_gives_nested_blocks():
    f = lambda x, y: x**2 * y**3
    h = hessian(f, argnums=(0, 1))(2.0, 3.0)
    assert isinstance(h, tuple) and all(isinstance(row, tuple) for row in h)
    assert [[float(v) for v in row] for row in h] == [[54.0, 108.0], [108.0, 72.0]]


def test_hessian_of_dict_argument_nests_dicts():
    f = lambda p: p["a"] ** 2 * p["b"]
    h = hessian(f)({"a": 2.0, "b": 3.0})
    assert float(h["a"]["a"]) == 6.0
    assert float(h["a"]["b"]) == 4.0
    assert float(h["b"]["a"]) == 4.0
    assert float(h["b"]["b"]) == 0.0


def test_hessian_has_aux():
    h, aux = hessian(lambda x: (fnp.sum(x**3), x * 2.0), has_aux=True)(np.array([1.0, 2.0]))
    assert_allclose(h, np.diag([6.0, 12.0]))
    assert_allclose(aux, [2.0, 4.0])


def test_hessian_keyword_arguments_pass_through():
    h = hessian(lambda x, c=1.0: c * fnp.sum(x**2))(np.array([1.0, 2.0]), c=3.0)
    assert_allclose(h, 6.0 * np.eye(2))


# ---------------------------------------------------------------------------------------
# linearize and linear_transpose


def test_linearize_function_reused_on_several_tangents_matches_jvp():
    f = lambda x: fnp.sin(x) * fnp.sum(x**2)
    x = np.array([0.3, -0.7, 1.1])
    y, f_jvp = linearize(f, x)
    assert_allclose(y, f(x))
    rng = np.random.default_rng(0)
    for _ in range(4):
        t = rng.standard_normal(3)
        assert_allclose(f_jvp(t), jvp(f, (x,), (t,))[1], rtol=1e-12)


def test_linearize_function_is_linear():
    f = lambda x: fnp.exp(x) * x[::-1]
    x = np.array([0.1, 0.2, 0.3])
    _, f_jvp = linearize(f, x)
    t1, t2 = np.array([1.0, -2.0, 0.5]), np.array([0.3, 0.0, 4.0])
    assert_allclose(f_jvp(2.0 * t1 + 3.0 * t2), 2.0 * f_jvp(t1) + 3.0 * f_jvp(t2), rtol=1e-12)


def test_linearize_does_not_call_the_function_again():
    calls = []

    def f(x):
        calls.append(None)
        return fnp.sin(x)

    _, f_jvp = linearize(f, 0.5)
    f_jvp(1.0)
    f_jvp(2.0)
    assert len(calls) == 1


def test_linearize_on_pytrees_of_several_arguments():
    f = lambda p, s: {"out": p["w"] * s, "sq": p["w"] ** 2}
    y, f_jvp = linearize(f, {"w": np.array([1.0, 2.0])}, 3.0)
    leaves_close(y, {"out": np.array([3.0, 6.0]), "sq": np.array([1.0, 4.0])})
    t = f_jvp({"w": np.array([1.0, 0.0])}, 1.0)
    leaves_close(t, {"out": np.array([4.0, 2.0]), "sq": np.array([2.0, 0.0])})


def test_linear_transpose_of_matrix_product_is_the_transposed_matrix():
    a = np.arange(6.0).reshape(2, 3) - 2.0
    f_t = linear_transpose(lambda x: a @ x, np.zeros(3))
    ct = np.array([1.5, -2.0])
    (x_ct,) = f_t(ct)
    assert_allclose(x_ct, a.T @ ct)


def test_linear_transpose_recovers_the_transposed_jacobian_column_by_column():
    a = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]])
    f = lambda x: a @ x * 2.0 - fnp.sum(x)
    f_t = linear_transpose(f, np.zeros(3))
    matrix = 2.0 * a - 1.0
    rows = [f_t(e)[0] for e in np.eye(2)]
    assert_allclose(np.stack(rows), matrix)


def test_linear_transpose_on_pytrees():
    f = lambda x, p: (x + 2.0 * p["y"], fnp.sum(x))
    f_t = linear_transpose(f, np.zeros(2), {"y": np.zeros(2)})
    x_ct, p_ct = f_t((np.array([1.0, 2.0]), np.array(10.0)))
    assert_allclose(x_ct, [11.0, 12.0])
    assert_allclose(p_ct["y"], [2.0, 4.0])


def test_linear_transpose_uses_only_shapes_of_primals():
    f_t = linear_transpose(lambda x: 3.0 * x, np.array([100.0, -7.0]))
    assert_allclose(f_t(np.array([1.0, 2.0]))[0], [3.0, 6.0])


# ---------------------------------------------------------------------------------------
# make_jaxpr and eval_jaxpr


def sin_mul_sum(x, y):
    return fnp.sum(fnp.sin(x) * y)


def test_make_jaxpr_prints_the_traced_program():
    jaxpr = make_jaxpr(sin_mul_sum)(np.ones(3), np.ones(3))
    assert str(jaxpr) == (
        "{ lambda ; a:f64[3] b:f64[3]. let\n"
        "    c:f64[3] = sin a\n"
        "    d:f64[3] = mul c b\n"
        "    e:f64[] = reduce_sum[axes=(0,)] d\n"
        "  in (e,) }"
    )


def test_make_jaxpr_prints_closed_over_arrays_as_constvars():
    c = np.arange(3.0)
    jaxpr = make_jaxpr(lambda x: x * c + 1.0)(np.ones(3))
    assert str(jaxpr) == (
        "{ lambda a:f64[3] ; b:f64[3]. let\n"
        "    c:f64[3] = mul b a\n"
        "    d:f64[3] = add c 1.0\n"
        "  in (d,) }"
    )
    assert len(jaxpr.consts) == 1 and jaxpr.consts[0] is c


def test_make_jaxpr_keeps_float32():
    jaxpr = make_jaxpr(lambda x: fnp.sum(x, axis=0))(np.ones((2, 3), np.float32))
    assert str(jaxpr) == (
        "{ lambda ; a:f32[2,3]. let\n    b:f32[3] = reduce_sum[axes=(0,)] a\n  in (b,) }"
    )


def test_make_jaxpr_only_uses_shapes_and_dtypes():
    a = make_jaxpr(sin_mul_sum)(np.ones(3), np.ones(3))
    b = make_jaxpr(sin_mul_sum)(np.arange(3.0), -np.ones(3))
    assert str(a) == str(b)


def test_eval_jaxpr_of_make_jaxpr_gives_the_function_values():
    jaxpr = make_jaxpr(sin_mul_sum)(np.ones(3), np.ones(3))
    x, y = np.array([0.1, 0.2, 0.3]), np.array([1.0, -2.0, 3.0])
    (out,) = eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, x, y)
    assert_allclose(out, np.sum(np.sin(x) * y))


def test_eval_jaxpr_with_constvars_and_pytree_inputs():
    c = np.array([2.0, 3.0])
    f = lambda p: (p["a"] * c, fnp.sum(p["b"]) + 1.0)
    jaxpr = make_jaxpr(f)({"a": np.ones(2), "b": np.ones(4)})
    a, b = np.array([1.0, -1.0]), np.arange(4.0)
    out = eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, a, b)
    assert_allclose(out[0], a * c)
    assert_allclose(out[1], 7.0)


def test_eval_jaxpr_can_be_differentiated():
    jaxpr = make_jaxpr(sin_mul_sum)(np.ones(3), np.ones(3))
    y = np.array([1.0, 2.0, 3.0])
    g = grad(lambda x: eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, x, y)[0])(np.zeros(3))
    assert_allclose(g, y)


def test_make_jaxpr_of_grad_shows_a_program_without_tracers():
    jaxpr = make_jaxpr(grad(lambda x: fnp.sum(x**2)))(np.ones(3))
    assert jaxpr.in_avals == [fungrad.ShapedArray((3,), np.dtype(np.float64))]
    assert jaxpr.out_avals == [fungrad.ShapedArray((3,), np.dtype(np.float64))]
    x = np.array([1.0, -2.0, 3.0])
    assert_allclose(eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, x)[0], 2 * x)


def test_make_jaxpr_keyword_arguments_are_static():
    jaxpr = make_jaxpr(lambda x, n=1: x * n if n > 1 else x)(np.ones(2), n=3)
    assert [e.primitive.name for e in jaxpr.eqns] == ["mul"]


# ---------------------------------------------------------------------------------------
# Python control flow on values


def piecewise(x):
    if x > 0:
        return x**2
    return -(x**3)


def loops(x):
    y = x
    while y < 10.0:
        y = y * 2.0
    for _ in range(int(x) + 1):
        y = y + x
    return y


def test_python_if_works_under_grad_and_vjp():
    assert float(grad(piecewise)(3.0)) == 6.0
    assert float(grad(piecewise)(-2.0)) == -12.0
    assert float(vjp(piecewise, -2.0)[1](1.0)[0]) == -12.0


def test_python_if_works_under_jvp_jacfwd_jacrev_and_hessian():
    assert float(jvp(piecewise, (3.0,), (1.0,))[1]) == 6.0
    assert float(jacfwd(piecewise)(-2.0)) == -12.0
    assert float(jacrev(piecewise)(-2.0)) == -12.0
    assert float(hessian(piecewise)(3.0)) == 2.0
    assert float(hessian(piecewise)(-2.0)) == 12.0


def test_python_while_and_for_work_under_every_differentiation():
    # x = 3: y doubles to 12 (factor 4), then x is added 4 times: y = 4x + 4x = 8x.
    assert float(loops(3.0)) == 24.0
    assert float(grad(loops)(3.0)) == 8.0
    assert float(jvp(loops, (3.0,), (1.0,))[1]) == 8.0
    assert float(vjp(loops, 3.0)[1](1.0)[0]) == 8.0
    assert float(jacfwd(loops)(3.0)) == 8.0
    assert float(jacrev(loops)(3.0)) == 8.0
    assert float(hessian(loops)(3.0)) == 0.0


def test_python_control_flow_on_array_elements_under_grad():
    def f(x):
        total = 0.0
        for v in x:
            total = total + (v**2 if v > 0 else -v)
        return total

    assert_allclose(grad(f)(np.array([1.0, -2.0, 3.0])), [2.0, -1.0, 6.0])


def test_python_if_under_make_jaxpr_raises_concretization_error():
    with pytest.raises(ConcretizationError):
        make_jaxpr(piecewise)(1.0)


def test_concretization_error_is_a_type_error():
    with pytest.raises(TypeError):
        make_jaxpr(piecewise)(1.0)


def test_make_jaxpr_with_static_argnums_allows_python_control_flow():
    def f(x, n):
        for _ in range(n):
            x = fnp.sin(x)
        return x if n > 1 else -x

    jaxpr = make_jaxpr(f, static_argnums=1)(np.ones(2), 3)
    assert [e.primitive.name for e in jaxpr.eqns] == ["sin", "sin", "sin"]
    assert len(jaxpr.jaxpr.invars) == 1
    x = np.array([0.1, 0.2])
    assert_allclose(eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, x)[0], np.sin(np.sin(np.sin(x))))


def test_make_jaxpr_static_argnums_tuple_and_negative():
    def f(x, flag, scale):
        return x * scale if flag else x

    jaxpr = make_jaxpr(f, static_argnums=(1, -1))(np.ones(2), True, 2.0)
    assert str(jaxpr) == ("{ lambda ; a:f64[2]. let\n    b:f64[2] = mul a 2.0\n  in (b,) }")


# ---------------------------------------------------------------------------------------
# dtypes


F32 = np.float32


def test_grad_of_float32_input_is_float32():
    x = np.array([1.0, 2.0], F32)
    value, g = value_and_grad(lambda x: fnp.sum(fnp.sin(x) * x))(x)
    assert value.dtype == F32
    assert g.dtype == F32


def test_python_scalars_are_weak_under_grad():
    x = np.array(1.5, F32)
    assert grad(lambda x: x * 2.0)(x).dtype == F32
    assert grad(lambda x: 2.0 * x + 1.0 - x / 3.0)(x).dtype == F32
    assert value_and_grad(lambda x: fnp.sum(x**2 * 0.5))(np.ones(3, F32))[0].dtype == F32


def test_jvp_of_float32_gives_float32_primal_and_tangent():
    x = np.array([1.0, 2.0], F32)
    out, t = jvp(lambda x: fnp.exp(x) * 2.0, (x,), (np.ones(2, F32),))
    assert out.dtype == F32 and t.dtype == F32


def test_jvp_python_scalar_tangent_adopts_float32_primal_dtype():
    out, t = jvp(lambda x: x * 3.0, (np.array(1.0, F32),), (1.0,))
    assert out.dtype == F32 and t.dtype == F32


def test_vjp_of_float32_gives_float32_cotangents():
    x = np.array([1.0, 2.0], F32)
    out, f_vjp = vjp(lambda x: fnp.tanh(x) * 0.5, x)
    assert out.dtype == F32
    assert f_vjp(np.ones(2, F32))[0].dtype == F32


@pytest.mark.parametrize("jac", [jacfwd, jacrev, hessian], ids=["jacfwd", "jacrev", "hessian"])
def test_jacobians_of_float32_are_float32(jac):
    f = lambda x: fnp.sum(fnp.sin(x) * x) * 2.0
    assert jac(f)(np.array([1.0, 2.0], F32)).dtype == F32


def test_integer_arguments_not_in_argnums_flow_through():
    logits = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]])
    labels = np.array([2, 0])

    def nll(logits, labels):
        logp = logits - fnp.log(fnp.sum(fnp.exp(logits), axis=1, keepdims=True))
        return -fnp.mean(logp[np.arange(2), labels])

    g = grad(nll)(logits, labels)
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert_allclose(g, (softmax - np.eye(3)[labels]) / 2)


def test_integer_argument_used_in_float_arithmetic_has_no_gradient():
    g = grad(lambda x, n: x * n, argnums=0)(2.0, 3)
    assert float(g) == 3.0


def test_vjp_of_integer_input_gives_float0_cotangent():
    _, f_vjp = vjp(lambda x, i: x * i, 2.0, np.array(3))
    ct_x, ct_i = f_vjp(1.0)
    assert float(ct_x) == 3.0
    assert ct_i.dtype == fungrad.float0


def test_vjp_of_integer_output_accepts_a_float0_cotangent():
    _, f_vjp = vjp(lambda x: (x * 2.0, fnp.argmax(x)), np.array([1.0, 3.0]))
    (ct,) = f_vjp((np.ones(2), np.zeros((), fungrad.float0)))
    assert_allclose(ct, [2.0, 2.0])


def test_jvp_of_integer_output_gives_a_float0_tangent():
    out, t = jvp(lambda x: fnp.argmax(x), (np.array([1.0, 3.0]),), (np.ones(2),))
    assert int(out) == 1
    assert t.dtype == fungrad.float0 and t.shape == ()


def test_grad_through_astype_float32_to_float64():
    g = grad(lambda x: fnp.sum(fnp.astype(x, np.float64) ** 2))(np.array([1.0, 2.0], F32))
    assert g.dtype == F32
    assert_allclose(g, [2.0, 4.0])


# ---------------------------------------------------------------------------------------
# Long programs


def test_grad_of_ten_thousand_multiplications_does_not_recurse():
    def f(x):
        for _ in range(10_000):
            x = x * 1.0001
        return x

    assert float(grad(f)(1.0)) == pytest.approx(1.0001**10_000, rel=1e-10)


def test_jvp_of_ten_thousand_multiplications_does_not_recurse():
    def f(x):
        for _ in range(10_000):
            x = x * 1.0001
        return x

    out, t = jvp(f, (2.0,), (1.0,))
    assert float(out) == pytest.approx(2.0 * 1.0001**10_000, rel=1e-10)
    assert float(t) == pytest.approx(1.0001**10_000, rel=1e-10)


def test_grad_and_jvp_of_ten_thousand_nested_sines_match_a_loop():
    n = 10_000

    def f(x):
        for _ in range(n):
            x = fnp.sin(x)
        return x

    value, derivative = 0.8, 1.0
    for _ in range(n):
        derivative *= math.cos(value)
        value = math.sin(value)
    assert float(grad(f)(0.8)) == pytest.approx(derivative, rel=1e-9)
    out, t = jvp(f, (0.8,), (1.0,))
    assert float(out) == pytest.approx(value, rel=1e-12)
    assert float(t) == pytest.approx(derivative, rel=1e-9)


# ---------------------------------------------------------------------------------------
# stop_gradient


def test_stop_gradient_blocks_the_gradient():
    assert float(grad(lambda x: x * stop_gradient(x))(3.0)) == 3.0
    assert float(jvp(lambda x: stop_gradient(x) ** 2, (3.0,), (1.0,))[1]) == 0.0


def test_stop_gradient_on_a_pytree():
    def f(p):
        q = stop_gradient(p)
        return p["a"] * q["b"] + q["a"] * p["b"] + q["a"]

    g = grad(f)({"a": 2.0, "b": 5.0})
    assert (float(g["a"]), float(g["b"])) == (5.0, 2.0)


def test_stop_gradient_eager_returns_its_input_values():
    assert_allclose(stop_gradient(np.array([1.0, 2.0])), [1.0, 2.0])


def test_python_scalars_are_weak_and_numpy_functions_of_them_are_not():
    # As in NumPy: fnp.sin(2.0) is a numpy.float64 (with array methods), which takes
    # part in promotion, while Python arithmetic on a Python scalar (s * s) stays weak.
    assert type(fnp.sin(2.0)) is np.float64
    assert fnp.sin(2.0).clip(0, 0.5) == 0.5
    assert fnp.astype(3.0, np.float32).dtype == np.float32  # a cast makes it strong
    x32 = np.ones(2, np.float32)
    f = lambda x, s: x * fnp.sin(s * s)  # noqa: E731
    g = lambda x, s: x * (s * s)  # noqa: E731
    for fun, dtype in ((f, np.float64), (g, np.float32)):
        assert fun(x32, 3.0).dtype == dtype == (x32 * np.sin(9.0) if fun is f else x32 * 9.0).dtype
        assert fungrad.jit(fun)(x32, 3.0).dtype == dtype
        batch = np.ones((2, 2), np.float32)
        assert fungrad.vmap(fun, in_axes=(0, None))(batch, 3.0).dtype == dtype
        assert fungrad.jvp(fun, (x32, 3.0), (x32, 1.0))[0].dtype == dtype
