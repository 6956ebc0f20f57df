"""The call primitive ``jit``: a call of a program carried in its params.

Under a transformation, a jitted function (fungrad/jit) binds ``jit_p`` with its
traced program as ``call_jaxpr``. The rules re-trace that program under the
transformation (jvp, batching) or transpose it; the simplifier inlines the call
(it is registered inlinable). The implementation runs the ``_runner`` that
fungrad/jit puts in the params (it compiles the program on first use), so this
layer needs nothing from fungrad/jit; jit registers the call's lowering itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fungrad.core import ClosedJaxpr, Jaxpr, Tracer, eval_jaxpr, new_primitive
from fungrad.interpreters.batching import batch_flat, register_batch
from fungrad.interpreters.jvp import jvp_flat, register_jvp
from fungrad.interpreters.simplify_rules import register_inlinable
from fungrad.interpreters.transpose import backward_pass, register_transpose

jit_p = new_primitive("jit", multiple_results=True)
jit_p.impl = lambda *args, call_jaxpr, name, _runner: _runner(*args)
jit_p.abstract_eval = lambda *avals, call_jaxpr, name, _runner: [
    v.aval for v in call_jaxpr.jaxpr.outvars
]


def _evaluator(call_jaxpr: ClosedJaxpr) -> Callable[..., list[Any]]:
    return lambda *args: eval_jaxpr(call_jaxpr.jaxpr, call_jaxpr.consts, *args)


def _jit_jvp(primals, tangents, call_jaxpr, name, _runner):
    return jvp_flat(_evaluator(call_jaxpr), primals, tangents, "jit")


def _jit_batch(values, dims, call_jaxpr, name, _runner):
    size = next(np.shape(v)[d] for v, d in zip(values, dims) if d is not None)
    outs = batch_flat(_evaluator(call_jaxpr), values, dims, size)
    return [v for v, _ in outs], [d for _, d in outs]


def _jit_transpose(cts, *args, call_jaxpr, name, _runner):
    return backward_pass(call_jaxpr.jaxpr, call_jaxpr.consts, cts, "jit", args=args)


register_jvp(jit_p, _jit_jvp)
register_batch(jit_p, _jit_batch)
register_transpose(jit_p, _jit_transpose)
register_inlinable(jit_p)


def closure_convert(closed: ClosedJaxpr) -> tuple[ClosedJaxpr, list[Any]]:
    """Turn constants that are tracers (closed-over values being transformed) into
    leading arguments, so the transformation sees them as the call's operands.

    >>> from fungrad import make_jaxpr
    >>> closed = make_jaxpr(lambda x: x + 1.0)(2.0)
    >>> closure_convert(closed) == (closed, [])
    True
    """
    pairs = list(zip(closed.jaxpr.constvars, closed.consts))
    traced = [(v, c) for v, c in pairs if isinstance(c, Tracer)]
    if not traced:
        return closed, []
    concrete = [(v, c) for v, c in pairs if not isinstance(c, Tracer)]
    jaxpr = closed.jaxpr
    converted = Jaxpr(
        [v for v, _ in concrete], [v for v, _ in traced] + jaxpr.invars, jaxpr.eqns, jaxpr.outvars
    )
    return ClosedJaxpr(converted, [c for _, c in concrete]), [c for _, c in traced]
