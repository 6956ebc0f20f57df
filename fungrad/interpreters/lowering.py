"""Lowering to NumPy source: what a primitive's ``emit`` rule returns, and helpers.

``jit`` turns a simplified jaxpr into one straight-line Python function of NumPy
calls (see fungrad/jit/codegen.py). For each equation it asks the primitive's emit
rule for the expression::

    emit(ns, args, params, out, avals) -> Emitted(expression, fresh, used_out)

``ns`` names Python objects the expression refers to (``ns.name(np.add)``),
``args`` are the operands' source (variable names or literals) and ``avals`` their
abstract values, and ``out`` is either None or the name of a dead intermediate
array of exactly the output's shape and dtype that the expression may write into
(``out=``). ``fresh`` says the result
is a new array that nothing else refers to (so it may be reused later), and
``used_out`` whether ``out`` was written. A primitive without an emit rule is
called through its ``impl``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple


class Emitted(NamedTuple):
    expression: str
    fresh: bool
    used_out: bool


class Namespace:
    """The globals of a generated function; gives each referenced object a name."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self._by_id: dict[int, str] = {}

    def name(self, obj: Any, hint: str = "f") -> str:
        found = self._by_id.get(id(obj))
        if found is None:
            hint = "".join(c if c.isalnum() else "_" for c in hint)
            found = f"_{hint}{len(self.values)}"
            self.values[found] = obj
            self._by_id[id(obj)] = found
        return found


def ufunc_emitter(ufunc: Any) -> Callable[..., Emitted]:
    """Emit rule for a primitive that is exactly a NumPy ufunc: ``ufunc(a, b, out=o)``."""

    def emit(
        ns: Namespace, args: list[str], params: dict, out: str | None, avals: list
    ) -> Emitted:
        fn = ns.name(ufunc, ufunc.__name__)
        if out is None:
            return Emitted(f"{fn}({', '.join(args)})", True, False)
        return Emitted(f"{fn}({', '.join(args)}, out={out})", True, True)

    return emit


def impl_emitter(impl: Callable[..., Any], name: str, fresh: bool) -> Callable[..., Emitted]:
    """Emit rule that calls ``impl`` with the equation's params bound."""

    def emit(
        ns: Namespace, args: list[str], params: dict, out: str | None, avals: list
    ) -> Emitted:
        fn = ns.name(functools.partial(impl, **params) if params else impl, name)
        return Emitted(f"{fn}({', '.join(args)})", fresh, False)

    return emit
