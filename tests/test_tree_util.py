"""Tests for fungrad.tree_util: flattening, treedefs, tree_map and paths."""

from __future__ import annotations

import collections
import copy
import dataclasses
import re
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fungrad.tree_util import (
    DictKey,
    FlattenedIndexKey,
    GetAttrKey,
    SequenceKey,
    keystr,
    register_dataclass,
    register_pytree_node,
    tree_flatten,
    tree_flatten_with_path,
    tree_leaves,
    tree_leaves_with_path,
    tree_map,
    tree_map_with_path,
    tree_reduce,
    tree_structure,
    tree_unflatten,
)

Point = collections.namedtuple("Point", ["x", "y"])
OtherPoint = collections.namedtuple("OtherPoint", ["x", "y"])


@register_dataclass
@dataclasses.dataclass
class Linear:
    weight: Any
    bias: Any
    activation: str = dataclasses.field(default="relu", metadata={"static": True})


class Box:
    """A custom node holding its children in a list and a label as aux data."""

    def __init__(self, label: str, items: list[Any]) -> None:
        self.label, self.items = label, items


register_pytree_node(
    Box, lambda box: (box.items, box.label), lambda label, ch: Box(label, list(ch))
)


def assert_trees_equal(a: Any, b: Any) -> None:
    """Same node types all the way down and equal leaves (dict key order ignored)."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert set(a) == set(b)
        for key in a:
            assert_trees_equal(a[key], b[key])
        if isinstance(a, collections.OrderedDict):
            assert list(a) == list(b)
        if isinstance(a, collections.defaultdict):
            assert a.default_factory is b.default_factory
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_trees_equal(x, y)
    elif isinstance(a, Linear):
        assert a.activation == b.activation
        assert_trees_equal((a.weight, a.bias), (b.weight, b.bias))
    elif isinstance(a, Box):
        assert a.label == b.label
        assert_trees_equal(a.items, b.items)
    else:
        assert a == b


def reference_leaves(tree: Any) -> list[Any]:
    """The leaves in flatten order, written out by hand for the trees the strategy builds."""
    if tree is None:
        return []
    if isinstance(tree, (tuple, list)):
        return [leaf for child in tree for leaf in reference_leaves(child)]
    if isinstance(tree, collections.OrderedDict):
        return [leaf for child in tree.values() for leaf in reference_leaves(child)]
    if isinstance(tree, dict):
        return [leaf for key in sorted(tree) for leaf in reference_leaves(tree[key])]
    if isinstance(tree, Linear):
        return reference_leaves(tree.weight) + reference_leaves(tree.bias)
    if isinstance(tree, Box):
        return reference_leaves(tree.items)
    return [tree]


def follow_path(tree: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        if isinstance(key, SequenceKey):
            tree = tree[key.idx]
        elif isinstance(key, DictKey):
            tree = tree[key.key]
        elif isinstance(key, GetAttrKey):
            tree = getattr(tree, key.name)
        else:
            assert isinstance(key, FlattenedIndexKey) and isinstance(tree, Box)
            tree = tree.items[key.key]
    return tree


leaf_values = st.one_of(st.integers(), st.text(max_size=3), st.booleans(), st.floats(0, 1))


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keys = st.text(max_size=2)
    return st.one_of(
        st.lists(children, max_size=3).map(tuple),
        st.lists(children, max_size=3),
        st.dictionaries(keys, children, max_size=3),
        st.dictionaries(keys, children, max_size=3).map(collections.OrderedDict),
        st.dictionaries(keys, children, max_size=3).map(
            lambda d: collections.defaultdict(list, d)
        ),
        st.builds(Point, children, children),
        st.builds(Linear, children, children, st.sampled_from(["relu", "tanh"])),
        st.builds(Box, st.sampled_from(["a", "b"]), st.lists(children, max_size=2)),
    )


trees = st.recursive(st.one_of(leaf_values, st.none()), containers, max_leaves=12)


# Round trips and leaves.


@given(trees)
def test_flatten_then_unflatten_rebuilds_the_tree(tree):
    leaves, treedef = tree_flatten(tree)
    assert_trees_equal(tree_unflatten(treedef, leaves), tree)


@given(trees)
def test_leaves_come_in_sorted_dict_key_and_sequence_order(tree):
    leaves, treedef = tree_flatten(tree)
    assert leaves == reference_leaves(tree)
    assert treedef.num_leaves == len(leaves)
    assert tree_leaves(tree) == leaves


@given(trees)
def test_flattening_the_same_structure_twice_gives_equal_hashes(tree):
    first, second = tree_structure(tree), tree_structure(tree_map(lambda x: "new", tree))
    assert first == second
    assert hash(first) == hash(second)


@given(trees)
def test_each_path_leads_to_its_leaf(tree):
    pairs, treedef = tree_flatten_with_path(tree)
    assert treedef == tree_structure(tree)
    assert [leaf for _, leaf in pairs] == tree_leaves(tree)
    for path, leaf in pairs:
        assert follow_path(tree, path) is leaf


@given(trees)
def test_tree_map_pairs_matching_leaves_of_equal_trees(tree):
    class Pair:  # unregistered, so a leaf of the result
        def __init__(self, first, second):
            self.first, self.second = first, second

    paired = tree_map(Pair, tree, tree)
    assert tree_structure(paired) == tree_structure(tree)
    assert [(p.first, p.second) for p in tree_leaves(paired)] == [
        (x, x) for x in tree_leaves(tree)
    ]


def test_tuple_list_and_dict_round_trip():
    tree = ([1, (2, 3)], {"b": 4, "a": (5,)}, ())
    leaves, treedef = tree_flatten(tree)
    assert leaves == [1, 2, 3, 5, 4]
    assert_trees_equal(treedef.unflatten(leaves), tree)


def test_none_is_a_node_with_no_leaves():
    assert tree_leaves(None) == []
    assert tree_leaves([None, 1, (None,)]) == [1]
    treedef = tree_structure(None)
    assert (treedef.num_leaves, treedef.num_nodes) == (0, 1)
    assert treedef != tree_structure(())
    assert tree_unflatten(treedef, []) is None
    assert repr(tree_structure([None, 1])) == "PyTreeDef([None, *])"


def test_dict_leaves_are_sorted_by_key_and_unflatten_gives_a_plain_dict():
    leaves, treedef = tree_flatten({"c": 1, "a": 2, "b": 3})
    assert leaves == [2, 3, 1]
    rebuilt = treedef.unflatten([20, 30, 10])
    assert type(rebuilt) is dict
    assert rebuilt == {"c": 10, "a": 20, "b": 30}


def test_dicts_with_the_same_keys_in_another_order_have_equal_structures():
    assert tree_structure({"a": 1, "b": 2}) == tree_structure({"b": 1, "a": 2})


def test_dict_with_keys_that_cannot_be_sorted_raises_type_error_naming_them():
    with pytest.raises(TypeError, match=r"keys cannot be sorted: \[1, 'a'\]"):
        tree_flatten({1: "x", "a": "y"})


def test_namedtuple_round_trip_rebuilds_the_same_class():
    leaves, treedef = tree_flatten(Point(1, (2, 3)))
    assert leaves == [1, 2, 3]
    rebuilt = treedef.unflatten([4, 5, 6])
    assert type(rebuilt) is Point
    assert rebuilt == Point(4, (5, 6))
    assert repr(treedef) == "PyTreeDef(Point(x=*, y=(*, *)))"


def test_namedtuples_of_different_classes_have_different_structures():
    assert tree_structure(Point(1, 2)) != tree_structure(OtherPoint(1, 2))
    assert tree_structure(Point(1, 2)) != tree_structure((1, 2))


def test_ordered_dict_keeps_insertion_order():
    tree = collections.OrderedDict([("b", 1), ("a", 2)])
    leaves, treedef = tree_flatten(tree)
    assert leaves == [1, 2]
    assert list(treedef.unflatten([3, 4]).items()) == [("b", 3), ("a", 4)]
    assert treedef != tree_structure({"b": 1, "a": 2})
    assert repr(treedef) == "PyTreeDef(OrderedDict({'b': *, 'a': *}))"


def test_defaultdict_round_trip_keeps_its_default_factory():
    tree = collections.defaultdict(list, {"b": 1, "a": 2})
    leaves, treedef = tree_flatten(tree)
    assert leaves == [2, 1]
    rebuilt = treedef.unflatten([3, 4])
    assert type(rebuilt) is collections.defaultdict
    assert rebuilt.default_factory is list
    assert rebuilt == {"a": 3, "b": 4}
    assert treedef != tree_structure(collections.defaultdict(dict, {"b": 1, "a": 2}))


def test_arrays_scalars_and_arbitrary_objects_are_leaves():
    class Anything:
        _fields = ("not", "a", "namedtuple")  # only tuple subclasses count as namedtuples

        def __getattr__(self, name):
            return 0

    array, thing = np.arange(3), Anything()
    leaves = tree_leaves([array, 1.5, "s", thing, np.float64(2.0)])
    assert leaves[0] is array and leaves[3] is thing
    assert len(leaves) == 5


def test_unregistered_subclass_of_dict_is_a_leaf():
    class MyDict(dict):
        pass

    tree = MyDict(a=1)
    assert tree_leaves(tree) == [tree]


# Dataclasses and custom nodes.


def test_dataclass_round_trip_keeps_its_static_field_in_the_treedef():
    model = Linear(np.ones(2), 0.5, activation="tanh")
    leaves, treedef = tree_flatten(model)
    assert leaves[1] == 0.5 and leaves[0] is model.weight
    assert repr(treedef) == "PyTreeDef(Linear(weight=*, bias=*, activation='tanh'))"
    rebuilt = treedef.unflatten([1, 2])
    assert type(rebuilt) is Linear
    assert (rebuilt.weight, rebuilt.bias, rebuilt.activation) == (1, 2, "tanh")


def test_dataclasses_with_different_static_fields_have_different_structures():
    relu, tanh = tree_structure(Linear(1, 2, "relu")), tree_structure(Linear(1, 2, "tanh"))
    assert relu != tanh
    assert relu == tree_structure(Linear(3, 4))


def test_dataclass_paths_name_the_fields():
    paths = [keystr(path) for path, _ in tree_leaves_with_path([Linear(1, {"w": 2})])]
    assert paths == ["[0].weight", "[0].bias['w']"]


def test_register_dataclass_with_explicit_fields_works_on_a_plain_class():
    class Scaled:
        def __init__(self, value, scale):
            self.value, self.scale = value, scale

    assert register_dataclass(Scaled, data_fields=["value"], meta_fields=["scale"]) is Scaled
    leaves, treedef = tree_flatten(Scaled(3, 10))
    assert leaves == [3]
    rebuilt = treedef.unflatten([4])
    assert (rebuilt.value, rebuilt.scale) == (4, 10)
    assert treedef != tree_structure(Scaled(3, 11))


def test_register_dataclass_given_only_meta_fields_takes_the_rest_as_data():
    @dataclasses.dataclass
    class Layer:
        weight: Any
        size: int

    register_dataclass(Layer, meta_fields=["size"])
    assert tree_flatten(Layer(1.0, 3))[0] == [1.0]


def test_register_dataclass_with_a_field_that_does_not_exist_raises():
    @dataclasses.dataclass
    class Layer:
        weight: Any

    with pytest.raises(ValueError, match=r"not __init__ fields of the class: \['wieght'\]"):
        register_dataclass(Layer, data_fields=["wieght"], meta_fields=[])


def test_register_dataclass_with_a_field_in_both_lists_raises():
    @dataclasses.dataclass
    class Layer:
        weight: Any

    with pytest.raises(ValueError, match=r"in both data_fields and meta_fields: \['weight'\]"):
        register_dataclass(Layer, data_fields=["weight"], meta_fields=["weight"])


def test_register_dataclass_on_a_plain_class_without_field_lists_raises():
    class NotADataclass:
        pass

    with pytest.raises(TypeError, match="is not a dataclass, so both data_fields and"):
        register_dataclass(NotADataclass)


def test_unhashable_static_field_makes_hashing_the_treedef_fail_clearly():
    treedef = tree_structure(Linear(1, 2, activation=["not", "hashable"]))
    with pytest.raises(TypeError, match="cannot be hashed because some of its aux data"):
        hash(treedef)


def test_custom_node_round_trip_and_repr():
    leaves, treedef = tree_flatten(Box("a", [1, (2, 3)]))
    assert leaves == [1, 2, 3]
    assert repr(treedef) == "PyTreeDef(CustomNode(Box['a'], [*, (*, *)]))"
    rebuilt = treedef.unflatten([4, 5, 6])
    assert type(rebuilt) is Box
    assert (rebuilt.label, rebuilt.items) == ("a", [4, (5, 6)])


def test_custom_node_aux_data_is_part_of_the_structure():
    assert tree_structure(Box("a", [1])) == tree_structure(Box("a", [2]))
    assert tree_structure(Box("a", [1])) != tree_structure(Box("b", [1]))


def test_registering_a_type_twice_raises_value_error_naming_the_type():
    class Twice:
        pass

    register_pytree_node(Twice, lambda t: ((), None), lambda aux, ch: Twice())
    with pytest.raises(ValueError, match=r"test_tree_util\..*Twice is already registered"):
        register_pytree_node(Twice, lambda t: ((), None), lambda aux, ch: Twice())


def test_registering_a_builtin_container_raises_value_error():
    with pytest.raises(ValueError, match="^tuple is already registered"):
        register_pytree_node(tuple, lambda t: (t, None), lambda aux, ch: tuple(ch))


def test_registering_something_that_is_not_a_class_raises_type_error():
    with pytest.raises(TypeError, match="Only a class can be registered"):
        register_pytree_node("Box", lambda t: ((), None), lambda aux, ch: None)


# Treedefs.


def test_treedef_repr_marks_leaves_with_stars():
    treedef = tree_structure((1, {"b": [2, 3], "a": 4}))
    assert repr(treedef) == "PyTreeDef((*, {'a': *, 'b': [*, *]}))"
    assert repr(tree_structure((1,))) == "PyTreeDef((*,))"
    assert repr(tree_structure(5)) == "PyTreeDef(*)"


def test_treedef_counts_leaves_and_nodes():
    treedef = tree_structure((1, {"b": [2, 3], "a": None}))
    assert treedef.num_leaves == 3
    assert treedef.num_nodes == 7  # tuple, dict, list, None and three leaves


def test_treedefs_of_different_node_types_or_keys_differ():
    assert tree_structure((1, 2)) != tree_structure([1, 2])
    assert tree_structure({"a": 1}) != tree_structure({"b": 1})
    assert tree_structure((1, 2)) != tree_structure((1, (2,)))
    assert tree_structure((1, 2)) != (1, 2)


def test_treedefs_work_as_dict_keys():
    cache = {tree_structure({"a": 1, "b": (2, 3)}): "hit"}
    assert cache[tree_structure({"b": (0, 0), "a": 0})] == "hit"


def test_treedef_is_immutable():
    treedef = tree_structure((1, 2))
    with pytest.raises(AttributeError):
        treedef.num_leaves = 3
    with pytest.raises(AttributeError):
        treedef.extra = 1
    assert copy.deepcopy(treedef) is treedef


def test_treedef_children_are_the_root_childrens_structures():
    children = tree_structure((1, [2, 3], None)).children()
    assert children == [tree_structure(1), tree_structure([2, 3]), tree_structure(None)]
    assert [child.num_leaves for child in children] == [1, 2, 0]
    assert tree_structure(1).children() == []


def test_unflatten_with_the_wrong_number_of_leaves_says_expected_and_got():
    treedef = tree_structure((1, 2))
    with pytest.raises(ValueError, match=re.escape("PyTreeDef((*, *)): expected 2 leaves, got 3")):
        tree_unflatten(treedef, [1, 2, 3])


def test_unflatten_accepts_any_iterable_of_leaves():
    assert tree_unflatten(tree_structure([1, 2]), iter("ab")) == ["a", "b"]


def test_unflatten_of_a_leaf_treedef_gives_the_leaf():
    assert tree_unflatten(tree_structure(np.zeros(2)), ["leaf"]) == "leaf"


def test_unflatten_with_swapped_arguments_raises_type_error():
    leaves, treedef = tree_flatten((1, 2))
    with pytest.raises(TypeError, match=r"argument order is tree_unflatten\(treedef, leaves\)"):
        tree_unflatten(leaves, treedef)


def test_flatten_up_to_gives_the_subtrees_under_each_leaf():
    assert tree_structure((1, 2)).flatten_up_to(([3, 4], {"a": 5})) == [[3, 4], {"a": 5}]


def test_flatten_up_to_with_a_different_structure_raises():
    with pytest.raises(ValueError, match=r"at the root, the treedef has \(\*, \*\) where"):
        tree_structure((1, 2)).flatten_up_to([1, 2])


# is_leaf.


def test_is_leaf_keeps_matching_subtrees_whole():
    tree = [(1, 2), [3, (4, 5)]]
    leaves = tree_leaves(tree, is_leaf=lambda x: isinstance(x, tuple))
    assert leaves == [(1, 2), 3, (4, 5)]


def test_is_leaf_can_make_none_a_leaf():
    leaves, treedef = tree_flatten([None, 1], is_leaf=lambda x: x is None)
    assert leaves == [None, 1]
    assert repr(treedef) == "PyTreeDef([*, *])"


def test_is_leaf_applies_to_tree_map_and_paths():
    tree = {"a": (1, 2), "b": 3}
    is_pair = lambda x: isinstance(x, tuple)
    lengths = tree_map(lambda x: len(x) if is_pair(x) else x, tree, is_leaf=is_pair)
    assert lengths == {"a": 2, "b": 3}
    paths = [keystr(path) for path, _ in tree_leaves_with_path(tree, is_leaf=is_pair)]
    assert paths == ["['a']", "['b']"]


# tree_map and its errors.


def test_tree_map_combines_several_trees_leaf_by_leaf():
    result = tree_map(
        lambda x, y, z: x + y * z,
        {"a": 1, "b": (2, 3)},
        {"a": 1, "b": (1, 1)},
        {"a": 10, "b": (20, 30)},
    )
    assert result == {"a": 11, "b": (22, 33)}


def test_tree_map_keeps_none_and_empty_containers():
    assert tree_map(lambda x: x + 1, (None, [], {}, 1)) == (None, [], {}, 2)


def test_tree_map_accepts_a_tree_whose_prefix_is_the_first_tree():
    result = tree_map(lambda x, y: (x, y), (1, 2), ([3, 4], {"a": 5}))
    assert result == ((1, [3, 4]), (2, {"a": 5}))


def test_tree_map_with_different_dict_keys_shows_both_structures():
    message = (
        "tree_map: tree 2 does not have the structure of the first tree: at the root, "
        "the first tree has {'a': *} where tree 2 has {'b': *}.\n"
        "  first tree: PyTreeDef({'a': *})\n"
        "  tree 2:     PyTreeDef({'b': *})\n"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        tree_map(lambda x, y: x + y, {"a": 1}, {"b": 1})


def test_tree_map_mismatch_names_the_path_where_the_trees_differ():
    first = {"w": [1, {"x": 2}]}
    second = {"w": [1, {"x": 2, "y": 3}]}
    with pytest.raises(
        ValueError, match=re.escape("at path ['w'][1], the first tree has {'x': *} where tree 2")
    ):
        tree_map(lambda x, y: x, first, second)


def test_tree_map_mismatch_of_a_node_against_a_leaf_names_the_leaf_type():
    with pytest.raises(
        ValueError,
        match=re.escape("at path [1], the first tree has (*, *) where tree 2 has a leaf of type"),
    ):
        tree_map(lambda x, y: x, [1, (2, 3)], [1, np.zeros(2)])


def test_tree_map_mismatch_counts_the_trees_to_name_the_bad_one():
    with pytest.raises(ValueError, match=r"tree 3 does not have the structure of the first tree"):
        tree_map(lambda x, y, z: x, (1, 2), (1, 2), [1, 2])


def test_tree_map_mismatch_of_sequence_lengths_shows_both_lengths():
    with pytest.raises(ValueError, match=re.escape("has (*, *) where tree 2 has (*, *, *)")):
        tree_map(lambda x, y: x, (1, 2), (1, 2, 3))


def test_tree_map_mismatch_is_a_value_error_subclass_from_fungrad_errors():
    from fungrad.errors import FungradValueError

    with pytest.raises(FungradValueError):
        tree_map(lambda x, y: x, (1,), [1])


def test_tree_reduce_folds_leaves_in_order():
    assert tree_reduce(lambda acc, x: acc + [x], {"b": 2, "a": (1,)}, []) == [1, 2]
    assert tree_reduce(lambda x, y: x * y, [2, (3, 4)]) == 24


def test_tree_reduce_of_an_empty_tree_without_initializer_raises():
    with pytest.raises(TypeError, match="needs an initializer"):
        tree_reduce(lambda x, y: x, [None, ()])


# Paths.


def test_keystr_renders_each_kind_of_key():
    path = (SequenceKey(0), DictKey("w"), GetAttrKey("bias"), FlattenedIndexKey(2), DictKey(1))
    assert keystr(path) == "[0]['w'].bias[2][1]"
    assert keystr(()) == ""


def test_flatten_with_path_gives_paths_in_leaf_order():
    tree = (Point(x=1, y={"w": 2}), Box("a", [3]), [4])
    pairs, treedef = tree_flatten_with_path(tree)
    assert [(keystr(path), leaf) for path, leaf in pairs] == [
        ("[0].x", 1),
        ("[0].y['w']", 2),
        ("[1][0]", 3),
        ("[2][0]", 4),
    ]
    assert treedef == tree_structure(tree)
    assert pairs[0][0] == (SequenceKey(0), GetAttrKey("x"))


def test_tree_map_with_path_passes_the_path_and_every_trees_leaf():
    result = tree_map_with_path(
        lambda path, x, y: f"{keystr(path)}:{x + y}", {"a": [1, 2]}, {"a": [10, 20]}
    )
    assert result == {"a": ["['a'][0]:11", "['a'][1]:22"]}


def test_tree_map_with_path_mismatch_raises_with_its_own_name():
    with pytest.raises(ValueError, match="^tree_map_with_path: tree 2"):
        tree_map_with_path(lambda path, x, y: x, {"a": 1}, {"b": 1})


# The package: `import fungrad` reaches its submodules as attributes, as `import jax` does.
# (Checked in a fresh interpreter, where no other test has imported them already.)


def test_import_fungrad_makes_its_submodules_attributes_without_importing_them_by_name():
    code = (
        "import sys, fungrad\n"
        "names = ['lax', 'nn', 'numpy', 'test_util', 'tree_util']\n"
        "print([type(getattr(fungrad, n)).__name__ for n in names])\n"
        "print([getattr(fungrad, n) is sys.modules['fungrad.' + n] for n in names])\n"
        "print(fungrad.lax.sin is not None, callable(fungrad.test_util.check_grads))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "['module', 'module', 'module', 'module', 'module']",
        "[True, True, True, True, True]",
        "True True",
    ]


@pytest.mark.parametrize("module", ["lax", "nn", "numpy", "test_util", "tree_util"])
def test_each_submodule_imports_first_without_a_cycle(module):
    # Importing a submodule before the package must work too (no circular import).
    code = f"import fungrad.{module} as m; import fungrad; assert fungrad.{module} is m"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
