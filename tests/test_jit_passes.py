"""Tests for jit's simplification passes (fungrad/jit/simplify.py) and its code generator
(fungrad/jit/codegen.py), on random programs.

A hypothesis strategy draws a program as a list of steps over a pool of values: unary
and binary elementwise operations, broadcasting, identities (``x * 1``, ``x + 0``, a
reshape to the same shape, ...), repeated subexpressions, dead values, views (transpose,
reshape, broadcast, slicing) and calls of nested jitted functions, some with constant
operands. ``make_jaxpr`` stages the program; then, for each pass:

- ``eval_jaxpr`` of the result equals ``eval_jaxpr`` of the original (the pass keeps
  the program's meaning), and the result is a well-formed program;
- the pass does what it claims (no call left after inlining, no foldable equation after
  constant folding, no identity after forwarding, no duplicate after CSE, no dead
  equation after DCE), and never adds equations (except inlining).

The generated code equals ``eval_jaxpr`` on the same programs, before and after
simplification, across two calls with different inputs (so buffers reused with
``out=`` never leak between calls or into views of intermediates).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import fungrad.numpy as fnp
from fungrad import ClosedJaxpr, eval_jaxpr, jit, make_jaxpr
from fungrad.core import Literal, Primitive, ShapedArray, Var, primitives, subjaxprs
from fungrad.interpreters.simplify_rules import identity_rules
from fungrad.jit.codegen import ModuleWriter, generate
from fungrad.jit.lowering import Emitted, LoweringContext, Operand, lowering_rule, lowerings
from fungrad.jit.schedule import Schedule
from fungrad.jit.simplify import (
    broadcast_implicitly,
    eliminate_common_subexpressions,
    eliminate_dead_code,
    fold_constants,
    forward_identities,
    inline_calls,
    simplify,
    simplify_subprograms,
)
from fungrad.lax import dot_general
from fungrad.matrix_layouts import MATRIX_PRODUCT_LAYOUTS

PASSES = {
    "inline_calls": inline_calls,
    "simplify_subprograms": simplify_subprograms,
    "fold_constants": fold_constants,
    "forward_identities": forward_identities,
    "eliminate_common_subexpressions": eliminate_common_subexpressions,
    "eliminate_dead_code": eliminate_dead_code,
    "broadcast_implicitly": broadcast_implicitly,
    "simplify": simplify,
}


def assert_same_outputs(actual: list[Any], expected: list[Any]) -> None:
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        a, e = np.asarray(a), np.asarray(e)
        assert a.shape == e.shape, (a.shape, e.shape)
        assert a.dtype == e.dtype, (a.dtype, e.dtype)
        rtol = 1e-5 if a.dtype == np.float32 else 1e-12
        assert_allclose(a, e, rtol=rtol, atol=rtol)


def assert_same_bits(actual: list[Any], expected: list[Any]) -> None:
    """Same types, dtypes and shapes, and bit for bit the same values: 0.0 is not -0.0."""
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert type(a) is type(e), (type(a), type(e))
        a, e = np.asarray(a), np.asarray(e)
        assert (a.shape, a.dtype) == (e.shape, e.dtype), (a.shape, a.dtype, e.shape, e.dtype)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(e))
        np.testing.assert_array_equal(np.copysign(1.0, a), np.copysign(1.0, e))
        same = np.isnan(a) | (a == e)
        assert same.all(), (a, e)


def run(closed: ClosedJaxpr, *args: Any) -> list[Any]:
    return eval_jaxpr(closed.jaxpr, closed.consts, *args)


def names(closed: ClosedJaxpr) -> list[str]:
    return [e.primitive.name for e in closed.eqns]


def assert_well_formed(closed: ClosedJaxpr) -> None:
    """Every variable is bound once, before it is read; consts match constvars."""
    jaxpr = closed.jaxpr
    assert len(closed.consts) == len(jaxpr.constvars)
    bound: set[int] = set()

    def bind(v: Var) -> None:
        assert type(v) is Var and id(v) not in bound, "a variable is bound twice"
        bound.add(id(v))

    for v in jaxpr.constvars + jaxpr.invars:
        bind(v)
    for eqn in jaxpr.eqns:
        for a in eqn.inputs:
            assert type(a) is Literal or id(a) in bound, f"{eqn.primitive} reads an unbound var"
        for v in eqn.outputs:
            bind(v)
    for a in jaxpr.outvars:
        assert type(a) is Literal or id(a) in bound


# ---------------------------------------------------------------------------------------
# Random programs
#
# Every value in the pool has shape (n, n) (so transposes keep shapes and buffers are
# interchangeable); ``row`` has shape (n,) and is broadcast against pool values. Every
# operation maps values in [-3, 3] into [-3, 3], so no chain overflows.


@jit
def nested(a, b):
    s = fnp.sin(a)
    return s * fnp.tanh(b) + s * 1.0  # a repeated subexpression and an identity inside


@jit
def nested_twice(a, b):
    return nested(a, b) * 0.5 - nested(b, a) * 0.25


@jit
def nested_with_constant_operand(a, c):
    # After inlining, c is the caller's constant: cos(c) and c * 2 can be folded.
    return a * fnp.cos(c) + fnp.tanh(c * 2.0)


UNARY: dict[str, Callable[[Any], Any]] = {
    "sin": fnp.sin,
    "cos": fnp.cos,
    "tanh": fnp.tanh,
    "negative": lambda a: -a,
    "abs": fnp.abs,
    "cube_of_tanh": lambda a: fnp.tanh(a) ** 3,
    "square_of_sin": lambda a: fnp.sin(a) ** 2,
    "exp_of_sin": lambda a: fnp.exp(fnp.sin(a)),
    "sqrt_of_abs": lambda a: fnp.sqrt(fnp.abs(a) + 0.25),
    # identities
    "times_one": lambda a: a * 1.0,
    "one_times": lambda a: 1.0 * a,
    "plus_zero": lambda a: a + 0.0,
    "zero_plus": lambda a: 0.0 + a,
    "minus_zero": lambda a: a - 0.0,
    "over_one": lambda a: a / 1.0,
    "reshape_same": lambda a: fnp.reshape(a, a.shape),
    "broadcast_same": lambda a: fnp.broadcast_to(a, a.shape),
    "astype_same": lambda a: fnp.astype(a, a.dtype),
    "stop_gradient": fnp.stop_gradient,
    "times_ones_constant": lambda a: a * np.ones(a.shape, a.dtype),
    # views, each used after the viewed value
    "transpose": fnp.transpose,
    "double_transpose": lambda a: fnp.transpose(fnp.transpose(a)),
    "flatten_and_back": lambda a: fnp.reshape(fnp.reshape(a, (-1,)), a.shape),
    "reverse_rows": lambda a: a[::-1],
    "broadcast_then_pick": lambda a: fnp.broadcast_to(a, (2,) + a.shape)[1],
    "view_after_death": lambda a: fnp.transpose(fnp.sin(a)) + fnp.cos(a) * 0.5,
    # repeated subexpressions and dead values
    "sin_twice": lambda a: (fnp.sin(a) + fnp.sin(a)) * 0.5,
    "dead_cos": lambda a: (fnp.cos(a), fnp.tanh(a))[1],
    # reductions broadcast back
    "minus_row_mean": lambda a: (a - fnp.mean(a, axis=0)) * 0.5,
    "over_col_max": lambda a: a / (1.0 + fnp.max(fnp.abs(a), axis=1, keepdims=True)),
}

BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "mean": lambda a, b: (a + b) * 0.5,
    "half_difference": lambda a, b: (a - b) / 2.0,
    "times_tanh": lambda a, b: a * fnp.tanh(b),
    "maximum": fnp.maximum,
    "minimum": fnp.minimum,
    "over_two_plus_cos": lambda a, b: a / (2.0 + fnp.cos(b)),
    "where": lambda a, b: fnp.where(a > b, a, b * 0.5),
    "matmul_scaled": lambda a, b: fnp.tanh(a @ b),
    "nested_jit": nested,
    "nested_jit_twice": nested_twice,
}


ROW_OPS = {
    "plus_row": lambda a, row: (a + row) * 0.5,
    "times_sin_row": lambda a, row: a * fnp.sin(row),
    "where_row": lambda a, row: fnp.where(row > 0, a, -a),
}

CONSTANT_OPS = {
    "nested_jit_with_constant": lambda a, c: nested_with_constant_operand(a, c),
    "times_constant": lambda a, c: a * fnp.cos(c),
}

step = st.one_of(
    st.tuples(st.just("unary"), st.sampled_from(sorted(UNARY)), st.integers(0, 99)),
    st.tuples(
        st.just("binary"), st.sampled_from(sorted(BINARY)), st.integers(0, 99), st.integers(0, 99)
    ),
    st.tuples(st.just("row"), st.sampled_from(sorted(ROW_OPS)), st.integers(0, 99)),
    st.tuples(st.just("constant"), st.sampled_from(sorted(CONSTANT_OPS)), st.integers(0, 99)),
)


def build_program(steps: list[tuple], outputs: list[int]) -> Callable:
    """The Python function (x, row) -> tuple of pool values that ``steps`` describe."""

    def program(x, row):
        n = x.shape[0]
        constant = np.linspace(-1.0, 1.0, n * n).reshape(n, n).astype(x.dtype)
        pool = [x, fnp.sin(x)]
        for kind, name, *indices in steps:
            a = pool[indices[0] % len(pool)]
            if kind == "unary":
                pool.append(UNARY[name](a))
            elif kind == "binary":
                pool.append(BINARY[name](a, pool[indices[1] % len(pool)]))
            elif kind == "row":
                pool.append(ROW_OPS[name](a, row))
            else:
                pool.append(CONSTANT_OPS[name](a, constant))
        return tuple(pool[i % len(pool)] for i in outputs)

    return program


class Program:
    def __init__(self, steps, outputs, n, dtype, seed):
        self.fn = build_program(steps, outputs)
        rng = np.random.default_rng(seed)
        self.args = (
            rng.uniform(-2.0, 2.0, (n, n)).astype(dtype),
            rng.uniform(-2.0, 2.0, n).astype(dtype),
        )
        self.other_args = (
            rng.uniform(-2.0, 2.0, (n, n)).astype(dtype),
            rng.uniform(-2.0, 2.0, n).astype(dtype),
        )
        self.closed = make_jaxpr(self.fn)(*self.args)
        self.description = (steps, outputs, n, dtype.__name__)

    def __repr__(self) -> str:
        return f"Program{self.description}"


programs = st.builds(
    Program,
    steps=st.lists(step, min_size=1, max_size=14),
    outputs=st.lists(st.integers(0, 99), min_size=1, max_size=3),
    n=st.integers(1, 4),
    dtype=st.sampled_from([np.float64, np.float32]),
    seed=st.integers(0, 2**32 - 1),
)


# ---------------------------------------------------------------------------------------
# Each pass keeps the program's meaning, and is well-formed


@pytest.mark.parametrize("name", sorted(PASSES))
@given(program=programs)
def test_pass_keeps_eval_jaxpr_results_equal(name, program):
    expected = run(program.closed, *program.args)
    assert_same_outputs(expected, program.fn(*program.args))
    rewritten = PASSES[name](program.closed)
    assert_well_formed(rewritten)
    assert rewritten.in_avals == program.closed.in_avals
    assert rewritten.out_avals == program.closed.out_avals
    assert_same_outputs(run(rewritten, *program.args), expected)
    assert_same_outputs(
        run(rewritten, *program.other_args), run(program.closed, *program.other_args)
    )


@given(program=programs, order=st.lists(st.sampled_from(sorted(PASSES)), max_size=6))
def test_any_sequence_of_passes_keeps_eval_jaxpr_results_equal(program, order):
    closed = program.closed
    for name in order:
        closed = PASSES[name](closed)
        assert_well_formed(closed)
    assert_same_outputs(run(closed, *program.args), run(program.closed, *program.args))


@given(program=programs)
def test_passes_do_not_modify_their_input_program(program):
    before = str(program.closed)
    consts = [np.copy(c) for c in program.closed.consts]
    for rewrite in PASSES.values():
        rewrite(program.closed)
    assert str(program.closed) == before
    for c, kept in zip(program.closed.consts, consts):
        np.testing.assert_array_equal(c, kept)


# ---------------------------------------------------------------------------------------
# Each pass does what it claims, on random programs


def is_call(eqn) -> bool:
    return bool(subjaxprs(eqn.params))


def foldable(closed: ClosedJaxpr) -> list[str]:
    constvars = {id(v) for v in closed.jaxpr.constvars}
    return [
        e.primitive.name
        for e in closed.eqns
        if e.inputs and all(type(a) is Literal or id(a) in constvars for a in e.inputs)
    ]


def identities(closed: ClosedJaxpr) -> list[str]:
    """Equations whose primitive's identity rule says they return an operand."""
    known = {id(v): c for v, c in zip(closed.jaxpr.constvars, closed.consts)}
    found = []
    for e in closed.eqns:
        rule = identity_rules.get(e.primitive)
        if rule is None:
            continue
        consts = [a.value if type(a) is Literal else known.get(id(a)) for a in e.inputs]
        index = rule([a.aval for a in e.inputs], consts, **e.params)
        if index is not None and e.inputs[index].aval.shape == e.outputs[0].aval.shape:
            found.append(e.primitive.name)
    return found


