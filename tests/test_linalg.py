"""fungrad.numpy.linalg beyond the primitive table and the probes: errors, gauge-invariant
derivatives of eigenvectors and singular vectors, what happens where derivatives do not
exist, NaN for failed factorizations, batching and broadcasting, float32."""

from __future__ import annotations

import numpy as np
import pytest
from surface import spd_matrix

import fungrad
import fungrad.numpy as fnp
from fungrad.errors import FungradTypeError, FungradValueError, ShapeError
from fungrad.test_util import check_grads

LA = fnp.linalg


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _symmetric(rng, n: int, values) -> np.ndarray:
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    a = (q * np.asarray(values, float)) @ q.T
    return (a + a.T) / 2


def _central(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of a scalar function, entry by entry."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (float(f(x + e)) - float(f(x - e))) / (2 * eps)
    return g


# ---------------------------------------------------------------------------------------
# Errors name the function and the shapes


@pytest.mark.parametrize(
    ("fn", "name"),
    [
        (LA.inv, "inv"),
        (LA.det, "det"),
        (LA.slogdet, "slogdet"),
        (LA.cholesky, "cholesky"),
        (LA.eigh, "eigh"),
        (LA.eigvalsh, "eigvalsh"),
        (lambda a: LA.matrix_power(a, 2), "matrix_power"),
    ],
)
def test_square_functions_reject_non_square_and_vectors(fn, name):
    with pytest.raises(ShapeError, match=rf"^{name}: a must be square .*got shape \(2, 3\)"):
        fn(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=rf"^{name}: a must have at least 2 dimensions.*\(3,\)"):
        fn(np.ones(3))


def test_solve_errors_name_both_shapes():
    a = np.eye(3)
    with pytest.raises(ShapeError, match=r"solve: b of shape \(2,\) does not match a .*\(3, 3\)"):
        LA.solve(a, np.ones(2))
    # NumPy 2: a 2-D b is a matrix, not a stack of vectors.
    with pytest.raises(ShapeError, match=r"solve: b of shape \(2, 3\) .* b\[\.\.\., None\]"):
        LA.solve(np.stack([a, a]), np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"solve: the leading dimensions of a \(2, 3, 3\)"):
        LA.solve(np.stack([a, a]), np.ones((3, 3, 1)))
    with pytest.raises(ShapeError, match=r"solve: a must be square .*\(3, 2\)"):
        LA.solve(np.ones((3, 2)), np.ones(3))


def test_other_argument_errors():
    with pytest.raises(FungradTypeError, match="eigh: a is complex"):
        LA.eigh(np.eye(2, dtype=complex))
    with pytest.raises(FungradTypeError, match="matrix_power: the exponent n must be a"):
        LA.matrix_power(np.eye(2), 1.5)
    with pytest.raises(FungradValueError, match="qr: mode must be 'reduced', 'complete' or 'r'"):
        LA.qr(np.eye(2), mode="raw")
    with pytest.raises(ShapeError, match=r"multi_dot: arrays\[0\] of shape \(2, 3\) and"):
        LA.multi_dot([np.ones((2, 3)), np.ones((2, 2))])
    with pytest.raises(FungradValueError, match="multi_dot: needs at least two arrays"):
        LA.multi_dot([np.ones((2, 2))])
    with pytest.raises(ShapeError, match=r"lstsq: b must have shape \(3,\) or \(3, K\)"):
        LA.lstsq(np.ones((3, 2)), np.ones(2))
    with pytest.raises(ShapeError, match=r"lstsq: a must be 2-D"):
        LA.lstsq(np.ones((2, 3, 2)), np.ones(3))
    with pytest.raises(FungradValueError, match="norm: invalid norm order 'bad' for matrices"):
        LA.norm(np.eye(2), "bad")
    with pytest.raises(FungradValueError, match="eigh: UPLO must be 'L' or 'U'"):
        LA.eigh(np.eye(2), UPLO="X")


def test_derivatives_that_are_not_defined_raise():
    rng = _rng()
    wide = rng.standard_normal((2, 3))
    tall = rng.standard_normal((3, 2))
    with pytest.raises(FungradValueError, match=r"svd: .*full_matrices=True of a non-square"):
        fungrad.jacfwd(lambda a: LA.svd(a)[0])(tall)
    with pytest.raises(FungradValueError, match=r"qr: the derivative is defined for matrices"):
        fungrad.grad(lambda a: fnp.sum(LA.qr(a)[1]))(wide)
    with pytest.raises(FungradValueError, match=r"mode 'complete', whose extra columns"):
        fungrad.grad(lambda a: fnp.sum(LA.qr(a, mode="complete")[0]))(tall)
    # The singular values alone are fine for any shape, and so is full_matrices=False.
    check_grads(lambda a: LA.svd(a, compute_uv=False), (wide,), order=2)
    check_grads(lambda a: LA.svd(a, full_matrices=False)[0], (tall,), order=1)


# ---------------------------------------------------------------------------------------
# Eigenvectors and singular vectors: gauge-invariant functions


def test_gradients_of_gauge_invariant_functions_of_eigenvectors():
    rng = _rng(1)
    a = _symmetric(rng, 4, [-1.0, 0.5, 1.5, 3.0])
    c = rng.standard_normal(4)

    def projector(a):  # (c·v_1)²: the same for v_1 and -v_1
        _, v = LA.eigh(a)
        return fnp.sum(v[:, 1] * c) ** 2

    def matrix_exp(a):  # v exp(w) vᵀ, invariant under each column's sign
        w, v = LA.eigh(a)
        return fnp.sum((v * fnp.exp(w)) @ v.T * np.outer(c, c))

    for f in (projector, matrix_exp):
        g = fungrad.grad(f)(a)
        np.testing.assert_allclose(g, _central(f, a), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(g, g.T, rtol=1e-12, atol=1e-14)  # the symmetric part
        check_grads(f, (a,), order=2, modes=("fwd", "rev"))


def test_flipping_eigenvector_signs_does_not_change_gauge_invariant_tangents():
    rng = _rng(2)
    a = _symmetric(rng, 3, [-1.0, 0.5, 2.0])
    t = rng.standard_normal((3, 3))
    (w, v), (dw, dv) = fungrad.jvp(lambda a: tuple(LA.eigh(a)), (a,), (t,))
    # d(v vᵀ) for each column is the same if a column's sign flips with its tangent.
    flip = np.array([1.0, -1.0, -1.0])
    for vv, dd in ((v, dv), (v * flip, dv * flip)):
        d_proj = np.einsum("ik,jk->kij", dd, vv) + np.einsum("ik,jk->kij", vv, dd)
        if vv is v:
            first = d_proj
        else:
            np.testing.assert_allclose(d_proj, first, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.einsum("ik,ik->k", v, dv), 0.0, atol=1e-12)  # unit length


def test_gradients_of_gauge_invariant_functions_of_singular_vectors():
    rng = _rng(3)
    a = rng.standard_normal((4, 3))
    c, d = rng.standard_normal(4), rng.standard_normal(3)

    def f(a):
        u, s, vh = LA.svd(a, full_matrices=False)
        return fnp.sum(u[:, 0] * c) * fnp.sum(vh[0] * d) + fnp.sum(s**3)  # u_0 v_0ᵀ pair

    np.testing.assert_allclose(fungrad.grad(f)(a), _central(f, a), rtol=1e-6, atol=1e-8)
    check_grads(f, (a,), order=2, modes=("fwd", "rev"))


def test_repeated_eigenvalues_give_non_finite_eigenvector_derivatives_not_wrong_ones():
    rng = _rng(4)
    a = _symmetric(rng, 3, [1.0, 1.0, 2.0])
    a = (a + a.T) / 2
    t = rng.standard_normal((3, 3))
    # Eigenvalues: a finite first derivative (a kink of the sorted pair).
    _, dw = fungrad.jvp(LA.eigvalsh, (a,), (t,))
    assert np.all(np.isfinite(dw))
    np.testing.assert_allclose(np.sum(dw), np.trace(t), rtol=1e-12)
    # Eigenvectors: not determined, so their derivative is not finite (and NumPy warns).
    exact = np.diag([1.0, 1.0, 2.0])
    with pytest.warns(RuntimeWarning, match="divide by zero|invalid value"):
        _, (_, dv) = fungrad.jvp(lambda a: tuple(LA.eigh(a)), (exact,), (t,))
    assert not np.all(np.isfinite(dv))


# ---------------------------------------------------------------------------------------
# Failed factorizations give NaN, matrix by matrix


def test_failed_factorizations_give_nan_for_that_matrix_only():
    good = spd_matrix(_rng(5), 3)
    bad = -good
    out = LA.cholesky(np.stack([good, bad]))
    np.testing.assert_allclose(out[0], np.linalg.cholesky(good), rtol=1e-14)
    assert np.all(np.isnan(out[1]))
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    x = LA.solve(np.stack([np.eye(2), singular]), np.ones((2, 2, 1)))
    np.testing.assert_array_equal(x[0], np.ones((2, 1)))
    assert np.all(np.isnan(x[1]))
    assert float(LA.det(singular)) == 0.0
    assert np.all(np.isnan(fungrad.grad(LA.det)(singular)))  # documented: not the adjugate
    assert np.all(np.isnan(LA.inv(singular)))


def test_lstsq_reports_the_rank_of_a_rank_deficient_matrix():
    a = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])
    _, _, rank, s = LA.lstsq(a, np.ones(3))
    assert int(rank) == 1
    np.testing.assert_allclose(s, np.linalg.svd(a, compute_uv=False), atol=1e-12)


