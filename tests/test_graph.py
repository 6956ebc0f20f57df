"""Tests for fungrad.graph: the DOT text of computational graphs (structure parsed without
Graphviz: every edge joins declared nodes, one node per equation, sub-programs as
clusters), the values and adjoints on the nodes against closed-form derivatives, the
gradient's graph, rendering with Graphviz, the error messages, and the tutorial's figures.
"""

from __future__ import annotations

import html
import math
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

import fungrad
import fungrad.graph
import fungrad.numpy as fnp
from fungrad import lax
from fungrad.core import ClosedJaxpr, subjaxprs
from fungrad.errors import FungradValueError
from fungrad.explain import explain
from fungrad.graph import format_value, jaxpr_to_dot, render, to_dot

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import backprop_figures  # noqa: E402

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz's dot program is not installed"
)


# ---------------------------------------------------------------------------------------
# A reader of the DOT text we write: node and edge statements, and cluster membership


_NODE = re.compile(r"^\s*(n\d+) \[(.*)\];$")
_EDGE = re.compile(r"^\s*(n\d+) -> (n\d+)(?: \[(.*)\])?;$")
_LABEL = re.compile(r'label=<(.*?)>(?:, tooltip="(?:[^"\\]|\\.)*")?$')


class Graph:
    def __init__(self, dot: str):
        lines = dot.splitlines()
        assert lines[0] == "digraph fungrad {" and lines[-1] == "}"
        self.nodes: dict[str, str] = {}  # id -> attributes
        self.clusters: dict[str, str] = {}  # node id -> label of its innermost cluster
        self.cluster_labels: list[str] = []
        self.edges: list[tuple[str, str, str]] = []
        stack: list[str] = []
        for line in lines[1:-1]:
            if m := _NODE.match(line):
                assert m[1] not in self.nodes, f"node {m[1]} declared twice"
                self.nodes[m[1]] = m[2]
                if stack:
                    self.clusters[m[1]] = stack[-1]
            elif m := _EDGE.match(line):
                self.edges.append((m[1], m[2], m[3] or ""))
            elif line.strip().startswith("subgraph cluster_"):
                stack.append("")
            elif stack and line.strip().startswith("label="):
                stack[-1] = re.match(r'\s*label="([^"]*)"', line)[1]
                self.cluster_labels.append(stack[-1])
            elif line.strip() == "}":
                stack.pop()
            else:  # the graph's attributes, its title, the rank constraints
                assert re.match(r"^\s+(graph|node|edge|label=|\{ rank=same|margin=)", line), line
        assert not stack, "a cluster is not closed"
        for tail, head, _ in self.edges:
            assert tail in self.nodes and head in self.nodes, f"edge {tail} -> {head}"

    def kind(self, node: str) -> str:
        attrs = self.nodes[node]
        for kind, marker in [
            ("output", "peripheries=2"),
            ("input", "shape=ellipse"),
            ("const", "shape=note"),
            ("literal", "shape=plaintext"),
            ("op", "shape=box"),
        ]:
            if marker in attrs:
                return kind
        raise AssertionError(attrs)

    def of_kind(self, kind: str) -> list[str]:
        return [n for n in self.nodes if self.kind(n) == kind]

    def text(self, node: str) -> str:
        """The label as plain text, one row a line."""
        label = _LABEL.search(self.nodes[node])[1]
        rows = re.findall(r"<TD>(.*?)</TD>", label) or [label]
        return "\n".join(html.unescape(re.sub(r"<[^>]+>", "", row)) for row in rows)

    def heading(self, node: str) -> str:
        return self.text(node).splitlines()[0]

    def find(self, heading: str) -> list[str]:
        return [n for n in self.nodes if self.heading(n) == heading]

    def into(self, node: str) -> list[str]:
        return [tail for tail, head, _ in self.edges if head == node]

    def out_of(self, node: str) -> list[str]:
        return [head for tail, head, _ in self.edges if tail == node]


def count_equations(closed: ClosedJaxpr) -> int:
    return sum(
        1 + sum(count_equations(sub) for sub in subjaxprs(eqn.params)) for eqn in closed.eqns
    )


def check_structure(dot: str, closed: ClosedJaxpr) -> Graph:
    """One node per equation (sub-programs included), per input and per output."""
    graph = Graph(dot)
    assert len(graph.of_kind("op")) == count_equations(closed)
    assert len(graph.of_kind("input")) == len(closed.jaxpr.invars)
    assert len(graph.of_kind("output")) == len(closed.jaxpr.outvars)
    for output in graph.of_kind("output"):
        assert len(graph.into(output)) == 1
    return graph


