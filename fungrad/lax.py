"""``fungrad.lax``: the primitives themselves, for code that wants exact control, and
structured control flow (``cond``, ``switch``, ``scan``, ``fori_loop``, ``while_loop``,
``map``) with JAX's names, signatures and semantics (docs/control_flow.md).

Unlike :mod:`fungrad.numpy`, these do no argument normalisation: ``axes`` are tuples
of non-negative ints and ``dimension_numbers`` follow JAX's convention.
"""

from __future__ import annotations

from fungrad.primitives.control_flow import (
    cond,
    fori_loop,
    map,
    scan,
    switch,
    while_loop,
)
from fungrad.primitives.elementwise import (
    abs,
    add,
    cos,
    div,
    eq,
    exp,
    ge,
    gt,
    integer_pow,
    le,
    log,
    log1p,
    logaddexp,
    logistic,
    lt,
    max,
    min,
    mul,
    ne,
    neg,
    pow,
    select,
    sin,
    sqrt,
    stop_gradient,
    sub,
    tanh,
)
from fungrad.primitives.indexing import StaticIndex, gather, scatter_add
from fungrad.primitives.linalg import dot_general
from fungrad.primitives.reductions import argmax, argmin, reduce_max, reduce_min, reduce_sum
from fungrad.primitives.shape import concatenate
from fungrad.primitives.structural import (
    broadcast_in_dim,
    convert_element_type,
    reshape,
    transpose,
)

__all__ = [
    "cond",
    "fori_loop",
    "map",
    "scan",
    "switch",
    "while_loop",
    "StaticIndex",
    "abs",
    "add",
    "argmax",
    "argmin",
    "broadcast_in_dim",
    "concatenate",
    "convert_element_type",
    "cos",
    "div",
    "dot_general",
    "eq",
    "exp",
    "gather",
    "ge",
    "gt",
    "integer_pow",
    "le",
    "log",
    "log1p",
    "logaddexp",
    "logistic",
    "lt",
    "max",
    "min",
    "mul",
    "ne",
    "neg",
    "pow",
    "reduce_max",
    "reduce_min",
    "reduce_sum",
    "reshape",
    "scatter_add",
    "select",
    "sin",
    "sqrt",
    "stop_gradient",
    "sub",
    "tanh",
    "transpose",
]
