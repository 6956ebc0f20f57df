"""Probes of fungrad.numpy's elementwise functions: arithmetic, math functions,
comparisons and logic, rounding, NaN/infinity tests, real and imaginary parts.

Operands are drawn clear of each function's kinks, poles and branch cuts; ``kinks``
says what fungrad gives there (tests/test_math.py checks those values).
"""

from __future__ import annotations

import numpy as np
from surface import Probe, away_from_zero, uniform, uniforms

import fungrad.numpy as fnp

S = (2, 3)  # the shape of most operands
T = (3,)  # an operand that broadcasts against S

ZERO_DERIVATIVE = "piecewise constant: the derivative is zero everywhere, at the jumps too."
TIES = "at ties (x1 == x2) the derivative is split evenly: 1/2 to each operand."
NO_DERIVATIVE = "boolean result: no derivative."


def _pair(lo: float, hi: float, shape=S, other=T):
    return uniforms((lo, hi, shape), (lo, hi, other))


def _divisor_pair(rng):
    """x and a divisor y clear of 0, broadcasting."""
    x = rng.uniform(-3, 3, S)
    y = rng.uniform(0.5, 2, T) * rng.choice([-1.0, 1.0], T)
    return x, y


def _between_integers(rng, shape=S, halves: bool = True):
    """k + u with u clear of the integers (and of the half-integers if ``halves``)."""
    k = rng.integers(-3, 4, shape).astype(np.float64)
    if halves:
        u = rng.uniform(0.1, 0.4, shape) + 0.5 * rng.integers(0, 2, shape)
    else:
        u = rng.uniform(0.1, 0.9, shape)
    return k + u


def _quotient_pair(rng):
    """x and y in {+-1, +-2}: x / y clear of the integers, where // and % jump."""
    x = _between_integers(rng)
    y = rng.choice([-2.0, -1.0, 1.0, 2.0], T)
    return x, y


def _untied_pair(rng):
    """Two operands at least 0.1 apart: max/min never tie."""
    x = rng.uniform(-3, 3, S)
    gap = rng.uniform(0.1, 1.0, S) * rng.choice([-1.0, 1.0], S)
    return x, x + gap


def _clear_of(points, lo, hi, gap, shape=S):
    """Values in [lo, hi] at least ``gap`` away from every one of ``points``."""

    def draw(rng):
        edges = sorted([lo, hi, *points])
        pieces = [(a + gap, b - gap) for a, b in zip(edges, edges[1:])]
        pieces = [(a, b) for a, b in pieces if b > a]
        which = rng.integers(0, len(pieces), shape)
        u = rng.uniform(0, 1, shape)
        starts = np.array([a for a, _ in pieces])[which]
        widths = np.array([b - a for a, b in pieces])[which]
        return (starts + u * widths,)

    return draw


def _clip_bounds(rng):
    a = _clear_of([-1.3, -0.7, 0.7, 1.3], -3, 3, 0.1)(rng)[0]
    return a, rng.uniform(-1.2, -0.8, T), rng.uniform(0.8, 1.2, T)


def _comparable(rng):
    """Two operands that tie at some entries."""
    x = rng.choice([-1.0, 0.0, 0.5, 1.0], S)
    y = rng.choice([-1.0, 0.0, 0.5, 1.0], T)
    return x, y


def _booleans(n: int):
    return lambda rng: tuple(rng.uniform(0, 1, S) < 0.5 for _ in range(n))


def _specials(rng):
    """Finite values of both signs beside nan, +inf, -inf, +0.0 and -0.0."""
    finite = rng.uniform(-3, 3, 3)
    return (np.array([finite[0], np.nan, np.inf, -np.inf, 0.0, -0.0, finite[1], finite[2]]),)


def _with_nonfinite(rng):
    """Finite values with nan, +inf and -inf at fixed places (nan_to_num's derivative is
    1 at the finite ones, 0 at the others)."""
    x = rng.uniform(-3, 3, 6)
    x[1], x[3], x[4] = np.nan, np.inf, -np.inf
    return (x,)


def _steps(rng):
    """heaviside's x1 (exact zeros included) and x2."""
    x1 = rng.choice([-1.5, -0.0, 0.0, 2.0], S)
    return x1, rng.uniform(-3, 3, S)


def _complex(rng):
    return (rng.uniform(-3, 3, S) + 1j * rng.uniform(-3, 3, S),)


def _binary(name, fn, reference, args, kinks="", **kw):
    return Probe(name, fn, args, diff=(0, 1), reference=reference, kinks=kinks, **kw)


