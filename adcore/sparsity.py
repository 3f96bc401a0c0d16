"""Sparsity detection on the IR: global Jacobian and Hessian patterns from static shapes.

Programs are straight-line and shapes are static, so a pattern holds for every input value:
a structural zero is an exact zero of our derivative (`where` counts both branches).

Forward, every value that depends on the differentiated inputs gets its Jacobian pattern:
a boolean CSR matrix (value elements x differentiated elements, the `wrt` inputs flattened
and concatenated in input order), built from each primitive's local pattern (the
`sparsity` rule of its registry record) by sparse boolean products. Values also carry which
of their elements may be nonzero at all, so the zeros of `eye` and `fill(0)` keep
in-language Jacobians and Hessians sparse.

Hessians by the chain rule twice ("edge pushing"): the second derivative of output o is a
sum over non-linear equations v of d o / d v[r] times the local second derivatives of v[r]
against the first derivatives of its operands. A reverse pass finds which outputs each
element reaches with a nonzero first derivative; each interaction term of a reached element
adds G_left[t] x G_right[t] (and its transpose) to the Hessian of those outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from .ir import Atom, Eqn, Function, Lit, Var
from .primitives.patterns import OUT, Deps, Interaction, Local, check_entries

Matrix = sparse.csr_array


@dataclass(frozen=True)
class Pattern:
    """A 2-D boolean pattern in coordinate form, sorted by row then column."""

    shape: tuple[int, int]
    row: np.ndarray
    col: np.ndarray

    @property
    def nnz(self) -> int:
        return len(self.row)

    @staticmethod
    def of(matrix: Matrix) -> Pattern:
        matrix = Matrix(matrix)
        matrix.sum_duplicates()  # also sorts each row's columns
        rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
        return Pattern(matrix.shape, rows, matrix.indices.astype(np.int64))

    def matrix(self) -> Matrix:
        return _selection(self.row, self.col, self.shape)


@dataclass
class Flow:
    """The forward pass: Jacobian patterns and structural nonzeros of the values, and the
    equations that carry derivatives, with their local patterns and local matrices."""

    n: int
    grads: dict[Var, Matrix] = field(default_factory=dict)
    nonzero: dict[Var, np.ndarray] = field(default_factory=dict)
    steps: list[tuple[Eqn, Local, list[Link | None]]] = field(default_factory=list)


def _selection(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> Matrix:
    return Matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=shape)


def _is_arange(index: np.ndarray, size: int) -> bool:
    return len(index) == size and (size == 0 or (index[0] == 0 and index[-1] == size - 1 and
                                                 bool(np.all(np.diff(index) == 1))))


def _gather_rows(matrix: Matrix, index: np.ndarray) -> Matrix:
    return matrix if _is_arange(index, matrix.shape[0]) else matrix[index]


@dataclass
class Link:
    """How an equation's output depends on one input: a local map (out x in), kept as its
    dependencies and built as a matrix only when a product needs one."""

    deps: Deps
    shape: tuple[int, int]
    identity: bool
    _matrix: Matrix | None = None

    @staticmethod
    def of(deps: Deps, out_size: int, in_size: int) -> Link:
        identity = (deps.rows is None and out_size == in_size and
                    _is_arange(deps.cols, in_size))
        return Link(deps, (out_size, in_size), identity)

    def matrix(self) -> Matrix:
        if self._matrix is None:
            cols, rows = self.deps.cols, self.deps.rows
            if rows is None:
                self._matrix = Matrix((np.ones(len(cols), dtype=bool), cols,
                                       np.arange(len(cols) + 1)), shape=self.shape)
            else:
                self._matrix = _selection(rows, cols, self.shape)
        return self._matrix

    def forward(self, grad: Matrix) -> Matrix:
        """The output's dependencies from the input's: map @ grad."""
        if self.identity:
            return grad
        if self.deps.rows is None:
            return grad[self.deps.cols]
        return self.matrix() @ grad

    def reverse(self, reach: Matrix) -> Matrix:
        """What reaches the input from what reaches the output: reach @ map."""
        return reach if self.identity else reach @ self.matrix()


def _union(first: Matrix | None, second: Matrix) -> Matrix:
    return second if first is None or first is second else first + second


def _nonzero(atom: Atom, flow: Flow) -> np.ndarray | None:
    if isinstance(atom, Lit):
        return None if atom.value != 0 else np.zeros(1, dtype=bool)
    return flow.nonzero.get(atom)


def forward(fn: Function, wrt: Sequence[int]) -> Flow:
    """Jacobian patterns of every value with respect to the `wrt` inputs (input order)."""
    order = sorted(wrt)
    flow = Flow(sum(fn.inputs[i].type.size for i in order))
    offset = 0
    for i in order:
        size = fn.inputs[i].type.size
        flow.grads[fn.inputs[i]] = _selection(np.arange(size), offset + np.arange(size),
                                              (size, flow.n))
        offset += size
    for eqn in fn.eqns:
        _step(eqn, flow)
    return flow


def _step(eqn: Eqn, flow: Flow) -> None:
    carries = [isinstance(a, Var) and a in flow.grads for a in eqn.ins]
    masks = [_nonzero(a, flow) for a in eqn.ins]
    if eqn.ins and not any(carries) and all(m is None for m in masks):
        return  # a constant of inputs that may be anything: it may be anything too
    in_types = tuple(a.type for a in eqn.ins)
    masks = [np.ones(t.size, dtype=bool) if m is None else m for m, t in zip(masks, in_types)]
    local = eqn.prim.sparsity(in_types, eqn.out.type, eqn.params, masks)
    if local.nonzero is not None and not local.nonzero.all():
        flow.nonzero[eqn.out] = local.nonzero
    if not any(carries):
        return
    links = [Link.of(deps, eqn.out.type.size, t.size) if carry and deps is not None else None
             for carry, deps, t in zip(carries, local.deps, in_types)]
    grad = None
    for atom, link in zip(eqn.ins, links):
        if link is not None:
            grad = _union(grad, link.forward(flow.grads[atom]))
    if grad is not None and grad.nnz:
        check_entries(grad.nnz)
        flow.grads[eqn.out] = grad
        flow.steps.append((eqn, local, links))


def jacobian_pattern(fn: Function, wrt: Sequence[int], flow: Flow | None = None) -> Pattern:
    """Output elements x differentiated elements."""
    flow = flow or forward(fn, wrt)
    out = fn.outputs[0]
    grad = flow.grads.get(out) if isinstance(out, Var) else None
    if grad is None:
        return Pattern((out.type.size, flow.n), np.zeros(0, np.int64), np.zeros(0, np.int64))
    return Pattern.of(grad)


def hessian_pattern(fn: Function, wrt: Sequence[int], flow: Flow | None = None) -> Pattern:
    """Rows (output element o, differentiated element i) flattened as o * n + i, columns the
    differentiated elements: output o's Hessian is rows o * n ... o * n + n - 1."""
    flow = flow or forward(fn, wrt)
    out = fn.outputs[0]
    m, n = out.type.size, flow.n
    sides: list[tuple[Matrix, Matrix, Matrix]] = []
    reach: dict[Var, Matrix] = {}
    if isinstance(out, Var) and out in flow.grads:
        reach[out] = sparse.eye_array(m, dtype=bool, format="csr")
    for eqn, local, links in reversed(flow.steps):
        reached = reach.pop(eqn.out, None)
        if reached is None:
            continue
        for interaction in local.curvature:
            terms = _curvature(eqn, interaction, reached, flow, m > 1)
            if terms is not None:
                check_entries(sum(t.nnz for t in terms) + sum(s[0].nnz for s in sides))
                sides.append(terms)
        for atom, link in zip(eqn.ins, links):
            if link is not None:
                assert isinstance(atom, Var)
                reach[atom] = _union(reach.get(atom), link.reverse(reached))
    if m > 1:
        return _symmetric([_triples(*terms) for terms in sides], m, n)
    if not sides:
        return Pattern((n, n), np.zeros(0, np.int64), np.zeros(0, np.int64))
    left = sparse.vstack([t[1] for t in sides], format="csr")
    right = sparse.vstack([t[2] for t in sides], format="csr")
    half = left.T @ right  # sum over terms t of left[t]' right[t]
    check_entries(2 * half.nnz)
    return Pattern.of(half + half.T)


