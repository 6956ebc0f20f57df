"""Custom derivative rules, as in JAX: ``custom_jvp``, ``custom_vjp`` and ``closure_convert``.

A function decorated with :class:`custom_jvp` or :class:`custom_vjp` computes what
it computes, but the derivative transformations use the rule given to it instead of
differentiating its body: a numerically stable derivative, a derivative where
autodiff would give ``nan``, a clipped or otherwise edited gradient, the implicit
derivative of a solver.

The design, in brief (the primitives are in fungrad/primitives/custom.py):

- **Eagerly** (no transformation active) the function is simply called.
- **Under a transformation** the function is traced into a program once per input
  signature (pytree structure, shapes, dtypes, the values of ``nondiff_argnums``),
  as ``jit`` does, and the call is one primitive, ``custom_jvp_call`` or
  ``custom_vjp_call``, carrying the program (``call_jaxpr``) and the user's rule as a
  flat callable. ``make_jaxpr`` shows the call; ``jit`` inlines it; ``vmap``
  batches the program and wraps the rule to run on the batch; the jvp rule calls the
  user's rule on the primals and tangents instead of differentiating the program.
- **custom_vjp in reverse mode**: the jvp rule runs ``fwd`` now (the output and the
  residuals are computed while linearizing) and returns as tangent the primitive
  ``custom_lin``, linear in the tangents, whose transpose rule calls ``bwd``. So
  ``grad``, ``vjp``, ``jacrev`` and ``linearize`` + transposition reach ``bwd``, and
  forward mode (``jvp``, ``jacfwd``) raises an error, as in JAX.
- **Closures.** Tracing stages every operation that touches a value of an enclosing
  transformation the function closes over, so those values themselves (not values
  computed from them) become the leading operands of the call (``num_consts``): every
  interpreter sees them. Differentiating with respect to one is an error (the rule
  speaks of the arguments only). When a rule runs, wherever the call has been moved
  to (into a batch, under a later ``grad`` of a ``jit``), it runs under a small
  interpreter that replaces each of those values by the operand's value at the level
  where the rule runs, so a rule may close over the same values as its function.
- **nondiff_argnums** are passed to the function and the rule as they are. For
  ``custom_jvp`` a traced value there is allowed and gets no derivative (as if
  wrapped in ``stop_gradient``); for ``custom_vjp`` it is an error, as in JAX: pass
  arrays as regular arguments (``bwd`` may return ``None`` for them).
- The rules' results are checked against the function's output (pytree structure,
  shapes, dtypes), and errors name the rule, the function and the mismatch.
"""

from __future__ import annotations

import functools
import inspect
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fungrad.arguments import FlatFun, as_array, flatten_args, output_name, partial_argnums
from fungrad.core import (
    ClosedJaxpr,
    EvalInterpreter,
    Interpreter,
    Jaxpr,
    Primitive,
    ShapedArray,
    Tracer,
    Var,
    Zero,
    _state,
    activate,
    add,
    escaped_tracer_error,
    eval_jaxpr,
    get_aval,
    is_array_like,
    zeros_for,
)
from fungrad.dtypes import is_differentiable
from fungrad.errors import ConcretizationError, FungradTypeError, FungradValueError
from fungrad.interpreters.partial_eval import StagingInterpreter, StagingTracer
from fungrad.jit.simplify import value_key
from fungrad.primitives.call import closure_convert as _closure_convert_jaxpr
from fungrad.primitives.custom import custom_jvp_call_p, custom_vjp_call_p
from fungrad.primitives.elementwise import stop_gradient
from fungrad.primitives.structural import convert_element_type
from fungrad.tree_util import (
    keystr,
    structure_mismatch_message,
    tree_flatten,
    tree_flatten_with_path,
    tree_leaves,
    tree_map,
    tree_unflatten,
)

__all__ = ["SymbolicZero", "closure_convert", "custom_jvp", "custom_vjp"]


