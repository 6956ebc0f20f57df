"""Pytrees: nested containers flattened into a list of leaves and a structure.

Every transformation in fungrad takes and returns pytrees. A function's arguments are flattened
into their leaves (the arrays and scalars that get traced) and a :class:`PyTreeDef` that records
the containers around them; outputs are rebuilt from their leaves and a treedef.

Tuples, lists, dicts, namedtuples, ``None``, ``OrderedDict`` and ``defaultdict`` are nodes, as
is any class registered with :func:`register_pytree_node` or :func:`register_dataclass`. Every
other object is a leaf. Nodes are looked up by exact type in one dict, so a subclass of ``dict``
is a leaf unless it is registered itself; a tuple subclass with ``_fields`` is a namedtuple.

A treedef keeps its structure as nested tuples, ``(node, aux_data, children)`` for a node and
``None`` for a leaf, so that comparing and hashing treedefs (done on every cached call) is left
to Python's own tuple code. Flattening runs on every transformation call: one dict lookup and
one call per node, nothing more.

A path names a leaf's place in a tree, like ``[0]['w'].bias``; the rest of fungrad uses paths to
point at the user's argument in error messages (see :func:`tree_flatten_with_path`).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import reprlib
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from typing import Any

from fungrad.errors import FungradTypeError, FungradValueError

__all__ = [
    "DictKey",
    "FlattenedIndexKey",
    "GetAttrKey",
    "KeyEntry",
    "KeyPath",
    "PyTreeDef",
    "SequenceKey",
    "keystr",
    "not_an_array_message",
    "register_dataclass",
    "register_pytree_node",
    "structure_difference",
    "structure_mismatch_message",
    "structure_summary",
    "tree_flatten",
    "tree_flatten_with_path",
    "tree_leaves",
    "tree_leaves_with_path",
    "tree_map",
    "tree_map_with_path",
    "tree_reduce",
    "tree_structure",
    "tree_unflatten",
]

PyTree = Any


# Key entries: one step of a path from the root of a tree down to a leaf.


@dataclasses.dataclass(frozen=True)
class SequenceKey:
    """The position of a child in a tuple or list; shown as ``[0]``."""

    idx: int

    def __str__(self) -> str:
        return f"[{self.idx}]"


@dataclasses.dataclass(frozen=True)
class DictKey:
    """The key of a child in a dict; shown as ``['w']``."""

    key: Hashable

    def __str__(self) -> str:
        return f"[{self.key!r}]"


@dataclasses.dataclass(frozen=True)
class GetAttrKey:
    """The field of a namedtuple or dataclass that holds a child; shown as ``.bias``."""

    name: str

    def __str__(self) -> str:
        return f".{self.name}"


@dataclasses.dataclass(frozen=True)
class FlattenedIndexKey:
    """The index of a child among a custom node's flattened children; shown as ``[1]``."""

    key: int

    def __str__(self) -> str:
        return f"[{self.key}]"


KeyEntry = SequenceKey | DictKey | GetAttrKey | FlattenedIndexKey
KeyPath = tuple[KeyEntry, ...]


def keystr(path: Sequence[KeyEntry]) -> str:
    """Render a path the way it would be written in Python after the tree's name.

    >>> keystr((SequenceKey(0), DictKey("w"), GetAttrKey("bias")))
    "[0]['w'].bias"
    """
    return "".join(str(key) for key in path)


# The registry of node types.


@dataclasses.dataclass(frozen=True, eq=False)
class _NodeDef:
    """How to take one kind of node apart and put it back together.

    Compared by identity: two treedefs are equal only if their nodes are the same entry.
    """

    flatten: Callable[[Any], tuple[Iterable[Any], Hashable]]
    unflatten: Callable[[Any, tuple[Any, ...]], Any]
    child_keys: Callable[[Any, int], list[KeyEntry]]
    to_str: Callable[[Any, list[str]], str]


_registry: dict[type, _NodeDef] = {}


def _type_name(cls: type) -> str:
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _register(nodetype: type, node: _NodeDef) -> None:
    if not isinstance(nodetype, type):
        raise FungradTypeError(
            f"Only a class can be registered as a pytree node, got {nodetype!r}."
        )
    if nodetype in _registry:
        raise FungradValueError(
            f"{_type_name(nodetype)} is already registered as a pytree node type; "
            "a type can be registered only once."
        )
    _registry[nodetype] = node


def _node_for(cls: type) -> _NodeDef | None:
    """The node definition for objects of type ``cls``, or None if they are leaves."""
    node = _registry.get(cls)
    if node is None and issubclass(cls, tuple) and hasattr(cls, "_fields"):
        return _NAMEDTUPLE
    return node


def registered_node_count() -> int:
    """How many pytree node types are registered; it changes with every registration
    (a type is registered at most once), so a cache of how structures flatten can tell
    that it may be out of date."""
    return len(_registry)


