"""Checkpointing (rematerialisation): a program whose intermediate values reverse mode
recomputes instead of saving.

``checkpoint_p`` carries a program; evaluating it runs the program. Its one special
rule is partial evaluation: where an ordinary program split for reverse mode returns
every intermediate value the tangent program needs (the residuals), a checkpointed
one returns only those its ``policy`` says to save, and the staged (unknown) program
recomputes the others from the known inputs, so the backward pass recomputes them
and the forward pass keeps less alive. The jit backend compiles the program into a
function of its own and the simplifier never inlines it, so common-subexpression
elimination cannot merge the recomputation back into the forward pass.

A policy is ``policy(prim, *avals, **params) -> bool``: whether the output of an
equation of ``prim`` on operands of those types may be saved (JAX's convention).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fungrad.core import (
    ClosedJaxpr,
    Eqn,
    Jaxpr,
    Literal,
    Var,
    Zero,
    eval_jaxpr,
    new_primitive,
)
from fungrad.interpreters.batching import axis_size, register_batch
from fungrad.interpreters.jvp import register_jvp
from fungrad.interpreters.partial_eval import register_partial_eval
from fungrad.interpreters.subprograms import (
    differentiable,
    evaluator,
    instantiate_zeros,
    jvp_subprogram,
    partial_eval_subprogram,
    tangent_aval,
    trace_closed,
    transpose_subprogram,
)
from fungrad.interpreters.transpose import is_undefined, register_transpose
from fungrad.primitives.control_flow import batch_subprogram
from fungrad.primitives.structural import move_batch_dim

Policy = Callable[..., bool]


# ---------------------------------------------------------------------------------------
# Policies (JAX's names, in fungrad.checkpoint_policies)


class NamedPolicy:
    """A policy that prints as its name in a jaxpr (``policy=dots_saveable``)."""

    def __init__(self, name: str, fn: Policy, doc: str):
        self.name = name
        self.fn = fn
        self.__doc__ = doc

    def __call__(self, prim: Any, *avals: Any, **params: Any) -> bool:
        return self.fn(prim, *avals, **params)

    def __repr__(self) -> str:
        return self.name


def _dots_no_batch(prim: Any, *avals: Any, **params: Any) -> bool:
    if prim.name != "dot_general":
        return False
    (_, (lhs_batch, _)) = params["dimension_numbers"]
    return not lhs_batch


everything_saveable = NamedPolicy(
    "everything_saveable",
    lambda prim, *avals, **params: True,
    "Save every intermediate value: no recomputation (as without checkpoint).",
)
nothing_saveable = NamedPolicy(
    "nothing_saveable",
    lambda prim, *avals, **params: False,
    "Save nothing but the inputs: recompute every intermediate value (the default).",
)
dots_saveable = NamedPolicy(
    "dots_saveable",
    lambda prim, *avals, **params: prim.name == "dot_general",
    "Save the results of matrix products (``dot_general``), recompute the rest.",
)
checkpoint_dots = dots_saveable
dots_with_no_batch_dims_saveable = NamedPolicy(
    "dots_with_no_batch_dims_saveable",
    _dots_no_batch,
    "Save the results of matrix products without batch dimensions, recompute the rest.",
)


def save_anything_except_these_names(*names: str) -> Policy:
    """Save everything except the outputs of the primitives named (e.g. ``"tanh"``)."""
    return NamedPolicy(
        f"save_anything_except_these_names{names!r}",
        lambda prim, *avals, **params: prim.name not in names,
        "Save everything except the outputs of these primitives.",
    )


def save_only_these_primitives(*names: str) -> Policy:
    """Save only the outputs of the primitives named, recompute the rest."""
    return NamedPolicy(
        f"save_only_these_primitives{names!r}",
        lambda prim, *avals, **params: prim.name in names,
        "Save only the outputs of these primitives.",
    )


# ---------------------------------------------------------------------------------------
# The primitive

checkpoint_p = new_primitive("checkpoint", multiple_results=True)


def _checkpoint_impl(*args, jaxpr, prevent_cse, policy):
    return eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, *args)


checkpoint_p.impl = _checkpoint_impl
checkpoint_p.abstract_eval = lambda *avals, jaxpr, prevent_cse, policy: jaxpr.out_avals


def _checkpoint_jvp(primals, tangents, *, jaxpr, prevent_cse, policy):
    nonzeros = [type(t) is not Zero for t in tangents]
    n_out = len(jaxpr.out_avals)
    jvp, out_nonzeros = jvp_subprogram(jaxpr, nonzeros, [False] * n_out)
    supplied = [
        t for t, nz, a in zip(tangents, nonzeros, jaxpr.in_avals) if nz and differentiable(a)
    ]
    outs = checkpoint_p.bind(
        *primals, *supplied, jaxpr=jvp, prevent_cse=prevent_cse, policy=policy
    )
    out_tangents = iter(outs[n_out:])
    return outs[:n_out], [
        next(out_tangents) if nz else Zero(tangent_aval(a))
        for a, nz in zip(jaxpr.out_avals, out_nonzeros)
    ]


def remat_split(
    closed: ClosedJaxpr, unknowns: Sequence[bool], saveable: Callable[[Eqn], bool]
) -> tuple[ClosedJaxpr, ClosedJaxpr, list[bool], int, list[int]]:
    """Split ``closed`` by ``unknowns`` as partial evaluation does, saving only what
    ``saveable`` allows.

    Returns the known program (known inputs to the known outputs, then the saved
    values), the unknown one (``(*saved, *known inputs it reads, *unknown inputs)`` to
    the unknown outputs; it first recomputes the residuals that were not saved), which
    outputs are unknown, how many values are saved, and the indices of the known
    inputs the unknown program reads. Nested higher-order primitives are split by
    their own rules (``partial_eval_subprogram``); the policy then decides, equation
    by equation of the known program, what the unknown program recomputes.
    """
    n_in = len(closed.in_avals)
    split = partial_eval_subprogram(
        closed, unknowns, [False] * len(closed.out_avals), [True] * n_in
    )
    known = split.known.jaxpr
    n_known_out = len(split.out_unknowns) - sum(split.out_unknowns)
    returned = known.outvars[n_known_out:]  # the residuals the known program computes
    known_inputs = [i for i, u in enumerate(unknowns) if not u]
    input_index = {v: known_inputs[k] for k, v in enumerate(known.invars)}
    producer = {v: i for i, eqn in enumerate(known.eqns) for v in eqn.outputs}
    constvars = set(known.constvars)
    saved: list[Var] = []
    read: list[Var] = []
    recompute: set[int] = set()
    seen: set[Any] = set()

    def need(a: Any) -> None:
        if type(a) is Literal or a in constvars or a in seen:
            return
        seen.add(a)
        if a in input_index:
            read.append(a)
        elif saveable(known.eqns[producer[a]]):
            saved.append(a)
        elif producer[a] not in recompute:
            recompute.add(producer[a])
            for b in known.eqns[producer[a]].inputs:
                need(b)

    for a in returned:
        need(a)
    for i in split.res_inputs:
        if i is not None:
            need(known.invars[known_inputs.index(i)])
    # The recomputation: from the saved values and the inputs read, the residuals.
    rebuild = ClosedJaxpr(
        Jaxpr(
            known.constvars,
            saved + read,
            [e for i, e in enumerate(known.eqns) if i in recompute],
            list(returned),
        ),
        split.known.consts,
    )
    read_index = [input_index[v] for v in read]
    n_saved, n_read = len(saved), len(read)
    unknown_avals = [a for a, u in zip(closed.in_avals, unknowns) if u]

    def unknown_fun(*args: Any) -> list[Any]:
        computed = iter(evaluator(rebuild)(*args[: n_saved + n_read]))
        inputs = dict(zip(read_index, args[n_saved : n_saved + n_read]))
        residuals = [next(computed) if i is None else inputs[i] for i in split.res_inputs]
        return evaluator(split.unknown)(*residuals, *args[n_saved + n_read :])

    unknown = trace_closed(
        unknown_fun, [v.aval for v in saved + read] + unknown_avals, "checkpoint"
    )
    known_program = ClosedJaxpr(
        Jaxpr(known.constvars, known.invars, known.eqns, known.outvars[:n_known_out] + saved),
        split.known.consts,
    )
    return known_program, unknown, split.out_unknowns, n_saved, read_index


def _checkpoint_partial_eval(interp, args, params):
    policy = params["policy"]

    def saveable(eqn: Eqn) -> bool:
        return bool(policy(eqn.primitive, *(a.aval for a in eqn.inputs), **eqn.params))

    unknowns = [interp.owns(x) for x in args]
    known, unknown, out_unknowns, _, read_inputs = remat_split(params["jaxpr"], unknowns, saveable)
    known_outs = interp.forward_to_parent(
        checkpoint_p, [x for x, u in zip(args, unknowns) if not u], {**params, "jaxpr": known}
    )
    n_known_out = len(out_unknowns) - sum(out_unknowns)
    staged = interp.stage(
        checkpoint_p,
        [
            *known_outs[n_known_out:],
            *(args[i] for i in read_inputs),
            *(x for x, u in zip(args, unknowns) if u),
        ],
        {**params, "jaxpr": unknown},
    )
    known_iter, staged_iter = iter(known_outs[:n_known_out]), iter(staged)
    return [next(staged_iter) if u else next(known_iter) for u in out_unknowns]


def _checkpoint_transpose(cts, *args, jaxpr, prevent_cse, policy):
    linear = [is_undefined(a) for a in args]
    transposed = transpose_subprogram(jaxpr, linear)
    cts = instantiate_zeros(cts, jaxpr.out_avals)
    outs = iter(
        checkpoint_p.bind(
            *(a for a in args if not is_undefined(a)),
            *cts,
            jaxpr=transposed,
            prevent_cse=prevent_cse,
            policy=policy,
        )
    )
    return [next(outs) if lin else None for lin in linear]


def _checkpoint_batch(values, dims, *, jaxpr, prevent_cse, policy):
    size = axis_size(values, dims)
    batched = [d is not None for d in dims]
    new, out_batched = batch_subprogram(jaxpr, batched, size, [False] * len(jaxpr.out_avals))
    moved = [x if d is None else move_batch_dim(x, d, 0, size) for x, d in zip(values, dims)]
    outs = checkpoint_p.bind(*moved, jaxpr=new, prevent_cse=prevent_cse, policy=policy)
    return outs, [0 if b else None for b in out_batched]


register_jvp(checkpoint_p, _checkpoint_jvp)
register_partial_eval(checkpoint_p, _checkpoint_partial_eval)
register_transpose(checkpoint_p, _checkpoint_transpose)
register_batch(checkpoint_p, _checkpoint_batch)
