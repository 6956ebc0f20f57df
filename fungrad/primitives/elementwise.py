"""Elementwise primitives: arithmetic, math functions, comparisons, select, dtype casts.

Binary primitives broadcast as NumPy does, so no broadcast needs to be materialised
before an operation; their transpose rules sum cotangents back down to each
operand's shape (:func:`unbroadcast`). Each primitive is one block: its family
constructor supplies the implementation and the shape/dtype rule, then come its jvp
rule and, if it is linear, its transpose rule.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from fungrad import dtypes
from fungrad.core import Primitive, ShapedArray, Zero, get_aval, new_primitive, shape_of
from fungrad.errors import ShapeError
from fungrad.interpreters.batching import register_batch, to_front
from fungrad.interpreters.jvp import (
    check_real_tangent,
    defjvp,
    deflinear_jvp,
    register_jvp,
    zero_jvp,
)
from fungrad.interpreters.lowering import Emitted, impl_emitter, ufunc_emitter
from fungrad.interpreters.simplify_rules import register_identity
from fungrad.interpreters.transpose import is_undefined, register_transpose, require_constant

# ---------------------------------------------------------------------------------------
# Shape and dtype rules shared by the families

_ONE = {"f": 1.0, "c": 1.0 + 0j, "i": 1, "u": 1, "b": True}
_dtype_cache: dict[Any, tuple[np.dtype, bool]] = {}


def ufunc_result_dtype(fn: Callable, avals: tuple[ShapedArray, ...]) -> tuple[np.dtype, bool]:
    """The dtype NumPy's ``fn`` returns for inputs of these avals (weak scalars included)."""
    if len(avals) == 1:
        key: tuple = (fn, avals[0].dtype, avals[0].weak_type)
    else:
        a, b = avals[0], avals[1]
        key = (fn, a.dtype, a.weak_type, b.dtype, b.weak_type, *avals[2:])
    found = _dtype_cache.get(key)
    if found is None:
        samples = [_ONE[a.dtype.kind] if a.weak_type else np.ones((), a.dtype) for a in avals]
        with np.errstate(all="ignore"):
            dtype = np.asarray(fn(*samples)).dtype
        found = _dtype_cache[key] = (dtype, all(a.weak_type for a in avals))
    return found


_broadcast_cache: dict[tuple, tuple[int, ...]] = {}