def graph_of(f, *args, **options) -> Graph:
    dot = to_dot(f, **options)(*args)
    if options.get("values"):
        derivatives = {k: v for k, v in options.items() if k in ("mode", "tangent", "cotangent")}
        closed = explain(f, **derivatives)(*args).jaxpr  # jit and checkpoint inlined
    else:
        closed = fungrad.make_jaxpr(f)(*args)
    return check_structure(dot, closed)


def dot_accepts(dot: str) -> None:
    done = subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True)
    assert done.returncode == 0 and not done.stderr, done.stderr.decode()
    ElementTree.fromstring(done.stdout)


def lecture(x1, x2):
    return fnp.log(x1) + x1 * x2 - fnp.sin(x2)


# ---------------------------------------------------------------------------------------
# Structure


def test_elementwise_graph_has_a_node_per_equation_and_the_data_flow():
    g = graph_of(lambda x, y: fnp.sin(x) * y + 2.0, 1.0, 2.0)
    (x,), (y,) = g.find("x"), g.find("y")
    (sin,), (mul,), (add,) = g.find("sin"), g.find("mul"), g.find("add")
    assert g.into(sin) == [x] and sorted(g.into(mul)) == sorted([sin, y])
    (literal,) = g.of_kind("literal")
    assert g.text(literal) == "2.0" and sorted(g.into(add)) == sorted([mul, literal])
    assert g.out_of(add) == g.of_kind("output")
    assert "v₁ : f64[]" in g.text(sin) and "v₋₁ : f64[]" in g.text(x)


def test_matmul_with_broadcast_shows_output_shapes_and_pytree_input_names():
    def layer(params, x):
        return fnp.tanh(x @ params["w"] + params["b"])

    params = {"w": np.ones((3, 2)), "b": np.zeros(2)}
    g = graph_of(layer, params, np.ones((4, 3)))
    assert {g.heading(n) for n in g.of_kind("input")} == {"params['b']", "params['w']", "x"}
    (matmul,) = g.find("dot_general")
    assert "f64[4,2]" in g.text(matmul)
    (b,) = g.find("params['b']")
    (add,) = g.out_of(b)
    assert g.heading(add) == "add" and matmul in g.into(add)
    assert "f64[4,2]" in g.text(g.of_kind("output")[0])


def test_constants_are_nodes_with_their_values():
    c = np.array([1.0, 2.0])
    g = graph_of(lambda x: x * c, np.ones(2))
    (const,) = g.of_kind("const")
    assert "c₀ = [1., 2.]" in g.text(const)
    assert g.heading(g.out_of(const)[0]) == "mul"


def test_jit_body_is_a_cluster_fed_by_the_outer_inputs():
    inner = fungrad.jit(lambda y: fnp.sin(y) * 2.0)
    g = graph_of(lambda x: inner(x) + 1.0, 3.0)
    assert g.cluster_labels == ["jit <lambda>"]
    (x,), (sin,), (jit,) = g.find("x"), g.find("sin"), g.find("jit")
    assert g.clusters[sin] == "jit <lambda>" and jit not in g.clusters
    assert g.into(sin) == [x]  # the body's input is the call's operand
    (mul,) = g.find("mul")
    assert (mul, jit, "style=dashed") in g.edges  # the body's result returns to the call


def test_cond_branches_are_clusters_and_the_index_feeds_the_cond():
    g = graph_of(lambda x: lax.cond(x > 0, lambda v: v * 2.0, lambda v: -v, x), 1.0)
    assert g.cluster_labels == ["cond branch 0", "cond branch 1"]
    (cond,), (x,) = g.find("cond"), g.find("x")
    (convert,) = [n for n in g.into(cond) if n not in g.clusters]
    assert g.heading(g.into(convert)[0]) == "gt"
    (neg,), (mul,) = g.find("neg"), g.find("mul")
    assert g.clusters[neg] == "cond branch 0" and g.clusters[mul] == "cond branch 1"
    assert x in g.into(neg) and x in g.into(mul)


def test_scan_body_is_a_cluster_and_its_outputs_are_labelled():
    def cumulative(xs):
        return lax.scan(lambda c, a: (c + a, c * a), 0.0, xs)

    g = graph_of(cumulative, np.arange(3.0))
    assert g.cluster_labels == ["scan body"]
    (scan,) = g.find("scan")
    assert "length=3" in g.text(scan)
    labels = sorted(attrs for tail, _, attrs in g.edges if tail == scan)
    assert [re.search(r"label=<(.*?)>", a)[1] for a in labels] == ["v₁", "v₂"]


