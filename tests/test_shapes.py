"""Shape manipulation, joining, products and constructors of fungrad.numpy beyond the
probes of tests/surface_shapes.py: errors, what einsum stages, float32, edge cases."""

from __future__ import annotations

import numpy as np
import pytest

import fungrad
import fungrad.numpy as fnp
from fungrad.errors import AxisError, ConcretizationError, FungradTypeError, FungradValueError
from fungrad.numpy import _shapes
from fungrad.test_util import check_grads

RNG = np.random.default_rng(13)
A = RNG.standard_normal((3, 4))
B = RNG.standard_normal((4, 5))


def primitives(fn, *args):
    return [e.primitive.name for e in fungrad.make_jaxpr(fn)(*args).eqns]


# ---------------------------------------------------------------------------------------
# Errors


def test_split_into_unequal_sections_names_the_axis_and_suggests_array_split():
    with pytest.raises(FungradValueError, match=r"split: an axis of length 5 .*array_split"):
        fnp.split(np.zeros((2, 5)), 2, axis=1)


@pytest.mark.parametrize("sections", [0, -1])
def test_split_into_no_sections_is_an_error(sections):
    with pytest.raises(FungradValueError, match="array_split: the number of sections"):
        fnp.array_split(np.zeros(4), sections)


def test_split_sections_must_be_concrete():
    with pytest.raises(ConcretizationError, match="split: indices_or_sections"):
        fungrad.jit(lambda x, n: fnp.split(x, n))(np.zeros(4), 2)


def test_split_sections_must_be_integers():
    with pytest.raises(FungradTypeError, match="split: indices_or_sections must be integers"):
        fnp.split(np.zeros(4), [1.5])


def test_vsplit_and_dsplit_need_enough_dimensions():
    with pytest.raises(FungradValueError, match=r"vsplit .* got shape \(4,\)"):
        fnp.vsplit(np.zeros(4), 2)
    with pytest.raises(FungradValueError, match=r"dsplit .* got shape \(2, 2\)"):
        fnp.dsplit(np.zeros((2, 2)), 2)


@pytest.mark.parametrize(
    "pad_width, match",
    [
        (((1, 2), (3, 4), (5, 6)), r"pad_width=.* does not fit an array of 2 dimensions"),
        (-1, "pad_width must not be negative"),
        (((1, 2), (3, -4)), "pad_width must not be negative"),
    ],
)
def test_bad_pad_width(pad_width, match):
    with pytest.raises(FungradValueError, match=match):
        fnp.pad(np.zeros((2, 3)), pad_width)


def test_pad_width_must_be_integers_and_modes_known():
    with pytest.raises(FungradTypeError, match="pad: pad_width must be integers"):
        fnp.pad(np.zeros(3), 1.5)
    with pytest.raises(FungradValueError, match="pad: mode 'median' is not supported"):
        fnp.pad(np.zeros(3), 1, mode="median")
    with pytest.raises(FungradValueError, match=r"pad: mode 'edge' takes no keyword"):
        fnp.pad(np.zeros(3), 1, mode="edge", constant_values=1)
    with pytest.raises(FungradValueError, match="cannot pad axis 0 of length 0"):
        fnp.pad(np.zeros(0), 1, mode="wrap")


def test_einsum_size_mismatch_names_the_operand_and_the_letter():
    with pytest.raises(
        FungradValueError, match=r"operand 1 \(shape \(5, 2\)\) has size 5 for letter 'j'"
    ):
        fnp.einsum("ij,jk->ik", A, np.zeros((5, 2)))


def test_einsum_rank_mismatch_names_the_operand():
    with pytest.raises(FungradValueError, match=r"operand 0 has shape \(3, 4\) .* name 3"):
        fnp.einsum("ijk,jk", A, B)


def test_einsum_subscript_errors():
    with pytest.raises(FungradValueError, match="name 1 operand"):
        fnp.einsum("ij", A, B)
    with pytest.raises(FungradValueError, match="output letter 'z'"):
        fnp.einsum("ij->iz", A)
    with pytest.raises(FungradValueError, match="repeat a letter"):
        fnp.einsum("ij->ii", A)
    with pytest.raises(FungradValueError, match="'1' is not a subscript letter"):
        fnp.einsum("i1", A)
    with pytest.raises(FungradValueError, match="no '...'"):
        fnp.einsum("...j->j", A)


