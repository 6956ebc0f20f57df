"""Regression tests for ways fungrad once returned a silently wrong number or crashed
with an internal error: each case now computes the right answer or raises a clear
fungrad error that names the user's mistake."""

import numpy as np
import pytest

import fungrad
import fungrad.numpy as fnp
from fungrad.errors import FungradTypeError, FungradValueError

# ---------------------------------------------------------------------------------------
# Complex numbers: not differentiated yet, and never silently (the conjugate came out).

COMPLEX_THROUGH = {
    "grad of abs of z": lambda: fungrad.grad(lambda z: abs(z) ** 2)(3 + 4j),
    "jvp at a complex point": lambda: fungrad.jvp(lambda z: z * z, (1 + 1j,), (1 + 0j,)),
    "vjp at a complex point": lambda: fungrad.vjp(lambda z: z * z, 1 + 1j),
    "jacfwd of a complex array": lambda: fungrad.jacfwd(lambda z: z * z)(np.array([1 + 1j])),
    "real input times 1j": lambda: fungrad.grad(lambda x: fnp.abs(x * 1j))(2.0),
    "real input cast to complex": lambda: fungrad.grad(
        lambda x: fnp.abs(fnp.astype(x, np.complex128))
    )(1.0),
    "concatenated with a complex constant": lambda: fungrad.grad(
        lambda x: fnp.sum(fnp.abs(fnp.concatenate([x, np.array([1j])])))
    )(np.array([1.0])),
    "linearize": lambda: fungrad.linearize(lambda z: z * z, 1 + 1j),
    # Once named as a non-floating output; the complex product now raises first.
    "jacrev to a complex output": lambda: fungrad.jacrev(lambda x: {"a": x * 1j})(np.ones(2)),
}


@pytest.mark.parametrize("case", sorted(COMPLEX_THROUGH))
def test_differentiating_through_complex_values_raises(case):
    with pytest.raises(FungradTypeError, match="complex") as info:
        COMPLEX_THROUGH[case]()
    assert "real and imaginary parts" in str(info.value)


def test_grad_with_respect_to_a_complex_argument_names_it():
    with pytest.raises(FungradTypeError, match=r"argument 0 \('z'\) has dtype complex128"):
        fungrad.grad(lambda z: abs(z) ** 2)(3 + 4j)


def test_complex_constants_without_a_derivative_are_fine():
    out = fungrad.grad(lambda x: x * fnp.abs(np.array(1 + 1j)))(1.0)
    assert out == pytest.approx(np.sqrt(2.0))


# ---------------------------------------------------------------------------------------
# argnums


@pytest.mark.parametrize("argnums", [(1, 1), (1, -1), (0, 1, 0)])
@pytest.mark.parametrize(
    "transform",
    [fungrad.grad, fungrad.value_and_grad, fungrad.jacfwd, fungrad.jacrev, fungrad.hessian],
)
def test_repeated_argnums_raise_instead_of_returning_zeros(transform, argnums):
    with pytest.raises(FungradValueError, match="names the same argument more than once"):
        transform(lambda x, y: x * y, argnums=argnums)(2.0, 3.0)
