"""The primitives, by family. Importing this package registers them all.

It also gives the jvp and transpose machinery the few tangent operations it needs
(adding and broadcasting), which are themselves primitives.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fungrad.core import shape_of
from fungrad.interpreters import jvp as _jvp
from fungrad.primitives import (  # noqa: F401
    creation,
    elementwise,
    indexing,
    linalg,
    reductions,
    shape,
)
from fungrad.primitives.elementwise import add, cast_like
from fungrad.primitives.shape import broadcast_to


def _add_tangents(a: Any, b: Any) -> Any:
    return add(a, b)


def _broadcast_tangent(t: Any, ans: Any) -> Any:
    """Give a tangent contribution the shape and dtype of the primal output ``ans``."""
    ans_shape = shape_of(ans)
    if shape_of(t) != ans_shape:
        t = broadcast_to(t, ans_shape)
    dtype = ans.dtype if hasattr(ans, "dtype") else np.result_type(ans)
    if dtype.kind == "c":
        _jvp.check_real_tangent(dtype)
    return cast_like(t, dtype)


_jvp.add_tangents = _add_tangents
_jvp.broadcast_tangent = _broadcast_tangent
