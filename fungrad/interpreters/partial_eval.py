"""Staging and partial evaluation: build a jaxpr from the operations on our own tracers.

A :class:`StagingInterpreter` stages every operation that touches one of its tracers
(an *unknown* value) into a jaxpr under construction, and hands every operation on
values it does not own (*known* values) to its parent to compute now. That one rule
is both ``make_jaxpr`` (all inputs unknown) and partial evaluation for
``linearize``: running the jvp interpreter on top of a staging interpreter whose
tracers are the tangents computes primals now and stages the tangent program, a
linear jaxpr whose constants are the residuals of the forward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fungrad.core import (
    ClosedJaxpr,
    Eqn,
    Interpreter,
    Jaxpr,
    Literal,
    Primitive,
    ShapedArray,
    Tracer,
    Var,
    Zero,
    _state,
    activate,
    escaped_tracer_error,
    get_aval,
    missing_rule,
    user_source_line,
)
from fungrad.errors import ConcretizationError, ShapeError
from fungrad.flags import config
from fungrad.interpreters.jvp import JVPInterpreter, JVPTracer


class StagingTracer(Tracer):
    __slots__ = ("jaxpr_var", "origin")

    def __init__(self, interpreter: StagingInterpreter, var: Var, origin: str):
        self.interpreter = interpreter
        self.jaxpr_var = var  # not `var`: that is the array method .var()
        self.origin = origin

    @property
    def aval(self) -> ShapedArray:
        return self.jaxpr_var.aval

    def to_concrete(self) -> Any:
        transformation = self.interpreter.transformation
        sources = self.interpreter.arguments_behind(self.jaxpr_var)
        depends = f"; it depends on {', '.join(sources)}" if sources else ""
        raise ConcretizationError(
            f"A concrete value was needed (for `if`, `while`, `bool()`, `int()` or an index) "
            f"but this value is abstract under `{transformation}`: {self.aval.str_short()}, "
            f"{self.origin}{depends}. Under {transformation} only shapes and dtypes are known, "
            "so Python control flow cannot depend on array values. Choose values with "
            "`fungrad.numpy.where`, or pass the argument as static "
            "(`static_argnums=`) so its value is known while tracing. To branch or loop "
            "on traced values, write the control flow as a program: `fungrad.lax.cond` "
            "(or `lax.switch`) for `if`, `lax.while_loop` for `while`, `lax.fori_loop` or "
            "`lax.scan` for a `for` loop (docs/control_flow.md)."
        )


_SCALAR_TYPES = (float, int, bool, complex, np.generic)

#: Partial-evaluation rules of higher-order primitives, used when ``linearize`` stages
#: an equation some of whose operands are known (computed now) and some unknown
#: (staged): ``rule(interp, args, params) -> outputs``. The rule computes the known
#: part now (``interp.forward_to_parent``) and stages the rest (``interp.stage``), as
#: a ``cond`` whose primal branch runs now and whose tangent branch is staged. A
#: primitive without a rule is staged whole, its known operands as constants.
partial_eval_rules: dict[Primitive, Callable[..., Any]] = {}


def register_partial_eval(prim: Primitive, rule: Callable[..., Any]) -> None:
    """Make ``rule(interp, args, params)`` the partial-evaluation rule of ``prim``."""
    partial_eval_rules[prim] = rule


class StagingInterpreter(Interpreter):
    __slots__ = (
        "eqns",
        "constvars",
        "const_values",
        "const_index",
        "record_source",
        "record_lines",
        "arg_origins",
        "split",
    )

    def __init__(
        self,
        parent: Interpreter,
        transformation: str,
        record_source: bool = True,
        split: bool = False,
        record_lines: bool | None = None,
    ):
        super().__init__(parent, transformation)
        # A program a user reads (make_jaxpr, jit): operations with no operands are
        # staged rather than computed, and each equation records its source line.
        self.record_source = record_source
        # Source lines cost a frame walk per equation: worth it for programs a user
        # reads, not for the tangent programs built inside an eager grad (unless they
        # end up in one, or the NaN checks are on: see linearize_flat).
        self.record_lines = record_source if record_lines is None else record_lines
        # Partial evaluation (linearize): split equations with known and unknown
        # operands by their partial_eval_rules. make_jaxpr and jit stage them whole.
        self.split = split
        self.arg_origins: dict[Var, str] = {}
        self.eqns: list[Eqn] = []
        self.constvars: list[Var] = []
        self.const_values: list[Any] = []
        self.const_index: dict[int, Var] = {}

    def new_arg(self, aval: ShapedArray, origin: str) -> StagingTracer:
        tracer = StagingTracer(self, Var(aval), origin)
        self.arg_origins[tracer.jaxpr_var] = origin
        return tracer

    def arguments_behind(self, var: Var) -> list[str]:
        """The traced arguments ``var`` was computed from (for error messages)."""
        if var in self.arg_origins:
            return []  # the tracer's own origin already names it
        needed = {var}
        for eqn in reversed(self.eqns):
            if any(v in needed for v in eqn.outputs):
                needed.update(a for a in eqn.inputs if type(a) is Var)
        return [origin for v, origin in self.arg_origins.items() if v in needed]

    def process_primitive(self, prim: Primitive, args: Sequence[Any], params: dict) -> Any:
        for x in args:
            if type(x) is StagingTracer and x.interpreter is self:
                break
        else:
            # An operation on values we do not own is computed now, by the parent; an
            # operation with no operands at all (``eye``) is staged in the programs a
            # user reads (make_jaxpr, jit), so they generate the constant rather than
            # capture it as data.
            if args or not self.record_source:
                return self.forward_to_parent(prim, args, params)
        if self.split:
            rule = partial_eval_rules.get(prim)
            if rule is not None and not all(self.owns(x) for x in args):
                return rule(self, args, params)
        return self.stage(prim, args, params)

    def owns(self, x: Any) -> bool:
        """Whether ``x`` is unknown: one of this interpreter's tracers."""
        return type(x) is StagingTracer and x.interpreter is self

    def stage(self, prim: Primitive, args: Sequence[Any], params: dict) -> Any:
        """Stage ``prim`` applied to ``args`` (values not ours become constants)."""
        inputs = [self.to_atom(x) for x in args]
        rule = prim.abstract_eval
        if rule is None:
            raise missing_rule(prim, "shape")
        line = user_source_line() if self.record_lines else None
        try:
            out_aval = rule(*(a.aval for a in inputs), **params)
        except ShapeError as err:
            raise ShapeError(f"{err} (at {line or user_source_line()})") from None
        if prim.multiple_results:
            outputs = [Var(a) for a in out_aval]
        elif out_aval.weak_type and _state.numpy_typing:
            outputs = [Var(out_aval.strip_weak_type())]  # see core._State.numpy_typing
        else:
            outputs = [Var(out_aval)]
        self.eqns.append(Eqn(prim, inputs, params, outputs, line))
        origin = f"the output of `{prim.name}`" + (f" at {line}" if line else "")
        tracers = [StagingTracer(self, v, origin) for v in outputs]
        return tracers if prim.multiple_results else tracers[0]

    def to_atom(self, x: Any) -> Var | Literal:
        """The jaxpr atom for an input: our own var, a literal, or a new constvar."""
        if type(x) is StagingTracer and x.interpreter is self:
            return x.jaxpr_var
        if isinstance(x, _SCALAR_TYPES):
            return Literal(x, get_aval(x))
        if isinstance(x, Tracer) and x.interpreter.closed:
            raise escaped_tracer_error(x)
        var = self.const_index.get(id(x))
        if var is None:
            var = self.const_index[id(x)] = Var(get_aval(x).strip_weak_type())
            self.constvars.append(var)
            self.const_values.append(x)  # also keeps id(x) from being reused
        return var

    def build(self, in_tracers: Sequence[StagingTracer], outs: Sequence[Any]) -> ClosedJaxpr:
        """Close the interpreter and return the jaxpr from ``in_tracers`` to ``outs``."""
        outvars = [self.to_atom(x) for x in outs]
        invars = [t.jaxpr_var for t in in_tracers]
        jaxpr = Jaxpr(self.constvars, invars, self.eqns, outvars)
        return ClosedJaxpr(jaxpr, self.const_values)


