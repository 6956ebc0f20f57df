"""The control-flow examples do what they say: examples/ode_rk4.py's gradient through a
``fori_loop`` matches an unrolled loop and central differences, and
examples/rnn_scan.py's RNN, written with ``scan``, trains (and its gradient matches
backpropagation through an unrolled loop).

Each example runs once per module, with small sizes, through its ``main`` (so its
command line is parsed too)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pytest
from example_loader import load_example

import fungrad
import fungrad.numpy as fnp
from fungrad.test_util import check_grads


@pytest.fixture(scope="module")
def ode() -> ModuleType:
    return load_example("ode_rk4")


@pytest.fixture(scope="module")
def ode_result(ode: ModuleType) -> dict[str, Any]:
    return ode.main(["--steps", "150", "--dt", "0.02", "--unrolled-compile-steps", "10"])


@pytest.fixture(scope="module")
def rnn() -> ModuleType:
    return load_example("rnn_scan")


@pytest.fixture(scope="module")
def rnn_result(rnn: ModuleType) -> dict[str, Any]:
    return rnn.main(["--steps", "150", "--length", "40"])


def relative(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


# ---------------------------------------------------------------------------------------
# ode_rk4.py


def test_ode_gradient_through_fori_loop_matches_the_unrolled_loop(ode_result) -> None:
    g, g_unrolled = ode_result["grad_fori_loop"], ode_result["grad_unrolled"]
    assert g.shape == (4,) and np.all(np.isfinite(g))
    assert relative(g, g_unrolled) < 1e-12, (g, g_unrolled)
    assert ode_result["value"] == pytest.approx(ode_result["value_unrolled"], rel=1e-13)


def test_ode_gradient_through_fori_loop_matches_central_differences(ode_result) -> None:
    g, fd = ode_result["grad_fori_loop"], ode_result["grad_central_differences"]
    # Each coordinate on its own, not only the largest: the omega0 entry is 100x smaller.
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


def test_ode_the_damped_pendulum_loses_energy_and_more_with_more_damping(ode, ode_result):
    assert 0.0 < ode_result["value"] < float(ode.energy(ode.STATE0, ode.PARAMS))
    d_damping = ode_result["grad_fori_loop"][ode.NAMES.index("damping")]
    assert d_damping < 0.0


def test_ode_fori_loop_program_does_not_grow_with_the_step_count(ode_result) -> None:
    compiled = ode_result["compiled"]
    (_, eqns_short), (_, eqns_long) = compiled["fori_loop/10"], compiled["fori_loop/150"]
    _, eqns_unrolled = compiled["unrolled/10"]
    assert eqns_short == eqns_long
    assert eqns_unrolled > 10 * eqns_short


def test_ode_rk4_is_fourth_order(ode) -> None:
    """The integrator is the method it claims: halving dt divides the error by ~16,
    on the undamped linearised pendulum theta'' = -k theta (exact: a cosine)."""
    params = {"stiffness": np.float64(4.0), "damping": np.float64(0.0)}

    def theta_at_one(steps: int) -> float:
        dt = 1.0 / steps
        state = (np.float64(1e-5), np.float64(0.0))
        step = fungrad.jit(lambda s: ode.rk4_step(s, params, dt))
        for _ in range(steps):
            state = step(state)
        return float(state[0])

    exact = 1e-5 * np.cos(2.0)  # a small amplitude: sin(theta) = theta to 1e-11 relative
    errors = [abs(theta_at_one(n) - exact) for n in (10, 20)]
    assert 12.0 < errors[0] / errors[1] < 20.0, errors


# ---------------------------------------------------------------------------------------
# rnn_scan.py


def test_rnn_training_brings_the_loss_well_down(rnn_result) -> None:
    losses = rnn_result["losses"]
    assert len(losses) == 151
    assert rnn_result["final_loss"] < rnn_result["initial_loss"] / 10, losses[::25]
    # It learned more than "the next value is the current one", on unseen waves too.
    assert rnn_result["final_loss"] < 0.6 * rnn_result["persistence_loss"]
    assert rnn_result["test_loss"] < 0.6 * rnn_result["persistence_loss"]
    assert rnn_result["final_loss"] > rnn_result["noise_variance"]  # the floor holds
    assert rnn_result["traces"] == 1  # one compile for the whole training


def test_rnn_gradient_through_scan_matches_an_unrolled_loop(rnn) -> None:
    rng = np.random.default_rng(3)
    params = rnn.init_params(rng, 5)
    params["w_o"] = rng.normal(size=params["w_o"].shape)  # zero at init: no signal back
    params["b"] = rng.normal(size=params["b"].shape)
    inputs, targets = rnn.noisy_sines(rng, 3, 7)

    def unrolled_loss(params, inputs, targets):
        h = fnp.zeros((inputs.shape[1], params["w_h"].shape[0]))
        total = 0.0
        for x, y in zip(inputs, targets):
            h = fnp.tanh(x @ params["w_x"] + h @ params["w_h"] + params["b"])
            total = total + fnp.sum((h @ params["w_o"] + params["b_o"] - y) ** 2)
        return total / targets.size

    value, grads = fungrad.jit(fungrad.value_and_grad(rnn.loss_fn))(params, inputs, targets)
    want_value, want = fungrad.value_and_grad(unrolled_loss)(params, inputs, targets)
    assert float(value) == pytest.approx(float(want_value), rel=1e-12)
    for name in params:
        np.testing.assert_allclose(grads[name], want[name], rtol=1e-10, atol=1e-13)
    # And both against central differences, in forward and reverse mode, to second order.
    check_grads(lambda p: rnn.loss_fn(p, inputs, targets), (params,), order=2)
