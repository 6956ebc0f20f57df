"""Property tests of derivatives for your own test suite: hypothesis strategies for arrays
and pytrees that suit autodiff checks, and ``check_grads_property``, which runs
:func:`fungrad.test_util.check_grads` on many drawn inputs.

hypothesis is a test dependency of fungrad, not a runtime one: ``import fungrad`` does not
import this module, and importing it without hypothesis raises ImportError. The page
docs/testing.md shows a whole test of a user-defined loss.

>>> import numpy as np
>>> import fungrad.numpy as fnp
>>> from fungrad.testing import arrays, check_grads_property
>>> check_grads_property(fnp.sin, arrays((3,)), max_examples=5)
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

try:
    import hypothesis
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as error:
    raise ImportError(
        "fungrad.testing needs hypothesis, a test dependency of fungrad that is not "
        "installed. Install it with `python -m pip install hypothesis` "
        '(or `python -m pip install "fungrad[test]"`).'
    ) from error

from fungrad.test_util import check_grads
from fungrad.tree_util import keystr, tree_flatten, tree_flatten_with_path, tree_unflatten

__all__ = [
    "arrays",
    "check_grads_property",
    "float_dtypes",
    "grads_property_test",
    "like",
    "pytrees",
    "shapes",
]

SearchStrategy = st.SearchStrategy

_FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))

# Health checks that drawing large parameter trees may trip, and that say nothing about
# the function under test.
_DRAWING_HEALTH_CHECKS = (
    hypothesis.HealthCheck.too_slow,
    hypothesis.HealthCheck.data_too_large,
    hypothesis.HealthCheck.large_base_example,
)


# ---------------------------------------------------------------------------------------
# Strategies


def shapes(
    *, min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4
) -> SearchStrategy[tuple[int, ...]]:
    """Array shapes: ``min_dims`` to ``max_dims`` axes, each of ``min_side`` to ``max_side``.

    >>> from hypothesis import find
    >>> find(shapes(min_dims=2), lambda s: True)
    (1, 1)
    """
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


def float_dtypes() -> SearchStrategy[np.dtype]:
    """float64 or float32, the dtypes fungrad differentiates and ``check_grads`` has
    tolerances for.

    >>> from hypothesis import find
    >>> find(float_dtypes(), lambda d: d.itemsize == 4)
    dtype('float32')
    """
    return st.sampled_from(_FLOAT_DTYPES)


def _float_dtype(dtype: Any) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in _FLOAT_DTYPES:
        why = (
            ": integer and boolean values have no derivative (pass them as constants)"
            if dtype.kind in "biu"
            else ""
        )
        raise ValueError(f"fungrad.testing draws float64 and float32 arrays, not {dtype}{why}")
    return dtype


def _allowed_intervals(
    dtype: np.dtype, min_value: float, max_value: float, away_from: Sequence[float], margin: float
) -> list[tuple[float, float]]:
    """``[min_value, max_value]`` without the open intervals ``(p - margin, p + margin)``,
    as closed intervals whose ends are values of ``dtype`` that obey every bound."""

    def allowed(v: float) -> bool:
        return min_value <= v <= max_value and all(abs(v - p) >= margin for p in away_from)

    def representable(v: float, toward: float) -> float | None:
        # The nearest value of the dtype that is allowed, moving from v toward the inside.
        x = dtype.type(v)
        for _ in range(8):
            if allowed(float(x)):
                return float(x)
            x = np.nextafter(x, dtype.type(toward))
        return None

    cuts = sorted(p for p in away_from if p + margin > min_value and p - margin < max_value)
    intervals, low = [], min_value
    for p in cuts:
        intervals.append((low, p - margin))
        low = max(low, p + margin)
    intervals.append((low, max_value))
    result = []
    for lo, hi in intervals:
        if lo > hi:
            continue
        lo_d, hi_d = representable(lo, math.inf), representable(hi, -math.inf)
        if lo_d is not None and hi_d is not None and lo_d <= hi_d:
            result.append((lo_d, hi_d))
    return result


def _elements(
    dtype: np.dtype, min_value: float, max_value: float, away_from: Sequence[float], margin: float
) -> SearchStrategy[float]:
    intervals = _allowed_intervals(dtype, min_value, max_value, away_from, margin)
    if not intervals:
        raise ValueError(
            f"arrays: no {dtype} value in [{min_value}, {max_value}] is at least {margin} "
            f"away from {tuple(away_from)}; widen the bounds or lower the margin"
        )
    width = 8 * dtype.itemsize
    tiny = float(np.finfo(dtype).tiny)
    choices = []
    for lo, hi in intervals:
        subnormal_end = any(0 < abs(v) < tiny for v in (lo, hi))
        choices.append(
            st.floats(
                lo,
                hi,
                width=width,
                allow_nan=False,
                allow_infinity=False,
                allow_subnormal=subnormal_end,
            )
        )
    return st.one_of(*choices)


def arrays(
    shape: int | tuple[int, ...] | SearchStrategy[tuple[int, ...]],
    dtype: Any = np.float64,
    *,
    min_value: float = -3.0,
    max_value: float = 3.0,
    away_from: float | Sequence[float] = (),
    margin: float = 0.05,
) -> SearchStrategy[np.ndarray]:
    """Arrays of finite values in ``[min_value, max_value]``, each at least ``margin`` away
    from every point of ``away_from`` (put a function's kinks there: 0 for ``relu`` or
    ``abs``, the poles of ``tan``...).

    ``shape`` is a shape, or a strategy of shapes such as :func:`shapes`; ``dtype`` is
    float64 or float32, or a strategy of dtypes such as :func:`float_dtypes`. The margin
    must exceed the finite-difference step (1e-5 in float64, 3e-3 in float32) times the
    size of a random tangent (a few units), or a central difference may straddle a kink:
    the default 0.05 is safe for both dtypes.

    >>> from hypothesis import find
    >>> strategy = arrays((4,), min_value=-2.0, max_value=2.0, away_from=0.0, margin=0.1)
    >>> x = find(strategy, lambda x: x.min() < 0)
    >>> bool(np.all((np.abs(x) >= 0.1) & (x >= -2.0) & (x <= 2.0)))
    True
    """
    if not (math.isfinite(min_value) and math.isfinite(max_value) and min_value < max_value):
        raise ValueError(
            f"arrays: min_value and max_value must be finite with min_value < max_value, "
            f"got {min_value} and {max_value}"
        )
    away_from = tuple(float(p) for p in np.ravel(np.asarray(away_from, dtype=float)))
    if away_from and not margin > 0:
        raise ValueError(f"arrays: margin must be positive, got {margin}")
    if isinstance(shape, int):
        shape = (shape,)

    def of_dtype(d: Any) -> SearchStrategy[np.ndarray]:
        d = _float_dtype(d)
        elements = _elements(d, min_value, max_value, away_from, margin)
        return hnp.arrays(d, shape, elements=elements)

    if isinstance(dtype, SearchStrategy):
        return dtype.flatmap(of_dtype)
    return of_dtype(dtype)


def _is_strategy(x: Any) -> bool:
    return isinstance(x, SearchStrategy)


def pytrees(structure: Any) -> SearchStrategy[Any]:
    """Pytrees shaped like ``structure`` (a dict, list, tuple... of strategies), with each
    strategy replaced by a value it draws. Leaves that are not strategies (integer labels,
    fixed data) are kept as they are.

    >>> from hypothesis import find
    >>> tree = find(pytrees({"w": arrays((2, 3)), "labels": np.array([0, 2])}), lambda t: True)
    >>> tree["w"].shape, tree["labels"]
    ((2, 3), array([0, 2]))
    """
    leaves, treedef = tree_flatten(structure, is_leaf=_is_strategy)
    drawn = [leaf if _is_strategy(leaf) else st.just(leaf) for leaf in leaves]
    return st.tuples(*drawn).map(lambda values: tree_unflatten(treedef, values))


def like(
    example: Any,
    *,
    dtype: Any = None,
    min_value: float = -3.0,
    max_value: float = 3.0,
    away_from: float | Sequence[float] = (),
    margin: float = 0.05,
) -> SearchStrategy[Any]:
    """Pytrees with the structure, shapes and dtypes of ``example`` (a parameter tree, say):
    each floating leaf is drawn by :func:`arrays` with the bounds given here (a Python float
    becomes a 0-d float64 array); integer and boolean leaves are kept as they are.
    ``dtype`` (float64, float32 or a strategy of them) replaces the floating dtypes.

    >>> from hypothesis import find
    >>> params = {"w": np.zeros((2, 3), np.float32), "steps": 10}
    >>> tree = find(like(params, min_value=1.0), lambda t: True)
    >>> tree["w"].dtype, tree["w"].shape, bool(tree["w"].min() >= 1.0), tree["steps"]
    (dtype('float32'), (2, 3), True, 10)
    """
    pairs, treedef = tree_flatten_with_path(example)
    bounds = dict(min_value=min_value, max_value=max_value, away_from=away_from, margin=margin)
    if isinstance(dtype, SearchStrategy):
        # One dtype per drawn tree, as a model's parameters share theirs.
        return dtype.flatmap(lambda d: like(example, dtype=d, **bounds))
    leaves = []
    for path, leaf in pairs:
        value = np.asarray(leaf)
        if value.dtype.kind in "biu":
            leaves.append(st.just(leaf))
        elif value.dtype.kind == "f":
            leaves.append(arrays(value.shape, dtype or value.dtype, **bounds))
        else:
            raise ValueError(
                f"like: the leaf at {keystr(path) or 'the root'} has dtype {value.dtype}; "
                "fungrad.testing draws float64 and float32 arrays and keeps integer and "
                "boolean leaves"
            )
    return st.tuples(*leaves).map(lambda values: tree_unflatten(treedef, values))


# ---------------------------------------------------------------------------------------
# Property tests of derivatives


def _arguments(strategy: Any) -> SearchStrategy[tuple[Any, ...]]:
    """The strategy of the drawn arguments: one strategy draws the only argument; a
    tuple or list holds one entry per positional argument, and its strategies are drawn
    (its constants are held by :func:`_holding_constants`)."""
    if _is_strategy(strategy):
        return st.tuples(strategy)
    if isinstance(strategy, (tuple, list)):
        return st.tuples(*(s for s in strategy if _is_strategy(s)))
    raise TypeError(
        "check_grads_property: strategy must be a hypothesis strategy drawing the function's "
        "argument, or a tuple with one entry per positional argument (a strategy or a "
        f"constant), got {type(strategy).__name__}"
    )


def _holding_constants(f: Callable[..., Any], strategy: Any, name: str) -> Callable[..., Any]:
    """``f`` as a function of its drawn arguments only, with the constants of a tuple
    ``strategy`` in their places: check_grads differentiates what it is given, and a
    constant (labels, fixed data) is not differentiated. Its signature names the drawn
    parameters, so that check_grads's messages name them as ``f`` does."""
    if _is_strategy(strategy) or all(_is_strategy(s) for s in strategy):
        return f
    drawn = [i for i, s in enumerate(strategy) if _is_strategy(s)]
    fixed = list(strategy)

    def held(*values: Any) -> Any:
        args = list(fixed)
        for i, value in zip(drawn, values):
            args[i] = value
        return f(*args)

    held.__name__ = held.__qualname__ = name
    try:
        parameters = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    if len(parameters) == len(fixed) and all(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters
    ):
        chosen = [parameters[i].replace(kind=inspect.Parameter.POSITIONAL_ONLY) for i in drawn]
        held.__signature__ = inspect.Signature(chosen)  # type: ignore[attr-defined]
    return held


