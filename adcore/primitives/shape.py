"""Shape primitives (all linear) and constants: each transposes to another one here.

Pairs: reshape <-> reshape, broadcast_to <-> sum_to, reduce_sum <-> broadcast_to,
transpose <-> transpose, getitem <-> scatter, concat <-> getitem.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..builder import shape_error
from ..errors import ShapeError
from ..ir import ArrayType, Atom, Lit, Params, Var, broadcast_shapes
from . import patterns as pt
from .elementwise import align_batched
from .registry import Cost, Primitive, no_jvp, register

if TYPE_CHECKING:
    from ..builder import Builder

Index = tuple[int | tuple[int, int | None, int], ...]  # ints and normalized (start, stop, step)


def _moved(in_types: tuple[ArrayType, ...], out: ArrayType, params: Params) -> Cost:
    return Cost(0.0, 8.0 * (out.size + sum(t.size for t in in_types)))


def _linear_unary(name: str, impl, numpy: str, shape, transpose, batch,
                  sparsity: pt.SparsityRule) -> Primitive:
    holder: list[Primitive] = []

    def jvp(b, primals, tangents, params, out):
        return None if tangents[0] is None else b.bind(holder[0], tangents[0], **params)

    prim = register(Primitive(name, shape, impl, numpy, jvp, transpose, batch, _moved,
                              sparsity, linear=True))
    holder.append(prim)
    return prim


# ---- reshape ----

def _reshape_shape(in_types, params):
    (x,) = in_types
    if math.prod(params["shape"]) != x.size:
        raise shape_error(f"cannot reshape an array of shape {x.shape} (size {x.size}) "
                          f"into shape {params['shape']}",
                          "the new shape must have the same number of elements")
    return ArrayType(params["shape"], x.dtype)


RESHAPE = _linear_unary(
    "reshape", lambda x, shape: np.reshape(x, shape), "np.reshape({0}, {shape})",
    _reshape_shape,
    lambda b, ct, ins, linear, params: [b.bind(RESHAPE, ct, shape=ins[0].type.shape)],
    lambda b, ins, batched, params, size: b.bind(RESHAPE, ins[0], shape=(size,) + params["shape"]),
    lambda in_types, out, params, nonzero: pt.gather(np.arange(out.size), nonzero[0]),
)


# ---- broadcast_to / sum_to (numpy's right-aligned broadcasting and its transpose) ----

def _broadcast_shape(in_types, params):
    (x,) = in_types
    try:
        broadcast_shapes(x.shape, params["shape"])
    except ValueError:
        raise shape_error(f"cannot broadcast shape {x.shape} to {params['shape']}") from None
    if len(params["shape"]) < x.ndim:
        raise shape_error(f"cannot broadcast shape {x.shape} to {params['shape']}")
    return ArrayType(params["shape"], x.dtype)


def _broadcast_batch(b, ins, batched, params, size):
    x = align_batched(b, ins[0], len(params["shape"]))
    return b.bind(BROADCAST, x, shape=(size,) + params["shape"])


def summed_axes(big: tuple[int, ...], small: tuple[int, ...]) -> tuple[int, ...]:
    """Axes of `big` that broadcasting `small` up to `big` expanded."""
    lead = len(big) - len(small)
    return tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(small) if n == 1 and big[lead + i] != 1)


def sum_to(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.sum(x, axis=summed_axes(np.shape(x), shape)).reshape(shape)


def _sum_to_batch(b, ins, batched, params, size):
    x = ins[0]
    axes = tuple(a + 1 for a in summed_axes(x.type.shape[1:], params["shape"]))
    return b.bind(RESHAPE, b.bind(REDUCE_SUM, x, axes=axes), shape=(size,) + params["shape"])


BROADCAST = _linear_unary(
    "broadcast_to", lambda x, shape: np.broadcast_to(x, shape), "np.broadcast_to({0}, {shape})",
    _broadcast_shape,
    lambda b, ct, ins, linear, params: [b.bind(SUM_TO, ct, shape=ins[0].type.shape)],
    _broadcast_batch,
    lambda in_types, out, params, nonzero: pt.gather(
        pt.broadcast_map(in_types[0].shape, out.shape), nonzero[0]),
)
def _sum_to_shape(in_types, params):
    (x,) = in_types
    try:
        _broadcast_shape((ArrayType(params["shape"]),), {"shape": x.shape})
    except ShapeError:
        raise shape_error(f"cannot sum shape {x.shape} down to {params['shape']}",
                          "the result must broadcast back to the operand's shape") from None
    return ArrayType(params["shape"])


SUM_TO = _linear_unary(
    "sum_to", sum_to, "sum_to({0}, {shape})", _sum_to_shape,
    lambda b, ct, ins, linear, params: [b.bind(BROADCAST, ct, shape=ins[0].type.shape)],
    _sum_to_batch,
    lambda in_types, out, params, nonzero: pt.summed_into(
        pt.broadcast_map(out.shape, in_types[0].shape), out.size, nonzero[0]),
)


# ---- reduce_sum over static axes ----

def reduce_shape(in_types, params):
    (x,) = in_types
    if any(not 0 <= a < x.ndim for a in params["axes"]):
        raise shape_error(f"axis out of range for an array of shape {x.shape}")
    return ArrayType(tuple(n for i, n in enumerate(x.shape) if i not in params["axes"]))


def keepdims_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def expand_reduced(b: Builder, y: Atom, shape: tuple[int, ...], axes: tuple[int, ...]) -> Atom:
    """Broadcast a reduction's result back over the input's shape."""
    kept = b.bind(RESHAPE, y, shape=keepdims_shape(shape, axes))
    return b.bind(BROADCAST, kept, shape=shape)


def shifted(params: Params) -> dict:
    return {**params, "axes": tuple(a + 1 for a in params["axes"])}


REDUCE_SUM = _linear_unary(
    "reduce_sum", lambda x, axes: np.sum(x, axis=axes), "np.sum({0}, axis={axes})",
    reduce_shape,
    lambda b, ct, ins, linear, params: [
        expand_reduced(b, ct, ins[0].type.shape, params["axes"])],
    lambda b, ins, batched, params, size: b.bind(REDUCE_SUM, ins[0], **shifted(params)),
    pt.reduction(curved=False),
)


# ---- transpose (axis permutation) ----

def _transpose_shape(in_types, params):
    (x,) = in_types
    if sorted(params["perm"]) != list(range(x.ndim)):
        raise shape_error(f"{params['perm']} is not a permutation of the axes of {x.shape}")
    return ArrayType(tuple(x.shape[p] for p in params["perm"]), x.dtype)


TRANSPOSE = _linear_unary(
    "transpose", lambda x, perm: np.transpose(x, perm), "np.transpose({0}, {perm})",
    _transpose_shape,
    lambda b, ct, ins, linear, params: [
        b.bind(TRANSPOSE, ct, perm=tuple(int(i) for i in np.argsort(params["perm"])))],
    lambda b, ins, batched, params, size: b.bind(
        TRANSPOSE, ins[0], perm=(0,) + tuple(p + 1 for p in params["perm"])),
    lambda in_types, out, params, nonzero: pt.gather(
        np.transpose(pt.flat_index(in_types[0].shape), params["perm"]), nonzero[0]),
)


# ---- basic indexing with static integers and slices, and its transpose ----

def to_numpy_index(index: Index) -> tuple:
    return tuple(i if isinstance(i, int) else slice(*i) for i in index)


def index_source(index: Index) -> str:
    def item(i: int | tuple[int, int | None, int]) -> str:
        if isinstance(i, int):
            return str(i)
        start, stop, step = i
        return f"{start}:{'' if stop is None else stop}:{step}"

    return ", ".join(map(item, index)) + ("," if len(index) == 1 else "")


def _getitem_shape(in_types, params):
    (x,) = in_types
    shape: list[int] = []
    for item, n in zip(params["index"], x.shape):
        if not isinstance(item, int):  # a slice keeps its axis with the slice's length
            start, stop, step = item
            end = stop if stop is not None else (n if step > 0 else -1)
            shape.append(len(range(start, min(end, n), step)))
    return ArrayType(tuple(shape) + x.shape[len(params["index"]):], x.dtype)


def _scatter_shape(in_types, params):
    """The value fills exactly the indexed part of an array of `shape`."""
    value, target = in_types[-1], ArrayType(params.get("shape", in_types[0].shape))
    indexed = _getitem_shape((target,), params)
    if value.shape != indexed.shape:
        raise shape_error(f"a value of shape {value.shape} does not fit the indexed part "
                          f"(shape {indexed.shape}) of an array of shape {target.shape}",
                          "use broadcast_to to give the value that shape")
    return target


def _batched_index(params: Params) -> dict:
    return {**params, "index": ((0, None, 1),) + params["index"]}


def place(value: np.ndarray, shape: tuple[int, ...], index: tuple) -> np.ndarray:
    """zeros(shape) with `value` at `index`. Only the entries outside the index are
    zeroed when it is made of integers and unit-step slices (the transposes of x[1:],
    x[:-1]...): zeroing everything first costs one more pass over the result."""
    spans = _spans(index, shape)
    if spans is None:
        out = np.zeros(shape)
    else:
        out = np.empty(shape)
        for axis, (start, stop) in enumerate(spans):  # outside on this axis, inside before
            inside = tuple(slice(a, b) for a, b in spans[:axis])
            out[inside + (slice(0, start),)] = 0.0
            out[inside + (slice(stop, None),)] = 0.0
    out[index] = value
    return out


def _spans(index: tuple, shape: tuple[int, ...]) -> list[tuple[int, int]] | None:
    spans = []
    for item, n in zip(index, shape):
        if isinstance(item, slice) and item.step in (None, 1):
            start, stop, _ = item.indices(n)
            spans.append((start, max(start, stop)))
        elif isinstance(item, int):
            spans.append((item % n, item % n + 1))
        else:
            return None
    return spans + [(0, n) for n in shape[len(index):]]


GETITEM = _linear_unary(
    "getitem", lambda x, index: x[to_numpy_index(index)], lambda args, params, types: f"{args[0]}[{index_source(params['index'])}]",
    _getitem_shape,
    lambda b, ct, ins, linear, params: [
        b.bind(SCATTER, ct, index=params["index"], shape=ins[0].type.shape)],
    lambda b, ins, batched, params, size: b.bind(GETITEM, ins[0], **_batched_index(params)),
    lambda in_types, out, params, nonzero: pt.gather(
        pt.flat_index(in_types[0].shape)[to_numpy_index(params["index"])], nonzero[0]),
)
SCATTER = _linear_unary(
    "scatter", lambda x, index, shape: place(x, shape, to_numpy_index(index)),
    lambda args, params, types: (
        f"place({args[0]}, {params['shape']!r}, np.s_[{index_source(params['index'])}])"),
    _scatter_shape,
    lambda b, ct, ins, linear, params: [b.bind(GETITEM, ct, index=params["index"])],
    lambda b, ins, batched, params, size: b.bind(
        SCATTER, ins[0], index=((0, None, 1),) + params["index"],
        shape=(size,) + params["shape"]),
    lambda in_types, out, params, nonzero: pt.summed_into(
        pt.flat_index(out.shape)[to_numpy_index(params["index"])], out.size, nonzero[0]),
)


def place_add(base: np.ndarray, value: np.ndarray, index: tuple) -> np.ndarray:
    out = np.array(base, dtype=np.float64)
    out[index] += value
    return out


def place_add_into(base: np.ndarray, value: np.ndarray, index: tuple) -> np.ndarray:
    base[index] += value
    return base


def _scatter_add_jvp(b, primals, tangents, params, out):
    t_base, t_value = tangents
    if t_value is None:
        return t_base
    if t_base is None:
        return b.bind(SCATTER, t_value, index=params["index"], shape=out.type.shape)
    return b.bind(SCATTER_ADD, t_base, t_value, **params)


def _scatter_add_transpose(b, ct, ins, linear, params):
    return [ct if linear[0] else None,
            b.bind(GETITEM, ct, index=params["index"]) if linear[1] else None]


def _scatter_add_batch(b, ins, batched, params, size):
    base, value = (x if bt else b.bind(BROADCAST, x, shape=(size,) + x.type.shape)
                   for x, bt in zip(ins, batched))
    return b.bind(SCATTER_ADD, base, value, index=((0, None, 1),) + params["index"])


def _scatter_add_source(name: str) -> Callable[[Sequence[str], Params, Sequence[ArrayType]],
                                               str]:
    return lambda args, params, types: (
        f"{name}({args[0]}, {args[1]}, np.s_[{index_source(params['index'])}])")


def _scatter_add_sparsity(in_types, out, params, nonzero):
    added = pt.summed_into(pt.flat_index(out.shape)[to_numpy_index(params["index"])],
                           out.size, nonzero[1])
    return pt.Local((pt.Deps(np.arange(out.size)), added.deps[0]), nonzero[0] | added.nonzero)


# base + scatter(value): the transpose of overlapping slices accumulates into one buffer
SCATTER_ADD = register(Primitive(
    "scatter_add", _scatter_shape,
    lambda base, value, index: place_add(base, value, to_numpy_index(index)),
    _scatter_add_source("place_add"), _scatter_add_jvp, _scatter_add_transpose,
    _scatter_add_batch, _moved, _scatter_add_sparsity, linear=True,
    in_place=_scatter_add_source("place_add_into"),
))


# ---- concatenate along an existing axis ----

def _concat_shape(in_types, params):
    axis, first = params["axis"], in_types[0]
    for t in in_types[1:]:
        if t.ndim != first.ndim or any(
                n != m for i, (n, m) in enumerate(zip(t.shape, first.shape)) if i != axis):
            raise shape_error(f"cannot concatenate shapes {first.shape} and {t.shape} "
                              f"along axis {axis}", "all other axes must match")
    if not 0 <= axis < first.ndim:
        raise shape_error(f"axis {axis} is out of range for shape {first.shape}")
    total = sum(t.shape[axis] for t in in_types)
    return ArrayType(first.shape[:axis] + (total,) + first.shape[axis + 1:])


def _concat_jvp(b, primals, tangents, params, out):
    if all(t is None for t in tangents):
        return None
    parts = [b.bind(BROADCAST, Lit(0.0), shape=x.type.shape) if t is None else t
             for x, t in zip(primals, tangents)]
    return b.bind(CONCAT, *parts, **params)


def _concat_transpose(b, ct, ins, linear, params):
    axis, start, cts = params["axis"], 0, []
    for x, lin in zip(ins, linear):
        stop = start + x.type.shape[axis]
        index = ((0, None, 1),) * axis + ((start, stop, 1),)
        cts.append(b.bind(GETITEM, ct, index=index) if lin else None)
        start = stop
    return cts


def _concat_batch(b, ins, batched, params, size):
    parts = [x if bt else b.bind(BROADCAST, x, shape=(size,) + x.type.shape)
             for x, bt in zip(ins, batched)]
    return b.bind(CONCAT, *parts, axis=params["axis"] + 1)


def _concat_sparsity(in_types, out, params, nonzero):
    """Each operand's elements land in their own slab of the output."""
    axis, start, index = params["axis"], 0, pt.flat_index(out.shape)
    deps, landed = [], np.zeros(out.size, dtype=bool)
    for t, nz in zip(in_types, nonzero):
        slab = (slice(None),) * axis + (slice(start, start + t.shape[axis]),)
        part = pt.summed_into(index[slab], out.size, nz)
        deps.append(part.deps[0])
        landed |= part.nonzero
        start += t.shape[axis]
    return pt.Local(tuple(deps), landed)


