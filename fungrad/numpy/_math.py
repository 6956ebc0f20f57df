"""Elementwise math beyond the core arithmetic: inverse hyperbolic functions, ``arctan2``,
``hypot``, ``sinc``, NaN-aware maxima, tests for NaN and infinity, real and imaginary parts.

The public names join :mod:`fungrad.numpy` (see the end of its ``__init__``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fungrad.core import get_aval, ufunc_result_dtype
from fungrad.errors import FungradTypeError
from fungrad.numpy import _convert, _dtype, _operand
from fungrad.primitives import elementwise as ew

__all__: list[str] = [
    "arctan2", "arcsinh", "arccosh", "arctanh", "logaddexp2", "hypot", "sinc", "cbrt",
    "deg2rad", "rad2deg", "degrees", "radians", "trunc", "rint", "fix", "fmod", "fmax",
    "fmin", "nan_to_num", "isnan", "isinf", "isposinf", "isneginf", "signbit", "copysign",
    "heaviside", "real", "imag", "conj", "conjugate",
]  # fmt: skip

ArrayLike = Any


def _as_float(x: Any, ufunc: Any) -> Any:
    """``x`` (an operand) with an integer or boolean dtype turned into the floating dtype
    NumPy's ``ufunc`` computes it in (int8 -> float16, int64 -> float64)."""
    if type(x) in (int, bool):
        return float(x)
    dtype = _dtype(x)
    if dtype.kind in "biu":
        return _convert(x, ufunc_result_dtype(ufunc, (get_aval(x),))[0])
    return x


# ---------------------------------------------------------------------------------------
# Inverse hyperbolic functions, cube root


def arcsinh(x: ArrayLike) -> Any:
    """Inverse hyperbolic sine, as ``numpy.arcsinh``; derivative ``1 / sqrt(x**2 + 1)``
    (computed without overflow for large ``x``).

    >>> import fungrad, fungrad.numpy as fnp
    >>> float(fnp.arcsinh(0.0)), float(fungrad.grad(fnp.arcsinh)(0.0))
    (0.0, 1.0)
    """
    return ew.arcsinh(_operand(x))


def arccosh(x: ArrayLike) -> Any:
    """Inverse hyperbolic cosine, as ``numpy.arccosh`` (NaN below 1); derivative
    ``1 / sqrt(x**2 - 1)``, infinite at ``x == 1``.

    >>> import fungrad, fungrad.numpy as fnp
    >>> float(fnp.arccosh(1.0)), round(float(fungrad.grad(fnp.arccosh)(2.0)), 6)
    (0.0, 0.57735)
    """
    return ew.arccosh(_operand(x))


def arctanh(x: ArrayLike) -> Any:
    """Inverse hyperbolic tangent, as ``numpy.arctanh`` (infinite at +-1, NaN beyond);
    derivative ``1 / (1 - x**2)``.

    >>> import fungrad, fungrad.numpy as fnp
    >>> float(fnp.arctanh(0.0)), float(fungrad.grad(fnp.arctanh)(0.5))
    (0.0, 1.3333333333333333)
    """
    return ew.arctanh(_operand(x))


def cbrt(x: ArrayLike) -> Any:
    """Real cube root, negative inputs included, as ``numpy.cbrt``.

    The derivative ``1 / (3 cbrt(x)**2)`` is infinite at 0 (the graph is vertical there):
    a tangent ``t`` gives ``t * inf``, which is NaN for ``t == 0``.

    >>> import numpy as np, fungrad, fungrad.numpy as fnp
    >>> fnp.cbrt(np.array([-8.0, 27.0]))
    array([-2.,  3.])
    >>> float(fungrad.grad(fnp.cbrt)(-8.0))
    0.08333333333333333
    """
    return ew.cbrt(_operand(x))


# ---------------------------------------------------------------------------------------
# Angles and lengths


