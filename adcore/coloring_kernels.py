"""The greedy colouring loops of coloring.py, compiled with numba.

They are sequential by nature (each vertex looks at the colours its neighbours already
took), so they run as compiled loops over CSR adjacency arrays: `ptr` (row starts) and
`adj` (sorted neighbours, no self loops). numba caches the machine code on disk next to
this file (or in NUMBA_CACHE_DIR): a process pays the compile once per machine, then a few
milliseconds to load. This module imports numba, so coloring.py imports it only when a
sparse plan is first built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np


def _compiled(fn: Callable[..., Any]) -> Any:
    try:
        return numba.njit(cache=True, nogil=True)(fn)
    except RuntimeError:  # no writable cache location: compile in memory each process
        return numba.njit(nogil=True)(fn)


@_compiled
def greedy_coloring(ptr: np.ndarray, adj: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Distance-1 greedy colouring: each vertex takes the smallest colour no coloured
    neighbour has."""
    n = len(ptr) - 1
    colors = np.full(n, -1, np.int64)
    forbidden = np.full(n + 1, -1, np.int64)
    for v in order:
        for k in range(ptr[v], ptr[v + 1]):
            c = colors[adj[k]]
            if c >= 0:
                forbidden[c] = v
        c = 0
        while forbidden[c] == v:
            c += 1
        colors[v] = c
    return colors


@_compiled
def dynamic_order(ptr: np.ndarray, adj: np.ndarray, incidence: bool) -> np.ndarray:
    """Degree-based orders with a bucket queue (ColPack's dynamic orders). Smallest-last
    (Matula and Beck): repeatedly remove a vertex of least remaining degree, colour in the
    reverse order of removal. Incidence degree: repeatedly take the vertex with the most
    neighbours already taken, colour in that order (it sweeps a grid like a wavefront)."""
    n = len(ptr) - 1
    top = np.max(ptr[1:] - ptr[:-1]) if n else 0
    degree = np.zeros(n, np.int64) if incidence else (ptr[1:] - ptr[:-1]).astype(np.int64)
    head = np.full(top + 2, -1, np.int64)
    after = np.full(n, -1, np.int64)
    before = np.full(n, -1, np.int64)
    for v in range(n):
        push(v, degree[v], head, after, before)
    taken = np.zeros(n, np.bool_)
    order = np.empty(n, np.int64)
    level = 0
    for step in range(n):
        while head[level] < 0:
            level += -1 if incidence else 1
        v = head[level]
        unlink(v, level, head, after, before)
        taken[v] = True
        order[step if incidence else n - 1 - step] = v
        for k in range(ptr[v], ptr[v + 1]):
            w = adj[k]
            if not taken[w]:
                unlink(w, degree[w], head, after, before)
                degree[w] += 1 if incidence else -1
                push(w, degree[w], head, after, before)
        level = min(level + 1, top) if incidence else max(level - 1, 0)
    return order


@_compiled
def push(v: int, bucket: int, head: np.ndarray, after: np.ndarray, before: np.ndarray
         ) -> None:
    after[v] = head[bucket]
    before[v] = -1
    if head[bucket] >= 0:
        before[head[bucket]] = v
    head[bucket] = v


@_compiled
def unlink(v: int, bucket: int, head: np.ndarray, after: np.ndarray, before: np.ndarray
           ) -> None:
    if before[v] >= 0:
        after[before[v]] = after[v]
    else:
        head[bucket] = after[v]
    if after[v] >= 0:
        before[after[v]] = before[v]


@_compiled
def forbid_around(w: int, v: int, ptr: np.ndarray, adj: np.ndarray, colors: np.ndarray,
                  forbidden: np.ndarray) -> None:
    for k in range(ptr[w], ptr[w + 1]):
        c = colors[adj[k]]
        if c >= 0:
            forbidden[c] = v


