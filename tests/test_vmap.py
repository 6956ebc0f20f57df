"""Tests for fungrad.vmap: semantics against a Python loop, unbatched operands staying
unbatched, composition with the other transformations, and the error messages.

The central property: for any function ``f``, any ``in_axes``/``out_axes`` and any batch
size, ``vmap(f)(xs)`` equals ``np.stack([f(x) for x in xs], out_axis)``. A table of
hypothesis strategies, one row per kind of operation, draws the function and the
per-example argument shapes; the driver draws the axes and the values.
"""

from __future__ import annotations

import dataclasses
import importlib
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose

import fungrad
import fungrad.numpy as fnp
from fungrad import grad, jacfwd, jacrev, jvp, linearize, make_jaxpr, nn, value_and_grad, vmap
from fungrad.errors import ConcretizationError
from fungrad.test_util import numerical_jacobian
from fungrad.tree_util import tree_leaves, tree_map, tree_structure

RTOL = 1e-10
ATOL = 1e-12


def assert_same(actual: Any, expected: Any) -> None:
    """Same pytree structure; each leaf the same shape, dtype and (nearly) the same values."""
    assert tree_structure(actual) == tree_structure(expected)
    for a, e in zip(tree_leaves(actual), tree_leaves(expected)):
        a, e = np.asarray(a), np.asarray(e)
        assert a.shape == e.shape, (a.shape, e.shape)
        assert a.dtype == e.dtype, (a.dtype, e.dtype)
        assert_allclose(a, e, rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------------------------------------
# Arguments: what one example of each argument looks like


@dataclasses.dataclass(frozen=True)
class Arg:
    """One example of one argument: its shape and the kind of values it holds.

    kind: "float" (standard normal), "positive" (in [0.5, 2)), "index" (integers in
    [-high, high), valid indices for an axis of size ``high``).
    """

    shape: tuple[int, ...]
    kind: str = "float"
    high: int = 1


def draw_values(rng: np.random.Generator, arg: Arg, lead: tuple[int, ...]) -> np.ndarray:
    shape = lead + arg.shape
    if arg.kind == "float":
        return rng.standard_normal(shape)
    if arg.kind == "positive":
        return rng.uniform(0.5, 2.0, shape)
    assert arg.kind == "index"
    return rng.integers(-arg.high, arg.high, shape)


# ---------------------------------------------------------------------------------------
# The reference: batched arguments and a Python loop for any number of vmap levels.
#
# levels, outermost first, are (size, in_axes per argument, out_axis). Every argument
# starts as one array of shape (size_0, ..., size_L-1, *example_shape); a level where
# the argument is not mapped uses only index 0 there, so the value is shared.


@dataclasses.dataclass
class Level:
    size: int
    in_axes: list[int | None]
    out_axis: int


def batch_argument(base: np.ndarray, axes: list[int | None]) -> np.ndarray:
    """The array given to the outermost vmap, from ``base`` with one leading dim per level."""
    a = base
    for depth in reversed(range(len(axes))):
        axis = axes[depth]
        if axis is None:
            a = a[(slice(None),) * depth + (0,)]
        else:
            rest = a.ndim - depth  # the example's ndim, with this level's axis still in front
            a = np.moveaxis(a, depth, depth + axis % rest)
    return a


def example_argument(base: np.ndarray, axes: list[int | None], index: tuple[int, ...]):
    return base[tuple(0 if axis is None else i for axis, i in zip(axes, index))]


def loop_reference(fun: Callable, bases: list[np.ndarray], levels: list[Level]) -> np.ndarray:
    """``fun`` applied example by example, stacked innermost level first."""

    def at(prefix: tuple[int, ...]) -> np.ndarray:
        depth = len(prefix)
        if depth == len(levels):
            per_arg_axes = [[lv.in_axes[k] for lv in levels] for k in range(len(bases))]
            args = [example_argument(b, ax, prefix) for b, ax in zip(bases, per_arg_axes)]
            return np.asarray(fun(*args))
        results = [at(prefix + (i,)) for i in range(levels[depth].size)]
        return np.stack(results, axis=levels[depth].out_axis)

    return at(())


def vmapped(fun: Callable, levels: list[Level], pass_int: bool) -> Callable:
    for level in reversed(levels):
        mapped = any(a is not None for a in level.in_axes)
        in_axes: Any = tuple(level.in_axes)
        if pass_int and len(set(level.in_axes)) == 1:
            in_axes = level.in_axes[0]  # one int (or None) for every argument
        fun = vmap(
            fun,
            in_axes=in_axes,
            out_axes=level.out_axis,
            axis_size=None if mapped else level.size,
        )
    return fun


def check_against_loop(
    data: st.DataObject,
    fun: Callable,
    args: list[Arg],
    depth: int,
    wrap: Callable[[Callable], Callable] = lambda f: f,
) -> None:
    """vmap(fun) (nested ``depth`` deep, then passed through ``wrap``) against the loop."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    sizes = [data.draw(st.integers(1, 3), label=f"size{d}") for d in range(depth)]
    # in_axes per level: the example's ndim grows by one for each inner mapped level.
    axes_per_level: list[list[int | None]] = [[] for _ in range(depth)]
    for arg in args:
        ndim = len(arg.shape)
        for d in reversed(range(depth)):
            axis = data.draw(st.none() | st.integers(-(ndim + 1), ndim), label="in_axis")
            axes_per_level[d].append(axis)
            ndim += axis is not None
    bases = [draw_values(rng, a, tuple(sizes)) for a in args]
    example = [example_argument(b, [None] * depth, (0,) * depth) for b in bases]
    out_ndim = np.ndim(fun(*example))
    levels = []
    for d in reversed(range(depth)):
        nd = out_ndim + (depth - 1 - d)
        out_axis = data.draw(st.integers(-(nd + 1), nd), label="out_axis")
        levels.insert(0, Level(sizes[d], axes_per_level[d], out_axis))
    batched_args = [
        batch_argument(b, [lv.in_axes[k] for lv in levels]) for k, b in enumerate(bases)
    ]
    expected = loop_reference(fun, bases, levels)
    batched_fun = vmapped(fun, levels, data.draw(st.booleans(), label="pass_int"))
    actual = wrap(batched_fun)(*batched_args)
    assert_same(actual, expected)


# ---------------------------------------------------------------------------------------
# The table: each row a strategy drawing (function, per-example arguments)

shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
nonscalar_shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)

UNARY = {
    "sin": fnp.sin,
    "exp": fnp.exp,
    "tanh": fnp.tanh,
    "abs": fnp.abs,
    "negative": lambda x: -x,
    "cube": lambda x: x**3,
    "square": fnp.square,
    "scale_shift": lambda x: 2.0 * x + 1,
    "rsub_scalar": lambda x: 1.0 - x,
    "sigmoid": nn.sigmoid,
    "relu": nn.relu,
    "softplus": nn.softplus,
    "floor": fnp.floor,
    "sign": fnp.sign,
    "to_float32": lambda x: fnp.astype(x, np.float32),
    "stop_gradient": fnp.stop_gradient,
    "is_positive": lambda x: x > 0,
}
UNARY_POSITIVE = {
    "log": fnp.log,
    "sqrt": fnp.sqrt,
    "log1p": fnp.log1p,
    "pow_half": lambda x: x**0.5,
    "reciprocal": lambda x: 1.0 / x,
}
BINARY = {
    "add": fnp.add,
    "subtract": lambda x, y: x - y,
    "multiply": lambda x, y: x * y,
    "maximum": fnp.maximum,
    "minimum": fnp.minimum,
    "less": lambda x, y: x < y,
    "where_positive": lambda x, y: fnp.where(x > 0, x, y),
}
BINARY_POSITIVE_RHS = {
    "divide": lambda x, y: x / y,
    "power": lambda x, y: fnp.power(y, x),
}


@st.composite
def unary_case(draw):
    name = draw(st.sampled_from(sorted(UNARY)))
    return UNARY[name], [Arg(draw(shapes))]


@st.composite
def unary_positive_case(draw):
    name = draw(st.sampled_from(sorted(UNARY_POSITIVE)))
    return UNARY_POSITIVE[name], [Arg(draw(shapes), "positive")]


@st.composite
def binary_case(draw):
    # Operands of different ranks: an unbatched operand may be of lower or higher rank.
    (sx, sy), _ = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3))
    if draw(st.booleans()):
        name = draw(st.sampled_from(sorted(BINARY)))
        return BINARY[name], [Arg(sx), Arg(sy)]
    name = draw(st.sampled_from(sorted(BINARY_POSITIVE_RHS)))
    return BINARY_POSITIVE_RHS[name], [Arg(sx), Arg(sy, "positive")]


@st.composite
def where_case(draw):
    shapes3, _ = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3))
    return (lambda c, x, y: fnp.where(c > 0, x, y)), [Arg(s) for s in shapes3]


def axis_argument(draw, ndim: int):
    """None, an int (maybe negative), or a tuple of distinct axes."""
    if ndim == 0:
        return draw(st.sampled_from([None, ()]))
    one = st.integers(-ndim, ndim - 1)
    several = st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim).map(
        lambda axes: tuple(a - ndim if i % 2 else a for i, a in enumerate(axes))
    )
    return draw(st.none() | one | several)


REDUCTIONS = {"sum": fnp.sum, "mean": fnp.mean, "max": fnp.max, "min": fnp.min, "var": fnp.var}


@st.composite
def reduction_case(draw):
    shape = draw(nonscalar_shapes)
    name = draw(st.sampled_from(sorted(REDUCTIONS)))
    axis = axis_argument(draw, len(shape))
    keepdims = draw(st.booleans())
    reduce = REDUCTIONS[name]
    return (lambda x: reduce(x, axis=axis, keepdims=keepdims)), [Arg(shape)]


@st.composite
def arg_reduction_case(draw):
    shape = draw(nonscalar_shapes)
    reduce = draw(st.sampled_from([fnp.argmax, fnp.argmin]))
    axis = draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    keepdims = draw(st.booleans())
    return (lambda x: reduce(x, axis=axis, keepdims=keepdims)), [Arg(shape)]


sides = st.integers(1, 3)


@st.composite
def matmul_case(draw):
    n, k, m, b = (draw(sides) for _ in range(4))
    lhs, rhs = draw(
        st.sampled_from(
            [
                ((n, k), (k, m)),
                ((k,), (k, m)),
                ((n, k), (k,)),
                ((k,), (k,)),
                ((b, n, k), (k, m)),
                ((n, k), (b, k, m)),
                ((b, n, k), (b, k, m)),
                ((b, n, k), (1, k, m)),
                ((k,), (b, k, m)),
                ((b, n, k), (k,)),
            ]
        )
    )
    return (lambda x, y: x @ y), [Arg(lhs), Arg(rhs)]


@st.composite
def dot_case(draw):
    n, k, m, j, p = (draw(sides) for _ in range(5))
    lhs, rhs = draw(
        st.sampled_from(
            [
                ((n, k), (k, m)),
                ((k,), (k,)),
                ((n, k), (k,)),
                ((k,), (k, m)),
                ((j, n, k), (m, k, p)),  # N-d dot: last axis with the second-to-last
            ]
        )
    )
    return fnp.dot, [Arg(lhs), Arg(rhs)]


@st.composite
def tensordot_case(draw):
    a, b, c, d = (draw(sides) for _ in range(4))
    lhs, rhs, axes = draw(
        st.sampled_from(
            [
                ((a, b), (b, c), 1),
                ((a, b, c), (b, c, d), 2),
                ((a, b), (c, d), 0),
                ((a, b, c), (c, d, a), ([0, 2], [2, 0])),
                ((a, b, c), (d, b), ([-2], [-1])),
            ]
        )
    )
    return (lambda x, y: fnp.tensordot(x, y, axes=axes)), [Arg(lhs), Arg(rhs)]


@st.composite
def inner_outer_case(draw):
    k, n = draw(sides), draw(sides)
    if draw(st.booleans()):
        return fnp.inner, [Arg((n, k)), Arg((k,))]
    return fnp.outer, [Arg((k,)), Arg((n,))]


@st.composite
def reshape_case(draw):
    shape = draw(shapes)
    size = int(np.prod(shape, dtype=np.int64))
    targets = [(size,), (-1,), shape[::-1], (1, size), (size, 1)]
    if len(shape) >= 2:
        targets += [(shape[0], -1), (-1, shape[-1]), (shape[0] * shape[1], *shape[2:])]
    target = draw(st.sampled_from(targets))
    return (lambda x: fnp.reshape(x, target)), [Arg(shape)]


@st.composite
def transpose_case(draw):
    shape = draw(shapes)
    nd = len(shape)
    choice = draw(st.sampled_from(["perm", "default", "T", "moveaxis", "swapaxes"]))
    if choice == "perm":
        perm = tuple(draw(st.permutations(range(nd))))
        return (lambda x: fnp.transpose(x, perm)), [Arg(shape)]
    if choice == "default":
        return fnp.transpose, [Arg(shape)]
    if choice == "T":
        return (lambda x: x.T), [Arg(shape)]
    shape = shape or (2,)
    nd = len(shape)
    i, j = (draw(st.integers(-nd, nd - 1)) for _ in range(2))
    if choice == "moveaxis":
        return (lambda x: fnp.moveaxis(x, i, j)), [Arg(shape)]
    return (lambda x: fnp.swapaxes(x, i, j)), [Arg(shape)]


@st.composite
def expand_squeeze_case(draw):
    shape = draw(shapes)
    nd = len(shape)
    if draw(st.booleans()):
        axis = draw(st.integers(-(nd + 1), nd))
        return (lambda x: fnp.expand_dims(x, axis)), [Arg(shape)]
    with_ones = list(shape)
    for _ in range(draw(st.integers(1, 2))):
        with_ones.insert(draw(st.integers(0, len(with_ones))), 1)
    ones = [i for i, s in enumerate(with_ones) if s == 1]
    axis = draw(st.none() | st.sampled_from(ones))
    return (lambda x: fnp.squeeze(x, axis)), [Arg(tuple(with_ones))]


@st.composite
def concatenate_case(draw):
    shape = list(draw(nonscalar_shapes))
    nd = len(shape)
    axis = draw(st.integers(-nd, nd - 1))
    count = draw(st.integers(1, 3))
    args = []
    for _ in range(count):
        shape[axis] = draw(sides)
        args.append(Arg(tuple(shape)))
    return (lambda *xs: fnp.concatenate(xs, axis=axis)), args


@st.composite
def stack_case(draw):
    shape = draw(shapes)
    nd = len(shape)
    axis = draw(st.integers(-(nd + 1), nd))
    count = draw(st.integers(1, 3))
    return (lambda *xs: fnp.stack(xs, axis=axis)), [Arg(shape)] * count


@st.composite
def broadcast_to_case(draw):
    shape = draw(shapes)
    target = tuple(s if draw(st.booleans()) else s for s in shape)
    target = tuple(draw(sides) if s == 1 else s for s in target)
    target = tuple(draw(st.lists(sides, max_size=2))) + target
    if draw(st.booleans()):
        return (lambda x: fnp.broadcast_to(x, target)), [Arg(shape)]
    return fnp.ravel, [Arg(shape)]


@st.composite
def basic_index_case(draw):
    shape = draw(nonscalar_shapes)
    index = draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    return (lambda x: x[index]), [Arg(shape)]


# Integer-array ("fancy") indexing of a 4-d array. "A" is an index array (an argument of
# the function, so it may be batched or not), ":" a full slice, "I" an int, "1:" a slice.
FANCY_TEMPLATES = [
    ("A",),
    (":", "A"),
    ("A", "A"),
    (":", "A", "A"),
    (":", "A", ":", "A"),  # x[:, i, :, j]: not adjacent, the block goes first
    ("A", ":", "A"),  # x[i, :, j]
    ("...", "A"),
    ("A", "...", "A"),
    ("I", ":", "A"),  # an int counts as an array index: not adjacent
    (":", "A", "I"),  # adjacent with an int
    ("A", None, "A"),
    (None, "A", "1:"),
    (":", "A", "...", None),
    ("A", "A", "A", "A"),
    ("1:", "A", "A", "::-1"),
]


def _indexed_axes(template: tuple, ndim: int) -> list[int | None]:
    """The axis of the array that each entry of the template indexes (None: consumes none)."""
    consuming = [t for t in template if t not in (None, "...")]
    axes: list[int | None] = []
    axis = 0
    for t in template:
        if t is None:
            axes.append(None)
        elif t == "...":
            axes.append(None)
            axis = ndim - (len(consuming) - sum(a is not None for a in axes))
        else:
            axes.append(axis)
            axis += 1
    return axes


INDEX_ARRAY = object()
SLICES = {":": slice(None), "1:": slice(1, None), "::-1": slice(None, None, -1)}


@st.composite
def fancy_index_case(draw):
    shape = tuple(draw(st.lists(sides, min_size=4, max_size=4)))
    template = draw(st.sampled_from(FANCY_TEMPLATES))
    axes = _indexed_axes(template, len(shape))
    n_arrays = template.count("A")
    index_shapes, _ = draw(
        hnp.mutually_broadcastable_shapes(num_shapes=n_arrays, max_dims=2, max_side=3)
    )
    index_shapes = iter(index_shapes)
    args = [Arg(shape)]
    static: list[Any] = []
    for t, axis in zip(template, axes):
        if t == "A":
            args.append(Arg(next(index_shapes), "index", shape[axis]))
            static.append(INDEX_ARRAY)
        elif t == "I":
            static.append(draw(st.integers(-shape[axis], shape[axis] - 1)))
        elif t == "...":
            static.append(Ellipsis)
        elif t is None:
            static.append(None)
        else:
            static.append(SLICES[t])

    def index(x, *arrays):
        it = iter(arrays)
        # fnp.getitem, since x may be a plain ndarray when only the indices are batched
        return fnp.getitem(x, tuple(next(it) if s is INDEX_ARRAY else s for s in static))

    return index, args


@st.composite
def take_case(draw):
    shape = draw(nonscalar_shapes)
    nd = len(shape)
    axis = draw(st.integers(-nd, nd - 1))
    idx_shape = draw(st.lists(sides, max_size=2).map(tuple))
    if draw(st.booleans()):
        return (lambda x, i: fnp.take(x, i, axis=axis)), [
            Arg(shape),
            Arg(idx_shape, "index", shape[axis]),
        ]
    along = list(shape)
    along[axis] = draw(sides)
    return (lambda x, i: fnp.take_along_axis(x, i, axis=axis)), [
        Arg(shape),
        Arg(tuple(along), "index", shape[axis]),
    ]


@st.composite
def nn_case(draw):
    shape = draw(nonscalar_shapes)
    nd = len(shape)
    axis = draw(st.integers(-nd, nd - 1))
    kind = draw(st.sampled_from(["softmax", "log_softmax", "logsumexp", "xent", "mse", "mlp"]))
    if kind == "softmax":
        return (lambda x: nn.softmax(x, axis=axis)), [Arg(shape)]
    if kind == "log_softmax":
        return (lambda x: nn.log_softmax(x, axis=axis)), [Arg(shape)]
    if kind == "logsumexp":
        keepdims = draw(st.booleans())
        return (lambda x: nn.logsumexp(x, axis=axis, keepdims=keepdims)), [Arg(shape)]
    n, c = draw(sides), draw(st.integers(2, 4))
    if kind == "xent":
        labels = Arg((n,), "index", c)
        return nn.softmax_cross_entropy_with_integer_labels, [Arg((n, c)), labels]
    if kind == "mse":
        return nn.mse, [Arg((n, c)), Arg((n, c))]
    params = nn.init_mlp(np.random.default_rng(0), [c, 4, 2])
    return (lambda x: nn.mlp(params, x, activation=fnp.tanh)), [Arg((n, c))]


CASES = {
    "unary": unary_case(),
    "unary_positive": unary_positive_case(),
    "binary_broadcasting": binary_case(),
    "where": where_case(),
    "reduction": reduction_case(),
    "argmax_argmin": arg_reduction_case(),
    "matmul": matmul_case(),
    "dot": dot_case(),
    "tensordot": tensordot_case(),
    "inner_outer": inner_outer_case(),
    "reshape": reshape_case(),
    "transpose_moveaxis": transpose_case(),
    "expand_squeeze": expand_squeeze_case(),
    "concatenate": concatenate_case(),
    "stack": stack_case(),
    "broadcast_to_ravel": broadcast_to_case(),
    "basic_index": basic_index_case(),
    "fancy_index": fancy_index_case(),
    "take": take_case(),
    "nn": nn_case(),
}


@pytest.mark.parametrize("case", sorted(CASES))
@given(data=st.data())
def test_vmap_equals_stacking_a_loop(case, data):
    fun, args = data.draw(CASES[case], label="case")
    check_against_loop(data, fun, args, depth=1)


NESTED = ["binary_broadcasting", "reduction", "matmul", "fancy_index", "take", "concatenate"]


@pytest.mark.parametrize("case", NESTED)
@given(data=st.data())
def test_vmap_of_vmap_with_different_axes_equals_a_double_loop(case, data):
    fun, args = data.draw(CASES[case], label="case")
    check_against_loop(data, fun, args, depth=2)


@pytest.mark.parametrize("case", ["binary_broadcasting", "matmul", "fancy_index", "nn"])
@given(data=st.data())
def test_vmap_of_jit_and_jit_of_vmap_equal_a_loop(case, data):
    fun, args = data.draw(CASES[case], label="case")
    if data.draw(st.booleans(), label="jit_outside"):
        check_against_loop(data, fun, args, depth=1, wrap=fungrad.jit)
    else:
        check_against_loop(data, fungrad.jit(fun), args, depth=1)


DIFFERENTIABLE = [
    "reduction",
    "matmul",
    "dot",
    "tensordot",
    "reshape",
    "transpose_moveaxis",
    "concatenate",
    "stack",
    "broadcast_to_ravel",
    "basic_index",
    "fancy_index",
    "take",
    "where",
    "nn",
]


def scalar_loss(fun: Callable) -> Callable:
    return lambda *args: fnp.sum(fnp.sin(fun(*args)))


@pytest.mark.parametrize("case", DIFFERENTIABLE)
@given(data=st.data())
def test_vmap_of_grad_equals_a_loop_of_grad(case, data):
    # Batches the rules of everything reverse mode emits: transposes, scatter_add, ...
    fun, args = data.draw(CASES[case], label="case")
    check_against_loop(data, grad(scalar_loss(fun)), args, depth=1)


@pytest.mark.parametrize("case", DIFFERENTIABLE)
@given(data=st.data())
def test_grad_of_vmap_equals_grad_of_a_loop(case, data):
    fun, args = data.draw(CASES[case], label="case")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    size = data.draw(st.integers(1, 3), label="size")
    axes = [
        data.draw(st.none() | st.integers(-(len(a.shape) + 1), len(a.shape)), label="in_axis")
        for a in args
    ]
    axes[0] = data.draw(st.integers(-(len(args[0].shape) + 1), len(args[0].shape)))
    batched = [batch_argument(draw_values(rng, a, (size,)), [axis]) for a, axis in zip(args, axes)]

    def through_vmap(x, *rest):
        return fnp.sum(fnp.sin(vmap(fun, in_axes=tuple(axes))(x, *rest)))

    def through_loop(x, *rest):
        total = 0.0
        for i in range(size):
            example = [
                a if axis is None else fnp.take(a, i, axis=axis)
                for a, axis in zip((x, *rest), axes)
            ]
            total = total + scalar_loss(fun)(*example)
        return total

    assert_same(grad(through_vmap)(*batched), grad(through_loop)(*batched))


def test_the_loop_reference_batches_arguments_as_intended():
    base = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    batched = batch_argument(base, [1, -1])  # outer axis 1, inner axis -1
    # inner: example (4,) -> (4, 3); outer: (4, 3) -> (4, 2, 3)
    assert batched.shape == (4, 2, 3)
    for j, i in itertools.product(range(2), range(3)):
        assert_allclose(batched[:, j, i], example_argument(base, [1, -1], (j, i)))
    assert batch_argument(base, [None, 0]).shape == (3, 4)


# ---------------------------------------------------------------------------------------
# A few pinned examples of the semantics, readable without the machinery above


def test_vmap_of_matrix_vector_product_over_rows():
    xs = np.arange(12.0).reshape(4, 3)
    w = np.array([1.0, -1.0, 2.0])
    out = vmap(lambda x, w: fnp.dot(x, w), in_axes=(0, None))(xs, w)
    assert_same(out, xs @ w)


def test_vmap_over_a_negative_axis_and_out_axes():
    x = np.arange(24.0).reshape(2, 3, 4)
    out = vmap(lambda row: fnp.sum(row * row), in_axes=-1)(x)
    assert_same(out, np.sum(x * x, axis=(0, 1)))
    moved = vmap(lambda m: m.T, in_axes=1, out_axes=-1)(x)
    assert_same(moved, np.stack([x[:, i].T for i in range(3)], axis=-1))


def test_fancy_index_with_non_adjacent_index_arrays_matches_numpy():
    x = np.arange(5 * 3 * 4 * 2 * 3.0).reshape(5, 3, 4, 2, 3)
    i = np.array([[0, 2], [1, 1]])
    j = np.array([1, 0])
    out = vmap(lambda x: x[:, i, :, j])(x)  # example x: (3, 4, 2, 3); result (2, 2, 3, 2)
    assert_same(out, np.stack([xi[:, i, :, j] for xi in x]))
    batched_i = np.stack([i, i[::-1], i.T])
    out = vmap(lambda x, i: x[i, :, j], in_axes=(1, 0))(x, batched_i)
    assert_same(out, np.stack([x[:, b][i_b, :, j] for b, i_b in enumerate(batched_i)]))


def test_vmap_of_scalars_and_of_a_function_returning_a_constant():
    assert_same(vmap(lambda x: x * 2.0)(np.arange(3.0)), np.arange(3.0) * 2.0)
    assert_same(vmap(lambda x: 5.0)(np.arange(3.0)), np.full(3, 5.0))
    assert_same(vmap(lambda x: np.ones(2))(np.arange(3.0)), np.ones((3, 2)))


def test_vmap_preserves_dtypes():
    x32 = np.arange(6, dtype=np.float32).reshape(3, 2)
    assert vmap(lambda x: fnp.sin(x) * 2.0)(x32).dtype == np.float32
    assert vmap(lambda x: x @ np.ones((2, 2), np.float32))(x32).dtype == np.float32
    ints = np.arange(6).reshape(3, 2)
    assert vmap(lambda i: i * 2 + 1)(ints).dtype == ints.dtype
    assert vmap(fnp.argmax)(x32).dtype == np.int64


# ---------------------------------------------------------------------------------------
# in_axes and out_axes as pytree prefixes; kwargs; axis_size; out_axes=None


def test_in_axes_as_a_tuple_of_dicts_and_lists_with_none_entries():
    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal((3, 2)), "b": rng.standard_normal((4, 2))}
    xs = [rng.standard_normal((4, 3)), rng.standard_normal((3, 4))]

    def f(params, xs):
        return fnp.tanh(xs[0] @ params["w"] + params["b"]) * fnp.sum(xs[1])

    out = vmap(f, in_axes=({"w": None, "b": 0}, [0, 1]))(params, xs)
    expected = np.stack(
        [np.tanh(xs[0][i] @ params["w"] + params["b"][i]) * np.sum(xs[1][:, i]) for i in range(4)]
    )
    assert_same(out, expected)
    # A list works as the top-level tuple, and None maps a whole subtree to "unbatched".
    out = vmap(f, in_axes=[{"w": None, "b": 0}, [0, 1]])(params, xs)
    assert_same(out, expected)
    shared = vmap(lambda p, x: f(p, [x, xs[1][:, 0]]), in_axes=(None, 0))(
        {"w": params["w"], "b": params["b"][0]}, xs[0]
    )
    assert_same(
        shared,
        np.stack([np.tanh(x @ params["w"] + params["b"][0]) * np.sum(xs[1][:, 0]) for x in xs[0]]),
    )


def test_in_axes_prefix_applies_one_axis_to_a_whole_subtree():
    tree = {"a": np.arange(6.0).reshape(2, 3), "b": (np.arange(3.0), np.ones((4, 3)))}
    out = vmap(lambda t: t["a"].sum(0) + t["b"][0] + t["b"][1].sum(0), in_axes=(-1,))(tree)
    expected = np.stack(
        [tree["a"][:, i].sum() + tree["b"][0][i] + tree["b"][1][:, i].sum() for i in range(3)]
    )
    assert_same(out, expected)


def test_out_axes_as_a_pytree_prefix():
    xs = np.arange(6.0).reshape(3, 2)
    out = vmap(
        lambda x: {"a": fnp.outer(x, x), "b": (x, x.sum())},
        out_axes={"a": -1, "b": 1 - 1},
    )(xs)
    assert_same(out["a"], np.stack([np.outer(x, x) for x in xs], axis=-1))
    assert_same(out["b"], (xs, xs.sum(1)))
    out = vmap(lambda x: (x, 2 * x), out_axes=(1, -1))(xs)
    assert_same(out, (xs.T, 2 * xs.T))


def test_keyword_arguments_are_mapped_over_axis_zero():
    xs = np.arange(6.0).reshape(3, 2)
    ys = np.arange(12.0).reshape(3, 4) / 10
    out = vmap(lambda x, *, y, scale: fnp.sum(x) * y * scale, in_axes=1)(
        xs.T, y=ys, scale=np.arange(3.0)
    )
    assert_same(out, np.stack([xs[i].sum() * ys[i] * i for i in range(3)]))


def test_keyword_arguments_with_a_different_size_are_named_in_the_error():
    with pytest.raises(ValueError, match=r"argument 0: size 3\n  keyword argument 'y': size 4"):
        vmap(lambda x, y: x + y)(np.ones(3), y=np.ones(4))


def test_axis_size_when_nothing_is_mapped():
    out = vmap(lambda w: fnp.sin(w), in_axes=None, axis_size=4)(np.arange(3.0))
    assert_same(out, np.broadcast_to(np.sin(np.arange(3.0)), (4, 3)))
    out = vmap(lambda: np.float64(2.0), axis_size=3, out_axes=0)()
    assert_same(out, np.full(3, 2.0))
    out = vmap(lambda w: w, in_axes=None, axis_size=2, out_axes=-1)(np.ones((2, 3)))
    assert_same(out, np.ones((2, 3, 2)))


def test_axis_size_agreeing_with_the_mapped_size_is_accepted():
    assert_same(vmap(fnp.exp, axis_size=3)(np.zeros(3)), np.ones(3))


def test_out_axes_none_for_outputs_that_do_not_vary():
    xs = np.arange(6.0).reshape(3, 2)
    w = np.array([2.0, 3.0])
    out, total = vmap(
        lambda x, w: (x * w, fnp.sum(w) + 1.0), in_axes=(0, None), out_axes=(0, None)
    )(xs, w)
    assert_same(out, xs * w)
    assert_same(total, np.float64(6.0) * np.ones(()))
    assert_same(vmap(lambda x: 7.0, out_axes=None)(xs), np.asarray(7.0))


def test_vmap_over_a_batch_of_size_zero():
    out = vmap(lambda x, w: fnp.tanh(x @ w), in_axes=(0, None))(np.ones((0, 3)), np.ones((3, 2)))
    assert_same(out, np.ones((0, 2)))
    out = vmap(lambda x: x[1:], in_axes=1, out_axes=1)(np.ones((3, 0)))
    assert_same(out, np.ones((2, 0)))


# ---------------------------------------------------------------------------------------
# Unbatched operands stay unbatched


def primitive_names(closed_jaxpr) -> list[str]:
    return [eqn.primitive.name for eqn in closed_jaxpr.jaxpr.eqns]


def broadcast_inputs(closed_jaxpr) -> list[tuple[int, ...]]:
    """The shapes of the operands of every broadcast_in_dim in the program."""
    return [
        tuple(eqn.inputs[0].aval.shape)
        for eqn in closed_jaxpr.jaxpr.eqns
        if eqn.primitive.name == "broadcast_in_dim"
    ]


def test_unbatched_matrix_in_x_at_w_is_not_broadcast():
    w = np.ones((3, 4))
    closed = make_jaxpr(vmap(lambda x: x @ w))(np.ones((5, 3)))
    assert primitive_names(closed) == ["dot_general"]
    assert all(np.shape(c) != (5, 3, 4) for c in closed.consts)
    passed = make_jaxpr(vmap(lambda x, w: x @ w, in_axes=(0, None)))(np.ones((5, 3)), w)
    assert primitive_names(passed) == ["dot_general"]
    left = make_jaxpr(vmap(lambda x, w: w @ x, in_axes=(0, None)))(np.ones((5, 4)), w)
    assert "broadcast_in_dim" not in primitive_names(left)
    assert left.out_avals[0].shape == (5, 3)


def test_unbatched_operands_of_elementwise_ops_and_where_are_not_broadcast():
    def f(x, b, m):
        return fnp.where(m > 0, fnp.tanh(x + b) * m, b)

    closed = make_jaxpr(vmap(f, in_axes=(0, None, None)))(
        np.ones((5, 2, 3)), np.ones(3), np.ones((2, 3))
    )
    assert broadcast_inputs(closed) == []
    closed = make_jaxpr(vmap(f, in_axes=(None, None, 1)))(
        np.ones((2, 3)), np.ones(3), np.ones((2, 5, 3))
    )
    assert broadcast_inputs(closed) == []


def test_unbatched_table_indexed_by_batched_indices_is_not_broadcast():
    # An embedding lookup: only the indices carry the batch axis. The table must not be
    # copied once per example, neither forward nor in the gradient's scatter.
    table = np.ones((10, 3))

    def lookup(table, i):
        return vmap(lambda j: fnp.take(table, j, axis=0))(i)

    closed = make_jaxpr(lookup)(table, np.zeros(5, np.int64))
    assert (5, 10, 3) not in [eqn.outputs[0].aval.shape for eqn in closed.jaxpr.eqns]
    assert all(np.shape(c) != (5, 10, 3) for c in closed.consts)
    backward = make_jaxpr(grad(lambda t, i: fnp.sum(lookup(t, i))))(table, np.zeros(5, np.int64))
    assert (5, 10, 3) not in [eqn.outputs[0].aval.shape for eqn in backward.jaxpr.eqns]
    assert_same(lookup(table, np.array([1, 1, 9])), np.ones((3, 3)))


def test_computations_on_unbatched_values_run_once():
    w = np.ones((3, 3))
    closed = make_jaxpr(vmap(lambda x, w: x * fnp.sum(fnp.sin(w)), in_axes=(0, None)))(
        np.ones((5, 3)), w
    )
    sin_eqn = next(e for e in closed.jaxpr.eqns if e.primitive.name == "sin")
    assert tuple(sin_eqn.outputs[0].aval.shape) == (3, 3)


def test_make_jaxpr_of_vmap_prints_the_batched_program():
    text = str(make_jaxpr(vmap(lambda x: fnp.sin(x) * 2.0))(np.ones((5, 3))))
    assert text == (
        "{ lambda ; a:f64[5,3]. let\n"
        "    b:f64[5,3] = sin a\n"
        "    c:f64[5,3] = mul b 2.0\n"
        "  in (c,) }"
    )
    text = str(make_jaxpr(vmap(lambda x: fnp.sum(x, axis=0), in_axes=1))(np.ones((2, 5))))
    assert "reduce_sum[axes=(0,)]" in text and "f64[5]" in text


# ---------------------------------------------------------------------------------------
# Composition with the other transformations


def mlp_loss(params, x, y):
    return nn.mse(nn.mlp(params, x, activation=fnp.tanh), y)


def test_vmap_of_grad_gives_per_example_gradients_of_an_mlp_loss():
    rng = np.random.default_rng(1)
    params = nn.init_mlp(rng, [3, 5, 2])
    xs = rng.standard_normal((6, 3))
    ys = rng.standard_normal((6, 2))
    per_example = vmap(grad(mlp_loss), in_axes=(None, 0, 0))(params, xs, ys)
    expected = tree_map(
        lambda *gs: np.stack(gs), *[grad(mlp_loss)(params, x, y) for x, y in zip(xs, ys)]
    )
    assert_same(per_example, expected)
    # and summed they give the gradient of the summed loss
    total = grad(lambda p: sum(mlp_loss(p, x, y) for x, y in zip(xs, ys)))(params)
    tree_map(lambda g, t: assert_allclose(g.sum(0), t, rtol=1e-10), per_example, total)


def test_vmap_of_value_and_grad_with_batched_parameters():
    # an ensemble: one set of parameters per member, the same data for all
    rng = np.random.default_rng(2)
    members = [nn.init_mlp(rng, [3, 4, 1]) for _ in range(3)]
    stacked = tree_map(lambda *ps: np.stack(ps), *members)
    x, y = rng.standard_normal((7, 3)), rng.standard_normal((7, 1))
    values, grads = vmap(value_and_grad(mlp_loss), in_axes=(0, None, None))(stacked, x, y)
    for k, member in enumerate(members):
        v, g = value_and_grad(mlp_loss)(member, x, y)
        assert_allclose(values[k], v, rtol=1e-12)
        tree_map(lambda a, b, k=k: assert_allclose(a[k], b, rtol=1e-10, atol=1e-14), grads, g)


def test_grad_of_vmap_equals_the_sum_of_per_example_gradients():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((3, 2))
    xs = rng.standard_normal((4, 3))

    def per_example(w, x):
        return fnp.sum(fnp.tanh(x @ w) ** 2)

    def batched_loss(w):
        return fnp.sum(vmap(per_example, in_axes=(None, 0))(w, xs))

    g = grad(batched_loss)(w)
    assert_allclose(g, sum(grad(per_example)(w, x) for x in xs), rtol=1e-10)
    numerical = numerical_jacobian(batched_loss, w)
    assert_allclose(g, numerical, rtol=1e-6, atol=1e-8)


def test_grad_of_vmap_with_respect_to_the_batched_argument():
    xs = np.random.default_rng(4).standard_normal((3, 4))
    g = grad(lambda xs: fnp.sum(vmap(lambda x: fnp.max(x) * fnp.sum(fnp.sin(x)))(xs)))(xs)
    expected = np.stack([grad(lambda x: fnp.max(x) * fnp.sum(fnp.sin(x)))(x) for x in xs])
    assert_same(g, expected)


def test_vmap_of_vmap_equals_an_elementwise_double_loop():
    a = np.random.default_rng(5).standard_normal((3, 4))
    b = np.random.default_rng(6).standard_normal((4, 5))
    # pairwise distances: vmap over rows of a, then over columns of b
    dist = vmap(vmap(lambda u, v: fnp.sum((u - v) ** 2), in_axes=(None, 1)), in_axes=(0, None))
    expected = np.array([[np.sum((a[i] - b[:, j]) ** 2) for j in range(5)] for i in range(3)])
    assert_same(dist(a, b), expected)


def per_row(x):
    return fnp.tanh(x) * fnp.sum(x**2) + x[::-1] * x[0]


@pytest.mark.parametrize("jac", [jacfwd, jacrev], ids=["jacfwd", "jacrev"])
@pytest.mark.parametrize("in_axes", [0, 1, -1])
def test_jacobian_of_vmap_equals_the_numerical_jacobian(jac, in_axes):
    xs = np.random.default_rng(7).standard_normal((3, 4))
    f = vmap(per_row, in_axes=in_axes)
    assert_allclose(jac(f)(xs), numerical_jacobian(f, xs), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("jac", [jacfwd, jacrev], ids=["jacfwd", "jacrev"])
def test_vmap_of_jacobian_gives_per_example_jacobians(jac):
    xs = np.random.default_rng(8).standard_normal((5, 3))
    out = vmap(jac(per_row))(xs)
    assert_same(out, np.stack([jac(per_row)(x) for x in xs]))
    assert_allclose(out[2], numerical_jacobian(per_row, xs[2]), rtol=1e-6, atol=1e-8)


def test_vmap_of_jvp_equals_a_loop():
    rng = np.random.default_rng(9)
    xs, ts = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    out, tangent = vmap(lambda x, t: jvp(per_row, (x,), (t,)))(xs, ts)
    pairs = [jvp(per_row, (x,), (t,)) for x, t in zip(xs, ts)]
    assert_same(out, np.stack([p for p, _ in pairs]))
    assert_same(tangent, np.stack([t for _, t in pairs]))
    # one primal, many tangents
    x = xs[0]
    many = vmap(lambda t: jvp(per_row, (x,), (t,))[1])(ts)
    assert_same(many, np.stack([jvp(per_row, (x,), (t,))[1] for t in ts]))


def test_jvp_of_vmap_equals_the_jvp_of_each_example():
    rng = np.random.default_rng(10)
    xs, ts = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    out, tangent = jvp(vmap(per_row, in_axes=1, out_axes=1), (xs.T,), (ts.T,))
    assert_same(out, np.stack([per_row(x) for x in xs], axis=1))
    assert_same(tangent, np.stack([jvp(per_row, (x,), (t,))[1] for x, t in zip(xs, ts)], 1))


def test_vmap_of_the_jvp_function_from_linearize():
    rng = np.random.default_rng(11)
    x = rng.standard_normal(3)
    ts = rng.standard_normal((5, 3))
    y, f_jvp = linearize(per_row, x)
    assert_same(y, per_row(x))
    assert_same(vmap(f_jvp)(ts), np.stack([f_jvp(t) for t in ts]))
    assert_same(vmap(f_jvp, in_axes=1)(ts.T), np.stack([f_jvp(t) for t in ts]))
    # the identity as a batch of tangents gives the Jacobian (transposed)
    assert_allclose(vmap(f_jvp)(np.eye(3)).T, jacfwd(per_row)(x), rtol=1e-12)


def test_vmap_of_hessian_and_of_grad_of_grad():
    xs = np.random.default_rng(12).standard_normal((4, 3))

    def scalar(x):
        return fnp.sum(fnp.sin(x) * x**2)

    assert_same(
        vmap(fungrad.hessian(scalar))(xs), np.stack([fungrad.hessian(scalar)(x) for x in xs])
    )
    second = vmap(grad(grad(lambda s: fnp.sin(s) * s**3)))(xs[:, 0])
    assert_same(second, np.stack([grad(grad(lambda s: fnp.sin(s) * s**3))(s) for s in xs[:, 0]]))


def test_inner_vmap_closing_over_the_outer_batched_value():
    rng = np.random.default_rng(13)
    xs, ys = rng.standard_normal((3, 4)), rng.standard_normal((5, 4))
    out = vmap(lambda x: vmap(lambda y: x * y + fnp.sum(x))(ys))(xs)
    assert_same(out, np.stack([np.stack([x * y + x.sum() for y in ys]) for x in xs]))


def test_grad_inside_vmap_closing_over_the_batched_value():
    rng = np.random.default_rng(14)
    xs, w = rng.standard_normal((3, 4)), rng.standard_normal(4)
    out = vmap(lambda x: grad(lambda w: fnp.sum(fnp.sin(w * x)))(w))(xs)
    assert_same(out, np.stack([np.cos(w * x) * x for x in xs]))
    tangents = vmap(lambda x: jvp(lambda w: fnp.sin(w * x), (w,), (x,))[1])(xs)
    assert_same(tangents, np.stack([np.cos(w * x) * x * x for x in xs]))


def test_vmap_inside_grad_closing_over_the_differentiated_value():
    rng = np.random.default_rng(15)
    xs, w = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    g = grad(lambda w: fnp.sum(vmap(lambda x: fnp.tanh(x @ w))(xs)))(w)
    expected = sum(np.outer(x, 1 - np.tanh(x @ w) ** 2) for x in xs)
    assert_allclose(g, expected, rtol=1e-12)

    def f(v):
        return fnp.sum(vmap(grad(lambda x: fnp.sum(fnp.sin(x * v))))(xs))

    assert_allclose(grad(f)(w[:, 0]), numerical_jacobian(f, w[:, 0]), rtol=1e-6, atol=1e-8)


def test_building_arrays_from_batched_scalars():
    xs = np.arange(6.0).reshape(3, 2)
    out = vmap(lambda x: fnp.array([x[1], 1.0, x[0]]))(xs)
    assert_same(out, np.stack([[x[1], 1.0, x[0]] for x in xs]))
    out = vmap(lambda x: fnp.stack([x[0], fnp.sum(x)]), out_axes=1)(xs)
    assert_same(out, np.stack([xs[:, 0], xs.sum(1)]))


# ---------------------------------------------------------------------------------------
# Errors


def test_inconsistent_mapped_sizes_name_each_argument_path_and_size():
    tree = {"w": np.ones((4, 2)), "b": [np.ones(3)]}
    with pytest.raises(ValueError, match="inconsistent sizes for the mapped axis") as info:
        vmap(lambda a, t: a)(np.ones(3), tree)
    message = str(info.value)
    assert "argument 0: size 3" in message
    assert "argument 1 at path ['w']: size 4" in message
    assert "argument 1 at path ['b'][0]: size 3" in message


def test_inconsistent_sizes_along_different_in_axes():
    with pytest.raises(
        ValueError, match=r"argument 0: size 2\n  argument 1: size 3\n.*in_axes axis"
    ):
        vmap(lambda a, b: a + b, in_axes=(0, 1))(np.ones((2, 3)), np.ones((2, 3)))


def test_axis_size_disagreeing_with_the_mapped_size():
    with pytest.raises(ValueError, match=r"argument 0: size 3\n  axis_size: 4"):
        vmap(fnp.sin, axis_size=4)(np.ones(3))


def test_in_axes_tree_not_matching_the_arguments_shows_where():
    with pytest.raises(
        ValueError, match=r"must be a pytree prefix of the positional arguments"
    ) as info:
        vmap(lambda a, t: a, in_axes=(0, {"x": 0}))(np.ones(3), {"w": np.ones(3)})
    message = str(info.value)
    assert "at path [1]" in message
    assert "{'x': *}" in message and "{'w': *}" in message
    with pytest.raises(
        ValueError, match=r"at path \[1\], the treedef has \[\*, \*\] where the tree has \[\*\]"
    ):
        vmap(lambda a, t: a, in_axes=(0, [0, 0]))(np.ones(3), [np.ones(3)])


def test_in_axes_tuple_of_the_wrong_length():
    with pytest.raises(
        ValueError, match=r"in_axes has 1 entries but the function was called with 2 positional"
    ):
        vmap(lambda a, b: a, in_axes=(0,))(np.ones(3), np.ones(3))


def test_in_axes_of_the_wrong_type():
    with pytest.raises(TypeError, match=r"in_axes must be an int, None, or a tuple/list.*dict"):
        vmap(lambda a: a, in_axes={"a": 0})
    with pytest.raises(TypeError, match=r"in_axes must contain only ints and None, found 1.0"):
        vmap(lambda a: a, in_axes=(1.0,))(np.ones(3))


@pytest.mark.parametrize("axis", [2, -3])
def test_in_axis_out_of_range_names_the_argument_and_its_shape(axis):
    with pytest.raises(
        ValueError,
        match=rf"in_axes={axis} for argument 1 at path \['b'\] is out of range for an array of "
        r"shape \(3, 4\)",
    ):
        vmap(lambda a, t: a, in_axes=(0, axis))(np.ones(3), {"b": np.ones((3, 4))})


def test_mapping_a_scalar_is_out_of_range():
    with pytest.raises(ValueError, match=r"in_axes=0 for argument 0 is out of range .* \(\)"):
        vmap(fnp.sin)(2.0)


def test_no_mapped_arguments_without_axis_size():
    with pytest.raises(ValueError, match=r"no argument is mapped .* pass axis_size="):
        vmap(lambda a: a, in_axes=None)(np.ones(3))
    with pytest.raises(ValueError, match=r"no argument is mapped"):
        vmap(lambda: 1.0)()


def test_python_if_on_a_batched_value_explains_where():
    def relu_with_if(x):
        return x if x > 0 else 0.0 * x

    with pytest.raises(ConcretizationError, match=r"fungrad\.numpy\.where") as info:
        vmap(relu_with_if)(np.array([1.0, -1.0]))
    assert isinstance(info.value, TypeError)
    assert "differs across the batch under `vmap`" in str(info.value)
    # the fix the message suggests works
    fixed = vmap(lambda x: fnp.where(x > 0, x, 0.0 * x))(np.array([1.0, -1.0]))
    assert_same(fixed, np.array([1.0, -0.0]))


def test_python_control_flow_on_unbatched_values_is_fine():
    def f(x, n):
        return x * 2.0 if n > 0 else x

    assert_same(vmap(f, in_axes=(0, None))(np.ones(3), 1), np.full(3, 2.0))


def test_out_axes_none_on_a_varying_output():
    with pytest.raises(ValueError, match=r"out_axes=None for the output at \[1\], but it varies"):
        vmap(lambda x: (1.0, x), out_axes=None)(np.ones(3))


def test_out_axes_out_of_range():
    with pytest.raises(
        ValueError, match=r"out_axes=2 is out of range for the output, which has 2"
    ):
        vmap(lambda x: x, out_axes=2)(np.ones((3, 4)))


def test_out_axes_tree_not_matching_the_outputs():
    with pytest.raises(
        ValueError, match=r"out_axes=\(0, 1\) must be a pytree prefix of the outputs"
    ):
        vmap(lambda x: x, out_axes=(0, 1))(np.ones((3, 4)))


def test_non_array_arguments_are_named():
    with pytest.raises(TypeError, match=r"vmap: argument 1 at path \['f'\] is a str"):
        vmap(lambda a, b: a)(np.ones(3), {"f": "text"})


def test_non_array_keyword_arguments_are_named_by_keyword_and_path():
    with pytest.raises(TypeError, match=r"vmap: keyword argument 'y' at path \['w'\] is a str"):
        vmap(lambda x, y: x)(np.ones(3), y={"w": "text"})


def test_out_axes_are_checked_before_any_output_is_moved(monkeypatch):
    # vmap names the output itself; move_batch_dim is never asked to move a varying
    # output to out_axes=None.
    vmap_module = importlib.import_module("fungrad.vmap")
    moved = []
    move = vmap_module.move_batch_dim
    monkeypatch.setattr(vmap_module, "move_batch_dim", lambda *a: moved.append(a) or move(*a))
    with pytest.raises(
        ValueError,
        match=r"vmap: out_axes=None for the output at \['b'\]\[1\], but it varies along the "
        r"mapped axis; only outputs that are the same for every example can use None\.",
    ):
        vmap(lambda x: {"a": x, "b": (1.0, x)}, out_axes={"a": 0, "b": None})(np.ones(3))
    with pytest.raises(ValueError, match=r"out_axes=-3 is out of range for the output at \[1\]"):
        vmap(lambda x: (x, x), out_axes=(0, -3))(np.ones(3))
    assert moved == []
    out = vmap(lambda x: {"a": x, "b": (1.0, x)}, out_axes={"a": 0, "b": (None, 0)})(np.ones(3))
    assert_same(out, {"a": np.ones(3), "b": (np.asarray(1.0), np.ones(3))})
    assert len(moved) == 3
