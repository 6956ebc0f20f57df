"""dtype helpers: short names for printing, weak-type promotion, differentiability.

fungrad follows NumPy's promotion (NEP 50): a Python scalar is *weakly typed*, so
``2.0 * float32_array`` stays float32. An abstract value remembers whether it came
from a Python scalar (``weak_type``) so that staged programs promote as NumPy does.
"""

from __future__ import annotations

import numpy as np

#: dtype of the tangent of an integer or boolean value (it has none): zero-sized, like JAX.
float0 = np.dtype([("float0", np.void, 0)])

_SHORT_NAMES = {
    np.dtype(np.float64): "f64",
    np.dtype(np.float32): "f32",
    np.dtype(np.float16): "f16",
    np.dtype(np.complex128): "c128",
    np.dtype(np.complex64): "c64",
    np.dtype(np.int64): "i64",
    np.dtype(np.int32): "i32",
    np.dtype(np.int16): "i16",
    np.dtype(np.int8): "i8",
    np.dtype(np.uint64): "u64",
    np.dtype(np.uint32): "u32",
    np.dtype(np.uint16): "u16",
    np.dtype(np.uint8): "u8",
    np.dtype(np.bool_): "bool",
    float0: "float0",
}


def short_name(dtype: np.dtype) -> str:
    """The dtype as the jaxpr printer shows it: ``f64``, ``i32``, ``bool``."""
    return _SHORT_NAMES.get(dtype, str(dtype))


def is_differentiable(dtype: np.dtype) -> bool:
    """Whether values of this dtype have tangents (floating and complex dtypes)."""
    return dtype.kind in "fc"


# Representatives of weakly typed values, for np.result_type: Python scalars are weak.
_WEAK_REPRESENTATIVE = {"f": 0.0, "i": 0, "u": 0, "c": 0j, "b": False}


def result_type(*avals) -> tuple[np.dtype, bool]:
    """Promote the dtypes of abstract values as NumPy would; returns (dtype, weak_type)."""
    if len(avals) == 2:
        a, b = avals
        if a.dtype is b.dtype and a.weak_type == b.weak_type:
            return a.dtype, a.weak_type
    key = tuple((a.dtype, a.weak_type) for a in avals)
    found = _promotion_cache.get(key)
    if found is None:
        args = [_WEAK_REPRESENTATIVE[a.dtype.kind] if a.weak_type else a.dtype for a in avals]
        found = (np.result_type(*args), all(a.weak_type for a in avals))
        _promotion_cache[key] = found
    return found


_promotion_cache: dict = {}
