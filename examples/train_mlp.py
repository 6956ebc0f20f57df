"""Train a small MLP on three interleaved spirals with fungrad and Adam (NumPy only).

Everything is a pure function of pytrees. The parameters are a list of ``{"w", "b"}``
dicts (``fungrad.nn.init_mlp``); the optimiser's state is a pytree too
(``fungrad.optim.adam``). One training step takes both and returns new ones:

    loss, grads = value_and_grad(loss_fn)(params, inputs, labels)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = optim.apply_updates(params, updates)

and ``fungrad.jit`` compiles that whole step once, on the first call; the other steps
run the generated NumPy code. Nothing is mutated.

    python examples/train_mlp.py                     # a second or two
    python examples/train_mlp.py --plot spirals.png  # also draw the decision regions
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
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

import fungrad
import fungrad.numpy as fnp
from fungrad import nn, optim

Params = list[dict[str, np.ndarray]]

# Okabe and Ito's palette, distinguishable with the common forms of colour blindness:
# blue, orange, bluish green. The classes also get different marker shapes.
CLASS_COLOURS = ["#0072B2", "#E69F00", "#009E73"]
CLASS_MARKERS = ["o", "s", "^"]
INSTALL_EXAMPLES = (
    'python -m pip install "fungrad[examples]"'
    ' (or, from a checkout of fungrad: python -m pip install ".[examples]")'
)


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


def loss_fn(params: Params, inputs: Any, labels: Any) -> Any:
    """Mean cross-entropy of the network's logits against the integer labels."""
    logits = nn.mlp(params, inputs)
    return fnp.mean(nn.softmax_cross_entropy_with_integer_labels(logits, labels))


def make_train_step(optimizer: optim.GradientTransformation) -> Any:
    """The whole training step, compiled by ``jit``: (params, state, data) -> new ones."""

    @fungrad.jit
    def train_step(params: Params, opt_state: Any, inputs: Any, labels: Any) -> Any:
        loss, grads = fungrad.value_and_grad(loss_fn)(params, inputs, labels)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optim.apply_updates(params, updates), opt_state, loss

    return train_step


def accuracy(params: Params, inputs: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(nn.mlp(params, inputs), axis=1) == labels))


def train(
    steps: int = 300,
    learning_rate: float = 0.01,
    sizes: Sequence[int] = (2, 64, 64, 3),
    seed: int = 0,
    log_every: int = 30,
) -> tuple[Params, dict[str, Any]]:
    """Train on a fixed spiral data set (full batch); returns the parameters and metrics."""
    rng = np.random.default_rng(seed)
    train_x, train_y = spirals(rng)
    test_x, test_y = spirals(rng)  # a second draw: same arms, fresh noise
    params = nn.init_mlp(rng, sizes)
    optimizer = optim.adam(learning_rate)
    opt_state = optimizer.init(params)
    train_step = make_train_step(optimizer)

    losses = []
    for step in range(steps):
        params, opt_state, loss = train_step(params, opt_state, train_x, train_y)
        losses.append(float(loss))  # the loss of the parameters *before* this step
        if log_every and step % log_every == 0:
            print(f"step {step:5d}   loss {losses[-1]:.4f}")
    final_loss = float(loss_fn(params, train_x, train_y))
    print(f"step {steps:5d}   loss {final_loss:.4f}")

    metrics = {
        "loss": final_loss,
        "losses": losses + [final_loss],
        "train_accuracy": accuracy(params, train_x, train_y),
        "test_accuracy": accuracy(params, test_x, test_y),
        "traces": train_step.trace_count,  # 1: the step was compiled once
    }
    return params, metrics


def import_pyplot() -> Any:
    """matplotlib's pyplot, drawing to files only (the Agg backend: no window opens)."""
    try:
        import matplotlib  # only here: the example itself needs NumPy alone
    except ImportError:
        sys.exit(f"--plot needs matplotlib, which is not installed: {INSTALL_EXAMPLES}")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot(plt: Any, params: Params, path: str, test_accuracy: float, seed: int = 0) -> None:
    """Save the decision regions, with the training points on top, as a PNG at ``path``."""
    from matplotlib.colors import ListedColormap

    inputs, labels = spirals(np.random.default_rng(seed))  # the training set of train()
    grid = np.linspace(-1.15, 1.15, 250)
    xx, yy = np.meshgrid(grid, grid)
    logits = nn.mlp(params, np.stack([xx.ravel(), yy.ravel()], axis=1))
    regions = np.argmax(logits, axis=1).reshape(xx.shape)

    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    levels = np.arange(len(CLASS_COLOURS) + 1) - 0.5  # one band per class index
    ax.contourf(xx, yy, regions, levels=levels, cmap=ListedColormap(CLASS_COLOURS), alpha=0.3)
    for k, (colour, marker) in enumerate(zip(CLASS_COLOURS, CLASS_MARKERS)):
        arm = inputs[labels == k]
        ax.scatter(
            arm[:, 0],
            arm[:, 1],
            c=colour,
            marker=marker,
            s=18,
            edgecolors="black",
            linewidths=0.4,
            label=f"class {k}",
        )
    ax.set_title(f"fungrad MLP on three spirals: test accuracy {test_accuracy:.1%}")
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize="small")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="Adam steps (default 300)")
    parser.add_argument("--lr", type=float, default=0.01, help="learning rate (default 0.01)")
    parser.add_argument("--seed", type=int, default=0, help="data and initialisation seed")
    parser.add_argument(
        "--plot", metavar="PATH", help="save the decision regions as a PNG (needs matplotlib)"
    )
    args = parser.parse_args(argv)
    plt = import_pyplot() if args.plot else None  # fail before training, not after

    start = time.perf_counter()
    log_every = max(1, args.steps // 10)  # about ten lines of progress
    params, metrics = train(args.steps, args.lr, seed=args.seed, log_every=log_every)
    elapsed = time.perf_counter() - start
    print(
        f"final train accuracy {metrics['train_accuracy']:.1%}, "
        f"test accuracy {metrics['test_accuracy']:.1%} ({elapsed:.1f} s)"
    )
    if args.plot:
        plot(plt, params, args.plot, metrics["test_accuracy"], args.seed)
        print(f"wrote {args.plot}")
        metrics["plot"] = args.plot
    return metrics


if __name__ == "__main__":
    main()
