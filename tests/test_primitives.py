"""The table-driven test over every registered primitive.

Each primitive has one row in ``ROWS``: a hypothesis strategy drawing valid operands
and params (shapes, broadcasting, axes, permutations, dimension numbers, indices),
its NumPy meaning, and which operands are differentiable and which it is linear in.
The same properties run over every row:

- eager ``bind`` computes the NumPy meaning, and the staged jaxpr computes eager;
- the shape/dtype rule agrees with the implementation (float32 stays float32,
  promotion and weakly typed Python scalars as in NumPy);
- jvp against central differences, and in float32 against float64; linearize
  against jvp;
- reverse mode by inner products: against central differences, and exactly against jvp
  (a primitive differentiable in forward mode only raises an explained error);
- transposition of the linear primitives, ``<A x, y> == <x, Aᵀ y>``;
- second order, forward over forward and reverse over reverse, against central
  differences of first derivatives (and ``check_grads(order=2)``);
- primitives without a derivative give symbolic-zero tangents and integer, boolean
  or piecewise-constant outputs;
- batching: ``vmap`` with random batch sizes, in_axes and out_axes, and ``vmap`` of
  ``vmap``, against stacking a loop over examples; the batching rule applied
  directly; unbatched operands are not broadcast;
- ``jit`` against eager, on first and later calls, and jvp and grad through ``jit``.

A completeness test makes a primitive without a row, or without a rule its row
needs (every primitive needs a batching rule), a red test.
"""

from __future__ import annotations

import dataclasses
import string
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, note, reject
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fungrad
from fungrad import core, dtypes
from fungrad.core import Zero, get_aval
from fungrad.errors import NonLinearError
from fungrad.interpreters.batching import batch_rules
from fungrad.interpreters.jvp import jvp_flat, jvp_rules
from fungrad.interpreters.partial_eval import linearize_flat
from fungrad.interpreters.transpose import transpose_rules
from fungrad.primitives.indexing import ARRAY, StaticIndex
from fungrad.test_util import check_grads, numerical_jvp

F64 = np.dtype(np.float64)
F32 = np.dtype(np.float32)
BOOL = np.dtype(np.bool_)

# float64 central differences with step 1e-5: truncation error ~1e-10 * f''' and
# cancellation error ~1e-16 * |f| / 1e-5, both far below these tolerances.
FD_RTOL = 1e-6
FD_ATOL = 1e-6
# Two ways of computing the same float64 number (jvp and vjp, A and its transpose)
# differ only by rounding and summation order.
EXACT_RTOL = 1e-11
# float32 derivatives against float64 ones at the same (float32) point.
F32_RTOL = 1e-4
F32_ATOL = 1e-5

# ---------------------------------------------------------------------------------------
# The table


@dataclasses.dataclass
class Case:
    """One application of a primitive: operands, params, and what the reference needs."""

    args: tuple[Any, ...]
    params: dict[str, Any]
    note: Any = None  # what the reference needs besides: gather's NumPy index, jit's body
    result: int | None = None  # the result tested, of a primitive with several (a loop's)


@dataclasses.dataclass(frozen=True, repr=False)
class Row:
    """How to test one primitive.

    ``cases(dtype)`` draws a Case whose floating operands have ``dtype``;
    ``reference(case)`` is the primitive's meaning in NumPy. ``diff`` lists the
    operands with derivatives (empty: the output has none); ``linear`` lists groups
    of operands in which the primitive is jointly linear, the others held fixed.
    ``recast(case, dtype)`` gives the same case in another float dtype, for rows whose
    params depend on it. Multiple-result primitives are tested on one result: the only
    one, or the one ``case.result`` names. ``reverse_mode`` is False for a primitive
    differentiable in forward mode only (a while loop, whose number of steps is known
    only when it runs): the reverse-mode properties leave it out, and a test checks
    that reverse mode raises the error ``FORWARD_MODE_ONLY_ERRORS`` gives for it.
    """

    name: str
    cases: Callable[[np.dtype], st.SearchStrategy[Case]]
    reference: Callable[[Case], Any]
    diff: tuple[int, ...] = ()
    linear: tuple[tuple[int, ...], ...] = ()
    keeps_dtype: bool = True  # float32 operands give a float32 output
    out_kind: str = "f"  # dtype kind of the output: "f", "b" or "i"
    promotes: bool = False  # several floating operands, promoted together
    elementwise: bool = False  # accepts Python scalars for its floating operands
    piecewise_constant: bool = False  # no derivative, but a floating output
    fd_eps: float | None = None  # central-difference step, when not the default
    recast: Callable[[Case, np.dtype], Case] | None = None
    several_operands: bool = False  # cases may have two or more operands
    operands: bool = True  # False for a primitive of params alone (eye): nothing to map
    # Its integer operands are valid at any value (a clamped index, a loop bound), not
    # index arrays: new examples for vmap take them from other cases too.
    free_integers: bool = False
    forward_mode: bool = True  # False: derivatives in reverse mode only (custom_vjp_call)
    reverse_mode: bool = True  # False: derivatives in forward mode only (while)

    @property
    def primitive(self) -> core.Primitive:
        return core.primitives[self.name]

    def __repr__(self) -> str:  # keeps hypothesis' falsifying examples short
        return f"Row({self.name!r})"


def numpy_meaning(fn: Callable[..., Any]) -> Callable[[Case], Any]:
    return lambda case: fn(*case.args, **case.params)


# ---------------------------------------------------------------------------------------
# Strategies: values


def _floats(dtype: np.dtype, lo: float, hi: float) -> st.SearchStrategy[float]:
    width = 32 if dtype == F32 else 64
    lo, hi = float(dtype.type(lo)), float(dtype.type(hi))
    return st.floats(lo, hi, width=width, allow_subnormal=False)


def _in_dtype(dtype: np.dtype, values: st.SearchStrategy[float]) -> st.SearchStrategy[float]:
    """Values computed in Python, rounded to ``dtype`` so arrays of it hold them exactly."""
    return values.map(lambda v: float(dtype.type(v)))


# An element spec maps the case's float dtype to (operand dtype, element strategy).
ElementSpec = Callable[[np.dtype], tuple[np.dtype, st.SearchStrategy[Any]]]


def real(lo: float, hi: float) -> ElementSpec:
    return lambda dtype: (dtype, _floats(dtype, lo, hi))


def away_from_zero(lo: float, hi: float) -> ElementSpec:
    """Magnitudes in [lo, hi], either sign: clear of the kink or pole at zero."""
    return lambda dtype: (dtype, st.one_of(_floats(dtype, -hi, -lo), _floats(dtype, lo, hi)))


def off_grid(offset: float) -> ElementSpec:
    """``k/2 + offset + jitter`` with |jitter| <= 0.05: values from ``off_grid(0)`` and
    ``off_grid(0.25)`` are at least 0.15 apart, so max and min never tie."""

    def spec(dtype):
        values = st.builds(
            lambda k, jitter: k / 2 + offset + jitter,
            st.integers(-6, 6),
            _floats(F64, -0.05, 0.05),
        )
        return dtype, _in_dtype(dtype, values)

    return spec


def between_kinks() -> ElementSpec:
    """Clear of the integers and half-integers where floor, ceil and round jump."""

    def spec(dtype):
        fraction = st.one_of(_floats(F64, 0.1, 0.4), _floats(F64, 0.6, 0.9))
        return dtype, _in_dtype(dtype, st.builds(lambda k, u: k + u, st.integers(-3, 3), fraction))

    return spec


def comparable() -> ElementSpec:
    """Values that tie often, so eq/ne/le/ge see equal operands."""
    return lambda dtype: (
        dtype,
        st.one_of(st.sampled_from([-1.0, -0.5, 0.0, 0.5, 1.0]), _floats(dtype, -2, 2)),
    )


def boolean() -> ElementSpec:
    return lambda dtype: (BOOL, st.booleans())


def any_float() -> ElementSpec:
    return lambda dtype: (dtype, st.floats(width=32 if dtype == F32 else 64))


def array(dtype: np.dtype, shape: tuple[int, ...], elements: st.SearchStrategy[Any]):
    return hnp.arrays(dtype, shape, elements=elements)


def shapes(min_dims: int = 0, max_dims: int = 3) -> st.SearchStrategy[tuple[int, ...]]:
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=3)


def sizes(n: int) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(1, 3), min_size=n, max_size=n)