# ---------------------------------------------------------------------------------------
# Symmetric inputs: the symmetric part


def test_cholesky_and_eigh_use_the_symmetric_part_and_give_symmetric_gradients():
    rng = _rng(6)
    k = spd_matrix(rng, 3)
    skew = rng.standard_normal((3, 3))
    skew = 0.1 * (skew - skew.T)
    np.testing.assert_allclose(LA.cholesky(k + skew), LA.cholesky(k), rtol=1e-14)
    np.testing.assert_allclose(LA.eigvalsh(k + skew), LA.eigvalsh(k), rtol=1e-14)
    g = fungrad.grad(lambda k: fnp.sum(fnp.log(fnp.diagonal(LA.cholesky(k)))))(k)
    np.testing.assert_allclose(g, 0.5 * np.linalg.inv(k), rtol=1e-12)  # ½ K⁻¹, symmetric


def test_log_determinants_agree_and_their_hessians_too():
    k = spd_matrix(_rng(7), 3)

    def via_cholesky(k):
        return 2 * fnp.sum(fnp.log(fnp.diagonal(LA.cholesky(k))))

    def via_slogdet(k):
        return LA.slogdet(k)[1]

    def via_eigvalsh(k):
        return fnp.sum(fnp.log(LA.eigvalsh(k)))

    for f in (via_cholesky, via_slogdet, via_eigvalsh):
        np.testing.assert_allclose(f(k), np.linalg.slogdet(k)[1], rtol=1e-12)
    # The functions differ off the symmetric matrices (slogdet reads all of k), so compare
    # along symmetric directions: d² log det [s, s] = -tr(K⁻¹ s K⁻¹ s).
    s = np.array([[1.0, 0.3, 0.0], [0.3, -0.5, 0.2], [0.0, 0.2, 0.7]])
    k_inv = np.linalg.inv(k)
    expected = -np.trace(k_inv @ s @ k_inv @ s)
    for f in (via_cholesky, via_slogdet, via_eigvalsh):
        hs = fungrad.jvp(lambda k, f=f: fungrad.jvp(f, (k,), (s,))[1], (k,), (s,))[1]
        np.testing.assert_allclose(hs, expected, rtol=1e-10)
        h = fungrad.hessian(f)(k)
        np.testing.assert_allclose(np.einsum("ij,ijkl,kl->", s, h, s), expected, rtol=1e-10)


