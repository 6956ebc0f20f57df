"""The primitives, by family. Importing this package registers them all.

The layer's own order: ``structural`` (casting, broadcasting, reshaping, permuting,
summing: what every rule is built from) first, then ``builders`` (the helpers rule
writers use), then the families, which import both. ``call`` holds the call
primitive ``jit``, whose params carry a program; ``control_flow`` the
higher-order primitives ``cond``, ``scan`` and ``while``, ``remat`` the
checkpoint primitive, and ``custom`` the calls behind custom derivatives
(fungrad/custom_derivatives.py). ``factorizations`` holds solves and matrix
factorizations, ``special`` the special functions NumPy lacks.
"""

from __future__ import annotations

from fungrad.primitives import (  # noqa: F401
    call,
    control_flow,
    creation,
    custom,
    elementwise,
    factorizations,
    indexing,
    linalg,
    reductions,
    remat,
    shape,
    special,
    structural,
)
