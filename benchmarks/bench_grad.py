"""Loss + gradient: fungrad's ``value_and_grad`` against hand-written NumPy.

Two cases, each timed against a hand-written NumPy forward + backward of the same
function, with the ratio fungrad / NumPy printed next to the target from issue 2:

* ``mlp``: an MLP 784-512-512-10 on a batch of 128 (float64, ReLU, mean softmax
  cross-entropy with integer labels). Here the matrix products dominate, so the
  ratio shows how much work fungrad adds on top of BLAS (target: at most 1.25x).
* ``chain``: 1,000 cheap elementwise operations on a vector of 100 float64 values,
  then a sum. Here NumPy's own work is tiny, so the ratio shows fungrad's per-operation
  overhead (tracing, partial evaluation, transposition) (target: at most 10x).

Before timing, every contender's loss and gradient are checked against the NumPy
ones. The contenders run interleaved, once each per round, in a rotating order, so
a slow spell of the machine hits them alike; the table shows medians over rounds.
autograd, JAX and PyTorch are timed too when they happen to be installed.

    python benchmarks/bench_grad.py               # full run: seconds, a minute with peers
    python benchmarks/bench_grad.py --quick       # smoke run: about a second
    python benchmarks/bench_grad.py --profile chain   # cProfile of fungrad on the chain

See benchmarks/README.md for how to read the output.
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
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

import fungrad
import fungrad.numpy as fnp
from fungrad import nn

Grads = list[np.ndarray]  # a gradient as a flat list of arrays, in a fixed order
Result = tuple[float, Grads]  # (loss, gradient)

TARGETS = {"mlp": 1.25, "chain": 10.0}
DEFAULT_REPEATS = {"mlp": 51, "chain": 101}
TOLERANCE = 1e-8

# ---------------------------------------------------------------------------------------
# Case 1: MLP 784-512-512-10, batch 128, float64, mean softmax cross-entropy

MLP_SIZES = (784, 512, 512, 10)
MLP_BATCH = 128


def mlp_problem(seed: int = 0) -> tuple[list[dict[str, np.ndarray]], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = nn.init_mlp(rng, MLP_SIZES)
    for layer in params:  # non-zero biases, so their gradients are not trivially checked
        layer["b"] = 0.01 * rng.standard_normal(layer["b"].shape)
    x = rng.standard_normal((MLP_BATCH, MLP_SIZES[0]))
    y = rng.integers(0, MLP_SIZES[-1], size=MLP_BATCH)
    return params, x, y


def mlp_loss_fungrad(params: list[dict[str, Any]], x: Any, y: np.ndarray) -> Any:
    logits = nn.mlp(params, x)
    return fnp.mean(nn.softmax_cross_entropy_with_integer_labels(logits, y))


def mlp_numpy(params: list[dict[str, np.ndarray]], x: np.ndarray, y: np.ndarray) -> Result:
    """Forward and backward written out, as one would by hand for speed."""
    # Forward, keeping each layer's input and pre-activation for the backward pass.
    inputs, pre_activations = [], []
    h = x
    for layer in params[:-1]:
        inputs.append(h)
        z = h @ layer["w"]
        z += layer["b"]
        pre_activations.append(z)
        h = np.maximum(z, 0.0)
    inputs.append(h)
    logits = h @ params[-1]["w"]
    logits += params[-1]["b"]

    batch = logits.shape[0]
    rows = np.arange(batch)
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    total = exp.sum(axis=1, keepdims=True)
    loss = -np.mean(logits[rows, y] - np.log(total[:, 0]))

    # Backward: d loss / d logits = (softmax - one_hot) / batch.
    ct = exp
    ct /= total
    ct[rows, y] -= 1.0
    ct /= batch
    grads: Grads = []
    for i in range(len(params) - 1, -1, -1):
        grads.append(ct.sum(axis=0))  # b
        grads.append(inputs[i].T @ ct)  # w
        if i > 0:
            ct = ct @ params[i]["w"].T
            ct *= pre_activations[i - 1] > 0.0
    grads.reverse()  # [w0, b0, w1, b1, ...]
    return float(loss), grads


def flatten_mlp_grads(grads: list[dict[str, Any]]) -> Grads:
    return [np.asarray(layer[k]) for layer in grads for k in ("w", "b")]


# ---------------------------------------------------------------------------------------
# Case 2: a chain of 1,000 elementwise operations on a vector of 100, then a sum

CHAIN_PATTERN = (("sin", None), ("mul", 1.01), ("tanh", None), ("add", 0.1))
CHAIN_OPS = 1000
CHAIN = tuple(CHAIN_PATTERN[i % len(CHAIN_PATTERN)] for i in range(CHAIN_OPS))
CHAIN_LENGTH = 100


def chain_problem(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.0, 1.0, CHAIN_LENGTH)


def chain_forward(x: Any, sin: Callable, tanh: Callable) -> Any:
    """The chain with a library's ``sin`` and ``tanh``; ``*`` and ``+`` are operators."""
    for kind, c in CHAIN:
        if kind == "sin":
            x = sin(x)
        elif kind == "mul":
            x = x * c
        elif kind == "tanh":
            x = tanh(x)
        else:
            x = x + c
    return x