def duplicates(closed: ClosedJaxpr) -> list[str]:
    seen, found = set(), []
    for e in closed.eqns:
        ins = tuple(
            ("literal", repr(a.value), str(a.aval)) if type(a) is Literal else id(a)
            for a in e.inputs
        )
        try:
            key = (e.primitive.name, ins, tuple(sorted(e.params.items())))
            hash(key)
        except TypeError:
            continue
        if key in seen:
            found.append(e.primitive.name)
        seen.add(key)
    return found


def dead(closed: ClosedJaxpr) -> list[str]:
    used = {id(a) for a in closed.jaxpr.outvars}
    for e in closed.eqns:
        used.update(id(a) for a in e.inputs)
    return [e.primitive.name for e in closed.eqns if not any(id(v) in used for v in e.outputs)]


@given(program=programs)
def test_inline_calls_leaves_no_call(program):
    inlined = inline_calls(program.closed)
    assert not any(is_call(e) for e in inlined.eqns)
    calls = sum(is_call(e) for e in program.closed.eqns)
    if calls:
        assert len(inlined.eqns) > len(program.closed.eqns) - calls


@given(program=programs)
def test_fold_constants_leaves_nothing_to_fold(program):
    inlined = inline_calls(program.closed)
    folded = fold_constants(inlined)
    assert foldable(folded) == []
    # Folding cascades: an equation on folded results is folded too.
    assert len(folded.eqns) <= len(inlined.eqns) - len(foldable(inlined))


