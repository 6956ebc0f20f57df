"""``fungrad.explain``: the forward and adjoint traces of a function, as in the lectures.

``explain(f)(*args)`` traces ``f`` with :func:`fungrad.make_jaxpr` and then walks the
program one equation at a time, in the notation of Baydin et al., "Automatic
differentiation in machine learning: a survey" (JMLR, 2018). With ``n`` inputs the
inputs are ``v-(n-1) ... v0``; each equation's output is ``v1, v2, ...`` in program
order; a constant the function closes over is ``c0, c1, ...``.

- The **forward (primal) trace** evaluates each equation by binding its primitive to
  the values of its inputs: one row per equation (variable, primitive, inputs, value).
- The **reverse (adjoint) trace** (``mode="reverse"``, the default) starts from the
  output's adjoint (1 for a scalar output) and walks the equations backwards. For each
  equation and each input that depends on a differentiated argument, the contribution
  ``v̄_out · ∂v_out/∂v_in`` is the vjp of that one primitive application, at its input
  values, applied to the output's adjoint; contributions to a variable used twice are
  summed, and the row says so (``+=``) and shows the running sum.
- The **tangent trace** (``mode="forward"``, with ``tangent=``) pushes the tangents
  ``v̇`` forward instead, one jvp of each primitive application.

The local derivative of each row is also written as a formula in the variables' names
(``cos v0``, ``v̄1 @ v-2ᵀ``) for the common primitives, and as a number where input
and output are scalars. Equations inside a ``jit`` or ``checkpoint`` call are inlined
(their rows are the student's whole program); other higher-order primitives (``cond``,
``scan``, ``while``, custom derivatives) are one row each, whose contribution is that
primitive's own vjp or jvp, so a custom derivative is the one used.

Every equation records the user's ``file:line``; the tables show it.

>>> import fungrad.numpy as fnp
>>> e = explain(lambda x: fnp.sin(x) * x)(2.0)
>>> e.names[e.jaxpr.jaxpr.invars[0]], round(float(e.adjoints["v0"]), 4)
('v0', 0.077)
"""

from __future__ import annotations

import functools
import html
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fungrad import dtypes
from fungrad.api import jvp, make_jaxpr, vjp
from fungrad.arguments import check_argnums, normalize_argnums, positional_parameters
from fungrad.core import ClosedJaxpr, Eqn, Jaxpr, Literal, Var, subjaxprs, zeros_for
from fungrad.errors import FungradTypeError, FungradValueError
from fungrad.jit.simplify import inline_calls as inline_call_primitives
from fungrad.primitives.call import jit_p
from fungrad.primitives.remat import checkpoint_p
from fungrad.traceback_util import api_boundary
from fungrad.tree_util import keystr, tree_flatten, tree_flatten_with_path, tree_unflatten

__all__ = [
    "Explanation",
    "adjoint_name",
    "explain",
    "inline_calls",
    "tangent_name",
    "variable_names",
]

#: Calls whose sub-program is shown equation by equation rather than as one row.
_INLINED = (jit_p, checkpoint_p)

BAR = "\u0304"  # combining macron: "v" + BAR is v̄, the adjoint
DOT = "\u0307"  # combining dot above: "v" + DOT is v̇, the tangent


def adjoint_name(name: str) -> str:
    """``"v3"`` -> ``"v̄3"``."""
    return name[0] + BAR + name[1:]


def tangent_name(name: str) -> str:
    """``"v3"`` -> ``"v̇3"``."""
    return name[0] + DOT + name[1:]


# ---------------------------------------------------------------------------------------
# Naming and inlining


def variable_names(closed: ClosedJaxpr | Jaxpr) -> dict[Var, str]:
    """The lecture names of a program's variables.

    With ``n`` inputs, the inputs are ``v-(n-1)`` ... ``v0``; then each equation's
    outputs are ``v1``, ``v2``, ... in order; constants are ``c0``, ``c1``, ...
    Variables inside sub-programs are not named (see :func:`inline_calls`).

    >>> import fungrad
    >>> closed = fungrad.make_jaxpr(lambda x1, x2: x1 * x2 + x1)(2.0, 5.0)
    >>> sorted(variable_names(closed).values())
    ['v-1', 'v0', 'v1', 'v2']
    """
    jaxpr = closed.jaxpr if isinstance(closed, ClosedJaxpr) else closed
    names: dict[Var, str] = {v: f"c{i}" for i, v in enumerate(jaxpr.constvars)}
    n = len(jaxpr.invars)
    names.update((v, f"v{i + 1 - n}") for i, v in enumerate(jaxpr.invars))
    count = 0
    for eqn in jaxpr.eqns:
        for v in eqn.outputs:
            count += 1
            names[v] = f"v{count}"
    return names


