"""Local sparsity patterns: what a primitive's `sparsity` rule returns (see sparsity.py).

A rule sees static facts only: the input and output types, the params, and which elements of
each input may be nonzero (structural zeros come from constants: `eye`, `fill(0)`, the
background of `scatter`; they keep in-language Jacobians and Hessians sparse). It answers
with, per input, the output's first-order dependencies on that input's elements, which
output elements may be nonzero, and the second-order interactions: which pairs of input
elements meet non-linearly in which output element. Elements are flat C-order indices.

Rules must be conservative (a structural zero is an exact zero of our derivative for every
input value) and should be exact: a product's local Hessian is only its cross terms, a
piecewise-linear function (abs, relu, maximum) has none, and a contraction pairs exactly the
elements one of its terms multiplies.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..ir import ArrayType, Params

OUT = -1  # an interaction side reading the output's own dependencies
MAX_ENTRIES = 2**24  # index entries one rule or pattern may build before we call it dense


SparsityRule = Callable[[Sequence[ArrayType], ArrayType, Params, Sequence[np.ndarray]],
                        "Local"]


class PatternTooLarge(Exception):
    """A pattern would take more than MAX_ENTRIES index entries: treat it as dense."""


def check_entries(count: int) -> None:
    if count > MAX_ENTRIES:
        raise PatternTooLarge(count)


@dataclass(frozen=True)
class Deps:
    """Output element rows[k] depends on input element cols[k]; rows None means
    rows = arange(len(cols)): each output element reads exactly one input element."""

    cols: np.ndarray
    rows: np.ndarray | None = None


Side = tuple[int, "np.ndarray | None"]  # (input index or OUT, the element of each term)


@dataclass(frozen=True)
class Interaction:
    """For each term t, d2 out[rows[t]] / d a d b may be nonzero for every a that element
    left[1][t] of source left[0] depends on and every b of the right side. Elements or rows
    None mean arange: one term per output element."""

    left: Side
    right: Side
    rows: np.ndarray | None = None


@dataclass(frozen=True)
class Local:
    deps: tuple[Deps | None, ...]  # per input; None: the derivative is structurally zero
    nonzero: np.ndarray | None = None  # output elements that may be nonzero; None: all
    curvature: tuple[Interaction, ...] = ()


def flat_index(shape: tuple[int, ...]) -> np.ndarray:
    return np.arange(math.prod(shape), dtype=np.int64).reshape(shape)


def broadcast_map(shape: tuple[int, ...], out_shape: tuple[int, ...]) -> np.ndarray:
    """For each element of out_shape, the element of an operand of `shape` that numpy's
    broadcasting reads."""
    index = flat_index(shape)
    return np.broadcast_to(index, out_shape).ravel() if shape != out_shape else index.ravel()


def reduced_map(shape: tuple[int, ...], axes: Sequence[int]) -> np.ndarray:
    """For each input element, the output element a reduction over `axes` adds it to."""
    kept = tuple(1 if i in axes else n for i, n in enumerate(shape))
    return broadcast_map(kept, shape)


def masked(cols: np.ndarray, keep: np.ndarray) -> Deps:
    """Output element k reads input element cols[k] where keep[k] (elsewhere the derivative
    is a structural zero)."""
    return Deps(cols) if keep.all() else Deps(cols[keep], np.flatnonzero(keep))


def scatter(targets: np.ndarray) -> Deps:
    """Input element k feeds output element targets[k]."""
    return Deps(np.arange(len(targets), dtype=np.int64), targets)


def any_into(size: int, targets: np.ndarray, values: np.ndarray) -> np.ndarray:
    """out[r] = any(values[k] for targets[k] == r)."""
    out = np.zeros(size, dtype=bool)
    out[targets[values]] = True
    return out


def self_curvature() -> tuple[Interaction, ...]:
    """A generic non-linear function: every pair of what an output element depends on."""
    return (Interaction((OUT, None), (OUT, None)),)


def elementwise_maps(in_types: Sequence[ArrayType], out: ArrayType) -> list[np.ndarray]:
    return [broadcast_map(t.shape, out.shape) for t in in_types]


def linear_elementwise(in_types: Sequence[ArrayType], out: ArrayType, params: Params,
                       nonzero: Sequence[np.ndarray]) -> Local:
    """add, sub, neg, select (whose mask carries no derivative): each output element reads
    one element of each operand, with derivative +-1 (or 0 where select takes the other).
    Also abs, relu, maximum, minimum: piecewise linear, their first derivatives are 0 or
    +-1 (ties split) and they have no second derivative under our conventions."""
    maps = elementwise_maps(in_types, out)
    skip = int(in_types[0].dtype == "bool")
    deps = tuple(None if k < skip else Deps(m) for k, m in enumerate(maps))
    union = np.zeros(out.size, dtype=bool)
    for m, nz in list(zip(maps, nonzero))[skip:]:
        union |= nz[m]
    return Local(deps, union)


def product(in_types: Sequence[ArrayType], out: ArrayType, params: Params,
            nonzero: Sequence[np.ndarray]) -> Local:
    """a * b: d/da = b and d/db = a (zero where the other factor is a structural zero);
    the only second derivative is the cross term."""
    (ma, mb), (za, zb) = elementwise_maps(in_types, out), nonzero
    za, zb = za[ma], zb[mb]
    return Local((masked(ma, zb), masked(mb, za)), za & zb, (Interaction((0, ma), (1, mb)),))


def quotient(in_types: Sequence[ArrayType], out: ArrayType, params: Params,
             nonzero: Sequence[np.ndarray]) -> Local:
    """a / b: linear in a, so the second derivatives all involve b: (b, a) and (b, b)."""
    ma, mb = elementwise_maps(in_types, out)
    za = nonzero[0][ma]
    return Local((Deps(ma), masked(mb, za)), za,
                 (Interaction((1, mb), (OUT, None)),))


def general(in_types: Sequence[ArrayType], out: ArrayType, params: Params,
            nonzero: Sequence[np.ndarray]) -> Local:
    """A smooth non-linear elementwise function (sin, pow, atan2...)."""
    return Local(tuple(Deps(m) for m in elementwise_maps(in_types, out)), None,
                 self_curvature())


def constant(in_types: Sequence[ArrayType], out: ArrayType, params: Params,
             nonzero: Sequence[np.ndarray]) -> Local:
    """Derivative 0 everywhere (floor, sign, comparisons, stop_gradient); zero stays zero
    for the float ones (floor(0) = sign(0) = 0)."""
    if out.dtype != "float64":
        return Local((None,) * len(in_types))
    maps = elementwise_maps(in_types, out)
    return Local((None,) * len(in_types), nonzero[0][maps[0]])


def reduction(curved: bool) -> SparsityRule:
    """sum, max, min (linear or piecewise linear) and norm (curved) over static axes: each
    input element feeds the one output element of its group."""

    def rule(in_types: Sequence[ArrayType], out: ArrayType, params: Params,
             nonzero: Sequence[np.ndarray]) -> Local:
        local = summed_into(reduced_map(in_types[0].shape, params["axes"]), out.size,
                            nonzero[0])
        return Local(local.deps, local.nonzero, self_curvature() if curved else ())

    return rule


def gather(index: np.ndarray, nonzero: np.ndarray) -> Local:
    """Output element k is input element index[k] (reshape, transpose, broadcast, slices)."""
    index = np.ascontiguousarray(index).ravel()
    return Local((Deps(index),), nonzero[index])


def summed_into(targets: np.ndarray, size: int, nonzero: np.ndarray) -> Local:
    """Input element k is added into output element targets[k] (sums, scatter); an output
    element nothing lands in is zero."""
    targets = np.ascontiguousarray(targets).ravel()
    return Local((scatter(targets),), any_into(size, targets, nonzero))


def contraction(in_types: Sequence[ArrayType], out: ArrayType, params: Params,
                nonzero: Sequence[np.ndarray]) -> Local:
    """einsum: one term per assignment of all letters multiplies a[p] by b[q] into out[r].
    d out[r] / d a[p] is the sum of b[q] over the terms (r, p, q); a pair meets only in a
    term (exact, where a union of dependencies would pair every a with every b)."""
    sa, sb, so = params["spec"]
    if len(set(sa)) < len(sa) or len(set(sb)) < len(sb):
        raise PatternTooLarge("a repeated letter (a diagonal) is not analysed: dense")
    letters = "".join(dict.fromkeys(sa + sb))
    sizes = dict(zip(sa, in_types[0].shape)) | dict(zip(sb, in_types[1].shape))
    check_entries(3 * math.prod(sizes[c] for c in letters))
    grid = [sizes[c] for c in letters]

    def term_index(operand: str, shape: tuple[int, ...]) -> np.ndarray:
        index = flat_index(shape)
        if operand:  # the operand's axes, in grid order, then one broadcast axis per letter
            index = np.transpose(index, [operand.index(c) for c in letters if c in operand])
        kept = [n if c in operand else 1 for c, n in zip(letters, grid)]
        return np.broadcast_to(index.reshape(kept), grid).ravel()

    p, q = term_index(sa, in_types[0].shape), term_index(sb, in_types[1].shape)
    r = term_index(so, out.shape)
    za, zb = nonzero[0][p], nonzero[1][q]
    deps = (Deps(p[zb], r[zb]), Deps(q[za], r[za]))
    return Local(deps, any_into(out.size, r, za & zb), (Interaction((0, p), (1, q), r),))
