"""Training steps per second: examples/digits.py's loop, fungrad against hand-written NumPy.

One sample is one epoch of examples/digits.py's training (22 steps: an MLP 64-128-10
with ReLU, batches of 64, mean softmax cross-entropy with integer labels, Adam with a
cosine-decaying learning rate, float64), from the same parameters and optimiser state
every time. The contenders:

* ``numpy``: a hand-written forward and backward pass (bench_grad.py's ``mlp_numpy``)
  and a hand-written Adam that updates the parameters and moments in place;
* ``jit``: the example's step, ``fungrad.jit`` around loss, gradient, ``optim.adam``'s
  update and ``apply_updates`` (target: at most 1.05x NumPy's time);
* ``eager``: the same step function without ``jit`` (target: at most 1.5x);
* autograd (its eager gradient, with the NumPy contender's Adam), JAX + Optax
  (``jax.jit`` step) and PyTorch (``torch.optim.Adam``), when installed, each timed
  alone after the main rounds, for reference.

The digits come from scikit-learn when it is installed; without it, random data of the
same shapes stand in (the timings do not depend on the pixel values). Every contender's
parameters after the epoch are checked against NumPy's before anything is timed.

    python benchmarks/bench_train.py                 # full run: about half a minute
    python benchmarks/bench_train.py --quick         # smoke run
    python benchmarks/bench_train.py --peers ''      # do not time JAX / PyTorch
    python benchmarks/bench_train.py --profile jit   # cProfile of one contender's epochs

See benchmarks/README.md for how to read the output (the same harness as bench_grad.py).
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
    leaves_checker,
    ms,
    paired_ratio_iqr,
    parse_peers,
    print_profile,
    set_up_and_print_header,
    time_rounds,
    verify,
)
# isort: on

import argparse
import importlib.util
import math
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
from bench_grad import autograd_mlp_loss, mlp_numpy

TARGETS = {"jit": 1.05, "eager": 1.5}
DEFAULT_REPEATS = 31
TOLERANCE = 1e-8
B1, B2, EPS = 0.9, 0.999, 1e-8  # optim.adam's defaults, as Optax's and PyTorch's

Result = tuple[float, list[np.ndarray]]  # (last loss, [w0, b0, w1, b1] after the epoch)
Batches = list[tuple[np.ndarray, np.ndarray]]


def load_digits_example() -> ModuleType:
    """examples/digits.py as a module (its thread settings agree with harness.py's)."""
    path = HERE.parent / "examples" / "digits.py"
    spec = importlib.util.spec_from_file_location("digits_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def problem(digits: ModuleType, seed: int = 0) -> tuple[list[dict], Batches, int, str]:
    """The initial parameters, one epoch of batches, the steps of the whole training
    (the cosine schedule's length) and a note on where the data came from."""
    if importlib.util.find_spec("sklearn") is not None:
        train_x, train_y, _, _ = digits.load_data()
        note = f"data: scikit-learn's digits, {len(train_x)} training images"
    else:
        rng = np.random.default_rng(seed)
        train_x = rng.integers(0, 17, (1437, 64)) / 16.0
        train_y = rng.integers(0, 10, 1437)
        note = "data: scikit-learn is not installed; random images of the digits' shapes"
    rng = np.random.default_rng(seed)
    params = digits.nn.init_mlp(rng, digits.SIZES)
    batches = [
        (train_x[index], train_y[index])
        for _, index in digits.batches(rng, len(train_x), digits.BATCH_SIZE)
    ]
    total_steps = digits.EPOCHS * len(batches)
    return params, batches, total_steps, note


def cosine_rate(learning_rate: float, total_steps: int, count: int) -> float:
    """optim.cosine_decay_schedule(learning_rate, total_steps) at step ``count``."""
    fraction = min(count, total_steps) / total_steps
    return learning_rate * 0.5 * (1.0 + math.cos(math.pi * fraction))


def flat(params: list[dict[str, Any]]) -> list[np.ndarray]:
    return [np.asarray(layer[k]) for layer in params for k in ("w", "b")]


# ---------------------------------------------------------------------------------------
# The contenders


Gradient = Callable[[list[dict], np.ndarray, np.ndarray], tuple[float, list[np.ndarray]]]


def adam_epoch(
    gradient: Gradient, params0: list[dict], batches: Batches, lr: float, total: int
) -> Result:
    """One epoch of ``gradient`` (loss and [w0, b0, w1, b1] gradients, which it may
    overwrite) with a hand-written Adam that updates parameters and moments in place."""
    params = [{k: v.copy() for k, v in layer.items()} for layer in params0]
    leaves = flat(params)
    mu = [np.zeros_like(p) for p in leaves]
    nu = [np.zeros_like(p) for p in leaves]
    loss = 0.0
    for t, (x, y) in enumerate(batches, start=1):
        loss, grads = gradient(params, x, y)
        rate = cosine_rate(lr, total, t - 1)
        c1, c2 = 1.0 - B1**t, 1.0 - B2**t
        for p, g, m, v in zip(leaves, grads, mu, nu):
            m *= B1
            m += (1.0 - B1) * g
            v *= B2
            g *= g
            g *= 1.0 - B2
            v += g
            # p -= rate * (m / c1) / (sqrt(v / c2) + eps), reusing g's buffer
            np.divide(v, c2, out=g)
            np.sqrt(g, out=g)
            g += EPS
            np.divide(m, g, out=g)
            g *= rate / c1
            p -= g
    return float(loss), leaves


def numpy_epoch(params0: list[dict], batches: Batches, lr: float, total: int) -> Result:
    """One epoch by hand: mlp_numpy's forward + backward, Adam in place."""
    return adam_epoch(mlp_numpy, params0, batches, lr, total)


def fungrad_epoch(step: Callable, params0: list[dict], state0: Any, batches: Batches):
    def epoch() -> Result:
        params, state, loss = params0, state0, 0.0
        for x, y in batches:
            params, state, loss = step(params, state, x, y)
        return float(loss), flat(params)

    return epoch


def build_contenders(digits: ModuleType) -> tuple[dict[str, Callable[[], Result]], dict]:
    params0, batches, total, note = problem(digits)
    lr = digits.LEARNING_RATE
    optimizer = digits.make_optimizer(lr, total)
    state0 = optimizer.init(params0)
    contenders = {
        "numpy": lambda: numpy_epoch(params0, batches, lr, total),
        "jit": fungrad_epoch(digits.make_train_step(optimizer), params0, state0, batches),
        "eager": fungrad_epoch(
            digits.make_train_step(optimizer, jit=False), params0, state0, batches
        ),
    }
    setting = {"params": params0, "batches": batches, "total": total, "lr": lr, "note": note}
    return contenders, setting


def jax_epoch(setting: dict) -> Callable[[], Result]:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import optax

    def loss_fn(params, x, y):
        h = x
        for layer in params[:-1]:
            h = jax.nn.relu(h @ layer["w"] + layer["b"])
        logits = h @ params[-1]["w"] + params[-1]["b"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    opt = optax.adam(optax.cosine_decay_schedule(setting["lr"], setting["total"]))

    @jax.jit
    def step(params, state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    params0 = jax.tree_util.tree_map(jnp.asarray, setting["params"])
    state0 = opt.init(params0)
    batches = [(jnp.asarray(x), jnp.asarray(y)) for x, y in setting["batches"]]

    def epoch() -> Result:
        params, state, loss = params0, state0, 0.0
        for x, y in batches:
            params, state, loss = step(params, state, x, y)
        jax.block_until_ready(params)
        return float(loss), [np.asarray(leaf) for leaf in flat(params)]

    return epoch


def torch_epoch(setting: dict) -> Callable[[], Result]:
    import torch

    torch.set_num_threads(1)
    params0 = [torch.tensor(leaf) for leaf in flat(setting["params"])]
    batches = [(torch.tensor(x), torch.tensor(y)) for x, y in setting["batches"]]
    lr, total = setting["lr"], setting["total"]

    def epoch() -> Result:
        leaves = [p.clone().requires_grad_() for p in params0]
        opt = torch.optim.Adam(leaves, lr=lr, betas=(B1, B2), eps=EPS)
        loss = torch.zeros(())
        for t, (x, y) in enumerate(batches):
            for group in opt.param_groups:
                group["lr"] = cosine_rate(lr, total, t)
            opt.zero_grad(set_to_none=True)
            h = x
            for i in range(0, len(leaves) - 2, 2):
                h = torch.relu(h @ leaves[i] + leaves[i + 1])
            logits = h @ leaves[-2] + leaves[-1]
            loss = torch.nn.functional.cross_entropy(logits, y)
            loss.backward()
            opt.step()
        return float(loss.detach()), [p.detach().numpy() for p in leaves]

    return epoch


def autograd_epoch(setting: dict) -> Callable[[], Result]:
    """autograd's eager gradient (a tape of NumPy calls, the other pure-Python design)
    with the hand-written in-place Adam of the NumPy contender."""
    import autograd

    value_and_grad = autograd.value_and_grad(autograd_mlp_loss)

    def gradient(params, x, y):
        loss, grads = value_and_grad(params, x, y)
        return loss, flat(grads)

    return lambda: adam_epoch(
        gradient, setting["params"], setting["batches"], setting["lr"], setting["total"]
    )


PEERS = {
    "autograd": ("autograd, Adam by hand", autograd_epoch),
    "jax": ("jax + optax, jax.jit step", jax_epoch),
    "torch": ("torch", torch_epoch),
}


# ---------------------------------------------------------------------------------------
# Main


check_agreement = leaves_checker(TOLERANCE, "parameter")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_timing_args(
        parser,
        repeats_help=f"timed rounds (default {DEFAULT_REPEATS})",
        quick_help="a smoke run: 5 rounds, 1 warm-up round",
    )
    parser.add_argument(
        "--peers",
        default="autograd,jax,torch",
        help="peers to time if installed ('' for none)",
    )
    add_profile_args(
        parser,
        ("jit", "eager"),
        "instead of timing, cProfile this fungrad contender and print the top lines",
        calls_help="epochs to profile",
    )
    add_malloc_arg(parser)
    args = parser.parse_args(argv)
    peers = parse_peers(parser, args.peers, PEERS)

    set_up_and_print_header(args.system_malloc)
    digits = load_digits_example()
    contenders, setting = build_contenders(digits)
    steps = len(setting["batches"])
    print(setting["note"])
    print()
    if args.profile:
        title = f"fungrad {args.profile}: one epoch of examples/digits.py ({steps} steps)"
        run = contenders[args.profile]
        sorts = ("tottime", "cumulative")
        print_profile(run, args.profile_calls, args.profile_lines, title, sorts)
        return 0

    want = contenders["numpy"]()
    verify("train", contenders, want, check_agreement, "NumPy")
    repeats = args.repeats or (5 if args.quick else DEFAULT_REPEATS)
    warmup = 1 if args.quick else args.warmup
    wall, cpu = time_rounds(contenders, repeats, warmup, cpu=True)

    sizes = "-".join(map(str, digits.SIZES))
    print()
    print(
        f"one epoch of examples/digits.py: {steps} steps of MLP {sizes}, batch "
        f"{digits.BATCH_SIZE}, Adam with cosine decay, float64; medians over {repeats} rounds"
    )
    print("ratio = time / NumPy's time (steps per second: the inverse); CPU: process time")
    print(
        f"{'contender':<10} {'ms/epoch':>9} {'steps/s':>8} {'ratio':>7} {'ratio IQR':>13} "
        f"{'CPU ratio':>9} {'target':>8}"
    )
    base, base_cpu = ms(wall["numpy"]), ms(cpu["numpy"])
    print(f"{'numpy':<10} {base:>9.3f} {steps / base * 1e3:>8.0f}")
    for name in ("jit", "eager"):
        t = ms(wall[name])
        low, high = paired_ratio_iqr(wall[name], wall["numpy"])
        ratio, target = t / base, TARGETS[name]
        verdict = "met" if ratio <= target else f"MISSED by {ratio / target - 1:.0%}"
        print(
            f"{name:<10} {t:>9.3f} {steps / t * 1e3:>8.0f} {ratio:>6.2f}x "
            f"{f'{low:.2f}-{high:.2f}x':>13} {ms(cpu[name]) / base_cpu:>8.2f}x "
            f"{f'<={target:g}x':>8} {verdict}"
        )
    time_peers(peers, setting, want, repeats, warmup, base, steps)
    return 0


def time_peers(
    peers: list[str],
    setting: dict,
    want: Result,
    repeats: int,
    warmup: int,
    base: float,
    steps: int,
) -> None:
    """Each installed peer on its own, after the main rounds; ratio to NumPy's median."""
    if not peers:
        return
    print()
    for peer in peers:
        label, build = PEERS[peer]
        try:
            epoch = build(setting)
        except ImportError as exc:
            print(f"{peer}: not installed, skipped ({exc.name or exc})")
            continue
        error = check_agreement(peer, epoch(), want)
        print(f"{label}: agrees with NumPy (max rel. error {error})")
        times: Times = time_rounds({peer: epoch}, repeats, warmup)[0]
        t = ms(times[peer])
        print(
            f"{label:<26} {t:>9.3f} ms/epoch {steps / t * 1e3:>8.0f} steps/s "
            f"{t / base:>6.2f}x NumPy (timed alone)"
        )


if __name__ == "__main__":
    sys.exit(main())