def arctan2(x1: ArrayLike, x2: ArrayLike) -> Any:
    """The angle of the point ``(x2, x1)`` in ``[-pi, pi]``, as ``numpy.arctan2`` (signed
    zeros and infinities as NumPy's).

    The derivative is ``(x2 dx1 - x1 dx2) / (x1**2 + x2**2)``, smooth everywhere but at
    the origin, where it is NaN (and across the negative ``x2`` axis the angle jumps by
    2 pi; the derivative there is the one-sided one, the same on both sides).

    >>> import fungrad, fungrad.numpy as fnp
    >>> round(float(fnp.arctan2(1.0, -1.0)), 6)
    2.356194
    >>> [float(g) for g in fungrad.grad(fnp.arctan2, argnums=(0, 1))(1.0, -1.0)]
    [-0.5, -0.5]
    """
    return ew.arctan2(_operand(x1), _operand(x2))


def hypot(x1: ArrayLike, x2: ArrayLike) -> Any:
    """``sqrt(x1**2 + x2**2)`` without overflow or underflow, as ``numpy.hypot``.

    The derivative is ``(x1 dx1 + x2 dx2) / hypot(x1, x2)``, also computed without
    squares; at the origin, the kink, every derivative is taken as 0 (as ``abs'(0)``).

    >>> import fungrad, fungrad.numpy as fnp
    >>> float(fnp.hypot(3e300, 4e300))
    5e+300
    >>> [float(g) for g in fungrad.grad(fnp.hypot, argnums=(0, 1))(3.0, 4.0)]
    [0.6, 0.8]
    """
    return ew.hypot(_operand(x1), _operand(x2))


# The constants NumPy's deg2rad and rad2deg multiply by: in double precision, and for
# float32 (and float16, computed in float32) the quotient of the float32 constants.
_DEG = (math.pi / 180.0, float(np.float32(math.pi) / np.float32(180.0)))
_RAD = (180.0 / math.pi, float(np.float32(180.0) / np.float32(math.pi)))


def _scale(x: Any, constants: tuple[float, float]) -> Any:
    dtype = _dtype(x)
    if dtype == np.float16:
        return _convert(ew.mul(_convert(x, np.float32), constants[1]), np.float16)
    return ew.mul(x, constants[1] if dtype == np.float32 else constants[0])


def deg2rad(x: ArrayLike) -> Any:
    """Degrees to radians, ``x * (pi / 180)``, as ``numpy.deg2rad``.

    >>> import fungrad.numpy as fnp
    >>> float(fnp.deg2rad(180.0))
    3.141592653589793
    """
    return _scale(_as_float(_operand(x), np.deg2rad), _DEG)


def rad2deg(x: ArrayLike) -> Any:
    """Radians to degrees, ``x * (180 / pi)``, as ``numpy.rad2deg``.

    >>> import fungrad.numpy as fnp
    >>> float(fnp.rad2deg(fnp.pi / 2))
    90.0
    """
    return _scale(_as_float(_operand(x), np.rad2deg), _RAD)


def radians(x: ArrayLike) -> Any:
    """Degrees to radians, as ``numpy.radians`` (the same as :func:`deg2rad`).

    >>> import fungrad.numpy as fnp
    >>> float(fnp.radians(90.0))
    1.5707963267948966
    """
    return deg2rad(x)


def degrees(x: ArrayLike) -> Any:
    """Radians to degrees, as ``numpy.degrees`` (the same as :func:`rad2deg`).

    >>> import fungrad.numpy as fnp
    >>> float(fnp.degrees(fnp.pi))
    180.0
    """
    return rad2deg(x)


# sinc(x) = sum_k (-1)^k (pi x)^(2k) / (2k + 1)! for |x| < _SINC_SERIES. At 0.1 the first
# term left out, (pi x)^18 / 19!, is below 1e-25, and so is each of the first derivatives
# of the tail; beyond 0.1 sin(pi x) / (pi x) loses at most a few ulps to cancellation
# in its first derivatives.
_SINC_SERIES = 0.1
_SINC_COEFFICIENTS = [(-1) ** k / math.factorial(2 * k + 1) for k in range(9)]


