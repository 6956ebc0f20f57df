"""Elementwise primitives: arithmetic, math functions, comparisons, select.

Binary primitives broadcast as NumPy does, so no broadcast needs to be materialised
before an operation; their transpose rules sum cotangents back down to each
operand's shape (``unbroadcast``). Each primitive is one block: its family
constructor supplies the implementation, the shape/dtype rule and the batching rule;
then come its wrapper, its jvp rule, its transpose rule if it is linear, and its
identity rule if it has one. (The cast ``convert_element_type`` is in
structural.py, with the primitives every rule is built from.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from fungrad import dtypes
from fungrad.core import (
    Primitive,
    ShapedArray,
    Zero,
    add,
    add_p,
    broadcast_shapes,
    broadcasting_abstract_eval,
    get_aval,
    new_primitive,
    ufunc_result_dtype,
)
from fungrad.errors import ShapeError
from fungrad.interpreters.jvp import check_real_tangent
from fungrad.primitives.builders import (
    defbilinear,
    defbroadcasting,
    defjvp,
    deflinear,
    defvectorized,
    is_undefined,
    register_broadcasting,
    register_identity,
    register_jvp,
    register_transpose,
    require_constant,
    unbroadcast,
    zero_jvp,
)

# ---------------------------------------------------------------------------------------
# Family constructors and shared rules


def unary_elementwise(name: str, fn: Callable) -> Primitive:
    """A one-operand primitive computed by NumPy's ``fn`` element by element."""
    prim = new_primitive(name)
    prim.impl = fn

    def abstract_eval(x: ShapedArray) -> ShapedArray:
        dtype, weak = ufunc_result_dtype(fn, (x,))
        return ShapedArray(x.shape, dtype, weak)

    prim.abstract_eval = abstract_eval
    defvectorized(prim)
    return prim


def nary_elementwise(name: str, fn: Callable, out_dtype: np.dtype | None = None) -> Primitive:
    """A broadcasting primitive; ``out_dtype`` fixes the output dtype (comparisons: bool)."""
    prim = new_primitive(name)
    prim.impl = fn
    prim.abstract_eval = broadcasting_abstract_eval(name, fn, out_dtype)
    defbroadcasting(prim)
    register_broadcasting(prim)
    return prim


def _sum_transpose(*negated: bool) -> Callable[..., Any]:
    """Transpose of a signed sum of broadcast operands (``add``: no sign flipped,
    ``sub``: the second): each linear operand gets the cotangent, negated where its
    sign is, summed down to its shape."""

    def rule(ct, *args):
        return tuple(
            unbroadcast(neg(ct) if flip else ct, a.aval) if is_undefined(a) else None
            for a, flip in zip(args, negated)
        )

    return rule


def _is_constant(value: Any, target: float, zero_sign: bool | None = None) -> bool:
    if value is None or not bool(np.all(np.asarray(value) == target)):
        return False
    # A zero must have the right sign where signed zeros exist: x + (-0.0) is x for
    # every x, but x + 0.0 turns -0.0 into 0.0 (and x - (-0.0) does the same).
    return zero_sign is None or bool(np.all(np.signbit(value) == zero_sign))


def _identity_when(
    prim: Primitive, constant: float, positions: tuple[int, ...], zero_sign: bool | None = None
):
    """Identity rule: ``x op c`` is ``x`` when c == constant (a zero of sign bit
    ``zero_sign``, for inexact results) and x has the result's type (by ``prim``'s own
    shape/dtype rule: ``int / 1`` is a float); ``positions`` lists where the constant
    may stand (0 or 1)."""

    def rule(avals, consts, **params):
        result = prim.abstract_eval(*avals)
        sign = zero_sign if result.dtype.kind in "fc" else None
        for pos in positions:
            other = 1 - pos
            if _is_constant(consts[pos], constant, sign) and avals[other] == result:
                return other
        return None

    return rule


# ---------------------------------------------------------------------------------------
# Arithmetic

# add: declared in fungrad/core.py (transposition sums cotangents with it); its rules.
defbroadcasting(add_p)
register_broadcasting(add_p)
defjvp(add_p, lambda t, ans, x, y: t, lambda t, ans, x, y: t)
register_transpose(add_p, _sum_transpose(False, False))
register_identity(add_p, _identity_when(add_p, 0.0, (0, 1), zero_sign=True))