def is_namedtuple_node(cls: type) -> bool:
    """True if objects of type ``cls`` flatten as a namedtuple: their fields, in order, are
    the children, and the class is the node's auxiliary data."""
    return _node_for(cls) is _NAMEDTUPLE


def register_pytree_node(
    nodetype: type,
    flatten_func: Callable[[Any], tuple[Iterable[Any], Hashable]],
    unflatten_func: Callable[[Any, tuple[Any, ...]], Any],
) -> None:
    """Make instances of ``nodetype`` pytree nodes instead of leaves.

    ``flatten_func(x)`` returns ``(children, aux_data)``: the children are flattened further,
    and ``aux_data`` (hashable; compared when treedefs are compared) is kept in the treedef.
    ``unflatten_func(aux_data, children)`` builds the node back. A path through such a node
    uses :class:`FlattenedIndexKey`.

    >>> class Pair:
    ...     def __init__(self, first, second):
    ...         self.first, self.second = first, second
    >>> register_pytree_node(
    ...     Pair, lambda p: ((p.first, p.second), None), lambda _, children: Pair(*children)
    ... )
    >>> tree_leaves(Pair(1, (2, 3)))
    [1, 2, 3]
    """

    def to_str(aux: Any, children: list[str]) -> str:
        return f"CustomNode({nodetype.__name__}[{aux!r}], [{', '.join(children)}])"

    _register(
        nodetype,
        _NodeDef(
            flatten=flatten_func,
            unflatten=unflatten_func,
            child_keys=lambda _aux, count: [FlattenedIndexKey(i) for i in range(count)],
            to_str=to_str,
        ),
    )


def register_dataclass(
    nodetype: type,
    data_fields: Sequence[str] | None = None,
    meta_fields: Sequence[str] | None = None,
) -> type:
    """Make a dataclass a pytree node whose data fields are its children; returns the class.

    Meta fields go into the treedef instead (so they must be hashable, and two trees whose meta
    fields differ have different structures). Without field lists, a field declared with
    ``dataclasses.field(metadata={"static": True})`` is meta and every other ``__init__`` field
    is data; given one list, the other is the remaining ``__init__`` fields. A class that is not
    a dataclass can be registered with both lists; it is rebuilt by calling it with the fields as
    keyword arguments.

    >>> @register_dataclass
    ... @dataclasses.dataclass
    ... class Linear:
    ...     weight: Any
    ...     bias: Any
    ...     activation: str = dataclasses.field(default="relu", metadata={"static": True})
    >>> tree_flatten(Linear(1.0, 2.0))
    ([1.0, 2.0], PyTreeDef(Linear(weight=*, bias=*, activation='relu')))
    """
    data_names, meta_names = _dataclass_fields(nodetype, data_fields, meta_fields)

    def flatten(x: Any) -> tuple[list[Any], tuple[Any, ...]]:
        children = [getattr(x, name) for name in data_names]
        return children, tuple([getattr(x, name) for name in meta_names])

    def unflatten(meta: tuple[Any, ...], children: tuple[Any, ...]) -> Any:
        return nodetype(
            **dict(zip(data_names, children, strict=True)),
            **dict(zip(meta_names, meta, strict=True)),
        )

    def to_str(meta: tuple[Any, ...], children: list[str]) -> str:
        return _fields_str(nodetype, data_names + meta_names, children + [repr(v) for v in meta])

    keys = [GetAttrKey(name) for name in data_names]
    _register(
        nodetype,
        _NodeDef(
            flatten=flatten,
            unflatten=unflatten,
            child_keys=lambda _meta, _count: keys,
            to_str=to_str,
        ),
    )
    return nodetype


