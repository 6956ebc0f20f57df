"""Differentiate an ODE solution: a damped pendulum integrated by RK4 in a ``fori_loop``.

The pendulum's angle ``theta`` and angular velocity ``omega`` follow

    theta' = omega,    omega' = -stiffness * sin(theta) - damping * omega

(``stiffness`` is g / L). Classic fourth-order Runge-Kutta integrates it for a fixed
number of steps with ``fungrad.lax.fori_loop``, so the whole integration is one
``scan`` equation whose body is one RK4 step, and ``jit`` compiles that body once.
The quantity of interest is the energy left at the end,

    E(T) = omega(T)**2 / 2 + stiffness * (1 - cos(theta(T))),

and ``jit(value_and_grad)`` gives its gradient with respect to the two ODE
parameters and the initial state, through every step. The gradient is checked
against (a) the same integrator written as a plain Python loop, which fungrad traces
step by step (unrolled: a program as long as the integration), and (b) central
differences of the jitted integrator. Timings compare the two programs.

    python examples/ode_rk4.py                 # about five seconds
    python examples/ode_rk4.py --steps 2000    # a longer run: same program for fori_loop
"""

# ruff: noqa: E402  (the thread settings below must come before NumPy is imported)

from __future__ import annotations

import os

# Two-element states: BLAS worker threads would only add synchronisation.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import fungrad
import fungrad.numpy as fnp
from fungrad import lax

State = tuple[Any, Any]  # (theta, omega)
Params = dict[str, Any]  # {"stiffness", "damping"}

PARAMS: Params = {"stiffness": np.float64(9.81), "damping": np.float64(0.3)}
STATE0: State = (np.float64(2.0), np.float64(0.0))  # released from 2 rad, at rest
NAMES = ("stiffness", "damping", "theta0", "omega0")  # the order of the flat gradient


def vector_field(state: State, params: Params) -> State:
    theta, omega = state
    return omega, -params["stiffness"] * fnp.sin(theta) - params["damping"] * omega


def rk4_step(state: State, params: Params, dt: float) -> State:
    """One classic Runge-Kutta step of size ``dt``; the state is a pytree (a pair)."""

    def shifted(k: State, scale: float) -> State:
        return tuple(s + scale * d for s, d in zip(state, k))

    k1 = vector_field(state, params)
    k2 = vector_field(shifted(k1, dt / 2), params)
    k3 = vector_field(shifted(k2, dt / 2), params)
    k4 = vector_field(shifted(k3, dt), params)
    return tuple(
        s + dt / 6 * (a + 2 * b + 2 * c + d) for s, a, b, c, d in zip(state, k1, k2, k3, k4)
    )


def energy(state: State, params: Params) -> Any:
    theta, omega = state
    return 0.5 * omega**2 + params["stiffness"] * (1 - fnp.cos(theta))


def make_final_energy(steps: int, dt: float, *, unrolled: bool) -> Callable[..., Any]:
    """``(params, state0) -> E(steps * dt)``: with ``fori_loop``, or a Python loop."""

    def final_energy(params: Params, state0: State) -> Any:
        if unrolled:
            state = state0
            for _ in range(steps):
                state = rk4_step(state, params, dt)
        else:
            state = lax.fori_loop(0, steps, lambda i, s: rk4_step(s, params, dt), state0)
        return energy(state, params)

    return final_energy


def flat_gradient(grads: tuple[Params, State]) -> np.ndarray:
    """The gradient as one vector, in the order of ``NAMES``."""
    g_params, g_state = grads
    return np.array([g_params["stiffness"], g_params["damping"], *g_state], dtype=float)


def central_differences(f: Callable[..., Any], params: Params, state0: State) -> np.ndarray:
    """d f / d (stiffness, damping, theta0, omega0) by central differences, step
    1e-6 relative to each coordinate (absolute for a zero one)."""
    point = np.array([params["stiffness"], params["damping"], *state0], dtype=float)

    def f_at(v: np.ndarray) -> float:
        return float(f({"stiffness": v[0], "damping": v[1]}, (v[2], v[3])))

    out = np.empty(point.size)
    for i in range(point.size):
        h = 1e-6 * max(abs(point[i]), 1.0)
        up, down = point.copy(), point.copy()
        up[i] += h
        down[i] -= h
        out[i] = (f_at(up) - f_at(down)) / (2 * h)
    return out


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """Largest error over the coordinates, relative to the largest coordinate of ``want``."""
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def compile_cost(final_energy: Callable[..., Any]) -> tuple[float, int]:
    """Seconds to trace and compile ``jit(value_and_grad(final_energy))`` (a fresh jit
    object's ``lower``: trace, simplify, generate; nothing runs), and the length of the
    program it compiled, in equations."""
    jitted = fungrad.jit(fungrad.value_and_grad(final_energy, argnums=(0, 1)))
    lowered, seconds = timed(lambda: jitted.lower(PARAMS, STATE0))
    return seconds, len(lowered.jaxpr.jaxpr.eqns)