@given(program=programs)
def test_forward_identities_leaves_no_identity(program):
    inlined = inline_calls(program.closed)
    forwarded = forward_identities(inlined)
    assert identities(forwarded) == []
    assert len(forwarded.eqns) == len(inlined.eqns) - len(identities(inlined))


@given(program=programs)
def test_eliminate_common_subexpressions_leaves_no_duplicate(program):
    inlined = inline_calls(program.closed)
    deduplicated = eliminate_common_subexpressions(inlined)
    assert duplicates(deduplicated) == []
    # Merging cascades: equations on merged results may become duplicates too.
    assert len(deduplicated.eqns) <= len(inlined.eqns) - len(duplicates(inlined))


@given(program=programs)
def test_eliminate_dead_code_leaves_no_dead_equation(program):
    for closed in (program.closed, inline_calls(program.closed)):
        live = eliminate_dead_code(closed)
        assert dead(live) == []
        assert len(live.eqns) <= len(closed.eqns)
        assert len(eliminate_dead_code(live).eqns) == len(live.eqns)


@given(program=programs)
def test_simplify_leaves_nothing_for_any_pass(program):
    simplified = simplify(program.closed)
    assert not any(is_call(e) for e in simplified.eqns)
    assert foldable(simplified) == []
    assert identities(simplified) == []
    assert duplicates(simplified) == []
    assert dead(simplified) == []
    assert len(simplify(simplified).eqns) == len(simplified.eqns)


