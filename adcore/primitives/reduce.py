"""Non-linear reductions over static axes: max, min (ties split equally) and the 2-norm
(gradient 0 at 0). The linear `reduce_sum` lives with its transpose in shape.py."""

from __future__ import annotations

import numpy as np

from ..builder import shape_error
from .elementwise import DIV, EQ, MUL, SELECT, SMUL, elementwise_cost
from .patterns import reduction
from .registry import Primitive, register
from .shape import REDUCE_SUM, expand_reduced, reduce_shape, shifted


def _extremum_jvp(b, primals, tangents, params, out):
    """The tangent at the arg-extremum, averaged over ties (SPEC §2.4)."""
    (x,), (t,) = primals, tangents
    if t is None:
        return None
    axes = params["axes"]
    winners = b.bind(EQ, x, expand_reduced(b, out, x.type.shape, axes))
    count = b.bind(REDUCE_SUM, b.bind(SELECT, winners, 1.0, 0.0), axes=axes)
    picked = b.bind(REDUCE_SUM, b.bind(SELECT, winners, t, 0.0), axes=axes)
    return b.bind(MUL, picked, b.bind(DIV, 1.0, count))


def _norm_jvp(b, primals, tangents, params, out):
    """d|x| = <x / |x|, dx>, with x / |x| taken as 0 where |x| = 0 (SPEC §2.4)."""
    (x,), (t,) = primals, tangents
    if t is None:
        return None
    axes = params["axes"]
    safe = b.bind(SELECT, b.bind(EQ, out, 0.0), 1.0, out)
    direction = b.bind(DIV, x, expand_reduced(b, safe, x.type.shape, axes))
    return b.bind(REDUCE_SUM, b.bind(SMUL, direction, t), axes=axes)


def _nonempty_reduce_shape(in_types, params):
    (x,) = in_types
    out = reduce_shape(in_types, params)
    if any(x.shape[a] == 0 for a in params["axes"]):
        raise shape_error(f"max and min of an empty array (shape {x.shape}) are undefined",
                          "reduce over a non-empty axis")
    return out


def _reduction(name: str, impl, numpy: str, jvp, shape=reduce_shape, curved: bool = False
               ) -> Primitive:
    """`curved`: a second derivative couples the whole group (norm); max and min are
    piecewise linear."""
    holder: list[Primitive] = []
    prim = register(Primitive(
        name, shape, impl, numpy, jvp, None,
        lambda b, ins, batched, params, size: b.bind(holder[0], ins[0], **shifted(params)),
        elementwise_cost(2.0), reduction(curved),
    ))
    holder.append(prim)
    return prim


def norm(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    return np.sqrt(np.sum(x * x, axis=axes))


REDUCE_MAX = _reduction("reduce_max", lambda x, axes: np.max(x, axis=axes),
                        "np.max({0}, axis={axes})", _extremum_jvp, _nonempty_reduce_shape)
REDUCE_MIN = _reduction("reduce_min", lambda x, axes: np.min(x, axis=axes),
                        "np.min({0}, axis={axes})", _extremum_jvp, _nonempty_reduce_shape)
NORM = _reduction("norm", norm, "np.sqrt(np.sum(np.square({0}), axis={axes}))", _norm_jvp,
                  curved=True)
