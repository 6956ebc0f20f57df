"""Per-example gradients with ``vmap(grad(loss))``, and DP-SGD-style clipping (NumPy only).

``grad`` of a mean loss gives one gradient for the whole batch. Write the loss for a
single example instead, and ``vmap`` its gradient over the batch:

    per_example_grads = vmap(grad(example_loss), in_axes=(None, 0, 0))

``in_axes=(None, 0, 0)``: the parameters are shared, the inputs and labels are mapped
over their first axis. The result is the parameter pytree with a leading batch axis on
every leaf, computed in one batched pass, not a Python loop over the examples.

Per-example gradients are what differentially private SGD (DP-SGD; Abadi et al., 2016)
needs: each example's gradient is clipped to norm at most C, so that no single example
can move the parameters much, the clipped gradients are averaged, and Gaussian noise of
standard deviation ``noise_multiplier * C / batch`` is added. The noise is drawn from
an explicit ``numpy.random.Generator`` outside the jitted step and passed in (a draw
inside ``jit`` would happen once, at tracing, and repeat on every call).

The script checks the batched gradients against a Python loop over the examples,
prints statistics of their norms, and trains the small MLP a few steps with noisy
clipped gradients. (The privacy accounting of DP-SGD is not part of this example.)

    python examples/per_example_gradients.py
"""

# ruff: noqa: E402  (the thread settings below must come before NumPy is imported)

from __future__ import annotations

import os

# Tiny matrices: BLAS worker threads would only add synchronisation.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse
from collections.abc import Sequence
from typing import Any

import numpy as np

import fungrad
import fungrad.numpy as fnp
from fungrad import nn, optim, tree_util

Params = list[dict[str, np.ndarray]]


def two_moons(rng: np.random.Generator, n: int, noise: float = 0.15) -> tuple[Any, Any]:
    """Two interleaved half circles: inputs of shape (n, 2), labels 0 and 1 of shape (n,)."""
    labels = rng.integers(0, 2, size=n)
    angle = rng.uniform(0.0, np.pi, size=n)
    upper = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    lower = np.stack([1.0 - np.cos(angle), 0.5 - np.sin(angle)], axis=1)
    inputs = np.where(labels[:, None] == 0, upper, lower)
    return inputs + noise * rng.standard_normal((n, 2)), labels


def example_loss(params: Params, x: Any, y: Any) -> Any:
    """The loss of ONE example: x of shape (2,), y an integer label."""
    logits = nn.mlp(params, x, activation=fnp.tanh)
    return nn.softmax_cross_entropy_with_integer_labels(logits, y)


def batch_loss(params: Params, inputs: Any, labels: Any) -> Any:
    logits = nn.mlp(params, inputs, activation=fnp.tanh)
    return fnp.mean(nn.softmax_cross_entropy_with_integer_labels(logits, labels))


# One gradient per example: the parameters are shared (None), the data mapped (0).
per_example_grads = fungrad.vmap(fungrad.grad(example_loss), in_axes=(None, 0, 0))


def per_example_norms(grads: Params) -> Any:
    """The global norm of each example's gradient (all leaves together): shape (batch,)."""
    squares = [
        fnp.sum(g.reshape(g.shape[0], -1) ** 2, axis=1) for g in tree_util.tree_leaves(grads)
    ]
    return fnp.sqrt(sum(squares))


def clipped_mean(grads: Params, clip_norm: float) -> tuple[Params, Any]:
    """Scale each example's gradient to norm at most ``clip_norm``, then average them."""
    norms = per_example_norms(grads)
    factors = fnp.minimum(1.0, clip_norm / (norms + 1e-12))  # 1 for the small ones

    def scale_and_average(g: Any) -> Any:
        return fnp.mean(g * factors.reshape((-1,) + (1,) * (g.ndim - 1)), axis=0)

    return tree_util.tree_map(scale_and_average, grads), norms


def private_gradient(
    params: Params, inputs: Any, labels: Any, noise: Params, clip_norm: float
) -> tuple[Params, Any]:
    """DP-SGD's gradient: the mean of the clipped per-example gradients plus noise.

    ``noise`` is a pytree like ``params`` of N(0, (noise_multiplier * clip_norm)^2)
    draws: the noise added to the *sum* of the clipped gradients, so divided by the
    batch size here.
    """
    mean, norms = clipped_mean(per_example_grads(params, inputs, labels), clip_norm)
    batch = inputs.shape[0]
    return tree_util.tree_map(lambda m, z: m + z / batch, mean, noise), norms


