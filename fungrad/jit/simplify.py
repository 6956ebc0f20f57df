"""Simplification passes over closed jaxprs, run by ``jit`` before code generation.

Each pass returns a new :class:`ClosedJaxpr` that computes the same outputs
(``eval_jaxpr`` gives equal results, which the tests check pass by pass):

- :func:`inline_calls`: splice the body of every call equation (of a primitive
  registered inlinable, such as a nested ``jit``) into the program;
- :func:`simplify_subprograms`: simplify the sub-programs (``core.subjaxprs``) of
  the other higher-order equations, each keeping its signature;
- :func:`fold_constants`: compute now every equation whose operands are all known;
- :func:`forward_identities`: drop no-op equations (``x * 1``, ``x + 0``, same-shape
  reshape/broadcast, identity transpose, same-dtype convert, ``stop_gradient``),
  asking each primitive's ``identity_operand`` rule;
- :func:`eliminate_common_subexpressions`: compute each distinct equation once;
- :func:`broadcast_implicitly`: leave to NumPy a broadcast that only feeds broadcasting
  elementwise equations which get the full shape from another operand;
- :func:`eliminate_dead_code`: drop equations whose results are never used.

Two literals (or params, or ``jit``'s static arguments) are the same only when they
cannot give different results: :func:`value_key` tells ``0.0`` from ``-0.0``, ``1``
from ``1.0`` and ``True``, and finds a ``nan`` equal to itself.
"""

from __future__ import annotations

import struct
from collections.abc import Collection
from typing import Any

import numpy as np

from fungrad.core import (
    ClosedJaxpr,
    Eqn,
    Jaxpr,
    Literal,
    Primitive,
    ShapedArray,
    Var,
    map_subjaxprs,
    subjaxprs,
)
from fungrad.interpreters.simplify_rules import (
    broadcasting_primitives,
    expansion_rules,
    identity_rules,
    inlinable_primitives,
    reshape_primitive,
)

# Constants up to this many elements are folded; larger ones stay in the program.
_FOLD_LIMIT = 1 << 16


class _Rewriter:
    """Builds a new program from an old one: substitutes atoms and collects constants."""

    def __init__(self, closed: ClosedJaxpr):
        self.closed = closed
        self.subst: dict[Var, Any] = {}
        self.constvars = list(closed.jaxpr.constvars)
        self.consts = list(closed.consts)
        self.eqns: list[Eqn] = []

    def read(self, atom: Any) -> Any:
        while type(atom) is Var and atom in self.subst:
            atom = self.subst[atom]
        return atom

    def new_const(self, value: Any, aval) -> Var | Literal:
        if np.ndim(value) == 0 and not isinstance(value, np.ndarray):
            return Literal(value, aval)
        var = Var(aval)
        self.constvars.append(var)
        self.consts.append(value)
        return var

    def finish(self, outvars: list[Any] | None = None) -> ClosedJaxpr:
        old = self.closed.jaxpr
        outs = [self.read(v) for v in (old.outvars if outvars is None else outvars)]
        used = _used_vars(self.eqns, outs)
        kept = [(v, c) for v, c in zip(self.constvars, self.consts) if v in used]
        jaxpr = Jaxpr([v for v, _ in kept], old.invars, self.eqns, outs)
        return ClosedJaxpr(jaxpr, [c for _, c in kept])


def _used_vars(eqns: list[Eqn], outvars: list[Any]) -> set[Var]:
    used = {v for v in outvars if type(v) is Var}
    for eqn in eqns:
        used.update(a for a in eqn.inputs if type(a) is Var)
    return used


def inline_calls(
    closed: ClosedJaxpr, primitives: Collection[Primitive] | None = None
) -> ClosedJaxpr:
    """Replace call equations by the equations of the program they call, recursively.

    ``primitives`` are the calls to inline, by default those registered inlinable (a
    nested ``jit``); ``fungrad.explain`` also inlines ``checkpoint``. An inlined
    equation without a source line takes the call's."""
    rw = _Rewriter(closed)
    _inline_into(rw, closed.jaxpr.eqns, inlinable_primitives if primitives is None else primitives)
    return rw.finish()


def _inline_into(rw: _Rewriter, eqns: list[Eqn], inlined: Collection[Primitive]) -> None:
    for eqn in eqns:
        inputs = [rw.read(a) for a in eqn.inputs]
        if eqn.primitive not in inlined:
            rw.eqns.append(Eqn(eqn.primitive, inputs, eqn.params, eqn.outputs, eqn.source_info))
            continue
        (body,) = subjaxprs(eqn.params)
        inner = body.jaxpr
        # Fresh variables for the body, so the same body can be inlined twice.
        renamed: dict[Var, Any] = dict(zip(inner.invars, inputs))
        for v, c in zip(inner.constvars, body.consts):
            renamed[v] = rw.new_const(c, v.aval)
        body_eqns = []
        for e in inner.eqns:
            outs = [Var(v.aval) for v in e.outputs]
            renamed.update(zip(e.outputs, outs))
            ins = [renamed.get(a, a) if type(a) is Var else a for a in e.inputs]
            where = e.source_info or eqn.source_info
            body_eqns.append(Eqn(e.primitive, ins, e.params, outs, where))
        _inline_into(rw, body_eqns, inlined)
        for v, inner_out in zip(eqn.outputs, inner.outvars):
            rw.subst[v] = (
                renamed.get(inner_out, inner_out) if type(inner_out) is Var else inner_out
            )


