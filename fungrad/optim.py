"""``fungrad.optim``: gradient-based optimisers as pure functions over pytrees (Optax's shape).

An optimiser is a :class:`GradientTransformation`, a pair of pure functions:
``init(params) -> state`` and ``update(grads, state, params=None) -> (updates, state)``.
:func:`apply_updates` adds the updates to the parameters. Nothing is modified in place,
and the state is a pytree of arrays (the step count included), so a training step that
takes and returns it can be jitted and is traced once. Optimisers are built by chaining
small transformations (``adam`` is ``chain(scale_by_adam(...), scale_by_learning_rate(lr))``),
and every learning rate may be a schedule: a function of the step count.
docs/optim.md has the list and an end-to-end example.

>>> import numpy as np
>>> from fungrad import optim
>>> params = {"w": np.array([1.0, -2.0])}
>>> opt = optim.sgd(0.1)
>>> state = opt.init(params)
>>> updates, state = opt.update({"w": np.array([1.0, 1.0])}, state, params)
>>> optim.apply_updates(params, updates)
{'w': array([ 0.9, -2.1])}
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

import fungrad.numpy as fnp
from fungrad.errors import FungradTypeError, FungradValueError
from fungrad.tree_util import (
    structure_mismatch_message,
    tree_leaves,
    tree_map,
    tree_structure,
)

__all__ = [
    "AddDecayedWeightsState",
    "ClipByGlobalNormState",
    "EmptyState",
    "GradientTransformation",
    "ScaleByAdamState",
    "ScaleByRStdDevState",
    "ScaleByRmsState",
    "ScaleByRmsWithCountState",
    "ScaleByRssState",
    "ScaleByScheduleState",
    "ScaleState",
    "TraceState",
    "adagrad",
    "adam",
    "adamw",
    "add_decayed_weights",
    "apply_updates",
    "chain",
    "clip_by_global_norm",
    "constant_schedule",
    "cosine_decay_schedule",
    "exponential_decay",
    "global_norm",
    "identity",
    "join_schedules",
    "linear_schedule",
    "piecewise_constant_schedule",
    "rmsprop",
    "scale",
    "scale_by_adam",
    "scale_by_learning_rate",
    "scale_by_rms",
    "scale_by_rss",
    "scale_by_schedule",
    "scale_by_stddev",
    "sgd",
    "trace",
    "warmup_cosine_decay_schedule",
]

PyTree = Any
Schedule = Callable[[Any], Any]
ScalarOrSchedule = float | Schedule

_INT32_MAX = np.iinfo(np.int32).max


class GradientTransformation(NamedTuple):
    """A pair of pure functions: ``init(params) -> state`` and
    ``update(grads, state, params=None) -> (updates, state)``.

    >>> double = GradientTransformation(lambda p: EmptyState(), lambda g, s, p=None: (g * 2, s))
    >>> double.update(np.array([1.5]), double.init(None))
    (array([3.]), EmptyState())
    """

    init: Callable[[PyTree], PyTree]
    update: Callable[..., tuple[PyTree, PyTree]]


class EmptyState(NamedTuple):
    """The state of a stateless transformation: a pytree with no leaves."""


ScaleState = EmptyState
AddDecayedWeightsState = EmptyState
ClipByGlobalNormState = EmptyState


class TraceState(NamedTuple):
    """The state of :func:`trace`: the momentum buffer, shaped like the parameters."""

    trace: PyTree


class ScaleByAdamState(NamedTuple):
    """The state of :func:`scale_by_adam`: step count and the two moment estimates."""

    count: Any
    mu: PyTree
    nu: PyTree


class ScaleByRmsState(NamedTuple):
    """The state of :func:`scale_by_rms`: the running mean of squared gradients."""

    nu: PyTree


class ScaleByRmsWithCountState(NamedTuple):
    """The state of :func:`scale_by_rms` with ``bias_correction=True``."""

    count: Any
    nu: PyTree


class ScaleByRStdDevState(NamedTuple):
    """The state of :func:`scale_by_stddev` (centred RMSprop): running mean of the
    gradients and of their squares (``count`` is ``None`` without bias correction)."""

    mu: PyTree
    nu: PyTree
    count: Any = None


class ScaleByRssState(NamedTuple):
    """The state of :func:`scale_by_rss` (Adagrad): the running sum of squared gradients."""

    sum_of_squares: PyTree


class ScaleByScheduleState(NamedTuple):
    """The state of :func:`scale_by_schedule`: the step count, an int32 array."""

    count: Any


# ---------------------------------------------------------------------------------------
# Helpers.


def _zero_count() -> np.ndarray:
    return np.zeros((), np.int32)


def _increment(count: Any) -> Any:
    """``count + 1`` in the count's dtype, stopping at the largest int32 (as Optax does)."""
    return fnp.asarray(count + (count < _INT32_MAX).astype(count.dtype))