sub_p = nary_elementwise("sub", np.subtract)


def sub(x: Any, y: Any) -> Any:
    return sub_p.bind(x, y)


defjvp(sub_p, lambda t, ans, x, y: t, lambda t, ans, x, y: neg(t))
register_transpose(sub_p, _sum_transpose(False, True))
register_identity(sub_p, _identity_when(sub_p, 0.0, (1,), zero_sign=False))

neg_p = unary_elementwise("neg", np.negative)


def neg(x: Any) -> Any:
    return neg_p.bind(x)


deflinear(neg_p, lambda ct, x: (neg(ct),))

mul_p = nary_elementwise("mul", np.multiply)


def mul(x: Any, y: Any) -> Any:
    return mul_p.bind(x, y)


defbilinear(
    mul_p,
    lambda ct, x, y: unbroadcast(mul(ct, y), x.aval),
    lambda ct, x, y: unbroadcast(mul(x, ct), y.aval),
)
register_identity(mul_p, _identity_when(mul_p, 1.0, (0, 1)))

div_p = nary_elementwise("div", np.true_divide)


def div(x: Any, y: Any) -> Any:
    return div_p.bind(x, y)


def _div_transpose(ct, x, y):
    require_constant("div", denominator=y)
    return unbroadcast(div(ct, y), x.aval), None


defjvp(div_p, lambda t, ans, x, y: div(t, y), lambda t, ans, x, y: neg(mul(t, div(ans, y))))
register_transpose(div_p, _div_transpose)  # linear in the numerator only
register_identity(div_p, _identity_when(div_p, 1.0, (1,)))

# ---------------------------------------------------------------------------------------
# Powers

pow_p = nary_elementwise("pow", np.power)


def pow(x: Any, y: Any) -> Any:
    return pow_p.bind(x, y)


def _pow_jvp_base(t, ans, x, y):
    # d/dx x**y = y * x**(y-1). At x == y == 0 that is 0 * inf; the limit along y == 0
    # is 0. Guarding only that point keeps the formula smooth in y elsewhere, so its
    # own derivative with respect to y stays right at y == 0.
    at_origin = and_p.bind(eq(x, 0), eq(y, 0))
    return mul(t, select(at_origin, 0.0, mul(y, pow(x, sub(y, 1)))))


def _pow_jvp_exponent(t, ans, x, y):
    # d/dy x**y = log(x) * x**y, taken as 0 where x == 0.
    safe_x = select(eq(x, 0), 1.0, x)
    return mul(t, mul(log(safe_x), ans))


defjvp(pow_p, _pow_jvp_base, _pow_jvp_exponent)

integer_pow_p = new_primitive("integer_pow")
integer_pow_p.impl = lambda x, y: np.power(x, y) if y != 2 else np.multiply(x, x)
integer_pow_p.abstract_eval = lambda x, y: ShapedArray(
    x.shape, *ufunc_result_dtype(np.power, (x, ShapedArray((), np.dtype(int), True)))
)
defvectorized(integer_pow_p)


def integer_pow(x: Any, y: int) -> Any:
    return integer_pow_p.bind(x, y=y)


def _integer_pow_jvp(t, ans, x, y):
    if y == 0:
        return mul(t, 0.0)
    if y == 1:
        return t
    return mul(t, mul(float(y), x if y == 2 else integer_pow(x, y - 1)))


defjvp(integer_pow_p, _integer_pow_jvp)


# ---------------------------------------------------------------------------------------
# Math functions: one line each for the primitive, its wrapper and its jvp.

exp_p = unary_elementwise("exp", np.exp)


def exp(x: Any) -> Any:
    return exp_p.bind(x)


defjvp(exp_p, lambda t, ans, x: mul(t, ans))


log_p = unary_elementwise("log", np.log)


def log(x: Any) -> Any:
    return log_p.bind(x)


defjvp(log_p, lambda t, ans, x: div(t, x))


_LN2 = math.log(2.0)
_LN10 = math.log(10.0)

# exp2, log2, log10 as NumPy computes them (exact at powers of two and ten), rather than
# through exp and log with a rounded constant.
exp2_p = unary_elementwise("exp2", np.exp2)


