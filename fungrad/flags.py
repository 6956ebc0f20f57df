"""fungrad's run-time options: the object ``fungrad.config``.

Two options today, both off by default:

- ``debug_nans``: every primitive's output is checked for NaN, in eager evaluation,
  in the code ``jit`` generates and in the backward pass; the first NaN raises
  ``FloatingPointError`` naming the primitive, the user's line and the pass.
- ``debug_infs``: the same for infinities.

>>> import fungrad
>>> fungrad.config.debug_nans
False
>>> with fungrad.debug_nans():
...     fungrad.config.debug_nans
True

Switching an option on changes which code runs (see fungrad/debug_checks.py), so the
checks cost nothing while they are off. The environment variables
``FUNGRAD_DEBUG_NANS=1`` and ``FUNGRAD_DEBUG_INFS=1`` switch them on at import.

This module (``fungrad.flags``) is a leaf: it imports nothing of fungrad. The modules
that act on an option register a listener, called with its name whenever it changes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

_OPTIONS: dict[str, str] = {
    "debug_nans": "raise FloatingPointError at the first primitive that produces a NaN",
    "debug_infs": "raise FloatingPointError at the first primitive that produces an infinity",
}


class Config:
    """The options, read as attributes (``fungrad.config.debug_nans``) and changed with
    :meth:`update` or, for a block of code, :meth:`override`."""

    # Plain attributes, because fungrad reads them on hot paths (jit's call).
    debug_nans: bool
    debug_infs: bool
    any_checks: bool  # debug_nans or debug_infs

    def __init__(self) -> None:
        self._values: dict[str, bool] = {name: False for name in _OPTIONS}
        self._listeners: list[Callable[[str], None]] = []
        self._publish()

    def _publish(self) -> None:
        self.__dict__.update(self._values)
        self.any_checks = any(self._values.values())

    def __getattr__(self, name: str) -> Any:  # only called for names that are not set
        raise AttributeError(f"fungrad.config has no option {name!r}; {_known()}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _OPTIONS:
            raise AttributeError(
                f"set options with fungrad.config.update({name!r}, {value!r}), "
                "or for a block with fungrad.config.override"
            )
        object.__setattr__(self, name, value)

    def update(self, name: str, value: bool) -> None:
        """Set option ``name`` (``"debug_nans"`` or ``"debug_infs"``) to ``value``."""
        if name not in _OPTIONS:
            raise ValueError(f"fungrad.config.update: unknown option {name!r}; {_known()}")
        if not isinstance(value, bool):
            raise TypeError(
                f"fungrad.config.update({name!r}, ...) takes True or False, "
                f"got {type(value).__name__} {value!r}"
            )
        if self._values[name] != value:
            self._values[name] = value
            self._publish()
            for listener in self._listeners:
                listener(name)

    @contextlib.contextmanager
    def override(self, **values: bool) -> Iterator[None]:
        """Set options for the length of a ``with`` block, then restore them."""
        for name in values:
            if name not in _OPTIONS:
                raise ValueError(f"fungrad.config.override: unknown option {name!r}; {_known()}")
        previous = {name: self._values[name] for name in values}
        try:
            for name, value in values.items():
                self.update(name, value)
            yield
        finally:
            for name, value in previous.items():
                self.update(name, value)

    def on_change(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(name)`` whenever an option changes (for fungrad's modules), and
        now for each option already on (set from the environment)."""
        self._listeners.append(listener)
        for name, value in self._values.items():
            if value:
                listener(name)

    def __repr__(self) -> str:
        return "fungrad.config(" + ", ".join(f"{k}={v}" for k, v in self._values.items()) + ")"


def _known() -> str:
    return "the options are: " + "; ".join(f"{k} ({v})" for k, v in _OPTIONS.items())


config = Config()


def debug_nans(enabled: bool = True) -> contextlib.AbstractContextManager[None]:
    """``with fungrad.debug_nans():`` checks every primitive's output for NaN in the block."""
    return config.override(debug_nans=enabled)


def debug_infs(enabled: bool = True) -> contextlib.AbstractContextManager[None]:
    """``with fungrad.debug_infs():`` checks every primitive's output for infinities."""
    return config.override(debug_infs=enabled)


def _from_environment() -> None:
    for name in _OPTIONS:
        setting = os.environ.get("FUNGRAD_" + name.upper(), "").strip().lower()
        if setting in ("1", "true", "yes", "on"):
            config._values[name] = True
    config._publish()


_from_environment()
