"""Train an Elman RNN written with ``fungrad.lax.scan`` to predict a noisy sine wave.

Each sequence is a sine wave of random frequency and phase plus Gaussian noise; at
every time step the network reads the current noisy value and predicts the next
one. The cell,

    h_t = tanh(x_t @ W_x + h_{t-1} @ W_h + b),    prediction_t = h_t @ W_o + b_o,

runs over the time axis with ``lax.scan``, so the loss is one program with the cell in
it once, whatever the sequence length, and ``jit(value_and_grad(loss))`` compiles the
forward scan and the backward scan (backpropagation through time) once. Training is
Adam, written by hand as pure functions of pytrees: nothing is mutated.

The printout shows the loss going down, and two reference points: predicting that
the next value equals the current one (a baseline the network should beat), and the
noise variance, below which no predictor can go on average.

    python examples/rnn_scan.py               # a few seconds
    python examples/rnn_scan.py --steps 1000  # train longer
"""

# ruff: noqa: E402  (the thread settings below must come before NumPy is imported)

from __future__ import annotations

import os

# The matrices are tiny (64 x 16): BLAS worker threads would only add synchronisation.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

import fungrad
import fungrad.numpy as fnp
from fungrad import lax, tree_util

Params = dict[str, np.ndarray]
NOISE = 0.1  # standard deviation of the noise added to the sine waves


def noisy_sines(
    rng: np.random.Generator, sequences: int, length: int
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and next-step targets, time-major: both of shape (length, sequences, 1)."""
    frequency = rng.uniform(0.15, 0.35, size=sequences)  # radians per step
    phase = rng.uniform(0.0, 2 * np.pi, size=sequences)
    t = np.arange(length + 1)[:, None]
    wave = np.sin(frequency * t + phase) + NOISE * rng.standard_normal((length + 1, sequences))
    return wave[:-1, :, None], wave[1:, :, None]


def init_params(rng: np.random.Generator, hidden: int) -> Params:
    return {
        "w_x": rng.normal(0.0, 1.0, (1, hidden)),
        "w_h": rng.normal(0.0, 1.0 / np.sqrt(hidden), (hidden, hidden)),
        "b": np.zeros(hidden),
        "w_o": np.zeros((hidden, 1)),  # predictions start at zero: the loss starts at E[y^2]
        "b_o": np.zeros(1),
    }


def predict(params: Params, inputs: Any) -> Any:
    """The RNN over the whole sequence: predictions of shape (length, sequences, 1)."""

    def cell(h: Any, x: Any) -> tuple[Any, Any]:
        h = fnp.tanh(x @ params["w_x"] + h @ params["w_h"] + params["b"])
        return h, h @ params["w_o"] + params["b_o"]

    h0 = fnp.zeros((inputs.shape[1], params["w_h"].shape[0]))
    _, predictions = lax.scan(cell, h0, inputs)
    return predictions


def loss_fn(params: Params, inputs: Any, targets: Any) -> Any:
    """Mean squared error of the next-step predictions."""
    return fnp.mean((predict(params, inputs) - targets) ** 2)


# ---------------------------------------------------------------------------------------
# Adam, by hand: the optimizer state is a pytree like the parameters, and each update
# returns new trees.


def adam_init(params: Params) -> tuple[int, Params, Params]:
    zeros = tree_util.tree_map(np.zeros_like, params)
    return 0, zeros, zeros


def adam_update(
    params: Params,
    grads: Params,
    state: tuple[int, Params, Params],
    learning_rate: float,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
) -> tuple[Params, tuple[int, Params, Params]]:
    step, m, v = state
    step += 1
    m = tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
    v = tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
    scale = learning_rate * np.sqrt(1 - b2**step) / (1 - b1**step)
    params = tree_util.tree_map(lambda p, m, v: p - scale * m / (np.sqrt(v) + eps), params, m, v)
    return params, (step, m, v)


def train(
    steps: int = 300,
    hidden: int = 16,
    sequences: int = 32,
    length: int = 60,
    learning_rate: float = 0.02,
    seed: int = 0,
    log_every: int = 50,
) -> dict[str, Any]:
    """Train on a fixed set of sequences (full batch); returns losses and baselines."""
    rng = np.random.default_rng(seed)
    train_x, train_y = noisy_sines(rng, sequences, length)
    test_x, test_y = noisy_sines(rng, sequences, length)  # fresh waves, for the end
    params = init_params(rng, hidden)
    state = adam_init(params)
    loss_and_grad = fungrad.jit(fungrad.value_and_grad(loss_fn))

    losses = []
    for step in range(steps + 1):
        loss, grads = loss_and_grad(params, train_x, train_y)
        losses.append(float(loss))
        if log_every and step % log_every == 0:
            print(f"step {step:5d}   loss {float(loss):.4f}")
        if step < steps:
            params, state = adam_update(params, grads, state, learning_rate)

    return {
        "initial_loss": losses[0],
        "final_loss": losses[-1],
        "losses": losses,
        "test_loss": float(fungrad.jit(loss_fn)(params, test_x, test_y)),
        "persistence_loss": float(np.mean((train_x - train_y) ** 2)),
        "noise_variance": NOISE**2,
        "traces": loss_and_grad.trace_count,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="Adam steps (default 300)")
    parser.add_argument("--hidden", type=int, default=16, help="hidden units (default 16)")
    parser.add_argument("--length", type=int, default=60, help="time steps (default 60)")
    parser.add_argument("--lr", type=float, default=0.02, help="learning rate (default 0.02)")
    parser.add_argument("--seed", type=int, default=0, help="data and initialisation seed")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    metrics = train(
        args.steps,
        hidden=args.hidden,
        length=args.length,
        learning_rate=args.lr,
        seed=args.seed,
    )
    elapsed = time.perf_counter() - start
    print(
        f"final train loss {metrics['final_loss']:.4f} (from {metrics['initial_loss']:.4f}), "
        f"test loss {metrics['test_loss']:.4f}; predicting the current value: "
        f"{metrics['persistence_loss']:.4f}, noise variance: {metrics['noise_variance']:.4f} "
        f"({elapsed:.1f} s, {metrics['traces']} trace{'' if metrics['traces'] == 1 else 's'})"
    )
    return metrics


if __name__ == "__main__":
    main()
