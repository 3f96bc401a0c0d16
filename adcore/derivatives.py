"""Derivative functions as compositions of jvp, vjp and vmap, shared by the in-language
`grad`/`jacobian`/`hessian`/`jvp`/`hvp` and by the operations of SPEC §3.

Every function here maps a `Function` to a new `Function` of the same inputs; `wrt` is the
set of indices of the inputs to differentiate: however it is ordered, tangents, cotangents
and blocks follow the inputs' order (as `jvp` and `vjp` do). Jacobian blocks come out in
row-major order over (output, wrt input), each block of shape output shape + input shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypeVar

from .builder import Builder
from .ir import ArrayType, Atom, Function, Lit, Var, substitute
from .jvp import jvp
from .limits import DEFAULT_LIMITS, Limits
from .primitives.shape import EYE, GETITEM, RESHAPE, TRANSPOSE
from .simplify import simplify
from .transpose import vjp
from .vmap import vmap

T = TypeVar("T")
ALL = (0, None, 1)  # the full slice, in getitem's normalized form


def inline(b: Builder, fn: Function, args: Sequence[Atom]) -> list[Atom]:
    """Emit fn's equations into b with its inputs bound to args; returns its outputs."""
    env: dict[Var, Atom] = dict(zip(fn.inputs, args))
    for eqn in fn.eqns:
        env[eqn.out] = b.emit(eqn, tuple(substitute(a, env) for a in eqn.ins))
    return [substitute(a, env) for a in fn.outputs]


def fresh_inputs(fn: Function) -> list[Var]:
    return [Var(v.type) for v in fn.inputs]


def mask(fn: Function, wrt: Sequence[int]) -> list[bool]:
    return [i in wrt for i in range(len(fn.inputs))]


def selected(xs: Sequence[T], wrt: Sequence[int]) -> list[T]:
    """The differentiated ones among xs, in the inputs' order (the order of jvp's tangents
    and vjp's cotangents), whatever the order of `wrt`."""
    return [x for i, x in enumerate(xs) if i in wrt]


def select_outputs(fn: Function, keep: Sequence[int]) -> Function:
    return simplify(Function(fn.inputs, fn.eqns, [fn.outputs[i] for i in keep], fn.names))


def _basis_blocks(b: Builder, shapes: Sequence[tuple[int, ...]]) -> list[Atom]:
    """Rows of the identity over the concatenated flattened shapes, split per shape:
    block i has shape (n, *shapes[i])."""
    n = sum(math.prod(s) for s in shapes)
    return _columns(b, b.bind(EYE, n=n), shapes)


def _columns(b: Builder, rows: Atom, shapes: Sequence[tuple[int, ...]]) -> list[Atom]:
    """Split the columns of `rows` (m, n) by the flattened shapes: part i is
    (m, *shapes[i])."""
    m, parts, offset = rows.type.shape[0], [], 0
    for shape in shapes:
        size = math.prod(shape)
        cols = b.bind(GETITEM, rows, index=(ALL, (offset, offset + size, 1)))
        parts.append(b.bind(RESHAPE, cols, shape=(m,) + shape))
        offset += size
    return parts


def _rows(b: Builder, stacked: Atom, shapes: Sequence[tuple[int, ...]]) -> list[Atom]:
    """Split the leading basis axis of `stacked` (n, *rest) by the flattened shapes:
    part i has shape (*shapes[i], *rest)."""
    rest, parts, offset = stacked.type.shape[1:], [], 0
    for shape in shapes:
        size = math.prod(shape)
        part = b.bind(GETITEM, stacked, index=((offset, offset + size, 1),))
        parts.append(b.bind(RESHAPE, part, shape=shape + rest))
        offset += size
    return parts


def _move_front_to_back(b: Builder, x: Atom, n_front: int) -> Atom:
    nd = x.type.ndim
    perm = tuple(range(n_front, nd)) + tuple(range(n_front))
    return b.bind(TRANSPOSE, x, perm=perm)


def value_and_grad(fn: Function, wrt: Sequence[int], limits: Limits = DEFAULT_LIMITS
                   ) -> Function:
    """Outputs: the scalar value, then the gradient for each wrt input."""
    pullback = vjp(fn, mask(fn, wrt), limits)
    b = Builder(limits)
    xs = fresh_inputs(fn)
    outs = inline(b, pullback, [*xs, Lit(1.0)])
    return simplify(b.function(xs, outs, fn.names))