CONCAT = register(Primitive(
    "concat", _concat_shape, lambda *xs, axis: np.concatenate(xs, axis=axis),
    lambda args, params, types: f"np.concatenate(({', '.join(args)},), axis={params['axis']})", _concat_jvp, _concat_transpose, _concat_batch,
    _moved, _concat_sparsity, linear=True,
))


# ---- stop_gradient and constants ----

STOP_GRADIENT = register(Primitive(
    "stop_gradient", lambda in_types, params: in_types[0], lambda x: x, "{0}", no_jvp, None,
    lambda b, ins, batched, params, size: b.bind(STOP_GRADIENT, ins[0]), _moved, pt.constant,
    elementwise=True, scalar="{0}",  # the identity on values: fused loops read through it
))


def _constant_batch(b: Builder, ins: Sequence[Atom], batched: Sequence[bool], params: Params,
                    size: int) -> Var:
    raise AssertionError("constants have no inputs, so they are never batched")


FILL = register(Primitive(
    "fill", lambda in_types, params: ArrayType(params["shape"]),
    lambda value, shape: np.full(shape, value), "np.full({shape}, {value})", no_jvp, None,
    _constant_batch, _moved,
    lambda in_types, out, params, nonzero: pt.Local((), np.full(out.size, params["value"] != 0)),
))
EYE = register(Primitive(
    "eye", lambda in_types, params: ArrayType((params["n"], params["n"])),
    lambda n: np.eye(n), "np.eye({n})", no_jvp, None, _constant_batch, _moved,
    lambda in_types, out, params, nonzero: pt.Local((), np.eye(params["n"], dtype=bool).ravel()),
))


def zeros(b: Builder, shape: tuple[int, ...]) -> Atom:
    """A zero array of `shape` (a broadcast scalar: no memory)."""
    return Lit(0.0) if shape == () else b.bind(BROADCAST, Lit(0.0), shape=shape)
