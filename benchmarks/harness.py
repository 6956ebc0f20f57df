"""The harness shared by bench_grad.py, bench_jacobian.py and bench_jit.py.

Importing it pins the BLAS thread count to one (so each script imports it before
NumPy) and puts the repository root first on ``sys.path``, so that the scripts
benchmark the fungrad of this checkout. The rest is shared helpers: the environment
header, glibc malloc settings, interleaved timing rounds, medians and ratio quartiles,
the agreement checks, command-line flags and cProfile output.
"""

# ruff: noqa: E402  (the BLAS thread count must be pinned before NumPy is imported)
from __future__ import annotations

import os

# One BLAS thread: the comparisons are about per-operation overhead, not about how well
# two cores are shared; and a thread pool makes timings of small products noisy.
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
for _var in THREAD_VARS:
    os.environ[_var] = "1"
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")  # JAX, if timed

import argparse
import cProfile
import gc
import io
import platform
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent  # benchmarks/
# Benchmark the fungrad of this checkout, not whichever one happens to be installed.
sys.path.insert(0, str(HERE.parent))

import fungrad

Times = dict[str, list[float]]  # seconds per call, one entry per round

# ---------------------------------------------------------------------------------------
# Command line and header


def add_timing_args(parser: argparse.ArgumentParser, repeats_help: str, quick_help: str) -> None:
    """``--repeats``, ``--warmup`` and ``--quick``, as every script has them."""
    parser.add_argument("--repeats", type=int, help=repeats_help)
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first (default 3)")
    parser.add_argument("--quick", action="store_true", help=quick_help)


def add_profile_args(
    parser: argparse.ArgumentParser,
    choices: Sequence[str],
    help: str,
    calls: int | None = 20,
    calls_help: str | None = None,
) -> None:
    """``--profile CHOICE`` (profile instead of timing), ``--profile-calls`` and
    ``--profile-lines``, as every script has them."""
    parser.add_argument("--profile", choices=tuple(choices), help=help)
    parser.add_argument("--profile-calls", type=int, default=calls, help=calls_help)
    parser.add_argument("--profile-lines", type=int, default=25)


def add_malloc_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--system-malloc",
        action="store_true",
        help="keep glibc's malloc thresholds (by default they are fixed; see the README)",
    )


def parse_peers(parser: argparse.ArgumentParser, text: str, known: dict[str, Any]) -> list[str]:
    """The comma-separated peers of ``--peers``; an unknown one is a usage error."""
    wanted = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in wanted if p not in known]
    if unknown:
        parser.error(f"unknown peer(s) {unknown}; choose from {sorted(known)}")
    return wanted


_limiter: Any = None  # threadpoolctl's limiter, kept alive for the whole run


def set_up_and_print_header(system_malloc: bool) -> None:
    """Fix malloc (unless ``system_malloc``), pin the thread pools, print the environment."""
    global _limiter
    malloc_note = (
        "malloc: glibc's defaults (--system-malloc)"
        if system_malloc
        else keep_freed_memory_in_glibc_heap()
    )
    _limiter = pin_threads_with_threadpoolctl()
    for line in describe_environment(_limiter):
        print(line)
    print(malloc_note)


def pin_threads_with_threadpoolctl() -> Any:
    """Limit BLAS/OpenMP pools to one thread; returns the limiter (keep it alive)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(1)


def keep_freed_memory_in_glibc_heap() -> str:
    """Make glibc reuse freed heap memory for large temporaries instead of returning it.

    By default glibc serves allocations above a moving threshold (128 KiB to 32 MiB)
    with fresh ``mmap`` pages and gives freed heap tops back to the system, so whether
    an MLP temporary (0.5 to 3 MiB) costs a round of page faults depends on the history
    of the process. Measured here, that moved the NumPy MLP time between 6 and 9.5 ms
    from one run to the next, and the ratio with it. Fixing both thresholds makes every
    run reuse warm pages, which also makes the ratio the stricter one (a fixed cost
    paid by both sides would shrink it).
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return "malloc: not glibc, left as it is"
    import ctypes

    m_trim_threshold, m_mmap_threshold = -1, -3  # from <malloc.h>
    libc = ctypes.CDLL(None)
    ok = libc.mallopt(m_mmap_threshold, 32 << 20) == 1
    ok = libc.mallopt(m_trim_threshold, 1 << 30) == 1 and ok
    if not ok:
        return "malloc: glibc refused mallopt; thresholds left as they are"
    return "malloc: glibc mmap threshold 32 MiB, trim threshold 1 GiB (--system-malloc: defaults)"


