"""What jaxpr rewriting passes may ask of a primitive: when it is the identity, and
whether it is a call that may be inlined.

An *identity rule* lets ``jit``'s simplifier drop a no-op equation (``x * 1``, a
reshape to the same shape). Given the operands' avals, their known constant values
(None where unknown) and the params, it returns the index of the operand the output
always equals, or None. The simplifier (fungrad/jit/simplify.py) also checks that
the operand has the output's whole type before it forwards it.

An *inlinable* primitive is a call: its params hold exactly one sub-program (see
``core.subjaxprs``), which takes the equation's operands and gives its outputs, so
the simplifier may splice that program in place of the equation.
"""

from __future__ import annotations

from collections.abc import Callable

from fungrad.core import Primitive

#: Each primitive's identity rule: ``rule(avals, consts, **params) -> int | None``.
identity_rules: dict[Primitive, Callable[..., int | None]] = {}


def register_identity(prim: Primitive, rule: Callable[..., int | None]) -> None:
    """Make ``rule`` the identity rule of ``prim``."""
    identity_rules[prim] = rule


#: The call primitives, whose one sub-program the simplifier may inline.
inlinable_primitives: set[Primitive] = set()


def register_inlinable(prim: Primitive) -> None:
    """Mark ``prim`` as a call whose equations may be replaced by their sub-program."""
    inlinable_primitives.add(prim)
