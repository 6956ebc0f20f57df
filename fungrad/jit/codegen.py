"""Code generation: a simplified jaxpr becomes straight-line Python source of NumPy calls.

This is the NumPy backend's emitter. Three parts meet here:

- the :class:`~fungrad.jit.schedule.Schedule` (schedule.py, backend-independent)
  says, equation by equation, which dead array of the right shape and dtype a result
  may be written into, and which outputs must be copied;
- the lowering rules (lowering.py, looked up in the backend's table by primitive)
  give each equation's expression;
- :class:`ModuleWriter`, here, writes the text: variable names, one line per
  equation, the ``return``, and one ``def`` per program. A rule may ask for a
  sub-program to be compiled (``ctx.function``): it becomes another ``def`` in the
  same source, and the rule's expression calls it by name.

The source is compiled once with ``exec``; its globals are the objects it names.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from fungrad.core import ClosedJaxpr, Literal, Var
from fungrad.debug_checks import check_output
from fungrad.jit.lowering import LoweringContext, Operand, lowering_rule
from fungrad.jit.schedule import Schedule


class GeneratedCode:
    """A compiled program: ``fn(*args) -> list of outputs``, and its Python source."""

    def __init__(self, fn: Callable[..., list[Any]], source: str):
        self.fn = fn
        self.source = source


def generate(closed: ClosedJaxpr, name: str = "jitted", checks: bool = False) -> GeneratedCode:
    """Compile ``closed`` into a Python function named after ``name``. With ``checks``,
    each equation's result is checked for NaN and Inf (as the options ask, at run time:
    fungrad/debug_checks.py), and no result is written into another's buffer, so that
    a report shows the inputs as they were."""
    writer = ModuleWriter(checks)
    main = "".join(c if c.isalnum() else "_" for c in name) or "jitted"
    writer.write_function(closed, main)
    return writer.compile(main, name)


class ModuleWriter:
    """The source of one generated module: its functions, and the Python objects they
    refer to (a ufunc, a constant array, a function with its params bound), each under
    a name among the module's globals."""

    def __init__(self, checks: bool = False) -> None:
        self.checks = checks
        self.values: dict[str, Any] = {}
        self._by_id: dict[int, str] = {}
        self._sources: list[str] = []
        self._functions: dict[int, tuple[ClosedJaxpr, str]] = {}  # id(program) -> name

    def name(self, obj: Any, hint: str = "f") -> str:
        """A global name for ``obj`` (the same one each time it is asked for)."""
        found = self._by_id.get(id(obj))
        if found is None:
            found = self._new_name(hint)
            self.values[found] = obj
            self._by_id[id(obj)] = found
        return found

    def function(self, closed: ClosedJaxpr, hint: str) -> str:
        """The name of a generated function computing ``closed``, written once."""
        found = self._functions.get(id(closed))
        if found is None:
            name = self._new_name(hint)
            self.values[name] = None  # bound by its def when the module runs
            found = self._functions[id(closed)] = (closed, name)
            self.write_function(closed, name)
        return found[1]

    def _new_name(self, hint: str) -> str:
        return "_" + "".join(c if c.isalnum() else "_" for c in hint) + str(len(self.values))

    def _literal(self, atom: Literal) -> Operand:
        value = atom.value
        # repr gives back the same value (-0.0 included) for ints, bools and finite
        # floats; nan, inf and NumPy scalars are referred to by name instead.
        if type(value) in (int, bool) or (type(value) is float and math.isfinite(value)):
            source = repr(value)
        else:
            source = self.name(value, "k")
        return Operand(source, atom.aval, True, value)

    def write_function(self, closed: ClosedJaxpr, name: str) -> None:
        """Write ``def name(a0, a1, ...)``, computing ``closed``, into the module."""
        jaxpr = closed.jaxpr
        operands: dict[Var, Operand] = {}
        for i, v in enumerate(jaxpr.invars):
            operands[v] = Operand(f"a{i}", v.aval)
        for v, c in zip(jaxpr.constvars, closed.consts):
            operands[v] = Operand(self.name(c, "c"), v.aval, value=c)  # known, not inline
        schedule = Schedule(jaxpr)
        lines = []
        counter = 0
        for i, eqn in enumerate(jaxpr.eqns):
            args = [operands[a] if type(a) is Var else self._literal(a) for a in eqn.inputs]
            buffer = schedule.buffer_for(i)
            if self.checks:
                buffer = None
            # A buffer that is an operand is the same Operand object, so a rule can tell.
            ctx = LoweringContext(self, None if buffer is None else operands[buffer])
            emitted = lowering_rule(eqn.primitive)(ctx, *args, **eqn.params)
            outs = []
            for v in eqn.outputs:
                operands[v] = Operand(f"v{counter}", v.aval)
                counter += 1
                outs.append(operands[v].source)
            multiple = eqn.primitive.multiple_results
            target = ", ".join(outs) + ("," if multiple and len(outs) == 1 else "")
            expression = emitted.expression
            aval = eqn.outputs[0].aval
            if aval.weak_type and not aval.shape and not multiple:
                # Weakly typed results stay Python scalars, as in eager evaluation.
                expression = f"{self.name(_python_scalar, 'scalar')}({expression})"
            lines.append(f"    {target} = {expression}")
            if self.checks:
                check = functools.partial(check_output, eqn.primitive.name, line=eqn.source_info)
                result = f"[{', '.join(outs)}]" if multiple else outs[0]
                operands_text = "".join(f"{a.source}, " for a in args)
                lines.append(f"    {self.name(check, 'check')}({result}, ({operands_text}))")
            schedule.record(i, emitted.fresh, emitted.used_out)
        # Scalars are immutable: they are not copied, and keep their type (a weakly typed
        # one is a Python scalar, as everywhere else).
        returned = []
        for v, copy in schedule.returned():
            source = operands[v].source if type(v) is Var else self._literal(v).source
            if copy and v.aval.weak_type and not v.aval.shape:
                returned.append(f"{self.name(_python_scalar, 'scalar')}({source})")
            elif copy:
                returned.append(f"{self.name(_new_array, 'copy')}({source})")
            else:
                returned.append(source)
        params = ", ".join(operands[v].source for v in jaxpr.invars)
        header = f"def {name}({params}):"
        self._sources.append("\n".join([header, *lines, f"    return [{', '.join(returned)}]"]))

    def compile(self, main: str, label: str) -> GeneratedCode:
        """Run the module's source; its function ``main`` is the generated code."""
        source = "\n\n".join(self._sources) + "\n"
        namespace = dict(self.values)
        namespace["np"] = np
        exec(compile(source, f"<fungrad.jit {label}>", "exec"), namespace)
        return GeneratedCode(namespace[main], source)


def _python_scalar(x: Any) -> Any:
    return x.item() if isinstance(x, (np.generic, np.ndarray)) else x


def _new_array(x: Any) -> Any:
    return x.copy() if isinstance(x, np.ndarray) else x