class SymbolicZero:
    """A tangent known to be zero, given to a ``custom_jvp`` rule defined with
    ``defjvp(rule, symbolic_zeros=True)`` in place of a materialised array of zeros.

    It has the ``shape``, ``dtype`` and ``aval`` of the tangent it stands for, and
    ``zeros()`` builds that array; it supports no arithmetic, so a rule tests for it
    (``isinstance(t, SymbolicZero)``) and skips the work. A rule may also return one
    (any rule, with or without ``symbolic_zeros``) as a tangent output that is zero.

    >>> import numpy as np
    >>> from fungrad.core import ShapedArray
    >>> z = SymbolicZero(ShapedArray((2,), np.dtype(np.float32)))
    >>> z, z.shape, z.dtype, z.zeros()
    (SymbolicZero(f32[2]), (2,), dtype('float32'), array([0., 0.], dtype=float32))
    """

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    @property
    def shape(self) -> tuple[int, ...]:
        return self.aval.shape

    @property
    def dtype(self) -> np.dtype:
        return self.aval.dtype

    def zeros(self) -> np.ndarray:
        """The materialised zero (``float0`` for the tangent of an integer value)."""
        return zeros_for(self.aval)

    def __repr__(self) -> str:
        return f"SymbolicZero({self.aval.str_short()})"


# ---------------------------------------------------------------------------------------
# Tracing the function: closed-over tracers become operands


class _ClosureStaging(StagingInterpreter):
    """Stages every operation on a value of another transformation that the traced
    function closes over, so that the value itself, not something computed from it,
    becomes a constant of the program (and, by closure conversion, an operand of the
    call): the very object that the rules close over too."""

    __slots__ = ("closed_over",)

    def __init__(self, parent: Interpreter, transformation: str):
        super().__init__(parent, transformation)
        self.closed_over: dict[int, StagingTracer] = {}

    def process_primitive(self, prim: Primitive, args: Sequence[Any], params: dict) -> Any:
        for x in args:
            if isinstance(x, Tracer) and not (type(x) is StagingTracer and x.interpreter is self):
                args = [self._as_staged(a) for a in args]
                break
        return super().process_primitive(prim, args, params)

    def _as_staged(self, x: Any) -> Any:
        if not isinstance(x, Tracer) or (type(x) is StagingTracer and x.interpreter is self):
            return x
        tracer = self.closed_over.get(id(x))
        if tracer is None:
            var = self.const_index.get(id(x))
            if var is None:
                var = self.const_index[id(x)] = Var(x.aval.strip_weak_type())
                self.constvars.append(var)
                self.const_values.append(x)
            tracer = StagingTracer(self, var, "a value the function closes over")
            self.closed_over[id(x)] = tracer
        return tracer


def _trace(kind: str, name: str, flat_fun: FlatFun, leaves: Sequence[Any], names) -> ClosedJaxpr:
    interp = _ClosureStaging(_state.current, kind)
    tracers = [interp.new_arg(get_aval(x), names[i]) for i, x in enumerate(leaves)]
    try:
        with activate(interp):
            outs = flat_fun(*tracers)
    except ConcretizationError as err:
        raise ConcretizationError(
            f"{err} (Under a transformation, {kind} traces `{name}` into a program, as jit "
            "does, so its Python control flow cannot depend on array values; mark an argument "
            "that it depends on in nondiff_argnums. The rule itself runs on concrete values "
            "under grad and jvp.)"
        ) from None
    return interp.build(tracers, outs)


# ---------------------------------------------------------------------------------------
# Running a rule where the call is: closed-over values replaced


_MISSING = object()


class _Substituting(Interpreter):
    """Runs a user's rule with each value its function closes over (a call's leading
    operand, as the function was traced) replaced by that operand's value here: the
    call may have been moved since (batched by vmap; re-traced by ``grad`` of a
    ``jit``), and the rule, a Python closure, still refers to the original value."""

    __slots__ = ("replacements", "reachable", "name")

    def __init__(
        self, parent: Interpreter, kind: str, name: str, originals: Sequence, values: Sequence
    ):
        super().__init__(parent, kind)
        self.name = name
        self.replacements = {id(o): v for o, v in zip(originals, values)}
        reachable = set()
        interp: Interpreter | None = parent
        while interp is not None:
            reachable.add(id(interp))
            interp = interp.parent
        self.reachable = reachable

    def replace(self, x: Any) -> Any:
        if not isinstance(x, Tracer):
            return x
        found = self.replacements.get(id(x), _MISSING)
        if found is not _MISSING:
            return found
        if id(x.interpreter) not in self.reachable:
            if x.interpreter.closed:
                raise escaped_tracer_error(x)
            raise FungradTypeError(
                f"The {self.transformation} rule of `{self.name}` uses a traced value "
                f"({x.aval.str_short()}, from `{x.interpreter.transformation}`) that it "
                f"closes over but that `{self.name}` itself does not use, so the call does "
                f"not carry it. Pass the value to `{self.name}` as an argument."
            )
        return x

    def process_primitive(self, prim: Primitive, args: Sequence[Any], params: dict) -> Any:
        return self.forward_to_parent(prim, [self.replace(x) for x in args], params)