def exp2(x: Any) -> Any:
    return exp2_p.bind(x)


defjvp(exp2_p, lambda t, ans, x: mul(t, mul(ans, _LN2)))


log2_p = unary_elementwise("log2", np.log2)


def log2(x: Any) -> Any:
    return log2_p.bind(x)


defjvp(log2_p, lambda t, ans, x: div(t, mul(x, _LN2)))


log10_p = unary_elementwise("log10", np.log10)


def log10(x: Any) -> Any:
    return log10_p.bind(x)


defjvp(log10_p, lambda t, ans, x: div(t, mul(x, _LN10)))


log1p_p = unary_elementwise("log1p", np.log1p)


def log1p(x: Any) -> Any:
    return log1p_p.bind(x)


defjvp(log1p_p, lambda t, ans, x: div(t, add(x, 1.0)))


expm1_p = unary_elementwise("expm1", np.expm1)


def expm1(x: Any) -> Any:
    return expm1_p.bind(x)


defjvp(expm1_p, lambda t, ans, x: mul(t, add(ans, 1.0)))


sin_p = unary_elementwise("sin", np.sin)


def sin(x: Any) -> Any:
    return sin_p.bind(x)


defjvp(sin_p, lambda t, ans, x: mul(t, cos(x)))


cos_p = unary_elementwise("cos", np.cos)


def cos(x: Any) -> Any:
    return cos_p.bind(x)


defjvp(cos_p, lambda t, ans, x: neg(mul(t, sin(x))))


tan_p = unary_elementwise("tan", np.tan)


def tan(x: Any) -> Any:
    return tan_p.bind(x)


defjvp(tan_p, lambda t, ans, x: mul(t, add(1.0, mul(ans, ans))))


tanh_p = unary_elementwise("tanh", np.tanh)


def tanh(x: Any) -> Any:
    return tanh_p.bind(x)


defjvp(tanh_p, lambda t, ans, x: mul(t, sub(1.0, mul(ans, ans))))


sinh_p = unary_elementwise("sinh", np.sinh)


def sinh(x: Any) -> Any:
    return sinh_p.bind(x)


defjvp(sinh_p, lambda t, ans, x: mul(t, cosh(x)))


cosh_p = unary_elementwise("cosh", np.cosh)


def cosh(x: Any) -> Any:
    return cosh_p.bind(x)


defjvp(cosh_p, lambda t, ans, x: mul(t, sinh(x)))


arctan_p = unary_elementwise("arctan", np.arctan)


def arctan(x: Any) -> Any:
    return arctan_p.bind(x)


defjvp(arctan_p, lambda t, ans, x: div(t, add(1.0, mul(x, x))))


arcsin_p = unary_elementwise("arcsin", np.arcsin)


def arcsin(x: Any) -> Any:
    return arcsin_p.bind(x)


defjvp(arcsin_p, lambda t, ans, x: div(t, sqrt(sub(1.0, mul(x, x)))))


arccos_p = unary_elementwise("arccos", np.arccos)


def arccos(x: Any) -> Any:
    return arccos_p.bind(x)


defjvp(arccos_p, lambda t, ans, x: neg(div(t, sqrt(sub(1.0, mul(x, x))))))


sqrt_p = unary_elementwise("sqrt", np.sqrt)


def sqrt(x: Any) -> Any:
    return sqrt_p.bind(x)


defjvp(sqrt_p, lambda t, ans, x: div(t, mul(2.0, ans)))


abs_p = unary_elementwise("abs", np.abs)


def abs(x: Any) -> Any:
    return abs_p.bind(x)


defjvp(abs_p, lambda t, ans, x: mul(t, sign(x)))


def _logistic_impl(x):
    # exp(-|x|) never overflows; the two branches give 1/(1+e^-x) stably for both signs.
    z = np.exp(-np.abs(x))
    return np.where(np.greater_equal(x, 0), 1.0 / (1.0 + z), z / (1.0 + z))


logistic_p = unary_elementwise("logistic", _logistic_impl)


def logistic(x: Any) -> Any:
    return logistic_p.bind(x)


defjvp(logistic_p, lambda t, ans, x: mul(t, mul(ans, sub(1.0, ans))))


