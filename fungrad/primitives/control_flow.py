"""Structured control flow: ``cond``/``switch``, ``scan`` (``fori_loop``, ``map``) and
``while_loop``, as higher-order primitives.

Each construct traces its Python functions once into sub-programs (closed-over values
of enclosing transformations become operands, see
fungrad/interpreters/subprograms.py) and binds one primitive that carries them in its
params. Each primitive has a rule for every interpreter, and every rule works on the
sub-programs whole: forward mode binds the primitive again on the jvp of its
programs; partial evaluation splits them into a known program, run now, and an
unknown one, staged, that takes the residuals; transposition binds it on their
transposes; batching on their batched forms. jit compiles each sub-program into a
generated Python function (fungrad/jit/lowering.py).

One block per primitive: its declaration, shape rule, implementation, then its
jvp, partial-evaluation, transpose and batching rules, then the user-facing function.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fungrad.core import (
    ClosedJaxpr,
    Jaxpr,
    ShapedArray,
    Tracer,
    Var,
    Zero,
    add,
    eval_jaxpr,
    get_aval,
    new_primitive,
    shape_of,
)
from fungrad.errors import (
    ConcretizationError,
    FungradTypeError,
    NonLinearError,
    ShapeError,
)
from fungrad.interpreters.batching import axis_size, batch_flat, register_batch
from fungrad.interpreters.jvp import register_jvp
from fungrad.interpreters.partial_eval import register_partial_eval
from fungrad.interpreters.subprograms import (
    differentiable,
    evaluator,
    instantiate_zeros,
    jvp_subprogram,
    partial_eval_subprogram,
    permute,
    tangent_aval,
    trace_closed,
    trace_subprogram,
    transpose_subprogram,
)
from fungrad.interpreters.transpose import is_undefined, register_transpose
from fungrad.primitives.elementwise import eq, max, min, ne, select
from fungrad.primitives.reductions import reduce_max
from fungrad.primitives.structural import (
    broadcast_in_dim,
    convert_element_type,
    move_batch_dim,
)
from fungrad.tree_util import keystr, tree_flatten, tree_flatten_with_path, tree_unflatten


def _zeros(aval: ShapedArray) -> np.ndarray:
    """A materialised zero of ``aval``'s shape and dtype (a cotangent or a filler)."""
    return np.zeros(aval.shape, aval.dtype)


def _instantiate(x: Any) -> Any:
    return _zeros(x.aval) if type(x) is Zero else x


def _carry_fixed_point(
    flags: list[bool], derive: Callable[[list[bool]], tuple[Any, Sequence[bool]]]
) -> tuple[Any, list[bool]]:
    """Which carries of a loop have a property (a tangent, an unknown value, a batch
    axis): a fixed point, as a carry's type is the same in and out. ``derive(flags)``
    transforms the body for those flags and returns the result with the flags of the
    carries it gives out; flags only grow, so this takes at most one round per carry.
    Returns the last result and the flags."""
    while True:
        result, out = derive(flags)
        grown = [a or b for a, b in zip(flags, out)]
        if grown == flags:
            return result, flags
        flags = grown


def _batched_aval(aval: ShapedArray, size: int) -> ShapedArray:
    return ShapedArray((size, *aval.shape), aval.dtype)


def batch_subprogram(
    closed: ClosedJaxpr, batched: Sequence[bool], size: int, instantiate: Sequence[bool]
) -> tuple[ClosedJaxpr, list[bool]]:
    """``closed`` over a batch of ``size``: inputs with ``batched[i]`` carry a leading
    batch axis, and so do the outputs that vary over the batch or have
    ``instantiate[j]`` (then broadcast). Returns it and which outputs are batched."""
    in_avals = [_batched_aval(a, size) if b else a for a, b in zip(closed.in_avals, batched)]
    out_batched: list[bool] = []

    def fun(*args: Any) -> list[Any]:
        outs = batch_flat(evaluator(closed), args, [0 if b else None for b in batched], size)
        moved = []
        for (value, dim), inst in zip(outs, instantiate):
            out_batched.append(dim is not None or bool(inst))
            moved.append(move_batch_dim(value, dim, 0, size) if out_batched[-1] else value)
        return moved

    return trace_closed(fun, in_avals, "vmap"), out_batched


def _with_unused_inputs(closed: ClosedJaxpr, avals: Sequence[ShapedArray]) -> ClosedJaxpr:
    """``closed`` taking extra trailing inputs of ``avals`` that it ignores."""
    jaxpr = closed.jaxpr
    extra = [Var(a) for a in avals]
    return ClosedJaxpr(
        Jaxpr(jaxpr.constvars, jaxpr.invars + extra, jaxpr.eqns, jaxpr.outvars), closed.consts
    )


def _strong(x: Any) -> Any:
    """``x`` with a weak (Python scalar) type made strong, so that the programs of a
    construct agree on their types whatever Python scalars they return."""
    aval = get_aval(x)
    return convert_element_type(x, aval.dtype) if aval.weak_type else x


def _flatten_named(tree: Any, what: str) -> tuple[list[Any], Any, list[str]]:
    pairs, treedef = tree_flatten_with_path(tree)
    leaves = [leaf for _, leaf in pairs]
    paths = [f"{what}{keystr(path)}" for path, _ in pairs]
    for leaf, path in zip(leaves, paths):
        try:
            get_aval(leaf)
        except TypeError:
            raise FungradTypeError(
                f"{path} is a {type(leaf).__name__}, not an array: control-flow functions "
                "take pytrees of arrays and scalars"
            ) from None
    return leaves, treedef, paths


def _trace_function(
    fun: Callable[..., Any],
    in_tree: Any,
    in_avals: Sequence[ShapedArray],
    construct: str,
) -> tuple[ClosedJaxpr, list[Any], Any]:
    """Trace the user's ``fun`` on pytree arguments of ``in_tree`` and ``in_avals``:
    the program (closed-over tracers as leading inputs), those tracers, and the output
    tree. Outputs are made strongly typed."""
    out_tree_box: list[Any] = []

    def flat_fun(*leaves: Any) -> list[Any]:
        args = tree_unflatten(in_tree, leaves)
        out = fun(*args)
        out_leaves, out_tree = tree_flatten(out)
        out_tree_box.append(out_tree)
        return _checked_leaves(out_leaves, construct, getattr(fun, "__name__", "the function"))

    closed, traced, _ = trace_subprogram(flat_fun, in_avals, construct)
    return closed, traced, out_tree_box[0]


def _concrete_int(x: Any) -> int | None:
    """``x`` as a Python int if its value is known while tracing, else None."""
    if not isinstance(x, Tracer):
        return int(x)
    try:
        return int(x)
    except ConcretizationError:
        return None


# ---------------------------------------------------------------------------------------
# cond: choose one of several programs by an index
#
# Operands: the index, then the operands shared by every branch. Each branch is a
# program from the operands to the outputs; all branches have the same signature.

