"""Elementwise math beyond the core arithmetic: inverse hyperbolic functions, ``arctan2``,
``hypot``, ``sinc``, NaN-aware maxima, tests for NaN and infinity, real and imaginary parts.

The public names join :mod:`fungrad.numpy` (see the end of its ``__init__``).
"""

from __future__ import annotations

__all__: list[str] = []
