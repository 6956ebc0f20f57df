"""Random straight-line programs over the ``fungrad.numpy`` surface, for differential tests.

A :class:`Program` is Python source text over two names, ``np`` and ``nn``::

    def program(a0, a1):
        x0 = a0
        x1 = a1['w']
        x2 = np.sum(np.sin(x0) * x1, axis=-1)
        return (x2, {'u': x1})

Run with ``np = numpy`` (and ``nn`` = :data:`numpy_nn`, NumPy versions of the
``fungrad.nn`` functions) it is the reference; run with ``np = fungrad.numpy`` and
``nn = fungrad.nn`` it is the function under test. The same text is printed when a
test fails, so a failure is its own reproduction.

:class:`ProgramDrawer` draws such a program one line at a time with hypothesis. It
evaluates every candidate line with NumPy at all the points the test will evaluate
the program at, and keeps a line only if it is valid there: finite, not too large,
and at least :data:`MARGIN` away from every kink (``abs``, ``relu``, ``max``, the
condition of ``where``, ...), so central differences are valid derivatives.

The second half of this module holds the transformations drawn on top of a program
(:class:`Layer` and its subclasses), each with a check of its result against its
definition: ``jit(g) == g``, ``vmap(g) ==`` a loop over ``g``, a derivative against
central differences of ``g``.
"""

from __future__ import annotations

import re
import types
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy
from hypothesis import strategies as st

import fungrad
import fungrad.nn
import fungrad.numpy as fnp
from fungrad.test_util import numerical_jvp
from fungrad.tree_util import (
    tree_flatten,
    tree_flatten_with_path,
    tree_leaves,
    tree_map,
    tree_structure,
    tree_unflatten,
)

MARGIN = 0.05  # distance kept from every kink and discontinuity
MAX_ABS = 200.0  # largest magnitude of a value the programs compute
MAX_SIZE = 48  # largest number of elements of a value
MAX_NDIM = 4


# ---------------------------------------------------------------------------------------
# The NumPy twins of fungrad.nn


def _relu(x):
    return numpy.where(x > 0, x, numpy.zeros((), numpy.result_type(x)))


def _sigmoid(x):
    return 1 / (1 + numpy.exp(-x))


def _softplus(x):
    return numpy.logaddexp(x, 0.0)


def _log_sigmoid(x):
    return -numpy.logaddexp(-x, 0.0)


def _logsumexp(x, axis=None, keepdims=False):
    shift = numpy.max(x, axis=axis, keepdims=True)
    out = numpy.log(numpy.sum(numpy.exp(x - shift), axis=axis, keepdims=True)) + shift
    return out if keepdims else numpy.squeeze(out, axis=axis)


def _log_softmax(x, axis=-1):
    shifted = x - numpy.max(x, axis=axis, keepdims=True)
    return shifted - numpy.log(numpy.sum(numpy.exp(shifted), axis=axis, keepdims=True))


def _softmax(x, axis=-1):
    unnormalised = numpy.exp(x - numpy.max(x, axis=axis, keepdims=True))
    return unnormalised / numpy.sum(unnormalised, axis=axis, keepdims=True)


def _binary_cross_entropy_with_logits(logits, labels):
    return _softplus(logits) - labels * logits


def _mse(predictions, targets):
    return numpy.mean((predictions - targets) ** 2)


def _softmax_cross_entropy(logits, labels):
    return -numpy.sum(labels * _log_softmax(logits), axis=-1)


def _softmax_cross_entropy_with_integer_labels(logits, labels):
    picked = numpy.take_along_axis(_log_softmax(logits), numpy.expand_dims(labels, -1), axis=-1)
    return -numpy.squeeze(picked, axis=-1)


numpy_nn = types.SimpleNamespace(
    relu=_relu,
    sigmoid=_sigmoid,
    softplus=_softplus,
    log_sigmoid=_log_sigmoid,
    logsumexp=_logsumexp,
    log_softmax=_log_softmax,
    softmax=_softmax,
    binary_cross_entropy_with_logits=_binary_cross_entropy_with_logits,
    mse=_mse,
    softmax_cross_entropy=_softmax_cross_entropy,
    softmax_cross_entropy_with_integer_labels=_softmax_cross_entropy_with_integer_labels,
)

NUMPY = {"np": numpy, "nn": numpy_nn, "numpy": numpy}
FUNGRAD = {"np": fnp, "nn": fungrad.nn, "numpy": numpy}


# ---------------------------------------------------------------------------------------
# Programs


@dataclass
class Program:
    """A straight-line program: argument unpacking, one assignment a line, a return."""

    arg_count: int
    unpack: list[str]  # "x1 = a0['w']"
    lines: list[str]  # "x3 = np.sin(x1)"
    output: str  # "(x3, {'u': x1})"
    consts: dict[str, numpy.ndarray] = field(default_factory=dict)
    low_precision: bool = False  # has float32 inputs or casts to float32

    def source(self) -> str:
        args = ", ".join(f"a{i}" for i in range(self.arg_count))
        body = [*self.unpack, *self.lines, f"return {self.output}"]
        return f"def program({args}):\n" + "".join(f"    {line}\n" for line in body)

    def consts_source(self) -> str:
        return "".join(f"{name} = {_array_source(v)}\n" for name, v in self.consts.items())

    def build(self, backend: dict[str, Any]) -> Callable[..., Any]:
        namespace = {**backend, **self.consts}
        exec(compile(self.source(), "<random program>", "exec"), namespace)
        return namespace["program"]

    def __str__(self) -> str:
        return self.consts_source() + self.source()


def _array_source(x: numpy.ndarray) -> str:
    return f"numpy.array({x.tolist()!r}, dtype=numpy.{x.dtype.name})"


def leaf_paths(args: Sequence[Any]) -> list[str]:
    """Python expressions for the leaves of ``args``, in fungrad's flattening order."""
    exprs = []
    for path, _ in tree_flatten_with_path(tuple(args))[0]:
        expr = f"a{path[0].idx}"
        for key in path[1:]:
            expr += f"[{key.key!r}]" if hasattr(key, "key") else f"[{key.idx}]"
        exprs.append(expr)
    return exprs


def upcast(tree: Any) -> Any:
    """The same values in float64 (for the reference of a low-precision run)."""
    return tree_map(lambda x: numpy.asarray(x, numpy.float64) if is_float(x) else x, tree)


def is_float(x: Any) -> bool:
    return numpy.result_type(x).kind == "f"


# ---------------------------------------------------------------------------------------
# Guards: where a line may be drawn (values are at one evaluation point)


def away_from(x, points, margin=MARGIN) -> bool:
    return all(
        numpy.min(numpy.abs(numpy.asarray(x) - p), initial=numpy.inf) >= margin for p in points
    )


def _moved_to_end(x, axis):
    x = numpy.asarray(x)
    axes = range(x.ndim) if axis is None else numpy.atleast_1d(axis)
    axes = sorted({int(a) % x.ndim for a in axes}) if x.ndim else []
    rest = [a for a in range(x.ndim) if a not in axes]
    moved = numpy.transpose(x, rest + list(axes))
    return moved.reshape(moved.shape[: len(rest)] + (-1,))


def top_gap(x, axis=None, lowest=False) -> bool:
    """The largest (or smallest) entry along ``axis`` is unique by at least MARGIN."""
    s = numpy.sort(_moved_to_end(x, axis), axis=-1)
    if s.shape[-1] < 2:
        return True
    gap = (s[..., 1] - s[..., 0]) if lowest else (s[..., -1] - s[..., -2])
    return bool(numpy.all(gap >= MARGIN))


def _close_to_integer(x, offset=0.0) -> bool:
    d = numpy.asarray(x) + offset
    return bool(numpy.all(numpy.abs(d - numpy.round(d)) >= MARGIN))


# The elementwise unary functions: source template and the guard on its operand.
UNARY: list[tuple[str, Callable[[Any], bool] | None]] = [
    ("np.sin({x})", None),
    ("np.cos({x})", None),
    ("np.tanh({x})", None),
    ("np.arctan({x})", None),
    ("np.exp({x})", lambda x: numpy.max(x) <= 4),
    ("np.expm1({x})", lambda x: numpy.max(x) <= 4),
    ("np.exp2({x})", lambda x: numpy.max(x) <= 5),
    ("np.log({x})", lambda x: numpy.min(x) >= 0.1),
    ("np.log1p({x})", lambda x: numpy.min(x) >= -0.9),
    ("np.log2({x})", lambda x: numpy.min(x) >= 0.1),
    ("np.log10({x})", lambda x: numpy.min(x) >= 0.1),
    ("np.sqrt({x})", lambda x: numpy.min(x) >= 0.1),
    ("np.sinh({x})", lambda x: numpy.max(numpy.abs(x)) <= 4),
    ("np.cosh({x})", lambda x: numpy.max(numpy.abs(x)) <= 4),
    ("np.tan({x})", lambda x: numpy.min(numpy.abs(numpy.cos(x))) >= 0.3),
    ("np.arcsin({x})", lambda x: numpy.max(numpy.abs(x)) <= 0.9),
    ("np.arccos({x})", lambda x: numpy.max(numpy.abs(x)) <= 0.9),
    ("np.abs({x})", lambda x: away_from(x, [0])),
    ("np.absolute({x})", lambda x: away_from(x, [0])),
    ("abs({x})", lambda x: away_from(x, [0])),
    ("np.sign({x})", lambda x: away_from(x, [0])),
    ("np.floor({x})", _close_to_integer),
    ("np.ceil({x})", _close_to_integer),
    ("np.round({x})", lambda x: _close_to_integer(x, 0.5)),
    ("np.square({x})", None),
    ("np.negative({x})", None),
    ("-{x}", None),
    ("np.reciprocal({x})", lambda x: away_from(x, [0], 0.3)),
    ("1 / {x}", lambda x: away_from(x, [0], 0.3)),
    ("{x} ** 2", None),
    ("{x} ** 3", None),
    ("{x} ** -1", lambda x: away_from(x, [0], 0.3)),
    ("{x} ** -2", lambda x: away_from(x, [0], 0.3)),
    ("{x} ** 0.5", lambda x: numpy.min(x) >= 0.1),
    ("{x} ** 2.0", None),
    ("np.power({x}, 3)", None),
    ("np.power({x}, 1.5)", lambda x: numpy.min(x) >= 0.1),
    ("2 ** {x}", lambda x: numpy.max(x) <= 5),
    ("0.5 ** {x}", lambda x: numpy.min(x) >= -5),
    ("nn.relu({x})", lambda x: away_from(x, [0])),
    ("nn.sigmoid({x})", None),
    ("nn.softplus({x})", None),
    ("nn.log_sigmoid({x})", None),
    ("1 / (1 + np.exp(-{x}))", lambda x: numpy.min(x) >= -4),
    ("np.round({x}, 1)", lambda x: _close_to_integer(numpy.asarray(x) * 10, 0.5)),
    ("np.around({x})", lambda x: _close_to_integer(x, 0.5)),
    ("{x}.astype(numpy.int64) * 0.5 + {x}", _close_to_integer),
    ("np.atleast_1d({x})", None),
    ("np.atleast_2d({x})", None),
    ("np.atleast_3d({x})", None),
    ("np.zeros_like({x}) + {x}", None),
    ("np.full_like({x}, 2.0) - {x}", None),
    ("np.where({x}, {x}, 1)", lambda x: away_from(x, [0])),
    ("np.maximum({x}, 0.0)", lambda x: away_from(x, [0])),
    ("np.minimum(1, {x})", lambda x: away_from(x, [1])),
]