# ---------------------------------------------------------------------------------------
# Each pass does what it claims, on small programs


def x3() -> np.ndarray:
    return np.array([0.5, -1.0, 2.0])


def test_cse_removes_a_duplicated_sin():
    closed = make_jaxpr(lambda x: fnp.sin(x) + fnp.sin(x))(x3())
    assert names(closed) == ["sin", "sin", "add"]
    simplified = eliminate_common_subexpressions(closed)
    assert names(simplified) == ["sin", "add"]
    add = simplified.eqns[1]
    assert add.inputs[0] is add.inputs[1]
    assert_same_outputs(run(simplified, x3()), [2 * np.sin(x3())])


def test_cse_keeps_equations_that_differ_in_params_or_literals():
    f = lambda x: (
        fnp.sum(x, axis=0) + fnp.sum(x, axis=1),
        x * 2.0 + x * 3.0,
        x * 2.0 + x * np.float32(2.0),
    )
    x = np.arange(4.0).reshape(2, 2)
    closed = make_jaxpr(f)(x)
    simplified = eliminate_common_subexpressions(closed)
    assert names(simplified).count("reduce_sum") == 2
    assert names(simplified).count("mul") == 3  # x * 2.0 once; 3.0 and float32 2.0 differ
    assert_same_outputs(run(simplified, x), run(closed, x))


def literal_bits(atom: Any) -> tuple:
    value = np.asarray(atom.value)
    return type(atom.value), str(atom.aval), value.dtype, value.tobytes()


@pytest.mark.parametrize(
    "first, second",
    [
        (0.0, -0.0),
        (-0.0, 0.0),
        (1, 1.0),
        (1.0, True),
        (1, True),
        (np.float32(2.0), np.float64(2.0)),
        (np.float64(-0.0), np.float64(0.0)),
        (2.0, np.float64(2.0)),
        (float("nan"), 1.0),
        (np.float64("nan"), np.float64(0.0)),
    ],
    ids=repr,
)
def test_cse_keeps_equations_whose_literals_are_equal_but_not_identical(first, second):
    closed = make_jaxpr(lambda x: (x * first, x * second))(x3())
    literals = [literal_bits(e.inputs[1]) for e in closed.eqns]
    assert len(literals) == 2 and literals[0] != literals[1]
    simplified = eliminate_common_subexpressions(closed)
    assert [literal_bits(e.inputs[1]) for e in simplified.eqns] == literals
    for program in (simplified, simplify(closed)):
        assert_same_bits(generate(program).fn(-x3()), [-x3() * first, -x3() * second])


@pytest.mark.parametrize("value", [float("nan"), -0.0, float("inf"), True, 3])
def test_cse_merges_literals_that_are_the_same_value(value):
    # Two nan literals are not equal (nan != nan), but they are the same value: merged.
    copy = type(value)(str(value)) if isinstance(value, float) else value
    closed = make_jaxpr(lambda x: (x * value, x * copy))(x3())
    assert names(eliminate_common_subexpressions(closed)) == ["mul"]
    out = generate(simplify(closed)).fn(x3())
    assert_same_bits(out, [x3() * value, x3() * value])
    assert out[0] is not out[1]  # two results, two arrays


def test_cse_keeps_equations_whose_constants_are_equal_arrays_of_other_dtypes():
    a, b = np.full(3, 2.0, np.float32), np.full(3, 2.0, np.float64)
    c, d = np.zeros(3), np.array([-0.0, 0.0, -0.0])
    f = lambda x: (x * a, x * b, x + c, x + d, x * a)
    closed = make_jaxpr(f)(x3().astype(np.float32))
    simplified = simplify(closed)
    assert names(simplified) == ["mul", "mul", "add", "add"]
    args = np.array([-0.0, 0.0, 1.0], np.float32)
    assert_same_bits(generate(simplified).fn(args), list(f(args)))


def test_cse_keeps_equations_whose_params_are_equal_but_not_identical():
    closed = make_jaxpr(lambda x: (fnp.sum(x, axis=0), fnp.sum(x, axis=0)))(x3())
    eqn = closed.eqns[0]
    twin = type(eqn)(eqn.primitive, eqn.inputs, {"axes": (False,)}, [Var(eqn.outputs[0].aval)])
    closed.jaxpr.eqns[1] = twin
    closed.jaxpr.outvars[1] = twin.outputs[0]
    assert names(eliminate_common_subexpressions(closed)) == ["reduce_sum", "reduce_sum"]


def _primitive_names(closed: ClosedJaxpr) -> list[str]:
    return [e.primitive.name for e in closed.jaxpr.eqns]