def grads_property_test(
    f: Callable[..., Any],
    strategy: Any,
    order: int = 2,
    modes: Sequence[str] = ("fwd", "rev"),
    *,
    max_examples: int | None = None,
    settings: hypothesis.settings | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    eps: float | None = None,
    seed: int = 0,
) -> Callable[[], None]:
    """The test that :func:`check_grads_property` runs, as a function for pytest to collect:
    assign it to a name starting with ``test_`` in a test module.

    >>> import fungrad.numpy as fnp
    >>> test_tanh_derivatives = grads_property_test(fnp.tanh, arrays(shapes()), max_examples=5)
    >>> test_tanh_derivatives()
    """
    arguments = _arguments(strategy)
    if not (isinstance(order, int) and order >= 1):
        raise ValueError(f"check_grads_property: order must be an integer >= 1, got {order!r}")
    for mode in modes:
        if mode not in ("fwd", "rev"):
            raise ValueError(
                f"check_grads_property: unknown mode {mode!r}; use 'fwd' and/or 'rev'"
            )
    if max_examples is not None and max_examples < 1:
        raise ValueError(f"check_grads_property: max_examples must be >= 1, got {max_examples}")
    name = getattr(f, "__name__", "fun")
    name = name if isinstance(name, str) and name.isidentifier() else "fun"

    checked = _holding_constants(f, strategy, name)

    def check_drawn_arguments(args: tuple[Any, ...]) -> None:
        check_grads(checked, args, order, modes, atol=atol, rtol=rtol, eps=eps, seed=seed)

    # hypothesis names the test in its report of a falsifying example.
    check_drawn_arguments.__name__ = check_drawn_arguments.__qualname__ = f"check_grads_of_{name}"

    def test() -> None:
        # The settings are read when the test runs, so that the profile loaded by then
        # (a conftest's, say) applies: only the deadline is off, as the time a
        # derivative check takes varies with the drawn shapes, and drawing large
        # parameter trees is not a health problem.
        base = settings if settings is not None else hypothesis.settings.default
        overrides: dict[str, Any] = {
            "suppress_health_check": tuple(
                set(base.suppress_health_check) | set(_DRAWING_HEALTH_CHECKS)
            )
        }
        if settings is None:
            overrides["deadline"] = None
            # One failure, the first found, shrunk: an AssertionError rather than an
            # ExceptionGroup of every distinct failure hypothesis met while shrinking.
            overrides["report_multiple_bugs"] = False
        if max_examples is not None:
            overrides["max_examples"] = max_examples
        chosen = hypothesis.settings(base, **overrides)
        chosen(hypothesis.given(arguments)(check_drawn_arguments))()

    test.__name__ = test.__qualname__ = f"test_grads_of_{name}"
    test.__doc__ = f"check_grads of {name} at order {order} ({', '.join(modes)}) on drawn inputs."
    return test