def _check_number(name: str, value: Any, context: str) -> float:
    """``value`` as a Python float (weakly typed, so it keeps the parameters' dtypes)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if not (isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind == "f"):
            raise FungradTypeError(
                f"{context}: {name} must be a real number, but got "
                f"{type(value).__name__} {value!r}."
            )
    return float(value)


def _check_scalar_or_schedule(name: str, value: Any, context: str) -> None:
    if callable(value):
        return
    if isinstance(value, bool) or not (
        isinstance(value, numbers.Real)
        or (isinstance(value, np.ndarray | np.generic) and np.shape(value) == ())
    ):
        raise FungradTypeError(
            f"{context}: {name} must be a number or a schedule (a function of the step "
            f"count, such as optim.exponential_decay(...)), but got {type(value).__name__} "
            f"{value!r}."
        )


def _check_same_structure(
    context: str, first_name: str, first: PyTree, second_name: str, second: PyTree
) -> None:
    """Raise a FungradTypeError naming the first path where two pytrees differ."""
    first_tree, second_tree = tree_structure(first), tree_structure(second)
    if first_tree != second_tree:
        raise FungradTypeError(
            structure_mismatch_message(
                f"{context}: {second_name} must have the pytree structure of {first_name}",
                first_name,
                first_tree,
                second_name,
                second_tree,
            )
            + f"\nPass {second_name} for the same parameters as {first_name}, or call init "
            "again for the new parameters."
        )


def _needs_params(context: str, params: Any) -> None:
    if params is None:
        raise FungradValueError(
            f"{context} needs the current parameters: call update(grads, state, params), "
            "not update(grads, state)."
        )


def _map(f: Callable[..., Any], *trees: PyTree) -> PyTree:
    """``tree_map`` whose leaves are arrays: NumPy turns 0-d results into scalars."""
    return tree_map(lambda *xs: fnp.asarray(f(*xs)), *trees)


def _as_dtype_of(value: Any, like: Any) -> Any:
    """``value`` (a scalar, maybe traced) as an array of the dtype of ``like``."""
    return fnp.asarray(value, dtype=fnp.asarray(like).dtype)


def _bias_correction(moment: PyTree, decay: float, count: Any) -> PyTree:
    correction = 1 - decay ** count.astype(np.float64)
    return _map(lambda t: t / _as_dtype_of(correction, t), moment)


def _ema(updates: PyTree, moment: PyTree, decay: float, order: int) -> PyTree:
    """``(1 - decay) * g**order + decay * t``, leaf by leaf."""
    if order == 1:
        return _map(lambda g, t: (1 - decay) * g + decay * t, updates, moment)
    return _map(lambda g, t: (1 - decay) * (g**order) + decay * t, updates, moment)


def _with_dtypes_of(tree: PyTree, like: PyTree) -> PyTree:
    return _map(lambda t, p: t.astype(fnp.asarray(p).dtype), tree, like)


def global_norm(updates: PyTree) -> Any:
    """The Euclidean norm of all the leaves of ``updates`` taken together.

    >>> float(global_norm({"a": np.array([3.0]), "b": (np.array([4.0]),)}))
    5.0
    """
    return fnp.sqrt(sum(fnp.sum(x * x) for x in tree_leaves(updates)))


def apply_updates(params: PyTree, updates: PyTree) -> PyTree:
    """``params + updates``, leaf by leaf, each result in its parameter's dtype.

    >>> apply_updates((np.array([1.0, 2.0]),), (np.array([0.5, -0.5]),))
    (array([1.5, 1.5]),)
    """
    _check_same_structure("apply_updates", "params", params, "updates", updates)
    return tree_map(lambda p, u: fnp.asarray(p + u, dtype=fnp.asarray(p).dtype), params, updates)


# ---------------------------------------------------------------------------------------
# Combining transformations.


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Apply ``transforms`` one after the other; the state is the tuple of their states.

    >>> opt = chain(scale(2.0), scale(-0.5))
    >>> opt.update(np.array([1.0, 2.0]), opt.init(np.zeros(2)))[0]
    array([-1., -2.])
    """
    for i, t in enumerate(transforms):
        if not isinstance(t, GradientTransformation):
            raise FungradTypeError(
                f"chain: argument {i} must be a GradientTransformation (for example "
                f"optim.scale(0.1)), but got {type(t).__name__}."
            )

    def init(params: PyTree) -> tuple:
        return tuple(t.init(params) for t in transforms)

    def update(updates: PyTree, state: tuple, params: PyTree = None) -> tuple[PyTree, tuple]:
        if not isinstance(state, tuple) or len(state) != len(transforms):
            raise FungradTypeError(
                f"chain.update: the state must be the tuple of {len(transforms)} states that "
                f"this chain's init returns, but got {type(state).__name__}"
                + (f" of length {len(state)}" if isinstance(state, tuple) else "")
                + "."
            )
        new_state = []
        for t, s in zip(transforms, state):
            updates, s = t.update(updates, s, params)
            new_state.append(s)
        return updates, tuple(new_state)

    return GradientTransformation(init, update)