def _dataclass_fields(
    nodetype: type, data_fields: Sequence[str] | None, meta_fields: Sequence[str] | None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split a dataclass's fields into data and meta, checking any lists the user gave."""
    cls_name = _type_name(nodetype) if isinstance(nodetype, type) else repr(nodetype)
    if not (isinstance(nodetype, type) and dataclasses.is_dataclass(nodetype)):
        if data_fields is None or meta_fields is None:
            raise FungradTypeError(
                f"register_dataclass: {cls_name} is not a dataclass, so both data_fields and "
                "meta_fields must be given. To infer them, apply @dataclasses.dataclass first "
                "(write it below @register_dataclass)."
            )
        return tuple(data_fields), tuple(meta_fields)
    init_fields = [field for field in dataclasses.fields(nodetype) if field.init]
    init_names = [field.name for field in init_fields]
    if data_fields is None and meta_fields is None:
        meta_fields = [field.name for field in init_fields if field.metadata.get("static")]
    if data_fields is None:
        data_fields = [name for name in init_names if name not in meta_fields]
    if meta_fields is None:
        meta_fields = [name for name in init_names if name not in data_fields]
    data, meta = tuple(data_fields), tuple(meta_fields)
    both = sorted(set(data) & set(meta))
    unknown = [name for name in data + meta if name not in init_names]
    missing = [name for name in init_names if name not in data + meta]
    if both or unknown or missing:
        problems = [
            f"{label}: {fields}"
            for label, fields in [
                ("in both data_fields and meta_fields", both),
                ("not __init__ fields of the class", unknown),
                ("__init__ fields in neither list", missing),
            ]
            if fields
        ]
        raise FungradValueError(
            f"register_dataclass: the fields of {cls_name} must be split between data_fields and "
            f"meta_fields, each __init__ field in exactly one; {'; '.join(problems)}."
        )
    return data, meta


# The built-in node types.


def _sorted_keys(mapping: dict) -> tuple[Any, ...]:
    try:
        return tuple(sorted(mapping))
    except TypeError:
        raise FungradTypeError(
            f"Cannot flatten a dict whose keys cannot be sorted: {list(mapping)!r}. A dict's "
            "leaves are ordered by key, so its keys must be comparable with each other (for "
            "example all strings); use an OrderedDict to keep insertion order instead."
        ) from None


def _flatten_dict(d: dict) -> tuple[list[Any], tuple[Any, ...]]:
    keys = _sorted_keys(d)
    return [d[key] for key in keys], keys


def _flatten_ordered_dict(d: collections.OrderedDict) -> tuple[list[Any], tuple[Any, ...]]:
    return list(d.values()), tuple(d)


def _flatten_defaultdict(d: collections.defaultdict) -> tuple[list[Any], tuple[Any, ...]]:
    keys = _sorted_keys(d)
    return [d[key] for key in keys], (d.default_factory, keys)


def _tuple_str(_aux: None, children: list[str]) -> str:
    return f"({children[0]},)" if len(children) == 1 else f"({', '.join(children)})"


def _dict_str(keys: tuple[Any, ...], children: list[str]) -> str:
    items = ", ".join(f"{key!r}: {child}" for key, child in zip(keys, children, strict=True))
    return "{" + items + "}"


def _fields_str(cls: type, names: Iterable[str], values: Iterable[str]) -> str:
    fields = ", ".join(f"{name}={value}" for name, value in zip(names, values, strict=True))
    return f"{cls.__name__}({fields})"


def _sequence_keys(_aux: Any, count: int) -> list[KeyEntry]:
    return [SequenceKey(i) for i in range(count)]


def _dict_keys(keys: tuple[Any, ...], _count: int) -> list[KeyEntry]:
    return [DictKey(key) for key in keys]


_register(
    tuple,
    _NodeDef(
        flatten=lambda t: (t, None),
        unflatten=lambda _, children: children,  # children already come as a tuple
        child_keys=_sequence_keys,
        to_str=_tuple_str,
    ),
)
_register(
    list,
    _NodeDef(
        flatten=lambda l: (l, None),
        unflatten=lambda _, children: list(children),
        child_keys=_sequence_keys,
        to_str=lambda _, children: f"[{', '.join(children)}]",
    ),
)
_register(
    dict,
    _NodeDef(
        flatten=_flatten_dict,
        unflatten=lambda keys, children: dict(zip(keys, children, strict=True)),
        child_keys=_dict_keys,
        to_str=_dict_str,
    ),
)
_register(
    type(None),
    _NodeDef(
        flatten=lambda _: ((), None),
        unflatten=lambda _aux, _children: None,
        child_keys=lambda _aux, _count: [],
        to_str=lambda _aux, _children: "None",
    ),
)
_register(
    collections.OrderedDict,
    _NodeDef(
        flatten=_flatten_ordered_dict,
        unflatten=lambda keys, children: collections.OrderedDict(zip(keys, children, strict=True)),
        child_keys=_dict_keys,
        to_str=lambda keys, children: f"OrderedDict({_dict_str(keys, children)})",
    ),
)
_register(
    collections.defaultdict,
    _NodeDef(
        flatten=_flatten_defaultdict,
        unflatten=lambda aux, children: collections.defaultdict(
            aux[0], zip(aux[1], children, strict=True)
        ),
        child_keys=lambda aux, count: _dict_keys(aux[1], count),
        to_str=lambda aux, children: f"defaultdict({aux[0]!r}, {_dict_str(aux[1], children)})",
    ),
)

# Namedtuples are not in the registry (there is no one class to register): _node_for falls back
# to this entry for any tuple subclass with `_fields`, and the class is the aux data.
_NAMEDTUPLE = _NodeDef(
    flatten=lambda t: (t, type(t)),
    unflatten=lambda cls, children: cls(*children),
    child_keys=lambda cls, _count: [GetAttrKey(name) for name in cls._fields],
    to_str=lambda cls, children: _fields_str(cls, cls._fields, children),
)


# Treedefs.


class PyTreeDef:
    """The structure of a pytree: its nodes, with a ``*`` where each leaf goes.

    Immutable and hashable; two treedefs are equal when their node types, aux data (dict keys,
    namedtuple classes, meta fields...) and shapes are equal.

    >>> leaves, treedef = tree_flatten((1, {"b": [2, 3], "a": 4}))
    >>> treedef
    PyTreeDef((*, {'a': *, 'b': [*, *]}))
    >>> treedef.num_leaves, treedef.num_nodes
    (4, 7)
    >>> treedef.unflatten(["x", "y", "z", "w"])
    ('x', {'a': 'y', 'b': ['z', 'w']})
    """

    __slots__ = ("_struct", "_num_leaves", "_hash")

    def __init__(self, struct: Any, num_leaves: int) -> None:
        self._struct = struct
        self._num_leaves = num_leaves
        self._hash: int | None = None

    @property
    def num_leaves(self) -> int:
        return self._num_leaves

    @property
    def num_nodes(self) -> int:
        """The number of nodes, counting each leaf as a node."""
        return _count_nodes(self._struct)

    def children(self) -> list[PyTreeDef]:
        """The treedefs of the root's children (none for a leaf)."""
        if self._struct is None:
            return []
        return [PyTreeDef(child, _count_leaves(child)) for child in self._struct[2]]

    def unflatten(self, leaves: Iterable[Any]) -> PyTree:
        """Build a tree of this structure from its leaves, in :func:`tree_flatten` order."""
        if type(leaves) is not list and type(leaves) is not tuple:
            leaves = list(leaves)
        if len(leaves) != self._num_leaves:
            raise FungradValueError(
                f"Cannot unflatten {self!r}: expected {self._num_leaves} leaves, "
                f"got {len(leaves)}."
            )
        return _unflatten(self._struct, iter(leaves))

    def flatten_up_to(self, tree: PyTree) -> list[Any]:
        """Flatten ``tree`` only as deep as this treedef: one entry (a subtree) per leaf here.

        ``tree`` must have this structure, or have it as a prefix.

        >>> tree_structure((1, 2)).flatten_up_to(([3, 4], 5))
        [[3, 4], 5]
        """
        return _leaves_up_to(
            self, tree, "PyTreeDef.flatten_up_to", "the treedef", "the tree", None
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PyTreeDef):
            return NotImplemented
        return self._struct == other._struct

    def __hash__(self) -> int:
        if self._hash is None:
            try:
                self._hash = hash(self._struct)
            except TypeError as error:
                raise FungradTypeError(
                    f"{self!r} cannot be hashed because some of its aux data is not hashable "
                    f"({error}). Static dataclass fields and the aux data returned by a "
                    "registered flatten function must be hashable."
                ) from None
        return self._hash

    def __repr__(self) -> str:
        return f"PyTreeDef({_struct_str(self._struct)})"

    def __copy__(self) -> PyTreeDef:
        return self

    def __deepcopy__(self, memo: dict) -> PyTreeDef:
        return self


def _count_leaves(struct: Any) -> int:
    if struct is None:
        return 1
    return sum(_count_leaves(child) for child in struct[2])


def _count_nodes(struct: Any) -> int:
    if struct is None:
        return 1
    return 1 + sum(_count_nodes(child) for child in struct[2])


def _struct_str(struct: Any) -> str:
    if struct is None:
        return "*"
    node, aux, children = struct
    return node.to_str(aux, [_struct_str(child) for child in children])


# Flattening and unflattening: the hot path.


def _flatten(tree: PyTree, leaves: list[Any], is_leaf: Callable[[Any], bool] | None) -> Any:
    """Append the leaves of ``tree`` to ``leaves`` and return its structure."""
    if is_leaf is not None and is_leaf(tree):
        leaves.append(tree)
        return None
    cls = type(tree)
    node = _registry.get(cls)
    if node is None:  # _node_for, inlined: this runs once per leaf of every argument
        if not (issubclass(cls, tuple) and hasattr(cls, "_fields")):
            leaves.append(tree)
            return None
        node = _NAMEDTUPLE
    children, aux = node.flatten(tree)
    return (node, aux, tuple([_flatten(child, leaves, is_leaf) for child in children]))


def _unflatten(struct: Any, leaves: Iterator[Any]) -> PyTree:
    """Build a tree of structure ``struct``, taking its leaves from the iterator ``leaves``."""
    if struct is None:
        return next(leaves)
    node, aux, children = struct
    # Leaves are taken inline rather than by a recursive call: most children are leaves.
    return node.unflatten(
        aux,
        tuple(
            [next(leaves) if child is None else _unflatten(child, leaves) for child in children]
        ),
    )


def tree_flatten(
    tree: PyTree, is_leaf: Callable[[Any], bool] | None = None
) -> tuple[list[Any], PyTreeDef]:
    """Split a tree into its leaves, in order, and its structure.

    Dict children come in sorted key order. ``is_leaf(x)``, if given, is called on every subtree
    and a subtree for which it returns true is kept whole as a leaf.

    >>> tree_flatten({"b": (1, None), "a": [2]})
    ([2, 1], PyTreeDef({'a': [*], 'b': (*, None)}))
    >>> tree_flatten([(1, 2), (3, 4)], is_leaf=lambda x: isinstance(x, tuple))[0]
    [(1, 2), (3, 4)]
    """
    leaves: list[Any] = []
    struct = _flatten(tree, leaves, is_leaf)
    return leaves, PyTreeDef(struct, len(leaves))


def tree_unflatten(treedef: PyTreeDef, leaves: Iterable[Any]) -> PyTree:
    """Build a tree of structure ``treedef`` from its leaves; inverse of :func:`tree_flatten`.

    >>> leaves, treedef = tree_flatten({"a": 1, "b": (2, 3)})
    >>> tree_unflatten(treedef, [x * 10 for x in leaves])
    {'a': 10, 'b': (20, 30)}
    """
    if not isinstance(treedef, PyTreeDef):
        raise FungradTypeError(
            f"tree_unflatten expects a PyTreeDef as its first argument, got {treedef!r}; the "
            "argument order is tree_unflatten(treedef, leaves)."
        )
    return treedef.unflatten(leaves)


def tree_leaves(tree: PyTree, is_leaf: Callable[[Any], bool] | None = None) -> list[Any]:
    """The leaves of a tree, in :func:`tree_flatten` order.

    >>> tree_leaves([1, {"x": 2, "y": None}, (3,)])
    [1, 2, 3]
    """
    leaves: list[Any] = []
    _flatten(tree, leaves, is_leaf)
    return leaves


def tree_structure(tree: PyTree, is_leaf: Callable[[Any], bool] | None = None) -> PyTreeDef:
    """The structure of a tree, without its leaves.

    >>> tree_structure((1, [2, 3]))
    PyTreeDef((*, [*, *]))
    """
    return tree_flatten(tree, is_leaf)[1]


# Several trees at once.


class _Mismatch(Exception):
    """Raised inside _flatten_up_to; turned into a ValueError for the user by _leaves_up_to."""

    def __init__(self, path: KeyPath, expected: str, found: str, keys: Any = None) -> None:
        self.path, self.expected, self.found = path, expected, found
        self.keys = keys  # for two dicts: _key_difference of their keys


def _flatten_up_to(struct: Any, tree: PyTree, path: KeyPath, leaves: list[Any]) -> None:
    """Append to ``leaves`` the subtrees of ``tree`` that sit where ``struct`` has leaves."""
    if struct is None:
        leaves.append(tree)
        return
    node, aux, children = struct
    other = _node_for(type(tree))
    if other is None:
        raise _Mismatch(path, _node_str(struct), f"a leaf of type {_type_name(type(tree))}")
    other_children, other_aux = other.flatten(tree)
    other_children = list(other_children)
    if other is not node or other_aux != aux or len(other_children) != len(children):
        found = other.to_str(
            other_aux, ["*" if _node_for(type(c)) is None else "..." for c in other_children]
        )
        keys = None
        if other is node:
            keys = _key_difference(
                node.child_keys(aux, len(children)),
                node.child_keys(other_aux, len(other_children)),
            )
        raise _Mismatch(path, _node_str(struct), _shorten(found, _NODE_LIMIT), keys)
    keys = node.child_keys(aux, len(children))
    for key, child, child_struct in zip(keys, other_children, children, strict=True):
        _flatten_up_to(child_struct, child, (*path, key), leaves)


def _node_str(struct: Any) -> str:
    """One level of a structure: its root node, with ``...`` for children that are nodes."""
    node, aux, children = struct
    text = node.to_str(aux, ["*" if child is None else "..." for child in children])
    return _shorten(text, _NODE_LIMIT)


def _leaves_up_to(
    treedef: PyTreeDef,
    tree: PyTree,
    context: str,
    first_name: str,
    tree_name: str,
    is_leaf: Callable[[Any], bool] | None,
) -> list[Any]:
    """The leaves of ``tree``, which must have ``treedef`` as its structure or as a prefix."""
    leaves, other_treedef = tree_flatten(tree, is_leaf)
    if other_treedef == treedef:
        return leaves
    leaves = []
    try:
        _flatten_up_to(treedef._struct, tree, (), leaves)
    except _Mismatch as mismatch:
        where = f"at path {keystr(mismatch.path)}" if mismatch.path else "at the root"
        first_label = first_name.removeprefix("the ") + ":"
        tree_label = tree_name.removeprefix("the ") + ":"
        width = max(len(first_label), len(tree_label))
        keys = ""
        if mismatch.keys is not None:
            keys = _key_sentence(mismatch.path, mismatch.keys, first_name, tree_name) + ". "
            keys = keys[0].upper() + keys[1:]
        raise FungradValueError(
            f"{context}: {tree_name} does not have the structure of {first_name}: {where}, "
            f"{first_name} has {mismatch.expected} where {tree_name} has {mismatch.found}.\n"
            f"  {first_label:<{width}} {structure_summary(treedef)}\n"
            f"  {tree_label:<{width}} {structure_summary(other_treedef)}\n"
            f"{keys}It must have the structure of {first_name}, or have it as a prefix (a leaf "
            f"of {first_name} then stands for a whole subtree)."
        ) from None
    return leaves


def tree_map(
    f: Callable[..., Any],
    tree: PyTree,
    *rest: PyTree,
    is_leaf: Callable[[Any], bool] | None = None,
) -> PyTree:
    """Apply ``f`` to each leaf of ``tree`` (and the matching leaves of ``rest``).

    The result has the structure of ``tree``. Each tree in ``rest`` must have the same structure
    or have it as a prefix, in which case ``f`` is given a whole subtree of that tree where
    ``tree`` has a leaf.

    >>> tree_map(lambda x, y: x + y, {"a": 1, "b": (2, 3)}, {"a": 10, "b": (20, 30)})
    {'a': 11, 'b': (22, 33)}
    """
    leaves, treedef = tree_flatten(tree, is_leaf)
    rest_leaves = [
        _leaves_up_to(treedef, other, "tree_map", "the first tree", f"tree {i}", is_leaf)
        for i, other in enumerate(rest, start=2)
    ]
    return treedef.unflatten([f(*xs) for xs in zip(leaves, *rest_leaves, strict=True)])


_NO_INITIALIZER = object()


def tree_reduce(
    f: Callable[[Any, Any], Any],
    tree: PyTree,
    initializer: Any = _NO_INITIALIZER,
    is_leaf: Callable[[Any], bool] | None = None,
) -> Any:
    """Fold ``f`` over the leaves of a tree, left to right, as :func:`functools.reduce` does.

    >>> tree_reduce(lambda total, x: total + x, {"a": 1, "b": [2, 3]}, 100)
    106
    """
    leaves = tree_leaves(tree, is_leaf)
    if initializer is _NO_INITIALIZER:
        if not leaves:
            raise FungradTypeError(
                f"tree_reduce of a tree with no leaves ({tree_structure(tree, is_leaf)!r}) "
                "needs an initializer."
            )
        return functools.reduce(f, leaves)
    return functools.reduce(f, leaves, initializer)


# Paths.


def _flatten_with_path(
    tree: PyTree,
    path: KeyPath,
    pairs: list[tuple[KeyPath, Any]],
    is_leaf: Callable[[Any], bool] | None,
) -> Any:
    """Like _flatten, but appends ``(path, leaf)`` pairs."""
    node = None if is_leaf is not None and is_leaf(tree) else _node_for(type(tree))
    if node is None:
        pairs.append((path, tree))
        return None
    children, aux = node.flatten(tree)
    children = list(children)
    keys = node.child_keys(aux, len(children))
    return (
        node,
        aux,
        tuple(
            [
                _flatten_with_path(child, (*path, key), pairs, is_leaf)
                for key, child in zip(keys, children, strict=True)
            ]
        ),
    )


def tree_flatten_with_path(
    tree: PyTree, is_leaf: Callable[[Any], bool] | None = None
) -> tuple[list[tuple[KeyPath, Any]], PyTreeDef]:
    """Like :func:`tree_flatten`, but each leaf comes with its path from the root.

    >>> pairs, treedef = tree_flatten_with_path([{"w": 1, "b": 2}])
    >>> [(keystr(path), leaf) for path, leaf in pairs]
    [("[0]['b']", 2), ("[0]['w']", 1)]
    """
    pairs: list[tuple[KeyPath, Any]] = []
    struct = _flatten_with_path(tree, (), pairs, is_leaf)
    return pairs, PyTreeDef(struct, len(pairs))


def tree_leaves_with_path(
    tree: PyTree, is_leaf: Callable[[Any], bool] | None = None
) -> list[tuple[KeyPath, Any]]:
    """The ``(path, leaf)`` pairs of a tree, in :func:`tree_flatten` order.

    >>> tree_leaves_with_path((5,))
    [((SequenceKey(idx=0),), 5)]
    """
    return tree_flatten_with_path(tree, is_leaf)[0]


def tree_map_with_path(
    f: Callable[..., Any],
    tree: PyTree,
    *rest: PyTree,
    is_leaf: Callable[[Any], bool] | None = None,
) -> PyTree:
    """Like :func:`tree_map`, but ``f`` is called as ``f(path, leaf, *other_leaves)``.

    >>> tree_map_with_path(lambda path, x: (keystr(path), x), {"a": [1, 2]})
    {'a': [("['a'][0]", 1), ("['a'][1]", 2)]}
    """
    pairs, treedef = tree_flatten_with_path(tree, is_leaf)
    rest_leaves = [
        _leaves_up_to(treedef, other, "tree_map_with_path", "the first tree", f"tree {i}", is_leaf)
        for i, other in enumerate(rest, start=2)
    ]
    return treedef.unflatten(
        [f(path, leaf, *xs) for (path, leaf), *xs in zip(pairs, *rest_leaves, strict=True)]
    )


# Error messages. Transformations describe a user's pytrees with these, so that a message names
# the first place where two structures differ and stays short for trees of any size.

# The longest that one structure, or one level of one, is shown in full.
_SUMMARY_LIMIT = 300
_NODE_LIMIT = 160
_short_repr = reprlib.Repr()
_short_repr.maxstring = _short_repr.maxother = 40
_short_repr.maxtuple = _short_repr.maxlist = _short_repr.maxdict = 6


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 5] + "...)"