cond_p = new_primitive("cond", multiple_results=True)


def _branch_index(index: Any, count: int) -> int:
    return 0 if index < 0 else count - 1 if index >= count else int(index)


def _cond_impl(index, *operands, branches):
    branch = branches[_branch_index(index, len(branches))]
    return eval_jaxpr(branch.jaxpr, branch.consts, *operands)


def _cond_abstract_eval(index, *operands, branches):
    if index.shape != () or index.dtype.kind not in "iub":
        raise ShapeError(f"cond: the index must be an integer scalar, got {index.str_short()}")
    return branches[0].out_avals


cond_p.impl = _cond_impl
cond_p.abstract_eval = _cond_abstract_eval


def _cond_jvp(primals, tangents, *, branches):
    index, operands = primals[0], primals[1:]
    nonzeros = [type(t) is not Zero for t in tangents[1:]]
    count = len(branches[0].out_avals)
    out_nonzeros = [False] * count
    for branch in branches:
        _, nz = jvp_subprogram(branch, nonzeros, [False] * count)
        out_nonzeros = [a or b for a, b in zip(out_nonzeros, nz)]
    jvp_branches = tuple(jvp_subprogram(b, nonzeros, out_nonzeros)[0] for b in branches)
    nonzeros = [nz and differentiable(a) for nz, a in zip(nonzeros, branches[0].in_avals)]
    supplied = [t for t, nz in zip(tangents[1:], nonzeros) if nz]
    outs = cond_p.bind(index, *operands, *supplied, branches=jvp_branches)
    out_tangents = iter(outs[count:])
    return outs[:count], [
        next(out_tangents) if nz else Zero(tangent_aval(a))
        for a, nz in zip(branches[0].out_avals, out_nonzeros)
    ]


def _cond_partial_eval(interp, args, params):
    branches = params["branches"]
    index, operands = args[0], args[1:]
    if interp.owns(index):
        return interp.stage(cond_p, args, params)
    unknowns = [interp.owns(x) for x in operands]
    count = len(branches[0].out_avals)
    forward = [True] * len(operands)
    out_unknowns = [False] * count
    for branch in branches:
        split = partial_eval_subprogram(branch, unknowns, out_unknowns, forward)
        out_unknowns = [a or b for a, b in zip(out_unknowns, split.out_unknowns)]
    splits = [partial_eval_subprogram(b, unknowns, out_unknowns, forward) for b in branches]
    # Every known branch returns the residuals of every branch (zeros for the others'),
    # so that the branches agree on their outputs.
    returned = [[a for a, i in zip(s.res_avals, s.res_inputs) if i is None] for s in splits]
    all_res = [a for avals in returned for a in avals]
    n_known_out = count - sum(out_unknowns)
    known_operands = [x for x, u in zip(operands, unknowns) if not u]
    known_avals = [b for b, u in zip(branches[0].in_avals, unknowns) if not u]
    known_branches = []
    for k, split in enumerate(splits):
        before = sum(len(r) for r in returned[:k])
        after = sum(len(r) for r in returned[k + 1 :])

        def known_fun(*xs, split=split, before=before, after=after):
            outs = evaluator(split.known)(*xs)
            fill = [_zeros(a) for a in all_res]
            return (
                outs[:n_known_out] + fill[:before] + outs[n_known_out:] + fill[len(fill) - after :]
            )

        known_branches.append(trace_closed(known_fun, known_avals, "cond"))
    known_outs = interp.forward_to_parent(
        cond_p, [index, *known_operands], {"branches": tuple(known_branches)}
    )
    residuals = known_outs[n_known_out:]
    # The unknown branches take every residual, the operands some branch forwards as
    # a residual, and the unknown operands.
    forwarded = sorted({i for s in splits for i in s.res_inputs if i is not None})
    unknown_avals = [b for b, u in zip(branches[0].in_avals, unknowns) if u]
    in_avals = all_res + [branches[0].in_avals[i] for i in forwarded] + unknown_avals
    unknown_branches = []
    n_res, n_fwd = len(all_res), len(forwarded)
    for k, split in enumerate(splits):
        start = sum(len(r) for r in returned[:k])

        n_own = len(returned[k])

        def unknown_fun(*xs, split=split, start=start, n_own=n_own):
            own = iter(xs[start : start + n_own])
            fwd = dict(zip(forwarded, xs[n_res : n_res + n_fwd]))
            res = [next(own) if i is None else fwd[i] for i in split.res_inputs]
            return evaluator(split.unknown)(*res, *xs[n_res + n_fwd :])

        unknown_branches.append(trace_closed(unknown_fun, in_avals, "cond"))
    staged = interp.stage(
        cond_p,
        [
            index,
            *residuals,
            *(operands[i] for i in forwarded),
            *(x for x, u in zip(operands, unknowns) if u),
        ],
        {"branches": tuple(unknown_branches)},
    )
    known_iter, staged_iter = iter(known_outs[:n_known_out]), iter(staged)
    return [next(staged_iter) if u else next(known_iter) for u in out_unknowns]


def _cond_transpose(cts, index, *args, branches):
    if is_undefined(index):
        raise NonLinearError("cond is not linear in its index")
    linear = [is_undefined(a) for a in args]
    transposed = tuple(transpose_subprogram(b, linear) for b in branches)
    cts = instantiate_zeros(cts, branches[0].out_avals)
    known = [a for a in args if not is_undefined(a)]
    outs = iter(cond_p.bind(index, *known, *cts, branches=transposed))
    return [None] + [next(outs) if lin else None for lin in linear]


def _cond_batch(values, dims, *, branches):
    size = axis_size(values, dims)
    index, operands = values[0], values[1:]
    index_dim, operand_dims = dims[0], dims[1:]
    count = len(branches[0].out_avals)
    if index_dim is None:
        batched = [d is not None for d in operand_dims]
        out_batched = [False] * count
        for branch in branches:
            _, b = batch_subprogram(branch, batched, size, out_batched)
            out_batched = [x or y for x, y in zip(out_batched, b)]
        new = tuple(batch_subprogram(b, batched, size, out_batched)[0] for b in branches)
        moved = [
            x if d is None else move_batch_dim(x, d, 0, size)
            for x, d in zip(operands, operand_dims)
        ]
        outs = cond_p.bind(index, *moved, branches=new)
        return outs, [0 if b else None for b in out_batched]
    # A predicate that differs across the batch: every branch runs on the whole batch,
    # and each example takes the outputs of its own branch.
    index = move_batch_dim(index, index_dim, 0, size)
    index = max(min(index, len(branches) - 1), 0)
    results = [batch_flat(evaluator(b), operands, operand_dims, size) for b in branches]
    outs = []
    for j in range(count):
        # A branch's unbatched result is not broadcast: select broadcasts it.
        values = [
            x if d is None else move_batch_dim(x, d, 0, size) for x, d in (r[j] for r in results)
        ]
        out_shape = (size, *branches[0].out_avals[j].shape)
        chosen = values[0]
        for k in range(1, len(branches)):
            pick = broadcast_in_dim(eq(index, k), out_shape, (0,))
            chosen = select(pick, values[k], chosen)
        if len(branches) == 1 and results[0][j][1] is None:
            chosen = move_batch_dim(chosen, None, 0, size)  # nothing chose: one per example
        outs.append(chosen)
    return outs, [0] * count


