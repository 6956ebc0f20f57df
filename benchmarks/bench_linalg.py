"""Gaussian log-likelihood gradient: fungrad.numpy.linalg against hand-written NumPy.

The log-density of ``y`` under N(mu, K), for a 200×200 covariance ``K``:

    loglik(K, mu) = -½ (y - mu)ᵀ K⁻¹ (y - mu) - ½ log det K - (n/2) log 2π

and its gradient with respect to ``K`` and ``mu``. The baseline is the analytic
formula written in NumPy with a Cholesky factor (cho_solve style: NumPy has no
triangular solver, so the solves with ``L`` and ``Lᵀ`` are ``np.linalg.solve``):

    grad_K = -½ (K⁻¹ - α αᵀ),   grad_mu = α,   α = K⁻¹ (y - mu)

fungrad differentiates two ways of writing the log-likelihood: ``cholesky`` (``L =
cholesky(K)``, ``z = solve(L, y - mu)``, log det from L's diagonal) and ``solve``
(``solve(K, y - mu)`` and ``slogdet(K)``), each eagerly and under ``jit``. The ratio
fungrad / NumPy is measured in the same run, interleaved; the target is 2×.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 \\
        python benchmarks/bench_linalg.py [--quick] [--repeats N]
"""

# ruff: noqa: E402  (the BLAS thread count must be pinned before NumPy is imported)
from __future__ import annotations

# isort: off
from harness import (  # first: it pins the BLAS threads before NumPy is imported
    add_malloc_arg,
    add_timing_args,
    ms,
    paired_ratio_iqr,
    set_up_and_print_header,
    time_rounds,
)
# isort: on

import argparse
import math
from collections.abc import Callable
from typing import Any

import numpy as np

import fungrad
import fungrad.numpy as fnp

N = 200
TARGET = 2.0
TOLERANCE = 1e-8
Result = tuple[float, np.ndarray, np.ndarray]  # (loglik, grad K, grad mu)


def problem(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((N, N))
    k = a @ a.T / N + np.eye(N)
    k = (k + k.T) / 2
    return k, rng.standard_normal(N), rng.standard_normal(N)


def loglik_cholesky(k: Any, mu: Any, y: Any) -> Any:
    chol = fnp.linalg.cholesky(k)
    z = fnp.linalg.solve(chol, y - mu)
    half_logdet = fnp.sum(fnp.log(fnp.diagonal(chol)))
    return -0.5 * fnp.sum(z * z) - half_logdet - 0.5 * N * math.log(2 * math.pi)


def loglik_solve(k: Any, mu: Any, y: Any) -> Any:
    r = y - mu
    _, logdet = fnp.linalg.slogdet(k)
    return (
        -0.5 * fnp.sum(r * fnp.linalg.solve(k, r)) - 0.5 * logdet - 0.5 * N * math.log(2 * math.pi)
    )


def numpy_analytic(k: np.ndarray, mu: np.ndarray, y: np.ndarray) -> Result:
    chol = np.linalg.cholesky(k)
    z = np.linalg.solve(chol, y - mu)
    alpha = np.linalg.solve(chol.T, z)
    k_inv = np.linalg.solve(chol.T, np.linalg.solve(chol, np.eye(N)))
    loglik = -0.5 * z @ z - np.sum(np.log(np.diagonal(chol))) - 0.5 * N * math.log(2 * math.pi)
    return float(loglik), -0.5 * (k_inv - np.outer(alpha, alpha)), alpha


def fungrad_contender(fn: Callable, jit: bool, args: tuple) -> Callable[[], Result]:
    vg = fungrad.value_and_grad(fn, argnums=(0, 1))
    if jit:
        vg = fungrad.jit(vg)

    def run() -> Result:
        value, (g_k, g_mu) = vg(*args)
        return float(value), np.asarray(g_k), np.asarray(g_mu)

    return run


def check(name: str, got: Result, want: Result) -> str:
    worst = abs(got[0] - want[0]) / abs(want[0])
    for g, w in zip(got[1:], want[1:]):
        worst = max(worst, float(np.max(np.abs(g - w)) / np.max(np.abs(w))))
    if not worst <= TOLERANCE:
        raise AssertionError(f"{name}: differs from the analytic NumPy gradient by {worst:.2e}")
    return f"{worst:.1e}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_timing_args(
        parser,
        repeats_help="timed rounds (default 31)",
        quick_help="a smoke run: 5 rounds, 1 warm-up round",
    )
    add_malloc_arg(parser)
    args = parser.parse_args(argv)
    set_up_and_print_header(args.system_malloc)
    print()

    data = problem()
    contenders = {"numpy": lambda: numpy_analytic(*data)}
    for label, fn in (("cholesky", loglik_cholesky), ("solve", loglik_solve)):
        contenders[f"fungrad {label}"] = fungrad_contender(fn, False, data)
        contenders[f"fungrad {label} (jit)"] = fungrad_contender(fn, True, data)
    want = contenders["numpy"]()
    for name, fn in contenders.items():
        if name != "numpy":
            err = check(name, fn(), want)
            print(f"{name}: agrees with the analytic NumPy gradient (max rel. error {err})")
    print()

    repeats = args.repeats or (5 if args.quick else 31)
    warmup = 1 if args.quick else args.warmup
    wall, _ = time_rounds(contenders, repeats, warmup)
    base = wall["numpy"]
    print(f"Gaussian log-likelihood + gradient wrt K ({N}x{N}) and mu, {repeats} rounds")
    print(f"{'contender':<24} {'median ms':>10} {'ratio':>7} {'ratio IQR':>15} {'target':>7}")
    for name, times in wall.items():
        if name == "numpy":
            print(f"{name:<24} {ms(times):>10.3f}")
            continue
        ratio = ms(times) / ms(base)
        lo, hi = paired_ratio_iqr(times, base)
        verdict = "ok" if ratio <= TARGET else "MISSED"
        print(
            f"{name:<24} {ms(times):>10.3f} {ratio:>6.2f}x {f'[{lo:.2f}, {hi:.2f}]':>15} "
            f"{TARGET:>5.1f}x {verdict}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