@st.composite
def distinct_array(draw, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """Values at least 0.2 apart, in random order: reductions to max/min never tie."""
    size = int(np.prod(shape, dtype=np.int64))
    order = np.array(draw(st.permutations(range(size))), dtype=np.float64)
    jitter = draw(array(F64, (size,), _floats(F64, 0.0, 0.05)))
    return (0.25 * order - 0.125 * size + jitter).astype(dtype).reshape(shape)


# ---------------------------------------------------------------------------------------
# Strategies: cases, by family


def elementwise(*specs: ElementSpec, params: st.SearchStrategy[dict] | None = None):
    """Operands broadcasting together (0-d and size-1 dimensions included)."""

    @st.composite
    def cases(draw, dtype):
        if len(specs) == 1:
            operand_shapes = (draw(shapes()),)
        else:
            operand_shapes = draw(
                hnp.mutually_broadcastable_shapes(
                    num_shapes=len(specs), min_dims=0, max_dims=3, min_side=1, max_side=3
                )
            ).input_shapes
        args = []
        for spec, shape in zip(specs, operand_shapes):
            operand_dtype, elements = spec(dtype)
            args.append(draw(array(operand_dtype, shape, elements)))
        return Case(tuple(args), draw(params) if params is not None else {})

    return cases


def _axes_mask(ndim: int) -> st.SearchStrategy[tuple[int, ...]]:
    return st.lists(st.booleans(), min_size=ndim, max_size=ndim).map(
        lambda mask: tuple(i for i, keep in enumerate(mask) if keep)
    )


def reduction(distinct: bool):
    @st.composite
    def cases(draw, dtype):
        shape = draw(shapes())
        if distinct:
            x = draw(distinct_array(dtype, shape))
        else:
            x = draw(array(dtype, shape, _floats(dtype, -3, 3)))
        return Case((x,), {"axes": draw(_axes_mask(len(shape)))})

    return cases


@st.composite
def arg_reduction_cases(draw, dtype):
    shape = draw(shapes(min_dims=1))
    x = draw(array(dtype, shape, comparable()(dtype)[1]))
    return Case((x,), {"axis": draw(st.integers(0, len(shape) - 1))})


@st.composite
def broadcast_in_dim_cases(draw, dtype):
    x_shape = draw(shapes())
    out_ndim = len(x_shape) + draw(st.integers(0, 2))
    dims = tuple(sorted(draw(st.permutations(range(out_ndim)))[: len(x_shape)]))
    out_shape = list(draw(sizes(out_ndim)))
    for i, d in enumerate(dims):
        if x_shape[i] != 1:
            out_shape[d] = x_shape[i]
    x = draw(array(dtype, x_shape, _floats(dtype, -3, 3)))
    return Case((x,), {"shape": tuple(out_shape), "broadcast_dimensions": dims})


def _prime_factors(n: int) -> list[int]:
    factors, p = [], 2
    while n > 1:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 1
    return factors


@st.composite
def reshape_cases(draw, dtype):
    x_shape = draw(shapes())
    factors = draw(st.permutations(_prime_factors(int(np.prod(x_shape, dtype=np.int64)))))
    n_dims = draw(st.integers(0 if not factors else 1, 4))
    new = [1] * n_dims
    for f in factors:
        new[draw(st.integers(0, n_dims - 1))] *= f
    x = draw(array(dtype, x_shape, _floats(dtype, -3, 3)))
    return Case((x,), {"new_sizes": tuple(new)})


@st.composite
def transpose_cases(draw, dtype):
    x_shape = draw(shapes())
    x = draw(array(dtype, x_shape, _floats(dtype, -3, 3)))
    return Case((x,), {"permutation": tuple(draw(st.permutations(range(len(x_shape)))))})


@st.composite
def concatenate_cases(draw, dtype):
    base = list(draw(shapes(min_dims=1)))
    axis = draw(st.integers(0, len(base) - 1))
    xs = []
    for size in draw(st.lists(st.integers(1, 3), min_size=1, max_size=3)):
        base[axis] = size
        xs.append(draw(array(dtype, tuple(base), _floats(dtype, -3, 3))))
    return Case(tuple(xs), {"axis": axis})


@st.composite
def _index_entry(draw, kind: str, size: int) -> Any:
    if kind == "int":
        return draw(st.integers(-size, size - 1))
    bound = st.one_of(st.none(), st.integers(-size - 1, size + 1))
    step = st.one_of(st.none(), st.sampled_from([-2, -1, 1, 2]))
    return slice(draw(bound), draw(bound), draw(step))


@st.composite
def index_for(draw, x_shape: tuple[int, ...]):
    """An index into an array of ``x_shape`` as NumPy spells it, and as fungrad's
    StaticIndex plus index arrays: ints, slices (negative steps, empty results),
    integer arrays (broadcasting together, repeated and negative indices), None and
    an Ellipsis."""
    ndim = len(x_shape)
    n_indexed = draw(st.integers(0, ndim))
    n_leading = draw(st.integers(0, n_indexed))
    ellipsis = draw(st.booleans()) or n_leading < n_indexed
    indexed_dims = list(range(n_leading)) + list(range(ndim - (n_indexed - n_leading), ndim))
    kinds = draw(
        st.lists(
            st.sampled_from(["int", "slice", "array"]), min_size=n_indexed, max_size=n_indexed
        )
    )
    n_arrays = kinds.count("array")
    array_shapes = iter(
        draw(
            hnp.mutually_broadcastable_shapes(
                num_shapes=n_arrays, min_dims=0, max_dims=2, min_side=1, max_side=3
            )
        ).input_shapes
        if n_arrays
        else ()
    )
    numpy_entries: list[Any] = []
    entries: list[Any] = []
    arrays: list[np.ndarray] = []
    for kind, d in zip(kinds, indexed_dims):
        size = x_shape[d]
        if kind == "array":
            index_dtype = draw(st.sampled_from([np.int64, np.int32]))
            idx = draw(
                array(np.dtype(index_dtype), next(array_shapes), st.integers(-size, size - 1))
            )
            numpy_entries.append(idx)
            entries.append(ARRAY)
            arrays.append(idx)
        else:
            entry = draw(_index_entry(kind, size))
            numpy_entries.append(entry)
            entries.append(entry)
    if ellipsis:
        numpy_entries.insert(n_leading, Ellipsis)
        entries.insert(n_leading, Ellipsis)
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(entries)))
        numpy_entries.insert(at, None)
        entries.insert(at, None)
    return tuple(numpy_entries), StaticIndex(tuple(entries)), tuple(arrays)


@st.composite
def gather_cases(draw, dtype):
    x_shape = draw(shapes(min_dims=1))
    numpy_index, index, arrays = draw(index_for(x_shape))
    x = draw(array(dtype, x_shape, _floats(dtype, -3, 3)))
    return Case((x, *arrays), {"index": index}, note=numpy_index)


@st.composite
def scatter_add_cases(draw, dtype):
    x_shape = draw(shapes(min_dims=1))
    numpy_index, index, arrays = draw(index_for(x_shape))
    ct_shape = np.zeros(x_shape)[numpy_index].shape
    ct = draw(array(dtype, ct_shape, _floats(dtype, -3, 3)))
    return Case((ct, *arrays), {"index": index, "shape": x_shape}, note=numpy_index)


def _scatter_add_meaning(case: Case) -> np.ndarray:
    ct = case.args[0]
    out = np.zeros(case.params["shape"], ct.dtype)
    np.add.at(out, case.note, ct)
    return out


@st.composite
def dot_general_cases(draw, dtype):
    """Batch, contracting and free dimensions, each side's in a random order."""
    n_batch, n_contract, n_lhs_free, n_rhs_free = (draw(st.integers(0, 2)) for _ in range(4))
    size = {
        **{("b", i): s for i, s in enumerate(draw(sizes(n_batch)))},
        **{("c", i): s for i, s in enumerate(draw(sizes(n_contract)))},
        **{("l", i): s for i, s in enumerate(draw(sizes(n_lhs_free)))},
        **{("r", i): s for i, s in enumerate(draw(sizes(n_rhs_free)))},
    }
    shared = [("b", i) for i in range(n_batch)] + [("c", i) for i in range(n_contract)]
    lhs = draw(st.permutations(shared + [("l", i) for i in range(n_lhs_free)]))
    rhs = draw(st.permutations(shared + [("r", i) for i in range(n_rhs_free)]))
    dims = (
        (
            tuple(lhs.index(("c", i)) for i in range(n_contract)),
            tuple(rhs.index(("c", i)) for i in range(n_contract)),
        ),
        (
            tuple(lhs.index(("b", i)) for i in range(n_batch)),
            tuple(rhs.index(("b", i)) for i in range(n_batch)),
        ),
    )
    x = draw(array(dtype, tuple(size[d] for d in lhs), _floats(dtype, -2, 2)))
    y = draw(array(dtype, tuple(size[d] for d in rhs), _floats(dtype, -2, 2)))
    return Case((x, y), {"dimension_numbers": dims})


def _dot_general_meaning(x, y, dimension_numbers):
    """The contraction as an einsum: each dimension of either side gets a letter."""
    (xc, yc), (xb, yb) = dimension_numbers
    letters = iter(string.ascii_letters)
    x_sub = [next(letters) for _ in range(x.ndim)]
    y_sub = [next(letters) for _ in range(y.ndim)]
    for a, b in zip(xc + xb, yc + yb):
        y_sub[b] = x_sub[a]
    x_free = [x_sub[d] for d in range(x.ndim) if d not in xc + xb]
    y_free = [y_sub[d] for d in range(y.ndim) if d not in yc + yb]
    out = [x_sub[d] for d in xb] + x_free + y_free
    return np.einsum(f"{''.join(x_sub)},{''.join(y_sub)}->{''.join(out)}", x, y)


def _logistic_meaning(x):
    with np.errstate(over="ignore"):  # exp(-x) may overflow to inf: 1/(1+inf) is right
        return 1 / (1 + np.exp(-x))


# jit is a call primitive: its params carry a traced body. The body here is
# ``x * g(y)`` with ``g`` a drawn chain of smooth, bounded functions, so the call is
# differentiable in both operands and linear in ``x``.
_BOUNDED = {
    "sin": np.sin,
    "cos": np.cos,
    "tanh": np.tanh,
    "arctan": np.arctan,
    "logistic": _logistic_meaning,
}


def _jit_case(x: np.ndarray, y: np.ndarray, chain: tuple[str, ...]) -> Case:
    def body(x, y):
        for name in chain:
            y = core.primitives[name].bind(y)
        return core.primitives["mul"].bind(x, y)

    (eqn,) = fungrad.make_jaxpr(fungrad.jit(body))(x, y).eqns
    return Case((x, y), eqn.params, note=chain)


@st.composite
def jit_cases(draw, dtype):
    chain = tuple(draw(st.lists(st.sampled_from(sorted(_BOUNDED)), min_size=1, max_size=3)))
    x, y = draw(elementwise(real(-3, 3), real(-2, 2))(dtype)).args
    return _jit_case(x, y, chain)


def _jit_meaning(case: Case) -> np.ndarray:
    x, y = case.args
    for name in case.note:
        y = _BOUNDED[name](y)
    return x * y


def _jit_recast(case: Case, dtype: np.dtype) -> Case:
    x, y = case.args
    return _jit_case(x.astype(dtype), y.astype(dtype), case.note)


# checkpoint carries the same body as jit's row, ``x * g(y)``, under each policy: the
# policy changes what reverse mode saves and recomputes, never the numbers.
_POLICIES = (
    "nothing_saveable",
    "everything_saveable",
    "dots_saveable",
    "dots_with_no_batch_dims_saveable",
)


def _checkpoint_case(x: np.ndarray, y: np.ndarray, chain: tuple[str, ...], policy: str) -> Case:
    def body(x, y):
        for name in chain:
            y = core.primitives[name].bind(y)
        return core.primitives["mul"].bind(x, y)

    f = fungrad.checkpoint(body, policy=getattr(fungrad.checkpoint_policies, policy))
    (eqn,) = fungrad.make_jaxpr(f)(x, y).eqns
    return Case((x, y), eqn.params, note=(chain, policy))


@st.composite
def checkpoint_cases(draw, dtype):
    chain = tuple(draw(st.lists(st.sampled_from(sorted(_BOUNDED)), min_size=1, max_size=3)))
    policy = draw(st.sampled_from(_POLICIES))
    x, y = draw(elementwise(real(-3, 3), real(-2, 2))(dtype)).args
    return _checkpoint_case(x, y, chain, policy)


def _checkpoint_meaning(case: Case) -> np.ndarray:
    return _jit_meaning(Case(case.args, {}, note=case.note[0]))


