"""The table-driven test over every registered primitive.

Each primitive has one row in ``ROWS``: a hypothesis strategy drawing valid operands
and params (shapes, broadcasting, axes, permutations, dimension numbers, indices),
its NumPy meaning, and which operands are differentiable and which it is linear in.
The same properties run over every row:

- eager ``bind`` computes the NumPy meaning, and the staged jaxpr computes eager;
- the shape/dtype rule agrees with the implementation (float32 stays float32,
  promotion and weakly typed Python scalars as in NumPy);
- jvp against central differences, and in float32 against float64; linearize
  against jvp;
- reverse mode by inner products: against central differences, and exactly against jvp
  (a primitive differentiable in forward mode only raises an explained error);
- transposition of the linear primitives, ``<A x, y> == <x, Aᵀ y>``;
- second order, forward over forward and reverse over reverse, against central
  differences of first derivatives (and ``check_grads(order=2)``);
- primitives without a derivative give symbolic-zero tangents and integer, boolean
  or piecewise-constant outputs;
- batching: ``vmap`` with random batch sizes, in_axes and out_axes, and ``vmap`` of
  ``vmap``, against stacking a loop over examples; the batching rule applied
  directly; unbatched operands are not broadcast;
- ``jit`` against eager, on first and later calls, and jvp and grad through ``jit``.

The rows are in tests/primitive_table.py and, for some families, in rows_*.py
modules beside it; ``ROWS`` below collects them. A completeness test makes a
primitive without a row, or without a rule its row needs (every primitive needs a
batching rule), a red test. In the default "ci" profile each property takes its
share of the examples (see ``examples``).
"""

from __future__ import annotations

import dataclasses
import importlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, note, reject, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from primitive_table import (
    BOOL,
    EXACT_RTOL,
    F32,
    F32_ATOL,
    F32_RTOL,
    F64,
    FD_ATOL,
    FD_RTOL,
    Case,
    Row,
    _axes_mask,
    _floats,
    shapes,
)
from primitive_table import ROWS as CORE_ROWS

import fungrad
from fungrad import core, dtypes
from fungrad.core import Zero, get_aval
from fungrad.errors import NonLinearError
from fungrad.interpreters.batching import batch_rules
from fungrad.interpreters.jvp import jvp_flat, jvp_rules
from fungrad.interpreters.partial_eval import linearize_flat
from fungrad.interpreters.transpose import transpose_rules
from fungrad.test_util import check_grads, numerical_jvp

# The core table, then each family's rows_*.py module.
ROWS = [*CORE_ROWS]
for _path in sorted(Path(__file__).parent.glob("rows_*.py")):
    ROWS.extend(importlib.import_module(_path.stem).ROWS)

ROW_BY_NAME = {row.name: row for row in ROWS}
DIFFERENTIABLE = [row for row in ROWS if row.diff]
FORWARD = [row for row in DIFFERENTIABLE if row.forward_mode]
REVERSE = [row for row in DIFFERENTIABLE if row.reverse_mode]
BOTH_MODES = [row for row in FORWARD if row.reverse_mode]
NON_DIFFERENTIABLE = [row for row in ROWS if not row.diff and row.operands]
WITH_OPERANDS = [row for row in ROWS if row.operands]
LINEAR = [(row, group) for row in ROWS for group in row.linear]


def examples(share: float):
    """This property's number of examples: ``share`` of the profile's ``max_examples``.

    The table is large (every row runs every property), so in the default "ci"
    profile (20 examples) the costly properties (second order, vmap of vmap, jit)
    take fewer and the cheap ones more, to keep the suite within minutes; the
    "thorough" profile scales them all up.
    """
    return settings(max_examples=max(2, round(settings.default.max_examples * share)))


def rows(selection: list[Row]):
    return pytest.mark.parametrize("row", selection, ids=[row.name for row in selection])


# ---------------------------------------------------------------------------------------
# Helpers


def draw_case(data: st.DataObject, row: Row, dtype: np.dtype = F64) -> Case:
    return data.draw(row.cases(dtype), label="case")


def draw_rng(data: st.DataObject) -> np.random.Generator:
    return np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))


def single(row: Row, case: Case, out: Any) -> Any:
    """The result of a multiple-result primitive that the case tests: its one result,
    or the one ``case.result`` names."""
    if not row.primitive.multiple_results:
        return out
    if case.result is None:
        (result,) = out
        return result
    return out[case.result]


def bind(row: Row, case: Case, *args: Any) -> Any:
    return single(row, case, row.primitive.bind(*args, **case.params))


def recast(row: Row, case: Case, dtype: np.dtype) -> Case:
    """``case`` with its floating operands in ``dtype``."""
    if row.recast is not None:
        return row.recast(case, dtype)
    args = tuple(a.astype(dtype) if a.dtype.kind == "f" else a for a in case.args)
    return Case(args, case.params, case.note, case.result)


def restrict(row: Row, case: Case, which: tuple[int, ...]) -> tuple[Callable, tuple]:
    """The primitive as a function of the operands ``which``, the others held fixed."""

    def f(*xs):
        full = list(case.args)
        for i, x in zip(which, xs):
            full[i] = x
        return bind(row, case, *full)

    return f, tuple(case.args[i] for i in which)


def present(which: tuple[int, ...], case: Case) -> tuple[int, ...]:
    """``which`` without operands the case does not have (concatenate of fewer arrays)."""
    return tuple(i for i in which if i < len(case.args))


def random_like(rng: np.random.Generator, x: Any) -> np.ndarray:
    x = np.asarray(x)
    return np.asarray(rng.standard_normal(x.shape)).astype(x.dtype)


