"""Forward mode: the jvp interpreter and its table of jvp rules.

A :class:`JVPTracer` carries a primal and a tangent; the tangent may be a symbolic
:class:`~fungrad.core.Zero`. The interpreter runs each primitive's jvp rule with its
parent current, so the parent sees the primal computation (and, under ``linearize``,
the partial evaluator stages the tangent computation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fungrad.core import (
    Interpreter,
    Primitive,
    ShapedArray,
    Tracer,
    Zero,
    _state,
    activate,
    get_aval,
    missing_rule,
    user_source_line,
    zeros_for,
)
from fungrad.errors import FungradTypeError

_WEAK_SCALARS = (float, int, complex)

#: Each primitive's jvp rule: ``rule(primals, tangents, **params) -> (primal_out,
#: tangent_out)``; a tangent may be a symbolic Zero. Registered with :func:`register_jvp`
#: (directly, or through the helpers in fungrad/primitives/builders.py).
jvp_rules: dict[Primitive, Callable[..., Any]] = {}


def register_jvp(prim: Primitive, rule: Callable[..., Any]) -> None:
    """Make ``rule`` the jvp rule of ``prim``."""
    jvp_rules[prim] = rule


class JVPTracer(Tracer):
    __slots__ = ("primal", "tangent")

    def __init__(self, interpreter: JVPInterpreter, primal: Any, tangent: Any):
        self.interpreter = interpreter
        self.primal = primal
        self.tangent = tangent

    @property
    def aval(self):
        return get_aval(self.primal).strip_weak_type()

    @property
    def shape(self):
        p = self.primal
        return p.shape if hasattr(p, "shape") else ()

    @property
    def weak_type(self) -> bool:
        p = self.primal
        return type(p) in _WEAK_SCALARS or (isinstance(p, Tracer) and p.weak_type)

    def to_concrete(self) -> Any:
        p = self.primal
        return p.to_concrete() if isinstance(p, Tracer) else p

    def differentiated_by(self) -> Interpreter | None:
        if type(self.tangent) is not Zero:
            return self.interpreter
        p = self.primal
        return p.differentiated_by() if isinstance(p, Tracer) else None


class JVPInterpreter(Interpreter):
    __slots__ = ()

    def process_primitive(self, prim: Primitive, args: Sequence[Any], params: dict) -> Any:
        primals = []
        tangents = []
        own = False
        for x in args:
            if type(x) is JVPTracer and x.interpreter is self:
                own = True
                primals.append(x.primal)
                tangents.append(x.tangent)
            else:
                primals.append(x)
                tangents.append(None)
        if not own:
            # Nothing here depends on our perturbation: the parent computes it.
            return self.forward_to_parent(prim, args, params)
        for i, t in enumerate(tangents):
            if t is None:
                tangents[i] = Zero(get_aval(primals[i]))
        rule = jvp_rules.get(prim)
        if rule is None:
            raise missing_rule(prim, "jvp")
        _state.current = self.parent
        try:
            primal_out, tangent_out = rule(primals, tangents, **params)
        finally:
            _state.current = self
        if prim.multiple_results:
            return [JVPTracer(self, p, t) for p, t in zip(primal_out, tangent_out)]
        return JVPTracer(self, primal_out, tangent_out)

    def unpack(self, x: Any) -> tuple[Any, Any]:
        """(primal, tangent) of an output: values we do not own have a zero tangent."""
        if type(x) is JVPTracer and x.interpreter is self:
            return x.primal, x.tangent
        return x, Zero(get_aval(x))


def jvp_flat(
    fun: Callable[..., Sequence[Any]],
    primals: Sequence[Any],
    tangents: Sequence[Any],
    transformation: str = "jvp",
) -> tuple[list[Any], list[Any]]:
    """Push ``tangents`` (values or Zero) through ``fun`` at ``primals``; flat lists in and out."""
    interp = JVPInterpreter(_state.current, transformation)
    tracers = [JVPTracer(interp, p, t) for p, t in zip(primals, tangents)]
    with activate(interp):
        outs = fun(*tracers)
    pairs = [interp.unpack(x) for x in outs]
    return [p for p, _ in pairs], [t for _, t in pairs]


# ---------------------------------------------------------------------------------------
# Helpers for rule writers


def linear_jvp(prim: Primitive) -> None:
    """jvp of a primitive linear in all its inputs: apply it to the tangents.

    Used by ``deflinear`` (fungrad/interpreters/transpose.py), which also gives the
    transpose rule.
    """

    def jvp_rule(primals, tangents, **params):
        ans = prim.bind(*primals, **params)
        if all(type(t) is Zero for t in tangents):
            return ans, Zero(get_aval(ans))
        dtype = get_aval(ans).dtype
        check_real_tangent(dtype)
        # A zero tangent of an integer operand (concatenated with floats) is a zero of
        # the output's dtype: float0 would not promote.
        tangents = [
            zeros_for(ShapedArray(t.aval.shape, dtype)) if type(t) is Zero else t for t in tangents
        ]
        return ans, prim.bind(*tangents, **params)

    register_jvp(prim, jvp_rule)


def check_real_tangent(dtype: np.dtype) -> None:
    """Refuse a tangent of complex dtype: fungrad does not differentiate complex values.

    Called where a tangent takes its output's dtype (``defjvp`` rules through
    ``broadcast_tangent``, linear primitives, casts), so a derivative that would pass
    through a complex number raises instead of coming out silently wrong.
    """
    if dtype.kind == "c":
        raise FungradTypeError(
            f"fungrad cannot differentiate through complex numbers yet: a derivative reached "
            f"a complex value ({dtype}) at {user_source_line()}. Differentiate a real-valued "
            "computation: represent a complex number by its real and imaginary parts as "
            "two real arrays and write the complex arithmetic out."
        )


def zero_jvp(prim: Primitive) -> None:
    """jvp of a primitive whose output has no derivative (comparisons, integer outputs)."""

    def jvp_rule(primals, tangents, **params):
        ans = prim.bind(*primals, **params)
        if prim.multiple_results:
            return ans, [Zero(get_aval(a)) for a in ans]
        return ans, Zero(get_aval(ans))

    register_jvp(prim, jvp_rule)