def _run_rule(
    kind: str, name: str, rule: Callable, args: Sequence[Any], originals: Sequence, values
) -> tuple[Any, Callable[[Any], Any]]:
    """``rule(*args)`` under the substitution of ``originals`` by ``values``; also
    returns the function that applies the substitution to a leaf of the result. (With
    nothing to substitute, the interpreter still catches a rule that uses a traced
    value the call does not carry, which would otherwise be captured where it has no
    meaning.)"""
    interp = _Substituting(_state.current, kind, name, originals, values)
    with activate(interp):
        out = rule(*args)
    return out, interp.replace


# ---------------------------------------------------------------------------------------
# What the two decorators share


def _nondiff_argnums(kind: str, nondiff_argnums: int | Sequence[int]) -> tuple[int, ...]:
    nums = (nondiff_argnums,) if isinstance(nondiff_argnums, int) else tuple(nondiff_argnums)
    if not all(isinstance(i, int) for i in nums):
        raise FungradTypeError(
            f"{kind}: nondiff_argnums must be an int or a tuple of ints, got {nondiff_argnums!r}"
        )
    return nums


def _positional(kind: str, custom: Any, args: tuple, kwargs: dict) -> tuple:
    """The call's arguments, all positional: keyword arguments placed and defaults
    filled in by the function's signature (as JAX does), so that the rule sees them."""
    fun = custom.fun
    if custom._signature is None:
        try:
            custom._signature = inspect.signature(fun)
        except (TypeError, ValueError):
            custom._signature = False
    if custom._signature is False:
        if kwargs:
            raise FungradTypeError(
                f"{kind} function `{_name(fun)}` has no signature to place keyword arguments "
                "by; pass them positionally."
            )
        return args
    try:
        bound = custom._signature.bind(*args, **kwargs)
    except TypeError as err:
        raise FungradTypeError(f"{kind} function `{_name(fun)}`: {err}") from None
    bound.apply_defaults()
    if bound.kwargs:
        raise FungradTypeError(
            f"{kind} function `{_name(fun)}`: keyword arguments {sorted(bound.kwargs)} could "
            "not be given positions (keyword-only parameters are not supported); pass them "
            "positionally."
        )
    return tuple(bound.args)


def _name(fun: Any) -> str:
    return getattr(fun, "__name__", None) or type(fun).__name__


