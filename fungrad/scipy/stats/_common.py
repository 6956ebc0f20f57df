"""Helpers shared by the distributions of fungrad.scipy.stats."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

import fungrad.numpy as fnp
from fungrad.numpy import _numpy_value, _operand
from fungrad.primitives import elementwise as ew

Array = Any


def floating(*xs: Array) -> tuple[Array, ...]:
    """Operands as floats: integers and booleans become float64, as in SciPy."""
    out = []
    for x in xs:
        if type(x) in (int, bool):
            x = float(x)  # a Python scalar stays weakly typed
        x = _operand(x)
        if fnp.result_type(x).kind not in "fc":
            x = fnp.astype(x, np.float64)
        out.append(x)
    return tuple(out)


def standardize(x: Array, loc: Array, scale: Array) -> tuple[Array, Array, Array]:
    """``(x - loc) / scale``, with ``scale`` and ``log(scale)`` (NaN for ``scale <= 0``).

    Python scalars stay Python scalars (weakly typed), so float32 points stay float32.
    """
    x, loc, scale = floating(x, loc, scale)
    if isinstance(scale, (int, float)):
        scale = float(scale) if scale > 0 else math.nan
    else:
        scale = fnp.where(fnp.greater(scale, 0), scale, np.nan)
    return ew.div(ew.sub(x, loc), scale), scale, ew.log(scale)


def public(namespace: dict[str, Any]) -> None:
    """Give the public functions of a distribution's module NumPy's result types: a
    result computed from Python scalars alone is a NumPy scalar, as in SciPy. (The
    parameters' arithmetic inside stays weakly typed: float32 points stay float32.)"""

    def wrap(fn):
        @functools.wraps(fn)
        def distribution_function(*args: Any, **kwargs: Any) -> Any:
            return _numpy_value(fn(*args, **kwargs))

        return distribution_function

    for name in namespace["__all__"]:
        namespace[name] = wrap(namespace[name])
