"""``dot_general``: contraction with batch dimensions; dot, matmul and tensordot in one.

``dimension_numbers = ((lhs_contract, rhs_contract), (lhs_batch, rhs_batch))``. The
output's dimensions are the batch dimensions, then the lhs's free dimensions, then
the rhs's free dimensions (each in their original order), as in JAX. It is bilinear,
so its transpose with respect to either operand is another ``dot_general`` followed
by a transpose.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fungrad import dtypes
from fungrad.core import ShapedArray, new_primitive, shape_of
from fungrad.errors import ShapeError
from fungrad.matrix_layouts import MATRIX_PRODUCT_LAYOUTS
from fungrad.primitives.builders import (
    cast_like,
    defbilinear,
    is_undefined,
    register_batch,
    to_front,
)
from fungrad.primitives.structural import transpose

DimensionNumbers = tuple[tuple[tuple[int, ...], tuple[int, ...]], tuple[tuple[int, ...], ...]]


def _free_dims(ndim: int, contract: tuple[int, ...], batch: tuple[int, ...]) -> list[int]:
    return [d for d in range(ndim) if d not in contract and d not in batch]


def _dot_general_impl(x, y, dimension_numbers):
    (xc, yc), (xb, yb) = dimension_numbers
    x = np.asarray(x)
    y = np.asarray(y)
    if not xb:
        if x.ndim == 2 and y.ndim == 2:
            # One matmul, with operands transposed as the shared layout table says.
            layout = MATRIX_PRODUCT_LAYOUTS.get((xc, yc))
            if layout is not None:
                return np.matmul(x.T if layout[0] else x, y.T if layout[1] else y)
        if xc == (x.ndim - 1,) and yc == (0,) and y.ndim <= 2:
            return np.dot(x, y)
        # The vector products that reverse mode makes of matrix-vector code (a scan over
        # one sequence): an outer product, and a vector against a matrix's other axis.
        if x.ndim == 1 and y.ndim == 1 and not xc:
            return np.multiply.outer(x, y)
        if x.ndim == 1 and y.ndim == 2 and xc == (0,) and yc == (1,):
            return np.matmul(y, x)
        if x.ndim == 2 and y.ndim == 1 and xc == (0,) and yc == (0,):
            return np.matmul(x.T, y)
    x_free = _free_dims(x.ndim, xc, xb)
    y_free = _free_dims(y.ndim, yc, yb)
    batch_shape = tuple(x.shape[d] for d in xb)
    x_free_shape = tuple(x.shape[d] for d in x_free)
    y_free_shape = tuple(y.shape[d] for d in y_free)
    batch = int(np.prod(batch_shape, dtype=np.int64))
    k = int(np.prod([x.shape[d] for d in xc], dtype=np.int64))
    if xb and not xc:
        # A batch of outer products (reverse mode makes them of batched dot products):
        # one broadcasting multiply, not a matmul of (m, 1) by (1, n) matrices per batch.
        xt = x.transpose(list(xb) + x_free)
        yt = y.transpose(list(yb) + y_free)
        return np.multiply(
            xt.reshape(batch_shape + x_free_shape + (1,) * len(y_free)),
            yt.reshape(batch_shape + (1,) * len(x_free) + y_free_shape),
        )
    xt = x.transpose(list(xb) + x_free + list(xc)).reshape(batch, -1, k)
    yt = y.transpose(list(yb) + list(yc) + y_free).reshape(batch, k, -1)
    if xb and not x_free and not y_free:
        # A batch of dot products of vectors: one pass, not batch matmuls of 1 x 1 results.
        return np.einsum("bk,bk->b", xt[:, 0, :], yt[:, :, 0]).reshape(batch_shape)
    return np.matmul(xt, yt).reshape(batch_shape + x_free_shape + y_free_shape)


def _dot_general_abstract_eval(x, y, dimension_numbers):
    (xc, yc), (xb, yb) = dimension_numbers

    def bad(why: str) -> ShapeError:
        return ShapeError(
            f"dot_general: {why} (lhs {x.str_short()}, rhs {y.str_short()}, "
            f"dimension_numbers={dimension_numbers})"
        )

    if len(xc) != len(yc) or len(xb) != len(yb):
        raise bad("lhs and rhs must name as many contracting and batch dimensions")
    for dims, ndim in ((xc + xb, x.ndim), (yc + yb, y.ndim)):
        if len(set(dims)) != len(dims) or any(not 0 <= d < ndim for d in dims):
            raise bad("dimensions are repeated or out of range")
    if any(x.shape[a] != y.shape[b] for a, b in zip(xc, yc)):
        sizes = [(x.shape[a], y.shape[b]) for a, b in zip(xc, yc)]
        raise bad(f"contracting dimensions differ in size {sizes}")
    if any(x.shape[a] != y.shape[b] for a, b in zip(xb, yb)):
        raise bad("batch dimensions differ in size")
    shape = (
        tuple(x.shape[d] for d in xb)
        + tuple(x.shape[d] for d in _free_dims(x.ndim, xc, xb))
        + tuple(y.shape[d] for d in _free_dims(y.ndim, yc, yb))
    )
    dtype, weak = dtypes.result_type(x, y)
    return ShapedArray(shape, dtype, weak)


dot_general_p = new_primitive("dot_general")
dot_general_p.impl = _dot_general_impl
dot_general_p.abstract_eval = _dot_general_abstract_eval


def dot_general(x: Any, y: Any, dimension_numbers: DimensionNumbers) -> Any:
    (xc, yc), (xb, yb) = dimension_numbers
    dims = ((tuple(xc), tuple(yc)), (tuple(xb), tuple(yb)))
    return dot_general_p.bind(x, y, dimension_numbers=dims)


def _transpose_dims(x, y, dimension_numbers):
    # ct has dims [batch | x free | y free]. Each operand's cotangent contracts ct
    # with the other operand over the other's free dims; the operand order is chosen
    # so the result comes out as [batch | x free | y contracting] for x and
    # [batch | x contracting | y free] for y, which for matrices is already the
    # operand's own layout (ct @ y.T and x.T @ ct): no transpose, C-ordered results.
    (xc, yc), (xb, yb) = dimension_numbers
    nb = len(xb)
    x_ndim = x.aval.ndim if is_undefined(x) else len(shape_of(x))
    y_ndim = y.aval.ndim if is_undefined(y) else len(shape_of(y))
    return nb, x_ndim, y_ndim, _free_dims(x_ndim, xc, xb), _free_dims(y_ndim, yc, yb)


def _dot_general_transpose_lhs(ct, x, y, dimension_numbers):
    (xc, yc), (xb, yb) = dimension_numbers
    nb, x_ndim, _, x_free, y_free = _transpose_dims(x, y, dimension_numbers)
    ct_y_free = tuple(range(nb + len(x_free), nb + len(x_free) + len(y_free)))
    result = dot_general(ct, y, ((ct_y_free, tuple(y_free)), (tuple(range(nb)), yb)))
    # result dims: [batch | x free | y's contracting dims in ascending order]
    ranks = np.argsort(np.argsort(yc))
    source = _layout(x_ndim, xb, x_free, nb, xc, nb + len(x_free), ranks)
    return _put_back(result, source, x.aval.dtype)


def _dot_general_transpose_rhs(ct, x, y, dimension_numbers):
    (xc, yc), (xb, yb) = dimension_numbers
    nb, _, y_ndim, x_free, y_free = _transpose_dims(x, y, dimension_numbers)
    ct_x_free = tuple(range(nb, nb + len(x_free)))
    result = dot_general(x, ct, ((tuple(x_free), ct_x_free), (xb, tuple(range(nb)))))
    # result dims: [batch | x's contracting dims in ascending order | y free]
    ranks = np.argsort(np.argsort(xc))
    source = _layout(y_ndim, yb, y_free, nb + len(xc), yc, nb, ranks)
    return _put_back(result, source, y.aval.dtype)


defbilinear(
    dot_general_p,
    _dot_general_transpose_lhs,
    _dot_general_transpose_rhs,
    operand_names=("lhs", "rhs"),
)


def _layout(ndim, batch, free, free_start, contract, contract_start, contract_ranks):
    """For each dim of an operand, where it is in a computed cotangent."""
    source = [0] * ndim
    for i, d in enumerate(batch):
        source[d] = i
    for j, d in enumerate(free):
        source[d] = free_start + j
    for d, rank in zip(contract, contract_ranks):
        source[d] = contract_start + int(rank)
    return source


def _put_back(result, source, dtype):
    if source != list(range(len(source))):
        result = transpose(result, tuple(source))
    return cast_like(result, dtype)


def _dot_general_batch(values, dims, dimension_numbers):
    (x, y), (dx, dy) = values, dims
    (xc, yc), (xb, yb) = dimension_numbers
    x, y = to_front(x, dx), to_front(y, dy)

    def shift(ds):
        return tuple(d + 1 for d in ds)

    if dx is not None and dy is not None:
        # Both batched: the batch dimension becomes one more dot_general batch dimension.
        dims_out = ((shift(xc), shift(yc)), ((0,) + shift(xb), (0,) + shift(yb)))
        return dot_general(x, y, dims_out), 0
    if dx is not None:
        # Only lhs batched: its batch dimension is its first free dimension.
        dims_out = ((shift(xc), yc), (shift(xb), yb))
        return dot_general(x, y, dims_out), len(xb)
    # Only rhs batched: its batch dimension is its first free dimension.
    dims_out = ((xc, shift(yc)), (xb, shift(yb)))
    x_free = len(shape_of(x)) - len(xc) - len(xb)
    return dot_general(x, y, dims_out), len(xb) + x_free


register_batch(dot_general_p, _dot_general_batch)