def jacfwd(fn: Function, wrt: Sequence[int], limits: Limits = DEFAULT_LIMITS) -> Function:
    """Outputs: fn's outputs, then the Jacobian blocks, one forward pass vectorized over the
    input basis."""
    in_shapes = [x.type.shape for x in selected(fn.inputs, wrt)]
    n = sum(math.prod(s) for s in in_shapes)
    pushforward = jvp(fn, mask(fn, wrt), limits)
    batched = [False] * len(fn.inputs) + [True] * len(wrt)
    mapped = vmap(pushforward, batched, n, limits)
    b = Builder(limits)
    xs = fresh_inputs(fn)
    outs = inline(b, mapped, [*xs, *_basis_blocks(b, in_shapes)])
    values = inline(b, fn, xs)
    blocks = []
    for tangent in outs[len(fn.outputs):]:
        out_ndim = tangent.type.ndim - 1
        for part, shape in zip(_rows(b, tangent, in_shapes), in_shapes):
            blocks.append(_move_front_to_back(b, part, len(shape)) if out_ndim else part)
    return simplify(b.function(xs, values + blocks, fn.names))


def jacrev(fn: Function, wrt: Sequence[int], limits: Limits = DEFAULT_LIMITS) -> Function:
    """Outputs: fn's outputs, then the Jacobian blocks, one reverse pass vectorized over the
    output basis."""
    out_shapes = [a.type.shape for a in fn.outputs]
    m = sum(math.prod(s) for s in out_shapes)
    pullback = vjp(fn, mask(fn, wrt), limits)
    batched = [False] * len(fn.inputs) + [True] * len(fn.outputs)
    mapped = vmap(pullback, batched, m, limits)
    b = Builder(limits)
    xs = fresh_inputs(fn)
    outs = inline(b, mapped, [*xs, *_basis_blocks(b, out_shapes)])
    values = inline(b, fn, xs)
    per_input = [_rows(b, ct, out_shapes) for ct in outs[len(fn.outputs):]]
    blocks = [per_input[i][o] for o in range(len(fn.outputs)) for i in range(len(wrt))]
    return simplify(b.function(xs, values + blocks, fn.names))


def jacobian(fn: Function, wrt: Sequence[int], mode: str = "auto",
             limits: Limits = DEFAULT_LIMITS) -> Function:
    """`mode` auto picks forward when there are no more inputs than outputs to span."""
    if mode == "auto":
        n_in = sum(fn.inputs[i].type.size for i in wrt)
        n_out = sum(a.type.size for a in fn.outputs)
        mode = "forward" if n_in <= n_out else "reverse"
    return (jacfwd if mode == "forward" else jacrev)(fn, wrt, limits)


def derivative_blocks(fn: Function, wrt: Sequence[int], limits: Limits = DEFAULT_LIMITS
                      ) -> Function:
    """The first derivative alone, by reverse mode: the gradient for a scalar function,
    the Jacobian blocks otherwise."""
    scalar = len(fn.outputs) == 1 and fn.outputs[0].type.shape == ()
    full = value_and_grad(fn, wrt, limits) if scalar else jacrev(fn, wrt, limits)
    return select_outputs(full, range(len(fn.outputs), len(full.outputs)))


def hessian(fn: Function, wrt: Sequence[int], limits: Limits = DEFAULT_LIMITS) -> Function:
    """Outputs: block (i, j) = d/dx_j of d fn / dx_i, shape out + I_i + I_j, forward over
    reverse, vectorized over the basis."""
    first = derivative_blocks(fn, wrt, limits)
    second = jacfwd(first, wrt, limits)
    return select_outputs(second, range(len(first.outputs), len(second.outputs)))


def hvp(fn: Function, wrt: Sequence[int], limits: Limits = DEFAULT_LIMITS) -> Function:
    """Inputs: fn's, then one direction per wrt input. Outputs: the value, then H v per wrt
    input (forward over reverse: a small constant times the cost of fn)."""
    first = derivative_blocks(fn, wrt, limits)
    pushforward = jvp(first, mask(first, wrt), limits)
    b = Builder(limits)
    xs = fresh_inputs(fn)
    vs = [Var(x.type) for x in selected(xs, wrt)]
    outs = inline(b, pushforward, [*xs, *vs])
    values = inline(b, fn, xs)
    return simplify(b.function(xs + vs, values + outs[len(first.outputs):], fn.names))


def second_directional(fn: Function, wrt: Sequence[int], limits: Limits = DEFAULT_LIMITS
                       ) -> Function:
    """Inputs: fn's, then one direction t_i per wrt input. Outputs: t' H t for each output
    (forward over forward: differentiate the directional derivative along its own
    direction; a few evaluations' cost, whatever the output size)."""
    first = jvp(fn, mask(fn, wrt), limits)
    second = jvp(first, mask(first, wrt), limits)  # along x only: the tangent input is fixed
    b = Builder(limits)
    xs = fresh_inputs(fn)
    ts = [Var(x.type) for x in selected(xs, wrt)]
    outs = inline(b, second, [*xs, *ts, *ts])
    curvature = outs[-len(fn.outputs):]
    return simplify(b.function(xs + ts, curvature, fn.names))


