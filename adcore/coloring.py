"""Graph colouring of sparsity patterns: which derivative directions can share one pass.

* Jacobians (Gebremedhin, Manne and Pothen 2005, "What color is your Jacobian?"): columns
  that share no row may share a forward direction (partial distance-2 colouring of the
  columns, done as a distance-1 colouring of the column intersection graph P'P); rows that
  share no column may share a reverse direction (the same on P').
* Hessians (Gebremedhin, Tarafdar, Manne and Pothen 2007, Algorithm 4.1): a star colouring
  of the adjacency graph, so every nonzero is read directly from one Hessian-vector
  product: H[i, j] = (H S)[i, c(j)] when c(j) is unique among row i's colours, else
  (H S)[j, c(i)]. A tridiagonal Hessian takes 3 colours, an arrow 2.

First, a banded colouring in natural order by numpy alone (i mod (w + 1) for columns, i mod
(2w + 1) for a star colouring, w the pattern's half-bandwidth); when it meets a lower bound
known without the greedy loops, it is optimal and numba is never loaded (a tridiagonal
Hessian: 3 colours, a path on four vertices needs 3). Otherwise, greedy over four vertex
orders (natural, largest-first, smallest-last, incidence degree: ColPack's orders; on the
Bratu stencil only incidence degree finds the optimal 5 column colours; on a crown graph
natural and largest-first orders need n / 2 colours, smallest-last and incidence degree
2). The fewest colours win, and the search stops once a colouring meets the lower bound.
The greedy loops run compiled (coloring_kernels.py).
Their cost is the sum over vertices of degree squared, bounded before they run (a pattern
over the bound is treated as dense).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from .primitives.patterns import check_entries

Matrix = sparse.csr_array


@dataclass(frozen=True)
class Coloring:
    colors: np.ndarray  # per vertex (column, row or Hessian index), from 0
    count: int
    ordering: str
    lower_bound: int  # no colouring of this kind can use fewer colours


def column_coloring(pattern: Matrix) -> Coloring:
    """Columns sharing no row get one colour (forward mode: one JVP per colour)."""
    pattern = Matrix(pattern)
    row_counts = np.diff(pattern.indptr)
    check_entries(int(np.sum(row_counts.astype(np.int64) ** 2)))
    graph = _adjacency(pattern.T @ pattern)
    bound = int(row_counts.max()) if pattern.nnz else 0
    banded = _banded(*graph, 1, bound)
    if banded.count <= bound:
        return banded
    return _best(graph, lambda order: _k().greedy_coloring(*graph, order), bound, banded)


def row_coloring(pattern: Matrix) -> Coloring:
    """Rows sharing no column get one colour (reverse mode: one VJP per colour)."""
    return column_coloring(Matrix(pattern).T)


def star_coloring(symmetric: Matrix) -> Coloring:
    """A star colouring of a symmetric pattern (Hessian: one HVP per colour)."""
    ptr, adj = _adjacency(symmetric)
    degree = np.diff(ptr)
    check_entries(int(np.sum(degree.astype(np.int64) ** 2)))
    nonempty = bool(Matrix(symmetric).nnz)
    banded = _banded(ptr, adj, 2, _path_bound(ptr, adj, nonempty))
    if banded.count <= banded.lower_bound:
        return banded
    edge = _edge_ids(ptr, adj)
    return _best((ptr, adj), lambda order: _k().star_coloring(ptr, adj, edge, order),
                 _star_bound(ptr, adj, nonempty), banded)


def _k() -> Any:
    from . import coloring_kernels  # deferred: imports numba

    return coloring_kernels


def _adjacency(matrix: Matrix) -> tuple[np.ndarray, np.ndarray]:
    """(ptr, adj) of the graph whose edges are the off-diagonal entries of a symmetric
    pattern, neighbours sorted."""
    coo = sparse.coo_array(matrix)
    keep = coo.row != coo.col
    graph = Matrix((np.ones(int(keep.sum()), dtype=bool), (coo.row[keep], coo.col[keep])),
                   shape=matrix.shape)
    graph.sum_duplicates()
    return graph.indptr.astype(np.int64), graph.indices.astype(np.int64)


def _edge_ids(ptr: np.ndarray, adj: np.ndarray) -> np.ndarray:
    """One id per undirected edge, the same from both ends: the position of its entry in
    the upper triangle (the transpose of a symmetric CSR pattern has the same layout, so
    transposing the positions gives each entry's mirror)."""
    n = len(ptr) - 1
    positions = Matrix((np.arange(len(adj)), adj, ptr), shape=(n, n))
    mirror = Matrix(positions.T).data  # csc -> csr with sorted indices
    rows = np.repeat(np.arange(n), np.diff(ptr))
    return np.where(rows < adj, np.arange(len(adj)), mirror).astype(np.int64)


def _orders(ptr: np.ndarray, adj: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    """Cheapest first: a colouring that meets the lower bound stops the search."""
    yield "natural", np.arange(len(ptr) - 1, dtype=np.int64)
    yield "largest_first", np.argsort(-np.diff(ptr), kind="stable").astype(np.int64)
    yield "smallest_last", _k().dynamic_order(ptr, adj, False)
    yield "incidence_degree", _k().dynamic_order(ptr, adj, True)


def _banded(ptr: np.ndarray, adj: np.ndarray, distance: int, bound: int) -> Coloring:
    """Colour i mod (distance * w + 1), w the largest |i - j| over edges: vertices at most
    `distance` edges apart are at most distance * w apart in index, so they differ (for a
    star colouring, distance 2 suffices: a path on four vertices then has three colours).
    Found in natural order by numpy alone: when it meets a lower bound known without the
    greedy loops (a tridiagonal pattern: 3 colours, bound 3), numba is never loaded."""
    n = len(ptr) - 1
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(ptr))
    span = distance * int(np.abs(rows - adj).max()) + 1 if len(adj) else 1
    count = min(span, n)
    return Coloring(np.arange(n, dtype=np.int64) % max(count, 1), count, "natural", bound)


def _best(graph: tuple[np.ndarray, np.ndarray], color: Callable[[np.ndarray], np.ndarray],
          bound: int, banded: Coloring | None = None) -> Coloring:
    """The colouring with the fewest colours over the orderings (the first on ties), the
    banded one first."""
    best = None if banded is None else Coloring(banded.colors, banded.count, "natural", bound)
    for name, order in _orders(*graph):
        colors = color(order)
        count = int(colors.max()) + 1 if len(colors) else 0
        if best is None or count < best.count:
            best = Coloring(colors, count, name, bound)
        if count <= bound:
            break  # optimal already
    assert best is not None
    return best


def _path_bound(ptr: np.ndarray, adj: np.ndarray, nonempty: bool) -> int:
    """A path on four vertices needs three colours in a star colouring: one exists when an
    edge joins two vertices that each have another neighbour (or it closes a triangle)."""
    degree = np.diff(ptr)
    if not len(adj):
        return int(nonempty)
    rows = np.repeat(np.arange(len(degree)), degree)
    return 3 if np.any((degree[rows] >= 2) & (degree[adj] >= 2)) else 2


def _star_bound(ptr: np.ndarray, adj: np.ndarray, nonempty: bool) -> int:
    """Star colourings are distance-1 colourings (at least a clique's size), and need the
    path bound's three colours."""
    path = _path_bound(ptr, adj, nonempty)
    if not len(adj):
        return path
    starts = np.argsort(-np.diff(ptr), kind="stable")[:4].astype(np.int64)
    return max(path, int(_k().greedy_clique(ptr, adj, starts)))