# Elementwise binary functions: template and the guard on the two operands.
BINARY: list[tuple[str, Callable[[Any, Any], bool] | None]] = [
    ("np.add({x}, {y})", None),
    ("{x} + {y}", None),
    ("np.subtract({x}, {y})", None),
    ("{x} - {y}", None),
    ("np.multiply({x}, {y})", None),
    ("{x} * {y}", None),
    ("np.divide({x}, {y})", lambda x, y: away_from(y, [0], 0.3)),
    ("np.true_divide({x}, {y})", lambda x, y: away_from(y, [0], 0.3)),
    ("{x} / {y}", lambda x, y: away_from(y, [0], 0.3)),
    ("np.maximum({x}, {y})", lambda x, y: away_from(numpy.subtract(x, y), [0])),
    ("np.minimum({x}, {y})", lambda x, y: away_from(numpy.subtract(x, y), [0])),
    (
        "np.power({x}, {y})",
        lambda x, y: numpy.min(x) >= 0.1 and numpy.max(numpy.abs(y)) <= 3,
    ),
    ("{x} ** {y}", lambda x, y: numpy.min(x) >= 0.1 and numpy.max(numpy.abs(y)) <= 3),
    ("np.logaddexp({x}, {y})", None),
    ("np.floor_divide({x}, {y})", lambda x, y: _quotient_ok(x, y)),
    ("{x} // {y}", lambda x, y: _quotient_ok(x, y)),
    ("np.remainder({x}, {y})", lambda x, y: _quotient_ok(x, y)),
    ("np.mod({x}, {y})", lambda x, y: _quotient_ok(x, y)),
    ("{x} % {y}", lambda x, y: _quotient_ok(x, y)),
    ("np.divmod({x}, {y})[1]", lambda x, y: _quotient_ok(x, y)),
    ("divmod({x}, {y})[0]", lambda x, y: _quotient_ok(x, y)),
    ("({x} > {y}) * {x}", lambda x, y: away_from(numpy.subtract(x, y), [0])),
    ("np.array([{x}, {y}])", lambda x, y: numpy.shape(x) == numpy.shape(y)),
    ("np.concatenate([{x}, {y}], axis=None)", None),
    ("nn.binary_cross_entropy_with_logits({x}, {y})", None),
    # nn's losses refuse predictions and targets of different shapes (a scalar aside).
    (
        "nn.mse({x}, {y})",
        lambda x, y: 0 in (numpy.ndim(x), numpy.ndim(y)) or numpy.shape(x) == numpy.shape(y),
    ),
    (
        "nn.softmax_cross_entropy({x}, {y})",
        lambda x, y: numpy.ndim(x) > 0 and numpy.shape(x) == numpy.shape(y),
    ),
]


def _quotient_ok(x, y) -> bool:
    """``x / y`` is well away from the integers where floor division jumps."""
    if not away_from(y, [0], 0.3):
        return False
    q = numpy.divide(x, y)
    return bool(numpy.all(numpy.abs(q - numpy.round(q)) >= MARGIN))


SCALARS = [2, -1, 3, 0, 1, 0.5, -1.5, 2.25, 0.0, 1.0]

COMPARISONS = ["{c} > {d}", "{c} < {d}", "{c} >= {d}", "{c} <= {d}", "np.greater({c}, {d})",
               "np.less_equal({c}, {d})"]  # fmt: skip


# ---------------------------------------------------------------------------------------
# Drawing a program


@dataclass
class Value:
    """A named value while a program is drawn: its NumPy value at every point."""

    name: str
    points: list[numpy.ndarray]
    weak: bool = False  # a Python float in eager fungrad (no array methods)
    deps: frozenset[int] = frozenset()  # the argument leaves it is computed from

    @property
    def shape(self) -> tuple[int, ...]:
        return numpy.shape(self.points[0])

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self) -> numpy.dtype:
        return numpy.result_type(self.points[0])


class Rejected(Exception):
    """A candidate line is not valid at every point (or not well-defined): draw another."""


def _broadcastable(*shapes) -> bool:
    try:
        numpy.broadcast_shapes(*shapes)
        return True
    except ValueError:
        return False


def _broadcast_shape(*shapes) -> tuple[int, ...]:
    try:
        return numpy.broadcast_shapes(*shapes)
    except ValueError:
        raise Rejected(f"shapes {shapes} do not broadcast") from None