def inline_calls(closed: ClosedJaxpr) -> ClosedJaxpr:
    """``closed`` with each ``jit`` and ``checkpoint`` equation replaced by the equations
    of the program it calls (recursively): jit's own inlining pass, given both. An
    inlined equation without a source line takes the call's.

    >>> import fungrad, fungrad.numpy as fnp
    >>> closed = fungrad.make_jaxpr(fungrad.jit(lambda x: fnp.sin(x) * 2.0))(1.0)
    >>> [e.primitive.name for e in inline_calls(closed).eqns]
    ['sin', 'mul']
    """
    return inline_call_primitives(closed, _INLINED)


# ---------------------------------------------------------------------------------------
# The entry point


def explain(
    f: Callable,
    *,
    argnums: int | Sequence[int] | None = None,
    mode: str = "reverse",
    tangent: Any = None,
    cotangent: Any = None,
) -> Callable[..., Explanation]:
    """A function that evaluates ``f`` and returns its forward and adjoint traces.

    ``explain(f)(*args)`` returns an :class:`Explanation`; print it for the tables.
    ``argnums`` chooses the positional arguments to differentiate; by default **all**
    of them (unlike ``grad``, whose default is the first), since the lecture tables
    show every input's derivative. Arguments may be pytrees; keyword arguments are
    held constant.

    - ``mode="reverse"`` (default): the adjoint trace. A non-scalar output needs
      ``cotangent=``, an array of the output's shape (pytree of them), the seed ``ȳ``.
    - ``mode="forward"``: the tangent trace along ``tangent=``, one tangent per
      differentiated argument (a tuple; with one differentiated argument, its tangent
      may also be passed alone).

    >>> import fungrad.numpy as fnp
    >>> e = explain(lambda x1, x2: fnp.log(x1) + x1 * x2 - fnp.sin(x2))(2.0, 5.0)
    >>> [round(float(g), 4) for g in e.gradient]
    [5.5, 1.7163]
    >>> e = explain(lambda x: x * x, mode="forward", tangent=1.0)(3.0)
    >>> float(e.output_tangent)
    6.0
    """
    if mode not in ("reverse", "forward"):
        raise FungradValueError(f"explain: mode must be 'reverse' or 'forward', got {mode!r}")
    if mode == "reverse" and tangent is not None:
        raise FungradValueError(
            "explain: tangent= is the input direction of forward mode; pass "
            "mode='forward' with it, or leave it out for the reverse (adjoint) trace."
        )
    if mode == "forward" and cotangent is not None:
        raise FungradValueError(
            "explain: cotangent= is the output seed of reverse mode; in forward mode "
            "pass tangent= (one tangent per differentiated argument) instead."
        )
    if mode == "forward" and tangent is None:
        raise FungradValueError(
            "explain(f, mode='forward') needs tangent=: one tangent per differentiated "
            "argument, each of its argument's shape, e.g. tangent=(1.0, 0.0) for "
            "the derivative along the first of two scalar arguments."
        )
    single = isinstance(argnums, int)
    if argnums is not None:
        argnums = normalize_argnums("explain", argnums)

    @api_boundary("explain")
    def explained(*args: Any, **kwargs: Any) -> Explanation:
        chosen = tuple(range(len(args))) if argnums is None else argnums
        chosen = check_argnums("explain", chosen, len(args))
        if not chosen:
            raise FungradValueError(
                "explain: the function was called with no positional arguments; pass the "
                "values to differentiate with respect to positionally."
            )
        return Explanation(f, args, kwargs, chosen, single, mode, tangent, cotangent)

    return explained


def _argument_leaves(f: Callable, args: Sequence[Any]) -> list[tuple[int, str, Any]]:
    """``(argument number, display name, value)`` of each leaf of the positional args."""
    params = positional_parameters(f)
    leaves = []
    for i, arg in enumerate(args):
        base = params[i] if i < len(params) else f"arg{i}"
        with_paths, _ = tree_flatten_with_path(arg)
        leaves += [(i, base + keystr(path), leaf) for path, leaf in with_paths]
    return leaves


def _describe(i: int, params: list[str]) -> str:
    return f"argument {i}" + (f" ('{params[i]}')" if i < len(params) else "")


def _is_float(atom: Any) -> bool:
    return dtypes.is_differentiable(atom.aval.dtype)


def _rebind(eqn: Eqn, values: list[Any], positions: list[int]) -> Callable[..., Any]:
    """The equation's primitive as a function of the inputs at ``positions``."""

    def apply(*xs: Any) -> Any:
        ins = list(values)
        for p, x in zip(positions, xs):
            ins[p] = x
        out = eqn.primitive.bind(*ins, **eqn.params)
        return list(out) if eqn.primitive.multiple_results else out

    return apply


