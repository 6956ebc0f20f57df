"""The primitive table's core: cases, rows and strategies (tests/test_primitives.py runs
the properties over every row).

Each row gives a hypothesis strategy drawing valid operands and params, the
primitive's NumPy meaning, and which operands are differentiable and which it is
linear in (see :class:`Row`). Families of primitives may keep their rows in modules of
their own (``rows_*.py``), built from the pieces here; test_primitives.py collects them.
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fungrad
from fungrad import core
from fungrad.primitives.indexing import ARRAY, StaticIndex

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