def structure_summary(treedef: PyTreeDef) -> str:
    """``repr(treedef)``, cut short (with the number of leaves) if it is long.

    >>> structure_summary(tree_structure({"a": 1, "b": (2, 3)}))
    "PyTreeDef({'a': *, 'b': (*, *)})"
    >>> structure_summary(tree_structure(list(range(500))))[-30:]
    '*, *, *, *, ... (500 leaves))'
    """
    text = repr(treedef)
    if len(text) <= _SUMMARY_LIMIT:
        return text
    return f"{text[:_SUMMARY_LIMIT]}... ({treedef.num_leaves} leaves))"


def structure_difference(
    first: PyTreeDef, second: PyTreeDef, first_name: str, second_name: str
) -> str | None:
    """Where two structures first differ (in :func:`tree_flatten` order), in words; None if
    they are equal. The names are written into the sentence as they are given.

    >>> structure_difference(
    ...     tree_structure(({"a": 1, "b": 2},)), tree_structure(({"a": 1},)),
    ...     "the primals", "the tangents",
    ... )
    "the key 'b' at path [0]['b'] is in the primals but not in the tangents"
    >>> structure_difference(
    ...     tree_structure([(1, 2)]), tree_structure([[1]]), "the output", "the cotangent"
    ... )
    'at path [0] there is a tuple of length 2 in the output but a list of length 1 in the ...'
    """
    return _first_difference(first._struct, second._struct, (), first_name, second_name)