def identity() -> GradientTransformation:
    """Leave the updates as they are.

    >>> identity().update(np.array(1.0), EmptyState())
    (array(1.), EmptyState())
    """
    return GradientTransformation(lambda params: EmptyState(), lambda u, s, p=None: (u, s))


# ---------------------------------------------------------------------------------------
# Transformations.


def scale(step_size: float) -> GradientTransformation:
    """Multiply the updates by ``step_size``.

    >>> scale(-0.1).update(np.array([1.0, 2.0]), EmptyState())[0]
    array([-0.1, -0.2])
    """
    _check_number("step_size", step_size, "scale")

    def update(updates: PyTree, state: EmptyState, params: PyTree = None):
        return _map(lambda g: _as_dtype_of(step_size, g) * g, updates), state

    return GradientTransformation(lambda params: EmptyState(), update)


def scale_by_schedule(step_size_fn: Schedule) -> GradientTransformation:
    """Multiply the updates by ``step_size_fn(count)``; ``count`` is the number of updates
    made before this one (0 on the first step), kept in the state as an int32 array.

    >>> opt = scale_by_schedule(lambda count: 1.0 / (count + 1))
    >>> state = opt.init(np.zeros(1))
    >>> u1, state = opt.update(np.ones(1), state)
    >>> u2, state = opt.update(np.ones(1), state)
    >>> u1, u2, int(state.count)
    (array([1.]), array([0.5]), 2)
    """
    if not callable(step_size_fn):
        raise FungradTypeError(
            f"scale_by_schedule: step_size_fn must be a function of the step count, but got "
            f"{type(step_size_fn).__name__}; for a fixed factor use optim.scale."
        )

    def init(params: PyTree) -> ScaleByScheduleState:
        return ScaleByScheduleState(count=_zero_count())

    def update(updates: PyTree, state: ScaleByScheduleState, params: PyTree = None):
        step_size = step_size_fn(state.count)
        updates = _map(lambda g: _as_dtype_of(step_size, g) * g, updates)
        return updates, ScaleByScheduleState(count=_increment(state.count))

    return GradientTransformation(init, update)


def scale_by_learning_rate(
    learning_rate: ScalarOrSchedule, *, flip_sign: bool = True
) -> GradientTransformation:
    """Multiply by ``-learning_rate`` (by ``learning_rate`` if ``flip_sign=False``), a
    number or a schedule.

    >>> scale_by_learning_rate(0.1).update(np.array([1.0, 2.0]), EmptyState())[0]
    array([-0.1, -0.2])
    """
    _check_scalar_or_schedule("learning_rate", learning_rate, "scale_by_learning_rate")
    sign = -1 if flip_sign else 1
    if callable(learning_rate):
        return scale_by_schedule(lambda count: sign * learning_rate(count))
    return scale(sign * learning_rate)


def trace(decay: float, nesterov: bool = False) -> GradientTransformation:
    """Momentum: ``t = g + decay * t``; the update is ``t`` (or ``g + decay * t`` with
    ``nesterov=True``).

    >>> opt = trace(0.5)
    >>> state = opt.init(np.zeros(1))
    >>> for _ in range(3):
    ...     updates, state = opt.update(np.ones(1), state)
    >>> updates
    array([1.75])
    """
    decay = _check_number("decay", decay, "trace")

    def init(params: PyTree) -> TraceState:
        return TraceState(trace=_map(fnp.zeros_like, params))

    def update(updates: PyTree, state: TraceState, params: PyTree = None):
        _check_same_structure("trace.update", "state.trace", state.trace, "grads", updates)
        new_trace = _map(lambda g, t: g + decay * t, updates, state.trace)
        if nesterov:
            updates = _map(lambda g, t: g + decay * t, updates, new_trace)
        else:
            updates = new_trace
        return updates, TraceState(trace=new_trace)

    return GradientTransformation(init, update)


