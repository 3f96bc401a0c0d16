"""Sparse Jacobians and Hessians (SPEC §3, `sparse: true`) and the `sparsity` operation, as
plans: the pattern (sparsity.py) and its colouring (coloring.py) are computed once, at
compile time, from the static shapes; a call pays only the compressed evaluation (one
derivative pass per colour, vectorized like a dense basis, by the `*_rows` functions of
derivatives.py) and one gather that writes the nonzeros.

Blocks are 2-D, C order: rows are the output's elements (times the row input's, for a
Hessian: row o * |Ii| + i holds d2 out[o] / dxi[i] dxj[.]), columns the input's elements.
The compressed values of one point are the derivative outputs flattened and concatenated;
a block keeps `take`, the position of each of its nonzeros in them. Where colouring saves
nothing (as many colours as dense directions), the plan is the dense one, gathered the
same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from . import coloring
from . import derivatives as d
from .cost import estimate
from .ir import Function
from .jvp import jvp
from .limits import Limits
from .operations import Operation, Outputs, with_value
from .primitives.patterns import PatternTooLarge
from .simplify import simplify
from .sparsity import Pattern, forward, hessian_pattern, jacobian_pattern
from .transpose import vjp

Coloring = coloring.Coloring


@dataclass(frozen=True)
class Block:
    """One result block's pattern. Its `row` and `col` are handed out with every result, read
    only: the pattern is the kernel's, the same for every call (no copy per call)."""

    shape: tuple[int, int]
    row: np.ndarray
    col: np.ndarray
    take: np.ndarray  # per nonzero: its position in one point's compressed values

    def __post_init__(self) -> None:
        self.row.flags.writeable = self.col.flags.writeable = False

    def coo(self, data: np.ndarray | None) -> dict:
        block = {"format": "coo", "shape": self.shape, "row": self.row, "col": self.col}
        if data is not None:
            block["data"] = data
        return block


@dataclass(frozen=True)
class Layout:
    """The wrt inputs in the differentiated vector: flattened, concatenated in input order."""

    names: list[str]
    sizes: np.ndarray

    @property
    def starts(self) -> np.ndarray:
        return np.cumsum(self.sizes) - self.sizes

    def block_of(self, index: np.ndarray) -> np.ndarray:
        return np.searchsorted(np.cumsum(self.sizes), index, side="right")


@dataclass(frozen=True)
class Plan:
    """`build` makes the IR function (inputs: the program's, then the seeds; outputs: the
    value, then the compressed derivatives); `sparsity` never calls it."""

    build: Callable[[], Function]
    seeds: tuple[np.ndarray, ...]
    blocks: dict
    coloring: dict

    @property
    def nnz(self) -> int:
        return int(self.coloring["nonzeros"])


def _layout(fn: Function, wrt: Sequence[int]) -> tuple[list[int], Layout]:
    order = sorted(wrt)
    sizes = np.array([fn.inputs[i].type.size for i in order], dtype=np.int64)
    return order, Layout([fn.names[i] for i in order], sizes)


def operation(plan: Plan, out_ndim: int) -> Operation:
    """The kernel's recipe: compressed values -> COO blocks of nonzeros, and the facts."""
    held = _map_blocks(plan.blocks, lambda b: b.row.nbytes + b.col.nbytes + b.take.nbytes)

    def assemble(outputs: Outputs) -> dict:
        lead = outputs[0].ndim - out_ndim  # 1 with a batch
        parts = [o.reshape(o.shape[:lead] + (-1,)) for o in outputs[1:]]
        if not parts:
            parts = [np.zeros(outputs[0].shape[:lead] + (0,))]
        flat = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)
        blocks = _map_blocks(plan.blocks, lambda b: b.coo(flat[..., b.take]))
        return {"value": outputs[0], plan.coloring["of"]: blocks,
                "coloring": _public(plan.coloring)}

    return Operation(plan.build(), assemble, ("seed",) * len(plan.seeds), plan.seeds,
                     _total(held) + sum(s.nbytes for s in plan.seeds))


