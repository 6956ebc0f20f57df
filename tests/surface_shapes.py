# ruff: noqa: E501  (a table: one probe a line)
"""Probes of the shape, joining, product and constructor functions of fungrad.numpy
(see tests/surface.py): the core ones of fungrad/numpy/__init__.py and those of
fungrad/numpy/_shapes.py."""

from __future__ import annotations

import warnings

import numpy as np
from surface import Probe, uniform, uniforms

import fungrad.numpy as fnp
from fungrad.numpy import _shapes

CONSTANT = "of Python numbers alone, a constant: no operand, nothing to batch"


def u(*shape: int):
    return uniform(-1.0, 1.0, *shape)


def us(*shapes: tuple[int, ...]):
    return uniforms(*((-1.0, 1.0, s) for s in shapes))


def none(rng):
    return ()


def _cross_2d(*args, **kwargs):
    # NumPy 2 deprecates 2-vectors in cross (a warning); fungrad keeps them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return np.cross(*args, **kwargs)


PROBES = [
    # -- the core shape functions
    Probe("reshape", lambda x: fnp.reshape(x, (3, -1)), u(2, 3, 2), reference=lambda x: np.reshape(x, (3, -1))),
    Probe("ravel", fnp.ravel, u(2, 3), reference=np.ravel),
    Probe("transpose", fnp.transpose, u(2, 3, 4), reference=np.transpose),
    Probe("transpose", lambda x: fnp.transpose(x, (1, 2, 0)), u(2, 3, 4), reference=lambda x: np.transpose(x, (1, 2, 0))),
    Probe("swapaxes", lambda x: fnp.swapaxes(x, 0, -1), u(2, 3, 4), reference=lambda x: np.swapaxes(x, 0, -1)),
    Probe("moveaxis", lambda x: fnp.moveaxis(x, (0, 1), (2, 0)), u(2, 3, 4), reference=lambda x: np.moveaxis(x, (0, 1), (2, 0))),
    Probe("expand_dims", lambda x: fnp.expand_dims(x, (0, 2)), u(2, 3), reference=lambda x: np.expand_dims(x, (0, 2))),
    Probe("squeeze", fnp.squeeze, u(1, 3, 1), reference=np.squeeze),
    Probe("squeeze", lambda x: fnp.squeeze(x, 2), u(1, 3, 1), reference=lambda x: np.squeeze(x, 2)),
    Probe("broadcast_to", lambda x: fnp.broadcast_to(x, (2, 4, 3)), u(4, 1), reference=lambda x: np.broadcast_to(x, (2, 4, 3))),
    Probe("atleast_1d", fnp.atleast_1d, u(), reference=np.atleast_1d),
    Probe("atleast_2d", fnp.atleast_2d, u(3), reference=np.atleast_2d),
    Probe("atleast_3d", fnp.atleast_3d, u(2, 3), reference=np.atleast_3d),
    Probe("atleast_3d", fnp.atleast_3d, us((3,), ()), diff=(0, 1), reference=np.atleast_3d),
    Probe("concatenate", lambda x, y: fnp.concatenate([x, y], 1), us((2, 3), (2, 1)), diff=(0, 1), reference=lambda x, y: np.concatenate([x, y], 1)),
    Probe("concatenate", lambda x, y: fnp.concatenate([x, y], None), us((2, 3), (4,)), diff=(0, 1), reference=lambda x, y: np.concatenate([x, y], None)),
    Probe("stack", lambda x, y: fnp.stack([x, y], -1), us((2, 3), (2, 3)), diff=(0, 1), reference=lambda x, y: np.stack([x, y], -1)),
    Probe("hstack", lambda x, y: fnp.hstack([x, y]), us((3,), ()), diff=(0, 1), reference=lambda x, y: np.hstack([x, y])),
    Probe("vstack", lambda x, y: fnp.vstack([x, y]), us((3,), (2, 3)), diff=(0, 1), reference=lambda x, y: np.vstack([x, y])),
    # -- the core products
    Probe("dot", fnp.dot, us((2, 3), (3, 4)), diff=(0, 1), reference=np.dot),
    Probe("dot", fnp.dot, us((2, 3, 4), (4,)), diff=(0, 1), reference=np.dot),
    Probe("dot", fnp.dot, us((2, 3), (2, 3, 4)), diff=(0, 1), reference=np.dot),
    Probe("matmul", fnp.matmul, us((2, 3, 4), (4, 2)), diff=(0, 1), reference=np.matmul),
    Probe("matmul", fnp.matmul, us((4,), (2, 4, 3)), diff=(0, 1), reference=np.matmul),
    Probe("tensordot", fnp.tensordot, us((2, 3, 4), (3, 4, 2)), diff=(0, 1), reference=np.tensordot),
    Probe("tensordot", lambda a, b: fnp.tensordot(a, b, ((0, 2), (2, 0))), us((2, 3, 4), (4, 3, 2)), diff=(0, 1), reference=lambda a, b: np.tensordot(a, b, ((0, 2), (2, 0)))),
    Probe("inner", fnp.inner, us((2, 3), (4, 3)), diff=(0, 1), reference=np.inner),
    Probe("outer", fnp.outer, us((3,), (2, 2)), diff=(0, 1), reference=np.outer),
    Probe("vdot", fnp.vdot, us((2, 3), (6,)), diff=(0, 1), reference=np.vdot),
    # -- the core constructors
    Probe("array", lambda x, y: fnp.array([[x, y], [y, x]]), us((), ()), diff=(0, 1), reference=lambda x, y: np.array([[x, y], [y, x]])),
    Probe("array", lambda x: fnp.array(x, np.float64), u(3), reference=lambda x: np.array(x, np.float64)),
    Probe("asarray", lambda x: fnp.asarray(x), u(3), reference=np.asarray),
    Probe("asarray", lambda x: fnp.asarray([x, 2.0 * x]), u(3), reference=lambda x: np.asarray([x, 2.0 * x])),
    Probe("zeros", lambda: fnp.zeros((2, 3), np.float32), none, diff=(), reference=lambda: np.zeros((2, 3), np.float32), vmap=False, why=CONSTANT),
    Probe("ones", lambda: fnp.ones(3, int), none, diff=(), reference=lambda: np.ones(3, int), vmap=False, why=CONSTANT),
    Probe("full", lambda: fnp.full((2, 2), 1.5), none, diff=(), reference=lambda: np.full((2, 2), 1.5), vmap=False, why=CONSTANT),
    Probe("empty", lambda: fnp.empty((2, 3)) * 0.0, none, diff=(), reference=lambda: np.zeros((2, 3)), vmap=False, why=CONSTANT),
    Probe("arange", lambda: fnp.arange(1, 7, 2), none, diff=(), reference=lambda: np.arange(1, 7, 2), vmap=False, why=CONSTANT),
    Probe("arange", lambda: fnp.arange(0.5, 2.0, 0.25), none, diff=(), reference=lambda: np.arange(0.5, 2.0, 0.25), vmap=False, why=CONSTANT),
    Probe("linspace", lambda: fnp.linspace(0.0, 1.0, 7), none, diff=(), reference=lambda: np.linspace(0.0, 1.0, 7), vmap=False, why=CONSTANT),
    Probe("eye", lambda: fnp.eye(3, 4, k=1, dtype=np.float32), none, diff=(), reference=lambda: np.eye(3, 4, k=1, dtype=np.float32), vmap=False, why=CONSTANT),
    Probe("identity", lambda: fnp.identity(3, int), none, diff=(), reference=lambda: np.identity(3, int), vmap=False, why=CONSTANT),
    Probe("zeros_like", fnp.zeros_like, u(2, 3), diff=(), reference=np.zeros_like),
    Probe("ones_like", lambda x: fnp.ones_like(x, np.float32), u(2, 3), diff=(), reference=lambda x: np.ones_like(x, np.float32)),
    Probe("full_like", lambda x: fnp.full_like(x, 2.5), u(2, 3), diff=(), reference=lambda x: np.full_like(x, 2.5)),
    # -- joining and splitting
    Probe("dstack", lambda x, y: fnp.dstack([x, y]), us((2, 3), (2, 3)), diff=(0, 1), reference=lambda x, y: np.dstack([x, y])),
    Probe("dstack", lambda x, y: fnp.dstack([x, y]), us((3,), (3,)), diff=(0, 1), reference=lambda x, y: np.dstack([x, y])),
    Probe("column_stack", lambda x, y: fnp.column_stack([x, y]), us((3,), (3, 2)), diff=(0, 1), reference=lambda x, y: np.column_stack([x, y])),
    Probe("split", lambda x: fnp.split(x, 3, axis=1), u(2, 6), reference=lambda x: np.split(x, 3, axis=1)),
    Probe("split", lambda x: fnp.split(x, [1, -2, 9]), u(5, 2), reference=lambda x: np.split(x, [1, -2, 9])),
    Probe("array_split", lambda x: fnp.array_split(x, 3), u(7), reference=lambda x: np.array_split(x, 3)),
    Probe("array_split", lambda x: fnp.array_split(x, [2, 3], axis=-1), u(2, 5), reference=lambda x: np.array_split(x, [2, 3], axis=-1)),
    Probe("hsplit", lambda x: fnp.hsplit(x, 2), u(3, 4), reference=lambda x: np.hsplit(x, 2)),
    Probe("hsplit", lambda x: fnp.hsplit(x, [1]), u(4), reference=lambda x: np.hsplit(x, [1])),
    Probe("vsplit", lambda x: fnp.vsplit(x, 2), u(4, 3), reference=lambda x: np.vsplit(x, 2)),
    Probe("dsplit", lambda x: fnp.dsplit(x, [1, 3]), u(2, 2, 4), reference=lambda x: np.dsplit(x, [1, 3])),
    # -- rearranging
    Probe("flip", fnp.flip, u(2, 3), reference=np.flip),
    Probe("flip", lambda x: fnp.flip(x, 1), u(2, 3, 2), reference=lambda x: np.flip(x, 1)),
    Probe("flip", lambda x: fnp.flip(x, (0, -1)), u(2, 3, 2), reference=lambda x: np.flip(x, (0, -1))),
    Probe("fliplr", fnp.fliplr, u(2, 3), reference=np.fliplr),
    Probe("flipud", fnp.flipud, u(3, 2), reference=np.flipud),
    Probe("rot90", fnp.rot90, u(2, 3), reference=np.rot90),
    Probe("rot90", lambda x: fnp.rot90(x, 2), u(2, 3), reference=lambda x: np.rot90(x, 2)),
    Probe("rot90", lambda x: fnp.rot90(x, -1, (2, 0)), u(2, 3, 4), reference=lambda x: np.rot90(x, -1, (2, 0))),
    Probe("roll", lambda x: fnp.roll(x, 2), u(2, 3), reference=lambda x: np.roll(x, 2)),
    Probe("roll", lambda x: fnp.roll(x, -1, axis=1), u(2, 3), reference=lambda x: np.roll(x, -1, axis=1)),
    Probe("roll", lambda x: fnp.roll(x, (1, 2, 5), axis=(0, 1, 0)), u(3, 4), reference=lambda x: np.roll(x, (1, 2, 5), axis=(0, 1, 0))),
    Probe("broadcast_arrays", fnp.broadcast_arrays, us((3,), (2, 1), ()), diff=(0, 1, 2), reference=np.broadcast_arrays),
    Probe("tile", lambda x: fnp.tile(x, 2), u(3), reference=lambda x: np.tile(x, 2)),
    Probe("tile", lambda x: fnp.tile(x, (2, 1, 3)), u(2, 2), reference=lambda x: np.tile(x, (2, 1, 3))),
    Probe("repeat", lambda x: fnp.repeat(x, 2), u(2, 3), reference=lambda x: np.repeat(x, 2)),
    Probe("repeat", lambda x: fnp.repeat(x, 3, axis=1), u(2, 3), reference=lambda x: np.repeat(x, 3, axis=1)),
    Probe("repeat", lambda x: fnp.repeat(x, [2, 0, 1], axis=-1), u(2, 3), reference=lambda x: np.repeat(x, [2, 0, 1], axis=-1)),
    Probe("pad", lambda x: fnp.pad(x, 1), u(2, 3), reference=lambda x: np.pad(x, 1)),
    Probe("pad", lambda x: fnp.pad(x, ((1, 0), (2, 3)), constant_values=((1.0, 2.0), (3.0, 4.0))), u(2, 3), reference=lambda x: np.pad(x, ((1, 0), (2, 3)), constant_values=((1.0, 2.0), (3.0, 4.0)))),
    Probe("pad", lambda x, c: fnp.pad(x, (2, 1), constant_values=c), us((3,), ()), diff=(0, 1), reference=lambda x, c: np.pad(x, (2, 1), constant_values=c)),
    Probe("pad", lambda x: fnp.pad(x, (1, 2), mode="edge"), u(2, 3), reference=lambda x: np.pad(x, (1, 2), mode="edge")),
    Probe("pad", lambda x: fnp.pad(x, ((2, 5), (1, 1)), mode="reflect"), u(3, 2), reference=lambda x: np.pad(x, ((2, 5), (1, 1)), mode="reflect")),
    Probe("pad", lambda x: fnp.pad(x, (4, 2), mode="symmetric"), u(3), reference=lambda x: np.pad(x, (4, 2), mode="symmetric")),
    Probe("pad", lambda x: fnp.pad(x, ((0, 3), (2, 0)), mode="wrap"), u(2, 3), reference=lambda x: np.pad(x, ((0, 3), (2, 0)), mode="wrap")),
    # -- diagonals and triangles
    Probe("diag", fnp.diag, u(3), reference=np.diag),
    Probe("diag", lambda x: fnp.diag(x, -2), u(3), reference=lambda x: np.diag(x, -2)),
    Probe("diag", lambda x: fnp.diag(x, 1), u(3, 4), reference=lambda x: np.diag(x, 1)),
    Probe("diagonal", fnp.diagonal, u(3, 4), reference=np.diagonal),
    Probe("diagonal", lambda x: fnp.diagonal(x, -1, 2, 0), u(3, 2, 4), reference=lambda x: np.diagonal(x, -1, 2, 0)),
    Probe("diagflat", lambda x: fnp.diagflat(x, 1), u(2, 2), reference=lambda x: np.diagflat(x, 1)),
    Probe("trace", fnp.trace, u(3, 3), reference=np.trace),
    Probe("trace", lambda x: fnp.trace(x, 1, 1, 2), u(2, 3, 4), reference=lambda x: np.trace(x, 1, 1, 2)),
    Probe("triu", fnp.triu, u(3, 4), reference=np.triu),
    Probe("triu", lambda x: fnp.triu(x, -1), u(2, 4, 3), reference=lambda x: np.triu(x, -1)),
    Probe("tril", fnp.tril, u(3, 4), reference=np.tril),
    Probe("tril", lambda x: fnp.tril(x, 1), u(4), reference=lambda x: np.tril(x, 1)),
    # -- grids and products
    Probe("meshgrid", fnp.meshgrid, us((3,), (2,)), diff=(0, 1), reference=np.meshgrid),
    Probe("meshgrid", lambda x, y, z: fnp.meshgrid(x, y, z, indexing="ij"), us((3,), (2,), (2,)), diff=(0, 1, 2), reference=lambda x, y, z: np.meshgrid(x, y, z, indexing="ij")),
    Probe("meshgrid", lambda x, y, z: fnp.meshgrid(x, y, z, sparse=True), us((3,), (2,), (2,)), diff=(0, 1, 2), reference=lambda x, y, z: np.meshgrid(x, y, z, sparse=True)),
    Probe("kron", fnp.kron, us((2, 3), (2, 2)), diff=(0, 1), reference=np.kron),
    Probe("kron", fnp.kron, us((3,), (2, 2)), diff=(0, 1), reference=np.kron),
    Probe("cross", fnp.cross, us((3,), (3,)), diff=(0, 1), reference=np.cross),
    Probe("cross", lambda a, b: fnp.cross(a, b, axisa=0, axisc=0), us((3, 2), (4, 1, 3)), diff=(0, 1), reference=lambda a, b: np.cross(a, b, axisa=0, axisc=0)),
    Probe("cross", lambda a, b: fnp.cross(a, b, axis=1), us((2, 3), (2, 3)), diff=(0, 1), reference=lambda a, b: np.cross(a, b, axis=1)),
    Probe("cross", fnp.cross, us((4, 2), (4, 2)), diff=(0, 1), reference=_cross_2d),
    Probe("cross", fnp.cross, us((2,), (3,)), diff=(0, 1), reference=_cross_2d),
    Probe("cross", fnp.cross, us((2, 3), (2,)), diff=(0, 1), reference=_cross_2d),
    # einsum
    Probe("einsum", lambda a, b: fnp.einsum("ij,jk->ik", a, b), us((2, 3), (3, 4)), diff=(0, 1), reference=lambda a, b: np.einsum("ij,jk->ik", a, b)),
    Probe("einsum", lambda a, b: fnp.einsum("bij,bjk->bik", a, b), us((2, 2, 3), (2, 3, 2)), diff=(0, 1), reference=lambda a, b: np.einsum("bij,bjk->bik", a, b)),
    Probe("einsum", lambda a: fnp.einsum("ii", a), u(3, 3), reference=lambda a: np.einsum("ii", a)),
    Probe("einsum", lambda a: fnp.einsum("ii->i", a), u(3, 3), reference=lambda a: np.einsum("ii->i", a)),
    Probe("einsum", lambda a, b: fnp.einsum("i,j->ij", a, b), us((3,), (2,)), diff=(0, 1), reference=lambda a, b: np.einsum("i,j->ij", a, b)),
    Probe("einsum", lambda a: fnp.einsum("ijk->kij", a), u(2, 3, 4), reference=lambda a: np.einsum("ijk->kij", a)),
    Probe("einsum", lambda a, b: fnp.einsum("...ij,...jk", a, b), us((2, 1, 2, 3), (4, 3, 2)), diff=(0, 1), reference=lambda a, b: np.einsum("...ij,...jk", a, b)),
    Probe("einsum", lambda a, b: fnp.einsum("ba,cb", a, b), us((3, 2), (4, 3)), diff=(0, 1), reference=lambda a, b: np.einsum("ba,cb", a, b)),
    Probe("einsum", lambda a, b, c: fnp.einsum("bi,ij,bj->b", a, b, c), us((4, 3), (3, 2), (4, 2)), diff=(0, 1, 2), reference=lambda a, b, c: np.einsum("bi,ij,bj->b", a, b, c)),
    Probe("einsum", lambda a: fnp.einsum("ij->", a), u(2, 3), reference=lambda a: np.einsum("ij->", a)),
    Probe("einsum", lambda a, b: fnp.einsum("iij,kj->ik", a, b), us((3, 3, 2), (4, 2)), diff=(0, 1), reference=lambda a, b: np.einsum("iij,kj->ik", a, b)),
    Probe("einsum", lambda a, b: fnp.einsum("ijk,k->", a, b, optimize=True), us((2, 3, 4), (4,)), diff=(0, 1), reference=lambda a, b: np.einsum("ijk,k->", a, b, optimize=True)),
    Probe("einsum", lambda a, b: fnp.einsum(a, [0, 1], b, [1, 2], [2, 0]), us((2, 3), (3, 4)), diff=(0, 1), reference=lambda a, b: np.einsum(a, [0, 1], b, [1, 2], [2, 0])),
    # -- constructors
    Probe("empty_like", lambda x: fnp.empty_like(x) * 0.0, u(2, 3), diff=(), reference=np.zeros_like),
    Probe("tri", lambda: fnp.tri(3, 4, -1), none, diff=(), reference=lambda: np.tri(3, 4, -1), vmap=False, why=CONSTANT),
    Probe("logspace", lambda: fnp.logspace(0.0, 3.0, 4, base=2.0), none, diff=(), reference=lambda: np.logspace(0.0, 3.0, 4, base=2.0), vmap=False, why=CONSTANT),
    Probe("logspace", lambda a, b: fnp.logspace(a, b, 5), us((2,), (2,)), diff=(0, 1), reference=lambda a, b: np.logspace(a, b, 5)),
    Probe("logspace", lambda a, b: fnp.logspace(a, b, 4, endpoint=False, base=3.0, axis=1), us((2,), ()), diff=(0, 1), reference=lambda a, b: np.logspace(a, b, 4, endpoint=False, base=3.0, axis=1)),
    Probe("copy", fnp.copy, u(2, 3), reference=np.copy),
]  # fmt: skip

# full, full_like and linspace of traced values: fungrad/numpy/_shapes.py has versions
# that NumPy's re-exported functions are not; these probes run once fungrad.numpy uses them.
if getattr(fnp.linspace, "__wrapped__", None) is _shapes.linspace:
    PROBES += [
        Probe("linspace", lambda a, b: fnp.linspace(a, b, 5), us((), ()), diff=(0, 1), reference=lambda a, b: np.linspace(a, b, 5)),
        Probe("linspace", lambda a, b: fnp.linspace(a, b, 4, endpoint=False, axis=-1), us((2,), (3, 1)), diff=(0, 1), reference=lambda a, b: np.linspace(a, b, 4, endpoint=False, axis=-1)),
        Probe("full", lambda v: fnp.full((2, 3), v), u(), reference=lambda v: np.full((2, 3), v)),
        Probe("full", lambda v: fnp.full((2, 3), v), u(3), reference=lambda v: np.full((2, 3), v)),
        Probe("full_like", lambda x, v: fnp.full_like(x, v), us((2, 3), ()), diff=(1,), reference=lambda x, v: np.full_like(x, v)),
    ]  # fmt: skip