class Explanation:
    """The forward and adjoint (or tangent) traces of one evaluation of a function.

    Attributes:
        jaxpr: the traced program (``jit`` and ``checkpoint`` calls inlined).
        names: each variable of ``jaxpr`` -> its lecture name (``"v-1"``, ``"v3"``, ``"c0"``).
        arg_names: input name -> argument name (``{"v-1": "x1", "v0": "x2"}``).
        values: name -> forward value of every variable.
        adjoints: name -> adjoint ``v̄ = ∂f/∂v`` of every variable that depends on a
            differentiated argument and that the output depends on (reverse mode).
        tangents: name -> tangent ``v̇`` of every variable that depends on a
            differentiated argument (forward mode).
        forward, backward: the rows of the two tables as lists of dicts.
        output: the function's value; ``gradient`` (reverse mode): the adjoints of the
            differentiated arguments, one per argument as ``grad(f, argnums)`` returns
            them; ``output_tangent`` (forward mode): the output's tangent.
    """

    def __init__(
        self,
        f: Callable,
        args: tuple,
        kwargs: dict,
        argnums: tuple[int, ...],
        single: bool,
        mode: str,
        tangent: Any,
        cotangent: Any,
    ):
        self.mode = mode
        name = getattr(f, "__name__", "f")
        self.function_name = name if name.isidentifier() else "f"
        leaves = _argument_leaves(f, args)
        params = positional_parameters(f)
        for i, name, leaf in leaves:
            if i in argnums and not dtypes.is_differentiable(np.result_type(leaf)):
                raise FungradTypeError(
                    f"explain differentiates {_describe(i, params)}, but {name} has dtype "
                    f"{np.result_type(leaf)}: only floating-point inputs have derivatives. "
                    "Pass floats (2.0 rather than 2), or leave it out of argnums."
                )
        out_trees = []

        @functools.wraps(f)
        def recording(*a: Any, **k: Any) -> Any:
            out = f(*a, **k)
            out_trees.append(tree_flatten(out)[1])
            return out

        self.jaxpr = inline_calls(make_jaxpr(recording)(*args, **kwargs))
        out_tree = out_trees[0]
        jaxpr = self.jaxpr.jaxpr
        self.names = variable_names(self.jaxpr)
        self.arg_names = {self.names[v]: name for v, (_, name, _) in zip(jaxpr.invars, leaves)}
        self._differentiated = {v for v, (i, _, _) in zip(jaxpr.invars, leaves) if i in argnums}
        self.values: dict[str, np.ndarray] = {}
        self.adjoints: dict[str, np.ndarray] = {}
        self.tangents: dict[str, np.ndarray] = {}
        self.forward: list[dict[str, Any]] = []
        self.backward: list[dict[str, Any]] = []
        self._evaluate(leaves)
        flat_out = [self._read(a) for a in jaxpr.outvars]
        self.output = tree_unflatten(out_tree, flat_out)
        self.gradient: Any = None
        self.output_tangent: Any = None
        if mode == "reverse":
            self._reverse(cotangent, out_tree)
            self.gradient = self._gradient(args, argnums, single)
        else:
            self._tangent_trace(args, argnums, single, tangent, params)
            outs = [self._tangent_of(a) for a in jaxpr.outvars]
            self.output_tangent = tree_unflatten(out_tree, outs)

    # -- the forward (primal) trace ------------------------------------------------------

    def _read(self, atom: Any) -> Any:
        return atom.value if type(atom) is Literal else self._env[atom]

    def _label(self, atom: Any) -> str:
        return _format_value(atom.value) if type(atom) is Literal else self.names[atom]

    def _evaluate(self, leaves: list) -> None:
        jaxpr = self.jaxpr.jaxpr
        self._env: dict[Var, Any] = dict(zip(jaxpr.constvars, self.jaxpr.consts))
        self._env.update(zip(jaxpr.invars, (leaf for _, _, leaf in leaves)))
        self._depends = set(self._differentiated)  # variables reached from the inputs
        for v, value in zip(jaxpr.constvars, self.jaxpr.consts):
            self._input_row(v, "constant", value)
        for v in jaxpr.invars:
            self._input_row(v, self.arg_names[self.names[v]], self._env[v])
        for eqn in jaxpr.eqns:
            out = eqn.primitive.bind(*map(self._read, eqn.inputs), **eqn.params)
            outs = list(out) if eqn.primitive.multiple_results else [out]
            self._env.update(zip(eqn.outputs, outs))
            if any(type(a) is Var and a in self._depends for a in eqn.inputs):
                self._depends.update(v for v in eqn.outputs if _is_float(v))
            names = [self.names[v] for v in eqn.outputs]
            for name, value in zip(names, outs):
                self.values[name] = np.asarray(value)
            self.forward.append(
                {
                    "variable": ", ".join(names),
                    "primitive": eqn.primitive.name,
                    "inputs": [self._label(a) for a in eqn.inputs],
                    "expression": _expression(eqn, [self._label(a) for a in eqn.inputs]),
                    "value": self.values[names[0]]
                    if len(names) == 1
                    else tuple(self.values[n] for n in names),
                    "source": eqn.source_info,
                }
            )

    def _input_row(self, v: Var, what: str, value: Any) -> None:
        name = self.names[v]
        self.values[name] = np.asarray(value)
        self.forward.append(
            {
                "variable": name,
                "primitive": None,
                "inputs": [],
                "expression": what,
                "value": self.values[name],
                "source": None,
            }
        )

    def _differentiable_inputs(self, eqn: Eqn) -> list[int]:
        return [
            p
            for p, a in enumerate(eqn.inputs)
            if type(a) is Var and a in self._depends and _is_float(a)
        ]

    # -- the reverse (adjoint) trace -----------------------------------------------------

    def _reverse(self, cotangent: Any, out_tree: Any) -> None:
        jaxpr = self.jaxpr.jaxpr
        outvars = jaxpr.outvars
        if cotangent is None:
            shapes = [np.shape(self._read(a)) for a in outvars]
            if len(outvars) != 1 or shapes[0] != ():
                if len(shapes) == 1:
                    shown = f"an array of shape {shapes[0]}"
                else:
                    shown = f"{len(shapes)} arrays, of shapes {shapes}"
                raise FungradValueError(
                    "explain's reverse trace starts from the output's adjoint, which is 1 "
                    f"for a scalar output, but the function returned {shown}. Pass "
                    "cotangent=, the seed ȳ, of the output's shape and "
                    "structure (e.g. explain(f, cotangent=np.ones(shape))), reduce the "
                    "output to a scalar loss, or use mode='forward'."
                )
            dtype = np.result_type(self._read(outvars[0]))
            if dtype.kind != "f":
                raise FungradTypeError(
                    "explain's reverse trace needs a real floating-point output, as grad "
                    f"does, but the function returned dtype {dtype}: an integer or boolean "
                    "has no derivative, and a complex output needs cotangent=. Return a "
                    "float loss, or use mode='forward'."
                )
            seeds = [np.ones((), dtype)]
        else:
            seeds, tree = tree_flatten(cotangent)
            if tree != out_tree:
                raise FungradValueError(
                    "explain: cotangent= must have the structure of the output, "
                    f"{out_tree}, but it has the structure {tree}."
                )
            for a, seed in zip(outvars, seeds):
                if np.shape(seed) != np.shape(self._read(a)):
                    raise FungradValueError(
                        f"explain: cotangent= of shape {np.shape(seed)} does not match the "
                        f"output, of shape {np.shape(self._read(a))}."
                    )
                if np.iscomplexobj(seed) and not np.iscomplexobj(self._read(a)):
                    raise FungradTypeError(
                        f"explain: cotangent= is complex ({np.result_type(seed)}) but the "
                        f"output is real ({np.result_type(self._read(a))}); the adjoint of "
                        "a real output is real: pass a real cotangent."
                    )
        bars: dict[Var, np.ndarray] = {}
        for a, seed in zip(outvars, seeds):
            if type(a) is Var and a in self._depends:
                name = self.names[a]
                seed = np.asarray(seed, dtype=np.result_type(self._read(a)))
                accumulated = a in bars
                bars[a] = bars[a] + seed if accumulated else seed
                self.backward.append(
                    {
                        "adjoint": adjoint_name(name),
                        "variable": name,
                        "equation": None,
                        "primitive": None,
                        "chain": "seed",
                        "local": "",
                        "local_value": None,
                        "contribution": np.asarray(seed),
                        "accumulated": accumulated,
                        "value": bars[a],
                        "source": None,
                    }
                )
        for eqn in reversed(jaxpr.eqns):
            if not any(v in bars for v in eqn.outputs):
                continue
            positions = self._differentiable_inputs(eqn)
            if not positions:
                continue
            # outputs that the result does not depend on get a zero adjoint (float0 for
            # integer outputs, which have no derivative)
            cts = [bars[v] if v in bars else zeros_for(v.aval) for v in eqn.outputs]
            values = [self._read(a) for a in eqn.inputs]
            fn = _rebind(eqn, values, positions)
            _, pullback = vjp(fn, *(values[p] for p in positions))
            contributions = pullback(cts if eqn.primitive.multiple_results else cts[0])
            # outputs without an adjoint contribute nothing: the chain rule names the others
            out_names = [self.names[v] for v in eqn.outputs if v in bars]
            out_label = _grouped(out_names)
            bar_out = _grouped([adjoint_name(n) for n in out_names])
            labels = [self._label(a) for a in eqn.inputs]
            for p, contribution in zip(positions, contributions):
                var = eqn.inputs[p]
                name = self.names[var]
                contribution = np.asarray(contribution)
                accumulated = var in bars
                bars[var] = bars[var] + contribution if accumulated else contribution
                local, local_value = self._local(eqn, p, labels, values)
                self.backward.append(
                    {
                        "adjoint": adjoint_name(name),
                        "variable": name,
                        "equation": out_label,
                        "primitive": eqn.primitive.name,
                        "chain": f"{bar_out} · ∂{out_label}/∂{name}",
                        "local": local,
                        "local_value": local_value,
                        "contribution": contribution,
                        "accumulated": accumulated,
                        "value": bars[var],
                        "source": eqn.source_info,
                    }
                )
        self.adjoints = {self.names[v]: np.asarray(bar) for v, bar in bars.items()}

    def _gradient(self, args: tuple, argnums: tuple[int, ...], single: bool) -> Any:
        jaxpr = self.jaxpr.jaxpr
        invars = iter(jaxpr.invars)
        grads = {}
        for i, arg in enumerate(args):
            leaves, tree = tree_flatten(arg)
            mine = [next(invars) for _ in leaves]
            if i in argnums:
                grads[i] = tree_unflatten(
                    tree,
                    [
                        self.adjoints.get(self.names[v], np.zeros(np.shape(x), np.result_type(x)))
                        for v, x in zip(mine, leaves)
                    ],
                )
        # In the order of argnums, as grad(f, argnums) returns them.
        return grads[argnums[0]] if single else tuple(grads[i] for i in argnums)

    # -- the tangent trace ---------------------------------------------------------------

    def _tangent_of(self, atom: Any) -> np.ndarray:
        if type(atom) is Var and self.names[atom] in self.tangents:
            return self.tangents[self.names[atom]]
        value = self._read(atom)
        return np.zeros(np.shape(value), np.result_type(value))

    def _tangent_trace(
        self,
        args: tuple,
        argnums: tuple[int, ...],
        single: bool,
        tangent: Any,
        params: list[str],
    ) -> None:
        tangents = tangent
        if single or (
            len(argnums) == 1 and tree_flatten(tangent)[1] == tree_flatten(args[argnums[0]])[1]
        ):
            tangents = (tangent,)  # the one differentiated argument's tangent, unwrapped
        if not isinstance(tangents, (tuple, list)) or len(tangents) != len(argnums):
            raise FungradValueError(
                f"explain: tangent= must be a tuple with one tangent per differentiated "
                f"argument ({len(argnums)}: "
                f"{', '.join(_describe(i, params) for i in argnums)}), got {tangent!r:.80}"
            )
        jaxpr = self.jaxpr.jaxpr
        invars = iter(jaxpr.invars)
        given = dict(zip(argnums, tangents))
        for i, arg in enumerate(args):
            arg_leaves, tree = tree_flatten(arg)
            mine = [next(invars) for _ in arg_leaves]
            if i not in given:
                continue
            t_leaves, t_tree = tree_flatten(given[i])
            if t_tree != tree:
                raise FungradValueError(
                    f"explain: the tangent for {_describe(i, params)} has structure {t_tree}, "
                    f"but the argument has structure {tree}."
                )
            for v, x, t in zip(mine, arg_leaves, t_leaves):
                if np.shape(t) != np.shape(x):
                    leaf = self.arg_names[self.names[v]]
                    where = f" at {leaf}" if len(arg_leaves) > 1 else ""
                    raise FungradValueError(
                        f"explain: the tangent for {_describe(i, params)}{where} has shape "
                        f"{np.shape(t)}, but the argument has shape {np.shape(x)}; a "
                        "tangent has its argument's shape."
                    )
                self.tangents[self.names[v]] = np.asarray(t, dtype=np.result_type(x))
        n_inputs = len(jaxpr.constvars) + len(jaxpr.invars)
        for row in self.forward[:n_inputs]:
            name = row["variable"]
            row["tangent"] = self.tangents.get(name, np.zeros_like(row["value"]))
            row["tangent_rule"] = "given" if name in self.tangents else ""
        for eqn, row in zip(jaxpr.eqns, self.forward[n_inputs:]):
            positions = [
                p
                for p in self._differentiable_inputs(eqn)
                if self.names[eqn.inputs[p]] in self.tangents
            ]
            row["tangent_rule"] = ""
            if positions:
                values = [self._read(a) for a in eqn.inputs]
                fn = _rebind(eqn, values, positions)
                primals = [values[p] for p in positions]
                dots = [self.tangents[self.names[eqn.inputs[p]]] for p in positions]
                _, out_dot = jvp(fn, primals, dots)
                outs = out_dot if eqn.primitive.multiple_results else [out_dot]
                for v, t in zip(eqn.outputs, outs):
                    if _is_float(v):
                        self.tangents[self.names[v]] = np.asarray(t)
                labels = [self._label(a) for a in eqn.inputs]
                terms = [
                    _formula(eqn, p, labels, self._out_names(eqn), "forward") for p in positions
                ]
                row["tangent_rule"] = _sum_terms(terms)
            outs = [self._tangent_of(v) for v in eqn.outputs]
            row["tangent"] = outs[0] if len(outs) == 1 else tuple(outs)

    def _out_names(self, eqn: Eqn) -> list[str]:
        return [self.names[v] for v in eqn.outputs]

    # -- local derivatives ---------------------------------------------------------------

    def _local(
        self, eqn: Eqn, p: int, labels: list[str], values: list[Any]
    ) -> tuple[str, float | None]:
        """The local derivative of ``eqn`` in its input ``p``, as the reverse trace shows
        it: a formula, and for scalars the number ``∂v_out/∂v_in`` (a jvp of the
        primitive: the vjp of a unit cotangent, which a custom_vjp rule has too)."""
        formula = _formula(eqn, p, labels, self._out_names(eqn), "reverse")
        number = None
        out_avals = [v.aval for v in eqn.outputs]
        if len(out_avals) == 1 and out_avals[0].shape == () and eqn.inputs[p].aval.shape == ():
            fn = _rebind(eqn, values, [p])
            out, pullback = vjp(fn, values[p])
            unit = np.ones((), np.result_type(out[0] if eqn.primitive.multiple_results else out))
            (number,) = pullback([unit] if eqn.primitive.multiple_results else unit)
            number = float(number)
        return formula, number

    # -- display -------------------------------------------------------------------------

    def _summary(self) -> list[str]:
        outs = ", ".join(self._label(a) for a in self._outvars)
        lines = [f"output: {self.function_name} = {outs} = {_format_tree(self.output)}"]
        if self.mode == "reverse":
            parts = [
                f"∂{self.function_name}/∂{arg} = {adjoint_name(name)} = "
                + _format_value(self.adjoints.get(name, np.zeros_like(self.values[name])))
                for name, arg in self.arg_names.items()
                if name in self._differentiated_names
            ]
            lines.append("gradient: " + ", ".join(parts))
        else:
            outs_dot = ", ".join(
                tangent_name(self.names[a]) if type(a) is Var else "0" for a in self._outvars
            )
            lines.append(f"output tangent: {outs_dot} = {_format_tree(self.output_tangent)}")
        return lines

    @property
    def _outvars(self) -> list[Any]:
        return self.jaxpr.jaxpr.outvars

    @property
    def _differentiated_names(self) -> set[str]:
        return {self.names[v] for v in self._differentiated}

    def _tables(self) -> list[tuple[str, list[str], list[list[str]]]]:
        """(title, header, cells) of each table, as text."""
        forward_header = ["variable", "", "expression", "value"]
        if self.mode == "forward":
            forward_header += ["tangent", "", "tangent rule", "tangent value"]
        forward_header.append("source")
        cells = []
        for row in self.forward:
            line = [row["variable"], "=", row["expression"], _format_tree(row["value"])]
            if self.mode == "forward":
                names = row["variable"].split(", ")
                line += [
                    ", ".join(map(tangent_name, names)),
                    "=",
                    row["tangent_rule"] or "0",
                    _format_tree(row["tangent"]),
                ]
            line.append(row["source"] or "")
            cells.append(line)
        title = "forward (primal) trace"
        if self.mode == "forward":
            title = "forward (primal) and tangent trace: v̇ = derivative along the tangent"
        tables = [(title, forward_header, cells)]
        if self.mode == "reverse":
            back = []
            for row in self.backward:
                local = row["local"]
                if row["local_value"] is not None:
                    number = _format_value(row["local_value"])
                    local = number if local in ("", number) else f"{local} = {number}"
                back.append(
                    [
                        row["adjoint"],
                        "+=" if row["accumulated"] else "=",
                        row["chain"],
                        local,
                        # on a first assignment the contribution is the value
                        _format_value(row["contribution"]) if row["accumulated"] else "",
                        _format_value(row["value"]),
                        row["source"] or "",
                    ]
                )
            header = ["adjoint", "", "chain rule", "local derivative", "added"]
            header += ["adjoint value", "source"]
            title = f"reverse (adjoint) trace: v̄ = ∂{self.function_name}/∂v"
            tables.append((title, header, back))
        return tables

    def __str__(self) -> str:
        parts = []
        for title, header, cells in self._tables():
            parts.append(title)
            parts.append(_text_table(header, cells))
        parts += self._summary()
        return "\n".join(parts)

    def __repr__(self) -> str:
        return f"<Explanation of {self.function_name} ({self.mode} mode):\n{self}>"

    def _repr_html_(self) -> str:
        parts = []
        for title, header, cells in self._tables():
            head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
            body = "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in line) + "</tr>"
                for line in cells
            )
            parts.append(
                f"<p><b>{html.escape(title)}</b></p>"
                f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            )
        parts += [f"<p>{html.escape(line)}</p>" for line in self._summary()]
        return "<div>" + "".join(parts) + "</div>"


