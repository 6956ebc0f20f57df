"""The core: abstract values, the jaxpr IR and its printer, primitives, tracers,
the current interpreter, and the evaluation interpreter at the bottom.

Every array operation is a :class:`Primitive`. ``prim.bind(*args, **params)`` hands
the primitive to the *current interpreter*. With no transformation active that is
:class:`EvalInterpreter`, which runs the primitive's NumPy implementation. A
transformation installs its own interpreter for the duration of the call; that
interpreter owns the tracers it creates and treats every other value as a constant
(the ``x.interpreter is self`` check), which is what keeps nested transformations
from confusing each other's perturbations.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fungrad import dtypes
from fungrad.errors import (
    AmbiguousTruthValueError,
    EscapedTracerError,
    FungradTypeError,
    MissingRuleError,
    ShapeError,
    TracerConversionError,
)

# ---------------------------------------------------------------------------------------
# Abstract values


class ShapedArray:
    """The abstract value of an array: its shape and dtype (and whether it is weakly typed)."""

    __slots__ = ("shape", "dtype", "weak_type")

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, weak_type: bool = False):
        self.shape = shape
        self.dtype = dtype
        self.weak_type = weak_type

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def str_short(self) -> str:
        return f"{dtypes.short_name(self.dtype)}[{','.join(map(str, self.shape))}]"

    def __repr__(self) -> str:
        weak = ", weak_type=True" if self.weak_type else ""
        return f"ShapedArray({self.shape}, {self.dtype}{weak})"

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is ShapedArray
            and self.shape == other.shape
            and self.dtype == other.dtype
            and self.weak_type == other.weak_type
        )

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype, self.weak_type))

    def strip_weak_type(self) -> ShapedArray:
        return ShapedArray(self.shape, self.dtype) if self.weak_type else self


_WEAK_SCALAR_AVALS = {
    float: ShapedArray((), np.dtype(np.float64), True),
    int: ShapedArray((), np.dtype(np.int64), True),
    complex: ShapedArray((), np.dtype(np.complex128), True),
    bool: ShapedArray((), np.dtype(np.bool_), False),
}


_WEAK_TYPES = frozenset((float, int, complex))


def get_aval(x: Any) -> ShapedArray:
    """The abstract value of any array-like value fungrad accepts, tracers included."""
    if isinstance(x, Tracer):
        return x.aval
    t = type(x)
    if t is np.ndarray or isinstance(x, np.generic):
        return ShapedArray(x.shape, x.dtype)
    aval = _WEAK_SCALAR_AVALS.get(t)
    if aval is not None:
        return aval
    if isinstance(x, (bool, int, float, complex, np.ndarray, list, tuple)):
        arr = np.asarray(x)
        if arr.dtype != object:
            return ShapedArray(arr.shape, arr.dtype)
    aval = getattr(x, "aval", None)  # a symbolic value that knows its type (basis rows)
    if type(aval) is ShapedArray:
        return aval
    raise TypeError(
        f"fungrad cannot use a value of type {type(x).__name__} as an array: {x!r:.80}. "
        "Pass NumPy arrays, Python scalars, or nested lists of numbers."
    )


def shape_of(x: Any) -> tuple[int, ...]:
    """The shape of a tracer, array or scalar (without NumPy's dispatch)."""
    shape = getattr(x, "shape", None)
    return np.shape(x) if shape is None else shape


def is_array_like(x: Any) -> bool:
    return isinstance(x, (Tracer, np.ndarray, np.generic, float, int, complex, bool))


class Zero:
    """A symbolic zero tangent or cotangent: known to be zero, never materialised."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self) -> str:
        return f"Zero({self.aval.str_short()})"


def zeros_for(aval: ShapedArray) -> np.ndarray:
    """A materialised zero for a tangent of ``aval`` (float0 for integer values)."""
    if dtypes.is_differentiable(aval.dtype):
        return np.zeros(aval.shape, aval.dtype)
    return np.zeros(aval.shape, dtypes.float0)


# ---------------------------------------------------------------------------------------
# The IR: variables, literals, equations, jaxprs


class Var:
    """A variable in a jaxpr, typed by an abstract value. Named only when printed."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self) -> str:
        return f"Var({self.aval.str_short()})"


class Literal:
    """A constant scalar written inline in a jaxpr."""

    __slots__ = ("value", "aval")

    def __init__(self, value: Any, aval: ShapedArray):
        self.value = value
        self.aval = aval

    def __repr__(self) -> str:
        return f"Literal({self.value!r})"


Atom = Var | Literal


class Eqn:
    """One primitive application: ``outputs = primitive[params] inputs``."""

    __slots__ = ("primitive", "inputs", "params", "outputs", "source_info")

    def __init__(
        self,
        primitive: Primitive,
        inputs: list[Atom],
        params: dict[str, Any],
        outputs: list[Var],
        source_info: str | None = None,
    ):
        self.primitive = primitive
        self.inputs = inputs
        self.params = params
        self.outputs = outputs
        self.source_info = source_info


class Jaxpr:
    """A typed program: constants, inputs, a flat list of equations, outputs."""

    __slots__ = ("constvars", "invars", "eqns", "outvars")

    def __init__(
        self,
        constvars: list[Var],
        invars: list[Var],
        eqns: list[Eqn],
        outvars: list[Atom],
    ):
        self.constvars = constvars
        self.invars = invars
        self.eqns = eqns
        self.outvars = outvars

    def __str__(self) -> str:
        return pprint_jaxpr(self)

    def pretty_print(self, source_info: bool = False) -> str:
        """The printed program; with ``source_info=True`` each equation shows its line."""
        return pprint_jaxpr(self, source_info=source_info)

    __repr__ = __str__


class ClosedJaxpr:
    """A jaxpr together with the values of its constvars."""

    __slots__ = ("jaxpr", "consts", "show_source_info")

    def __init__(self, jaxpr: Jaxpr, consts: Sequence[Any]):
        self.jaxpr = jaxpr
        self.consts = list(consts)
        # Whether str() shows each equation's source line (make_jaxpr(source_info=True)).
        self.show_source_info = False

    @property
    def eqns(self) -> list[Eqn]:
        return self.jaxpr.eqns

    @property
    def in_avals(self) -> list[ShapedArray]:
        return [v.aval for v in self.jaxpr.invars]

    @property
    def out_avals(self) -> list[ShapedArray]:
        return [v.aval for v in self.jaxpr.outvars]

    def pretty_print(self, source_info: bool = False) -> str:
        return pprint_jaxpr(self.jaxpr, source_info=source_info)

    def __str__(self) -> str:
        return pprint_jaxpr(self.jaxpr, source_info=self.show_source_info)

    __repr__ = __str__


def _var_names() -> Callable[[], str]:
    letters = "abcdefghijklmnopqrstuvwxyz"

    def names():
        for length in itertools.count(1):
            for chars in itertools.product(letters, repeat=length):
                yield "".join(chars)

    return names().__next__


def _format_param(value: Any, indent: str = "", source_info: bool = False) -> str:
    subs = _subjaxprs_in(value)  # sub-programs (see subjaxprs), printed nested
    if subs is not None:
        printed = [pprint_jaxpr(sub.jaxpr, source_info, indent) for sub in subs]
        if isinstance(value, ClosedJaxpr):
            return printed[0]
        return "(" + ", ".join(printed) + ("," if len(printed) == 1 else "") + ")"
    if isinstance(value, np.dtype):
        return value.name
    if isinstance(value, type) and issubclass(value, np.generic):
        return np.dtype(value).name
    return repr(value)


def pprint_jaxpr(jaxpr: Jaxpr, source_info: bool = False, indent: str = "") -> str:
    """Render a jaxpr in the familiar ``{ lambda consts ; args . let eqns in outs }`` form."""
    next_name = _var_names()
    names: dict[int, str] = {}

    def atom(a: Atom) -> str:
        if isinstance(a, Literal):
            value = a.value.item() if isinstance(a.value, np.generic) else a.value
            if a.aval.weak_type:  # a Python scalar: it takes the other operand's dtype
                return repr(value)
            return f"{value!r}:{a.aval.str_short()}"
        name = names.get(id(a))
        if name is None:
            name = names[id(a)] = next_name()
        return name

    def binder(v: Var) -> str:
        return f"{atom(v)}:{v.aval.str_short()}"

    consts = " ".join(binder(v) for v in jaxpr.constvars)
    args = " ".join(binder(v) for v in jaxpr.invars)
    lines = [f"{{ lambda {consts}{' ' if consts else ''}; {args}. let"]
    for eqn in jaxpr.eqns:
        outs = " ".join(binder(v) for v in eqn.outputs)
        shown = sorted((k, v) for k, v in eqn.params.items() if not k.startswith("_"))
        params = ""
        if shown:
            inner = indent + "    "
            params = " ".join(f"{k}={_format_param(v, inner, source_info)}" for k, v in shown)
            params = f"[{params}]"
        ins = " ".join(atom(a) for a in eqn.inputs)
        line = f"    {outs} = {eqn.primitive.name}{params}{' ' if ins else ''}{ins}"
        if source_info and eqn.source_info:
            line += f"    # {eqn.source_info}"
        lines.append(indent + line)
    outs = ", ".join(atom(a) for a in jaxpr.outvars)
    lines.append(f"{indent}  in ({outs}{',' if len(jaxpr.outvars) == 1 else ''}) }}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Primitives


class Primitive:
    """An operation that interpreters know by name.

    A primitive itself holds only what defines it: ``impl`` runs it on NumPy values,
    and ``abstract_eval`` maps input avals to the output aval (the shape/dtype rule).
    Every other rule lives in a table owned by the code that uses it, keyed by the
    primitive: jvp rules in fungrad/interpreters/jvp.py, transpose rules in
    interpreters/transpose.py, batching rules in interpreters/batching.py, identity
    rules for the simplifier in interpreters/simplify_rules.py, and NumPy lowerings
    for ``jit`` in the backend. A new kind of rule is a new table, not a new slot here.
    """

    __slots__ = ("name", "multiple_results", "impl", "abstract_eval")

    def __init__(self, name: str, multiple_results: bool = False):
        self.name = name
        self.multiple_results = multiple_results
        self.impl: Callable[..., Any] | None = None
        self.abstract_eval: Callable[..., Any] | None = None

    def bind(self, *args: Any, **params: Any) -> Any:
        return _state.current.process_primitive(self, args, params)

    def __repr__(self) -> str:
        return self.name


#: Every primitive ever created, by name; the completeness test walks it.
primitives: dict[str, Primitive] = {}


def new_primitive(name: str, multiple_results: bool = False) -> Primitive:
    assert name not in primitives, f"primitive {name!r} defined twice"
    prim = primitives[name] = Primitive(name, multiple_results)
    return prim


def missing_rule(prim: Primitive, rule: str) -> MissingRuleError:
    return MissingRuleError(
        f"primitive '{prim.name}' has no {rule} rule: a gap in fungrad, not in your code. "
        "Please report it."
    )


# ---------------------------------------------------------------------------------------
# Elementwise shape and dtype rules, and ``add``
#
# NumPy broadcasting and promotion (weak Python scalars included), shared by ``add``
# below and by the elementwise family in fungrad/primitives/elementwise.py.

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


def broadcasting_abstract_eval(
    name: str, fn: Callable, out_dtype: np.dtype | None = None
) -> Callable[..., ShapedArray]:
    """Shape/dtype rule of a primitive that broadcasts as NumPy's ``fn`` does;
    ``out_dtype`` fixes the output dtype (comparisons: bool)."""

    def abstract_eval(*avals: ShapedArray) -> ShapedArray:
        shape = broadcast_shapes(name, *(a.shape for a in avals))
        if out_dtype is not None:
            return ShapedArray(shape, out_dtype)
        dtype, weak = ufunc_result_dtype(fn, avals)
        return ShapedArray(shape, dtype, weak)

    return abstract_eval


#: ``add`` is declared here, below the interpreters, because transposition sums the
#: cotangents of a value used more than once with it (JAX's ``add_jaxvals`` plays the
#: same part). Its rules stand with the rest of the arithmetic in
#: fungrad/primitives/elementwise.py.
add_p = new_primitive("add")
add_p.impl = np.add
add_p.abstract_eval = broadcasting_abstract_eval("add", np.add)


def add(x: Any, y: Any) -> Any:
    """``x + y``, broadcasting as NumPy does."""
    return add_p.bind(x, y)


# ---------------------------------------------------------------------------------------
# Tracers and interpreters


class Tracer:
    """A value owned by one interpreter during one transformation call.

    Array methods and operators (``+``, ``@``, ``.T``, ``.sum()``, indexing, ...) are
    installed by :mod:`fungrad.numpy`, so a tracer reads like a NumPy array.
    """

    __slots__ = ("interpreter",)
    __array_priority__ = 1000

    #: NumPy ufuncs that a tracer accepts, mapped to their fungrad.numpy versions, so
    #: that ``ndarray * tracer`` (which NumPy turns into ``np.multiply``) is traced.
    #: Filled in by fungrad.numpy.
    ufunc_overrides: dict[Any, Callable[..., Any]] = {}

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        override = self.ufunc_overrides.get(ufunc)
        if override is not None and method == "__call__" and not kwargs:
            return override(*inputs)
        raise self._numpy_error(f"numpy.{ufunc.__name__}")

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func is np.shape:
            return self.shape
        if func is np.ndim:
            return self.ndim
        raise self._numpy_error(f"numpy.{func.__name__}")

    def _numpy_error(self, what: str) -> TypeError:
        return TypeError(
            f"{what} was applied to a fungrad tracer ({self.aval.str_short()}, traced by "
            f"`{self.interpreter.transformation}`); NumPy cannot see through it and would "
            "lose its derivative. Inside transformed functions use `import fungrad.numpy "
            "as fnp` and the fnp function of the same name."
        )

    interpreter: Interpreter

    @property
    def aval(self) -> ShapedArray:
        raise NotImplementedError

    @property
    def shape(self) -> tuple[int, ...]:
        return self.aval.shape

    @property
    def dtype(self) -> np.dtype:
        return self.aval.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def weak_type(self) -> bool:
        """Whether this value stands for a Python scalar (weakly typed, as in NumPy)."""
        return self.aval.weak_type

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d (scalar) traced array")
        return self.shape[0]

    def to_concrete(self) -> Any:
        """The concrete NumPy value behind this tracer, if the interpreter has one."""
        raise NotImplementedError

    def differentiated_by(self) -> Interpreter | None:
        """The interpreter tracking a non-zero derivative of this value, if any: converting
        the value to a Python or NumPy scalar would drop that derivative."""
        return None

    # Conversions to Python values. Those that are piecewise constant in the value
    # (bool, int, an index) are allowed wherever the value is concrete: their derivative
    # is zero almost everywhere, so Python control flow on values stays exact under the
    # differentiation transformations. Those that keep the value itself (float,
    # complex, item, tolist) would return it as a constant and silently drop its
    # derivative, so they raise while a derivative is tracked (docs/api.md).

    def __bool__(self) -> bool:
        value = self.to_concrete()
        if np.size(value) != 1:
            raise AmbiguousTruthValueError(
                f"The truth value of a traced array of shape {self.shape} is ambiguous "
                f"(at {user_source_line()}): `if`, `while`, `and`, `or` and `not` need a "
                "single boolean. Use `fungrad.numpy.any(x)` or `fungrad.numpy.all(x)` to "
                "decide on the whole array, or `fungrad.numpy.where(condition, a, b)` to "
                "choose elementwise."
            )
        return bool(value)

    def __int__(self) -> int:
        return int(self.to_concrete())

    def __index__(self) -> int:
        return int(np.asarray(self.to_concrete()).__index__())

    def __float__(self) -> float:
        return float(self._value_for("float()"))

    def __complex__(self) -> complex:
        return complex(self._value_for("complex()"))

    def item(self, *args: Any) -> Any:
        """The value as a Python scalar, as ``numpy.ndarray.item`` (see ``__float__``)."""
        return np.asarray(self._value_for(".item()")).item(*args)

    def tolist(self) -> Any:
        """The value as nested Python lists, as ``numpy.ndarray.tolist``."""
        return np.asarray(self._value_for(".tolist()")).tolist()

    def _value_for(self, conversion: str) -> Any:
        interp = self.differentiated_by()
        if interp is not None:
            raise self._conversion_error(conversion, interp)
        return self.to_concrete()

    def _conversion_error(self, conversion: str, interp: Interpreter) -> TracerConversionError:
        return TracerConversionError(
            f"{conversion} of a value differentiated by `{interp.transformation}` "
            f"({self.aval.str_short()}, at {user_source_line()}) would drop its "
            "derivative: the result would be a constant, and the derivative silently "
            "wrong. This conversion also happens in `math` functions, `np.float64(x)` "
            "and in writing the value into a NumPy array. Keep the value an array and "
            "use `fungrad.numpy` (fnp.sin rather than math.sin; build arrays with "
            "fnp.stack, fnp.concatenate or fnp.where instead of writing into a NumPy "
            "array). If dropping the derivative is intended, convert "
            "`fungrad.stop_gradient(x)` instead."
        )

    def __setitem__(self, index: Any, value: Any) -> None:
        raise FungradTypeError(
            f"Traced arrays are immutable: `x[...] = value` cannot be traced (a "
            f"{self.aval.str_short()} array under `{self.interpreter.transformation}`, at "
            f"{user_source_line()}). Build the new array functionally instead: "
            "`fungrad.numpy.where(mask, value, x)` with a boolean mask of the positions to "
            "replace, or assemble it with `fungrad.numpy.stack`/`concatenate`."
        )

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        interp = self.differentiated_by()
        if interp is not None:
            raise self._conversion_error("numpy.asarray (or np.array, np.float64)", interp)
        raise self._numpy_error("numpy.asarray")

    def __repr__(self) -> str:
        return f"Traced<{self.aval.str_short()}>(from {self.interpreter.transformation})"

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d (scalar) traced array")
        return (self[i] for i in range(self.shape[0]))


class Interpreter:
    """Base of all interpreters. ``transformation`` names the user-facing transformation."""

    __slots__ = ("parent", "transformation", "closed")

    def __init__(self, parent: Interpreter | None, transformation: str):
        self.parent = parent
        self.transformation = transformation
        self.closed = False

    def process_primitive(self, prim: Primitive, args: Sequence[Any], params: dict) -> Any:
        raise NotImplementedError

    # The jvp and batching interpreters run their rules with the parent current by the
    # same inline try/finally as here. It is not factored into a helper on purpose: the
    # extra call costs about 5% on a chain of small operations (bench_grad chain: 8.7x
    # hand-written NumPy against 8.2x), and this is the per-equation hot path.
    def forward_to_parent(self, prim: Primitive, args: Sequence[Any], params: dict) -> Any:
        """Run ``prim`` on values this interpreter does not own: the parent handles them."""
        _state.current = parent = self.parent
        try:
            return parent.process_primitive(prim, args, params)
        finally:
            _state.current = self


class _State:
    __slots__ = ("current", "numpy_typing", "source_override")

    def __init__(self) -> None:
        self.current: Interpreter = EvalInterpreter(None, "eval")
        # The source line of the equation being evaluated or transposed, when it is
        # known (eval_jaxpr, the backward pass): equations staged meanwhile record it
        # instead of the innermost user frame, and error reports name it.
        self.source_override: str | None = None
        # True while a fungrad.numpy function runs: results computed from Python
        # scalars alone are NumPy scalars (strongly typed), as NumPy's functions return
        # them (numpy.sin(2.0) is a numpy.float64), rather than Python scalars, as
        # Python's arithmetic does (2.0 * 2.0 is a weakly typed float).
        self.numpy_typing = False


class EvalInterpreter(Interpreter):
    """The bottom interpreter: runs each primitive's NumPy implementation."""

    __slots__ = ()

    def process_primitive(self, prim: Primitive, args: Sequence[Any], params: dict) -> Any:
        for x in args:
            if isinstance(x, Tracer):
                raise escaped_tracer_error(x)
        try:
            out = prim.impl(*args, **params)
        except ValueError as err:
            if isinstance(err, ShapeError):
                raise
            shapes = ", ".join(get_aval(x).str_short() for x in args)
            raise ShapeError(
                f"{prim.name} cannot be applied to operands {shapes}"
                f"{_format_params(params)} (at {user_source_line()}): {err}"
            ) from err
        except TypeError:
            if prim.impl is None:
                raise missing_rule(prim, "implementation") from None
            raise
        if (
            (isinstance(out, np.generic) or (type(out) is np.ndarray and not out.shape))
            and all(type(x) in _WEAK_TYPES for x in args)
            and not _state.numpy_typing
        ):
            # Python scalars in: NumPy returns a (strongly typed) NumPy scalar, but
            # where the shape rule says the result is weak (Python arithmetic would
            # keep it so), it stays a Python scalar. An aval is weak exactly when the
            # value is a Python scalar.
            if (
                not prim.multiple_results
                and prim.abstract_eval(
                    *(_WEAK_SCALAR_AVALS[type(x)] for x in args), **params
                ).weak_type
            ):
                return out.item()
        return out


_plain_process_primitive = EvalInterpreter.process_primitive


def check_eval_outputs(check: Callable[[Primitive, Any, Sequence[Any]], None] | None) -> None:
    """Call ``check(prim, out, args)`` after every primitive the evaluation interpreter
    runs (fungrad/debug_checks.py's NaN checks), or with None, stop. The interpreter's
    method is swapped rather than made to ask a flag: while no check is on, none is paid."""
    if check is None:
        EvalInterpreter.process_primitive = _plain_process_primitive  # type: ignore[method-assign]
        return

    def process_primitive(
        self: EvalInterpreter, prim: Primitive, args: Sequence[Any], params: dict
    ):
        out = _plain_process_primitive(self, prim, args, params)
        check(prim, out, args)
        return out

    EvalInterpreter.process_primitive = process_primitive  # type: ignore[method-assign]


def _format_params(params: dict) -> str:
    if not params:
        return ""
    return " with " + ", ".join(f"{k}={_format_param(v)}" for k, v in params.items())


_state = _State()


def current_interpreter() -> Interpreter:
    return _state.current


class activate:
    """Context manager making ``interpreter`` current; on exit it is closed for good."""

    __slots__ = ("interpreter", "previous", "close")

    def __init__(self, interpreter: Interpreter, close: bool = True):
        self.interpreter = interpreter
        self.close = close

    def __enter__(self) -> Interpreter:
        self.previous = _state.current
        _state.current = self.interpreter
        return self.interpreter

    def __exit__(self, *exc: Any) -> None:
        _state.current = self.previous
        if self.close:
            self.interpreter.closed = True


def escaped_tracer_error(tracer: Tracer) -> EscapedTracerError:
    interp = tracer.interpreter
    state = "has already returned" if interp.closed else "is not the one running here"
    return EscapedTracerError(
        f"Encountered a tracer ({tracer.aval.str_short()}) created by a `{interp.transformation}` "
        f"transformation that {state}: an escaped tracer. This happens when a value "
        "computed inside a transformed function is stored outside it (in a global, a "
        "list, or an attribute) and used later. Return the value from the function "
        "instead."
    )


# ---------------------------------------------------------------------------------------
# Source lines, so that equations and errors can name the user's code

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_OWN_FILES = (_PACKAGE_DIR, "<fungrad.")


def user_source_line() -> str | None:
    """``file.py:line`` of the innermost frame outside fungrad, or None; while an
    equation with a recorded line is evaluated or transposed, that line."""
    if _state.source_override is not None:
        return _state.source_override
    frame = sys._getframe(1)
    # fungrad's own files, and the code it generates (named "<fungrad.jit ...>")
    while frame is not None and frame.f_code.co_filename.startswith(_OWN_FILES):
        frame = frame.f_back
    if frame is None:
        return None
    filename = frame.f_code.co_filename
    if not filename.startswith("<"):  # "<stdin>", "<doctest ...>" are names, not paths
        filename = os.path.basename(filename)
    return f"{filename}:{frame.f_lineno}"


BACKWARD_PASS = " (backward pass)"


def backward_line(line: str) -> str:
    """The source line recorded for the backward-pass work of the equation at ``line``."""
    return line if line.endswith(BACKWARD_PASS) else line + BACKWARD_PASS


# ---------------------------------------------------------------------------------------
# Evaluating a jaxpr


def eval_jaxpr(jaxpr: Jaxpr, consts: Sequence[Any], *args: Any) -> list[Any]:
    """Run a jaxpr, binding each equation to the current interpreter; returns the outputs.

    With no transformation active this computes values; under a transformation the
    program is re-traced, which is how jaxprs compose with every interpreter.
    """
    if len(consts) != len(jaxpr.constvars) or len(args) != len(jaxpr.invars):
        raise TypeError(
            f"eval_jaxpr: the jaxpr takes {len(jaxpr.constvars)} consts and "
            f"{len(jaxpr.invars)} arguments, got {len(consts)} and {len(args)}"
        )
    env: dict[Var, Any] = dict(zip(jaxpr.constvars, consts))
    env.update(zip(jaxpr.invars, args))

    def read(a: Atom) -> Any:
        return a.value if type(a) is Literal else env[a]

    for eqn in jaxpr.eqns:
        if eqn.source_info is None:
            out = eqn.primitive.bind(*map(read, eqn.inputs), **eqn.params)
        else:  # the equation's own line, for what it stages and for error reports
            previous, _state.source_override = _state.source_override, eqn.source_info
            try:
                out = eqn.primitive.bind(*map(read, eqn.inputs), **eqn.params)
            finally:
                _state.source_override = previous
        if eqn.primitive.multiple_results:
            env.update(zip(eqn.outputs, out))
        else:
            env[eqn.outputs[0]] = out
    return [read(a) for a in jaxpr.outvars]


# ---------------------------------------------------------------------------------------
# Higher-order primitives: sub-programs in params
#
# A primitive's params may hold programs (a call's body; one day a loop's or a
# branch's). Passes and the printer find them by type, never by parameter name: a
# param value that is a ClosedJaxpr, or a non-empty tuple or list of them.


def _subjaxprs_in(value: Any) -> list[ClosedJaxpr] | None:
    """The sub-programs one param value holds, or None if it is not a sub-program param."""
    if isinstance(value, ClosedJaxpr):
        return [value]
    if (
        isinstance(value, (tuple, list))
        and value
        and all(isinstance(v, ClosedJaxpr) for v in value)
    ):
        return list(value)
    return None


def subjaxprs(params: dict[str, Any]) -> list[ClosedJaxpr]:
    """Every sub-program in an equation's params, by parameter name, then position.

    >>> from fungrad import make_jaxpr, jit
    >>> (eqn,) = make_jaxpr(jit(lambda x: x * 2.0))(1.0).eqns
    >>> [str(sub.jaxpr.eqns[0].primitive) for sub in subjaxprs(eqn.params)]
    ['mul']
    """
    found: list[ClosedJaxpr] = []
    for name in sorted(params):
        found += _subjaxprs_in(params[name]) or []
    return found


def map_subjaxprs(params: dict[str, Any], fn: Callable[[ClosedJaxpr], ClosedJaxpr]) -> dict:
    """``params`` with each sub-program ``sub`` replaced by ``fn(sub)``; other params
    are kept as they are. ``fn`` must keep each sub-program's signature.

    >>> from fungrad import make_jaxpr, jit
    >>> (eqn,) = make_jaxpr(jit(lambda x: x * 2.0))(1.0).eqns
    >>> sorted(map_subjaxprs(eqn.params, lambda sub: sub)) == sorted(eqn.params)
    True
    """
    mapped = {}
    for name, value in params.items():
        subs = _subjaxprs_in(value)
        if subs is None:
            mapped[name] = value
        elif isinstance(value, ClosedJaxpr):
            mapped[name] = fn(value)
        else:
            mapped[name] = type(value)(fn(sub) for sub in subs)
    return mapped
