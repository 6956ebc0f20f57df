"""Checking derivatives numerically: central differences, and ``check_grads``.

``check_grads(f, args, order)`` compares fungrad's forward- and reverse-mode
derivatives of ``f`` with central differences, recursively up to ``order``, with
step sizes and tolerances chosen from the inputs' dtype. Use it on your own
functions, custom rules, or anything you do not yet trust.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fungrad import api, dtypes
from fungrad.tree_util import tree_flatten, tree_map

# Step sizes and tolerances by dtype: the central-difference error is O(eps**2) from
# truncation plus O(unit roundoff / eps) from cancellation.
_EPS = {np.dtype(np.float64): 1e-5, np.dtype(np.float32): 3e-3, np.dtype(np.float16): 1e-1}
_TOL = {np.dtype(np.float64): 1e-5, np.dtype(np.float32): 3e-2, np.dtype(np.float16): 2e-1}


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


def _assert_close(actual: Any, expected: Any, atol: float, rtol: float, what: str) -> None:
    a_leaves, a_tree = tree_flatten(actual)
    e_leaves, e_tree = tree_flatten(expected)
    if a_tree != e_tree:
        raise AssertionError(f"{what}: structures differ: {a_tree} vs {e_tree}")
    for i, (a, e) in enumerate(zip(a_leaves, e_leaves)):
        a = np.asarray(a)
        e = np.asarray(e)
        if a.dtype == dtypes.float0 or e.dtype == dtypes.float0:
            continue
        a64, e64 = a.astype(np.float64), e.astype(np.float64)
        if a64.shape != e64.shape or not np.allclose(a64, e64, atol=atol, rtol=rtol):
            err = np.max(np.abs(a64 - e64)) if a64.shape == e64.shape else "shape mismatch"
            raise AssertionError(
                f"{what}: leaf {i} differs (max abs error {err}, atol={atol}, rtol={rtol})\n"
                f"  fungrad:   {a64!r}\n  numerical: {e64!r}"
            )


def check_jvp(f, args, atol, rtol, eps, rng) -> None:
    tangents = _random_like(rng, tuple(args))
    out, t_out = api.jvp(f, tuple(args), tangents)
    _assert_close(out, f(*args), atol, rtol, "jvp primal output")
    _assert_close(t_out, numerical_jvp(f, args, tangents, eps), atol, rtol, "jvp tangent")


def check_vjp(f, args, atol, rtol, eps, rng) -> None:
    out, vjp_fun = api.vjp(f, *args)
    cotangent = _random_like(rng, out)
    cts_in = vjp_fun(cotangent)
    tangents = _random_like(rng, tuple(args))
    lhs = _inner(cts_in, tangents)
    rhs = _inner(cotangent, numerical_jvp(f, args, tangents, eps))
    _assert_close(lhs, rhs, atol, rtol, "vjp (<vjp(c), t> against <c, numerical jvp(t)>)")


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
    the mode and order of the first mismatch.

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
    rng = np.random.default_rng(seed)

    def recurse(f, args, order):
        if "fwd" in modes:
            check_jvp(f, args, atol, rtol, eps, rng)
            if order > 1:
                tangents = _random_like(rng, tuple(args))

                def f_jvp(*primals):
                    return api.jvp(f, primals, tangents)[1]

                recurse(f_jvp, args, order - 1)
        if "rev" in modes:
            check_vjp(f, args, atol, rtol, eps, rng)
            if order > 1:
                cotangent = _random_like(rng, f(*args))

                def f_vjp(*primals):
                    return api.vjp(f, *primals)[1](cotangent)

                recurse(f_vjp, args, order - 1)

    recurse(f, args, order)
