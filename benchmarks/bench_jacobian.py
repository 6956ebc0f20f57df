"""Jacobians and Hessians: fungrad's batched jacfwd/jacrev/hessian against a loop and NumPy.

Three cases, each timed against two baselines, with the ratios printed next to the
targets from issue 3 (no jit):

* ``jac64``, ``jac256``: the Jacobian of f(x) = tanh(A x) + sin(x) * x for n = 64 and
  n = 256 (A a fixed random n x n float64 matrix). ``jacfwd`` and ``jacrev`` build it in
  one batched pass; the *loop* baseline builds it in fungrad with one ``fungrad.jvp``
  call per basis vector (a column each), which is what one writes without ``vmap``; the
  *analytic* baseline is the hand-written NumPy Jacobian
  diag(1 - tanh(A x)^2) A + diag(cos(x) x + sin(x)). Targets at n = 256: the batched
  Jacobian at least 20x faster than the loop, and at most 25x the analytic one.
* ``hess100``: the Hessian of g(x) = sum(log(1 + exp(A x))) for n = 100 by
  ``fungrad.hessian`` (forward over reverse), against the analytic NumPy Hessian
  A^T diag(s (1 - s)) A with s = sigmoid(A x) (target: at most 25x). ``jacrev(jacrev)``,
  ``jacfwd(jacfwd)`` and a loop of ``fungrad.hvp`` over basis vectors are shown beside it.

Before timing, every contender's result is checked against the analytic NumPy one to
1e-10 (relative to its largest entry). The contenders run interleaved, once each per
round, in a rotating order, each timed call right after an untimed one of its own (warm
caches); the tables show medians of wall time over rounds and the quartiles of the
per-round ratios. The process's CPU time is recorded too: where wall time exceeds it,
other work took the core, which inflates the long loops most, and the script says so
and gives each target's ratio in CPU time as well. torch.func and JAX (eager, and
under jit for reference) are timed afterwards when they happen to be installed.

    python benchmarks/bench_jacobian.py              # full run: about half a minute
    python benchmarks/bench_jacobian.py --quick      # smoke run: a few seconds
    python benchmarks/bench_jacobian.py --profile jac256 --profile-contender jacrev

The timing and environment helpers are in harness.py, shared with bench_grad.py. See
benchmarks/README.md for how to read the output.
"""

# ruff: noqa: E402  (the BLAS thread count must be pinned before NumPy is imported)
from __future__ import annotations

# isort: off
from harness import (  # first: it pins the BLAS threads before NumPy is imported
    add_malloc_arg,
    add_profile_args,
    add_timing_args,
    check_matrix,
    ms,
    paired_ratio_iqr,
    parse_peers,
    print_profile,
    set_up_and_print_header,
    Times,
    time_rounds,
    verify as verify_against,
)
# isort: on

import argparse
import statistics
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

import fungrad
import fungrad.numpy as fnp

Contenders = dict[str, Callable[[], np.ndarray]]

CASES = {"jac64": 64, "jac256": 256, "hess100": 100}
DEFAULT_REPEATS = 101
TOLERANCE = 1e-10
PREEMPTED = 1.05  # median wall / CPU time per call above which timings are suspect
ANALYTIC = "numpy"  # the hand-written NumPy contender of every case

# The one-pass contenders of each case, and the loop each is compared with.
BATCHED = {"jac64": ("jacfwd", "jacrev"), "jac256": ("jacfwd", "jacrev"), "hess100": ("hessian",)}
LOOP = {"jac64": "jvp-loop", "jac256": "jvp-loop", "hess100": "hvp-loop"}
# Issue 3's targets, as (case, numerator, denominator, comparison, bound): the ratio of
# median times numerator / denominator must satisfy the comparison; "*" stands for each
# batched contender of the case.
TARGETS = (
    ("jac256", "jvp-loop", "*", ">=", 20.0),
    ("jac256", "*", ANALYTIC, "<=", 25.0),
    ("hess100", "*", ANALYTIC, "<=", 25.0),
)

# ---------------------------------------------------------------------------------------
# The problems