def inner(xs, ys) -> float:
    return float(
        sum(np.sum(np.asarray(x, F64) * np.asarray(y, F64)) for x, y in zip(xs, ys, strict=True))
    )


def inner_scale(xs, ys) -> float:
    """The size of an inner product's terms, to scale tolerances of sums that cancel."""
    return float(
        sum(
            np.sum(np.abs(np.asarray(x, F64) * np.asarray(y, F64)))
            for x, y in zip(xs, ys, strict=True)
        )
    )


def assert_same_aval(value: Any, aval: core.ShapedArray, what: str) -> None:
    assert (np.shape(value), np.asarray(value).dtype) == (aval.shape, aval.dtype), (
        f"{what}: got {np.shape(value)} {np.asarray(value).dtype}, expected {aval.str_short()}"
    )


def assert_close_products(
    lhs: float, rhs: float, scale: float, rtol: float, atol: float, what: str
) -> None:
    """Inner products agree relative to the size of their terms (sums may cancel)."""
    assert abs(lhs - rhs) <= rtol * scale + atol, (
        f"{what}: {lhs!r} != {rhs!r} (difference {abs(lhs - rhs):.3g}, terms of size {scale:.3g})"
    )


def dot(a: Any, b: Any) -> Any:
    """``<a, b>``, written with primitives so it adds no rule of its own to the check."""
    product = core.primitives["mul"].bind(a, b)
    return core.primitives["reduce_sum"].bind(product, axes=tuple(range(np.ndim(product))))


def scalarised(f: Callable, c: np.ndarray) -> Callable:
    """``<c, f(xs)>``: a scalar function to take gradients of."""
    return lambda *xs: dot(f(*xs), c)


# ---------------------------------------------------------------------------------------
# 1. Evaluation: eager against NumPy, staged against eager


@rows(ROWS)
@examples(0.4)
@given(data=st.data())
def test_eager_bind_computes_the_numpy_meaning(row, data):
    dtype = data.draw(st.sampled_from([F64, F32]), label="dtype")
    case = draw_case(data, row, dtype)
    out = np.asarray(bind(row, case, *case.args))
    expected = np.asarray(row.reference(case))
    assert (out.shape, out.dtype) == (expected.shape, expected.dtype)
    rtol = 1e-12 if dtype == F64 else 1e-6
    np.testing.assert_allclose(out, expected, rtol=rtol, atol=rtol, equal_nan=True)


@rows(ROWS)
@examples(0.2)
@given(data=st.data())
def test_staged_jaxpr_computes_eager(row, data):
    case = draw_case(data, row)
    eager = np.asarray(bind(row, case, *case.args))
    closed = fungrad.make_jaxpr(lambda *args: bind(row, case, *args))(*case.args)
    assert [eqn.primitive for eqn in closed.eqns] == [row.primitive]
    assert_same_aval(eager, closed.out_avals[0], "the staged output's aval")
    (staged,) = core.eval_jaxpr(closed.jaxpr, closed.consts, *case.args)
    staged = np.asarray(staged)
    assert (staged.shape, staged.dtype) == (eager.shape, eager.dtype)
    np.testing.assert_array_equal(staged, eager)


# ---------------------------------------------------------------------------------------
# 2. The shape/dtype rule against the implementation


@rows(ROWS)
@pytest.mark.parametrize("dtype", [F64, F32], ids=["f64", "f32"])
@examples(0.2)
@given(data=st.data())
def test_abstract_eval_matches_impl(row, dtype, data):
    case = draw_case(data, row, dtype)
    avals = row.primitive.abstract_eval(*map(get_aval, case.args), **case.params)
    aval = single(row, case, avals)
    out = single(row, case, row.primitive.impl(*case.args, **case.params))
    assert_same_aval(out, aval, "impl vs abstract_eval")
    assert not aval.weak_type
    if row.keeps_dtype:
        assert aval.dtype == dtype
    assert aval.dtype.kind == row.out_kind


@rows([row for row in ROWS if row.promotes])
@examples(0.3)
@given(data=st.data())
def test_abstract_eval_promotes_mixed_float_operands_as_numpy_does(row, data):
    case = draw_case(data, row)
    float_args = [i for i, a in enumerate(case.args) if a.dtype == F64]
    lowered = data.draw(st.sampled_from(float_args), label="float32 operand")
    args = tuple(a.astype(F32) if i == lowered else a for i, a in enumerate(case.args))
    aval = row.primitive.abstract_eval(*map(get_aval, args), **case.params)
    assert_same_aval(row.primitive.impl(*args, **case.params), aval, "impl vs abstract_eval")


@rows([row for row in ROWS if row.elementwise])
@examples(0.2)
@given(data=st.data())
def test_python_scalar_operands_are_weakly_typed(row, data):
    """``float32_array op 2.0`` stays float32, eagerly and staged, as in NumPy."""
    case = draw_case(data, row, F32)
    float_args = [i for i, a in enumerate(case.args) if a.dtype == F32]
    i = data.draw(st.sampled_from(float_args), label="scalar operand")
    scalar = float(case.args[i].flat[0])
    others = tuple(a for j, a in enumerate(case.args) if j != i)

    def f(*rest):
        args = list(rest)
        args.insert(i, scalar)
        return bind(row, case, *args)

    eager = np.asarray(f(*others))
    expected = np.asarray(row.reference(Case(_insert(others, i, scalar), case.params)))
    assert (eager.shape, eager.dtype) == (expected.shape, expected.dtype)
    if row.keeps_dtype and others:
        assert eager.dtype == F32
    closed = fungrad.make_jaxpr(f)(*others)
    assert_same_aval(eager, closed.out_avals[0].strip_weak_type(), "staged with a Python scalar")