arcsinh_p = unary_elementwise("arcsinh", np.arcsinh)


def arcsinh(x: Any) -> Any:
    return arcsinh_p.bind(x)


# 1 / sqrt(x^2 + 1), with hypot so that x^2 cannot overflow.
defjvp(arcsinh_p, lambda t, ans, x: div(t, hypot(x, 1.0)))


arccosh_p = unary_elementwise("arccosh", np.arccosh)


def arccosh(x: Any) -> Any:
    return arccosh_p.bind(x)


# 1 / sqrt(x^2 - 1), as sqrt(x - 1) * sqrt(x + 1): accurate near 1, no overflow. At
# x == 1 it is inf (the slope is vertical there), and NaN below 1, outside the domain.
defjvp(arccosh_p, lambda t, ans, x: div(t, mul(sqrt(sub(x, 1.0)), sqrt(add(x, 1.0)))))


arctanh_p = unary_elementwise("arctanh", np.arctanh)


def arctanh(x: Any) -> Any:
    return arctanh_p.bind(x)


defjvp(arctanh_p, lambda t, ans, x: div(t, mul(sub(1.0, x), add(1.0, x))))


cbrt_p = unary_elementwise("cbrt", np.cbrt)


def cbrt(x: Any) -> Any:
    return cbrt_p.bind(x)


# d/dx x^(1/3) = 1 / (3 cbrt(x)^2): defined for negative x too; at 0 it is inf (the
# tangent line is vertical), so a tangent t gives t * inf there (NaN for t == 0).
defjvp(cbrt_p, lambda t, ans, x: mul(t, div(1.0 / 3.0, mul(ans, ans))))

# ---------------------------------------------------------------------------------------
# Piecewise-constant functions: derivative zero almost everywhere.

sign_p = unary_elementwise("sign", np.sign)
zero_jvp(sign_p)


def sign(x: Any) -> Any:
    return sign_p.bind(x)


floor_p = unary_elementwise("floor", np.floor)
zero_jvp(floor_p)


def floor(x: Any) -> Any:
    return floor_p.bind(x)


ceil_p = unary_elementwise("ceil", np.ceil)
zero_jvp(ceil_p)


def ceil(x: Any) -> Any:
    return ceil_p.bind(x)


round_p = unary_elementwise("round", np.round)
zero_jvp(round_p)


def round(x: Any) -> Any:
    return round_p.bind(x)


trunc_p = unary_elementwise("trunc", np.trunc)
zero_jvp(trunc_p)


def trunc(x: Any) -> Any:
    return trunc_p.bind(x)


# ---------------------------------------------------------------------------------------
# floor_divide and mod: NumPy's ``//`` and ``%`` (the remainder takes the divisor's sign),
# exact for integers. x // y is piecewise constant; x % y = x - (x // y) * y has slope 1
# in x and -(x // y) in y between its jumps.

floor_divide_p = nary_elementwise("floor_divide", np.floor_divide)
zero_jvp(floor_divide_p)


def floor_divide(x: Any, y: Any) -> Any:
    return floor_divide_p.bind(x, y)


mod_p = nary_elementwise("mod", np.remainder)


def mod(x: Any, y: Any) -> Any:
    return mod_p.bind(x, y)


defjvp(
    mod_p,
    lambda t, ans, x, y: t,
    lambda t, ans, x, y: neg(mul(t, floor_divide(x, y))),
)

# fmod: C's remainder, with the sign of x: x - trunc(x / y) * y. The quotient
# (x - ans) / y is an integer up to rounding, and round gives it exactly.
fmod_p = nary_elementwise("fmod", np.fmod)


def fmod(x: Any, y: Any) -> Any:
    return fmod_p.bind(x, y)


defjvp(
    fmod_p,
    lambda t, ans, x, y: t,
    lambda t, ans, x, y: neg(mul(t, round(div(sub(x, ans), y)))),
)

# ---------------------------------------------------------------------------------------
# logaddexp: log(exp(x) + exp(y)) without overflow; softplus is logaddexp(x, 0).

logaddexp_p = nary_elementwise("logaddexp", np.logaddexp)


def logaddexp(x: Any, y: Any) -> Any:
    return logaddexp_p.bind(x, y)


