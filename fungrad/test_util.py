"""Checking derivatives numerically: central differences, and ``check_grads``.

``check_grads(f, args, order)`` compares fungrad's forward- and reverse-mode
derivatives of ``f`` with central differences, recursively up to ``order``, with
step sizes and tolerances chosen from the inputs' dtype. Use it on your own
functions, custom rules, or anything you do not yet trust; ``fungrad.testing`` runs it
on many inputs drawn by hypothesis.

Both checks compare projections, so that a check costs a few evaluations of ``f``
whatever its size: forward mode compares the output tangent ``J t`` for a random
input tangent ``t``; reverse mode compares the inner products ``<c^T J, t>`` and
``<c, J t>`` for random ``c`` and ``t``. Only when a check fails does it spend more
evaluations, to say where: the argument (and pytree path) whose derivative is wrong
and, for reverse mode, the worst element of its cotangent.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fungrad import api, dtypes
from fungrad.tree_util import (
    KeyPath,
    SequenceKey,
    keystr,
    tree_flatten,
    tree_flatten_with_path,
    tree_map,
    tree_unflatten,
)

# Step sizes and tolerances by dtype: the central-difference error is O(eps**2) from
# truncation plus O(unit roundoff / eps) from cancellation.
_EPS = {np.dtype(np.float64): 1e-5, np.dtype(np.float32): 3e-3, np.dtype(np.float16): 1e-1}
_TOL = {np.dtype(np.float64): 1e-5, np.dtype(np.float32): 3e-2, np.dtype(np.float16): 2e-1}

# A failing reverse-mode check looks for the worst element of a cotangent with two
# evaluations of f per element, for arguments up to this size.
_ELEMENTWISE_LIMIT = 256


def _leaves_dtype(tree: Any) -> np.dtype:
    """The least precise floating dtype among the leaves (it sets steps and tolerances)."""
    found = [np.result_type(x) for x in tree_flatten(tree)[0]]
    floats = [d for d in found if d.kind == "f"]
    if not floats:
        return np.dtype(np.float64)
    return min(floats, key=lambda d: d.itemsize)


def numerical_jvp(
    f: Callable[..., Any],
    primals: Sequence[Any],
    tangents: Sequence[Any],
    eps: float | None = None,
) -> Any:
    """Central-difference directional derivative ``(f(x + eps t) - f(x - eps t)) / 2 eps``.

    Integer leaves of ``primals`` are not perturbed.
    """
    eps = _EPS[_leaves_dtype(primals)] if eps is None else eps

    def shifted(sign: float) -> Any:
        def move(p, t):
            p = np.asarray(p)
            if not dtypes.is_differentiable(p.dtype):
                return p
            return (p + sign * eps * np.asarray(t, dtype=p.dtype)).astype(p.dtype)

        return f(*tree_map(move, tuple(primals), tuple(tangents)))

    def difference(a, b):
        a, b = np.asarray(a), np.asarray(b)
        if not dtypes.is_differentiable(a.dtype):
            return np.zeros(a.shape, dtypes.float0)  # integer outputs have no derivative
        return (a.astype(np.float64) - b.astype(np.float64)) / (2 * eps)

    return tree_map(difference, shifted(1.0), shifted(-1.0))


def numerical_jacobian(f: Callable[..., Any], x: Any, eps: float | None = None) -> np.ndarray:
    """The Jacobian of ``f`` at the array ``x`` by central differences: shape out + in.

    >>> import numpy as np
    >>> numerical_jacobian(lambda x: x ** 2, np.array([1.0, 3.0])).round(6).tolist()
    [[2.0, 0.0], [0.0, 6.0]]
    """
    x = np.asarray(x)
    columns = []
    for i in range(x.size):
        e = np.zeros(x.size, x.dtype)
        e[i] = 1
        columns.append(np.asarray(numerical_jvp(f, (x,), (e.reshape(x.shape),), eps)))
    out_shape = columns[0].shape if columns else np.shape(f(x))
    jac = np.stack(columns, axis=-1) if columns else np.zeros(out_shape + (0,))
    return jac.reshape(out_shape + x.shape)


def _random_like(rng: np.random.Generator, tree: Any) -> Any:
    def draw(x):
        x = np.asarray(x)
        if not dtypes.is_differentiable(x.dtype):
            return np.zeros(x.shape, dtypes.float0)
        return rng.standard_normal(x.shape).astype(x.dtype)

    return tree_map(draw, tree)


def _inner(a: Any, b: Any) -> float:
    total = 0.0
    for x, y in zip(tree_flatten(a)[0], tree_flatten(b)[0]):
        x, y = np.asarray(x), np.asarray(y)
        if x.dtype == dtypes.float0 or y.dtype == dtypes.float0:
            continue
        total += float(np.sum(x.astype(np.float64) * y.astype(np.float64)))
    return total


# ---------------------------------------------------------------------------------------
# Comparing AD with central differences, and saying where they differ


@dataclasses.dataclass(frozen=True)
class _Element:
    """One compared number: where it is, both values, and how far past the tolerance."""

    path: KeyPath  # of the leaf, in the compared tree
    index: tuple[int, ...]  # in the leaf
    ad: complex | float
    numerical: complex | float
    ratio: float  # |ad - numerical| / (atol + rtol * |numerical|); > 1 fails


def _as_numbers(x: Any) -> np.ndarray:
    x = np.asarray(x)
    return x.astype(np.complex128 if x.dtype.kind == "c" else np.float64)


def _ratios(ad: np.ndarray, numerical: np.ndarray, atol: float, rtol: float) -> np.ndarray:
    """``|ad - numerical| / (atol + rtol |numerical|)`` elementwise, as np.allclose judges:
    equal values (infinities too) give 0; a NaN on either side gives inf."""
    with np.errstate(all="ignore"):
        ratio = np.abs(ad - numerical) / (atol + rtol * np.abs(numerical))
    ratio = np.where(np.isnan(ratio), np.inf, ratio)
    return np.where(ad == numerical, 0.0, ratio)


def _worst_element(
    ad: Any, numerical: Any, atol: float, rtol: float, what: str
) -> _Element | None:
    """The compared element furthest past the tolerance, or None if all are close.

    Raises AssertionError (starting with ``what``) if the structures or shapes differ."""
    ad_pairs, ad_tree = tree_flatten_with_path(ad)
    num_leaves, num_tree = tree_flatten(numerical)
    if ad_tree != num_tree:
        raise AssertionError(
            f"{what}: the AD result has structure {ad_tree} but central differences give "
            f"{num_tree}"
        )
    worst: _Element | None = None
    for (path, a), e in zip(ad_pairs, num_leaves):
        a, e = np.asarray(a), np.asarray(e)
        if a.dtype == dtypes.float0 or e.dtype == dtypes.float0:
            continue
        if a.shape != e.shape:
            where = f" at {keystr(path)}" if path else ""
            raise AssertionError(
                f"{what}: the AD result{where} has shape {a.shape} but central differences "
                f"give shape {e.shape}"
            )
        a, e = _as_numbers(a), _as_numbers(e)
        ratios = _ratios(a, e, atol, rtol)
        if ratios.size == 0:
            continue
        flat = int(np.argmax(ratios))
        if ratios.flat[flat] > 1 and (worst is None or ratios.flat[flat] > worst.ratio):
            index = tuple(int(i) for i in np.unravel_index(flat, a.shape))
            worst = _Element(
                path, index, a.flat[flat].item(), e.flat[flat].item(), ratios.flat[flat]
            )
    return worst


def _further(a: _Element, b: _Element) -> bool:
    """Whether ``a`` is further past the tolerance than ``b``: by the ratio, and between
    equal ratios (both infinite with a zero tolerance) by the size of the difference."""
    return (a.ratio, abs(a.ad - a.numerical)) > (b.ratio, abs(b.ad - b.numerical))


def _scalar_element(ad: float, numerical: float, atol: float, rtol: float) -> _Element:
    ratio = _ratios(np.float64(ad), np.float64(numerical), atol, rtol)
    return _Element((), (), ad, numerical, float(ratio))


def _number_pair(a: complex | float, b: complex | float) -> tuple[str, str]:
    """Both numbers with the fewest significant digits (at least 4) that tell them apart."""
    for digits in range(4, 18):
        shown = (f"{a:.{digits}g}", f"{b:.{digits}g}")
        if shown[0] != shown[1]:
            break
    return shown


def _values_sentence(element: _Element, atol: float, rtol: float, ad: str, numerical: str) -> str:
    a, n = _number_pair(element.ad, element.numerical)
    difference = abs(element.ad - element.numerical)
    tolerance = atol + rtol * abs(element.numerical)
    return (
        f"{ad} {a}, {numerical} {n}, |difference| {difference:.3g} > tolerance "
        f"{tolerance:.2g} (atol {atol:g} + rtol {rtol:g} * |{numerical}|)"
    )


@dataclasses.dataclass(frozen=True)
class _Checked:
    """What check_grads is checking at one level of its recursion, for the messages."""

    name: str  # the user's function, e.g. "loss"
    arg_names: tuple[str | None, ...]
    chain: tuple[str, ...] = ()  # the differentiations applied so far: "jvp", "vjp"

    @staticmethod
    def top(f: Callable[..., Any], nargs: int) -> _Checked:
        name = getattr(f, "__name__", "fun")
        if not isinstance(name, str) or not name.isidentifier():
            name = "fun"  # a lambda, a partial, a callable object
        return _Checked(name, _positional_names(f, nargs))

    def derivative(self, how: str) -> _Checked:
        return dataclasses.replace(self, chain=(*self.chain, how))

    @property
    def order(self) -> int:
        return len(self.chain) + 1

    def header(self, mode: str) -> str:
        label = {"fwd": "forward mode (jvp)", "rev": "reverse mode (vjp)"}[mode]
        text = f"check_grads: {label} at order {self.order}"
        if self.chain:
            function = self.name
            for how in self.chain:
                function = f"{how}({function})"
            if len(self.chain) == 1:
                direction = "tangent" if self.chain == ("jvp",) else "cotangent"
                how = f"{self.name}'s derivative along a fixed random {direction}"
            else:
                steps = ", then ".join(self.chain)
                how = f"{self.name} differentiated by {steps} along fixed random directions"
            text += f" (f here is {function}, {how})"
        return text

    def argument(self, path: KeyPath) -> str:
        """``argument `x` (path ['w'][0])`` for a path into the tuple of arguments."""
        position = path[0].idx if path and isinstance(path[0], SequenceKey) else 0
        name = self.arg_names[position] if position < len(self.arg_names) else None
        text = f"argument `{name}`" if name else f"argument {position}"
        inner = keystr(path[1:])
        return f"{text} (path {inner})" if inner else text


def _positional_names(f: Callable[..., Any], nargs: int) -> tuple[str | None, ...]:
    try:
        parameters = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        return (None,) * nargs
    names: list[str | None] = []
    for p in parameters:
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            break
        names.append(p.name)
    return tuple(names[:nargs]) + (None,) * (nargs - len(names[:nargs]))


def _output_place(element: _Element) -> str:
    where = f"output {keystr(element.path)}" if element.path else "the output"
    return f"{where} at index {element.index}" if element.index else f"{where} (a scalar)"


def _argument_place(element: _Element) -> str:
    return f"index {element.index}" if element.index else "the argument (a scalar)"


def _tangent_on_one_leaf(tangents: Any, keep: int, value: Any = None) -> Any:
    """``tangents`` with every differentiable leaf but number ``keep`` set to zero (and
    that one replaced by ``value`` if given)."""
    leaves, treedef = tree_flatten(tangents)
    new = []
    for i, t in enumerate(leaves):
        t = np.asarray(t)
        if i == keep:
            new.append(t if value is None else value)
        else:
            new.append(t if t.dtype == dtypes.float0 else np.zeros_like(t))
    return tree_unflatten(treedef, new)


def _differentiable_leaves(args: tuple[Any, ...]) -> list[tuple[int, KeyPath, np.ndarray]]:
    pairs = tree_flatten_with_path(args)[0]
    return [
        (i, path, np.asarray(leaf))
        for i, (path, leaf) in enumerate(pairs)
        if dtypes.is_differentiable(np.asarray(leaf).dtype)
    ]


# ---------------------------------------------------------------------------------------
# The two checks


def check_jvp(f, args, atol, rtol, eps, rng, checked: _Checked | None = None) -> None:
    """Forward mode: ``jvp``'s output tangent ``J t`` for a random ``t`` against central
    differences, element by element (and its primal output against ``f(*args)``)."""
    args = tuple(args)
    checked = checked or _Checked.top(f, len(args))
    eps = _EPS[_leaves_dtype(args)] if eps is None else eps
    header = checked.header("fwd")
    tangents = _random_like(rng, args)
    out, t_out = api.jvp(f, args, tangents)
    primal = _worst_element(out, f(*args), atol, rtol, f"{header}: the primal output of jvp")
    if primal is not None:
        raise AssertionError(
            f"{header}: the primal output of jvp differs from f(*args).\n"
            f"  worst element: {_output_place(primal)}: "
            + _values_sentence(primal, atol, rtol, "jvp", "f")
        )
    what = f"{header}: the jvp tangent"
    worst = _worst_element(t_out, numerical_jvp(f, args, tangents, eps), atol, rtol, what)
    if worst is None:
        return
    # Which argument's derivative is wrong: the same tangent, one input leaf at a time.
    leaves = _differentiable_leaves(args)
    on = checked.argument(leaves[0][1]) if len(leaves) == 1 else "every input"
    for i, path, _ in leaves if len(leaves) > 1 else ():
        one = _tangent_on_one_leaf(tangents, i)
        one_out = api.jvp(f, args, one)[1]
        local = _worst_element(one_out, numerical_jvp(f, args, one, eps), atol, rtol, what)
        if local is not None and (on == "every input" or _further(local, worst)):
            worst, on = local, f"{checked.argument(path)} only"
    raise AssertionError(
        f"{what} differs from central differences, for a random input tangent on {on}.\n"
        "  compared: the output tangent J t, from jvp (AD) and from "
        f"(f(x + eps t) - f(x - eps t)) / (2 eps) with eps {eps:g} (numerical)\n"
        f"  worst element: {_output_place(worst)}: "
        + _values_sentence(worst, atol, rtol, "AD", "numerical")
    )


def check_vjp(f, args, atol, rtol, eps, rng, checked: _Checked | None = None) -> None:
    """Reverse mode: ``<vjp(c), t>`` against ``<c, numerical jvp(t)>`` for random ``c``
    and ``t``; on a mismatch, looks for the argument and the element of its cotangent
    that differ from central differences."""
    args = tuple(args)
    checked = checked or _Checked.top(f, len(args))
    eps = _EPS[_leaves_dtype(args)] if eps is None else eps
    out, vjp_fun = api.vjp(f, *args)
    cotangent = _random_like(rng, out)
    cts_in = vjp_fun(cotangent)
    tangents = _random_like(rng, args)

    def projections(t: Any) -> _Element:
        ad = _inner(cts_in, t)
        return _scalar_element(ad, _inner(cotangent, numerical_jvp(f, args, t, eps)), atol, rtol)

    whole = projections(tangents)
    if whole.ratio <= 1:
        return
    header = f"{checked.header('rev')}: the vjp cotangent"
    compared = (
        "  compared: the inner products <c^T J, t> from vjp (AD) and "
        f"<c, (f(x + eps t) - f(x - eps t)) / (2 eps)> with eps {eps:g} (numerical), "
        "for a random output cotangent c and a random input tangent t{on}: one number each\n"
    )
    # Which argument: the same projections, with t on one input leaf at a time.
    ct_leaves = tree_flatten(cts_in)[0]
    leaves = _differentiable_leaves(args)
    culprit = (*leaves[0][:2], whole, leaves[0][2]) if len(leaves) == 1 else None
    for i, path, leaf in leaves if len(leaves) > 1 else ():
        local = projections(_tangent_on_one_leaf(tangents, i))
        if local.ratio > 1 and (culprit is None or _further(local, culprit[2])):
            culprit = (i, path, local, leaf)
    if culprit is None:
        raise AssertionError(
            f"{header} differs from central differences.\n"
            + compared.format(on="")
            + "  values: "
            + _values_sentence(whole, atol, rtol, "AD", "numerical")
        )
    i, path, local, leaf = culprit
    argument = checked.argument(path)
    if leaf.size <= _ELEMENTWISE_LIMIT and len(ct_leaves) == len(tree_flatten(args)[0]):
        ct_leaf = _as_numbers(ct_leaves[i])
        numerical = np.empty(leaf.shape, ct_leaf.dtype)
        for index in np.ndindex(leaf.shape):
            basis = np.zeros(leaf.shape, leaf.dtype)
            basis[index] = 1
            t = _tangent_on_one_leaf(tangents, i, basis)
            numerical[index] = _inner(cotangent, numerical_jvp(f, args, t, eps))
        worst = _worst_element(ct_leaf, numerical, atol, rtol, header)
        if worst is not None:
            raise AssertionError(
                f"{header} of {argument} differs from central differences.\n"
                "  compared: the cotangent c^T J of that argument for a random output "
                "cotangent c, element by element, from vjp (AD) and from central differences "
                f"of <c, f(x)> in each element with eps {eps:g} (numerical)\n"
                f"  worst element: {_argument_place(worst)}: "
                + _values_sentence(worst, atol, rtol, "AD", "numerical")
            )
    raise AssertionError(
        f"{header} of {argument} differs from central differences.\n"
        + compared.format(on=" on that argument only" if len(leaves) > 1 else "")
        + "  values: "
        + _values_sentence(local, atol, rtol, "AD", "numerical")
    )


def check_grads(
    f: Callable[..., Any],
    args: Sequence[Any],
    order: int,
    modes: Sequence[str] = ("fwd", "rev"),
    atol: float | None = None,
    rtol: float | None = None,
    eps: float | None = None,
    seed: int = 0,
) -> None:
    """Check fungrad's derivatives of ``f`` at ``args`` against central differences.

    ``order`` is how many times to differentiate; ``modes`` chooses forward ("fwd"),
    reverse ("rev") or both. Tolerances and step default by dtype (float64: step
    1e-5, tolerance 1e-5; float32: 3e-3 and 3e-2). Raises AssertionError naming
    the mode and order of the first mismatch, the argument (and pytree path) whose
    derivative is wrong, what was compared, the worst element's index and both values.

    >>> import fungrad.numpy as fnp
    >>> check_grads(lambda x: fnp.sin(x) * x, (0.5,), order=2)
    """
    args = tuple(np.asarray(a) if isinstance(a, (float, int)) else a for a in args)
    for mode in modes:
        if mode not in ("fwd", "rev"):
            raise ValueError(f"check_grads: unknown mode {mode!r}; use 'fwd' and/or 'rev'")
    dtype = _leaves_dtype(args)
    atol = _TOL[dtype] if atol is None else atol
    rtol = _TOL[dtype] if rtol is None else rtol
    eps = _EPS[dtype] if eps is None else eps
    rng = np.random.default_rng(seed)

    def recurse(f, args, order, checked):
        if "fwd" in modes:
            check_jvp(f, args, atol, rtol, eps, rng, checked)
            if order > 1:
                tangents = _random_like(rng, tuple(args))

                def f_jvp(*primals):
                    return api.jvp(f, primals, tangents)[1]

                recurse(f_jvp, args, order - 1, checked.derivative("jvp"))
        if "rev" in modes:
            check_vjp(f, args, atol, rtol, eps, rng, checked)
            if order > 1:
                cotangent = _random_like(rng, f(*args))

                def f_vjp(*primals):
                    return api.vjp(f, *primals)[1](cotangent)

                recurse(f_vjp, args, order - 1, checked.derivative("vjp"))

    recurse(f, args, order, _Checked.top(f, len(args)))
