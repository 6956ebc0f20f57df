"""``jit``: trace once per input signature, simplify, and run generated NumPy code.

A jitted function traces its Python function to a jaxpr the first time it sees a
signature (pytree structure, shapes, dtypes, weak types, static argument values),
simplifies it (fungrad/jit/simplify.py), and generates one straight-line Python
function of NumPy calls (fungrad/jit/codegen.py). Later calls with that signature
run the generated function directly: no tracing, no interpreters.

Under another transformation a jitted function is the call primitive ``jit``
(fungrad/primitives/call.py, with its rules), carrying its jaxpr and a runner that
compiles it; ``make_jaxpr`` shows the call. Its lowering is registered here.
"""

from __future__ import annotations

import functools
import inspect
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fungrad.arguments import ArgNames, FlatFun, as_array
from fungrad.core import (
    ClosedJaxpr,
    EvalInterpreter,
    Tracer,
    _state,
    current_interpreter,
    get_aval,
)
from fungrad.errors import FungradTypeError, FungradValueError
from fungrad.flags import config
from fungrad.interpreters.partial_eval import trace_to_jaxpr
from fungrad.jit.codegen import GeneratedCode, generate
from fungrad.jit.lowering import call_lowering, register_lowering
from fungrad.jit.simplify import simplify, value_key
from fungrad.primitives.call import closure_convert, jit_p
from fungrad.primitives.custom import custom_jvp_call_p, custom_vjp_call_p
from fungrad.traceback_util import filtered, filtering_enabled
from fungrad.tree_util import (
    compile_unflatten,
    is_namedtuple_node,
    not_an_array_message,
    registered_node_count,
    tree_flatten,
    tree_flatten_with_path,
    tree_unflatten,
)

__all__ = ["jit", "JittedFunction", "Lowered"]

# ---------------------------------------------------------------------------------------
# What jit adds to the call primitive (fungrad/primitives/call.py): its runner, its lowering


class _Runner:
    """Simplifies and compiles a call's jaxpr the first time the call is evaluated.

    The call primitive's rules (fungrad/primitives/call.py) derive new programs from
    this one (its jvp, its known and unknown parts, its transpose, its batched form);
    :meth:`derive` keeps each, with its own runner, so that a transformation of a
    jitted function is traced and compiled once per kind, not once per call.
    """

    def __init__(self, closed: ClosedJaxpr, name: str):
        self.closed = closed
        self.name = name
        self.code: GeneratedCode | None = None
        self.checked_code: GeneratedCode | None = None
        self.derived: dict[Any, tuple[Any, _Runner]] = {}

    def __call__(self, *args: Any) -> list[Any]:
        return _code(self, self.name).fn(*args)

    def derive(self, key: Any, name: str, make: Callable[[], tuple[ClosedJaxpr, Any]]):
        """``(program, info), runner`` for the program ``make()`` derives from this one
        (``info`` is what the rule needs besides it), made once per ``key``."""
        found = self.derived.get(key)
        if found is None:
            closed, info = make()
            found = self.derived[key] = ((closed, info), _Runner(closed, name))
        return found

    def __repr__(self) -> str:
        return f"<compiled {self.name}>"


# In generated code, a call is a call of its program's own generated function.
register_lowering(jit_p, call_lowering)


# ---------------------------------------------------------------------------------------
# The user-facing wrapper


class Lowered:
    """What ``jit`` runs for one signature: the simplified jaxpr and the generated source."""

    def __init__(self, jaxpr: ClosedJaxpr, code: GeneratedCode):
        self.jaxpr = jaxpr
        self.code = code

    def as_text(self) -> str:
        """The generated Python source."""
        return self.code.source

    def compile(self) -> Callable[..., list[Any]]:
        """The generated function: flat arrays in, a list of flat outputs out."""
        return self.code.fn


def _code(holder: _Entry | _Runner, name: str) -> GeneratedCode:
    """The generated code of ``holder``'s program, made on first use: the plain code, or
    while fungrad.config's NaN/Inf checks are on, code that checks every result."""
    if config.any_checks:
        if holder.checked_code is None:
            holder.checked_code = generate(simplify(holder.closed), name, checks=True)
        return holder.checked_code
    if holder.code is None:
        holder.code = generate(simplify(holder.closed), name)
    return holder.code


