"""The structural primitives: casting, broadcasting, reshaping, permuting axes, summing.

Every other rule is built from these. The jvp of a binary primitive broadcasts and
casts each tangent contribution to its output (``broadcast_to``, ``cast_like``); a
transpose rule sums a cotangent back down to its operand's shape (``unbroadcast``);
a batching rule moves a batch dimension (``to_front``, ``move_batch_dim``). So these
primitives come first in the primitives layer, and their own rules use only each
other and the interpreters' registration functions; the helpers built on them are
exported to rule writers by fungrad/primitives/builders.py.

All five are linear. Each primitive is one block: declaration, wrapper, shape/dtype
rule, transpose, batching and identity rules (the jvp of a linear primitive comes
with ``deflinear``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fungrad import dtypes
from fungrad.core import ShapedArray, Zero, get_aval, new_primitive, shape_of
from fungrad.errors import ShapeError
from fungrad.interpreters.batching import defvectorized, register_batch
from fungrad.interpreters.jvp import check_real_tangent, register_jvp
from fungrad.interpreters.simplify_rules import (
    register_expansion,
    register_identity,
    register_reshape,
)
from fungrad.interpreters.transpose import deflinear, register_transpose


def _stays_weak(x: ShapedArray, shape: tuple[int, ...]) -> bool:
    """Shape ops give NumPy arrays, which are not weak, except that a Python scalar
    reshaped to a scalar stays a Python scalar (see EvalInterpreter)."""
    return x.weak_type and shape == ()


# ---------------------------------------------------------------------------------------
# convert_element_type: a cast. Linear for floats; no derivative into non-float dtypes.

convert_element_type_p = new_primitive("convert_element_type")
convert_element_type_p.impl = lambda x, new_dtype: np.asarray(x).astype(new_dtype)
convert_element_type_p.abstract_eval = lambda x, new_dtype: ShapedArray(x.shape, new_dtype)


def convert_element_type(x: Any, new_dtype: Any) -> Any:
    return convert_element_type_p.bind(x, new_dtype=np.dtype(new_dtype))


def _convert_jvp(primals, tangents, new_dtype):
    (x,), (t,) = primals, tangents
    ans = convert_element_type(x, new_dtype)
    if type(t) is Zero or not dtypes.is_differentiable(new_dtype):
        return ans, Zero(get_aval(ans))
    check_real_tangent(new_dtype)
    return ans, convert_element_type(t, new_dtype)


register_jvp(convert_element_type_p, _convert_jvp)
register_transpose(
    convert_element_type_p, lambda ct, x, new_dtype: (convert_element_type(ct, x.aval.dtype),)
)
defvectorized(convert_element_type_p)
register_identity(
    convert_element_type_p,
    lambda avals, consts, new_dtype: (
        0 if avals[0].dtype == new_dtype and not avals[0].weak_type else None
    ),
)


def cast_like(x: Any, dtype: np.dtype) -> Any:
    """Cast a tangent or cotangent to ``dtype`` when promotion changed it."""
    x_dtype = x.dtype if hasattr(x, "dtype") else get_aval(x).dtype
    if x_dtype != dtype and dtypes.is_differentiable(dtype):
        return convert_element_type(x, dtype)
    return x


# ---------------------------------------------------------------------------------------
# broadcast_in_dim: operand dimension i becomes output dimension broadcast_dimensions[i].

broadcast_in_dim_p = new_primitive("broadcast_in_dim")


def broadcast_in_dim(x: Any, shape: tuple[int, ...], broadcast_dimensions: tuple[int, ...]):
    return broadcast_in_dim_p.bind(
        x, shape=tuple(shape), broadcast_dimensions=tuple(broadcast_dimensions)
    )


def broadcast_to(x: Any, shape: tuple[int, ...]) -> Any:
    """NumPy-style broadcast of ``x`` to ``shape`` (trailing dimensions aligned)."""
    ndim = len(shape_of(x))
    return broadcast_in_dim(x, shape, tuple(range(len(shape) - ndim, len(shape))))


# Up to this many elements a broadcast is copied into a new array: np.broadcast_to
# builds its read-only view through an nditer, which costs more than copying a few
# kilobytes (8 us against 2.6 us for 64 x 10 float64).
_COPY_BROADCAST_UP_TO = 4096


def _broadcast_in_dim_impl(x, shape, broadcast_dimensions):
    x = np.asarray(x)
    expanded = _broadcast_in_dim_expansion(x, shape, broadcast_dimensions)
    if math.prod(shape) <= _COPY_BROADCAST_UP_TO:
        out = np.empty(shape, x.dtype)
        out[...] = x.reshape(expanded)
        return out
    return np.broadcast_to(x.reshape(expanded), shape)


def _broadcast_in_dim_abstract_eval(x, shape, broadcast_dimensions):
    ok = len(broadcast_dimensions) == x.ndim and all(
        0 <= d < len(shape) and x.shape[i] in (1, shape[d])
        for i, d in enumerate(broadcast_dimensions)
    )
    if not ok or list(broadcast_dimensions) != sorted(set(broadcast_dimensions)):
        raise ShapeError(
            f"broadcast_in_dim: cannot broadcast an operand of shape {x.shape} to {shape} "
            f"with broadcast_dimensions={broadcast_dimensions}"
        )
    return ShapedArray(shape, x.dtype, _stays_weak(x, shape))


def _broadcast_in_dim_transpose(ct, x, shape, broadcast_dimensions):
    summed = tuple(i for i in range(len(shape)) if i not in broadcast_dimensions)
    summed += tuple(
        d for i, d in enumerate(broadcast_dimensions) if x.aval.shape[i] == 1 and shape[d] != 1
    )
    if summed:
        ct = reduce_sum(ct, tuple(sorted(summed)))
    if shape_of(ct) != x.aval.shape:
        ct = reshape(ct, x.aval.shape)
    return (ct,)


def _broadcast_in_dim_batch(values, dims, shape, broadcast_dimensions):
    x = to_front(values[0], dims[0])
    out_shape = (shape_of(x)[0],) + shape
    return broadcast_in_dim(x, out_shape, (0,) + tuple(d + 1 for d in broadcast_dimensions)), 0


broadcast_in_dim_p.impl = _broadcast_in_dim_impl
broadcast_in_dim_p.abstract_eval = _broadcast_in_dim_abstract_eval
deflinear(broadcast_in_dim_p, _broadcast_in_dim_transpose)
register_batch(broadcast_in_dim_p, _broadcast_in_dim_batch)
register_identity(
    broadcast_in_dim_p,
    lambda avals, consts, shape, broadcast_dimensions: 0 if avals[0].shape == shape else None,
)


def _broadcast_in_dim_expansion(x, shape, broadcast_dimensions):
    expanded = [1] * len(shape)
    for d, size in zip(broadcast_dimensions, x.shape):
        expanded[d] = size
    return tuple(expanded)


register_expansion(broadcast_in_dim_p, _broadcast_in_dim_expansion)

# ---------------------------------------------------------------------------------------
# reshape

reshape_p = new_primitive("reshape")


def reshape(x: Any, new_sizes: tuple[int, ...]) -> Any:
    return reshape_p.bind(x, new_sizes=tuple(int(d) for d in new_sizes))


def _reshape_abstract_eval(x, new_sizes):
    if int(np.prod(new_sizes, dtype=np.int64)) != x.size:
        raise ShapeError(f"reshape: cannot reshape an array of shape {x.shape} into {new_sizes}")
    return ShapedArray(new_sizes, x.dtype, _stays_weak(x, new_sizes))


reshape_p.impl = lambda x, new_sizes: np.reshape(x, new_sizes)
reshape_p.abstract_eval = _reshape_abstract_eval
deflinear(reshape_p, lambda ct, x, new_sizes: (reshape(ct, x.aval.shape),))
register_batch(
    reshape_p,
    lambda values, dims, new_sizes: (
        reshape(to_front(values[0], dims[0]), (shape_of(values[0])[dims[0]],) + new_sizes),
        0,
    ),
)
register_identity(
    reshape_p, lambda avals, consts, new_sizes: 0 if avals[0].shape == new_sizes else None
)
register_reshape(reshape_p)

# ---------------------------------------------------------------------------------------
# transpose: permute the axes.

transpose_p = new_primitive("transpose")


def transpose(x: Any, permutation: tuple[int, ...]) -> Any:
    return transpose_p.bind(x, permutation=tuple(int(p) for p in permutation))


def _transpose_abstract_eval(x, permutation):
    if sorted(permutation) != list(range(x.ndim)):
        raise ShapeError(
            f"transpose: {permutation} is not a permutation of the axes of shape {x.shape}"
        )
    return (
        ShapedArray(x.shape, x.dtype, _stays_weak(x, x.shape))
        if not permutation
        else (ShapedArray(tuple(x.shape[p] for p in permutation), x.dtype))
    )


transpose_p.impl = lambda x, permutation: np.transpose(x, permutation)
transpose_p.abstract_eval = _transpose_abstract_eval
deflinear(
    transpose_p,
    lambda ct, x, permutation: (transpose(ct, tuple(np.argsort(permutation).tolist())),),
)
register_batch(
    transpose_p,
    lambda values, dims, permutation: (
        transpose(to_front(values[0], dims[0]), (0,) + tuple(p + 1 for p in permutation)),
        0,
    ),
)
register_identity(
    transpose_p,
    lambda avals, consts, permutation: (
        0 if permutation == tuple(range(len(permutation))) else None
    ),
)

# ---------------------------------------------------------------------------------------
# reduce_sum over axes (a sorted tuple of non-negative ints): the transpose of
# broadcast_in_dim.

reduce_sum_p = new_primitive("reduce_sum")


def reduce_sum(x: Any, axes: tuple[int, ...]) -> Any:
    return reduce_sum_p.bind(x, axes=axes)


def reduced_shape(name: str, x: ShapedArray, axes: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of ``x`` reduced over ``axes``, or a ShapeError naming ``name``."""
    for a in axes:
        if not 0 <= a < x.ndim:
            raise ShapeError(f"{name}: axis {a} is out of range for an array of shape {x.shape}")
    return tuple(d for i, d in enumerate(x.shape) if i not in axes)


