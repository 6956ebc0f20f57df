"""``fungrad.nn``: activations, losses and initialisers as pure functions.

Everything here is numerically stable at the extremes: ``log_softmax`` and
``logsumexp`` subtract the maximum, ``softplus`` and the logistic losses never
exponentiate a large positive number. A network is a pytree of parameters and a
function that applies it; see :func:`init_mlp` and :func:`mlp`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import fungrad.numpy as fnp
from fungrad.primitives.elementwise import logistic, stop_gradient

Array = Any


def relu(x: Array) -> Array:
    """``max(x, 0)``, with derivative 0 at exactly 0 (as JAX and PyTorch define it).

    NaN stays NaN, as in ``maximum(x, 0)``: only ``x <= 0`` is replaced by zero.
    """
    return fnp.where(x <= 0, 0.0, x)


def sigmoid(x: Array) -> Array:
    """``1 / (1 + exp(-x))`` without overflow for large ``|x|``."""
    return logistic(x)


def softplus(x: Array) -> Array:
    """``log(1 + exp(x)) = logaddexp(x, 0)``: finite for any ``x``; derivative sigmoid(x)."""
    return fnp.logaddexp(x, 0.0)


def log_sigmoid(x: Array) -> Array:
    """``log(sigmoid(x)) = -softplus(-x)``, finite for very negative ``x``."""
    return -softplus(-x)


def logsumexp(x: Array, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Array:
    """``log(sum(exp(x)))`` over ``axis``, shifted by the maximum so it cannot overflow
    (``fungrad.numpy.logsumexp``, which also takes SciPy's weights ``b``)."""
    return fnp.logsumexp(x, axis=axis, keepdims=keepdims)


def log_softmax(x: Array, axis: int = -1) -> Array:
    """``x - logsumexp(x)`` along ``axis``: log-probabilities that stay finite."""
    shifted = x - fnp.max(stop_gradient(x), axis=axis, keepdims=True)
    return shifted - fnp.log(fnp.sum(fnp.exp(shifted), axis=axis, keepdims=True))


def softmax(x: Array, axis: int = -1) -> Array:
    """Probabilities along ``axis``; subtracts the maximum before exponentiating."""
    unnormalised = fnp.exp(x - fnp.max(stop_gradient(x), axis=axis, keepdims=True))
    return unnormalised / fnp.sum(unnormalised, axis=axis, keepdims=True)


def one_hot(labels: Array, num_classes: int, dtype: Any = np.float64) -> np.ndarray:
    """Rows of the identity: ``one_hot([2, 0], 3) == [[0, 0, 1], [1, 0, 0]]``."""
    labels = np.asarray(labels)
    return (labels[..., None] == np.arange(num_classes)).astype(dtype)


def softmax_cross_entropy(logits: Array, labels: Array) -> Array:
    """Cross-entropy of ``softmax(logits)`` against one-hot or soft ``labels``, per example."""
    return -fnp.sum(labels * log_softmax(logits), axis=-1)


def softmax_cross_entropy_with_integer_labels(logits: Array, labels: Array) -> Array:
    """Cross-entropy against integer class ``labels``, per example."""
    logp = log_softmax(logits)
    picked = fnp.take_along_axis(logp, fnp.expand_dims(labels, -1), axis=-1)
    return -fnp.squeeze(picked, axis=-1)


def binary_cross_entropy_with_logits(logits: Array, labels: Array) -> Array:
    """``-[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))]``, stable for any logit ``z``."""
    return softplus(logits) - labels * logits


def mse(predictions: Array, targets: Array) -> Array:
    """Mean squared error over all elements."""
    return fnp.mean((predictions - targets) ** 2)


# ---------------------------------------------------------------------------------------
# Initialisers and a small MLP


def glorot_normal(rng: np.random.Generator, shape: tuple[int, int], dtype: Any = np.float64):
    """Normal with variance 2 / (fan_in + fan_out) (Glorot & Bengio)."""
    fan_in, fan_out = shape
    return (rng.standard_normal(shape) * np.sqrt(2.0 / (fan_in + fan_out))).astype(dtype)


def he_normal(rng: np.random.Generator, shape: tuple[int, int], dtype: Any = np.float64):
    """Normal with variance 2 / fan_in (He et al.), suited to ReLU layers."""
    return (rng.standard_normal(shape) * np.sqrt(2.0 / shape[0])).astype(dtype)


def init_mlp(
    rng: np.random.Generator, sizes: Sequence[int], dtype: Any = np.float64
) -> list[dict[str, np.ndarray]]:
    """Parameters of a fully connected network: a list of ``{"w", "b"}`` per layer.

    >>> params = init_mlp(np.random.default_rng(0), [2, 8, 1])
    >>> [p["w"].shape for p in params]
    [(2, 8), (8, 1)]
    """
    return [
        {"w": he_normal(rng, (m, n), dtype), "b": np.zeros(n, dtype)}
        for m, n in zip(sizes[:-1], sizes[1:])
    ]


def mlp(params: Sequence[dict[str, Array]], x: Array, activation: Any = relu) -> Array:
    """Apply the network from :func:`init_mlp`: ``activation`` between layers, none after."""
    for layer in params[:-1]:
        x = activation(x @ layer["w"] + layer["b"])
    last = params[-1]
    return x @ last["w"] + last["b"]