class _Entry:
    __slots__ = ("closed", "out_tree", "code", "checked_code", "runner", "build")

    def __init__(self, closed: ClosedJaxpr, out_tree: Any):
        self.closed = closed
        self.out_tree = out_tree
        self.build: Callable[[Sequence[Any]], Any] | None = None  # compile_unflatten's
        self.code: GeneratedCode | None = None
        self.checked_code: GeneratedCode | None = None
        self.runner: _Runner | None = None  # the call's runner, kept with its derivations


class JittedFunction:
    """A function traced and compiled once per input signature. See :func:`jit`."""

    def __init__(
        self,
        fun: Callable,
        static_argnums: tuple[int, ...],
        static_argnames: tuple[str, ...],
        cache_size: int,
    ):
        self.fun = fun
        self.static_argnums = static_argnums
        self.static_argnames = static_argnames
        self.max_cache_size = cache_size
        self.trace_count = 0
        self._cache: OrderedDict[Any, _Entry] = OrderedDict()
        # Runners by plain signature (see _plain_signature), for the fast path, and the
        # generated flattener of the structure called last (see _compile_flattener).
        self._fast: dict[Any, Callable[[list[Any]], Any]] = {}
        self._flatteners: dict[Any, _Flattener] = {}
        self._flat: _Flattener | None = None
        self._plain = not static_argnums and not static_argnames
        self._name = getattr(fun, "__name__", "jitted")
        self._parameters = _parameters(fun)
        kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        self._positional = [p.name for p in self._parameters or () if p.kind in kinds]
        self._keyword_only = {
            p.name for p in self._parameters or () if p.kind is inspect.Parameter.KEYWORD_ONLY
        }
        functools.update_wrapper(self, fun, updated=())

    def cache_size(self) -> int:
        """How many signatures are compiled and cached (at most ``cache_size``)."""
        return len(self._cache)

    def clear_cache(self) -> None:
        self._cache.clear()
        self._clear_fast()

    def _clear_fast(self) -> None:
        self._fast.clear()
        self._flatteners.clear()
        self._flat = None

    def _split(self, args: tuple, kwargs: dict) -> tuple[tuple, dict, tuple]:
        """The dynamic positional and keyword arguments, and the static ones as
        ``(where, value)`` pairs: ``where`` is a position or a keyword for a static
        argument passed in the call, and ``(name,)`` for one left to its default (the
        default is then its value in the cache key; the function is called without it)."""
        nargs = len(args)
        static_positions = set()
        defaults: dict[str, Any] = {}
        for i in self.static_argnums:
            if -nargs <= i < nargs:
                static_positions.add(i % nargs)
                continue
            name = self._positional_name(i)
            if name is not None and name in kwargs:
                continue  # passed by keyword: static through static_argnames
            if name is None:
                raise FungradValueError(
                    f"jit: static_argnums={i} is out of range: {self._name} was called with "
                    f"{nargs} positional arguments."
                )
            defaults[name] = self._default(i, name)
        for name in self.static_argnames:
            if name in self._keyword_only and name not in kwargs:
                defaults[name] = self._default(name, name)
        static = tuple((i, args[i]) for i in sorted(static_positions))
        static += tuple((k, kwargs[k]) for k in sorted(kwargs) if k in self.static_argnames)
        if defaults:
            static += tuple(((name,), value) for name, value in sorted(defaults.items()))
        for where, value in static:
            try:
                hash(value)
            except TypeError:
                raise FungradTypeError(
                    f"jit: static {_static_label(where)} of {self._name} must be hashable (it "
                    f"is part of the cache key), but got an unhashable {type(value).__name__}. "
                    "Pass it as a tuple instead of a list, or make it a regular (traced) "
                    "argument."
                ) from None
        dyn_args = tuple(a for i, a in enumerate(args) if i not in static_positions)
        dyn_kwargs = {k: v for k, v in kwargs.items() if k not in self.static_argnames}
        return dyn_args, dyn_kwargs, static

    def _positional_name(self, i: int) -> str | None:
        """The name of positional parameter ``i`` (None if there is none such)."""
        return self._positional[i] if 0 <= i < len(self._positional) else None

    def _static_key(self, given: tuple) -> tuple:
        """The static arguments' part of the cache key: each by its parameter's name however
        it was passed (so ``f(x, 3)``, ``f(x, n=3)`` and ``f(x)`` with a default ``n=3``
        share a trace), and each value by its type and bits too, since ``2``, ``2.0`` and
        ``True`` are equal, as are ``0.0`` and ``-0.0``, but a function may tell them apart
        (and a ``nan`` must find itself)."""
        keyed = []
        for where, value in given:
            if isinstance(where, int):
                where = self._positional_name(where) or where  # or it is in *args
            elif isinstance(where, tuple):
                where = where[0]
            keyed.append((where, value_key(value)))
        if len(keyed) > 1:
            keyed.sort(key=lambda entry: (type(entry[0]) is int, str(entry[0])))
        return tuple(keyed)

    def _default(self, where: int | str, name: str) -> Any:
        """The default of a static parameter left out of a call."""
        param = next(p for p in self._parameters or () if p.name == name)
        if param.default is inspect.Parameter.empty:
            label = f"{where} ('{name}')" if isinstance(where, int) else f"'{name}'"
            raise FungradTypeError(
                f"jit: {self._name} was called without its static argument {label}, which has "
                "no default. Pass it in the call."
            )
        return param.default

    def _call_fun(self, static: tuple, nargs: int) -> Callable[..., Any]:
        positions = {w: v for w, v in static if isinstance(w, int)}
        names = {w: v for w, v in static if isinstance(w, str)}

        def call(dyn_args: tuple, dyn_kwargs: dict) -> Any:
            it = iter(dyn_args)
            full = [positions[i] if i in positions else next(it) for i in range(nargs)]
            return self.fun(*full, **dyn_kwargs, **names)

        return call

    def _entry(self, args: tuple, kwargs: dict) -> tuple[_Entry, list[Any]]:
        dyn_args, dyn_kwargs, given = self._split(args, kwargs)
        static = self._static_key(given) if given else ()
        leaves, in_tree = tree_flatten((dyn_args, dyn_kwargs))
        try:
            key = (in_tree, static, tuple(_signature(x) for x in leaves))
        except FungradTypeError:
            with_paths, _ = tree_flatten_with_path((dyn_args, dyn_kwargs))
            names = _arg_names(self.fun, [p for p, _ in with_paths], given, len(args))
            for name, (_, leaf) in zip(names, with_paths):
                _check_leaf(leaf, name)
            raise
        entry = self._cache.get(key)
        if entry is not None:
            self._cache.move_to_end(key)
            return entry, leaves
        entry = self._trace(args, given, in_tree, leaves, len(args))
        if not any(isinstance(c, Tracer) for c in entry.closed.consts):
            self._cache[key] = entry  # closures over tracers belong to one call only
            if len(self._cache) > self.max_cache_size:
                self._cache.popitem(last=False)
                self._clear_fast()
        return entry, leaves

    def _trace(self, args, static, in_tree, leaves, nargs) -> _Entry:
        self.trace_count += 1
        with_paths, _ = tree_flatten_with_path(tree_unflatten(in_tree, leaves))
        raw = [leaf for _, leaf in with_paths]
        names = _arg_names(self.fun, [p for p, _ in with_paths], static, nargs)
        leaves = [as_array(leaf, lambda i=i: f"jit: {names[i]}") for i, leaf in enumerate(raw)]
        flat_fun = FlatFun("jit", self._call_fun(static, nargs), in_tree, False)
        # Python scalars stay weakly typed, as they are when the compiled code runs.
        avals = [
            get_aval(r if type(r) in (float, int, complex) else x) for r, x in zip(raw, leaves)
        ]
        closed, _ = trace_to_jaxpr(flat_fun, avals, list(names), "jit")
        return _Entry(closed, flat_fun.out_tree)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            # Fast path: positional arrays and builtin containers, no transformation active.
            if (
                self._plain
                and not kwargs
                and type(_state.current) is EvalInterpreter
                and not config.any_checks
            ):
                flat = self._flat
                got = flat.fn(args) if flat is not None and flat.current() else None
                if got is not None:  # the structure of the last call, read by its flattener
                    key, leaves = got
                    found = self._fast.get(key)
                    if found is not None:
                        self._cache.move_to_end(found[1])
                        return found[0](leaves)
                leaves = []
                parts: list[Any] = []
                try:
                    _plain_signature(args, leaves, parts)
                    key = tuple(parts)
                except (_NotPlain, TypeError):  # TypeError: dict keys that do not sort
                    pass
                else:
                    found = self._fast.get(key)
                    if found is not None:
                        # A structure called again: from now on its flattener reads it.
                        flat = self._flatteners.get(key)
                        if flat is None or not flat.current():
                            flat = self._flatteners[key] = _compile_flattener(args)
                        self._flat = flat
                        self._cache.move_to_end(found[1])
                        return found[0](leaves)
                    result, run = self._call(args, kwargs)
                    if run is not None:
                        self._fast[key] = (run, next(reversed(self._cache)))
                    return result
            return self._call(args, kwargs)[0]
        except Exception as exc:
            # The API boundary (see fungrad/traceback_util.py), inline: this is the hot path.
            if not filtering_enabled():
                raise
            raise filtered(exc)  # frames hidden; FUNGRAD_TRACEBACK_FILTERING=off shows all

    def _call(self, args: tuple, kwargs: dict) -> tuple[Any, Callable | None]:
        """Call through the cache; also returns the compiled runner if one was used."""
        entry, leaves = self._entry(args, kwargs)
        if type(current_interpreter()) is EvalInterpreter and not any(
            isinstance(x, Tracer) for x in leaves
        ):
            build = entry.build
            if build is None:
                build = entry.build = compile_unflatten(entry.out_tree)
            fn = _code(entry, self._name).fn

            def run(leaves: list[Any]) -> Any:
                return build(fn(*leaves))

            return run(leaves), run
        closed, traced_consts = closure_convert(entry.closed)
        if traced_consts:  # a closure over this call's tracers: used once
            runner = _Runner(closed, self._name)
        else:
            runner = entry.runner
            if runner is None:
                runner = entry.runner = _Runner(closed, self._name)
            closed = runner.closed
        outs = jit_p.bind(
            *traced_consts, *leaves, call_jaxpr=closed, name=self._name, _runner=runner
        )
        return tree_unflatten(entry.out_tree, outs), None

    def lower(self, *args: Any, **kwargs: Any) -> Lowered:
        """The simplified jaxpr and generated source for these arguments' signature."""
        entry, _ = self._entry(args, kwargs)
        return Lowered(simplify(entry.closed), _code(entry, self._name))

    def __repr__(self) -> str:
        return f"<jit({self._name}): {self.cache_size()} cached signatures>"

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        # On a method, bind like a function does; `self` is then argument 0, so mark it
        # static (static_argnums=0) or register the class as a pytree.
        return self if obj is None else functools.partial(self, obj)


