"""Argument conventions shared by the transformations.

Flattening arguments to arrays and naming each leaf in error messages (argument
name and pytree path), ``argnums`` and ``has_aux`` handling, wrapping a user
function as a function of flat leaves, and handing results back as ordinary arrays.
Used by fungrad.api, fungrad.jacobians, fungrad.vmap and fungrad.jit.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from fungrad import dtypes
from fungrad.core import Tracer, current_interpreter, get_aval, is_array_like
from fungrad.errors import FungradTypeError, FungradValueError
from fungrad.interpreters.jvp import JVPInterpreter
from fungrad.tree_util import (
    KeyPath,
    PyTreeDef,
    keystr,
    not_an_array_message,
    tree_flatten_with_path,
    tree_map,
    tree_unflatten,
)


def as_array(x: Any, what: Callable[[], str]) -> Any:
    """A leaf as fungrad computes with it. Tracers, arrays and Python scalars stay as
    they are (Python scalars are weakly typed, as in NumPy); NumPy scalars become 0-d
    arrays."""
    if isinstance(x, (Tracer, np.ndarray, bool, int, float, complex)):
        return x
    if isinstance(x, np.generic):
        return np.asarray(x)
    raise FungradTypeError(not_an_array_message(what(), x))


def positional_parameters(fun: Callable | None) -> list[str]:
    """The names of ``fun``'s positional parameters, in order (none if it has no signature)."""
    if fun is None:
        return []
    try:
        params = inspect.signature(fun).parameters.values()
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in params if p.kind in kinds]


class ArgNames:
    """Names each flat input leaf for error messages: "argument 0 ('params') at path
    ['w']", or "keyword argument 'lr' at path [0]"; a name is only worked out when an
    error needs it. The one place that names a leaf by argument and key path.

    ``paths`` are the leaves' key paths in the tuple of positional arguments or, with
    ``keywords=True``, in the pair ``(args, kwargs)``. ``args[k]`` is argument
    ``argnums[k]`` of the call (argument ``k`` if ``argnums`` is None): the others were
    left out (not differentiated, or static). Positional arguments are named by
    ``fun``'s parameters; with ``fun=None``, by their position only.

    >>> from fungrad.tree_util import tree_flatten_with_path
    >>> def loss(params, x): ...
    >>> with_paths, _ = tree_flatten_with_path(({"w": 1.0}, 2.0))
    >>> list(ArgNames(loss, [path for path, _ in with_paths], argnums=(0, 3)))
    ["argument 0 ('params') at path ['w']", 'argument 3']
    """

    def __init__(
        self,
        fun: Callable | None,
        paths: Sequence[KeyPath],
        argnums: Sequence[int] | None = None,
        keywords: bool = False,
    ):
        self.fun = fun
        self.paths = paths
        self.argnums = argnums
        self.keywords = keywords
        self._parameters: list[str] | None = None

    def __getitem__(self, i: int) -> str:
        path = self.paths[i]
        if self.keywords:
            if path[0].idx == 1:
                return _at_path(f"keyword argument {path[1].key!r}", path[2:])
            path = path[1:]
        position = path[0].idx if self.argnums is None else self.argnums[path[0].idx]
        if self._parameters is None:
            self._parameters = positional_parameters(self.fun)
        name = f"argument {position}"
        if position < len(self._parameters):
            name += f" ('{self._parameters[position]}')"
        return _at_path(name, path[1:])

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(len(self.paths)))


def _at_path(name: str, path: KeyPath) -> str:
    return name + (f" at path {keystr(path)}" if path else "")


def flatten_args(
    transformation: str, fun: Callable, args: Sequence[Any], argnums: Sequence[int]
) -> tuple[list[Any], PyTreeDef, ArgNames]:
    """Flatten ``args`` (the arguments of ``fun`` numbered ``argnums``) to arrays.

    Returns the leaves, the treedef of the tuple of args, and the leaves' names for
    error messages (argument name and pytree path).
    """
    with_paths, treedef = tree_flatten_with_path(tuple(args))
    names = ArgNames(fun, [path for path, _ in with_paths], argnums)
    leaves = [
        as_array(leaf, lambda i=i: f"{transformation}: {names[i]}")
        for i, (_, leaf) in enumerate(with_paths)
    ]
    return leaves, treedef, names