def sinc(x: ArrayLike) -> Any:
    """NumPy's normalized sinc, ``sin(pi x) / (pi x)``, with ``sinc(0) == 1``.

    Near 0 it is its Taylor series (a polynomial in ``(pi x)**2``), and elsewhere
    ``sin(pi x) / (pi x)`` at a point kept away from 0, so that derivatives of every
    order are right at and near 0 (``sinc''(0) == -pi**2 / 3``).

    >>> import numpy as np, fungrad, fungrad.numpy as fnp
    >>> fnp.sinc(np.array([0.0, 0.5, 1.0])).round(6)
    array([1.     , 0.63662, 0.     ])
    >>> float(fungrad.grad(fungrad.grad(fnp.sinc))(0.0)), -np.pi**2 / 3
    (-3.2898681336964524, -3.289868133696453)
    """
    x = _operand(x)
    if type(x) in (int, bool):
        x = float(x)
    elif _dtype(x).kind in "biu":
        x = _convert(x, np.float64)  # as NumPy's: pi * x is float64 for any integer x
    near = ew.lt(ew.abs(x), _SINC_SERIES)
    far_x = ew.mul(ew.select(near, 1.0, x), math.pi)  # never 0: no 0/0, even in reverse mode
    far = ew.div(ew.sin(far_x), far_x)
    u = ew.mul(ew.mul(x, x), math.pi**2)
    series = _SINC_COEFFICIENTS[-1]
    for c in reversed(_SINC_COEFFICIENTS[:-1]):
        series = ew.add(ew.mul(series, u), c)
    return ew.select(near, series, far)


# ---------------------------------------------------------------------------------------
# Logarithms


def logaddexp2(x1: ArrayLike, x2: ArrayLike) -> Any:
    """``log2(2**x1 + 2**x2)`` without overflow, as ``numpy.logaddexp2``.

    >>> import fungrad, fungrad.numpy as fnp
    >>> float(fnp.logaddexp2(1000.0, 1000.0))
    1001.0
    >>> [float(g) for g in fungrad.grad(fnp.logaddexp2, argnums=(0, 1))(1.0, 1.0)]
    [0.5, 0.5]
    """
    return ew.logaddexp2(_operand(x1), _operand(x2))


# ---------------------------------------------------------------------------------------
# Rounding toward zero and to the nearest integer: derivative zero


def trunc(x: ArrayLike) -> Any:
    """Round toward zero, as ``numpy.trunc`` (integers stay integers). Piecewise
    constant: its derivative is zero.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.trunc(np.array([-1.7, -0.2, 1.7]))
    array([-1., -0.,  1.])
    """
    return ew.trunc(_operand(x))


def fix(x: ArrayLike) -> Any:
    """Round toward zero, as ``numpy.fix`` (the same as :func:`trunc`). Derivative zero.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.fix(np.array([-2.5, 2.5]))
    array([-2.,  2.])
    """
    return ew.trunc(_operand(x))


def rint(x: ArrayLike) -> Any:
    """Round to the nearest integer, halves to even, as ``numpy.rint`` (a float for
    integer input too). Derivative zero.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.rint(np.array([0.5, 1.5, -2.5, 2.7]))
    array([ 0.,  2., -2.,  3.])
    """
    return ew.round(_as_float(_operand(x), np.rint))


def fmod(x1: ArrayLike, x2: ArrayLike) -> Any:
    """The C remainder ``x1 - trunc(x1 / x2) * x2``, with the sign of ``x1``, as
    ``numpy.fmod`` (compare :func:`remainder`, which takes the sign of ``x2``).

    Between its jumps the derivative is 1 in ``x1`` and ``-trunc(x1 / x2)`` in ``x2``.

    >>> import numpy as np, fungrad, fungrad.numpy as fnp
    >>> fnp.fmod(np.array([7, -7]), 3)
    array([ 1, -1])
    >>> float(fungrad.grad(lambda y: fnp.fmod(-7.5, y))(2.0))
    3.0
    """
    return ew.fmod(_operand(x1), _operand(x2))


