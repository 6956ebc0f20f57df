"""``checkpoint`` (alias ``remat``): trade computation for memory in reverse mode.

See fungrad/primitives/remat.py for how the checkpoint primitive splits its program,
and docs/custom_derivatives.md's section on checkpointing for when to use it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from fungrad.core import get_aval
from fungrad.errors import FungradTypeError
from fungrad.interpreters.subprograms import trace_subprogram
from fungrad.primitives.remat import Policy, checkpoint_p, nothing_saveable
from fungrad.tree_util import tree_flatten, tree_unflatten


def checkpoint(
    fun: Callable[..., Any],
    *,
    prevent_cse: bool = True,
    policy: Policy | None = None,
    static_argnums: int | Sequence[int] = (),
) -> Callable[..., Any]:
    """``fun``, whose intermediate values reverse mode recomputes rather than saves.

    As ``jax.checkpoint``: the function computes the same values and derivatives,
    but when it is differentiated in reverse mode (``grad``, ``vjp``, ``jacrev``) the
    forward pass keeps only its inputs (and what ``policy`` allows, see
    :mod:`fungrad.checkpoint_policies`), and the backward pass recomputes the rest.
    Checkpointing each layer of a deep network bounds the memory of a gradient by
    one layer's intermediates plus the layers' inputs. The linearized program shows
    the recomputation: ``make_jaxpr`` of the function ``linearize`` returns prints a
    ``checkpoint`` equation whose program recomputes the saved-away values.

    ``prevent_cse`` is accepted for JAX compatibility: fungrad never merges the
    recomputation with the forward pass (the checkpointed program is compiled as a
    function of its own). ``static_argnums`` marks arguments that are not arrays.

    >>> import fungrad, fungrad.numpy as fnp
    >>> f = checkpoint(lambda x: fnp.sin(fnp.sin(x)))
    >>> float(fungrad.grad(f)(1.0)) == float(fungrad.grad(lambda x: fnp.sin(fnp.sin(x)))(1.0))
    True
    """
    if not callable(fun):
        raise FungradTypeError(f"checkpoint: expected a function, got {type(fun).__name__}")
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
    policy = nothing_saveable if policy is None else policy
    if not callable(policy):
        raise FungradTypeError(
            "checkpoint: policy must be a function (prim, *avals, **params) -> bool, such "
            "as fungrad.checkpoint_policies.dots_saveable"
        )

    @functools.wraps(fun)
    def checkpointed(*args: Any) -> Any:
        n = len(args)
        static_set = {i % n for i in static if -n <= i < n}
        dynamic = [a for i, a in enumerate(args) if i not in static_set]
        leaves, in_tree = tree_flatten(dynamic)
        out_trees: list[Any] = []

        def flat_fun(*xs: Any) -> list[Any]:
            it = iter(tree_unflatten(in_tree, xs))
            full = [args[i] if i in static_set else next(it) for i in range(n)]
            out_leaves, out_tree = tree_flatten(fun(*full))
            out_trees.append(out_tree)
            return out_leaves

        avals = []
        for i, leaf in enumerate(leaves):
            try:
                avals.append(get_aval(leaf))
            except TypeError:
                raise FungradTypeError(
                    f"checkpoint: argument leaf {i} is a {type(leaf).__name__}, not an array; "
                    "mark non-array arguments with static_argnums"
                ) from None
        program, consts, _ = trace_subprogram(flat_fun, avals, "checkpoint")
        outs = checkpoint_p.bind(
            *consts, *leaves, jaxpr=program, prevent_cse=prevent_cse, policy=policy
        )
        return tree_unflatten(out_trees[0], outs)

    return checkpointed


remat = checkpoint