def chain_loss_fungrad(x: Any) -> Any:
    return fnp.sum(chain_forward(x, fnp.sin, fnp.tanh))


def chain_numpy(x: np.ndarray) -> Result:
    """Forward keeping what the backward needs (sin's input, tanh's output), then back."""
    saved = []
    for kind, c in CHAIN:
        if kind == "sin":
            saved.append(x)
            x = np.sin(x)
        elif kind == "mul":
            x = x * c
        elif kind == "tanh":
            x = np.tanh(x)
            saved.append(x)
        else:
            x = x + c
    loss = x.sum()
    ct = np.ones_like(x)
    for kind, c in reversed(CHAIN):
        if kind == "sin":
            ct *= np.cos(saved.pop())
        elif kind == "mul":
            ct *= c
        elif kind == "tanh":
            t = saved.pop()
            ct *= 1.0 - t * t
    return float(loss), [ct]


# ---------------------------------------------------------------------------------------
# Peers, each imported only when asked for; a missing one is skipped with a note.


def autograd_mlp_loss(params: list[dict[str, Any]], x: Any, y: np.ndarray) -> Any:
    """The MLP's mean cross-entropy with autograd's NumPy (bench_train.py uses it too)."""
    import autograd.numpy as anp

    h = x
    for layer in params[:-1]:
        h = anp.maximum(anp.dot(h, layer["w"]) + layer["b"], 0.0)
    logits = anp.dot(h, params[-1]["w"]) + params[-1]["b"]
    shifted = logits - anp.max(logits, axis=1, keepdims=True)
    logp = shifted - anp.log(anp.sum(anp.exp(shifted), axis=1, keepdims=True))
    return -anp.mean(logp[np.arange(x.shape[0]), y])


def autograd_contenders(params, x, y, chain_x) -> dict[str, Callable[[], Result]]:
    import autograd
    import autograd.numpy as anp

    mlp_vg = autograd.value_and_grad(autograd_mlp_loss)
    chain_vg = autograd.value_and_grad(lambda v: anp.sum(chain_forward(v, anp.sin, anp.tanh)))

    def mlp() -> Result:
        loss, g = mlp_vg(params, x, y)
        return float(loss), flatten_mlp_grads(g)

    def chain() -> Result:
        loss, g = chain_vg(chain_x)
        return float(loss), [g]

    return {"mlp": mlp, "chain": chain}


def jax_contenders(params, x, y, chain_x) -> dict[str, Callable[[], Result]]:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    j_params = jax.tree_util.tree_map(jnp.asarray, params)
    j_x, j_y, j_chain_x = jnp.asarray(x), jnp.asarray(y), jnp.asarray(chain_x)

    def mlp_loss(params, x, y):
        h = x
        for layer in params[:-1]:
            h = jax.nn.relu(h @ layer["w"] + layer["b"])
        logits = h @ params[-1]["w"] + params[-1]["b"]
        logp = jax.nn.log_softmax(logits, axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=-1))

    def chain_loss(v):
        return jnp.sum(chain_forward(v, jnp.sin, jnp.tanh))

    def wrap(vg, args, flatten) -> Callable[[], Result]:
        def run() -> Result:
            loss, g = vg(*args)
            jax.block_until_ready(g)
            return float(loss), flatten(g)

        return run

    flat_chain = lambda g: [np.asarray(g)]
    out = {
        "mlp": wrap(jax.value_and_grad(mlp_loss), (j_params, j_x, j_y), flatten_mlp_grads),
        "chain": wrap(jax.value_and_grad(chain_loss), (j_chain_x,), flat_chain),
    }
    # jit is a different game (one compiled XLA program); shown for reference only.
    out["mlp (jit)"] = wrap(
        jax.jit(jax.value_and_grad(mlp_loss)), (j_params, j_x, j_y), flatten_mlp_grads
    )
    out["chain (jit)"] = wrap(jax.jit(jax.value_and_grad(chain_loss)), (j_chain_x,), flat_chain)
    return out


