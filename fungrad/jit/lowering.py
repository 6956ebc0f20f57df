"""The NumPy backend's lowering rules: how each primitive is written as Python source.

jit's code generator (fungrad/jit/codegen.py) writes one line of Python per equation,
and asks this module's table for the expression. A rule is registered for a primitive
by the backend, not attached to the primitive (as JAX's MLIR lowerings are)::

    register_lowering(prim, rule)
    rule(ctx, *operands, **params) -> Emitted(expression, fresh, used_out)

Each operand is an :class:`Operand`: its source (a variable's name, or a literal
written inline), its aval, and, for a literal, its value, so that a rule decides on
values ("the literal +0.0"), never on source text. ``ctx`` is a
:class:`LoweringContext`: ``ctx.name(obj)`` names any Python object the expression
refers to (a ufunc, a function with its params bound), ``ctx.function(closed, name)``
compiles a sub-program into a generated Python function and returns its name, and
``ctx.out`` is None or a dead array of exactly the result's shape and dtype that the
expression may write into (``out=``); it may be one of the operands, dying here, so
only a rule that may overwrite its operands (an elementwise one) should take it then.
The rule says whether its result is a ``fresh`` array that nothing else refers to,
and whether it ``used_out``. A primitive with no rule is called through its ``impl``.

This module holds the rules of every built-in primitive, found by name in
``fungrad.core.primitives``; the ``jit`` call primitive's rule is registered where
that primitive is defined (fungrad/jit/__init__.py).
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

import fungrad.primitives  # noqa: F401  (registers the built-in primitives)
from fungrad import dtypes
from fungrad.core import ClosedJaxpr, Primitive, ShapedArray, primitives
from fungrad.matrix_layouts import matrix_product_layout
from fungrad.primitives.control_flow import cond_p, run_while, scan_driver, scan_p, while_p
from fungrad.primitives.indexing import ARRAY, StaticIndex, scatter_add_p
from fungrad.primitives.remat import checkpoint_p

if TYPE_CHECKING:
    from fungrad.jit.codegen import ModuleWriter


class Operand:
    """An operand as a rule sees it: its ``source`` in the generated code, its ``aval``,
    and, if it is a literal (written inline) or a constant of the program (referred to
    by name), its ``value``; else ``value`` is None. Compared by identity: ``ctx.out in
    operands`` says whether the offered buffer is one of them."""

    __slots__ = ("source", "aval", "is_literal", "value")

    def __init__(
        self, source: str, aval: ShapedArray, is_literal: bool = False, value: Any = None
    ):
        self.source = source
        self.aval = aval
        self.is_literal = is_literal
        self.value = value

    def __repr__(self) -> str:
        return f"Operand({self.source}: {self.aval.str_short()})"


class Emitted(NamedTuple):
    """A rule's result: the ``expression``, whether it makes a ``fresh`` array that nothing
    else refers to, and whether it wrote into ``ctx.out`` (``used_out``)."""

    expression: str
    fresh: bool
    used_out: bool


class LoweringContext:
    """What a rule may use besides its operands and params, for one equation."""

    __slots__ = ("out", "_writer")

    def __init__(self, writer: ModuleWriter, out: Operand | None):
        self.out = out
        self._writer = writer

    def name(self, obj: Any, hint: str = "f") -> str:
        """A name for ``obj`` among the generated code's globals."""
        return self._writer.name(obj, hint)

    def function(self, closed: ClosedJaxpr, name: str) -> str:
        """The name of a generated Python function computing ``closed``:
        ``fn(*args) -> list of outputs``. Each sub-program is compiled once per module."""
        return self._writer.function(closed, name)


Rule = Callable[..., Emitted]

#: The backend's table: a primitive's rule, by primitive.
lowerings: dict[Primitive, Rule] = {}


def register_lowering(prim: Primitive, rule: Rule) -> None:
    """Make ``rule`` write ``prim``'s equations in generated NumPy code."""
    lowerings[prim] = rule


def lowering_rule(prim: Primitive) -> Rule:
    """``prim``'s rule, or one that calls its ``impl`` (which may return a view)."""
    rule = lowerings.get(prim)
    return rule if rule is not None else impl_lowering(prim, fresh=False)