def _describe(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of length {len(value)}"
    if is_array_like(value):
        return f"an array of type {get_aval(value).str_short()}"
    return f"a {type(value).__name__}"


def _conform(value: Any, aval: ShapedArray, what: Callable[[], str], expected: str) -> Any:
    """``value`` as a leaf of type ``aval``: the same shape, and the same dtype, except
    that a Python scalar takes the dtype (as it does in arithmetic)."""
    value = as_array(value, what)
    found = get_aval(value)
    if found.shape == aval.shape and found.dtype == aval.dtype:
        return value
    if found.shape == aval.shape and found.weak_type and aval.dtype.kind in "fc":
        return convert_element_type(value, aval.dtype)
    raise FungradTypeError(
        f"{what()} has type {found.str_short()}, but {expected} {aval.str_short()}: the "
        "shapes and dtypes must match."
    )


def _where(tree: Any, i: int) -> str:
    """Where leaf ``i`` of ``tree`` is, for an error message."""
    path = tree_flatten_with_path(tree)[0][i][0]
    return f"path {keystr(path)}" if path else "the root"


class _Call:
    """One call of a custom function under a transformation: its differentiable
    arguments flattened, its function traced (or found traced), its closure converted."""

    def __init__(self, kind: str, custom: Any, args: tuple, nondiff: list[Any]):
        self.kind = kind
        self.name = custom.__name__
        positions = custom.nondiff_argnums
        self.nondiff = nondiff
        self.diff_argnums = tuple(i for i in range(len(args)) if i not in positions)
        full = list(args)
        for i, v in zip(positions, nondiff):
            full[i] = v
        self.args = tuple(full)
        leaves, self.in_tree, names = flatten_args(
            kind, custom.fun, [full[i] for i in self.diff_argnums], self.diff_argnums
        )
        self.leaves = leaves
        self.in_avals = [get_aval(x) for x in leaves]
        key = self._key(custom, nondiff)
        found = custom._traces.get(key) if key is not None else None
        if found is None:
            fun = partial_argnums(custom.fun, self.args, self.diff_argnums, {})
            flat_fun = FlatFun(kind, fun, self.in_tree, False)
            closed = _trace(kind, self.name, flat_fun, leaves, names)
            closed, consts = _closure_convert_jaxpr(closed)
            found = (closed, consts, flat_fun.out_tree)
            if key is not None and not consts:
                custom._traces[key] = found
                if len(custom._traces) > _CACHE_SIZE:
                    custom._traces.popitem(last=False)
        else:
            custom._traces.move_to_end(key)
        self.closed, self.consts, self.out_tree = found
        self.out_avals = [a.strip_weak_type() for a in self.closed.out_avals]

    def _key(self, custom: Any, nondiff: list[Any]) -> Any:
        if any(isinstance(x, Tracer) for arg in nondiff for x in tree_leaves(arg)):
            return None
        try:
            key = (self.in_tree, tuple(self.in_avals), tuple(value_key(v) for v in nondiff))
            hash(key)
        except (TypeError, FungradTypeError):
            return None  # an unhashable nondiff argument: trace every time
        return key

    def with_nondiff(self, diff_args: Sequence[Any]) -> list[Any]:
        """All the arguments, in order, from the differentiable ones."""
        full = list(self.args)
        for i, v in zip(self.diff_argnums, diff_args):
            full[i] = v
        return full

    def bind(self, prim: Primitive, **params: Any) -> Any:
        outs = prim.bind(
            *self.consts,
            *self.leaves,
            call_jaxpr=self.closed,
            num_consts=len(self.consts),
            name=self.name,
            **params,
        )
        return tree_unflatten(self.out_tree, outs)

    def check_outputs(self, out: Any, rule: str, replace: Callable) -> list[Any]:
        """The rule's primal output, flat, checked against the function's."""
        leaves, tree = tree_flatten(out)
        if tree != self.out_tree:
            raise FungradTypeError(
                structure_mismatch_message(
                    f"The {rule} of `{self.name}` must return an output with the pytree "
                    f"structure of `{self.name}`'s output",
                    f"{self.name}'s output",
                    self.out_tree,
                    "the rule's output",
                    tree,
                )
            )
        return [
            _conform(
                replace(x),
                aval,
                lambda i=i: (
                    f"The {rule} of `{self.name}` returned a primal output at "
                    f"{_where(out, i)} that"
                ),
                f"`{self.name}` returns",
            )
            for i, (x, aval) in enumerate(zip(leaves, self.out_avals))
        ]


_CACHE_SIZE = 64


# ---------------------------------------------------------------------------------------
# custom_jvp


class custom_jvp:
    """A function with a custom forward-mode derivative rule, which reverse mode uses
    too (by linearizing and transposing it, as for any other function).

    Decorate the function, then give the rule with :meth:`defjvp` (or :meth:`defjvps`).
    ``nondiff_argnums`` lists arguments that are not differentiated: they are passed
    to the rule first, as they are (functions, shapes, flags; a traced array there is
    allowed and gets no derivative). See docs/custom_derivatives.md.

    >>> import fungrad, fungrad.numpy as fnp
    >>> @fungrad.custom_jvp
    ... def log1pexp(x):
    ...     return fnp.log1p(fnp.exp(x))
    >>> @log1pexp.defjvp
    ... def log1pexp_jvp(primals, tangents):
    ...     (x,), (t,) = primals, tangents
    ...     return log1pexp(x), t * (1.0 - 1.0 / (1.0 + fnp.exp(x)))
    >>> float(fungrad.grad(log1pexp)(100.0))
    1.0
    """

    fun: Callable[..., Any]
    nondiff_argnums: tuple[int, ...]
    jvp: Callable[..., Any] | None
    symbolic_zeros: bool

    def __init__(self, fun: Callable[..., Any], nondiff_argnums: int | Sequence[int] = ()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = _nondiff_argnums("custom_jvp", nondiff_argnums)
        self.jvp = None
        self.symbolic_zeros = False
        self._traces: OrderedDict[Any, Any] = OrderedDict()
        self._signature: Any = None

    def defjvp(
        self, jvp: Callable[..., tuple[Any, Any]], symbolic_zeros: bool = False
    ) -> Callable[..., tuple[Any, Any]]:
        """Define the rule: ``jvp(*nondiff_args, primals, tangents) -> (primal_out,
        tangent_out)``, where ``primals`` and ``tangents`` are tuples of the other
        arguments and of their tangents (pytrees like them), ``primal_out`` is what
        the function returns, and ``tangent_out`` its tangent (same structure, shapes
        and dtypes). Zero tangents are arrays of zeros, or, with
        ``symbolic_zeros=True``, :class:`SymbolicZero` objects. Returns ``jvp``, so
        this can be used as a decorator."""
        self.jvp = jvp
        self.symbolic_zeros = symbolic_zeros
        return jvp

    def defjvps(self, *jvps: Callable[..., Any] | None) -> None:
        """Define the rule from one function per argument, ``jvp_i(t_i, primal_out,
        *primals)``, giving the output tangent contributed by argument i's tangent;
        the contributions are summed. ``None`` marks an argument with no derivative,
        and an argument whose tangent is zero is skipped."""
        if self.nondiff_argnums:
            raise FungradTypeError(
                f"custom_jvp function `{self.__name__}`: defjvps cannot be used with "
                "nondiff_argnums; use defjvp."
            )

        def jvp(primals: tuple, tangents: tuple) -> tuple[Any, Any]:
            if len(jvps) != len(primals):
                raise FungradTypeError(
                    f"custom_jvp function `{self.__name__}`: defjvps was given {len(jvps)} "
                    f"rules, but the function was called with {len(primals)} arguments; give "
                    "one per argument (None for an argument without a derivative)."
                )
            primal_out = self(*primals)
            contributions = []
            for rule, t in zip(jvps, tangents):
                leaves = tree_leaves(t)
                if rule is None or all(isinstance(x, SymbolicZero) for x in leaves):
                    continue
                t = tree_map(lambda x: x.zeros() if isinstance(x, SymbolicZero) else x, t)
                contributions.append(rule(t, primal_out, *primals))
            if not contributions:
                return primal_out, tree_map(lambda x: SymbolicZero(get_aval(x)), primal_out)
            return primal_out, tree_map(lambda *ts: functools.reduce(add, ts), *contributions)

        jvp.__name__ = jvp.__qualname__ = f"{self.__name__}_jvps"
        self.defjvp(jvp, symbolic_zeros=True)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.jvp is None:
            raise FungradTypeError(
                f"No JVP rule defined for the custom_jvp function `{self.__name__}`: define "
                f"one with `{self.__name__}.defjvp(rule)` (or defjvps) before calling it."
            )
        if type(_state.current) is EvalInterpreter:
            return self.fun(*args, **kwargs)
        args = _positional("custom_jvp", self, args, kwargs)
        _check_nondiff_positions("custom_jvp", self, args)
        # A traced value among nondiff_argnums gets no derivative, as in JAX.
        nondiff = [
            tree_map(lambda x: stop_gradient(x) if isinstance(x, Tracer) else x, args[i])
            for i in self.nondiff_argnums
        ]
        call = _Call("custom_jvp", self, args, nondiff)
        return call.bind(custom_jvp_call_p, jvp=_JVPRule(self, call))


class _JVPRule:
    """The user's jvp rule as ``custom_jvp_call`` calls it: flat lists, symbolic zeros."""

    def __init__(self, custom: custom_jvp, call: _Call):
        self.custom = custom
        self.call = call

    def __repr__(self) -> str:
        return _name(self.custom.jvp)

    def __call__(self, primals: Sequence[Any], tangents: Sequence[Any]):
        call, custom = self.call, self.custom
        k = len(call.consts)
        ts = [self._tangent_in(t) for t in tangents[k:]]
        primals_in = tuple(tree_unflatten(call.in_tree, primals[k:]))
        tangents_in = tuple(tree_unflatten(call.in_tree, ts))
        rule = "custom_jvp rule"
        result, replace = _run_rule(
            "custom_jvp",
            call.name,
            custom.jvp,
            (*call.nondiff, primals_in, tangents_in),
            call.consts,
            primals[:k],
        )
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            raise FungradTypeError(
                f"The {rule} of `{call.name}` must return a pair (primal_out, tangent_out), "
                f"but it returned {_describe(result)}."
            )
        primal_out, tangent_out = result
        outs = call.check_outputs(primal_out, rule, replace)
        t_leaves, t_tree = tree_flatten(tangent_out)
        if t_tree != call.out_tree:
            raise FungradTypeError(
                structure_mismatch_message(
                    f"The {rule} of `{call.name}` must return a tangent output with the pytree "
                    "structure of the primal output",
                    "primal output",
                    call.out_tree,
                    "tangent output",
                    t_tree,
                )
            )
        tangents_out = []
        for i, (t, aval) in enumerate(zip(t_leaves, call.out_avals)):
            if isinstance(t, (SymbolicZero, Zero)) or not is_differentiable(aval.dtype):
                tangents_out.append(Zero(aval))
                continue
            tangents_out.append(
                _conform(
                    replace(t),
                    aval,
                    lambda i=i: (
                        f"The {rule} of `{call.name}` returned a tangent output at "
                        f"{_where(tangent_out, i)} that"
                    ),
                    "the primal output there is",
                )
            )
        return outs, tangents_out

    def _tangent_in(self, t: Any) -> Any:
        if type(t) is not Zero:
            return t
        return SymbolicZero(t.aval) if self.custom.symbolic_zeros else zeros_for(t.aval)


def _check_nondiff_positions(kind: str, custom: Any, args: tuple) -> None:
    for i in custom.nondiff_argnums:
        if not 0 <= i < len(args):
            raise FungradValueError(
                f"{kind} function `{custom.__name__}`: nondiff_argnums={custom.nondiff_argnums} "
                f"names argument {i}, but the function was called with {len(args)} positional "
                "arguments (nondiff_argnums must be non-negative positions)."
            )


# ---------------------------------------------------------------------------------------
# custom_vjp


class custom_vjp:
    """A function with a custom reverse-mode derivative rule: ``fwd`` computes the
    output and the residuals it keeps, ``bwd`` maps residuals and an output cotangent
    to the arguments' cotangents. Give them with :meth:`defvjp`. Forward mode
    (``jvp``, ``jacfwd``) of such a function is an error, as in JAX; use
    :class:`custom_jvp` for a rule that serves both modes.

    ``nondiff_argnums`` lists arguments that are not differentiated and are passed to
    ``bwd`` first, as they are; they must not be traced arrays (pass arrays as
    regular arguments, and return ``None`` as their cotangent). See
    docs/custom_derivatives.md.

    >>> import fungrad, fungrad.numpy as fnp
    >>> @fungrad.custom_vjp
    ... def clip_gradient(x):
    ...     return x
    >>> def clip_fwd(x):
    ...     return x, None
    >>> def clip_bwd(residuals, g):
    ...     return (fnp.clip(g, -1.0, 1.0),)
    >>> clip_gradient.defvjp(clip_fwd, clip_bwd)
    >>> float(fungrad.grad(lambda x: 3.0 * clip_gradient(x))(2.0))
    1.0
    """

    fun: Callable[..., Any]
    nondiff_argnums: tuple[int, ...]
    fwd: Callable[..., Any] | None
    bwd: Callable[..., Any] | None

    def __init__(self, fun: Callable[..., Any], nondiff_argnums: int | Sequence[int] = ()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = _nondiff_argnums("custom_vjp", nondiff_argnums)
        self.fwd = None
        self.bwd = None
        self._traces: OrderedDict[Any, Any] = OrderedDict()
        self._signature: Any = None

    def defvjp(self, fwd: Callable[..., tuple[Any, Any]], bwd: Callable[..., Any]) -> None:
        """Define the rule. ``fwd(*args) -> (output, residuals)`` takes the function's
        arguments (all of them, in order); ``residuals`` is any pytree. Then
        ``bwd(*nondiff_args, residuals, cotangent)`` returns a tuple with one
        cotangent per differentiable argument (a pytree like the argument, or
        ``None`` for a zero cotangent)."""
        self.fwd = fwd
        self.bwd = bwd

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.fwd is None or self.bwd is None:
            raise FungradTypeError(
                f"No VJP rule defined for the custom_vjp function `{self.__name__}`: define "
                f"one with `{self.__name__}.defvjp(fwd, bwd)` before calling it."
            )
        if type(_state.current) is EvalInterpreter:
            return self.fun(*args, **kwargs)
        args = _positional("custom_vjp", self, args, kwargs)
        _check_nondiff_positions("custom_vjp", self, args)
        self._refuse_traced_nondiff(args)
        call = _Call("custom_vjp", self, args, [args[i] for i in self.nondiff_argnums])
        return call.bind(custom_vjp_call_p, fwd=_VJPForward(self, call))

    def _refuse_traced_nondiff(self, args: tuple) -> None:
        for i in self.nondiff_argnums:
            for path, leaf in tree_flatten_with_path(args[i])[0]:
                if isinstance(leaf, Tracer):
                    params = list(self._signature.parameters) if self._signature else []
                    what = f"argument {i}" + (f" ('{params[i]}')" if i < len(params) else "")
                    at = output_name(path).removeprefix("the output")
                    raise FungradTypeError(
                        f"custom_vjp function `{self.__name__}`: {what} is listed in "
                        f"nondiff_argnums, but it is a traced array{at} "
                        f"({leaf.aval.str_short()}, under `{leaf.interpreter.transformation}`). "
                        "nondiff_argnums is for values that are not arrays (functions, shapes, "
                        "flags), which bwd receives as they are. Pass an array as a regular "
                        "argument instead, and return None as its cotangent from bwd; to pass "
                        "a function that closes over traced arrays, convert it with "
                        "fungrad.closure_convert and pass its constants as regular arguments."
                    )


class _VJPForward:
    """The user's ``fwd`` as ``custom_vjp_call`` calls it: flat primals in; the flat
    output, the residuals that are arrays, and the matching ``bwd`` out."""

    def __init__(self, custom: custom_vjp, call: _Call):
        self.custom = custom
        self.call = call

    def __repr__(self) -> str:
        return _name(self.custom.fwd)

    def __call__(self, *primals: Any):
        call = self.call
        k = len(call.consts)
        args = call.with_nondiff(tree_unflatten(call.in_tree, primals[k:]))
        rule = "custom_vjp fwd rule"
        result, replace = _run_rule(
            "custom_vjp", call.name, self.custom.fwd, args, call.consts, primals[:k]
        )
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            raise FungradTypeError(
                f"The {rule} of `{call.name}` must return a pair (output, residuals), but it "
                f"returned {_describe(result)}."
            )
        out, residuals = result
        outs = call.check_outputs(out, rule, replace)
        res_leaves, res_tree = tree_flatten(residuals)
        res_leaves = [replace(x) for x in res_leaves]
        arrays = [i for i, x in enumerate(res_leaves) if is_array_like(x)]
        kept = [None if i in arrays else x for i, x in enumerate(res_leaves)]
        bwd = _VJPBackward(self.custom, call, res_tree, kept, arrays)
        return outs, [res_leaves[i] for i in arrays] + list(primals[:k]), bwd


class _VJPBackward:
    """The user's ``bwd`` for one call of ``fwd``: residuals (then the closed-over
    values) and the output cotangents in, flat and checked argument cotangents out."""

    def __init__(self, custom: custom_vjp, call: _Call, res_tree, kept: list, arrays: list):
        self.custom = custom
        self.call = call
        self.res_tree = res_tree
        self.kept = kept
        self.arrays = arrays

    def __repr__(self) -> str:
        return _name(self.custom.bwd)

    def __call__(self, residuals: Sequence[Any], cts: Sequence[Any]) -> list[Any]:
        call = self.call
        n = len(self.arrays)
        leaves = list(self.kept)
        for i, v in zip(self.arrays, residuals[:n]):
            leaves[i] = v
        res = tree_unflatten(self.res_tree, leaves)
        cts = [zeros_for(a) if type(ct) is Zero else ct for ct, a in zip(cts, call.out_avals)]
        ct = tree_unflatten(call.out_tree, cts)
        result, _ = _run_rule(
            "custom_vjp",
            call.name,
            self.custom.bwd,
            (*call.nondiff, res, ct),
            call.consts,
            residuals[n:],
        )
        arg_trees = call.in_tree.children()
        if not isinstance(result, (tuple, list)) or len(result) != len(arg_trees):
            hint = " (for one argument, `return (g,)`)" if len(arg_trees) == 1 else ""
            raise FungradTypeError(
                f"The custom_vjp bwd rule of `{call.name}` must return a tuple with one "
                f"cotangent per differentiable argument ({len(arg_trees)}){hint}, but it "
                f"returned {_describe(result)}."
            )
        flat: list[Any] = [None] * len(call.consts)
        avals = iter(call.in_avals)
        for position, arg_tree, ct_arg in zip(call.diff_argnums, arg_trees, result):
            arg_avals = [next(avals) for _ in range(arg_tree.num_leaves)]
            if ct_arg is None:
                flat += [None] * len(arg_avals)
                continue
            ct_leaves, ct_tree = tree_flatten(ct_arg, is_leaf=lambda x: x is None)
            if ct_tree != arg_tree:
                raise FungradTypeError(
                    structure_mismatch_message(
                        f"The custom_vjp bwd rule of `{call.name}` must return, for argument "
                        f"{position}, a cotangent with the pytree structure of the argument "
                        "(or None)",
                        "argument",
                        arg_tree,
                        "cotangent",
                        ct_tree,
                    )
                )
            for j, (leaf, aval) in enumerate(zip(ct_leaves, arg_avals)):
                if leaf is None or not is_differentiable(aval.dtype):
                    flat.append(None)
                    continue
                flat.append(
                    _conform(
                        leaf,
                        aval.strip_weak_type(),
                        lambda j=j, p=position, many=arg_tree.num_leaves > 1: (
                            f"The custom_vjp bwd "
                            f"rule of `{call.name}` returned a cotangent for argument {p}"
                            + (f" at leaf {j}" if many else "")
                            + " that"
                        ),
                        "the argument is",
                    )
                )
        return flat


# ---------------------------------------------------------------------------------------
# closure_convert


def closure_convert(fun: Callable[..., Any], *example_args: Any) -> tuple[Callable, list[Any]]:
    """``fun`` with the values it closes over made explicit, as JAX's ``closure_convert``.

    Traces ``fun`` on ``example_args`` and returns ``(converted, consts)``:
    ``converted(*args, *consts)`` computes ``fun(*args)``, and ``consts`` are the
    values it closes over that a derivative may flow through (traced values of
    enclosing transformations, and floating-point arrays). Use it to give a custom
    rule a function argument (``nondiff_argnums``) that closes over arrays: pass the
    converted function as the non-differentiable argument and its ``consts`` as
    regular ones, and return their cotangents from ``bwd``. ``converted`` is
    specialised to the shapes and dtypes of ``example_args``.

    >>> import numpy as np, fungrad
    >>> w = np.array([1.0, 2.0])
    >>> converted, consts = fungrad.closure_convert(lambda x: x * w, np.ones(2))
    >>> [c.tolist() for c in consts], converted(np.array([3.0, 4.0]), *consts).tolist()
    ([[1.0, 2.0]], [3.0, 8.0])
    """
    argnums = tuple(range(len(example_args)))
    leaves, in_tree, names = flatten_args("closure_convert", fun, example_args, argnums)
    flat_fun = FlatFun("closure_convert", fun, in_tree, False)
    closed = _trace("closure_convert", _name(fun), flat_fun, leaves, names)
    out_tree = flat_fun.out_tree
    jaxpr = closed.jaxpr
    hoisted = [
        i
        for i, c in enumerate(closed.consts)
        if isinstance(c, Tracer) or get_aval(c).dtype.kind in "fc"
    ]
    kept = [i for i in range(len(closed.consts)) if i not in hoisted]
    program = Jaxpr(
        [jaxpr.constvars[i] for i in kept],
        jaxpr.invars + [jaxpr.constvars[i] for i in hoisted],
        jaxpr.eqns,
        jaxpr.outvars,
    )
    kept_consts = [closed.consts[i] for i in kept]
    n_consts = len(hoisted)

    def converted(*args_and_consts: Any) -> Any:
        n_args = len(args_and_consts) - n_consts
        if n_args != len(example_args):
            raise FungradTypeError(
                f"closure_convert: the converted `{_name(fun)}` takes {len(example_args)} "
                f"arguments and then its {n_consts} constants, but was called with "
                f"{len(args_and_consts)} values."
            )
        flat, tree = tree_flatten(tuple(args_and_consts[:n_args]))
        if tree != in_tree:
            raise FungradTypeError(
                structure_mismatch_message(
                    "closure_convert: the arguments must have the structure of the examples",
                    "examples",
                    in_tree,
                    "arguments",
                    tree,
                )
            )
        outs = eval_jaxpr(program, kept_consts, *flat, *args_and_consts[n_args:])
        return tree_unflatten(out_tree, outs)

    converted.__name__ = converted.__qualname__ = f"{_name(fun)}_closure_converted"
    return converted, [closed.consts[i] for i in hoisted]