# ---------------------------------------------------------------------------------------
# Batching and broadcasting


def test_solve_broadcasts_leading_dimensions_as_numpy():
    rng = _rng(8)
    a = spd_matrix(rng, 3, (2, 1))
    b = rng.standard_normal((4, 3, 2))
    np.testing.assert_allclose(LA.solve(a, b), np.linalg.solve(a, b), rtol=1e-12)
    v = rng.standard_normal(3)
    np.testing.assert_allclose(LA.solve(a, v), np.linalg.solve(a, v), rtol=1e-12)
    check_grads(LA.solve, (a, b), order=2, modes=("fwd", "rev"))


def test_vmap_over_any_axis_and_under_jit_and_grad():
    rng = _rng(9)
    ks = np.stack([spd_matrix(rng, 3) for _ in range(4)], axis=1)  # batch axis 1
    y = rng.standard_normal(3)

    def nll(k, y):
        chol = LA.cholesky(k)
        z = LA.solve(chol, y)
        return 0.5 * fnp.sum(z * z) + fnp.sum(fnp.log(fnp.diagonal(chol)))

    batched = fungrad.vmap(fungrad.grad(nll), in_axes=(1, None))(ks, y)
    looped = np.stack([fungrad.grad(nll)(ks[:, i], y) for i in range(4)])
    np.testing.assert_allclose(batched, looped, rtol=1e-12)
    compiled = fungrad.jit(fungrad.vmap(fungrad.grad(nll), in_axes=(1, None)))(ks, y)
    np.testing.assert_allclose(compiled, looped, rtol=1e-12)
    # The analytic gradient: ½ (K⁻¹ - K⁻¹ y yᵀ K⁻¹).
    k0 = ks[:, 0]
    alpha = np.linalg.solve(k0, y)
    np.testing.assert_allclose(
        looped[0], 0.5 * (np.linalg.inv(k0) - np.outer(alpha, alpha)), rtol=1e-10
    )