def pattern_operation(plan: Plan, fn: Function) -> Operation:
    """`sparsity`: the patterns and the colouring; nothing left to compute at run time."""
    blocks = _map_blocks(plan.blocks, lambda b: b.coo(None))
    facts = _public(plan.coloring)
    nothing = Function(fn.inputs, [], [], fn.names)
    of = plan.coloring["of"]
    held = _total(_map_blocks(plan.blocks, lambda b: 2 * b.row.nbytes))
    return Operation(nothing, lambda outputs: {of: blocks, "coloring": facts}, held_bytes=held)


def _total(tree: dict) -> int:
    return sum(v if isinstance(v, int) else _total(v) for v in tree.values())


def _public(facts: dict) -> dict:
    return {k: v for k, v in facts.items() if k != "of"}


def _map_blocks(blocks: dict, fn: Callable[[Block], Any]) -> dict:
    return {name: fn(b) if isinstance(b, Block) else _map_blocks(b, fn)
            for name, b in blocks.items()}


def _offsets(part_sizes: np.ndarray, part: np.ndarray, local: np.ndarray) -> np.ndarray:
    """Positions in the concatenation of parts: part's start plus the local position."""
    return (np.cumsum(part_sizes) - part_sizes)[part] + local


def _seed(colors: np.ndarray, count: int) -> np.ndarray:
    """One row per colour: 1 at the vertices of that colour."""
    seed = np.zeros((count, len(colors)))
    seed[colors, np.arange(len(colors))] = 1.0
    return seed


def _facts(of: str, mode: str, directions: int, found: Coloring | None, nnz: int) -> dict:
    return {"of": of, "mode": mode, "colors": found.count if found else directions,
            "lower_bound": found.lower_bound if found else None,
            "ordering": found.ordering if found else None, "directions": directions,
            "nonzeros": nnz}


def _full(rows: int, cols: int, limits: Limits) -> Pattern:
    """Every entry: the pattern of a derivative too dense to analyse."""
    limits.check("max_array_elements", rows * cols, limits.max_array_elements,
                 f"a sparse result with all {rows} x {cols} entries (too dense to analyse)",
                 hint="this derivative is dense: ask without sparse")
    return Pattern((rows, cols), np.repeat(np.arange(rows, dtype=np.int64), cols),
                   np.tile(np.arange(cols, dtype=np.int64), rows))


def _analysed(find: Callable[[], Pattern], rows: int, cols: int, limits: Limits
              ) -> tuple[Pattern, bool]:
    try:
        return find(), True
    except PatternTooLarge:
        return _full(rows, cols, limits), False


# ---- Jacobians ----

def jacobian(fn: Function, wrt: Sequence[int], mode: str, limits: Limits) -> Plan:
    order, where = _layout(fn, wrt)
    m, n = fn.outputs[0].type.size, int(where.sizes.sum())
    pattern, known = _analysed(lambda: jacobian_pattern(fn, order), m, n, limits)
    chosen = _jacobian_coloring(fn, order, pattern, mode, limits) if known else None
    dense_mode = mode if mode != "auto" else ("forward" if n <= m else "reverse")
    dense_count = n if dense_mode == "forward" else m
    blocks = where.block_of(pattern.col)
    local = pattern.col - where.starts[blocks]
    if pattern.nnz == 0:
        return _jacobian_plan(partial(simplify, fn), (), pattern, where, local, m,
                              _facts("jacobian", "empty", 0, None, 0))
    if chosen is None or chosen[1].count >= dense_count:
        takes = _offsets(m * where.sizes, blocks, pattern.row * where.sizes[blocks] + local)
        facts = _facts("jacobian", "dense", dense_count, None, pattern.nnz)
        if chosen is not None:
            facts["lower_bound"] = chosen[1].lower_bound
        return _jacobian_plan(partial(d.jacobian, fn, order, dense_mode, limits), (),
                              pattern, where, takes, m, facts)
    kind, found = chosen
    colors, count = found.colors, found.count
    if kind == "forward":
        takes = colors[pattern.col] * m + pattern.row
        rows = d.pushforward_rows
    else:
        takes = _offsets(count * where.sizes, blocks,
                         colors[pattern.row] * where.sizes[blocks] + local)
        rows = d.pullback_rows
    return _jacobian_plan(partial(rows, fn, order, count, limits), (_seed(colors, count),),
                          pattern, where, takes, m,
                          _facts("jacobian", kind, count, found, pattern.nnz))


