"""jit: fungrad's compiled gradients against hand-written NumPy and against fungrad without jit.

Each case is timed against a hand-written NumPy forward + backward of the same
computation and against the same fungrad transformation without ``jit``; the table
shows jit / NumPy (with its target from issue 4) and jit / eager:

* ``mlp64``, ``mlp32``: ``jit(value_and_grad(loss))`` of an MLP 784-512-512-10 on a
  batch of 128 (ReLU, mean softmax cross-entropy with integer labels), in float64
  (target: at most 0.95x) and float32 (at most 0.9x).
* ``xor``: the same for an MLP 2-8-8-1 on a batch of 4 (tanh hidden layers, mean
  binary cross-entropy on the logit): pure per-call overhead (target: at most 1.2x).
* ``chain``: 1,000 elementwise ops on a vector of 10, then a sum (at most 1.5x).
* ``sgd``: 200 SGD steps of an MLP 784-128-10, batch 64, from the same start: the whole
  step jitted, and ``jit(value_and_grad)`` plus a ``tree_map`` update (at most 1.05x).
* ``mlp64 grad(jit)``: ``value_and_grad(jit(loss))`` of the same MLP, a compiled forward
  and a compiled backward program (target: at most 1.2x of ``jit(value_and_grad)``).
* ``first-call``: trace + compile of the 784-512-512-10 gradient: a fresh jit object's
  first call minus a steady call (target: under 50 ms).
* ``jac256``, ``hess100``: if benchmarks/bench_jacobian.py is there, its Jacobian
  (n=256) and Hessian (n=100) under jit against its analytic NumPy ones (at most 12x
  and 2.5x).

Before timing, every contender's result is checked against the NumPy one. Contenders
run interleaved, once each per round, in a rotating order; the table shows medians
over rounds and the quartiles of the per-round ratio. JAX (under ``jax.jit``) is
timed afterwards, for reference, when it happens to be installed.

    python benchmarks/bench_jit.py                  # full run: about half a minute
    python benchmarks/bench_jit.py --quick          # smoke run: a few seconds
    python benchmarks/bench_jit.py --show-code xor  # the generated source of one case
    python benchmarks/bench_jit.py --profile chain  # cProfile of the jitted call

The timing and environment helpers are in harness.py, shared with bench_grad.py. See
benchmarks/README.md for how to read the output.
"""

# ruff: noqa: E402  (the BLAS thread count must be pinned before NumPy is imported)
from __future__ import annotations

# isort: off
from harness import (  # first: it pins the BLAS threads before NumPy is imported
    HERE,
    Times,
    add_malloc_arg,
    add_profile_args,
    add_timing_args,
    check_matrix as check_matrix_to,
    leaves_error,
    ms,
    paired_ratio_iqr,
    print_profile,
    set_up_and_print_header,
    time_rounds as harness_time_rounds,
    verify as verify_against,
)
# isort: on

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from bench_grad import (
    chain_loss_fungrad,
    chain_numpy,
    flatten_mlp_grads,
    mlp_loss_fungrad,
    mlp_numpy,
    mlp_problem,
)

import fungrad
import fungrad.numpy as fnp
from fungrad import nn
from fungrad.jit.codegen import generate
from fungrad.jit.simplify import simplify
from fungrad.tree_util import tree_flatten, tree_map

Grads = list[np.ndarray]
Result = tuple[float, Grads]  # (loss, flat gradient or flat parameters)
Contenders = dict[str, Callable[[], Any]]  # what each returns is checked by as_result

NUMPY, EAGER = "numpy", "eager"  # the baseline and fungrad without jit, in every case
GRAD_CASES = ("mlp64", "mlp32", "xor", "chain", "sgd")
JAC_CASES = ("jac256", "hess100")
ALL_CASES = (*GRAD_CASES, "first-call", *JAC_CASES)
# Target on jit / NumPy (first-call: milliseconds).
TARGETS = {
    "mlp64": 0.95,
    "mlp32": 0.9,
    "xor": 1.2,
    "chain": 1.5,
    "sgd": 1.05,
    "first-call": 50.0,
    "jac256": 12.0,
    "hess100": 2.5,
}
DEFAULT_REPEATS = {
    "mlp64": 51,
    "mlp32": 51,
    "xor": 101,
    "chain": 101,
    "sgd": 15,
    "first-call": 11,
    "jac256": 101,
    "hess100": 101,
}
# Calls per timed sample: the xor step takes microseconds, so a sample is many calls.
CALLS = {"xor": 100}
TOLERANCE = {"float64": 1e-8, "float32": 1e-4}
JAC_TOLERANCE = 1e-10