def structure_mismatch_message(
    header: str, first_name: str, first: PyTreeDef, second_name: str, second: PyTreeDef
) -> str:
    """An error message for two structures that should be equal: ``header``, where they first
    differ, and a summary of each (cut short if long).

    >>> print(structure_mismatch_message(
    ...     "jvp: primals and tangents must have the same pytree structure",
    ...     "primals", tree_structure(({"a": 1.0, "b": 2.0},)),
    ...     "tangents", tree_structure(({"a": 1.0},)),
    ... ))
    jvp: primals and tangents must have the same pytree structure; the key 'b' at path
    [0]['b'] is in the primals but not in the tangents.
      primals:  PyTreeDef(({'a': *, 'b': *},))
      tangents: PyTreeDef(({'a': *},))
    """
    difference = structure_difference(first, second, f"the {first_name}", f"the {second_name}")
    first_label, second_label = f"{first_name}:", f"{second_name}:"
    width = max(len(first_label), len(second_label))
    return (
        f"{header}; {difference or 'they differ'}.\n"
        f"  {first_label:<{width}} {structure_summary(first)}\n"
        f"  {second_label:<{width}} {structure_summary(second)}"
    )


def not_an_array_message(what: str, value: Any) -> str:
    """The error message for an argument leaf that is not an array: ``what`` names it.

    >>> class Model:
    ...     pass
    >>> print(not_an_array_message("grad: argument 0 ('m')", Model()))
    grad: argument 0 ('m') is a Model, not an array. Transformed functions take arrays, Python
    scalars, or pytrees (tuples, lists, dicts) of them; pass other values through a closure or
    functools.partial. If a Model holds arrays, make its class a pytree node: register it with
    fungrad.tree_util.register_dataclass (for a dataclass) or
    fungrad.tree_util.register_pytree_node.
    """
    cls = type(value)
    a_type = f"{_article(cls.__name__)} {cls.__name__}"
    message = (
        f"{what} is {a_type}, not an array. Transformed functions take arrays, Python "
        "scalars, or pytrees (tuples, lists, dicts) of them; pass other values through a closure "
        "or functools.partial."
    )
    if cls.__module__ != "builtins":
        message += (
            f" If {a_type} holds arrays, make its class a pytree node: register it with "
            "fungrad.tree_util.register_dataclass (for a dataclass) or "
            "fungrad.tree_util.register_pytree_node."
        )
    return message