def _checkpoint_recast(case: Case, dtype: np.dtype) -> Case:
    x, y = case.args
    return _checkpoint_case(x.astype(dtype), y.astype(dtype), *case.note)


# The calls behind custom derivatives carry the same body as jit's row, ``x * g(y)``,
# with a rule that is right by construction (fungrad's own derivative of the body):
# the table checks the machinery (calling the rule, batching body and rule, jit).
def _custom_body(chain: tuple[str, ...]) -> Callable:
    def body(x, y):
        for name in chain:
            y = core.primitives[name].bind(y)
        return core.primitives["mul"].bind(x, y)

    return body


def _custom_call_case(x: np.ndarray, y: np.ndarray, chain: tuple[str, ...], kind: str) -> Case:
    body = _custom_body(chain)
    if kind == "custom_jvp_call":
        f = fungrad.custom_jvp(body)
        f.defjvp(lambda primals, tangents: fungrad.jvp(body, primals, tangents))
    else:
        f = fungrad.custom_vjp(body)
        f.defvjp(
            lambda x, y: (body(x, y), (x, y)),
            lambda residuals, ct: fungrad.vjp(body, *residuals)[1](ct),
        )
    (eqn,) = fungrad.make_jaxpr(f)(x, y).eqns
    return Case((x, y), eqn.params, note=chain)


def custom_call_cases(kind: str):
    @st.composite
    def cases(draw, dtype):
        chain = tuple(draw(st.lists(st.sampled_from(sorted(_BOUNDED)), min_size=1, max_size=3)))
        x, y = draw(elementwise(real(-3, 3), real(-2, 2))(dtype)).args
        return _custom_call_case(x, y, chain, kind)

    return cases


def custom_call_recast(kind: str) -> Callable[[Case, np.dtype], Case]:
    def recast(case: Case, dtype: np.dtype) -> Case:
        x, y = case.args
        return _custom_call_case(x.astype(dtype), y.astype(dtype), case.note, kind)

    return recast


# custom_lin, the tangent of a custom_vjp call, here scales by its residual: its
# forward and its transpose are the same map.
def _scale(residuals: list[Any], xs: list[Any]) -> list[Any]:
    return [core.primitives["mul"].bind(residuals[0], xs[0])]


def _custom_lin_params(shape: tuple[int, ...], dtype: np.dtype) -> dict[str, Any]:
    return {
        "num_res": 1,
        "bwd": _scale,
        "_out_avals": (core.ShapedArray(shape, np.dtype(dtype)),),
        "_forward": _scale,
    }


@st.composite
def custom_lin_cases(draw, dtype):
    shape = draw(shapes())
    r = draw(array(dtype, shape, _floats(dtype, -2, 2)))
    t = draw(array(dtype, shape, _floats(dtype, -3, 3)))
    return Case((r, t), _custom_lin_params(shape, dtype))


def _custom_lin_recast(case: Case, dtype: np.dtype) -> Case:
    r, t = case.args
    return Case((r.astype(dtype), t.astype(dtype)), _custom_lin_params(r.shape, dtype))


# Control flow: cond, scan and while are built as a user writes them, with fungrad.lax
# under make_jaxpr, and the params of the one equation they stage are the case's. Their
# programs apply chains of the bounded functions above, so that loops stay bounded and
# smooth; the reference runs the same computation as a Python if or loop over NumPy.


def _chains(min_size: int, max_size: int) -> st.SearchStrategy[tuple[str, ...]]:
    names = st.sampled_from(sorted(_BOUNDED))
    return st.lists(names, min_size=min_size, max_size=max_size).map(tuple)


def _apply(chain: tuple[str, ...], v: Any) -> Any:
    for name in chain:
        v = core.primitives[name].bind(v)
    return v


def _apply_numpy(chain: tuple[str, ...], v: Any) -> Any:
    for name in chain:
        v = _BOUNDED[name](v)
    return v


def _only_eqn(fn: Callable, *args: Any) -> core.Eqn:
    """The one equation ``fn`` stages; its operands are ``fn``'s arguments, in order."""
    closed = fungrad.make_jaxpr(fn)(*args)
    (eqn,) = closed.eqns
    assert len(eqn.inputs) == len(closed.jaxpr.invars) and all(
        a is b for a, b in zip(eqn.inputs, closed.jaxpr.invars)
    ), f"the operands are not the arguments in order:\n{closed}"
    return eqn


