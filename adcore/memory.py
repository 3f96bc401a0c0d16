"""Memory planning for generated code: free each temporary after its last use, and let an
elementwise ufunc write into an operand's buffer when that operand dies there.

Fresh large allocations are what a numpy chain pays for most (each new buffer page-faults
in), so reusing a dying buffer turns most of a kernel's temporaries into one or two.
A buffer is only reused when we allocated it (the output of an elementwise ufunc), it has
exactly the result's shape, and no view of it is still alive.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field

import numpy as np

from .ir import Function, Var

# results that may share their first operand's memory (a guarded addition may return it)
VIEWS = frozenset({"getitem", "reshape", "transpose", "broadcast_to", "stop_gradient",
                   "guard_add"})
FRESH = frozenset({"scatter", "scatter_add"})  # besides ufuncs: always a new buffer
MIN_REUSE_ELEMENTS = 1024  # below this, allocation is cheap and `out=` only adds overhead


@dataclass
class MemoryPlan:
    frees: dict[int, list[Var]] = field(default_factory=dict)  # del after equation i
    reuse: dict[int, Var] = field(default_factory=dict)  # equation i writes into this var


def in_place_ufunc(eqn_prim: object) -> np.ufunc | None:
    """The numpy ufunc (reachable as np.<name>) that computes this primitive, if any."""
    impl = getattr(eqn_prim, "impl", None)
    elementwise = getattr(eqn_prim, "elementwise", False)
    if elementwise and isinstance(impl, np.ufunc) and getattr(np, impl.__name__, None) is impl:
        return impl
    return None


def plan_memory(fn: Function) -> MemoryPlan:
    last_use: dict[Var, int] = {}
    for i, eqn in enumerate(fn.eqns):
        for a in eqn.ins:
            if isinstance(a, Var):
                last_use[a] = i
    end = len(fn.eqns)
    for a in fn.outputs:
        if isinstance(a, Var):
            last_use[a] = end
    base: dict[Var, Var] = {}  # a view's owner: the allocation it shares memory with
    owned: set[Var] = set()
    for eqn in fn.eqns:
        source = eqn.ins[0] if eqn.ins else None
        if eqn.prim.name in VIEWS and isinstance(source, Var):
            base[eqn.out] = base.get(source, source)
        elif in_place_ufunc(eqn.prim) is not None or eqn.prim.name in FRESH:
            owned.add(eqn.out)
    base_last: dict[Var, int] = {}
    for var, i in last_use.items():
        root = base.get(var, var)
        base_last[root] = max(base_last.get(root, -1), i)

    plan = MemoryPlan()
    for i, eqn in enumerate(fn.eqns):
        for var in dict.fromkeys(a for a in eqn.ins if isinstance(a, Var)):
            if last_use[var] == i:
                plan.frees.setdefault(i, []).append(var)
        if eqn.out.type.size < MIN_REUSE_ELEMENTS:
            continue
        if in_place_ufunc(eqn.prim) is not None:
            candidates = eqn.ins
        elif eqn.prim.in_place is not None:
            candidates = eqn.ins[:1]
        else:
            continue
        for a in candidates:
            if (isinstance(a, Var) and a in owned and base_last.get(a) == i
                    and a.type == eqn.out.type):
                plan.reuse[i] = a
                base_last[eqn.out] = max(base_last.get(eqn.out, -1), last_use.get(eqn.out, i))
                break
    return plan


def keep_freed_memory() -> None:
    """Ask glibc to keep freed large blocks in the heap instead of returning them to the OS.

    By default every numpy temporary over 128 KiB is a fresh mmap, and touching its pages
    costs more than the arithmetic (measured: a second live 800 KB temporary took 300 us,
    the first 18 us). Raising the mmap and trim thresholds makes freed buffers reusable.
    A process-wide allocator setting, applied once; a no-op where glibc is absent.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 1 << 30)
        libc.mallopt(M_TRIM_THRESHOLD, (1 << 31) - 1)
    except (OSError, AttributeError):
        pass


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameter numbers from <malloc.h>