register_jvp(cond_p, _cond_jvp)
register_partial_eval(cond_p, _cond_partial_eval)
register_transpose(cond_p, _cond_transpose)
register_batch(cond_p, _cond_batch)


def _join_branch_consts(
    programs: Sequence[ClosedJaxpr], traced: Sequence[list[Any]]
) -> tuple[list[ClosedJaxpr], list[Any]]:
    """Give every branch the closed-over values of all branches as leading inputs
    (each uses its own), so that the branches share one signature."""
    all_traced = [t for ts in traced for t in ts]
    joined = []
    for k, program in enumerate(programs):
        jaxpr = program.jaxpr
        n_own = len(traced[k])
        before = [Var(get_aval(t)) for ts in traced[:k] for t in ts]
        after = [Var(get_aval(t)) for ts in traced[k + 1 :] for t in ts]
        invars = before + jaxpr.invars[:n_own] + after + jaxpr.invars[n_own:]
        joined.append(
            ClosedJaxpr(Jaxpr(jaxpr.constvars, invars, jaxpr.eqns, jaxpr.outvars), program.consts)
        )
    return joined, all_traced


def switch(index: Any, branches: Sequence[Callable[..., Any]], *operands: Any) -> Any:
    """Apply ``branches[index]`` to ``operands``, ``index`` clamped to the branches.

    As ``jax.lax.switch``: every branch is traced (with the operands' shapes and
    dtypes), must return the same pytree of the same types, and only the chosen one
    runs. Differentiable in both modes, batchable (a batched index runs every branch
    and selects per example) and compiled by ``jit``.

    >>> import fungrad.numpy as fnp
    >>> fns = [lambda x: x + 1.0, lambda x: fnp.sin(x), lambda x: -x]
    >>> float(switch(7, fns, 2.0))  # clamped to the last branch
    -2.0
    """
    branches = list(branches)
    if not branches:
        raise FungradTypeError("switch: branches must be a non-empty sequence of functions")
    for i, b in enumerate(branches):
        if not callable(b):
            raise FungradTypeError(
                f"switch: branches[{i}] is a {type(b).__name__}, not a function"
            )
    index_aval = get_aval(index)
    if index_aval.shape != () or index_aval.dtype.kind not in "iub":
        raise FungradTypeError(
            f"switch: the index must be an integer scalar, got {index_aval.str_short()}; "
            "use cond for a boolean predicate"
        )
    if index_aval.dtype.kind == "b" or index_aval.weak_type:
        index = convert_element_type(index, np.dtype(np.int64))
    return _branches(index, branches, operands, "switch")


def _branches(index: Any, branches: list[Callable], operands: tuple, construct: str) -> Any:
    leaves, in_tree, _ = _flatten_named(operands, "operands")
    in_avals = [get_aval(x) for x in leaves]
    traced = [_trace_function(b, in_tree, in_avals, construct) for b in branches]
    programs = [p for p, _, _ in traced]
    for k in range(1, len(traced)):
        if traced[k][2] != traced[0][2] or [
            a.strip_weak_type() for a in programs[k].out_avals
        ] != [a.strip_weak_type() for a in programs[0].out_avals]:
            names = ("false_fun", "true_fun") if construct == "cond" else None
            first = names[0] if names else "branches[0]"
            other = names[1] if names else f"branches[{k}]"
            raise FungradTypeError(
                f"{construct}: {first} and {other} must return the same pytree of the same "
                f"shapes and dtypes, got {traced[0][2]} with "
                f"[{', '.join(a.str_short() for a in programs[0].out_avals)}] and "
                f"{traced[k][2]} with [{', '.join(a.str_short() for a in programs[k].out_avals)}]"
            )
    joined, consts = _join_branch_consts(programs, [t for _, t, _ in traced])
    outs = cond_p.bind(index, *consts, *leaves, branches=tuple(joined))
    return tree_unflatten(traced[0][2], outs)


def cond(pred: Any, true_fun: Callable[..., Any], false_fun: Callable[..., Any], *operands: Any):
    """``true_fun(*operands)`` if ``pred`` else ``false_fun(*operands)``, as a program.

    As ``jax.lax.cond``: ``pred`` is a boolean or integer scalar (non-zero is true),
    both functions are traced and must return the same pytree of the same types, and
    only the chosen one runs. Unlike a Python ``if``, it works on traced values under
    ``jit``, ``vmap`` (a batched predicate runs both branches and selects per example)
    and ``make_jaxpr``, and is differentiable in both modes to any order.

    >>> import fungrad
    >>> f = lambda x: cond(x > 0, lambda x: x * x, lambda x: -x, x)
    >>> float(fungrad.grad(f)(3.0)), float(fungrad.grad(f)(-3.0))
    (6.0, -1.0)
    """
    pred_aval = get_aval(pred)
    if pred_aval.shape != () or pred_aval.dtype.kind not in "iub":
        raise FungradTypeError(
            f"cond: pred must be a boolean or integer scalar, got {pred_aval.str_short()}. "
            "To choose elementwise use fungrad.numpy.where; to decide on a whole array "
            "use fungrad.numpy.any or fungrad.numpy.all"
        )
    if not callable(true_fun) or not callable(false_fun):
        raise FungradTypeError("cond: true_fun and false_fun must be functions")
    if pred_aval.dtype.kind != "b":
        pred = ne(pred, 0)
    index = convert_element_type(pred, np.dtype(np.int64))
    return _branches(index, [false_fun, true_fun], operands, "cond")


# ---------------------------------------------------------------------------------------
# scan: a loop over the leading axis of its inputs, with a carried state
#
# Operands: ``num_consts`` constants, ``num_carry`` initial carries, then the scanned
# inputs ``xs``. The body maps ``(*consts, *carry, *x)`` to ``(*carry, *y)``; the
# outputs are the final carry and the ``y`` of every step, stacked.

scan_p = new_primitive("scan", multiple_results=True)


def _scan_split(seq: Sequence[Any], num_consts: int, num_carry: int) -> tuple[list, list, list]:
    seq = list(seq)
    return (
        seq[:num_consts],
        seq[num_consts : num_consts + num_carry],
        seq[num_consts + num_carry :],
    )


_scan_drivers: dict[tuple[int, int, int, int, bool], Callable[..., list[Any]]] = {}


