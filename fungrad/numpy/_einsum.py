"""``einsum``: any subscripts (ellipsis, implicit output, repeated letters for diagonals,
letters summed within one operand), contracted pair by pair with ``dot_general`` so a
product of two operands is one matrix product.

The public name joins :mod:`fungrad.numpy` (see the end of its ``__init__``).
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

import fungrad.numpy as fnp
from fungrad.errors import FungradValueError
from fungrad.numpy import (
    _dtype,
    _is_integer,
    _operand,
    _strong,
    ndim,
    shape,
)
from fungrad.primitives.linalg import dot_general
from fungrad.primitives.structural import convert_element_type as _convert
from fungrad.primitives.structural import reduce_sum as _reduce_sum
from fungrad.primitives.structural import reshape as _reshape
from fungrad.primitives.structural import transpose as _transpose

__all__: list[str] = ["einsum"]

ArrayLike = Any

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _parse_term(term: str, nd: int | None, where: str) -> tuple[list[str], int | None]:
    """The letters of one term, with ``...`` kept as one ``"."`` entry, and its position."""
    labels: list[str] = []
    ell = None
    i = 0
    while i < len(term):
        c = term[i]
        if c == ".":
            if term[i : i + 3] != "..." or ell is not None:
                raise FungradValueError(
                    f"einsum: {where} {term!r}: an ellipsis must be written '...' and appear "
                    "at most once"
                )
            ell = len(labels)
            labels.append(".")
            i += 3
            continue
        if c not in _LETTERS:
            raise FungradValueError(
                f"einsum: {where} {term!r}: {c!r} is not a subscript letter (a-z, A-Z)"
            )
        labels.append(c)
        i += 1
    return labels, ell


def _sublist_to_str(sub: Any) -> str:
    out = []
    for s in sub:
        if s is Ellipsis:
            out.append("...")
        elif _is_integer(s) and 0 <= s < 52:
            out.append(_LETTERS[s])
        else:
            raise FungradValueError(
                f"einsum: a subscript in a sublist must be an integer in [0, 52) or ..., got {s!r}"
            )
    return "".join(out)


def einsum(*operands: Any, optimize: Any = "greedy", dtype: Any = None) -> Any:
    """Einstein summation, as ``numpy.einsum``: ``einsum("ij,jk->ik", a, b)``.

    Any subscripts: ``...`` broadcasting, implicit output (the letters seen once, in
    alphabetical order), repeated letters in one operand (diagonals), letters summed
    within one operand, and NumPy's sublist form. The operands are contracted pairwise
    with ``dot_general`` (so the sums run in BLAS), in a greedy order that keeps the
    intermediates small; ``optimize`` is accepted for compatibility (an explicit
    ``["einsum_path", (i, j), ...]`` path is followed).

    >>> import numpy as np, fungrad.numpy as fnp
    >>> fnp.einsum("ij,j->i", np.array([[1, 2], [3, 4]]), np.array([1, 1]))
    array([3, 7])
    >>> fnp.einsum("ii", np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.float64(5.0)
    """
    if not operands:
        raise FungradValueError("einsum needs subscripts and at least one operand")
    if isinstance(operands[0], str):
        subscripts, arrays = operands[0], list(operands[1:])
    else:
        # sublist form: einsum(a, [0, 1], b, [1, 2], [0, 2])
        items = list(operands)
        out_sub = items.pop() if len(items) % 2 else None
        arrays = items[0::2]
        terms = [_sublist_to_str(s) for s in items[1::2]]
        subscripts = ",".join(terms)
        if out_sub is not None:
            subscripts += "->" + _sublist_to_str(out_sub)
    arrays = [_strong(_operand(x)) for x in arrays]
    if dtype is not None:
        arrays = [fnp.astype(x, dtype) for x in arrays]
    subscripts = subscripts.replace(" ", "")
    if (
        subscripts.count("->") > 1
        or ("-" in subscripts.replace("->", ""))
        or (">" in subscripts.replace("->", ""))
    ):
        raise FungradValueError(f"einsum: subscripts {subscripts!r}: '->' may appear only once")
    inputs, arrow, output = subscripts.partition("->")
    in_terms = inputs.split(",")
    if len(in_terms) != len(arrays):
        raise FungradValueError(
            f"einsum: subscripts {subscripts!r} name {len(in_terms)} operand(s), but "
            f"{len(arrays)} were given"
        )
    # Letters and sizes, operand by operand; "..." becomes labels "0", "1", ... (right-aligned).
    terms: list[list[str]] = []
    sizes: dict[str, int] = {}
    n_ell = 0
    parsed = []
    for k, (term, x) in enumerate(zip(in_terms, arrays)):
        labels, ell = _parse_term(term, ndim(x), f"operand {k}")
        letters = len(labels) - (ell is not None)
        if letters > ndim(x) or (ell is None and letters != ndim(x)):
            raise FungradValueError(
                f"einsum: operand {k} has shape {shape(x)} ({ndim(x)} dimensions) but its "
                f"subscripts {term!r} name {letters}"
            )
        parsed.append((labels, ell))
        if ell is not None:
            n_ell = builtins.max(n_ell, ndim(x) - letters)
    ell_labels = [str(i) for i in range(n_ell)]
    for k, ((labels, ell), x) in enumerate(zip(parsed, arrays)):
        if ell is not None:
            extra = ndim(x) - (len(labels) - 1)
            labels = labels[:ell] + ell_labels[n_ell - extra :] + labels[ell + 1 :]
        for label, size in zip(labels, shape(x)):
            known = sizes.get(label, 1)
            if size != known and size != 1 and known != 1:
                what = "the ellipsis dimensions" if label.isdigit() else f"letter {label!r}"
                raise FungradValueError(
                    f"einsum: operand {k} (shape {shape(x)}) has size {size} for {what}, "
                    f"but another operand (or an earlier axis) has size {known}"
                )
            sizes[label] = builtins.max(known, size) if size != 0 and known != 0 else 0
        terms.append(labels)
    if arrow:
        out_labels, out_ell = _parse_term(output, None, "output")
        if out_ell is not None:
            out_labels = out_labels[:out_ell] + ell_labels + out_labels[out_ell + 1 :]
        elif n_ell and any(sizes[e] != 1 for e in ell_labels):
            raise FungradValueError(
                f"einsum: subscripts {subscripts!r}: the operands have ellipsis dimensions "
                "but the output has no '...' to put them in"
            )
        for label in out_labels:
            if label not in sizes:
                raise FungradValueError(
                    f"einsum: output letter {label!r} does not appear in any input subscripts"
                )
        if len(set(out_labels)) != len(out_labels):
            raise FungradValueError(f"einsum: output subscripts {output!r} repeat a letter")
    else:
        counts: dict[str, int] = {}
        for labels in terms:
            for label in labels:
                counts[label] = counts.get(label, 0) + 1
        out_labels = ell_labels + sorted(
            label for label, c in counts.items() if c == 1 and not label.isdigit()
        )
    return _contract(arrays, terms, out_labels, sizes, optimize)


def _take_diagonals(x: Any, labels: list[str]) -> tuple[Any, list[str]]:
    """``x`` with each repeated label reduced to its diagonal (moved last)."""
    while len(set(labels)) != len(labels):
        label = next(lab for lab in labels if labels.count(lab) > 1)
        first = labels.index(label)
        second = labels.index(label, first + 1)
        x = fnp.diagonal(x, 0, first, second)
        labels = [lab for i, lab in enumerate(labels) if i not in (first, second)] + [label]
    return x, labels


def _contract(arrays, terms, out_labels, sizes, optimize):
    ops = []
    for x, labels in zip(arrays, terms):
        x, labels = _take_diagonals(x, labels)
        # size-1 dimensions that broadcast against a larger size: drop them
        drop = [i for i, lab in enumerate(labels) if shape(x)[i] == 1 and sizes[lab] != 1]
        if drop:
            x = _reshape(x, tuple(d for i, d in enumerate(shape(x)) if i not in drop))
            labels = [lab for i, lab in enumerate(labels) if i not in drop]
        ops.append((x, labels))
    ops = [_sum_unneeded(k, ops, out_labels) for k in range(len(ops))]
    path = _explicit_path(optimize, len(ops))
    while len(ops) > 1:
        i, j = next(path) if path is not None else _greedy_pair(ops, out_labels, sizes)
        (x, lx), (y, ly) = ops[i], ops[j]
        rest = [op for k, op in enumerate(ops) if k not in (i, j)]
        needed = set(out_labels).union(*(set(lab) for _, lab in rest))
        shared = [lab for lab in lx if lab in ly]
        if not rest and _free(ly, lx) + _free(lx, ly) == [
            lab for lab in out_labels if lab not in shared
        ] != _free(lx, ly) + _free(ly, lx):
            # the output wants y's free dimensions first: swap, rather than transpose after
            (x, lx), (y, ly) = (y, ly), (x, lx)
            shared = [lab for lab in lx if lab in ly]
        batch = [lab for lab in shared if lab in needed]
        contract = [lab for lab in shared if lab not in needed]
        dims = (
            (tuple(lx.index(c) for c in contract), tuple(ly.index(c) for c in contract)),
            (tuple(lx.index(c) for c in batch), tuple(ly.index(c) for c in batch)),
        )
        z = dot_general(x, y, dims)
        lz = (
            batch
            + [lab for lab in lx if lab not in shared]
            + [lab for lab in ly if lab not in shared]
        )
        rest.append((z, lz))
        ops = rest
        ops[-1] = _sum_unneeded(len(ops) - 1, ops, out_labels)
    x, labels = ops[0]
    if labels != out_labels:
        x = _transpose(x, tuple(labels.index(lab) for lab in out_labels))
    return x


def _free(labels: list[str], other: list[str]) -> list[str]:
    return [lab for lab in labels if lab not in other]


def _sum_unneeded(k: int, ops: list, out_labels: list[str]) -> tuple[Any, list[str]]:
    """Operand ``k`` summed over the labels that no other operand and no output has."""
    x, labels = ops[k]
    others = set(out_labels).union(*(set(lab) for i, (_, lab) in enumerate(ops) if i != k))
    axes = tuple(i for i, lab in enumerate(labels) if lab not in others)
    if not axes:
        return x, labels
    out = _reduce_sum(x, axes)
    if _dtype(out) != _dtype(x):  # reduce_sum's eager impl promotes small integers
        out = _convert(out, _dtype(x))
    return out, [lab for lab in labels if lab in others]


def _explicit_path(optimize: Any, n: int):
    if isinstance(optimize, (list, tuple)) and optimize and optimize[0] == "einsum_path":
        steps = [tuple(step) for step in optimize[1:]]
        if len(steps) != n - 1 or any(len(s) != 2 for s in steps):
            raise FungradValueError(
                f"einsum: the path {optimize!r} must give {n - 1} pairwise contraction(s)"
            )
        return iter(steps)
    if optimize not in (True, False, None, "greedy", "optimal"):
        raise FungradValueError(
            f"einsum: optimize must be a bool, 'greedy', 'optimal' or an einsum_path list, "
            f"got {optimize!r}"
        )
    return None


def _greedy_pair(ops, out_labels, sizes) -> tuple[int, int]:
    """The pair whose contraction has the smallest result (then the fewest flops)."""
    best = None
    for i in range(len(ops)):
        for j in range(i + 1, len(ops)):
            li, lj = ops[i][1], ops[j][1]
            rest = [lab for k, (_, lab) in enumerate(ops) if k not in (i, j)]
            needed = set(out_labels).union(*(set(lab) for lab in rest))
            union = set(li) | set(lj)
            kept = [lab for lab in union if lab in needed]
            size = int(np.prod([sizes[lab] for lab in kept], dtype=np.float64))
            flops = float(np.prod([sizes[lab] for lab in union], dtype=np.float64))
            key = (size, flops)
            if best is None or key < best[0]:
                best = (key, (i, j))
    return best[1]
