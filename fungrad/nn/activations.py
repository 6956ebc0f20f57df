"""Activations of ``fungrad.nn``: JAX's ``jax.nn`` functions, stable at the extremes.

Every function is finite, with a finite derivative, for any finite input: nothing
exponentiates a large positive number, and a branch of ``where`` that would overflow is
fed a safe value (so that its zero cotangent is not multiplied by ``inf``). NaN in gives
NaN out. At a kink the derivative is JAX's choice (the table in docs/nn.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

import fungrad.numpy as fnp
from fungrad.custom_derivatives import custom_jvp
from fungrad.errors import FungradTypeError, FungradValueError
from fungrad.primitives.elementwise import logistic, stop_gradient

Array = Any

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _inexact(x: Array) -> Array:
    """Integers and booleans as float64 (as JAX promotes them); floats and tracers as they are."""
    if type(x) in (int, bool):
        return float(x)
    if isinstance(x, (np.ndarray, np.generic, list, tuple)):
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.inexact):
            return x.astype(np.float64)
    return x


def _expm1_nonpositive(s: Array) -> Array:
    """``exp(s) - 1`` for ``s <= 0``, accurate in value and derivative.

    ``expm1``'s derivative is formed as ``expm1(s) + 1`` (as in JAX), which cancels for
    ``s << 0`` (at ``s = -50`` it is 0 instead of ``exp(-50)``). Below -1 the plain
    ``exp(s) - 1`` has no cancellation (its value is at most ``-0.63``) and an exact
    derivative; on ``[-1, 0]`` ``expm1`` is accurate in both.
    """
    far = s < -1.0
    return fnp.where(
        far, fnp.exp(fnp.where(far, s, -1.0)) - 1.0, fnp.expm1(fnp.where(far, 0.0, s))
    )


@custom_jvp
def relu(x: Array) -> Array:
    """``max(x, 0)``, with derivative 0 at exactly 0 (as JAX and PyTorch define it).

    NaN stays NaN, as in ``maximum(x, 0)``. The derivative is ``where(x > 0, 1, 0)``:
    a custom rule, as in JAX, because ``maximum``'s own derivative splits a tie
    between its operands (1/2 at 0). Written with ``maximum``, the forward pass is one
    NumPy call, where a ``where`` on a mask costs four times as much.

    >>> relu(np.array([-2.0, 0.0, 3.0]))
    array([0., 0., 3.])
    """
    return fnp.maximum(x, 0.0)


@relu.defjvp
def _relu_jvp(primals: tuple[Any, ...], tangents: tuple[Any, ...]) -> tuple[Any, Any]:
    (x,), (t,) = primals, tangents
    return relu(x), fnp.where(x > 0, t, 0.0)


def relu6(x: Array) -> Array:
    """``min(max(x, 0), 6)``; derivative 1 on ``(0, 6)`` and 0 elsewhere, including at
    the kinks 0 and 6 (JAX's choice).

    >>> relu6(np.array([-1.0, 3.0, 7.0]))
    array([0., 3., 6.])
    """
    x = _inexact(x)
    return fnp.where(x <= 0, 0.0, fnp.where(x >= 6, 6.0, x))


def sigmoid(x: Array) -> Array:
    """``1 / (1 + exp(-x))`` without overflow for large ``|x|``.

    >>> float(sigmoid(0.0)), float(sigmoid(-1000.0))
    (0.5, 0.0)
    """
    return logistic(_inexact(x))


def tanh(x: Array) -> Array:
    """The hyperbolic tangent (``fungrad.numpy.tanh``; ``jax.nn`` re-exports ``jnp.tanh``).

    >>> float(tanh(0.0))
    0.0
    """
    return fnp.tanh(_inexact(x))


def softplus(x: Array) -> Array:
    """``log(1 + exp(x)) = logaddexp(x, 0)``: finite for any ``x``; derivative sigmoid(x).

    >>> float(softplus(1000.0)), float(softplus(-1000.0))
    (1000.0, 0.0)
    """
    return fnp.logaddexp(_inexact(x), 0.0)


def log_sigmoid(x: Array) -> Array:
    """``log(sigmoid(x)) = -softplus(-x)``, finite for very negative ``x``.

    >>> float(log_sigmoid(-1000.0))
    -1000.0
    """
    return -softplus(-_inexact(x))


def soft_sign(x: Array) -> Array:
    """``x / (|x| + 1)``; derivative ``1 / (|x| + 1)**2`` (1 at 0).

    >>> soft_sign(np.array([-3.0, 0.0, 1.0]))
    array([-0.75,  0.  ,  0.5 ])
    """
    x = _inexact(x)
    magnitude = fnp.abs(x)
    # For |x| >= 1, sign(x) * (1 - 1/(|x| + 1)): no cancellation in the derivative
    # 1/(|x|+1) - |x|/(|x|+1)**2, which the plain quotient suffers for large |x|.
    far = magnitude >= 1.0
    near_value = x / (fnp.where(far, 0.0, magnitude) + 1.0)
    far_value = fnp.sign(x) * (1.0 - 1.0 / (fnp.where(far, magnitude, 1.0) + 1.0))
    return fnp.where(far, far_value, near_value)


def leaky_relu(x: Array, negative_slope: Array = 0.01) -> Array:
    """``x`` where ``x >= 0``, else ``negative_slope * x``; derivative 1 at 0 (JAX's choice).

    >>> leaky_relu(np.array([-2.0, 0.0, 3.0]), negative_slope=0.1)
    array([-0.2,  0. ,  3. ])
    """
    x = _inexact(x)
    return fnp.where(x >= 0, x, negative_slope * x)


def prelu(x: Array, slope: Array) -> Array:
    """:func:`leaky_relu` with a learnable ``slope`` that broadcasts against ``x`` (e.g. one
    per channel, shape ``(channels,)`` for ``x`` of shape ``(batch, channels)``).

    The derivative with respect to ``slope`` is ``x`` where ``x < 0`` and 0 elsewhere,
    summed over the broadcast dimensions; with respect to ``x`` it is 1 at 0 (as
    :func:`leaky_relu`). (Flax's ``PReLU`` layer computes the same function.)

    >>> prelu(np.array([[-2.0, -2.0], [1.0, 1.0]]), np.array([0.1, 0.5]))
    array([[-0.2, -1. ],
           [ 1. ,  1. ]])
    """
    x = _inexact(x)
    return fnp.where(x >= 0, x, slope * x)


def elu(x: Array, alpha: Array = 1.0) -> Array:
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``; derivative ``alpha`` at 0.

    >>> elu(np.array([-1000.0, 0.0, 2.0])).round(6)
    array([-1.,  0.,  2.])
    """
    x = _inexact(x)
    safe = fnp.where(x > 0, 0.0, x)  # the exponential never sees a large positive number
    return fnp.where(x > 0, x, alpha * _expm1_nonpositive(safe))


def selu(x: Array) -> Array:
    """``scale * elu(x, alpha)`` with Klambauer et al.'s ``alpha = 1.6732632423543772`` and
    ``scale = 1.0507009873554805``; derivative ``scale * alpha`` at 0.

    >>> float(selu(1.0))
    1.0507009873554805
    """
    return _SELU_SCALE * elu(x, _SELU_ALPHA)


def celu(x: Array, alpha: Array = 1.0) -> Array:
    """``x`` for ``x > 0``, else ``alpha * (exp(x / alpha) - 1)``; derivative 1 at 0.

    >>> celu(np.array([-1000.0, 0.0, 2.0]), alpha=2.0).round(6)
    array([-2.,  0.,  2.])
    """
    x = _inexact(x)
    safe = fnp.where(x > 0, 0.0, x)
    return fnp.where(x > 0, x, alpha * _expm1_nonpositive(safe / alpha))


def gelu(x: Array, approximate: bool = True) -> Array:
    """Gaussian error linear unit ``x * Phi(x)``.

    ``approximate=False``: the exact ``x/2 * erfc(-x / sqrt(2))`` (erfc rather than
    ``1 + erf``, so no cancellation for negative ``x``). ``approximate=True`` (JAX's
    default): ``x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x**3)))``, evaluated as
    ``x * sigmoid(2 * sqrt(2/pi) * (x + 0.044715 x**3))``, the same function without the
    cancellation of ``1 + tanh`` for negative ``x``.

    >>> round(float(gelu(1.0, approximate=False)), 12)
    0.841344746069
    >>> round(float(gelu(1.0)), 12)
    0.841191990608
    """
    x = _inexact(x)
    if approximate:
        inner = (2.0 * math.sqrt(2.0 / math.pi)) * (x + 0.044715 * (x * x * x))
        return x * logistic(inner)
    from fungrad.scipy.special import erfc  # fungrad.scipy imports this package

    return 0.5 * x * erfc(-x * math.sqrt(0.5))


def silu(x: Array) -> Array:
    """``x * sigmoid(x)`` (also called ``swish``).

    >>> float(silu(0.0)), float(silu(-1000.0))
    (0.0, -0.0)
    """
    x = _inexact(x)
    return x * logistic(x)


swish = silu


def mish(x: Array) -> Array:
    """``x * tanh(softplus(x))`` (Misra, 2019).

    >>> round(float(mish(1.0)), 12)
    0.865098388267
    """
    x = _inexact(x)
    return x * fnp.tanh(softplus(x))


def hard_tanh(x: Array) -> Array:
    """``x`` clipped to ``[-1, 1]``; derivative 1 on ``[-1, 1]`` (kinks included, as JAX's
    ``where(x > 1, 1, where(x < -1, -1, x))``) and 0 outside.

    >>> hard_tanh(np.array([-2.0, 0.5, 2.0]))
    array([-1. ,  0.5,  1. ])
    """
    x = _inexact(x)
    return fnp.where(x > 1, 1.0, fnp.where(x < -1, -1.0, x))


def hard_sigmoid(x: Array) -> Array:
    """``relu6(x + 3) / 6``; derivative 1/6 on ``(-3, 3)``, 0 elsewhere (kinks included).

    >>> hard_sigmoid(np.array([-4.0, 0.0, 4.0]))
    array([0. , 0.5, 1. ])
    """
    return relu6(_inexact(x) + 3.0) / 6.0


def hard_silu(x: Array) -> Array:
    """``x * hard_sigmoid(x)`` (also ``hard_swish``); derivative 0 at -3 and 1 at 3.

    >>> hard_silu(np.array([-4.0, 0.0, 4.0]))
    array([-0.,  0.,  4.])
    """
    x = _inexact(x)
    return x * hard_sigmoid(x)


hard_swish = hard_silu


def maxout(x: Array, num_pieces: int, axis: int = -1) -> Array:
    """Maxout (Goodfellow et al., 2013): the maximum over ``num_pieces`` linear pieces.

    The ``axis`` of length ``n`` holds ``num_pieces`` consecutive blocks of ``k = n //
    num_pieces`` units, as a layer with output ``concatenate([W_1 x, ..., W_p x])`` gives;
    unit ``j`` of the result (length ``k`` along ``axis``) is ``max(x[j], x[k + j], ...,
    x[(p-1)k + j])``. That is ``x.reshape(..., num_pieces, k, ...).max(axis)``. At a tie
    the derivative is shared equally among the tied pieces (as ``fungrad.numpy.max``).

    >>> maxout(np.array([1.0, 5.0, 3.0, 2.0]), num_pieces=2)
    array([3., 5.])
    """
    if isinstance(num_pieces, bool) or not isinstance(num_pieces, (int, np.integer)):
        raise FungradTypeError(f"maxout: num_pieces must be an int, got {num_pieces!r}")
    shape = tuple(fnp.shape(x))
    if not shape:
        raise FungradValueError("maxout: x is a scalar; it needs an axis to split")
    if not -len(shape) <= axis < len(shape):
        raise FungradValueError(f"maxout: axis {axis} is out of range for x of shape {shape}")
    axis = axis % len(shape)
    n = shape[axis]
    if num_pieces < 1 or n % num_pieces:
        raise FungradValueError(
            f"maxout: axis {axis} of x (shape {shape}) has length {n}, which num_pieces="
            f"{num_pieces} does not divide; give a positive divisor of {n}"
        )
    split = shape[:axis] + (int(num_pieces), n // num_pieces) + shape[axis + 1 :]
    return fnp.max(fnp.reshape(_inexact(x), split), axis=axis)


def logsumexp(x: Array, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Array:
    """``log(sum(exp(x)))`` over ``axis``, shifted by the maximum so it cannot overflow
    (``fungrad.numpy.logsumexp``, which also takes SciPy's weights ``b``).

    >>> float(logsumexp(np.array([1000.0, 1000.0]))) == 1000.0 + math.log(2.0)
    True
    """
    return fnp.logsumexp(x, axis=axis, keepdims=keepdims)


def log_softmax(x: Array, axis: int | Sequence[int] | None = -1) -> Array:
    """``x - logsumexp(x)`` along ``axis``: log-probabilities that stay finite.

    >>> log_softmax(np.array([1000.0, 0.0]))
    array([    0., -1000.])
    """
    x = _inexact(x)
    shifted = x - fnp.max(stop_gradient(x), axis=axis, keepdims=True)
    return shifted - fnp.log(fnp.sum(fnp.exp(shifted), axis=axis, keepdims=True))


def softmax(x: Array, axis: int | Sequence[int] | None = -1) -> Array:
    """Probabilities along ``axis``; subtracts the maximum before exponentiating.

    >>> softmax(np.array([1000.0, 1000.0]))
    array([0.5, 0.5])
    """
    x = _inexact(x)
    unnormalised = fnp.exp(x - fnp.max(stop_gradient(x), axis=axis, keepdims=True))
    return unnormalised / fnp.sum(unnormalised, axis=axis, keepdims=True)


def standardize(
    x: Array,
    axis: int | Sequence[int] | None = -1,
    mean: Array | None = None,
    variance: Array | None = None,
    epsilon: float = 1e-5,
) -> Array:
    """``(x - mean) / sqrt(variance + epsilon)`` along ``axis`` (as ``jax.nn.standardize``).

    ``mean`` defaults to the mean of ``x`` along ``axis`` and ``variance`` to the mean
    of ``(x - mean(x))**2``, computed in two passes (JAX computes ``E[x**2] - E[x]**2``,
    equal in exact arithmetic but cancelling catastrophically for inputs far from zero,
    e.g. ``1e3 + noise`` in float32). Given ``mean`` and ``variance`` are used as they are
    (they must broadcast against ``x``, e.g. computed with ``keepdims=True``).

    >>> standardize(np.array([1.0, 2.0, 3.0]), epsilon=0.0).round(6)
    array([-1.224745,  0.      ,  1.224745])
    """
    x = _inexact(x)
    if mean is None:
        mean = fnp.mean(x, axis=axis, keepdims=True)
    if variance is None:
        centred = x - fnp.mean(x, axis=axis, keepdims=True)
        variance = fnp.mean(centred * centred, axis=axis, keepdims=True)
    return (x - mean) / fnp.sqrt(variance + epsilon)


def one_hot(labels: Array, num_classes: int, dtype: Any = np.float64, axis: int = -1) -> Any:
    """Rows of the identity: ``one_hot([2, 0], 3) == [[0, 0, 1], [1, 0, 0]]``.

    ``labels`` outside ``[0, num_classes)`` (negative ones included) give rows of zeros,
    as in JAX. The new class axis is placed at ``axis`` (default last). ``labels`` must
    be concrete (a NumPy array or a list); the result is a NumPy array (a constant for
    differentiation).

    >>> one_hot([2, 0, -1], 3)
    array([[0., 0., 1.],
           [1., 0., 0.],
           [0., 0., 0.]])
    """
    labels = np.asarray(labels)
    out = (labels[..., None] == np.arange(num_classes)).astype(dtype)
    return np.moveaxis(out, -1, axis)
