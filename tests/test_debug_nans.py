"""NaN and Inf hunting (fungrad.config's debug_nans and debug_infs), and source lines.

With a check on, the first primitive whose output holds a NaN (or an infinity) raises
FloatingPointError naming the primitive, the line of this file that produced it, the
pass (forward or backward) and its inputs' ranges: in eager evaluation, in jit's
generated code and in the backward pass of grad, eager and jitted. With the checks
off nothing is checked and the plain evaluation method runs.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys

import numpy as np
import pytest

import fungrad
import fungrad.numpy as fnp
from fungrad import lax
from fungrad.core import EvalInterpreter, _plain_process_primitive

HERE = os.path.basename(__file__)


def line_of(marker: str) -> str:
    """``test_debug_nans.py:N`` for the line of this file that ends with ``# marker``."""
    lines = inspect.getsource(sys.modules[__name__]).splitlines()
    found = [i + 1 for i, text in enumerate(lines) if text.rstrip().endswith(f"# {marker}")]
    assert len(found) == 1, marker
    return f"{HERE}:{found[0]}"


def log_of_shifted(x):
    y = x - 2.0
    return fnp.sum(fnp.log(y))  # log-line


def root_sum(x):
    return fnp.sum(fnp.sqrt(x))  # sqrt-line


@pytest.fixture(autouse=True)
def quiet_numpy():
    # NumPy warns of the invalid values these tests make on purpose.
    with np.errstate(all="ignore"):
        yield


@pytest.mark.parametrize("jitted", [False, True], ids=["eager", "jit"])
def test_a_nan_in_the_forward_pass_names_the_primitive_line_and_input_range(jitted):
    f = fungrad.jit(log_of_shifted) if jitted else log_of_shifted
    x = np.array([3.0, 1.0, 2.5])
    with fungrad.debug_nans(), pytest.raises(FloatingPointError) as info:
        f(x)
    message = str(info.value)
    assert "the primitive `log` produced NaN in the forward pass" in message
    assert line_of("log-line") in message
    # The input of log is x - 2, intact in the report (jit writes no result into it).
    assert "input 0: float64[3], values in [-1, 1]" in message
    assert "NaN in 1 of 3 elements, the first at index (1,)" in message
    assert 'fungrad.config.update("debug_nans", False)' in message


@pytest.mark.parametrize("jitted", [False, True], ids=["eager", "jit"])
def test_an_inf_in_the_backward_pass_names_the_line_it_is_the_adjoint_of(jitted):
    g = fungrad.grad(root_sum)
    g = fungrad.jit(g) if jitted else g
    x = np.array([4.0, 0.0])
    assert np.isinf(g(x)[1])  # unchecked: d sqrt(x)/dx at 0 is inf
    with fungrad.debug_infs(), pytest.raises(FloatingPointError) as info:
        g(x)
    message = str(info.value)
    assert "produced Inf in the backward pass" in message
    assert f"computing the adjoint of the operation at {line_of('sqrt-line')}" in message
    assert message.startswith("debug_infs: ")


def test_checks_cover_grad_vmap_and_control_flow_bodies():
    def body(carry, x):
        return carry + fnp.log(x), None  # scan-body-line

    def f(xs):
        total, _ = lax.scan(body, 0.0, xs)
        return total

    xs = np.array([1.0, -1.0])
    with fungrad.debug_nans():
        for transformed in (f, fungrad.jit(f), fungrad.grad(f)):
            with pytest.raises(FloatingPointError, match="`log` produced NaN") as info:
                transformed(xs)
            assert line_of("scan-body-line") in str(info.value)
        with pytest.raises(FloatingPointError, match="`log` produced NaN"):
            fungrad.vmap(log_of_shifted)(np.array([[3.0], [1.0]]))


