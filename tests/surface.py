"""Probes of the public NumPy/SciPy surface, for tests/test_surface.py and the coverage page.

A :class:`Probe` is one public function applied to example operands. The same checks
run over every probe (tests/test_surface.py): eager values against a reference
(NumPy's, SciPy's or a tabulated one), derivatives in forward and reverse mode and at
second order against central differences (``check_grads``), ``vmap`` against a loop
over examples, and ``jit`` against eager, for values and gradients.

The probes live in ``surface_*.py`` modules beside this one, one per family; each
defines ``PROBES``. ``tools/coverage_page.py`` turns them into docs/coverage.md, so
the page says exactly what the tests check.
"""

from __future__ import annotations

import dataclasses
import importlib
import pathlib
from collections.abc import Callable
from typing import Any

import numpy as np

Args = Callable[[np.random.Generator], tuple[Any, ...]]


@dataclasses.dataclass(frozen=True)
class Probe:
    """One public function, tested at operands drawn by ``args(rng)``.

    ``name`` is the public name, qualified below fungrad.numpy (``"cumprod"``,
    ``"linalg.solve"``) or from fungrad (``"scipy.special.erf"``). Several probes
    may share a name (different keywords, orders, shapes); ``fn`` is called as
    ``fn(*args)``, so keywords and non-array arguments belong in ``fn``. ``args``
    must give the same shapes and dtypes for every ``rng`` (vmap stacks them).

    ``diff`` lists the operands with a derivative; ``()`` means the output has none
    (integers, booleans, a piecewise-constant result, or a value of constants).
    ``reference`` is the function's meaning (NumPy's or SciPy's function, or a
    formula), called with the same operands. ``kinks`` documents the points where
    the derivative is not defined and the value fungrad gives there; ``args`` must
    avoid them. ``vmap``/``jit`` False (with ``why``) only for a function that
    cannot be batched or compiled, such as one whose result shape depends on values.
    """

    name: str
    fn: Callable[..., Any]
    args: Args
    diff: tuple[int, ...] = (0,)
    reference: Callable[..., Any] | None = None
    kinks: str = ""
    order: int = 2
    vmap: bool = True
    jit: bool = True
    why: str = ""
    rtol: float = 1e-5
    atol: float = 1e-5
    eps: float | None = None
    ref_rtol: float = 1e-10
    ref_atol: float = 1e-12

    def __repr__(self) -> str:  # short ids in pytest and hypothesis reports
        return f"Probe({self.name!r})"


# ---------------------------------------------------------------------------------------
# Operand helpers for ``args``


def uniform(lo: float, hi: float, *shape: int) -> Args:
    """One float64 array of ``shape`` (a scalar if empty) with values in ``[lo, hi]``."""
    return lambda rng: (rng.uniform(lo, hi, shape),)


def uniforms(*specs: tuple[float, float, tuple[int, ...]]) -> Args:
    """Several float64 arrays, one per ``(lo, hi, shape)``."""
    return lambda rng: tuple(rng.uniform(lo, hi, shape) for lo, hi, shape in specs)


def away_from_zero(lo: float, hi: float, *shape: int) -> Args:
    """Values with ``lo <= |x| <= hi`` and random signs."""

    def draw(rng):
        return (rng.uniform(lo, hi, shape) * rng.choice([-1.0, 1.0], shape),)

    return draw


def spd_matrix(rng: np.random.Generator, n: int, batch: tuple[int, ...] = ()) -> np.ndarray:
    """A well-conditioned symmetric positive-definite matrix (or a batch of them)."""
    a = rng.standard_normal((*batch, n, n))
    return a @ np.swapaxes(a, -1, -2) / n + np.eye(n)


def distinct(rng: np.random.Generator, shape: tuple[int, ...], gap: float = 0.1) -> np.ndarray:
    """Values at least ``gap`` apart (no ties: sort, max and median are differentiable)."""
    n = int(np.prod(shape, dtype=np.int64))
    steps = gap + rng.uniform(0.0, 1.0, n)
    return rng.permutation(np.cumsum(steps) - steps.sum() / 2).reshape(shape)


# ---------------------------------------------------------------------------------------
# Collecting the probes

FAMILIES = sorted(path.stem for path in pathlib.Path(__file__).parent.glob("surface_*.py"))


def all_probes() -> list[Probe]:
    probes: list[Probe] = []
    for family in FAMILIES:
        probes.extend(importlib.import_module(family).PROBES)
    return probes