def loop_gradients(params: Params, inputs: np.ndarray, labels: np.ndarray) -> Params:
    """The same per-example gradients the slow way: ``grad`` once per example, stacked."""
    grads = [fungrad.grad(example_loss)(params, x, y) for x, y in zip(inputs, labels)]
    return tree_util.tree_map(lambda *leaves: np.stack(leaves), *grads)


def accuracy(params: Params, inputs: np.ndarray, labels: np.ndarray) -> float:
    logits = nn.mlp(params, inputs, activation=np.tanh)
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128, help="examples (default 128)")
    parser.add_argument("--steps", type=int, default=200, help="DP-SGD steps (default 200)")
    parser.add_argument("--clip", type=float, default=1.0, help="clipping norm C (default 1)")
    parser.add_argument(
        "--noise-multiplier", type=float, default=0.5, help="noise std / C (default 0.5)"
    )
    parser.add_argument("--lr", type=float, default=1.0, help="learning rate (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="data, initialisation, noise")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)  # the one source of randomness
    inputs, labels = two_moons(rng, args.batch)
    params = nn.init_mlp(rng, [2, 16, 16, 2])

    # 1. The batched per-example gradients agree with a loop over the examples.
    batched = per_example_grads(params, inputs, labels)
    looped = loop_gradients(params, inputs, labels)
    differences = tree_util.tree_map(lambda a, b: np.max(np.abs(a - b)), batched, looped)
    max_difference = float(max(tree_util.tree_leaves(differences)))
    shapes = [leaf.shape for leaf in tree_util.tree_leaves(batched)]
    print(f"per-example gradients: leaves of shapes {shapes}")
    print(f"max |vmap - loop| over all entries: {max_difference:.2e}")
    # ... and their average is the gradient of the mean loss.
    mean_grad = fungrad.grad(batch_loss)(params, inputs, labels)
    mean_differences = tree_util.tree_map(
        lambda per_example, g: np.max(np.abs(per_example.mean(axis=0) - g)), batched, mean_grad
    )
    mean_difference = float(max(tree_util.tree_leaves(mean_differences)))
    print(f"max |mean of per-example - grad of mean loss|: {mean_difference:.2e}")

    # 2. Their norms, and what clipping at C does to them.
    norms = np.asarray(per_example_norms(batched))
    print(
        f"per-example gradient norms: min {norms.min():.3f}, median {np.median(norms):.3f}, "
        f"mean {norms.mean():.3f}, max {norms.max():.3f}; "
        f"{np.mean(norms > args.clip):.0%} above C = {args.clip:g}"
    )

    # 3. Train with noisy clipped gradients: the whole step, clipping included, is jitted;
    #    only the noise comes from outside.
    optimizer = optim.sgd(args.lr)
    std = args.noise_multiplier * args.clip

    @fungrad.jit
    def dp_step(params: Params, opt_state: Any, noise: Params) -> Any:
        grads, _ = private_gradient(params, inputs, labels, noise, args.clip)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optim.apply_updates(params, updates), opt_state

    def draw_noise() -> Params:
        return tree_util.tree_map(lambda p: std * rng.standard_normal(p.shape), params)

    opt_state = optimizer.init(params)
    losses = [float(batch_loss(params, inputs, labels))]
    print(f"DP-SGD: C = {args.clip:g}, noise std {std:g} on the sum of clipped gradients")
    print(f"step     0   loss {losses[0]:.4f}")
    for step in range(args.steps):
        params, opt_state = dp_step(params, opt_state, draw_noise())
        if (step + 1) % max(1, args.steps // 5) == 0:
            losses.append(float(batch_loss(params, inputs, labels)))
            print(f"step {step + 1:5d}   loss {losses[-1]:.4f}")
    final_accuracy = accuracy(params, inputs, labels)
    print(f"training accuracy after {args.steps} noisy steps: {final_accuracy:.1%}")
    return {
        "max_difference": max_difference,
        "mean_difference": mean_difference,
        "norms": norms,
        "losses": losses,
        "accuracy": final_accuracy,
        "traces": dp_step.trace_count,
    }


if __name__ == "__main__":
    main()
