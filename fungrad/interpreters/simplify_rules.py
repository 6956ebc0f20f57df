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


#: Primitives that broadcast their operands as NumPy does (``add``, ``mul``, ...): jit's
#: simplifier may give them an operand of fewer elements where another operand has the
#: full shape.
broadcasting_primitives: set[Primitive] = set()


def register_broadcasting(prim: Primitive) -> None:
    """Mark ``prim`` as broadcasting its operands as NumPy does."""
    broadcasting_primitives.add(prim)


#: For a primitive that only broadcasts its operand (``broadcast_in_dim``), its rule
#: ``rule(operand_aval, **params) -> shape``: the operand's shape at the output's rank,
#: 1 along the broadcast axes; and the primitive that reshapes (``reshape``, whose one
#: param is ``new_sizes``), to write that shape.
expansion_rules: dict[Primitive, Callable[..., tuple[int, ...]]] = {}
reshape_primitive: list[Primitive] = []


def register_expansion(prim: Primitive, rule: Callable[..., tuple[int, ...]]) -> None:
    """Make ``rule`` the expansion rule of ``prim`` (see ``expansion_rules``)."""
    expansion_rules[prim] = rule


def register_reshape(prim: Primitive) -> None:
    """Make ``prim`` the primitive the simplifier writes a reshape with."""
    reshape_primitive[:] = [prim]
