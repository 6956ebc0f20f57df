"""``vmap``: vectorise a function over a batch axis of its arguments.

The user's function runs once, on batch tracers; every primitive it applies runs
once for the whole batch through its batching rule. ``in_axes`` and ``out_axes``
are pytree prefixes of the arguments and outputs, as in JAX.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from fungrad.arguments import ArgNames, FlatFun, as_array, as_output, output_name
from fungrad.core import get_aval
from fungrad.errors import FungradTypeError, FungradValueError
from fungrad.interpreters.batching import batch_flat
from fungrad.primitives.structural import move_batch_dim
from fungrad.traceback_util import api_boundary
from fungrad.tree_util import (
    tree_flatten,
    tree_flatten_with_path,
    tree_unflatten,
)

AxisSpec = Any  # an int, None, or a pytree prefix of ints and Nones


def _is_axis_leaf(x: Any) -> bool:
    return x is None or isinstance(x, int)


def _short_repr(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _broadcast_prefix(prefix: AxisSpec, tree: Any, what: str, option: str) -> list:
    """One axis per leaf of ``tree``, from a prefix tree of axes."""
    treedef = tree_flatten(tree)[1]
    if prefix is None or isinstance(prefix, int):
        return [prefix] * treedef.num_leaves
    axes, prefix_def = tree_flatten(prefix, is_leaf=_is_axis_leaf)
    for a in axes:
        if not _is_axis_leaf(a):
            raise FungradTypeError(
                f"vmap: {option} must contain only ints and None, found {a!r} in "
                f"{_short_repr(prefix)}"
            )
    try:
        subtrees = prefix_def.flatten_up_to(tree)
    except ValueError as err:
        raise FungradValueError(
            f"vmap: {option}={_short_repr(prefix)} must be a pytree prefix of the {what}, but "
            f"it does not match them.\n{err}"
        ) from None
    out = []
    for axis, sub in zip(axes, subtrees):
        out.extend([axis] * len(tree_flatten(sub)[0]))
    return out


def vmap(
    fun: Callable,
    in_axes: AxisSpec = 0,
    out_axes: AxisSpec = 0,
    axis_size: int | None = None,
) -> Callable[..., Any]:
    """Vectorise ``fun`` over one axis of its arguments, computing all examples at once.

    ``in_axes`` says which axis of each argument is mapped (``None``: not mapped, the
    same value for every example); it is an int, None, or a tuple with one entry per
    positional argument, each a pytree prefix of that argument. ``out_axes`` says
    where the mapped axis goes in each output. ``axis_size`` is needed only when no
    argument is mapped. Keyword arguments are mapped over axis 0.

    >>> import fungrad, fungrad.numpy as fnp
    >>> fungrad.vmap(lambda x, y: x @ y, in_axes=(0, None))(fnp.ones((4, 3)), fnp.ones(3))
    array([3., 3., 3., 3.])
    """
    if not (_is_axis_leaf(in_axes) or isinstance(in_axes, (tuple, list))):
        raise FungradTypeError(
            "vmap: in_axes must be an int, None, or a tuple/list with one entry per "
            f"positional argument, got {type(in_axes).__name__}."
        )

    @api_boundary("vmap")
    @functools.wraps(fun)
    def vmapped(*args: Any, **kwargs: Any) -> Any:
        spec = in_axes
        if isinstance(spec, list):
            spec = tuple(spec)
        if isinstance(spec, tuple) and len(spec) != len(args):
            raise FungradValueError(
                f"vmap: in_axes has {len(spec)} entries but the function was called with "
                f"{len(args)} positional arguments; give one entry per argument."
            )
        arg_spec = spec if isinstance(spec, tuple) else (spec,) * len(args)
        full_args = (tuple(args), kwargs)
        with_paths, in_tree = tree_flatten_with_path(full_args)
        arg_def = tree_flatten(tuple(args))[1]
        kw_count = len(with_paths) - arg_def.num_leaves
        axes = _broadcast_prefix(arg_spec, tuple(args), "positional arguments", "in_axes")
        axes += [0] * kw_count
        names = ArgNames(None, [path for path, _ in with_paths], keywords=True)
        leaves = []
        dims: list[int | None] = []
        sizes: dict[int, int] = {}  # leaf index -> its size along the mapped axis
        for i, ((_, leaf), axis) in enumerate(zip(with_paths, axes)):
            leaf = as_array(leaf, lambda i=i: f"vmap: {names[i]}")
            leaves.append(leaf)
            if axis is None:
                dims.append(None)
                continue
            ndim = len(get_aval(leaf).shape)
            if not -ndim <= axis < ndim:
                raise FungradValueError(
                    f"vmap: in_axes={axis} for {names[i]} is out of range for an array of "
                    f"shape {get_aval(leaf).shape}."
                )
            axis %= ndim
            dims.append(axis)
            sizes[i] = get_aval(leaf).shape[axis]
        size = _common_size(sizes, names, axis_size)
        flat_fun = FlatFun("vmap", lambda a, k: fun(*a, **k), in_tree, False)
        outs = batch_flat(flat_fun, leaves, dims, size)
        out_tree = flat_fun.out_tree
        out_values = tree_unflatten(out_tree, [v for v, _ in outs])
        out_dims = _broadcast_prefix(out_axes, out_values, "outputs", "out_axes")
        out_paths = [path for path, _ in tree_flatten_with_path(out_values)[0]]
        out_dims = _checked_out_axes(outs, out_dims, out_paths)
        results = [
            as_output(move_batch_dim(value, src, dst, size))
            for (value, src), dst in zip(outs, out_dims)
        ]
        return tree_unflatten(out_tree, results)

    return vmapped


def _checked_out_axes(
    outs: list[tuple[Any, int | None]], out_dims: list[int | None], out_paths: list[tuple]
) -> list[int | None]:
    """Each output's ``out_axes``, made non-negative. Every mistake in ``out_axes`` is
    raised here, naming the output, before any output is moved (so ``move_batch_dim``
    never sees a varying output with ``out_axes=None``)."""
    checked = []
    for (value, src), dst, path in zip(outs, out_dims, out_paths):
        if dst is None:
            if src is not None:
                raise FungradValueError(
                    f"vmap: out_axes=None for {output_name(path)}, but it varies along the "
                    "mapped axis; only outputs that are the same for every example can use None."
                )
        else:
            ndim = len(get_aval(value).shape) + (src is None)
            if not -ndim <= dst < ndim:
                raise FungradValueError(
                    f"vmap: out_axes={dst} is out of range for {output_name(path)}, which has "
                    f"{ndim} dimensions with the mapped axis."
                )
            dst %= ndim
        checked.append(dst)
    return checked


def _common_size(sizes: dict[int, int], names: ArgNames, axis_size: int | None) -> int:
    distinct = set(sizes.values())
    if axis_size is not None:
        distinct.add(axis_size)
    if len(distinct) > 1:
        listed = "\n".join(f"  {names[i]}: size {n}" for i, n in sizes.items())
        extra = f"\n  axis_size: {axis_size}" if axis_size is not None else ""
        raise FungradValueError(
            "vmap got inconsistent sizes for the mapped axis:\n"
            f"{listed}{extra}\nEvery mapped argument must have the same size along its "
            "in_axes axis."
        )
    if not distinct:
        raise FungradValueError(
            "vmap: no argument is mapped (all in_axes are None), so the batch size is "
            "unknown; pass axis_size=."
        )
    return distinct.pop()