def test_while_condition_skips_the_body_constants():
    k = np.float64(3.0)

    def loop(x, y):
        return lax.while_loop(lambda c: c < x, lambda c: c * k + y, 1.0)

    g = graph_of(loop, 10.0, 0.5)
    assert sorted(g.cluster_labels) == ["while body", "while condition"]
    (x,), (y,), (lt,), (add,) = g.find("x"), g.find("y"), g.find("lt"), g.find("add")
    assert x in g.into(lt) and y not in g.into(lt) and y in g.into(add)


def test_custom_jvp_and_checkpoint_bodies_are_clusters():
    @fungrad.custom_jvp
    def softplus(x):
        return fnp.log1p(fnp.exp(x))

    softplus.defjvp(lambda p, t: (softplus(p[0]), t[0] / (1 + fnp.exp(-p[0]))))
    twice = fungrad.checkpoint(lambda y: fnp.sin(fnp.sin(y)))
    g = graph_of(lambda x: twice(softplus(x)), 0.5)
    assert g.cluster_labels == ["custom_jvp_call softplus", "checkpoint body"]
    (log1p,) = g.find("log1p")
    assert g.clusters[log1p] == "custom_jvp_call softplus"
    assert "jvp=" not in g.text(g.find("custom_jvp_call")[0])  # functions are not shown
    # With values, checkpoint is inlined as fungrad.explain shows it, with its numbers.
    g = graph_of(lambda x: twice(x), 0.5, values=True)
    assert g.cluster_labels == [] and len(g.find("sin")) == 2
    assert f"= {format_value(math.sin(math.sin(0.5)))}" in g.text(g.find("sin")[1])


def test_nested_higher_order_primitives_under_grad():
    def f(x):
        return lax.cond(x > 0, lambda v: fnp.sin(v) * v, lambda v: v, x)

    graph_of(fungrad.grad(f), 0.7)


@needs_dot
def test_dot_accepts_every_graph_and_awkward_text_is_escaped():
    graphs = [
        to_dot(lecture)(2.0, 5.0),
        to_dot(lecture, values=True, title='<f> & "g"')(2.0, 5.0),
        to_dot(lambda d: d["a&<b>"] * 2.0)({"a&<b>": 1.0}),
        to_dot(lambda x: lax.scan(lambda c, a: (c + a, c), 0.0, x))(np.ones(3)),
        to_dot(fungrad.grad(lecture), source_info=True)(2.0, 5.0),
    ]
    for dot in graphs:
        dot_accepts(dot)
    assert "&lt;f&gt; &amp; &quot;g&quot;" in graphs[1]


# ---------------------------------------------------------------------------------------
# Values, adjoints, tangents


def test_values_and_adjoints_of_the_lecture_function_match_the_derivatives():
    x1, x2 = 2.0, 5.0
    g = graph_of(lecture, x1, x2, values=True)
    (n1,), (n2,), (out,) = g.find("x1"), g.find("x2"), g.of_kind("output")
    assert f"v̄₋₁ = {format_value(1 / x1 + x2)}" in g.text(n1)  # 5.5
    assert f"v̄₀ = {format_value(x1 - math.cos(x2))}" in g.text(n2)  # 1.716
    value = math.log(x1) + x1 * x2 - math.sin(x2)
    assert f"v₅ = {format_value(value)}\nv̄₅ = 1" in g.text(out)
    (sin,) = g.find("sin")  # v̄4 = ∂f/∂v4 = -1
    assert f"v₄ = {format_value(math.sin(x2))}\nv̄₄ = -1" in g.text(sin)


def test_adjoints_on_the_inputs_are_the_gradient_of_a_vector_function():
    w, x = np.array([0.5, -1.0, 2.0]), np.array([1.0, 2.0, 0.5])

    def loss(w, x):
        return fnp.sum(fnp.tanh(w * x))

    g = graph_of(loss, w, x, values=True)
    expected = (1 - np.tanh(w * x) ** 2) * x  # closed form of d loss / d w
    assert f"v̄₋₁ = {format_value(expected)}" in g.text(g.find("w")[0])
    assert f"v₋₁ = {format_value(w)}" in g.text(g.find("w")[0])