# ---------------------------------------------------------------------------------------
# Rules that most primitives share


# Python's operators on NumPy scalars take NumPy's scalar arithmetic, about fifteen
# times faster than a ufunc call (0.15 us against 2 us), with the same IEEE result.
_SCALAR_OPERATORS = {
    np.add: "+",
    np.subtract: "-",
    np.multiply: "*",
    np.true_divide: "/",
    np.less: "<",
    np.less_equal: "<=",
    np.greater: ">",
    np.greater_equal: ">=",
    np.equal: "==",
    np.not_equal: "!=",
}


_COMPARISONS = frozenset({"<", "<=", ">", ">=", "==", "!="})


def _scalar_operator(
    ctx: LoweringContext, ufunc: np.ufunc, operands: tuple[Operand, ...]
) -> str | None:
    """``(a + b)`` for a binary ufunc on 0-d numeric operands, at least one strongly
    typed, for arithmetic where one is floating or complex and for any comparison;
    else None.

    A strongly typed number is a NumPy scalar or a 0-d array when the code runs, so
    the operator takes NumPy's scalar arithmetic and gives the ufunc's dtype. A
    boolean is not: a Python ``True`` argument is strongly typed, and ``True * 1.5``
    would be Python's float, not NumPy's float64, so booleans keep the ufunc. So does
    integer arithmetic: NumPy's scalar arithmetic warns on an overflow that the ufunc
    wraps silently (a comparison cannot overflow). In arithmetic that mixes a strong
    integer with a floating number, the integer is first converted to the result's
    dtype, as the ufunc does (NumPy's scalar path for the mix is some forty times
    slower than the conversion and the operator)."""
    symbol = _SCALAR_OPERATORS.get(ufunc)
    if symbol is None or len(operands) != 2:
        return None
    if any(x.aval.shape or x.aval.dtype.kind not in "iufc" for x in operands):
        return None
    if symbol not in _COMPARISONS and not any(x.aval.dtype.kind in "fc" for x in operands):
        return None  # integer arithmetic
    if all(x.aval.weak_type for x in operands):
        return None
    a, b = (x.source for x in operands)
    if symbol not in _COMPARISONS:
        result = np.dtype(dtypes.result_type(*(x.aval for x in operands))[0]).type
        a, b = (
            f"{ctx.name(result, 'as')}({x.source})"
            if x.aval.dtype.kind in "iu" and not x.aval.weak_type
            else x.source
            for x in operands
        )
    return f"({a} {symbol} {b})"


def _integer_minimum(a: Any, b: Any) -> Any:
    return (a if a <= b else b)[()]  # [()]: a NumPy scalar, never an argument's 0-d array


def _integer_maximum(a: Any, b: Any) -> Any:
    return (a if a >= b else b)[()]


_WRAPPING = {np.add: operator.add, np.subtract: operator.sub}
_SELECTING = {np.minimum: _integer_minimum, np.maximum: _integer_maximum}


@functools.cache
def _wrapping_call(op: Callable[[Any, Any], Any], dtype: np.dtype) -> Callable[[Any, Any], Any]:
    """``op`` on two 0-d integers of ``dtype``, as its ufunc gives it: NumPy's scalar
    arithmetic where the exact result fits (no overflow, so no warning), and else the
    exact result wrapped around the dtype's range, as the ufunc wraps it silently."""
    kind, info = dtype.type, np.iinfo(dtype)
    low, high = int(info.min), int(info.max)
    span = high - low + 1

    def call(a: Any, b: Any) -> Any:
        exact = op(int(a), int(b))
        if low <= exact <= high:
            return op(a, b)
        return kind((exact - low) % span + low)

    return call