def test_broadcast_implicitly_leaves_a_broadcast_into_a_product_to_numpy():
    def f(v, m):
        column = fnp.broadcast_to(v.reshape((4, 1)), (4, 3))
        return column * m + fnp.broadcast_to(v[0], (4, 3)) - m / column

    v, m = np.array([1.0, -0.0, 2.5, 3.0]), np.arange(12.0).reshape(4, 3)
    closed = make_jaxpr(f)(v, m)
    assert _primitive_names(closed).count("broadcast_in_dim") == 2
    after = broadcast_implicitly(closed)
    assert "broadcast_in_dim" not in _primitive_names(after)
    assert (
        _primitive_names(after).count("reshape") <= _primitive_names(closed).count("reshape") + 1
    )
    with np.errstate(all="ignore"):
        want, got = run(closed, v, m), run(after, v, m)
        np.testing.assert_array_equal(got[0], want[0])
        assert np.signbit(got[0]).tolist() == np.signbit(want[0]).tolist()
        np.testing.assert_array_equal(jit(f)(v, m), f(v, m))


@pytest.mark.parametrize(
    "f",
    [
        lambda v, m, w: fnp.broadcast_to(v, (4, 3)),  # returned
        lambda v, m, w: fnp.sum(fnp.broadcast_to(v, (4, 3))),  # not elementwise
        lambda v, m, w: fnp.broadcast_to(v, (4, 3)) * m[0, 0],  # the only full-shape operand
        lambda v, m, w: fnp.broadcast_to(w, (4, 3)) * m,  # a weakly typed scalar argument
        lambda v, m, w: fnp.broadcast_to(v, (4, 3)).astype(np.float32) * m,  # another use
    ],
)
def test_broadcast_implicitly_keeps_a_broadcast_that_gives_its_shape(f):
    closed = make_jaxpr(f)(np.array([1.0, 2.0, 3.0]), np.ones((4, 3)), 2.0)
    before = _primitive_names(closed).count("broadcast_in_dim")
    after = broadcast_implicitly(closed)
    assert before and _primitive_names(after).count("broadcast_in_dim") == before


def test_dce_removes_an_unused_cos():
    closed = make_jaxpr(lambda x: (fnp.cos(x), fnp.sin(x) * 2.0)[1])(x3())
    assert names(closed) == ["cos", "sin", "mul"]
    assert names(eliminate_dead_code(closed)) == ["sin", "mul"]


def test_dce_removes_unused_constants():
    c = np.arange(3.0)
    closed = make_jaxpr(lambda x: (x * c, fnp.sin(x))[1])(x3())
    assert len(closed.consts) == 1
    assert eliminate_dead_code(closed).consts == []


@pytest.mark.parametrize(
    "identity",
    [
        lambda x: x * 1.0,
        lambda x: 1.0 * x,
        lambda x: x + -0.0,  # not x + 0.0, which turns -0.0 into 0.0
        lambda x: -0.0 + x,
        lambda x: x - 0.0,
        lambda x: x / 1.0,
        lambda x: x * 1,
        lambda x: x * np.ones(3),
        lambda x: fnp.reshape(x, (3,)),
        lambda x: fnp.transpose(x),
        lambda x: fnp.broadcast_to(x, (3,)),
        lambda x: fnp.astype(x, np.float64),
        lambda x: fnp.stop_gradient(x),
    ],
)
def test_forward_identities_removes_no_op_equations(identity):
    f = lambda x: fnp.sin(identity(fnp.cos(x)))
    closed = make_jaxpr(f)(x3())
    forwarded = forward_identities(closed)
    assert names(forwarded) == ["cos", "sin"]
    assert_same_outputs(run(forwarded, x3()), [np.sin(np.cos(x3()))])


@pytest.mark.parametrize(
    "op, x",
    [
        (lambda x: 0.0 - x, x3()),  # not x
        (lambda x: 1.0 / x, x3()),
        (lambda x: x * 2.0, x3()),
        (lambda x: x * 1.0, np.arange(3, dtype=np.int32)),  # int32 * 1.0 is float64
        (lambda x: x * np.float64(1.0), x3().astype(np.float32)),  # a strong float64
        (lambda x: x * np.ones((2, 3)), x3()),  # broadcasts to a new shape
        (lambda x: x + np.zeros((2, 3)), x3()),
        (lambda x: x * np.array([1.0, 1.0, 2.0]), x3()),
        (lambda x: fnp.reshape(x, (3, 1)), x3()),
        (lambda x: fnp.transpose(fnp.reshape(x, (1, 3))), x3()),
        (lambda x: fnp.broadcast_to(x, (2, 3)), x3()),
        (lambda x: fnp.astype(x, np.float32), x3()),
        # -0.0 + 0.0 is 0.0, and NumPy's sum over no axes does the same
        (lambda x: x + 0.0, x3()),
        (lambda x: 0.0 + x, x3()),
        (lambda x: x - -0.0, x3()),
        (lambda x: fnp.sum(x, axis=()), x3()),
    ],
)
def test_forward_identities_keeps_operations_that_change_values_shapes_or_dtypes(op, x):
    closed = make_jaxpr(op)(x)
    forwarded = forward_identities(closed)
    assert len(forwarded.eqns) == len(closed.eqns)
    assert_same_outputs(run(forwarded, x), [op(x)])


