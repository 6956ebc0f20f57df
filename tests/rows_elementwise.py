"""Primitive-table rows of the elementwise primitives behind fungrad.numpy's wider math
surface (fungrad/numpy/_math.py): inverse hyperbolic functions, cube root, arctan2,
hypot, logaddexp2, trunc, fmod, fmax/fmin, copysign, heaviside, the NaN/infinity/sign
tests, real/imag/conj, and exp2/log2/log10. Collected by tests/test_primitives.py.

Each row draws operands clear of the primitive's kinks, poles and branch cuts; what the
derivative is there is tested in tests/test_math.py.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from primitive_table import (
    Row,
    any_float,
    away_from_zero,
    between_kinks,
    binary_row,
    elementwise,
    numpy_meaning,
    off_grid,
    piecewise_constant_row,
    real,
    unary_row,
)


def _divisors(dtype):
    return dtype, st.sampled_from([-2.0, -1.0, -0.5, 0.5, 1.0, 2.0])


def _steps(dtype):
    """Often exactly zero, where heaviside takes its second operand."""
    return dtype, st.sampled_from([-1.5, -0.0, 0.0, 0.0, 2.0])


def _predicate_row(name: str, fn) -> Row:
    return Row(name, elementwise(any_float()), numpy_meaning(fn), out_kind="b", keeps_dtype=False)


ROWS = [
    # NumPy's own exp2, log2 and log10: exact at powers of two and ten
    unary_row("exp2", np.exp2, real(-3, 3)),
    unary_row("log2", np.log2, real(0.1, 5)),
    unary_row("log10", np.log10, real(0.1, 5)),
    # inverse hyperbolic functions, each inside its domain and clear of its poles
    unary_row("arcsinh", np.arcsinh, real(-3, 3)),
    unary_row("arccosh", np.arccosh, real(1.2, 5)),
    unary_row("arctanh", np.arctanh, real(-0.8, 0.8)),
    # the cube root, clear of its vertical tangent at 0
    unary_row("cbrt", np.cbrt, away_from_zero(0.3, 3)),
    # the angle clear of the origin and of its jump across the negative x axis
    binary_row("arctan2", np.arctan2, away_from_zero(0.3, 3), real(-3, 3)),
    # the length clear of the origin
    binary_row("hypot", np.hypot, away_from_zero(0.3, 3), real(-3, 3)),
    binary_row("logaddexp2", np.logaddexp2, real(-3, 3), real(-3, 3)),
    piecewise_constant_row("trunc", np.trunc, between_kinks()),
    # x1 / x2 clear of the integers where fmod jumps
    binary_row("fmod", np.fmod, between_kinks(), _divisors),
    # never at a tie, never NaN
    binary_row("fmax", np.fmax, off_grid(0.0), off_grid(0.25)),
    binary_row("fmin", np.fmin, off_grid(0.25), off_grid(0.0)),
    # the magnitude clear of its kink at 0; no derivative in the sign operand
    Row(
        "copysign",
        elementwise(away_from_zero(0.3, 3), away_from_zero(0.3, 3)),
        numpy_meaning(np.copysign),
        diff=(0,),
        promotes=True,
        elementwise=True,
        several_operands=True,
    ),
    # a derivative in the value at 0 only
    Row(
        "heaviside",
        elementwise(_steps, real(-3, 3)),
        numpy_meaning(np.heaviside),
        diff=(1,),
        promotes=True,
        elementwise=True,
        several_operands=True,
    ),
    _predicate_row("isnan", np.isnan),
    _predicate_row("isinf", np.isinf),
    _predicate_row("signbit", np.signbit),
    # of real operands: the identity, zeros, the identity (complex ones in test_math.py)
    unary_row("real", np.real, real(-3, 3), linear=((0,),)),
    piecewise_constant_row("imag", np.imag, real(-3, 3)),
    unary_row("conj", np.conjugate, real(-3, 3), linear=((0,),)),
]