class ProgramDrawer:
    """Draws one program, line by line, checking each line at every evaluation point.

    ``points`` are the program's arguments at every point where a test will evaluate it
    (a list of tuples of argument pytrees). ``excluded`` names known bugs to steer around.
    """

    def __init__(self, data: Any, points: list[tuple], excluded: frozenset[str] = frozenset()):
        self.data = data
        self.excluded = excluded
        self.n_args = len(points[0])
        paths = leaf_paths(points[0])
        leaves = [[leaf for _, leaf in tree_flatten_with_path(p)[0]] for p in points]
        self.values = [
            Value(
                f"x{i}",
                [pt[i] for pt in leaves],
                isinstance(leaves[0][i], float),
                frozenset([i]),
            )
            for i in range(len(paths))
        ]
        self.unpack = [f"x{i} = {path}" for i, path in enumerate(paths)]
        self.eager = {f"x{i}": leaf for i, leaf in enumerate(leaves[0])}  # fungrad, point 0
        self.lines: list[str] = []
        self.consts: dict[str, numpy.ndarray] = {}
        self.low_precision = any(v.dtype == numpy.float32 for v in self.values)
        self.rejections = 0

    # -- hypothesis helpers ------------------------------------------------------------

    def draw(self, strategy, label=None):
        return self.data.draw(strategy, label=label)

    def choice(self, options: Sequence[Any]):
        return self.draw(st.sampled_from(list(options)))

    def coin(self) -> bool:
        return self.draw(st.booleans())

    def pick(self, accept: Callable[[Value], bool] = lambda v: True, kind: str = "f") -> Value:
        """An existing value (floating, or ``kind="i"`` integer), the most recent ones first
        (so shrinking keeps chains)."""
        options = [v for v in reversed(self.values) if v.dtype.kind == kind and accept(v)]
        if not options:
            raise Rejected("no suitable operand")
        return options[self.draw(st.integers(0, len(options) - 1))]

    def scalar(self) -> int | float:
        return self.choice(SCALARS)

    def const(self, shape: tuple[int, ...], dtype: numpy.dtype) -> str:
        """A new named constant array of grid values."""
        size = int(numpy.prod(shape, dtype=numpy.int64))
        grid = self.draw(st.lists(st.integers(-12, 12), min_size=size, max_size=size))
        name = f"c{len(self.consts)}"
        self.consts[name] = (numpy.array(grid, dtype=dtype) / 4).astype(dtype).reshape(shape)
        return name

    def axis(self, ndim: int, allow_none=True, allow_tuple=True) -> Any:
        kinds = ["int"] + (["none"] if allow_none else []) + (["tuple"] if allow_tuple else [])
        if ndim == 0:
            if not allow_none:
                raise Rejected("no axis of a 0-d value")
            return None
        kind = self.choice(kinds)
        if kind == "none":
            return None
        if kind == "int":
            return self.draw(st.integers(-ndim, ndim - 1))
        axes = self.draw(st.permutations(range(ndim)))
        count = self.draw(st.integers(1, ndim))
        return tuple(a - ndim if self.coin() else a for a in axes[:count])

    # -- adding a line -----------------------------------------------------------------

    def evaluate(self, expr: str, point: int) -> Any:
        env = {**NUMPY, **self.consts, **{v.name: v.points[point] for v in self.values}}
        with warnings.catch_warnings(), numpy.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                return eval(expr, env)  # noqa: S307  (our own generated source)
            except Exception as err:  # the candidate is not valid NumPy here: not a test
                raise Rejected(f"{expr}: {err}") from None

    def add(
        self, expr: str, operands: Sequence[Any] = (), guard: Callable[..., bool] | None = None
    ) -> Value:
        """Add ``name = expr`` if ``guard(*operand values)`` holds and the result is tame."""
        n_points = len(self.values[0].points)
        results = []
        for p in range(n_points):
            if guard is not None:
                ops = [o.points[p] if isinstance(o, Value) else o for o in operands]
                with warnings.catch_warnings(), numpy.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    try:
                        valid = guard(*ops)
                    except Exception:  # not well-defined at this point
                        valid = False
                if not valid:
                    raise Rejected(f"guard of {expr}")
            raw = self.evaluate(expr, p)
            out = numpy.asarray(raw)
            if out.dtype.kind != "f" or out.ndim > MAX_NDIM or not 0 < out.size <= MAX_SIZE:
                raise Rejected(f"{expr}: gives {out.dtype}{out.shape}")
            if not numpy.all(numpy.isfinite(out)) or numpy.max(numpy.abs(out)) > MAX_ABS:
                raise Rejected(f"{expr}: not finite or too large")
            results.append(raw)
        weak = self.weak_in_fungrad(expr) or isinstance(results[0], float)
        deps = frozenset().union(
            *(v.deps for v in self.values if re.search(rf"\b{v.name}\b", expr))
        )
        value = Value(f"x{len(self.values)}", results, weak, deps)
        self.values.append(value)
        self.lines.append(f"{value.name} = {expr}")
        return value

    # traced_by_whenever: a NumPy array method (``a.dot(b)``, ``a[i]``) cannot take a
    # tracer argument: NumPy converts it, which fungrad refuses (so does JAX). Where ``a``
    # may be a NumPy array while ``b`` is traced (``a`` unmapped by vmap, closed over by
    # jit, not differentiated), the programs use ``a.dot(b)`` and ``a[f(b)]`` only if
    # ``b`` is computed from a subset of the arguments ``a`` is: then ``a`` is traced
    # whenever ``b`` is.

    def weak_in_fungrad(self, expr: str) -> bool:
        """Whether eager fungrad computes a Python float here (from Python floats only).

        NumPy may give a NumPy scalar, with array methods, where fungrad keeps a Python
        scalar weakly typed; the programs use no array methods on either."""
        if any(v.weak and re.search(rf"\b{v.name}(\.|\[)", expr) for v in self.values):
            raise Rejected(f"{expr}: an array method of a Python float")
        env = {**FUNGRAD, **self.consts, **self.eager}
        with warnings.catch_warnings(), numpy.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                out = eval(expr, env)  # noqa: S307
            except Exception:  # a bug of fungrad's: the test reports it
                out = None
        self.eager[f"x{len(self.values)}"] = out
        return isinstance(out, float)

    def draw_line(self) -> None:
        family = self.choice(FAMILIES)
        getattr(self, f"line_{family}")()

    def draw_program(self, min_lines: int, max_lines: int) -> Program:
        n_lines = self.draw(st.integers(min_lines, max_lines), label="lines")
        attempts = 0
        while len(self.lines) < n_lines and attempts < 6 * n_lines + 10:
            attempts += 1
            try:
                self.draw_line()
            except Rejected:
                self.rejections += 1
        return Program(
            arg_count=self.n_args,
            unpack=self.unpack,
            lines=self.lines,
            output=self.draw_output(),
            consts=self.consts,
            low_precision=self.low_precision,
        )

    def draw_output(self) -> str:
        count = self.draw(st.integers(1, 3))
        floats = [v for v in self.values if v.dtype.kind == "f"]
        computed = self.values[len(self.unpack) :] or floats
        # mostly computed values, the most recent first; sometimes an input as it is
        names = []
        for _ in range(count):
            pool = floats if self.draw(st.integers(0, 5)) == 0 else computed
            names.append(pool[-1 - self.draw(st.integers(0, len(pool) - 1))].name)
        if count == 1:
            return self.choice(
                [names[0], f"({names[0]},)", f"[{names[0]}]", f"{{'u': {names[0]}}}"]
            )
        kind = self.choice(["tuple", "list", "dict", "nested"])
        if kind == "tuple":
            return "(" + ", ".join(names) + ")"
        if kind == "list":
            return "[" + ", ".join(names) + "]"
        if kind == "dict":
            return "{" + ", ".join(f"'{k}': {n}" for k, n in zip("vuw", names)) + "}"
        return (
            f"({names[0]}, {{" + ", ".join(f"'{k}': {n}" for k, n in zip("ba", names[1:])) + "})"
        )

    # -- the families of lines ---------------------------------------------------------

    def line_unary(self) -> None:
        template, guard = self.choice(UNARY)
        if template == "np.round({x})" and "round_half_even" in self.excluded:
            raise Rejected("excluded")
        x = self.pick()
        if template == "{x} ** 2.0" and "pow_float_exponent_warning" in self.excluded:
            guard = lambda x: away_from(x, [0])  # noqa: E731
        self.add(template.format(x=x.name), [x], guard)

    def line_binary(self) -> None:
        template, guard = self.choice(BINARY)
        x = self.pick()
        if self.draw(st.integers(0, 3)) == 0:
            s = self.scalar()
            operands = [x, s]
            names = [x.name, repr(s)]
        else:
            y = self.pick(lambda v: _broadcastable(v.shape, x.shape))
            operands = [x, y]
            names = [x.name, y.name]
        if self.coin():
            operands.reverse()
            names.reverse()
        if (
            "concat_none_weak_scalar" in self.excluded
            and "axis=None" in template
            and any(isinstance(o, (int, float)) for o in operands)
        ):
            raise Rejected("excluded")
        if (
            "concat_with_integer" in self.excluded
            and template.startswith("np.array")
            and any(type(o) is int for o in operands)
        ):
            raise Rejected("excluded")
        self.add(template.format(x=names[0], y=names[1]), operands, guard)

    def operand_or_scalar(self, shape) -> tuple[Any, str]:
        if self.draw(st.integers(0, 2)) == 0:
            s = self.scalar()
            return s, repr(s)
        v = self.pick(lambda v: _broadcastable(v.shape, shape))
        return v, v.name

    def line_where(self) -> None:
        c = self.pick()
        d, d_name = self.operand_or_scalar(c.shape)
        condition = self.choice(COMPARISONS).format(c=c.name, d=d_name)
        shape = _broadcast_shape(c.shape, numpy.shape(d.points[0]) if isinstance(d, Value) else ())
        a, a_name = self.operand_or_scalar(shape)
        b, b_name = self.operand_or_scalar(shape)
        if (
            not isinstance(a, Value)
            and not isinstance(b, Value)
            and "where_of_scalars" in self.excluded
        ):
            raise Rejected("excluded")
        guard = lambda c, d, a, b: away_from(numpy.subtract(c, d), [0])  # noqa: E731
        self.add(f"np.where({condition}, {a_name}, {b_name})", [c, d, a, b], guard)

    def comparison(self) -> tuple[str, list[Any], Callable[..., bool]]:
        """A comparison of two operands (or a value and a scalar), with its margin guard."""
        c = self.pick()
        d, d_name = self.operand_or_scalar(c.shape)
        source = self.choice(COMPARISONS).format(c=c.name, d=d_name)
        return source, [c, d], lambda c, d: away_from(numpy.subtract(c, d), [0])

    def line_logical(self) -> None:
        """``where`` on a combination of comparisons, or arithmetic with a boolean."""
        first, ops1, guard1 = self.comparison()
        form = self.choice(["and", "or", "xor", "not", "&", "|", "~", "mean", "sum", "times"])
        if form in ("and", "or", "xor", "&", "|"):
            second, ops2, guard2 = self.comparison()
            if form in ("&", "|"):
                condition = f"({first}) {form} ({second})"
            else:
                condition = f"np.logical_{form}({first}, {second})"
        else:
            second, ops2, guard2 = "", [], lambda: True
            condition = f"~({first})" if form == "~" else f"np.logical_not({first})"
        operands = ops1 + ops2

        def guard(*values):
            return guard1(*values[:2]) and guard2(*values[2:])

        if form == "mean":
            self.add(f"np.mean({first})", operands, guard)
        elif form == "sum":
            self.add(f"np.sum({first}) + 0.5", operands, guard)
        elif form == "times":
            x = self.pick()
            self.add(f"({first}) * {x.name}", operands, guard)
        else:
            shape = _broadcast_shape(
                *(numpy.shape(o.points[0]) for o in operands if isinstance(o, Value))
            )
            a, a_name = self.operand_or_scalar(shape)
            b, b_name = self.operand_or_scalar(shape)
            self.add(f"np.where({condition}, {a_name}, {b_name})", operands, guard)

    def line_argmax(self) -> None:
        """An index computed in the program: the position of a maximum or minimum."""
        y = self.pick(lambda v: v.ndim > 0)
        x = self.pick(lambda v: v.shape == y.shape)
        name = self.choice(["argmax", "argmin"])
        lowest = name == "argmin"
        if self.coin():
            axis = self.draw(st.integers(-y.ndim, y.ndim - 1))
            index = f"np.{name}({y.name}, axis={axis}, keepdims=True)"
            if self.coin():
                index = f"np.expand_dims(np.{name}({y.name}, axis={axis}), {axis})"
            self.add(f"np.take_along_axis({x.name}, {index}, axis={axis})", [y],
                     lambda y: top_gap(y, axis, lowest))  # fmt: skip
        else:
            forms = ["np.take({x}, {i})"]
            if y.deps <= x.deps:  # see traced_by_whenever
                forms += ["np.ravel({x})[{i}]", "{x}.ravel()[{i}]"]
            form = self.choice(forms)
            index = f"np.{name}({y.name})" if self.coin() else f"{y.name}.{name}()"
            self.add(form.format(x=x.name, i=index), [y], lambda y: top_gap(y, None, lowest))

    def line_integer_argument(self) -> None:
        """An integer argument used as indices, as a condition, or in mixed arithmetic."""
        i = self.pick(kind="i")
        form = self.choice(["take", "take", "getitem", "where", "times", "minus"])
        if form in ("where", "times", "minus"):
            x = self.pick(lambda v: _broadcastable(v.shape, i.shape))
            template = {"where": "np.where({i} > 0, {x}, -{x})", "times": "{x} * {i}",
                        "minus": "{i} - {x}"}[form]  # fmt: skip
            self.add(template.format(i=i.name, x=x.name))
            return
        x = self.pick(lambda v: any(d >= 2 for d in v.shape))  # indices are in [-2, 1]
        axis = self.choice([a for a, d in enumerate(x.shape) if d >= 2])
        if form == "getitem" and i.deps <= x.deps:  # see traced_by_whenever
            self.add(f"{x.name}[{':, ' * axis}{i.name}]")
        else:
            axis = axis - x.ndim if self.coin() else axis
            self.add(f"np.take({x.name}, {i.name}, axis={axis})")

    def line_clip(self) -> None:
        x = self.pick()
        lo, hi = sorted(self.draw(st.lists(st.sampled_from([-2, -1, -0.5, 0, 0.5, 1, 1.5]),
                                           min_size=2, max_size=2, unique=True)))  # fmt: skip
        form = self.choice(["np.clip({x}, {lo}, {hi})", "{x}.clip({lo}, {hi})",
                            "np.clip({x}, None, {hi})", "np.clip({x}, {lo}, None)"])  # fmt: skip
        self.add(form.format(x=x.name, lo=lo, hi=hi), [x], lambda x: away_from(x, [lo, hi]))

    def line_reduction(self) -> None:
        x = self.pick()
        name = self.choice(["sum", "mean", "max", "min", "amax", "amin", "var", "std"])
        axis = self.axis(x.ndim)
        keepdims = self.choice([None, True, False])
        ddof = self.choice([None, 0, 1]) if name in ("var", "std") else None
        kwargs = "".join(
            f", {k}={v!r}"
            for k, v in (("axis", axis), ("ddof", ddof), ("keepdims", keepdims))
            if v is not None
        )
        if name in ("amax", "amin") or not self.coin():
            expr = f"np.{name}({x.name}{kwargs})"
        else:
            expr = f"{x.name}.{name}({kwargs[2:]})"

        def guard(x):
            if name in ("max", "amax", "min", "amin"):
                return top_gap(x, axis, lowest=name in ("min", "amin"))
            if name == "std":
                return numpy.min(numpy.var(x, axis=axis, ddof=ddof or 0)) >= 0.01
            return True

        self.add(expr, [x], guard)

    def line_softmax(self) -> None:
        x = self.pick(lambda v: v.ndim > 0)
        name = self.choice(["log_softmax", "softmax", "logsumexp", "cross_entropy"])
        if name == "cross_entropy":
            classes = x.shape[-1]
            n = int(numpy.prod(x.shape[:-1]))
            labels = self.draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n))
            labels = numpy.array(labels, dtype=numpy.int64).reshape(x.shape[:-1])
            self.add(
                f"nn.softmax_cross_entropy_with_integer_labels({x.name}, "
                f"numpy.array({labels.tolist()!r}))"
            )
            return
        if name == "logsumexp":
            axis = self.axis(x.ndim)
            keepdims = self.choice([None, True, False])
            kwargs = f", axis={axis!r}" + (
                f", keepdims={keepdims}" if keepdims is not None else ""
            )
        else:
            axis = self.draw(st.integers(-x.ndim, x.ndim - 1))
            kwargs = "" if axis == -1 and self.coin() else f", axis={axis}"
        self.add(f"nn.{name}({x.name}{kwargs})", [x])

    def line_norm(self) -> None:
        x = self.pick(lambda v: v.ndim > 0)
        form = self.choice(["vector", "matrix", "default"])
        if form == "default" or (form == "matrix" and x.ndim < 2):
            axis, ord_ = None, None
            vector = x.ndim == 1
        elif form == "vector":
            axis = (
                self.draw(st.integers(-x.ndim, x.ndim - 1)) if x.ndim > 1 or self.coin() else None
            )
            ord_ = self.choice([None, 1, 2, numpy.inf])
            vector = True
        else:
            if x.ndim == 2 and self.coin():
                axis = None
            else:
                pair = self.draw(st.permutations(range(x.ndim)))[:2]
                axis = tuple(pair)
            ord_ = self.choice([None, "fro", 1, numpy.inf, 2])
            vector = False
        if ord_ == 2 and not vector:  # the spectral norm: fungrad says it does not support it
            raise Rejected("unsupported")
        keepdims = self.choice([None, True])
        kwargs = "".join(
            f", {k}={'np.inf' if v is numpy.inf else repr(v)}"
            for k, v in (("ord", ord_), ("axis", axis), ("keepdims", keepdims))
            if v is not None
        )

        def guard(x):
            if ord_ in (None, 2, "fro") and (vector or ord_ != 2):
                return (
                    numpy.min(
                        numpy.linalg.norm(x, axis=axis, keepdims=True)
                        if axis is not None or x.ndim <= 2
                        else numpy.sqrt(numpy.sum(x * x))
                    )
                    >= 0.1
                )
            if not away_from(x, [0]):
                return False
            a = numpy.abs(x)
            if vector:
                return ord_ == 1 or top_gap(a, axis)
            rows, cols = (x.ndim - 2, x.ndim - 1) if axis is None else axis
            if ord_ == 1:
                return top_gap(numpy.sum(a, axis=rows), cols if cols < rows else cols - 1)
            if ord_ == numpy.inf:
                return top_gap(numpy.sum(a, axis=cols), rows if rows < cols else rows - 1)
            s = numpy.linalg.svd(numpy.moveaxis(x, (rows, cols), (-2, -1)), compute_uv=False)
            return s.shape[-1] < 2 or bool(numpy.all(s[..., 0] - s[..., 1] >= MARGIN))

        self.add(f"np.linalg.norm({x.name}{kwargs})", [x], guard)

    def line_reshape(self) -> None:
        x = self.pick()
        dims = _random_factorization(self, numpy.size(x.points[0]))
        if dims and self.coin():
            dims[self.draw(st.integers(0, len(dims) - 1))] = -1
        shape = tuple(dims)
        form = self.choice(["np.reshape({x}, {s})", "{x}.reshape({s})", "{x}.reshape({u})"])
        if form == "{x}.reshape({u})" and not shape:
            form = "{x}.reshape({s})"
        unpacked = ", ".join(map(str, shape))
        self.add(form.format(x=x.name, s=shape, u=unpacked), [x])

    def line_ravel(self) -> None:
        x = self.pick()
        self.add(self.choice(["np.ravel({x})", "{x}.ravel()", "{x}.flatten()"]).format(x=x.name))

    def line_transpose(self) -> None:
        x = self.pick(lambda v: v.ndim > 0)
        perm = tuple(
            p - x.ndim if self.coin() else p for p in self.draw(st.permutations(range(x.ndim)))
        )
        form = self.choice(["np.transpose({x})", "{x}.T", "np.transpose({x}, {p})",
                            "{x}.transpose({p})", "np.transpose({x}, axes={p})"])  # fmt: skip
        self.add(form.format(x=x.name, p=perm), [x])

    def line_axes(self) -> None:
        x = self.pick(lambda v: v.ndim > 0)
        n = x.ndim
        a, b = self.draw(st.integers(-n, n - 1)), self.draw(st.integers(-n, n - 1))
        form = self.choice(["np.swapaxes({x}, {a}, {b})", "{x}.swapaxes({a}, {b})",
                            "np.moveaxis({x}, {a}, {b})", "moveaxes"])  # fmt: skip
        if form == "moveaxes":
            count = self.draw(st.integers(1, n))
            source = self.draw(st.permutations(range(n)))[:count]
            destination = self.draw(st.permutations(range(-n, 0)))[:count]
            self.add(f"np.moveaxis({x.name}, {list(source)}, {tuple(destination)})")
            return
        self.add(form.format(x=x.name, a=a, b=b), [x])

    def line_expand_squeeze(self) -> None:
        x = self.pick()
        if self.coin():
            n = x.ndim + 1
            axis = self.draw(st.integers(-n, n - 1))
            if self.coin():
                second = self.draw(st.integers(-(n + 1), n))
                axis = (axis, second)
            self.add(f"np.expand_dims({x.name}, {axis!r})", [x])
            return
        ones = [i for i, d in enumerate(x.shape) if d == 1]
        form = self.choice(["all", "axis", "method"])
        if form == "all" or not ones:
            expr = f"np.squeeze({x.name})" if self.coin() else f"{x.name}.squeeze()"
        else:
            i = self.choice(ones)
            axis = i - x.ndim if self.coin() else i
            expr = (
                f"np.squeeze({x.name}, axis={axis})"
                if form == "axis"
                else f"{x.name}.squeeze({axis})"
            )
        self.add(expr, [x])

    def line_broadcast_to(self) -> None:
        x = self.pick()
        lead = tuple(self.draw(st.lists(st.integers(1, 3), max_size=2)))
        target = lead + tuple(self.choice([1, 2, 3]) if d == 1 else d for d in x.shape)
        self.add(f"np.broadcast_to({x.name}, {target})", [x])

    def line_concatenate(self) -> None:
        x = self.pick(lambda v: v.ndim > 0)
        kind = self.choice(["concatenate", "stack", "hstack", "vstack"])
        count = self.draw(st.integers(1, 3))
        if kind == "concatenate":
            axis = self.draw(st.integers(-x.ndim, x.ndim - 1))
            ax = axis % x.ndim

            def fits(v):
                return v.ndim == x.ndim and all(
                    d == e for i, (d, e) in enumerate(zip(v.shape, x.shape)) if i != ax
                )

            others = [self.pick(fits).name for _ in range(count - 1)]
            items = "[" + ", ".join([x.name, *others]) + "]"
            expr = (
                f"np.concatenate({items}, axis={axis})"
                if axis or self.coin()
                else f"np.concatenate({items})"
            )
        elif kind == "stack":
            axis = self.draw(st.integers(-x.ndim - 1, x.ndim))
            others = [self.pick(lambda v: v.shape == x.shape).name for _ in range(count - 1)]
            items = "(" + ", ".join([x.name, *others]) + ",)"
            expr = f"np.stack({items}, axis={axis})"
        else:
            others = [self.pick(lambda v: v.ndim == x.ndim).name for _ in range(count - 1)]
            expr = f"np.{kind}([" + ", ".join([x.name, *others]) + "])"
        self.add(expr)

    def line_index(self) -> None:
        x = self.pick()
        self.add(f"{x.name}[{self.index_source(x.shape)}]")

    def index_source(self, shape: tuple[int, ...]) -> str:
        if shape and self.draw(st.integers(0, 7)) == 0:  # a boolean mask of the whole shape
            mask = numpy.array(
                self.draw(
                    st.lists(
                        st.booleans(),
                        min_size=int(numpy.prod(shape)),
                        max_size=int(numpy.prod(shape)),
                    )
                )
            ).reshape(shape)
            return f"numpy.array({mask.tolist()!r})"
        n_indexed = self.draw(st.integers(0, len(shape)))
        parts = []
        for d in shape[:n_indexed]:
            kind = self.choice(["int", "slice", "slice", "array", "mask", "full"])
            if kind == "int":
                parts.append(str(self.draw(st.integers(-d, d - 1))))
            elif kind == "slice":
                bound = st.one_of(st.none(), st.integers(-d - 1, d + 1))
                start, stop = self.draw(bound), self.draw(bound)
                step = self.choice([None, None, 1, 2, -1, -2])
                parts.append(
                    ("" if start is None else str(start))
                    + ":"
                    + ("" if stop is None else str(stop))
                    + ("" if step is None else f":{step}")
                )  # fmt: skip
            elif kind == "array":
                length = self.draw(st.integers(1, 3))
                idx = self.draw(st.lists(st.integers(-d, d - 1), min_size=length, max_size=length))
                arr = numpy.array(idx)
                if length == 2 and self.coin():
                    arr = numpy.array([idx, idx[::-1]])
                parts.append(f"numpy.array({arr.tolist()!r})")
            elif kind == "mask":
                bits = self.draw(st.lists(st.booleans(), min_size=d, max_size=d))
                parts.append(f"numpy.array({bits!r})")
            else:
                parts.append(":")
        if self.draw(st.integers(0, 3)) == 0:
            parts.insert(self.draw(st.integers(0, len(parts))), self.choice(["None", "True"]))
        if n_indexed < len(shape) and self.draw(st.integers(0, 3)) == 0:
            parts.insert(self.draw(st.integers(0, len(parts))), "...")
        if not parts:
            return "..."
        return ", ".join(parts) + ("," if len(parts) == 1 and self.coin() else "")

    def line_take(self) -> None:
        x = self.pick(lambda v: v.ndim > 0)
        if self.draw(st.integers(0, 3)) == 0:  # into the flattened array
            size = numpy.size(x.points[0])
            length = self.draw(st.integers(1, 4))
            idx = self.draw(st.lists(st.integers(0, size - 1), min_size=length, max_size=length))
            form = self.choice(["np.take_along_axis({x}, {i}, axis=None)", "np.take({x}, {i})"])
            self.add(form.format(x=x.name, i=f"numpy.array({idx!r})"))
            return
        if self.coin():
            axis = self.draw(st.integers(-x.ndim, x.ndim - 1))
            d = x.shape[axis]
            length = self.draw(st.integers(1, 3))
            idx = self.draw(st.lists(st.integers(-d, d - 1), min_size=length, max_size=length))
            self.add(f"np.take({x.name}, numpy.array({idx!r}), axis={axis})")
        else:
            axis = self.draw(st.integers(-x.ndim, x.ndim - 1))
            d = x.shape[axis]
            shape = list(x.shape)
            shape[axis] = self.draw(st.integers(1, 3))
            size = int(numpy.prod(shape))
            idx = numpy.array(
                self.draw(st.lists(st.integers(0, d - 1), min_size=size, max_size=size))
            ).reshape(shape)
            self.add(f"np.take_along_axis({x.name}, numpy.array({idx.tolist()!r}), axis={axis})")

    def line_product(self) -> None:
        x = self.pick(lambda v: v.ndim > 0)
        kind = self.choice(["matmul", "matmul", "dot", "tensordot", "outer", "inner", "vdot"])
        wanted, form = self.product_partner(kind, x)
        if form == "{x}.dot({y})":  # see traced_by_whenever
            wanted = lambda v, wanted=wanted: wanted(v) and v.deps <= x.deps  # noqa: E731
        y = self.pick(wanted) if self.draw(st.integers(0, 2)) else None
        if y is None:
            y_name = self.const(self.partner_shape(kind, x), x.dtype)
        else:
            y_name = y.name
        self.add(form.format(x=x.name, y=y_name))

    def product_partner(self, kind: str, x: Value):
        s = x.shape
        if kind == "matmul":
            form = self.choice(["{x} @ {y}", "np.matmul({x}, {y})", "{y} @ {x}"])
            if form == "{y} @ {x}":
                return (lambda v: v.ndim > 0 and _matmul_ok(v.shape, s)), form
            return (lambda v: v.ndim > 0 and _matmul_ok(s, v.shape)), form
        if kind == "dot":
            form = self.choice(["np.dot({x}, {y})", "{x}.dot({y})"])
            return (lambda v: v.ndim > 0 and _dot_ok(s, v.shape)), form
        if kind == "tensordot":
            k = self.draw(st.integers(0, min(len(s), 2)))
            self._tensordot_k = k
            return (
                lambda v: v.ndim >= k and s[len(s) - k :] == v.shape[:k]
            ), f"np.tensordot({{x}}, {{y}}, axes={k})"
        if kind == "outer":
            return (lambda v: True), "np.outer({x}, {y})"
        if kind == "inner":
            return (lambda v: v.ndim > 0 and v.shape[-1] == s[-1]), "np.inner({x}, {y})"
        return (lambda v: numpy.size(v.points[0]) == numpy.size(x.points[0])), "np.vdot({x}, {y})"

    def partner_shape(self, kind: str, x: Value) -> tuple[int, ...]:
        s = x.shape
        m = self.choice([1, 2, 3])
        if kind == "matmul" or kind == "dot":
            return (s[-1],) if self.coin() else (s[-1], m)
        if kind == "tensordot":
            return s[len(s) - self._tensordot_k :] + ((m,) if self.coin() else ())
        if kind == "outer":
            return (m,)
        if kind == "inner":
            return (m, s[-1]) if self.coin() else (s[-1],)
        return s

    def line_astype(self) -> None:
        x = self.pick()
        targets = ["numpy.float64"] + (["numpy.float32"] if self.low_precision else [])
        target = self.choice(targets)
        form = self.choice(["{x}.astype({t})", "np.astype({x}, {t})"])
        self.add(form.format(x=x.name, t=target))