def test_nans_and_infs_are_told_apart_and_integers_are_not_checked():
    with fungrad.debug_infs():
        assert np.isnan(float(fnp.log(-1.0)))  # a NaN is not an Inf
        assert fnp.floor_divide(np.arange(3), 2).tolist() == [0, 0, 1]
    with fungrad.debug_nans():
        assert float(fnp.log(0.0)) == -np.inf  # an Inf is not a NaN
        with pytest.raises(FloatingPointError, match="`sub` produced NaN"):
            fnp.subtract(np.inf, np.inf)


def test_with_the_checks_off_nothing_is_checked_and_the_plain_method_runs():
    assert not fungrad.config.debug_nans and not fungrad.config.debug_infs
    assert EvalInterpreter.process_primitive is _plain_process_primitive
    assert np.isnan(log_of_shifted(np.array([1.0])))
    assert np.isnan(fungrad.jit(log_of_shifted)(np.array([1.0])))
    with fungrad.debug_nans():
        assert EvalInterpreter.process_primitive is not _plain_process_primitive
    assert EvalInterpreter.process_primitive is _plain_process_primitive


def test_jit_keeps_checked_code_apart_from_plain_code():
    f = fungrad.jit(log_of_shifted)
    x = np.ones(3)
    assert "check" not in f.lower(x).as_text()
    with fungrad.debug_nans():
        assert "check" in f.lower(x).as_text()
        with pytest.raises(FloatingPointError):
            f(x)
    assert np.isnan(f(x))  # the plain code again, from the same cache entry
    assert f.trace_count == 1


def test_options_are_set_by_update_and_override_and_restored():
    fungrad.config.update("debug_nans", True)
    try:
        assert fungrad.config.debug_nans
        with fungrad.config.override(debug_nans=False, debug_infs=True):
            assert not fungrad.config.debug_nans and fungrad.config.debug_infs
        assert fungrad.config.debug_nans and not fungrad.config.debug_infs
    finally:
        fungrad.config.update("debug_nans", False)
    with pytest.raises(ZeroDivisionError), fungrad.debug_nans():
        raise ZeroDivisionError
    assert not fungrad.config.debug_nans


def test_option_errors_name_the_options_and_what_to_do():
    with pytest.raises(ValueError, match="unknown option 'debug_nan'.*debug_nans.*debug_infs"):
        fungrad.config.update("debug_nan", True)
    with pytest.raises(TypeError, match=r"takes True or False, got int 1"):
        fungrad.config.update("debug_nans", 1)
    with pytest.raises(AttributeError, match=r"fungrad.config.update\('debug_nans', True\)"):
        fungrad.config.debug_nans = True
    with pytest.raises(AttributeError, match="has no option 'nans'"):
        fungrad.config.nans  # noqa: B018
    assert not fungrad.config.debug_nans


def test_the_environment_switches_a_check_on_at_import():
    code = (
        "import numpy as np, fungrad, fungrad.numpy as fnp\n"
        "np.seterr(all='ignore')\n"
        "assert fungrad.config.debug_nans\n"
        "try:\n"
        "    fnp.log(-1.0)\n"
        "except FloatingPointError as e:\n"
        "    print('raised', 'log' in str(e))\n"
    )
    env = dict(os.environ, FUNGRAD_DEBUG_NANS="1")
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "raised True", done.stderr


def test_make_jaxpr_shows_source_lines_and_marks_the_backward_pass():
    x = np.array([4.0, 1.0])
    closed = fungrad.make_jaxpr(root_sum, source_info=True)(x)
    assert f"sqrt a    # {line_of('sqrt-line')}" in str(closed)
    assert "#" not in str(fungrad.make_jaxpr(root_sum)(x))
    backward = fungrad.make_jaxpr(fungrad.grad(root_sum), source_info=True)(x)
    assert f"# {line_of('sqrt-line')} (backward pass)" in str(backward)
    # Every equation has its line, forward and backward.
    assert all(eqn.source_info for eqn in backward.eqns)