def run(steps: int = 500, dt: float = 0.01, unrolled_compile_steps: int = 100) -> dict[str, Any]:
    """Integrate, differentiate three ways, time them; print and return the results."""
    looped = make_final_energy(steps, dt, unrolled=False)
    unrolled = make_final_energy(steps, dt, unrolled=True)
    jit_vg = fungrad.jit(fungrad.value_and_grad(looped, argnums=(0, 1)))
    args = (PARAMS, STATE0)

    (value, grads), first = timed(lambda: jit_vg(*args))  # traces, compiles and runs
    steady = min(timed(lambda: jit_vg(*args))[1] for _ in range(3))
    (value_unrolled, grads_unrolled), t_unrolled = timed(
        lambda: fungrad.value_and_grad(unrolled, argnums=(0, 1))(*args)
    )
    fd, t_fd = timed(lambda: central_differences(fungrad.jit(looped), *args))

    g_loop, g_unrolled = flat_gradient(grads), flat_gradient(grads_unrolled)
    err_unrolled = relative_error(g_loop, g_unrolled)
    err_fd = relative_error(g_loop, fd)
    print(
        f"damped pendulum, RK4, {steps} steps of dt={dt} (T={steps * dt:g}): "
        f"E(0) = {float(energy(STATE0, PARAMS)):.6f}, E(T) = {float(value):.6f}"
    )
    print(f"{'d E(T) / d':<12} {'fori_loop':>15} {'unrolled':>15} {'central diff.':>15}")
    for name, a, b, c in zip(NAMES, g_loop, g_unrolled, fd):
        print(f"{name:<12} {a:>15.9f} {b:>15.9f} {c:>15.9f}")
    print(
        f"largest difference, relative to the largest entry: fori_loop vs unrolled "
        f"{err_unrolled:.1e}, fori_loop vs central differences {err_fd:.1e}"
    )
    print()
    print(
        f"jit(value_and_grad(fori_loop)), {steps} steps: first call {1e3 * first:.1f} ms "
        f"(trace + compile + run), then {1e3 * steady:.1f} ms a call"
    )
    print(
        f"value_and_grad(unrolled), {steps} steps, no jit: {1e3 * t_unrolled:.0f} ms a call "
        "(it traces every step again on every call)"
    )
    print(f"central differences: {1e3 * t_fd:.0f} ms for 8 jitted solves")
    print("trace + compile of jit(value_and_grad(...)), and the length of the program:")
    sizes = sorted({min(steps, unrolled_compile_steps), steps})
    compiled = {}
    for n in sizes:
        seconds, eqns = compile_cost(make_final_energy(n, dt, unrolled=False))
        compiled[f"fori_loop/{n}"] = (seconds, eqns)
        print(f"  fori_loop, {n:>5} steps: {1e3 * seconds:8.1f} ms, {eqns:>6} equations")
    n = sizes[0]
    seconds, eqns = compile_cost(make_final_energy(n, dt, unrolled=True))
    compiled[f"unrolled/{n}"] = (seconds, eqns)
    print(
        f"  unrolled,  {n:>5} steps: {1e3 * seconds:8.1f} ms, {eqns:>6} equations "
        "(both grow with the number of steps)"
    )
    return {
        "value": float(value),
        "value_unrolled": float(value_unrolled),
        "grad_fori_loop": g_loop,
        "grad_unrolled": g_unrolled,
        "grad_central_differences": fd,
        "error_vs_unrolled": err_unrolled,
        "error_vs_central_differences": err_fd,
        "compiled": compiled,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500, help="RK4 steps (default 500)")
    parser.add_argument("--dt", type=float, default=0.01, help="step size (default 0.01)")
    parser.add_argument(
        "--unrolled-compile-steps",
        type=int,
        default=100,
        help="steps of the unrolled loop whose jit compile is timed (default 100)",
    )
    args = parser.parse_args(argv)
    result = run(args.steps, args.dt, args.unrolled_compile_steps)
    ok = result["error_vs_unrolled"] < 1e-10 and result["error_vs_central_differences"] < 1e-6
    print("gradient check:", "passed" if ok else "FAILED")
    if not ok:
        raise SystemExit(1)
    return result


if __name__ == "__main__":
    main()