# ---------------------------------------------------------------------------------------
# mlp64 / mlp32: the MLP of bench_grad.py, in float64 and float32


def mlp_case(dtype: Any) -> tuple[tuple, Contenders, Callable]:
    params, x, y = mlp_problem()
    params = tree_map(lambda a: a.astype(dtype), params)
    x = x.astype(dtype)
    vg = fungrad.value_and_grad(mlp_loss_fungrad)
    jitted = fungrad.jit(fungrad.value_and_grad(mlp_loss_fungrad))
    # value_and_grad of a jitted loss: a compiled forward and a compiled backward
    # program, derived from the jitted one (issue 12's target: within 1.2x of "jit").
    vg_of_jit = fungrad.value_and_grad(fungrad.jit(mlp_loss_fungrad))

    return (
        (params, x, y),
        {
            NUMPY: lambda: mlp_numpy(params, x, y),
            EAGER: lambda: vg(params, x, y),
            "jit": lambda: jitted(params, x, y),
            "grad(jit)": lambda: vg_of_jit(params, x, y),
        },
        jitted,
    )


# ---------------------------------------------------------------------------------------
# xor: MLP 2-8-8-1 on the four XOR points, tanh, mean binary cross-entropy on the logit

XOR_SIZES = (2, 8, 8, 1)


