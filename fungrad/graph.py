"""Pictures of programs: a function's computational graph as Graphviz DOT text.

``to_dot(f)(*args)`` traces ``f`` (as :func:`fungrad.make_jaxpr` does) and draws its
jaxpr: one node per input, per constant and per primitive equation, edges for the
data flow, and one node per output. The sub-programs of higher-order primitives
(``jit``, the branches of ``cond``, the bodies of ``scan`` and ``while``,
``custom_jvp_call``, ``checkpoint``) are drawn as boxed clusters next to the equation
that runs them. Since a transformed function is a function, ``to_dot(fungrad.grad(f))``
draws the gradient's program, which shows how reverse mode mirrors the forward graph.

With ``values=True`` each variable also shows its forward value and its adjoint
(from :func:`fungrad.explain.explain`). :func:`render` turns DOT text into an SVG,
PNG or PDF file with Graphviz's ``dot`` program.

>>> import fungrad.numpy as fnp
>>> dot = to_dot(lambda x, y: fnp.sin(x) * y)(1.0, 2.0)
>>> dot.startswith("digraph")
True
>>> dot.count(" -> ")  # x -> sin, sin -> mul, y -> mul, mul -> output
4
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fungrad.api import make_jaxpr
from fungrad.arguments import positional_parameters
from fungrad.core import ClosedJaxpr, Eqn, Jaxpr, Literal, ShapedArray, Var
from fungrad.errors import FungradTypeError, FungradValueError
from fungrad.explain import adjoint_name, explain, tangent_name, variable_names
from fungrad.tree_util import keystr, tree_flatten_with_path

__all__ = ["format_value", "jaxpr_to_dot", "render", "to_dot"]

#: The file formats :func:`render` writes.
FORMATS = ("svg", "png", "pdf")

# Okabe and Ito's colour-blind-safe palette: blue for inputs and values, orange for
# outputs, vermillion for adjoints, bluish green for tangents; grey for the rest.
_BLUE, _ORANGE, _VERMILLION, _GREEN = "#0072B2", "#E69F00", "#D55E00", "#009E73"
_GREY, _DARK = "#777777", "#333333"

_HEADER = f"""\
  graph [rankdir=LR, fontname="Helvetica", fontsize=11, nodesep=0.25, ranksep=0.35];
  node [fontname="Helvetica", fontsize=11, color="{_DARK}", fontcolor="{_DARK}",
        margin="0.08,0.04"];
  edge [color="{_GREY}", arrowsize=0.6, fontname="Helvetica"];"""

_STYLES = {
    "input": f'shape=ellipse, style=filled, fillcolor="#DCEEF9", color="{_BLUE}"',
    "const": f'shape=note, style=filled, fillcolor="#EEEEEE", color="{_GREY}"',
    "literal": f'shape=plaintext, fontsize=10, fontcolor="{_GREY}", margin=0',
    "op": 'shape=box, style="rounded,filled", fillcolor="#FAFAFA"',
    "call": 'shape=box, style="rounded,filled,bold", fillcolor="#F0F0F0"',
    "output": (
        f'shape=ellipse, peripheries=2, style=filled, fillcolor="#FCEBC8", color="{_ORANGE}"'
    ),
}

_CLUSTER_STYLE = (
    f'style="rounded,dashed"; color="{_GREY}"; fontcolor="{_GREY}"; fontsize=10; labeljust=l;'
)

# How a cluster names the sub-program a parameter holds.
_SUBPROGRAM_ROLES = {
    "branches": "branch",
    "jaxpr": "body",
    "body_jaxpr": "body",
    "cond_jaxpr": "condition",
    "call_jaxpr": "",
}

_SUBSCRIPTS = str.maketrans("0123456789-", "₀₁₂₃₄₅₆₇₈₉₋")


# ---------------------------------------------------------------------------------------
# The public functions


def to_dot(
    fun: Callable,
    *,
    values: bool = False,
    argnums: int | Sequence[int] | None = None,
    mode: str = "reverse",
    tangent: Any = None,
    cotangent: Any = None,
    source_info: bool = False,
    title: str | None = None,
) -> Callable[..., str]:
    """A function that traces ``fun`` on example arguments and returns its graph as DOT.

    ``values=True`` adds each variable's forward value and, in reverse mode, its
    adjoint ``v̄ = ∂f/∂v``; with ``mode="forward"`` and ``tangent=``, its tangent ``v̇``
    instead. ``argnums`` (default: all positional arguments), ``mode``, ``tangent`` and
    ``cotangent`` (the seed of a non-scalar output) are those of
    :func:`fungrad.explain.explain`, which computes the numbers; like it, the graph
    then shows the equations inside ``jit`` and ``checkpoint`` inlined.
    ``source_info=True`` adds each equation's ``file.py:line`` (to the label and the
    tooltip). ``title`` is written above the graph.

    >>> import fungrad, fungrad.numpy as fnp
    >>> def f(x):
    ...     return fnp.sin(x) * 2.0
    >>> dot = to_dot(f, values=True)(0.0)
    >>> "sin" in dot and "2.0" in dot  # the primitive, and the literal as its own node
    True
    >>> dot.count(" -> ") < to_dot(fungrad.grad(f))(0.0).count(" -> ")
    True
    """
    if not values and (mode != "reverse" or tangent is not None or cotangent is not None):
        raise FungradValueError(
            "to_dot: mode=, tangent= and cotangent= choose the derivatives shown with "
            "values=True; pass values=True with them."
        )

    def to_dot_f(*args: Any, **kwargs: Any) -> str:
        arg_names = _input_names(fun, args)
        if not values:
            closed = make_jaxpr(fun)(*args, **kwargs)
            return _Drawing(closed, variable_names(closed), arg_names, source_info, title).text()
        try:
            explanation = explain(
                fun, argnums=argnums, mode=mode, tangent=tangent, cotangent=cotangent
            )(*args, **kwargs)
        except (FungradTypeError, FungradValueError) as error:
            if not str(error).startswith("explain"):
                raise  # from the function itself
            # explain's own advice (argnums=, cotangent=, mode=) is to_dot's too.
            raise type(error)(
                f"to_dot(values=True) computes its numbers with fungrad.explain, which "
                f"takes the same argnums, mode, tangent and cotangent: {error}"
            ) from None
        drawing = _Drawing(explanation.jaxpr, explanation.names, arg_names, source_info, title)
        drawing.values = explanation.values
        drawing.adjoints = explanation.adjoints
        drawing.tangents = explanation.tangents
        return drawing.text()

    to_dot_f.__name__ = f"to_dot_{getattr(fun, '__name__', 'fun')}"
    return to_dot_f


def jaxpr_to_dot(
    jaxpr: ClosedJaxpr | Jaxpr,
    *,
    source_info: bool = False,
    title: str | None = None,
    arg_names: Sequence[str] | None = None,
) -> str:
    """The graph of a jaxpr (from :func:`fungrad.make_jaxpr`) as DOT text.

    ``arg_names`` label the inputs (by default they show their variable names).

    >>> import fungrad, fungrad.numpy as fnp
    >>> closed = fungrad.make_jaxpr(lambda x: fnp.exp(x) + x)(1.0)
    >>> dot = jaxpr_to_dot(closed, arg_names=["x"])
    >>> dot.count("shape=box")  # one node per equation: exp, add
    2
    """
    closed = jaxpr if isinstance(jaxpr, ClosedJaxpr) else ClosedJaxpr(jaxpr, [])
    names = variable_names(closed)
    return _Drawing(closed, names, list(arg_names or []), source_info, title).text()


def render(dot: str | ClosedJaxpr | Jaxpr, path: str | Path, *, format: str | None = None) -> Path:
    """Write the picture of DOT text (from :func:`to_dot`) or of a jaxpr to ``path``;
    returns the path.

    ``format`` is ``"svg"``, ``"png"`` or ``"pdf"``, by default the path's suffix. The
    layout is made by Graphviz's ``dot`` program, through the ``graphviz`` Python
    package when it is installed, otherwise by running ``dot`` directly.
    """
    if isinstance(dot, (ClosedJaxpr, Jaxpr)):
        dot = jaxpr_to_dot(dot)
    if not isinstance(dot, str):
        raise FungradTypeError(
            "render: dot must be DOT text, from fungrad.graph.to_dot(f)(*args), or a "
            f"jaxpr, got {type(dot).__name__}. To draw a function, trace it at "
            "arguments first: render(to_dot(f)(x), 'f.svg')."
        )
    path = Path(path)
    if format is None:
        format = path.suffix.lstrip(".").lower()
        if not format:
            raise FungradValueError(
                f"render: cannot tell the format of {str(path)!r}, which has no suffix; "
                f"name the file with one of {_listed(FORMATS)} or pass format=..."
            )
    format = format.lower() if isinstance(format, str) else format
    if format not in FORMATS:
        raise FungradValueError(
            f"render: unknown format {format!r}; use one of {_listed(FORMATS)}"
        )
    path.write_bytes(_run_dot(dot, format))
    return path


def format_value(x: Any) -> str:
    """A value, compactly: scalars to 5 significant digits (as explain's tables), small
    arrays to 3 decimals, large arrays by their shape.

    >>> format_value(11.6521), format_value(np.array([0.5, 1.0, 2.25]))
    ('11.652', '[0.5, 1., 2.25]')
    >>> format_value(np.zeros((20, 3)))
    'f64[20,3]'
    """
    a = np.asarray(x)
    if a.dtype.kind == "V":  # float0: the tangent type of integers, always zero
        return "0"
    if a.ndim == 0:
        if a.dtype.kind in "fc":
            return format(a.item(), ".5g")
        return str(a.item())
    if a.size <= 8:
        text = np.array2string(a, precision=3, separator=", ", max_line_width=10**6)
        text = re.sub(r"\s+", " ", text)  # one line, without the padding that aligns columns
        return re.sub(r"(?<=\[) +| +(?=[,\]])", "", text)
    return ShapedArray(a.shape, a.dtype).str_short()


# ---------------------------------------------------------------------------------------
# Drawing


class _Drawing:
    """Writes one jaxpr as DOT. Nodes are declared where they belong (clusters nest);
    edges are all written at the end, at the top level, as an edge inside a cluster
    would pull its endpoints into that cluster."""

    def __init__(
        self,
        closed: ClosedJaxpr,
        names: dict[Var, str],
        arg_names: Sequence[str],
        source_info: bool,
        title: str | None,
    ):
        self.closed = closed
        self.names = names
        self.arg_names = list(arg_names)
        self.source_info = source_info
        self.title = title
        self.values: dict[str, Any] = {}
        self.adjoints: dict[str, Any] = {}
        self.tangents: dict[str, Any] = {}
        self.lines: list[str] = []
        self.edges: list[str] = []
        self.edge_labels: dict[Var, str] = {}  # the outputs of multiple-output equations
        self.count = 0
        self.clusters = 0

    def text(self) -> str:
        jaxpr = self.closed.jaxpr
        self.lines = ["digraph fungrad {", _HEADER]
        if self.title:
            title = f"<<B>{_escape(self.title)}</B>>"
            self.lines.append(f'  label={title}; labelloc=t; fontsize=13; fontcolor="{_DARK}";')
        env: dict[Var, str] = {}
        for v, value in zip(jaxpr.constvars, self._consts()):
            env[v] = self._constant(v, value, "  ")
        inputs = []
        for i, v in enumerate(jaxpr.invars):
            name = self.names.get(v, "")
            heading = self.arg_names[i] if i < len(self.arg_names) else name
            rows = [f"<B>{_escape(heading)}</B>", *self._output_rows([v], top=True)]
            env[v] = self._node("input", _table(rows), "  ")
            inputs.append(env[v])
        for eqn in jaxpr.eqns:
            self._equation(eqn, env, "  ", top=True)
        outputs = []
        many = len(jaxpr.outvars) > 1
        for i, atom in enumerate(jaxpr.outvars):
            heading = f"output {i}" if many else "output"
            rows = [_small(atom.aval.str_short())]
            if isinstance(atom, Var) and atom in self.names:
                rows = self._value_rows(atom) or rows
            outputs.append(self._node("output", _table([f"<B>{heading}</B>", *rows]), "  "))
            self._connect(atom, env, outputs[-1], "  ")
        for ends in (inputs, outputs):  # inputs in the first column, outputs in the last
            if len(ends) > 1:
                self.lines.append(f"  {{ rank=same; {' '.join(f'{n};' for n in ends)} }}")
        self.lines += self.edges
        self.lines.append("}")
        return "\n".join(self.lines) + "\n"

    def _consts(self) -> list[Any]:
        consts = list(self.closed.consts)
        return consts + [None] * (len(self.closed.jaxpr.constvars) - len(consts))

    # -- nodes and edges

    def _node(self, kind: str, label: str, indent: str, tooltip: str = "") -> str:
        node_id = f"n{self.count}"
        self.count += 1
        extra = f', tooltip="{_escape_string(tooltip)}"' if tooltip else ""
        self.lines.append(f"{indent}{node_id} [{_STYLES[kind]}, label=<{label}>{extra}];")
        return node_id

    def _edge(self, tail: str, head: str, attrs: str = "") -> None:
        self.edges.append(f"  {tail} -> {head}{f' [{attrs}]' if attrs else ''};")

    def _connect(
        self, atom: Any, env: dict[Var, str], head: str, indent: str, style: str = ""
    ) -> None:
        """An edge from the node producing ``atom`` to ``head``."""
        attrs = [style] if style else []
        if isinstance(atom, Var) and atom in self.edge_labels:
            attrs.append(f'label=<{self.edge_labels[atom]}>, fontsize=9, fontcolor="{_GREY}"')
        self._edge(self._source(atom, env, indent), head, ", ".join(attrs))

    def _source(self, atom: Any, env: dict[Var, str], indent: str) -> str:
        """The node that produces ``atom``: a literal gets a small node of its own."""
        if isinstance(atom, Literal):
            return self._node("literal", _escape(_literal_text(atom)), indent)
        return env[atom]

    def _constant(self, v: Var, value: Any, indent: str) -> str:
        name = _subscripted(self.names[v]) if v in self.names else ""
        shape = _small(v.aval.str_short())
        rows = ["<B>constant</B>"]
        if value is not None and np.size(value) <= 8:
            rows += [f"{name} = {_escape(format_value(value))}".lstrip(" ="), shape]
        else:
            rows.append(f"{name} {shape}".strip())
        return self._node("const", _table(rows), indent)

    # -- equations

    def _equation(self, eqn: Eqn, env: dict[Var, str], indent: str, top: bool) -> None:
        subprograms = _subprograms(eqn.params)
        rows = [f"<B>{_escape(eqn.primitive.name)}</B>"]
        params = _short_params(eqn.params)
        if params:
            rows.append(_small(_truncate(params, 40)))
        rows += self._output_rows(eqn.outputs, top)
        tooltip = " ".join(filter(None, [eqn.primitive.name, params]))
        if self.source_info and eqn.source_info:
            rows.append(f'<FONT POINT-SIZE="8" COLOR="{_GREY}">{_escape(eqn.source_info)}</FONT>')
            tooltip += f"\n{eqn.source_info}"
        consumed: set[int] = set()
        returns: list[tuple[Any, dict[Var, str]]] = []
        for role, sub in subprograms:
            positions = _operand_positions(eqn, role, sub)
            consumed.update(positions)
            returns += self._cluster(eqn, role, sub, positions, env, indent)
        node = self._node("call" if subprograms else "op", _table(rows), indent, tooltip)
        for i, atom in enumerate(eqn.inputs):
            if i not in consumed:
                self._connect(atom, env, node, indent)
        for atom, inner_env in returns:
            self._connect(atom, inner_env, node, indent, "style=dashed")
        multiple = len(eqn.outputs) > 1
        for k, v in enumerate(eqn.outputs):
            env[v] = node
            if multiple:  # name which output an edge carries
                self.edge_labels[v] = _subscripted(self.names[v]) if top else str(k)

    def _output_rows(self, outputs: Sequence[Var], top: bool) -> list[str]:
        """Per output: ``v3 : f64[]``; with values ``v3 = 10``, ``v̄3 = 1``, then the type."""
        rows = []
        for v in outputs:
            name = self.names.get(v) if top else None
            numbers = self._value_rows(v) if name is not None else []
            if numbers:
                rows += [*numbers, _small(v.aval.str_short())]
            elif name is not None:
                rows.append(f"{_subscripted(name)} {_small(': ' + v.aval.str_short())}")
            else:
                rows.append(_small(v.aval.str_short()))
        return rows

    def _value_rows(self, v: Var) -> list[str]:
        """Rows with the value, adjoint and tangent of a named variable, those known."""
        name = self.names[v]
        rows = []
        for known, shown, colour in [
            (self.values, name, _BLUE),
            (self.adjoints, adjoint_name(name), _VERMILLION),
            (self.tangents, tangent_name(name), _GREEN),
        ]:
            if name in known:
                text = _escape(format_value(known[name]))
                rows.append(f'<FONT COLOR="{colour}">{_subscripted(shown)} = {text}</FONT>')
        return rows

    def _cluster(
        self,
        eqn: Eqn,
        role: tuple[str, int | None],
        sub: ClosedJaxpr,
        positions: list[int],
        env: dict[Var, str],
        indent: str,
    ) -> list[tuple[Any, dict[Var, str]]]:
        """Draw a sub-program in a cluster; returns its outputs, each with the nodes that
        produce the sub-program's variables."""
        param, index = role
        self.clusters += 1
        name = eqn.params.get("name")  # the function's name, for calls
        words = [eqn.primitive.name, _SUBPROGRAM_ROLES.get(param, param), index, name]
        label = " ".join(str(w) for w in words if w is not None and w != "")
        inner = indent + "  "
        self.lines.append(f"{indent}subgraph cluster_{self.clusters} {{")
        self.lines.append(f'{inner}label="{_escape_string(label)}"; {_CLUSTER_STYLE}')
        jaxpr = sub.jaxpr
        inner_env: dict[Var, str] = {}
        for v, value in zip(jaxpr.constvars, list(sub.consts) + [None] * len(jaxpr.constvars)):
            inner_env[v] = self._constant(v, value, inner)
        if positions:  # the sub-program's inputs are the equation's operands
            for v, p in zip(jaxpr.invars, positions):
                inner_env[v] = self._source(eqn.inputs[p], env, inner)
        else:  # an unknown layout: the inputs get nodes of their own
            for i, v in enumerate(jaxpr.invars):
                label = f"in {i}: {_escape(v.aval.str_short())}"
                inner_env[v] = self._node("literal", label, inner)
        for inner_eqn in jaxpr.eqns:
            self._equation(inner_eqn, inner_env, inner, top=False)
        self.lines.append(f"{indent}}}")
        return [(atom, inner_env) for atom in jaxpr.outvars]


def _operand_positions(eqn: Eqn, role: tuple[str, int | None], sub: ClosedJaxpr) -> list[int]:
    """Which of ``eqn``'s operands a sub-program's inputs are: the last ones for every
    higher-order primitive (cond's first operand is its index, scan's and while's the
    constants then the carries), except while's condition, which skips the body's
    constants. Empty when the layout is not one of these."""
    count, n_sub = len(eqn.inputs), len(sub.jaxpr.invars)
    if role[0] == "cond_jaxpr" and "cond_nconsts" in eqn.params:
        cond_consts, body_consts = eqn.params["cond_nconsts"], eqn.params["body_nconsts"]
        positions = [*range(cond_consts), *range(cond_consts + body_consts, count)]
        return positions if len(positions) == n_sub else []
    return list(range(count - n_sub, count)) if n_sub <= count else []


def _subprograms(params: dict[str, Any]) -> list[tuple[tuple[str, int | None], ClosedJaxpr]]:
    """The sub-programs in an equation's params (found by type, as core.subjaxprs does),
    each with its parameter's name and its position in a tuple of them."""
    found = []
    for name in sorted(params):
        value = params[name]
        if isinstance(value, ClosedJaxpr):
            found.append(((name, None), value))
        elif (
            isinstance(value, (tuple, list))
            and value
            and all(isinstance(v, ClosedJaxpr) for v in value)
        ):
            found += [((name, i), v) for i, v in enumerate(value)]
    return found


def _short_params(params: dict[str, Any]) -> str:
    """The params a reader may want next to the primitive: simple values only."""
    shown = []
    for name in sorted(params):
        value = params[name]
        if name.startswith("_") or name == "name" or not _is_simple(value):
            continue
        text = value.name if isinstance(value, np.dtype) else repr(value)
        shown.append(f"{name}={text}")
    return " ".join(shown)


def _is_simple(value: Any) -> bool:
    if isinstance(value, (bool, int, float, str, np.dtype, type(None))):
        return True
    if isinstance(value, tuple):
        return all(_is_simple(v) for v in value)
    return False


def _input_names(fun: Callable, args: Sequence[Any]) -> list[str]:
    """The name of each flat input: the parameter's name, then the pytree path."""
    parameters = positional_parameters(fun)
    with_paths, _ = tree_flatten_with_path(tuple(args))
    names = []
    for path, _ in with_paths:
        position = path[0].idx
        base = parameters[position] if position < len(parameters) else f"arg{position}"
        names.append(base + keystr(path[1:]))
    return names


# ---------------------------------------------------------------------------------------
# Text: HTML-like labels and quoted strings


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


def _escape_string(text: str) -> str:
    """Text inside a double-quoted DOT string; a newline becomes Graphviz's ``\\n``."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _subscripted(name: str) -> str:
    """``v-1`` as ``v₋₁``: a lecture's variable name (escaped for a label)."""
    head = name.rstrip("-0123456789")
    return _escape(head + name[len(head) :].translate(_SUBSCRIPTS))


def _small(text: str) -> str:
    return f'<FONT POINT-SIZE="9">{_escape(text)}</FONT>'


def _table(rows: Sequence[str]) -> str:
    cells = "".join(f"<TR><TD>{row}</TD></TR>" for row in rows)
    return f'<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">{cells}</TABLE>'


def _literal_text(literal: Literal) -> str:
    value = literal.value
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, np.ndarray):
        return format_value(value)
    return repr(value)


