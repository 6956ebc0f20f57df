"""Tests for fungrad.testing and for check_grads' failure messages.

- The strategies draw what they promise: shapes, dtypes, finite values within the
  bounds, at least the margin away from the given points (and no further than needed).
- check_grads_property passes on correct derivatives (sin, an MLP's cross-entropy over
  a parameter tree), fails with check_grads' labelled message on a custom_jvp whose rule
  is wrong, honours max_examples, the loaded hypothesis profile and its own settings.
- check_grads' messages name the mode, the order, the argument and pytree path, what was
  compared, and the worst element's index, both values and the tolerance; the values are
  checked against the known error of a deliberately wrong rule.
- hypothesis stays a test dependency: ``import fungrad`` does not import it, and
  ``import fungrad.testing`` without it says how to install it.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

import fungrad
import fungrad.numpy as fnp
from fungrad import nn
from fungrad.test_util import check_grads
from fungrad.testing import (
    arrays,
    check_grads_property,
    float_dtypes,
    grads_property_test,
    like,
    pytrees,
    shapes,
)

ROOT = Path(__file__).resolve().parent.parent
FEW = settings(max_examples=10)

# ---------------------------------------------------------------------------------------
# Strategies


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@FEW
@given(data=st.data())
def test_arrays_draw_the_shape_dtype_bounds_and_margins_they_promise(dtype, data):
    points, margin = (-1.0, 0.0, 0.7), 0.1
    x = data.draw(
        arrays((3, 2), dtype, min_value=-2.0, max_value=1.5, away_from=points, margin=margin)
    )
    assert isinstance(x, np.ndarray) and x.shape == (3, 2) and x.dtype == np.dtype(dtype)
    x64 = x.astype(np.float64)
    assert np.all(np.isfinite(x64)) and np.all((x64 >= -2.0) & (x64 <= 1.5))
    for p in points:
        assert np.all(np.abs(x64 - p) >= margin), (p, x)


@FEW
@given(x=arrays(shapes(min_dims=1, max_dims=2, max_side=3), float_dtypes()))
def test_arrays_draw_shapes_and_dtypes_from_strategies(x):
    assert 1 <= x.ndim <= 2 and all(1 <= n <= 3 for n in x.shape)
    assert x.dtype in (np.dtype(np.float32), np.dtype(np.float64))
    assert np.all(np.abs(x) <= 3.0)  # the default bounds


@FEW
@given(shape=shapes(min_dims=1, max_dims=3, min_side=2, max_side=5))
def test_shapes_respect_their_bounds(shape):
    assert 1 <= len(shape) <= 3 and all(2 <= n <= 5 for n in shape)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_arrays_reach_the_edge_of_the_margin_but_not_inside(dtype):
    # 0.1 and 0.05 are not float32 values: the ends of the allowed intervals are rounded
    # inwards, so that the float64 value of every float32 drawn is still outside.
    strategy = arrays((), dtype, min_value=0.0, max_value=1.0, away_from=(0.1,), margin=0.05)
    near = find(strategy, lambda x: 0.15 <= float(x) < 0.151)
    assert abs(float(near) - 0.1) >= 0.05
    below = find(strategy, lambda x: 0.049 < float(x) <= 0.05)
    assert abs(float(below) - 0.1) >= 0.05


@given(arrays((5,), np.float32, away_from=np.float32(0.0), margin=0.5))
def test_away_from_takes_a_numpy_scalar_or_an_array(x):
    assert np.all(np.abs(x) >= 0.5)


def test_arrays_refuse_bounds_that_leave_no_value():
    with pytest.raises(ValueError, match=r"no float64 value in \[-1.0, 1.0\] is at least 2"):
        arrays((2,), min_value=-1.0, max_value=1.0, away_from=(0.0,), margin=2.0)


def test_arrays_refuse_non_float_dtypes_and_bad_bounds():
    with pytest.raises(ValueError, match="not int64: integer and boolean values have no"):
        arrays((2,), np.int64)
    with pytest.raises(ValueError, match="min_value < max_value"):
        arrays((2,), min_value=1.0, max_value=1.0)
    with pytest.raises(ValueError, match="must be finite"):
        arrays((2,), max_value=np.inf)


@FEW
@given(tree=pytrees({"w": arrays((2, 3)), "layers": [arrays(()), 7], "labels": np.array([1])}))
def test_pytrees_draw_strategies_and_keep_other_leaves(tree):
    assert set(tree) == {"w", "layers", "labels"}
    assert tree["w"].shape == (2, 3) and tree["layers"][0].shape == ()
    assert tree["layers"][1] == 7 and tree["labels"].tolist() == [1]


PARAMS = nn.init_mlp(np.random.default_rng(0), [3, 4, 2])


@FEW
@given(tree=like({"params": PARAMS, "scale": 2.0, "steps": np.array(5)}, min_value=0.5))
def test_like_draws_the_structure_shapes_and_dtypes_of_the_example(tree):
    drawn = tree["params"]
    assert [sorted(layer) for layer in drawn] == [["b", "w"], ["b", "w"]]
    for got, example in zip(drawn, PARAMS):
        for key in ("w", "b"):
            assert got[key].shape == example[key].shape and got[key].dtype == np.float64
            assert np.all((got[key] >= 0.5) & (got[key] <= 3.0))
    assert tree["scale"].shape == () and tree["scale"].dtype == np.float64
    assert tree["steps"] is not None and int(tree["steps"]) == 5


@FEW
@given(tree=like(PARAMS, dtype=np.float32, away_from=0.0, margin=0.25))
def test_like_with_a_dtype_draws_every_float_leaf_in_it(tree):
    for layer in tree:
        for leaf in layer.values():
            assert leaf.dtype == np.float32 and np.all(np.abs(leaf) >= 0.25)


def test_like_refuses_leaves_it_cannot_draw():
    with pytest.raises(ValueError, match=r"leaf at \['z'\] has dtype complex128"):
        like({"z": np.zeros(2, complex)})


# ---------------------------------------------------------------------------------------
# check_grads_property


def test_check_grads_property_passes_on_sin_in_both_dtypes():
    check_grads_property(fnp.sin, arrays(shapes(max_dims=2), float_dtypes()), max_examples=6)


LABELS = np.eye(2)[[0, 1, 1, 0, 1]]


def mlp_loss(params, x):
    logits = nn.mlp(params, x, activation=nn.tanh)
    return fnp.mean(nn.softmax_cross_entropy(logits, LABELS))


def test_check_grads_property_passes_on_an_mlp_loss_over_a_parameter_tree():
    strategy = (like(PARAMS, min_value=-1.0, max_value=1.0), arrays((5, 3)))
    check_grads_property(mlp_loss, strategy, order=2, max_examples=3)


@fungrad.custom_jvp
def wrong_square(x):
    return x * x


# d/dx x**2 is 2 x; this rule says 3 x.
wrong_square.defjvp(
    lambda primals, tangents: (wrong_square(*primals), 3.0 * primals[0] * tangents[0])
)


@pytest.mark.parametrize("mode", ["fwd", "rev"])
def test_check_grads_property_fails_on_a_wrong_custom_jvp_with_the_labelled_message(mode):
    label = {"fwd": r"forward mode \(jvp\)", "rev": r"reverse mode \(vjp\)"}[mode]
    with pytest.raises(AssertionError, match=label + r" at order 1") as failure:
        check_grads_property(wrong_square, arrays((3,)), order=1, modes=(mode,), max_examples=5)
    message = str(failure.value)
    assert "argument `x`" in message and re.search(r"index \(\d,\): AD ", message)
    # hypothesis says which input failed, shrunk to a simple one.
    notes = "\n".join(getattr(failure.value, "__notes__", []))
    # (hypothesis says "Falsifying example" in older versions, "Failing test case" in newer)
    assert re.search(
        r"(Falsifying example|Failing test case): check_grads_of_wrong_square\(", notes
    )


def test_check_grads_property_passes_constants_in_the_argument_tuple_as_they_are():
    seen = []

    def f(x, k):
        seen.append(int(k))  # int() of an integer argument is allowed while tracing
        return fnp.sin(x) * k

    check_grads_property(f, (arrays((2,)), 3), order=1, max_examples=2)
    assert seen and set(seen) == {3}


@fungrad.custom_jvp
def _wrong_in_data(data, x):
    return data * fnp.sin(x)


_wrong_in_data.defjvp(  # right in x, wrong in data
    lambda p, t: (_wrong_in_data(*p), 7.0 * t[0] * fnp.sin(p[1]) + p[0] * fnp.cos(p[1]) * t[1])
)


def test_constants_in_the_argument_tuple_are_not_differentiated():
    data = np.array([0.5, -1.5])
    check_grads_property(_wrong_in_data, (data, arrays((2,))), order=2, max_examples=3)
    with pytest.raises(AssertionError):  # the wrong rule in data, when data is drawn
        check_grads_property(_wrong_in_data, (arrays((2,)), arrays((2,))), max_examples=3)


def test_messages_name_the_drawn_argument_past_a_constant():
    def f(data, x):
        return wrong_square(x) * data

    with pytest.raises(AssertionError, match=r"argument `x`"):
        check_grads_property(f, (np.array([1.0, 2.0]), arrays((2,))), order=1, max_examples=3)


def _counting(strategy, counter):
    def count(x):
        counter.append(1)
        return x

    return strategy.map(count)


def test_max_examples_limits_the_inputs_tried():
    drawn: list[int] = []
    check_grads_property(fnp.sin, _counting(arrays(()), drawn), order=1, max_examples=3)
    assert 1 <= len(drawn) <= 3


def test_the_loaded_profile_applies_and_its_deadline_is_turned_off():
    def slow_sin(x):
        time.sleep(0.002)
        return fnp.sin(x)

    drawn: list[int] = []
    settings.register_profile("fungrad_testing_tiny", max_examples=2, deadline=1)
    settings.load_profile("fungrad_testing_tiny")
    try:
        check_grads_property(slow_sin, _counting(arrays(()), drawn), order=1)
    finally:
        settings.load_profile(os.environ.get("FUNGRAD_HYPOTHESIS_PROFILE", "ci"))
    assert 1 <= len(drawn) <= 2


def test_a_run_with_several_distinct_failures_raises_one_of_them():
    # hypothesis's default would raise an ExceptionGroup of both failures here.
    def two_failures(x):
        if x > 0.5:
            raise ValueError("refuses inputs above 0.5")
        return wrong_square(x)

    strategy = arrays((), min_value=-1.0, max_value=1.0)
    with pytest.raises((ValueError, AssertionError)) as caught:
        check_grads_property(two_failures, strategy, order=1, max_examples=50)
    assert type(caught.value) in (ValueError, AssertionError)  # not a group of both


def test_explicit_settings_apply():
    drawn: list[int] = []
    tiny = settings(max_examples=2, deadline=None)
    check_grads_property(fnp.exp, _counting(arrays((2,)), drawn), order=1, settings=tiny)
    assert 1 <= len(drawn) <= 2


test_grads_property_test_gives_a_collected_test = grads_property_test(
    fnp.tanh, arrays(shapes()), max_examples=3
)


def test_grads_property_test_returns_a_test_function_that_fails_when_derivatives_are_wrong():
    test = grads_property_test(wrong_square, arrays((2,)), order=1, max_examples=3)
    assert test.__name__ == "test_grads_of_wrong_square"
    with pytest.raises(AssertionError, match=r"check_grads: forward mode \(jvp\) at order 1"):
        test()


def test_check_grads_property_refuses_bad_arguments():
    with pytest.raises(ValueError, match="unknown mode 'reverse'"):
        check_grads_property(fnp.sin, arrays(()), modes=("reverse",))
    with pytest.raises(ValueError, match="order must be an integer >= 1"):
        check_grads_property(fnp.sin, arrays(()), order=0)
    with pytest.raises(TypeError, match="strategy must be a hypothesis strategy"):
        check_grads_property(fnp.sin, np.ones(3))


# ---------------------------------------------------------------------------------------
# check_grads' messages

_NUMBER = r"(-?[\d.]+(?:e[-+]\d+)?)"
_VALUES = re.compile(
    rf"AD {_NUMBER}, numerical {_NUMBER}, \|difference\| {_NUMBER} > tolerance {_NUMBER} "
    rf"\(atol {_NUMBER} \+ rtol {_NUMBER} \* \|numerical\|\)"
)


def _values(message: str) -> tuple[float, ...]:
    found = _VALUES.search(message)
    assert found, message
    return tuple(float(v) for v in found.groups())


def _assert_values_are_consistent(message: str) -> tuple[float, float]:
    ad, numerical, difference, tolerance, atol, rtol = _values(message)
    assert difference == pytest.approx(abs(ad - numerical), rel=1e-2, abs=1e-3)
    assert tolerance == pytest.approx(atol + rtol * abs(numerical), rel=0.05)
    assert difference > tolerance
    return ad, numerical


X = np.array([[0.3, -1.1], [2.0, 0.5], [1.0, 1.5]])


def test_forward_mode_message_labels_the_sides_and_shows_the_worst_element():
    with pytest.raises(AssertionError) as failure:
        check_grads(wrong_square, (X,), order=1, modes=("fwd",))
    message = str(failure.value)
    assert message.startswith(
        "check_grads: forward mode (jvp) at order 1: the jvp tangent differs from central "
        "differences, for a random input tangent on argument `x`.\n"
        "  compared: the output tangent J t, from jvp (AD) and from "
        "(f(x + eps t) - f(x - eps t)) / (2 eps) with eps 1e-05 (numerical)\n"
        "  worst element: the output at index ("
    ), message
    ad, numerical = _assert_values_are_consistent(message)
    assert ad / numerical == pytest.approx(1.5, rel=1e-3)  # 3 x t against 2 x t
    assert "atol 1e-05 + rtol 1e-05" in message


def test_reverse_mode_message_compares_the_cotangent_element_by_element():
    with pytest.raises(AssertionError) as failure:
        check_grads(wrong_square, (X,), order=1, modes=("rev",))
    message = str(failure.value)
    assert message.startswith(
        "check_grads: reverse mode (vjp) at order 1: the vjp cotangent of argument `x` "
        "differs from central differences.\n"
        "  compared: the cotangent c^T J of that argument for a random output cotangent c, "
        "element by element"
    ), message
    assert re.search(r"worst element: index \(\d, \d\): AD ", message)
    ad, numerical = _assert_values_are_consistent(message)
    assert ad / numerical == pytest.approx(1.5, rel=1e-3)  # 3 x c against 2 x c


@fungrad.custom_jvp
def wrong_at_one_element(x):
    return fnp.sin(x)


_ONE = np.zeros((3, 2))
_ONE[2, 1] = 1.0


@wrong_at_one_element.defjvp
def _wrong_at_one_element_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return wrong_at_one_element(x), fnp.cos(x) * t + _ONE * t  # wrong at (2, 1) only


@pytest.mark.parametrize("mode", ["fwd", "rev"])
def test_the_index_shown_is_the_element_whose_derivative_is_wrong(mode):
    with pytest.raises(AssertionError, match=r"index \(2, 1\): AD ") as failure:
        check_grads(wrong_at_one_element, (X,), order=1, modes=(mode,))
    ad, numerical = _assert_values_are_consistent(str(failure.value))
    # the error at (2, 1) is the tangent (or cotangent) there: AD - numerical = t, with
    # numerical = cos(x) t
    assert (ad - numerical) / numerical == pytest.approx(1.0 / np.cos(X[2, 1]), rel=1e-3)


def loss_with_a_wrong_leaf(params, s):
    return {"y": fnp.tanh(params["w"]) * s, "z": fnp.sum(wrong_square(params["b"][1]))}


P = {"w": X, "b": [np.array(1.0), np.array([0.2, -0.4, 0.9])]}


def test_forward_mode_message_names_the_argument_path_and_the_output_path():
    with pytest.raises(AssertionError) as failure:
        check_grads(loss_with_a_wrong_leaf, (P, 2.0), order=1, modes=("fwd",))
    message = str(failure.value)
    assert "for a random input tangent on argument `params` (path ['b'][1]) only." in message
    assert "worst element: output ['z'] (a scalar): AD " in message
    _assert_values_are_consistent(message)


def test_reverse_mode_message_names_the_argument_path_and_its_element():
    with pytest.raises(AssertionError) as failure:
        check_grads(loss_with_a_wrong_leaf, (P, 2.0), order=1, modes=("rev",))
    message = str(failure.value)
    assert "the vjp cotangent of argument `params` (path ['b'][1]) differs" in message
    assert re.search(r"worst element: index \(\d,\): AD ", message)
    ad, numerical = _assert_values_are_consistent(message)
    assert ad / numerical == pytest.approx(1.5, rel=1e-3)


def test_reverse_mode_message_on_a_large_argument_compares_inner_products():
    with pytest.raises(AssertionError) as failure:
        check_grads(lambda v: fnp.sum(wrong_square(v)), (np.linspace(-1, 1, 300),), 1, ("rev",))
    message = str(failure.value)
    assert "the vjp cotangent of argument `v` differs" in message
    assert "compared: the inner products <c^T J, t> from vjp (AD)" in message
    assert "one number each\n  values: AD " in message
    ad, numerical = _assert_values_are_consistent(message)
    assert ad / numerical == pytest.approx(1.5, rel=1e-3)


@fungrad.custom_jvp
def wrong_cos(x):
    return fnp.cos(x)


wrong_cos.defjvp(
    lambda primals, tangents: (wrong_cos(*primals), fnp.sin(primals[0]) * tangents[0])
)


@fungrad.custom_jvp
def sin_with_a_wrong_second_derivative(x):
    return fnp.sin(x)


sin_with_a_wrong_second_derivative.defjvp(
    lambda primals, tangents: (fnp.sin(primals[0]), wrong_cos(primals[0]) * tangents[0])
)


@pytest.mark.parametrize(
    "mode, derivative",
    [
        (
            "fwd",
            "jvp(sin_with_a_wrong_second_derivative), sin_with_a_wrong_second_derivative's "
            "derivative along a fixed random tangent",
        ),
        (
            "rev",
            "vjp(sin_with_a_wrong_second_derivative), sin_with_a_wrong_second_derivative's "
            "derivative along a fixed random cotangent",
        ),
    ],
)
def test_a_second_order_failure_names_the_order_and_the_function_checked(mode, derivative):
    check_grads(sin_with_a_wrong_second_derivative, (X[0],), order=1, modes=(mode,))
    with pytest.raises(AssertionError) as failure:
        check_grads(sin_with_a_wrong_second_derivative, (X[0],), order=2, modes=(mode,))
    message = str(failure.value)
    assert f" at order 2 (f here is {derivative}): " in message, message
    ad, numerical = _assert_values_are_consistent(message)
    assert ad == pytest.approx(-numerical, rel=1e-3)  # +sin against -sin


def test_float32_messages_show_float32_tolerances():
    with pytest.raises(AssertionError, match=r"atol 0\.03 \+ rtol 0\.03 \* \|numerical\|"):
        check_grads(wrong_square, (X.astype(np.float32),), order=1, modes=("fwd",))


def test_an_unnamed_function_and_unnamed_arguments_are_labelled_by_position():
    with pytest.raises(AssertionError, match=r"the vjp cotangent of argument 1 differs"):
        check_grads(lambda *a: a[0] * wrong_square(a[1]), (X, X), order=1, modes=("rev",))


@pytest.mark.parametrize("mode", ["fwd", "rev"])
def test_with_zero_tolerances_the_wrong_argument_is_still_the_one_named(mode):
    # Every ratio to a zero tolerance is infinite: the difference decides.
    def f(x, w):
        return fnp.sin(x) * wrong_square(w)

    with pytest.raises(AssertionError, match=r"argument `w`"):
        check_grads(f, (X, X + 0.5), order=1, modes=(mode,), atol=0.0, rtol=0.0)


# ---------------------------------------------------------------------------------------
# hypothesis is a test dependency


def test_import_fungrad_does_not_import_hypothesis():
    check = (
        "import sys, fungrad; "
        "assert 'hypothesis' not in sys.modules, 'import fungrad imported hypothesis'; "
        "assert 'fungrad.testing' not in sys.modules"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_import_fungrad_testing_without_hypothesis_says_how_to_install_it():
    blocked = {name: None for name in list(sys.modules) if name.split(".")[0] == "hypothesis"}
    with mock.patch.dict(sys.modules, {**blocked, "hypothesis": None}):
        del sys.modules["fungrad.testing"]
        with pytest.raises(ImportError) as failure:
            importlib.import_module("fungrad.testing")
    assert "fungrad.testing needs hypothesis" in str(failure.value)
    assert "python -m pip install hypothesis" in str(failure.value)
    assert 'python -m pip install "fungrad[test]"' in str(failure.value)
    assert sys.modules["fungrad.testing"].check_grads_property is check_grads_property