def _scalar_integer_call(
    ctx: LoweringContext, ufunc: np.ufunc, operands: tuple[Operand, ...]
) -> str | None:
    """For add, subtract, minimum and maximum of 0-d integers of one dtype (a Python
    int literal taken as a NumPy scalar of the other's dtype, where it fits): Python's
    exact integer arithmetic, wrapped around the dtype's range as the ufunc wraps, in a
    third of the time of a ufunc call on scalars; else None."""
    if ufunc not in _WRAPPING and ufunc not in _SELECTING:
        return None
    if len(operands) != 2 or any(x.aval.shape or x.aval.dtype.kind not in "iu" for x in operands):
        return None
    strong = [x for x in operands if not x.aval.weak_type]
    if not strong or any(x.aval.dtype != strong[0].aval.dtype for x in strong):
        return None
    dtype = strong[0].aval.dtype
    fn = _wrapping_call(_WRAPPING[ufunc], dtype) if ufunc in _WRAPPING else _SELECTING[ufunc]
    info = np.iinfo(dtype)
    sources = []
    for x in operands:
        if x.is_literal and type(x.value) is int:  # written inline as a Python int
            if not info.min <= x.value <= info.max:
                return None  # NumPy raises for a Python int out of the dtype's range
            sources.append(ctx.name(dtype.type(x.value), "k"))
        elif not x.aval.weak_type:
            sources.append(x.source)
        else:
            return None
    return f"{ctx.name(fn, ufunc.__name__)}({', '.join(sources)})"


def ufunc_lowering(ufunc: np.ufunc) -> Rule:
    """For a primitive that is exactly a NumPy ufunc: ``ufunc(a, b, out=o)``."""

    def rule(ctx: LoweringContext, *operands: Operand) -> Emitted:
        if ctx.out is None:
            scalar = _scalar_operator(ctx, ufunc, operands) or _scalar_integer_call(
                ctx, ufunc, operands
            )
            if scalar is not None:
                return Emitted(scalar, True, False)
        call = f"{ctx.name(ufunc, ufunc.__name__)}({', '.join(x.source for x in operands)}"
        if ctx.out is None:
            return Emitted(call + ")", True, False)
        return Emitted(f"{call}, out={ctx.out.source})", True, True)

    return rule


def impl_lowering(prim: Primitive, fresh: bool, hint: str | None = None) -> Rule:
    """Call ``prim.impl`` with the equation's params bound; ``fresh`` if it never returns a
    view of an operand. ``hint`` names it in the source (the primitive's name if None)."""
    hint = hint or prim.name

    def rule(ctx: LoweringContext, *operands: Operand, **params: Any) -> Emitted:
        impl = functools.partial(prim.impl, **params) if params else prim.impl
        return Emitted(f"{ctx.name(impl, hint)}({_sources(operands)})", fresh, False)

    return rule


def _sources(operands: tuple[Operand, ...]) -> str:
    return ", ".join(x.source for x in operands)


def _is_positive_zero(x: Operand) -> bool:
    value = x.value
    return x.is_literal and type(value) is float and value == 0.0 and math.copysign(1.0, value) > 0


# ---------------------------------------------------------------------------------------
# The rules of the built-in primitives

_UFUNCS = (
    "add sub mul div neg pow exp log log1p expm1 sin cos tan tanh sinh cosh arctan arcsin "
    "arccos sqrt abs sign floor ceil floor_divide mod logaddexp max min lt le gt ge eq ne "
    "and or xor not isfinite"
)
for _name in _UFUNCS.split():
    assert isinstance(primitives[_name].impl, np.ufunc), _name
    register_lowering(primitives[_name], ufunc_lowering(primitives[_name].impl))

# Called through their impl, which makes a new array.
for _name in "logistic round argmax argmin concatenate eye".split():
    register_lowering(primitives[_name], impl_lowering(primitives[_name], fresh=True))
_convert = primitives["convert_element_type"]
_convert_impl = impl_lowering(_convert, fresh=True, hint="convert")


def _is_exact_scalar_conversion(source: np.dtype, target: np.dtype) -> bool:
    """Conversions that NumPy's scalar constructor does as ``astype`` does, exactly and
    without a warning: from booleans, from integers to floating types, and widening
    floating conversions."""
    if source.kind == "b":
        return target.kind in "biufc"
    if source.kind in "iu":
        return target.kind in "fc"
    if source.kind == "f":
        return (target.kind == "f" and target.itemsize >= source.itemsize) or target.kind == "c"
    return False


