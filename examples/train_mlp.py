"""Train a small MLP on three interleaved spirals with fungrad (NumPy only).

The whole training loop is pure functions: the parameters are a pytree (a list of
``{"w", "b"}`` dicts from ``fungrad.nn.init_mlp``), ``fungrad.value_and_grad`` gives
the loss and the gradient with the same structure, and one SGD step is a
``tree_map`` over the two trees. No state is mutated.

    python examples/train_mlp.py            # about a second
    python examples/train_mlp.py --plot     # also draw the decision regions (matplotlib)
"""

# ruff: noqa: E402  (the thread settings below must come before NumPy is imported)

from __future__ import annotations

import os

# The matrices here are tiny (300 x 64): BLAS worker threads only add synchronisation,
# and on a busy two-core machine that made each step ten to twenty times slower.
# An explicit setting in the environment wins.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

import fungrad
import fungrad.numpy as fnp
from fungrad import nn, tree_util

Params = list[dict[str, np.ndarray]]


def spirals(
    rng: np.random.Generator, points_per_class: int = 100, classes: int = 3, noise: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    """``classes`` spiral arms in the plane: inputs of shape (n, 2), integer labels (n,)."""
    inputs, labels = [], []
    for k in range(classes):
        radius = np.linspace(0.0, 1.0, points_per_class)
        angle = np.linspace(4.0 * k, 4.0 * (k + 1), points_per_class)
        angle = angle + noise * rng.standard_normal(points_per_class)
        inputs.append(np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1))
        labels.append(np.full(points_per_class, k))
    return np.concatenate(inputs), np.concatenate(labels)


def loss_fn(params: Params, inputs: np.ndarray, labels: np.ndarray) -> Any:
    """Mean cross-entropy of the network's logits against the integer labels."""
    logits = nn.mlp(params, inputs)
    return fnp.mean(nn.softmax_cross_entropy_with_integer_labels(logits, labels))


def sgd_step(params: Params, grads: Params, learning_rate: float) -> Params:
    """One step of gradient descent: a new parameter tree, the old one untouched."""
    return tree_util.tree_map(lambda p, g: p - learning_rate * g, params, grads)


def accuracy(params: Params, inputs: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(nn.mlp(params, inputs), axis=1) == labels))


def train(
    steps: int = 500,
    learning_rate: float = 0.5,
    sizes: Sequence[int] = (2, 64, 64, 3),
    seed: int = 0,
    log_every: int = 50,
) -> tuple[Params, dict[str, float]]:
    """Train on a fixed spiral data set (full batch); returns the parameters and metrics."""
    rng = np.random.default_rng(seed)
    train_x, train_y = spirals(rng)
    test_x, test_y = spirals(rng)  # a second draw: same arms, fresh noise
    params = nn.init_mlp(rng, sizes)
    loss_and_grad = fungrad.value_and_grad(loss_fn)

    for step in range(steps + 1):
        loss, grads = loss_and_grad(params, train_x, train_y)
        if log_every and step % log_every == 0:
            print(f"step {step:5d}   loss {float(loss):.4f}")
        if step < steps:
            params = sgd_step(params, grads, learning_rate)

    metrics = {
        "loss": float(loss),
        "train_accuracy": accuracy(params, train_x, train_y),
        "test_accuracy": accuracy(params, test_x, test_y),
    }
    return params, metrics


def plot(params: Params, seed: int = 0) -> None:
    """Draw the decision regions and the training points (needs matplotlib)."""
    try:
        import matplotlib.pyplot as plt  # only here: the example itself needs NumPy alone
    except ImportError:
        print('--plot needs matplotlib: python -m pip install ".[examples]"')
        return

    inputs, labels = spirals(np.random.default_rng(seed))
    grid = np.linspace(-1.1, 1.1, 300)
    xx, yy = np.meshgrid(grid, grid)
    logits = nn.mlp(params, np.stack([xx.ravel(), yy.ravel()], axis=1))
    regions = np.argmax(logits, axis=1).reshape(xx.shape)
    plt.contourf(xx, yy, regions, alpha=0.3, cmap="brg")
    plt.scatter(inputs[:, 0], inputs[:, 1], c=labels, s=12, cmap="brg")
    plt.title("fungrad MLP on three spirals")
    plt.gca().set_aspect("equal")
    plt.show()


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500, help="gradient steps (default 500)")
    parser.add_argument("--lr", type=float, default=0.5, help="learning rate (default 0.5)")
    parser.add_argument("--seed", type=int, default=0, help="data and initialisation seed")
    parser.add_argument("--plot", action="store_true", help="plot the decision regions")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    params, metrics = train(args.steps, args.lr, seed=args.seed)
    elapsed = time.perf_counter() - start
    print(
        f"final train accuracy {metrics['train_accuracy']:.1%}, "
        f"test accuracy {metrics['test_accuracy']:.1%} ({elapsed:.1f} s)"
    )
    if args.plot:
        plot(params, args.seed)
    return metrics


if __name__ == "__main__":
    main()
