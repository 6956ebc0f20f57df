"""The matrix-product layouts of ``dot_general``: which contractions of two matrices one
``np.matmul`` computes, and with which operand transposed.

One table for everything that multiplies matrices: the primitive's implementation
(fungrad/primitives/linalg.py) and jit's NumPy lowering (fungrad/jit/lowering.py)
both read it, so eager and generated code compute a product the same way. It sits
below the primitives so that both can import it. (``np.matmul`` rather than
``np.dot``: with a transposed operand it is several percent faster in current NumPy,
and it writes into any writeable ``out=`` array.)
"""

from __future__ import annotations

#: (lhs_contract, rhs_contract) of a 2-D ``dot_general`` with no batch dimensions ->
#: (transpose lhs?, transpose rhs?) in the one ``np.matmul`` that computes it.
MATRIX_PRODUCT_LAYOUTS: dict[tuple[tuple[int, ...], tuple[int, ...]], tuple[bool, bool]] = {
    ((1,), (0,)): (False, False),  # x @ y
    ((0,), (0,)): (True, False),  # x.T @ y
    ((1,), (1,)): (False, True),  # x @ y.T
    ((0,), (1,)): (True, True),  # x.T @ y.T
}


def matrix_product_layout(
    dimension_numbers: tuple, lhs_ndim: int, rhs_ndim: int
) -> tuple[bool, bool] | None:
    """Which operands ``np.matmul`` takes transposed to compute this ``dot_general`` in one
    call, or None when it is not a product of two matrices.

    >>> matrix_product_layout((((0,), (0,)), ((), ())), 2, 2)  # x.T @ y
    (True, False)
    >>> matrix_product_layout((((1,), (0,)), ((), ())), 2, 1) is None  # a matrix-vector product
    True
    """
    (lhs_contract, rhs_contract), (lhs_batch, _) = dimension_numbers
    if lhs_batch or lhs_ndim != 2 or rhs_ndim != 2:
        return None
    return MATRIX_PRODUCT_LAYOUTS.get((lhs_contract, rhs_contract))