@functools.cache
def _one_and_zero(kind: type) -> tuple[Any, Any]:
    return kind(1), kind(0)


def _convert_lowering(ctx: LoweringContext, x: Operand, *, new_dtype: np.dtype) -> Emitted:
    # A 0-d strongly typed value is a NumPy scalar, a 0-d array or a Python bool when
    # the code runs: the dtype's own constructor converts it (np.float64(v)) about five
    # times faster than asarray(v).astype(...).
    if (
        not x.aval.shape
        and not x.is_literal
        and not x.aval.weak_type
        and _is_exact_scalar_conversion(x.aval.dtype, np.dtype(new_dtype))
    ):
        kind = np.dtype(new_dtype).type
        if x.aval.dtype.kind == "b":
            # A boolean picks one of the two NumPy scalars (a tenth of kind(v)'s time).
            one, zero = (ctx.name(k, "k") for k in _one_and_zero(kind))
            return Emitted(f"({one} if {x.source} else {zero})", True, False)
        return Emitted(f"{ctx.name(kind, 'as')}({x.source})", True, False)
    return _convert_impl(ctx, x, new_dtype=new_dtype)


register_lowering(_convert, _convert_lowering)

# Called through their impl, which may return a view of the operand.
_broadcast = primitives["broadcast_in_dim"]
register_lowering(_broadcast, impl_lowering(_broadcast, fresh=False, hint="broadcast"))
_gather_impl = impl_lowering(primitives["gather"], fresh=False)


def _index_source(entry: Any, arrays: Any) -> str | None:
    """An index entry as subscript source, or None if it has none we trust."""
    if entry is ARRAY:
        return next(arrays).source
    if entry is None:
        return "None"
    if entry is Ellipsis:
        return "..."
    if type(entry) is tuple:  # a slice, stored as ("slice", start, stop, step)
        bounds = entry[1:]
        if all(
            b is None or (isinstance(b, (int, np.integer)) and type(b) is not bool) for b in bounds
        ):
            return ":".join("" if b is None else str(int(b)) for b in bounds)
        return None
    if isinstance(entry, (int, np.integer)) and type(entry) is not bool:
        return str(int(entry))
    return None


def _gather_lowering(ctx: LoweringContext, x: Operand, *arrays: Operand, index: StaticIndex):
    # NumPy's own subscript, written out (x[c0, v3, 1:]), where the impl would build the
    # index tuple at every call. An array operand (ndim > 0) is an ndarray at run time.
    if x.aval.shape and not x.is_literal:
        it = iter(arrays)
        parts = [_index_source(e, it) for e in index.entries]
        if all(p is not None for p in parts):
            subscript = f"{', '.join(parts)}," if parts else "()"
            return Emitted(f"{x.source}[{subscript}]", False, False)
    return _gather_impl(ctx, x, *arrays, index=index)


register_lowering(primitives["gather"], _gather_lowering)


def _unique_positions(index: StaticIndex, arrays: tuple[Operand, ...]) -> bool:
    """Whether the index picks each element at most once, as the program's constants
    show: one of its integer index arrays is a constant whose entries, broadcast with
    the others, are distinct and non-negative (as a row index ``arange(n)[:, None]``
    is), so the tuples of indices are distinct whatever the others hold."""
    if not arrays or any(e is Ellipsis or e is None for e in index.entries):
        return False
    shape = np.broadcast_shapes(*(a.aval.shape for a in arrays))
    for a in arrays:
        if a.is_literal or a.value is None:
            continue
        values = np.broadcast_to(np.asarray(a.value), shape).ravel()
        if values.size and values.min() >= 0 and np.unique(values).size == values.size:
            return True
    return False


def _assigned(out: np.ndarray, index: tuple, values: Any) -> np.ndarray:
    out[index] = values
    return out