# ---------------------------------------------------------------------------------------
# Formatting


def _format_value(x: Any) -> str:
    """Scalars with 5 significant digits, small arrays in full (4 decimals), larger
    arrays as their type and range."""
    a = np.asarray(x)
    if a.dtype == dtypes.float0:
        return "0"
    if a.ndim == 0:
        if a.dtype.kind == "f":
            return f"{float(a):.5g}"
        if a.dtype.kind == "c":
            return f"{complex(a):.5g}"
        return str(a.item())
    if a.size <= 16:
        # (not suppress_small, which would print 1e-06 as 0.)
        text = np.array2string(a, precision=4, max_line_width=10**6)
        return " ".join(line.strip() for line in text.splitlines())
    short = f"{dtypes.short_name(a.dtype)}[{','.join(map(str, a.shape))}]"
    if a.dtype.kind in "fiu":
        return f"{short} min {a.min():.4g} max {a.max():.4g}"
    return short


def _format_tree(x: Any) -> str:
    if isinstance(x, tuple):
        return "(" + ", ".join(_format_tree(v) for v in x) + ")"
    leaves, _ = tree_flatten(x)
    if len(leaves) == 1 and not isinstance(x, (list, dict)):
        return _format_value(leaves[0])
    return "(" + ", ".join(_format_value(v) for v in leaves) + ")"