def torch_contenders(params, x, y, chain_x) -> dict[str, Callable[[], Result]]:
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    t_params = [
        {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in layer.items()}
        for layer in params
    ]
    leaves = [layer[k] for layer in t_params for k in ("w", "b")]
    t_x = torch.tensor(x, dtype=torch.float64)
    t_y = torch.tensor(y, dtype=torch.int64)
    t_chain_x = torch.tensor(chain_x, dtype=torch.float64, requires_grad=True)

    def mlp() -> Result:
        h = t_x
        for layer in t_params[:-1]:
            h = torch.relu(h @ layer["w"] + layer["b"])
        logits = h @ t_params[-1]["w"] + t_params[-1]["b"]
        loss = F.cross_entropy(logits, t_y)
        grads = torch.autograd.grad(loss, leaves)
        return float(loss), [g.numpy() for g in grads]

    def chain() -> Result:
        loss = chain_forward(t_chain_x, torch.sin, torch.tanh).sum()
        (g,) = torch.autograd.grad(loss, [t_chain_x])
        return float(loss), [g.numpy()]

    return {"mlp": mlp, "chain": chain}


PEERS = {"autograd": autograd_contenders, "jax": jax_contenders, "torch": torch_contenders}


# ---------------------------------------------------------------------------------------
# Checking


def check_agreement(name: str, got: Result, want: Result) -> str:
    """Raise if ``got`` differs from ``want`` by more than TOLERANCE, relative to its scale.

    The error of each gradient leaf is measured against that leaf's largest entry, so a
    leaf whose entries are all tiny (the chain's gradient is about 1e-58, because the
    chain contracts) is still checked to eight significant digits.
    """
    worst = leaves_error(name, got, want, "gradient leaf")
    if not worst <= TOLERANCE:
        raise AssertionError(
            f"{name}: loss or gradient differs from hand-written NumPy by {worst:.2e} "
            f"(relative), more than {TOLERANCE:.0e}"
        )
    return f"{worst:.1e}"


# ---------------------------------------------------------------------------------------
# Main


def build_contenders(case: str) -> dict[str, Callable[[], Result]]:
    """The NumPy baseline first, then fungrad, for one case."""
    if case == "mlp":
        params, x, y = mlp_problem()
        vg = fungrad.value_and_grad(mlp_loss_fungrad)

        def fungrad_mlp() -> Result:
            loss, g = vg(params, x, y)
            return float(loss), flatten_mlp_grads(g)

        return {"numpy": lambda: mlp_numpy(params, x, y), "fungrad": fungrad_mlp}
    x = chain_problem()
    vg = fungrad.value_and_grad(chain_loss_fungrad)

    def fungrad_chain() -> Result:
        loss, g = vg(x)
        return float(loss), [g]

    return {"numpy": lambda: chain_numpy(x), "fungrad": fungrad_chain}


def build_peers(wanted: list[str]) -> tuple[dict[str, dict[str, Callable[[], Result]]], list[str]]:
    """Peer contenders by case (``{"mlp": {"jax": fn, ...}, ...}``) and notes on skipped ones."""
    params, x, y = mlp_problem()
    chain_x = chain_problem()
    by_case: dict[str, dict[str, Callable[[], Result]]] = {"mlp": {}, "chain": {}}
    notes = []
    for name in wanted:
        try:
            found = PEERS[name](params, x, y, chain_x)
        except ImportError as exc:
            notes.append(f"{name}: not installed, skipped ({exc.name or exc})")
            continue
        for key, fn in found.items():
            case, _, variant = key.partition(" ")
            by_case[case][f"{name} {variant}".strip()] = fn
    return by_case, notes