def scale_by_adam(
    b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, eps_root: float = 0.0
) -> GradientTransformation:
    """Adam's rescaling (Kingma and Ba): ``m = b1 m + (1-b1) g``, ``v = b2 v + (1-b2) g**2``,
    update ``m̂ / (sqrt(v̂ + eps_root) + eps)`` with the bias-corrected ``m̂ = m / (1 - b1**t)``
    and ``v̂ = v / (1 - b2**t)`` at step ``t = 1, 2, ...``.

    >>> opt = scale_by_adam()
    >>> updates, state = opt.update(np.array([0.5, -2.0]), opt.init(np.zeros(2)))
    >>> updates.round(6), int(state.count)
    (array([ 1., -1.]), 1)
    """
    b1, b2, eps, eps_root = (
        _check_number(name, value, "scale_by_adam")
        for name, value in (("b1", b1), ("b2", b2), ("eps", eps), ("eps_root", eps_root))
    )

    def init(params: PyTree) -> ScaleByAdamState:
        zeros = _map(fnp.zeros_like, params)
        return ScaleByAdamState(count=_zero_count(), mu=zeros, nu=zeros)

    def update(updates: PyTree, state: ScaleByAdamState, params: PyTree = None):
        _check_same_structure("scale_by_adam.update", "state.mu", state.mu, "grads", updates)
        mu = _ema(updates, state.mu, b1, 1)
        nu = _ema(updates, state.nu, b2, 2)
        count = _increment(state.count)
        # m_hat / (sqrt(v_hat + eps_root) + eps), with m_hat = m / c1 and v_hat = v / c2,
        # is computed as m / (sqrt(v / (c2 / c1**2) + eps_root c1**2) + eps c1): the same
        # number in exact arithmetic (c1 > 0), with m's bias correction folded into
        # scalars rather than dividing every parameter by c1 (as PyTorch folds it into
        # the step size). That is one pass fewer over the parameters in each step.
        steps = count.astype(np.float64)
        c1, c2 = 1 - b1**steps, 1 - b2**steps
        scale, root, shift = c2 / (c1 * c1), eps_root * (c1 * c1), eps * c1

        def rescale(m: Any, v: Any) -> Any:
            v_scaled = v / _as_dtype_of(scale, v)
            if eps_root:  # (v + 0.0 is v exactly, as v >= +0.0: the default skips a pass)
                v_scaled = v_scaled + _as_dtype_of(root, v)
            return m / (fnp.sqrt(v_scaled) + _as_dtype_of(shift, v))

        return _map(rescale, mu, nu), ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init, update)


def _rms_scaling(nu_hat: PyTree, eps: float, eps_in_sqrt: bool) -> PyTree:
    if eps_in_sqrt:
        return _map(lambda v: 1 / fnp.sqrt(v + eps), nu_hat)
    return _map(lambda v: 1 / (fnp.sqrt(v) + eps), nu_hat)