def _insert(values: tuple, i: int, value: Any) -> tuple:
    return (*values[:i], value, *values[i:])


# ---------------------------------------------------------------------------------------
# 3. Forward mode


@rows(FORWARD)
@examples(0.4)
@given(data=st.data())
def test_jvp_matches_central_differences(row, data):
    case = draw_case(data, row)
    rng = draw_rng(data)
    f, xs = restrict(row, case, present(row.diff, case))
    ts = tuple(random_like(rng, x) for x in xs)
    out, t_out = fungrad.jvp(f, xs, ts)
    np.testing.assert_array_equal(out, f(*xs))
    assert (np.shape(t_out), np.asarray(t_out).dtype) == (np.shape(out), np.asarray(out).dtype)
    expected = numerical_jvp(f, xs, ts, eps=row.fd_eps)
    np.testing.assert_allclose(t_out, expected, rtol=FD_RTOL, atol=FD_ATOL)


@rows(FORWARD)
@examples(0.25)
@given(data=st.data())
def test_jvp_in_float32_stays_float32_and_agrees_with_float64(row, data):
    case = draw_case(data, row, F32)
    rng = draw_rng(data)
    which = present(row.diff, case)
    f32, xs32 = restrict(row, case, which)
    ts32 = tuple(random_like(rng, x) for x in xs32)
    out32, t32 = fungrad.jvp(f32, xs32, ts32)
    assert np.asarray(t32).dtype == np.asarray(out32).dtype
    if row.keeps_dtype:
        assert np.asarray(t32).dtype == F32
    f64, xs64 = restrict(row, recast(row, case, F64), which)
    _, t64 = fungrad.jvp(f64, xs64, tuple(t.astype(F64) for t in ts32))
    scale = np.max(np.abs(t64), initial=1.0)
    np.testing.assert_allclose(t32, t64, rtol=F32_RTOL, atol=F32_ATOL * scale)


@pytest.mark.parametrize("name", ["max", "min"])
@given(data=st.data())
def test_max_and_min_split_the_derivative_evenly_at_ties(name, data):
    x = data.draw(hnp.arrays(F64, shapes(), elements=_floats(F64, -3, 3)), label="x")
    rng = draw_rng(data)
    tx, ty = random_like(rng, x), random_like(rng, x)
    prim = core.primitives[name]
    _, t_out = fungrad.jvp(lambda a, b: prim.bind(a, b), (x, x.copy()), (tx, ty))
    np.testing.assert_allclose(t_out, (tx + ty) / 2, rtol=1e-15)


