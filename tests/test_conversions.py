"""Converting traced values to Python and NumPy values: which conversions are allowed
under which transformations, and the errors for those that would drop a derivative."""

import math

import numpy as np
import pytest

import fungrad
import fungrad.numpy as fnp
from fungrad.errors import AmbiguousTruthValueError, ConcretizationError, TracerConversionError


def _write_into_numpy(x):
    buf = np.zeros(3)
    for i in range(3):
        buf[i] = x[i]
    return buf


# Each drops the derivative of x if it is allowed to return the primal.
DROPPING = {
    "float": lambda x: float(x[0]) * x,
    "complex": lambda x: complex(x[0]).real * x,
    "np.float64": lambda x: np.float64(x[0]) * x,
    "np.asarray": lambda x: np.asarray(x) * x,
    "math.sin": lambda x: math.sin(x[0]) * x,
    "math.exp": lambda x: math.exp(x[1]) * x,
    "item": lambda x: x[0].item() * x,
    "tolist": lambda x: x.tolist()[0] * x,
}

TRANSFORMS = {
    "grad": lambda f, x: fungrad.grad(lambda x: fnp.sum(f(x)))(x),
    "value_and_grad": lambda f, x: fungrad.value_and_grad(lambda x: fnp.sum(f(x)))(x),
    "jvp": lambda f, x: fungrad.jvp(f, (x,), (np.ones(3),)),
    "vjp": lambda f, x: fungrad.vjp(f, x)[1](np.ones(3)),
    "linearize": lambda f, x: fungrad.linearize(f, x),
    "jacfwd": lambda f, x: fungrad.jacfwd(f)(x),
    "jacrev": lambda f, x: fungrad.jacrev(f)(x),
    "hessian": lambda f, x: fungrad.hessian(lambda x: fnp.sum(f(x)))(x),
}


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
@pytest.mark.parametrize("conversion", sorted(DROPPING))
def test_conversion_that_would_drop_a_derivative_raises(conversion, transform):
    x = np.array([0.5, 1.0, 2.0])
    with pytest.raises(TracerConversionError, match="would drop its derivative"):
        TRANSFORMS[transform](DROPPING[conversion], x)


def test_the_example_from_the_issue_raises_instead_of_giving_three():
    with pytest.raises(TracerConversionError):
        fungrad.grad(lambda x: float(x) * x)(3.0)


def test_conversion_error_names_transformation_shape_line_and_way_out():
    def loss(x):
        return math.sin(x[0]) * fnp.sum(x)  # the line the message names

    with pytest.raises(TracerConversionError) as info:
        fungrad.grad(loss)(np.ones(4))
    message = str(info.value)
    line = loss.__code__.co_firstlineno + 1
    assert "float() of a value differentiated by `grad` (f64[]" in message
    assert f"test_conversions.py:{line}" in message
    for way_out in ("fungrad.numpy", "fnp.stack", "fnp.where", "fungrad.stop_gradient(x)"):
        assert way_out in message


def test_writing_a_traced_value_into_a_numpy_array_raises():
    # NumPy calls float() and, the tracer being indexable, raises its own "setting an
    # array element with a sequence" from ours: the traceback shows ours as the cause.
    with pytest.raises(ValueError) as info:
        fungrad.grad(lambda x: fnp.sum(_write_into_numpy(x) * x))(np.ones(3))
    assert isinstance(info.value.__cause__, TracerConversionError)


def test_conversions_of_values_without_a_derivative_are_allowed():
    # stop_gradient says the derivative is meant to be dropped: the tangent is a
    # symbolic zero, and float() gives the value.
    def f(x):
        scale = float(fungrad.stop_gradient(x[0]))
        return fnp.sum(x) * scale

    g = fungrad.grad(f)(np.array([2.0, 3.0]))
    np.testing.assert_allclose(g, [2.0, 2.0])
    # Integer inputs have no tangent.
    out = fungrad.grad(lambda x, n: x * float(n[0]), argnums=0)(2.0, np.array([3]))
    assert out == 3.0


def test_int_bool_and_index_are_allowed_because_piecewise_constant():
    def f(x):
        n = int(x[0])  # piecewise constant: derivative zero almost everywhere
        if x[1] > 0:  # Python control flow on values
            return x[n] * x[2]
        return -x[n]

    x = np.array([1.7, 2.0, 3.0])
    np.testing.assert_allclose(fungrad.grad(f)(x), [0.0, 3.0, 2.0])
    np.testing.assert_allclose(fungrad.jacfwd(f)(x), fungrad.grad(f)(x))
    np.testing.assert_allclose(fungrad.hessian(f)(x), [[0, 0, 0], [0, 0, 1], [0, 1, 0]])


def test_nested_transformation_names_the_one_whose_derivative_would_be_lost():
    # The inner grad's tangent of x is zero (x is not its argument), the outer one's
    # is not: converting x inside the inner function would lose the outer derivative.
    def outer(x):
        return fungrad.grad(lambda y: y * float(x))(1.0)

    with pytest.raises(TracerConversionError, match="differentiated by `jvp`"):
        fungrad.jvp(outer, (2.0,), (1.0,))


def test_float_of_an_abstract_value_under_jit_is_a_concretization_error():
    with pytest.raises(ConcretizationError):
        fungrad.jit(lambda x: float(x) * x)(2.0)


def test_item_and_float_work_without_a_transformation_on_concrete_values():
    out = fungrad.grad(lambda x: x * x)(3.0)
    assert float(out) == 6.0 and out.item() == 6.0


def test_item_assignment_on_a_traced_array_suggests_the_functional_update():
    def f(x):
        x[0] = 1.0
        return fnp.sum(x)

    with pytest.raises(TypeError, match=r"immutable.*fungrad.numpy.where") as info:
        fungrad.grad(f)(np.ones(3))
    assert "Tracer" not in str(info.value)


def test_if_on_a_multi_element_traced_array_is_ambiguous_and_points_to_any_all_where():
    def f(x):
        if x > 0:
            return fnp.sum(x)
        return -fnp.sum(x)

    with pytest.raises(AmbiguousTruthValueError, match=r"shape \(3,\) is ambiguous") as info:
        fungrad.grad(f)(np.ones(3))
    assert isinstance(info.value, ValueError)
    for name in ("fungrad.numpy.any", "fungrad.numpy.all", "fungrad.numpy.where"):
        assert name in str(info.value)