def batched_axis(axis: int, batch_dim: int) -> int:
    """Where a per-example axis is in the batched array."""
    return axis if axis < batch_dim else axis + 1


def reduction_batch_rule(values, dims, axes, *, prim):
    """Batching rule of a reduction over ``axes``: renumber them around the batch dim."""
    (x,), (d,) = values, dims
    batched_axes = tuple(sorted(batched_axis(a, d) for a in axes))
    return prim.bind(x, axes=batched_axes), d - sum(1 for a in axes if a < d)


def _reduce_sum_transpose(ct, x, axes):
    kept = tuple(i for i in range(x.aval.ndim) if i not in axes)
    return (broadcast_in_dim(ct, x.aval.shape, kept),)


reduce_sum_p.impl = lambda x, axes: np.add.reduce(x, axis=axes)
reduce_sum_p.abstract_eval = lambda x, axes: ShapedArray(
    reduced_shape("reduce_sum", x, axes), x.dtype, x.weak_type
)
deflinear(reduce_sum_p, _reduce_sum_transpose)
register_batch(
    reduce_sum_p,
    lambda values, dims, axes: reduction_batch_rule(values, dims, axes, prim=reduce_sum_p),
)
# A sum over no axes is the operand, except that NumPy's turns -0.0 into 0.0.
register_identity(
    reduce_sum_p,
    lambda avals, consts, axes: 0 if not axes and avals[0].dtype.kind not in "fc" else None,
)

