"""Tracebacks from errors inside transformed functions show the user's frames and one
frame for the fungrad entry point; FUNGRAD_TRACEBACK_FILTERING=off shows every frame."""

import os
import traceback

import numpy as np
import pytest

import fungrad
import fungrad.numpy as fnp

PACKAGE_DIR = os.path.dirname(fungrad.__file__) + os.sep


def bad_loss(x):
    y = fnp.ones((2, 3))
    return fnp.sum(x @ y)  # shapes do not fit: the user's mistake


CALLS = {
    "grad": lambda: fungrad.grad(bad_loss)(np.ones(4)),
    "value_and_grad": lambda: fungrad.value_and_grad(bad_loss)(np.ones(4)),
    "jvp": lambda: fungrad.jvp(bad_loss, (np.ones(4),), (np.ones(4),)),
    "vjp": lambda: fungrad.vjp(bad_loss, np.ones(4)),
    "linearize": lambda: fungrad.linearize(bad_loss, np.ones(4)),
    "jacfwd": lambda: fungrad.jacfwd(bad_loss)(np.ones(4)),
    "jacrev": lambda: fungrad.jacrev(bad_loss)(np.ones(4)),
    "hessian": lambda: fungrad.hessian(bad_loss)(np.ones(4)),
    "hvp": lambda: fungrad.hvp(bad_loss, (np.ones(4),), (np.ones(4),)),
    "vmap": lambda: fungrad.vmap(bad_loss)(np.ones((2, 4))),
    "make_jaxpr": lambda: fungrad.make_jaxpr(bad_loss)(np.ones(4)),
    "jit": lambda: fungrad.jit(bad_loss)(np.ones(4)),
    "grad of grad": lambda: fungrad.grad(lambda x: fungrad.grad(bad_loss)(x))(np.ones(4)),
    "vmap of jit of grad": lambda: fungrad.vmap(fungrad.jit(fungrad.grad(bad_loss)))(
        np.ones((2, 4))
    ),
}


def _frames(exc: BaseException) -> list[traceback.FrameSummary]:
    return traceback.extract_tb(exc.__traceback__)


def _fungrad_frames(exc: BaseException) -> list[traceback.FrameSummary]:
    return [f for f in _frames(exc) if f.filename.startswith(PACKAGE_DIR)]


@pytest.mark.parametrize("call", sorted(CALLS))
def test_traceback_shows_the_users_frames_and_one_entry_point(call, monkeypatch):
    monkeypatch.delenv("FUNGRAD_TRACEBACK_FILTERING", raising=False)
    with pytest.raises(ValueError, match="not aligned") as info:
        CALLS[call]()
    inside = _fungrad_frames(info.value)
    assert len(inside) == 1, [f"{f.filename}:{f.name}" for f in inside]
    # Named for the entry point; a jitted function's is its __call__ (kept inline there).
    assert inside[0].name == {"jit": "__call__"}.get(call, call.split()[0])
    # The line that went wrong is the last frame.
    assert _frames(info.value)[-1].name == "bad_loss"
    assert "FUNGRAD_TRACEBACK_FILTERING=off" in inside[0].line


def test_filtering_off_shows_every_frame(monkeypatch):
    monkeypatch.setenv("FUNGRAD_TRACEBACK_FILTERING", "off")
    with pytest.raises(ValueError) as info:
        fungrad.grad(bad_loss)(np.ones(4))
    assert len(_fungrad_frames(info.value)) > 5


def test_errors_from_argument_checks_have_no_internal_frames_either():
    with pytest.raises(TypeError, match="scalar") as info:
        fungrad.grad(lambda x: x * 2.0)(np.ones(3))
    assert [f.name for f in _fungrad_frames(info.value)] == ["grad"]


def test_the_cause_of_an_error_is_kept_and_filtered():
    def write_into_numpy(x):
        buf = np.zeros(2)
        buf[0] = x[0]
        return fnp.sum(x)

    with pytest.raises(ValueError) as info:
        fungrad.grad(write_into_numpy)(np.ones(2))
    cause = info.value.__cause__
    assert isinstance(cause, fungrad.errors.TracerConversionError)
    assert not _fungrad_frames(cause)


def test_entry_points_keep_their_names_and_signatures():
    import inspect

    assert fungrad.jvp.__name__ == "jvp"
    assert "tangents" in inspect.signature(fungrad.jvp).parameters
    g = fungrad.grad(bad_loss)
    assert g.__name__ == "bad_loss"
