"""Control flow under jit: 1,000-step loops against hand-written NumPy loops.

``fungrad.lax``'s loops compile their body once into a generated Python function,
and a driver (``scan_driver``) calls it once per step. This script measures what that
costs against the same loop written by hand in NumPy:

* ``rk4``: 1,000 RK4 steps of 8 damped pendulums (state: two float64 vectors of 8)
  with ``jit`` of a ``lax.fori_loop``, against a NumPy ``for`` loop doing the same
  arithmetic (target: at most 1.3x).
* ``rnn``: 1,000 steps of an Elman RNN cell (tanh, hidden 16, input 4, batch 8) with
  ``jit`` of a ``lax.scan`` returning every hidden state (target: at most 1.3x).
* ``compile``: trace + compile of those jitted loops (a fresh jit object's
  ``lower``: trace, simplify, generate code), for 10 and for 1,000 steps; and of the
  RNN's ``value_and_grad``. It should be milliseconds, and the same for both lengths.
* ``rnn-grad``: ``jit(value_and_grad(loss))`` of the 1,000-step RNN scan (loss: the
  mean square of the hidden states), against a hand-written NumPy forward pass and
  backpropagation through time (no target; the ratio is printed).
* ``rnn1-grad``: the same on a single sequence (a hidden state of shape (16,)
  instead of (8, 16)): the products in the backward pass are then vector-matrix and
  outer products (no target).

Before timing, every contender's result is checked against the NumPy one. Contenders
run interleaved, once each per round, in a rotating order; the table shows medians
over rounds and the quartiles of the per-round ratio. JAX (``jax.jit`` of the same
``jax.lax`` loops) is timed afterwards, for reference, when it is installed.

    python benchmarks/bench_control_flow.py               # full run: about half a minute
    python benchmarks/bench_control_flow.py --quick       # smoke run: a few seconds
    python benchmarks/bench_control_flow.py --show-code rk4
    python benchmarks/bench_control_flow.py --profile rk4  # cProfile of the jitted loop

The timing and environment helpers are in harness.py, shared with the other scripts.
"""

# ruff: noqa: E402  (the BLAS thread count must be pinned before NumPy is imported)
from __future__ import annotations

# isort: off
from harness import (  # first: it pins the BLAS threads before NumPy is imported
    add_malloc_arg,
    add_profile_args,
    add_timing_args,
    leaves_error,
    ms,
    paired_ratio_iqr,
    parse_peers,
    print_profile,
    set_up_and_print_header,
    time_rounds,
    verify as verify_against,
)
# isort: on

import argparse
import gc
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import fungrad
import fungrad.numpy as fnp
from fungrad import lax

NUMPY, JIT = "numpy", "jit"
LOOP_CASES = ("rk4", "rnn")
GRAD_CASES = ("rnn-grad", "rnn1-grad")
ALL_CASES = (*LOOP_CASES, "compile", *GRAD_CASES)
TARGETS: dict[str, float | None] = {"rk4": 1.3, "rnn": 1.3, "rnn-grad": None, "rnn1-grad": None}
DEFAULT_REPEATS = {"rk4": 31, "rnn": 31, "compile": 31, "rnn-grad": 31, "rnn1-grad": 15}
TOLERANCE = 1e-10  # relative to each result's largest entry
STEPS = 1000
COMPILE_STEPS = (10, STEPS)
Contenders = dict[str, Callable[[], Any]]

# ---------------------------------------------------------------------------------------
# rk4: damped pendulums, theta'' = -stiffness sin(theta) - damping theta'

PENDULUMS = 8
DT = 0.01
STIFFNESS, DAMPING = 9.81, 0.3