def check_differentiable(transformation: str, leaves: Sequence[Any], names: ArgNames):
    for i, leaf in enumerate(leaves):
        dtype = get_aval(leaf).dtype
        if dtype.kind == "c":
            raise FungradTypeError(
                f"{transformation} cannot differentiate with respect to complex inputs yet, "
                f"but {names[i]} has dtype {dtype}. Pass its real and imaginary parts as "
                "two real arrays and write the complex arithmetic out, or leave it out of "
                "argnums if it is not meant to be differentiated."
            )
        if not dtypes.is_differentiable(dtype):
            raise FungradTypeError(
                f"{transformation} requires floating-point inputs for the arguments it "
                f"differentiates, but {names[i]} has dtype {dtype}. Convert it (for example "
                "x.astype(float)), or leave it out of argnums if it is not meant to be "
                "differentiated."
            )


def normalize_argnums(transformation: str, argnums: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(argnums, int):
        return (argnums,)
    if isinstance(argnums, (tuple, list)) and argnums and all(isinstance(a, int) for a in argnums):
        return tuple(argnums)
    raise FungradTypeError(
        f"{transformation}: argnums must be an int or a non-empty tuple of ints, got {argnums!r}"
    )


def check_argnums(
    transformation: str, argnums: tuple[int, ...], nargs: int, option: str = "argnums"
) -> tuple[int, ...]:
    resolved = []
    for a in argnums:
        if not -nargs <= a < nargs:
            raise FungradValueError(
                f"{transformation}: {option}={a} is out of range: the function was called with "
                f"{nargs} positional argument{'s' if nargs != 1 else ''}. Pass that argument "
                f"positionally, or change {option}."
            )
        resolved.append(a % nargs)
    if option == "argnums" and len(set(resolved)) != len(resolved):
        raise FungradValueError(
            f"{transformation}: argnums={argnums!r} names the same argument more than once; "
            "list each argument to differentiate once."
        )
    return tuple(resolved)


def as_output(x: Any) -> Any:
    """A derivative as handed to the user: an ordinary, writeable ndarray.

    NumPy scalars become 0-d arrays, and read-only broadcast views are copied.
    """
    if type(x) is np.ndarray:
        return x if x.flags.writeable else np.array(x)
    if isinstance(x, np.generic):
        return np.asarray(x)
    return x


def split_aux(transformation: str, out: Any) -> tuple[Any, Any]:
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        if isinstance(out, (tuple, list)):
            kind = f"a {type(out).__name__} of length {len(out)}"
        elif is_array_like(out):
            kind = f"an array of shape {get_aval(out).shape}"
        else:
            kind = f"a {type(out).__name__}"
        raise FungradTypeError(
            f"{transformation} with has_aux=True requires the function to return a pair "
            f"(output, aux), but it returned {kind}."
        )
    return out[0], out[1]


def primal_aux(aux: Any) -> Any:
    """Strip the current jvp interpreter's tracers from auxiliary outputs."""
    interp = current_interpreter()
    if not isinstance(interp, JVPInterpreter):
        return aux
    return tree_map(lambda x: interp.unpack(x)[0] if isinstance(x, Tracer) else x, aux)


class FlatFun:
    """``fun`` as a function of flat leaves returning flat output leaves.

    After a call, ``out_tree`` is the output structure and ``aux`` the auxiliary
    output (if ``has_aux``), with the innermost transformation's tracers removed.
    """

    def __init__(self, transformation: str, fun: Callable, in_tree: PyTreeDef, has_aux: bool):
        self.transformation = transformation
        self.fun = fun
        self.in_tree = in_tree
        self.has_aux = has_aux
        self.out_tree: PyTreeDef | None = None
        self.aux: Any = None

    def __call__(self, *leaves: Any) -> list[Any]:
        out = self.fun(*tree_unflatten(self.in_tree, leaves))
        if self.has_aux:
            out, aux = split_aux(self.transformation, out)
            self.aux = primal_aux(aux)
        with_paths, self.out_tree = tree_flatten_with_path(out)
        return [
            as_array(leaf, lambda p=path: f"{self.transformation}: {output_name(p)}")
            for path, leaf in with_paths
        ]


def output_name(path: tuple) -> str:
    return f"the output at {keystr(path)}" if path else "the output"


def partial_argnums(fun: Callable, args: tuple, argnums: tuple[int, ...], kwargs: dict):
    """``fun`` as a function of only the arguments numbered ``argnums``."""

    def restricted(*diff_args):
        full = list(args)
        for i, a in zip(argnums, diff_args):
            full[i] = a
        return fun(*full, **kwargs)

    return restricted