def scan_driver(
    num_consts: int, num_carry: int, num_xs: int, num_ys: int, reverse: bool
) -> Callable[..., list[Any]]:
    """The loop of a scan, written for its arity: ``driver(body, length, y_avals,
    *args)`` calls ``body`` (an interpreter's evaluator, or a function generated by
    jit) once per step with the step's slices, and writes each ``y`` into its
    preallocated stack. Written out per arity, it re-packs no argument lists per step
    (a few microseconds a step, which a small loop body notices)."""
    key = (num_consts, num_carry, num_xs, num_ys, reverse)
    driver = _scan_drivers.get(key)
    if driver is None:
        consts = [f"k{i}" for i in range(num_consts)]
        carry = [f"c{i}" for i in range(num_carry)]
        xs = [f"x{i}" for i in range(num_xs)]
        ys = [f"y{i}" for i in range(num_ys)]
        steps = "range(length - 1, -1, -1)" if reverse else "range(length)"
        call_args = ", ".join(consts + carry + [f"{x}[i]" for x in xs])
        targets = ", ".join(carry + [f"{y}[i]" for y in ys])
        lines = [f"def driver(body, length, y_avals, {', '.join(consts + carry + xs)}):"]
        lines += [
            f"    {y} = empty((length, *y_avals[{j}].shape), y_avals[{j}].dtype)"
            for j, y in enumerate(ys)
        ]
        if targets:
            lines.append(f"    for i in {steps}:")
            lines.append(
                f"        {targets}{',' if num_carry + num_ys == 1 else ''} = body({call_args})"
            )
        lines.append(f"    return [{', '.join(carry + ys)}]")
        namespace: dict[str, Any] = {"empty": np.empty}
        exec(compile("\n".join(lines), f"<fungrad.jit scan driver {key}>", "exec"), namespace)
        driver = _scan_drivers[key] = namespace["driver"]
    return driver


def _scan_impl(*args, jaxpr, num_consts, num_carry, length, reverse, unroll):
    y_avals = jaxpr.out_avals[num_carry:]
    num_xs = len(args) - num_consts - num_carry
    driver = scan_driver(num_consts, num_carry, num_xs, len(y_avals), reverse)
    return driver(evaluator(jaxpr), length, y_avals, *args)


def _scan_abstract_eval(*avals, jaxpr, num_consts, num_carry, length, reverse, unroll):
    outs = jaxpr.out_avals
    return outs[:num_carry] + [_batched_aval(a, length) for a in outs[num_carry:]]


scan_p.impl = _scan_impl
scan_p.abstract_eval = _scan_abstract_eval


def _group_order(sizes: Sequence[int], tangent_sizes: Sequence[int]) -> list[int]:
    """Reorder ``(*primals, *tangents)``, each grouped as ``sizes``/``tangent_sizes``,
    into group by group, each group's primals then its tangents."""
    order: list[int] = []
    p_start, t_start = 0, sum(sizes)
    for size, t_size in zip(sizes, tangent_sizes):
        order += range(p_start, p_start + size)
        order += range(t_start, t_start + t_size)
        p_start += size
        t_start += t_size
    return order


def _scan_jvp(primals, tangents, *, jaxpr, num_consts, num_carry, length, reverse, unroll):
    nonzeros = [
        type(t) is not Zero and differentiable(t.aval if type(t) is Zero else get_aval(t))
        for t in tangents
    ]
    nz_consts, nz_carry, nz_xs = _scan_split(nonzeros, num_consts, num_carry)
    num_ys = len(jaxpr.out_avals) - num_carry

    def derive_jvp(nz: list[bool]) -> tuple[Any, Sequence[bool]]:
        jvp, out_nz = jvp_subprogram(jaxpr, nz_consts + nz + nz_xs, nz + [False] * num_ys)
        return (jvp, out_nz), out_nz[:num_carry]

    (jvp, out_nz), nz_carry = _carry_fixed_point(nz_carry, derive_jvp)
    consts, carry, xs = _scan_split(primals, num_consts, num_carry)
    t_consts, t_carry, t_xs = _scan_split(tangents, num_consts, num_carry)
    t_consts = [t for t, nz in zip(t_consts, nz_consts) if nz]
    t_carry = [_instantiate(t) for t, nz in zip(t_carry, nz_carry) if nz]
    t_xs = [t for t, nz in zip(t_xs, nz_xs) if nz]
    in_order = _group_order(
        [num_consts, num_carry, len(xs)], [len(t_consts), len(t_carry), len(t_xs)]
    )
    nz_ys = out_nz[num_carry:]
    out_order = _group_order([num_carry, num_ys], [len(t_carry), sum(nz_ys)])
    outs = scan_p.bind(
        *consts,
        *t_consts,
        *carry,
        *t_carry,
        *xs,
        *t_xs,
        jaxpr=permute(jvp, in_order, out_order),
        num_consts=num_consts + len(t_consts),
        num_carry=num_carry + len(t_carry),
        length=length,
        reverse=reverse,
        unroll=unroll,
    )
    carry_out = outs[:num_carry]
    t_carry_out = iter(outs[num_carry : num_carry + len(t_carry)])
    ys = outs[num_carry + len(t_carry) : num_carry + len(t_carry) + num_ys]
    t_ys = iter(outs[num_carry + len(t_carry) + num_ys :])
    out_avals = _scan_abstract_eval(
        jaxpr=jaxpr,
        num_consts=num_consts,
        num_carry=num_carry,
        length=length,
        reverse=reverse,
        unroll=unroll,
    )
    out_tangents = [
        next(t_carry_out) if nz else Zero(tangent_aval(a))
        for a, nz in zip(out_avals[:num_carry], nz_carry)
    ] + [
        next(t_ys) if nz else Zero(tangent_aval(a)) for a, nz in zip(out_avals[num_carry:], nz_ys)
    ]
    return carry_out + ys, out_tangents


