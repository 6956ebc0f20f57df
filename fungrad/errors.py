"""Exception classes for user mistakes, kept in one place.

Each subclasses the builtin exception that fits, so ``except TypeError`` in user
code keeps working. Internal invariants use ``assert``; a missing rule raises
:class:`MissingRuleError`, which says the gap is fungrad's, not the user's.
"""

from __future__ import annotations

import numpy as np


class FungradTypeError(TypeError):
    """A value of the wrong kind reached a transformation (dtype, structure, output shape)."""


class FungradValueError(ValueError):
    """A value has the wrong shape or an argument is out of range."""


class ShapeError(FungradValueError):
    """A primitive was applied to operands whose shapes do not fit together."""


class IndexShapeError(ShapeError, IndexError):
    """An index does not fit the array it indexes (NumPy raises ``IndexError``)."""


class ConcretizationError(FungradTypeError):
    """Python needed a concrete value (``if``, ``int()``, indexing) but the value is abstract."""


class TracerConversionError(FungradTypeError):
    """A value with a derivative was converted to a Python or NumPy scalar (``float(x)``,
    ``x.item()``, ``math.sin(x)``), which would silently drop the derivative."""


class AmbiguousTruthValueError(FungradValueError):
    """``if``/``while`` on a traced array with more than one element."""


class EscapedTracerError(FungradTypeError):
    """A tracer was used after the transformation that created it had returned."""


class MissingRuleError(NotImplementedError):
    """A primitive lacks a rule that a transformation needs: a gap in fungrad."""


class NonLinearError(FungradTypeError):
    """A function passed to ``linear_transpose`` is not linear in its inputs."""


class AxisError(np.exceptions.AxisError, FungradValueError):
    """An ``axis`` argument is out of range for the array's number of dimensions.

    A subclass of NumPy's ``AxisError`` (so ``except np.exceptions.AxisError`` works, as
    do ``except ValueError`` and ``except IndexError``).
    """
