"""``fungrad.nn``: activations, losses, initialisers and dropout as pure functions.

JAX's ``jax.nn`` names and semantics. Everything here is numerically stable at the
extremes: ``log_softmax`` and ``logsumexp`` subtract the maximum, ``softplus`` and the
logistic losses never exponentiate a large positive number, and the exponential
branches of ``elu``/``celu`` never see one. A network is a pytree of parameters and a
function that applies it; see :func:`init_mlp` and :func:`mlp`. docs/nn.md has the
tables (formulas, derivatives at the kinks, reductions).

>>> import fungrad, numpy as np
>>> from fungrad import nn
>>> float(fungrad.grad(nn.relu)(0.0)), float(fungrad.grad(nn.leaky_relu)(0.0))
(0.0, 1.0)
"""

from __future__ import annotations

from fungrad.nn.activations import (
    celu,
    elu,
    gelu,
    hard_sigmoid,
    hard_silu,
    hard_swish,
    hard_tanh,
    leaky_relu,
    log_sigmoid,
    log_softmax,
    logsumexp,
    maxout,
    mish,
    one_hot,
    prelu,
    relu,
    relu6,
    selu,
    sigmoid,
    silu,
    soft_sign,
    softmax,
    softplus,
    standardize,
    swish,
    tanh,
)
from fungrad.nn.initializers import (
    dropout,
    glorot_normal,
    glorot_uniform,
    he_normal,
    he_uniform,
    init_mlp,
    lecun_normal,
    lecun_uniform,
    mlp,
)
from fungrad.nn.losses import (
    binary_cross_entropy_with_logits,
    huber_loss,
    l1_loss,
    l1_penalty,
    l2_penalty,
    mse,
    softmax_cross_entropy,
    softmax_cross_entropy_with_integer_labels,
)

__all__ = [
    "binary_cross_entropy_with_logits",
    "celu",
    "dropout",
    "elu",
    "gelu",
    "glorot_normal",
    "glorot_uniform",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "hard_tanh",
    "he_normal",
    "he_uniform",
    "huber_loss",
    "init_mlp",
    "l1_loss",
    "l1_penalty",
    "l2_penalty",
    "leaky_relu",
    "lecun_normal",
    "lecun_uniform",
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "maxout",
    "mish",
    "mlp",
    "mse",
    "one_hot",
    "prelu",
    "relu",
    "relu6",
    "selu",
    "sigmoid",
    "silu",
    "soft_sign",
    "softmax",
    "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels",
    "softplus",
    "standardize",
    "swish",
    "tanh",
]