def broadcast_shapes(name: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    if len(shapes) == 2 and shapes[0] == shapes[1]:
        return shapes[0]
    found = _broadcast_cache.get(shapes)
    if found is not None:
        return found
    try:
        found = _broadcast_cache[shapes] = np.broadcast_shapes(*shapes)
    except ValueError:
        listed = " and ".join(str(s) for s in shapes)
        raise ShapeError(
            f"{name}: operands of shapes {listed} cannot be broadcast together"
        ) from None
    return found


def batch_unary(prim: Primitive) -> None:
    """Batching rule of a one-operand elementwise primitive: the batch dim stays put."""
    register_batch(prim, lambda values, dims, **params: (prim.bind(*values, **params), dims[0]))


def batch_broadcasting(prim: Primitive) -> None:
    """Give ``prim`` the batching rule of a NumPy-broadcasting primitive."""
    register_batch(prim, broadcasting_rule(prim))


def broadcasting_rule(prim: Primitive) -> Callable[..., Any]:
    """Batching rule of a NumPy-broadcasting primitive.

    Broadcasting aligns trailing dimensions, so batched operands get their batch
    dimension first and, if they have fewer dimensions than the result, size-1
    dimensions after it; unbatched operands are left as they are.
    """

    def rule(values, dims, **params):
        shapes = [shape_of(v) for v in values]
        first = dims[0]
        if (
            first is not None
            and all(d == first for d in dims)
            and all(len(s) == len(shapes[0]) for s in shapes)
        ):
            return prim.bind(*values, **params), first
        ranks = [len(s) - (d is not None) for s, d in zip(shapes, dims)]
        out_rank = builtins.max(ranks)
        moved = []
        for v, d, r in zip(values, dims, ranks):
            if d is not None:
                v = to_front(v, d)
                if r < out_rank:
                    from fungrad.primitives.shape import reshape

                    front = shape_of(v)
                    v = reshape(v, front[:1] + (1,) * (out_rank - r) + front[1:])
            moved.append(v)
        return prim.bind(*moved, **params), 0

    return rule


def unary_elementwise(name: str, fn: Callable) -> Primitive:
    prim = new_primitive(name)
    prim.impl = fn

    def abstract_eval(x: ShapedArray) -> ShapedArray:
        dtype, weak = ufunc_result_dtype(fn, (x,))
        return ShapedArray(x.shape, dtype, weak)

    prim.abstract_eval = abstract_eval
    batch_unary(prim)
    prim.emit = ufunc_emitter(fn) if isinstance(fn, np.ufunc) else impl_emitter(fn, name, True)
    return prim


def nary_elementwise(name: str, fn: Callable, out_dtype: np.dtype | None = None) -> Primitive:
    """A broadcasting primitive; ``out_dtype`` fixes the output dtype (comparisons: bool)."""
    prim = new_primitive(name)
    prim.impl = fn

    def abstract_eval(*avals: ShapedArray) -> ShapedArray:
        shape = broadcast_shapes(name, *(a.shape for a in avals))
        if out_dtype is not None:
            return ShapedArray(shape, out_dtype)
        dtype, weak = ufunc_result_dtype(fn, avals)
        return ShapedArray(shape, dtype, weak)

    prim.abstract_eval = abstract_eval
    batch_broadcasting(prim)
    prim.emit = ufunc_emitter(fn)
    return prim


# ---------------------------------------------------------------------------------------
# Arithmetic

add_p = nary_elementwise("add", np.add)
sub_p = nary_elementwise("sub", np.subtract)
mul_p = nary_elementwise("mul", np.multiply)
div_p = nary_elementwise("div", np.true_divide)
neg_p = unary_elementwise("neg", np.negative)


def add(x: Any, y: Any) -> Any:
    return add_p.bind(x, y)


def sub(x: Any, y: Any) -> Any:
    return sub_p.bind(x, y)


def mul(x: Any, y: Any) -> Any:
    return mul_p.bind(x, y)


def div(x: Any, y: Any) -> Any:
    return div_p.bind(x, y)


def neg(x: Any) -> Any:
    return neg_p.bind(x)


def unbroadcast(ct: Any, aval: ShapedArray) -> Any:
    """Sum a cotangent down to ``aval``'s shape (undoing broadcasting) and cast to its dtype."""
    ct_shape = shape_of(ct)
    shape = aval.shape
    if ct_shape != shape:
        from fungrad.primitives.reductions import reduce_sum
        from fungrad.primitives.shape import reshape

        lead = len(ct_shape) - len(shape)
        axes = tuple(range(lead)) + tuple(
            i + lead for i, d in enumerate(shape) if d == 1 and ct_shape[i + lead] != 1
        )
        if axes:
            ct = reduce_sum(ct, axes)
        if shape_of(ct) != shape:
            ct = reshape(ct, shape)
    return cast_like(ct, aval.dtype)


def cast_like(x: Any, dtype: np.dtype) -> Any:
    """Cast a tangent or cotangent to ``dtype`` when promotion changed it."""
    x_dtype = x.dtype if hasattr(x, "dtype") else get_aval(x).dtype
    if x_dtype != dtype and dtypes.is_differentiable(dtype):
        return convert_element_type(x, dtype)
    return x


defjvp(add_p, lambda t, ans, x, y: t, lambda t, ans, x, y: t)
defjvp(sub_p, lambda t, ans, x, y: t, lambda t, ans, x, y: neg(t))
defjvp(mul_p, lambda t, ans, x, y: mul(t, y), lambda t, ans, x, y: mul(x, t))
defjvp(div_p, lambda t, ans, x, y: div(t, y), lambda t, ans, x, y: neg(mul(t, div(ans, y))))
deflinear_jvp(neg_p)


def _add_transpose(ct, x, y):
    return (
        unbroadcast(ct, x.aval) if is_undefined(x) else None,
        unbroadcast(ct, y.aval) if is_undefined(y) else None,
    )


def _sub_transpose(ct, x, y):
    return (
        unbroadcast(ct, x.aval) if is_undefined(x) else None,
        unbroadcast(neg(ct), y.aval) if is_undefined(y) else None,
    )


def _mul_transpose(ct, x, y):
    if is_undefined(x):
        require_constant("mul", y=y)
        return unbroadcast(mul(ct, y), x.aval), None
    return None, unbroadcast(mul(x, ct), y.aval)


def _div_transpose(ct, x, y):
    require_constant("div", denominator=y)
    return unbroadcast(div(ct, y), x.aval), None


def _is_constant(value: Any, target: float, zero_sign: bool | None = None) -> bool:
    if value is None or not bool(np.all(np.asarray(value) == target)):
        return False
    # A zero must have the right sign where signed zeros exist: x + (-0.0) is x for
    # every x, but x + 0.0 turns -0.0 into 0.0 (and x - (-0.0) does the same).
    return zero_sign is None or bool(np.all(np.signbit(value) == zero_sign))


def _identity_when(
    prim: Primitive, constant: float, positions: tuple[int, ...], zero_sign: bool | None = None
):
    """identity_operand rule: ``x op c`` is ``x`` when c == constant (a zero of sign bit
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


register_identity(add_p, _identity_when(add_p, 0.0, (0, 1), zero_sign=True))
register_identity(sub_p, _identity_when(sub_p, 0.0, (1,), zero_sign=False))
register_identity(mul_p, _identity_when(mul_p, 1.0, (0, 1)))
register_identity(div_p, _identity_when(div_p, 1.0, (1,)))
register_transpose(add_p, _add_transpose)
register_transpose(sub_p, _sub_transpose)
register_transpose(mul_p, _mul_transpose)
register_transpose(div_p, _div_transpose)
register_transpose(neg_p, lambda ct, x: (neg(ct),))

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
batch_unary(integer_pow_p)


def _integer_pow_emit(ns, args, params, out, avals):
    (x,), y = args, params["y"]
    call = (
        f"{ns.name(np.multiply, 'multiply')}({x}, {x}"
        if y == 2
        else (f"{ns.name(np.power, 'power')}({x}, {y}")
    )
    if out is None:
        return Emitted(call + ")", True, False)
    return Emitted(call + f", out={out})", True, True)


integer_pow_p.emit = _integer_pow_emit
integer_pow_p.abstract_eval = lambda x, y: ShapedArray(
    x.shape, *ufunc_result_dtype(np.power, (x, ShapedArray((), np.dtype(int), True)))
)


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
# Math functions

exp_p = unary_elementwise("exp", np.exp)
log_p = unary_elementwise("log", np.log)
log1p_p = unary_elementwise("log1p", np.log1p)
expm1_p = unary_elementwise("expm1", np.expm1)
sin_p = unary_elementwise("sin", np.sin)
cos_p = unary_elementwise("cos", np.cos)
tan_p = unary_elementwise("tan", np.tan)
tanh_p = unary_elementwise("tanh", np.tanh)
sinh_p = unary_elementwise("sinh", np.sinh)
cosh_p = unary_elementwise("cosh", np.cosh)
arctan_p = unary_elementwise("arctan", np.arctan)
arcsin_p = unary_elementwise("arcsin", np.arcsin)
arccos_p = unary_elementwise("arccos", np.arccos)
sqrt_p = unary_elementwise("sqrt", np.sqrt)
abs_p = unary_elementwise("abs", np.abs)


def _logistic_impl(x):
    # exp(-|x|) never overflows; the two branches give 1/(1+e^-x) stably for both signs.
    z = np.exp(-np.abs(x))
    return np.where(np.greater_equal(x, 0), 1.0 / (1.0 + z), z / (1.0 + z))


logistic_p = unary_elementwise("logistic", _logistic_impl)


def exp(x: Any) -> Any:
    return exp_p.bind(x)


def log(x: Any) -> Any:
    return log_p.bind(x)


def log1p(x: Any) -> Any:
    return log1p_p.bind(x)


def expm1(x: Any) -> Any:
    return expm1_p.bind(x)


def sin(x: Any) -> Any:
    return sin_p.bind(x)


def cos(x: Any) -> Any:
    return cos_p.bind(x)


def tan(x: Any) -> Any:
    return tan_p.bind(x)


def tanh(x: Any) -> Any:
    return tanh_p.bind(x)


def sinh(x: Any) -> Any:
    return sinh_p.bind(x)


def cosh(x: Any) -> Any:
    return cosh_p.bind(x)


def arctan(x: Any) -> Any:
    return arctan_p.bind(x)


def arcsin(x: Any) -> Any:
    return arcsin_p.bind(x)


def arccos(x: Any) -> Any:
    return arccos_p.bind(x)


def sqrt(x: Any) -> Any:
    return sqrt_p.bind(x)


def abs(x: Any) -> Any:
    return abs_p.bind(x)


def logistic(x: Any) -> Any:
    return logistic_p.bind(x)


defjvp(exp_p, lambda t, ans, x: mul(t, ans))
defjvp(log_p, lambda t, ans, x: div(t, x))
defjvp(log1p_p, lambda t, ans, x: div(t, add(x, 1.0)))
defjvp(expm1_p, lambda t, ans, x: mul(t, add(ans, 1.0)))
defjvp(sin_p, lambda t, ans, x: mul(t, cos(x)))
defjvp(cos_p, lambda t, ans, x: neg(mul(t, sin(x))))
defjvp(tan_p, lambda t, ans, x: mul(t, add(1.0, mul(ans, ans))))
defjvp(tanh_p, lambda t, ans, x: mul(t, sub(1.0, mul(ans, ans))))
defjvp(sinh_p, lambda t, ans, x: mul(t, cosh(x)))
defjvp(cosh_p, lambda t, ans, x: mul(t, sinh(x)))
defjvp(arctan_p, lambda t, ans, x: div(t, add(1.0, mul(x, x))))
defjvp(arcsin_p, lambda t, ans, x: div(t, sqrt(sub(1.0, mul(x, x)))))
defjvp(arccos_p, lambda t, ans, x: neg(div(t, sqrt(sub(1.0, mul(x, x))))))
defjvp(sqrt_p, lambda t, ans, x: div(t, mul(2.0, ans)))
defjvp(abs_p, lambda t, ans, x: mul(t, sign(x)))
defjvp(logistic_p, lambda t, ans, x: mul(t, mul(ans, sub(1.0, ans))))

# Piecewise-constant functions: derivative zero almost everywhere.
sign_p = unary_elementwise("sign", np.sign)
floor_p = unary_elementwise("floor", np.floor)
ceil_p = unary_elementwise("ceil", np.ceil)
round_p = unary_elementwise("round", np.round)
for _prim in (sign_p, floor_p, ceil_p, round_p):
    zero_jvp(_prim)


def sign(x: Any) -> Any:
    return sign_p.bind(x)


def floor(x: Any) -> Any:
    return floor_p.bind(x)


def ceil(x: Any) -> Any:
    return ceil_p.bind(x)


def round(x: Any) -> Any:
    return round_p.bind(x)


# ---------------------------------------------------------------------------------------
# floor_divide and mod: NumPy's ``//`` and ``%`` (the remainder takes the divisor's sign),
# exact for integers. x // y is piecewise constant; x % y = x - (x // y) * y has slope 1
# in x and -(x // y) in y between its jumps.

floor_divide_p = nary_elementwise("floor_divide", np.floor_divide)
mod_p = nary_elementwise("mod", np.remainder)
zero_jvp(floor_divide_p)


def floor_divide(x: Any, y: Any) -> Any:
    return floor_divide_p.bind(x, y)


def mod(x: Any, y: Any) -> Any:
    return mod_p.bind(x, y)


defjvp(
    mod_p,
    lambda t, ans, x, y: t,
    lambda t, ans, x, y: neg(mul(t, floor_divide(x, y))),
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

# ---------------------------------------------------------------------------------------
# max / min: at ties the derivative is split evenly between the operands, as in JAX.

max_p = nary_elementwise("max", np.maximum)
min_p = nary_elementwise("min", np.minimum)


def max(x: Any, y: Any) -> Any:
    return max_p.bind(x, y)


def min(x: Any, y: Any) -> Any:
    return min_p.bind(x, y)


def _share(x, ans, other):
    """1 where ``x`` alone attains ``ans``, 1/2 where ``other`` ties with it, else 0."""
    return select(eq(x, ans), select(eq(other, ans), 0.5, 1.0), 0.0)


defjvp(
    max_p,
    lambda t, ans, x, y: mul(t, _share(x, ans, y)),
    lambda t, ans, x, y: mul(t, _share(y, ans, x)),
)
defjvp(
    min_p,
    lambda t, ans, x, y: mul(t, _share(x, ans, y)),
    lambda t, ans, x, y: mul(t, _share(y, ans, x)),
)

# ---------------------------------------------------------------------------------------
# Comparisons and logic: boolean outputs, no derivative.

_BOOL = np.dtype(np.bool_)
lt_p = nary_elementwise("lt", np.less, _BOOL)
le_p = nary_elementwise("le", np.less_equal, _BOOL)
gt_p = nary_elementwise("gt", np.greater, _BOOL)
ge_p = nary_elementwise("ge", np.greater_equal, _BOOL)
eq_p = nary_elementwise("eq", np.equal, _BOOL)
ne_p = nary_elementwise("ne", np.not_equal, _BOOL)
and_p = nary_elementwise("and", np.logical_and, _BOOL)
or_p = nary_elementwise("or", np.logical_or, _BOOL)
xor_p = nary_elementwise("xor", np.logical_xor, _BOOL)
not_p = unary_elementwise("not", np.logical_not)
isfinite_p = unary_elementwise("isfinite", np.isfinite)
for _prim in (lt_p, le_p, gt_p, ge_p, eq_p, ne_p, and_p, or_p, xor_p, not_p, isfinite_p):
    zero_jvp(_prim)


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


def _select_emit(ns, args, params, out, avals):
    pred, on_true, on_false = avals
    fn = ns.name(_select_impl, "select")
    zero_branch = ("0.0" == args[2] and on_true.dtype.kind == "f") or (
        "0.0" == args[1] and on_false.dtype.kind == "f"
    )
    same_shape = pred.shape == on_true.shape or pred.shape == on_false.shape
    if out is not None and zero_branch and same_shape:
        # _select_impl writes into out only when it takes the bitwise path; else it
        # returns a new array, which is fine: out was dead.
        return Emitted(f"{fn}({', '.join(args)}, {out})", True, True)
    return Emitted(f"{fn}({', '.join(args)})", True, False)


select_p.impl = _select_impl
select_p.emit = _select_emit


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
batch_broadcasting(select_p)

# ---------------------------------------------------------------------------------------
# dtype conversion and stop_gradient

convert_element_type_p = new_primitive("convert_element_type")
convert_element_type_p.impl = lambda x, new_dtype: np.asarray(x).astype(new_dtype)
convert_element_type_p.abstract_eval = lambda x, new_dtype: ShapedArray(x.shape, new_dtype)


def convert_element_type(x: Any, new_dtype: Any) -> Any:
    return convert_element_type_p.bind(x, new_dtype=np.dtype(new_dtype))


def _convert_jvp(primals, tangents, new_dtype):
    (x,), (t,) = primals, tangents
    ans = convert_element_type(x, new_dtype)
    if type(t) is Zero or not dtypes.is_differentiable(new_dtype):
        return ans, Zero(get_aval(ans))
    check_real_tangent(new_dtype)
    return ans, convert_element_type(t, new_dtype)


def _convert_transpose(ct, x, new_dtype):
    return (convert_element_type(ct, x.aval.dtype),)


register_jvp(convert_element_type_p, _convert_jvp)
register_transpose(convert_element_type_p, _convert_transpose)
register_identity(
    convert_element_type_p,
    lambda avals, consts, new_dtype: (
        0 if avals[0].dtype == new_dtype and not avals[0].weak_type else None
    ),
)
batch_unary(convert_element_type_p)
convert_element_type_p.emit = impl_emitter(convert_element_type_p.impl, "convert", fresh=True)

stop_gradient_p = new_primitive("stop_gradient")
stop_gradient_p.impl = lambda x: x
stop_gradient_p.abstract_eval = lambda x: x
register_identity(stop_gradient_p, lambda avals, consts: 0)
zero_jvp(stop_gradient_p)
batch_unary(stop_gradient_p)
stop_gradient_p.emit = lambda ns, args, params, out, avals: Emitted(args[0], False, False)


def stop_gradient(x: Any) -> Any:
    """``x`` itself, treated as a constant by every derivative."""
    return stop_gradient_p.bind(x)
