"""The operations of SPEC §3 as plans: an IR function per (operation, options) plus the
recipe that turns its outputs into the named results.

A plan's function takes the program's inputs, then the operation's extra arrays (`v`, `u`,
or the basis rows of a Hessian diagonal); `Operation.extras` says which.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from . import derivatives as d
from .builder import Builder
from .errors import ShapeError, Span
from .ir import Function
from .jvp import jvp
from .limits import Limits
from .simplify import simplify
from .transpose import vjp

Outputs = Sequence[np.ndarray]
Assemble = Callable[[Outputs], dict]


@dataclass(frozen=True)
class Operation:
    function: Function
    assemble: Assemble
    extras: tuple[str, ...] = ()  # "v:<name>", "u", "rows" or "seed", in input order
    constants: tuple[np.ndarray, ...] = ()  # the "seed" arrays, fixed when planned
    held_bytes: int = 0  # arrays `assemble` keeps (sparse patterns), for cache accounting


def with_value(fn: Function, derived: Function, limits: Limits) -> Function:
    """One function computing fn's value and derived's outputs (shared work merged)."""
    b = Builder(limits)
    xs = d.fresh_inputs(derived)
    values = d.inline(b, fn, xs[:len(fn.inputs)])
    outs = d.inline(b, derived, xs)
    return simplify(b.function(xs, values + outs, fn.names))


def require_scalar(fn: Function, operation: str, span: Span | None) -> None:
    shape = fn.outputs[0].type.shape
    if shape != ():
        raise ShapeError(f"{operation} needs a program with a scalar result; this one has shape "
                         f"{shape}", span, "use jacobian, or reduce the result with sum(...)")


def _named(names: Sequence[str], arrays: Outputs) -> dict[str, np.ndarray]:
    return dict(zip(names, arrays))


def evaluate(fn: Function, wrt: Sequence[int], limits: Limits) -> Operation:
    return Operation(fn, lambda out: {"value": out[0]})


def gradient(fn: Function, wrt: Sequence[int], limits: Limits, span: Span | None) -> Operation:
    require_scalar(fn, "gradient", span)
    names = d.selected(fn.names, wrt)
    return Operation(d.value_and_grad(fn, wrt, limits),
                     lambda out: {"value": out[0], "gradient": _named(names, out[1:])})


def jacobian(fn: Function, wrt: Sequence[int], limits: Limits, mode: str) -> Operation:
    names = d.selected(fn.names, wrt)
    return Operation(d.jacobian(fn, wrt, mode, limits),
                     lambda out: {"value": out[0], "jacobian": _named(names, out[1:])})


def hessian(fn: Function, wrt: Sequence[int], limits: Limits) -> Operation:
    names = d.selected(fn.names, wrt)
    k = len(names)

    def assemble(out: Outputs) -> dict:
        blocks = out[1:]
        return {"value": out[0], "hessian": {
            xi: {xj: blocks[i * k + j] for j, xj in enumerate(names)}
            for i, xi in enumerate(names)}}

    return Operation(with_value(fn, d.hessian(fn, wrt, limits), limits), assemble)


def hvp(fn: Function, wrt: Sequence[int], limits: Limits, span: Span | None) -> Operation:
    require_scalar(fn, "hvp", span)
    names = d.selected(fn.names, wrt)
    return Operation(d.hvp(fn, wrt, limits),
                     lambda out: {"value": out[0], "hvp": _named(names, out[1:])},
                     tuple(f"v:{n}" for n in names))


def jvp_operation(fn: Function, wrt: Sequence[int], limits: Limits) -> Operation:
    names = d.selected(fn.names, wrt)
    pushforward = simplify(jvp(fn, d.mask(fn, wrt), limits))
    return Operation(pushforward, lambda out: {"value": out[0], "jvp": out[1]},
                     tuple(f"v:{n}" for n in names))


def vjp_operation(fn: Function, wrt: Sequence[int], limits: Limits) -> Operation:
    names = d.selected(fn.names, wrt)
    pullback = simplify(vjp(fn, d.mask(fn, wrt), limits))
    return Operation(pullback, lambda out: {"value": out[0], "vjp": _named(names, out[1:])},
                     ("u",))


def diagonal_rows(fn: Function, wrt: Sequence[int], limits: Limits, chunk: int) -> Operation:
    """Value and e_r' H e_r for a chunk of unit directions; the runner sweeps the chunks."""
    rows = d.hessian_diagonal_rows(fn, wrt, chunk, limits)
    return Operation(with_value(fn, rows, limits), lambda out: {}, ("rows",))


def split_diagonal(rows: np.ndarray, in_shapes: Sequence[tuple[int, ...]], batched: bool
                   ) -> list[np.ndarray]:
    """(B?, n, *out) diagonal rows -> per input (B?, *out, *I_i)."""
    lead = 1 if batched else 0
    parts, offset = [], 0
    for shape in in_shapes:
        size = math.prod(shape)
        part = rows[(slice(None),) * lead + (slice(offset, offset + size),)]
        out_shape = part.shape[lead + 1:]
        part = part.reshape(part.shape[:lead] + shape + out_shape)
        n_in = len(shape)
        perm = (tuple(range(lead)) + tuple(range(lead + n_in, lead + n_in + len(out_shape)))
                + tuple(range(lead, lead + n_in)))
        parts.append(np.transpose(part, perm))
        offset += size
    return parts