# ---------------------------------------------------------------------------------------
# NaN-aware maximum and minimum, NaN and infinity


def fmax(x1: ArrayLike, x2: ArrayLike) -> Any:
    """Elementwise maximum ignoring NaN (NaN only where both are), as ``numpy.fmax``.

    The derivative is the larger operand's (the other's where one is NaN, zero where
    both are); at ties it is split evenly, as for :func:`maximum`.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.fmax(np.array([1.0, np.nan, np.nan]), np.array([2.0, 3.0, np.nan]))
    array([ 2.,  3., nan])
    """
    return ew.fmax(_operand(x1), _operand(x2))


def fmin(x1: ArrayLike, x2: ArrayLike) -> Any:
    """Elementwise minimum ignoring NaN (NaN only where both are), as ``numpy.fmin``;
    derivatives as :func:`fmax`'s.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.fmin(np.array([1.0, np.nan, np.nan]), np.array([2.0, 3.0, np.nan]))
    array([ 1.,  3., nan])
    """
    return ew.fmin(_operand(x1), _operand(x2))


def isnan(x: ArrayLike) -> Any:
    """Where ``x`` is NaN, as ``numpy.isnan`` (booleans: no derivative).

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.isnan(np.array([1.0, np.nan, np.inf]))
    array([False,  True, False])
    """
    return ew.isnan_p.bind(_operand(x))


def isinf(x: ArrayLike) -> Any:
    """Where ``x`` is +inf or -inf, as ``numpy.isinf``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.isinf(np.array([1.0, np.nan, -np.inf]))
    array([False, False,  True])
    """
    return ew.isinf_p.bind(_operand(x))


def _refuse_complex(name: str, x: Any) -> None:
    if _dtype(x).kind == "c":
        raise FungradTypeError(
            f"{name}: x is complex ({_dtype(x)}), which NumPy's {name} does not accept "
            "either; apply it to real(x) and imag(x)."
        )


def isposinf(x: ArrayLike) -> Any:
    """Where ``x`` is +inf, as ``numpy.isposinf`` (real input only).

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.isposinf(np.array([np.inf, -np.inf, np.nan]))
    array([ True, False, False])
    """
    x = _operand(x)
    _refuse_complex("isposinf", x)
    return ew.eq(x, math.inf)


def isneginf(x: ArrayLike) -> Any:
    """Where ``x`` is -inf, as ``numpy.isneginf`` (real input only).

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.isneginf(np.array([np.inf, -np.inf, np.nan]))
    array([False,  True, False])
    """
    x = _operand(x)
    _refuse_complex("isneginf", x)
    return ew.eq(x, -math.inf)


def nan_to_num(
    x: ArrayLike,
    copy: bool = True,
    nan: float = 0.0,
    posinf: float | None = None,
    neginf: float | None = None,
) -> Any:
    """``x`` with NaN replaced by ``nan`` and infinities by ``posinf``/``neginf`` (by
    default the largest and smallest finite values of the dtype), as ``numpy.nan_to_num``.

    Integers are returned as they are; complex values have their real and imaginary
    parts replaced separately. ``copy`` is accepted for NumPy's signature: the result
    is always a new value. The derivative is 1 where ``x`` is finite and 0 where a
    value was replaced.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.nan_to_num(np.array([1.0, np.nan, np.inf, -np.inf]), posinf=9.0, neginf=-9.0)
    array([ 1.,  0.,  9., -9.])
    >>> fnp.nan_to_num(np.array([np.inf], np.float32))
    array([3.4028235e+38], dtype=float32)
    """
    x = _operand(x)
    dtype = _dtype(x)
    if dtype.kind in "biu":
        return x
    if dtype.kind == "c":
        re = nan_to_num(ew.real(x), nan=nan, posinf=posinf, neginf=neginf)
        im = nan_to_num(ew.imag(x), nan=nan, posinf=posinf, neginf=neginf)
        return ew.add(re, ew.mul(im, 1j))
    info = np.finfo(dtype)
    posinf = float(info.max) if posinf is None else posinf
    neginf = float(info.min) if neginf is None else neginf
    out = ew.select(ew.isnan_p.bind(x), nan, x)
    out = ew.select(ew.eq(x, math.inf), posinf, out)
    return ew.select(ew.eq(x, -math.inf), neginf, out)