FAMILIES = (
    ["unary"] * 6
    + ["binary"] * 5
    + ["where"] * 2
    + ["clip"]
    + ["reduction"] * 3
    + ["softmax", "norm"]
    + ["reshape", "ravel", "transpose", "axes", "expand_squeeze", "broadcast_to"]
    + ["concatenate", "index", "index", "take", "product", "product", "astype"]
    + ["logical", "argmax", "integer_argument", "integer_argument"]
)


def _matmul_ok(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    if len(a) == 1 and len(b) == 1:
        return a == b
    k_a = a[-1]
    k_b = b[0] if len(b) == 1 else b[-2]
    if k_a != k_b:
        return False
    return _broadcastable(a[:-2], b[:-2])


def _dot_ok(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return a[-1] == (b[0] if len(b) == 1 else b[-2])


def _random_factorization(drawer: ProgramDrawer, size: int) -> list[int]:
    factors = []
    n = size
    for p in (2, 3, 5, 7, 11, 13):
        while n % p == 0:
            factors.append(p)
            n //= p
    if n > 1:
        factors.append(n)
    dims: list[int] = []
    for f in drawer.draw(st.permutations(factors)):
        if dims and drawer.coin():
            dims[-1] *= f
        else:
            dims.append(f)
    for _ in range(drawer.draw(st.integers(0, 2 if len(dims) < 3 else 0))):
        dims.insert(drawer.draw(st.integers(0, len(dims))), 1)
    return dims


# ---------------------------------------------------------------------------------------
# Arguments


def arg_shapes(draw: Callable, n_args: int, *, mixed: bool) -> list[Any]:
    """Templates of arguments: pytrees (arrays, dicts, tuples) of zero arrays, all float64,
    all float32, or (``mixed``) either. In float64 a scalar may be a Python float (weak)."""
    all_f32 = not mixed and draw(st.integers(0, 3)) == 0

    def leaf():
        shape = tuple(draw(st.lists(st.sampled_from([1, 2, 3]), max_size=3)))
        if draw(st.integers(0, 9)) == 0:
            return numpy.zeros(shape, numpy.int64)  # indices, with values in [-2, 1]
        if mixed:
            dtype = draw(st.sampled_from([numpy.float64, numpy.float32]))
        else:
            dtype = numpy.float32 if all_f32 else numpy.float64
            if not all_f32 and not shape and draw(st.integers(0, 2)) == 0:
                return 0.0  # a Python float
        return numpy.zeros(shape, dtype)

    args = []
    for _ in range(n_args):
        kind = draw(st.sampled_from(["array", "array", "array", "dict", "tuple"]))
        if kind == "array":
            args.append(leaf())
        elif kind == "dict":
            args.append({"w": leaf(), "b": leaf()})
        else:
            args.append((leaf(), leaf()))
    if not any(map(is_float, tree_leaves(args))):  # something to compute with
        args[0] = numpy.zeros(numpy.shape(tree_leaves(args[0])[0]), numpy.float64)
    return args


def grid_values(draw: Callable, template: Any) -> Any:
    """Values on a grid of eighths in [-3, 3] for every leaf of ``template``."""

    def fill(x):
        if isinstance(x, float):
            return draw(st.integers(-24, 24)) / 8
        n = x.size
        if x.dtype.kind == "i":
            return numpy.array(draw(st.lists(st.integers(-2, 1), min_size=n, max_size=n)),
                               dtype=x.dtype).reshape(x.shape)  # fmt: skip
        ints = draw(st.lists(st.integers(-24, 24), min_size=n, max_size=n))
        return (numpy.array(ints, numpy.float64) / 8).astype(x.dtype).reshape(x.shape)

    return tree_map(fill, template)


# ---------------------------------------------------------------------------------------
# Comparing results

TIGHT = {False: 1e-8, True: 3e-4}  # one computation done two ways (jit, vmap, aux)
NUMERICAL = 1e-5  # a float64 derivative against central differences
LOW_VS_HIGH = 3e-3  # a float32 (or mixed) run against the same run in float64


@dataclass(frozen=True)
class Spec:
    """An expected output leaf: its shape and the dtypes it may have."""

    shape: tuple[int, ...]
    dtypes: tuple[numpy.dtype, ...]


def spec_of(x: Any, *dtypes_from: Any) -> Spec:
    """The spec of ``x``'s shape, with ``x``'s dtype or any of ``dtypes_from``'s."""
    found = [numpy.result_type(x)] + [numpy.result_type(d) for d in dtypes_from]
    return Spec(numpy.shape(x), tuple(dict.fromkeys(found)))


def cotangent_spec(x: Any) -> Spec:
    """An input's cotangent: its shape and dtype, or float0 for an integer input."""
    return spec_of(x) if is_float(x) else Spec(numpy.shape(x), (numpy.dtype(fungrad.float0),))


def check_spec(actual: Any, expected: Any, what: str) -> None:
    """Same pytree structure, and every leaf with the expected shape and dtype."""
    a_leaves, a_tree = tree_flatten(actual)
    e_leaves, e_tree = tree_flatten(expected)
    assert a_tree == e_tree, f"{what}: structure\n  {a_tree}\nexpected\n  {e_tree}"
    for i, (a, e) in enumerate(zip(a_leaves, e_leaves)):
        # eager fungrad keeps a value computed from Python floats only a Python float
        python_float = isinstance(a, float) and numpy.float64 in e.dtypes
        assert isinstance(a, numpy.ndarray | numpy.generic) or python_float, (
            f"{what}: leaf {i} is a {type(a).__name__}"
        )
        a = numpy.asarray(a)
        assert numpy.shape(a) == e.shape, (
            f"{what}: leaf {i} has shape {numpy.shape(a)}, expected {e.shape}"
        )
        assert a.dtype in e.dtypes, (
            f"{what}: leaf {i} has dtype {a.dtype}, expected {' or '.join(map(str, e.dtypes))}"
        )


def assert_close(actual: Any, expected: Any, tol: float, what: str, dtypes: bool = True) -> None:
    """Leafwise ``|actual - expected| <= tol * (1 + max |expected|)``, same shapes (and dtypes)."""
    a_leaves, a_tree = tree_flatten(actual)
    e_leaves, e_tree = tree_flatten(expected)
    assert a_tree == e_tree, f"{what}: structure\n  {a_tree}\nexpected\n  {e_tree}"
    for i, (a, e) in enumerate(zip(a_leaves, e_leaves)):
        a, e = numpy.asarray(a), numpy.asarray(e)
        assert a.shape == e.shape, f"{what}: leaf {i} has shape {a.shape}, expected {e.shape}"
        if dtypes:
            assert a.dtype == e.dtype, f"{what}: leaf {i} has dtype {a.dtype}, expected {e.dtype}"
        if fungrad.float0 in (a.dtype, e.dtype):
            continue
        a64, e64 = a.astype(numpy.float64), e.astype(numpy.float64)
        scale = 1 + numpy.max(numpy.abs(e64), initial=0.0)
        err = numpy.max(numpy.abs(a64 - e64), initial=0.0)
        assert err <= tol * scale, (
            f"{what}: leaf {i} differs by {err:.3g} (allowed {tol * scale:.3g})\n"
            f"  actual:   {a64.tolist()}\n  expected: {e64.tolist()}"
        )


def assert_close_scalar(actual: float, expected: float, scale: float, tol: float, what: str):
    err = abs(actual - expected)
    assert err <= tol * (1 + scale), (
        f"{what}: {actual!r} but expected {expected!r} (differ by {err:.3g}, "
        f"allowed {tol * (1 + scale):.3g})"
    )


def inner(a: Any, b: Any) -> tuple[float, float]:
    """``<a, b>`` over matching pytrees, and the sum of the absolute terms (its scale)."""
    total = scale = 0.0
    for x, y in zip(tree_leaves(a), tree_leaves(b), strict=True):
        if fungrad.float0 in (numpy.result_type(x), numpy.result_type(y)):
            continue
        terms = numpy.asarray(x, numpy.float64) * numpy.asarray(y, numpy.float64)
        total += float(numpy.sum(terms))
        scale += float(numpy.sum(numpy.abs(terms)))
    return total, scale


def copy_tree(tree: Any) -> Any:
    return tree_map(lambda x: numpy.array(x, copy=True), tree)


def assert_unchanged(tree: Any, copy: Any, what: str) -> None:
    for i, (x, c) in enumerate(zip(tree_leaves(tree), tree_leaves(copy), strict=True)):
        x = numpy.asarray(x)
        assert x.dtype == c.dtype and numpy.array_equal(x, c), (
            f"{what}: leaf {i} was modified in place: it was {c.tolist()}, now {x.tolist()}"
        )


# ---------------------------------------------------------------------------------------
# Fixed random data that a layer adds: tangents, cotangents, weights


def random_like(seed: int, tree: Any) -> Any:
    """Standard normal arrays shaped like ``tree``'s leaves (arrays or tracers), from ``seed``."""
    rng = numpy.random.default_rng(seed)

    def draw(x):
        dtype = fnp.result_type(x)
        if dtype.kind != "f":  # an integer has no derivative: its tangent is float0
            return numpy.zeros(fnp.shape(x), fungrad.float0)
        return rng.standard_normal(fnp.shape(x)).astype(dtype)

    return tree_map(draw, tree)


def scalarize(g: Callable, seed: int, has_aux: bool = False) -> Callable:
    """``sum(leaf * weights)`` over the output leaves of ``g``: a fixed linear functional."""

    def scalar_g(*args):
        out = g(*args)
        weights = random_like(seed, out)
        terms = [
            fnp.sum(fnp.multiply(o, w)) for o, w in zip(tree_leaves(out), tree_leaves(weights))
        ]
        total = terms[0]
        for t in terms[1:]:
            total = fnp.add(total, t)
        return (total, out) if has_aux else total

    return scalar_g


def with_itself_as_aux(g: Callable) -> Callable:
    def g_and_aux(*args):
        out = g(*args)
        return out, out

    return g_and_aux


def restricted(g: Callable, args: Sequence[Any], argnums: tuple[int, ...]) -> Callable:
    """``g`` as a function of the arguments ``argnums`` only, the others fixed to ``args``."""

    def g_of_some(*some):
        full = list(args)
        for i, value in zip(argnums, some):
            full[i] = value
        return g(*full)

    return g_of_some


def closed_over(transform: Callable, fun: Callable, argnums: Any, **options) -> Callable:
    """``transform(fun, argnums)``, but of ``fun`` as a function of ``args[argnums]`` only,
    closed over the other arguments (outer tracers, when it is itself transformed)."""

    def h(*args):
        nums = tuple(a % len(args) for a in _argnums_tuple(argnums))
        inner_argnums = 0 if isinstance(argnums, int) else tuple(range(len(nums)))
        transformed = transform(restricted(fun, args, nums), argnums=inner_argnums, **options)
        return transformed(*[args[i] for i in nums])

    return h


# ---------------------------------------------------------------------------------------
# Transformations, each with a check against its definition


@dataclass
class Context:
    """How a layer is checked: ``low_precision`` runs are compared with float64 runs."""

    low_precision: bool
    outermost: bool = False


class Layer:
    """One transformation of a function ``g(*args) -> pytree`` into ``h(*args) -> pytree``."""

    kind = ""

    def apply(self, g: Callable) -> Callable:
        raise NotImplementedError

    def source(self, g: str) -> str:
        """Python source for applying this layer to the function named ``g``."""
        raise NotImplementedError

    def check(self, h: Callable, g: Callable, args: tuple, alt: tuple | None, ctx: Context):
        """Check ``h(*args)`` against the definition of this layer applied to ``g``."""
        raise NotImplementedError

    def out_rank(self, inner_rank: int, args: Sequence[Any]) -> int:
        """The least rank of an output leaf of ``h``, given that of ``g`` and the arguments."""
        return inner_rank

    def examples(self, args: tuple) -> list[tuple]:
        """The arguments of ``g`` that one call of ``h`` evaluates it at (vmap: one a row)."""
        return [args]


def _ranks(args: Sequence[Any], argnums: Sequence[int] | None = None) -> int:
    chosen = args if argnums is None else [args[i] for i in argnums]
    return min((numpy.ndim(x) for x in tree_leaves(tuple(chosen))), default=0)


@dataclass
class Jit(Layer):
    kind = "jit"
    keyword: bool = False  # pass the last argument by keyword (only over the program)

    def apply(self, g):
        self.jitted = fungrad.jit(g)
        if not self.keyword:
            return self.jitted
        return lambda *args: self.jitted(*args[:-1], **{f"a{len(args) - 1}": args[-1]})

    def source(self, g):
        if self.keyword:
            return f"lambda *args: fungrad.jit({g})(*args[:-1], a{{n-1}}=args[-1])"
        return f"fungrad.jit({g})"

    def check(self, h, g, args, alt, ctx):
        out = h(*args)
        first = copy_tree(out)
        assert_close(out, g(*args), TIGHT[ctx.low_precision], "jit(g)(x) against g(x)")
        if alt is not None:
            assert_close(
                h(*alt), g(*alt), TIGHT[ctx.low_precision], "jit(g) called again on new values"
            )
            assert_close(h(*args), first, 0.0, "jit(g) called a third time, on the first values")
            assert_unchanged(
                out, first, "the result of the first call of jit(g) after later calls"
            )
            if ctx.outermost:
                assert self.jitted.trace_count == 1, f"jit traced {self.jitted.trace_count} times"


class JitClosure(Layer):
    """``jit`` of ``g`` closed over its first argument (an outer tracer, under another layer)."""

    kind = "jit_closure"

    def apply(self, g):
        def h(*args):
            if len(args) > 1:
                return fungrad.jit(lambda *rest: g(args[0], *rest))(*args[1:])
            return fungrad.jit(lambda: g(*args))()

        return h

    def source(self, g):
        return f"lambda a0, *rest: fungrad.jit(lambda *rest: {g}(a0, *rest))(*rest)"

    def check(self, h, g, args, alt, ctx):
        assert_close(h(*args), g(*args), TIGHT[ctx.low_precision], "jit closing over an argument")


class Staged(Layer):
    """``make_jaxpr`` of ``g``, then ``eval_jaxpr`` of that program on the arguments."""

    kind = "staged"

    def apply(self, g):
        def h(*args):
            closed = fungrad.make_jaxpr(g)(*args)
            flat = fungrad.eval_jaxpr(closed.jaxpr, closed.consts, *tree_leaves(args))
            return tree_unflatten(tree_structure(g(*args)), flat)

        return h

    def source(self, g):
        return f"lambda *args: fungrad.eval_jaxpr(fungrad.make_jaxpr({g})(*args), *leaves(args))"

    def check(self, h, g, args, alt, ctx):
        assert_close(h(*args), g(*args), TIGHT[ctx.low_precision], "eval_jaxpr(make_jaxpr(g))")


@dataclass
class Vmap(Layer):
    kind = "vmap"
    in_axes: Any  # as passed to vmap
    leaf_axes: list[list[int | None]]  # per argument, per leaf: the mapped axis or None
    size: int
    out_pick: int  # resolved into out_axes once the inner output ranks are known
    out_axes: int = 0
    keyword: bool = False  # pass the last argument by keyword (mapped over axis 0)

    @property
    def axis_size(self) -> int | None:
        mapped = any(a is not None for axes in self.leaf_axes for a in axes)
        return None if mapped else self.size

    def apply(self, g):
        mapped = fungrad.vmap(
            g, in_axes=self.in_axes, out_axes=self.out_axes, axis_size=self.axis_size
        )
        if not self.keyword:
            return mapped
        return lambda *args: mapped(*args[:-1], **{f"a{len(args) - 1}": args[-1]})

    def source(self, g):
        size = f", axis_size={self.size}" if self.axis_size else ""
        call = "(*args[:-1], a{n-1}=args[-1])" if self.keyword else ""
        return f"fungrad.vmap({g}, in_axes={self.in_axes!r}, out_axes={self.out_axes}{size}){call}"

    def examples(self, args):
        rows = []
        for b in range(self.size):
            row = []
            for arg, axes in zip(args, self.leaf_axes):
                leaves, tree = tree_flatten(arg)
                row.append(tree_unflatten(tree, [
                    leaf if ax is None else numpy.take(leaf, b, axis=ax)
                    for leaf, ax in zip(leaves, axes)
                ]))  # fmt: skip
            rows.append(tuple(row))
        return rows

    def resolve(self, inner_rank: int) -> None:
        self.out_axes = min(max(self.out_pick, -(inner_rank + 1)), inner_rank)

    def out_rank(self, inner_rank, args):
        return inner_rank + 1

    def check(self, h, g, args, alt, ctx):
        outs = [g(*row) for row in self.examples(args)]
        expected = tree_map(lambda *xs: numpy.stack(xs, axis=self.out_axes), *outs)
        assert_close(h(*args), expected, TIGHT[ctx.low_precision], "vmap(g) against a loop over g")


@dataclass
class Derivative(Layer):
    """A layer that differentiates: checked against central differences (float64), or
    against the same run in float64 (low precision)."""

    seed: int

    def check(self, h, g, args, alt, ctx):
        out = h(*args)
        check_spec(out, self.spec(g, args), f"{self.source('g')}: structure, shapes, dtypes")
        if ctx.low_precision:
            assert_close(
                out,
                h(*upcast(args)),
                LOW_VS_HIGH,
                f"{self.source('g')} against float64",
                dtypes=False,
            )
        else:
            self.check_values(out, g, args)

    def spec(self, g, args):
        raise NotImplementedError

    def check_values(self, out, g, args):
        raise NotImplementedError

    def directions(self, tree: Any, count: int = 2) -> list[Any]:
        rng = numpy.random.default_rng(self.seed + 1000)

        def draw(x):
            if not is_float(x):
                return numpy.zeros(numpy.shape(x), fungrad.float0)
            return rng.standard_normal(numpy.shape(x))

        return [tree_map(draw, tree) for _ in range(count)]


def _argnums_tuple(argnums) -> tuple[int, ...]:
    return (argnums,) if isinstance(argnums, int) else tuple(argnums)


@dataclass
class Grad(Derivative):
    kind = "grad"
    argnums: Any = 0
    has_aux: bool = False
    with_value: bool = False  # value_and_grad
    closure: bool = False  # of a function of args[argnums] only, closed over the others

    def apply(self, g):
        transform = fungrad.value_and_grad if self.with_value else fungrad.grad
        f = scalarize(g, self.seed, self.has_aux)
        if self.closure:
            return closed_over(transform, f, self.argnums, has_aux=self.has_aux)
        return transform(f, argnums=self.argnums, has_aux=self.has_aux)

    def source(self, g):
        name = "value_and_grad" if self.with_value else "grad"
        aux = ", has_aux=True" if self.has_aux else ""
        source = (
            f"fungrad.{name}(scalarize({g}, seed={self.seed}{aux}), argnums={self.argnums!r}{aux})"
        )
        return f"closed_over({source})" if self.closure else source

    def out_rank(self, inner_rank, args):
        if self.with_value:
            return 0
        rank = _ranks(args, _argnums_tuple(self.argnums))
        return min(rank, inner_rank) if self.has_aux else rank

    def diff_args(self, args):
        nums = [a % len(args) for a in _argnums_tuple(self.argnums)]
        return args[nums[0]] if isinstance(self.argnums, int) else tuple(args[i] for i in nums)

    def split(self, out):
        """(value or None, gradient, aux or None) from the layer's output."""
        value = aux = None
        if self.with_value:
            value, grads = out
            if self.has_aux:
                value, aux = value
        elif self.has_aux:
            grads, aux = out
        else:
            grads = out
        return value, grads, aux

    def spec(self, g, args):
        grads = tree_map(spec_of, self.diff_args(args))
        out = g(*args)
        scalar = Spec((), (numpy.result_type(*tree_leaves(out)),))
        value = (scalar, tree_map(spec_of, out)) if self.has_aux else scalar
        if self.with_value:
            return value, grads
        return (grads, tree_map(spec_of, out)) if self.has_aux else grads

    def check_values(self, out, g, args):
        value, grads, aux = self.split(out)
        if self.has_aux:
            assert_close(aux, g(*args), TIGHT[False], "aux of grad(has_aux=True) against g(x)")
        f = scalarize(g, self.seed)
        if self.with_value:
            assert_close(value, f(*args), TIGHT[False], "value of value_and_grad")
        nums = tuple(a % len(args) for a in _argnums_tuple(self.argnums))
        diff = tuple(args[i] for i in nums)
        grads_t = (grads,) if isinstance(self.argnums, int) else grads
        for v in self.directions(diff):
            expected = float(numerical_jvp(restricted(f, args, nums), diff, v))
            actual, scale = inner(grads_t, v)
            assert_close_scalar(
                actual, expected, scale, NUMERICAL, "<grad, v> against central differences"
            )


@dataclass
class Jvp(Derivative):
    kind = "jvp"
    linearize: bool = False

    def apply(self, g):
        if self.linearize:

            def h(*args):
                y, f_jvp = fungrad.linearize(g, *args)
                return (
                    y,
                    f_jvp(*random_like(self.seed, args)),
                    f_jvp(*random_like(self.seed + 1, args)),
                )

            return h
        return lambda *args: fungrad.jvp(g, args, random_like(self.seed, args))

    def source(self, g):
        if self.linearize:
            return f"linearize_at_two_tangents({g}, seeds=({self.seed}, {self.seed + 1}))"
        return f"lambda *args: fungrad.jvp({g}, args, random_like({self.seed}, args))"

    def spec(self, g, args):
        out = tree_map(spec_of, g(*args))
        return (out, out, out) if self.linearize else (out, out)

    def check_values(self, out, g, args):
        assert_close(out[0], g(*args), TIGHT[False], "primal output of jvp against g(x)")
        for seed, t_out in zip((self.seed, self.seed + 1), out[1:]):
            tangents = random_like(seed, args)
            expected = tree_map(
                lambda e, o: e.astype(numpy.result_type(o)),
                numerical_jvp(g, args, tangents),
                out[0],
            )
            assert_close(t_out, expected, NUMERICAL, "tangent output against central differences")


@dataclass
class Vjp(Derivative):
    kind = "vjp"
    has_aux: bool = False
    transpose: bool = False  # linear_transpose of linearize instead of vjp

    def apply(self, g):
        def h(*args):
            if self.transpose:
                y, f_jvp = fungrad.linearize(g, *args)
                return y, fungrad.linear_transpose(f_jvp, *args)(random_like(self.seed, y))
            if self.has_aux:
                y, pullback, aux = fungrad.vjp(with_itself_as_aux(g), *args, has_aux=True)
                return y, pullback(random_like(self.seed, y)), aux
            y, pullback = fungrad.vjp(g, *args)
            return y, pullback(random_like(self.seed, y))

        return h

    def source(self, g):
        if self.transpose:
            return (
                f"y, f_jvp = fungrad.linearize({g}, *args); "
                f"linear_transpose(f_jvp, *args)(random_like({self.seed}, y))"
            )
        aux = ", has_aux=True" if self.has_aux else ""
        return f"vjp_at(fungrad.vjp({g}, *args{aux}), cotangent=random_like({self.seed}, y))"

    def out_rank(self, inner_rank, args):
        return min(inner_rank, _ranks(args))

    def spec(self, g, args):
        out = tree_map(spec_of, g(*args))
        cts = tree_map(cotangent_spec, tuple(args))
        return (out, cts, out) if self.has_aux else (out, cts)

    def check_values(self, out, g, args):
        y, cts = out[0], out[1]
        assert_close(y, g(*args), TIGHT[False], "primal output of vjp against g(x)")
        if self.has_aux:
            assert_close(out[2], g(*args), TIGHT[False], "aux of vjp against g(x)")
        u = random_like(self.seed, y)
        for v in self.directions(tuple(args)):
            lhs, scale = inner(cts, v)
            rhs, _ = inner(u, numerical_jvp(g, args, v))
            assert_close_scalar(
                lhs, rhs, scale, NUMERICAL, "<vjp(u), v> against <u, central differences>"
            )
            rhs_jvp, _ = inner(
                u,
                fungrad.jvp(
                    g,
                    args,
                    tree_map(
                        lambda a, t: t.astype(numpy.result_type(a)) if is_float(a) else t,
                        tuple(args),
                        v,
                    ),
                )[1],
            )
            assert_close_scalar(lhs, rhs_jvp, scale, 1e-9, "<vjp(u), v> against <u, jvp(v)>")


@dataclass
class Hvp(Derivative):
    kind = "hvp"

    def apply(self, g):
        return lambda *args: fungrad.hvp(
            scalarize(g, self.seed), args, random_like(self.seed + 1, args)
        )

    def source(self, g):
        return (
            f"lambda *args: fungrad.hvp(scalarize({g}, seed={self.seed}), args, "
            f"random_like({self.seed + 1}, args))"
        )

    def out_rank(self, inner_rank, args):
        return _ranks(args)

    def spec(self, g, args):
        return tree_map(spec_of, args[0] if len(args) == 1 else tuple(args))

    def check_values(self, out, g, args):
        grad_all = fungrad.grad(scalarize(g, self.seed), argnums=tuple(range(len(args))))
        expected = numerical_jvp(grad_all, args, random_like(self.seed + 1, args))
        expected = expected[0] if len(args) == 1 else expected
        expected = tree_map(
            lambda e, a: e.astype(numpy.result_type(a)),
            expected,
            args[0] if len(args) == 1 else tuple(args),
        )
        assert_close(out, expected, NUMERICAL, "hvp against central differences of grad")


@dataclass
class Jacobian(Derivative):
    kind = "jacobian"
    forward: bool = True
    argnums: Any = 0
    has_aux: bool = False
    chunk_size: int | None = None
    closure: bool = False  # of a function of args[argnums] only, closed over the others

    def apply(self, g):
        transform = fungrad.jacfwd if self.forward else fungrad.jacrev
        fun = with_itself_as_aux(g) if self.has_aux else g
        options = {"has_aux": self.has_aux, "chunk_size": self.chunk_size}
        if self.closure:
            return closed_over(transform, fun, self.argnums, **options)
        return transform(fun, argnums=self.argnums, **options)

    def source(self, g):
        name = "jacfwd" if self.forward else "jacrev"
        g = f"with_itself_as_aux({g})" if self.has_aux else g
        aux = ", has_aux=True" if self.has_aux else ""
        source = (
            f"fungrad.{name}({g}, argnums={self.argnums!r}{aux}, chunk_size={self.chunk_size})"
        )
        return f"closed_over({source})" if self.closure else source

    def out_rank(self, inner_rank, args):
        rank = inner_rank + _ranks(args, _argnums_tuple(self.argnums))
        return min(rank, inner_rank) if self.has_aux else rank

    def diff(self, args):
        nums = tuple(a % len(args) for a in _argnums_tuple(self.argnums))
        inner_tree = (
            args[nums[0]] if isinstance(self.argnums, int) else tuple(args[i] for i in nums)
        )
        return nums, inner_tree

    def spec(self, g, args):
        out = g(*args)
        _, inner_tree = self.diff(args)
        in_leaves, in_tree = tree_flatten(inner_tree)
        out_leaves, out_tree = tree_flatten(out)
        blocks = [
            tree_unflatten(
                in_tree,
                [Spec(numpy.shape(o) + numpy.shape(i), spec_of(o, i).dtypes) for i in in_leaves],
            )
            for o in out_leaves
        ]
        jac = tree_unflatten(out_tree, blocks)
        return (jac, tree_map(spec_of, out)) if self.has_aux else jac

    def check_values(self, out, g, args):
        jac = out
        if self.has_aux:
            jac, aux = out
            assert_close(aux, g(*args), TIGHT[False], "aux of the Jacobian against g(x)")
        nums, inner_tree = self.diff(args)
        in_count = len(tree_leaves(inner_tree))
        blocks = tree_leaves(jac)
        for v in self.directions(tuple(args[i] for i in nums)):
            expected = tree_leaves(
                numerical_jvp(restricted(g, args, nums), tuple(args[i] for i in nums), v)
            )
            v_leaves = tree_leaves(v)
            for o, e in enumerate(expected):
                jv = sum(
                    numpy.tensordot(blocks[o * in_count + i].astype(numpy.float64), t, axes=t.ndim)
                    for i, t in enumerate(v_leaves)
                )
                assert_close(
                    jv,
                    e,
                    NUMERICAL,
                    f"Jacobian block row {o} times v against central differences",
                    dtypes=False,
                )


@dataclass
class Hessian(Derivative):
    kind = "hessian"
    argnums: Any = 0
    chunk_size: int | None = None
    closure: bool = False  # of a function of args[argnums] only, closed over the others

    def apply(self, g):
        f = scalarize(g, self.seed)
        if self.closure:
            return closed_over(fungrad.hessian, f, self.argnums, chunk_size=self.chunk_size)
        return fungrad.hessian(f, argnums=self.argnums, chunk_size=self.chunk_size)

    def source(self, g):
        source = (
            f"fungrad.hessian(scalarize({g}, seed={self.seed}), argnums={self.argnums!r}, "
            f"chunk_size={self.chunk_size})"
        )
        return f"closed_over({source})" if self.closure else source

    def out_rank(self, inner_rank, args):
        return 2 * _ranks(args, _argnums_tuple(self.argnums))

    def spec(self, g, args):
        nums = tuple(a % len(args) for a in _argnums_tuple(self.argnums))
        inner_tree = (
            args[nums[0]] if isinstance(self.argnums, int) else tuple(args[i] for i in nums)
        )
        leaves, tree = tree_flatten(inner_tree)
        scalar_dtype = numpy.result_type(*tree_leaves(g(*args)))
        return tree_unflatten(tree, [
            tree_unflatten(tree, [
                Spec(numpy.shape(i) + numpy.shape(j), spec_of(i, j, scalar_dtype).dtypes)
                for j in leaves
            ])
            for i in leaves
        ])  # fmt: skip

    def check_values(self, out, g, args):
        nums = tuple(a % len(args) for a in _argnums_tuple(self.argnums))
        diff = tuple(args[i] for i in nums)
        n = len(tree_leaves(diff))
        blocks = tree_leaves(out)
        grad = fungrad.grad(scalarize(g, self.seed), argnums=nums)
        for v in self.directions(diff):
            expected = tree_leaves(numerical_jvp(restricted(grad, args, nums), diff, v))
            v_leaves = tree_leaves(v)
            for i, e in enumerate(expected):
                hv = sum(
                    numpy.tensordot(blocks[i * n + j].astype(numpy.float64), t, axes=t.ndim)
                    for j, t in enumerate(v_leaves)
                )
                assert_close(
                    hv,
                    e,
                    NUMERICAL,
                    f"Hessian block row {i} times v against central differences of grad",
                    dtypes=False,
                )


# ---------------------------------------------------------------------------------------
# Drawing a stack of transformations

LAYER_KINDS = [
    "jit", "vmap", "grad", "jvp", "vjp", "jacfwd", "jacrev", "hessian", "jit_closure",
    "vmap", "value_and_grad", "linearize", "linear_transpose", "hvp", "staged",
]  # fmt: skip


def draw_argnums(draw: Callable, allowed: list[int], n_args: int) -> Any:
    """An int (maybe negative) or a tuple (in any order) of the ``allowed`` arguments."""
    if len(allowed) == 1 or draw(st.booleans()):
        i = draw(st.sampled_from(allowed))
        return i - n_args if draw(st.integers(0, 3)) == 0 else i
    order = draw(st.permutations(allowed))
    return tuple(order[: draw(st.integers(1, len(allowed)))])


def draw_layer(draw: Callable, kind: str, signature: list[Any], over_program: bool) -> Layer:
    """One layer applied to functions of arguments shaped like ``signature`` (per example).
    Only a layer ``over_program`` may pass an argument by keyword (the program takes it)."""
    n_args = len(signature)
    seed = draw(st.integers(0, 99))
    keyword = over_program and draw(st.integers(0, 3)) == 0
    floats = [i for i, arg in enumerate(signature) if all(map(is_float, tree_leaves(arg)))]
    if not floats and kind in ("grad", "value_and_grad", "hessian", "jacfwd", "jacrev"):
        kind = "jvp"  # nothing to differentiate with respect to
    if len(floats) < n_args and kind in ("hvp", "linear_transpose"):
        kind = "vjp"  # these differentiate with respect to every argument
    if kind == "jit":
        return Jit(keyword)
    if kind == "jit_closure":
        return JitClosure()
    if kind == "staged":
        return Staged()
    if kind == "vmap":
        layer = draw_vmap(draw, signature)
        if keyword:  # keyword arguments are mapped over axis 0
            layer.keyword = True
            if isinstance(layer.in_axes, tuple):
                layer.in_axes = layer.in_axes[:-1]
            layer.leaf_axes[-1] = [0] * len(layer.leaf_axes[-1])
        return layer
    if kind in ("grad", "value_and_grad"):
        argnums = draw_argnums(draw, floats, n_args)
        closure = draw(st.integers(0, 2)) == 0
        return Grad(seed, argnums, draw(st.booleans()), kind == "value_and_grad", closure)
    if kind in ("jvp", "linearize"):
        return Jvp(seed, linearize=kind == "linearize")
    if kind in ("vjp", "linear_transpose"):
        if kind == "linear_transpose":
            return Vjp(seed, has_aux=False, transpose=True)
        return Vjp(seed, has_aux=draw(st.booleans()))
    if kind == "hvp":
        return Hvp(seed)
    chunk = draw(st.sampled_from([None, None, 1, 2, 3, 5]))
    argnums = draw_argnums(draw, floats, n_args)
    closure = draw(st.integers(0, 2)) == 0
    if kind == "hessian":
        return Hessian(seed, argnums, chunk, closure)
    return Jacobian(seed, kind == "jacfwd", argnums, draw(st.booleans()), chunk, closure)


def draw_vmap(draw: Callable, signature: list[Any]) -> Vmap:
    size = draw(st.sampled_from([1, 2, 3]))
    out_pick = draw(st.integers(-3, 3))
    if draw(st.integers(0, 3)) == 0:  # one int for every argument
        axis = draw(st.sampled_from([0, -1]))
        leaf_axes = [[axis] * len(tree_leaves(arg)) for arg in signature]
        return Vmap(axis, leaf_axes, size, out_pick)

    def leaf_axis(x):
        r = numpy.ndim(x)
        return None if draw(st.integers(0, 2)) == 0 else draw(st.integers(-(r + 1), r))

    in_axes, leaf_axes = [], []
    for arg in signature:
        leaves, tree = tree_flatten(arg)
        if isinstance(arg, numpy.ndarray) or draw(st.booleans()):
            # one entry for the whole argument; an int must fit every leaf
            lowest = min(numpy.ndim(x) for x in leaves)
            if draw(st.integers(0, 2)) == 0:
                entry = None
            else:
                entry = draw(st.integers(-(lowest + 1), lowest))
            in_axes.append(entry)
            leaf_axes.append([entry] * len(leaves))
        else:
            axes = [leaf_axis(x) for x in leaves]
            in_axes.append(tree_unflatten(tree, axes))
            leaf_axes.append(axes)
    return Vmap(tuple(in_axes), leaf_axes, size, out_pick)


def batched_signature(layer: Layer, signature: list[Any]) -> list[Any]:
    """The arguments of the layer's function, given those of the function it transforms."""
    if not isinstance(layer, Vmap):
        return signature
    out = []
    for arg, axes in zip(signature, layer.leaf_axes):
        leaves, tree = tree_flatten(arg)
        new = []
        for leaf, ax in zip(leaves, axes):
            if ax is not None:
                leaf = numpy.asarray(leaf)
                leaf = numpy.expand_dims(leaf, ax % (leaf.ndim + 1))
                leaf = numpy.repeat(leaf, layer.size, axis=ax % leaf.ndim)
            new.append(leaf)
        out.append(tree_unflatten(tree, new))
    return out


def level_args(layers: list[Layer], args: tuple) -> list[tuple]:
    """The arguments each level of the stack is checked at: the outermost gets ``args``;
    below a vmap, its first example."""
    levels = [args]
    for layer in reversed(layers):
        levels.append(layer.examples(levels[-1])[0])
    return levels[::-1]


def all_examples(layers: list[Layer], args: tuple) -> list[tuple]:
    """Every argument tuple the innermost function is evaluated at by one call of the stack."""
    rows = [args]
    for layer in reversed(layers):
        rows = [row for outer in rows for row in layer.examples(outer)]
    return rows


def without_float0(g: Callable) -> Callable:
    """``g`` with its float0 outputs (an integer input's cotangent) replaced by None: what a
    further layer differentiates or maps."""

    def g_floats(*args, **kwargs):
        out = g(*args, **kwargs)
        return tree_map(lambda x: None if fnp.result_type(x) == fungrad.float0 else x, out)

    return g_floats


def stack_source(layers: list[Layer]) -> str:
    lines = []
    name = "program"
    for i, layer in enumerate(layers):
        lines.append(f"g{i + 1} = {layer.source(name)}")
        name = f"g{i + 1}"
    return "\n".join(lines)
