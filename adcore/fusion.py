"""Fusion of elementwise chains into single compiled loops (numba ufuncs).

numpy evaluates `a*b + c` as two passes over memory with a temporary in between; on large
arrays the passes, not the arithmetic, cost the time. Here each connected group of
elementwise equations of one shape becomes one ufunc per value the rest of the program
needs: one pass, no temporaries. The ufunc's scalar body is generated from the IR (each
primitive's `scalar` template), like the numpy source: generated names and literals only.

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
from .primitives.registry import Cost, Primitive
from .simplify import eliminate_dead_code

MIN_FUSED_ELEMENTS = 4096  # smaller arrays are cheap to pass over twice
MAX_UFUNC_INPUTS = 60
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


def _scalar_body(outputs: Var, group: dict[Var, Eqn]) -> tuple[str, list[Var]]:
    """Python source of a scalar function computing `outputs` from the group's leaves."""
    cone: list[Eqn] = []
    seen: set[Var] = set()
    stack: list[tuple[Var, bool]] = [(outputs, False)]
    while stack:  # post-order over the equations of the group that the output needs
        var, expanded = stack.pop()
        if expanded:
            cone.append(group[var])
            continue
        if var in seen:
            continue
        seen.add(var)
        stack.append((var, True))
        for a in group[var].ins:
            if isinstance(a, Var) and a in group and a not in seen:
                stack.append((a, False))
    leaves = list(dict.fromkeys(
        a for e in cone for a in e.ins if isinstance(a, Var) and a not in group))
    names: dict[Var, str] = {v: f"x{i}" for i, v in enumerate(leaves)}

    def arg(a: Atom) -> str:
        return render_value(float(a.value)) if isinstance(a, Lit) else names[a]

    lines = [f"def fused({', '.join(names[v] for v in leaves)}):"]
    for i, e in enumerate(cone):
        names[e.out] = f"t{i}"
        template = e.prim.scalar
        assert template is not None
        lines.append(f"    t{i} = {template.format(*(arg(a) for a in e.ins))}")
    lines.append(f"    return {names[outputs]}")
    return "\n".join(lines) + "\n", leaves


def _compile_ufunc(source: str, leaves: list[Var], out: Var) -> Any:
    import numba  # deferred: importing numba costs ~0.2 s and only background work needs it

    namespace: dict[str, Any] = {"np": np, "math": math, "erf": math.erf}
    # Generated from our IR only: generated names, rendered numbers, scalar templates.
    exec(compile(source, "<nabla-fused>", "exec"), namespace)  # noqa: S102
    kinds = {"float64": numba.float64, "bool": numba.boolean}
    signature = kinds[out.type.dtype](*(kinds[v.type.dtype] for v in leaves))
    return numba.vectorize([signature])(namespace["fused"])


def _fused_primitive(name: str) -> Primitive:
    def unused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("fused primitives exist only in generated code")

    return Primitive(name, unused, unused, lambda args, params, types: f"{name}({', '.join(args)})",
                     unused, None, unused, lambda *a: Cost(0.0, 0.0))


def fuse(fn: Function) -> tuple[Function, dict[str, Callable[..., Any]]]:
    """fn with each fused group replaced by calls of compiled ufuncs, and those ufuncs
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
    by_var = [{e.out: e for e in g} for g in groups]
    replaced: dict[Var, Eqn] = {}
    ufuncs: dict[str, Callable[..., Any]] = {}
    for k, group in enumerate(by_var):
        for var in group:
            if var not in used_outside or var.type.dtype != "float64":
                continue
            if all(not (isinstance(a, Var) and a in group) for a in group[var].ins):
                continue  # a lone equation: nothing to fuse
            source, leaves = _scalar_body(var, group)
            if len(leaves) > MAX_UFUNC_INPUTS:
                continue  # numpy ufuncs take at most 64 operands
            name = f"fused{len(ufuncs)}"
            ufuncs[name] = _compile_ufunc(source, leaves, var)
            replaced[var] = Eqn(_fused_primitive(name), tuple(leaves), {}, var, group[var].span)
    keep = _kept_members(fn, member_of, used_outside, replaced)
    eqns = [replaced.get(e.out, e) for e in fn.eqns
            if e.out in replaced or e.out not in member_of or e.out in keep]
    return Function(fn.inputs, eliminate_dead_code(eqns, fn.outputs), fn.outputs, fn.names), ufuncs


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
