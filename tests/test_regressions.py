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


# ---------------------------------------------------------------------------------------
# Jacobians of products with a matrix traced by an enclosing transformation


def _tanh_layer_jacobian(A, x):
    return (1 - np.tanh(A @ x) ** 2)[:, None] * A


RNG = np.random.default_rng(0)
A34 = RNG.normal(size=(3, 4))
X4 = RNG.normal(size=4)


@pytest.mark.parametrize("jac", [fungrad.jacfwd, fungrad.jacrev])
def test_jacobian_of_a_product_with_a_jit_argument(jac):
    f = fungrad.jit(lambda A, x: jac(lambda x: fnp.tanh(A @ x))(x))
    np.testing.assert_allclose(f(A34, X4), _tanh_layer_jacobian(A34, X4), rtol=1e-12)
    # A second call with new values runs the same compiled program.
    np.testing.assert_allclose(f(2 * A34, X4), _tanh_layer_jacobian(2 * A34, X4), rtol=1e-12)


@pytest.mark.parametrize("jac", [fungrad.jacfwd, fungrad.jacrev])
def test_jacobian_of_a_product_with_a_traced_matrix_stays_a_slice(jac):
    # The basis times the traced matrix picks columns: the only product is A @ x.
    closed = fungrad.make_jaxpr(lambda A, x: jac(lambda x: fnp.tanh(A @ x))(x))(A34, X4)
    assert str(closed).count("dot_general") == 1


@pytest.mark.parametrize("jac", [fungrad.jacfwd, fungrad.jacrev])
def test_gradient_with_respect_to_the_matrix_inside_a_jacobian(jac):
    from fungrad.test_util import numerical_jacobian

    def loss(A):
        return fnp.sum(jac(lambda x: fnp.tanh(A @ x))(X4) ** 2)

    expected = numerical_jacobian(lambda A: np.sum(_tanh_layer_jacobian(A, X4) ** 2), A34)
    np.testing.assert_allclose(fungrad.grad(loss)(A34), expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("jac", [fungrad.jacfwd, fungrad.jacrev])
def test_vmap_over_matrices_of_a_jacobian(jac):
    batch = np.stack([A34, -0.5 * A34])
    out = fungrad.vmap(lambda A: jac(lambda x: fnp.tanh(A @ x))(X4))(batch)
    for i in range(2):
        np.testing.assert_allclose(out[i], _tanh_layer_jacobian(batch[i], X4), rtol=1e-12)


def test_hessian_with_a_traced_matrix():
    from fungrad.test_util import numerical_jacobian

    B = RNG.normal(size=(4, 4))

    def hessian_trace(A):
        h = fungrad.hessian(lambda x: fnp.sum(fnp.tanh(A @ x)))(X4)
        return fnp.sum(h * B)

    def reference(A):
        t = np.tanh(A @ X4)
        h = A.T @ np.diag(-2 * t * (1 - t**2)) @ A
        return np.sum(h * B)

    np.testing.assert_allclose(
        fungrad.grad(hessian_trace)(A34), numerical_jacobian(reference, A34), rtol=1e-6
    )
    assert fungrad.jit(hessian_trace)(A34) == pytest.approx(reference(A34))


@pytest.mark.parametrize("jac", [fungrad.jacfwd, fungrad.jacrev, fungrad.hessian])
def test_make_jaxpr_of_a_jacobian_generates_the_basis_instead_of_holding_it(jac):
    n = 6
    closed = fungrad.make_jaxpr(jac(lambda x: fnp.sum(fnp.sin(x) * fnp.sum(x))))(np.ones(n))
    assert all(np.size(c) < n * n for c in closed.consts)
    assert "eye[" in str(closed)


# ---------------------------------------------------------------------------------------
# jit's simplifier


@pytest.mark.parametrize(
    "fun",
    [lambda x: x / 1, lambda x: x / True, lambda x: x * 1.0, lambda x: 1.0 * x, lambda x: x + 0.0],
    ids=["int / 1", "int / True", "int * 1.0", "1.0 * int", "int + 0.0"],
)
def test_jit_drops_an_identity_operation_only_where_it_keeps_the_dtype(fun):
    x = np.arange(3)
    expected = fun(x)
    out = fungrad.jit(fun)(x)
    assert out.dtype == expected.dtype
    np.testing.assert_array_equal(out, expected)


# ---------------------------------------------------------------------------------------
# Weak types of Python scalars across jit boundaries


@pytest.mark.parametrize(
    "transform",
    [
        lambda f: fungrad.jvp(f, (2.0,), (1.0,)),
        lambda f: fungrad.linearize(f, 2.0)[0],
        lambda f: fungrad.vjp(f, 2.0)[0],
        lambda f: fungrad.value_and_grad(lambda x: fnp.sum(f(x)))(2.0)[0],
    ],
    ids=["jvp", "linearize", "vjp", "value_and_grad"],
)
def test_python_scalar_arguments_stay_weak_entering_a_jit_under_differentiation(transform):
    y = np.ones(3, np.float32)
    inner = fungrad.jit(lambda a: a * y)
    for out in fungrad.tree_util.tree_leaves(transform(lambda x: inner(x))):
        assert out.dtype == np.float32  # as 2.0 * y is


# ---------------------------------------------------------------------------------------
# fungrad.numpy functions of Python scalars return what NumPy returns

SCALAR_CALLS = [
    ("sin", (2.0,)),
    ("exp", (1,)),
    ("add", (1, 2)),
    ("add", (1, 2.0)),
    ("multiply", (True, 2)),
    ("divide", (1, 2)),
    ("power", (2.0, 3)),
    ("maximum", (1.0, 2)),
    ("floor_divide", (7, 2)),
    ("remainder", (7.5, 2)),
    ("sum", (2.0,)),
    ("max", (3,)),
    ("mean", (2.0,)),
    ("abs", (-2,)),
    ("square", (3.0,)),
    ("sqrt", (4.0,)),
    ("round", (2.5,)),
    ("where", (True, 1.0, 2.0)),
    ("logaddexp", (0.0, 0.0)),
    ("greater", (1.0, 2.0)),
]


@pytest.mark.parametrize("name, args", SCALAR_CALLS, ids=[f"{n}{a}" for n, a in SCALAR_CALLS])
def test_functions_of_python_scalars_return_numpys_type(name, args):
    ours, theirs = getattr(fnp, name)(*args), getattr(np, name)(*args)
    assert type(ours) is type(theirs)
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)