def test_forward_mode_shows_tangents():
    g = graph_of(lecture, 2.0, 5.0, values=True, mode="forward", tangent=(1.0, 0.0))
    (out,) = g.of_kind("output")
    assert "v̇₅ = 5.5" in g.text(out) and "v̄" not in g.text(out)


def test_sum_times_figure_numbers():
    dot = backprop_figures.figures()["graph_sum_times.svg"]
    g = check_structure(dot, fungrad.make_jaxpr(backprop_figures.sum_times)(-2.0, 5.0, -4.0))
    texts = {g.heading(n): g.text(n) for n in g.nodes}
    assert "v̄₋₂ = -4" in texts["x"] and "v̄₋₁ = -4" in texts["y"] and "v̄₀ = 3" in texts["z"]
    assert "v₁ = 3" in texts["add"] and "v₂ = -12" in texts["mul"]


# ---------------------------------------------------------------------------------------
# The gradient's graph


def test_the_gradient_graph_contains_the_forward_graph_and_its_mirror():
    forward = graph_of(lecture, 2.0, 5.0)
    backward = graph_of(fungrad.grad(lecture, argnums=(0, 1)), 2.0, 5.0)
    headings = [backward.heading(n) for n in backward.of_kind("op")]
    for n in forward.of_kind("op"):  # the forward pass is recomputed ...
        assert forward.heading(n) in headings
    assert "cos" in headings  # ... and the derivative of sin appears
    assert len(backward.of_kind("output")) == 2
    g = graph_of(fungrad.grad(lecture), 2.0, 5.0, values=True)
    assert "= 5.5" in g.text(g.of_kind("output")[0])


def test_jvp_graph_has_primal_and_tangent_outputs():
    def sin_jvp(x, t):
        return fungrad.jvp(fnp.sin, (x,), (t,))

    g = graph_of(sin_jvp, 0.3, 1.0, values=True, cotangent=(1.0, 0.0))
    (p, t) = g.of_kind("output")
    assert f"= {format_value(math.sin(0.3))}" in g.text(p)
    assert f"= {format_value(math.cos(0.3))}" in g.text(t)


# ---------------------------------------------------------------------------------------
# Options, formatting, the jaxpr entry point


def test_source_info_is_shown_only_when_asked():
    def f(x):
        return fnp.exp(x)

    line = f.__code__.co_firstlineno + 1
    assert f"test_graph.py:{line}" in to_dot(f, source_info=True)(1.0)
    assert "test_graph.py" not in to_dot(f)(1.0)


def test_jaxpr_to_dot_of_open_and_closed_jaxprs():
    closed = fungrad.make_jaxpr(lambda x: fnp.exp(x) + x)(1.0)
    g = check_structure(jaxpr_to_dot(closed, arg_names=["x"]), closed)
    assert g.find("x") and g.find("exp")
    g = Graph(jaxpr_to_dot(closed.jaxpr, title="open"))
    assert g.find("v0")


def test_format_value():
    assert format_value(np.float64(11.65198)) == "11.652"
    assert format_value(-1234567.0) == "-1.2346e+06"
    assert format_value(3) == "3" and format_value(np.bool_(True)) == "True"
    assert format_value(np.array([[1.0, 2.5], [0.12345, 4.0]])) == "[[1., 2.5], [0.123, 4.]]"
    assert format_value(np.zeros((3, 3), np.float32)) == "f32[3,3]"
    assert format_value(np.zeros((), fungrad.float0)) == "0"


def test_derivative_options_need_values():
    with pytest.raises(FungradValueError, match="values=True"):
        to_dot(lecture, tangent=(1.0, 0.0))


# ---------------------------------------------------------------------------------------
# Rendering


@needs_dot
def test_render_svg_and_png_with_the_dot_program(tmp_path):
    dot = to_dot(lecture, values=True)(2.0, 5.0)
    with mock.patch.dict(sys.modules, {"graphviz": None}):  # the subprocess route
        svg = render(dot, tmp_path / "f.svg")
        png = render(dot, str(tmp_path / "f.picture"), format="png")
    assert svg == tmp_path / "f.svg" and png == tmp_path / "f.picture"
    root = ElementTree.parse(svg).getroot()
    assert root.tag.endswith("svg")
    assert "5.5" in svg.read_text()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_dot
def test_render_with_the_graphviz_package(tmp_path):
    pytest.importorskip("graphviz", reason="the optional graphviz Python package")
    path = render(to_dot(lecture)(2.0, 5.0), tmp_path / "f.svg")
    ElementTree.parse(path)