def simplify_subprograms(closed: ClosedJaxpr) -> ClosedJaxpr:
    """Simplify, with every pass, the sub-programs of each higher-order equation. A
    sub-program keeps its inputs and its number of outputs, so its signature."""
    eqns = []
    for eqn in closed.jaxpr.eqns:
        params = eqn.params
        if subjaxprs(params):
            params = map_subjaxprs(params, simplify)
        eqns.append(Eqn(eqn.primitive, eqn.inputs, params, eqn.outputs, eqn.source_info))
    jaxpr = closed.jaxpr
    return ClosedJaxpr(Jaxpr(jaxpr.constvars, jaxpr.invars, eqns, jaxpr.outvars), closed.consts)


def fold_constants(closed: ClosedJaxpr) -> ClosedJaxpr:
    """Evaluate equations whose operands are all literals or constants."""
    rw = _Rewriter(closed)
    known: dict[Var, Any] = dict(zip(closed.jaxpr.constvars, closed.consts))
    for eqn in closed.jaxpr.eqns:
        inputs = [rw.read(a) for a in eqn.inputs]
        values = [_known_value(a, known) for a in inputs]
        small = all(int(np.prod(v.aval.shape, dtype=np.int64)) <= _FOLD_LIMIT for v in eqn.outputs)
        if eqn.inputs and small and all(v is not _UNKNOWN for v in values):
            result = eqn.primitive.impl(*values, **eqn.params)
            results = result if eqn.primitive.multiple_results else [result]
            for v, r in zip(eqn.outputs, results):
                atom = rw.new_const(r, v.aval)
                rw.subst[v] = atom
                if type(atom) is Var:
                    known[atom] = r
            continue
        rw.eqns.append(Eqn(eqn.primitive, inputs, eqn.params, eqn.outputs, eqn.source_info))
    return rw.finish()


_UNKNOWN = object()


def _known_value(atom: Any, known: dict[Var, Any]) -> Any:
    if type(atom) is Literal:
        return atom.value
    return known.get(atom, _UNKNOWN)


def forward_identities(closed: ClosedJaxpr) -> ClosedJaxpr:
    """Drop equations whose output always equals one of their operands."""
    rw = _Rewriter(closed)
    known: dict[Var, Any] = dict(zip(closed.jaxpr.constvars, closed.consts))
    for eqn in closed.jaxpr.eqns:
        inputs = [rw.read(a) for a in eqn.inputs]
        rule = identity_rules.get(eqn.primitive)
        if rule is not None:
            consts = [
                None if v is _UNKNOWN else v for v in (_known_value(a, known) for a in inputs)
            ]
            index = rule([a.aval for a in inputs], consts, **eqn.params)
            # The operand must have the output's whole type (shape, dtype, weak type).
            if index is not None and inputs[index].aval == eqn.outputs[0].aval:
                rw.subst[eqn.outputs[0]] = inputs[index]
                continue
        rw.eqns.append(Eqn(eqn.primitive, inputs, eqn.params, eqn.outputs, eqn.source_info))
    return rw.finish()


def eliminate_common_subexpressions(closed: ClosedJaxpr) -> ClosedJaxpr:
    """Compute each equation (same primitive, operands and params) only once."""
    rw = _Rewriter(closed)
    seen: dict[Any, list[Var]] = {}
    for eqn in closed.jaxpr.eqns:
        inputs = [rw.read(a) for a in eqn.inputs]
        key = _eqn_key(eqn, inputs)
        previous = seen.get(key) if key is not None else None
        if previous is not None:
            rw.subst.update(zip(eqn.outputs, previous))
            continue
        if key is not None:
            seen[key] = eqn.outputs
        rw.eqns.append(Eqn(eqn.primitive, inputs, eqn.params, eqn.outputs, eqn.source_info))
    return rw.finish()


def _eqn_key(eqn: Eqn, inputs: list[Any]) -> Any:
    atoms = tuple(
        (value_key(a.value), a.aval.dtype, a.aval.weak_type) if type(a) is Literal else id(a)
        for a in inputs
    )
    try:
        params = tuple(sorted((name, value_key(v)) for name, v in eqn.params.items()))
        key = (eqn.primitive, atoms, params)
        hash(key)
    except TypeError:
        return None
    return key


