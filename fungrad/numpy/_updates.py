"""Functional index updates: ``x.at[idx].set/add/multiply/...`` and the function form
``fungrad.numpy.at(x)[idx]`` for plain arrays.

The public names join :mod:`fungrad.numpy` (see the end of its ``__init__``).
"""

from __future__ import annotations

__all__: list[str] = []