def test_render_without_graphviz_names_the_install_step(tmp_path):
    with (
        mock.patch.dict(sys.modules, {"graphviz": None}),
        mock.patch("shutil.which", return_value=None),
        pytest.raises(RuntimeError, match="apt-get install graphviz"),
    ):
        render("digraph { a }", tmp_path / "f.svg")
    assert not (tmp_path / "f.svg").exists()


def test_render_through_the_graphviz_package_without_dot_names_the_install_step(tmp_path):
    graphviz = pytest.importorskip("graphviz", reason="the optional graphviz Python package")
    missing = graphviz.ExecutableNotFound(["dot"])
    with (
        mock.patch.object(graphviz.Source, "pipe", side_effect=missing),
        pytest.raises(RuntimeError, match="brew install graphviz"),
    ):
        render("digraph { a }", tmp_path / "f.png")


def test_render_refuses_unknown_formats(tmp_path):
    with pytest.raises(FungradValueError, match="unknown format 'jpg'.*'svg', 'png', 'pdf'"):
        render("digraph { a }", tmp_path / "f.jpg")
    with pytest.raises(FungradValueError, match="no suffix"):
        render("digraph { a }", tmp_path / "f")


@needs_dot
def test_render_reports_dot_errors(tmp_path):
    with (
        mock.patch.dict(sys.modules, {"graphviz": None}),
        pytest.raises(RuntimeError, match="dot failed on this DOT text: .*syntax error"),
    ):
        render("digraph { a -> }", tmp_path / "f.svg")


@needs_dot
def test_render_reports_dot_errors_through_the_graphviz_package(tmp_path):
    pytest.importorskip("graphviz", reason="the optional graphviz Python package")
    with pytest.raises(RuntimeError, match="dot failed on this DOT text: .*syntax error"):
        render("digraph { a -> }", tmp_path / "f.svg")


# ---------------------------------------------------------------------------------------
# The tutorial's figures


@pytest.mark.parametrize(
    "name, numbers",
    [
        ("graph_sum_times.svg", ["= -2", "= 5", "= -4", "= 3", "= -12", "= 1"]),
        ("graph_lecture.svg", ["= 2", "= 5", "= 11.65", "= 5.5", "= 1.716", "= -0.9589"]),
    ],
)
def test_figures_are_present_and_show_the_numbers(name, numbers):
    text = html.unescape((ROOT / "docs" / "images" / name).read_text())
    ElementTree.fromstring(text.encode())
    for number in numbers:
        assert number in text, number
    assert ".py:" not in text  # no source lines, which would hold paths


def _svg_texts(svg: str) -> list[str]:
    return sorted(html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg))


@needs_dot
def test_figures_are_current(tmp_path):
    """The tool writes every figure, and the committed ones are what it writes now: the
    same words and numbers, and the same bytes when made by the same Graphviz."""
    backprop_figures.main(["--output", str(tmp_path)])
    for name in backprop_figures.figures():
        fresh, committed = (tmp_path / name).read_text(), (ROOT / "docs/images" / name).read_text()
        ElementTree.fromstring(fresh.encode())
        stale = f"docs/images/{name} is out of date: run python tools/backprop_figures.py"
        assert _svg_texts(fresh) == _svg_texts(committed), stale
        if fresh.splitlines()[:5] == committed.splitlines()[:5]:  # the Graphviz version
            assert fresh == committed, stale


def test_render_refuses_a_function_and_says_how_to_draw_one(tmp_path):
    with pytest.raises(TypeError, match=r"got function.*render\(to_dot\(f\)\(x\), 'f.svg'\)"):
        render(fnp.sin, tmp_path / "f.svg")


@needs_dot
def test_render_draws_a_closed_jaxpr(tmp_path):
    closed = fungrad.make_jaxpr(lambda x: fnp.sin(x) * x)(1.0)
    path = render(closed, tmp_path / "f.svg")
    assert "sin" in path.read_text() and path.read_text().lstrip().startswith("<?xml")
    # a bare Jaxpr too, and the format in capitals
    path = render(closed.jaxpr, tmp_path / "g.out", format="SVG")
    assert "sin" in path.read_text()


def test_errors_of_the_values_say_they_come_from_explain_with_to_dot_s_options():
    with pytest.raises(TypeError, match=r"to_dot\(values=True\) computes .* argument 1 \('n'\)"):
        to_dot(lambda x, n: x * n, values=True)(1.0, 3)
    with pytest.raises(ValueError, match=r"to_dot\(values=True\).*Pass cotangent="):
        to_dot(lambda x: x * 2.0, values=True)(np.ones(3))
