"""``ravel_pytree``: a pytree of arrays as one flat vector, and the way back.

Optimisers and solvers that want a single vector (a Newton step, ``scipy.optimize``)
work on ``ravel_pytree(params)[0]``; the returned ``unravel`` rebuilds the tree.
Both directions are made of fungrad operations, so they work under ``grad``,
``vmap`` and ``jit``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import fungrad.numpy as fnp
from fungrad.errors import FungradValueError, ShapeError
from fungrad.tree_util import tree_flatten, tree_unflatten

__all__ = ["ravel_pytree"]

PyTree = Any


def ravel_pytree(pytree: PyTree) -> tuple[Any, Callable[[Any], PyTree]]:
    """Flatten ``pytree`` into a 1-D array and return it with a function undoing it.

    The leaves are raveled in ``tree_flatten`` order and concatenated, promoted to one
    common dtype (``fnp.result_type`` of the leaves; float64 for an empty tree);
    ``unravel`` restores each leaf's shape and dtype. ``unravel`` needs a 1-D array of
    the same length and raises ``ShapeError`` otherwise.

    >>> import numpy as np
    >>> from fungrad.flatten_util import ravel_pytree
    >>> flat, unravel = ravel_pytree({"b": np.array([1.0, 2.0]), "w": np.ones((2, 2))})
    >>> flat
    array([1., 2., 1., 1., 1., 1.])
    >>> unravel(flat * 2)["b"]
    array([2., 4.])
    """
    leaves, treedef = tree_flatten(pytree)
    leaves = [fnp.asarray(leaf) for leaf in leaves]
    shapes = [fnp.shape(leaf) for leaf in leaves]
    dtypes = [fnp.result_type(leaf) for leaf in leaves]
    sizes = [int(np.prod(shape, dtype=np.int64)) for shape in shapes]
    dtype = np.result_type(*dtypes) if dtypes else np.dtype(np.float64)
    total = sum(sizes)
    if leaves:
        flat = fnp.concatenate([fnp.ravel(fnp.astype(leaf, dtype)) for leaf in leaves])
    else:
        flat = np.zeros(0, dtype)

    def unravel(vector: Any) -> PyTree:
        shape = fnp.shape(vector)
        if shape != (total,):
            raise ShapeError(
                f"ravel_pytree's unravel: expected a 1-D array of length {total} (the size "
                f"of the flattened tree), got shape {shape}"
            )
        if fnp.result_type(vector).kind == "c" and dtype.kind != "c":
            raise FungradValueError(
                "ravel_pytree's unravel: got a complex vector for a tree of real leaves"
            )
        out, start = [], 0
        for leaf_shape, leaf_dtype, size in zip(shapes, dtypes, sizes):
            piece = fnp.reshape(vector[start : start + size], leaf_shape)
            out.append(fnp.astype(piece, leaf_dtype))
            start += size
        return tree_unflatten(treedef, out)

    return flat, unravel
