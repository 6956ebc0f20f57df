"""Misuse of the transformations raises the documented error classes with messages that say
what happened and what to do. Each message is pinned with ``pytest.raises(..., match=...)``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import fungrad
import fungrad.numpy as fnp
from fungrad import (
    grad,
    hessian,
    jacfwd,
    jacrev,
    jvp,
    linear_transpose,
    linearize,
    make_jaxpr,
    value_and_grad,
    vjp,
)
from fungrad.errors import (
    ConcretizationError,
    EscapedTracerError,
    FungradTypeError,
    FungradValueError,
    NonLinearError,
    ShapeError,
)


def test_error_classes_subclass_the_fitting_builtins():
    assert issubclass(FungradTypeError, TypeError)
    assert issubclass(FungradValueError, ValueError)
    assert issubclass(ShapeError, ValueError)
    assert issubclass(ConcretizationError, TypeError)
    assert issubclass(EscapedTracerError, TypeError)
    assert issubclass(NonLinearError, TypeError)


# ---------------------------------------------------------------------------------------
# grad of a non-scalar output


def test_grad_of_vector_output_shows_the_shape_and_suggests_jacrev_or_vjp():
    with pytest.raises(TypeError, match=r"scalar output.*shape \(3, 2\).*jacrev or vjp"):
        grad(lambda x: x * np.ones((3, 2)))(1.0)


def test_value_and_grad_of_vector_output_shows_the_shape():
    with pytest.raises(TypeError, match=r"scalar output.*shape \(4,\)"):
        value_and_grad(lambda x: x)(np.ones(4))


def test_grad_of_tuple_output_suggests_has_aux():
    with pytest.raises(TypeError, match=r"returned a tuple of 2 values.*has_aux=True") as info:
        grad(lambda x: (fnp.sum(x), x))(np.ones(2))
    assert "jacrev" in str(info.value)


def test_grad_of_list_output_suggests_has_aux():
    with pytest.raises(TypeError, match=r"list of 2 values.*has_aux=True"):
        grad(lambda x: [x, x])(1.0)


def test_grad_of_dict_output_suggests_jacrev():
    with pytest.raises(TypeError, match=r"scalar output.*dict.*jacrev or vjp"):
        grad(lambda x: {"a": x})(1.0)


def test_grad_of_boolean_output_names_the_dtype():
    with pytest.raises(TypeError, match=r"floating-point output.*bool"):
        grad(lambda x: x > 0)(1.0)


def test_grad_has_aux_whose_primary_output_is_a_vector_shows_the_shape():
    with pytest.raises(TypeError, match=r"scalar output.*shape \(2,\)"):
        grad(lambda x: (x, 1.0), has_aux=True)(np.ones(2))


# ---------------------------------------------------------------------------------------
# has_aux with an output that is not a pair


@pytest.mark.parametrize(
    "transform",
    [
        lambda f: grad(f, has_aux=True)(1.0),
        lambda f: value_and_grad(f, has_aux=True)(1.0),
        lambda f: vjp(f, 1.0, has_aux=True),
        lambda f: jvp(f, (1.0,), (1.0,), has_aux=True),
        lambda f: jacfwd(f, has_aux=True)(1.0),
        lambda f: jacrev(f, has_aux=True)(1.0),
        lambda f: hessian(f, has_aux=True)(1.0),
    ],
    ids=["grad", "value_and_grad", "vjp", "jvp", "jacfwd", "jacrev", "hessian"],
)
def test_has_aux_with_a_non_pair_output_asks_for_a_pair(transform):
    with pytest.raises(TypeError, match=r"has_aux=True requires the function to return a pair"):
        transform(lambda x: x * 2.0)
    with pytest.raises(TypeError, match=r"has_aux=True.*a tuple of length 3"):
        transform(lambda x: (x, x, x))


@pytest.mark.parametrize(
    "transform",
    [
        lambda f: grad(f, has_aux=True)(1.0),
        lambda f: vjp(f, 1.0, has_aux=True),
        lambda f: jvp(f, (1.0,), (1.0,), has_aux=True),
        lambda f: jacrev(f, has_aux=True)(1.0),
    ],
    ids=["grad", "vjp", "jvp", "jacrev"],
)
def test_has_aux_error_describes_the_users_value_not_an_internal_tracer_class(transform):
    with pytest.raises(TypeError, match=r"has_aux=True") as info:
        transform(lambda x: x * 2.0)
    assert "Tracer" not in str(info.value)


# ---------------------------------------------------------------------------------------
# Differentiating with respect to integers and bools


def test_grad_with_respect_to_an_integer_names_the_argument():
    with pytest.raises(TypeError, match=r"floating-point inputs.*argument 1 \('n'\).*int64"):
        grad(lambda x, n: x * n, argnums=1)(1.0, 3)


def test_grad_with_respect_to_an_integer_array_names_the_argument():
    with pytest.raises(TypeError, match=r"argument 0 \('x'\) has dtype int32"):
        grad(lambda x: fnp.sum(x))(np.array([1, 2], np.int32))


def test_grad_with_respect_to_a_bool_names_the_argument():
    with pytest.raises(TypeError, match=r"argument 0 \('flag'\) has dtype bool"):
        grad(lambda flag: flag * 1.0)(True)


def test_grad_with_respect_to_an_integer_leaf_names_the_pytree_path():
    with pytest.raises(TypeError, match=re.escape("argument 0 ('params') at path ['b'][1]")):
        grad(lambda params: params["a"] * 2.0)({"a": 1.0, "b": [2.0, 3]})


def test_grad_with_respect_to_an_integer_suggests_a_fix():
    with pytest.raises(TypeError, match=r"astype\(float\).*argnums"):
        grad(lambda x: x * 2.0)(3)


@pytest.mark.parametrize("transform", [jacfwd, jacrev, hessian])
def test_jacobians_with_respect_to_an_integer_name_the_argument(transform):
    with pytest.raises(TypeError, match=r"floating-point inputs.*argument 0 \('x'\)"):
        transform(lambda x: x * 2.0)(np.array([1, 2]))


def test_linear_transpose_of_integer_primal_names_the_argument():
    with pytest.raises(TypeError, match=r"argument 0 \('x'\)"):
        linear_transpose(lambda x: x * 2, np.array([1, 2]))


def test_grad_of_a_string_argument_says_it_is_not_an_array():
    with pytest.raises(TypeError, match=r"argument 0 \('x'\) is a str, not an array"):
        grad(lambda x: 1.0)("hello")


# ---------------------------------------------------------------------------------------
# argnums and keyword arguments


@pytest.mark.parametrize("transform", [grad, value_and_grad, jacfwd, jacrev, hessian])
def test_argnums_out_of_range_names_argnums_and_argument_count(transform):
    with pytest.raises(
        ValueError, match=r"argnums=2 is out of range.*called with 2 positional arguments"
    ):
        transform(lambda x, y: x * y, argnums=2)(1.0, 2.0)


def test_negative_argnums_out_of_range_is_reported():
    with pytest.raises(ValueError, match=r"argnums=-3 is out of range"):
        grad(lambda x, y: x * y, argnums=-3)(1.0, 2.0)


def test_argnums_in_a_tuple_out_of_range_is_reported():
    with pytest.raises(ValueError, match=r"argnums=5 is out of range.*1 positional argument\."):
        grad(lambda x: x, argnums=(0, 5))(1.0)


def test_argnums_of_wrong_type_is_reported():
    with pytest.raises(TypeError, match=r"argnums must be an int or a non-empty tuple"):
        grad(lambda x: x, argnums=())(1.0)
    with pytest.raises(TypeError, match=r"argnums must be an int"):
        grad(lambda x: x, argnums="0")(1.0)


def test_argnums_pointing_at_a_keyword_argument_says_to_pass_it_positionally():
    with pytest.raises(ValueError, match=r"argnums=1 is out of range.*positionally"):
        grad(lambda x, y: x * y, argnums=1)(1.0, y=2.0)


def test_static_argnums_out_of_range_is_reported():
    with pytest.raises(ValueError, match=r"make_jaxpr.*=3 is out of range"):
        make_jaxpr(lambda x: x, static_argnums=3)(1.0)


@pytest.mark.parametrize("transform", [grad, value_and_grad, jacfwd, jacrev, hessian])
def test_unknown_keyword_argument_surfaces_as_the_normal_type_error(transform):
    def f(x, y=1.0):
        return x * y

    with pytest.raises(TypeError, match=r"f\(\) got an unexpected keyword argument 'z'"):
        transform(f)(1.0, z=3.0)


def test_missing_positional_argument_surfaces_as_the_normal_type_error():
    def f(x, y):
        return x * y

    with pytest.raises(TypeError, match=r"f\(\) missing 1 required positional argument: 'y'"):
        jvp(f, (1.0,), (1.0,))


# ---------------------------------------------------------------------------------------
# jvp and linearize tangents


def test_jvp_primals_not_a_tuple_says_how_to_call_it():
    with pytest.raises(TypeError, match=re.escape("Write jvp(f, (x,), (t,))")):
        jvp(fnp.sin, 1.0, 1.0)


def test_jvp_tangent_structure_mismatch_shows_both_structures():
    with pytest.raises(TypeError, match=r"same pytree structure") as info:
        jvp(lambda p: p["a"], ({"a": 1.0, "b": 2.0},), ({"a": 1.0},))
    message = str(info.value)
    assert "primals:  PyTreeDef(({'a': *, 'b': *},))" in message
    assert "tangents: PyTreeDef(({'a': *},))" in message


def test_jvp_wrong_number_of_tangents_shows_both_structures():
    with pytest.raises(TypeError, match=r"primals:  PyTreeDef\(\(\*, \*\)\)\n  tangents: "):
        jvp(lambda x, y: x * y, (1.0, 2.0), (1.0,))


def test_jvp_tangent_shape_mismatch_shows_both_shapes():
    with pytest.raises(
        ValueError,
        match=r"tangent for argument 0 \('x'\) has shape \(2,\).*primal has shape \(3,\)",
    ):
        jvp(fnp.sin, (np.ones(3),), (np.ones(2),))


def test_jvp_tangent_dtype_mismatch_shows_both_dtypes():
    with pytest.raises(TypeError, match=r"has dtype float32.*primal has dtype float64"):
        jvp(fnp.sin, (np.ones(3),), (np.ones(3, np.float32),))


def test_jvp_tangent_for_integer_primal_must_be_float0():
    with pytest.raises(TypeError, match=r"integer dtype int64.*float0"):
        jvp(lambda x, i: x * i, (1.0, np.array(2)), (1.0, np.array(1.0)))


def test_jvp_tangent_shape_mismatch_in_a_pytree_names_the_path():
    with pytest.raises(ValueError, match=re.escape("argument 0 ('p') at path ['w']")):
        jvp(lambda p: p["w"], ({"w": np.ones(2)},), ({"w": np.ones(3)},))


def test_linearize_tangent_structure_mismatch_shows_both_structures():
    _, f_jvp = linearize(lambda x, y: x * y, 1.0, 2.0)
    with pytest.raises(TypeError, match=r"same pytree structure.*\n  primals: .*\n  tangents: "):
        f_jvp(1.0)


def test_linearize_tangent_shape_mismatch_shows_both_shapes():
    _, f_jvp = linearize(fnp.sin, np.ones(3))
    with pytest.raises(ValueError, match=r"shape \(2,\).*primal has shape \(3,\)"):
        f_jvp(np.ones(2))


# ---------------------------------------------------------------------------------------
# vjp and linear_transpose cotangents


def test_vjp_cotangent_structure_mismatch_shows_both_structures():
    _, f_vjp = vjp(lambda x: (x, 2.0 * x), 1.0)
    with pytest.raises(TypeError, match=r"same pytree structure") as info:
        f_vjp(1.0)
    assert "PyTreeDef((*, *))" in str(info.value)
    assert "PyTreeDef(*)" in str(info.value)


def test_vjp_cotangent_shape_mismatch_shows_both_shapes():
    _, f_vjp = vjp(lambda x: x * 2.0, np.ones(3))
    with pytest.raises(ValueError, match=r"cotangent leaf 0 has shape \(2,\).*output has shape"):
        f_vjp(np.ones(2))


def test_linear_transpose_cotangent_shape_mismatch_shows_both_shapes():
    f_t = linear_transpose(lambda x: x * 2.0, np.ones(3))
    with pytest.raises(ValueError, match=r"shape \(4,\).*shape \(3,\)"):
        f_t(np.ones(4))


@pytest.mark.parametrize(
    ("primitive", "nonlinear"),
    [
        ("sin", lambda x: fnp.sin(x)),
        ("mul", lambda x: x * x),
        ("div", lambda x: 1.0 / x),
        ("dot_general", lambda x: fnp.outer(x, x) @ x),
    ],
    ids=["sin", "mul", "div", "dot_general"],
)
def test_linear_transpose_of_a_nonlinear_function_names_the_operation(primitive, nonlinear):
    f_t = linear_transpose(nonlinear, np.ones(2))
    with pytest.raises(NonLinearError, match=rf"'?{primitive}'?.*not linear"):
        f_t(np.ones(2))


# ---------------------------------------------------------------------------------------
# Escaped tracers


def test_tracer_stored_inside_grad_and_used_later_names_the_transformation():
    stored = []

    def f(x):
        stored.append(x)
        return x * 2.0

    grad(f)(1.0)
    with pytest.raises(EscapedTracerError, match=r"created by a `grad` transformation"):
        fnp.sin(stored[0])
    with pytest.raises(EscapedTracerError, match=r"escaped tracer"):
        stored[0] * 3.0


@pytest.mark.parametrize(
    ("name", "run"),
    [
        ("jvp", lambda f: jvp(f, (1.0,), (1.0,))),
        ("vjp", lambda f: vjp(f, 1.0)),
        ("jacfwd", lambda f: jacfwd(f)(1.0)),
        ("jacrev", lambda f: jacrev(f)(1.0)),
        ("make_jaxpr", lambda f: make_jaxpr(f)(1.0)),
    ],
)
def test_escaped_tracer_names_the_transformation_it_came_from(name, run):
    stored = []

    def f(x):
        stored.append(x)
        return x * 2.0

    run(f)
    with pytest.raises(EscapedTracerError, match=rf"`{name}` transformation.*already returned"):
        fnp.exp(stored[0])


def test_escaped_tracer_used_inside_another_transformation_is_reported():
    stored = []
    grad(lambda x: stored.append(x) or x)(1.0)
    with pytest.raises(EscapedTracerError, match=r"`grad`"):
        grad(lambda y: y * stored[0])(2.0)
    with pytest.raises(EscapedTracerError, match=r"`grad`"):
        make_jaxpr(lambda y: y * stored[0])(2.0)


def test_escaped_tracer_error_says_to_return_the_value_instead():
    stored = []
    jvp(lambda x: stored.append(x) or x, (1.0,), (1.0,))
    with pytest.raises(TypeError, match=r"Return the value from the function instead"):
        stored[0] + 1.0


# ---------------------------------------------------------------------------------------
# Tracers passed into raw NumPy


@pytest.mark.parametrize(
    "numpy_fn", [np.sin, np.exp, np.asarray, np.sum], ids=["sin", "exp", "asarray", "sum"]
)
def test_tracer_passed_to_raw_numpy_raises_a_type_error_mentioning_fungrad_numpy(numpy_fn):
    with pytest.raises(TypeError, match=r"fungrad\.numpy"):
        grad(lambda x: fnp.sum(numpy_fn(x)))(np.ones(2))


def test_tracer_passed_to_raw_numpy_under_make_jaxpr_mentions_fungrad_numpy():
    with pytest.raises(TypeError, match=r"fungrad\.numpy"):
        make_jaxpr(lambda x: np.cos(x))(np.ones(2))


# ---------------------------------------------------------------------------------------
# Concretization under make_jaxpr


def test_if_on_an_argument_under_make_jaxpr_names_the_value_and_static_argnums():
    def f(x):
        if x > 0:
            return x
        return -x

    with pytest.raises(ConcretizationError, match=r"static_argnums") as info:
        make_jaxpr(f)(1.0)
    message = str(info.value)
    assert "bool[], the output of `gt`" in message
    assert "make_jaxpr" in message
    assert "test_errors.py:" in message  # the user's line


def test_if_on_an_input_value_under_make_jaxpr_names_the_argument():
    def f(x, flag):
        return x if flag else -x

    with pytest.raises(ConcretizationError, match=r"argument 1 \('flag'\).*static_argnums"):
        make_jaxpr(f)(1.0, 2.0)


def test_while_and_int_under_make_jaxpr_raise_concretization_errors():
    def loop(x):
        while x < 10.0:
            x = x * 2.0
        return x

    with pytest.raises(ConcretizationError, match=r"abstract under `make_jaxpr`"):
        make_jaxpr(loop)(1.0)
    with pytest.raises(ConcretizationError, match=r"static_argnums"):
        make_jaxpr(lambda x, n: x * float(int(n)))(1.0, 3)


def test_boolean_mask_under_make_jaxpr_points_to_where():
    with pytest.raises(ConcretizationError, match=r"fungrad\.numpy\.where"):
        make_jaxpr(lambda x: x[x > 0])(np.ones(3))


# ---------------------------------------------------------------------------------------
# Shape errors name the primitive and the shapes


def test_eager_broadcasting_error_names_the_primitive_and_shapes():
    with pytest.raises(ShapeError, match=r"add .*f64\[3\], f64\[2\]"):
        fnp.add(np.ones(3), np.ones(2))


def test_eager_shape_error_names_the_users_line():
    with pytest.raises(ShapeError, match=r"test_errors\.py:\d+"):
        fnp.multiply(np.ones((2, 3)), np.ones((3, 2)))


def test_eager_reshape_error_names_the_primitive_and_shapes():
    with pytest.raises(ShapeError, match=r"reshape.*f64\[6\].*\(4, 2\)"):
        fnp.reshape(np.ones(6), (4, 2))


def test_shape_error_under_make_jaxpr_names_the_primitive_shapes_and_line():
    with pytest.raises(ShapeError, match=r"add.*\(3,\) and \(2,\).*test_errors\.py:\d+"):
        make_jaxpr(lambda x: x + np.ones(2))(np.ones(3))


def test_shape_error_under_grad_names_the_primitive_and_shapes():
    with pytest.raises(ShapeError, match=r"mul.*\(3,\).*\(2,\)"):
        grad(lambda x: fnp.sum(x * np.ones(2)))(np.ones(3))


def test_concatenate_shape_error_under_make_jaxpr_names_the_shapes():
    with pytest.raises(ShapeError, match=r"concatenate.*\(2, 3\), \(2, 2\)"):
        make_jaxpr(lambda x: fnp.concatenate([x, np.ones((2, 2))]))(np.ones((2, 3)))


@pytest.mark.parametrize("product", [fnp.dot, fnp.matmul])
def test_matrix_product_shape_error_names_the_function_and_shapes(product):
    with pytest.raises(ValueError, match=r"shapes \(2, 3\) and \(2, 2\) not aligned"):
        product(np.ones((2, 3)), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"shapes \(2, 3\) and \(2, 2\) not aligned"):
        make_jaxpr(product)(np.ones((2, 3)), np.ones((2, 2)))


def test_out_of_bounds_index_under_make_jaxpr_names_the_shape():
    with pytest.raises(ShapeError, match=r"shape \(3,\).*index 5 is out of bounds"):
        make_jaxpr(lambda x: x[5])(np.ones(3))


def test_reduction_axis_out_of_bounds_names_the_axis():
    with pytest.raises(ValueError, match=r"sum: axis 2 is out of bounds.*dimension 2"):
        fnp.sum(np.ones((2, 3)), axis=2)


def test_missing_primitive_rule_says_it_is_a_gap_in_fungrad():
    prim = fungrad.core.new_primitive("test_errors_rule_less")
    try:
        prim.impl = lambda x: x
        prim.abstract_eval = lambda x: x
        with pytest.raises(NotImplementedError, match=r"no jvp rule: a gap in fungrad"):
            jvp(prim.bind, (1.0,), (1.0,))
    finally:
        # keep the registry to fungrad's own primitives (the completeness test walks it)
        del fungrad.core.primitives["test_errors_rule_less"]
