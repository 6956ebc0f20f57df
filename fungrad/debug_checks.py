"""NaN and Inf hunting: the checks behind ``fungrad.config.update("debug_nans", True)``.

With an option on, every primitive's output is checked where it is computed:

- in eager evaluation, by the evaluation interpreter, whose ``process_primitive`` is
  swapped for a checking one while an option is on (so the check costs nothing while
  both are off: the method that runs then is the plain one);
- in the code ``jit`` generates, which gets one check call after each line (fungrad/jit
  keeps checked code apart from plain code and picks by the options);
- in the backward pass, which runs the transpose rules through the same evaluation
  interpreter or, under ``jit``, as generated lines.

The report names the primitive, the user's line that produced it (an equation's
recorded line, or the innermost frame outside fungrad), whether it arose in the
forward or the backward pass, and the ranges of the primitive's inputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from fungrad.core import BACKWARD_PASS, Primitive, check_eval_outputs, user_source_line
from fungrad.flags import config


def enabled() -> tuple[bool, bool]:
    """``(debug_nans, debug_infs)``."""
    return config.debug_nans, config.debug_infs


def _bad(value: Any, nans: bool, infs: bool) -> str | None:
    """'NaN' or 'Inf' if ``value`` holds one that is being checked for, else None."""
    if type(value) is float or type(value) is complex:
        if nans and value != value:
            return "NaN"
        if infs and not math.isnan(abs(value)) and math.isinf(abs(value)):
            return "Inf"
        return None
    dtype = getattr(value, "dtype", None)
    if dtype is None or dtype.kind not in "fc":
        return None
    if np.isfinite(value).all():
        return None
    if nans and np.isnan(value).any():
        return "NaN"
    if infs and np.isinf(value).any():
        return "Inf"
    return None


def check_output(name: str, out: Any, args: Sequence[Any], line: str | None = None) -> None:
    """Raise ``FloatingPointError`` if ``out`` (one value or a list) holds a NaN or Inf
    that the options ask about. ``line`` is the equation's recorded source line."""
    nans, infs = config.debug_nans, config.debug_infs
    outs = out if isinstance(out, (list, tuple)) else (out,)
    for i, value in enumerate(outs):
        kind = _bad(value, nans, infs)
        if kind is not None:
            if line is None:
                line = user_source_line()
            raise FloatingPointError(_report(name, kind, i, len(outs), value, args, line))


def _report(
    name: str, kind: str, index: int, count: int, value: Any, args: Sequence[Any], line: Any
) -> str:
    where = "forward pass"
    if line is not None and line.endswith(BACKWARD_PASS):
        line, where = line[: -len(BACKWARD_PASS)], "backward pass"
    option = "debug_nans" if kind == "NaN" else "debug_infs"
    which = f"output {index} of " if count > 1 else ""
    if where == "backward pass":
        at = f"in the backward pass, computing the adjoint of the operation at {line}"
    else:
        at = f"in the forward pass, at {line}"
    if line is None:
        at = f"in the {where} (no source line outside fungrad was found)"
    array = np.asarray(value)
    test = np.isnan(array) if kind == "NaN" else np.isinf(array)
    found = f"{int(test.sum())} of {array.size} elements"
    if array.ndim:
        found += f", the first at index {tuple(int(i) for i in np.argwhere(test)[0])}"
    lines = [
        f"{option}: {which}the primitive `{name}` produced {kind} {at}.",
        f"  output {_describe(value)}: {kind} in {found}",
    ]
    for j, arg in enumerate(args):
        lines.append(f"  input {j}: {_describe(arg)}, {_range(arg)}")
    lines.append(
        f'Switch the check off with fungrad.config.update("{option}", False); '
        "to see the program with its source lines, print "
        "fungrad.make_jaxpr(f, source_info=True)(*args)."
    )
    return "\n".join(lines)


def _describe(value: Any) -> str:
    array = np.asarray(value)
    return f"{array.dtype}{list(array.shape)}"


def _range(value: Any) -> str:
    array = np.asarray(value)
    if array.dtype.kind not in "biufc" or array.size == 0:
        return "no values" if array.size == 0 else f"dtype {array.dtype}"
    if array.dtype.kind == "c":
        array = np.abs(array)
        label = "|values| in"
    else:
        label = "values in"
    finite = array[np.isfinite(array)] if array.dtype.kind == "f" else array.ravel()
    notes = []
    if array.dtype.kind == "f":
        for what, count in (("NaN", np.isnan(array).sum()), ("Inf", np.isinf(array).sum())):
            if count:
                notes.append(f"{int(count)} {what}")
    text = (
        f"{label} [{finite.min():.6g}, {finite.max():.6g}]" if finite.size else "no finite values"
    )
    return text + (f" ({', '.join(notes)})" if notes else "")


# ---------------------------------------------------------------------------------------
# The evaluation interpreter, checked while an option is on


def _check_eval(prim: Primitive, out: Any, args: Sequence[Any]) -> None:
    check_output(prim.name, out, args)


def _switch(name: str) -> None:
    check_eval_outputs(_check_eval if config.any_checks else None)


config.on_change(_switch)
