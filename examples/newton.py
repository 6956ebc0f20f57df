"""Newton's method with ``fungrad.hessian``: logistic regression on the breast-cancer data.

The data are scikit-learn's bundled Wisconsin breast-cancer set (569 tumours, 30
features, no download). The loss is the mean logistic loss plus a small L2 term,

    L(theta) = mean(softplus(z) - y z) + (l2 / 2) |w|^2,    z = X w + b,

which is strictly convex: the data are almost linearly separable, and without the L2
term the minimum would lie at infinity. A few steps of gradient descent come first,
then Newton's method,

    theta <- theta - H(theta)^-1 g(theta),

with the gradient ``g`` from ``fungrad.grad`` and the Hessian ``H`` from
``fungrad.hessian`` (forward over reverse mode). Gradient descent shrinks the gradient
norm by a roughly constant factor per step; near the minimum Newton's method *squares*
it (quadratic convergence: the number of correct digits doubles) until it reaches
rounding level, about 1e-16 here.

    python examples/newton.py           # needs scikit-learn
"""

# ruff: noqa: E402  (the thread settings below must come before NumPy is imported)

from __future__ import annotations

import os

# Small matrices (569 x 31): BLAS worker threads would only add synchronisation.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

import fungrad
import fungrad.numpy as fnp
from fungrad import nn

INSTALL_EXAMPLES = (
    'python -m pip install "fungrad[examples]"'
    ' (or, from a checkout of fungrad: python -m pip install ".[examples]")'
)


def load_data() -> tuple[np.ndarray, np.ndarray]:
    """Standardised features with a column of ones appended (for the bias), and 0/1 labels."""
    try:
        from sklearn.datasets import load_breast_cancer
    except ImportError:
        sys.exit(f"newton.py needs scikit-learn, which is not installed: {INSTALL_EXAMPLES}")
    features, labels = load_breast_cancer(return_X_y=True)
    # Standardising makes the problem well conditioned (the raw features range from
    # 1e-3 to 1e3), so gradient descent with one step size makes progress on all of them.
    features = (features - features.mean(axis=0)) / features.std(axis=0)
    inputs = np.concatenate([features, np.ones((len(features), 1))], axis=1)
    return inputs, labels.astype(np.float64)


def loss_fn(theta: Any, inputs: Any, labels: Any, l2: float) -> Any:
    """Mean logistic loss plus ``l2 / 2 * |w|^2``; ``theta`` is (w, b) as one vector."""
    logits = inputs @ theta
    data_term = fnp.mean(nn.binary_cross_entropy_with_logits(logits, labels))
    return data_term + 0.5 * l2 * fnp.sum(theta[:-1] ** 2)  # the bias is not penalised


def minimise(
    inputs: np.ndarray,
    labels: np.ndarray,
    l2: float = 1e-3,
    gd_steps: int = 20,
    newton_steps: int = 10,
    learning_rate: float = 1.0,
    tolerance: float = 1e-14,
) -> dict[str, Any]:
    """Gradient descent, then Newton until the gradient norm is below ``tolerance``."""
    gradient = fungrad.jit(fungrad.grad(loss_fn), static_argnums=3)
    hessian = fungrad.jit(fungrad.hessian(loss_fn), static_argnums=3)
    theta = np.zeros(inputs.shape[1])
    history = []  # (method, step, loss, gradient norm)

    def record(method: str, step: int) -> np.ndarray:
        g = gradient(theta, inputs, labels, l2)
        loss = float(loss_fn(theta, inputs, labels, l2))
        history.append((method, step, loss, float(np.linalg.norm(g))))
        print(f"{method:>8} {step:3d}   loss {loss:.12f}   |gradient| {history[-1][3]:.3e}")
        return g

    for step in range(gd_steps):
        theta = theta - learning_rate * record("gradient", step)
    for step in range(newton_steps):
        g = record("Newton", step)
        if history[-1][3] < tolerance:
            break
        theta = theta - np.linalg.solve(hessian(theta, inputs, labels, l2), g)
    else:
        record("Newton", newton_steps)
    return {"theta": theta, "history": history}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gd-steps", type=int, default=20, help="gradient steps (default 20)")
    parser.add_argument("--newton-steps", type=int, default=10, help="at most (default 10)")
    parser.add_argument("--l2", type=float, default=1e-3, help="L2 coefficient (default 1e-3)")
    parser.add_argument("--lr", type=float, default=1.0, help="gradient descent step size")
    args = parser.parse_args(argv)

    inputs, labels = load_data()
    print(f"breast cancer: {inputs.shape[0]} examples, {inputs.shape[1] - 1} features")
    result = minimise(inputs, labels, args.l2, args.gd_steps, args.newton_steps, args.lr)
    newton_norms = [norm for method, _, _, norm in result["history"] if method == "Newton"]
    accuracy = float(np.mean((inputs @ result["theta"] > 0) == (labels == 1)))
    print(f"final gradient norm {newton_norms[-1]:.1e}, training accuracy {accuracy:.1%}")
    return {
        "history": result["history"],
        "newton_norms": newton_norms,
        "gradient_norm": newton_norms[-1],
        "accuracy": accuracy,
        "theta": result["theta"],
        "inputs": inputs,
        "labels": labels,
        "l2": args.l2,
    }


if __name__ == "__main__":
    main()
