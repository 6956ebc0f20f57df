"""Tests for the errors about pytrees: where two structures differ, and arguments that are
not pytrees of arrays.

A structure mismatch names the first place where the two trees differ (a missing or
extra dict key, a different type, a different length, a different aux data) by its
path, and stays short however large the trees are: a summary of each structure, never a
dump. An argument that is an instance of an unregistered class names its type and says
how to make it a pytree (or, for jit, a static argument).
"""

from __future__ import annotations

import collections
import dataclasses
import re
from typing import Any, NamedTuple

import numpy as np
import pytest

import fungrad
from fungrad import jit
from fungrad.errors import FungradTypeError, FungradValueError
from fungrad.tree_util import (
    not_an_array_message,
    register_dataclass,
    structure_difference,
    structure_mismatch_message,
    structure_summary,
    tree_map,
    tree_structure,
)


def big_tree(missing: str | None = None, extra: str | None = None) -> dict[str, Any]:
    """500 leaves, 3 levels deep; optionally without one deep key or with one more."""
    tree = {f"block{i}": {"attention": {f"weight{j}": 1.0 for j in range(10)}} for i in range(50)}
    if missing:
        del tree["block37"]["attention"][missing]
    if extra:
        tree["block37"]["attention"][extra] = 3.0
    return tree


def difference(first: Any, second: Any) -> str | None:
    return structure_difference(
        tree_structure(first), tree_structure(second), "the first", "the second"
    )


# ---------------------------------------------------------------------------------------
# Where two structures differ


def test_a_missing_dict_key_is_named_with_its_path():
    primals, tangents = ({"a": 1.0, "b": 2.0},), ({"a": 1.0},)
    message = structure_mismatch_message(
        "jvp: primals and tangents must have the same pytree structure",
        "primals",
        tree_structure(primals),
        "tangents",
        tree_structure(tangents),
    )
    assert message.startswith(
        "jvp: primals and tangents must have the same pytree structure; the key 'b' at "
        "path [0]['b'] is in the primals but not in the tangents.\n"
    )
    assert "\n  primals:  PyTreeDef(({'a': *, 'b': *},))" in message
    assert "\n  tangents: PyTreeDef(({'a': *},))" in message


@pytest.mark.parametrize(
    "first, second, expected",
    [
        ({"a": 1}, {"a": 1, "z": 2}, "the key 'z' at path ['z'] is in the second but not in"),
        ([{"w": 1, "b": 2}], [{"w": 1}], "the key 'b' at path [0]['b'] is in the first but"),
        ({1: 1}, {2: 1}, "the key 1 at path [1] is in the first but not in the second"),
        ((1, [2, 3]), (1, (2, 3)), "at path [1] there is a list of length 2 in the first but a"),
        ((1, [2, 3]), (1, [2]), "at path [1] there is a list of length 2 in the first but a list"),
        ((1, (2, 3)), (1, 2), "at path [1] there is a tuple of length 2 in the first but a leaf"),
        ({"a": None}, {"a": 1}, "at path ['a'] there is None in the first but a leaf in the"),
        ({"a": 1}, [1], "at the root there is a dict with 1 keys in the first but a list of"),
        (
            collections.OrderedDict(a=1, b=2),
            collections.OrderedDict(b=2, a=1),
            "at the root the same keys come in the order ['a', 'b'] in the first but ['b', 'a']",
        ),
        ((1, {"a": 1}), (1, collections.OrderedDict(a=1)), "there is a dict with 1 keys in the"),
    ],
    ids=repr,
)
def test_the_first_difference_is_named_by_its_path(first, second, expected):
    found = difference(first, second)
    assert found is not None and expected in found, found


def test_namedtuple_classes_and_dataclass_meta_fields_are_differences():
    class Point(NamedTuple):
        x: Any
        y: Any

    class Pair(NamedTuple):
        x: Any
        y: Any

    found = difference([Point(1, 2)], [Pair(1, 2)])
    assert found == "at path [0] there is a Point in the first but a Pair in the second"

    @register_dataclass
    @dataclasses.dataclass
    class Layer:
        weight: Any
        activation: str = dataclasses.field(default="relu", metadata={"static": True})

    found = difference({"l": Layer(1.0)}, {"l": Layer(1.0, "tanh")})
    assert found == (
        "at path ['l'] there is a Layer with aux data ('relu',) in the first but ('tanh',) in "
        "the second"
    )


def test_equal_structures_have_no_difference():
    assert difference(big_tree(), big_tree()) is None
    assert difference((1, {"a": [2]}), (5, {"a": [6]})) is None