# ---------------------------------------------------------------------------------------
# Helpers built on the structural primitives (rule writers get them from builders.py)


def unbroadcast(ct: Any, aval: ShapedArray) -> Any:
    """Sum a cotangent down to ``aval``'s shape (undoing broadcasting) and cast to its dtype."""
    ct_shape = shape_of(ct)
    shape = aval.shape
    if ct_shape != shape:
        lead = len(ct_shape) - len(shape)
        axes = tuple(range(lead)) + tuple(
            i + lead for i, d in enumerate(shape) if d == 1 and ct_shape[i + lead] != 1
        )
        if axes:
            ct = reduce_sum(ct, axes)
        if shape_of(ct) != shape:
            ct = reshape(ct, shape)
    return cast_like(ct, aval.dtype)


def move_batch_dim(x: Any, src: int | None, dst: int, axis_size: int) -> Any:
    """``x`` with its batch dimension moved from ``src`` to ``dst``.

    An unbatched value (``src`` None) is broadcast along a new dimension ``dst`` of
    size ``axis_size``.
    """
    if src == dst:
        return x
    shape = shape_of(x)
    if src is None:
        out_shape = shape[:dst] + (axis_size,) + shape[dst:]
        kept = tuple(i for i in range(len(out_shape)) if i != dst)
        return broadcast_in_dim(x, out_shape, kept)
    perm = [i for i in range(len(shape)) if i != src]
    perm.insert(dst, src)
    return transpose(x, tuple(perm))


def to_front(x: Any, dim: int | None) -> Any:
    """``x`` with its batch dimension first (unbatched values unchanged)."""
    if dim is None or dim == 0:
        return x
    perm = (dim,) + tuple(i for i in range(len(shape_of(x))) if i != dim)
    return transpose(x, perm)