def _truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _listed(options: Sequence[str]) -> str:
    return ", ".join(repr(o) for o in options)


# ---------------------------------------------------------------------------------------
# Rendering with Graphviz

_INSTALL = (
    "rendering needs Graphviz's `dot` program, which was not found: install it with "
    "`apt-get install graphviz`, `brew install graphviz` or `conda install graphviz` "
    '(and optionally the Python package: `python -m pip install "fungrad[graph]"`)'
)


def _run_dot(dot: str, format: str) -> bytes:
    """The picture of ``dot`` in ``format``, laid out by Graphviz."""
    try:
        import graphviz
    except ImportError:
        graphviz = None
    if graphviz is not None:
        try:
            return graphviz.Source(dot).pipe(format=format)
        except graphviz.ExecutableNotFound:
            raise RuntimeError(_INSTALL) from None
        except subprocess.CalledProcessError as err:  # graphviz's error is one of these
            raise _dot_failed(err.stderr) from None
    program = shutil.which("dot")
    if program is None:
        raise RuntimeError(_INSTALL)
    done = subprocess.run([program, f"-T{format}"], input=dot.encode(), capture_output=True)
    if done.returncode != 0:
        raise _dot_failed(done.stderr)
    return done.stdout


def _dot_failed(stderr: bytes | str | None) -> RuntimeError:
    if isinstance(stderr, bytes):
        stderr = stderr.decode(errors="replace")
    return RuntimeError(f"Graphviz's dot failed on this DOT text: {(stderr or '').strip()}")