def trace_to_jaxpr(
    fun: Callable[..., Sequence[Any]],
    in_avals: Sequence[ShapedArray],
    origins: Sequence[str],
    transformation: str = "make_jaxpr",
) -> tuple[ClosedJaxpr, list[Any]]:
    """Stage ``fun`` (flat list in, flat list out) into a closed jaxpr.

    Returns the jaxpr and ``fun``'s raw outputs (useful for their pytree structure).
    """
    interp = StagingInterpreter(_state.current, transformation)
    tracers = [interp.new_arg(a, o) for a, o in zip(in_avals, origins)]
    with activate(interp):
        outs = fun(*tracers)
    return interp.build(tracers, outs), outs


def _lines() -> bool:
    """Whether a linear program should record source lines: when the NaN checks are on
    (their reports name the line behind each backward-pass operation), or when it is
    built while tracing a program a user reads (``jit(grad(f))``, ``make_jaxpr``)."""
    if config.debug_nans or config.debug_infs:
        return True
    interp: Interpreter | None = _state.current
    while interp is not None:
        if type(interp) is StagingInterpreter and interp.record_source:
            return True
        interp = interp.parent
    return False


def linearize_flat(
    fun: Callable[..., Sequence[Any]],
    primals: Sequence[Any],
    tangent_avals: Sequence[ShapedArray | None],
    transformation: str = "linearize",
) -> tuple[list[Any], ClosedJaxpr, list[bool]]:
    """Evaluate ``fun`` at ``primals`` and stage its jvp as a linear jaxpr.

    ``tangent_avals[i]`` is None for inputs without tangents (integers). Returns the
    primal outputs, the linear jaxpr from the non-None tangents to the output
    tangents, and for each output whether its tangent is a symbolic zero (those
    outputs are literal zeros in the jaxpr).
    """
    staging = StagingInterpreter(
        _state.current, transformation, record_source=False, split=True, record_lines=_lines()
    )
    jvp_interp = JVPInterpreter(staging, transformation)
    tangent_tracers = []
    tracers = []
    for i, (p, aval) in enumerate(zip(primals, tangent_avals)):
        if aval is None:
            t: Any = Zero(get_aval(p))
        else:
            t = staging.new_arg(aval, f"the tangent of input {i}")
            tangent_tracers.append(t)
        tracers.append(JVPTracer(jvp_interp, p, t))
    with activate(jvp_interp):
        outs = fun(*tracers)
    pairs = [jvp_interp.unpack(x) for x in outs]
    out_primals = [p for p, _ in pairs]
    zero_outs = [type(t) is Zero for _, t in pairs]
    jaxpr = staging.build(tangent_tracers, [t for _, t in pairs if type(t) is not Zero])
    staging.closed = True
    return out_primals, jaxpr, zero_outs