def _scan_partial_eval(interp, args, params):
    jaxpr, num_consts, num_carry = params["jaxpr"], params["num_consts"], params["num_carry"]
    unknowns = [interp.owns(x) for x in args]
    uk_consts, uk_carry, uk_xs = _scan_split(unknowns, num_consts, num_carry)
    num_ys = len(jaxpr.out_avals) - num_carry
    # Residuals that are constants or scanned inputs are passed on as they are, not
    # stacked again step by step.
    forward = (
        [True] * num_consts + [False] * num_carry + [True] * (len(args) - num_consts - num_carry)
    )

    def derive_split(uk: list[bool]) -> tuple[Any, Sequence[bool]]:
        split = partial_eval_subprogram(
            jaxpr, uk_consts + uk + uk_xs, uk + [False] * num_ys, forward
        )
        return split, split.out_unknowns[:num_carry]

    split, uk_carry = _carry_fixed_point(uk_carry, derive_split)
    unknowns = uk_consts + uk_carry + uk_xs
    n_known_carry = num_carry - sum(uk_carry)
    known_args = [x for x, u in zip(args, unknowns) if not u]
    known = interp.forward_to_parent(
        scan_p,
        known_args,
        {
            **params,
            "jaxpr": split.known,
            "num_consts": num_consts - sum(uk_consts),
            "num_carry": n_known_carry,
        },
    )
    n_known_out = n_known_carry + num_ys - sum(split.out_unknowns[num_carry:])
    stacked = iter(known[n_known_out:])  # the residuals of each step
    # The unknown scan: the residuals that are known constants stay constants; the
    # others (a known scanned input, or a value stacked by the known scan) are scanned.
    res_consts, res_xs = [], []
    is_const = [i is not None and i < num_consts for i in split.res_inputs]
    for i, const in zip(split.res_inputs, is_const):
        if const:
            res_consts.append(args[i])
        else:
            res_xs.append(next(stacked) if i is None else args[i])
    consts, carry, xs = _scan_split(args, num_consts, num_carry)
    uk_c = [x for x, u in zip(consts, uk_consts) if u]
    uk_car = [x for x, u in zip(carry, uk_carry) if u]
    uk_x = [x for x, u in zip(xs, uk_xs) if u]
    # split.unknown takes (*residuals in res order, *unknown consts, carry, xs).
    n_res = len(split.res_avals)
    const_pos = [r for r, const in enumerate(is_const) if const]
    x_pos = [r for r, const in enumerate(is_const) if not const]
    order = (
        const_pos
        + list(range(n_res, n_res + len(uk_c)))
        + list(range(n_res + len(uk_c), n_res + len(uk_c) + len(uk_car)))
        + x_pos
        + list(range(n_res + len(uk_c) + len(uk_car), n_res + len(uk_c) + len(uk_car) + len(uk_x)))
    )
    unknown = permute(split.unknown, order, range(len(split.unknown.out_avals)))
    staged = interp.stage(
        scan_p,
        [*res_consts, *uk_c, *uk_car, *res_xs, *uk_x],
        {
            **params,
            "jaxpr": unknown,
            "num_consts": len(res_consts) + len(uk_c),
            "num_carry": len(uk_car),
        },
    )
    known_iter, staged_iter = iter(known[:n_known_out]), iter(staged)
    return [next(staged_iter) if u else next(known_iter) for u in split.out_unknowns]


def _scan_transpose(cts, *args, jaxpr, num_consts, num_carry, length, reverse, unroll):
    consts, carry, xs = _scan_split(args, num_consts, num_carry)
    lin_consts = [is_undefined(c) for c in consts]
    lin_xs = [is_undefined(x) for x in xs]
    body_avals = jaxpr.in_avals
    c_avals, carry_avals, x_avals = _scan_split(body_avals, num_consts, num_carry)
    out_avals = jaxpr.out_avals
    out_avals_outer = _scan_abstract_eval(
        jaxpr=jaxpr,
        num_consts=num_consts,
        num_carry=num_carry,
        length=length,
        reverse=reverse,
        unroll=unroll,
    )
    cts = instantiate_zeros(cts, out_avals_outer)
    ct_carry, ct_ys = cts[:num_carry], cts[num_carry:]
    # Every carry is linear; a known initial carry (an instantiated zero) gets no cotangent.
    transposed = transpose_subprogram(jaxpr, lin_consts + [True] * num_carry + lin_xs)
    res_c_avals = [a for a, lin in zip(c_avals, lin_consts) if not lin]
    acc_avals = [tangent_aval(a) for a, lin in zip(c_avals, lin_consts) if lin]
    res_x_avals = [a for a, lin in zip(x_avals, lin_xs) if not lin]
    n_rc, n_acc, n_rx = len(res_c_avals), len(acc_avals), len(res_x_avals)

    def body(*values):
        res_c = values[:n_rc]
        acc = values[n_rc : n_rc + n_acc]
        ct_car = values[n_rc + n_acc : n_rc + n_acc + num_carry]
        res_x = values[n_rc + n_acc + num_carry : n_rc + n_acc + num_carry + n_rx]
        ct_y = values[n_rc + n_acc + num_carry + n_rx :]
        outs = evaluator(transposed)(*res_c, *res_x, *ct_car, *ct_y)
        return [add(a, c) for a, c in zip(acc, outs[:n_acc])] + list(outs[n_acc:])

    body_t = trace_closed(
        body,
        res_c_avals
        + acc_avals
        + [tangent_aval(a) for a in carry_avals]
        + res_x_avals
        + [tangent_aval(a) for a in out_avals[num_carry:]],
        "transpose",
    )
    outs = scan_p.bind(
        *(c for c in consts if not is_undefined(c)),
        *(_zeros(a) for a in acc_avals),
        *ct_carry,
        *(x for x in xs if not is_undefined(x)),
        *ct_ys,
        jaxpr=body_t,
        num_consts=n_rc,
        num_carry=n_acc + num_carry,
        length=length,
        reverse=not reverse,
        unroll=unroll,
    )
    ct_consts = iter(outs[:n_acc])
    ct_init = outs[n_acc : n_acc + num_carry]
    ct_xs = iter(outs[n_acc + num_carry :])
    return (
        [next(ct_consts) if lin else None for lin in lin_consts]
        + [ct if is_undefined(c) else None for ct, c in zip(ct_init, carry)]
        + [next(ct_xs) if lin else None for lin in lin_xs]
    )


def _scan_batch(values, dims, *, jaxpr, num_consts, num_carry, length, reverse, unroll):
    size = axis_size(values, dims)
    batched = [d is not None for d in dims]
    b_consts, b_carry, b_xs = _scan_split(batched, num_consts, num_carry)
    num_ys = len(jaxpr.out_avals) - num_carry

    def derive_batched(b: list[bool]) -> tuple[Any, Sequence[bool]]:
        new, out_b = batch_subprogram(jaxpr, b_consts + b + b_xs, size, b + [False] * num_ys)
        return (new, out_b), out_b[:num_carry]

    (new, out_b), b_carry = _carry_fixed_point(b_carry, derive_batched)
    consts, carry, xs = _scan_split(values, num_consts, num_carry)
    d_consts, d_carry, d_xs = _scan_split(dims, num_consts, num_carry)
    moved = (
        [x if d is None else move_batch_dim(x, d, 0, size) for x, d in zip(consts, d_consts)]
        + [move_batch_dim(x, d, 0, size) if b else x for x, d, b in zip(carry, d_carry, b_carry)]
        + [x if d is None else move_batch_dim(x, d, 1, size) for x, d in zip(xs, d_xs)]
    )
    outs = scan_p.bind(
        *moved,
        jaxpr=new,
        num_consts=num_consts,
        num_carry=num_carry,
        length=length,
        reverse=reverse,
        unroll=unroll,
    )
    out_dims = [0 if b else None for b in b_carry] + [1 if b else None for b in out_b[num_carry:]]
    return outs, out_dims


