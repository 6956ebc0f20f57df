"""The call primitive ``jit``: a call of a program carried in its params.

Under a transformation, a jitted function (fungrad/jit) binds ``jit_p`` with its
traced program as ``call_jaxpr``. Every rule binds the call again on a program
derived from that one (below), so transformations of a jitted function stay
compiled; the simplifier inlines calls inside a program being compiled (it is
registered inlinable). The implementation runs the ``_runner`` that fungrad/jit
puts in the params (it compiles the program on first use, and keeps the programs
derived from it), so this layer needs nothing from fungrad/jit; jit registers the
call's lowering itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fungrad.core import ClosedJaxpr, Zero, new_primitive
from fungrad.interpreters.batching import axis_size, register_batch
from fungrad.interpreters.jvp import register_jvp
from fungrad.interpreters.partial_eval import register_partial_eval
from fungrad.interpreters.simplify_rules import register_inlinable
from fungrad.interpreters.subprograms import (
    Split,
    closure_convert,
    differentiable,
    instantiate_zeros,
    jvp_subprogram,
    partial_eval_subprogram,
    tangent_aval,
    transpose_subprogram,
)
from fungrad.interpreters.transpose import is_undefined, register_transpose
from fungrad.primitives.control_flow import batch_subprogram
from fungrad.primitives.structural import move_batch_dim

jit_p = new_primitive("jit", multiple_results=True)
jit_p.impl = lambda *args, call_jaxpr, name, _runner: _runner(*args)
jit_p.abstract_eval = lambda *avals, call_jaxpr, name, _runner: [
    v.aval for v in call_jaxpr.jaxpr.outvars
]


# The rules bind the call again on a program derived from its own (its jvp, its
# known and unknown parts, its transpose, its batched form), so a transformation of a
# jitted function stays compiled: ``grad(jit(f))`` runs a compiled forward program
# and a compiled backward one. The runner (fungrad/jit) derives each program once
# per kind and keeps it, compiled, for the next call.


def _derived(prim_params: dict, key: Any, label: str, make: Callable[[], tuple]):
    """``(program, info), params`` of the call bound on a program derived from this one."""
    runner = prim_params["_runner"]
    name = f"{label}_{prim_params['name']}"
    (closed, info), derived_runner = runner.derive(key, name, make)
    return (closed, info), {"call_jaxpr": closed, "name": name, "_runner": derived_runner}


def _jit_jvp(primals, tangents, **params):
    call_jaxpr = params["call_jaxpr"]
    nonzeros = tuple(type(t) is not Zero for t in tangents)
    n_out = len(call_jaxpr.out_avals)
    (_, out_nonzeros), jvp_params = _derived(
        params,
        ("jvp", nonzeros),
        "jvp",
        lambda: jvp_subprogram(call_jaxpr, nonzeros, [False] * n_out),
    )
    # jvp_subprogram takes tangents only for differentiable inputs.
    supplied = [
        t for t, nz, a in zip(tangents, nonzeros, call_jaxpr.in_avals) if nz and differentiable(a)
    ]
    outs = jit_p.bind(*primals, *supplied, **jvp_params)
    out_tangents = iter(outs[n_out:])
    return outs[:n_out], [
        next(out_tangents) if nz else Zero(tangent_aval(a))
        for a, nz in zip(call_jaxpr.out_avals, out_nonzeros)
    ]


def _jit_partial_eval(interp, args, params):
    call_jaxpr = params["call_jaxpr"]
    unknowns = tuple(interp.owns(x) for x in args)
    n_out = len(call_jaxpr.out_avals)

    def make() -> tuple[ClosedJaxpr, Split]:
        split = partial_eval_subprogram(call_jaxpr, unknowns, [False] * n_out, [True] * len(args))
        return split.known, split

    (_, split), known_params = _derived(params, ("known", unknowns), "known", make)
    known_outs = interp.forward_to_parent(
        jit_p, [x for x, u in zip(args, unknowns) if not u], known_params
    )
    n_known_out = n_out - sum(split.out_unknowns)
    computed = iter(known_outs[n_known_out:])
    residuals = [next(computed) if i is None else args[i] for i in split.res_inputs]
    _, unknown_params = _derived(
        params, ("unknown", unknowns), "linear", lambda: (split.unknown, None)
    )
    staged = interp.stage(
        jit_p, [*residuals, *(x for x, u in zip(args, unknowns) if u)], unknown_params
    )
    known_iter, staged_iter = iter(known_outs[:n_known_out]), iter(staged)
    return [next(staged_iter) if u else next(known_iter) for u in split.out_unknowns]


def _jit_transpose(cts, *args, **params):
    call_jaxpr = params["call_jaxpr"]
    linear = tuple(is_undefined(a) for a in args)
    _, t_params = _derived(
        params,
        ("transpose", linear),
        "transpose",
        lambda: (transpose_subprogram(call_jaxpr, linear), None),
    )
    cts = instantiate_zeros(cts, call_jaxpr.out_avals)
    outs = iter(jit_p.bind(*(a for a in args if not is_undefined(a)), *cts, **t_params))
    return [next(outs) if lin else None for lin in linear]


def _jit_batch(values, dims, **params):
    call_jaxpr = params["call_jaxpr"]
    size = axis_size(values, dims)
    batched = tuple(d is not None for d in dims)
    n_out = len(call_jaxpr.out_avals)
    (_, out_batched), b_params = _derived(
        params,
        ("batch", batched, size),
        "vmap",
        lambda: batch_subprogram(call_jaxpr, batched, size, [False] * n_out),
    )
    moved = [x if d is None else move_batch_dim(x, d, 0, size) for x, d in zip(values, dims)]
    outs = jit_p.bind(*moved, **b_params)
    return outs, [0 if b else None for b in out_batched]


register_jvp(jit_p, _jit_jvp)
register_batch(jit_p, _jit_batch)
register_transpose(jit_p, _jit_transpose)
register_inlinable(jit_p)
register_partial_eval(jit_p, _jit_partial_eval)

__all__ = ["closure_convert", "jit_p"]
