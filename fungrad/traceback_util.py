"""Tracebacks that show the user's code, not fungrad's interpreters.

An error raised while a transformation runs a user's function (a shape mismatch in
their code, a conversion that would drop a derivative) passes through many frames
of fungrad: the interpreters, the rules, the argument handling. They say nothing
to the user. Each public entry point (``grad(f)(x)``, ``jvp``, ``vmap(f)(x)``,
``jit(f)(x)``, ...) is an *API boundary*: an exception leaving it keeps only the
frames outside fungrad, plus one frame named for the entry point. Set the
environment variable ``FUNGRAD_TRACEBACK_FILTERING=off`` to see every frame (as
``JAX_TRACEBACK_FILTERING=off`` does in JAX).
"""

from __future__ import annotations

import functools
import os
import types
from collections.abc import Callable
from typing import Any, TypeVar

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep

F = TypeVar("F", bound=Callable[..., Any])


def filtering_enabled() -> bool:
    value = os.environ.get("FUNGRAD_TRACEBACK_FILTERING", "on")
    return value.strip().lower() not in ("off", "0", "false", "no")


def filtered(exc: BaseException) -> BaseException:
    """``exc`` with fungrad's own frames removed from its traceback, and from those of
    the exceptions it was raised from. (The frame of the entry point that re-raises
    it is added back by the ``raise``: its source line says how to see every frame.)"""
    _filter_chain(exc, set())
    return exc


def _filter_chain(exc: BaseException | None, seen: set[int]) -> None:
    if exc is None or id(exc) in seen:
        return
    seen.add(id(exc))
    kept, hidden = [], 0
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR):
            hidden += 1
        else:
            kept.append(tb)
        tb = tb.tb_next
    if hidden:
        rebuilt = None
        for tb in reversed(kept):
            rebuilt = types.TracebackType(rebuilt, tb.tb_frame, tb.tb_lasti, tb.tb_lineno)
        exc.__traceback__ = rebuilt
    _filter_chain(exc.__cause__, seen)
    _filter_chain(exc.__context__, seen)


def api_boundary(name: str) -> Callable[[F], F]:
    """Decorate a public entry point so exceptions leave it with a filtered traceback.

    The wrapper's own frame is the one fungrad frame left, shown under ``name``
    (``File ".../traceback_util.py", line N, in grad``).
    """

    def decorate(fun: F) -> F:
        @functools.wraps(fun)
        def entry_point(*args: Any, **kwargs: Any) -> Any:
            try:
                return fun(*args, **kwargs)
            except Exception as exc:
                if not filtering_enabled():
                    raise
                raise filtered(exc)  # frames hidden; FUNGRAD_TRACEBACK_FILTERING=off shows all

        code = entry_point.__code__
        names = {"co_name": name}
        if hasattr(code, "co_qualname"):  # Python 3.11+
            names["co_qualname"] = name
        entry_point.__code__ = code.replace(**names)
        return entry_point  # type: ignore[return-value]

    return decorate
