"""Array methods and operators on tracers, so traced values read like NumPy arrays.

Installed onto :class:`fungrad.core.Tracer` when :mod:`fungrad.numpy` is imported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import fungrad.numpy as fnp
from fungrad.core import Tracer


def _python(fn):
    # An operator is Python's arithmetic, not NumPy's function of the same name: on
    # Python scalars it gives a Python scalar, which stays weakly typed when traced
    # (fungrad.numpy's public functions return NumPy's types; the unwrapped ones don't).
    return getattr(fn, "__wrapped__", fn)


def _swap(fn):
    fn = _python(fn)
    return lambda self, other: fn(other, self)


def _round(self: Tracer, ndigits: int | None = None) -> Any:
    # Python's round() of a traced value stays an array of its dtype (as in JAX): an
    # int would need the value, which may be abstract.
    return fnp.round(self, 0 if ndigits is None else ndigits)


_OPERATORS = {
    "__add__": fnp.add,
    "__radd__": _swap(fnp.add),
    "__sub__": fnp.subtract,
    "__rsub__": _swap(fnp.subtract),
    "__mul__": fnp.multiply,
    "__rmul__": _swap(fnp.multiply),
    "__truediv__": fnp.divide,
    "__rtruediv__": _swap(fnp.divide),
    "__floordiv__": fnp.floor_divide,
    "__rfloordiv__": _swap(fnp.floor_divide),
    "__mod__": fnp.remainder,
    "__rmod__": _swap(fnp.remainder),
    "__divmod__": fnp.divmod,
    "__rdivmod__": _swap(fnp.divmod),
    "__pow__": fnp.power,
    "__rpow__": _swap(fnp.power),
    "__matmul__": fnp.matmul,
    "__rmatmul__": _swap(fnp.matmul),
    "__lt__": fnp.less,
    "__le__": fnp.less_equal,
    "__gt__": fnp.greater,
    "__ge__": fnp.greater_equal,
    "__eq__": fnp.equal,
    "__ne__": fnp.not_equal,
    "__and__": fnp.logical_and,
    "__rand__": _swap(fnp.logical_and),
    "__or__": fnp.logical_or,
    "__ror__": _swap(fnp.logical_or),
    "__xor__": fnp.logical_xor,
    "__neg__": fnp.negative,
    "__pos__": lambda self: self,
    "__abs__": fnp.abs,
    "__invert__": fnp.logical_not,
    "__getitem__": fnp.getitem,
    "__round__": _round,
}
_OPERATORS = {name: _python(fn) for name, fn in _OPERATORS.items()}


def _reshape(self: Tracer, *shape: Any) -> Any:
    return fnp.reshape(self, shape[0] if len(shape) == 1 else shape)


def _transpose(self: Tracer, *axes: Any) -> Any:
    if len(axes) == 1 and not isinstance(axes[0], int):
        axes = axes[0]
    return fnp.transpose(self, axes or None)


_METHODS = {
    "reshape": _reshape,
    "transpose": _transpose,
    "sum": fnp.sum,
    "mean": fnp.mean,
    "var": fnp.var,
    "std": fnp.std,
    "max": fnp.max,
    "min": fnp.min,
    "argmax": fnp.argmax,
    "argmin": fnp.argmin,
    "astype": fnp.astype,
    "squeeze": fnp.squeeze,
    "ravel": fnp.ravel,
    "flatten": fnp.ravel,
    "dot": fnp.dot,
    "clip": fnp.clip,
    "swapaxes": fnp.swapaxes,
    "round": fnp.round,
    "prod": fnp.prod,
    "cumsum": fnp.cumsum,
    "cumprod": fnp.cumprod,
    "any": fnp.any,
    "all": fnp.all,
    "argsort": fnp.argsort,  # not sort: NumPy's ndarray.sort sorts in place
    "trace": fnp.trace,
    "diagonal": fnp.diagonal,
    "repeat": fnp.repeat,
    "take": fnp.take,
    "nonzero": fnp.nonzero,
    "conj": fnp.conj,
    "conjugate": fnp.conjugate,
    "copy": fnp.copy,
}

for _name, _fn in {**_OPERATORS, **_METHODS}.items():
    setattr(Tracer, _name, _fn)

Tracer.ufunc_overrides.update(
    {
        np.add: fnp.add,
        np.subtract: fnp.subtract,
        np.multiply: fnp.multiply,
        np.true_divide: fnp.divide,
        np.floor_divide: fnp.floor_divide,
        np.remainder: fnp.remainder,
        np.divmod: fnp.divmod,
        np.power: fnp.power,
        np.matmul: fnp.matmul,
        np.less: fnp.less,
        np.less_equal: fnp.less_equal,
        np.greater: fnp.greater,
        np.greater_equal: fnp.greater_equal,
        np.equal: fnp.equal,
        np.not_equal: fnp.not_equal,
        np.logical_and: fnp.logical_and,
        np.logical_or: fnp.logical_or,
        np.logical_xor: fnp.logical_xor,
        np.bitwise_and: fnp.logical_and,
        np.bitwise_or: fnp.logical_or,
        np.bitwise_xor: fnp.logical_xor,
    }
)
Tracer.__hash__ = None  # type: ignore[assignment]  # == is elementwise, as in NumPy
Tracer.T = property(lambda self: fnp.transpose(self))  # type: ignore[attr-defined]
Tracer.real = property(lambda self: fnp.real(self))  # type: ignore[attr-defined]
Tracer.imag = property(lambda self: fnp.imag(self))  # type: ignore[attr-defined]
# JAX's functional index updates: x.at[idx].set(y), .add(y), ..., .get() (see _updates.py).
Tracer.at = property(lambda self: fnp.at(self))  # type: ignore[attr-defined]