def scale_by_rms(
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> GradientTransformation:
    """RMSprop's rescaling: ``v = decay v + (1-decay) g**2`` (``v`` starts at
    ``initial_scale``), update ``g / sqrt(v + eps)`` (``g / (sqrt(v) + eps)`` with
    ``eps_in_sqrt=False``); ``bias_correction=True`` divides ``v`` by ``1 - decay**t``.

    >>> opt = scale_by_rms(decay=0.75, eps=0.0)
    >>> opt.update(np.array([2.0]), opt.init(np.zeros(1)))[0]  # 2 / sqrt(0.25 * 2**2)
    array([2.])
    """
    decay, eps, initial_scale = (
        _check_number(name, value, "scale_by_rms")
        for name, value in (("decay", decay), ("eps", eps), ("initial_scale", initial_scale))
    )

    def init(params: PyTree):
        nu = _map(lambda p: fnp.full_like(p, initial_scale), params)
        if bias_correction:
            return ScaleByRmsWithCountState(count=_zero_count(), nu=nu)
        return ScaleByRmsState(nu=nu)

    def update(updates: PyTree, state: Any, params: PyTree = None):
        _check_same_structure("scale_by_rms.update", "state.nu", state.nu, "grads", updates)
        nu = _ema(updates, state.nu, decay, 2)
        if bias_correction:
            count = _increment(state.count)
            nu_hat = _bias_correction(nu, decay, count)
            new_state: Any = ScaleByRmsWithCountState(count=count, nu=nu)
        else:
            nu_hat, new_state = nu, ScaleByRmsState(nu=nu)
        scaling = _rms_scaling(nu_hat, eps, eps_in_sqrt)
        return _map(lambda s, g: s * g, scaling, updates), new_state

    return GradientTransformation(init, update)


def scale_by_stddev(
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> GradientTransformation:
    """Centred RMSprop's rescaling: running means ``m`` of ``g`` and ``v`` of ``g**2``,
    update ``g / sqrt(v - m**2 + eps)`` (``g / (sqrt(v - m**2) + eps)`` with
    ``eps_in_sqrt=False``). ``v - m**2`` is clamped at 0 (rounding can make it negative).

    >>> opt = scale_by_stddev(decay=0.5, eps=0.0, initial_scale=1.0)
    >>> opt.update(np.array([1.0]), opt.init(np.zeros(1)))[0]
    array([1.15470054])
    """
    decay, eps, initial_scale = (
        _check_number(name, value, "scale_by_stddev")
        for name, value in (("decay", decay), ("eps", eps), ("initial_scale", initial_scale))
    )

    def init(params: PyTree) -> ScaleByRStdDevState:
        mu = _map(fnp.zeros_like, params)
        nu = _map(lambda p: fnp.full_like(p, initial_scale), params)
        return ScaleByRStdDevState(mu=mu, nu=nu, count=_zero_count() if bias_correction else None)

    def update(updates: PyTree, state: ScaleByRStdDevState, params: PyTree = None):
        _check_same_structure("scale_by_stddev.update", "state.mu", state.mu, "grads", updates)
        mu = _ema(updates, state.mu, decay, 1)
        nu = _ema(updates, state.nu, decay, 2)
        count = state.count
        mu_hat, nu_hat = mu, nu
        if bias_correction:
            count = _increment(count)
            mu_hat = _bias_correction(mu, decay, count)
            nu_hat = _bias_correction(nu, decay, count)
        # Clamped at 0: rounding can make v - m**2 slightly negative (bias_correction makes it
        # exactly 0 in exact arithmetic on the first step), and its square root NaN.
        variance = _map(lambda m, v: fnp.maximum(v - m**2, 0), mu_hat, nu_hat)
        scaling = _rms_scaling(variance, eps, eps_in_sqrt)
        updates = _map(lambda s, g: s * g, scaling, updates)
        return updates, ScaleByRStdDevState(mu=mu, nu=nu, count=count)

    return GradientTransformation(init, update)


def scale_by_rss(
    initial_accumulator_value: float = 0.1, eps: float = 1e-7
) -> GradientTransformation:
    """Adagrad's rescaling: ``s = s + g**2`` (``s`` starts at ``initial_accumulator_value``),
    update ``g / sqrt(s + eps)`` (0 where ``s`` is 0).

    >>> opt = scale_by_rss(initial_accumulator_value=0.0, eps=0.0)
    >>> opt.update(np.array([-3.0, 0.0]), opt.init(np.zeros(2)))[0]
    array([-1.,  0.])
    """
    initial_accumulator_value = _check_number(
        "initial_accumulator_value", initial_accumulator_value, "scale_by_rss"
    )
    eps = _check_number("eps", eps, "scale_by_rss")

    def init(params: PyTree) -> ScaleByRssState:
        return ScaleByRssState(
            sum_of_squares=_map(lambda p: fnp.full_like(p, initial_accumulator_value), params)
        )

    def update(updates: PyTree, state: ScaleByRssState, params: PyTree = None):
        _check_same_structure(
            "scale_by_rss.update", "state.sum_of_squares", state.sum_of_squares, "grads", updates
        )
        sum_of_squares = _map(lambda g, t: g**2 + t, updates, state.sum_of_squares)

        def scaled(s: Any, g: Any) -> Any:
            positive = s > 0
            # The denominator is 1 where s is 0, so no division by zero is evaluated.
            return fnp.where(positive, g / fnp.sqrt(fnp.where(positive, s + eps, 1)), 0)

        updates = _map(scaled, sum_of_squares, updates)
        return _with_dtypes_of(updates, sum_of_squares), ScaleByRssState(sum_of_squares)

    return GradientTransformation(init, update)


def add_decayed_weights(weight_decay: float = 0.0) -> GradientTransformation:
    """Add ``weight_decay * params`` to the updates (decoupled weight decay, as in AdamW,
    when it comes after the rescaling). ``update`` needs ``params``.

    >>> add_decayed_weights(0.1).update(np.array([1.0]), EmptyState(), np.array([5.0]))[0]
    array([1.5])
    """
    weight_decay = _check_number("weight_decay", weight_decay, "add_decayed_weights")

    def update(updates: PyTree, state: EmptyState, params: PyTree = None):
        _needs_params("add_decayed_weights.update", params)
        _check_same_structure("add_decayed_weights.update", "params", params, "grads", updates)
        return _map(lambda g, p: g + weight_decay * p, updates, params), state

    return GradientTransformation(lambda params: EmptyState(), update)


def clip_by_global_norm(max_norm: float) -> GradientTransformation:
    """Scale the updates down to global norm ``max_norm`` when their
    :func:`global_norm` exceeds it; leave them unchanged otherwise.

    >>> clip_by_global_norm(1.0).update((np.array([3.0]), np.array([4.0])), EmptyState())[0]
    (array([0.6]), array([0.8]))
    """
    max_norm = _check_number("max_norm", max_norm, "clip_by_global_norm")
    if not max_norm > 0:
        raise FungradValueError(f"clip_by_global_norm: max_norm must be positive, not {max_norm}.")

    def update(updates: PyTree, state: EmptyState, params: PyTree = None):
        g_norm = global_norm(updates)
        below = g_norm < max_norm
        denominator = fnp.maximum(g_norm, max_norm)  # never 0: no division by zero evaluated

        def clipped(t: Any) -> Any:
            return fnp.where(below, t, (t / _as_dtype_of(denominator, t)) * max_norm)

        return _map(clipped, updates), state

    return GradientTransformation(lambda params: EmptyState(), update)


# ---------------------------------------------------------------------------------------
# Optimisers.


def sgd(
    learning_rate: ScalarOrSchedule, momentum: float | None = None, nesterov: bool = False
) -> GradientTransformation:
    """Stochastic gradient descent, with (Nesterov) momentum if ``momentum`` is given:
    ``chain(trace(momentum, nesterov), scale_by_learning_rate(learning_rate))``.

    >>> opt = sgd(0.1, momentum=0.9)
    >>> state = opt.init(np.zeros(1))
    >>> updates, state = opt.update(np.ones(1), state)
    >>> updates, state = opt.update(np.ones(1), state)
    >>> updates.round(6)
    array([-0.19])
    """
    _check_scalar_or_schedule("learning_rate", learning_rate, "sgd")
    return chain(
        trace(momentum, nesterov) if momentum is not None else identity(),
        scale_by_learning_rate(learning_rate),
    )


def adam(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
) -> GradientTransformation:
    """Adam: ``chain(scale_by_adam(b1, b2, eps, eps_root), scale_by_learning_rate(lr))``.

    >>> opt = adam(0.1)
    >>> opt.update(np.array([3.0, -0.1]), opt.init(np.zeros(2)))[0].round(6)
    array([-0.1,  0.1])
    """
    _check_scalar_or_schedule("learning_rate", learning_rate, "adam")
    return chain(scale_by_adam(b1, b2, eps, eps_root), scale_by_learning_rate(learning_rate))


def adamw(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: float = 1e-4,
) -> GradientTransformation:
    """Adam with decoupled weight decay (Loshchilov and Hutter): the update is
    ``-lr * (adam_direction + weight_decay * params)``, so ``update`` needs ``params``.

    >>> opt = adamw(0.1, weight_decay=0.5)
    >>> params = np.array([2.0])
    >>> opt.update(np.array([3.0]), opt.init(params), params)[0].round(6)
    array([-0.2])
    """
    _check_scalar_or_schedule("learning_rate", learning_rate, "adamw")
    return chain(
        scale_by_adam(b1, b2, eps, eps_root),
        add_decayed_weights(weight_decay),
        scale_by_learning_rate(learning_rate),
    )


def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: float | None = None,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> GradientTransformation:
    """RMSprop as in Optax: :func:`scale_by_rms` (:func:`scale_by_stddev` if ``centered``),
    then :func:`scale_by_learning_rate`, then :func:`trace` if ``momentum`` is given (the
    momentum acts on the learning-rate-scaled steps). ``eps`` is inside the square root
    unless ``eps_in_sqrt=False`` (PyTorch's convention).

    >>> opt = rmsprop(0.1, decay=0.75, eps=0.0)
    >>> opt.update(np.array([2.0]), opt.init(np.zeros(1)))[0]
    array([-0.2])
    """
    _check_scalar_or_schedule("learning_rate", learning_rate, "rmsprop")
    rescale = scale_by_stddev if centered else scale_by_rms
    return chain(
        rescale(decay, eps, initial_scale, eps_in_sqrt, bias_correction),
        scale_by_learning_rate(learning_rate),
        trace(momentum, nesterov) if momentum is not None else identity(),
    )


def adagrad(
    learning_rate: ScalarOrSchedule,
    initial_accumulator_value: float = 0.1,
    eps: float = 1e-7,
) -> GradientTransformation:
    """Adagrad (Duchi et al.): ``chain(scale_by_rss(initial_accumulator_value, eps),
    scale_by_learning_rate(learning_rate))``.

    >>> opt = adagrad(1.0, initial_accumulator_value=0.0, eps=0.0)
    >>> opt.update(np.array([-3.0]), opt.init(np.zeros(1)))[0]
    array([1.])
    """
    _check_scalar_or_schedule("learning_rate", learning_rate, "adagrad")
    return chain(
        scale_by_rss(initial_accumulator_value, eps), scale_by_learning_rate(learning_rate)
    )


# ---------------------------------------------------------------------------------------
# Schedules: functions of the step count, written with fungrad.numpy so that the count
# may be traced (no Python control flow on it).


def constant_schedule(value: float) -> Schedule:
    """The schedule that is ``value`` at every step.

    >>> constant_schedule(0.5)(100)
    0.5
    """
    _check_number("value", value, "constant_schedule")
    return lambda count: value


def _check_steps(name: str, steps: Any, context: str, allow_zero: bool = False) -> None:
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral):
        raise FungradTypeError(f"{context}: {name} must be an int, but got {steps!r}.")
    if steps < 0 or (steps == 0 and not allow_zero):
        need = "non-negative" if allow_zero else "positive"
        raise FungradValueError(f"{context}: {name} must be {need}, but it is {steps}.")


def linear_schedule(
    init_value: float, end_value: float, transition_steps: int, transition_begin: int = 0
) -> Schedule:
    """From ``init_value`` at ``transition_begin`` linearly to ``end_value`` at
    ``transition_begin + transition_steps``; constant before and after.

    >>> sched = linear_schedule(0.0, 1.0, transition_steps=4)
    >>> [float(sched(n)) for n in (0, 1, 4, 10)]
    [0.0, 0.25, 1.0, 1.0]
    """
    _check_steps("transition_steps", transition_steps, "linear_schedule")
    _check_steps("transition_begin", transition_begin, "linear_schedule", allow_zero=True)

    def schedule(count: Any) -> Any:
        count = fnp.clip(count - transition_begin, 0, transition_steps)
        fraction = 1 - count / transition_steps
        return (init_value - end_value) * fraction + end_value

    return schedule


def exponential_decay(
    init_value: float,
    transition_steps: int,
    decay_rate: float,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: float | None = None,
) -> Schedule:
    """``init_value * decay_rate ** ((count - transition_begin) / transition_steps)``
    (the exponent rounded down if ``staircase``), ``init_value`` before
    ``transition_begin``, and bounded by ``end_value`` if given.

    >>> sched = exponential_decay(1.0, transition_steps=2, decay_rate=0.5, staircase=True)
    >>> [float(sched(n)) for n in (0, 1, 2, 5)]
    [1.0, 1.0, 0.5, 0.25]
    """
    _check_number("init_value", init_value, "exponential_decay")
    _check_number("decay_rate", decay_rate, "exponential_decay")
    _check_steps("transition_steps", transition_steps, "exponential_decay")
    _check_steps("transition_begin", transition_begin, "exponential_decay", allow_zero=True)
    if not decay_rate > 0:
        raise FungradValueError(
            f"exponential_decay: decay_rate must be positive, but it is {decay_rate}."
        )

    def schedule(count: Any) -> Any:
        decreased = count - transition_begin
        p = decreased / transition_steps
        if staircase:
            p = fnp.floor(p)
        value = fnp.where(decreased <= 0, init_value, init_value * fnp.power(decay_rate, p))
        if end_value is not None:
            bound = fnp.maximum if decay_rate < 1 else fnp.minimum
            value = bound(value, end_value)
        return value

    return schedule


def cosine_decay_schedule(
    init_value: float, decay_steps: int, alpha: float = 0.0, exponent: float = 1.0
) -> Schedule:
    """``init_value * ((1 - alpha) * c**exponent + alpha)`` with
    ``c = (1 + cos(pi * min(count, decay_steps) / decay_steps)) / 2``: from ``init_value``
    down to ``alpha * init_value`` at ``decay_steps``, then constant.

    >>> sched = cosine_decay_schedule(1.0, decay_steps=4, alpha=0.1)
    >>> [round(float(sched(n)), 6) for n in (0, 2, 4, 9)]
    [1.0, 0.55, 0.1, 0.1]
    """
    _check_number("init_value", init_value, "cosine_decay_schedule")
    _check_number("alpha", alpha, "cosine_decay_schedule")
    _check_steps("decay_steps", decay_steps, "cosine_decay_schedule")

    def schedule(count: Any) -> Any:
        count = fnp.minimum(count, decay_steps)
        cosine = 0.5 * (1 + fnp.cos(fnp.pi * count / decay_steps))
        if exponent == 1 and alpha == 0:  # the common case, in fewer operations (exactly)
            return init_value * cosine
        return init_value * ((1 - alpha) * cosine**exponent + alpha)

    return schedule


def join_schedules(schedules: list[Schedule], boundaries: list[int]) -> Schedule:
    """``schedules[0]`` until ``boundaries[0]``, then ``schedules[1]`` (counted from 0
    again), and so on.

    >>> sched = join_schedules([constant_schedule(1.0), lambda n: 10.0 * n], [3])
    >>> [float(sched(n)) for n in (2, 3, 5)]
    [1.0, 0.0, 20.0]
    """
    if len(boundaries) != len(schedules) - 1:
        raise FungradValueError(
            f"join_schedules: {len(schedules)} schedules need {len(schedules) - 1} boundaries, "
            f"but got {len(boundaries)}."
        )

    def schedule(count: Any) -> Any:
        value = schedules[0](count)
        for boundary, following in zip(boundaries, schedules[1:]):
            value = fnp.where(count < boundary, value, following(count - boundary))
        return value

    return schedule


def warmup_cosine_decay_schedule(
    init_value: float,
    peak_value: float,
    warmup_steps: int,
    decay_steps: int,
    end_value: float = 0.0,
    exponent: float = 1.0,
) -> Schedule:
    """Linear warm-up from ``init_value`` to ``peak_value`` over ``warmup_steps``, then
    cosine decay to ``end_value`` at step ``decay_steps`` (which counts the warm-up).

    >>> sched = warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps=2, decay_steps=6)
    >>> [round(float(sched(n)), 6) for n in (0, 1, 2, 4, 6, 8)]
    [0.0, 0.5, 1.0, 0.5, 0.0, 0.0]
    """
    context = "warmup_cosine_decay_schedule"
    _check_steps("warmup_steps", warmup_steps, context, allow_zero=True)
    _check_steps("decay_steps", decay_steps, context)
    if decay_steps <= warmup_steps:
        raise FungradValueError(
            f"{context}: decay_steps counts the warm-up, so it must be larger than "
            f"warmup_steps, but decay_steps={decay_steps} and warmup_steps={warmup_steps}."
        )
    alpha = 0.0 if peak_value == 0.0 else end_value / peak_value
    decay = cosine_decay_schedule(peak_value, decay_steps - warmup_steps, alpha, exponent)
    if warmup_steps == 0:
        return decay
    warmup = linear_schedule(init_value, peak_value, warmup_steps)
    return join_schedules([warmup, decay], [warmup_steps])


def piecewise_constant_schedule(
    init_value: float, boundaries_and_scales: dict[int, float] | None = None
) -> Schedule:
    """``init_value``, multiplied by ``scale`` from each step ``boundary`` on, for every
    ``boundary: scale`` in ``boundaries_and_scales``.

    >>> sched = piecewise_constant_schedule(1.0, {2: 0.5, 4: 0.1})
    >>> [float(sched(n)) for n in (0, 1, 2, 3, 4, 9)]
    [1.0, 1.0, 0.5, 0.5, 0.05, 0.05]
    """
    _check_number("init_value", init_value, "piecewise_constant_schedule")
    items = sorted((boundaries_and_scales or {}).items())
    for boundary, factor in items:
        _check_steps("a boundary", boundary, "piecewise_constant_schedule", allow_zero=True)
        _check_number(f"the scale at {boundary}", factor, "piecewise_constant_schedule")
        if factor < 0:
            raise FungradValueError(
                f"piecewise_constant_schedule: scales must be non-negative, but the scale at "
                f"{boundary} is {factor}."
            )

    def schedule(count: Any) -> Any:
        value = init_value
        for boundary, factor in items:
            value = fnp.where(count < boundary, value, value * factor)
        return value

    return schedule