defjvp(
    logaddexp_p,
    lambda t, ans, x, y: mul(t, exp(sub(x, ans))),
    lambda t, ans, x, y: mul(t, exp(sub(y, ans))),
)

logaddexp2_p = nary_elementwise("logaddexp2", np.logaddexp2)


def logaddexp2(x: Any, y: Any) -> Any:
    return logaddexp2_p.bind(x, y)


defjvp(
    logaddexp2_p,
    lambda t, ans, x, y: mul(t, exp(mul(sub(x, ans), _LN2))),
    lambda t, ans, x, y: mul(t, exp(mul(sub(y, ans), _LN2))),
)

# ---------------------------------------------------------------------------------------
# arctan2 and hypot: the angle and the length of the point (x2, x1) / (x, y).

arctan2_p = nary_elementwise("arctan2", np.arctan2)


def arctan2(y: Any, x: Any) -> Any:
    return arctan2_p.bind(y, x)


def _squared_norm(y, x):
    return add(mul(y, y), mul(x, x))


# d atan2(y, x) = (x dy - y dx) / (x^2 + y^2): NaN at the origin, where the angle jumps.
defjvp(
    arctan2_p,
    lambda t, ans, y, x: mul(t, div(x, _squared_norm(y, x))),
    lambda t, ans, y, x: neg(mul(t, div(y, _squared_norm(y, x)))),
)

hypot_p = nary_elementwise("hypot", np.hypot)


def hypot(x: Any, y: Any) -> Any:
    return hypot_p.bind(x, y)


def _hypot_partial(t, ans, x):
    # x / hypot(x, y): no squares, so no overflow. At the origin, the kink of the norm,
    # every derivative is taken as 0 (as abs'(0) is): the select keeps the other branch
    # out of higher derivatives, and the safe denominator keeps 0/0 out of reverse mode.
    at_origin = eq(ans, 0.0)
    return mul(t, select(at_origin, 0.0, div(x, select(at_origin, 1.0, ans))))


defjvp(
    hypot_p,
    lambda t, ans, x, y: _hypot_partial(t, ans, x),
    lambda t, ans, x, y: _hypot_partial(t, ans, y),
)

# ---------------------------------------------------------------------------------------
# max / min: at ties the derivative is split evenly between the operands, as in JAX.


def _share(x, ans, other):
    """1 where ``x`` alone attains ``ans``, 1/2 where ``other`` ties with it, else 0."""
    return select(eq(x, ans), select(eq(other, ans), 0.5, 1.0), 0.0)


def _defjvp_chosen(prim: Primitive) -> None:
    """The jvp of an operation that chooses one operand (max, min, fmax, fmin): the
    chosen operand's tangent, split evenly at ties."""
    defjvp(
        prim,
        lambda t, ans, x, y: mul(t, _share(x, ans, y)),
        lambda t, ans, x, y: mul(t, _share(y, ans, x)),
    )


max_p = nary_elementwise("max", np.maximum)


def max(x: Any, y: Any) -> Any:
    return max_p.bind(x, y)


_defjvp_chosen(max_p)

min_p = nary_elementwise("min", np.minimum)


def min(x: Any, y: Any) -> Any:
    return min_p.bind(x, y)


_defjvp_chosen(min_p)

# fmax / fmin ignore a NaN operand (NumPy's): the result, and its derivative, is the
# other operand's; NaN (with a zero derivative) only where both are NaN. Ties split.
fmax_p = nary_elementwise("fmax", np.fmax)


def fmax(x: Any, y: Any) -> Any:
    return fmax_p.bind(x, y)


_defjvp_chosen(fmax_p)

fmin_p = nary_elementwise("fmin", np.fmin)


def fmin(x: Any, y: Any) -> Any:
    return fmin_p.bind(x, y)


_defjvp_chosen(fmin_p)

# ---------------------------------------------------------------------------------------
# Comparisons and logic: boolean outputs, no derivative.

_BOOL = np.dtype(np.bool_)


def _comparison(name: str, fn: Callable) -> Primitive:
    prim = nary_elementwise(name, fn, _BOOL)
    zero_jvp(prim)
    return prim


