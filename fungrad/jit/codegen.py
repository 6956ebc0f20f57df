"""Code generation: a simplified jaxpr becomes one straight-line Python function.

Each equation becomes one line, written by its primitive's ``emit`` rule (see
fungrad/interpreters/lowering.py). The generator tracks which intermediates are
fresh arrays it owns and when each dies, and offers a dead one of the right shape
and dtype as ``out=`` to the next equation that can write into it; elementwise
operations may even write into an operand that dies with them. Intermediates that
may be views (reshape, transpose, broadcast, slicing) keep their base alive.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from fungrad.core import ClosedJaxpr, Literal, Var
from fungrad.interpreters.lowering import Namespace, impl_emitter


class GeneratedCode:
    """A compiled program: ``fn(*args) -> list of outputs``, and its Python source."""

    def __init__(self, fn: Callable[..., list[Any]], source: str):
        self.fn = fn
        self.source = source


def generate(closed: ClosedJaxpr, name: str = "jitted") -> GeneratedCode:
    jaxpr = closed.jaxpr
    ns = Namespace()
    names: dict[Var, str] = {}
    for i, v in enumerate(jaxpr.invars):
        names[v] = f"a{i}"
    for v, c in zip(jaxpr.constvars, closed.consts):
        names[v] = ns.name(c, "c")

    def source_of(atom: Any) -> str:
        if type(atom) is Literal:
            value = atom.value
            # repr gives back the same value (-0.0 included) for ints, bools and finite
            # floats; nan, inf and NumPy scalars are referred to by name instead.
            if type(value) in (int, bool) or (type(value) is float and math.isfinite(value)):
                return repr(value)
            return ns.name(value, "k")
        return names[atom]

    end = len(jaxpr.eqns)
    last_use: dict[Var, int] = {}
    for i, eqn in enumerate(jaxpr.eqns):
        for a in eqn.inputs:
            if type(a) is Var:
                last_use[a] = i
    for v in jaxpr.outvars:
        if type(v) is Var:
            last_use[v] = end

    # bases[v]: the owned fresh arrays that v is, or may be a view of.
    bases: dict[Var, tuple[Var, ...]] = {}
    live_aliases: dict[Var, int] = {}  # owned base -> number of live vars on it
    free: dict[tuple, list[Var]] = {}  # (shape, dtype) -> dead owned bases

    def release(base: Var) -> None:
        live_aliases[base] -= 1
        if live_aliases[base] == 0:
            free.setdefault((base.aval.shape, base.aval.dtype), []).append(base)

    lines = []
    counter = 0
    for i, eqn in enumerate(jaxpr.eqns):
        args = [source_of(a) for a in eqn.inputs]
        dying = [a for a in dict.fromkeys(eqn.inputs) if type(a) is Var and last_use[a] == i]
        out_var = eqn.outputs[0]
        out_key = (out_var.aval.shape, out_var.aval.dtype)
        candidate = None
        if not eqn.primitive.multiple_results and out_var.aval.ndim > 0:
            # A buffer that died earlier suits every rule; an operand dying here only
            # rules that may write over their own operands (elementwise ones).
            if free.get(out_key):
                candidate = free[out_key][-1]
            else:
                candidate = _dying_base(dying, bases, live_aliases, out_key)
        emit = eqn.primitive.emit or impl_emitter(eqn.primitive.impl, eqn.primitive.name, False)
        emitted = emit(
            ns,
            args,
            eqn.params,
            names[candidate] if candidate is not None else None,
            [a.aval for a in eqn.inputs],
        )
        outs = []
        for v in eqn.outputs:
            names[v] = f"v{counter}"
            counter += 1
            outs.append(names[v])
        target = ", ".join(outs) + (
            "," if eqn.primitive.multiple_results and len(outs) == 1 else ""
        )
        expression = emitted.expression
        weak = out_var.aval.weak_type and not out_var.aval.shape
        if weak and not eqn.primitive.multiple_results:
            # Weakly typed results stay Python scalars, as in eager evaluation.
            expression = f"{ns.name(_python_scalar, 'scalar')}({expression})"
        lines.append(f"    {target} = {expression}")
        if emitted.used_out:
            # out_var is now the same array as the candidate buffer, which was dead.
            assert candidate is not None
            bucket = free.get(out_key, [])
            if candidate in bucket:
                bucket.remove(candidate)
            else:
                live_aliases[candidate] = 0  # a dying operand: its last use was this line
                dying = [a for a in dying if bases.get(a) != (candidate,)]
            bases[out_var] = (out_var,)
            live_aliases[out_var] = 1
        elif emitted.fresh and not eqn.primitive.multiple_results:
            bases[out_var] = (out_var,)
            live_aliases[out_var] = 1 if out_var.aval.ndim > 0 else 0
            if out_var.aval.ndim == 0:
                bases[out_var] = ()
        else:
            # Possibly a view of any operand: it keeps their bases alive.
            for v in eqn.outputs:
                shared = tuple(
                    dict.fromkeys(
                        b for a in eqn.inputs if type(a) is Var for b in bases.get(a, ())
                    )
                )
                bases[v] = shared
                for b in shared:
                    live_aliases[b] += 1
        for v in eqn.outputs:
            if v not in last_use:  # never used (dead code is rare after simplification)
                last_use[v] = i
                dying.append(v)
        for a in dying:
            for b in bases.get(a, ()):
                release(b)

    # An output that is a constant or an argument is copied, as eager NumPy code would
    # give a new array: the caller may modify what it gets back.
    # The same goes for an output listed twice (two equal results merged by CSE).
    # Scalars are immutable: they are not copied, and keep their type (a weakly typed
    # one is a Python scalar, as everywhere else).
    shared = set(jaxpr.constvars) | set(jaxpr.invars)
    returned: list[str] = []
    seen: set[Var] = set()
    for v in jaxpr.outvars:
        copy = type(v) is Var and (v in shared or v in seen)
        if copy and v.aval.weak_type and not v.aval.shape:
            returned.append(f"{ns.name(_python_scalar, 'scalar')}({source_of(v)})")
        elif copy:
            returned.append(f"{ns.name(_new_array, 'copy')}({source_of(v)})")
        else:
            returned.append(source_of(v))
        if type(v) is Var:
            seen.add(v)
    outs = ", ".join(returned)
    params = ", ".join(names[v] for v in jaxpr.invars)
    safe = "".join(c if c.isalnum() else "_" for c in name) or "jitted"
    source = "\n".join([f"def {safe}({params}):", *lines, f"    return [{outs}]"]) + "\n"
    namespace = dict(ns.values)
    namespace["np"] = np
    exec(compile(source, f"<fungrad.jit {name}>", "exec"), namespace)
    return GeneratedCode(namespace[safe], source)


def _python_scalar(x: Any) -> Any:
    return x.item() if isinstance(x, (np.generic, np.ndarray)) else x


def _new_array(x: Any) -> Any:
    return x.copy() if isinstance(x, np.ndarray) else x


def _dying_base(
    dying: list[Var], bases: dict[Var, tuple[Var, ...]], live: dict[Var, int], key: tuple
) -> Var | None:
    """An operand dying here that is the only live reference to an owned array of ``key``."""
    for a in dying:
        own = bases.get(a, ())
        if own == (a,) and live.get(a) == 1 and (a.aval.shape, a.aval.dtype) == key:
            return a
    return None