register_jvp(scan_p, _scan_jvp)
register_partial_eval(scan_p, _scan_partial_eval)
register_transpose(scan_p, _scan_transpose)
register_batch(scan_p, _scan_batch)


def scan(
    f: Callable[[Any, Any], tuple[Any, Any]],
    init: Any,
    xs: Any = None,
    length: int | None = None,
    reverse: bool = False,
    unroll: int | bool = 1,
) -> tuple[Any, Any]:
    """Loop ``f`` over the leading axis of ``xs``, carrying a state, as a program.

    As ``jax.lax.scan``, with the semantics of this Python loop::

        def scan(f, init, xs, length=None):
            carry, ys = init, []
            for x in xs:  # over the leading axis of every leaf of xs
                carry, y = f(carry, x)
                ys.append(y)
            return carry, stack(ys)

    ``f`` is traced once; ``init``, ``xs`` and the ``y``s are pytrees (``xs=None`` with
    ``length`` scans over nothing). The carry ``f`` returns must have the same pytree
    and types as ``init``. ``reverse=True`` runs from the last element to the first.
    ``unroll`` is accepted for JAX compatibility; the program is the same.
    Differentiable in both modes to any order (reverse mode stores the residuals of
    each step), batchable, and compiled by ``jit`` into a loop over a generated body.

    >>> import numpy as np
    >>> carry, ys = scan(lambda c, x: (c + x, c * x), 0.0, np.arange(1.0, 4.0))
    >>> float(carry), ys.tolist()
    (6.0, [0.0, 2.0, 9.0])
    """
    if not callable(f):
        raise FungradTypeError(f"scan: f must be a function, got {type(f).__name__}")
    x_leaves, x_tree, x_paths = _flatten_named(xs, "xs")
    lengths = {}
    for leaf, path in zip(x_leaves, x_paths):
        shape = get_aval(leaf).shape
        if not shape:
            raise ShapeError(f"scan: {path} is a scalar; every leaf of xs needs a leading axis")
        lengths.setdefault(shape[0], path)
    if length is not None:
        length = int(length)
        lengths.setdefault(length, "length")
    if len(lengths) > 1:
        listed = ", ".join(f"{p} has {n}" for n, p in lengths.items())
        raise ShapeError(
            f"scan: the leaves of xs must have the same leading axis length: {listed}"
        )
    if not lengths:
        raise FungradTypeError("scan: pass xs with a leading axis, or length= when xs is None")
    (length,) = lengths
    carry_leaves, carry_tree, carry_paths = _flatten_named(init, "init")
    carry_leaves = [_strong(x) for x in carry_leaves]
    carry_avals = [get_aval(x) for x in carry_leaves]
    x_avals = [ShapedArray(get_aval(x).shape[1:], get_aval(x).dtype) for x in x_leaves]
    program, consts, (new_tree, y_tree) = _trace_step(
        f, carry_tree, x_tree, carry_avals, x_avals, "scan", "f"
    )
    _check_carry("scan", "f", carry_tree, new_tree, carry_avals, program.out_avals, carry_paths)
    outs = scan_p.bind(
        *consts,
        *carry_leaves,
        *x_leaves,
        jaxpr=program,
        num_consts=len(consts),
        num_carry=len(carry_leaves),
        length=length,
        reverse=bool(reverse),
        unroll=unroll,
    )
    return (
        tree_unflatten(carry_tree, outs[: len(carry_leaves)]),
        tree_unflatten(y_tree, outs[len(carry_leaves) :]),
    )


def _checked_leaves(leaves: list[Any], construct: str, name: str) -> list[Any]:
    for leaf in leaves:
        try:
            get_aval(leaf)
        except TypeError:
            raise FungradTypeError(
                f"{construct}: {name} returned a {type(leaf).__name__}, which is not an "
                "array; return pytrees of arrays and scalars"
            ) from None
    return [_strong(leaf) for leaf in leaves]


def _kind_of(value: Any) -> str:
    """What ``value`` is, for an error message (a traced array is named by its type,
    not by the tracer class that stands for it)."""
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of length {len(value)}"
    try:
        return f"an array {get_aval(value).str_short()}"
    except TypeError:
        return f"a {type(value).__name__}"


def _trace_step(
    f: Callable[..., Any],
    carry_tree: Any,
    x_tree: Any | None,
    carry_avals: list[ShapedArray],
    x_avals: list[ShapedArray],
    construct: str,
    name: str,
) -> tuple[ClosedJaxpr, list[Any], tuple[Any, Any]]:
    """Trace a loop step: ``f(carry, x) -> (carry, y)`` if ``x_tree`` is given, else
    ``f(carry) -> carry``. Returns the program from ``(*carry, *x)`` to ``(*carry, *y)``,
    the closed-over tracers (its leading inputs), and the carry and ``y`` trees."""
    trees: list[tuple[Any, Any]] = []
    n_carry = len(carry_avals)

    def flat_step(*leaves: Any) -> list[Any]:
        carry = tree_unflatten(carry_tree, leaves[:n_carry])
        if x_tree is None:
            new_carry, y = f(carry), None
        else:
            result = f(carry, tree_unflatten(x_tree, leaves[n_carry:]))
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                raise FungradTypeError(
                    f"{construct}: {name} must return a pair (new_carry, y), got "
                    f"{_kind_of(result)}"
                )
            new_carry, y = result
        c_leaves, c_tree = tree_flatten(new_carry)
        y_leaves, y_tree = tree_flatten(y)
        trees.append((c_tree, y_tree))
        return _checked_leaves(c_leaves + y_leaves, construct, name)

    program, consts, _ = trace_subprogram(flat_step, carry_avals + x_avals, construct)
    return program, consts, trees[0]


def _check_carry(
    construct: str,
    name: str,
    carry_tree: Any,
    new_tree: Any,
    carry_avals: Sequence[ShapedArray],
    out_avals: Sequence[ShapedArray],
    paths: Sequence[str],
) -> None:
    """The carry a loop body returns must have the pytree and types of the one it got."""
    if new_tree != carry_tree:
        raise FungradTypeError(
            f"{construct}: {name} must return a carry of the same pytree structure as its "
            f"input carry: got {carry_tree} in and {new_tree} out"
        )
    for path, a, b in zip(paths, carry_avals, out_avals):
        if a.strip_weak_type() != b.strip_weak_type():
            raise FungradTypeError(
                f"{construct}: {name} must return a carry of the same shapes and dtypes as "
                f"its input carry: {path} is {a.str_short()} in and {b.str_short()} out. "
                "Cast it explicitly (fungrad.numpy.asarray(x, dtype)) or start from a "
                "value of the type the body computes"
            )


def map(f: Callable[[Any], Any], xs: Any) -> Any:  # noqa: A001  (JAX's name)
    """``f`` applied to each slice of ``xs`` along its leading axis, results stacked:
    ``jax.lax.map``, a :func:`scan` with no carry.

    >>> import numpy as np
    >>> map(lambda x: x * x, np.arange(3.0)).tolist()
    [0.0, 1.0, 4.0]
    """
    return scan(lambda carry, x: (carry, f(x)), (), xs)[1]