lt_p = _comparison("lt", np.less)
le_p = _comparison("le", np.less_equal)
gt_p = _comparison("gt", np.greater)
ge_p = _comparison("ge", np.greater_equal)
eq_p = _comparison("eq", np.equal)
ne_p = _comparison("ne", np.not_equal)
and_p = _comparison("and", np.logical_and)
or_p = _comparison("or", np.logical_or)
xor_p = _comparison("xor", np.logical_xor)
not_p = unary_elementwise("not", np.logical_not)
zero_jvp(not_p)
isfinite_p = unary_elementwise("isfinite", np.isfinite)
zero_jvp(isfinite_p)
isnan_p = unary_elementwise("isnan", np.isnan)
zero_jvp(isnan_p)
isinf_p = unary_elementwise("isinf", np.isinf)
zero_jvp(isinf_p)
signbit_p = unary_elementwise("signbit", np.signbit)
zero_jvp(signbit_p)


def lt(x: Any, y: Any) -> Any:
    return lt_p.bind(x, y)


def le(x: Any, y: Any) -> Any:
    return le_p.bind(x, y)


def gt(x: Any, y: Any) -> Any:
    return gt_p.bind(x, y)


def ge(x: Any, y: Any) -> Any:
    return ge_p.bind(x, y)


def eq(x: Any, y: Any) -> Any:
    return eq_p.bind(x, y)


def ne(x: Any, y: Any) -> Any:
    return ne_p.bind(x, y)


# ---------------------------------------------------------------------------------------
# select: ``where(pred, on_true, on_false)``, linear in the two branches.

select_p = new_primitive("select")
_SAME_WIDTH_INT = {np.dtype(np.float64): np.int64, np.dtype(np.float32): np.int32}


def _is_positive_zero(v: Any) -> bool:
    return type(v) is float and v == 0.0 and math.copysign(1.0, v) > 0


def _zero_select_mask(pred, on_true, on_false):
    """For ``where(pred, x, +0.0)`` or ``where(pred, +0.0, x)`` with a float array ``x`` of
    pred's shape: ``(x, mask)``, mask an int8 array of -1 where x is kept and 0 elsewhere.
    Otherwise None."""
    if type(pred) is not np.ndarray or not pred.ndim:
        return None
    if _is_positive_zero(on_false):
        kept, flags = on_true, np.negative(pred.view(np.int8))
    elif _is_positive_zero(on_true):
        kept, flags = on_false, None
    else:
        return None
    if type(kept) is not np.ndarray or kept.shape != pred.shape:
        return None
    if kept.dtype not in _SAME_WIDTH_INT:
        return None
    if flags is None:
        flags = np.subtract(pred.view(np.int8), 1, dtype=np.int8)
    return kept, flags


def _select_impl(pred, on_true, on_false, out=None):
    # np.where branches per element, which is slow on unpredictable masks (relu's,
    # about 8x slower than a multiply). Keeping an array where pred holds and +0.0
    # elsewhere is the common case: a bitwise AND with a 0/-1 mask does it exactly
    # and without branches (NumPy sign-extends the int8 mask to the float's width).
    found = _zero_select_mask(pred, on_true, on_false)
    if found is None:
        return np.where(pred, on_true, on_false)
    kept, flags = found
    int_type = _SAME_WIDTH_INT[kept.dtype]
    if out is None:
        return np.bitwise_and(kept.view(int_type), flags).view(kept.dtype)
    np.bitwise_and(kept.view(int_type), flags, out=out.view(int_type))
    return out


select_p.impl = _select_impl


def _select_abstract_eval(pred, on_true, on_false):
    if pred.dtype != _BOOL:
        raise ShapeError(f"select: the predicate must be boolean, got {pred.str_short()}")
    shape = broadcast_shapes("select", pred.shape, on_true.shape, on_false.shape)
    dtype, _ = dtypes.result_type(on_true, on_false)
    return ShapedArray(shape, dtype)  # np.where gives an ndarray: never weak


select_p.abstract_eval = _select_abstract_eval


def select(pred: Any, on_true: Any, on_false: Any) -> Any:
    return select_p.bind(pred, on_true, on_false)


defjvp(
    select_p,
    None,
    lambda t, ans, pred, on_true, on_false: select(pred, t, 0.0),
    lambda t, ans, pred, on_true, on_false: select(pred, 0.0, t),
)