# ---------------------------------------------------------------------------------------
# Signs


def signbit(x: ArrayLike) -> Any:
    """Where the sign bit is set (negative numbers, -0.0, -nan), as ``numpy.signbit``.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.signbit(np.array([-1.0, -0.0, 0.0, 2.0]))
    array([ True,  True, False, False])
    """
    return ew.signbit_p.bind(_operand(x))


def copysign(x1: ArrayLike, x2: ArrayLike) -> Any:
    """``|x1|`` with the sign of ``x2`` (its sign bit: -0.0 counts as negative), as
    ``numpy.copysign``.

    The derivative in ``x1`` is ``sign(x1)`` times the sign of ``x2``, and 0 at
    ``x1 == 0``, the kink (as ``abs'(0)``); in ``x2`` it is zero.

    >>> import numpy as np, fungrad, fungrad.numpy as fnp
    >>> fnp.copysign(np.array([1.0, -2.0, 3.0]), np.array([-1.0, 1.0, -0.0]))
    array([-1.,  2., -3.])
    >>> float(fungrad.grad(fnp.copysign)(-2.0, -1.0))
    1.0
    """
    return ew.copysign(_operand(x1), _operand(x2))


def heaviside(x1: ArrayLike, x2: ArrayLike) -> Any:
    """The step function, as ``numpy.heaviside``: 0 where ``x1 < 0``, ``x2`` where
    ``x1 == 0``, 1 where ``x1 > 0`` (NaN where ``x1`` is NaN).

    Its derivative in ``x1`` is zero (the jump at 0 has none); in ``x2`` it is 1 where
    ``x1 == 0`` and 0 elsewhere.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.heaviside(np.array([-1.0, 0.0, 2.0]), 0.5)
    array([0. , 0.5, 1. ])
    """
    return ew.heaviside(_operand(x1), _operand(x2))


# ---------------------------------------------------------------------------------------
# Real and imaginary parts


def real(val: ArrayLike) -> Any:
    """The real part, as ``numpy.real``: ``val`` itself for real input.

    fungrad does not differentiate complex values: for real input the derivative is
    the identity's; a derivative that reaches a complex input raises
    ``FungradTypeError``. Without derivatives complex values work as in NumPy.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.real(np.array([1 + 2j, 3 - 4j]))
    array([1., 3.])
    """
    return ew.real(_operand(val))


def imag(val: ArrayLike) -> Any:
    """The imaginary part, as ``numpy.imag``: zeros for real input (derivative zero).
    Complex input as for :func:`real`.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.imag(np.array([1 + 2j, 3 - 4j])), fnp.imag(np.array([1.0, 2.0]))
    (array([ 2., -4.]), array([0., 0.]))
    """
    return ew.imag(_operand(val))


def conjugate(x: ArrayLike) -> Any:
    """The complex conjugate, as ``numpy.conjugate``: ``x`` itself for real input
    (derivative the identity's). Complex input as for :func:`real`.

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.conjugate(np.array([1 + 2j])), fnp.conj(np.array([1.5]))
    (array([1.-2.j]), array([1.5]))
    """
    return ew.conj(_operand(x))


def conj(x: ArrayLike) -> Any:
    """The complex conjugate, as ``numpy.conj`` (the same as :func:`conjugate`).

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.conj(np.array([3 - 4j]))
    array([3.+4.j])
    """
    return ew.conj(_operand(x))