def describe_environment(limiter: Any) -> list[str]:
    lines = [
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"fungrad {getattr(fungrad, '__version__', '?')} from {Path(fungrad.__file__).parent}",
        f"source: {source_state()}",
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {cpu_model()}, "
        f"load average {load_average()}",
        "threads: " + ", ".join(f"{v}={os.environ.get(v)}" for v in THREAD_VARS),
    ]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > (os.cpu_count() or 1) / 2:
        lines.append(
            f"warning: 1-minute load average is {load:.2f} on {os.cpu_count()} CPUs: other "
            "work is running, and it slows fungrad more than NumPy; expect a wide ratio IQR"
        )
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_VERBOSE"):
        if var in os.environ:
            lines.append(
                f"note: {var}={os.environ[var]} is set; it changes which OpenBLAS kernels run, "
                f"so results may not match a run without it"
            )
    if limiter is not None:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            lines.append(
                f"blas (threadpoolctl): {pool.get('internal_api')} {pool.get('version')} "
                f"{pool.get('architecture', '')}, num_threads={pool.get('num_threads')}, "
                f"{Path(pool.get('filepath', '')).name}"
            )
    else:
        lines.append("blas: threadpoolctl not installed; pinned by the environment variables only")
        try:
            blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
            config = blas.get("openblas configuration") or ""
            lines.append(f"blas (numpy build): {blas.get('name')} {blas.get('version')} {config}")
        except Exception as exc:  # show_config's layout is not a stable API
            lines.append(f"blas: numpy.show_config gave no BLAS details ({exc!r})")
    return lines


def source_state() -> str:
    """The commit benchmarked, and whether the work tree's fungrad differs from it."""
    repo = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--", "fungrad"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"commit {commit}" + (" with uncommitted changes to fungrad/" if dirty else "")


def load_average() -> str:
    """Other work on the machine skews timings; a load near the CPU count is a warning."""
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


# ---------------------------------------------------------------------------------------
# Timing


def time_rounds(
    contenders: dict[str, Callable[[], Any]],
    repeats: int,
    warmup: int,
    *,
    calls: int = 1,
    warm: bool = False,
    cpu: bool = False,
) -> tuple[Times, Times]:
    """Wall and CPU seconds per call of each contender: one sample each per round.

    The contenders run interleaved, once each per round, in a rotating order, so a slow
    spell of the machine hits them alike; ``gc.collect()`` runs between rounds, outside
    the timed calls. A sample is ``calls`` back-to-back calls (divided by ``calls``).
    With ``warm``, each sample comes right after an untimed call of the same contender,
    so it finds its own data in the CPU caches: without it, the ``gc.collect()`` and the
    other contenders' work evict it, and the analytic NumPy Jacobian at n=256 takes
    0.15-0.19 ms instead of 0.07 ms (see the README). The process's CPU time
    is recorded only with ``cpu`` (the second result is empty lists otherwise).
    """
    names = list(contenders)
    for _ in range(warmup):
        for name in names:
            contenders[name]()
    wall: Times = {name: [] for name in names}
    cpu_times: Times = {name: [] for name in names}
    for round_ in range(repeats):
        gc.collect()  # outside the timed calls, so no contender pays for another's garbage
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            fn = contenders[name]
            if warm:
                fn()
            if cpu:
                start, start_cpu = time.perf_counter(), time.process_time()
                for _ in range(calls):
                    fn()
                wall[name].append((time.perf_counter() - start) / calls)
                cpu_times[name].append((time.process_time() - start_cpu) / calls)
            else:
                start = time.perf_counter()
                for _ in range(calls):
                    fn()
                wall[name].append((time.perf_counter() - start) / calls)
    return wall, cpu_times