def problem(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A fixed random A (n x n) and x (n), float64.

    A is scaled by 1/sqrt(n) so that the entries of A x are of order one: tanh and the
    sigmoid are not saturated, and no part of the Jacobian or Hessian is negligibly small.
    """
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n)) / np.sqrt(n)
    x = rng.uniform(-2.0, 2.0, n)
    return a, x


def jacobian_numpy(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """J = diag(1 - tanh(A x)^2) A + diag(cos(x) x + sin(x)), as one writes it for speed."""
    t = np.tanh(a @ x)
    jac = (1.0 - t * t)[:, None] * a
    jac[np.diag_indices_from(jac)] += np.cos(x) * x + np.sin(x)
    return jac


def hessian_numpy(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """H = A^T diag(s (1 - s)) A with s = sigmoid(A x)."""
    s = 1.0 / (1.0 + np.exp(-(a @ x)))
    return a.T @ ((s * (1.0 - s))[:, None] * a)


def jacobian_contenders(n: int, chunk_size: int | None) -> Contenders:
    a, x = problem(n)

    def f(v: Any) -> Any:
        return fnp.tanh(a @ v) + fnp.sin(v) * v

    jac_fwd, jac_rev = fungrad.jacfwd(f), fungrad.jacrev(f)

    def jvp_loop() -> np.ndarray:
        """One fungrad.jvp per basis vector: f is traced and linearized n times."""
        basis = np.eye(n)
        return np.stack([fungrad.jvp(f, (x,), (basis[i],))[1] for i in range(n)], axis=1)

    def linearize_loop() -> np.ndarray:
        """f linearized once, then its jvp function called once per basis vector."""
        basis = np.eye(n)
        _, f_jvp = fungrad.linearize(f, x)
        return np.stack([f_jvp(basis[i]) for i in range(n)], axis=1)

    out: Contenders = {
        ANALYTIC: lambda: jacobian_numpy(a, x),
        "jacfwd": lambda: np.asarray(jac_fwd(x)),
        "jacrev": lambda: np.asarray(jac_rev(x)),
        "jvp-loop": jvp_loop,
        "linearize-loop": linearize_loop,
    }
    if chunk_size is not None:
        fwd_c = fungrad.jacfwd(f, chunk_size=chunk_size)
        rev_c = fungrad.jacrev(f, chunk_size=chunk_size)
        out[f"jacfwd-chunk{chunk_size}"] = lambda: np.asarray(fwd_c(x))
        out[f"jacrev-chunk{chunk_size}"] = lambda: np.asarray(rev_c(x))
    return out


def hessian_contenders(n: int, chunk_size: int | None) -> Contenders:
    a, x = problem(n, seed=1)

    def g(v: Any) -> Any:
        return fnp.sum(fnp.log(1.0 + fnp.exp(a @ v)))

    hess = fungrad.hessian(g)
    rev_rev = fungrad.jacrev(fungrad.jacrev(g))
    fwd_fwd = fungrad.jacfwd(fungrad.jacfwd(g))

    def hvp_loop() -> np.ndarray:
        """One fungrad.hvp (forward over reverse) per basis vector: H e_i is column i."""
        basis = np.eye(n)
        return np.stack([fungrad.hvp(g, (x,), (basis[i],)) for i in range(n)], axis=1)

    out: Contenders = {
        ANALYTIC: lambda: hessian_numpy(a, x),
        "hessian": lambda: np.asarray(hess(x)),
        "jacrev(jacrev)": lambda: np.asarray(rev_rev(x)),
        "jacfwd(jacfwd)": lambda: np.asarray(fwd_fwd(x)),
        "hvp-loop": hvp_loop,
    }
    if chunk_size is not None:
        hess_c = fungrad.hessian(g, chunk_size=chunk_size)
        out[f"hessian-chunk{chunk_size}"] = lambda: np.asarray(hess_c(x))
    return out


def build_contenders(case: str, chunk_size: int | None = None) -> Contenders:
    """The analytic NumPy baseline first, then the fungrad contenders, for one case."""
    if case == "hess100":
        return hessian_contenders(CASES[case], chunk_size)
    return jacobian_contenders(CASES[case], chunk_size)


# ---------------------------------------------------------------------------------------
# Peers, each imported only when asked for; a missing one is skipped with a note.


def torch_contenders(case: str) -> Contenders:
    import torch
    from torch import func

    torch.set_num_threads(1)
    n = CASES[case]
    if case == "hess100":
        a, x = problem(n, seed=1)
        t_a, t_x = torch.from_numpy(a), torch.from_numpy(x)

        def g(v):
            return torch.log(1.0 + torch.exp(t_a @ v)).sum()

        hess = func.hessian(g)
        return {"torch.func hessian": lambda: hess(t_x).numpy()}

    a, x = problem(n)
    t_a, t_x = torch.from_numpy(a), torch.from_numpy(x)

    def f(v):
        return torch.tanh(t_a @ v) + torch.sin(v) * v

    fwd, rev = func.jacfwd(f), func.jacrev(f)
    return {
        "torch.func jacfwd": lambda: fwd(t_x).numpy(),
        "torch.func jacrev": lambda: rev(t_x).numpy(),
    }


def jax_contenders(case: str) -> Contenders:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    n = CASES[case]

    def wrap(fn: Callable, arg: Any) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            return np.asarray(jax.block_until_ready(fn(arg)))

        return run

    if case == "hess100":
        a, x = problem(n, seed=1)
        j_a, j_x = jnp.asarray(a), jnp.asarray(x)

        def g(v):
            return jnp.sum(jnp.log(1.0 + jnp.exp(j_a @ v)))

        return {
            "jax hessian": wrap(jax.hessian(g), j_x),
            # jit is a different game (one compiled XLA program); for reference only.
            "jax hessian (jit)": wrap(jax.jit(jax.hessian(g)), j_x),
        }

    a, x = problem(n)
    j_a, j_x = jnp.asarray(a), jnp.asarray(x)

    def f(v):
        return jnp.tanh(j_a @ v) + jnp.sin(v) * v

    return {
        "jax jacfwd": wrap(jax.jacfwd(f), j_x),
        "jax jacrev": wrap(jax.jacrev(f), j_x),
        "jax jacfwd (jit)": wrap(jax.jit(jax.jacfwd(f)), j_x),
        "jax jacrev (jit)": wrap(jax.jit(jax.jacrev(f)), j_x),
    }


PEERS = {"torch": torch_contenders, "jax": jax_contenders}


# ---------------------------------------------------------------------------------------
# Timing and checking


def check_agreement(name: str, got: np.ndarray, want: np.ndarray) -> str:
    """Raise unless ``got`` matches ``want`` to TOLERANCE, relative to want's largest entry."""
    return check_matrix(name, got, want, TOLERANCE)


def verify(case: str, contenders: Contenders, want: np.ndarray) -> None:
    verify_against(case, contenders, want, check_agreement, "the analytic NumPy result")


# ---------------------------------------------------------------------------------------
# Reporting


def ratio_cell(numer: list[float], denom: list[float]) -> str:
    """Ratio of medians, with the quartiles of the per-round (paired) ratio."""
    low, high = paired_ratio_iqr(numer, denom)
    return f"{ms(numer) / ms(denom):10.2f}x {f'{low:.2f}-{high:.2f}':>13}"


def print_case_table(case: str, rounds: int, times: Times) -> None:
    loop = LOOP[case]
    print(f"{case} (n={CASES[case]}, {rounds} rounds)")
    print(
        f"  {'contender':<20} {'median ms':>10} {'/ analytic':>11} {'IQR':>13}"
        f" {'loop / this':>11} {'IQR':>13}"
    )
    for name, t in times.items():
        vs_analytic = ratio_cell(t, times[ANALYTIC]) if name != ANALYTIC else f"{'':>25}"
        vs_loop = ratio_cell(times[loop], t) if name not in (ANALYTIC, loop) else ""
        print(f"  {name:<20} {ms(t):>10.3f} {vs_analytic} {vs_loop}".rstrip())


def wall_cpu_shares(wall: Times, cpu: Times) -> dict[str, float]:
    """Median wall / CPU time per call of each contender; well above 1, it lost its core.

    With more runnable processes than cores, a 20 ms loop is descheduled for a time
    slice or two in most rounds, while a 1 ms batched call mostly is not: the loop's
    wall time, and the loop / batched ratio with it, then grow for reasons that have
    nothing to do with fungrad.
    """
    return {
        name: statistics.median(w / max(c, 1e-9) for w, c in zip(wall[name], cpu[name]))
        for name in wall
    }


def preemption_line(shares: dict[str, float]) -> str:
    cells = ", ".join(f"{name} {share:.2f}" for name, share in shares.items())
    line = f"  wall / CPU time per call: {cells}"
    if max(shares.values()) > PREEMPTED:
        line += (
            f"\n  warning: above {PREEMPTED:g}, the process lost its core during timed calls"
            "\n  (other work running): the loop ratios are inflated; rerun on a quiet machine"
        )
    return line


def target_lines(results: dict[str, Times], cpu_times: dict[str, Times]) -> list[str]:
    """One line per target and batched contender: the ratio of wall-time medians, the
    verdict, and the same ratio in CPU time, which other processes cannot inflate."""
    lines = []
    for case, numer, denom, op, bound in TARGETS:
        if case not in results:
            continue
        times, cpu = results[case], cpu_times[case]
        shares = wall_cpu_shares(times, cpu)
        for batched in BATCHED[case]:
            top, bottom = (batched if x == "*" else x for x in (numer, denom))
            ratio = ms(times[top]) / ms(times[bottom])
            cpu_ratio = ms(cpu[top]) / ms(cpu[bottom])
            suspect = max(shares[top], shares[bottom]) > PREEMPTED
            met = ratio >= bound if op == ">=" else ratio <= bound
            if met:
                verdict = "met"
            elif op == ">=":
                verdict = f"MISSED: {1 - ratio / bound:.0%} short, {bound / ratio:.2f}x to go"
            else:
                verdict = f"MISSED: {ratio / bound - 1:.0%} over, {ratio / bound:.2f}x to go"
            label = f"{case}: {top} / {bottom}"
            lines.append(
                f"  {label:<32} {ratio:7.2f}x  (CPU time {cpu_ratio:.2f}x)  "
                f"target {op}{bound:g}x  {verdict}"
                + ("  [suspect: lost its core]" if suspect else "")
            )
    return lines


# ---------------------------------------------------------------------------------------
# Main


def run_profile(case: str, contender: str, calls: int, lines: int) -> None:
    contenders = build_contenders(case)
    if contender not in contenders:
        known = ", ".join(contenders)
        raise SystemExit(f"--profile-contender: {case} has {known}; not {contender!r}")
    title = f"{case}, {contender}"
    print_profile(contenders[contender], calls, lines, title, ("cumulative", "tottime"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_timing_args(
        parser,
        repeats_help=f"timed rounds per case (default {DEFAULT_REPEATS})",
        quick_help="a smoke run: 5 rounds, 1 warm-up round",
    )
    parser.add_argument("--case", choices=(*CASES, "all"), default="all")
    parser.add_argument(
        "--peers",
        default="torch,jax",
        help="comma-separated peers to time when installed; '' for none (default: torch,jax)",
    )
    parser.add_argument(
        "--chunk-size",
        type=int,
        help="also time jacfwd/jacrev/hessian with this chunk_size (extra rows)",
    )
    add_profile_args(
        parser, CASES, "instead of timing, cProfile one fungrad contender of this case", calls=50
    )
    parser.add_argument(
        "--profile-contender",
        help="which contender to profile (default: jacrev for jac*, hessian for hess100)",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="time each call without an untimed call of the same contender just before it "
        "(bench_grad.py's way; caches cold, see the README)",
    )
    add_malloc_arg(parser)
    args = parser.parse_args(argv)
    if args.chunk_size is not None and args.chunk_size < 1:
        parser.error("--chunk-size must be positive")

    set_up_and_print_header(args.system_malloc)
    print(
        "caches: cold (--cold): each timed call follows other contenders' work"
        if args.cold
        else "caches: warm: each timed call follows an untimed call of the same contender"
    )
    print(
        "loops: jvp-loop = one fungrad.jvp call per basis vector (f traced and linearized "
        "each time);\n       linearize-loop = fungrad.linearize once, then its jvp function "
        "per basis vector;\n       hvp-loop = one fungrad.hvp call per basis vector"
    )
    print()

    if args.profile:
        default = "hessian" if args.profile == "hess100" else "jacrev"
        contender = args.profile_contender or default
        run_profile(args.profile, contender, args.profile_calls, args.profile_lines)
        return 0

    cases = list(CASES) if args.case == "all" else [args.case]
    wanted = parse_peers(parser, args.peers, PEERS)
    warmup = 1 if args.quick else args.warmup
    repeats = args.repeats or (5 if args.quick else DEFAULT_REPEATS)

    # Phase 1: NumPy and fungrad, interleaved; peers are not imported yet (JAX leaves
    # worker threads busy after each call, which slows whatever runs next).
    results: dict[str, Times] = {}
    cpu_times: dict[str, Times] = {}
    for case in cases:
        contenders = build_contenders(case, args.chunk_size)
        verify(case, contenders, contenders[ANALYTIC]())
        results[case], cpu_times[case] = time_rounds(
            contenders, repeats, warmup, warm=not args.cold, cpu=True
        )
    print()
    print("ratios: '/ analytic' = this / analytic NumPy; 'loop / this' = how many times")
    print("faster than the loop this is; IQR = quartiles of the per-round ratio")
    for case in cases:
        print()
        print_case_table(case, repeats, results[case])
        print(preemption_line(wall_cpu_shares(results[case], cpu_times[case])))
    print()
    print("targets (issue 3, no jit)")
    for line in target_lines(results, cpu_times) or ["  (none in the cases run)"]:
        print(line)

    # Phase 2: each peer on its own, against the phase-1 analytic medians.
    if wanted:
        print()
        peer_rows = []
        for peer in wanted:
            for case in cases:
                try:
                    found = PEERS[peer](case)
                except ImportError as exc:
                    print(f"{peer}: not installed, skipped ({exc.name or exc})")
                    break
                verify(case, found, build_contenders(case)[ANALYTIC]())
                for name, fn in found.items():
                    t = time_rounds({name: fn}, repeats, warmup, warm=not args.cold)[0][name]
                    peer_rows.append((case, name, ms(t), ms(t) / ms(results[case][ANALYTIC])))
        if peer_rows:
            print()
            print("peers, each timed alone after the rounds above; ratio to the analytic median")
            print(f"  {'case':<8} {'peer':<20} {'median ms':>10} {'/ analytic':>10}")
            for case, name, t, r in sorted(peer_rows, key=lambda row: cases.index(row[0])):
                print(f"  {case:<8} {name:<20} {t:>10.3f} {r:>9.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
