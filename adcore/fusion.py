"""Fusion of elementwise chains into single compiled loops (numba).

numpy evaluates `a*b + c` as two passes over memory with a temporary in between; on large
arrays the passes, not the arithmetic, cost the time. Here each connected group of
elementwise equations of one shape becomes one loop nest per value the rest of the program
needs: one pass, no temporaries. The loop body is generated from the IR (each primitive's
`scalar` template), like the numpy source: generated names and literals only.

Compiling with numba takes tens to hundreds of milliseconds, so `api` fuses a kernel in
the background once it is called repeatedly, and swaps the fused code in when ready.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .codegen import render_value
from .ir import Atom, Eqn, Function, Lit, Var
from .primitives.registry import runtime_primitive
from .primitives.shape import GETITEM
from .simplify import eliminate_dead_code

MIN_FUSED_ELEMENTS = 4096  # smaller arrays are cheap to pass over twice
ENABLED = os.environ.get("NABLA_FUSION", "1") != "0"
_pool: list[ThreadPoolExecutor] = []


def fusion_available() -> bool:
    return ENABLED and importlib.util.find_spec("numba") is not None


def background() -> ThreadPoolExecutor:
    """One worker thread for all fusion compiles: they are rare and numba holds the GIL."""
    if not _pool:
        _pool.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="nabla-fusion"))
    return _pool[0]


def fusable(eqn: Eqn) -> bool:
    return (eqn.prim.elementwise and eqn.prim.scalar is not None
            and eqn.out.type.size >= MIN_FUSED_ELEMENTS)


def _costly(fn: Function, member_of: dict[Var, int]) -> dict[Var, bool]:
    """Whether recomputing a group member costs more than a pass over memory: its loop body
    within the group holds a transcendental (or a division)."""
    costly: dict[Var, bool] = {}
    for e in fn.eqns:
        if e.out in member_of:
            flops = e.prim.cost(tuple(a.type for a in e.ins), e.out.type, e.params).flops
            costly[e.out] = flops >= 4 * e.out.type.size or any(
                costly.get(a, False) for a in e.ins if isinstance(a, Var))
    return costly


def _components(fn: Function) -> list[list[Eqn]]:
    """Groups of fusable equations connected through values of one shape."""
    parent: dict[Var, Var] = {}

    def find(v: Var) -> Var:
        while parent[v] is not v:
            parent[v] = parent[parent[v]]
            v = parent[v]
        return v

    members = [e for e in fn.eqns if fusable(e)]
    for e in members:
        parent[e.out] = e.out
    for e in members:
        for a in e.ins:
            if isinstance(a, Var) and a in parent and a.type.shape == e.out.type.shape:
                parent[find(a)] = find(e.out)
    groups: dict[Var, list[Eqn]] = {}
    for e in members:
        groups.setdefault(find(e.out), []).append(e)
    return [g for g in groups.values() if len(g) > 1]


def _cone(output: Var, group: dict[Var, Eqn], stored: set[Var]) -> list[Eqn]:
    """The equations of the group that `output` needs, in dependency order; `stored`
    members are read from memory, not recomputed."""
    cone: list[Eqn] = []
    seen: set[Var] = set()
    stack: list[tuple[Var, bool]] = [(output, False)]
    while stack:
        var, expanded = stack.pop()
        if expanded:
            cone.append(group[var])
            continue
        if var in seen:
            continue
        seen.add(var)
        stack.append((var, True))
        for a in group[var].ins:
            if isinstance(a, Var) and a in group and a not in seen and a not in stored:
                stack.append((a, False))
    return cone


def _element(shape: tuple[int, ...], out_shape: tuple[int, ...]) -> list[str]:
    """The indices of an operand at the loop position, numpy-broadcast: right-aligned,
    size-1 axes stay at 0."""
    lead = len(out_shape) - len(shape)
    return [f"i{lead + k}" if n != 1 or out_shape[lead + k] == 1 else "0"
            for k, n in enumerate(shape)]


def _through_slices(var: Var, items: list[str], producers: dict[Var, Eqn]
                    ) -> tuple[Var, list[str]]:
    """A view made of integer indices and unit-step slices (x[1:], u[1:-1, 2:]) is read
    straight from the array it views, with the offsets spelled out: numba then sees that
    array's layout, usually contiguous, and vectorizes the loop (a strided view's
    layout kept it scalar: 2x slower where the strong-zero product selects)."""
    eqn = producers.get(var)
    while (eqn is not None and eqn.prim is GETITEM and isinstance(eqn.ins[0], Var)
           and all(isinstance(i, int) or i[2] == 1 for i in eqn.params["index"])):
        base_items, axis = [], 0
        for item in eqn.params["index"]:
            if isinstance(item, int):
                base_items.append(str(item))
            else:
                offset = f" + {item[0]}" if item[0] else ""
                base_items.append(items[axis] + offset)
                axis += 1
        var, items = eqn.ins[0], base_items + items[axis:]
        eqn = producers.get(var)
    return var, items


def _loop_source(output: Var, group: dict[Var, Eqn], stored: set[Var],
                 producers: dict[Var, Eqn]) -> tuple[str, list[Var]]:
    """Python source of one loop nest computing `output` from the group's leaves: every
    element in one pass, with numpy broadcasting spelled out as indices (shapes are
    static), so small trailing axes cost no per-row overhead."""
    cone = _cone(output, group, stored - {output})
    computed = {e.out for e in cone}
    shape = output.type.shape
    names: dict[Var, str] = {}
    arrays: dict[Var, str] = {}  # the arrays the loop reads, by argument name
    for a in dict.fromkeys(a for e in cone for a in e.ins
                           if isinstance(a, Var) and a not in computed):
        base, items = _through_slices(a, _element(a.type.shape, shape), producers)
        name = arrays.setdefault(base, f"x{len(arrays)}")
        names[a] = f"{name}[{', '.join(items)}]" if items else name
    leaves = list(arrays)

    def arg(a: Atom) -> str:
        return render_value(float(a.value)) if isinstance(a, Lit) else names[a]

    lines = [f"def fused({', '.join(f'x{i}' for i in range(len(leaves)))}):",
             f"    out = np.empty({shape!r})"]
    indent = "    "
    for axis, n in enumerate(shape):
        lines.append(f"{indent}for i{axis} in range({n}):")
        indent += "    "
    for i, e in enumerate(cone):
        names[e.out] = f"t{i}"
        template = e.prim.scalar
        assert template is not None
        lines.append(f"{indent}t{i} = {template.format(*(arg(a) for a in e.ins))}")
    index = ", ".join(f"i{axis}" for axis in range(len(shape)))
    lines.append(f"{indent}out[{index}] = {names[output]}")
    lines.append("    return out")
    return "\n".join(lines) + "\n", leaves


def _compile_loop(source: str) -> Any:
    import numba  # deferred: importing numba costs ~0.2 s and only background work needs it

    namespace: dict[str, Any] = {"np": np, "math": math, "erf": math.erf}
    # Generated from our IR only: generated names, rendered numbers, scalar templates.
    exec(compile(source, "<nabla-fused>", "exec"), namespace)  # noqa: S102
    jitted = numba.njit(cache=False, nogil=True)(namespace["fused"])

    def call(*args: Any) -> Any:
        # numba compiles per argument types on the first call, importing as it goes; the
        # generated kernel's namespace has no builtins, so the call happens from here.
        # Scalars (0-d arrays, numpy scalars) are passed as Python numbers.
        return jitted(*(a.item() if np.ndim(a) == 0 else a for a in args))

    return call


def fuse(fn: Function) -> tuple[Function, dict[str, Callable[..., Any]]]:
    """fn with each fused group replaced by calls of compiled loops, and those loops
    by name (for the generated code's namespace). Unchanged when nothing fuses."""
    groups = _components(fn)
    if not groups:
        return fn, {}
    used_outside: set[Var] = {a for a in fn.outputs if isinstance(a, Var)}
    member_of: dict[Var, int] = {e.out: k for k, g in enumerate(groups) for e in g}
    uses: dict[Var, int] = {}
    for e in fn.eqns:
        for a in e.ins:
            if isinstance(a, Var) and a in member_of:
                uses[a] = uses.get(a, 0) + 1
                if member_of.get(e.out) != member_of[a]:
                    used_outside.add(a)
    # A value that several others need is stored once rather than recomputed in each
    # loop that needs it (recomputing, e.g., a tanh per use costs more than the pass saved).
    costly = _costly(fn, member_of)
    used_outside.update(v for v, n in uses.items() if n > 1 and costly[v])
    stored = {v for v in used_outside if costly.get(v)}  # the other loops read these
    producers = {e.out: e for e in fn.eqns}
    by_var = [{e.out: e for e in g} for g in groups]
    replaced: dict[Var, Eqn] = {}
    loops: dict[str, Callable[..., Any]] = {}
    for k, group in enumerate(by_var):
        for var in group:
            if var not in used_outside or var.type.dtype != "float64":
                continue
            if all(not (isinstance(a, Var) and a in group) for a in group[var].ins):
                continue  # a lone equation: nothing to fuse
            source, leaves = _loop_source(var, group, stored, producers)
            name = f"fused{len(loops)}"
            loops[name] = _compile_loop(source)
            replaced[var] = Eqn(runtime_primitive(name, name), tuple(leaves), {}, var, group[var].span)
    keep = _kept_members(fn, member_of, used_outside, replaced)
    eqns = [replaced.get(e.out, e) for e in fn.eqns
            if e.out in replaced or e.out not in member_of or e.out in keep]
    return Function(fn.inputs, eliminate_dead_code(eqns, fn.outputs), fn.outputs, fn.names), loops


def _kept_members(fn: Function, member_of: dict[Var, int], used_outside: set[Var],
                  replaced: dict[Var, Eqn]) -> set[Var]:
    """Group members still computed on their own: needed outside but not fused (masks, lone
    equations), and what those need in turn."""
    producer = {e.out: e for e in fn.eqns}
    keep: set[Var] = set()
    stack = [v for v in used_outside if v in member_of and v not in replaced]
    while stack:
        var = stack.pop()
        if var in keep:
            continue
        keep.add(var)
        stack.extend(a for a in producer[var].ins
                     if isinstance(a, Var) and a in member_of and a not in replaced)
    return keep