def check_grads_property(
    f: Callable[..., Any],
    strategy: Any,
    order: int = 2,
    modes: Sequence[str] = ("fwd", "rev"),
    *,
    max_examples: int | None = None,
    settings: hypothesis.settings | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    eps: float | None = None,
    seed: int = 0,
) -> None:
    """Run :func:`~fungrad.test_util.check_grads` on inputs drawn by hypothesis; raise the
    first failure, on the simplest input hypothesis finds (it reports that input).

    ``strategy`` draws ``f``'s argument, or is a tuple with one entry per positional
    argument: a strategy, or a constant, passed as it is and not differentiated (labels,
    fixed data). ``order`` and ``modes`` are as
    for ``check_grads``, and so are ``atol``, ``rtol`` and ``eps``: by default they
    follow each drawn input's dtype (float64: tolerance 1e-5; float32: 3e-2).

    The hypothesis settings are those of the loaded profile (or ``settings``), with
    ``max_examples`` if given. Unless ``settings`` is given, the deadline is off and one
    failure is raised even where hypothesis meets several (``report_multiple_bugs=False``).
    Call it inside a plain test function; :func:`grads_property_test` gives the same
    check as a test function for pytest to collect.

    >>> import fungrad.numpy as fnp
    >>> check_grads_property(fnp.tanh, arrays(shapes(), float_dtypes()), max_examples=5)
    """
    grads_property_test(
        f,
        strategy,
        order,
        modes,
        max_examples=max_examples,
        settings=settings,
        atol=atol,
        rtol=rtol,
        eps=eps,
        seed=seed,
    )()