def test_fold_constants_computes_operations_on_constants():
    c = np.linspace(0.0, 1.0, 3)
    inlined = inline_calls(make_jaxpr(lambda x: nested_with_constant_operand(x, c))(x3()))
    assert names(inlined) == ["cos", "mul", "mul", "tanh", "add"]
    folded = fold_constants(inlined)
    assert names(folded) == ["mul", "add"]
    assert_same_outputs(run(folded, x3()), [x3() * np.cos(c) + np.tanh(c * 2.0)])
    assert_same_outputs(run(folded, x3()), run(inlined, x3()))


def test_fold_constants_leaves_large_constants_in_the_program():
    big = np.linspace(0.0, 1.0, (1 << 16) + 1)
    x = np.ones_like(big)
    inlined = inline_calls(make_jaxpr(lambda x: nested_with_constant_operand(x, big))(x))
    folded = fold_constants(inlined)
    assert names(folded) == names(inlined)
    assert_same_outputs(run(folded, x), run(inlined, x))


def test_inline_calls_removes_jit_equations_at_every_depth():
    f = lambda x: nested_twice(x, x * 2.0) + jit(nested_twice)(x, x)
    closed = make_jaxpr(f)(x3())
    assert names(closed).count("jit") == 2
    inlined = inline_calls(closed)
    assert "jit" not in names(inlined)
    assert names(inlined).count("sin") == 4  # nested's body, inlined four times
    assert_well_formed(inlined)
    assert_same_outputs(run(inlined, x3()), run(closed, x3()))


def test_inline_calls_keeps_the_called_programs_constants():
    c = np.array([1.0, 2.0, 3.0])
    inner = jit(lambda x: x * c + fnp.sin(c))
    closed = make_jaxpr(lambda x: inner(x) * 2.0)(x3())
    inlined = inline_calls(closed)
    assert "jit" not in names(inlined)
    assert_same_outputs(run(inlined, x3()), [(x3() * c + np.sin(c)) * 2.0])


def _made_up_higher_order_primitive() -> Primitive:
    """A primitive (not registered) whose param ``branches`` holds two programs, neither
    called ``call_jaxpr``: it returns the sum of what they give. Not inlinable."""
    prim = Primitive("sum_of_branches")

    def impl(*args, branches, scale):
        outs = [eval_jaxpr(b.jaxpr, b.consts, *args)[0] for b in branches]
        return scale * (outs[0] + outs[1])

    prim.impl = impl
    prim.abstract_eval = lambda *avals, branches, scale: branches[0].out_avals[0]
    return prim


def test_a_higher_order_primitive_is_printed_nested_and_simplified_inside():
    prim = _made_up_higher_order_primitive()
    first = make_jaxpr(lambda x: fnp.sin(x) * 1.0 - 0.0)(x3())
    second = make_jaxpr(lambda x: (fnp.cos(x) + fnp.cos(x)) * fnp.exp(x) * 0.0 + fnp.tanh(x))(x3())
    closed = make_jaxpr(lambda x: prim.bind(x, branches=(first, second), scale=2.0))(x3())
    text = str(closed)
    assert "sum_of_branches[branches=({ lambda ; a:f64[3]. let" in text
    assert "\n        b:f64[3] = sin a\n" in text  # each branch nested, indented
    assert "        c:f64[3] = cos a\n" in text
    assert subjaxprs(closed.eqns[0].params) == [first, second]

    simplified = simplify(closed)
    (eqn,) = simplified.eqns
    assert eqn.primitive is prim and eqn.params["scale"] == 2.0
    new_first, new_second = subjaxprs(eqn.params)
    assert names(new_first) == ["sin"]  # identities dropped inside
    assert names(new_second).count("cos") == 1  # computed once
    assert "exp" in names(new_second) and "tanh" in names(new_second)
    for old, new in zip((first, second), (new_first, new_second)):
        assert new.in_avals == old.in_avals and new.out_avals == old.out_avals
    x = x3()
    expected = 2.0 * (np.sin(x) + (2 * np.cos(x) * np.exp(x) * 0.0 + np.tanh(x)))
    assert_same_outputs(run(simplified, x), [expected])
    assert_same_outputs(run(closed, x), [expected])


def test_simplify_of_a_program_returning_inputs_constants_and_literals():
    c = np.arange(3.0)
    closed = make_jaxpr(lambda x, y: (x, c, y * 1.0, x - 0.0, 2.0))(x3(), x3() + 1.0)
    simplified = simplify(closed)
    assert simplified.eqns == []
    assert_same_outputs(run(simplified, x3(), x3()), [x3(), c, x3(), x3(), np.asarray(2.0)])
    assert_same_outputs(generate(simplified).fn(x3(), x3()), run(simplified, x3(), x3()))


# ---------------------------------------------------------------------------------------
# Generated code


def check_generated(closed: ClosedJaxpr, args: tuple, other_args: tuple) -> str:
    """generate(closed) equals eval_jaxpr over two calls; returns the source."""
    code = generate(closed)
    pristine = [a.copy() for a in args]
    first = code.fn(*args)
    kept = [np.array(o, copy=True) for o in first]
    assert_same_outputs(first, run(closed, *args))
    assert_same_outputs(code.fn(*other_args), run(closed, *other_args))
    for a, p in zip(args, pristine):  # inputs are never written into
        np.testing.assert_array_equal(a, p)
    for o, k in zip(first, kept):  # nor are earlier results
        np.testing.assert_array_equal(o, k)
    return code.source


