"""Shapes and joining beyond the core: splitting, flipping and rolling, tiling and
repeating, padding, diagonals and triangles, grids, products (``kron``, ``cross``,
``einsum``) and the remaining constructors.

The public names join :mod:`fungrad.numpy` (see the end of its ``__init__``).
"""

from __future__ import annotations

__all__: list[str] = []
