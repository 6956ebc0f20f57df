"""Transposition: run a linear jaxpr backwards, from output cotangents to input cotangents.

Every equation in a linear jaxpr (as built by partial evaluation) is linear in its
non-constant inputs. Walking the equations in reverse, each primitive's transpose
rule maps the cotangent of its output to cotangents of its linear inputs, which are
summed where a variable was used more than once. Rules call ``bind``, so the
backward pass is itself traced by whatever interpreter is current: that is how
reverse mode nests under forward mode (``hessian``) and under itself.

A transpose rule has the signature ``rule(ct, *args, **params)``: ``args`` holds
an :class:`UndefinedPrimal` for each linear input and the value of each constant
input; it returns one cotangent per input, ``None`` where there is none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fungrad.core import (
    Jaxpr,
    Literal,
    Primitive,
    ShapedArray,
    Var,
    Zero,
    _state,
    add,
    backward_line,
)
from fungrad.errors import NonLinearError
from fungrad.interpreters.jvp import linear_jvp

#: The transpose rule of each primitive linear in some input, registered with
#: :func:`register_transpose` (directly, or through ``deflinear``/``defbilinear`` in
#: fungrad/primitives/builders.py).
transpose_rules: dict[Primitive, Callable[..., Any]] = {}


def register_transpose(prim: Primitive, rule: Callable[..., Any]) -> None:
    """Make ``rule`` the transpose rule of ``prim``: ``rule(ct, *args, **params)``."""
    transpose_rules[prim] = rule


def deflinear(prim: Primitive, transpose_rule: Callable[..., Any]) -> None:
    """Declare ``prim`` linear in all its inputs: its jvp applies it to the tangents,
    and ``transpose_rule(ct, *args, **params)`` is its transpose."""
    linear_jvp(prim)
    register_transpose(prim, transpose_rule)


class UndefinedPrimal:
    """Stands for a linear input of an equation being transposed."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self) -> str:
        return f"UndefinedPrimal({self.aval.str_short()})"


def is_undefined(x: Any) -> bool:
    return type(x) is UndefinedPrimal


def require_constant(prim: str, **operands: Any) -> None:
    """For transpose rules: the named operands must not depend on the linear input."""
    for name, x in operands.items():
        if type(x) is UndefinedPrimal:
            raise NonLinearError(
                f"'{prim}' is not linear in its operand `{name}`, which depends on the input"
            )


def _evaluate_known(jaxpr: Jaxpr, known: dict[Var, Any]) -> None:
    """Compute the equations that use only known values (a program transposed with
    some constant operands can do non-linear work on them), adding their outputs."""
    for eqn in jaxpr.eqns:
        if all(type(a) is Literal or a in known for a in eqn.inputs):
            values = [a.value if type(a) is Literal else known[a] for a in eqn.inputs]
            out = eqn.primitive.bind(*values, **eqn.params)
            outs = out if eqn.primitive.multiple_results else [out]
            known.update(zip(eqn.outputs, outs))


def backward_pass(
    jaxpr: Jaxpr,
    consts: Sequence[Any],
    cts_out: Sequence[Any],
    transformation: str = "vjp",
    args: Sequence[Any] | None = None,
) -> list[Any]:
    """Cotangents of ``jaxpr``'s invars given cotangents of its outvars (Zero allowed).

    All invars are linear unless ``args`` is given: then an :class:`UndefinedPrimal`
    entry marks a linear invar and any other entry is the value of a constant one.
    Returns one entry per invar: a value, or a Zero when nothing reached it.
    """
    known: dict[Var, Any] = dict(zip(jaxpr.constvars, consts))
    if args is not None:
        known.update((v, a) for v, a in zip(jaxpr.invars, args) if not is_undefined(a))
        _evaluate_known(jaxpr, known)
    cts: dict[Var, Any] = {}

    def write_ct(v: Any, ct: Any) -> None:
        if ct is None or type(ct) is Zero or type(v) is Literal or v in known:
            return
        prev = cts.get(v)
        cts[v] = ct if prev is None else add(prev, ct)

    for v, ct in zip(jaxpr.outvars, cts_out):
        write_ct(v, ct)

    for eqn in reversed(jaxpr.eqns):
        prim = eqn.primitive
        if prim.multiple_results:
            ct_out = [cts.pop(v, None) for v in eqn.outputs]
            if all(ct is None for ct in ct_out):
                continue
            ct_out = [Zero(v.aval) if ct is None else ct for v, ct in zip(eqn.outputs, ct_out)]
        else:
            ct_out = cts.pop(eqn.outputs[0], None)
            if ct_out is None:
                continue
        args = []
        for a in eqn.inputs:
            if type(a) is Literal:
                args.append(a.value)
            elif a in known:
                args.append(known[a])
            else:
                args.append(UndefinedPrimal(a.aval))
        rule = transpose_rules.get(prim)
        if rule is None:
            where = f" at {eqn.source_info}" if eqn.source_info else ""
            raise NonLinearError(
                f"`{transformation}` met the primitive '{prim.name}'{where} applied to a "
                "value it must treat as linear, but that primitive has no transpose rule: "
                "it is not linear in that input. If you called linear_transpose, the "
                "function is not linear in its inputs; otherwise this is a gap in fungrad."
            )
        line = eqn.source_info
        if line is not None:  # the work done here is the adjoint of that line's work
            previous, _state.source_override = _state.source_override, backward_line(line)
        try:
            cts_in = rule(ct_out, *args, **eqn.params)
        except NonLinearError as err:
            if getattr(err, "explained", False):  # from a nested program: already said
                raise
            where = f" at {eqn.source_info}" if eqn.source_info else ""
            explained = NonLinearError(
                f"`{transformation}` cannot transpose this program: {err}{where}. The "
                "function must be linear in the inputs being transposed (a sum of "
                "constant multiples of them)."
            )
            explained.explained = True
            raise explained from None
        else:
            for a, ct in zip(eqn.inputs, cts_in):
                write_ct(a, ct)  # a sum of adjoints is this line's backward work too
        finally:
            if line is not None:
                _state.source_override = previous

    results = [None if v in known else cts.pop(v, None) for v in jaxpr.invars]
    return [Zero(v.aval) if ct is None else ct for v, ct in zip(jaxpr.invars, results)]