_NUMPY_SCALARS = (np.number, np.bool_)


class _NotPlain(Exception):
    """An argument tree holds something other than arrays, scalars and builtin containers."""


def _plain_signature(x: Any, leaves: list[Any], key: list[Any]) -> None:
    """Collect the leaves of ``x`` (in tree_flatten's order), and describe its structure,
    shapes and dtypes in ``key`` (flat, in pre-order, with each container's type and
    length, so it is unambiguous). Handles only ndarrays, Python scalars, tuples,
    lists, dicts, namedtuples (by class), NumPy scalars and None; raises _NotPlain for
    anything else."""
    t = type(x)
    if t is np.ndarray:
        leaves.append(x)
        key.append(x.shape)
        key.append(x.dtype)
    elif t is tuple or t is list:
        key.append(t)
        key.append(len(x))
        for child in x:
            if type(child) is np.ndarray:  # the ndarray case, inline: most children are
                leaves.append(child)
                key.append(child.shape)
                key.append(child.dtype)
            else:
                _plain_signature(child, leaves, key)
    elif t is dict:
        keys = sorted(x)
        key.append(dict)
        key.append(tuple(keys))
        for k in keys:
            child = x[k]
            if type(child) is np.ndarray:
                leaves.append(child)
                key.append(child.shape)
                key.append(child.dtype)
            else:
                _plain_signature(child, leaves, key)
    elif t is float or t is int or t is bool:
        leaves.append(x)
        key.append(t)
    elif isinstance(x, _NUMPY_SCALARS):
        # A NumPy scalar is strongly typed, as a 0-d array is, and shares its key: a
        # jitted step's 0-d outputs (an optimiser's step count) come back as these.
        leaves.append(x)
        key.append(())
        key.append(x.dtype)
    elif x is None:
        key.append(None)
    elif isinstance(x, tuple) and is_namedtuple_node(t):  # e.g. an optimiser's state
        key.append(t)
        for child in x:
            _plain_signature(child, leaves, key)
    else:
        raise _NotPlain


