"""Linear algebra beyond contraction: solves and matrix factorizations.

Each primitive works on the last two axes and batches over any leading ones, as
NumPy's ``linalg`` does. Derivatives are jvp rules written with primitives that are
linear in the tangent (solves, products), so reverse mode comes from transposing
them; reverse-mode rules use solves, not explicit inverses.
"""

from __future__ import annotations