def value_key(value: Any) -> Any:
    """A key for ``value`` that equals another's only when the two values are
    interchangeable: same type, and for floats the same bits.

    ``==`` is not enough for a cache key: ``2 == 2.0 == True`` and ``0.0 == -0.0``, yet
    each can give a different result (``1 / -0.0``), and ``nan != nan`` would never
    find itself. Tuples (namedtuples too) and frozensets are keyed element by element.

    >>> value_key(0.0) == value_key(-0.0), value_key(2) == value_key(2.0)
    (False, False)
    >>> value_key(float("nan")) == value_key(float("nan"))
    True
    """
    cls = type(value)
    if cls is str or cls is int or cls is bool or value is None:
        return (cls, value)
    if isinstance(value, float):
        return (cls, struct.pack("<d", value))
    if isinstance(value, complex):
        return (cls, struct.pack("<dd", value.real, value.imag))
    if isinstance(value, np.generic):
        return (cls, value.dtype.str, value.tobytes())
    if isinstance(value, tuple):
        return (cls, tuple([value_key(v) for v in value]))
    if isinstance(value, frozenset):
        return (cls, frozenset([value_key(v) for v in value]))
    return (cls, value)


def broadcast_implicitly(closed: ClosedJaxpr) -> ClosedJaxpr:
    """Drop a broadcast whose every use is an operand of a broadcasting elementwise
    equation (``mul``, ``add``, ...) that gets its full shape from its other operands:
    NumPy broadcasts the smaller operand within the operation, where the broadcast
    equation would make an array first. The operand is reshaped to the broadcast's rank
    where it needs to be (a view). Each changed equation's result keeps its exact type,
    which is checked with its primitive's own shape rule."""
    jaxpr = closed.jaxpr
    uses: dict[Var, list[Eqn]] = {}
    for eqn in jaxpr.eqns:
        for a in eqn.inputs:
            if type(a) is Var:
                uses.setdefault(a, []).append(eqn)
    returned = {v for v in jaxpr.outvars if type(v) is Var}
    replace: dict[Var, tuple[Any, tuple[int, ...]]] = {}  # broadcast result -> (x, shape)
    for eqn in jaxpr.eqns:
        rule = expansion_rules.get(eqn.primitive)
        if rule is None or not reshape_primitive:
            continue
        (x,), (y,) = eqn.inputs, eqn.outputs
        if type(x) is not Var or y in returned or x.aval.weak_type or x.aval.dtype != y.aval.dtype:
            continue
        expanded = rule(x.aval, **eqn.params)
        users = uses.get(y, [])
        if users and all(_full_shape_elsewhere(user, y, expanded) for user in users):
            replace[y] = (x, expanded)
    if not replace:
        return closed
    rw = _Rewriter(closed)
    reshaped: dict[tuple[Any, tuple[int, ...]], Any] = {}  # one reshape of x to each shape
    for eqn in jaxpr.eqns:
        if eqn.outputs[0] in replace and expansion_rules.get(eqn.primitive) is not None:
            continue
        inputs = []
        for a in eqn.inputs:
            if type(a) is Var and a in replace:
                x, expanded = replace[a]
                x = rw.read(x)
                if x.aval.shape == expanded:
                    inputs.append(x)
                    continue
                found = reshaped.get((x, expanded))
                if found is None:
                    (reshape_p,) = reshape_primitive
                    found = Var(ShapedArray(expanded, x.aval.dtype))
                    rw.eqns.append(Eqn(reshape_p, [x], {"new_sizes": expanded}, [found]))
                    reshaped[(x, expanded)] = found
                inputs.append(found)
            else:
                inputs.append(rw.read(a))
        rw.eqns.append(Eqn(eqn.primitive, inputs, eqn.params, eqn.outputs, eqn.source_info))
    return rw.finish()


def _full_shape_elsewhere(eqn: Eqn, y: Var, expanded: tuple[int, ...]) -> bool:
    """Whether ``eqn`` broadcasts its operands and gives the same result with ``y``
    replaced by an operand of shape ``expanded`` (and y's dtype)."""
    if eqn.primitive not in broadcasting_primitives or eqn.primitive.multiple_results:
        return False
    small = ShapedArray(expanded, y.aval.dtype)
    avals = [small if a is y else a.aval for a in eqn.inputs]
    try:
        out = eqn.primitive.abstract_eval(*avals, **eqn.params)
    except Exception:  # noqa: BLE001 (a shape rule that refuses: leave the broadcast)
        return False
    return out == eqn.outputs[0].aval


def eliminate_dead_code(closed: ClosedJaxpr) -> ClosedJaxpr:
    """Drop equations none of whose outputs is needed."""
    jaxpr = closed.jaxpr
    needed = {v for v in jaxpr.outvars if type(v) is Var}
    kept = []
    for eqn in reversed(jaxpr.eqns):
        if any(v in needed for v in eqn.outputs):
            kept.append(eqn)
            needed.update(a for a in eqn.inputs if type(a) is Var)
    kept.reverse()
    rw = _Rewriter(closed)
    rw.eqns = kept
    return rw.finish()


def simplify(closed: ClosedJaxpr) -> ClosedJaxpr:
    """All passes, in an order where each one can expose work for the next."""
    closed = inline_calls(closed)
    closed = simplify_subprograms(closed)
    closed = fold_constants(closed)
    closed = forward_identities(closed)
    closed = eliminate_common_subexpressions(closed)
    closed = broadcast_implicitly(closed)
    return eliminate_dead_code(closed)