def test_numpy_scalar_results_have_array_methods():
    assert fnp.sin(2.0).clip(0.0, 0.5) == 0.5
    assert fnp.add(1, 2).shape == ()


def _mixed(x32, s):
    return x32 * fnp.sin(s) + fnp.sum(s) * x32


@pytest.mark.parametrize(
    "run",
    [
        lambda f, x, s: f(x, s),
        lambda f, x, s: fungrad.jit(f)(x, s),
        lambda f, x, s: fungrad.jvp(f, (x, s), (x, 1.0))[0],
        lambda f, x, s: fungrad.jvp(f, (x, s), (x, 1.0))[1],
        lambda f, x, s: fungrad.vmap(f, in_axes=(0, None))(np.stack([x, x]), s)[0],
        lambda f, x, s: fungrad.linearize(f, x, s)[0],
        lambda f, x, s: fungrad.jacfwd(f, argnums=0)(x, s)[0],
    ],
    ids=["eager", "jit", "jvp primal", "jvp tangent", "vmap", "linearize", "jacfwd"],
)
def test_numpy_promotion_of_python_scalar_results_is_the_same_under_every_transformation(run):
    x32 = np.ones(3, np.float32)
    expected = (x32 * np.sin(2.0) + np.sum(2.0) * x32).dtype  # float64, as NumPy says
    assert run(_mixed, x32, 2.0).dtype == expected


def test_numpy_typed_results_add_no_equations_to_a_jaxpr():
    closed = fungrad.make_jaxpr(lambda s: fnp.sin(s) * fnp.cos(s))(2.0)
    assert "convert_element_type" not in str(closed)
    assert [str(a) for a in closed.out_avals] == ["ShapedArray((), float64)"]


# ---------------------------------------------------------------------------------------
# Pytree mismatches at the transformations' own checks name the difference


def test_jvp_with_a_tangent_tree_missing_a_key_names_the_key():
    with pytest.raises(TypeError, match=r"the key 'b' at path \[0\]\['b'\] is in the primals"):
        fungrad.jvp(lambda d: d["a"], ({"a": 1.0, "b": 2.0},), ({"a": 1.0},))


def test_cotangent_mismatch_names_the_difference_and_stays_short():
    params = {f"w{i:03d}": np.ones(2) for i in range(400)}
    _, pullback = fungrad.vjp(lambda p: p, params)
    wrong = dict(params)
    del wrong["w123"]
    with pytest.raises(TypeError, match="w123") as info:
        pullback(wrong)
    assert len(str(info.value)) < 2000


def test_linearize_and_linear_transpose_mismatches_name_the_difference():
    _, f_jvp = fungrad.linearize(lambda a, b: a * b, 1.0, 2.0)
    with pytest.raises(TypeError, match="tangents"):
        f_jvp((1.0,))
    transpose = fungrad.linear_transpose(lambda x: {"y": x}, 1.0)
    with pytest.raises(TypeError, match="'y'"):
        transpose({"z": 1.0})


def test_vmap_in_axes_mismatch_on_a_large_tree_stays_short():
    params = {f"w{i:03d}": np.ones((2, 3)) for i in range(400)}
    axes = {f"w{i:03d}": 0 for i in range(399)}
    with pytest.raises(ValueError, match="in_axes") as info:
        fungrad.vmap(lambda p: p, in_axes=(axes,))(params)
    assert len(str(info.value)) < 2000


# ---------------------------------------------------------------------------------------
# Found by the randomized search (tests/test_random_programs.py)


def test_jvp_of_concatenating_a_float_with_an_integer_array():
    out, tangent = fungrad.jvp(
        lambda x: fnp.concatenate([x, np.array([1, 2])]), (np.ones(2),), (np.ones(2),)
    )
    np.testing.assert_array_equal(tangent, [1.0, 1.0, 0.0, 0.0])
    jac = fungrad.jacrev(lambda x: fnp.stack([x, np.array([1, 2])]))(np.ones(2))
    np.testing.assert_array_equal(jac, [[[1, 0], [0, 1]], [[0, 0], [0, 0]]])


def test_concatenate_flattened_promotes_python_scalars_weakly():
    x = np.ones(2, np.float32)
    assert fnp.concatenate([x, 2.0], axis=None).dtype == np.float32
    assert fungrad.jit(lambda x: fnp.concatenate([x, 2.0], axis=None))(x).dtype == np.float32
