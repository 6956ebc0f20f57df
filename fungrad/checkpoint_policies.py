"""What :func:`fungrad.checkpoint` may save for the backward pass (JAX's names).

A policy is ``policy(prim, *avals, **params) -> bool``: whether the output of an
equation may be saved; everything else inside the checkpointed function is
recomputed in the backward pass. The default, ``nothing_saveable``, saves only the
function's inputs.
"""

from __future__ import annotations

from fungrad.primitives.remat import (
    checkpoint_dots,
    dots_saveable,
    dots_with_no_batch_dims_saveable,
    everything_saveable,
    nothing_saveable,
    save_anything_except_these_names,
    save_only_these_primitives,
)

__all__ = [
    "checkpoint_dots",
    "dots_saveable",
    "dots_with_no_batch_dims_saveable",
    "everything_saveable",
    "nothing_saveable",
    "save_anything_except_these_names",
    "save_only_these_primitives",
]