class _Flattener:
    """A function generated for one argument structure: ``fn(args)`` is ``(key, leaves)``
    exactly as _plain_signature gives them, or None for arguments of another structure
    (or leaves of other kinds). It reads the structure with a few type checks instead
    of _plain_signature's recursion (22 us against 5 for an optimiser's state)."""

    __slots__ = ("fn", "registered")

    def __init__(self, fn: Callable[[tuple], tuple[tuple, list[Any]] | None]):
        self.fn = fn
        self.registered = registered_node_count()

    def current(self) -> bool:
        """False once a pytree node type has been registered since it was made: a
        namedtuple class it reads by its fields may now flatten another way."""
        return self.registered == registered_node_count()


def _compile_flattener(args: tuple) -> _Flattener:
    """The flattener of ``args``'s structure (which _plain_signature accepts)."""
    lines: list[str] = []
    key: list[str] = []
    leaves: list[str] = []
    namespace: dict[str, Any] = {"_nd": np.ndarray, "_scalars": _NUMPY_SCALARS}

    def name(obj: Any) -> str:
        label = f"_k{len(namespace)}"
        namespace[label] = obj
        return label

    def bind(expression: str) -> str:
        var = f"x{len(lines)}"
        lines.append(f"{var} = {expression}")
        return var

    def walk(x: Any, expression: str) -> None:
        t = type(x)
        if t is np.ndarray or (t not in (float, int, bool) and isinstance(x, _NUMPY_SCALARS)):
            # An array or a NumPy scalar, whichever it is in this call: both are keyed by
            # shape and dtype (a scalar's shape is ()), as _plain_signature keys them, so
            # a step count that comes back as a scalar is read by the same flattener.
            var = bind(expression)
            lines.append(
                f"if type({var}) is not _nd and not isinstance({var}, _scalars): return None"
            )
            leaves.append(var)
            key.extend((f"{var}.shape", f"{var}.dtype"))
        elif t is tuple or t is list:
            var = bind(expression)
            lines.append(f"if type({var}) is not {name(t)} or len({var}) != {len(x)}: return None")
            key.extend((name(t), str(len(x))))
            for i, child in enumerate(x):
                walk(child, f"{var}[{i}]")
        elif t is dict:
            keys = sorted(x)
            var = bind(expression)
            lines.append(f"if type({var}) is not dict or len({var}) != {len(x)}: return None")
            key.extend(("dict", name(tuple(keys))))
            for k in keys:  # a missing key raises KeyError: another structure
                walk(x[k], f"{var}[{name(k)}]")
        elif t is float or t is int or t is bool:
            var = bind(expression)
            lines.append(f"if type({var}) is not {name(t)}: return None")
            leaves.append(var)
            key.append(name(t))
        elif x is None:
            lines.append(f"if {expression} is not None: return None")
            key.append("None")
        elif isinstance(x, tuple) and is_namedtuple_node(t):
            var = bind(expression)
            lines.append(f"if type({var}) is not {name(t)}: return None")
            key.append(name(t))
            for i, child in enumerate(x):
                walk(child, f"{var}[{i}]")
        else:
            raise _NotPlain

    walk(args, "o")
    body = "\n".join(f"        {line}" for line in lines)
    source = (
        "def flatten(o):\n    try:\n"
        f"{body}\n"
        f"        return ({', '.join(key)},), [{', '.join(leaves)}]\n"
        "    except (KeyError, IndexError):\n        return None\n"
    )
    exec(compile(source, "<fungrad.jit flattener>", "exec"), namespace)
    return _Flattener(namespace["flatten"])


