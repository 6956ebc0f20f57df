"""Tests for fungrad.optim: every update rule against a hand-written NumPy implementation of
the published rule, schedules against their formulas (eagerly and with a traced count), and
the properties of the design: pure functions, one trace for a jitted step, dtypes kept,
errors that name the argument or the pytree path.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import fungrad
import fungrad.numpy as fnp
from fungrad import optim
from fungrad.errors import FungradTypeError, FungradValueError

STEPS = 20
TOL = dict(rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------------------------
# Harness: run an optimiser on a pytree (dict + tuple) over a sequence of gradients, and
# the same rule leaf by leaf in plain NumPy.


def make_params(rng, dtype=np.float64):
    return {
        "w": rng.normal(size=(2, 3)).astype(dtype),
        "b": (rng.normal(size=3).astype(dtype), np.asarray(rng.normal(), dtype=dtype)),
    }


def leaves(tree):
    return fungrad.tree_util.tree_leaves(tree)


def run(opt, params, grad_seq):
    """Apply ``opt`` for each gradient in ``grad_seq``; the list of updates (as lists of
    leaves), and the final parameters."""
    state = opt.init(params)
    all_updates = []
    for grads in grad_seq:
        updates, state = opt.update(grads, state, params)
        params = optim.apply_updates(params, updates)
        all_updates.append(leaves(updates))
    return all_updates, params


def run_reference(rule, params, grad_seq):
    """``rule(step, g, p, state) -> (update, state)`` on each leaf alone (step = 1, 2, ...)."""
    ps = [np.array(p, dtype=np.float64) for p in leaves(params)]
    states = [None] * len(ps)
    all_updates = []
    for step, grads in enumerate(grad_seq, start=1):
        step_updates = []
        for i, g in enumerate(leaves(grads)):
            u, states[i] = rule(step, np.asarray(g, np.float64), ps[i], states[i])
            step_updates.append(u)
        ps = [p + u for p, u in zip(ps, step_updates)]
        all_updates.append(step_updates)
    return all_updates, ps


def check_against_reference(opt, rule, seed):
    rng = np.random.default_rng(seed)
    params = make_params(rng)
    grad_seq = [make_params(rng) for _ in range(STEPS)]
    got_updates, got_params = run(opt, params, grad_seq)
    want_updates, want_params = run_reference(rule, params, grad_seq)
    for got, want in zip(got_updates, want_updates):
        for g, w in zip(got, want):
            assert_allclose(g, w, **TOL)
    for g, w in zip(leaves(got_params), want_params):
        assert_allclose(g, w, **TOL)


seeds = st.integers(0, 2**32 - 1)
rates = st.floats(1e-4, 1.0)
decays = st.floats(0.0, 0.999)


# ---------------------------------------------------------------------------------------
# Update rules against NumPy references.


@given(seed=seeds, lr=rates)
def test_sgd_is_minus_lr_times_the_gradient(seed, lr):
    def rule(step, g, p, state):
        return -lr * g, None

    check_against_reference(optim.sgd(lr), rule, seed)


@given(seed=seeds, lr=rates, momentum=decays, nesterov=st.booleans())
def test_sgd_with_momentum_and_nesterov(seed, lr, momentum, nesterov):
    def rule(step, g, p, velocity):
        velocity = g + momentum * (0.0 if velocity is None else velocity)
        direction = g + momentum * velocity if nesterov else velocity
        return -lr * direction, velocity

    check_against_reference(optim.sgd(lr, momentum=momentum, nesterov=nesterov), rule, seed)


def test_nesterov_differs_from_plain_momentum():
    g = {"a": np.array([1.0])}
    plain, nesterov = optim.sgd(1.0, momentum=0.5), optim.sgd(1.0, momentum=0.5, nesterov=True)
    u_plain, _ = plain.update(g, plain.init(g))
    u_nesterov, _ = nesterov.update(g, nesterov.init(g))
    assert u_plain["a"][0] == -1.0 and u_nesterov["a"][0] == -1.5  # g, and g + 0.5 g


def adam_rule(lr, b1, b2, eps, weight_decay=0.0, lr_at=None, eps_root=0.0):
    def rule(step, g, p, state):
        m, v = state if state is not None else (np.zeros_like(g), np.zeros_like(g))
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat = m / (1 - b1**step)
        v_hat = v / (1 - b2**step)
        rate = lr if lr_at is None else lr_at(step - 1)
        direction = m_hat / (np.sqrt(v_hat + eps_root) + eps)
        return -rate * (direction + weight_decay * p), (m, v)

    return rule


@given(seed=seeds, lr=rates, b1=decays, b2=decays, eps=st.sampled_from([1e-8, 1e-3, 0.5]))
def test_adam(seed, lr, b1, b2, eps):
    check_against_reference(optim.adam(lr, b1, b2, eps), adam_rule(lr, b1, b2, eps), seed)


@given(seed=seeds, lr=rates, b1=decays, b2=decays, eps_root=st.sampled_from([1e-12, 1e-4, 0.3]))
def test_adam_with_eps_root(seed, lr, b1, b2, eps_root):
    # scale_by_adam folds m's bias correction into scalars, eps_root included:
    # sqrt(v_hat + r) c1 = sqrt(v / (c2 / c1**2) + r c1**2).
    opt = optim.adam(lr, b1, b2, 1e-8, eps_root=eps_root)
    check_against_reference(opt, adam_rule(lr, b1, b2, 1e-8, eps_root=eps_root), seed)


@given(seed=seeds, lr=rates, weight_decay=st.floats(0.0, 1.0))
def test_adamw_decays_the_weights_after_the_adam_rescaling(seed, lr, weight_decay):
    opt = optim.adamw(lr, weight_decay=weight_decay)
    check_against_reference(opt, adam_rule(lr, 0.9, 0.999, 1e-8, weight_decay), seed)


def test_adamw_decoupled_decay_versus_adam_with_l2():
    # With zero gradients the Adam direction is 0, so AdamW shrinks every weight by exactly
    # (1 - lr * wd) per step, in proportion to its size. Adam on the L2-regularised loss
    # instead normalises the decay term's gradient wd * p: every weight moves by about lr
    # per step, whatever its size.
    lr, wd, steps = 0.01, 0.1, 5
    params = {"small": np.array([1.0, -1.0]), "large": (np.array([100.0]),)}
    zeros = fungrad.tree_util.tree_map(np.zeros_like, params)
    _, decoupled = run(optim.adamw(lr, weight_decay=wd), params, [zeros] * steps)
    l2 = optim.chain(optim.add_decayed_weights(wd), optim.adam(lr))
    _, coupled = run(l2, params, [zeros] * steps)
    for got, p in zip(leaves(decoupled), leaves(params)):
        assert_allclose(got, p * (1 - lr * wd) ** steps, **TOL)
    for got, p in zip(leaves(coupled), leaves(params)):
        moved = np.abs(p - got)
        assert np.all((0.95 * steps * lr < moved) & (moved <= steps * lr)), moved
        assert np.all(np.sign(got) == np.sign(p))


@given(seed=seeds, lr=rates, weight_decay=st.floats(0.01, 1.0))
def test_adam_with_l2_is_adam_on_the_regularised_gradient(seed, lr, weight_decay):
    opt = optim.chain(optim.add_decayed_weights(weight_decay), optim.adam(lr))
    inner = adam_rule(lr, 0.9, 0.999, 1e-8)

    def rule(step, g, p, state):
        return inner(step, g + weight_decay * p, p, state)

    check_against_reference(opt, rule, seed)


@given(
    seed=seeds,
    lr=rates,
    decay=decays,
    eps=st.sampled_from([1e-8, 1e-2]),
    initial_scale=st.sampled_from([0.0, 0.5]),
    eps_in_sqrt=st.booleans(),
    centered=st.booleans(),
    momentum=st.sampled_from([None, 0.0, 0.9]),
    nesterov=st.booleans(),
    bias_correction=st.booleans(),
)
def test_rmsprop(
    seed, lr, decay, eps, initial_scale, eps_in_sqrt, centered, momentum, nesterov, bias_correction
):
    # Optax's RMSprop: rescale by the (centred) RMS, scale by -lr, then momentum.
    def rule(step, g, p, state):
        if state is None:
            state = (np.zeros_like(g), np.full_like(g, initial_scale), np.zeros_like(g))
        mu, nu, velocity = state
        mu = decay * mu + (1 - decay) * g
        nu = decay * nu + (1 - decay) * g**2
        mu_hat, nu_hat = mu, nu
        if bias_correction:
            mu_hat, nu_hat = mu / (1 - decay**step), nu / (1 - decay**step)
        second = np.maximum(nu_hat - mu_hat**2, 0.0) if centered else nu_hat
        scaled = g / np.sqrt(second + eps) if eps_in_sqrt else g / (np.sqrt(second) + eps)
        u = -lr * scaled
        if momentum is not None:
            velocity = u + momentum * velocity
            u = u + momentum * velocity if nesterov else velocity
        return u, (mu, nu, velocity)

    opt = optim.rmsprop(
        lr,
        decay=decay,
        eps=eps,
        initial_scale=initial_scale,
        eps_in_sqrt=eps_in_sqrt,
        centered=centered,
        momentum=momentum,
        nesterov=nesterov,
        bias_correction=bias_correction,
    )
    # Bias-corrected centred RMS starts at variance 0, so the first steps are 1/sqrt(eps)
    # times the gradient; large but exact.
    check_against_reference(opt, rule, seed)


@given(
    seed=seeds,
    lr=rates,
    initial=st.sampled_from([0.0, 0.1, 2.0]),
    eps=st.sampled_from([1e-7, 0.3]),
)
def test_adagrad(seed, lr, initial, eps):
    def rule(step, g, p, total):
        total = (np.full_like(g, initial) if total is None else total) + g**2
        return -lr * g / np.sqrt(total + eps), total

    check_against_reference(optim.adagrad(lr, initial, eps), rule, seed)


def test_adagrad_update_is_zero_where_nothing_has_accumulated():
    opt = optim.adagrad(1.0, initial_accumulator_value=0.0, eps=0.0)
    updates, _ = opt.update(np.array([0.0, 2.0]), opt.init(np.zeros(2)))
    assert updates.tolist() == [0.0, -1.0]


def test_adam_with_a_schedule_uses_the_count_before_the_step():
    schedule = optim.exponential_decay(0.1, transition_steps=3, decay_rate=0.5)

    def lr_at(n):
        return 0.1 * 0.5 ** (n / 3)

    rule = adam_rule(None, 0.9, 0.999, 1e-8, lr_at=lr_at)
    check_against_reference(optim.adam(schedule), rule, seed=3)


# ---------------------------------------------------------------------------------------
# Transformations.


@given(seed=seeds, max_norm=st.floats(0.1, 10.0), factor=st.floats(0.01, 5.0))
def test_clip_by_global_norm(seed, max_norm, factor):
    rng = np.random.default_rng(seed)
    grads = make_params(rng)
    norm = math.sqrt(sum(float(np.sum(g**2)) for g in leaves(grads)))
    grads = fungrad.tree_util.tree_map(lambda g: g * (factor * max_norm / norm), grads)
    norm = factor * max_norm
    clipped, _ = optim.clip_by_global_norm(max_norm).update(grads, optim.EmptyState())
    if norm < max_norm:
        for c, g in zip(leaves(clipped), leaves(grads)):
            assert np.array_equal(c, g)  # untouched, not rescaled by 1
    else:
        for c, g in zip(leaves(clipped), leaves(grads)):
            assert_allclose(c, g * (max_norm / norm), **TOL)
        new_norm = math.sqrt(sum(float(np.sum(c**2)) for c in leaves(clipped)))
        assert new_norm == pytest.approx(max_norm, rel=1e-12)


def test_clip_by_global_norm_of_zero_gradients_is_zero_without_warnings():
    clipped, _ = optim.clip_by_global_norm(1.0).update((np.zeros(2),), optim.EmptyState())
    assert clipped[0].tolist() == [0.0, 0.0]


def test_global_norm():
    assert float(optim.global_norm({"a": np.array([1.0, 2.0]), "b": (np.array(2.0),)})) == 3.0


def test_chain_applies_in_order():
    g, p = np.array([1.0, 3.0]), np.array([10.0, 20.0])
    first = optim.chain(optim.scale(2.0), optim.add_decayed_weights(1.0))
    second = optim.chain(optim.add_decayed_weights(1.0), optim.scale(2.0))
    assert first.update(g, first.init(p), p)[0].tolist() == (2 * g + p).tolist()
    assert second.update(g, second.init(p), p)[0].tolist() == (2 * (g + p)).tolist()


def test_adam_is_the_chain_of_its_parts():
    rng = np.random.default_rng(0)
    params, grads = make_params(rng), make_params(rng)
    composed = optim.chain(optim.scale_by_adam(), optim.scale_by_learning_rate(0.1))
    a, sa = optim.adam(0.1).update(grads, optim.adam(0.1).init(params))
    b, sb = composed.update(grads, composed.init(params))
    assert all(np.array_equal(x, y) for x, y in zip(leaves((a, sa)), leaves((b, sb))))


def test_scale_by_learning_rate_with_and_without_sign_flip():
    g = np.array([2.0])
    assert optim.scale_by_learning_rate(0.5).update(g, optim.EmptyState())[0][0] == -1.0
    opt = optim.scale_by_learning_rate(lambda n: 0.5, flip_sign=False)
    assert opt.update(g, opt.init(g))[0][0] == 1.0


def test_scale_by_schedule_counts_steps():
    opt = optim.scale_by_schedule(lambda n: n * 1.0)
    state = opt.init(np.zeros(1))
    got = []
    for _ in range(4):
        u, state = opt.update(np.ones(1), state)
        got.append(float(u[0]))
    assert got == [0.0, 1.0, 2.0, 3.0]
    assert state.count.dtype == np.int32 and np.shape(state.count) == ()


# ---------------------------------------------------------------------------------------
# Schedules against their formulas, eagerly and under jit with a traced count.

COUNTS = [0, 1, 2, 3, 5, 7, 10, 11, 25, 100]


def cosine_formula(n, init, steps, alpha):
    n = min(n, steps)
    return init * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * n / steps)) + alpha)


SCHEDULES = {
    "constant": (optim.constant_schedule(0.3), lambda n: 0.3),
    "exponential": (
        optim.exponential_decay(0.5, transition_steps=4, decay_rate=0.8),
        lambda n: 0.5 * 0.8 ** (n / 4),
    ),
    "exponential_staircase": (
        optim.exponential_decay(0.5, transition_steps=4, decay_rate=0.8, staircase=True),
        lambda n: 0.5 * 0.8 ** (n // 4),
    ),
    "exponential_begin_end": (
        optim.exponential_decay(
            1.0, transition_steps=2, decay_rate=0.5, transition_begin=3, end_value=0.1
        ),
        lambda n: 1.0 if n <= 3 else max(0.1, 0.5 ** ((n - 3) / 2)),
    ),
    "exponential_growth_end": (
        optim.exponential_decay(1.0, transition_steps=1, decay_rate=2.0, end_value=100.0),
        lambda n: min(100.0, 2.0**n),
    ),
    "cosine": (
        optim.cosine_decay_schedule(0.2, decay_steps=10, alpha=0.1),
        lambda n: cosine_formula(n, 0.2, 10, 0.1),
    ),
    "warmup_cosine": (
        optim.warmup_cosine_decay_schedule(
            0.01, 1.0, warmup_steps=5, decay_steps=25, end_value=0.1
        ),
        lambda n: (
            0.01 + (1.0 - 0.01) * n / 5 if n < 5 else cosine_formula(n - 5, 1.0, 20, 0.1 / 1.0)
        ),
    ),
    "warmup_cosine_no_warmup": (
        optim.warmup_cosine_decay_schedule(0.0, 2.0, warmup_steps=0, decay_steps=10),
        lambda n: cosine_formula(n, 2.0, 10, 0.0),
    ),
    "linear": (
        optim.linear_schedule(1.0, 0.2, transition_steps=8, transition_begin=2),
        lambda n: 1.0 + (0.2 - 1.0) * min(max(n - 2, 0), 8) / 8,
    ),
    "piecewise": (
        optim.piecewise_constant_schedule(0.1, {10: 0.5, 3: 2.0}),
        lambda n: 0.1 * (2.0 if n >= 3 else 1.0) * (0.5 if n >= 10 else 1.0),
    ),
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedule_matches_its_formula(name):
    schedule, formula = SCHEDULES[name]
    for n in COUNTS:
        assert float(schedule(n)) == pytest.approx(formula(n), rel=1e-12, abs=1e-15), n
        assert float(schedule(np.int32(n))) == pytest.approx(formula(n), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedule_under_jit_with_a_traced_count(name):
    schedule, formula = SCHEDULES[name]
    jitted = fungrad.jit(lambda count: fnp.asarray(schedule(count), dtype=fnp.float64))
    for n in COUNTS:
        value = jitted(np.asarray(n, dtype=np.int32))
        assert float(value) == pytest.approx(formula(n), rel=1e-12, abs=1e-15), n
    assert jitted.trace_count == 1


# ---------------------------------------------------------------------------------------
# Purity, tracing once, dtypes.


OPTIMISERS = {
    "sgd": lambda lr: optim.sgd(lr),
    "sgd_nesterov": lambda lr: optim.sgd(lr, momentum=0.9, nesterov=True),
    "adam": lambda lr: optim.adam(lr),
    "adamw": lambda lr: optim.adamw(lr, weight_decay=0.1),
    "rmsprop": lambda lr: optim.rmsprop(lr, momentum=0.5, centered=True, bias_correction=True),
    "adagrad": lambda lr: optim.adagrad(lr),
    "clipped_adam": lambda lr: optim.chain(optim.clip_by_global_norm(1.0), optim.adam(lr)),
}
SCHEDULE = optim.warmup_cosine_decay_schedule(0.0, 0.1, warmup_steps=5, decay_steps=20)


@pytest.mark.parametrize("name", OPTIMISERS)
def test_inputs_are_not_modified(name):
    rng = np.random.default_rng(1)
    params, grads = make_params(rng), make_params(rng)
    opt = OPTIMISERS[name](SCHEDULE)
    state = opt.init(params)
    state = opt.update(grads, state, params)[1]  # a state that is not all zeros
    before = copy.deepcopy((params, grads, state))
    for _ in range(2):
        updates, _ = opt.update(grads, state, params)
        optim.apply_updates(params, updates)
    for x, y in zip(leaves((params, grads, state)), leaves(before), strict=True):
        assert np.array_equal(x, y)


@pytest.mark.parametrize("name", OPTIMISERS)
def test_jitted_step_traces_once_over_30_steps(name):
    rng = np.random.default_rng(2)
    params = make_params(rng)
    opt = OPTIMISERS[name](SCHEDULE)
    traces = []

    def loss(p):
        return fnp.sum(p["w"] ** 2) + fnp.sum(p["b"][0] ** 2) + p["b"][1] ** 2

    @fungrad.jit
    def step(p, state):
        traces.append(1)  # runs only while tracing
        grads = fungrad.grad(loss)(p)
        updates, state = opt.update(grads, state, p)
        return optim.apply_updates(p, updates), state

    state = opt.init(params)
    eager_params, eager_state = params, state
    for _ in range(30):
        params, state = step(params, state)
    assert len(traces) == 1 and step.trace_count == 1
    # and the jitted steps give the eager steps' numbers
    for _ in range(30):
        grads = fungrad.grad(loss)(eager_params)
        updates, eager_state = opt.update(grads, eager_state, eager_params)
        eager_params = optim.apply_updates(eager_params, updates)
    for x, y in zip(leaves((params, state)), leaves((eager_params, eager_state)), strict=True):
        assert_allclose(x, y, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", OPTIMISERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_updates_and_state_keep_the_params_dtype(name, dtype):
    rng = np.random.default_rng(3)
    params, grads = make_params(rng, dtype), make_params(rng, dtype)
    opt = OPTIMISERS[name](SCHEDULE)
    state = opt.init(params)
    for _ in range(3):
        updates, state = opt.update(grads, state, params)
        params = optim.apply_updates(params, updates)
    for leaf in leaves((updates, params)):
        assert np.asarray(leaf).dtype == dtype
    for leaf in leaves(state):
        assert np.asarray(leaf).dtype in (dtype, np.int32)


def test_step_count_is_a_0d_int32_array():
    opt = optim.adam(0.1)
    state = opt.init({"a": np.zeros(2)})
    assert state[0].count.dtype == np.int32 and state[0].count.shape == ()
    _, state = opt.update({"a": np.ones(2)}, state)
    assert state[0].count.dtype == np.int32 and int(state[0].count) == 1


# ---------------------------------------------------------------------------------------
# A small model trains.


def test_jitted_adam_training_solves_least_squares():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    y = x @ np.array([1.5, -2.0, 0.5]) + 0.7 + 0.01 * rng.normal(size=50)
    design = np.hstack([x, np.ones((50, 1))])
    want = np.linalg.lstsq(design, y, rcond=None)[0]

    def loss(p):
        return fnp.mean((x @ p["w"] + p["b"] - y) ** 2)

    opt = optim.adam(optim.warmup_cosine_decay_schedule(0.0, 0.1, 20, 1500, end_value=1e-3))

    @fungrad.jit
    def step(p, state):
        value, grads = fungrad.value_and_grad(loss)(p)
        updates, state = opt.update(grads, state, p)
        return optim.apply_updates(p, updates), state, value

    params = {"w": np.zeros(3), "b": np.zeros(())}
    state = opt.init(params)
    losses = []
    for _ in range(1500):
        params, state, value = step(params, state)
        losses.append(float(value))
    assert losses[-1] < losses[0] / 100
    assert_allclose(np.append(params["w"], params["b"]), want, atol=1e-5)


# ---------------------------------------------------------------------------------------
# Errors.


@pytest.mark.parametrize(
    "make", [optim.sgd, optim.adam, optim.adamw, optim.rmsprop, optim.adagrad]
)
@pytest.mark.parametrize("bad", ["0.1", [0.1], None, True, np.ones(2)])
def test_bad_learning_rate_type_is_named(make, bad):
    with pytest.raises(FungradTypeError, match="learning_rate must be a number or a schedule"):
        make(bad)


def test_mismatched_grads_and_state_name_the_path():
    params = {"w": np.zeros(2), "b": (np.zeros(3), np.zeros(()))}
    opt = optim.adam(0.1)
    state = opt.init(params)
    grads = {"w": np.zeros(2), "b": (np.zeros(3),)}
    with pytest.raises(FungradTypeError, match=r"at path \['b'\].*tuple of length 2"):
        opt.update(grads, state, params)
    grads = {"w": np.zeros(2), "bias": (np.zeros(3), np.zeros(()))}
    with pytest.raises(FungradTypeError, match=r"key 'b' at path \['b'\]"):
        opt.update(grads, state, params)


@pytest.mark.parametrize(
    "opt",
    [optim.sgd(0.1, momentum=0.9), optim.rmsprop(0.1), optim.adagrad(0.1), optim.adamw(0.1)],
)
def test_every_stateful_rule_checks_the_structure(opt):
    state = opt.init({"a": np.zeros(1), "b": np.zeros(1)})
    with pytest.raises(FungradTypeError, match="'b'"):
        opt.update({"a": np.zeros(1)}, state, {"a": np.zeros(1)})


def test_apply_updates_structure_mismatch_names_the_path():
    with pytest.raises(FungradTypeError, match=r"at path \[1\]"):
        optim.apply_updates((np.zeros(1), [np.zeros(1)]), (np.zeros(1), (np.zeros(1),)))


def test_adamw_without_params_says_to_pass_them():
    opt = optim.adamw(0.1)
    with pytest.raises(FungradValueError, match=r"update\(grads, state, params\)"):
        opt.update(np.zeros(1), opt.init(np.zeros(1)))


def test_chain_state_of_the_wrong_length():
    opt = optim.chain(optim.scale(1.0), optim.scale(2.0))
    with pytest.raises(FungradTypeError, match="tuple of 2 states"):
        opt.update(np.zeros(1), (optim.EmptyState(),))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: optim.clip_by_global_norm(0.0), "max_norm must be positive"),
        (lambda: optim.exponential_decay(0.1, 0, 0.5), "transition_steps must be positive"),
        (lambda: optim.exponential_decay(0.1, 2.5, 0.5), "transition_steps must be an int"),
        (lambda: optim.exponential_decay(0.1, 2, 0.0), "decay_rate must be positive"),
        (lambda: optim.cosine_decay_schedule(0.1, 0), "decay_steps must be positive"),
        (lambda: optim.warmup_cosine_decay_schedule(0, 1, 10, 10), "decay_steps counts the"),
        (lambda: optim.piecewise_constant_schedule(0.1, {5: -1.0}), "scale at 5 is -1.0"),
        (lambda: optim.chain(optim.scale(1.0), "adam"), "argument 1 must be a Gradient"),
        (lambda: optim.adam(0.1, b1="0.9"), "b1 must be a real number"),
        (lambda: optim.scale_by_schedule(0.1), "step_size_fn must be a function"),
    ],
)
def test_bad_settings_are_named(make, message):
    with pytest.raises((FungradTypeError, FungradValueError), match=message):
        make()


def test_step_count_stops_at_the_largest_int32_instead_of_wrapping():
    opt = optim.scale_by_schedule(lambda n: 1.0)
    top = np.asarray(np.iinfo(np.int32).max, dtype=np.int32)
    _, state = opt.update(np.ones(1), optim.ScaleByScheduleState(count=top))
    assert state.count == top and state.count.dtype == np.int32


def test_every_public_name_exists_and_every_function_shows_an_example():
    for name in optim.__all__:
        value = getattr(optim, name)
        if callable(value) and not isinstance(value, type):
            assert ">>>" in (value.__doc__ or ""), name
    assert "adam" in optim.__all__ and "apply_updates" in optim.__all__


def test_numpy_float64_hyperparameters_do_not_promote_float32_params():
    params = {"a": np.ones(2, np.float32)}
    for opt in [
        optim.adam(np.float64(0.1), b1=np.float64(0.9)),
        optim.sgd(np.float64(0.1), momentum=np.float64(0.9)),
        optim.rmsprop(np.array(0.1), decay=np.float64(0.5), centered=True),
        optim.adamw(0.1, weight_decay=np.float64(0.1)),
        optim.adagrad(np.float64(0.1), initial_accumulator_value=np.float64(0.1)),
    ]:
        updates, state = opt.update(params, opt.init(params), params)
        assert updates["a"].dtype == np.float32
        assert {np.asarray(x).dtype.name for x in leaves(state)} <= {"float32", "int32"}
