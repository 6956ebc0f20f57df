"""Rows of the primitive table for products, scans and argsort
(fungrad/primitives/reductions.py): ``reduce_prod``, ``cumsum``, ``cumprod``, ``argsort``.

Products and cumulative products are polynomials, so their operands may hold exact
zeros (one or several): their derivatives are still smooth there, and those are the
points where a ``prod / x`` formula would be wrong.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from primitive_table import (
    Case,
    Row,
    _axes_mask,
    _floats,
    array,
    comparable,
    numpy_meaning,
    shapes,
)


def _with_zeros(dtype: np.dtype) -> st.SearchStrategy[float]:
    """Moderate values (products of up to 27 of them stay small), zeros often."""
    return st.one_of(st.just(0.0), _floats(dtype, -1.6, 1.6))


@st.composite
def _product_cases(draw, dtype):
    shape = draw(shapes())
    x = draw(array(dtype, shape, _with_zeros(dtype)))
    return Case((x,), {"axes": draw(_axes_mask(len(shape)))})


def _scan_cases(elements):
    @st.composite
    def cases(draw, dtype):
        shape = draw(shapes(min_dims=1))
        x = draw(array(dtype, shape, elements(dtype)))
        params = {"axis": draw(st.integers(0, len(shape) - 1)), "reverse": draw(st.booleans())}
        return Case((x,), params)

    return cases


@st.composite
def _argsort_cases(draw, dtype):
    shape = draw(shapes(min_dims=1))
    x = draw(array(dtype, shape, comparable()(dtype)[1]))  # ties: the sort must be stable
    return Case((x,), {"axis": draw(st.integers(0, len(shape) - 1))})


def _scan_meaning(fn):
    def meaning(case):
        (x,), axis = case.args, case.params["axis"]
        if case.params["reverse"]:
            return np.flip(fn(np.flip(x, axis), axis=axis), axis)
        return fn(x, axis=axis)

    return meaning


ROWS = [
    Row(
        "reduce_prod",
        _product_cases,
        numpy_meaning(lambda x, axes: np.prod(x, axis=axes)),
        diff=(0,),
    ),
    Row(
        "cumsum",
        _scan_cases(lambda dtype: _floats(dtype, -3, 3)),
        _scan_meaning(np.cumsum),
        diff=(0,),
        linear=((0,),),
    ),
    Row("cumprod", _scan_cases(_with_zeros), _scan_meaning(np.cumprod), diff=(0,)),
    Row(
        "argsort",
        _argsort_cases,
        numpy_meaning(lambda x, axis: np.argsort(x, axis=axis, kind="stable")),
        out_kind="i",
        keeps_dtype=False,
    ),
]