@pytest.mark.parametrize("name", ["reduce_max", "reduce_min"])
@given(data=st.data())
def test_reduce_max_and_min_average_the_tangent_over_ties(name, data):
    shape = data.draw(shapes(min_dims=1), label="shape")
    axes = data.draw(_axes_mask(len(shape)), label="axes")
    rng = draw_rng(data)
    x = np.full(shape, 1.5)
    t = random_like(rng, x)
    prim = core.primitives[name]
    _, t_out = fungrad.jvp(lambda a: prim.bind(a, axes=axes), (x,), (t,))
    np.testing.assert_allclose(t_out, np.mean(t, axis=axes), rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------------------
# 4. Reverse mode


@rows(REVERSE)
@examples(0.4)
@given(data=st.data())
def test_vjp_matches_central_differences(row, data):
    """``<vjp(c), t> == <c, J t>`` with ``J t`` from central differences."""
    case = draw_case(data, row)
    rng = draw_rng(data)
    f, xs = restrict(row, case, present(row.diff, case))
    out, f_vjp = fungrad.vjp(f, *xs)
    c = random_like(rng, out)
    cts = f_vjp(c)
    for ct, x in zip(cts, xs, strict=True):
        assert_same_aval(ct, get_aval(x), "cotangent")
    ts = tuple(random_like(rng, x) for x in xs)
    jt = numerical_jvp(f, xs, ts, eps=row.fd_eps)
    lhs, rhs = inner(cts, ts), inner([c], [jt])
    assert_close_products(
        lhs, rhs, inner_scale([c], [jt]), FD_RTOL, FD_ATOL, "<vjp(c), t> vs <c, J t>"
    )


@rows(BOTH_MODES)
@examples(0.3)
@given(data=st.data())
def test_vjp_is_the_transpose_of_jvp(row, data):
    """``<vjp(c), t> == <c, jvp(t)>`` to rounding."""
    case = draw_case(data, row)
    rng = draw_rng(data)
    f, xs = restrict(row, case, present(row.diff, case))
    out, f_vjp = fungrad.vjp(f, *xs)
    c = random_like(rng, out)
    ts = tuple(random_like(rng, x) for x in xs)
    _, jt = fungrad.jvp(f, xs, ts)
    cts = f_vjp(c)
    lhs, rhs = inner(cts, ts), inner([c], [jt])
    scale = inner_scale(cts, ts) + inner_scale([c], [jt])
    rtol = EXACT_RTOL if np.asarray(out).dtype == F64 else 1e-6
    assert_close_products(lhs, rhs, scale, rtol, 0.0, "<vjp(c), t> vs <c, jvp(t)>")


# ---------------------------------------------------------------------------------------
# 5. Transposition of linear primitives


@pytest.mark.parametrize(
    ("row", "group"), LINEAR, ids=[f"{row.name}-{list(group)}" for row, group in LINEAR]
)
@examples(0.4)
@given(data=st.data())
def test_linear_transpose_satisfies_the_inner_product_identity(row, group, data):
    """``<A x, y> == <x, Aᵀ y>``, and A is linear in the operands the table says."""
    case = draw_case(data, row)
    rng = draw_rng(data)
    a, xs = restrict(row, case, present(group, case))
    x = tuple(random_like(rng, v) for v in xs)
    x2 = tuple(random_like(rng, v) for v in xs)
    ax = np.asarray(a(*x))
    y = random_like(rng, ax)
    a_t = fungrad.linear_transpose(a, *xs)(y)
    assert len(a_t) == len(xs)
    for ct, v in zip(a_t, xs, strict=True):
        assert_same_aval(ct, get_aval(v), "transposed cotangent")
    exact = ax.dtype == F64
    lhs, rhs = inner([ax], [y]), inner(x, a_t)
    scale = inner_scale([ax], [y]) + inner_scale(x, a_t)
    rtol = EXACT_RTOL if exact else 1e-6
    assert_close_products(lhs, rhs, scale, rtol, 0.0, "<A x, y> vs <x, Aᵀ y>")
    # Linearity: A(2x - x2) == 2 A x - A x2, up to rounding relative to the terms.
    ax2 = np.asarray(a(*x2))
    combined = a(*(2.0 * u - v for u, v in zip(x, x2)))
    terms = np.max(2 * np.abs(ax) + np.abs(ax2), initial=1.0)
    np.testing.assert_allclose(combined, 2.0 * ax - ax2, rtol=0, atol=rtol * terms)


# ---------------------------------------------------------------------------------------
# 6. Second order


@rows(FORWARD)
@examples(0.25)
@given(data=st.data())
def test_jvp_of_jvp_matches_central_differences_of_jvp(row, data):
    case = draw_case(data, row)
    rng = draw_rng(data)
    f, xs = restrict(row, case, present(row.diff, case))
    ts = tuple(random_like(rng, x) for x in xs)
    ss = tuple(random_like(rng, x) for x in xs)

    def f_jvp(*primals):
        return fungrad.jvp(f, primals, ts)[1]

    _, second = fungrad.jvp(f_jvp, xs, ss)
    expected = numerical_jvp(f_jvp, xs, ss, eps=row.fd_eps)
    np.testing.assert_allclose(second, expected, rtol=FD_RTOL, atol=FD_ATOL)


@rows(REVERSE)
@examples(0.25)
@given(data=st.data())
def test_grad_of_grad_matches_central_differences_of_grad(row, data):
    """Reverse over reverse on ``<w, grad <c, f>>``, against central differences of grad."""
    case = draw_case(data, row)
    rng = draw_rng(data)
    which = present(row.diff, case)
    f, xs = restrict(row, case, which)
    c = random_like(rng, f(*xs))
    ws = tuple(random_like(rng, x) for x in xs)
    argnums = tuple(range(len(xs)))
    first = fungrad.grad(scalarised(f, c), argnums=argnums)

    def h(*primals):
        return sum(dot(g, w) for g, w in zip(first(*primals), ws, strict=True))

    hessian_w = fungrad.grad(h, argnums=argnums)(*xs)
    ss = tuple(random_like(rng, x) for x in xs)
    expected = numerical_jvp(h, xs, ss, eps=row.fd_eps)
    lhs, rhs = inner(hessian_w, ss), float(expected)
    assert_close_products(
        lhs,
        rhs,
        inner_scale(hessian_w, ss),
        FD_RTOL,
        FD_ATOL,
        "<grad <w, grad <c, f>>, s> vs numerical",
    )


@rows(DIFFERENTIABLE)
@examples(0.15)
@given(data=st.data())
def test_check_grads_to_second_order(row, data):
    case = draw_case(data, row)
    f, xs = restrict(row, case, present(row.diff, case))
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    modes = ("fwd",) * row.forward_mode + ("rev",) * row.reverse_mode
    check_grads(f, xs, order=2, modes=modes, eps=row.fd_eps, seed=seed)


@rows([row for row in DIFFERENTIABLE if not row.forward_mode])
@given(data=st.data())
def test_forward_mode_of_a_reverse_mode_only_primitive_raises(row, data):
    case = draw_case(data, row)
    f, xs = restrict(row, case, present(row.diff, case))
    with pytest.raises(TypeError, match="can't apply forward-mode autodiff"):
        fungrad.jvp(f, xs, xs)


# What reverse mode through a forward-mode-only primitive raises.
FORWARD_MODE_ONLY_ERRORS = {
    "while": r"^Reverse-mode differentiation \(grad, vjp, jacrev\) does not work through "
    r"lax\.while_loop, .* Use lax\.fori_loop .*, or lax\.scan with a fixed length",
}


@rows([row for row in DIFFERENTIABLE if not row.reverse_mode])
@given(data=st.data())
def test_reverse_mode_of_a_forward_mode_only_primitive_raises(row, data):
    """vjp, and grad, raise an error that says why and what to use instead."""
    case = draw_case(data, row)
    rng = draw_rng(data)
    f, xs = restrict(row, case, present(row.diff, case))
    out, f_vjp = fungrad.vjp(f, *xs)
    with pytest.raises(NonLinearError, match=FORWARD_MODE_ONLY_ERRORS[row.name]):
        f_vjp(random_like(rng, out))
    argnums = tuple(range(len(xs)))
    with pytest.raises(NonLinearError, match=FORWARD_MODE_ONLY_ERRORS[row.name]):
        fungrad.grad(scalarised(f, random_like(rng, out)), argnums=argnums)(*xs)


@rows(FORWARD)
@examples(0.25)
@given(data=st.data())
def test_linearize_evaluates_jvp(row, data):
    """The linear function linearize returns (partial evaluation: the primal part
    computed now, the tangent part staged) gives jvp's output and tangents, again
    for a second tangent."""
    case = draw_case(data, row)
    rng = draw_rng(data)
    f, xs = restrict(row, case, present(row.diff, case))
    out, f_lin = fungrad.linearize(f, *xs)
    np.testing.assert_array_equal(out, f(*xs))
    for _ in range(2):
        ts = tuple(random_like(rng, x) for x in xs)
        _, expected = fungrad.jvp(f, xs, ts)
        assert_same_result(f_lin(*ts), expected, "linearize against jvp")


# ---------------------------------------------------------------------------------------
# 7. Primitives without derivatives


@rows(NON_DIFFERENTIABLE)
@given(data=st.data())
def test_no_derivative_means_a_symbolic_zero_tangent(row, data):
    case = draw_case(data, row)
    rng = draw_rng(data)
    f, _ = restrict(row, case, tuple(range(len(case.args))))
    tangents = [
        random_like(rng, a) if dtypes.is_differentiable(a.dtype) else Zero(get_aval(a))
        for a in case.args
    ]
    (out,), (t_out,) = jvp_flat(lambda *args: [f(*args)], case.args, tangents)
    assert type(t_out) is Zero, f"{row.name}'s tangent is {t_out!r}, not a symbolic zero"
    assert np.asarray(out).dtype.kind == row.out_kind
    if row.out_kind == "f":
        assert np.asarray(out).dtype == case.args[0].dtype
    tangent_avals = [get_aval(a) if dtypes.is_differentiable(a.dtype) else None for a in case.args]
    _, linear, zero_outs = linearize_flat(lambda *args: [f(*args)], case.args, tangent_avals)
    assert zero_outs == [True] and not linear.eqns, str(linear)
    if row.piecewise_constant:
        np.testing.assert_array_equal(numerical_jvp(f, case.args, tuple(tangents)), 0.0)


@rows(NON_DIFFERENTIABLE)
@given(data=st.data())
def test_no_derivative_means_zero_cotangents(row, data):
    case = draw_case(data, row)
    rng = draw_rng(data)
    f, _ = restrict(row, case, tuple(range(len(case.args))))
    out, f_vjp = fungrad.vjp(f, *case.args)
    if dtypes.is_differentiable(np.asarray(out).dtype):
        c = random_like(rng, out)
    else:
        c = np.zeros(np.shape(out), dtypes.float0)
    for ct, a in zip(f_vjp(c), case.args, strict=True):
        assert np.shape(ct) == a.shape
        if dtypes.is_differentiable(a.dtype):
            np.testing.assert_array_equal(ct, 0.0)


@given(
    x=hnp.arrays(F64, shapes(), elements=_floats(F64, -3, 3)),
    new_dtype=st.sampled_from([np.dtype(np.int32), np.dtype(np.int64), BOOL]),
)
def test_converting_to_integer_or_bool_has_no_derivative(x, new_dtype):
    convert = core.primitives["convert_element_type"]
    (out,), (t_out,) = jvp_flat(
        lambda v: [convert.bind(v, new_dtype=new_dtype)], [x], [np.ones_like(x)]
    )
    assert np.asarray(out).dtype == new_dtype
    assert type(t_out) is Zero


# ---------------------------------------------------------------------------------------
# 8. Batching: vmap against a loop over examples
#
# A batch is several examples of one case: the same shapes, dtypes and params, other
# values. Levels of vmap are drawn outermost first; an operand mapped at some levels
# takes one value per index at those levels and shares it along the others.


class Examples:
    """New operand values for one case: same shapes, dtypes and params, other values.

    A floating or boolean operand takes its elements from the same operand of the case
    and of another case the row's strategy draws, so they stay in the operand's domain.
    Integer operands are index arrays, valid only for the dimension they index: their
    elements are resampled from their own; except in rows whose integers are valid at
    any value (``free_integers``: a clamped index, a loop bound), where they are
    taken from the other case too, so that examples of a batch choose different
    branches and run different numbers of steps.
    """

    def __init__(self, data: st.DataObject, row: Row, case: Case, dtype: np.dtype):
        other = data.draw(row.cases(dtype), label="another case")
        self.rng = draw_rng(data)
        self.case = case
        self.pools = []
        for i, a in enumerate(case.args):
            sources = [a]
            if (a.dtype.kind not in "iu" or row.free_integers) and i < len(other.args):
                sources.append(other.args[i])
            self.pools.append(np.concatenate([s.ravel() for s in sources if s.dtype == a.dtype]))

    def operand(self, i: int) -> np.ndarray:
        base = self.case.args[i]
        if base.size == 0:
            return base.copy()
        pool = self.pools[i]
        return np.asarray(pool[self.rng.integers(0, pool.size, size=base.shape)])

    def operands(self) -> tuple[np.ndarray, ...]:
        return tuple(self.operand(i) for i in range(len(self.case.args)))


@dataclasses.dataclass(frozen=True)
class Level:
    """One vmap: the batch size, each operand's mapped axis (None: not mapped), and
    where the mapped axis goes in the output."""

    size: int
    in_axes: tuple[int | None, ...]
    out_axis: int


def draw_levels(
    data: st.DataObject, case: Case, out_ndim: int, mapped: list[list[bool]]
) -> list[Level]:
    """Axes for vmap levels (outermost first); ``mapped[l][i]``: operand i is mapped at
    level l. An axis may be negative and counts the dimensions of the array that level
    sees, which has the batch axes of this level and the levels inside it."""
    depth = len(mapped)
    levels = []
    for l, mask in enumerate(mapped):
        in_axes = []
        for i, a in enumerate(case.args):
            ndim = a.ndim + sum(mapped[m][i] for m in range(l, depth))
            in_axes.append(data.draw(st.integers(-ndim, ndim - 1)) if mask[i] else None)
        out_ndim_here = out_ndim + depth - l
        level = Level(
            size=data.draw(st.integers(1, 3)),
            in_axes=tuple(in_axes),
            out_axis=data.draw(st.integers(-out_ndim_here, out_ndim_here - 1)),
        )
        note(f"vmap level {l}: {level}")
        levels.append(level)
    return levels


def draw_mapped(data: st.DataObject, n_operands: int, depth: int) -> list[list[bool]]:
    """Which operands each level maps: a random subset, never empty."""
    mapped = []
    for _ in range(depth):
        mask = data.draw(st.lists(st.booleans(), min_size=n_operands, max_size=n_operands))
        mask[data.draw(st.integers(0, n_operands - 1))] = True
        mapped.append(mask)
    return mapped


class Batch:
    """The batched operands for some levels of vmap, and the loop that is their meaning."""

    def __init__(self, row: Row, case: Case, examples: Examples, levels: list[Level]):
        self.row = row
        self.case = case
        self.examples = examples
        self.levels = levels
        self.values: list[dict[tuple[int, ...], np.ndarray]] = [{} for _ in case.args]

    def example_operand(self, i: int, index: tuple[int, ...]) -> np.ndarray:
        """Operand i of the example at ``index`` (one entry per level): the case's own
        value for the first example, a fresh one for each other index it is mapped by."""
        key = tuple(j for j, level in zip(index, self.levels) if level.in_axes[i] is not None)
        if not any(key):
            return self.case.args[i]
        if key not in self.values[i]:
            self.values[i][key] = self.examples.operand(i)
        return self.values[i][key]

    def operand(self, i: int, index: tuple[int, ...] = ()) -> np.ndarray:
        """Operand i as the vmap levels from ``len(index)`` inwards take it."""
        if len(index) == len(self.levels):
            return self.example_operand(i, index)
        level = self.levels[len(index)]
        if level.in_axes[i] is None:
            return self.operand(i, (*index, 0))
        parts = [self.operand(i, (*index, j)) for j in range(level.size)]
        return np.stack(parts, axis=level.in_axes[i])

    def operands(self) -> tuple[np.ndarray, ...]:
        return tuple(self.operand(i) for i in range(len(self.case.args)))

    def expected(self, index: tuple[int, ...] = ()) -> np.ndarray:
        """The loop: each example's result, stacked at each level's out_axis."""
        if len(index) == len(self.levels):
            args = [self.example_operand(i, index) for i in range(len(self.case.args))]
            return np.asarray(bind(self.row, self.case, *args))
        level = self.levels[len(index)]
        parts = [self.expected((*index, j)) for j in range(level.size)]
        return np.stack(parts, axis=level.out_axis)

    def vmapped(self) -> Callable:
        f = lambda *ops: bind(self.row, self.case, *ops)
        for level in reversed(self.levels):
            f = fungrad.vmap(f, in_axes=level.in_axes, out_axes=level.out_axis)
        return f


def draw_batch(data: st.DataObject, row: Row, depth: int, mapped=None) -> Batch:
    dtype = data.draw(st.sampled_from([F64, F32]), label="dtype")
    case = draw_case(data, row, dtype)
    assert len(case.args) == 1 or row.several_operands, (
        f"'{row.name}' drew several operands: set several_operands=True in its row"
    )
    if mapped is None:
        mapped = draw_mapped(data, len(case.args), depth)
    out_ndim = np.ndim(bind(row, case, *case.args))
    levels = draw_levels(data, case, out_ndim, mapped)
    return Batch(row, case, Examples(data, row, case, dtype), levels)


def assert_same_result(out: Any, expected: Any, what: str) -> None:
    """Same shape and dtype, and the same values up to rounding (a batched reduction or
    contraction may sum in another order than the loop)."""
    out, expected = np.asarray(out), np.asarray(expected)
    assert (out.shape, out.dtype) == (expected.shape, expected.dtype), (
        f"{what}: got {out.dtype}{list(out.shape)}, expected {expected.dtype}"
        f"{list(expected.shape)}"
    )
    if expected.dtype.kind != "f":
        np.testing.assert_array_equal(out, expected, err_msg=what)
        return
    rtol = 1e-13 if expected.dtype == F64 else 1e-6
    scale = np.max(np.abs(expected), initial=1.0, where=np.isfinite(expected))
    np.testing.assert_allclose(
        out, expected, rtol=rtol, atol=rtol * scale, equal_nan=True, err_msg=what
    )


@rows(WITH_OPERANDS)
@examples(0.25)
@given(data=st.data())
def test_vmap_equals_stacking_a_loop_over_examples(row, data):
    """Any batch size (1 included), any operands mapped at any axis (negative included),
    the others unmapped, any out_axes."""
    batch = draw_batch(data, row, depth=1)
    out = batch.vmapped()(*batch.operands())
    assert_same_result(out, batch.expected(), "vmap against the loop")


@rows(WITH_OPERANDS)
@examples(0.2)
@given(data=st.data())
def test_vmap_of_vmap_equals_a_double_loop(row, data):
    """Two batch axes; each level maps its own operands at its own axes."""
    batch = draw_batch(data, row, depth=2)
    out = batch.vmapped()(*batch.operands())
    assert_same_result(out, batch.expected(), "vmap of vmap against the double loop")


@rows(WITH_OPERANDS)
@examples(0.25)
@given(data=st.data())
def test_batching_rule_applied_directly_gives_the_output_and_its_batch_dim(row, data):
    """``batch(values, dims, **params) -> (out, out_dim)``, with the dims vmap passes
    (non-negative), on concrete arrays."""
    batch = draw_batch(data, row, depth=1)
    (level,) = batch.levels
    values = list(batch.operands())
    dims = [
        None if axis is None else axis % np.ndim(value)
        for axis, value in zip(level.in_axes, values)
    ]
    out, out_dim = batch_rules[row.primitive](values, dims, **batch.case.params)
    out, out_dim = single(row, batch.case, out), single(row, batch.case, out_dim)
    assert isinstance(out, np.ndarray | np.generic), f"the rule returned {type(out).__name__}"
    assert type(out_dim) is int and 0 <= out_dim < np.ndim(out), (
        f"out_dim {out_dim!r} for an output of shape {np.shape(out)}"
    )
    assert np.shape(out)[out_dim] == level.size
    expected = np.moveaxis(batch.expected(), level.out_axis, 0)
    assert_same_result(np.moveaxis(out, out_dim, 0), expected, "the batching rule's output")


# Rows whose batching rule must broadcast an unbatched operand, and which operands
# (of the case):
# - concatenate: the result holds the unbatched operand's values once per example, so
#   they have to be copied along the batch axis (JAX broadcasts here too);
# - scatter_add: with batched index arrays each example adds the same updates at its
#   own places, and the batched scatter needs updates of the full indexed shape, the
#   shape its transpose (a gather) produces; index arrays are never broadcast.
# - scan (operand 2) and while (operands 3 and 4): a carry that a batched operand
#   makes batched in the loop has to start batched, so its initial value is broadcast
#   (JAX broadcasts here too); while's counter too when the condition is batched.
# - cond with one branch: its result does not depend on the index, so with only the
#   index batched it holds the unbatched result once per example, as concatenate.
# select is not exempt: unlike lax.select it broadcasts its operands as NumPy does,
# so an unbatched predicate or branch can stay as it is; nor is cond with several
# branches, which can choose among them with select.
BROADCASTS_UNBATCHED: dict[str, Callable[[Case, int], bool]] = {
    "concatenate": lambda case, i: True,
    "scatter_add": lambda case, i: i == 0,
    "scan": lambda case, i: i == 2,
    "while": lambda case, i: i in (3, 4),
    "cond": lambda case, i: len(case.params["branches"]) == 1,
}


def _subprogram_inputs(eqn: core.Eqn) -> list[tuple[core.ClosedJaxpr, list[Any]]]:
    """Each sub-program of ``eqn``, with the equation's inputs its inputs receive:
    cond's branches take the operands after the index, while's condition its own
    constants and the carries and its body the rest; other bodies take them all."""
    inputs, params = list(eqn.inputs), eqn.params
    if eqn.primitive.name == "cond":
        return [(branch, inputs[1:]) for branch in params["branches"]]
    if eqn.primitive.name == "while":
        n_cond, n_body = params["cond_nconsts"], params["body_nconsts"]
        carry = inputs[n_cond + n_body :]
        return [
            (params["cond_jaxpr"], inputs[:n_cond] + carry),
            (params["body_jaxpr"], inputs[n_cond:]),
        ]
    return [(body, inputs) for body in core.subjaxprs(params)]


def _broadcasts_of_unbatched(jaxpr: core.Jaxpr, batched: set, unbatched: set) -> list[core.Eqn]:
    """The broadcast_in_dim equations whose operand is computed from ``unbatched``
    variables (and constants) but not from ``batched`` ones; the bodies of calls, and
    the sub-programs of control flow, are searched too. Variables in neither set
    (exempt operands) are treated like constants."""
    batched, unbatched = set(batched), set(unbatched)
    found = []
    for eqn in jaxpr.eqns:
        inputs = [v for v in eqn.inputs if type(v) is core.Var]
        if any(v in batched for v in inputs):
            batched.update(eqn.outputs)
            continue
        if not any(v in unbatched for v in inputs):
            continue
        unbatched.update(eqn.outputs)
        if eqn.primitive.name == "broadcast_in_dim":
            found.append(eqn)
    for eqn in jaxpr.eqns:
        for body, body_inputs in _subprogram_inputs(eqn):
            pairs = list(zip(body_inputs, body.jaxpr.invars))
            found += _broadcasts_of_unbatched(
                body.jaxpr,
                {b for a, b in pairs if a in batched},
                {b for a, b in pairs if a in unbatched},
            )
    return found


def draw_case_with_several_operands(data: st.DataObject, row: Row) -> Case:
    """A case with two or more operands. gather and scatter_add often draw an index
    without index arrays (one operand): drawing again rather than filtering keeps
    hypothesis from rejecting most inputs."""
    for _ in range(20):
        case = draw_case(data, row)
        if len(case.args) >= 2:
            return case
    reject()  # practically never: 20 draws in a row without index arrays


@rows([row for row in ROWS if row.several_operands])
@examples(0.2)
@given(data=st.data())
def test_vmap_leaves_unbatched_operands_unbatched(row, data):
    """With one operand batched, the batched program broadcasts none of the others (or
    anything computed from them alone), except where the row needs it (see
    BROADCASTS_UNBATCHED)."""
    case = draw_case_with_several_operands(data, row)
    chosen = data.draw(st.integers(0, len(case.args) - 1), label="the batched operand")
    mapped = [[i == chosen for i in range(len(case.args))]]
    out_ndim = np.ndim(bind(row, case, *case.args))
    batch = Batch(
        row, case, Examples(data, row, case, F64), draw_levels(data, case, out_ndim, mapped)
    )
    closed = fungrad.make_jaxpr(batch.vmapped())(*batch.operands())
    exempt = BROADCASTS_UNBATCHED.get(row.name, lambda case, i: False)
    invars = closed.jaxpr.invars
    unbatched = {v for i, v in enumerate(invars) if i != chosen and not exempt(case, i)}
    found = _broadcasts_of_unbatched(closed.jaxpr, {invars[chosen]}, unbatched)
    assert not found, (
        f"'{row.name}' batched in operand {chosen} only broadcasts an unbatched value:\n{closed}"
    )


# ---------------------------------------------------------------------------------------
# 9. jit against eager


@rows(ROWS)
@examples(0.2)
@given(data=st.data())
def test_jit_computes_eager_and_again_on_new_values(row, data):
    """One trace serves new values of the same shapes; reused buffers never corrupt a
    result already returned, nor the arguments."""
    dtype = data.draw(st.sampled_from([F64, F32]), label="dtype")
    case = draw_case(data, row, dtype)
    new_args = Examples(data, row, case, dtype).operands()
    jitted = fungrad.jit(lambda *ops: bind(row, case, *ops))
    first = jitted(*case.args)
    assert_same_result(first, bind(row, case, *case.args), "jit against eager")
    first_kept = np.array(first, copy=True)
    new_kept = [a.copy() for a in new_args]
    second = jitted(*new_args)
    assert_same_result(second, bind(row, case, *new_args), "jit against eager, second call")
    assert jitted.trace_count == 1
    np.testing.assert_array_equal(first, first_kept, err_msg="the first result changed")
    for a, kept in zip(new_args, new_kept):
        np.testing.assert_array_equal(a, kept, err_msg="an argument changed")


@rows(FORWARD)
@examples(0.2)
@given(data=st.data())
def test_jvp_of_jit_equals_eager(row, data):
    case = draw_case(data, row)
    rng = draw_rng(data)
    f, xs = restrict(row, case, present(row.diff, case))
    ts = tuple(random_like(rng, x) for x in xs)
    out, t_out = fungrad.jvp(f, xs, ts)
    jit_out, jit_t_out = fungrad.jvp(fungrad.jit(f), xs, ts)
    assert_same_result(jit_out, out, "jvp of jit: the primal output")
    assert_same_result(jit_t_out, t_out, "jvp of jit: the tangent")


@rows(REVERSE)
@examples(0.2)
@given(data=st.data())
def test_grad_of_jit_and_jit_of_grad_equal_eager(row, data):
    case = draw_case(data, row)
    rng = draw_rng(data)
    f, xs = restrict(row, case, present(row.diff, case))
    c = random_like(rng, f(*xs))
    argnums = tuple(range(len(xs)))
    grads = fungrad.grad(scalarised(f, c), argnums=argnums)(*xs)
    grads_of_jit = fungrad.grad(scalarised(fungrad.jit(f), c), argnums=argnums)(*xs)
    jit_of_grads = fungrad.jit(fungrad.grad(scalarised(f, c), argnums=argnums))(*xs)
    for i, g in enumerate(grads):
        assert_same_result(grads_of_jit[i], g, f"grad of jit, operand {i}")
        assert_same_result(jit_of_grads[i], g, f"jit of grad, operand {i}")


# ---------------------------------------------------------------------------------------
# Completeness: a primitive without a row, or without a rule it needs, is a red test


def _builtin_primitives() -> list[str]:
    """The primitives ``import fungrad`` registers, in a fresh interpreter: users' own
    (tests/test_extend.py, docs/extend.md) register more in this one."""
    out = subprocess.run(
        [sys.executable, "-c", "import fungrad; print(*sorted(fungrad.core.primitives))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


BUILTIN_PRIMITIVES = _builtin_primitives()


def test_every_registered_primitive_has_a_row():
    registered = set(BUILTIN_PRIMITIVES)
    missing = sorted(registered - set(ROW_BY_NAME))
    unknown = sorted(set(ROW_BY_NAME) - registered)
    assert not missing, (
        f"primitives without a row in tests/primitive_table.py or a rows_*.py module: {missing}"
    )
    assert not unknown, f"rows for primitives that are not registered: {unknown}"
    assert len(ROW_BY_NAME) == len(ROWS), "a primitive has two rows"


@pytest.mark.parametrize("name", BUILTIN_PRIMITIVES)
def test_every_registered_primitive_has_impl_shape_jvp_and_batching_rules(name):
    prim = core.primitives[name]
    rules = {
        "impl": prim.impl,
        "abstract_eval": prim.abstract_eval,
        "jvp": jvp_rules.get(prim),
        "batch": batch_rules.get(prim),
    }
    for rule, found in rules.items():
        assert callable(found), f"primitive '{name}' has no {rule} rule"


@rows(ROWS)
def test_transpose_rule_exactly_where_the_row_declares_linearity(row):
    """A forward-mode-only primitive is linear in nothing; the transpose rule it may
    have only raises (test_reverse_mode_of_a_forward_mode_only_primitive_raises)."""
    has_rule = row.primitive in transpose_rules
    if not row.reverse_mode:
        assert not row.linear, f"'{row.name}' has no reverse mode, so no transposition"
    else:
        assert has_rule == bool(row.linear), (
            f"'{row.name}': transpose rule {'present' if has_rule else 'missing'}, but its "
            f"row declares linear operand groups {row.linear}"
        )
    assert all(i in row.diff for group in row.linear for i in group)