def test_axis_errors():
    with pytest.raises(AxisError, match="flip: axis 2 is out of bounds"):
        fnp.flip(A, 2)
    with pytest.raises(FungradValueError, match="rot90: axes must be different"):
        fnp.rot90(A, 1, (1, -1))
    with pytest.raises(FungradValueError, match="diagonal: axis1 and axis2 cannot be the same"):
        fnp.diagonal(A, 0, 1, 1)
    with pytest.raises(FungradValueError, match="cross: vectors must have 2 or 3 components"):
        fnp.cross(np.zeros(4), np.zeros(3))
    with pytest.raises(FungradValueError, match="repeat: repeats of shape"):
        fnp.repeat(A, [1, 2], axis=0)


# ---------------------------------------------------------------------------------------
# einsum: one dot_general per pair


@pytest.mark.parametrize(
    "subscripts, shapes",
    [
        ("ij,jk->ik", [(3, 4), (4, 5)]),
        ("ij,jk->ki", [(3, 4), (4, 5)]),
        ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
        ("i,j->ij", [(3,), (4,)]),
        ("...ij,...jk", [(2, 3, 4), (4, 5)]),
        ("ij,ij->", [(3, 4), (3, 4)]),
    ],
)
def test_einsum_of_two_operands_stages_exactly_one_dot_general(subscripts, shapes):
    args = [np.ones(s) for s in shapes]
    names = primitives(lambda *xs: fnp.einsum(subscripts, *xs), *args)
    assert names.count("dot_general") == 1, names


def test_einsum_of_three_operands_stages_two_dot_generals_in_a_cheap_order():
    a, b, c = np.ones((256, 64)), np.ones((64, 64)), np.ones((256, 64))
    names = primitives(lambda *xs: fnp.einsum("bi,ij,bj->b", *xs), a, b, c)
    assert names.count("dot_general") == 2, names
    # the gradient is made of dot_generals too, no broadcast (bi,bj,ij) intermediate
    grads = fungrad.make_jaxpr(
        fungrad.grad(lambda a, b, c: fnp.sum(fnp.einsum("bi,ij,bj->b", a, b, c)), (0, 1, 2))
    )(a, b, c)
    assert all(np.prod(v.aval.shape) <= 256 * 64 for e in grads.eqns for v in e.outputs)


def test_einsum_follows_an_explicit_path():
    x, y, z = (RNG.standard_normal((3, 3)) for _ in range(3))
    path = ["einsum_path", (1, 2), (0, 1)]
    np.testing.assert_allclose(
        fnp.einsum("ij,jk,kl->il", x, y, z, optimize=path), x @ y @ z, rtol=1e-12
    )


def test_einsum_matches_numpy_on_harder_subscripts():
    x = RNG.standard_normal((2, 3, 3, 2))
    cases = [
        ("ijji->", (x,)),
        ("ijkl->jl", (x,)),
        ("abba,ab->", (x[:, :2, :2, :], x[:, :2, 0, 0])),
        ("...,...", (x, 2.0)),
        ("i...i", (np.ones((3, 2, 3)),)),
        ("ik,k...->i...", (A, B)),
    ]
    for subscripts, ops in cases:
        np.testing.assert_allclose(
            fnp.einsum(subscripts, *ops), np.einsum(subscripts, *ops), rtol=1e-12
        )


def test_einsum_second_derivatives_of_a_repeated_operand():
    # the same value in two operands: the derivative counts both
    x = RNG.standard_normal((3, 3))
    check_grads(lambda x: fnp.einsum("ij,jk,ki->", x, x, x), (x,), order=2)
    check_grads(lambda x: fnp.einsum("ii,jj->ij", x, x), (x,), order=2)


# ---------------------------------------------------------------------------------------
# dtypes and edge cases


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: fnp.einsum("ij,jk->ik", x, x.T),
        lambda x: fnp.pad(x, 1, constant_values=2.0),
        lambda x: fnp.pad(x, 2, mode="reflect"),
        lambda x: fnp.diag(x[0]),
        lambda x: fnp.trace(x),
        lambda x: fnp.triu(x),
        lambda x: fnp.kron(x, x),
        lambda x: fnp.cross(x[:, :3], x[:, 1:]),
        lambda x: fnp.tile(x, 2),
        lambda x: fnp.repeat(x, [1, 2, 0, 1], axis=1),
        lambda x: fnp.roll(x, 1),
        lambda x: fnp.rot90(x),
        lambda x: fnp.meshgrid(x[0], x[1])[0],
        lambda x: fnp.split(x, 2, axis=1)[1],
    ],
)
def test_float32_stays_float32_in_values_and_gradients(fn):
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    assert fn(x).dtype == np.float32
    g = fungrad.grad(lambda x: fnp.sum(fn(x)))(x)
    assert g.dtype == np.float32
    assert fungrad.jit(fn)(x).dtype == np.float32


