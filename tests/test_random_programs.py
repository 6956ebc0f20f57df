"""Randomized differential tests: random programs over ``fungrad.numpy`` under random
stacks of transformations, each checked against its definition.

What is drawn (see ``random_programs.py``):

- the arguments: one to three, each an array or a dict/tuple of arrays, float64 or
  float32 (or a mix), with values on a grid of eighths;
- a straight-line program over them: elementwise functions, arithmetic with
  broadcasting and Python scalars on either side, ``where`` on a comparison,
  reductions with random axes and keepdims, ``fungrad.nn`` functions, norms, shape
  operations, indexing (slices, integers, integer arrays, concrete boolean masks),
  ``take``, products; kept away from kinks so central differences are valid;
- a stack of up to three transformations on top: ``jit`` (also closing over an outer
  tracer), ``vmap`` (random ``in_axes`` prefixes, ``out_axes``, size 1 to 3), ``grad``
  and ``value_and_grad`` (``argnums``, ``has_aux``), ``jvp``, ``linearize``, ``vjp``,
  ``hvp``, ``jacfwd``/``jacrev`` (``argnums``, ``has_aux``, ``chunk_size``) and
  ``hessian``. A layer that needs a scalar differentiates a fixed random linear
  functional of the outputs.

What is checked: the program against NumPy (values and dtypes), eagerly, staged
(``make_jaxpr`` then ``eval_jaxpr``) and under ``jit``; then every layer of the stack
against its definition applied to the layer below: ``jit(g) == g`` (and again on new
values), ``vmap(g) ==`` a loop over ``g``, derivatives against central differences in
float64 (``jvp`` in full, ``grad``/``vjp``/Jacobians/Hessians along random directions,
and ``<vjp(u), v> == <u, jvp(v)>``), float32 runs against float64 runs with shapes
and dtypes exact; and that no input is modified in place. Any exception is a failure:
the programs are valid NumPy and the transformations are applied as documented.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, note, settings
from hypothesis import strategies as st
from random_programs import (
    FUNGRAD,
    LAYER_KINDS,
    NUMPY,
    TIGHT,
    Context,
    Jit,
    Program,
    ProgramDrawer,
    Vmap,
    all_examples,
    arg_shapes,
    assert_close,
    assert_unchanged,
    batched_signature,
    copy_tree,
    draw_layer,
    grid_values,
    level_args,
    stack_source,
    without_float0,
)

import fungrad
from fungrad.tree_util import tree_flatten, tree_leaves

# ---------------------------------------------------------------------------------------
# TEMPORARY EXCLUSIONS. Each name steers the generator around one known bug, so the
# search can go on finding others; delete a name once its bug is fixed. The names are
# checked where the generator draws the construct (grep for the name).
EXCLUDED = frozenset(
    [
        # jvp of concatenate/stack/array with an integer operand: DTypePromotionError
        "concat_with_integer",
        # concatenate([float32 array, Python scalar], axis=None) is float64; NumPy: float32
        "concat_none_weak_scalar",
        # the third derivative of x ** 2.0 at x = 0 warns (divide by zero in power)
        "pow_float_exponent_warning",
    ]
)
# ---------------------------------------------------------------------------------------


# Examples per test are a multiple of the profile's max_examples (conftest.py), so the
# "thorough" profile multiplies them all.
SCALE = settings.default.max_examples


def draw_arguments(data, n_args: int):
    """Argument shapes: mostly float64; sometimes all float32, sometimes a mix."""
    mixed = data.draw(st.integers(0, 4)) == 0
    return arg_shapes(data.draw, n_args, mixed=mixed)


def show_program(program: Program, points: list[tuple]) -> None:
    note(f"program:\n{program}")
    note(f"arguments: {points[0]!r}")


@settings(max_examples=SCALE * 15)
@given(st.data())
def test_random_program_matches_numpy_eagerly_staged_and_jitted(data):
    n_args = data.draw(st.integers(1, 3), label="arguments")
    signature = draw_arguments(data, n_args)
    points = [tuple(grid_values(data.draw, signature)) for _ in range(2)]
    program = ProgramDrawer(data, points, EXCLUDED).draw_program(2, 10)
    show_program(program, points)
    reference, under_test = program.build(NUMPY), program.build(FUNGRAD)
    jitted = fungrad.jit(under_test)
    tol = TIGHT[program.low_precision]
    copies = copy_tree(points)
    for i, args in enumerate(points):
        expected = reference(*args)
        assert_close(under_test(*args), expected, tol, f"point {i}: eager fungrad against NumPy")
        closed = fungrad.make_jaxpr(under_test)(*args)
        staged = fungrad.eval_jaxpr(closed.jaxpr, closed.consts, *tree_leaves(args))
        assert_close(staged, tree_leaves(expected), tol, f"point {i}: eval_jaxpr(make_jaxpr)")
        assert_close(jitted(*args), expected, tol, f"point {i}: jit against NumPy")
    assert_unchanged(points, copies, "the arguments")
    assert jitted.trace_count == 1


def check_random_stack(data, min_layers: int, max_layers: int, max_lines: int) -> None:
    n_args = data.draw(st.integers(1, 3), label="arguments")
    signature = draw_arguments(data, n_args)
    n_layers = data.draw(st.integers(min_layers, max_layers), label="layers")
    layers, signatures = [], [signature]
    for k in range(n_layers):
        kind = data.draw(st.sampled_from(LAYER_KINDS))
        layer = draw_layer(data.draw, kind, signatures[-1], over_program=k == 0)
        layers.append(layer)
        signatures.append(batched_signature(layer, signatures[-1]))

    args = tuple(grid_values(data.draw, signatures[-1]))
    has_jit = any(isinstance(layer, Jit) for layer in layers)
    alt = tuple(grid_values(data.draw, signatures[-1])) if has_jit else None
    points = all_examples(layers, args) + (all_examples(layers, alt) if alt else [])
    program = ProgramDrawer(data, points, EXCLUDED).draw_program(2, max_lines)

    # out_axes of a vmap must fit the rank of what it maps: resolve them now
    reference = program.build(NUMPY)
    rank = min(np.ndim(x) for x in tree_leaves(reference(*points[0])))
    for layer, sig in zip(layers, signatures[:-1]):
        if isinstance(layer, Vmap):
            layer.resolve(rank)
        rank = layer.out_rank(rank, sig)

    show_program(program, points)
    note(f"stack (innermost first):\n{stack_source(layers)}")
    note(f"outer arguments: {args!r}" + (f"\nnew values for jit: {alt!r}" if alt else ""))

    copies = copy_tree((args, alt, program.consts))
    # functions[k] is the stack up to layer k; a further layer sees it without float0
    # outputs (the cotangents of integer inputs), which have nothing to differentiate
    functions = [program.build(FUNGRAD)]
    for layer in layers:
        functions.append(layer.apply(without_float0(functions[-1])))

    # the program itself, at every point the stack evaluates it at
    tol = TIGHT[program.low_precision]
    for i, point in enumerate(points):
        expected = reference(*point)
        assert_close(functions[0](*point), expected, tol, f"program at point {i} against NumPy")

    # each layer against its definition over the layer below, innermost first
    at = level_args(layers, args)
    alt_at = level_args(layers, alt) if alt else [None] * (len(layers) + 1)
    for k, layer in enumerate(layers, start=1):
        ctx = Context(program.low_precision, outermost=k == len(layers))
        layer.check(functions[k], without_float0(functions[k - 1]), at[k], alt_at[k], ctx)

    assert_unchanged((args, alt, program.consts), copies, "the arguments and constants")


@settings(max_examples=SCALE * 10)
@given(st.data())
def test_one_transformation_of_a_random_program_matches_its_definition(data):
    check_random_stack(data, 1, 1, max_lines=6)


@settings(max_examples=SCALE * 10)
@given(st.data())
def test_stacks_of_two_or_three_transformations_match_their_definitions(data):
    check_random_stack(data, 2, 3, max_lines=5)


def test_the_program_printer_round_trips():
    """A failing example is reported as source: that source is what was run."""
    drawer_points = [(np.array([1.0, 2.0]),)]
    program = Program(1, ["x0 = a0"], ["x1 = np.sum(np.sin(x0), axis=0)"], "(x1, {'u': x0})")
    out = program.build(FUNGRAD)(*drawer_points[0])
    leaves, tree = tree_flatten(out)
    assert len(leaves) == 2 and str(program).startswith("def program(a0):")