def _grouped(names: list[str]) -> str:
    return names[0] if len(names) == 1 else "(" + ", ".join(names) + ")"


def _width(text: str) -> int:
    """Columns ``text`` takes on screen: combining marks (the bar of v̄) take none."""
    return sum(1 for ch in text if not unicodedata.combining(ch))


def _text_table(header: list[str], cells: list[list[str]]) -> str:
    rows = [header, *cells]
    widths = [max(_width(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    for r in rows:
        padded = [c + " " * (w - _width(c)) for c, w in zip(r, widths)]
        lines.append("  " + "  ".join(padded).rstrip())
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Formulas: how each primitive is written, and its local derivatives


def _square(name: str) -> str:
    return f"{name}²"


def _power(base: str, n: Any) -> str:
    return _square(base) if n == 2 else f"{base}^{n}"


#: ``∂out/∂in_j`` of elementwise primitives, as text: ``rule(ins, out, params)`` gives
#: one formula per input.
_PARTIALS: dict[str, Callable[..., list[str]]] = {
    "add": lambda a, out, p: ["1", "1"],
    "sub": lambda a, out, p: ["1", "-1"],
    "mul": lambda a, out, p: [a[1], a[0]],
    "div": lambda a, out, p: [f"1/{a[1]}", f"-{out}/{a[1]}"],
    "neg": lambda a, out, p: ["-1"],
    "convert_element_type": lambda a, out, p: ["1"],
    "sin": lambda a, out, p: [f"cos {a[0]}"],
    "cos": lambda a, out, p: [f"-sin {a[0]}"],
    "tan": lambda a, out, p: [f"1 + {_square(out)}"],
    "exp": lambda a, out, p: [f"exp {a[0]}"],
    "log": lambda a, out, p: [f"1/{a[0]}"],
    "log1p": lambda a, out, p: [f"1/(1 + {a[0]})"],
    "expm1": lambda a, out, p: [f"exp {a[0]}"],
    "sqrt": lambda a, out, p: [f"1/(2·{out})"],
    "tanh": lambda a, out, p: [f"1 - {_square(out)}"],
    "logistic": lambda a, out, p: [f"{out}·(1 - {out})"],
    "sinh": lambda a, out, p: [f"cosh {a[0]}"],
    "cosh": lambda a, out, p: [f"sinh {a[0]}"],
    "arctan": lambda a, out, p: [f"1/(1 + {_square(a[0])})"],
    "abs": lambda a, out, p: [f"sign {a[0]}"],
    "integer_pow": lambda a, out, p: [
        f"{p['y']}·{_power(a[0], p['y'] - 1)}" if p["y"] != 2 else f"2·{a[0]}"
    ],
    "pow": lambda a, out, p: [f"{a[1]}·{a[0]}^({a[1]} - 1)", f"log {a[0]}·{out}"],
    # At a tie each operand gets half, as fungrad (and JAX) differentiate max and min.
    "max": lambda a, out, p: [
        f"[{a[0]} > {a[1]}] (1/2 at a tie)",
        f"[{a[1]} > {a[0]}] (1/2 at a tie)",
    ],
    "min": lambda a, out, p: [
        f"[{a[0]} < {a[1]}] (1/2 at a tie)",
        f"[{a[1]} < {a[0]}] (1/2 at a tie)",
    ],
    "stop_gradient": lambda a, out, p: ["0"],
}

_INFIX = {"add": "+", "sub": "-", "mul": "·", "div": "/"}


def _is_matmul(eqn: Eqn) -> bool:
    """Whether a dot_general is a product of matrices or vectors, ``A @ B`` (the lhs's
    last axis with the rhs's first, neither over 2 dimensions, where ``ᵀ`` means what
    the tables write)."""
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    lhs, rhs = (a.aval.ndim for a in eqn.inputs)
    return not lb and not rb and tuple(lc) == (lhs - 1,) and tuple(rc) == (0,) and lhs <= 2 >= rhs


def _expression(eqn: Eqn, labels: list[str]) -> str:
    """The equation's right-hand side, as the lectures write it."""
    name = eqn.primitive.name
    if name in _INFIX:
        return f"{labels[0]} {_INFIX[name]} {labels[1]}"
    if name == "neg":
        return f"-{labels[0]}"
    if name == "integer_pow":
        return _power(labels[0], eqn.params["y"])
    if name == "pow":
        return f"{labels[0]}^{labels[1]}"
    if name == "dot_general" and _is_matmul(eqn):
        return f"{labels[0]} @ {labels[1]}"
    if name == "reduce_sum":
        return f"sum {labels[0]} over axes {eqn.params['axes']}"
    if name == "broadcast_in_dim":
        return f"broadcast {labels[0]} to {eqn.params['shape']}"
    if name == "reshape":
        return f"reshape {labels[0]} to {eqn.params['new_sizes']}"
    if name == "transpose":
        perm = eqn.params["permutation"]
        return f"{labels[0]}ᵀ" if perm == (1, 0) else f"transpose {labels[0]} by {perm}"
    if name == "convert_element_type":
        return f"{labels[0]} as {np.dtype(eqn.params['new_dtype']).name}"
    shown = [
        f"{k}={v!r}"
        for k, v in sorted(eqn.params.items())
        if not k.startswith("_") and not subjaxprs({k: v}) and not callable(v)
    ]
    params = f"[{' '.join(shown)}]" if shown else ""
    return f"{name}{params} {' '.join(labels)}".rstrip()


def _broadcast_axes(in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The output axes that broadcasting an input of ``in_shape`` to ``out_shape`` added
    or stretched: its adjoint is summed over them."""
    lead = len(out_shape) - len(in_shape)
    return tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(in_shape) if d == 1 and out_shape[lead + i] != 1
    )


def _times(factor: str, name: str) -> str:
    if factor == "1":
        return name
    if factor == "-1":
        return f"-{name}"
    if factor.startswith("1/"):
        return f"{name}/{factor[2:]}"
    if " + " in factor or " - " in factor:
        return f"{name}·({factor})"
    return f"{name}·{factor}"


def _sum_terms(terms: list[str]) -> str:
    text = " + ".join(terms)
    return text.replace("+ -", "- ")


def _formula(eqn: Eqn, p: int, labels: list[str], out_names: list[str], mode: str) -> str:
    """Reverse mode: the local derivative ``∂out/∂in_p`` of an elementwise primitive, or
    how the output's adjoint is pulled back to input ``p``. Forward mode: the term that
    input ``p``'s tangent contributes to the output's tangent."""
    name = eqn.primitive.name
    out = out_names[0]
    bar, dot = adjoint_name(out), tangent_name(labels[p])
    in_aval, out_aval = eqn.inputs[p].aval, eqn.outputs[0].aval
    partial = _PARTIALS.get(name)
    if partial is not None and len(out_names) == 1:
        local = partial(labels, out, eqn.params)[p]
        if mode == "forward":
            return _times(local, dot)
        if in_aval.shape != out_aval.shape:
            axes = _broadcast_axes(in_aval.shape, out_aval.shape)
            return f"{local}, summed over the broadcast axes {axes}"
        return local
    forward = mode == "forward"
    if name == "dot_general":
        other = labels[1 - p]
        if _is_matmul(eqn):
            if forward:
                return f"{dot} @ {other}" if p == 0 else f"{other} @ {dot}"
            return f"{bar} @ {other}ᵀ" if p == 0 else f"{other}ᵀ @ {bar}"
        if forward:
            return f"dot_general of {dot} with {other}"
        return f"{bar} contracted with {other}"
    if name == "reduce_sum":
        if forward:
            return f"sum {dot} over axes {eqn.params['axes']}"
        return f"{bar} broadcast back to {in_aval.shape}"
    if name == "broadcast_in_dim":
        if forward:
            return f"broadcast {dot} to {eqn.params['shape']}"
        dims = eqn.params["broadcast_dimensions"]
        kept = [d for i, d in enumerate(dims) if in_aval.shape[i] == out_aval.shape[d]]
        axes = tuple(d for d in range(out_aval.ndim) if d not in kept)
        return f"sum {bar} over the broadcast axes {axes}"
    if name == "reshape":
        if forward:
            return f"reshape {dot} to {eqn.params['new_sizes']}"
        return f"reshape {bar} back to {in_aval.shape}"
    if name == "transpose":
        perm = eqn.params["permutation"]
        if perm == (1, 0):
            return f"{dot}ᵀ" if forward else f"{bar}ᵀ"
        if forward:
            return f"transpose {dot} by {perm}"
        return f"transpose {bar} by {tuple(int(i) for i in np.argsort(perm))}"
    return f"jvp of {name}" if forward else f"vjp of {name}"