def _first_difference(
    a: Any, b: Any, path: KeyPath, first_name: str, second_name: str
) -> str | None:
    if a is None and b is None:
        return None
    at = f"at path {keystr(path)}" if path else "at the root"
    if a is None or b is None or a[0] is not b[0] or (a[0] is _NAMEDTUPLE and a[1] is not b[1]):
        return f"{at} there is {_describe(a)} in {first_name} but {_describe(b)} in {second_name}"
    node, aux_a, children_a = a
    _, aux_b, children_b = b
    keys_a = node.child_keys(aux_a, len(children_a))
    keys_b = node.child_keys(aux_b, len(children_b))
    keys = _key_difference(keys_a, keys_b)
    if keys is not None:
        return _key_sentence(path, keys, first_name, second_name)
    if aux_a != aux_b:
        return (
            f"{at} there is {_describe(a)} with aux data {_short_repr.repr(aux_a)} in "
            f"{first_name} but {_short_repr.repr(aux_b)} in {second_name}"
        )
    if len(children_a) != len(children_b):
        return f"{at} there is {_describe(a)} in {first_name} but {_describe(b)} in {second_name}"
    for key, child_a, child_b in zip(keys_a, children_a, children_b, strict=True):
        found = _first_difference(child_a, child_b, (*path, key), first_name, second_name)
        if found is not None:
            return found
    return None