def test_batched_factorizations_match_numpy_matrix_by_matrix():
    rng = _rng(10)
    a = rng.standard_normal((2, 3, 4, 3))
    for got, want in zip(LA.svd(a, full_matrices=False), np.linalg.svd(a, full_matrices=False)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    for got, want in zip(LA.qr(a), np.linalg.qr(a)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(LA.pinv(a), np.linalg.pinv(a), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(LA.norm(a, 2, axis=(1, 3)), np.linalg.norm(a, 2, axis=(1, 3)))
    np.testing.assert_allclose(
        LA.norm(a, "nuc", axis=(-1, -2), keepdims=True),
        np.linalg.norm(a, "nuc", axis=(-1, -2), keepdims=True),
    )


# ---------------------------------------------------------------------------------------
# float32 stays float32


@pytest.mark.parametrize(
    "fn",
    [
        LA.inv,
        LA.det,
        lambda a: LA.slogdet(a)[1],
        LA.cholesky,
        LA.eigvalsh,
        lambda a: LA.eigh(a)[1],
        lambda a: LA.svd(a)[0],
        LA.svdvals,
        lambda a: LA.qr(a)[1],
        LA.pinv,
        lambda a: LA.solve(a, np.ones(3, np.float32)),
        lambda a: LA.matrix_power(a, -2),
        lambda a: LA.norm(a, 2),
        lambda a: LA.lstsq(a, np.ones(3, np.float32))[0],
    ],
)
def test_float32_values_and_gradients_stay_float32(fn):
    k = spd_matrix(_rng(11), 3).astype(np.float32)
    out = fn(k)
    assert np.asarray(out).dtype == np.float32
    g = fungrad.grad(lambda k: fnp.sum(fn(k)))(k)
    assert g.dtype == np.float32
    g64 = fungrad.grad(lambda k: fnp.sum(fn(k)))(k.astype(np.float64))
    np.testing.assert_allclose(g, g64, rtol=2e-3, atol=2e-3 * np.max(np.abs(g64)))


def test_integer_matrices_are_computed_in_float64():
    a = np.array([[2, 1], [1, 3]])
    assert LA.inv(a).dtype == np.float64
    np.testing.assert_allclose(LA.det(a), 5.0)
    np.testing.assert_allclose(LA.solve(a, np.array([1, 2])), np.linalg.solve(a, [1, 2]))


def test_multi_dot_picks_numpys_order_and_handles_vectors():
    rng = _rng(12)
    xs = [rng.standard_normal(s) for s in [(10,), (10, 100), (100, 5), (5,)]]
    np.testing.assert_allclose(LA.multi_dot(xs), np.linalg.multi_dot(xs), rtol=1e-12)
    jaxpr = fungrad.make_jaxpr(lambda *xs: LA.multi_dot(list(xs)))(*xs[1:3], rng.random((5, 2)))
    assert sum(e.primitive.name == "dot_general" for e in jaxpr.eqns) == 2


def test_pinv_and_lstsq_of_a_rank_deficient_matrix_are_numpys():
    # Truncated singular values, as NumPy: never the huge values of an inverse of ~0.
    a = np.outer([1.0, 2.0, 3.0], [1.0, 0.0, 2.0])
    b = np.array([1.0, -1.0, 2.0])
    np.testing.assert_allclose(fnp.linalg.pinv(a), np.linalg.pinv(a), atol=1e-14)
    np.testing.assert_allclose(fnp.linalg.lstsq(a, b)[0], np.linalg.lstsq(a, b)[0], atol=1e-14)
    assert int(fnp.linalg.lstsq(a, b)[2]) == 1


def test_pinv_derivative_at_a_matrix_with_repeated_singular_values():
    # The identity has one singular value three times: the pseudo-inverse's derivative
    # does not go through singular vectors, so it is finite and right there.
    check_grads(fnp.linalg.pinv, (np.eye(3),), order=2)
    check_grads(fnp.linalg.pinv, (np.eye(4)[:, :3] * 2.0,), order=2)


def test_pinv_rcond_and_rtol_follow_numpy():
    a = np.diag([1.0, 1e-10])
    np.testing.assert_allclose(fnp.linalg.pinv(a), np.linalg.pinv(a))
    np.testing.assert_allclose(fnp.linalg.pinv(a, rcond=1e-5), np.linalg.pinv(a, rcond=1e-5))
    np.testing.assert_allclose(fnp.linalg.pinv(a, rtol=None), np.linalg.pinv(a, rtol=None))
    with pytest.raises(ValueError, match="rcond or rtol"):
        fnp.linalg.pinv(a, rcond=1e-5, rtol=1e-5)