def test_a_mismatch_in_trees_of_500_leaves_is_short_and_names_the_path():
    first, second = tree_structure(big_tree()), tree_structure(big_tree(missing="weight7"))
    assert first.num_leaves == 500
    message = structure_mismatch_message(
        "linearize: the tangents must have the same pytree structure as the primals",
        "primals",
        first,
        "tangents",
        second,
    )
    assert len(message) < 2000, len(message)
    assert "the key 'weight7' at path ['block37']['attention']['weight7']" in message
    assert "(500 leaves))" in message and "(499 leaves))" in message
    extra = tree_structure(big_tree(extra="weight10"))
    message = structure_mismatch_message("vjp: ...", "output", first, "cotangent", extra)
    assert len(message) < 2000
    assert "'weight10' at path ['block37']['attention']['weight10'] is in the cotangent" in message


def test_tree_map_mismatch_in_trees_of_500_leaves_is_short_and_names_the_path():
    with pytest.raises(FungradValueError) as info:
        tree_map(lambda x, y: x, big_tree(), big_tree(missing="weight7"))
    message = str(info.value)
    assert len(message) < 2000, len(message)
    assert "at path ['block37']['attention']" in message
    assert "The key 'weight7' at path ['block37']['attention']['weight7'] is in the first " in (
        message
    )
    # One dict level of 500 keys is summarized too.
    wide = {f"k{i:03}": 1.0 for i in range(500)}
    narrower = dict(wide)
    del narrower["k250"]
    with pytest.raises(
        ValueError, match=re.escape("The key 'k250' at path ['k250'] is in")
    ) as info:
        tree_map(lambda x, y: x, wide, narrower)
    assert len(str(info.value)) < 2000, len(str(info.value))


def test_flatten_up_to_mismatch_in_a_large_tree_is_short():
    with pytest.raises(ValueError) as info:
        tree_structure(big_tree()).flatten_up_to(big_tree(extra="weight10"))
    assert len(str(info.value)) < 2000
    assert "'weight10' at path ['block37']['attention']['weight10'] is in the tree" in str(
        info.value
    )


def test_structure_summary_keeps_small_structures_whole_and_cuts_large_ones():
    assert structure_summary(tree_structure((1, {"a": 2}))) == "PyTreeDef((*, {'a': *}))"
    summary = structure_summary(tree_structure(big_tree()))
    assert len(summary) < 400 and summary.startswith("PyTreeDef({'block0': {'attention'")
    assert summary.endswith("... (500 leaves))")


# ---------------------------------------------------------------------------------------
# Arguments that are not pytrees of arrays


class Unregistered:
    def __init__(self, w: Any):
        self.w = w


def test_not_an_array_message_names_the_type_and_the_registration_functions():
    message = not_an_array_message("grad: argument 0 ('o')", Unregistered(1.0))
    assert message.startswith("grad: argument 0 ('o') is an Unregistered, not an array.")
    assert "fungrad.tree_util.register_pytree_node" in message
    assert "fungrad.tree_util.register_dataclass" in message
    assert "closure or functools.partial" in message
    # A builtin type cannot be registered usefully: no advice to.
    assert "register" not in not_an_array_message("grad: argument 0", "text")


@pytest.mark.parametrize(
    "transform",
    [
        lambda o: fungrad.grad(lambda o: 1.0)(o),
        lambda o: fungrad.jvp(lambda o: 1.0, (o,), (o,)),
        lambda o: fungrad.vmap(lambda o: 1.0)(o),
        lambda o: fungrad.vjp(lambda o: 1.0, o),
    ],
    ids=["grad", "jvp", "vmap", "vjp"],
)
def test_transformations_of_an_unregistered_class_instance_say_how_to_register_it(transform):
    with pytest.raises(FungradTypeError, match=r"argument 0.* is an Unregistered, not an") as info:
        transform(Unregistered(2.0))
    assert "fungrad.tree_util.register_pytree_node" in str(info.value)
    assert "fungrad.tree_util.register_dataclass" in str(info.value)


def test_jit_of_an_unregistered_class_instance_says_how_to_pass_it():
    f = jit(lambda o, x: o.w * x)
    with pytest.raises(FungradTypeError) as info:
        f(Unregistered(2.0), 1.0)
    message = str(info.value)
    assert message.startswith("jit: argument 0 ('o') is an Unregistered, not an array.")
    for advice in ["register_pytree_node", "register_dataclass", "static_argnums", "closure"]:
        assert advice in message
    with pytest.raises(TypeError, match=r"argument 0 \('o'\) at path \[1\] is an Unregistered"):
        f((1.0, Unregistered(2.0)), 1.0)


def test_jit_takes_a_hashable_unregistered_instance_as_a_static_argument():
    o = Unregistered(np.array([1.0, 2.0]))
    f = jit(lambda o, x: o.w * x, static_argnums=0)
    assert f(o, 3.0).tolist() == [3.0, 6.0]
    assert fungrad.jit(lambda o, x: o.w * x, static_argnames="o")(o=o, x=2.0).tolist() == [
        2.0,
        4.0,
    ]
