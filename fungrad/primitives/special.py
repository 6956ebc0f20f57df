"""Special functions NumPy lacks (``erf``, ``lgamma``, ``digamma``, ...), as elementwise
primitives with NumPy implementations and jvp rules over fungrad primitives.
"""

from __future__ import annotations
