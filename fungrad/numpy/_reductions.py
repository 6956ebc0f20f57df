"""Reductions and scans beyond sum/mean/max: products, cumulative sums and products,
``any``/``all``, sorting, order statistics, weighted averages and closeness tests.

The public names join :mod:`fungrad.numpy` (see the end of its ``__init__``).
"""

from __future__ import annotations

__all__: list[str] = []