def _curvature(eqn: Eqn, interaction: Interaction, reached: Matrix, flow: Flow,
               owners: bool) -> tuple[Matrix, Matrix, Matrix] | None:
    """(E, A, B) for the interaction terms whose element reaches some output: A[t] and B[t]
    are the two sides' dependencies, E[o, t] says term t reaches output o (only computed
    for several outputs: `owners`)."""
    size = eqn.out.type.size
    rows = np.arange(size) if interaction.rows is None else interaction.rows
    hit = np.zeros(size, dtype=bool)
    hit[reached.indices] = True
    terms = np.flatnonzero(hit[rows])
    sides = []
    for source, elements in (interaction.left, interaction.right):
        atom = eqn.out if source == OUT else eqn.ins[source]
        grad = flow.grads.get(atom) if isinstance(atom, Var) else None
        if grad is None:
            return None
        sides.append(_gather_rows(grad, terms if elements is None else elements[terms]))
    if not owners:
        return reached, sides[0], sides[1]
    reach_of_terms = reached @ _selection(rows[terms], np.arange(len(terms)),
                                          (size, len(terms)))
    return reach_of_terms, sides[0], sides[1]


def _triples(reach: Matrix, left: Matrix, right: Matrix
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(o, i, j) for every term t reaching output o, i in left[t], j in right[t]."""
    owners = reach.tocoo()
    o, t = owners.row.astype(np.int64), owners.col.astype(np.int64)
    width_l, width_r = np.diff(left.indptr)[t], np.diff(right.indptr)[t]
    counts = width_l * width_r
    total = int(counts.sum())
    check_entries(2 * total)
    which = np.repeat(np.arange(len(t)), counts)
    k = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    i = left.indices[left.indptr[t[which]] + k // width_r[which]]
    j = right.indices[right.indptr[t[which]] + k % width_r[which]]
    return o[which], i.astype(np.int64), j.astype(np.int64)


def _symmetric(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], m: int, n: int
               ) -> Pattern:
    """The symmetric union of (o, i, j) triples as rows o * n + i, columns j."""
    o = np.concatenate([p[0] for p in parts] * 2) if parts else np.zeros(0, np.int64)
    i = np.concatenate([p[1] for p in parts] + [p[2] for p in parts]) if parts else o
    j = np.concatenate([p[2] for p in parts] + [p[1] for p in parts]) if parts else o
    rows = o * n + i
    if m * n * n < 2**62:
        keys = np.unique(rows * n + j)
        return Pattern((m * n, n), keys // n, keys % n)
    order = np.lexsort((j, rows))
    rows, j = rows[order], j[order]
    fresh = np.ones(len(rows), dtype=bool)
    fresh[1:] = (rows[1:] != rows[:-1]) | (j[1:] != j[:-1])
    return Pattern((m * n, n), rows[fresh], j[fresh])