def pendulum_state(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(-2.0, 2.0, PENDULUMS), rng.uniform(-1.0, 1.0, PENDULUMS)


def rk4_step(theta: Any, omega: Any, stiffness: Any, damping: Any) -> tuple[Any, Any]:
    """One RK4 step; written once for fungrad (fnp) and once for NumPy below."""

    def field(theta: Any, omega: Any) -> tuple[Any, Any]:
        return omega, -stiffness * fnp.sin(theta) - damping * omega

    k1t, k1o = field(theta, omega)
    k2t, k2o = field(theta + 0.5 * DT * k1t, omega + 0.5 * DT * k1o)
    k3t, k3o = field(theta + 0.5 * DT * k2t, omega + 0.5 * DT * k2o)
    k4t, k4o = field(theta + DT * k3t, omega + DT * k3o)
    return (
        theta + DT / 6 * (k1t + 2 * k2t + 2 * k3t + k4t),
        omega + DT / 6 * (k1o + 2 * k2o + 2 * k3o + k4o),
    )


def make_rk4_fungrad(steps: int) -> Callable[..., Any]:
    def integrate(theta: Any, omega: Any, stiffness: Any, damping: Any) -> Any:
        def body(i: Any, state: tuple[Any, Any]) -> tuple[Any, Any]:
            return rk4_step(*state, stiffness, damping)

        return lax.fori_loop(0, steps, body, (theta, omega))

    return integrate


def rk4_numpy(
    theta: np.ndarray, omega: np.ndarray, stiffness: float, damping: float, steps: int = STEPS
) -> tuple[np.ndarray, np.ndarray]:
    """The same arithmetic in the same order, as a plain NumPy loop."""

    def field(theta: np.ndarray, omega: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return omega, -stiffness * np.sin(theta) - damping * omega

    for _ in range(steps):
        k1t, k1o = field(theta, omega)
        k2t, k2o = field(theta + 0.5 * DT * k1t, omega + 0.5 * DT * k1o)
        k3t, k3o = field(theta + 0.5 * DT * k2t, omega + 0.5 * DT * k2o)
        k4t, k4o = field(theta + DT * k3t, omega + DT * k3o)
        theta, omega = (
            theta + DT / 6 * (k1t + 2 * k2t + 2 * k3t + k4t),
            omega + DT / 6 * (k1o + 2 * k2o + 2 * k3o + k4o),
        )
    return theta, omega


def rk4_case() -> tuple[tuple, Contenders, Callable]:
    theta, omega = pendulum_state()
    args = (theta, omega, np.float64(STIFFNESS), np.float64(DAMPING))
    jitted = fungrad.jit(make_rk4_fungrad(STEPS))
    return (
        args,
        {
            NUMPY: lambda: rk4_numpy(theta, omega, STIFFNESS, DAMPING),
            JIT: lambda: jitted(*args),
        },
        jitted,
    )


# ---------------------------------------------------------------------------------------
# rnn: an Elman RNN cell h_t = tanh(h_{t-1} W + x_t U + b) over 1,000 steps

HIDDEN, INPUTS, BATCH = 16, 4, 8


def rnn_problem(batch: int | None, steps: int = STEPS, seed: int = 0) -> tuple[dict, np.ndarray]:
    """Parameters, and inputs of shape (steps, batch, INPUTS) ((steps, INPUTS) if None)."""
    rng = np.random.default_rng(seed)
    params = {
        "w": rng.normal(0.0, 1.0 / np.sqrt(HIDDEN), (HIDDEN, HIDDEN)),
        "u": rng.normal(0.0, 1.0 / np.sqrt(INPUTS), (INPUTS, HIDDEN)),
        "b": rng.normal(0.0, 0.1, HIDDEN),
    }
    shape = (steps, INPUTS) if batch is None else (steps, batch, INPUTS)
    return params, rng.normal(size=shape)


def rnn_fungrad(params: dict[str, Any], xs: Any) -> tuple[Any, Any]:
    """The final hidden state and every hidden state, stacked."""

    def cell(h: Any, x: Any) -> tuple[Any, Any]:
        h = fnp.tanh(h @ params["w"] + x @ params["u"] + params["b"])
        return h, h

    return lax.scan(cell, fnp.zeros(xs.shape[1:-1] + (HIDDEN,)), xs)


def rnn_loss_fungrad(params: dict[str, Any], xs: Any) -> Any:
    return fnp.sum(rnn_fungrad(params, xs)[1] ** 2) / xs.shape[0]


def rnn_numpy(params: dict[str, np.ndarray], xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w, u, b = params["w"], params["u"], params["b"]
    hs = np.empty(xs.shape[:-1] + (HIDDEN,))
    h = np.zeros(xs.shape[1:-1] + (HIDDEN,))
    for t in range(xs.shape[0]):
        h = np.tanh(h @ w + xs[t] @ u + b)
        hs[t] = h
    return h, hs


def rnn_value_and_grad_numpy(
    params: dict[str, np.ndarray], xs: np.ndarray
) -> tuple[float, dict[str, np.ndarray]]:
    """Forward pass, then backpropagation through time, by hand. With a batch the
    weight gradients are matrix products over the batch; for one sequence they are
    outer products."""
    w, u = params["w"], params["u"]
    steps = xs.shape[0]
    h0 = np.zeros(xs.shape[1:-1] + (HIDDEN,))
    _, hs = rnn_numpy(params, xs)
    loss = float(np.sum(hs * hs)) / steps
    batched = xs.ndim == 3
    dw, du, db = np.zeros_like(w), np.zeros_like(u), np.zeros_like(params["b"])
    dh = np.zeros_like(h0)
    for t in range(steps - 1, -1, -1):
        h = hs[t]
        dh += (2.0 / steps) * h
        dz = dh * (1.0 - h * h)
        h_prev = hs[t - 1] if t else h0
        if batched:
            dw += h_prev.T @ dz
            du += xs[t].T @ dz
            db += dz.sum(axis=0)
        else:
            dw += np.outer(h_prev, dz)
            du += np.outer(xs[t], dz)
            db += dz
        dh = dz @ w.T
    return loss, {"w": dw, "u": du, "b": db}


def rnn_case() -> tuple[tuple, Contenders, Callable]:
    params, xs = rnn_problem(BATCH)
    jitted = fungrad.jit(rnn_fungrad)
    return (
        (params, xs),
        {NUMPY: lambda: rnn_numpy(params, xs), JIT: lambda: jitted(params, xs)},
        jitted,
    )


def rnn_grad_case(batch: int | None) -> tuple[tuple, Contenders, Callable]:
    params, xs = rnn_problem(batch)
    jitted = fungrad.jit(fungrad.value_and_grad(rnn_loss_fungrad))
    return (
        (params, xs),
        {
            NUMPY: lambda: rnn_value_and_grad_numpy(params, xs),
            JIT: lambda: jitted(params, xs),
        },
        jitted,
    )


BUILDERS: dict[str, Callable[[], tuple[tuple, Contenders, Callable]]] = {
    "rk4": rk4_case,
    "rnn": rnn_case,
    "rnn-grad": lambda: rnn_grad_case(BATCH),
    "rnn1-grad": lambda: rnn_grad_case(None),
}

# ---------------------------------------------------------------------------------------
# Checking


def as_leaves(out: Any) -> tuple[float, list[np.ndarray]]:
    """A result as (scalar, flat arrays): a loss and its gradient (w, u, b), or a pair of
    arrays (scalar 0)."""
    first, second = out
    if isinstance(second, dict):
        return float(first), [np.asarray(second[k]) for k in ("w", "u", "b")]
    return 0.0, [np.asarray(first), np.asarray(second)]


def check_result(name: str, got: Any, want: Any) -> str:
    worst = leaves_error(name, as_leaves(got), as_leaves(want), leaf="result")
    if not worst <= TOLERANCE:
        raise AssertionError(
            f"{name}: differs from hand-written NumPy by {worst:.2e} (relative), "
            f"more than {TOLERANCE:.0e}"
        )
    return f"{worst:.1e}"


def verify(case: str, contenders: Contenders) -> None:
    verify_against(case, contenders, contenders[NUMPY](), check_result, "hand-written NumPy")


# ---------------------------------------------------------------------------------------
# compile: trace + compile of the jitted loops, for 10 and 1,000 steps

COMPILED: dict[str, Callable[[int], tuple[Callable, tuple]]] = {
    "rk4 fori_loop": lambda steps: (
        make_rk4_fungrad(steps),
        (*pendulum_state(), np.float64(STIFFNESS), np.float64(DAMPING)),
    ),
    "rnn scan": lambda steps: (rnn_fungrad, rnn_problem(BATCH, steps)),
    "rnn value_and_grad": lambda steps: (
        fungrad.value_and_grad(rnn_loss_fungrad),
        rnn_problem(BATCH, steps),
    ),
}


def compile_times(repeats: int) -> dict[tuple[str, int], list[float]]:
    """Seconds for ``jit(fn).lower(*args)`` on fresh jit objects: trace, simplify and
    generate the code; nothing runs. One sample per repeat and (function, steps)."""
    out: dict[tuple[str, int], list[float]] = {
        (name, steps): [] for name in COMPILED for steps in COMPILE_STEPS
    }
    for _ in range(repeats):
        for name, make in COMPILED.items():
            for steps in COMPILE_STEPS:
                fn, args = make(steps)
                gc.collect()
                start = time.perf_counter()
                fungrad.jit(fn).lower(*args)
                out[(name, steps)].append(time.perf_counter() - start)
    return out


def compile_rows(times: dict[tuple[str, int], list[float]]) -> list[str]:
    """Median and fastest compile per length. The fastest is the cost without
    interruptions: a compile takes milliseconds, about one time slice of another
    process, so on a busy machine the medians move more than the compile does."""
    rows = [
        f"{'trace + compile (jit(...).lower)':<26} "
        + " ".join(f"{f'{s} steps: median/min ms':>25}" for s in COMPILE_STEPS)
        + f" {'min ratio':>9}  the same for both lengths (<= 1.5x)?"
    ]
    for name in COMPILED:
        cells = [
            f"{ms(times[(name, s)]):.2f} / {1e3 * min(times[(name, s)]):.2f}"
            for s in COMPILE_STEPS
        ]
        ratio = min(times[(name, COMPILE_STEPS[-1])]) / min(times[(name, COMPILE_STEPS[0])])
        rows.append(
            f"  {name:<24} "
            + " ".join(f"{c:>25}" for c in cells)
            + f" {ratio:>8.2f}x  {'yes' if ratio <= 1.5 else 'NO'}"
        )
    return rows


# ---------------------------------------------------------------------------------------
# Peers: JAX under jax.jit, imported only after the rounds above, for reference only


def jax_peer(case: str) -> Contenders:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def ready(fn: Callable, *args: Any) -> Callable[[], Any]:
        return lambda: jax.tree_util.tree_map(np.asarray, jax.block_until_ready(fn(*args)))

    if case == "rk4":
        theta, omega = pendulum_state()

        @jax.jit
        def integrate(theta, omega):
            def body(i, state):
                t, o = state

                def field(t, o):
                    return o, -STIFFNESS * jnp.sin(t) - DAMPING * o

                k1t, k1o = field(t, o)
                k2t, k2o = field(t + 0.5 * DT * k1t, o + 0.5 * DT * k1o)
                k3t, k3o = field(t + 0.5 * DT * k2t, o + 0.5 * DT * k2o)
                k4t, k4o = field(t + DT * k3t, o + DT * k3o)
                return (
                    t + DT / 6 * (k1t + 2 * k2t + 2 * k3t + k4t),
                    o + DT / 6 * (k1o + 2 * k2o + 2 * k3o + k4o),
                )

            return jax.lax.fori_loop(0, STEPS, body, (theta, omega))

        return {"jax.jit": ready(integrate, jnp.asarray(theta), jnp.asarray(omega))}

    def rnn(params, xs):
        def cell(h, x):
            h = jnp.tanh(h @ params["w"] + x @ params["u"] + params["b"])
            return h, h

        return jax.lax.scan(cell, jnp.zeros(xs.shape[1:-1] + (HIDDEN,)), xs)

    def loss(params, xs):
        return jnp.sum(rnn(params, xs)[1] ** 2) / xs.shape[0]

    params, xs = rnn_problem(None if case == "rnn1-grad" else BATCH)
    j_params = jax.tree_util.tree_map(jnp.asarray, params)
    fn = jax.jit(rnn) if case == "rnn" else jax.jit(jax.value_and_grad(loss))
    return {"jax.jit": ready(fn, j_params, jnp.asarray(xs))}


PEERS = {"jax": jax_peer}

# ---------------------------------------------------------------------------------------
# Reporting


def verdict(ratio: float, target: float | None) -> str:
    if target is None:
        return "(no target)"
    return "met" if ratio <= target else f"MISSED by {ratio / target - 1:.0%}"


TABLE_HEADER = (
    f"{'case':<12} {'rnds':>4} {'numpy ms':>9} {'jit ms':>9} {'jit/np':>8} {'IQR':>11} "
    f"{'target':>8}"
)


def table_row(case: str, times: dict[str, list[float]]) -> str:
    base, t = times[NUMPY], times[JIT]
    ratio = ms(t) / ms(base)
    low, high = paired_ratio_iqr(t, base)
    target = TARGETS[case]
    shown = f"<={target:g}x" if target is not None else "-"
    return (
        f"{case:<12} {len(t):>4} {ms(base):>9.3f} {ms(t):>9.3f} {ratio:>7.2f}x "
        f"{f'{low:.2f}-{high:.2f}':>11} {shown:>8}  {verdict(ratio, target)}"
        + ("  (noisy: ratio outside its IQR)" if not low <= ratio <= high else "")
    )


def show_code(case: str) -> None:
    args, _, jitted = BUILDERS[case]()
    print(f"== {case}: generated source of {jitted!r} ==")
    print(jitted.lower(*args).as_text())


def run_profile(case: str, calls: int, lines: int) -> None:
    args, _, jitted = BUILDERS[case]()
    print(f"== {case}: the generated code that runs ==")
    print(jitted.lower(*args).as_text())
    print_profile(lambda: jitted(*args), calls, lines, f"{case}, jit", ("tottime", "cumulative"))


# ---------------------------------------------------------------------------------------
# Main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_timing_args(
        parser,
        repeats_help="timed rounds per case (default: 31; 15 for rnn1-grad)",
        quick_help="a smoke run: 5 rounds, 1 warm-up",
    )
    parser.add_argument(
        "--case",
        action="append",
        choices=(*ALL_CASES, "all"),
        help="a case to run (repeatable; default all)",
    )
    parser.add_argument(
        "--peers", default="jax", help="'jax' to time jax.jit when installed, '' for none"
    )
    add_malloc_arg(parser)
    parser.add_argument("--show-code", choices=tuple(BUILDERS), help="print the generated source")
    add_profile_args(
        parser,
        BUILDERS,
        "instead of timing, cProfile the jitted call and print the top lines",
    )
    args = parser.parse_args(argv)
    wanted = parse_peers(parser, args.peers, PEERS)

    set_up_and_print_header(args.system_malloc)
    print()
    if args.show_code or args.profile:
        if args.show_code:
            show_code(args.show_code)
        if args.profile:
            run_profile(args.profile, args.profile_calls, args.profile_lines)
        return 0

    cases = list(ALL_CASES) if not args.case or "all" in args.case else args.case
    warmup = 1 if args.quick else args.warmup

    def repeats_for(case: str) -> int:
        return args.repeats or (5 if args.quick else DEFAULT_REPEATS[case])

    # Phase 1: NumPy and fungrad's jit, interleaved; peers not imported yet.
    rows: list[str] = []
    extra: list[str] = []
    results: dict[str, dict[str, list[float]]] = {}
    for case in cases:
        if case == "compile":
            extra = compile_rows(compile_times(repeats_for(case)))
            continue
        _, contenders, _ = BUILDERS[case]()
        verify(case, contenders)
        times = time_rounds(contenders, repeats_for(case), warmup)[0]
        results[case] = times
        rows.append(table_row(case, times))

    print()
    print(f"{STEPS}-step loops; jit/np = jit median / hand-written NumPy median; IQR = its")
    print("per-round quartiles")
    if rows:
        print(TABLE_HEADER)
        for row in rows:
            print(row)
    if extra:
        print()
        for row in extra:
            print(row)

    # Phase 2: peers on their own, against the phase-1 NumPy medians; reference only.
    for peer in wanted:
        print()
        try:
            __import__(peer)
        except ImportError as exc:
            print(f"{peer}: not installed, skipped ({exc.name or exc})")
            continue
        print(f"{peer}, each timed alone after the rounds above; ratio to the NumPy median above")
        for case in results:
            found = PEERS[peer](case)
            verify_against(
                case,
                found,
                BUILDERS[case]()[1][NUMPY](),
                check_result,
                "hand-written NumPy",
            )
            for name, fn in found.items():
                t = time_rounds({name: fn}, repeats_for(case), warmup)[0][name]
                ratio = ms(t) / ms(results[case][NUMPY])
                print(f"  {case:<11} {name:<10} {ms(t):>9.3f} ms {ratio:>7.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
