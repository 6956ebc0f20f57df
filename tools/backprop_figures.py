"""Draw the computational graphs that the backpropagation tutorial shows, with their
forward values and adjoints, into docs/images/.

    python tools/backprop_figures.py              # rewrite docs/images/graph_*.svg
    python tools/backprop_figures.py --output D   # write them into the folder D

- graph_sum_times.svg: f(x, y, z) = (x + y)·z at (-2, 5, -4): q = x + y = 3, f = -12,
  ∂f/∂x = ∂f/∂y = -4, ∂f/∂z = 3.
- graph_lecture.svg: f(x1, x2) = ln(x1) + x1·x2 - sin(x2) at (2, 5): f = 11.652,
  ∂f/∂x1 = 5.5, ∂f/∂x2 ≈ 1.716.
- graph_lecture_grad.svg: the program of that function's gradient (docs/graph.md).
- graph_cond.svg: a cond, whose branches are drawn as clusters (docs/graph.md).

The pictures need Graphviz's ``dot`` program (see docs/graph.md). They carry no source
lines, dates or paths, so running this again with the same Graphviz gives the same files.
tests/test_graph.py checks that the files show these numbers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import fungrad  # noqa: E402
import fungrad.numpy as fnp  # noqa: E402
from fungrad import lax  # noqa: E402
from fungrad.graph import render, to_dot  # noqa: E402


def sum_times(x, y, z):
    return (x + y) * z


def lecture(x1, x2):
    # One operation per line, in the lecture's order, so that the figure numbers the
    # nodes v1 ... v5 as docs/tutorial_backprop.md's tables do.
    v1 = fnp.log(x1)
    v2 = x1 * x2
    v3 = fnp.sin(x2)
    v4 = v1 + v2
    v5 = v4 - v3
    return v5


def branches(x):
    return lax.cond(x > 0, fnp.sin, lambda v: v * v, x)


def figures() -> dict[str, str]:
    """File name -> DOT text of each figure."""
    return {
        "graph_sum_times.svg": to_dot(
            sum_times, values=True, title="f(x, y, z) = (x + y) · z   at (−2, 5, −4)"
        )(-2.0, 5.0, -4.0),
        "graph_lecture.svg": to_dot(
            lecture, values=True, title="f(x1, x2) = ln(x1) + x1 · x2 − sin(x2)   at (2, 5)"
        )(2.0, 5.0),
        "graph_lecture_grad.svg": to_dot(
            fungrad.grad(lecture, argnums=(0, 1)), title="grad(f, argnums=(0, 1))"
        )(2.0, 5.0),
        "graph_cond.svg": to_dot(branches, title="lax.cond(x > 0, fnp.sin, lambda v: v * v, x)")(
            1.0
        ),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "images")
    folder = parser.parse_args(argv).output
    folder.mkdir(parents=True, exist_ok=True)
    for name, dot in figures().items():
        print(render(dot, folder / name))


if __name__ == "__main__":
    main()