@_compiled
def star_coloring(ptr: np.ndarray, adj: np.ndarray, edge: np.ndarray, order: np.ndarray
                  ) -> np.ndarray:
    """Star colouring (GTMP 2007, Algorithm 4.1): a distance-1 colouring in which every
    path on four vertices has three colours. The two-coloured stars built so far are kept
    with their hubs, so v only needs to look two steps away, not three."""
    n = len(ptr) - 1
    colors = np.full(n, -1, np.int64)
    forbidden = np.full(n + 1, -1, np.int64)
    treated = np.full(n, -1, np.int64)
    first_v = np.full(n + 1, -1, np.int64)  # per colour: the last v that saw it on a
    first_w = np.full(n + 1, -1, np.int64)  # neighbour, that neighbour, and their edge
    first_e = np.full(n + 1, -1, np.int64)
    star = np.full(len(adj), -1, np.int64)  # per edge id: its star
    hub = np.full(len(adj) + 1, -1, np.int64)  # per star: its hub, or -1 - v (undecided)
    stars = 0
    for v in order:
        for k in range(ptr[v], ptr[v + 1]):
            w = adj[k]
            cw = colors[w]
            if cw < 0:
                continue
            forbidden[cw] = v
            if first_v[cw] == v:  # v sees colour cw twice (q and w): v must be their hub
                q = first_w[cw]
                if treated[q] != v:
                    forbid_around(q, v, ptr, adj, colors, forbidden)
                    treated[q] = v
                forbid_around(w, v, ptr, adj, colors, forbidden)
                treated[w] = v
            else:
                first_v[cw], first_w[cw], first_e[cw] = v, w, edge[k]
                for k2 in range(ptr[w], ptr[w + 1]):
                    x = adj[k2]
                    if x != v and colors[x] >= 0 and hub[star[edge[k2]]] == x:
                        forbidden[colors[x]] = v  # w is a leaf of x's star
        c = 0
        while forbidden[c] == v:
            c += 1
        colors[v] = c
        stars = grow_stars(v, ptr, adj, edge, colors, first_v, first_w, first_e, star,
                           hub, stars)
    return colors


@_compiled
def grow_stars(v: int, ptr: np.ndarray, adj: np.ndarray, edge: np.ndarray,
               colors: np.ndarray, first_v: np.ndarray, first_w: np.ndarray,
               first_e: np.ndarray, star: np.ndarray, hub: np.ndarray, stars: int) -> int:
    """Put each new edge v-w into a two-coloured star: w's (w is its hub) when w has
    another neighbour of v's colour, v's when v has another neighbour of w's colour, else
    a new star of two vertices."""
    for k in range(ptr[v], ptr[v + 1]):
        w = adj[k]
        cw = colors[w]
        if cw < 0:
            continue
        joined = False
        for k2 in range(ptr[w], ptr[w + 1]):
            x = adj[k2]
            if x != v and colors[x] == colors[v]:
                s = star[edge[k2]]
                hub[s] = w
                star[edge[k]] = s
                joined = True
                break
        if not joined:
            if first_v[cw] == v and first_w[cw] != w:
                s = star[first_e[cw]]
                hub[s] = v
                star[edge[k]] = s
            else:
                hub[stars] = -1 - max(v, w)
                star[edge[k]] = stars
                stars += 1
    return stars


@_compiled
def greedy_clique(ptr: np.ndarray, adj: np.ndarray, starts: np.ndarray) -> int:
    """The largest clique found greedily from each start vertex (a lower bound on any
    distance-1 colouring)."""
    best = 0
    for v in starts:
        members = [v]
        for k in range(ptr[v], ptr[v + 1]):
            u = adj[k]
            everywhere = True
            for w in members:
                row = adj[ptr[u]:ptr[u + 1]]
                i = np.searchsorted(row, w)
                if w != v and (i >= len(row) or row[i] != w):
                    everywhere = False
                    break
            if everywhere:
                members.append(u)
        best = max(best, len(members))
    return best


