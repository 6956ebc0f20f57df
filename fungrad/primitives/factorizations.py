"""Linear algebra beyond contraction: solves and matrix factorizations.

Each primitive works on the last two axes and batches over any leading ones, as
NumPy's ``linalg`` does. Derivatives are jvp rules written with primitives that are
linear in the tangent (solves, products), so reverse mode comes from transposing
them; reverse-mode rules use solves, not explicit inverses.

Conventions shared by the block below:

- ``cholesky``, ``eigh`` and ``eigvalsh`` factor the symmetric part ``(a + aᵀ)/2`` of
  their operand (for a symmetric ``a`` that is ``a`` itself, bit for bit), so that the
  value and the derivative agree for every perturbation, symmetric or not (JAX's
  ``symmetrize_input``). A gradient with respect to ``a`` is therefore symmetric.
- ``triangular_solve`` reads one triangle of ``a`` (``lower``) and ignores the other.
- The two-operand solves take ``a`` of shape ``(*La, n, n)`` and ``b`` of shape
  ``(*Lb, n, k)`` with ``len(La) == len(Lb)``; the leading dimensions broadcast (size 1
  against size m), so that ``vmap`` never has to broadcast an unbatched operand.
- Where LAPACK fails on a matrix (a singular matrix in a solve, a matrix that is not
  positive definite in ``cholesky``) the result for that matrix is NaN, as in JAX, and
  the other matrices of the batch are computed as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fungrad.core import ShapedArray, Zero, get_aval, new_primitive, shape_of
from fungrad.errors import FungradTypeError, FungradValueError, ShapeError
from fungrad.primitives import elementwise as ew
from fungrad.primitives.builders import (
    cast_like,
    defjvp,
    register_batch,
    register_jvp,
    register_transpose,
    require_constant,
    to_front,
    unbroadcast,
)
from fungrad.primitives.creation import eye
from fungrad.primitives.linalg import dot_general
from fungrad.primitives.structural import broadcast_to, reduce_sum, reshape, transpose

# ---------------------------------------------------------------------------------------
# Helpers for the rules (all bind primitives, so the rules can be differentiated again)


def _ndim(x: Any) -> int:
    return len(shape_of(x))


def _dtype_of(x: Any) -> np.dtype:
    return x.dtype if hasattr(x, "dtype") else get_aval(x).dtype


def _mT(x: Any) -> Any:
    """Swap the last two axes."""
    nd = _ndim(x)
    return transpose(x, (*range(nd - 2), nd - 1, nd - 2))


def _mm(x: Any, y: Any) -> Any:
    """Matrix product over the last two axes; leading axes broadcast."""
    xs, ys = shape_of(x), shape_of(y)
    lead = tuple(np.broadcast_shapes(xs[:-2], ys[:-2]))
    if xs[:-2] != lead:
        x = broadcast_to(x, lead + xs[-2:])
    if ys[:-2] != lead:
        y = broadcast_to(y, lead + ys[-2:])
    nb = len(lead)
    batch = tuple(range(nb))
    return dot_general(x, y, (((nb + 1,), (nb,)), (batch, batch)))


def _identity(n: int, dtype: np.dtype) -> Any:
    return eye((n, n), 0, dtype)


def _sym(x: Any) -> Any:
    return ew.mul(ew.add(x, _mT(x)), 0.5)


def _mask(x: Any, mask: np.ndarray) -> Any:
    return ew.mul(x, mask.astype(_dtype_of(x)))


def _tri_mask(n: int, lower: bool, k: int = 0) -> np.ndarray:
    ones = np.ones((n, n))
    return np.tril(ones, k) if lower else np.triu(ones, -k)


def _diag(x: Any) -> Any:
    """The diagonal of the last two axes, as a vector."""
    n = shape_of(x)[-1]
    return reduce_sum(ew.mul(x, _identity(n, _dtype_of(x))), (_ndim(x) - 1,))


def _trace(x: Any) -> Any:
    n = shape_of(x)[-1]
    nd = _ndim(x)
    return reduce_sum(ew.mul(x, _identity(n, _dtype_of(x))), (nd - 2, nd - 1))


def _row(v: Any) -> Any:
    """A vector ``(..., n)`` as ``(..., 1, n)``: scales the columns of a matrix."""
    s = shape_of(v)
    return reshape(v, s[:-1] + (1, s[-1]))


def _col(v: Any) -> Any:
    """A vector ``(..., n)`` as ``(..., n, 1)``: scales the rows of a matrix."""
    return reshape(v, shape_of(v) + (1,))


def _inverse_gaps(values: Any, squared: bool) -> Any:
    """``F[i, j] = 1 / (v_j - v_i)`` (of squares if ``squared``) off the diagonal, 0 on it.

    Equal values off the diagonal (a repeated eigenvalue or singular value) give an
    infinite entry, and NumPy warns of a division by zero: the derivative of the
    vectors does not exist there, and the result is not finite rather than wrong.
    """
    n = shape_of(values)[-1]
    if squared:
        values = ew.mul(values, values)
    gaps = ew.sub(_row(values), _col(values))
    identity = _identity(n, _dtype_of(values))
    return ew.sub(ew.div(1.0, ew.add(gaps, identity)), identity)


def _float_dtype(name: str, *avals: ShapedArray) -> np.dtype:
    dtype = np.result_type(*(a.dtype for a in avals))
    if dtype.kind != "f":
        raise FungradTypeError(
            f"{name}: needs floating-point operands, got "
            f"{', '.join(a.str_short() for a in avals)}; fungrad.numpy.linalg converts "
            "integers to float64 and does not support complex matrices yet"
        )
    return dtype


def _square(name: str, a: ShapedArray) -> int:
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ShapeError(
            f"{name}: needs square matrices in the last two axes (shape (..., n, n)), "
            f"got an operand of shape {a.shape}"
        )
    return a.shape[-1]


def _matrix(name: str, a: ShapedArray) -> None:
    if a.ndim < 2:
        raise ShapeError(
            f"{name}: needs matrices in the last two axes (at least 2 dimensions), got an "
            f"operand of shape {a.shape}"
        )


def _per_matrix(fn: Callable, arrays: list[np.ndarray], outs: list[np.ndarray]) -> None:
    """Run ``fn`` matrix by matrix, writing NaN where LAPACK fails (``outs`` in place)."""
    lead = outs[0].shape[: outs[0].ndim - 2] if outs[0].ndim >= 2 else ()
    for index in np.ndindex(*lead):
        try:
            results = fn(*(a[index] for a in arrays))
        except np.linalg.LinAlgError:
            for out in outs:
                out[index] = np.nan
            continue
        if len(outs) == 1:
            results = (results,)
        for out, r in zip(outs, results):
            out[index] = r


def _front_batch(prim):
    """Batching rule of a one-operand primitive over the last two axes: batch first."""

    def rule(values, dims, **params):
        out = prim.bind(to_front(values[0], dims[0]), **params)
        return out, ([0] * len(out) if prim.multiple_results else 0)

    return rule


def _solve_batch(prim):
    """Batching rule of ``solve``-like primitives: the batch axis first, and a size-1
    axis in front of an unbatched operand (the leading axes broadcast)."""

    def rule(values, dims, **params):
        moved = []
        for v, d in zip(values, dims):
            if d is None:
                moved.append(reshape(v, (1, *shape_of(v))))
            else:
                moved.append(to_front(v, d))
        return prim.bind(*moved, **params), 0

    return rule


def _solve_abstract_eval(name: str):
    def abstract_eval(a, b, **params):
        n = _square(name, a)
        if b.ndim != a.ndim or b.shape[-2] != n:
            raise ShapeError(
                f"{name}: b must have the shape (..., {n}, k) with as many dimensions as a; "
                f"got a {a.shape} and b {b.shape}"
            )
        try:
            lead = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise ShapeError(
                f"{name}: the leading dimensions of a {a.shape} and b {b.shape} do not broadcast"
            ) from None
        return ShapedArray((*lead, n, b.shape[-1]), _float_dtype(name, a, b))

    return abstract_eval


def _with_dtype(dtype: np.dtype, *arrays: np.ndarray) -> list[np.ndarray]:
    return [np.asarray(x, dtype) for x in arrays]


# ---------------------------------------------------------------------------------------
# solve: x = a⁻¹ b, linear in b


def _solve_impl(a, b):
    dtype = np.result_type(a, b)
    a, b = _with_dtype(dtype, a, b)
    try:
        return np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        lead = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        a = np.broadcast_to(a, (*lead, *a.shape[-2:]))
        b = np.broadcast_to(b, (*lead, *b.shape[-2:]))
        out = np.empty(b.shape, dtype)
        _per_matrix(np.linalg.solve, [a, b], [out])
        return out


solve_p = new_primitive("solve")
solve_p.impl = _solve_impl
solve_p.abstract_eval = _solve_abstract_eval("solve")


def solve(a: Any, b: Any) -> Any:
    """``a⁻¹ b`` for ``a`` of shape ``(*La, n, n)`` and ``b`` of shape ``(*Lb, n, k)``."""
    return solve_p.bind(a, b)


def _solve_jvp(primals, tangents):
    # dx = a⁻¹ (db - da x): one solve for both tangents, so reverse mode solves with aᵀ
    # once.
    (a, b), (ta, tb) = primals, tangents
    x = solve(a, b)
    rhs = _solve_rhs_tangent(x, ta, tb)
    if rhs is None:
        return x, Zero(get_aval(x))
    return x, solve(a, rhs)


def _solve_rhs_tangent(x: Any, ta: Any, tb: Any, transform: Callable | None = None) -> Any:
    """``db - op(da) x`` (None when both tangents are zero), shaped and typed as ``x``."""
    dtype = _dtype_of(x)
    rhs = None
    if type(tb) is not Zero:
        rhs = cast_like(tb, dtype)
        if shape_of(rhs) != shape_of(x):
            rhs = broadcast_to(rhs, shape_of(x))
    if type(ta) is not Zero:
        ta = cast_like(ta, dtype)
        product = _mm(transform(ta) if transform else ta, x)
        rhs = ew.neg(product) if rhs is None else ew.sub(rhs, product)
    return rhs


register_jvp(solve_p, _solve_jvp)


def _solve_transpose(ct, a, b):
    require_constant("solve", a=a)
    if type(ct) is Zero:
        return None, None
    return None, unbroadcast(solve(_mT(a), ct), b.aval)


register_transpose(solve_p, _solve_transpose)
register_batch(solve_p, _solve_batch(solve_p))


# ---------------------------------------------------------------------------------------
# triangular_solve: x = op(T)⁻¹ b with T the lower or upper triangle of a


def _triangular_solve_impl(a, b, lower, transpose_a):
    dtype = np.result_type(a, b)
    a, b = _with_dtype(dtype, a, b)
    t = np.tril(a) if lower else np.triu(a)
    if transpose_a:
        t = np.swapaxes(t, -1, -2)
    return _solve_impl(t, b)


triangular_solve_p = new_primitive("triangular_solve")
triangular_solve_p.impl = _triangular_solve_impl
triangular_solve_p.abstract_eval = _solve_abstract_eval("triangular_solve")


def triangular_solve(a: Any, b: Any, lower: bool = True, transpose_a: bool = False) -> Any:
    """``op(T)⁻¹ b``, ``T`` the lower (or upper) triangle of ``a``, ``op`` transposing if
    ``transpose_a``: shapes as in :func:`solve`."""
    return triangular_solve_p.bind(a, b, lower=bool(lower), transpose_a=bool(transpose_a))


def _triangular_solve_jvp(primals, tangents, lower, transpose_a):
    (a, b), (ta, tb) = primals, tangents
    x = triangular_solve(a, b, lower, transpose_a)

    def op(t):
        t = _mask(t, _tri_mask(shape_of(t)[-1], lower))
        return _mT(t) if transpose_a else t

    rhs = _solve_rhs_tangent(x, ta, tb, op)
    if rhs is None:
        return x, Zero(get_aval(x))
    return x, triangular_solve(a, rhs, lower, transpose_a)


register_jvp(triangular_solve_p, _triangular_solve_jvp)


def _triangular_solve_transpose(ct, a, b, lower, transpose_a):
    require_constant("triangular_solve", a=a)
    if type(ct) is Zero:
        return None, None
    return None, unbroadcast(triangular_solve(a, ct, lower, not transpose_a), b.aval)


register_transpose(triangular_solve_p, _triangular_solve_transpose)
register_batch(triangular_solve_p, _solve_batch(triangular_solve_p))


# ---------------------------------------------------------------------------------------
# cholesky: the lower factor L of the symmetric part of a, L Lᵀ = (a + aᵀ)/2


def _cholesky_impl(a):
    a = np.asarray(a)
    s = (a + np.swapaxes(a, -1, -2)) * a.dtype.type(0.5)
    try:
        return np.linalg.cholesky(s)
    except np.linalg.LinAlgError:
        out = np.empty_like(s)
        _per_matrix(np.linalg.cholesky, [s], [out])
        return out


def _cholesky_abstract_eval(a):
    _square("cholesky", a)
    return ShapedArray(a.shape, _float_dtype("cholesky", a))


cholesky_p = new_primitive("cholesky")
cholesky_p.impl = _cholesky_impl
cholesky_p.abstract_eval = _cholesky_abstract_eval


def cholesky(a: Any) -> Any:
    return cholesky_p.bind(a)


def _cholesky_jvp(t, chol, a):
    # dL = L Φ(L⁻¹ dS L⁻ᵀ), dS the symmetric part of the tangent, Φ the lower triangle
    # with half the diagonal.
    n = shape_of(chol)[-1]
    inner = triangular_solve(chol, _mT(triangular_solve(chol, _sym(t))))
    phi = _tri_mask(n, lower=True) - 0.5 * np.eye(n)
    return _mm(chol, _mask(inner, phi))


defjvp(cholesky_p, _cholesky_jvp)
register_batch(cholesky_p, _front_batch(cholesky_p))


# ---------------------------------------------------------------------------------------
# eigh and eigvalsh: eigenvalues (ascending) and eigenvectors of the symmetric part


def _symmetric_part(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    return (a + np.swapaxes(a, -1, -2)) * a.dtype.type(0.5)


def _eigh_abstract_eval(a):
    n = _square("eigh", a)
    dtype = _float_dtype("eigh", a)
    return [ShapedArray(a.shape[:-1], dtype), ShapedArray((*a.shape[:-2], n, n), dtype)]


eigh_p = new_primitive("eigh", multiple_results=True)
eigh_p.impl = lambda a: list(np.linalg.eigh(_symmetric_part(a)))
eigh_p.abstract_eval = _eigh_abstract_eval


def eigh(a: Any) -> tuple[Any, Any]:
    w, v = eigh_p.bind(a)
    return w, v


def _eigh_jvp(primals, tangents):
    (a,), (t,) = primals, tangents
    w, v = eigh_p.bind(a)
    if type(t) is Zero:
        return [w, v], [Zero(get_aval(w)), Zero(get_aval(v))]
    dtype = _dtype_of(w)
    t = cast_like(t, dtype)
    vtv = _mm(_mT(v), _mm(_sym(t), v))  # vᵀ dS v
    dw = _diag(vtv)
    dv = _mm(v, ew.mul(_inverse_gaps(w, squared=False), vtv))
    return [w, v], [dw, dv]


register_jvp(eigh_p, _eigh_jvp)
register_batch(eigh_p, _front_batch(eigh_p))


def _eigvalsh_abstract_eval(a):
    _square("eigvalsh", a)
    return ShapedArray(a.shape[:-1], _float_dtype("eigvalsh", a))


eigvalsh_p = new_primitive("eigvalsh")
eigvalsh_p.impl = lambda a: np.linalg.eigvalsh(_symmetric_part(a))
eigvalsh_p.abstract_eval = _eigvalsh_abstract_eval


def eigvalsh(a: Any) -> Any:
    return eigvalsh_p.bind(a)


def _eigvalsh_jvp(t, w, a):
    # dw_i = v_iᵀ dS v_i, with the eigenvectors of a (the eigenvalues' own derivative
    # never divides by eigenvalue gaps; their second derivative does, through v).
    _, v = eigh_p.bind(a)
    return reduce_sum(ew.mul(v, _mm(_sym(t), v)), (_ndim(v) - 2,))


defjvp(eigvalsh_p, _eigvalsh_jvp)
register_batch(eigvalsh_p, _front_batch(eigvalsh_p))


# ---------------------------------------------------------------------------------------
# svd and svdvals


def _svd_abstract_eval(a, full_matrices):
    _matrix("svd", a)
    dtype = _float_dtype("svd", a)
    m, n = a.shape[-2:]
    k = min(m, n)
    lead = a.shape[:-2]
    um, vn = (m, n) if full_matrices else (k, k)
    return [
        ShapedArray((*lead, m, um), dtype),
        ShapedArray((*lead, k), dtype),
        ShapedArray((*lead, vn, n), dtype),
    ]


svd_p = new_primitive("svd", multiple_results=True)
svd_p.impl = lambda a, full_matrices: list(np.linalg.svd(a, full_matrices=full_matrices))
svd_p.abstract_eval = _svd_abstract_eval


def svd(a: Any, full_matrices: bool = False) -> tuple[Any, Any, Any]:
    u, s, vt = svd_p.bind(a, full_matrices=bool(full_matrices))
    return u, s, vt


def _svd_jvp(primals, tangents, full_matrices):
    (a,), (t,) = primals, tangents
    u, s, vt = svd_p.bind(a, full_matrices=full_matrices)
    outs = [u, s, vt]
    if type(t) is Zero:
        return outs, [Zero(get_aval(o)) for o in outs]
    m, n = shape_of(a)[-2:]
    if full_matrices and m != n:
        raise FungradValueError(
            f"svd: the derivative of the singular vectors with full_matrices=True of a "
            f"non-square matrix (shape {shape_of(a)}) is not defined: the {abs(m - n)} extra "
            "vectors are any orthonormal basis of a complement. Use full_matrices=False."
        )
    dtype = _dtype_of(s)
    t = cast_like(t, dtype)
    v = _mT(vt)
    ds_mat = _mm(_mT(u), _mm(t, v))  # Uᵀ dA V
    ds = _diag(ds_mat)
    f = _inverse_gaps(s, squared=True)
    dss = ew.mul(ds_mat, _row(s))  # dS diag(s)
    sds = ew.mul(_col(s), ds_mat)  # diag(s) dS
    du = _mm(u, ew.mul(f, ew.add(dss, _mT(dss))))
    dv = _mm(v, ew.mul(f, ew.add(sds, _mT(sds))))
    if m > n:
        du = ew.add(du, ew.div(ew.sub(_mm(t, v), _mm(u, ds_mat)), _row(s)))
    if n > m:
        dv = ew.add(dv, ew.div(ew.sub(_mm(_mT(t), u), _mm(v, _mT(ds_mat))), _row(s)))
    return outs, [du, ds, _mT(dv)]


register_jvp(svd_p, _svd_jvp)
register_batch(svd_p, _front_batch(svd_p))


def _svdvals_abstract_eval(a):
    _matrix("svdvals", a)
    return ShapedArray((*a.shape[:-2], min(a.shape[-2:])), _float_dtype("svdvals", a))


svdvals_p = new_primitive("svdvals")
svdvals_p.impl = lambda a: np.linalg.svd(a, compute_uv=False)
svdvals_p.abstract_eval = _svdvals_abstract_eval


def svdvals(a: Any) -> Any:
    return svdvals_p.bind(a)


def _svdvals_jvp(t, s, a):
    # ds_i = u_iᵀ dA v_i (distinct, nonzero singular values).
    u, _, vt = svd_p.bind(a, full_matrices=False)
    return reduce_sum(ew.mul(u, _mm(t, _mT(vt))), (_ndim(u) - 2,))


defjvp(svdvals_p, _svdvals_jvp)
register_batch(svdvals_p, _front_batch(svdvals_p))


# ---------------------------------------------------------------------------------------
# qr: a = q r, q with orthonormal columns, r upper triangular


def _qr_abstract_eval(a, complete):
    _matrix("qr", a)
    dtype = _float_dtype("qr", a)
    m, n = a.shape[-2:]
    k = m if complete else min(m, n)
    lead = a.shape[:-2]
    return [ShapedArray((*lead, m, k), dtype), ShapedArray((*lead, k, n), dtype)]


qr_p = new_primitive("qr", multiple_results=True)
qr_p.impl = lambda a, complete: list(np.linalg.qr(a, mode="complete" if complete else "reduced"))
qr_p.abstract_eval = _qr_abstract_eval


def qr(a: Any, complete: bool = False) -> tuple[Any, Any]:
    q, r = qr_p.bind(a, complete=bool(complete))
    return q, r


def _qr_jvp(primals, tangents, complete):
    (a,), (t,) = primals, tangents
    q, r = qr_p.bind(a, complete=complete)
    if type(t) is Zero:
        return [q, r], [Zero(get_aval(q)), Zero(get_aval(r))]
    m, n = shape_of(a)[-2:]
    if m < n or (complete and m > n):
        raise FungradValueError(
            f"qr: the derivative is defined for matrices with at least as many rows as "
            f"columns, in mode 'reduced' (or 'r'); got shape {shape_of(a)}"
            + (" in mode 'complete', whose extra columns of q are not unique" if m >= n else "")
        )
    t = cast_like(t, _dtype_of(q))
    # dA R⁻¹ (a solve on the right: R⁻ᵀ dAᵀ, transposed back).
    dx_rinv = _mT(triangular_solve(r, _mT(t), lower=False, transpose_a=True))
    qt_dx_rinv = _mm(_mT(q), dx_rinv)
    lower = _mask(qt_dx_rinv, _tri_mask(n, lower=True, k=-1))
    omega = ew.sub(lower, _mT(lower))  # antisymmetric
    dq = ew.add(_mm(q, ew.sub(omega, qt_dx_rinv)), dx_rinv)
    dr = _mm(ew.sub(qt_dx_rinv, omega), r)
    return [q, r], [dq, dr]


register_jvp(qr_p, _qr_jvp)
register_batch(qr_p, _front_batch(qr_p))


# ---------------------------------------------------------------------------------------
# det and slogdet: d det = det · tr(a⁻¹ da), d log|det| = tr(a⁻¹ da)


def _det_abstract_eval(a):
    _square("det", a)
    return ShapedArray(a.shape[:-2], _float_dtype("det", a))


det_p = new_primitive("det")
det_p.impl = lambda a: np.asarray(np.linalg.det(a))
det_p.abstract_eval = _det_abstract_eval


def det(a: Any) -> Any:
    return det_p.bind(a)


defjvp(det_p, lambda t, d, a: ew.mul(d, _trace(solve(a, t))))
register_batch(det_p, _front_batch(det_p))


def _slogdet_abstract_eval(a):
    _square("slogdet", a)
    dtype = _float_dtype("slogdet", a)
    return [ShapedArray(a.shape[:-2], dtype), ShapedArray(a.shape[:-2], dtype)]


slogdet_p = new_primitive("slogdet", multiple_results=True)
slogdet_p.impl = lambda a: [np.asarray(r) for r in np.linalg.slogdet(a)]
slogdet_p.abstract_eval = _slogdet_abstract_eval


def slogdet(a: Any) -> tuple[Any, Any]:
    sign, logabsdet = slogdet_p.bind(a)
    return sign, logabsdet


def _slogdet_jvp(primals, tangents):
    (a,), (t,) = primals, tangents
    sign, logabsdet = slogdet_p.bind(a)
    zero_sign = Zero(get_aval(sign))
    if type(t) is Zero:
        return [sign, logabsdet], [zero_sign, Zero(get_aval(logabsdet))]
    t = cast_like(t, _dtype_of(logabsdet))
    return [sign, logabsdet], [zero_sign, _trace(solve(a, t))]


register_jvp(slogdet_p, _slogdet_jvp)
register_batch(slogdet_p, _front_batch(slogdet_p))