def ms(seconds: list[float]) -> float:
    return 1e3 * statistics.median(seconds)


def paired_ratio_iqr(numer: list[float], denom: list[float]) -> tuple[float, float]:
    """Quartiles of the per-round ratio: how much the ratio moved from round to round."""
    ratios = sorted(a / b for a, b in zip(numer, denom))
    if len(ratios) < 4:
        return ratios[0], ratios[-1]
    q = statistics.quantiles(ratios, n=4)
    return q[0], q[2]


# ---------------------------------------------------------------------------------------
# Checking


def verify(
    case: str,
    contenders: dict[str, Callable[[], Any]],
    want: Any,
    check: Callable[[str, Any, Any], str],
    against: str,
) -> None:
    """Check every contender but the ``numpy`` baseline against ``want``, and say so."""
    for name, fn in contenders.items():
        if name != "numpy":
            err = check(f"{case}/{name}", fn(), want)
            print(f"{case}: {name} agrees with {against} (max rel. error {err})")


def leaves_error(
    name: str, got: tuple[float, list], want: tuple[float, list], leaf: str = "leaf"
) -> float:
    """Largest relative error of a (loss, leaves) pair: the loss against its own size,
    each leaf against its largest entry (so a leaf of tiny entries is still checked to
    the full tolerance). Raises if the leaves differ in number, shape or dtype."""
    (loss, leaves), (want_loss, want_leaves) = got, want
    worst = abs(loss - want_loss) / max(abs(want_loss), np.finfo(float).tiny)
    if len(leaves) != len(want_leaves):
        plural = leaf.removesuffix("f") + "ves"
        raise AssertionError(f"{name}: {len(leaves)} {plural}, expected {len(want_leaves)}")
    for i, (g, w) in enumerate(zip(leaves, want_leaves)):
        g = np.asarray(g)
        if g.shape != w.shape or g.dtype != w.dtype:
            raise AssertionError(
                f"{name}: {leaf} {i} is {g.dtype}{list(g.shape)}, "
                f"expected {w.dtype}{list(w.shape)}"
            )
        scale = max(float(np.max(np.abs(w))), np.finfo(float).tiny)
        worst = max(worst, float(np.max(np.abs(g.astype(float) - w))) / scale)
    return worst


def leaves_checker(tolerance: float, leaf: str) -> Callable[[str, Any, Any], str]:
    """A check for ``verify``: raise unless ``got`` matches ``want`` to ``tolerance`` by
    :func:`leaves_error`; otherwise return the error, formatted."""

    def check(name: str, got: tuple[float, list], want: tuple[float, list]) -> str:
        err = leaves_error(name, got, want, leaf)
        if err > tolerance:
            raise AssertionError(f"{name}: relative error {err:.2e} > {tolerance:g}")
        return f"{err:.1e}"

    return check


def check_matrix(name: str, got: np.ndarray, want: np.ndarray, tolerance: float) -> str:
    """Raise unless ``got`` matches ``want`` to ``tolerance``, relative to want's largest entry."""
    got = np.asarray(got)
    if got.shape != want.shape or got.dtype != want.dtype:
        raise AssertionError(
            f"{name}: result is {got.dtype}{list(got.shape)}, "
            f"expected {want.dtype}{list(want.shape)}"
        )
    worst = float(np.max(np.abs(got - want))) / float(np.max(np.abs(want)))
    if not worst <= tolerance:
        raise AssertionError(
            f"{name}: differs from the analytic NumPy result by {worst:.2e} (relative), "
            f"more than {tolerance:.0e}"
        )
    return f"{worst:.1e}"


# ---------------------------------------------------------------------------------------
# Profiling


def print_profile(
    run: Callable[[], Any], calls: int, lines: int, title: str, sorts: tuple[str, str]
) -> None:
    """cProfile ``calls`` calls of ``run`` (after 3 untimed ones); print the top lines."""
    for _ in range(3):
        run()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        run()
    profiler.disable()
    for sort in sorts:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(sort).print_stats(lines)
        print(f"== {title}, {calls} calls, sorted by {sort} ==")
        print(out.getvalue().strip())
        print()
