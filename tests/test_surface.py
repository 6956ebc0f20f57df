"""Every public fungrad.numpy / fungrad.scipy function, through the public API.

The probes (tests/surface_*.py, see tests/surface.py) give operands; the same checks
run over each: eager values against NumPy/SciPy or tabulated values, derivatives in
both modes and at second order against central differences, ``vmap`` against a loop
over examples, and ``jit`` against eager for values and gradients. A completeness
test makes a public function without a probe a red test; docs/coverage.md is
generated from the probes (tools/coverage_page.py) and a test keeps it current.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from surface import Probe, all_probes

import fungrad
from fungrad.test_util import check_grads
from fungrad.tree_util import tree_flatten, tree_map

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import coverage_page  # noqa: E402

PROBES = all_probes()
DIFFERENTIABLE = [p for p in PROBES if p.diff]
CONSTANT = [p for p in PROBES if not p.diff]
WITH_REFERENCE = [p for p in PROBES if p.reference is not None]

# A few examples per probe: the primitives under these functions are tested in depth
# by the primitive table; here each composition is checked end to end.
FEW = settings(max_examples=max(2, settings.default.max_examples // 10))
seeds = st.integers(0, 2**32 - 1)


def probes(selection: list[Probe]):
    return pytest.mark.parametrize(
        "probe", selection, ids=[f"{p.name}-{i}" for i, p in enumerate(selection)]
    )


def _assert_trees_close(actual: Any, expected: Any, rtol: float, atol: float, what: str) -> None:
    a_leaves, a_tree = tree_flatten(actual)
    e_leaves, e_tree = tree_flatten(expected)
    assert a_tree == e_tree, f"{what}: structure {a_tree} != {e_tree}"
    for a, e in zip(a_leaves, e_leaves):
        a, e = np.asarray(a), np.asarray(e)
        assert a.shape == e.shape, f"{what}: shape {a.shape} != {e.shape}"
        if e.dtype.kind in "biu":
            np.testing.assert_array_equal(a, e, err_msg=what)
        else:
            np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=what)


def _differentiable_part(probe: Probe, args: tuple) -> tuple[Any, tuple]:
    """The probe's function of its differentiable operands, the others held fixed."""

    def f(*xs):
        full = list(args)
        for i, x in zip(probe.diff, xs):
            full[i] = x
        return probe.fn(*full)

    return f, tuple(args[i] for i in probe.diff)


@probes(WITH_REFERENCE)
@FEW
@given(seed=seeds)
def test_eager_value_matches_the_reference(probe, seed):
    args = probe.args(np.random.default_rng(seed))
    _assert_trees_close(
        probe.fn(*args), probe.reference(*args), probe.ref_rtol, probe.ref_atol, probe.name
    )


@probes([p for p in DIFFERENTIABLE if p.order >= 1])
@FEW
@given(seed=seeds)
def test_derivatives_match_central_differences(probe, seed):
    args = probe.args(np.random.default_rng(seed))
    f, xs = _differentiable_part(probe, args)
    check_grads(f, xs, order=probe.order, atol=probe.atol, rtol=probe.rtol, eps=probe.eps)


@probes(CONSTANT)
@FEW
@given(seed=seeds)
def test_without_a_derivative_the_tangent_is_zero(probe, seed):
    args = probe.args(np.random.default_rng(seed))
    floating = [i for i, a in enumerate(args) if np.asarray(a).dtype.kind == "f"]
    if not floating:
        return
    f, xs = _differentiable_part(dataclasses.replace(probe, diff=tuple(floating)), args)
    tangents = tuple(np.ones_like(x) for x in xs)
    _, t_out = fungrad.jvp(f, xs, tangents)
    for leaf in tree_flatten(t_out)[0]:
        leaf = np.asarray(leaf)
        assert leaf.dtype == fungrad.dtypes.float0 or not np.any(leaf), probe.name


@probes([p for p in PROBES if p.vmap])
@FEW
@given(seed=seeds)
def test_vmap_equals_a_loop_over_examples(probe, seed):
    examples = [probe.args(np.random.default_rng([seed, k])) for k in range(3)]
    stacked = tuple(np.stack(column) for column in zip(*examples))
    batched = fungrad.vmap(probe.fn)(*stacked)
    looped = [probe.fn(*args) for args in examples]
    expected = tree_map(lambda *leaves: np.stack(leaves), *looped)
    _assert_trees_close(batched, expected, 1e-10, 1e-12, f"vmap of {probe.name}")


@probes([p for p in PROBES if p.jit])
@FEW
@given(seed=seeds)
def test_jit_equals_eager_for_values_and_gradients(probe, seed):
    rng = np.random.default_rng(seed)
    compiled = fungrad.jit(probe.fn)
    for args in (probe.args(rng), probe.args(rng)):  # the second call reuses the trace
        _assert_trees_close(compiled(*args), probe.fn(*args), 1e-10, 1e-12, probe.name)
    if not probe.diff:
        return
    f, xs = _differentiable_part(probe, args)
    out, pullback = fungrad.vjp(f, *xs)
    cotangent = tree_map(lambda o: rng.standard_normal(np.shape(o)), out)
    jitted = fungrad.jit(lambda *xs: fungrad.vjp(f, *xs)[1](cotangent))
    _assert_trees_close(
        jitted(*xs), pullback(cotangent), 1e-9, 1e-11, f"vjp of {probe.name} under jit"
    )


def test_every_public_function_has_a_probe():
    probed = {p.name for p in PROBES}
    missing = sorted(set(coverage_page.public_functions()) - probed)
    assert not missing, f"public functions without a probe in tests/surface_*.py: {missing}"


def test_every_probe_names_a_public_function():
    unknown = sorted({p.name for p in PROBES} - set(coverage_page.public_functions()))
    assert not unknown, f"probes of names that are not public: {unknown}"


def test_every_probe_that_skips_vmap_or_jit_says_why():
    silent = [p.name for p in PROBES if not (p.vmap and p.jit) and not p.why]
    assert not silent, f"probes that skip vmap or jit without a reason: {silent}"


def test_the_coverage_page_is_current():
    page = ROOT / "docs" / "coverage.md"
    assert page.read_text() == coverage_page.render(PROBES), (
        "docs/coverage.md is out of date: run python tools/coverage_page.py"
    )


def test_the_coverage_script_writes_the_page(tmp_path):
    out = tmp_path / "coverage.md"
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "coverage_page.py"), "--output", str(out)],
        check=True,
        cwd=ROOT,
    )
    assert out.read_text() == (ROOT / "docs" / "coverage.md").read_text()