def run_profile(case: str, calls: int, lines: int) -> None:
    contenders = build_contenders(case)
    title = f"fungrad value_and_grad, {case}"
    print_profile(contenders["fungrad"], calls, lines, title, ("cumulative", "tottime"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_timing_args(
        parser,
        repeats_help="timed rounds per case (default: 51 for mlp, 101 for chain)",
        quick_help="a smoke run: 5 rounds, 1 warm-up round",
    )
    parser.add_argument("--case", choices=("mlp", "chain", "all"), default="all")
    parser.add_argument(
        "--peers",
        default="autograd,jax,torch",
        help="comma-separated peers to time when installed; '' for none "
        "(default: autograd,jax,torch)",
    )
    add_profile_args(
        parser,
        ("mlp", "chain"),
        "instead of timing, cProfile fungrad on this case and print the top lines",
    )
    add_malloc_arg(parser)
    args = parser.parse_args(argv)

    set_up_and_print_header(args.system_malloc)
    print()

    if args.profile:
        run_profile(args.profile, args.profile_calls, args.profile_lines)
        return 0

    cases = ["mlp", "chain"] if args.case == "all" else [args.case]
    wanted = parse_peers(parser, args.peers, PEERS)
    warmup = 1 if args.quick else args.warmup

    def repeats_for(case: str) -> int:
        return args.repeats or (5 if args.quick else DEFAULT_REPEATS[case])

    # Phase 1: NumPy and fungrad, interleaved. Peers are not even imported yet: JAX
    # starts worker threads that keep a core busy after each call, which on a small
    # machine slows whatever runs next (up to 1.5x for the NumPy baseline).
    rows = []
    for case in cases:
        contenders = build_contenders(case)
        verify(case, contenders, contenders["numpy"]())
        times = time_rounds(contenders, repeats_for(case), warmup)[0]
        rows.append((case, repeats_for(case), times))
    print()
    print_main_table(rows)

    # Phase 2: each peer on its own, against the phase-1 NumPy medians.
    if wanted:
        print()
        peers, notes = build_peers(wanted)
        for note in notes:
            print(note)
        peer_rows = []
        for case, _, times in rows:
            baseline = build_contenders(case)["numpy"]()
            verify(case, peers[case], baseline)
            for name, fn in peers[case].items():
                peer_times = time_rounds({name: fn}, repeats_for(case), warmup)[0][name]
                peer_rows.append((case, name, ms(peer_times), ms(peer_times) / ms(times["numpy"])))
        if peer_rows:
            print()
            print(
                "peers, each timed alone after the rounds above; ratio to the NumPy median above"
            )
            print(f"{'case':<6} {'peer':<16} {'ms':>9} {'ratio':>7}")
            for case, name, t, r in peer_rows:
                print(f"{case:<6} {name:<16} {t:>9.3f} {r:>6.2f}x")
    return 0


def verify(case: str, contenders: dict[str, Callable[[], Result]], baseline: Result) -> None:
    verify_against(case, contenders, baseline, check_agreement, "hand-written NumPy")


def print_main_table(rows: list[tuple[str, int, dict[str, list[float]]]]) -> None:
    print(
        f"{'case':<6} {'rounds':>6} {'numpy ms':>9} {'fungrad ms':>10} {'ratio':>7} "
        f"{'ratio IQR':>13} {'target':>8}"
    )
    for case, repeats, times in rows:
        base, fg = ms(times["numpy"]), ms(times["fungrad"])
        low, high = paired_ratio_iqr(times["fungrad"], times["numpy"])
        ratio, target = fg / base, TARGETS[case]
        verdict = "met" if ratio <= target else "MISSED"
        print(
            f"{case:<6} {repeats:>6} {base:>9.3f} {fg:>10.3f} {ratio:>6.2f}x "
            f"{f'{low:.2f}-{high:.2f}x':>13} {f'<={target:g}x':>8} {verdict}"
        )


if __name__ == "__main__":
    sys.exit(main())
