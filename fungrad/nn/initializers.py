"""Initialisers, a small MLP and dropout, drawing from an explicit NumPy Generator.

No global random state: every function that draws takes a ``numpy.random.Generator``
(:func:`dropout` also takes an integer seed), so a seed reproduces a run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

import fungrad.numpy as fnp
from fungrad.core import Tracer
from fungrad.errors import FungradTypeError, FungradValueError
from fungrad.nn.activations import relu

Array = Any

# The standard deviation of a standard normal truncated to [-2, 2] (JAX's constant in
# jax.nn.initializers.variance_scaling): dividing by it restores the target variance.
_TRUNCATED_STD = 0.87962566103423978


def _check_rng(name: str, rng: Any) -> None:
    if not isinstance(rng, np.random.Generator):
        raise FungradTypeError(
            f"{name}: rng must be a numpy.random.Generator, got {type(rng).__name__}; "
            "create one with numpy.random.default_rng(seed)"
        )


def _fans(name: str, shape: Sequence[int]) -> tuple[tuple[int, ...], int, int]:
    """``fan_in = shape[-2] * r`` and ``fan_out = shape[-1] * r``, with ``r`` the product
    of the other dimensions (JAX's default: a convolution kernel's receptive field)."""
    shape = tuple(int(d) for d in shape)
    if len(shape) < 2 or min(shape) < 1:
        raise FungradValueError(
            f"{name}: shape {shape} must have at least two positive dimensions, "
            "(fan_in, fan_out) for a dense layer's weight matrix"
        )
    receptive = math.prod(shape[:-2])
    return shape, shape[-2] * receptive, shape[-1] * receptive


def _uniform(name: str, rng: Any, shape: Sequence[int], dtype: Any, variance) -> np.ndarray:
    _check_rng(name, rng)
    shape, fan_in, fan_out = _fans(name, shape)
    limit = math.sqrt(3.0 * variance(fan_in, fan_out))  # U(-a, a) has variance a**2 / 3
    return rng.uniform(-limit, limit, shape).astype(dtype)


def _normal(
    name: str, rng: Any, shape: Sequence[int], dtype: Any, truncated: bool, variance
) -> np.ndarray:
    _check_rng(name, rng)
    shape, fan_in, fan_out = _fans(name, shape)
    std = math.sqrt(variance(fan_in, fan_out))
    if not truncated:
        return (rng.standard_normal(shape) * std).astype(dtype)
    draws = rng.standard_normal(shape)
    outside = np.abs(draws) > 2.0
    while np.any(outside):  # rejection: each draw lands in [-2, 2] with probability 0.954
        draws[outside] = rng.standard_normal(int(np.count_nonzero(outside)))
        outside = np.abs(draws) > 2.0
    return (draws * (std / _TRUNCATED_STD)).astype(dtype)


def _glorot(fan_in: int, fan_out: int) -> float:
    return 2.0 / (fan_in + fan_out)


def _he(fan_in: int, fan_out: int) -> float:
    return 2.0 / fan_in


def _lecun(fan_in: int, fan_out: int) -> float:
    return 1.0 / fan_in


def glorot_uniform(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: Any = np.float64
) -> np.ndarray:
    """Uniform on ``[-a, a]``, ``a = sqrt(6 / (fan_in + fan_out))``: variance
    ``2 / (fan_in + fan_out)`` (Glorot & Bengio). ``shape`` is ``(fan_in, fan_out)``.

    >>> glorot_uniform(np.random.default_rng(0), (3, 5)).shape
    (3, 5)
    """
    return _uniform("glorot_uniform", rng, shape, dtype, _glorot)


def glorot_normal(
    rng: np.random.Generator,
    shape: tuple[int, ...],
    dtype: Any = np.float64,
    truncated: bool = False,
) -> np.ndarray:
    """Normal with variance ``2 / (fan_in + fan_out)`` (Glorot & Bengio).

    Not truncated by default (a plain normal; JAX truncates at two standard deviations).
    ``truncated=True`` redraws values beyond ``±2`` standard deviations and rescales so
    the variance is still exactly ``2 / (fan_in + fan_out)``, as JAX's.

    >>> glorot_normal(np.random.default_rng(0), (3, 5)).shape
    (3, 5)
    """
    return _normal("glorot_normal", rng, shape, dtype, truncated, _glorot)


def he_uniform(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: Any = np.float64
) -> np.ndarray:
    """Uniform on ``[-a, a]``, ``a = sqrt(6 / fan_in)``: variance ``2 / fan_in`` (He et al.).

    >>> he_uniform(np.random.default_rng(0), (3, 5)).shape
    (3, 5)
    """
    return _uniform("he_uniform", rng, shape, dtype, _he)


def he_normal(
    rng: np.random.Generator,
    shape: tuple[int, ...],
    dtype: Any = np.float64,
    truncated: bool = False,
) -> np.ndarray:
    """Normal with variance ``2 / fan_in`` (He et al.), suited to ReLU layers.

    Not truncated by default; ``truncated=True`` as in :func:`glorot_normal`.

    >>> he_normal(np.random.default_rng(0), (3, 5)).shape
    (3, 5)
    """
    return _normal("he_normal", rng, shape, dtype, truncated, _he)


def lecun_uniform(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: Any = np.float64
) -> np.ndarray:
    """Uniform on ``[-a, a]``, ``a = sqrt(3 / fan_in)``: variance ``1 / fan_in`` (LeCun).

    >>> lecun_uniform(np.random.default_rng(0), (3, 5)).shape
    (3, 5)
    """
    return _uniform("lecun_uniform", rng, shape, dtype, _lecun)


def lecun_normal(
    rng: np.random.Generator,
    shape: tuple[int, ...],
    dtype: Any = np.float64,
    truncated: bool = False,
) -> np.ndarray:
    """Normal with variance ``1 / fan_in`` (LeCun), suited to :func:`selu` layers.

    Not truncated by default; ``truncated=True`` as in :func:`glorot_normal`.

    >>> lecun_normal(np.random.default_rng(0), (3, 5)).shape
    (3, 5)
    """
    return _normal("lecun_normal", rng, shape, dtype, truncated, _lecun)


# ---------------------------------------------------------------------------------------
# A small MLP


def init_mlp(
    rng: np.random.Generator, sizes: Sequence[int], dtype: Any = np.float64
) -> list[dict[str, np.ndarray]]:
    """Parameters of a fully connected network: a list of ``{"w", "b"}`` per layer, ``w``
    from :func:`he_normal` (not truncated), ``b`` zero.

    >>> params = init_mlp(np.random.default_rng(0), [2, 8, 1])
    >>> [p["w"].shape for p in params]
    [(2, 8), (8, 1)]
    """
    return [
        {"w": he_normal(rng, (m, n), dtype), "b": np.zeros(n, dtype)}
        for m, n in zip(sizes[:-1], sizes[1:])
    ]


def mlp(params: Sequence[dict[str, Array]], x: Array, activation: Any = relu) -> Array:
    """Apply the network from :func:`init_mlp`: ``activation`` between layers, none after.

    >>> params = init_mlp(np.random.default_rng(0), [2, 8, 3])
    >>> mlp(params, np.ones((5, 2))).shape
    (5, 3)
    """
    for layer in params[:-1]:
        x = activation(x @ layer["w"] + layer["b"])
    last = params[-1]
    return x @ last["w"] + last["b"]


# ---------------------------------------------------------------------------------------
# Dropout

# Transformations under which dropout's NumPy mask is drawn afresh on every call of the
# user's function: the differentiation transformations run it once per call.
_PER_CALL = frozenset(
    {"eval", "grad", "value_and_grad", "vjp", "jvp", "jacfwd", "jacrev", "hessian", "hvp"}
    | {"linearize", "checkpoint", "remat"}
)


def _mask_would_be_reused(x: Any) -> str | None:
    """The transformation under which a mask drawn now would be reused (jit's cached
    trace, vmap's whole batch), or None."""
    if not isinstance(x, Tracer):
        return None
    interpreter = x.interpreter
    while interpreter is not None:
        if interpreter.transformation not in _PER_CALL:
            return interpreter.transformation
        interpreter = interpreter.parent
    return None


def dropout(
    rng_or_key: np.random.Generator | int,
    rate: float,
    x: Array,
    deterministic: bool = False,
) -> Array:
    """Zero each entry of ``x`` with probability ``rate`` and scale the kept ones by
    ``1 / (1 - rate)``, so the expectation is ``x``.

    ``rng_or_key`` is a ``numpy.random.Generator`` (the mask consumes draws from it) or
    an integer seed (the same seed gives the same mask). ``deterministic=True`` (or
    ``rate=0``) returns ``x`` unchanged, for evaluation; ``rate=1`` returns zeros. The
    mask is a constant for differentiation: the derivative is ``mask / (1 - rate)``.
    Dropped entries are 0 even where ``x`` is NaN (as in JAX/Flax).

    The mask is drawn by NumPy when the function runs, so dropout refuses to run under
    ``jit`` or ``vmap`` (a traced mask would be reused on every call, or shared by the
    whole batch): draw it outside, e.g. ``keep = rng.random(shape) >= rate``, and pass it
    in as an argument.

    >>> dropout(0, 0.5, np.ones(6))
    array([2., 0., 0., 0., 2., 2.])
    >>> dropout(0, 0.5, np.ones(3), deterministic=True)
    array([1., 1., 1.])
    """
    if deterministic:
        return x
    rate_value = float(rate)
    if not 0.0 <= rate_value <= 1.0:  # also refuses NaN
        raise FungradValueError(f"dropout: rate must lie in [0, 1], got {rate!r}")
    if isinstance(rng_or_key, np.random.Generator):
        rng = rng_or_key
    elif isinstance(rng_or_key, (int, np.integer)) and not isinstance(rng_or_key, bool):
        rng = np.random.default_rng(int(rng_or_key))
    else:
        raise FungradTypeError(
            "dropout: rng_or_key must be a numpy.random.Generator or an integer seed, got "
            f"{type(rng_or_key).__name__}"
        )
    if rate_value == 0.0:
        return x
    reused_under = _mask_would_be_reused(x)
    if reused_under is not None:
        raise FungradValueError(
            f"dropout: x is traced by `{reused_under}`, where a mask drawn now by NumPy "
            "would be reused (on every call of a jit-compiled function, or for every "
            "example under vmap). Draw the mask outside the transformation, e.g. "
            "`keep = rng.random(x.shape) >= rate`, pass it in, and compute "
            "`fnp.where(keep, x / (1 - rate), 0.0)`."
        )
    shape = tuple(fnp.shape(x))
    if rate_value == 1.0:
        return fnp.where(np.zeros(shape, dtype=bool), x, 0.0)
    keep = rng.random(shape) >= rate_value  # P(keep) = 1 - rate exactly
    return fnp.where(keep, x / (1.0 - rate_value), 0.0)
