"""Shape primitives: broadcast_in_dim, reshape, transpose, concatenate. All are linear."""

from __future__ import annotations

from typing import Any

import numpy as np

from fungrad import dtypes
from fungrad.core import ShapedArray, new_primitive, shape_of
from fungrad.errors import ShapeError
from fungrad.interpreters.batching import move_batch_dim, register_batch, to_front
from fungrad.interpreters.jvp import deflinear_jvp
from fungrad.interpreters.lowering import Emitted, impl_emitter
from fungrad.interpreters.simplify_rules import register_identity
from fungrad.interpreters.transpose import is_undefined, register_transpose
from fungrad.primitives.reductions import reduce_sum


def _stays_weak(x: ShapedArray, shape: tuple[int, ...]) -> bool:
    """Shape ops give NumPy arrays, which are not weak, except that a Python scalar
    reshaped to a scalar stays a Python scalar (see EvalInterpreter)."""
    return x.weak_type and shape == ()


# ---------------------------------------------------------------------------------------
# broadcast_in_dim: operand dimension i becomes output dimension broadcast_dimensions[i].

broadcast_in_dim_p = new_primitive("broadcast_in_dim")


def _broadcast_in_dim_impl(x, shape, broadcast_dimensions):
    x = np.asarray(x)
    expanded = [1] * len(shape)
    for d, size in zip(broadcast_dimensions, x.shape):
        expanded[d] = size
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


broadcast_in_dim_p.impl = _broadcast_in_dim_impl
broadcast_in_dim_p.abstract_eval = _broadcast_in_dim_abstract_eval
register_transpose(broadcast_in_dim_p, _broadcast_in_dim_transpose)
deflinear_jvp(broadcast_in_dim_p)


def _broadcast_in_dim_batch(values, dims, shape, broadcast_dimensions):
    x = to_front(values[0], dims[0])
    out_shape = (shape_of(x)[0],) + shape
    return broadcast_in_dim(x, out_shape, (0,) + tuple(d + 1 for d in broadcast_dimensions)), 0


register_batch(broadcast_in_dim_p, _broadcast_in_dim_batch)
register_identity(
    broadcast_in_dim_p,
    lambda avals, consts, shape, broadcast_dimensions: 0 if avals[0].shape == shape else None,
)
broadcast_in_dim_p.emit = impl_emitter(_broadcast_in_dim_impl, "broadcast", fresh=False)


def broadcast_in_dim(x: Any, shape: tuple[int, ...], broadcast_dimensions: tuple[int, ...]):
    return broadcast_in_dim_p.bind(
        x, shape=tuple(shape), broadcast_dimensions=tuple(broadcast_dimensions)
    )


def broadcast_to(x: Any, shape: tuple[int, ...]) -> Any:
    """NumPy-style broadcast of ``x`` to ``shape`` (trailing dimensions aligned)."""
    ndim = len(shape_of(x))
    return broadcast_in_dim(x, shape, tuple(range(len(shape) - ndim, len(shape))))


# ---------------------------------------------------------------------------------------
# reshape

reshape_p = new_primitive("reshape")
reshape_p.impl = lambda x, new_sizes: np.reshape(x, new_sizes)


def _reshape_abstract_eval(x, new_sizes):
    if int(np.prod(new_sizes, dtype=np.int64)) != x.size:
        raise ShapeError(f"reshape: cannot reshape an array of shape {x.shape} into {new_sizes}")
    return ShapedArray(new_sizes, x.dtype, _stays_weak(x, new_sizes))


reshape_p.abstract_eval = _reshape_abstract_eval
register_transpose(reshape_p, lambda ct, x, new_sizes: (reshape(ct, x.aval.shape),))
deflinear_jvp(reshape_p)
reshape_p.emit = lambda ns, args, params, out, avals: Emitted(
    f"{ns.name(np.reshape, 'reshape')}({args[0]}, {params['new_sizes']!r})", False, False
)
register_identity(
    reshape_p, lambda avals, consts, new_sizes: 0 if avals[0].shape == new_sizes else None
)
register_batch(
    reshape_p,
    lambda values, dims, new_sizes: (
        reshape(to_front(values[0], dims[0]), (shape_of(values[0])[dims[0]],) + new_sizes),
        0,
    ),
)


def reshape(x: Any, new_sizes: tuple[int, ...]) -> Any:
    return reshape_p.bind(x, new_sizes=tuple(int(d) for d in new_sizes))


# ---------------------------------------------------------------------------------------
# transpose

transpose_p = new_primitive("transpose")
transpose_p.impl = lambda x, permutation: np.transpose(x, permutation)


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


transpose_p.abstract_eval = _transpose_abstract_eval
register_transpose(
    transpose_p,
    lambda ct, x, permutation: (transpose(ct, tuple(np.argsort(permutation).tolist())),),
)
deflinear_jvp(transpose_p)
transpose_p.emit = lambda ns, args, params, out, avals: Emitted(
    f"{ns.name(np.transpose, 'transpose')}({args[0]}, {params['permutation']!r})", False, False
)
register_identity(
    transpose_p,
    lambda avals, consts, permutation: (
        0 if permutation == tuple(range(len(permutation))) else None
    ),
)
register_batch(
    transpose_p,
    lambda values, dims, permutation: (
        transpose(to_front(values[0], dims[0]), (0,) + tuple(p + 1 for p in permutation)),
        0,
    ),
)


def transpose(x: Any, permutation: tuple[int, ...]) -> Any:
    return transpose_p.bind(x, permutation=tuple(int(p) for p in permutation))


# ---------------------------------------------------------------------------------------
# concatenate along one axis

concatenate_p = new_primitive("concatenate")
concatenate_p.impl = lambda *xs, axis: np.concatenate(xs, axis=axis)


def _concatenate_abstract_eval(*xs, axis):
    first = xs[0]
    for x in xs:
        if x.ndim != first.ndim or any(
            a != b for i, (a, b) in enumerate(zip(x.shape, first.shape)) if i != axis
        ):
            shapes = ", ".join(str(x.shape) for x in xs)
            raise ShapeError(f"concatenate along axis {axis}: shapes {shapes} do not match")
    shape = list(first.shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    dtype, weak = dtypes.result_type(*xs)
    return ShapedArray(tuple(shape), dtype)


def _concatenate_transpose(ct, *xs, axis):
    from fungrad.primitives.elementwise import cast_like
    from fungrad.primitives.indexing import slice_along

    cts = []
    start = 0
    for x in xs:
        size = shape_of(x)[axis] if not is_undefined(x) else x.aval.shape[axis]
        if is_undefined(x):
            cts.append(cast_like(slice_along(ct, axis, start, start + size), x.aval.dtype))
        else:
            cts.append(None)
        start += size
    return cts


concatenate_p.abstract_eval = _concatenate_abstract_eval
register_transpose(concatenate_p, _concatenate_transpose)
deflinear_jvp(concatenate_p)


def _concatenate_batch(values, dims, axis):
    size = next(shape_of(v)[d] for v, d in zip(values, dims) if d is not None)
    moved = [move_batch_dim(v, d, 0, size) for v, d in zip(values, dims)]
    return concatenate(moved, axis + 1), 0


register_batch(concatenate_p, _concatenate_batch)
concatenate_p.emit = impl_emitter(concatenate_p.impl, "concatenate", fresh=True)


def concatenate(xs: Any, axis: int) -> Any:
    return concatenate_p.bind(*xs, axis=axis)