def _jacobian_plan(build: Callable[[], Function], seeds: tuple[np.ndarray, ...],
                   pattern: Pattern, where: Layout, takes: np.ndarray, m: int, facts: dict
                   ) -> Plan:
    blocks = where.block_of(pattern.col)
    result = {}
    for k, (name, start, size) in enumerate(zip(where.names, where.starts, where.sizes)):
        mine = blocks == k
        result[name] = Block((m, int(size)), pattern.row[mine], pattern.col[mine] - start,
                             takes[mine])
    return Plan(build, seeds, result, facts)


def _jacobian_coloring(fn: Function, order: list[int], pattern: Pattern, mode: str,
                       limits: Limits) -> tuple[str, Coloring] | None:
    """Column colouring (forward) or row colouring (reverse), the cheaper by the cost
    model (colours times the estimated flops of one JVP or one VJP), unless `mode` says."""
    if pattern.nnz == 0:
        return None
    found: dict[str, Coloring] = {}
    for kind, color in (("forward", coloring.column_coloring),
                        ("reverse", coloring.row_coloring)):
        if mode in ("auto", kind):
            try:
                found[kind] = color(pattern.matrix())
            except PatternTooLarge:
                continue  # too costly to colour this way
    if len(found) == 2 and found["reverse"].count < found["forward"].count:
        wrt = d.mask(fn, order)
        per_jvp = estimate(simplify(jvp(fn, wrt, limits))).flops
        per_vjp = estimate(simplify(vjp(fn, wrt, limits))).flops
        if found["reverse"].count * per_vjp < found["forward"].count * per_jvp:
            return "reverse", found["reverse"]
    for kind in ("forward", "reverse"):
        if kind in found:
            return kind, found[kind]
    return None


# ---- Hessians ----

def hessian(fn: Function, wrt: Sequence[int], triangle: str, limits: Limits) -> Plan:
    order, where = _layout(fn, wrt)
    m, n = fn.outputs[0].type.size, int(where.sizes.sum())
    pattern, known = _analysed(lambda: hessian_pattern(fn, order, forward(fn, order)),
                               m * n, n, limits)
    colors = _hessian_coloring(pattern, m, n) if known and pattern.nnz else None
    if pattern.nnz == 0:
        build, seeds, takes = partial(simplify, fn), (), pattern.col
        facts = _facts("hessian", "empty", 0, None, 0)
    elif colors is None or colors[0].count * colors[1].count >= m * n:
        build, seeds = partial(_dense_hessian, fn, order, limits), ()
        takes = _dense_takes(pattern, where, m)
        facts = _facts("hessian", "dense", m * n, None, pattern.nnz)
        if colors is not None:
            facts["lower_bound"] = colors[0].lower_bound
    else:
        count = colors[0].count * colors[1].count
        seeds, takes = _recovery(pattern, where, *colors)
        build = partial(d.hvp_rows, fn, order, count, limits)
        facts = _facts("hessian", "star", count, colors[0], pattern.nnz)
    if triangle == "lower":  # after the recovery, which reads whole rows
        keep = pattern.row % n >= pattern.col
        pattern = Pattern(pattern.shape, pattern.row[keep], pattern.col[keep])
        takes, facts["nonzeros"] = takes[keep], pattern.nnz
    return _hessian_plan(build, seeds, pattern, where, takes, facts, triangle)