def _static_label(where: int | str | tuple[str]) -> str:
    if isinstance(where, int):
        return f"argument {where}"
    if isinstance(where, str):
        return f"argument {where!r}"
    return f"argument '{where[0]}' (its default value)"


def _parameters(fun: Callable) -> list[inspect.Parameter] | None:
    try:
        return list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):
        return None


def _check_leaf(leaf: Any, name: str) -> None:
    """Raise the error for an argument leaf that is not an array, naming it."""
    try:
        as_array(leaf, lambda: f"jit: {name}")
    except FungradTypeError:
        raise FungradTypeError(
            not_an_array_message(f"jit: {name}", leaf)
            + " jit can also take a hashable value as a static argument (static_argnums or "
            "static_argnames): its value is then part of the cache key."
        ) from None


def _signature(x: Any) -> Any:
    t = type(x)
    if t is np.ndarray:
        return (x.shape, x.dtype, False)
    if isinstance(x, Tracer):
        aval = x.aval
        return (aval.shape, aval.dtype, aval.weak_type)
    if t in (float, int, bool, complex):
        return t
    if isinstance(x, np.generic):
        return ((), x.dtype, False)
    return (t, get_aval(as_array(x, lambda: f"jit: a {t.__name__} argument")))


def _arg_names(fun: Callable, paths: list[tuple], static: tuple, nargs: int) -> ArgNames:
    """The names of the dynamic leaves, ``paths`` being in ``(dyn_args, dyn_kwargs)``:
    the static positional arguments are left out of the numbering."""
    static_positions = {where for where, _ in static if isinstance(where, int)}
    dynamic = [i for i in range(nargs) if i not in static_positions]
    return ArgNames(fun, paths, dynamic, keywords=True)