def _scatter_add_lowering(
    ctx: LoweringContext, ct: Operand, *arrays: Operand, index: StaticIndex, shape: tuple
) -> Emitted:
    # np.add.at, which accumulates repeated indices, costs several times an assignment;
    # where the constants prove the indices distinct (a gather's transpose by rows, as
    # in a cross-entropy with integer labels), the assignment is exact.
    # The index is written out (np.s_[c0, v3, 1:]), as a gather's is. An array
    # cotangent (not weakly typed) is an ndarray of its aval's dtype when the code runs.
    it = iter(arrays)
    parts = [_index_source(e, it) for e in index.entries]
    if (
        _unique_positions(index, arrays)
        and ct.aval.shape
        and not ct.aval.weak_type
        and all(p is not None for p in parts)
    ):
        zeros = f"{ctx.name(np.zeros, 'zeros')}({shape!r}, {ctx.name(ct.aval.dtype, 'dtype')})"
        subscript = f"{ctx.name(np.s_, 's')}[{', '.join(parts)},]"
        assign = ctx.name(_assigned, "assign")
        return Emitted(f"{assign}({zeros}, {subscript}, {ct.source})", True, False)
    fn = ctx.name(functools.partial(scatter_add_p.impl, index=index, shape=shape), "scatter_add")
    return Emitted(f"{fn}({_sources((ct, *arrays))})", True, False)


register_lowering(scatter_add_p, _scatter_add_lowering)


def _integer_pow_lowering(ctx: LoweringContext, x: Operand, *, y: int) -> Emitted:
    if y == 2:
        call = f"{ctx.name(np.multiply, 'multiply')}({x.source}, {x.source}"
    else:
        call = f"{ctx.name(np.power, 'power')}({x.source}, {y}"
    if ctx.out is None:
        return Emitted(call + ")", True, False)
    return Emitted(f"{call}, out={ctx.out.source})", True, True)


register_lowering(primitives["integer_pow"], _integer_pow_lowering)


def _select_lowering(
    ctx: LoweringContext, pred: Operand, on_true: Operand, on_false: Operand
) -> Emitted:
    # The impl keeps an array where pred holds and +0.0 elsewhere by a bitwise AND with
    # a mask, and then can write into out; np.where cannot.
    fn = ctx.name(primitives["select"].impl, "select")
    args = _sources((pred, on_true, on_false))
    zero_branch = (_is_positive_zero(on_false) and on_true.aval.dtype.kind == "f") or (
        _is_positive_zero(on_true) and on_false.aval.dtype.kind == "f"
    )
    same_shape = pred.aval.shape in (on_true.aval.shape, on_false.aval.shape)
    if ctx.out is not None and zero_branch and same_shape:
        # The impl writes into out only when it takes the bitwise path; else it returns
        # a new array, which is fine: out was dead.
        return Emitted(f"{fn}({args}, {ctx.out.source})", True, True)
    return Emitted(f"{fn}({args})", True, False)


register_lowering(primitives["select"], _select_lowering)
register_lowering(primitives["stop_gradient"], lambda ctx, x: Emitted(x.source, False, False))


def _reduction_lowering(name: str, reduce: Callable[..., Any]) -> Rule:
    def rule(ctx: LoweringContext, x: Operand, *, axes: tuple[int, ...]) -> Emitted:
        # Over no axes, NumPy's reduce returns its operand (or a view of it).
        return Emitted(f"{ctx.name(reduce, name)}({x.source}, axis={axes!r})", bool(axes), False)

    return rule


for _name, _reduce in (
    ("reduce_sum", np.add.reduce),
    ("reduce_max", np.maximum.reduce),
    ("reduce_min", np.minimum.reduce),
):
    register_lowering(primitives[_name], _reduction_lowering(_name, _reduce))


def _reshape_lowering(ctx: LoweringContext, x: Operand, *, new_sizes: tuple) -> Emitted:
    if x.is_literal or not x.aval.shape:
        # A 0-d value may be a Python scalar when the code runs (a bool argument, say),
        # which has no reshape method.
        call = f"{ctx.name(np.reshape, 'reshape')}({x.source}, {new_sizes!r})"
        return Emitted(call, False, False)
    # An array: the method, five times cheaper than np.reshape's call.
    return Emitted(f"{x.source}.reshape({new_sizes!r})", False, False)


