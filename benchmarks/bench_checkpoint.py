"""checkpoint: the peak memory of one loss-and-gradient call of a deep MLP, with and
without checkpointing each layer, measured with tracemalloc (issue 12).

A 16-layer MLP (width 256, batch 512, tanh) is differentiated by
``value_and_grad``: plainly, with every layer wrapped in ``fungrad.checkpoint``
(nothing saved but each layer's input), with ``dots_saveable`` (the products saved),
and with the layers checkpointed in blocks of four. The table shows each peak
(tracemalloc counts the arrays NumPy allocates), the ratio to the plain gradient,
and the median time of a call, so the memory saved can be weighed against the
recomputation it costs. The gradients are checked to agree.

Run: ``python benchmarks/bench_checkpoint.py`` (``--quick`` for fewer repeats).
"""

# ruff: noqa: E402  (harness pins the BLAS threads before NumPy is imported)
from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import harness  # noqa: F401  (pins BLAS to one thread, puts this checkout first)
import numpy as np

import fungrad
import fungrad.numpy as fnp
from fungrad import checkpoint, checkpoint_policies
from fungrad.tree_util import tree_leaves

LAYERS, WIDTH, BATCH = 16, 256, 512


def layer(w: Any, x: Any) -> Any:
    return fnp.tanh(x @ w)


def make_loss(wrap: Callable[[Callable], Callable] | None, block: int = 1) -> Callable:
    def block_fn(ws: list, x: Any) -> Any:
        for w in ws:
            x = layer(w, x)
        return x

    step = block_fn if wrap is None else wrap(block_fn)

    def loss(ws: list, x: Any) -> Any:
        for i in range(0, len(ws), block):
            x = step(ws[i : i + block], x)
        return fnp.mean(x**2)

    return loss


VARIANTS: dict[str, Callable] = {
    "plain": make_loss(None),
    "checkpoint each layer": make_loss(checkpoint),
    "each layer, dots_saveable": make_loss(
        lambda f: checkpoint(f, policy=checkpoint_policies.dots_saveable)
    ),
    "checkpoint blocks of 4": make_loss(checkpoint, block=4),
}


def peak_mb(fn: Callable[[], Any]) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 timing repeats instead of 11")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 11
    rng = np.random.default_rng(0)
    ws = [rng.normal(size=(WIDTH, WIDTH)) / np.sqrt(WIDTH) for _ in range(LAYERS)]
    x = rng.normal(size=(BATCH, WIDTH))
    inputs_mb = (sum(w.nbytes for w in ws) + x.nbytes) / 2**20
    print(f"MLP {LAYERS} layers of {WIDTH}, batch {BATCH}, float64; inputs {inputs_mb:.1f} MiB")
    reference = None
    rows = []
    for name, loss in VARIANTS.items():
        vg = fungrad.value_and_grad(loss)
        value, grads = vg(ws, x)  # warm up, and the result to compare
        leaves = [np.asarray(value), *tree_leaves(grads)]
        if reference is None:
            reference = leaves
        error = max(
            float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-300))
            for a, b in zip(leaves, reference)
        )
        assert error < 1e-10, f"{name}: gradient differs from the plain one ({error:.1e})"
        peak = peak_mb(lambda vg=vg: vg(ws, x))
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            vg(ws, x)
            times.append(time.perf_counter() - start)
        rows.append((name, peak, 1e3 * statistics.median(times)))
    base_peak, base_ms = rows[0][1], rows[0][2]
    print(f"{'variant':<28} {'peak MiB':>9} {'vs plain':>9} {'ms/call':>9} {'vs plain':>9}")
    for name, peak, t in rows:
        print(f"{name:<28} {peak:>9.1f} {peak / base_peak:>8.2f}x {t:>9.1f} {t / base_ms:>8.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