def _select_transpose(ct, pred, on_true, on_false):
    require_constant("select", predicate=pred)
    return (
        None,
        unbroadcast(select(pred, ct, 0.0), on_true.aval) if is_undefined(on_true) else None,
        unbroadcast(select(pred, 0.0, ct), on_false.aval) if is_undefined(on_false) else None,
    )


register_transpose(select_p, _select_transpose)
defbroadcasting(select_p)

# ---------------------------------------------------------------------------------------
# heaviside: 0 below zero, 1 above, x2 at zero. Its derivative is in x2 alone, where
# x1 == 0 (in x1 it is piecewise constant).

heaviside_p = nary_elementwise("heaviside", np.heaviside)


def heaviside(x1: Any, x2: Any) -> Any:
    return heaviside_p.bind(x1, x2)


defjvp(heaviside_p, None, lambda t, ans, x1, x2: select(eq(x1, 0.0), t, 0.0))

# copysign(x, y) = |x| with y's sign: slope sign(x) * (+-1 by y's sign bit) in x, which
# is 0 at x == 0, the kink (as abs'(0) is); piecewise constant in y.
copysign_p = nary_elementwise("copysign", np.copysign)


def copysign(x: Any, y: Any) -> Any:
    return copysign_p.bind(x, y)


def _copysign_jvp(t, ans, x, y):
    slope = mul(t, sign(x))
    return select(signbit_p.bind(y), neg(slope), slope)


defjvp(copysign_p, _copysign_jvp, None)

# ---------------------------------------------------------------------------------------
# real, imag, conj: of any dtype, as NumPy's. Of a real value they are the identity,
# zeros and the identity, with those derivatives; fungrad does not differentiate
# complex values, so a tangent of a complex operand raises (check_real_tangent).


def _part(name: str, fn: Callable) -> Primitive:
    prim = new_primitive(name)
    prim.impl = fn
    prim.abstract_eval = lambda x: ShapedArray(
        x.shape, np.asarray(fn(np.ones((), x.dtype))).dtype, x.weak_type
    )
    defvectorized(prim)
    return prim


def _part_jvp(prim: Primitive, real_rule: Callable) -> None:
    def rule(primals, tangents):
        (x,), (t,) = primals, tangents
        ans = prim.bind(x)
        if type(t) is Zero:
            return ans, Zero(get_aval(ans))
        check_real_tangent(get_aval(x).dtype)
        return ans, real_rule(t, ans)

    register_jvp(prim, rule)


def _imag_impl(x):
    # np.imag of a real array is a read-only array of zeros: give a fresh one.
    if isinstance(x, np.ndarray) and x.dtype.kind != "c":
        return np.zeros_like(x)
    return np.imag(x)


real_p = _part("real", np.real)


def real(x: Any) -> Any:
    return real_p.bind(x)


_part_jvp(real_p, lambda t, ans: t)
register_transpose(real_p, lambda ct, x: (ct,))  # reached for real operands only
register_identity(real_p, lambda avals, consts: None if avals[0].dtype.kind == "c" else 0)

imag_p = _part("imag", _imag_impl)


def imag(x: Any) -> Any:
    return imag_p.bind(x)


_part_jvp(imag_p, lambda t, ans: Zero(get_aval(ans)))

conj_p = _part("conj", np.conjugate)


def conj(x: Any) -> Any:
    return conj_p.bind(x)


_part_jvp(conj_p, lambda t, ans: t)
register_transpose(conj_p, lambda ct, x: (ct,))  # reached for real operands only
register_identity(conj_p, lambda avals, consts: None if avals[0].dtype.kind == "c" else 0)

# ---------------------------------------------------------------------------------------
# stop_gradient

stop_gradient_p = new_primitive("stop_gradient")
stop_gradient_p.impl = lambda x: x
stop_gradient_p.abstract_eval = lambda x: x


def stop_gradient(x: Any) -> Any:
    """``x`` itself, treated as a constant by every derivative."""
    return stop_gradient_p.bind(x)


zero_jvp(stop_gradient_p)
defvectorized(stop_gradient_p)
register_identity(stop_gradient_p, lambda avals, consts: 0)