register_lowering(primitives["reshape"], _reshape_lowering)
register_lowering(
    primitives["transpose"],
    lambda ctx, x, *, permutation: Emitted(
        f"{ctx.name(np.transpose, 'transpose')}({x.source}, {permutation!r})", False, False
    ),
)


def _dot_general_lowering(
    ctx: LoweringContext, x: Operand, y: Operand, *, dimension_numbers: tuple
) -> Emitted:
    layout = matrix_product_layout(dimension_numbers, x.aval.ndim, y.aval.ndim)
    if layout is None:
        return _dot_general_impl(ctx, x, y, dimension_numbers=dimension_numbers)
    transpose_x, transpose_y = layout
    call = (
        f"{ctx.name(np.matmul, 'matmul')}({x.source}{'.T' if transpose_x else ''}, "
        f"{y.source}{'.T' if transpose_y else ''}"
    )
    out = ctx.out
    if out is not None and out is not x and out is not y:
        # A dead intermediate of exactly the result's shape and dtype, that is not being read.
        return Emitted(f"{call}, out={out.source})", True, True)
    return Emitted(call + ")", True, False)


_dot_general_impl = impl_lowering(primitives["dot_general"], fresh=True)
register_lowering(primitives["dot_general"], _dot_general_lowering)


def call_lowering(
    ctx: LoweringContext, *operands: Operand, call_jaxpr: ClosedJaxpr, name: str, **_params: Any
) -> Emitted:
    """The rule of a call primitive (``jit``): a call of its program, compiled (as it is:
    simplification inlines calls before code generation ever sees them) into a generated
    function of its own. Its outputs may be its operands, or views of them: not fresh."""
    fn = ctx.function(call_jaxpr, name)
    return Emitted(f"{fn}({_sources(operands)})", False, False)


# ---------------------------------------------------------------------------------------
# Control flow: each sub-program is compiled into a generated function of its own, and
# a small driver (the same one eager evaluation uses) calls it; no jaxpr is interpreted.


def _branch_index(index: Any, count: int) -> int:
    return 0 if index < 0 else count - 1 if index >= count else int(index)


def _cond_lowering(ctx: LoweringContext, index: Operand, *operands: Operand, branches) -> Emitted:
    fns = ", ".join(ctx.function(b, "branch") for b in branches)
    pick = ctx.name(_branch_index, "branch_index")
    return Emitted(
        f"({fns},)[{pick}({index.source}, {len(branches)})]({_sources(operands)})", False, False
    )


def _scan_lowering(
    ctx: LoweringContext,
    *operands: Operand,
    jaxpr,
    num_consts,
    num_carry,
    length,
    reverse,
    unroll,
) -> Emitted:
    body = ctx.function(jaxpr, "scan_body")
    num_ys = len(jaxpr.out_avals) - num_carry
    num_xs = len(operands) - num_consts - num_carry
    run = ctx.name(scan_driver(num_consts, num_carry, num_xs, num_ys, reverse), "scan")
    y_avals = ctx.name(tuple(jaxpr.out_avals[num_carry:]), "y_avals")
    return Emitted(
        f"{run}({body}, {length}, {y_avals}{', ' if operands else ''}{_sources(operands)})",
        False,
        False,
    )


def _while_lowering(
    ctx: LoweringContext, *operands: Operand, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts
) -> Emitted:
    cond = ctx.function(cond_jaxpr, "while_cond")
    body = ctx.function(body_jaxpr, "while_body")
    run = ctx.name(run_while, "while_loop")
    return Emitted(
        f"{run}({cond}, {body}, {cond_nconsts}, {body_nconsts}"
        f"{', ' if operands else ''}{_sources(operands)})",
        False,
        False,
    )


register_lowering(cond_p, _cond_lowering)
register_lowering(scan_p, _scan_lowering)
register_lowering(while_p, _while_lowering)


def _checkpoint_lowering(
    ctx: LoweringContext, *operands: Operand, jaxpr, prevent_cse, policy
) -> Emitted:
    # A function of its own, never inlined: the recomputation stays a recomputation.
    fn = ctx.function(jaxpr, "checkpoint")
    return Emitted(f"{fn}({_sources(operands)})", False, False)


register_lowering(checkpoint_p, _checkpoint_lowering)