# ---------------------------------------------------------------------------------------
# while: a loop that runs while a condition holds
#
# Operands: ``cond_nconsts`` constants of the condition, ``body_nconsts`` constants of
# the body, then the carries. The condition maps ``(*cond_consts, *carry)`` to a boolean
# scalar, the body ``(*body_consts, *carry)`` to the new carry.

while_p = new_primitive("while", multiple_results=True)


def run_while(
    cond_fn: Callable[..., list[Any]],
    body_fn: Callable[..., list[Any]],
    cond_nconsts: int,
    body_nconsts: int,
    *args: Any,
) -> list[Any]:
    """Run a while loop whose condition and body are Python functions."""
    cond_consts = args[:cond_nconsts]
    body_consts = args[cond_nconsts : cond_nconsts + body_nconsts]
    carry = list(args[cond_nconsts + body_nconsts :])
    while cond_fn(*cond_consts, *carry)[0]:
        carry = body_fn(*body_consts, *carry)
    return carry


def _while_impl(*args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    return run_while(
        evaluator(cond_jaxpr), evaluator(body_jaxpr), cond_nconsts, body_nconsts, *args
    )


while_p.impl = _while_impl
while_p.abstract_eval = lambda *avals, body_jaxpr, **params: body_jaxpr.out_avals


def _while_jvp(primals, tangents, *, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    n_cc, n_bc = cond_nconsts, body_nconsts
    nonzeros = [type(t) is not Zero for t in tangents]
    nz_consts, nz_carry = nonzeros[n_cc : n_cc + n_bc], nonzeros[n_cc + n_bc :]
    n_carry = len(nz_carry)
    jvp, nz_carry = _carry_fixed_point(
        nz_carry, lambda nz: jvp_subprogram(body_jaxpr, nz_consts + nz, nz)
    )
    cond_consts, body_consts, carry = (
        primals[:n_cc],
        primals[n_cc : n_cc + n_bc],
        primals[n_cc + n_bc :],
    )
    t_consts = [t for t, nz in zip(tangents[n_cc : n_cc + n_bc], nz_consts) if nz]
    t_carry = [_instantiate(t) for t, nz in zip(tangents[n_cc + n_bc :], nz_carry) if nz]
    body = permute(
        jvp,
        _group_order([n_bc, n_carry], [len(t_consts), len(t_carry)]),
        range(n_carry + len(t_carry)),
    )
    # The condition reads the primal carry only.
    cond = _with_unused_inputs(cond_jaxpr, [get_aval(t) for t in t_carry])
    outs = while_p.bind(
        *cond_consts,
        *body_consts,
        *t_consts,
        *carry,
        *t_carry,
        cond_jaxpr=cond,
        body_jaxpr=body,
        cond_nconsts=n_cc,
        body_nconsts=n_bc + len(t_consts),
    )
    t_out = iter(outs[n_carry:])
    return outs[:n_carry], [
        next(t_out) if nz else Zero(tangent_aval(a))
        for a, nz in zip(body_jaxpr.out_avals, nz_carry)
    ]


def _while_partial_eval(interp, args, params):
    # The known carries are computed now by a loop of their own, when neither they nor
    # the condition depend on an unknown value; the unknown ones by the whole loop,
    # staged, which recomputes the known part (a loop whose trip count is not known in
    # advance cannot store the residuals of each step).
    cond_jaxpr, body_jaxpr = params["cond_jaxpr"], params["body_jaxpr"]
    n_cc, n_bc = params["cond_nconsts"], params["body_nconsts"]
    unknowns = [interp.owns(x) for x in args]
    uk_cc, uk_bc, uk_carry = unknowns[:n_cc], unknowns[n_cc : n_cc + n_bc], unknowns[n_cc + n_bc :]
    n_carry = len(uk_carry)

    def derive_split(uk: list[bool]) -> tuple[Any, Sequence[bool]]:
        split = partial_eval_subprogram(body_jaxpr, uk_bc + uk, uk)
        return split, split.out_unknowns

    split, uk_carry = _carry_fixed_point(uk_carry, derive_split)
    cond_split = partial_eval_subprogram(cond_jaxpr, uk_cc + uk_carry, [False])
    if cond_split.out_unknowns[0] or all(uk_carry):
        return interp.stage(while_p, args, params)
    n_known = n_carry - sum(uk_carry)
    known_cond = permute(cond_split.known, range(len(cond_split.known.in_avals)), [0])
    known_body = permute(split.known, range(len(split.known.in_avals)), range(n_known))
    known_args = [x for x, u in zip(args, uk_cc + uk_bc + uk_carry) if not u]
    known = interp.forward_to_parent(
        while_p,
        known_args,
        {
            "cond_jaxpr": known_cond,
            "body_jaxpr": known_body,
            "cond_nconsts": n_cc - sum(uk_cc),
            "body_nconsts": n_bc - sum(uk_bc),
        },
    )
    staged = interp.stage(while_p, args, params)
    known_iter = iter(known)
    return [s if u else next(known_iter) for s, u in zip(staged, uk_carry)]


def _while_transpose(cts, *args, **params):
    error = NonLinearError(
        "Reverse-mode differentiation (grad, vjp, jacrev) does not work through "
        "lax.while_loop, whose number of steps is known only when it runs, so the "
        "values of each step cannot be saved for the backward pass. Use "
        "lax.fori_loop with bounds known while tracing (Python ints), or lax.scan with "
        "a fixed length; forward mode (jvp, jacfwd) does work through while_loop."
    )
    error.explained = True
    raise error


def _while_batch(values, dims, *, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    size = axis_size(values, dims)
    n_cc, n_bc = cond_nconsts, body_nconsts
    batched = [d is not None for d in dims]
    b_cc, b_bc, b_carry = batched[:n_cc], batched[n_cc : n_cc + n_bc], batched[n_cc + n_bc :]
    n_carry = len(b_carry)

    def derive_batched(b: list[bool]) -> tuple[None, Sequence[bool]]:
        _, out_b = batch_subprogram(body_jaxpr, b_bc + b, size, b)
        _, pred_b = batch_subprogram(cond_jaxpr, b_cc + b, size, [False])
        # Examples that finish at different steps: every carry is per example.
        return None, [True] * n_carry if pred_b[0] else out_b

    _, b_carry = _carry_fixed_point(b_carry, derive_batched)
    body, _ = batch_subprogram(body_jaxpr, b_bc + b_carry, size, b_carry)
    cond, pred_b = batch_subprogram(cond_jaxpr, b_cc + b_carry, size, [False])
    moved = [
        move_batch_dim(x, d, 0, size) if b or d is not None else x
        for x, d, b in zip(values, dims, b_cc + b_bc + b_carry)
    ]
    if not pred_b[0]:
        outs = while_p.bind(
            *moved,
            cond_jaxpr=cond,
            body_jaxpr=body,
            cond_nconsts=n_cc,
            body_nconsts=n_bc,
        )
        return outs, [0 if b else None for b in b_carry]
    # Run until every example is done; a finished example keeps its carry.
    carry_avals = [_batched_aval(a, size) for a in body_jaxpr.out_avals]
    cc_avals = cond.in_avals[:n_cc]
    bc_avals = body.in_avals[:n_bc]

    def any_cond(*xs):
        (pred,) = evaluator(cond)(*xs)
        return [ne(reduce_max(convert_element_type(pred, np.dtype(np.int8)), (0,)), 0)]

    def frozen_body(*xs):
        cc, bc, carry = xs[:n_cc], xs[n_cc : n_cc + n_bc], xs[n_cc + n_bc :]
        (pred,) = evaluator(cond)(*cc, *carry)
        new = evaluator(body)(*bc, *carry)
        return [
            select(broadcast_in_dim(pred, shape_of(n), (0,)), n, c) for n, c in zip(new, carry)
        ]

    # The body reads the condition's constants too: they are passed twice, once as the
    # condition's and once among the body's.
    outs = while_p.bind(
        *moved[:n_cc],
        *moved,
        cond_jaxpr=trace_closed(any_cond, cc_avals + carry_avals, "vmap"),
        body_jaxpr=trace_closed(frozen_body, cc_avals + bc_avals + carry_avals, "vmap"),
        cond_nconsts=n_cc,
        body_nconsts=n_cc + n_bc,
    )
    return outs, [0] * n_carry


register_jvp(while_p, _while_jvp)
register_partial_eval(while_p, _while_partial_eval)
register_transpose(while_p, _while_transpose)
register_batch(while_p, _while_batch)


def while_loop(
    cond_fun: Callable[[Any], Any], body_fun: Callable[[Any], Any], init_val: Any
) -> Any:
    """``body_fun`` applied to the carry while ``cond_fun(carry)`` holds, as a program.

    As ``jax.lax.while_loop``, with the semantics of::

        def while_loop(cond_fun, body_fun, init_val):
            val = init_val
            while cond_fun(val):
                val = body_fun(val)
            return val

    Both functions are traced once; ``body_fun`` must return a carry of the same pytree
    and types as ``init_val``. Forward-mode differentiable (``jvp``, ``jacfwd``);
    reverse mode raises, as the number of steps is not known in advance: use
    :func:`fori_loop` with static bounds or :func:`scan`. Under ``vmap`` a condition
    that differs across the batch runs until every example is done.

    >>> float(while_loop(lambda x: x < 10.0, lambda x: 2.0 * x, 1.0))
    16.0
    """
    if not callable(cond_fun) or not callable(body_fun):
        raise FungradTypeError("while_loop: cond_fun and body_fun must be functions")
    leaves, tree, paths = _flatten_named(init_val, "init_val")
    leaves = [_strong(x) for x in leaves]
    avals = [get_aval(x) for x in leaves]

    def flat_cond(*xs):
        pred = cond_fun(tree_unflatten(tree, xs))
        pred_aval = get_aval(pred)
        if pred_aval.shape != () or pred_aval.dtype.kind != "b":
            raise FungradTypeError(
                f"while_loop: cond_fun must return a boolean scalar, got {pred_aval.str_short()}"
            )
        return [pred]

    cond_program, cond_consts, _ = trace_subprogram(flat_cond, avals, "while_loop")
    body_program, body_consts, (new_tree, _) = _trace_step(
        body_fun, tree, None, avals, [], "while_loop", "body_fun"
    )
    _check_carry("while_loop", "body_fun", tree, new_tree, avals, body_program.out_avals, paths)
    outs = while_p.bind(
        *cond_consts,
        *body_consts,
        *leaves,
        cond_jaxpr=cond_program,
        body_jaxpr=body_program,
        cond_nconsts=len(cond_consts),
        body_nconsts=len(body_consts),
    )
    return tree_unflatten(tree, outs)


def _checked_fori_body(body_fun: Callable[[Any, Any], Any], init_val: Any) -> Callable:
    """``body_fun``, checking while it is traced that it returns a value of the type of
    ``init_val``, so that an error names fori_loop's arguments rather than the carry of
    the scan or while_loop it becomes."""
    leaves, tree, paths = _flatten_named(init_val, "init_val")
    avals = [get_aval(x) for x in leaves]

    def checked(i: Any, val: Any) -> Any:
        out = body_fun(i, val)
        out_leaves, out_tree = tree_flatten(out)
        out_avals = []
        for leaf in out_leaves:
            try:
                out_avals.append(get_aval(leaf))
            except TypeError:
                raise FungradTypeError(
                    f"fori_loop: body_fun returned a {type(leaf).__name__}, which is not an "
                    "array; return pytrees of arrays and scalars"
                ) from None
        _check_carry("fori_loop", "body_fun", tree, out_tree, avals, out_avals, paths)
        return out

    return checked


def fori_loop(lower: Any, upper: Any, body_fun: Callable[[Any, Any], Any], init_val: Any) -> Any:
    """``body_fun(i, val)`` for ``i`` from ``lower`` to ``upper - 1``, as a program.

    As ``jax.lax.fori_loop``. When both bounds are known while tracing (Python ints,
    or concrete values) it is a :func:`scan` of ``upper - lower`` steps, differentiable
    in both modes; otherwise a :func:`while_loop` (forward mode only). The index has
    the bounds' integer dtype.

    >>> float(fori_loop(0, 5, lambda i, x: x + i, 0.0))
    10.0
    """
    if not callable(body_fun):
        raise FungradTypeError("fori_loop: body_fun must be a function")
    for name, bound in (("lower", lower), ("upper", upper)):
        aval = get_aval(bound)
        if aval.shape != () or aval.dtype.kind not in "iu":
            raise FungradTypeError(
                f"fori_loop: {name} must be an integer scalar, got {aval.str_short()}"
            )
    dtype = np.result_type(get_aval(lower).dtype, get_aval(upper).dtype)
    body_fun = _checked_fori_body(body_fun, init_val)
    lo, hi = _concrete_int(lower), _concrete_int(upper)
    if lo is not None and hi is not None:

        def step(carry, _):
            i, val = carry
            return (i + np.ones((), dtype), body_fun(i, val)), None

        (_, result), _ = scan(
            step, (np.asarray(lo, dtype), init_val), None, length=builtins.max(hi - lo, 0)
        )
        return result
    start = convert_element_type(lower, dtype)
    stop = convert_element_type(upper, dtype)

    def body(carry):
        i, val = carry
        return i + np.ones((), dtype), body_fun(i, val)

    return while_loop(lambda carry: carry[0] < stop, body, (start, init_val))[1]