def xor_problem(seed: int = 0) -> tuple[list[dict[str, np.ndarray]], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = nn.init_mlp(rng, XOR_SIZES)
    for layer in params:
        layer["b"] = 0.1 * rng.standard_normal(layer["b"].shape)
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    return params, x, y


def xor_loss_fungrad(params: list[dict[str, Any]], x: Any, y: Any) -> Any:
    logits = nn.mlp(params, x, activation=fnp.tanh)
    return fnp.mean(nn.binary_cross_entropy_with_logits(logits, y))


def xor_numpy(params: list[dict[str, np.ndarray]], x: np.ndarray, y: np.ndarray) -> Result:
    """Forward and backward written out, in place where it saves a temporary."""
    (l0, l1, l2), n = params, x.shape[0]
    h1 = x @ l0["w"]
    h1 += l0["b"]
    np.tanh(h1, out=h1)
    h2 = h1 @ l1["w"]
    h2 += l1["b"]
    np.tanh(h2, out=h2)
    z = h2 @ l2["w"]
    z += l2["b"]
    # loss = mean(softplus(z) - y z); d loss / dz = (sigmoid(z) - y) / n
    loss = (np.logaddexp(0.0, z) - y * z).sum() / n
    dz = np.exp(-z)
    dz += 1.0
    np.reciprocal(dz, out=dz)
    dz -= y
    dz /= n
    d2 = dz @ l2["w"].T
    d2 *= 1.0 - h2 * h2
    d1 = d2 @ l1["w"].T
    d1 *= 1.0 - h1 * h1
    grads = [x.T @ d1, d1.sum(axis=0), h1.T @ d2, d2.sum(axis=0), h2.T @ dz, dz.sum(axis=0)]
    return float(loss), grads


def xor_case() -> tuple[tuple, Contenders, Callable]:
    params, x, y = xor_problem()
    vg = fungrad.value_and_grad(xor_loss_fungrad)
    jitted = fungrad.jit(fungrad.value_and_grad(xor_loss_fungrad))

    return (
        (params, x, y),
        {
            NUMPY: lambda: xor_numpy(params, x, y),
            EAGER: lambda: vg(params, x, y),
            "jit": lambda: jitted(params, x, y),
        },
        jitted,
    )


# ---------------------------------------------------------------------------------------
# chain: bench_grad.py's 1,000 elementwise ops, on a vector of 10

CHAIN_LENGTH = 10


def chain_case() -> tuple[tuple, Contenders, Callable]:
    x = np.random.default_rng(0).uniform(-1.0, 1.0, CHAIN_LENGTH)
    vg = fungrad.value_and_grad(chain_loss_fungrad)
    jitted = fungrad.jit(fungrad.value_and_grad(chain_loss_fungrad))

    contenders = {NUMPY: lambda: chain_numpy(x), EAGER: lambda: vg(x), "jit": lambda: jitted(x)}
    return (x,), contenders, jitted


# ---------------------------------------------------------------------------------------
# sgd: 200 steps of an MLP 784-128-10, batch 64, from the same start each round

SGD_SIZES = (784, 128, 10)
SGD_BATCH = 64
SGD_STEPS = 200
SGD_BATCHES = 32  # the data set: 32 batches of 64, used in turn
SGD_LR = 0.05


def sgd_problem(seed: int = 1) -> tuple[list[dict[str, np.ndarray]], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = nn.init_mlp(rng, SGD_SIZES)
    x = rng.standard_normal((SGD_BATCHES * SGD_BATCH, SGD_SIZES[0]))
    y = rng.integers(0, SGD_SIZES[-1], size=SGD_BATCHES * SGD_BATCH)
    return params, x, y


def sgd_batches(x: np.ndarray, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (x, y) of each step: contiguous slices of the data set, cycling."""
    out = []
    for step in range(SGD_STEPS):
        start = (step % SGD_BATCHES) * SGD_BATCH
        out.append((x[start : start + SGD_BATCH], y[start : start + SGD_BATCH]))
    return out


def sgd_update(p: Any, g: Any) -> Any:
    return p - SGD_LR * g


def sgd_step(params: list[dict[str, Any]], x: Any, y: Any) -> tuple[Any, Any]:
    loss, grads = fungrad.value_and_grad(mlp_loss_fungrad)(params, x, y)
    return loss, tree_map(sgd_update, params, grads)


def sgd_case() -> tuple[tuple, Contenders, Callable]:
    params0, x, y = sgd_problem()
    batches = sgd_batches(x, y)

    def numpy_loop() -> Result:
        """mlp_numpy's forward + backward, parameters updated in place (on a copy)."""
        params = [{k: v.copy() for k, v in layer.items()} for layer in params0]
        leaves = [layer[k] for layer in params for k in ("w", "b")]
        loss = 0.0
        for xb, yb in batches:
            loss, grads = mlp_numpy(params, xb, yb)
            for p, g in zip(leaves, grads):
                g *= SGD_LR
                p -= g
        return loss, leaves

    def functional_loop(vg: Callable) -> Callable[[], Result]:
        def loop() -> Result:
            params, loss = params0, 0.0
            for xb, yb in batches:
                loss, grads = vg(params, xb, yb)
                params = tree_map(sgd_update, params, grads)
            return float(loss), flatten_mlp_grads(params)

        return loop

    def step_loop(step: Callable) -> Callable[[], Result]:
        def loop() -> Result:
            params, loss = params0, 0.0
            for xb, yb in batches:
                loss, params = step(params, xb, yb)
            return float(loss), flatten_mlp_grads(params)

        return loop

    jitted_step = fungrad.jit(sgd_step)
    contenders = {
        NUMPY: numpy_loop,
        EAGER: functional_loop(fungrad.value_and_grad(mlp_loss_fungrad)),
        "jit": step_loop(jitted_step),
        "jit(vg)+tree_map": functional_loop(fungrad.jit(fungrad.value_and_grad(mlp_loss_fungrad))),
    }
    return (params0, *batches[0]), contenders, jitted_step


GRAD_BUILDERS = {
    "mlp64": lambda: mlp_case(np.float64),
    "mlp32": lambda: mlp_case(np.float32),
    "xor": xor_case,
    "chain": chain_case,
    "sgd": sgd_case,
}

# ---------------------------------------------------------------------------------------
# jac256 / hess100: bench_jacobian.py's functions, under jit


def load_bench_jacobian() -> Any:
    """bench_jacobian.py as a module, or a string saying why not."""
    if not (HERE / "bench_jacobian.py").exists():
        return "benchmarks/bench_jacobian.py does not exist"
    try:
        import bench_jacobian
    except Exception as exc:  # someone may be editing it
        return f"benchmarks/bench_jacobian.py did not import ({exc!r})"
    return bench_jacobian


def jac_case(bj: Any, case: str) -> tuple[tuple, dict[str, Callable[[], np.ndarray]], Callable]:
    if case == "hess100":
        a, x = bj.problem(100, seed=1)

        def g(v: Any) -> Any:
            return fnp.sum(fnp.log(1.0 + fnp.exp(a @ v)))

        eager, jitted = fungrad.hessian(g), fungrad.jit(fungrad.hessian(g))
        contenders = {
            NUMPY: lambda: bj.hessian_numpy(a, x),
            "eager hessian": lambda: np.asarray(eager(x)),
            "jit hessian": lambda: np.asarray(jitted(x)),
        }
        return (x,), contenders, jitted
    a, x = bj.problem(256)

    def f(v: Any) -> Any:
        return fnp.tanh(a @ v) + fnp.sin(v) * v

    fwd, rev = fungrad.jacfwd(f), fungrad.jacrev(f)
    jit_fwd, jit_rev = fungrad.jit(fungrad.jacfwd(f)), fungrad.jit(fungrad.jacrev(f))
    contenders = {
        NUMPY: lambda: bj.jacobian_numpy(a, x),
        "eager jacfwd": lambda: np.asarray(fwd(x)),
        "eager jacrev": lambda: np.asarray(rev(x)),
        "jit jacfwd": lambda: np.asarray(jit_fwd(x)),
        "jit jacrev": lambda: np.asarray(jit_rev(x)),
    }
    return (x,), contenders, jit_rev


# ---------------------------------------------------------------------------------------
# Timing and checking


def time_rounds(
    contenders: dict[str, Callable[[], Any]], repeats: int, warmup: int, calls: int, warm: bool
) -> Times:
    """Seconds per call of each contender: one sample each per round, order rotating.

    A sample is ``calls`` back-to-back calls (divided by ``calls``). With ``warm``, each
    sample follows an untimed call of the same contender (bench_jacobian.py's default).
    """
    return harness_time_rounds(contenders, repeats, warmup, calls=calls, warm=warm)[0]


def as_result(out: Any) -> Result:
    """(loss, gradient or parameters) as a float and a flat list of arrays, in a fixed order.

    The timed calls return what they return (fungrad: a 0-d array and the parameter
    pytree); the conversion happens only here, outside the timing.
    """
    loss, tree = out
    if not isinstance(tree, (list, tuple)):
        leaves = [np.asarray(tree)]
    elif tree and isinstance(tree[0], dict):
        leaves = flatten_mlp_grads(tree)
    else:
        leaves = [np.asarray(t) for t in tree]
    return float(loss), leaves


def check_result(name: str, got: Any, want: Any) -> str:
    """Raise unless loss and each leaf match ``want`` (relative to the leaf's largest entry)."""
    (loss, leaves), (want_loss, want_leaves) = as_result(got), as_result(want)
    dtype = want_leaves[0].dtype
    tolerance = TOLERANCE[str(dtype)]
    worst = leaves_error(name, (loss, leaves), (want_loss, want_leaves))
    if not worst <= tolerance:
        raise AssertionError(
            f"{name}: differs from hand-written NumPy by {worst:.2e} (relative), "
            f"more than {tolerance:.0e}"
        )
    return f"{worst:.1e}"


def check_matrix(name: str, got: np.ndarray, want: np.ndarray) -> str:
    return check_matrix_to(name, got, want, JAC_TOLERANCE)


def verify(case: str, contenders: dict[str, Callable[[], Any]], check: Callable) -> None:
    verify_against(case, contenders, contenders[NUMPY](), check, "hand-written NumPy")


# ---------------------------------------------------------------------------------------
# first-call: trace + compile of the 784-512-512-10 gradient


def first_call_times(repeats: int) -> dict[str, list[float]]:
    """For each of ``repeats`` fresh jit objects: first call, steady call, and the parts.

    ``first - steady`` is the compile cost. The parts are timed on their own, each on
    fresh objects too: tracing (``make_jaxpr`` of the same ``value_and_grad``), the
    simplification passes, and code generation.
    """
    params, x, y = mlp_problem()
    out: dict[str, list[float]] = {
        k: [] for k in ("first", "steady", "compile", "trace", "simplify", "generate")
    }
    for _ in range(repeats):
        gc.collect()
        jitted = fungrad.jit(fungrad.value_and_grad(mlp_loss_fungrad))
        start = time.perf_counter()
        jitted(params, x, y)
        first = time.perf_counter() - start
        steady = []
        for _ in range(5):
            start = time.perf_counter()
            jitted(params, x, y)
            steady.append(time.perf_counter() - start)
        out["first"].append(first)
        out["steady"].append(statistics.median(steady))
        out["compile"].append(first - statistics.median(steady))

        gc.collect()
        start = time.perf_counter()
        closed = fungrad.make_jaxpr(fungrad.value_and_grad(mlp_loss_fungrad))(params, x, y)
        out["trace"].append(time.perf_counter() - start)
        start = time.perf_counter()
        simplified = simplify(closed)
        out["simplify"].append(time.perf_counter() - start)
        start = time.perf_counter()
        generate(simplified, "mlp_loss_fungrad")
        out["generate"].append(time.perf_counter() - start)
    return out


# ---------------------------------------------------------------------------------------
# Peers: JAX under jax.jit, imported only after the rounds above, for reference only


def jax_peer(case: str, bj: Any) -> dict[str, Callable[[], Any]]:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    mlp_loss = jax_mlp_loss

    def grad_run(fn: Callable, *args: Any) -> Callable[[], Any]:
        return lambda: jax.block_until_ready(fn(*args))

    to_jax = lambda tree: tree_map(jnp.asarray, tree)
    if case in ("mlp64", "mlp32"):
        (params, x, y), _, _ = GRAD_BUILDERS[case]()
        vg = jax.jit(jax.value_and_grad(mlp_loss))
        return {"jax.jit": grad_run(vg, to_jax(params), jnp.asarray(x), jnp.asarray(y))}
    if case == "xor":
        params, x, y = xor_problem()

        def xor_loss(params, x, y):
            h = x
            for layer in params[:-1]:
                h = jnp.tanh(h @ layer["w"] + layer["b"])
            z = h @ params[-1]["w"] + params[-1]["b"]
            return jnp.mean(jax.nn.softplus(z) - y * z)

        vg = jax.jit(jax.value_and_grad(xor_loss))
        return {"jax.jit": grad_run(vg, to_jax(params), jnp.asarray(x), jnp.asarray(y))}
    if case == "chain":
        from bench_grad import chain_forward

        x = np.random.default_rng(0).uniform(-1.0, 1.0, CHAIN_LENGTH)
        vg = jax.jit(jax.value_and_grad(lambda v: jnp.sum(chain_forward(v, jnp.sin, jnp.tanh))))
        return {"jax.jit": grad_run(vg, jnp.asarray(x))}
    if case == "sgd":
        params0, x, y = sgd_problem()
        batches = [(jnp.asarray(a), jnp.asarray(b)) for a, b in sgd_batches(x, y)]

        @jax.jit
        def step(params, x, y):
            loss, g = jax.value_and_grad(mlp_loss)(params, x, y)
            return loss, jax.tree_util.tree_map(lambda p, d: p - SGD_LR * d, params, g)

        def loop() -> Result:
            params, loss = to_jax(params0), 0.0
            for xb, yb in batches:
                loss, params = step(params, xb, yb)
            jax.block_until_ready(params)
            return float(loss), flatten_mlp_grads(params)

        return {"jax.jit step": loop}
    if case == "hess100":
        a, x = bj.problem(100, seed=1)
        j_a = jnp.asarray(a)
        hess = jax.jit(jax.hessian(lambda v: jnp.sum(jnp.log(1.0 + jnp.exp(j_a @ v)))))
        j_x = jnp.asarray(x)
        return {"jax.jit hessian": lambda: np.asarray(jax.block_until_ready(hess(j_x)))}
    if case == "jac256":
        a, x = bj.problem(256)
        j_a, j_x = jnp.asarray(a), jnp.asarray(x)

        def f(v):
            return jnp.tanh(j_a @ v) + jnp.sin(v) * v

        fwd, rev = jax.jit(jax.jacfwd(f)), jax.jit(jax.jacrev(f))
        return {
            "jax.jit jacfwd": lambda: np.asarray(jax.block_until_ready(fwd(j_x))),
            "jax.jit jacrev": lambda: np.asarray(jax.block_until_ready(rev(j_x))),
        }
    return {}


def jax_mlp_loss(params: Any, x: Any, y: Any) -> Any:
    """mlp_loss_fungrad in JAX (as in bench_grad.py)."""
    import jax
    import jax.numpy as jnp

    h = x
    for layer in params[:-1]:
        h = jax.nn.relu(h @ layer["w"] + layer["b"])
    logp = jax.nn.log_softmax(h @ params[-1]["w"] + params[-1]["b"], axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=-1))


def jax_first_call(repeats: int) -> list[float]:
    """jax.jit's first call of the 784-512-512-10 gradient minus a steady one, in seconds,
    for ``repeats`` fresh jitted functions."""
    import jax

    params, x, y = mlp_problem()
    out = []
    for _ in range(repeats):
        # A new function object each time, so jax.jit's cache does not know it.
        vg = jax.jit(jax.value_and_grad(lambda p, a, b: jax_mlp_loss(p, a, b)))
        start = time.perf_counter()
        jax.block_until_ready(vg(params, x, y))
        first = time.perf_counter() - start
        start = time.perf_counter()
        jax.block_until_ready(vg(params, x, y))
        out.append(first - (time.perf_counter() - start))
    return out


# ---------------------------------------------------------------------------------------
# Reporting


def verdict(value: float, target: float) -> str:
    if value <= target:
        return "met"
    return f"MISSED by {value / target - 1:.0%}"


def table_rows(case: str, times: Times, calls: int) -> list[str]:
    """One row per jitted contender: medians, jit / NumPy with IQR, jit / eager, target."""
    rows = []
    base = times[NUMPY]
    for name, t in times.items():
        if "jit" not in name:
            continue
        eager_name = name.replace("jit", "eager") if name.startswith("jit ") else EAGER
        eager = times.get(eager_name, times.get(EAGER))
        low, high = paired_ratio_iqr(t, base)
        ratio, target = ms(t) / ms(base), TARGETS[case]
        label = case if name == "jit" else f"{case} {name}"
        vs_eager = ms(t) / ms(eager) if eager else float("nan")
        if name == "grad(jit)":  # its target is against jit(grad), not against NumPy
            of_jit = ms(t) / ms(times["jit"])
            rows.append(
                f"{label:<24} {len(t):>4} {calls:>5} {ms(base):>9.3f} {ms(eager):>9.3f} "
                f"{ms(t):>9.3f} {ratio:>7.2f}x {f'{low:.2f}-{high:.2f}':>11} {vs_eager:>7.3f}x "
                f"  {of_jit:.2f}x of jit(grad), target <=1.2x: {verdict(of_jit, 1.2)}"
            )
            continue
        rows.append(
            f"{label:<24} {len(t):>4} {calls:>5} {ms(base):>9.3f} {ms(eager):>9.3f} "
            f"{ms(t):>9.3f} {ratio:>7.2f}x {f'{low:.2f}-{high:.2f}':>11} {vs_eager:>7.3f}x "
            f"{f'<={target:g}x':>8}  {verdict(ratio, target)}"
            + ("  (noisy: ratio outside its IQR)" if not low <= ratio <= high else "")
        )
    return rows


TABLE_HEADER = (
    f"{'case':<24} {'rnds':>4} {'calls':>5} {'numpy ms':>9} {'eager ms':>9} {'jit ms':>9} "
    f"{'jit/np':>8} {'IQR':>11} {'jit/eagr':>8} {'target':>8}"
)


def quartiles_ms(seconds: list[float]) -> tuple[float, float]:
    if len(seconds) < 4:
        return 1e3 * min(seconds), 1e3 * max(seconds)
    q = statistics.quantiles(seconds, n=4)
    return 1e3 * q[0], 1e3 * q[2]


def first_call_row(fc: dict[str, list[float]]) -> list[str]:
    compile_ms = ms(fc["compile"])
    low, high = quartiles_ms(fc["compile"])
    target = TARGETS["first-call"]
    parts = ", ".join(f"{k} {ms(fc[k]):.1f}" for k in ("trace", "simplify", "generate"))
    return [
        f"{'first-call (compile)':<24} {len(fc['first']):>4} {1:>5} {'':>9} {'':>9} "
        f"{compile_ms:>8.1f}ms {'':>8} {f'{low:.1f}-{high:.1f}':>11} {'':>8} "
        f"{f'<{target:g}ms':>8}  {'met' if compile_ms < target else verdict(compile_ms, target)}",
        f"  first call {ms(fc['first']):.1f} ms = compile + steady call "
        f"{ms(fc['steady']):.2f} ms; parts on their own (ms): {parts}",
    ]


# ---------------------------------------------------------------------------------------
# Profiling and generated code


def build_case(case: str, bj: Any) -> tuple[tuple, dict[str, Callable[[], Any]], Callable]:
    if case in GRAD_BUILDERS:
        return GRAD_BUILDERS[case]()
    if isinstance(bj, str):
        raise SystemExit(f"{case}: {bj}")
    return jac_case(bj, case)


def show_code(case: str, bj: Any) -> None:
    args, _, jitted = build_case(case, bj)
    lowered = jitted.lower(*args)
    source = lowered.as_text()
    lines = source.count("\n") - 2
    print(f"== {case}: generated source of {jitted!r} ({lines} lines of body) ==")
    print(source)


def line_times(case: str, bj: Any, calls: int, lines: int) -> None:
    """Where a jitted call's time goes: the wrapper, and each line of the generated code.

    The wrapper's share is a call of the jitted function minus a direct call of the
    generated function on the flat leaves. Each line is timed by an instrumented copy of
    the generated source (``perf_counter`` after every line, its own cost subtracted).
    cProfile cannot show this: NumPy ufuncs called from the generated code are not
    profiled as separate functions.
    """
    args, _, jitted = build_case(case, bj)
    fn = jitted.lower(*args).compile()
    leaves = tree_flatten(args)[0]
    times = time_rounds(
        {"jitted call": lambda: jitted(*args), "generated fn": lambda: fn(*leaves)},
        repeats=max(calls // 10, 5),
        warmup=3,
        calls=10,
        warm=False,
    )
    whole, inner = ms(times["jitted call"]), ms(times["generated fn"])
    print(f"== {case}: per call, median of rounds ==")
    print(f"  jitted call           {1e3 * whole:10.1f} us")
    print(f"  generated fn alone    {1e3 * inner:10.1f} us")
    print(f"  wrapper (flatten args, cache lookup, unflatten) {1e3 * (whole - inner):.1f} us")

    source = jitted.lower(*args).as_text().splitlines()
    body = source[1:-1]
    namespace = dict(fn.__globals__)

    def instrument(statements: list[str]) -> Callable:
        code = [source[0], "    _t = _pc()"]
        for i, line in enumerate(statements):
            code += [line, f"    _n = _pc(); _r[{i}] = _n - _t; _t = _n"]
        code.append(source[-1] if statements is body else "    return None")
        exec("\n".join(code), namespace)
        return namespace[source[0][4 : source[0].index("(")]]

    def per_call_line_times(instrumented: Callable) -> np.ndarray:
        """Seconds per line, one row per call (calls spread over rounds, gc in between)."""
        rows = np.empty((calls, len(body)))
        namespace.update(_pc=time.perf_counter, _r=[0.0] * len(body))
        for i in range(calls):
            if i % 10 == 0:
                gc.collect()
            instrumented(*leaves)
            rows[i] = namespace["_r"]
        return rows

    # The timer's own cost per line, from a copy whose lines do nothing.
    overhead = float(np.median(per_call_line_times(instrument(["    pass"] * len(body)))))
    # Median over calls for each line: robust to the odd interrupt or page fault.
    medians = np.median(per_call_line_times(instrument(body)), axis=0)
    per_line = [max(float(t) - overhead, 0.0) for t in medians]
    by_op: dict[str, list[float]] = {}
    for line, t in zip(body, per_line):
        by_op.setdefault(op_of(line), []).append(t)
    total = sum(per_line)
    print(
        f"== {case}: {len(body)} lines of generated code, {1e6 * total:.1f} us per call in "
        f"the lines (median over {calls} calls per line; timer cost of "
        f"{1e9 * overhead:.0f} ns per line subtracted) =="
    )
    print(f"  {'operation':<16} {'lines':>5} {'us/call':>9} {'share':>6} {'us/line':>8}")
    for op, ts in sorted(by_op.items(), key=lambda kv: -sum(kv[1])):
        t = sum(ts)
        print(
            f"  {op:<16} {len(ts):>5} {1e6 * t:>9.1f} {t / total:>6.1%} {1e6 * t / len(ts):>8.2f}"
        )
    print(f"== {case}: the {min(lines, len(body))} most expensive lines (us per call) ==")
    ranked = sorted(range(len(body)), key=lambda i: -per_line[i])[:lines]
    for i in sorted(ranked):
        print(f"  {1e6 * per_line[i]:8.1f}  {body[i].strip()[:110]}")
    print()


def op_of(line: str) -> str:
    """The operation a generated line calls: ``v3 = _tanh4(v2, out=v2)`` -> ``tanh``."""
    rhs = line.split("=", 1)[1].strip()
    name = rhs.split("(", 1)[0] if "(" in rhs else rhs
    return name.strip("_").rstrip("0123456789") or name


def run_profile(case: str, bj: Any, calls: int, lines: int) -> None:
    line_times(case, bj, calls, lines)
    args, contenders, jitted = build_case(case, bj)
    name = next(n for n in contenders if "jit" in n)
    run = contenders[name]
    if case == "sgd":  # one step (on the first batch), as in the line times above
        name, run = "jit step", lambda: jitted(*args)
    print_profile(run, calls, lines, f"{case}, {name}", ("tottime", "cumulative"))


# ---------------------------------------------------------------------------------------
# Main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_timing_args(
        parser,
        repeats_help="timed rounds per case (default: per case)",
        quick_help="a smoke run: 5 rounds (3 for sgd), 1 warm-up",
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
    parser.add_argument(
        "--cold",
        action="store_true",
        help="jac256/hess100: no untimed call just before each timed one (bench_jacobian.py's "
        "--cold); the gradient cases are always timed as bench_grad.py times them",
    )
    add_malloc_arg(parser)
    parser.add_argument(
        "--show-code", choices=ALL_CASES[:5] + JAC_CASES, help="print the generated source"
    )
    add_profile_args(
        parser,
        ALL_CASES[:5] + JAC_CASES,
        "instead of timing: wrapper vs generated code, time per generated line, cProfile",
        calls=None,
        calls_help="calls to profile (default 200; for sgd, steps)",
    )
    args = parser.parse_args(argv)

    set_up_and_print_header(args.system_malloc)
    bj = load_bench_jacobian()
    print()

    if args.show_code or args.profile:
        if args.show_code:
            show_code(args.show_code, bj)
        if args.profile:
            calls = args.profile_calls or 200
            run_profile(args.profile, bj, calls, args.profile_lines)
        return 0

    cases = list(ALL_CASES) if not args.case or "all" in args.case else args.case
    warmup = 1 if args.quick else args.warmup

    def repeats_for(case: str) -> int:
        if args.repeats:
            return args.repeats
        return (3 if case == "sgd" else 5) if args.quick else DEFAULT_REPEATS[case]

    # Phase 1: NumPy, fungrad eager and fungrad jit, interleaved; peers not imported yet.
    rows: list[str] = []
    notes: list[str] = []
    results: dict[str, Times] = {}
    for case in cases:
        if case == "first-call":
            fc = first_call_times(repeats_for(case))
            rows.extend(first_call_row(fc))
            continue
        if case in JAC_CASES:
            if isinstance(bj, str):
                notes.append(f"{case}: skipped, {bj}")
                continue
            _, contenders, _ = jac_case(bj, case)
            verify(case, contenders, check_matrix)
            warm = not args.cold
        else:
            _, contenders, _ = GRAD_BUILDERS[case]()
            verify(case, contenders, check_result)
            warm = False
        calls = CALLS.get(case, 1)
        times = time_rounds(contenders, repeats_for(case), warmup, calls, warm)
        results[case] = times
        rows.extend(table_rows(case, times, calls))

    print()
    print("jit/np = jit median / hand-written NumPy median (the target); IQR = its per-round")
    print("quartiles; jit/eagr = jit median / the same fungrad transformation without jit")
    print(TABLE_HEADER)
    for row in rows:
        print(row)
    for note in notes:
        print(note)

    # Phase 2: JAX on its own, against the phase-1 NumPy medians; reference only.
    if "jax" in [p.strip() for p in args.peers.split(",")]:
        print()
        try:
            import jax  # noqa: F401
        except ImportError as exc:
            print(f"jax: not installed, skipped ({exc.name or exc})")
            return 0
        peer_rows = []
        for case in results:
            found = jax_peer(case, bj)
            check = check_matrix if case in JAC_CASES else check_result
            verify(case, {NUMPY: build_case(case, bj)[1][NUMPY], **found}, check)
            for name, fn in found.items():
                t = time_rounds({name: fn}, repeats_for(case), warmup, CALLS.get(case, 1), False)
                peer_rows.append((case, name, ms(t[name]), ms(t[name]) / ms(results[case][NUMPY])))
        if "first-call" in cases:
            fc = jax_first_call(min(repeats_for("first-call"), 5))
            peer_rows.append(("first-call", "jax.jit compile", ms(fc), None))
        print("jax, each timed alone after the rounds above; ratio to the NumPy median above")
        for case, name, t, r in peer_rows:
            ratio = f"{r:>7.2f}x" if r is not None else ""
            print(f"  {case:<11} {name:<18} {t:>9.3f} ms {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
