"""``fungrad.numpy.linalg``: solves, factorizations, determinants and norms.

Every function batches over leading dimensions as NumPy's does and is differentiable in
both modes; the primitives (fungrad/primitives/factorizations.py) and the conditions
under which each derivative exists are described in docs/linalg.md.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

import fungrad.numpy as fnp
from fungrad.custom_derivatives import custom_jvp
from fungrad.errors import FungradTypeError, FungradValueError, ShapeError
from fungrad.primitives import factorizations as _fact
from fungrad.primitives.reductions import keepdims_shape

__all__ = [
    "cholesky",
    "det",
    "eigh",
    "eigvalsh",
    "inv",
    "lstsq",
    "matrix_power",
    "multi_dot",
    "norm",
    "pinv",
    "qr",
    "slogdet",
    "solve",
    "svd",
    "svdvals",
]


def __dir__() -> list[str]:
    return sorted(__all__)


def norm(
    x: Any, ord: Any = None, axis: int | Sequence[int] | None = None, keepdims: bool = False
) -> Any:
    """Vector or matrix norm, as ``numpy.linalg.norm``.

    Over one axis (a 1-D ``x``, or an int ``axis``) it is a vector norm: ``ord=None`` or
    2 Euclidean, 1, ``inf``, ``-inf``, 0 (the number of nonzero entries, with zero
    derivative) or any other ``p``, ``sum(|x|**p) ** (1/p)``. Over two axes (a 2-D
    ``x``, or a pair ``axis``) it is a matrix norm: ``None``/``'fro'`` Frobenius, 1 and
    -1 the largest and smallest column sum of ``|x|``, ``inf`` and ``-inf`` the largest
    and smallest row sum, 2 and -2 the largest and smallest singular value, ``'nuc'`` the
    sum of the singular values. ``ord=None`` with ``axis=None`` is the 2-norm of all
    entries, whatever ``x``'s dimension.

    Derivatives: the matrix 2-norm (-2-norm) is differentiable where the largest
    (smallest) singular value is simple and nonzero, the nuclear norm where no singular
    value is zero (its second derivative also needs distinct singular values, see
    ``svd``); at a tie the derivative of ``max``/``min`` shares the tangent between the
    tied values.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> a = np.array([[1.0, -2.0], [3.0, 4.0]])
    >>> [float(fnp.linalg.norm(a, ord)) for ord in (None, 1, fnp.inf)]
    [5.477225575051661, 6.0, 7.0]
    >>> fnp.linalg.norm(a, 3, axis=1)
    array([2.08008382, 4.49794145])
    """
    x = fnp.asarray(x)
    dtype = fnp.result_type(x)
    if dtype.kind not in "fc":
        x = fnp.astype(x, np.float64)  # as NumPy: integers and booleans are normed as floats
    nd = fnp.ndim(x)
    if axis is None:
        if ord is None:
            out = _euclidean(x, None)
            return fnp.reshape(out, (1,) * nd) if keepdims else out
        if nd not in (1, 2):
            raise FungradValueError(
                f"norm: ord={ord!r} with axis=None needs a 1-D or 2-D array, got shape "
                f"{fnp.shape(x)}; pass axis= to choose the axes"
            )
        axes = tuple(range(nd))
    else:
        axes = fnp._axis_tuple(axis, nd, "norm")
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2:
        out = _matrix_norm(x, ord, *axes)
        return fnp.reshape(out, keepdims_shape(fnp.shape(x), axes)) if keepdims else out
    raise FungradValueError(
        f"norm: axis={axis!r} names {len(axes)} axes; a norm is over one axis (a vector "
        "norm) or two (a matrix norm)"
    )


def _abs_squared(x: Any) -> Any:
    a = fnp.abs(x) if fnp.result_type(x).kind == "c" else x
    return a * a


def _euclidean(x: Any, axis: Any, keepdims: bool = False) -> Any:
    return fnp.sqrt(fnp.sum(_abs_squared(x), axis=axis, keepdims=keepdims))


def _vector_norm(x: Any, ord: Any, axis: int, keepdims: bool) -> Any:
    if isinstance(ord, str):
        raise FungradValueError(f"norm: invalid norm order {ord!r} for vectors")
    if ord is None or ord == 2:
        return _euclidean(x, axis, keepdims)
    if ord == fnp.inf:
        return fnp.max(fnp.abs(x), axis=axis, keepdims=keepdims)
    if ord == -fnp.inf:
        return fnp.min(fnp.abs(x), axis=axis, keepdims=keepdims)
    if ord == 0:
        real_dtype = np.finfo(fnp.result_type(x)).dtype  # float32 for complex64
        nonzero = fnp.astype(fnp.not_equal(x, 0), real_dtype)
        return fnp.sum(nonzero, axis=axis, keepdims=keepdims)
    if ord == 1:
        return fnp.sum(fnp.abs(x), axis=axis, keepdims=keepdims)
    p = float(ord)
    return fnp.power(fnp.sum(fnp.power(fnp.abs(x), p), axis=axis, keepdims=keepdims), 1.0 / p)


def _matrix_norm(x: Any, ord: Any, row_axis: int, col_axis: int) -> Any:
    if ord is None or (isinstance(ord, str) and ord in ("fro", "f")):
        return _euclidean(x, (row_axis, col_axis))
    if isinstance(ord, str) and ord == "nuc" or not isinstance(ord, str) and ord in (2, -2):
        # Through the singular values of the matrices in the two axes.
        values = _fact.svdvals(fnp.moveaxis(x, (row_axis, col_axis), (-2, -1)))
        if ord == "nuc":
            return fnp.sum(values, axis=-1)
        return fnp.max(values, axis=-1) if ord == 2 else fnp.min(values, axis=-1)
    if isinstance(ord, str) or ord not in (1, -1, fnp.inf, -fnp.inf):
        raise FungradValueError(
            f"norm: invalid norm order {ord!r} for matrices; use None, 'fro', 'nuc', 1, -1, "
            "2, -2, inf or -inf"
        )
    if ord in (1, -1):  # over columns: sum each column, then the largest/smallest
        sums = fnp.sum(fnp.abs(x), axis=row_axis)
        axis = col_axis - (col_axis > row_axis)
    else:  # over rows
        sums = fnp.sum(fnp.abs(x), axis=col_axis)
        axis = row_axis - (row_axis > col_axis)
    return fnp.max(sums, axis=axis) if ord > 0 else fnp.min(sums, axis=axis)


# ---------------------------------------------------------------------------------------
# Operand checks


class EighResult(NamedTuple):
    eigenvalues: Any
    eigenvectors: Any


class SVDResult(NamedTuple):
    U: Any
    S: Any
    Vh: Any


class QRResult(NamedTuple):
    Q: Any
    R: Any


class SlogdetResult(NamedTuple):
    sign: Any
    logabsdet: Any


def _floating(a: Any, name: str, arg: str = "a") -> Any:
    """``a`` as a fungrad operand of a real floating dtype (integers become float64)."""
    a = fnp.asarray(a)
    kind = fnp.result_type(a).kind
    if kind == "c":
        raise FungradTypeError(
            f"{name}: {arg} is complex ({fnp.result_type(a)}); fungrad.numpy.linalg supports "
            "real matrices only. Write complex arithmetic with real and imaginary parts."
        )
    if kind != "f":
        a = fnp.astype(a, np.float64)
    return a


def _matrices(a: Any, name: str, arg: str = "a") -> Any:
    a = _floating(a, name, arg)
    if fnp.ndim(a) < 2:
        raise ShapeError(
            f"{name}: {arg} must have at least 2 dimensions (a matrix or a stack of "
            f"matrices), got shape {fnp.shape(a)}"
        )
    return a


def _square_matrices(a: Any, name: str, arg: str = "a") -> Any:
    a = _matrices(a, name, arg)
    shape = fnp.shape(a)
    if shape[-1] != shape[-2]:
        raise ShapeError(
            f"{name}: {arg} must be square in its last two dimensions (shape (..., M, M)), "
            f"got shape {shape}"
        )
    return a


def _mT(a: Any) -> Any:
    return fnp.swapaxes(a, -1, -2)


def _lead_ones(x: Any, ndim: int) -> Any:
    """``x`` with size-1 leading dimensions added up to ``ndim`` dimensions."""
    shape = fnp.shape(x)
    if len(shape) < ndim:
        x = fnp.reshape(x, (1,) * (ndim - len(shape)) + shape)
    return x


def _solve_matrices(a: Any, b: Any, triangular: dict | None = None) -> Any:
    """``a⁻¹ b`` for b of shape (..., M, K): leading dimensions broadcast."""
    nd = max(fnp.ndim(a), fnp.ndim(b))
    a, b = _lead_ones(a, nd), _lead_ones(b, nd)
    if triangular is None:
        return _fact.solve(a, b)
    return _fact.triangular_solve(a, b, **triangular)


# ---------------------------------------------------------------------------------------
# Solves and inverses


def solve(a: Any, b: Any) -> Any:
    """Solve ``a @ x = b``, as ``numpy.linalg.solve`` (NumPy 2 semantics).

    ``a`` has shape ``(..., M, M)``; ``b`` is a vector ``(M,)`` only when ``b.ndim == 1``,
    otherwise a stack of matrices ``(..., M, K)``; leading dimensions broadcast. The
    derivative is ``dx = a⁻¹ (db - da x)``, and reverse mode solves with ``aᵀ``: no
    inverse is formed. A singular matrix gives NaN (NumPy raises ``LinAlgError``), as do
    its derivatives.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.linalg.solve(np.array([[2.0, 0.0], [0.0, 4.0]]), np.array([2.0, 2.0]))
    array([1. , 0.5])
    """
    a = _square_matrices(a, "solve")
    b = _floating(b, "solve", "b")
    m = fnp.shape(a)[-1]
    b_shape = fnp.shape(b)
    if fnp.ndim(b) == 1:
        if b_shape[0] != m:
            raise ShapeError(
                f"solve: b of shape {b_shape} does not match a of shape {fnp.shape(a)}: a "
                f"vector b needs {m} entries"
            )
        x = _solve_matrices(a, fnp.reshape(b, (m, 1)))
        return fnp.reshape(x, fnp.shape(x)[:-1])
    if fnp.ndim(b) == 0 or b_shape[-2] != m:
        raise ShapeError(
            f"solve: b of shape {b_shape} does not match a of shape {fnp.shape(a)}: b must "
            f"be a vector ({m},) or a stack of matrices (..., {m}, K) (NumPy 2 semantics: "
            "for a stack of vectors use b[..., None] and take [..., 0] of the result)"
        )
    try:
        np.broadcast_shapes(fnp.shape(a)[:-2], b_shape[:-2])
    except ValueError:
        raise ShapeError(
            f"solve: the leading dimensions of a {fnp.shape(a)} and b {b_shape} do not broadcast"
        ) from None
    return _solve_matrices(a, b)


def inv(a: Any) -> Any:
    """Inverse of each matrix in ``a`` (shape ``(..., M, M)``), as ``numpy.linalg.inv``.

    Computed as ``solve(a, I)``; its derivative is ``-inv(a) da inv(a)``, written with
    solves. A singular matrix gives NaN (NumPy raises ``LinAlgError``).

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.linalg.inv(np.array([[2.0, 0.0], [0.0, 4.0]]))
    array([[0.5 , 0.  ],
           [0.  , 0.25]])
    """
    a = _square_matrices(a, "inv")
    m = fnp.shape(a)[-1]
    return _solve_matrices(a, np.eye(m, dtype=fnp.result_type(a)))


def det(a: Any) -> Any:
    """Determinant of each matrix in ``a`` (shape ``(..., M, M)``), as ``numpy.linalg.det``.

    Derivative ``det(a) · trace(solve(a, da))``. At a singular ``a`` the determinant is
    0 but this solve gives NaN, so the derivative there is NaN (the true derivative, the
    adjugate's trace, is not computed); use ``slogdet`` for log-determinants.

    >>> import numpy as np, fungrad, fungrad.numpy as fnp
    >>> a = np.array([[2.0, 1.0], [1.0, 3.0]])
    >>> round(float(fnp.linalg.det(a)), 12)
    5.0
    >>> np.round(fungrad.grad(fnp.linalg.det)(a), 12)  # det(a) · inv(a)ᵀ
    array([[ 3., -1.],
           [-1.,  2.]])
    """
    return _fact.det(_square_matrices(a, "det"))


def slogdet(a: Any) -> SlogdetResult:
    """Sign and log of the absolute value of the determinant, as ``numpy.linalg.slogdet``.

    Returns ``(sign, logabsdet)``. ``sign`` has a zero derivative; ``logabsdet``'s is
    ``trace(solve(a, da))``, NaN at a singular ``a`` (where ``logabsdet`` is ``-inf``).

    >>> import numpy as np, fungrad.numpy as fnp
    >>> sign, logabsdet = fnp.linalg.slogdet(np.array([[0.0, 2.0], [1.0, 0.0]]))
    >>> float(sign), round(float(logabsdet), 6)
    (-1.0, 0.693147)
    """
    sign, logabsdet = _fact.slogdet(_square_matrices(a, "slogdet"))
    return SlogdetResult(sign, logabsdet)


def matrix_power(a: Any, n: int) -> Any:
    """``a`` multiplied by itself ``n`` times, as ``numpy.linalg.matrix_power``.

    ``n`` is a Python int: ``0`` gives the identity (no derivative), a negative ``n``
    the power of ``inv(a)``. Computed by repeated squaring.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.linalg.matrix_power(np.array([[1.0, 1.0], [0.0, 1.0]]), 3)
    array([[1., 3.],
           [0., 1.]])
    """
    a = _square_matrices(a, "matrix_power")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise FungradTypeError(
            f"matrix_power: the exponent n must be a Python int, got {type(n).__name__} {n!r}"
        )
    n = int(n)
    if n == 0:
        m = fnp.shape(a)[-1]
        return np.broadcast_to(np.eye(m, dtype=fnp.result_type(a)), fnp.shape(a)).copy()
    if n < 0:
        a, n = inv(a), -n
    result = None
    square = a
    while True:
        if n & 1:
            result = square if result is None else fnp.matmul(result, square)
        n >>= 1
        if not n:
            return result
        square = fnp.matmul(square, square)


def multi_dot(arrays: Sequence[Any], *, out: None = None) -> Any:
    """The product of two or more arrays, in the cheapest order, as ``numpy.linalg.multi_dot``.

    The first array may be 1-D (a row vector) and the last 1-D (a column vector); the
    others are 2-D. The order of the products is chosen by dynamic programming on
    the shapes, as NumPy does; ``out`` is not supported.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.linalg.multi_dot([np.ones(2), np.eye(2), np.array([[1.0], [2.0]])])
    array([3.])
    """
    if out is not None:
        raise FungradValueError("multi_dot: out= is not supported; use the returned array")
    arrays = [_floating(x, "multi_dot", f"arrays[{i}]") for i, x in enumerate(arrays)]
    if len(arrays) < 2:
        raise FungradValueError(f"multi_dot: needs at least two arrays, got {len(arrays)}")
    first_vector = fnp.ndim(arrays[0]) == 1
    last_vector = fnp.ndim(arrays[-1]) == 1
    if first_vector:
        arrays[0] = fnp.reshape(arrays[0], (1, -1))
    if last_vector:
        arrays[-1] = fnp.reshape(arrays[-1], (-1, 1))
    for i, x in enumerate(arrays):
        if fnp.ndim(x) != 2:
            raise ShapeError(
                f"multi_dot: arrays[{i}] has shape {fnp.shape(x)}; the first and last arrays "
                "may be 1-D or 2-D, the others must be 2-D"
            )
    for i in range(len(arrays) - 1):
        if fnp.shape(arrays[i])[1] != fnp.shape(arrays[i + 1])[0]:
            raise ShapeError(
                f"multi_dot: arrays[{i}] of shape {fnp.shape(arrays[i])} and arrays[{i + 1}] "
                f"of shape {fnp.shape(arrays[i + 1])} cannot be multiplied"
            )
    dims = [fnp.shape(arrays[0])[0]] + [fnp.shape(x)[1] for x in arrays]
    split = _chain_order(dims)

    def product(i: int, j: int) -> Any:
        if i == j:
            return arrays[i]
        k = split[i][j]
        return fnp.matmul(product(i, k), product(k + 1, j))

    result = product(0, len(arrays) - 1)
    if first_vector and last_vector:
        return fnp.reshape(result, ())
    if first_vector:
        return fnp.reshape(result, (-1,))
    if last_vector:
        return fnp.reshape(result, (-1,))
    return result


def _chain_order(dims: list[int]) -> list[list[int]]:
    """Matrix-chain order: ``split[i][j]`` is where to split the product of i..j."""
    n = len(dims) - 1
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = None
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if cost[i][j] is None or c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k
    return split


# ---------------------------------------------------------------------------------------
# Factorizations


def cholesky(a: Any, /, *, upper: bool = False) -> Any:
    """Cholesky factor of each symmetric positive-definite matrix in ``a``, as
    ``numpy.linalg.cholesky``: ``L`` lower triangular with ``L @ L.T == a`` (``upper=True``:
    ``U = L.T``, ``U.T @ U == a``).

    fungrad factors the symmetric part ``(a + aᵀ)/2`` (``a`` itself when symmetric; NumPy
    reads one triangle), so the derivative holds for any perturbation and a gradient
    with respect to ``a`` is symmetric. A matrix that is not positive definite gives NaN
    (NumPy raises ``LinAlgError``). Derivative: ``dL = L Φ(L⁻¹ dA L⁻ᵀ)``, ``Φ`` the lower
    triangle with half the diagonal, computed with triangular solves.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.linalg.cholesky(np.array([[4.0, 2.0], [2.0, 5.0]]))
    array([[2., 0.],
           [1., 2.]])
    """
    chol = _fact.cholesky(_square_matrices(a, "cholesky"))
    return _mT(chol) if upper else chol


def eigh(a: Any, UPLO: str = "L") -> EighResult:
    """Eigenvalues (ascending) and eigenvectors (columns) of symmetric matrices, as
    ``numpy.linalg.eigh``.

    fungrad decomposes the symmetric part ``(a + aᵀ)/2``, so ``UPLO`` makes no difference
    for a symmetric ``a`` and is accepted for compatibility. Derivatives:
    ``dw_i = v_iᵀ dA v_i`` and ``dv = v (F ∘ (vᵀ dA v))`` with ``F_ij = 1/(w_j - w_i)``.
    They need distinct eigenvalues: at a repeated eigenvalue the eigenvectors are not
    determined, and their derivative comes out infinite or NaN (with NumPy's
    divide-by-zero warning), never a finite wrong value. The eigenvalues' first
    derivative stays finite there (for the eigenvectors chosen). Each eigenvector's sign
    is LAPACK's choice: differentiate functions that do not depend on it.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> w, v = fnp.linalg.eigh(np.array([[2.0, 0.0], [0.0, 1.0]]))
    >>> w
    array([1., 2.])
    """
    if UPLO not in ("L", "U"):
        raise FungradValueError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    w, v = _fact.eigh(_square_matrices(a, "eigh"))
    return EighResult(w, v)


def eigvalsh(a: Any, UPLO: str = "L") -> Any:
    """Eigenvalues (ascending) of symmetric matrices, as ``numpy.linalg.eigvalsh``.

    Of the symmetric part ``(a + aᵀ)/2``, as ``eigh``. First derivative
    ``dw_i = v_iᵀ dA v_i``, finite everywhere (at a repeated eigenvalue the eigenvalues
    have a kink and this is the derivative for LAPACK's eigenvectors); the second
    derivative needs distinct eigenvalues.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.linalg.eigvalsh(np.array([[2.0, 1.0], [1.0, 2.0]]))
    array([1., 3.])
    """
    if UPLO not in ("L", "U"):
        raise FungradValueError(f"eigvalsh: UPLO must be 'L' or 'U', got {UPLO!r}")
    return _fact.eigvalsh(_square_matrices(a, "eigvalsh"))


def svd(
    a: Any, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False
) -> Any:
    """Singular value decomposition ``a = U diag(S) Vh``, as ``numpy.linalg.svd``.

    Returns ``(U, S, Vh)``, or ``S`` alone with ``compute_uv=False``; ``hermitian`` is
    accepted and ignored (the general algorithm gives the same values). Derivatives: the
    singular values' (``dS_i = u_iᵀ dA v_i``) need them distinct from each other at
    second order and nonzero; the vectors' need distinct nonzero singular values, and
    ``full_matrices=False`` for a non-square ``a`` (the extra vectors of
    ``full_matrices=True`` are any basis of a complement: differentiating them raises).
    Repeated singular values give infinite or NaN derivatives of the vectors. Signs of
    the vector pairs are LAPACK's choice.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.linalg.svd(np.array([[3.0, 0.0], [0.0, -4.0]]), compute_uv=False)
    array([4., 3.])
    """
    a = _matrices(a, "svd")
    if not compute_uv:
        return _fact.svdvals(a)
    u, s, vh = _fact.svd(a, full_matrices=full_matrices)
    return SVDResult(u, s, vh)


def svdvals(x: Any, /) -> Any:
    """Singular values, descending, as ``numpy.linalg.svdvals`` (``svd(x, compute_uv=False)``).

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.linalg.svdvals(np.array([[0.0, 2.0], [1.0, 0.0]]))
    array([2., 1.])
    """
    return _fact.svdvals(_matrices(x, "svdvals", "x"))


def qr(a: Any, mode: str = "reduced") -> Any:
    """QR decomposition, as ``numpy.linalg.qr``: ``mode`` ``'reduced'`` (``Q`` of shape
    ``(..., M, K)``, ``R`` ``(..., K, N)``, ``K = min(M, N)``), ``'complete'`` (``Q``
    ``(..., M, M)``) or ``'r'`` (``R`` alone). ``'raw'`` is not supported.

    Derivatives are defined for ``M >= N`` of full column rank in modes ``'reduced'`` and
    ``'r'`` (and ``'complete'`` when ``M == N``); elsewhere differentiating raises.
    The signs of ``R``'s diagonal are LAPACK's (NumPy's) choice.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> q, r = fnp.linalg.qr(np.array([[3.0], [4.0]]))
    >>> np.abs(r)
    array([[5.]])
    """
    if mode not in ("reduced", "complete", "r"):
        raise FungradValueError(
            f"qr: mode must be 'reduced', 'complete' or 'r', got {mode!r} ('raw' and the "
            "deprecated modes are not supported)"
        )
    q, r = _fact.qr(_matrices(a, "qr"), complete=mode == "complete")
    return r if mode == "r" else QRResult(q, r)


# ---------------------------------------------------------------------------------------
# Least squares and the pseudo-inverse (full rank)


_NOT_GIVEN = object()  # pinv's rtol not passed (NumPy tells it from rtol=None)


def _pinv_value(a: Any, rtol: float) -> Any:
    """NumPy's pseudo-inverse: ``V diag(1/s) Uᵀ`` over the singular values above
    ``rtol * max(s)`` (the others count as zero)."""
    u, s, vh = _fact.svd(a, full_matrices=False)
    large = s > rtol * fnp.max(s, axis=-1, keepdims=True)
    s_inv = fnp.where(large, 1.0 / fnp.where(large, s, 1.0), 0.0)
    return fnp.matmul(_mT(vh) * fnp.expand_dims(s_inv, -2), _mT(u))


@functools.partial(custom_jvp, nondiff_argnums=(1,))
def _pinv(a: Any, rtol: float) -> Any:
    return _pinv_value(a, rtol)


@_pinv.defjvp
def _pinv_jvp(rtol, primals, tangents):
    # The derivative where the rank is locally constant (Golub and Pereyra, 1973):
    #   dP = -P dA P + P Pᵀ dAᵀ (I - A P) + (I - P A) dAᵀ Pᵀ P,
    # which is the exact derivative at a matrix of full rank.
    (a,), (da,) = primals, tangents
    p = _pinv(a, rtol)
    m, n = fnp.shape(a)[-2:]
    p_t, da_t = _mT(p), _mT(da)
    left = fnp.eye(m, dtype=fnp.result_type(p)) - fnp.matmul(a, p)
    right = fnp.eye(n, dtype=fnp.result_type(p)) - fnp.matmul(p, a)
    dp = (
        -fnp.matmul(fnp.matmul(p, da), p)
        + fnp.matmul(fnp.matmul(fnp.matmul(p, p_t), da_t), left)
        + fnp.matmul(fnp.matmul(right, da_t), fnp.matmul(p_t, p))
    )
    return p, dp


def pinv(a: Any, rcond: Any = None, hermitian: bool = False, *, rtol: Any = _NOT_GIVEN) -> Any:
    """Moore-Penrose pseudo-inverse, as ``numpy.linalg.pinv``.

    From the singular value decomposition, with singular values at or below
    ``rcond * max(s)`` treated as zero, so a rank-deficient matrix gets NumPy's
    pseudo-inverse. As NumPy: ``rcond`` defaults to 1e-15, or to ``rtol`` if given
    (``rtol=None``: ``max(M, N) * eps``). The derivative is the one for a constant rank,
    exact at matrices of full rank (the pseudo-inverse jumps where the rank changes).
    ``hermitian`` is accepted and changes nothing.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.linalg.pinv(np.array([[1.0], [1.0]]))
    array([[0.5, 0.5]])
    >>> fnp.linalg.pinv(np.array([[1.0, 2.0], [2.0, 4.0]]))  # rank 1, as NumPy
    array([[0.04, 0.08],
           [0.08, 0.16]])
    """
    a = _matrices(a, "pinv")
    if rcond is None:
        if rtol is _NOT_GIVEN:
            rcond = 1e-15
        elif rtol is None:
            rcond = max(fnp.shape(a)[-2:]) * np.finfo(fnp.result_type(a)).eps
        else:
            rcond = rtol
    elif rtol is not _NOT_GIVEN:
        raise FungradValueError("pinv: give rcond or rtol, not both")
    return _pinv(a, float(rcond))


def lstsq(a: Any, b: Any, rcond: Any = None) -> tuple[Any, Any, Any, Any]:
    """Least-squares solution of ``a @ x = b``, as ``numpy.linalg.lstsq``.

    ``a`` is ``(M, N)``, ``b`` ``(M,)`` or ``(M, K)``. Returns ``(x, residuals, rank, s)``:
    ``x = pinv(a) @ b``, the minimum-norm least-squares solution, with singular values at
    or below ``rcond * max(s)`` treated as zero (``rcond=None``: machine epsilon times
    ``max(M, N)``), differentiable where the rank is constant (see :func:`pinv`);
    ``residuals`` the squared norms of ``b - a @ x`` per column (shape ``(K,)``, ``(1,)``
    for a vector ``b``) when ``M > N``, else empty (NumPy also leaves them empty for a
    rank-deficient ``a``, which a traced ``a`` cannot tell); ``rank``, with no
    derivative; ``s`` the singular values.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> a = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> x, residuals, rank, s = fnp.linalg.lstsq(a, np.array([1.0, 1.0, 3.0]))
    >>> np.round(x, 6), np.round(residuals, 6), int(rank)
    (array([1.333333, 1.333333]), array([0.333333]), 2)
    """
    a = _matrices(a, "lstsq")
    b = _floating(b, "lstsq", "b")
    if fnp.ndim(a) != 2:
        raise ShapeError(f"lstsq: a must be 2-D (M, N), got shape {fnp.shape(a)}")
    m, n = fnp.shape(a)
    if fnp.ndim(b) not in (1, 2) or fnp.shape(b)[0] != m:
        raise ShapeError(
            f"lstsq: b must have shape ({m},) or ({m}, K) to match a of shape {fnp.shape(a)}, "
            f"got shape {fnp.shape(b)}"
        )
    vector = fnp.ndim(b) == 1
    b2 = fnp.reshape(b, (m, 1)) if vector else b
    s = _fact.svdvals(a)
    dtype = fnp.result_type(s)
    cutoff = (np.finfo(dtype).eps * max(m, n)) if rcond is None else rcond
    rank = fnp.sum(fnp.stop_gradient(s) > cutoff * fnp.max(fnp.stop_gradient(s)))
    x = fnp.matmul(_pinv(a, float(cutoff)), b2)
    if m > n:
        residual = b2 - fnp.matmul(a, x)
        residuals = fnp.sum(residual * residual, axis=0)
    else:
        residuals = np.zeros((0,), fnp.result_type(x))
    return (fnp.reshape(x, (n,)) if vector else x), residuals, rank, s