def _key_difference(keys_a: list[KeyEntry], keys_b: list[KeyEntry]) -> Any:
    """For two dicts' child keys: ``("missing", key)`` for the first key of ``a`` that ``b``
    lacks, ``("extra", key)`` for the first key of ``b`` that ``a`` lacks, ``("order", keys_a,
    keys_b)`` if the same keys come in another order; None if the keys are the same (or the
    nodes are not dicts)."""
    if not all(type(k) is DictKey for k in (*keys_a, *keys_b)) or keys_a == keys_b:
        return None
    in_b = set(keys_b)
    missing = [k for k in keys_a if k not in in_b]
    if missing:
        return ("missing", missing[0])
    in_a = set(keys_a)
    extra = [k for k in keys_b if k not in in_a]
    if extra:
        return ("extra", extra[0])
    return ("order", [k.key for k in keys_a], [k.key for k in keys_b])


def _key_sentence(path: KeyPath, keys: Any, first_name: str, second_name: str) -> str:
    kind = keys[0]
    if kind == "order":
        at = f"at path {keystr(path)}" if path else "at the root"
        return (
            f"{at} the same keys come in the order {_short_repr.repr(keys[1])} in {first_name} "
            f"but {_short_repr.repr(keys[2])} in {second_name}"
        )
    key = keys[1]
    where = keystr((*path, key))
    shown = _short_repr.repr(key.key)
    if kind == "missing":
        return f"the key {shown} at path {where} is in {first_name} but not in {second_name}"
    return f"the key {shown} at path {where} is in {second_name} but not in {first_name}"