def test_integer_and_boolean_inputs_keep_numpy_dtypes():
    ints = np.arange(6, dtype=np.int32).reshape(2, 3)
    for fn, ref in [
        (lambda x: fnp.trace(x), np.trace),
        (lambda x: fnp.einsum("ij->", x), lambda x: np.einsum("ij->", x)),
        (lambda x: fnp.triu(x), np.triu),
        (lambda x: fnp.diag(x[0]), lambda x: np.diag(x[0])),
        (lambda x: fnp.pad(x, 1, constant_values=7), lambda x: np.pad(x, 1, constant_values=7)),
        (lambda x: fnp.tril(x > 2), lambda x: np.tril(x > 2)),
    ]:
        out, expected = fn(ints), ref(ints)
        assert out.dtype == expected.dtype
        np.testing.assert_array_equal(out, expected)


def test_vmap_over_leading_dimensions_of_diagonals_and_einsum():
    xs = RNG.standard_normal((5, 3, 3))
    np.testing.assert_allclose(fungrad.vmap(fnp.trace)(xs), np.trace(xs, axis1=1, axis2=2))
    np.testing.assert_allclose(fungrad.vmap(fnp.diag)(xs[:, 0]), [np.diag(v) for v in xs[:, 0]])
    np.testing.assert_allclose(
        fungrad.vmap(lambda x, y: fnp.einsum("ij,jk", x, y), (0, None))(xs, A), xs @ A
    )


def test_pad_with_a_traced_constant_differentiates_to_the_count_of_padded_elements():
    g = fungrad.grad(lambda c: fnp.sum(fnp.pad(np.ones((2, 3)), 1, constant_values=c)))(0.5)
    assert g == 4 * 5 - 2 * 3


def test_pad_reflect_wider_than_the_array_matches_numpy():
    x = np.arange(3.0)
    for mode in ("reflect", "symmetric", "wrap", "edge"):
        np.testing.assert_array_equal(fnp.pad(x, (7, 8), mode=mode), np.pad(x, (7, 8), mode=mode))
    check_grads(lambda x: fnp.pad(x, (7, 8), mode="reflect"), (x,), order=2)


def test_zero_length_pieces_and_empty_diagonals():
    parts = fnp.split(np.arange(4.0), [0, 0, 4])
    assert [p.shape for p in parts] == [(0,), (0,), (4,), (0,)]
    assert fnp.diagonal(A, 7).shape == (0,)
    assert fnp.repeat(A, 0).shape == (0,)


def test_copy_of_numpy_input_is_a_copy():
    x = np.arange(3.0)
    y = fnp.copy(x)
    y[0] = 5.0
    assert x[0] == 0.0


# ---------------------------------------------------------------------------------------
# full, full_like, linspace and logspace of traced values (fungrad/numpy/_shapes.py: these
# are what fungrad.numpy should export instead of NumPy's own functions)


def test_traced_constructors_differentiate():
    assert fungrad.grad(lambda v: fnp.sum(_shapes.full((2, 3), v)))(1.5) == 6.0
    assert fungrad.grad(lambda v: fnp.sum(_shapes.full_like(A, v)))(1.5) == 12.0
    check_grads(lambda a, b: _shapes.linspace(a, b, 5), (0.3, 2.0), order=2)
    check_grads(
        lambda a, b: _shapes.linspace(a, b, 4, endpoint=False, axis=-1),
        (RNG.standard_normal(2), RNG.standard_normal((3, 1))),
        order=2,
    )
    check_grads(lambda a, b: _shapes.logspace(a, b, 4, base=2.0), (0.3, 1.0), order=2)


def test_traced_linspace_matches_numpy():
    a, b = RNG.standard_normal(2), RNG.standard_normal((3, 1))
    traced = fungrad.jit(lambda a, b: _shapes.linspace(a, b, 6, axis=1))(a, b)
    np.testing.assert_allclose(traced, np.linspace(a, b, 6, axis=1), rtol=1e-14)
    y, step = fungrad.jit(lambda a: _shapes.linspace(a, 1.0, 3, retstep=True))(np.float32(0.0))
    assert y.dtype == np.float32
    np.testing.assert_allclose(step, 0.5)