def hessian_diagonal_rows(fn: Function, wrt: Sequence[int], chunk: int,
                          limits: Limits = DEFAULT_LIMITS) -> Function:
    """Inputs: fn's, then `rows` (chunk, n): unit directions over the concatenated wrt inputs.
    Output: (chunk, *out) with row r = e_r' H e_r, for `chunk` directions in one pass."""
    curvature = second_directional(fn, wrt, limits)
    batched = [False] * len(fn.inputs) + [True] * len(wrt)
    mapped = vmap(curvature, batched, chunk, limits)
    in_shapes = [x.type.shape for x in selected(fn.inputs, wrt)]
    n = sum(math.prod(s) for s in in_shapes)
    b = Builder(limits)
    xs = fresh_inputs(fn)
    rows = Var(ArrayType((chunk, n)))
    (diagonal,) = inline(b, mapped, [*xs, *_columns(b, rows, in_shapes)])
    return simplify(b.function(xs + [rows], [diagonal], fn.names))



# ---- many derivative passes at once: one per row of a seed matrix (sparse plans) ----

def _over_rows(fn: Function, transformed: Function, drop: int,
               seed_shapes: Sequence[tuple[int, ...]],
               arguments: Callable[[Builder, list[Var]], list[Atom]], limits: Limits
               ) -> Function:
    """Inputs: fn's, then the seed matrices (shapes `seed_shapes`, `count` rows each).
    Outputs: fn's outputs, then `transformed`'s outputs after its first `drop`, vmapped
    over the rows: `arguments` turns the seeds into transformed's inputs after fn's."""
    count = seed_shapes[0][0]
    batched = [False] * len(fn.inputs) + [True] * (len(transformed.inputs) - len(fn.inputs))
    mapped = vmap(transformed, batched, count, limits)
    b = Builder(limits)
    xs = fresh_inputs(fn)
    seeds = [Var(ArrayType(shape)) for shape in seed_shapes]
    outs = inline(b, mapped, [*xs, *arguments(b, seeds)])
    values = inline(b, fn, xs)
    return simplify(b.function(xs + seeds, values + outs[drop:], fn.names))


def _wrt_shapes(fn: Function, order: Sequence[int]) -> list[tuple[int, ...]]:
    return [fn.inputs[i].type.shape for i in order]


def pushforward_rows(fn: Function, wrt: Sequence[int], count: int,
                     limits: Limits = DEFAULT_LIMITS) -> Function:
    """Inputs: fn's, then `rows` (count, n): tangents over the wrt inputs flattened and
    concatenated in input order. Outputs: fn's value, then J rows' (count, *out)."""
    order = sorted(wrt)
    shapes = _wrt_shapes(fn, order)
    n = sum(math.prod(s) for s in shapes)
    return _over_rows(fn, jvp(fn, mask(fn, order), limits), len(fn.outputs), [(count, n)],
                      lambda b, seeds: _columns(b, seeds[0], shapes), limits)


def pullback_rows(fn: Function, wrt: Sequence[int], count: int,
                  limits: Limits = DEFAULT_LIMITS) -> Function:
    """Inputs: fn's, then `rows` (count, m): cotangents over the flattened output.
    Outputs: fn's value, then rows J per wrt input (count, *I_i), in input order."""
    out_shape = fn.outputs[0].type.shape
    m = math.prod(out_shape)
    return _over_rows(fn, vjp(fn, mask(fn, sorted(wrt)), limits), len(fn.outputs),
                      [(count, m)],
                      lambda b, seeds: [b.bind(RESHAPE, seeds[0], shape=(count,) + out_shape)],
                      limits)


def hvp_rows(fn: Function, wrt: Sequence[int], count: int, limits: Limits = DEFAULT_LIMITS
             ) -> Function:
    """Inputs: fn's, then `directions` (count, n) over the wrt inputs (flattened, input
    order) and, for a non-scalar fn, `weights` (count, m) over its output elements.
    Outputs: fn's value, then per wrt input (count, *I_i): row r is H(w_r . f) t_r, forward
    over reverse (the weights of a scalar fn are 1, folded into the reverse pass)."""
    order = sorted(wrt)
    shapes = _wrt_shapes(fn, order)
    n = sum(math.prod(s) for s in shapes)
    out_shape = fn.outputs[0].type.shape
    if out_shape == ():
        first = derivative_blocks(fn, order, limits)
        seeds = [(count, n)]
    else:
        pullback = vjp(fn, mask(fn, order), limits)
        first = select_outputs(pullback, range(len(fn.outputs), len(pullback.outputs)))
        seeds = [(count, n), (count, math.prod(out_shape))]

    def arguments(b: Builder, rows: list[Var]) -> list[Atom]:
        weights = [b.bind(RESHAPE, w, shape=(count,) + out_shape) for w in rows[1:]]
        return [*weights, *_columns(b, rows[0], shapes)]

    return _over_rows(fn, jvp(first, mask(first, order), limits), len(first.outputs), seeds,
                      arguments, limits)