def _article(name: str) -> str:
    return "an" if name[:1] in tuple("AEIOUaeiou") else "a"


def _describe(struct: Any) -> str:
    """A node in a few words: "a leaf", "a tuple of length 2", "a dict with 3 keys"."""
    if struct is None:
        return "a leaf"
    node, aux, children = struct
    if node is _registry[type(None)]:
        return "None"
    if node is _NAMEDTUPLE:
        name = aux.__name__
    else:
        name = next(cls.__name__ for cls, entry in _registry.items() if entry is node)
    article = _article(name)
    if node is _registry[tuple] or node is _registry[list]:
        return f"{article} {name} of length {len(children)}"
    if all(type(k) is DictKey for k in node.child_keys(aux, len(children))) and children:
        return f"{article} {name} with {len(children)} keys"
    return f"{article} {name}"


def compile_unflatten(treedef: PyTreeDef) -> Callable[[Sequence[Any]], PyTree]:
    """A function building trees of structure ``treedef`` from a list of leaves.

    Equivalent to ``lambda leaves: tree_unflatten(treedef, leaves)``, but generated
    as one Python expression for the tree (``(o[0], [{'b': o[1], 'w': o[2]}])``), so
    a hot loop (``jit``'s calls) pays no per-node interpretation.
    """
    namespace: dict[str, Any] = {}
    position = iter(range(treedef.num_leaves))

    def name(obj: Any) -> str:
        key = f"_x{len(namespace)}"
        namespace[key] = obj
        return key

    def expression(struct: Any) -> str:
        if struct is None:
            return f"o[{next(position)}]"
        node, aux, children = struct
        parts = [expression(child) for child in children]
        if node is _registry[tuple]:
            return f"({', '.join(parts)}{',' if len(parts) == 1 else ''})"
        if node is _registry[list]:
            return f"[{', '.join(parts)}]"
        if node is _registry[dict]:
            return "{" + ", ".join(f"{name(k)}: {p}" for k, p in zip(aux, parts)) + "}"
        if node is _registry[type(None)]:
            return "None"
        inner = ", ".join(parts) + ("," if len(parts) == 1 else "")
        return f"{name(node.unflatten)}({name(aux)}, ({inner}))"

    source = f"def build(o):\n    return {expression(treedef._struct)}\n"
    exec(compile(source, "<fungrad.tree_util unflatten>", "exec"), namespace)
    return namespace["build"]