@st.composite
def _broadcasting_into(draw, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts to ``shape``: leading dimensions dropped, others 1."""
    kept = shape[draw(st.integers(0, len(shape))) :]
    return tuple(1 if draw(st.booleans()) else n for n in kept)


def _cond_case(index: np.ndarray, x: np.ndarray, y: np.ndarray, chains: tuple) -> Case:
    mul = core.primitives["mul"]
    branches = [lambda x, y, chain=chain: mul.bind(x, _apply(chain, y)) for chain in chains]
    eqn = _only_eqn(lambda i, x, y: fungrad.lax.switch(i, branches, x, y), index, x, y)
    return Case((index, x, y), eqn.params, note=chains)


@st.composite
def cond_cases(draw, dtype):
    """Branch k computes ``x * chain_k(y)`` (1 to 3 branches); the index may be below
    or above the branches (clamped). Linear in ``x``."""
    chains = tuple(draw(st.lists(_chains(0, 3), min_size=1, max_size=3)))
    index_dtype = np.dtype(draw(st.sampled_from([np.int64, np.int32])))
    index = np.array(draw(st.integers(-2, len(chains) + 1)), index_dtype)
    x, y = draw(elementwise(real(-3, 3), real(-2, 2))(dtype)).args
    return _cond_case(index, x, y, chains)


def _cond_meaning(case: Case) -> np.ndarray:
    index, x, y = case.args
    chains = case.note
    if index < 0:
        k = 0
    elif index >= len(chains):
        k = len(chains) - 1
    else:
        k = int(index)
    return x * _apply_numpy(chains[k], y)


def _cond_recast(case: Case, dtype: np.dtype) -> Case:
    index, x, y = case.args
    return _cond_case(index, x.astype(dtype), y.astype(dtype), case.note)


def _scan_case(args: tuple[np.ndarray, ...], note: tuple, result: int) -> Case:
    g1, g2, g3, reverse = note
    add, mul = core.primitives["add"], core.primitives["mul"]

    def f(c, d, h0, xs, ws):
        def step(h, xw):
            x, w = xw
            h = mul.bind(h, _apply(g1, mul.bind(c, w)))
            h = add.bind(add.bind(h, mul.bind(x, _apply(g2, w))), d)
            return h, mul.bind(h, _apply(g3, w))

        return fungrad.lax.scan(step, h0, (xs, ws), reverse=reverse)

    return Case(args, _only_eqn(f, *args).params, note=note, result=result)


@st.composite
def scan_cases(draw, dtype):
    """Operands ``(c, d, h0, xs, ws)``: the constants ``c`` and ``d``, the initial
    carry ``h0``, and ``xs`` and ``ws`` scanned over (length 0 to 4, forwards or in
    reverse). Each step computes ``h = h * g1(c * w) + x * g2(w) + d`` and
    ``y = h * g3(w)``, so the final carry and the ys are jointly linear in
    ``(d, h0, xs)``. The case tests one of the two results."""
    shape = draw(shapes(max_dims=2))
    length = draw(st.integers(0, 4))
    c = draw(array(dtype, draw(_broadcasting_into(shape)), _floats(dtype, -2, 2)))
    d = draw(array(dtype, draw(_broadcasting_into(shape)), _floats(dtype, -2, 2)))
    h0 = draw(array(dtype, shape, _floats(dtype, -3, 3)))
    xs = draw(array(dtype, (length, *shape), _floats(dtype, -2, 2)))
    ws = draw(array(dtype, (length, *draw(_broadcasting_into(shape))), _floats(dtype, -2, 2)))
    note = (draw(_chains(1, 2)), draw(_chains(0, 2)), draw(_chains(0, 2)), draw(st.booleans()))
    return _scan_case((c, d, h0, xs, ws), note, draw(st.integers(0, 1)))


def _scan_meaning(case: Case) -> np.ndarray:
    c, d, h, xs, ws = case.args
    g1, g2, g3, reverse = case.note
    length = xs.shape[0]
    ys = np.zeros((length, *h.shape), h.dtype)
    for t in reversed(range(length)) if reverse else range(length):
        h = h * _apply_numpy(g1, c * ws[t]) + xs[t] * _apply_numpy(g2, ws[t]) + d
        ys[t] = h * _apply_numpy(g3, ws[t])
    return (h, ys)[case.result]


def _scan_recast(case: Case, dtype: np.dtype) -> Case:
    return _scan_case(tuple(a.astype(dtype) for a in case.args), case.note, case.result)


def _while_case(args: tuple[np.ndarray, ...], chain: tuple[str, ...]) -> Case:
    add, mul, lt = core.primitives["add"], core.primitives["mul"], core.primitives["lt"]
    convert = core.primitives["convert_element_type"]
    int_dtype, float_dtype = args[3].dtype, args[4].dtype

    def f(n, c, x, i0, v0):
        def body(carry):
            i, v = carry
            # Closed-over values become the body's leading operands as first used.
            v = mul.bind(_apply(chain, v), c)
            v = add.bind(v, mul.bind(x, convert.bind(i, new_dtype=float_dtype)))
            return add.bind(i, np.array(1, int_dtype)), v

        return fungrad.lax.while_loop(lambda carry: lt.bind(carry[0], n), body, (i0, v0))

    return Case(args, _only_eqn(f, *args).params, note=chain, result=1)


@st.composite
def while_cases(draw, dtype):
    """Operands ``(n, c, x, i0, v0)``: ``while i < n: v = g(v) * c + x * i; i += 1``
    from ``i = i0``, ``v = v0``, 0 to 5 steps. The case tests the float carry ``v``,
    which depends on the values the counter takes."""
    shape = draw(shapes(max_dims=2))
    int_dtype = np.dtype(draw(st.sampled_from([np.int64, np.int32])))
    n = np.array(draw(st.integers(-1, 4)), int_dtype)
    c = draw(array(dtype, draw(_broadcasting_into(shape)), _floats(dtype, -2, 2)))
    x = draw(array(dtype, draw(_broadcasting_into(shape)), _floats(dtype, -1, 1)))
    i0 = np.array(draw(st.integers(-1, 2)), int_dtype)
    v0 = draw(array(dtype, shape, _floats(dtype, -3, 3)))
    return _while_case((n, c, x, i0, v0), draw(_chains(1, 2)))


def _while_meaning(case: Case) -> np.ndarray:
    n, c, x, i, v = case.args
    while i < n:
        v = _apply_numpy(case.note, v) * c + x * i.astype(v.dtype)
        i = i + np.array(1, i.dtype)
    return v


def _while_recast(case: Case, dtype: np.dtype) -> Case:
    args = tuple(a.astype(dtype) if a.dtype.kind == "f" else a for a in case.args)
    return _while_case(args, case.note)


@st.composite
def eye_cases(draw, dtype):
    space = draw(st.lists(st.integers(1, 3), min_size=1, max_size=2).map(tuple))
    size = int(np.prod(space))
    offset = draw(st.integers(0, size - 1))
    count = draw(st.integers(0, size - offset))
    return Case((), {"shape": (count, *space), "offset": offset, "dtype": np.dtype(dtype)})


def _eye_meaning(case: Case) -> np.ndarray:
    p = case.params
    size = int(np.prod(p["shape"][1:]))
    rows = np.eye(size, dtype=p["dtype"])[p["offset"] : p["offset"] + p["shape"][0]]
    return rows.reshape(p["shape"])


def _eye_recast(case: Case, dtype: np.dtype) -> Case:
    return Case((), {**case.params, "dtype": np.dtype(dtype)})


# ---------------------------------------------------------------------------------------
# The rows


def unary_row(name: str, fn: Callable, spec: ElementSpec, **kw: Any) -> Row:
    return Row(name, elementwise(spec), numpy_meaning(fn), diff=(0,), elementwise=True, **kw)


def comparison_row(name: str, fn: Callable) -> Row:
    return Row(
        name,
        elementwise(comparable(), comparable()),
        numpy_meaning(fn),
        out_kind="b",
        keeps_dtype=False,
        promotes=True,
        elementwise=True,
        several_operands=True,
    )


def logical_row(name: str, fn: Callable, arity: int) -> Row:
    return Row(
        name,
        elementwise(*(boolean() for _ in range(arity))),
        numpy_meaning(fn),
        out_kind="b",
        keeps_dtype=False,
        several_operands=arity > 1,
    )


def piecewise_constant_row(name: str, fn: Callable, spec: ElementSpec) -> Row:
    return Row(
        name, elementwise(spec), numpy_meaning(fn), piecewise_constant=True, elementwise=True
    )


def binary_row(name: str, fn: Callable, x: ElementSpec, y: ElementSpec, **kw: Any) -> Row:
    return Row(
        name,
        elementwise(x, y),
        numpy_meaning(fn),
        diff=(0, 1),
        promotes=True,
        elementwise=True,
        several_operands=True,
        **kw,
    )


ROWS = [
    # arithmetic
    binary_row("add", lambda x, y: x + y, real(-3, 3), real(-3, 3), linear=((0, 1),)),
    binary_row("sub", lambda x, y: x - y, real(-3, 3), real(-3, 3), linear=((0, 1),)),
    binary_row("mul", lambda x, y: x * y, real(-3, 3), real(-3, 3), linear=((0,), (1,))),
    binary_row("div", lambda x, y: x / y, real(-3, 3), away_from_zero(0.3, 3), linear=((0,),)),
    unary_row("neg", lambda x: -x, real(-3, 3), linear=((0,),)),
    # powers: a positive base for pow; integer_pow's base clear of its pole at 0
    binary_row("pow", lambda x, y: x**y, real(0.3, 3), real(-2, 2)),
    Row(
        "integer_pow",
        elementwise(
            away_from_zero(0.3, 2), params=st.fixed_dictionaries({"y": st.integers(-2, 4)})
        ),
        numpy_meaning(lambda x, y: x**y),
        diff=(0,),
    ),
    # math functions, each inside its domain
    unary_row("exp", np.exp, real(-3, 3)),
    unary_row("log", np.log, real(0.1, 5)),
    unary_row("log1p", np.log1p, real(-0.9, 3)),
    unary_row("expm1", np.expm1, real(-3, 3)),
    unary_row("sin", np.sin, real(-3, 3)),
    unary_row("cos", np.cos, real(-3, 3)),
    unary_row("tan", np.tan, real(-1.2, 1.2)),
    unary_row("tanh", np.tanh, real(-3, 3)),
    unary_row("sinh", np.sinh, real(-3, 3)),
    unary_row("cosh", np.cosh, real(-3, 3)),
    unary_row("arctan", np.arctan, real(-3, 3)),
    unary_row("arcsin", np.arcsin, real(-0.9, 0.9)),
    unary_row("arccos", np.arccos, real(-0.9, 0.9)),
    unary_row("sqrt", np.sqrt, real(0.1, 5)),
    unary_row("abs", np.abs, away_from_zero(0.1, 3)),
    unary_row("logistic", _logistic_meaning, real(-5, 5)),
    # piecewise constant: no derivative, floating outputs
    piecewise_constant_row("sign", np.sign, away_from_zero(0.1, 3)),
    piecewise_constant_row("floor", np.floor, between_kinks()),
    piecewise_constant_row("ceil", np.ceil, between_kinks()),
    piecewise_constant_row("round", np.round, between_kinks()),
    # x // y and x % y, with x / y clear of the integers where they jump
    Row(
        "floor_divide",
        elementwise(
            between_kinks(),
            lambda dtype: (dtype, st.sampled_from([-2.0, -1.0, -0.5, 0.5, 1.0, 2.0])),
        ),
        numpy_meaning(np.floor_divide),
        piecewise_constant=True,
        promotes=True,
        elementwise=True,
        several_operands=True,
    ),
    binary_row(
        "mod",
        np.remainder,
        between_kinks(),
        lambda dtype: (dtype, st.sampled_from([-2.0, -1.0, -0.5, 0.5, 1.0, 2.0])),
    ),
    # max/min, never at a tie
    binary_row("logaddexp", np.logaddexp, real(-3, 3), real(-3, 3)),
    binary_row("max", np.maximum, off_grid(0.0), off_grid(0.25)),
    binary_row("min", np.minimum, off_grid(0.25), off_grid(0.0)),
    # comparisons and logic
    comparison_row("lt", np.less),
    comparison_row("le", np.less_equal),
    comparison_row("gt", np.greater),
    comparison_row("ge", np.greater_equal),
    comparison_row("eq", np.equal),
    comparison_row("ne", np.not_equal),
    logical_row("and", np.logical_and, 2),
    logical_row("or", np.logical_or, 2),
    logical_row("xor", np.logical_xor, 2),
    logical_row("not", np.logical_not, 1),
    Row(
        "isfinite",
        elementwise(any_float()),
        numpy_meaning(np.isfinite),
        out_kind="b",
        keeps_dtype=False,
    ),
    Row(
        "select",
        elementwise(boolean(), real(-3, 3), real(-3, 3)),
        numpy_meaning(np.where),
        diff=(1, 2),
        linear=((1, 2),),
        promotes=True,
        elementwise=True,
        several_operands=True,
    ),
    # dtype conversion (linear, so any step is exact: a large one keeps float32 rounding small)
    Row(
        "convert_element_type",
        elementwise(
            real(-3, 3), params=st.fixed_dictionaries({"new_dtype": st.sampled_from([F32, F64])})
        ),
        numpy_meaning(lambda x, new_dtype: x.astype(new_dtype)),
        diff=(0,),
        linear=((0,),),
        keeps_dtype=False,
        fd_eps=0.5,
    ),
    Row(
        "stop_gradient",
        elementwise(real(-3, 3)),
        numpy_meaning(lambda x: x),
    ),
    # reductions
    Row(
        "reduce_sum",
        reduction(distinct=False),
        numpy_meaning(lambda x, axes: np.sum(x, axis=axes)),
        diff=(0,),
        linear=((0,),),
    ),
    Row(
        "reduce_max",
        reduction(distinct=True),
        numpy_meaning(lambda x, axes: np.max(x, axis=axes)),
        diff=(0,),
    ),
    Row(
        "reduce_min",
        reduction(distinct=True),
        numpy_meaning(lambda x, axes: np.min(x, axis=axes)),
        diff=(0,),
    ),
    Row(
        "argmax",
        arg_reduction_cases,
        numpy_meaning(lambda x, axis: np.argmax(x, axis=axis)),
        out_kind="i",
        keeps_dtype=False,
    ),
    Row(
        "argmin",
        arg_reduction_cases,
        numpy_meaning(lambda x, axis: np.argmin(x, axis=axis)),
        out_kind="i",
        keeps_dtype=False,
    ),
    # shapes
    Row(
        "broadcast_in_dim",
        broadcast_in_dim_cases,
        numpy_meaning(
            lambda x, shape, broadcast_dimensions: np.broadcast_to(
                np.expand_dims(
                    x, tuple(d for d in range(len(shape)) if d not in broadcast_dimensions)
                ),
                shape,
            )
        ),
        diff=(0,),
        linear=((0,),),
    ),
    Row(
        "reshape",
        reshape_cases,
        numpy_meaning(lambda x, new_sizes: np.reshape(x, new_sizes)),
        diff=(0,),
        linear=((0,),),
    ),
    Row(
        "transpose",
        transpose_cases,
        numpy_meaning(lambda x, permutation: np.transpose(x, permutation)),
        diff=(0,),
        linear=((0,),),
    ),
    Row(
        "concatenate",
        concatenate_cases,
        numpy_meaning(lambda *xs, axis: np.concatenate(xs, axis=axis)),
        diff=(0, 1, 2),
        linear=((0, 1, 2),),
        promotes=True,
        several_operands=True,
    ),
    # indexing
    Row(
        "gather",
        gather_cases,
        lambda case: case.args[0][case.note],
        diff=(0,),
        linear=((0,),),
        several_operands=True,
    ),
    Row(
        "scatter_add",
        scatter_add_cases,
        _scatter_add_meaning,
        diff=(0,),
        linear=((0,),),
        several_operands=True,
    ),
    # operand-free constants generated inside programs
    Row("eye", eye_cases, _eye_meaning, recast=_eye_recast, operands=False),
    # contraction
    Row(
        "dot_general",
        dot_general_cases,
        numpy_meaning(_dot_general_meaning),
        diff=(0, 1),
        linear=((0,), (1,)),
        promotes=True,
        several_operands=True,
    ),
    # calls
    Row(
        "jit",
        jit_cases,
        _jit_meaning,
        diff=(0, 1),
        linear=((0,),),
        recast=_jit_recast,
        several_operands=True,
    ),
    Row(
        "checkpoint",
        checkpoint_cases,
        _checkpoint_meaning,
        diff=(0, 1),
        linear=((0,),),
        recast=_checkpoint_recast,
        several_operands=True,
    ),
    # custom derivatives
    Row(
        "custom_jvp_call",
        custom_call_cases("custom_jvp_call"),
        _jit_meaning,
        diff=(0, 1),
        recast=custom_call_recast("custom_jvp_call"),
        several_operands=True,
    ),
    Row(
        "custom_vjp_call",
        custom_call_cases("custom_vjp_call"),
        _jit_meaning,
        diff=(0, 1),
        recast=custom_call_recast("custom_vjp_call"),
        several_operands=True,
        forward_mode=False,
    ),
    Row(
        "custom_lin",
        custom_lin_cases,
        lambda case: case.args[0] * case.args[1],
        diff=(0, 1),
        linear=((1,),),
        recast=_custom_lin_recast,
        several_operands=True,
    ),
    # control flow
    Row(
        "cond",
        cond_cases,
        _cond_meaning,
        diff=(1, 2),
        linear=((1,),),
        recast=_cond_recast,
        several_operands=True,
        free_integers=True,
    ),
    Row(
        "scan",
        scan_cases,
        _scan_meaning,
        diff=(0, 1, 2, 3, 4),
        linear=((1, 2, 3),),
        recast=_scan_recast,
        several_operands=True,
    ),
    Row(
        "while",
        while_cases,
        _while_meaning,
        diff=(1, 2, 4),
        recast=_while_recast,
        several_operands=True,
        free_integers=True,
        reverse_mode=False,
    ),
]

ROW_BY_NAME = {row.name: row for row in ROWS}
DIFFERENTIABLE = [row for row in ROWS if row.diff]
FORWARD = [row for row in DIFFERENTIABLE if row.forward_mode]
REVERSE = [row for row in DIFFERENTIABLE if row.reverse_mode]
BOTH_MODES = [row for row in FORWARD if row.reverse_mode]
NON_DIFFERENTIABLE = [row for row in ROWS if not row.diff and row.operands]
WITH_OPERANDS = [row for row in ROWS if row.operands]
LINEAR = [(row, group) for row in ROWS for group in row.linear]


def rows(selection: list[Row]):
    return pytest.mark.parametrize("row", selection, ids=[row.name for row in selection])


# ---------------------------------------------------------------------------------------
# Helpers


def draw_case(data: st.DataObject, row: Row, dtype: np.dtype = F64) -> Case:
    return data.draw(row.cases(dtype), label="case")


def draw_rng(data: st.DataObject) -> np.random.Generator:
    return np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))


def single(row: Row, case: Case, out: Any) -> Any:
    """The result of a multiple-result primitive that the case tests: its one result,
    or the one ``case.result`` names."""
    if not row.primitive.multiple_results:
        return out
    if case.result is None:
        (result,) = out
        return result
    return out[case.result]


def bind(row: Row, case: Case, *args: Any) -> Any:
    return single(row, case, row.primitive.bind(*args, **case.params))


def recast(row: Row, case: Case, dtype: np.dtype) -> Case:
    """``case`` with its floating operands in ``dtype``."""
    if row.recast is not None:
        return row.recast(case, dtype)
    args = tuple(a.astype(dtype) if a.dtype.kind == "f" else a for a in case.args)
    return Case(args, case.params, case.note)


def restrict(row: Row, case: Case, which: tuple[int, ...]) -> tuple[Callable, tuple]:
    """The primitive as a function of the operands ``which``, the others held fixed."""

    def f(*xs):
        full = list(case.args)
        for i, x in zip(which, xs):
            full[i] = x
        return bind(row, case, *full)

    return f, tuple(case.args[i] for i in which)


def present(which: tuple[int, ...], case: Case) -> tuple[int, ...]:
    """``which`` without operands the case does not have (concatenate of fewer arrays)."""
    return tuple(i for i in which if i < len(case.args))


def random_like(rng: np.random.Generator, x: Any) -> np.ndarray:
    x = np.asarray(x)
    return np.asarray(rng.standard_normal(x.shape)).astype(x.dtype)


def inner(xs, ys) -> float:
    return float(
        sum(np.sum(np.asarray(x, F64) * np.asarray(y, F64)) for x, y in zip(xs, ys, strict=True))
    )


def inner_scale(xs, ys) -> float:
    """The size of an inner product's terms, to scale tolerances of sums that cancel."""
    return float(
        sum(
            np.sum(np.abs(np.asarray(x, F64) * np.asarray(y, F64)))
            for x, y in zip(xs, ys, strict=True)
        )
    )


def assert_same_aval(value: Any, aval: core.ShapedArray, what: str) -> None:
    assert (np.shape(value), np.asarray(value).dtype) == (aval.shape, aval.dtype), (
        f"{what}: got {np.shape(value)} {np.asarray(value).dtype}, expected {aval.str_short()}"
    )


def assert_close_products(
    lhs: float, rhs: float, scale: float, rtol: float, atol: float, what: str
) -> None:
    """Inner products agree relative to the size of their terms (sums may cancel)."""
    assert abs(lhs - rhs) <= rtol * scale + atol, (
        f"{what}: {lhs!r} != {rhs!r} (difference {abs(lhs - rhs):.3g}, terms of size {scale:.3g})"
    )


def dot(a: Any, b: Any) -> Any:
    """``<a, b>``, written with primitives so it adds no rule of its own to the check."""
    product = core.primitives["mul"].bind(a, b)
    return core.primitives["reduce_sum"].bind(product, axes=tuple(range(np.ndim(product))))


def scalarised(f: Callable, c: np.ndarray) -> Callable:
    """``<c, f(xs)>``: a scalar function to take gradients of."""
    return lambda *xs: dot(f(*xs), c)


# ---------------------------------------------------------------------------------------
# 1. Evaluation: eager against NumPy, staged against eager


@rows(ROWS)
@given(data=st.data())
def test_eager_bind_computes_the_numpy_meaning(row, data):
    dtype = data.draw(st.sampled_from([F64, F32]), label="dtype")
    case = draw_case(data, row, dtype)
    out = np.asarray(bind(row, case, *case.args))
    expected = np.asarray(row.reference(case))
    assert (out.shape, out.dtype) == (expected.shape, expected.dtype)
    rtol = 1e-12 if dtype == F64 else 1e-6
    np.testing.assert_allclose(out, expected, rtol=rtol, atol=rtol, equal_nan=True)


@rows(ROWS)
@given(data=st.data())
def test_staged_jaxpr_computes_eager(row, data):
    case = draw_case(data, row)
    eager = np.asarray(bind(row, case, *case.args))
    closed = fungrad.make_jaxpr(lambda *args: bind(row, case, *args))(*case.args)
    assert [eqn.primitive for eqn in closed.eqns] == [row.primitive]
    assert_same_aval(eager, closed.out_avals[0], "the staged output's aval")
    (staged,) = core.eval_jaxpr(closed.jaxpr, closed.consts, *case.args)
    staged = np.asarray(staged)
    assert (staged.shape, staged.dtype) == (eager.shape, eager.dtype)
    np.testing.assert_array_equal(staged, eager)


# ---------------------------------------------------------------------------------------
# 2. The shape/dtype rule against the implementation


@rows(ROWS)
@pytest.mark.parametrize("dtype", [F64, F32], ids=["f64", "f32"])
@given(data=st.data())
def test_abstract_eval_matches_impl(row, dtype, data):
    case = draw_case(data, row, dtype)
    avals = row.primitive.abstract_eval(*map(get_aval, case.args), **case.params)
    aval = single(row, case, avals)
    out = single(row, case, row.primitive.impl(*case.args, **case.params))
    assert_same_aval(out, aval, "impl vs abstract_eval")
    assert not aval.weak_type
    if row.keeps_dtype:
        assert aval.dtype == dtype
    assert aval.dtype.kind == row.out_kind


@rows([row for row in ROWS if row.promotes])
@given(data=st.data())
def test_abstract_eval_promotes_mixed_float_operands_as_numpy_does(row, data):
    case = draw_case(data, row)
    float_args = [i for i, a in enumerate(case.args) if a.dtype == F64]
    lowered = data.draw(st.sampled_from(float_args), label="float32 operand")
    args = tuple(a.astype(F32) if i == lowered else a for i, a in enumerate(case.args))
    aval = row.primitive.abstract_eval(*map(get_aval, args), **case.params)
    assert_same_aval(row.primitive.impl(*args, **case.params), aval, "impl vs abstract_eval")


@rows([row for row in ROWS if row.elementwise])
@given(data=st.data())
def test_python_scalar_operands_are_weakly_typed(row, data):
    """``float32_array op 2.0`` stays float32, eagerly and staged, as in NumPy."""
    case = draw_case(data, row, F32)
    float_args = [i for i, a in enumerate(case.args) if a.dtype == F32]
    i = data.draw(st.sampled_from(float_args), label="scalar operand")
    scalar = float(case.args[i].flat[0])
    others = tuple(a for j, a in enumerate(case.args) if j != i)

    def f(*rest):
        args = list(rest)
        args.insert(i, scalar)
        return bind(row, case, *args)

    eager = np.asarray(f(*others))
    expected = np.asarray(row.reference(Case(_insert(others, i, scalar), case.params)))
    assert (eager.shape, eager.dtype) == (expected.shape, expected.dtype)
    if row.keeps_dtype and others:
        assert eager.dtype == F32
    closed = fungrad.make_jaxpr(f)(*others)
    assert_same_aval(eager, closed.out_avals[0].strip_weak_type(), "staged with a Python scalar")


def _insert(values: tuple, i: int, value: Any) -> tuple:
    return (*values[:i], value, *values[i:])


# ---------------------------------------------------------------------------------------
# 3. Forward mode


@rows(FORWARD)
@given(data=st.data())
def test_jvp_matches_central_differences(row, data):
    case = draw_case(data, row)
    rng = draw_rng(data)
    f, xs = restrict(row, case, present(row.diff, case))
    ts = tuple(random_like(rng, x) for x in xs)
    out, t_out = fungrad.jvp(f, xs, ts)
    np.testing.assert_array_equal(out, f(*xs))
    assert (np.shape(t_out), np.asarray(t_out).dtype) == (np.shape(out), np.asarray(out).dtype)
    expected = numerical_jvp(f, xs, ts, eps=row.fd_eps)
    np.testing.assert_allclose(t_out, expected, rtol=FD_RTOL, atol=FD_ATOL)


@rows(FORWARD)
@given(data=st.data())
def test_jvp_in_float32_stays_float32_and_agrees_with_float64(row, data):
    case = draw_case(data, row, F32)
    rng = draw_rng(data)
    which = present(row.diff, case)
    f32, xs32 = restrict(row, case, which)
    ts32 = tuple(random_like(rng, x) for x in xs32)
    out32, t32 = fungrad.jvp(f32, xs32, ts32)
    assert np.asarray(t32).dtype == np.asarray(out32).dtype
    if row.keeps_dtype:
        assert np.asarray(t32).dtype == F32
    f64, xs64 = restrict(row, recast(row, case, F64), which)
    _, t64 = fungrad.jvp(f64, xs64, tuple(t.astype(F64) for t in ts32))
    scale = np.max(np.abs(t64), initial=1.0)
    np.testing.assert_allclose(t32, t64, rtol=F32_RTOL, atol=F32_ATOL * scale)


@pytest.mark.parametrize("name", ["max", "min"])
@given(data=st.data())
def test_max_and_min_split_the_derivative_evenly_at_ties(name, data):
    x = data.draw(hnp.arrays(F64, shapes(), elements=_floats(F64, -3, 3)), label="x")
    rng = draw_rng(data)
    tx, ty = random_like(rng, x), random_like(rng, x)
    prim = core.primitives[name]
    _, t_out = fungrad.jvp(lambda a, b: prim.bind(a, b), (x, x.copy()), (tx, ty))
    np.testing.assert_allclose(t_out, (tx + ty) / 2, rtol=1e-15)


@pytest.mark.parametrize("name", ["reduce_max", "reduce_min"])
@given(data=st.data())
def test_reduce_max_and_min_average_the_tangent_over_ties(name, data):
    shape = data.draw(shapes(min_dims=1), label="shape")
    axes = data.draw(_axes_mask(len(shape)), label="axes")
    rng = draw_rng(data)
    x = np.full(shape, 1.5)
    t = random_like(rng, x)
    prim = core.primitives[name]
    _, t_out = fungrad.jvp(lambda a: prim.bind(a, axes=axes), (x,), (t,))
    np.testing.assert_allclose(t_out, np.mean(t, axis=axes), rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------------------
# 4. Reverse mode


@rows(REVERSE)
@given(data=st.data())
def test_vjp_matches_central_differences(row, data):
    """``<vjp(c), t> == <c, J t>`` with ``J t`` from central differences."""
    case = draw_case(data, row)
    rng = draw_rng(data)
    f, xs = restrict(row, case, present(row.diff, case))
    out, f_vjp = fungrad.vjp(f, *xs)
    c = random_like(rng, out)
    cts = f_vjp(c)
    for ct, x in zip(cts, xs, strict=True):
        assert_same_aval(ct, get_aval(x), "cotangent")
    ts = tuple(random_like(rng, x) for x in xs)
    jt = numerical_jvp(f, xs, ts, eps=row.fd_eps)
    lhs, rhs = inner(cts, ts), inner([c], [jt])
    assert_close_products(
        lhs, rhs, inner_scale([c], [jt]), FD_RTOL, FD_ATOL, "<vjp(c), t> vs <c, J t>"
    )


@rows(BOTH_MODES)
@given(data=st.data())
def test_vjp_is_the_transpose_of_jvp(row, data):
    """``<vjp(c), t> == <c, jvp(t)>`` to rounding."""
    case = draw_case(data, row)
    rng = draw_rng(data)
    f, xs = restrict(row, case, present(row.diff, case))
    out, f_vjp = fungrad.vjp(f, *xs)
    c = random_like(rng, out)
    ts = tuple(random_like(rng, x) for x in xs)
    _, jt = fungrad.jvp(f, xs, ts)
    cts = f_vjp(c)
    lhs, rhs = inner(cts, ts), inner([c], [jt])
    scale = inner_scale(cts, ts) + inner_scale([c], [jt])
    rtol = EXACT_RTOL if np.asarray(out).dtype == F64 else 1e-6
    assert_close_products(lhs, rhs, scale, rtol, 0.0, "<vjp(c), t> vs <c, jvp(t)>")


# ---------------------------------------------------------------------------------------
# 5. Transposition of linear primitives


@pytest.mark.parametrize(
    ("row", "group"), LINEAR, ids=[f"{row.name}-{list(group)}" for row, group in LINEAR]
)
@given(data=st.data())
def test_linear_transpose_satisfies_the_inner_product_identity(row, group, data):
    """``<A x, y> == <x, Aᵀ y>``, and A is linear in the operands the table says."""
    case = draw_case(data, row)
    rng = draw_rng(data)
    a, xs = restrict(row, case, present(group, case))
    x = tuple(random_like(rng, v) for v in xs)
    x2 = tuple(random_like(rng, v) for v in xs)
    ax = np.asarray(a(*x))
    y = random_like(rng, ax)
    a_t = fungrad.linear_transpose(a, *xs)(y)
    assert len(a_t) == len(xs)
    for ct, v in zip(a_t, xs, strict=True):
        assert_same_aval(ct, get_aval(v), "transposed cotangent")
    exact = ax.dtype == F64
    lhs, rhs = inner([ax], [y]), inner(x, a_t)
    scale = inner_scale([ax], [y]) + inner_scale(x, a_t)
    rtol = EXACT_RTOL if exact else 1e-6
    assert_close_products(lhs, rhs, scale, rtol, 0.0, "<A x, y> vs <x, Aᵀ y>")
    # Linearity: A(2x - x2) == 2 A x - A x2, up to rounding relative to the terms.
    ax2 = np.asarray(a(*x2))
    combined = a(*(2.0 * u - v for u, v in zip(x, x2)))
    terms = np.max(2 * np.abs(ax) + np.abs(ax2), initial=1.0)
    np.testing.assert_allclose(combined, 2.0 * ax - ax2, rtol=0, atol=rtol * terms)


# ---------------------------------------------------------------------------------------
# 6. Second order


@rows(FORWARD)
@given(data=st.data())
def test_jvp_of_jvp_matches_central_differences_of_jvp(row, data):
    case = draw_case(data, row)
    rng = draw_rng(data)
    f, xs = restrict(row, case, present(row.diff, case))
    ts = tuple(random_like(rng, x) for x in xs)
    ss = tuple(random_like(rng, x) for x in xs)

    def f_jvp(*primals):
        return fungrad.jvp(f, primals, ts)[1]

    _, second = fungrad.jvp(f_jvp, xs, ss)
    expected = numerical_jvp(f_jvp, xs, ss, eps=row.fd_eps)
    np.testing.assert_allclose(second, expected, rtol=FD_RTOL, atol=FD_ATOL)


@rows(REVERSE)
@given(data=st.data())
def test_grad_of_grad_matches_central_differences_of_grad(row, data):
    """Reverse over reverse on ``<w, grad <c, f>>``, against central differences of grad."""
    case = draw_case(data, row)
    rng = draw_rng(data)
    which = present(row.diff, case)
    f, xs = restrict(row, case, which)
    c = random_like(rng, f(*xs))
    ws = tuple(random_like(rng, x) for x in xs)
    argnums = tuple(range(len(xs)))
    first = fungrad.grad(scalarised(f, c), argnums=argnums)

    def h(*primals):
        return sum(dot(g, w) for g, w in zip(first(*primals), ws, strict=True))

    hessian_w = fungrad.grad(h, argnums=argnums)(*xs)
    ss = tuple(random_like(rng, x) for x in xs)
    expected = numerical_jvp(h, xs, ss, eps=row.fd_eps)
    lhs, rhs = inner(hessian_w, ss), float(expected)
    assert_close_products(
        lhs,
        rhs,
        inner_scale(hessian_w, ss),
        FD_RTOL,
        FD_ATOL,
        "<grad <w, grad <c, f>>, s> vs numerical",
    )


@rows(DIFFERENTIABLE)
@given(data=st.data())
def test_check_grads_to_second_order(row, data):
    case = draw_case(data, row)
    f, xs = restrict(row, case, present(row.diff, case))
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    modes = ("fwd",) * row.forward_mode + ("rev",) * row.reverse_mode
    check_grads(f, xs, order=2, modes=modes, eps=row.fd_eps, seed=seed)


@rows([row for row in DIFFERENTIABLE if not row.forward_mode])
@given(data=st.data())
def test_forward_mode_of_a_reverse_mode_only_primitive_raises(row, data):
    case = draw_case(data, row)
    f, xs = restrict(row, case, present(row.diff, case))
    with pytest.raises(TypeError, match="can't apply forward-mode autodiff"):
        fungrad.jvp(f, xs, xs)


# What reverse mode through a forward-mode-only primitive raises.
FORWARD_MODE_ONLY_ERRORS = {
    "while": r"^Reverse-mode differentiation \(grad, vjp, jacrev\) does not work through "
    r"lax\.while_loop, .* Use lax\.fori_loop .*, or lax\.scan with a fixed length",
}


@rows([row for row in DIFFERENTIABLE if not row.reverse_mode])
@given(data=st.data())
def test_reverse_mode_of_a_forward_mode_only_primitive_raises(row, data):
    """vjp, and grad, raise an error that says why and what to use instead."""
    case = draw_case(data, row)
    rng = draw_rng(data)
    f, xs = restrict(row, case, present(row.diff, case))
    out, f_vjp = fungrad.vjp(f, *xs)
    with pytest.raises(NonLinearError, match=FORWARD_MODE_ONLY_ERRORS[row.name]):
        f_vjp(random_like(rng, out))
    argnums = tuple(range(len(xs)))
    with pytest.raises(NonLinearError, match=FORWARD_MODE_ONLY_ERRORS[row.name]):
        fungrad.grad(scalarised(f, random_like(rng, out)), argnums=argnums)(*xs)


@rows(FORWARD)
@given(data=st.data())
def test_linearize_evaluates_jvp(row, data):
    """The linear function linearize returns (partial evaluation: the primal part
    computed now, the tangent part staged) gives jvp's output and tangents, again
    for a second tangent."""
    case = draw_case(data, row)
    rng = draw_rng(data)
    f, xs = restrict(row, case, present(row.diff, case))
    out, f_lin = fungrad.linearize(f, *xs)
    np.testing.assert_array_equal(out, f(*xs))
    for _ in range(2):
        ts = tuple(random_like(rng, x) for x in xs)
        _, expected = fungrad.jvp(f, xs, ts)
        assert_same_result(f_lin(*ts), expected, "linearize against jvp")


# ---------------------------------------------------------------------------------------
# 7. Primitives without derivatives


@rows(NON_DIFFERENTIABLE)
@given(data=st.data())
def test_no_derivative_means_a_symbolic_zero_tangent(row, data):
    case = draw_case(data, row)
    rng = draw_rng(data)
    f, _ = restrict(row, case, tuple(range(len(case.args))))
    tangents = [
        random_like(rng, a) if dtypes.is_differentiable(a.dtype) else Zero(get_aval(a))
        for a in case.args
    ]
    (out,), (t_out,) = jvp_flat(lambda *args: [f(*args)], case.args, tangents)
    assert type(t_out) is Zero, f"{row.name}'s tangent is {t_out!r}, not a symbolic zero"
    assert np.asarray(out).dtype.kind == row.out_kind
    if row.out_kind == "f":
        assert np.asarray(out).dtype == case.args[0].dtype
    tangent_avals = [get_aval(a) if dtypes.is_differentiable(a.dtype) else None for a in case.args]
    _, linear, zero_outs = linearize_flat(lambda *args: [f(*args)], case.args, tangent_avals)
    assert zero_outs == [True] and not linear.eqns, str(linear)
    if row.piecewise_constant:
        np.testing.assert_array_equal(numerical_jvp(f, case.args, tuple(tangents)), 0.0)


@rows(NON_DIFFERENTIABLE)
@given(data=st.data())
def test_no_derivative_means_zero_cotangents(row, data):
    case = draw_case(data, row)
    rng = draw_rng(data)
    f, _ = restrict(row, case, tuple(range(len(case.args))))
    out, f_vjp = fungrad.vjp(f, *case.args)
    if dtypes.is_differentiable(np.asarray(out).dtype):
        c = random_like(rng, out)
    else:
        c = np.zeros(np.shape(out), dtypes.float0)
    for ct, a in zip(f_vjp(c), case.args, strict=True):
        assert np.shape(ct) == a.shape
        if dtypes.is_differentiable(a.dtype):
            np.testing.assert_array_equal(ct, 0.0)


@given(
    x=hnp.arrays(F64, shapes(), elements=_floats(F64, -3, 3)),
    new_dtype=st.sampled_from([np.dtype(np.int32), np.dtype(np.int64), BOOL]),
)
def test_converting_to_integer_or_bool_has_no_derivative(x, new_dtype):
    convert = core.primitives["convert_element_type"]
    (out,), (t_out,) = jvp_flat(
        lambda v: [convert.bind(v, new_dtype=new_dtype)], [x], [np.ones_like(x)]
    )
    assert np.asarray(out).dtype == new_dtype
    assert type(t_out) is Zero


# ---------------------------------------------------------------------------------------
# 8. Batching: vmap against a loop over examples
#
# A batch is several examples of one case: the same shapes, dtypes and params, other
# values. Levels of vmap are drawn outermost first; an operand mapped at some levels
# takes one value per index at those levels and shares it along the others.


class Examples:
    """New operand values for one case: same shapes, dtypes and params, other values.

    A floating or boolean operand takes its elements from the same operand of the case
    and of another case the row's strategy draws, so they stay in the operand's domain.
    Integer operands are index arrays, valid only for the dimension they index: their
    elements are resampled from their own; except in rows whose integers are valid at
    any value (``free_integers``: a clamped index, a loop bound), where they are
    taken from the other case too, so that examples of a batch choose different
    branches and run different numbers of steps.
    """

    def __init__(self, data: st.DataObject, row: Row, case: Case, dtype: np.dtype):
        other = data.draw(row.cases(dtype), label="another case")
        self.rng = draw_rng(data)
        self.case = case
        self.pools = []
        for i, a in enumerate(case.args):
            sources = [a]
            if (a.dtype.kind not in "iu" or row.free_integers) and i < len(other.args):
                sources.append(other.args[i])
            self.pools.append(np.concatenate([s.ravel() for s in sources if s.dtype == a.dtype]))

    def operand(self, i: int) -> np.ndarray:
        base = self.case.args[i]
        if base.size == 0:
            return base.copy()
        pool = self.pools[i]
        return np.asarray(pool[self.rng.integers(0, pool.size, size=base.shape)])

    def operands(self) -> tuple[np.ndarray, ...]:
        return tuple(self.operand(i) for i in range(len(self.case.args)))


@dataclasses.dataclass(frozen=True)
class Level:
    """One vmap: the batch size, each operand's mapped axis (None: not mapped), and
    where the mapped axis goes in the output."""

    size: int
    in_axes: tuple[int | None, ...]
    out_axis: int


def draw_levels(
    data: st.DataObject, case: Case, out_ndim: int, mapped: list[list[bool]]
) -> list[Level]:
    """Axes for vmap levels (outermost first); ``mapped[l][i]``: operand i is mapped at
    level l. An axis may be negative and counts the dimensions of the array that level
    sees, which has the batch axes of this level and the levels inside it."""
    depth = len(mapped)
    levels = []
    for l, mask in enumerate(mapped):
        in_axes = []
        for i, a in enumerate(case.args):
            ndim = a.ndim + sum(mapped[m][i] for m in range(l, depth))
            in_axes.append(data.draw(st.integers(-ndim, ndim - 1)) if mask[i] else None)
        out_ndim_here = out_ndim + depth - l
        level = Level(
            size=data.draw(st.integers(1, 3)),
            in_axes=tuple(in_axes),
            out_axis=data.draw(st.integers(-out_ndim_here, out_ndim_here - 1)),
        )
        note(f"vmap level {l}: {level}")
        levels.append(level)
    return levels


def draw_mapped(data: st.DataObject, n_operands: int, depth: int) -> list[list[bool]]:
    """Which operands each level maps: a random subset, never empty."""
    mapped = []
    for _ in range(depth):
        mask = data.draw(st.lists(st.booleans(), min_size=n_operands, max_size=n_operands))
        mask[data.draw(st.integers(0, n_operands - 1))] = True
        mapped.append(mask)
    return mapped


class Batch:
    """The batched operands for some levels of vmap, and the loop that is their meaning."""

    def __init__(self, row: Row, case: Case, examples: Examples, levels: list[Level]):
        self.row = row
        self.case = case
        self.examples = examples
        self.levels = levels
        self.values: list[dict[tuple[int, ...], np.ndarray]] = [{} for _ in case.args]

    def example_operand(self, i: int, index: tuple[int, ...]) -> np.ndarray:
        """Operand i of the example at ``index`` (one entry per level): the case's own
        value for the first example, a fresh one for each other index it is mapped by."""
        key = tuple(j for j, level in zip(index, self.levels) if level.in_axes[i] is not None)
        if not any(key):
            return self.case.args[i]
        if key not in self.values[i]:
            self.values[i][key] = self.examples.operand(i)
        return self.values[i][key]

    def operand(self, i: int, index: tuple[int, ...] = ()) -> np.ndarray:
        """Operand i as the vmap levels from ``len(index)`` inwards take it."""
        if len(index) == len(self.levels):
            return self.example_operand(i, index)
        level = self.levels[len(index)]
        if level.in_axes[i] is None:
            return self.operand(i, (*index, 0))
        parts = [self.operand(i, (*index, j)) for j in range(level.size)]
        return np.stack(parts, axis=level.in_axes[i])

    def operands(self) -> tuple[np.ndarray, ...]:
        return tuple(self.operand(i) for i in range(len(self.case.args)))

    def expected(self, index: tuple[int, ...] = ()) -> np.ndarray:
        """The loop: each example's result, stacked at each level's out_axis."""
        if len(index) == len(self.levels):
            args = [self.example_operand(i, index) for i in range(len(self.case.args))]
            return np.asarray(bind(self.row, self.case, *args))
        level = self.levels[len(index)]
        parts = [self.expected((*index, j)) for j in range(level.size)]
        return np.stack(parts, axis=level.out_axis)

    def vmapped(self) -> Callable:
        f = lambda *ops: bind(self.row, self.case, *ops)
        for level in reversed(self.levels):
            f = fungrad.vmap(f, in_axes=level.in_axes, out_axes=level.out_axis)
        return f


def draw_batch(data: st.DataObject, row: Row, depth: int, mapped=None) -> Batch:
    dtype = data.draw(st.sampled_from([F64, F32]), label="dtype")
    case = draw_case(data, row, dtype)
    assert len(case.args) == 1 or row.several_operands, (
        f"'{row.name}' drew several operands: set several_operands=True in its row"
    )
    if mapped is None:
        mapped = draw_mapped(data, len(case.args), depth)
    out_ndim = np.ndim(bind(row, case, *case.args))
    levels = draw_levels(data, case, out_ndim, mapped)
    return Batch(row, case, Examples(data, row, case, dtype), levels)


def assert_same_result(out: Any, expected: Any, what: str) -> None:
    """Same shape and dtype, and the same values up to rounding (a batched reduction or
    contraction may sum in another order than the loop)."""
    out, expected = np.asarray(out), np.asarray(expected)
    assert (out.shape, out.dtype) == (expected.shape, expected.dtype), (
        f"{what}: got {out.dtype}{list(out.shape)}, expected {expected.dtype}"
        f"{list(expected.shape)}"
    )
    if expected.dtype.kind != "f":
        np.testing.assert_array_equal(out, expected, err_msg=what)
        return
    rtol = 1e-13 if expected.dtype == F64 else 1e-6
    scale = np.max(np.abs(expected), initial=1.0, where=np.isfinite(expected))
    np.testing.assert_allclose(
        out, expected, rtol=rtol, atol=rtol * scale, equal_nan=True, err_msg=what
    )


@rows(WITH_OPERANDS)
@given(data=st.data())
def test_vmap_equals_stacking_a_loop_over_examples(row, data):
    """Any batch size (1 included), any operands mapped at any axis (negative included),
    the others unmapped, any out_axes."""
    batch = draw_batch(data, row, depth=1)
    out = batch.vmapped()(*batch.operands())
    assert_same_result(out, batch.expected(), "vmap against the loop")


@rows(WITH_OPERANDS)
@given(data=st.data())
def test_vmap_of_vmap_equals_a_double_loop(row, data):
    """Two batch axes; each level maps its own operands at its own axes."""
    batch = draw_batch(data, row, depth=2)
    out = batch.vmapped()(*batch.operands())
    assert_same_result(out, batch.expected(), "vmap of vmap against the double loop")


@rows(WITH_OPERANDS)
@given(data=st.data())
def test_batching_rule_applied_directly_gives_the_output_and_its_batch_dim(row, data):
    """``batch(values, dims, **params) -> (out, out_dim)``, with the dims vmap passes
    (non-negative), on concrete arrays."""
    batch = draw_batch(data, row, depth=1)
    (level,) = batch.levels
    values = list(batch.operands())
    dims = [
        None if axis is None else axis % np.ndim(value)
        for axis, value in zip(level.in_axes, values)
    ]
    out, out_dim = batch_rules[row.primitive](values, dims, **batch.case.params)
    out, out_dim = single(row, batch.case, out), single(row, batch.case, out_dim)
    assert isinstance(out, np.ndarray | np.generic), f"the rule returned {type(out).__name__}"
    assert type(out_dim) is int and 0 <= out_dim < np.ndim(out), (
        f"out_dim {out_dim!r} for an output of shape {np.shape(out)}"
    )
    assert np.shape(out)[out_dim] == level.size
    expected = np.moveaxis(batch.expected(), level.out_axis, 0)
    assert_same_result(np.moveaxis(out, out_dim, 0), expected, "the batching rule's output")


# Rows whose batching rule must broadcast an unbatched operand, and which operands
# (of the case):
# - concatenate: the result holds the unbatched operand's values once per example, so
#   they have to be copied along the batch axis (JAX broadcasts here too);
# - scatter_add: with batched index arrays each example adds the same updates at its
#   own places, and the batched scatter needs updates of the full indexed shape, the
#   shape its transpose (a gather) produces; index arrays are never broadcast.
# - scan (operand 2) and while (operands 3 and 4): a carry that a batched operand
#   makes batched in the loop has to start batched, so its initial value is broadcast
#   (JAX broadcasts here too); while's counter too when the condition is batched.
# - cond with one branch: its result does not depend on the index, so with only the
#   index batched it holds the unbatched result once per example, as concatenate.
# select is not exempt: unlike lax.select it broadcasts its operands as NumPy does,
# so an unbatched predicate or branch can stay as it is; nor is cond with several
# branches, which can choose among them with select.
BROADCASTS_UNBATCHED: dict[str, Callable[[Case, int], bool]] = {
    "concatenate": lambda case, i: True,
    "scatter_add": lambda case, i: i == 0,
    "scan": lambda case, i: i == 2,
    "while": lambda case, i: i in (3, 4),
    "cond": lambda case, i: len(case.params["branches"]) == 1,
}


def _subprogram_inputs(eqn: core.Eqn) -> list[tuple[core.ClosedJaxpr, list[Any]]]:
    """Each sub-program of ``eqn``, with the equation's inputs its inputs receive:
    cond's branches take the operands after the index, while's condition its own
    constants and the carries and its body the rest; other bodies take them all."""
    inputs, params = list(eqn.inputs), eqn.params
    if eqn.primitive.name == "cond":
        return [(branch, inputs[1:]) for branch in params["branches"]]
    if eqn.primitive.name == "while":
        n_cond, n_body = params["cond_nconsts"], params["body_nconsts"]
        carry = inputs[n_cond + n_body :]
        return [
            (params["cond_jaxpr"], inputs[:n_cond] + carry),
            (params["body_jaxpr"], inputs[n_cond:]),
        ]
    return [(body, inputs) for body in core.subjaxprs(params)]


def _broadcasts_of_unbatched(jaxpr: core.Jaxpr, batched: set, unbatched: set) -> list[core.Eqn]:
    """The broadcast_in_dim equations whose operand is computed from ``unbatched``
    variables (and constants) but not from ``batched`` ones; the bodies of calls, and
    the sub-programs of control flow, are searched too. Variables in neither set
    (exempt operands) are treated like constants."""
    batched, unbatched = set(batched), set(unbatched)
    found = []
    for eqn in jaxpr.eqns:
        inputs = [v for v in eqn.inputs if type(v) is core.Var]
        if any(v in batched for v in inputs):
            batched.update(eqn.outputs)
            continue
        if not any(v in unbatched for v in inputs):
            continue
        unbatched.update(eqn.outputs)
        if eqn.primitive.name == "broadcast_in_dim":
            found.append(eqn)
    for eqn in jaxpr.eqns:
        for body, body_inputs in _subprogram_inputs(eqn):
            pairs = list(zip(body_inputs, body.jaxpr.invars))
            found += _broadcasts_of_unbatched(
                body.jaxpr,
                {b for a, b in pairs if a in batched},
                {b for a, b in pairs if a in unbatched},
            )
    return found


def draw_case_with_several_operands(data: st.DataObject, row: Row) -> Case:
    """A case with two or more operands. gather and scatter_add often draw an index
    without index arrays (one operand): drawing again rather than filtering keeps
    hypothesis from rejecting most inputs."""
    for _ in range(20):
        case = draw_case(data, row)
        if len(case.args) >= 2:
            return case
    reject()  # practically never: 20 draws in a row without index arrays


@rows([row for row in ROWS if row.several_operands])
@given(data=st.data())
def test_vmap_leaves_unbatched_operands_unbatched(row, data):
    """With one operand batched, the batched program broadcasts none of the others (or
    anything computed from them alone), except where the row needs it (see
    BROADCASTS_UNBATCHED)."""
    case = draw_case_with_several_operands(data, row)
    chosen = data.draw(st.integers(0, len(case.args) - 1), label="the batched operand")
    mapped = [[i == chosen for i in range(len(case.args))]]
    out_ndim = np.ndim(bind(row, case, *case.args))
    batch = Batch(
        row, case, Examples(data, row, case, F64), draw_levels(data, case, out_ndim, mapped)
    )
    closed = fungrad.make_jaxpr(batch.vmapped())(*batch.operands())
    exempt = BROADCASTS_UNBATCHED.get(row.name, lambda case, i: False)
    invars = closed.jaxpr.invars
    unbatched = {v for i, v in enumerate(invars) if i != chosen and not exempt(case, i)}
    found = _broadcasts_of_unbatched(closed.jaxpr, {invars[chosen]}, unbatched)
    assert not found, (
        f"'{row.name}' batched in operand {chosen} only broadcasts an unbatched value:\n{closed}"
    )


# ---------------------------------------------------------------------------------------
# 9. jit against eager


@rows(ROWS)
@given(data=st.data())
def test_jit_computes_eager_and_again_on_new_values(row, data):
    """One trace serves new values of the same shapes; reused buffers never corrupt a
    result already returned, nor the arguments."""
    dtype = data.draw(st.sampled_from([F64, F32]), label="dtype")
    case = draw_case(data, row, dtype)
    new_args = Examples(data, row, case, dtype).operands()
    jitted = fungrad.jit(lambda *ops: bind(row, case, *ops))
    first = jitted(*case.args)
    assert_same_result(first, bind(row, case, *case.args), "jit against eager")
    first_kept = np.array(first, copy=True)
    new_kept = [a.copy() for a in new_args]
    second = jitted(*new_args)
    assert_same_result(second, bind(row, case, *new_args), "jit against eager, second call")
    assert jitted.trace_count == 1
    np.testing.assert_array_equal(first, first_kept, err_msg="the first result changed")
    for a, kept in zip(new_args, new_kept):
        np.testing.assert_array_equal(a, kept, err_msg="an argument changed")


@rows(FORWARD)
@given(data=st.data())
def test_jvp_of_jit_equals_eager(row, data):
    case = draw_case(data, row)
    rng = draw_rng(data)
    f, xs = restrict(row, case, present(row.diff, case))
    ts = tuple(random_like(rng, x) for x in xs)
    out, t_out = fungrad.jvp(f, xs, ts)
    jit_out, jit_t_out = fungrad.jvp(fungrad.jit(f), xs, ts)
    assert_same_result(jit_out, out, "jvp of jit: the primal output")
    assert_same_result(jit_t_out, t_out, "jvp of jit: the tangent")


@rows(REVERSE)
@given(data=st.data())
def test_grad_of_jit_and_jit_of_grad_equal_eager(row, data):
    case = draw_case(data, row)
    rng = draw_rng(data)
    f, xs = restrict(row, case, present(row.diff, case))
    c = random_like(rng, f(*xs))
    argnums = tuple(range(len(xs)))
    grads = fungrad.grad(scalarised(f, c), argnums=argnums)(*xs)
    grads_of_jit = fungrad.grad(scalarised(fungrad.jit(f), c), argnums=argnums)(*xs)
    jit_of_grads = fungrad.jit(fungrad.grad(scalarised(f, c), argnums=argnums))(*xs)
    for i, g in enumerate(grads):
        assert_same_result(grads_of_jit[i], g, f"grad of jit, operand {i}")
        assert_same_result(jit_of_grads[i], g, f"jit of grad, operand {i}")


# ---------------------------------------------------------------------------------------
# Completeness: a primitive without a row, or without a rule it needs, is a red test


def _builtin_primitives() -> list[str]:
    """The primitives ``import fungrad`` registers, in a fresh interpreter: users' own
    (tests/test_extend.py, docs/extend.md) register more in this one."""
    out = subprocess.run(
        [sys.executable, "-c", "import fungrad; print(*sorted(fungrad.core.primitives))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


BUILTIN_PRIMITIVES = _builtin_primitives()


def test_every_registered_primitive_has_a_row():
    registered = set(BUILTIN_PRIMITIVES)
    missing = sorted(registered - set(ROW_BY_NAME))
    unknown = sorted(set(ROW_BY_NAME) - registered)
    assert not missing, f"primitives without a row in tests/test_primitives.py: {missing}"
    assert not unknown, f"rows for primitives that are not registered: {unknown}"
    assert len(ROW_BY_NAME) == len(ROWS), "a primitive has two rows"


@pytest.mark.parametrize("name", BUILTIN_PRIMITIVES)
def test_every_registered_primitive_has_impl_shape_jvp_and_batching_rules(name):
    prim = core.primitives[name]
    rules = {
        "impl": prim.impl,
        "abstract_eval": prim.abstract_eval,
        "jvp": jvp_rules.get(prim),
        "batch": batch_rules.get(prim),
    }
    for rule, found in rules.items():
        assert callable(found), f"primitive '{name}' has no {rule} rule"


@rows(ROWS)
def test_transpose_rule_exactly_where_the_row_declares_linearity(row):
    """A forward-mode-only primitive is linear in nothing; the transpose rule it may
    have only raises (test_reverse_mode_of_a_forward_mode_only_primitive_raises)."""
    has_rule = row.primitive in transpose_rules
    if not row.reverse_mode:
        assert not row.linear, f"'{row.name}' has no reverse mode, so no transposition"
    else:
        assert has_rule == bool(row.linear), (
            f"'{row.name}': transpose rule {'present' if has_rule else 'missing'}, but its "
            f"row declares linear operand groups {row.linear}"
        )
    assert all(i in row.diff for group in row.linear for i in group)
