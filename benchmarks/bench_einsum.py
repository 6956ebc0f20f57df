"""Loss + gradient of an einsum-based loss: fungrad eager and jit against hand-written NumPy.

The loss is a batch of bilinear forms, summed: ``sum(einsum("bi,ij,bj->b", X, W, Y))``
with a batch of 256 and vectors of 128 (float64), differentiated in X, W and Y.
fungrad's ``einsum`` contracts it pairwise with ``dot_general`` (``X @ W`` first, then a
batched dot with Y), so forward and backward are a few matrix products, as in the
hand-written NumPy version (``X @ W``, ``(XW * Y).sum()``, ``Y @ W.T``, ``X.T @ Y``). The
ratio fungrad / NumPy is printed next to the target from issue 13 (at most 2x).

Before timing, each contender's loss and gradient are checked against NumPy's. The
contenders run interleaved, once each per round, in a rotating order; the table shows
medians over rounds.

    python benchmarks/bench_einsum.py            # full run: a few seconds
    python benchmarks/bench_einsum.py --quick    # smoke run
    python benchmarks/bench_einsum.py --profile eager   # cProfile of fungrad eager

See benchmarks/README.md for how to read the output (the same harness as bench_grad.py).
"""

# ruff: noqa: E402  (the BLAS thread count must be pinned before NumPy is imported)
from __future__ import annotations

# isort: off
from harness import (  # first: it pins the BLAS threads before NumPy is imported
    add_malloc_arg,
    add_profile_args,
    add_timing_args,
    leaves_checker,
    ms,
    paired_ratio_iqr,
    print_profile,
    set_up_and_print_header,
    time_rounds,
    verify as verify_against,
)
# isort: on

import argparse
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

import fungrad
import fungrad.numpy as fnp

BATCH, SIZE = 256, 128
TARGET = 2.0
DEFAULT_REPEATS = 101
TOLERANCE = 1e-10

Result = tuple[float, list[np.ndarray]]  # (loss, [dX, dW, dY])


def problem(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, SIZE))
    w = rng.standard_normal((SIZE, SIZE)) / np.sqrt(SIZE)
    y = rng.standard_normal((BATCH, SIZE))
    return x, w, y


def loss_fungrad(x: Any, w: Any, y: Any) -> Any:
    return fnp.sum(fnp.einsum("bi,ij,bj->b", x, w, y))


def loss_numpy(x: np.ndarray, w: np.ndarray, y: np.ndarray) -> Result:
    xw = x @ w
    loss = float(np.sum(xw * y))
    # d loss / d (xw) = y, so dx = y @ w.T and dw = x.T @ y; d loss / dy = xw
    return loss, [y @ w.T, x.T @ y, xw]


def build_contenders() -> dict[str, Callable[[], Result]]:
    x, w, y = problem()
    value_and_grad = fungrad.value_and_grad(loss_fungrad, argnums=(0, 1, 2))
    compiled = fungrad.jit(value_and_grad)

    def run(fn: Callable[..., Any]) -> Callable[[], Result]:
        def call() -> Result:
            loss, grads = fn(x, w, y)
            return float(loss), list(grads)

        return call

    return {
        "numpy": lambda: loss_numpy(x, w, y),
        "eager": run(value_and_grad),
        "jit": run(compiled),
    }


check_agreement = leaves_checker(TOLERANCE, "gradient")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_timing_args(
        parser,
        repeats_help=f"timed rounds (default {DEFAULT_REPEATS})",
        quick_help="a smoke run: 5 rounds, 1 warm-up round",
    )
    add_profile_args(
        parser,
        ("eager", "jit"),
        "instead of timing, cProfile this fungrad contender and print the top lines",
        calls=50,
    )
    add_malloc_arg(parser)
    args = parser.parse_args(argv)

    set_up_and_print_header(args.system_malloc)
    print()
    contenders = build_contenders()
    if args.profile:
        title = f"fungrad {args.profile}: einsum bilinear loss + gradient"
        print_profile(
            contenders[args.profile],
            args.profile_calls,
            args.profile_lines,
            title,
            ("cumulative", "tottime"),
        )
        return 0

    verify_against("einsum", contenders, contenders["numpy"](), check_agreement, "NumPy")
    repeats = args.repeats or (5 if args.quick else DEFAULT_REPEATS)
    warmup = 1 if args.quick else args.warmup
    wall, cpu = time_rounds(contenders, repeats, warmup, cpu=True)
    print()
    print(f"loss = sum(einsum('bi,ij,bj->b', X, W, Y)), batch {BATCH}, size {SIZE}, float64")
    print("medians over rounds; CPU time is the process's (less disturbed by other load)")
    print(
        f"{'contender':<10} {'rounds':>6} {'wall ms':>8} {'ratio':>7} {'ratio IQR':>13} "
        f"{'cpu ms':>8} {'ratio':>7} {'target':>8}"
    )
    base, base_cpu = ms(wall["numpy"]), ms(cpu["numpy"])
    print(f"{'numpy':<10} {repeats:>6} {base:>8.3f} {'':>7} {'':>13} {base_cpu:>8.3f}")
    for name in ("eager", "jit"):
        t, t_cpu = ms(wall[name]), ms(cpu[name])
        low, high = paired_ratio_iqr(wall[name], wall["numpy"])
        ratio = t / base
        verdict = "met" if ratio <= TARGET else "MISSED"
        print(
            f"{name:<10} {repeats:>6} {t:>8.3f} {ratio:>6.2f}x {f'{low:.2f}-{high:.2f}x':>13} "
            f"{t_cpu:>8.3f} {t_cpu / base_cpu:>6.2f}x {f'<={TARGET:g}x':>8} {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
