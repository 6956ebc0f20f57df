"""What jaxpr rewriting passes may ask of a primitive: when it is the identity.

An *identity rule* lets ``jit``'s simplifier drop a no-op equation (``x * 1``, a
reshape to the same shape). Given the operands' avals, their known constant values
(None where unknown) and the params, it returns the index of the operand the output
always equals, or None. The simplifier (fungrad/jit/simplify.py) also checks that
the operand has the output's whole type before it forwards it.
"""

from __future__ import annotations

from collections.abc import Callable

from fungrad.core import Primitive

#: Each primitive's identity rule: ``rule(avals, consts, **params) -> int | None``.
identity_rules: dict[Primitive, Callable[..., int | None]] = {}


def register_identity(prim: Primitive, rule: Callable[..., int | None]) -> None:
    """Make ``rule`` the identity rule of ``prim``."""
    identity_rules[prim] = rule