def jit(
    fun: Callable | None = None,
    *,
    static_argnums: int | Sequence[int] = (),
    static_argnames: str | Sequence[str] = (),
    cache_size: int = 64,
) -> Any:
    """Compile ``fun``: trace it once per input signature and run generated NumPy code.

    ``static_argnums``/``static_argnames`` name arguments whose *values* are part of
    the signature (they must be hashable): Python control flow may depend on them.
    Every other argument is traced, so ``if x > 0`` on one raises an error saying
    which argument's value was needed. At most ``cache_size`` signatures are kept.
    ``jit(f).lower(*args).as_text()`` shows the generated code.

    >>> import fungrad, fungrad.numpy as fnp
    >>> f = fungrad.jit(lambda x: fnp.sum(fnp.tanh(x) ** 2))
    >>> round(float(f(fnp.ones(3))), 6)
    1.740077
    >>> f.trace_count, f(fnp.zeros(3)).item(), f.trace_count
    (1, 0.0, 1)
    """
    if fun is None:
        return functools.partial(
            jit,
            static_argnums=static_argnums,
            static_argnames=static_argnames,
            cache_size=cache_size,
        )
    if not callable(fun):
        raise FungradTypeError(f"jit expects a callable, got a {type(fun).__name__}")
    nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
    names = (static_argnames,) if isinstance(static_argnames, str) else tuple(static_argnames)
    nums, names = _static_by_position_and_name(fun, nums, names)
    return JittedFunction(fun, nums, names, cache_size)


def _static_by_position_and_name(
    fun: Callable, nums: tuple[int, ...], names: tuple[str, ...]
) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """A static argument is static however it is passed: map names to positions and
    positions to names through the signature, as JAX does."""
    try:
        params = inspect.signature(fun).parameters.values()
    except (TypeError, ValueError):
        return nums, names
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    positional = [p.name for p in params if p.kind in kinds]
    all_nums = dict.fromkeys(nums)
    all_nums.update(dict.fromkeys(positional.index(n) for n in names if n in positional))
    all_names = dict.fromkeys(names)
    all_names.update(dict.fromkeys(positional[i] for i in nums if 0 <= i < len(positional)))
    return tuple(all_nums), tuple(all_names)


# ---------------------------------------------------------------------------------------
# Custom derivatives (fungrad/primitives/custom.py): the simplifier inlines their calls;
# a program compiled as it is calls the function's program like any other call.

register_lowering(custom_jvp_call_p, call_lowering)
register_lowering(custom_vjp_call_p, call_lowering)