@given(program=programs)
def test_generated_code_equals_eval_jaxpr(program):
    check_generated(program.closed, program.args, program.other_args)
    check_generated(inline_calls(program.closed), program.args, program.other_args)
    check_generated(simplify(program.closed), program.args, program.other_args)


@given(program=programs, order=st.lists(st.sampled_from(sorted(PASSES)), max_size=4))
def test_generated_code_equals_eval_jaxpr_after_any_passes(program, order):
    closed = program.closed
    for name in order:
        closed = PASSES[name](closed)
    check_generated(closed, program.args, program.other_args)


@given(
    n=st.integers(1, 5),
    length=st.integers(10, 80),
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_generated_code_for_a_long_elementwise_chain_reuses_buffers(n, length, seed, dtype):
    ops = [fnp.sin, fnp.cos, fnp.tanh, lambda a: a * 0.5 + 0.25, lambda a: -a]

    def chain(x, y):
        values = [x, y]
        for i in range(length):
            a, b = values[-1], values[(i * 7) % len(values)]
            values.append(ops[i % len(ops)](a) * fnp.tanh(b) if i % 2 else ops[i % len(ops)](a))
        return values[-1], values[length // 2]

    rng = np.random.default_rng(seed)
    args = tuple(rng.standard_normal((n, 3)).astype(dtype) for _ in range(2))
    other = tuple(rng.standard_normal((n, 3)).astype(dtype) for _ in range(2))
    closed = simplify(make_jaxpr(chain)(*args))
    source = check_generated(closed, args, other)
    assert "out=" in source
    assert_same_outputs(generate(closed).fn(*args), list(chain(*args)))


@pytest.mark.parametrize(
    "view",
    [
        lambda t: fnp.transpose(t),
        lambda t: fnp.reshape(t, t.shape[::-1]),
        lambda t: fnp.broadcast_to(t, (2,) + t.shape)[0],
        lambda t: t[::-1, ::-1],
        lambda t: fnp.reshape(fnp.transpose(t), (-1,)).reshape(t.shape),
    ],
)
def test_generated_code_keeps_a_view_of_an_intermediate_alive(view):
    # t dies right after the view is taken; the equally shaped, equally typed results
    # that follow would reuse t's buffer if the view did not keep it alive.
    def f(x):
        t = fnp.sin(x)
        v = view(t)
        u = fnp.exp(-x * x)
        w = fnp.cos(u) * 2.0 + 1.0
        z = fnp.tanh(w) - u
        return z + v * 0.5, v

    rng = np.random.default_rng(0)
    x, other = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    closed = simplify(make_jaxpr(f)(x))
    source = check_generated(closed, (x,), (other,))
    assert "out=" in source
    assert_same_outputs(generate(closed).fn(x), list(f(x)))


def test_generated_code_writes_into_a_dying_operand_only_when_nothing_else_sees_it():
    def f(x):
        t = fnp.sin(x)
        u = fnp.cos(t)  # t still needed below: must not be overwritten
        return u + t, fnp.exp(t)

    x = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
    closed = make_jaxpr(f)(x)
    source = check_generated(closed, (x,), (x + 0.5,))
    assert_same_outputs(generate(closed).fn(x), list(f(x)))
    assert "out=" in source


def test_generated_code_handles_non_finite_literals():
    f = lambda x: (fnp.maximum(x, -np.inf), fnp.where(x > 0.0, x, np.nan), x * float("inf"))
    closed = make_jaxpr(f)(x3())
    for program in (closed, simplify(closed)):
        assert_same_outputs(generate(program).fn(x3()), run(program, x3()))


def test_generated_code_writes_literals_that_round_trip_exactly():
    # Literals written into the source must come back bit for bit: signed zeros, nan,
    # infinities, and ints too large for any NumPy integer.
    values = [0.0, -0.0, float("nan"), -float("nan"), float("inf"), -float("inf"), 5e-324, 1e300]
    x = np.array([-1.0, 0.0, 2.0])
    for value in values:
        for f in (
            lambda x, value=value: x * value,
            lambda x, value=value: value - x,
            lambda x, value=value: fnp.maximum(x, value),
        ):
            closed = make_jaxpr(f)(x)
            for program in (closed, simplify(closed)):
                with np.errstate(invalid="ignore"):  # inf * 0
                    assert_same_bits(generate(program).fn(x), [f(x)])
    big = lambda x: x + 10**30
    assert_same_bits(generate(make_jaxpr(big)(x)).fn(x), [big(x)])
    assert "-0.0" in generate(make_jaxpr(lambda x: x * -0.0)(x)).source


def test_generated_code_returns_python_scalars_for_weakly_typed_outputs():
    # An output that is an argument (or a second copy of another output) is copied, as
    # eager code gives a new array; but a Python scalar stays a Python scalar.
    f = lambda x, y: (x, x * 1.0, y, y * 1.0, x * 2.0, x * 2.0)
    closed = make_jaxpr(f)(1.5, x3())
    out = generate(simplify(closed)).fn(1.5, x3())
    assert [type(o) for o in out] == [float, float, np.ndarray, np.ndarray, float, float]
    assert out[2] is not out[3] and not np.shares_memory(out[2], out[3])


def test_generated_code_returns_new_arrays_for_constant_outputs():
    c = np.arange(3.0)
    closed = make_jaxpr(lambda x: (c, x * 0.0 + c))(x3())
    code = generate(simplify(closed))
    first = code.fn(x3())
    first[0][:] = -1.0
    assert_same_outputs(code.fn(x3()), [c, c])
    np.testing.assert_array_equal(c, [0.0, 1.0, 2.0])


# ---------------------------------------------------------------------------------------
# The schedule (backend-independent) and the NumPy backend's lowering rules


def test_schedule_offers_dead_buffers_and_copies_shared_outputs():
    # sin(x) may not write into the argument x; cos and the product write into their
    # dying operand; a result that is a view (fresh=False) owns nothing to offer.
    closed = make_jaxpr(lambda x: (x, fnp.cos(fnp.sin(x)) * 2.0))(x3())
    jaxpr = closed.jaxpr
    schedule = Schedule(jaxpr)
    offered = []
    for i in range(len(jaxpr.eqns)):
        offered.append(schedule.buffer_for(i))
        schedule.record(i, fresh=True, used_buffer=offered[-1] is not None)
    sin_out, cos_out, _ = (e.outputs[0] for e in jaxpr.eqns)
    assert offered == [None, sin_out, cos_out]
    assert [copy for _, copy in schedule.returned()] == [True, False]

    viewing = Schedule(jaxpr)
    for i in range(len(jaxpr.eqns)):
        assert viewing.buffer_for(i) is None
        viewing.record(i, fresh=False, used_buffer=False)


def test_generated_code_calls_a_sub_program_as_its_own_generated_function():
    @jit
    def scale(u, s):
        return fnp.cos(u) * s

    closed = make_jaxpr(lambda x: scale(x, 2.0) + scale(fnp.sin(x), 3.0))(x3())
    assert names(closed).count("jit") == 2
    source = check_generated(closed, (x3(),), (x3() + 0.5,))
    # One def for the program called twice, and two calls of it by name.
    assert source.count("def _scale") == 1
    fn_name = source.split("def ")[1].split("(")[0]
    assert source.count(f"= {fn_name}(") == 2
    main = generate(closed).fn
    assert main.__globals__[fn_name].__code__.co_filename.startswith("<fungrad.jit")


def test_code_generation_reads_the_lowering_table(monkeypatch):
    sin_p = primitives["sin"]
    closed = make_jaxpr(lambda x: fnp.sin(x) * 2.0)(x3())
    cosine = lambda ctx, x: Emitted(f"{ctx.name(np.cos, 'cosine')}({x.source})", True, False)
    monkeypatch.setitem(lowerings, sin_p, cosine)
    code = generate(closed)
    assert "_cosine" in code.source
    assert_same_outputs(code.fn(x3()), [np.cos(x3()) * 2.0])
    # A primitive without a rule is called through its impl.
    monkeypatch.delitem(lowerings, sin_p)
    code = generate(closed)
    assert "_sin" in code.source
    assert_same_outputs(code.fn(x3()), [np.sin(x3()) * 2.0])


def test_lowering_rules_decide_on_literal_values_not_on_source_text():
    # select writes into out only when a branch is the literal +0.0 (the bitwise path).
    f64 = ShapedArray((3,), np.dtype(np.float64))
    scalar = ShapedArray((), np.dtype(np.float64), weak_type=True)
    pred, x = Operand("p", ShapedArray((3,), np.dtype(bool))), Operand("x", f64)

    def writes_into_out(on_false: Operand) -> bool:
        ctx = LoweringContext(ModuleWriter(), Operand("buffer", f64))
        return lowering_rule(primitives["select"])(ctx, pred, x, on_false).used_out

    assert writes_into_out(Operand("0.0", scalar, is_literal=True, value=0.0))
    assert not writes_into_out(Operand("-0.0", scalar, is_literal=True, value=-0.0))
    assert not writes_into_out(Operand("0.0", scalar))  # a variable, whatever its name
    assert not writes_into_out(Operand("0.0", scalar, is_literal=True, value=0))


def test_matrix_products_never_write_into_their_operands():
    m = ShapedArray((2, 2), np.dtype(np.float64))
    x, y = Operand("x", m), Operand("y", m)
    rule = lowering_rule(primitives["dot_general"])
    dims = (((1,), (0,)), ((), ()))
    for out, used in ((x, False), (y, False), (Operand("buffer", m), True)):
        ctx = LoweringContext(ModuleWriter(), out)
        assert rule(ctx, x, y, dimension_numbers=dims).used_out is used


@pytest.mark.parametrize("contract", sorted(MATRIX_PRODUCT_LAYOUTS))
def test_generated_matrix_products_follow_the_layout_table(contract):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((2, 3, 3))
    dims = (contract, ((), ()))
    closed = make_jaxpr(lambda a, b: fnp.tanh(dot_general(a, b, dims)) + 1.0)(x, y)
    source = check_generated(closed, (x, y), (y, x))
    transpose_x, transpose_y = MATRIX_PRODUCT_LAYOUTS[contract]
    call = f"(a0{'.T' if transpose_x else ''}, a1{'.T' if transpose_y else ''})"
    assert "_matmul" in source and call in source
