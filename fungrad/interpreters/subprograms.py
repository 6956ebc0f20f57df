"""Sub-programs for higher-order primitives: tracing them, and transforming them whole.

A higher-order primitive (``cond``, ``scan``, ``while_loop``, ...) carries programs in
its params. Its rules do not run the interpreters on values one equation at a time;
they transform the carried programs into new programs and bind the primitive again:

- :func:`trace_subprogram` traces a Python function into a program whose constants
  are concrete values; values of enclosing transformations that the function closes
  over (tracers) are turned into leading inputs (closure conversion), so every
  interpreter sees them as the primitive's operands.
- :func:`jvp_subprogram` is forward mode on a program: primals and the non-zero
  tangents in, primal and tangent outputs out.
- :func:`partial_eval_subprogram` splits a program whose inputs are partly known into
  a known program (run now, it also returns the *residuals*) and an unknown program
  (staged, it takes the residuals), as JAX's ``partial_eval_jaxpr_nounits`` does.
- :func:`transpose_subprogram` is transposition: the known inputs and the output
  cotangents in, the cotangents of the linear inputs out.

Batching a program needs structural primitives (moving a batch axis), so it lives
with the control-flow primitives, one layer up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from fungrad import dtypes
from fungrad.core import (
    ClosedJaxpr,
    EvalInterpreter,
    Jaxpr,
    ShapedArray,
    Tracer,
    Zero,
    activate,
    eval_jaxpr,
    zeros_for,
)
from fungrad.interpreters.jvp import jvp_flat
from fungrad.interpreters.partial_eval import StagingInterpreter, trace_to_jaxpr
from fungrad.interpreters.transpose import UndefinedPrimal, backward_pass


def closure_convert(closed: ClosedJaxpr) -> tuple[ClosedJaxpr, list[Any]]:
    """Turn constants that are tracers (closed-over values being transformed) into
    leading arguments, so the transformation sees them as the call's operands.

    >>> from fungrad import make_jaxpr
    >>> closed = make_jaxpr(lambda x: x + 1.0)(2.0)
    >>> closure_convert(closed) == (closed, [])
    True
    """
    pairs = list(zip(closed.jaxpr.constvars, closed.consts))
    traced = [(v, c) for v, c in pairs if isinstance(c, Tracer)]
    if not traced:
        return closed, []
    concrete = [(v, c) for v, c in pairs if not isinstance(c, Tracer)]
    jaxpr = closed.jaxpr
    converted = Jaxpr(
        [v for v, _ in concrete], [v for v, _ in traced] + jaxpr.invars, jaxpr.eqns, jaxpr.outvars
    )
    return ClosedJaxpr(converted, [c for _, c in concrete]), [c for _, c in traced]


def trace_subprogram(
    fun: Callable[..., Sequence[Any]],
    in_avals: Sequence[ShapedArray],
    transformation: str,
    origins: Sequence[str] | None = None,
) -> tuple[ClosedJaxpr, list[Any], list[Any]]:
    """Trace ``fun`` (flat list in, flat list out) for a higher-order primitive.

    Returns the program, the closed-over tracers that became its leading inputs, and
    ``fun``'s raw outputs. The program's constants are concrete values.
    """
    if origins is None:
        origins = [f"input {i} of the {transformation} body" for i in range(len(in_avals))]
    closed, outs = trace_to_jaxpr(fun, in_avals, origins, transformation)
    converted, traced = closure_convert(closed)
    return converted, traced, outs


def evaluator(closed: ClosedJaxpr) -> Callable[..., list[Any]]:
    """A function running ``closed`` on the current interpreter."""
    return lambda *args: eval_jaxpr(closed.jaxpr, closed.consts, *args)


def trace_closed(fun: Callable, in_avals: Sequence[ShapedArray], what: str) -> ClosedJaxpr:
    """Trace ``fun`` into a program that closes over no tracer (a rule's new program)."""
    closed, traced, _ = trace_subprogram(fun, in_avals, what)
    assert not traced, "a transformed sub-program closed over a tracer"
    return closed


def tangent_aval(aval: ShapedArray) -> ShapedArray:
    return ShapedArray(aval.shape, aval.dtype)


def differentiable(aval: ShapedArray) -> bool:
    return dtypes.is_differentiable(aval.dtype)


def instantiate_zeros(values: Sequence[Any], avals: Sequence[ShapedArray]) -> list[Any]:
    """``values`` with each symbolic Zero materialised, as an array of its aval's shape
    and dtype (a higher-order primitive binds its programs on arrays, not on Zeros)."""
    return [np.zeros(a.shape, a.dtype) if type(v) is Zero else v for v, a in zip(values, avals)]


def permute(closed: ClosedJaxpr, in_order: Sequence[int], out_order: Sequence[int]) -> ClosedJaxpr:
    """The same program with its inputs and outputs reordered: input ``k`` of the new
    program is input ``in_order[k]`` of the old one, and likewise for outputs."""
    jaxpr = closed.jaxpr
    permuted = Jaxpr(
        jaxpr.constvars,
        [jaxpr.invars[i] for i in in_order],
        jaxpr.eqns,
        [jaxpr.outvars[i] for i in out_order],
    )
    return ClosedJaxpr(permuted, closed.consts)


# ---------------------------------------------------------------------------------------
# Forward mode


def jvp_subprogram(
    closed: ClosedJaxpr, nonzeros: Sequence[bool], instantiate: Sequence[bool]
) -> tuple[ClosedJaxpr, list[bool]]:
    """Forward mode of ``closed``: a program from ``(*primals, *tangents)``, a tangent
    for each input with ``nonzeros[i]``, to ``(*primal_outs, *tangent_outs)``, a tangent
    for each output that is not a symbolic zero or has ``instantiate[j]`` (then a zero is
    materialised). Returns it and, per output, whether it has a tangent.
    """
    in_avals = closed.in_avals
    nonzeros = [nz and differentiable(a) for nz, a in zip(nonzeros, in_avals)]
    tangent_avals = [tangent_aval(a) for a, nz in zip(in_avals, nonzeros) if nz]
    n = len(in_avals)
    out_nonzeros: list[bool] = []

    def fun(*args: Any) -> list[Any]:
        primals = args[:n]
        supplied = iter(args[n:])
        tangents = [next(supplied) if nz else Zero(a) for a, nz in zip(in_avals, nonzeros)]
        outs, out_tangents = jvp_flat(evaluator(closed), primals, tangents, "jvp")
        kept = []
        for aval, t, inst in zip(closed.out_avals, out_tangents, instantiate):
            if type(t) is Zero and inst and differentiable(aval):
                t = zeros_for(tangent_aval(aval))
            out_nonzeros.append(type(t) is not Zero)
            if type(t) is not Zero:
                kept.append(t)
        return list(outs) + kept

    jvp = trace_closed(fun, list(in_avals) + tangent_avals, "jvp")
    return jvp, out_nonzeros


# ---------------------------------------------------------------------------------------
# Partial evaluation


class Split(NamedTuple):
    """A program split by :func:`partial_eval_subprogram`.

    ``known`` maps the known inputs to the known outputs followed by the residuals it
    computes; ``unknown`` maps ``(*residuals, *unknown inputs)`` to the unknown outputs.
    ``res_inputs[r]`` is, for residual ``r``, the index (among all inputs) of the known
    input it is, when it is one and was ``forwardable``: ``known`` does not return it,
    and the caller passes that input itself. ``res_avals`` are the residuals' types.
    """

    known: ClosedJaxpr
    unknown: ClosedJaxpr
    out_unknowns: list[bool]
    res_avals: list[ShapedArray]
    res_inputs: list[int | None]


def partial_eval_subprogram(
    closed: ClosedJaxpr,
    unknowns: Sequence[bool],
    instantiate: Sequence[bool],
    forwardable: Sequence[bool] | None = None,
) -> Split:
    """Split ``closed`` by which inputs are ``unknowns``.

    An equation is known when all its inputs are; its outputs are then residuals if an
    unknown equation reads them. An output is unknown if it depends on an unknown input,
    or if ``instantiate[j]`` (a known value is then passed through as a residual).

    The program is run on a splitting staging interpreter (the unknown values) above a
    staging interpreter for the known ones, as ``linearize`` splits a function: so a
    nested higher-order primitive whose operands are partly known is split by its own
    partial-evaluation rule, and the unknown program holds only its unknown part. (Staged
    whole, its known part, non-linear, would sit in a program that must be transposed.)
    """
    in_avals = closed.in_avals
    if forwardable is None:
        forwardable = [False] * len(in_avals)
    # The known program's constants are concrete: what is computed from them alone is
    # computed now, by an evaluation interpreter, never by an enclosing transformation.
    # Both record their equations' lines (cheap here: each comes from the equation of
    # ``closed`` being evaluated), for the NaN checks' reports and printed programs.
    known_interp = StagingInterpreter(
        EvalInterpreter(None, "eval"), "linearize", False, record_lines=True
    )
    unknown_interp = StagingInterpreter(
        known_interp, "linearize", False, split=True, record_lines=True
    )
    args: list[Any] = []
    known_in: list[Any] = []
    unknown_in: list[Any] = []
    for i, (aval, unknown) in enumerate(zip(in_avals, unknowns)):
        interp, group = (unknown_interp, unknown_in) if unknown else (known_interp, known_in)
        tracer = interp.new_arg(aval, f"input {i} of a sub-program")
        group.append(tracer)
        args.append(tracer)
    with activate(unknown_interp):
        outs = eval_jaxpr(closed.jaxpr, closed.consts, *args)
    out_unknowns = [unknown_interp.owns(x) or bool(inst) for x, inst in zip(outs, instantiate)]
    unknown_outvars = [unknown_interp.to_atom(x) for x, u in zip(outs, out_unknowns) if u]
    # The unknown program's constants that are known values are the residuals.
    residuals, res_vars, constvars, consts = [], [], [], []
    for var, value in zip(unknown_interp.constvars, unknown_interp.const_values):
        if known_interp.owns(value):
            residuals.append(value)
            res_vars.append(var)
        else:
            constvars.append(var)
            consts.append(value)
    input_index = {id(t): i for i, t in enumerate(args) if not unknowns[i]}
    res_inputs: list[int | None] = []
    for r in residuals:
        i = input_index.get(id(r))
        res_inputs.append(i if i is not None and forwardable[i] else None)
    unknown = ClosedJaxpr(
        Jaxpr(
            constvars,
            res_vars + [t.jaxpr_var for t in unknown_in],
            unknown_interp.eqns,
            unknown_outvars,
        ),
        consts,
    )
    known_outs = [x for x, u in zip(outs, out_unknowns) if not u]
    returned_res = [r for r, i in zip(residuals, res_inputs) if i is None]
    known = known_interp.build(known_in, known_outs + returned_res)
    known_interp.closed = unknown_interp.closed = True
    return Split(known, unknown, out_unknowns, [v.aval for v in res_vars], res_inputs)


# ---------------------------------------------------------------------------------------
# Transposition


def transpose_subprogram(closed: ClosedJaxpr, linear: Sequence[bool]) -> ClosedJaxpr:
    """Transpose of ``closed`` in its ``linear`` inputs: a program from
    ``(*known inputs, *output cotangents)`` to the cotangents of the linear inputs
    (zeros materialised where nothing reached one). The program may do non-linear work
    on its known inputs (the residuals of partial evaluation)."""
    in_avals = closed.in_avals
    n_known = sum(1 for lin in linear if not lin)

    def fun(*args: Any) -> list[Any]:
        known = iter(args[:n_known])
        full = [UndefinedPrimal(a) if lin else next(known) for a, lin in zip(in_avals, linear)]
        cts = backward_pass(closed.jaxpr, closed.consts, args[n_known:], "vjp", args=full)
        return [
            zeros_for(a) if type(ct) is Zero else ct
            for ct, a, lin in zip(cts, in_avals, linear)
            if lin
        ]

    known_avals = [a for a, lin in zip(in_avals, linear) if not lin]
    ct_avals = [tangent_aval(a) for a in closed.out_avals]
    return trace_closed(fun, known_avals + ct_avals, "transpose")
