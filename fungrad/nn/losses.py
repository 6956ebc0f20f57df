"""Losses and parameter penalties of ``fungrad.nn``.

Reductions: the regression losses (:func:`mse`, :func:`l1_loss`, :func:`huber_loss`)
return the mean over all elements; the classification losses return one value per
example (reduce them with ``fnp.mean``); the penalties sum over every leaf of a pytree.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import fungrad.numpy as fnp
from fungrad.core import Tracer
from fungrad.errors import FungradValueError
from fungrad.nn.activations import _inexact, log_softmax, softplus
from fungrad.primitives.elementwise import stop_gradient
from fungrad.tree_util import keystr, tree_leaves_with_path

Array = Any


def _check_same_shape(name: str, a: Array, b: Array, a_name: str, b_name: str) -> None:
    """Refuse the silent broadcast of, say, predictions (n, 1) against targets (n,)."""
    sa, sb = tuple(fnp.shape(a)), tuple(fnp.shape(b))
    if sa != sb and sa != () and sb != ():
        raise FungradValueError(
            f"{name}: {a_name} has shape {sa} but {b_name} has shape {sb}; they must have "
            f"the same shape (or one be a scalar), since broadcasting them would silently "
            f"compare every {a_name} entry with every {b_name} entry. Reshape one of them "
            f"(e.g. `{b_name}.reshape({a_name}.shape)`)."
        )


def mse(predictions: Array, targets: Array) -> Array:
    """Mean squared error, the mean over all elements of ``(predictions - targets)**2``.

    >>> float(mse(np.array([1.0, 2.0]), np.array([1.0, 4.0])))
    2.0
    """
    _check_same_shape("mse", predictions, targets, "predictions", "targets")
    return fnp.mean((predictions - targets) ** 2)


def l1_loss(predictions: Array, targets: Array) -> Array:
    """Mean absolute error, the mean over all elements of ``|predictions - targets|``.

    Its derivative at a zero error is 0 (the derivative of ``abs`` at 0, as in JAX).

    >>> float(l1_loss(np.array([1.0, 2.0]), np.array([1.0, 4.0])))
    1.0
    """
    _check_same_shape("l1_loss", predictions, targets, "predictions", "targets")
    return fnp.mean(fnp.abs(predictions - targets))


def huber_loss(predictions: Array, targets: Array, delta: float = 1.0) -> Array:
    """Huber loss, the mean over all elements of ``0.5 e**2`` for ``|e| <= delta`` and
    ``delta * (|e| - 0.5 delta)`` beyond, with ``e = predictions - targets``.

    The elementwise formula is optax's ``huber_loss``; optax leaves the reduction to the
    caller, this one takes the mean (as :func:`mse`). The derivative is ``e`` clipped
    to ``[-delta, delta]``, continuous at ``|e| = delta``.

    >>> float(huber_loss(np.array([0.5, 3.0]), np.array([0.0, 0.0])))
    1.3125
    """
    _check_same_shape("huber_loss", predictions, targets, "predictions", "targets")
    if not delta > 0:
        raise FungradValueError(f"huber_loss: delta must be positive, got {delta!r}")
    abs_error = fnp.abs(predictions - targets)
    quadratic = fnp.minimum(abs_error, delta)
    return fnp.mean(0.5 * quadratic * quadratic + delta * (abs_error - quadratic))


def binary_cross_entropy_with_logits(logits: Array, labels: Array) -> Array:
    """``-[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))]``, stable for any logit ``z``.

    Elementwise (one value per logit, no reduction), computed as ``softplus(z) - y z``;
    ``labels`` may be soft (in ``[0, 1]``).

    >>> binary_cross_entropy_with_logits(np.array([1000.0, -1000.0]), np.array([0.0, 0.0]))
    array([1000.,    0.])
    """
    _check_same_shape("binary_cross_entropy_with_logits", logits, labels, "logits", "labels")
    return softplus(logits) - labels * logits


def softmax_cross_entropy(logits: Array, labels: Array, axis: int = -1) -> Array:
    """Cross-entropy of ``softmax(logits)`` against one-hot or soft ``labels`` (each a
    probability distribution along ``axis``), per example: ``-sum(labels *
    log_softmax(logits), axis)``. ``labels`` must have the shape of ``logits``.

    >>> softmax_cross_entropy(np.array([[1000.0, 0.0]]), np.array([[0.0, 1.0]]))
    array([1000.])
    """
    if tuple(fnp.shape(labels)) != tuple(fnp.shape(logits)):
        raise FungradValueError(
            f"softmax_cross_entropy: labels have shape {tuple(fnp.shape(labels))} but logits "
            f"have shape {tuple(fnp.shape(logits))}; labels must be one-hot or soft "
            "distributions of the logits' shape. For integer class labels use "
            "softmax_cross_entropy_with_integer_labels (or one_hot(labels, num_classes))."
        )
    return -fnp.sum(labels * log_softmax(logits, axis=axis), axis=axis)


def softmax_cross_entropy_with_integer_labels(logits: Array, labels: Array) -> Array:
    """Cross-entropy against integer class ``labels`` (shape ``logits.shape[:-1]``), per
    example: ``-log_softmax(logits)[..., label]``.

    Labels index the class axis as NumPy and JAX's ``take_along_axis`` do: ``[0,
    num_classes)``, and a negative label counts from the end (``-1`` is the last class;
    it does not mean "ignore": mask such examples out of the mean yourself). Concrete
    labels outside ``[-num_classes, num_classes)`` and non-integer labels are refused.

    >>> softmax_cross_entropy_with_integer_labels(np.array([[1000.0, 0.0]]), np.array([1]))
    array([1000.])
    """
    shape, label_shape = tuple(fnp.shape(logits)), tuple(fnp.shape(labels))
    if label_shape != shape[:-1]:
        raise FungradValueError(
            f"softmax_cross_entropy_with_integer_labels: labels have shape {label_shape} "
            f"but logits have shape {shape}; labels must have shape {shape[:-1]} (one "
            "integer class per example). For one-hot or soft labels use softmax_cross_entropy."
        )
    if not isinstance(labels, Tracer):
        labels = np.asarray(labels)
        if not np.issubdtype(labels.dtype, np.integer):
            raise FungradValueError(
                "softmax_cross_entropy_with_integer_labels: labels must be integers, got "
                f"dtype {labels.dtype}; convert with labels.astype(int)"
            )
        bad = (labels < -shape[-1]) | (labels >= shape[-1])
        if np.any(bad):
            raise FungradValueError(
                "softmax_cross_entropy_with_integer_labels: labels must lie in "
                f"[0, {shape[-1]}) for {shape[-1]} classes (negative ones count from the "
                f"end), got {labels[bad][0]} at index "
                f"{tuple(int(i) for i in np.argwhere(bad)[0])}"
            )
    # log_softmax(logits)[label], negated, written as log(sum(exp(shifted))) - shifted[label]
    # (shifted = logits - max): the same value to the bit, and its transpose scatters the
    # cotangent straight into the softmax's, where log_softmax's sums it back out first.
    x = _inexact(logits)
    shifted = x - fnp.max(stop_gradient(x), axis=-1, keepdims=True)
    picked = fnp.take_along_axis(shifted, fnp.expand_dims(labels, -1), axis=-1)
    return fnp.log(fnp.sum(fnp.exp(shifted), axis=-1)) - fnp.squeeze(picked, axis=-1)


def _penalty(name: str, params: Any, term: Any) -> Array:
    total = 0.0
    for path, leaf in tree_leaves_with_path(params):
        dtype = getattr(leaf, "dtype", None)
        if dtype is not None and not np.issubdtype(dtype, np.inexact):
            where = keystr(path) or "the root"
            raise FungradValueError(
                f"{name}: the parameter at {where} has dtype {dtype}; parameters must be "
                "floating-point arrays (leave integer state out of the pytree)"
            )
        total = total + fnp.sum(term(leaf))
    return total


def l2_penalty(params: Any) -> Array:
    """The squared L2 norm ``sum(w**2)`` over every leaf of the pytree ``params`` (as Keras's
    ``l2`` regulariser, without the factor 1/2: its gradient is ``2 * params``). Add
    ``weight * l2_penalty(params)`` to a loss; an empty pytree gives 0.0.

    >>> float(l2_penalty({"w": np.array([1.0, 2.0]), "b": np.array([-2.0])}))
    9.0
    """
    return _penalty("l2_penalty", params, lambda w: w * w)


def l1_penalty(params: Any) -> Array:
    """The L1 norm ``sum(|w|)`` over every leaf of the pytree ``params``; its gradient is
    ``sign(params)`` (0 at 0). An empty pytree gives 0.0.

    >>> float(l1_penalty({"w": np.array([1.0, -2.0]), "b": np.array([-2.0])}))
    5.0
    """
    return _penalty("l1_penalty", params, fnp.abs)