def _piecewise(name, fn, reference, args, kinks=ZERO_DERIVATIVE):
    return Probe(name, fn, args, diff=(), reference=reference, kinks=kinks)


def _predicate(name, fn, reference, args, kinks=NO_DERIVATIVE):
    return Probe(name, fn, args, diff=(), reference=reference, kinks=kinks)


PROBES = [
    # -- arithmetic ----------------------------------------------------------------------
    _binary("add", fnp.add, np.add, _pair(-3, 3)),
    _binary("subtract", fnp.subtract, np.subtract, _pair(-3, 3)),
    _binary("multiply", fnp.multiply, np.multiply, _pair(-3, 3)),
    _binary("divide", fnp.divide, np.divide, _divisor_pair, kinks="a pole at x2 == 0."),
    _binary("true_divide", fnp.true_divide, np.true_divide, _divisor_pair),
    Probe(
        "floor_divide",
        fnp.floor_divide,
        _quotient_pair,
        diff=(),
        reference=np.floor_divide,
        kinks=ZERO_DERIVATIVE,
    ),
    _binary(
        "remainder",
        fnp.remainder,
        np.remainder,
        _quotient_pair,
        kinks="jumps where x1 / x2 is an integer; between them the derivative is 1 in x1 "
        "and -(x1 // x2) in x2, that formula also at the jumps.",
    ),
    _binary("mod", fnp.mod, np.mod, _quotient_pair),
    _binary("divmod", fnp.divmod, np.divmod, _quotient_pair),
    Probe("negative", fnp.negative, uniform(-3, 3, *S), reference=np.negative),
    _binary("power", fnp.power, np.power, uniforms((0.3, 3, S), (-2, 2, T))),
    Probe(
        "power",
        lambda x: fnp.power(x, 3),
        uniform(-3, 3, *S),
        reference=lambda x: np.power(x, 3),
        kinks="power(0, y) has derivative 0 in x for y == 0, and log(0) * 0 := 0 in y.",
    ),
    Probe("square", fnp.square, uniform(-3, 3, *S), reference=np.square),
    Probe(
        "reciprocal",
        fnp.reciprocal,
        away_from_zero(0.3, 3, *S),
        reference=np.reciprocal,
        kinks="a pole at 0.",
    ),
    _binary("maximum", fnp.maximum, np.maximum, _untied_pair, kinks=TIES),
    _binary("minimum", fnp.minimum, np.minimum, _untied_pair, kinks=TIES),
    Probe(
        "clip",
        lambda a: fnp.clip(a, -1.0, 1.0),
        _clear_of([-1.0, 1.0], -3, 3, 0.1),
        reference=lambda a: np.clip(a, -1.0, 1.0),
        kinks="at a == a_min or a == a_max the derivative is split evenly between a and "
        "the bound (1/2 each, as for maximum/minimum).",
    ),
    Probe(
        "clip",
        fnp.clip,
        _clip_bounds,
        diff=(0, 1, 2),
        reference=np.clip,
    ),
    Probe(
        "abs",
        fnp.abs,
        away_from_zero(0.1, 3, *S),
        reference=np.abs,
        kinks="abs'(0) = 0.",
    ),
    Probe("absolute", fnp.absolute, away_from_zero(0.1, 3, *S), reference=np.absolute),
    _piecewise("sign", fnp.sign, np.sign, away_from_zero(0.1, 3, *S)),
    _piecewise("floor", fnp.floor, np.floor, lambda rng: (_between_integers(rng),)),
    _piecewise("ceil", fnp.ceil, np.ceil, lambda rng: (_between_integers(rng),)),
    _piecewise("round", fnp.round, np.round, lambda rng: (_between_integers(rng),)),
    _piecewise(
        "round",
        lambda x: fnp.round(x, 2),
        lambda x: np.round(x, 2),
        lambda rng: ((_between_integers(rng) + rng.integers(-50, 50, S)) / 100,),
    ),
    _piecewise("around", fnp.around, np.round, lambda rng: (_between_integers(rng),)),
    # -- exponentials and logarithms -----------------------------------------------------
    Probe("exp", fnp.exp, uniform(-3, 3, *S), reference=np.exp),
    Probe("exp2", fnp.exp2, uniform(-3, 3, *S), reference=np.exp2),
    Probe("expm1", fnp.expm1, uniform(-3, 3, *S), reference=np.expm1),
    Probe("log", fnp.log, uniform(0.1, 5, *S), reference=np.log, kinks="a pole at 0."),
    Probe("log1p", fnp.log1p, uniform(-0.9, 3, *S), reference=np.log1p),
    Probe("log2", fnp.log2, uniform(0.1, 5, *S), reference=np.log2),
    Probe("log10", fnp.log10, uniform(0.1, 5, *S), reference=np.log10),
    _binary("logaddexp", fnp.logaddexp, np.logaddexp, _pair(-3, 3)),
    _binary("logaddexp2", fnp.logaddexp2, np.logaddexp2, _pair(-3, 3)),
    Probe(
        "sqrt",
        fnp.sqrt,
        uniform(0.1, 5, *S),
        reference=np.sqrt,
        kinks="infinite derivative at 0.",
    ),
    Probe(
        "cbrt",
        fnp.cbrt,
        away_from_zero(0.3, 3, *S),
        reference=np.cbrt,
        kinks="at 0 the derivative is +inf (a tangent t gives t * inf, NaN for t == 0).",
    ),
    # -- trigonometric and hyperbolic functions ------------------------------------------
    Probe("sin", fnp.sin, uniform(-3, 3, *S), reference=np.sin),
    Probe("cos", fnp.cos, uniform(-3, 3, *S), reference=np.cos),
    Probe("tan", fnp.tan, uniform(-1.2, 1.2, *S), reference=np.tan),
    Probe("arcsin", fnp.arcsin, uniform(-0.9, 0.9, *S), reference=np.arcsin),
    Probe("arccos", fnp.arccos, uniform(-0.9, 0.9, *S), reference=np.arccos),
    Probe("arctan", fnp.arctan, uniform(-3, 3, *S), reference=np.arctan),
    _binary(
        "arctan2",
        fnp.arctan2,
        np.arctan2,
        uniforms((-3, 3, S), (0.3, 3, T)),
        kinks="NaN derivative at the origin; across the negative x2 axis the angle jumps "
        "by 2 pi, and the derivative there is the one on either side.",
    ),
    _binary(
        "arctan2",
        fnp.arctan2,
        np.arctan2,
        lambda rng: (*away_from_zero(0.3, 3, *S)(rng), rng.uniform(-3, 3, T)),
    ),
    Probe("sinh", fnp.sinh, uniform(-3, 3, *S), reference=np.sinh),
    Probe("cosh", fnp.cosh, uniform(-3, 3, *S), reference=np.cosh),
    Probe("tanh", fnp.tanh, uniform(-3, 3, *S), reference=np.tanh),
    Probe("arcsinh", fnp.arcsinh, uniform(-3, 3, *S), reference=np.arcsinh),
    Probe(
        "arccosh",
        fnp.arccosh,
        uniform(1.2, 5, *S),
        reference=np.arccosh,
        kinks="infinite derivative at 1.",
    ),
    Probe(
        "arctanh",
        fnp.arctanh,
        uniform(-0.8, 0.8, *S),
        reference=np.arctanh,
        kinks="poles at +-1.",
    ),
    _binary(
        "hypot",
        fnp.hypot,
        np.hypot,
        lambda rng: (*away_from_zero(0.3, 3, *S)(rng), rng.uniform(-3, 3, T)),
        kinks="at the origin every derivative is taken as 0 (as abs'(0)).",
    ),
    Probe("sinc", fnp.sinc, uniform(-3, 3, *S), reference=np.sinc),
    Probe(
        "sinc",
        fnp.sinc,
        uniform(-0.2, 0.2, *S),
        reference=np.sinc,
        order=3,
        kinks="smooth: a Taylor series near 0 keeps derivatives of every order exact there.",
    ),
    Probe("deg2rad", fnp.deg2rad, uniform(-360, 360, *S), reference=np.deg2rad),
    Probe("rad2deg", fnp.rad2deg, uniform(-7, 7, *S), reference=np.rad2deg),
    Probe("radians", fnp.radians, uniform(-360, 360, *S), reference=np.radians),
    Probe("degrees", fnp.degrees, uniform(-7, 7, *S), reference=np.degrees),
    # -- rounding toward zero, C remainder, NaN-aware max/min ----------------------------
    _piecewise("trunc", fnp.trunc, np.trunc, lambda rng: (_between_integers(rng),)),
    _piecewise("fix", fnp.fix, np.fix, lambda rng: (_between_integers(rng),)),
    _piecewise("rint", fnp.rint, np.rint, lambda rng: (_between_integers(rng),)),
    _binary(
        "fmod",
        fnp.fmod,
        np.fmod,
        _quotient_pair,
        kinks="jumps where x1 / x2 is a nonzero integer; between them the derivative is 1 "
        "in x1 and -trunc(x1 / x2) in x2.",
    ),
    _binary(
        "fmax",
        fnp.fmax,
        np.fmax,
        _untied_pair,
        kinks=TIES + " Where one operand is NaN the derivative is the other's; where both "
        "are, zero.",
    ),
    _binary("fmin", fnp.fmin, np.fmin, _untied_pair, kinks=TIES),
    Probe(
        "nan_to_num",
        fnp.nan_to_num,
        _with_nonfinite,
        reference=np.nan_to_num,
        kinks="derivative 1 where x is finite, 0 where a value was replaced.",
    ),
    Probe(
        "nan_to_num",
        lambda x: fnp.nan_to_num(x, nan=-1.0, posinf=5.0, neginf=-5.0),
        _with_nonfinite,
        reference=lambda x: np.nan_to_num(x, nan=-1.0, posinf=5.0, neginf=-5.0),
    ),
    # -- signs ---------------------------------------------------------------------------
    Probe(
        "copysign",
        fnp.copysign,
        lambda rng: (*away_from_zero(0.3, 3, *S)(rng), *away_from_zero(0.3, 3, *T)(rng)),
        reference=np.copysign,
        kinks="derivative 0 at x1 == 0 (as abs'(0)); none in x2.",
    ),
    Probe(
        "heaviside",
        fnp.heaviside,
        _steps,
        diff=(1,),
        reference=np.heaviside,
        kinks="no derivative in x1 (zero, the jump included); in x2, 1 where x1 == 0.",
    ),
    _predicate("signbit", fnp.signbit, np.signbit, _specials),
    # -- comparisons and logic -----------------------------------------------------------
    _predicate("less", fnp.less, np.less, _comparable),
    _predicate("less_equal", fnp.less_equal, np.less_equal, _comparable),
    _predicate("greater", fnp.greater, np.greater, _comparable),
    _predicate("greater_equal", fnp.greater_equal, np.greater_equal, _comparable),
    _predicate("equal", fnp.equal, np.equal, _comparable),
    _predicate("not_equal", fnp.not_equal, np.not_equal, _comparable),
    _predicate("logical_and", fnp.logical_and, np.logical_and, _booleans(2)),
    _predicate("logical_or", fnp.logical_or, np.logical_or, _booleans(2)),
    _predicate("logical_xor", fnp.logical_xor, np.logical_xor, _booleans(2)),
    _predicate("logical_not", fnp.logical_not, np.logical_not, _booleans(1)),
    _predicate("isfinite", fnp.isfinite, np.isfinite, _specials),
    _predicate("isnan", fnp.isnan, np.isnan, _specials),
    _predicate("isinf", fnp.isinf, np.isinf, _specials),
    _predicate("isposinf", fnp.isposinf, np.isposinf, _specials),
    _predicate("isneginf", fnp.isneginf, np.isneginf, _specials),
    # -- real and imaginary parts --------------------------------------------------------
    Probe("real", fnp.real, uniform(-3, 3, *S), reference=np.real),
    _piecewise(
        "real",
        fnp.real,
        np.real,
        _complex,
        kinks="complex input: values as NumPy's; a derivative reaching it raises.",
    ),
    _piecewise("imag", fnp.imag, np.imag, uniform(-3, 3, *S), kinks="zeros for real input."),
    _piecewise("imag", fnp.imag, np.imag, _complex, kinks=""),
    Probe("conj", fnp.conj, uniform(-3, 3, *S), reference=np.conj),
    _piecewise("conj", fnp.conj, np.conj, _complex, kinks=""),
    Probe("conjugate", fnp.conjugate, uniform(-3, 3, *S), reference=np.conjugate),
    _piecewise("conjugate", fnp.conjugate, np.conjugate, _complex, kinks=""),
    # -- casts and stop_gradient ---------------------------------------------------------
    Probe(
        "astype",
        lambda x: fnp.astype(x, np.float64),
        uniform(-3, 3, *S),
        reference=lambda x: x.astype(np.float64),
    ),
    Probe(
        "astype",
        lambda x: fnp.astype(x, np.float32),
        uniform(-3, 3, *S),
        reference=lambda x: x.astype(np.float32),
        order=1,
        eps=1e-2,
        rtol=1e-3,
        atol=1e-3,
        kinks="to float32: derivative 1, rounded to float32.",
    ),
    _piecewise(
        "astype",
        lambda x: fnp.astype(x, np.int32),
        lambda x: x.astype(np.int32),
        uniform(-3, 3, *S),
        kinks="to an integer dtype: no derivative.",
    ),
    Probe(
        "stop_gradient",
        fnp.stop_gradient,
        uniform(-3, 3, *S),
        diff=(),
        reference=lambda x: x,
        kinks="no NumPy counterpart: the value is x, the derivative zero.",
    ),
]