def _recovery(pattern: Pattern, where: Layout, star: Coloring, outputs: Coloring
              ) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Seeds (directions, and output weights for several outputs) and where each nonzero
    is read: pass p = output colour * star colours + colour. H[o, i, k] is entry i of the
    pass of colour c(k) when c(k) is unique in row (o, i); otherwise (star colouring)
    c(i) is unique in row (o, k), and it is entry k of the pass of colour c(i)."""
    n = int(where.sizes.sum())
    count = star.count * outputs.count
    i, k = pattern.row % n, pattern.col
    direct = _unique_in_row(pattern.row, star.colors[k], star.count)
    at = np.where(direct, i, k)
    colour = star.colors[np.where(direct, k, i)]
    passes = outputs.colors[pattern.row // n] * star.count + colour
    blocks = where.block_of(at)
    takes = _offsets(count * where.sizes, blocks,
                     passes * where.sizes[blocks] + at - where.starts[blocks])
    seeds = [np.tile(_seed(star.colors, star.count), (outputs.count, 1))]
    if pattern.shape[0] > n:
        seeds.append(np.repeat(_seed(outputs.colors, outputs.count), star.count, axis=0))
    return tuple(seeds), takes


def _hessian_coloring(pattern: Pattern, m: int, n: int) -> tuple[Coloring, Coloring] | None:
    """A star colouring of the union of the outputs' Hessian patterns, and a row colouring
    of the outputs: outputs whose Hessians share no row can share a pass."""
    try:
        star = coloring.star_coloring(Pattern((n, n), pattern.row % n, pattern.col).matrix())
        if m == 1:
            return star, Coloring(np.zeros(1, np.int64), 1, "natural", 1)
        rows = np.unique(pattern.row)
        return star, coloring.row_coloring(Pattern((m, n), rows // n, rows % n).matrix())
    except PatternTooLarge:
        return None


def _unique_in_row(rows: np.ndarray, colors: np.ndarray, count: int) -> np.ndarray:
    """For each entry: no other entry of its row has its colour."""
    keys = rows * count + colors
    if int(rows[-1]) * count < 4 * len(rows) + 2**20:
        return np.bincount(keys)[keys] == 1
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    return counts[inverse] == 1


def _dense_takes(pattern: Pattern, where: Layout, m: int) -> np.ndarray:
    """Positions in the dense blocks (a, b), each out + Ia + Ib, in row-major block order."""
    n = int(where.sizes.sum())
    i, k = pattern.row % n, pattern.col
    a, b = where.block_of(i), where.block_of(k)
    pair = a * len(where.sizes) + b
    block_sizes = m * np.outer(where.sizes, where.sizes).ravel()
    local = ((pattern.row // n) * where.sizes[a] + i - where.starts[a]) * where.sizes[b]
    return _offsets(block_sizes, pair, local + k - where.starts[b])


def _dense_hessian(fn: Function, order: list[int], limits: Limits) -> Function:
    return with_value(fn, d.hessian(fn, order, limits), limits)


def _hessian_plan(build: Callable[[], Function], seeds: tuple[np.ndarray, ...],
                  pattern: Pattern, where: Layout, takes: np.ndarray, facts: dict,
                  triangle: str) -> Plan:
    """Blocks (xi, xj) for the wrt inputs in input order; with the lower triangle only,
    the blocks above the diagonal (xi before xj) are left out."""
    n = int(where.sizes.sum())
    i, k = pattern.row % n, pattern.col
    a, b = where.block_of(i), where.block_of(k)
    result: dict[str, dict[str, Block]] = {}
    for p, (row_name, row_start, row_size) in enumerate(
            zip(where.names, where.starts, where.sizes)):
        for q, (col_name, col_start, col_size) in enumerate(
                zip(where.names, where.starts, where.sizes)):
            if q > p and triangle == "lower":
                continue
            mine = (a == p) & (b == q)
            rows = (pattern.row[mine] // n) * row_size + i[mine] - row_start
            shape = (pattern.shape[0] // n * int(row_size), int(col_size))
            result.setdefault(row_name, {})[col_name] = Block(
                shape, rows, k[mine] - col_start, takes[mine])
    return Plan(build, seeds, result, facts)
