"""The non-finite guards of nonfinite.py, added only when they are not zero (a backend pass).

Every derivative gets `+ 0 * stop_gradient(y)` (forward mode) or a poison built of such
terms (reverse mode): zeros wherever the guarded values are finite, NaN where they are not.
Adding those zeros is a full pass over the derivative, which is often far larger than the
values that guard it (a Jacobian carries a basis axis the value lacks), and a reverse-mode
Jacobian's poison is a product with the basis before it is summed: in W3 the guards made the
kernel 5x slower. So generated code adds a guard only when it can be nonzero: `t + g`, with
g built from guard terms, becomes a call that sums each guarded value once (a finite sum
means every element is finite, so g is all zeros: an overflowing sum only costs the slow
path) and returns t as it is, or else computes g from its equations (the reference
interpreter: this is the rare path) and adds it.

The values are the plain addition's; only a zero's sign can differ: t's own -0.0 stays
where adding +0.0 would give +0.0. Derived programs (`derive`) compile through this same
pass, so they keep agreeing bitwise with the operations.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np

from .interpret import interpret
from .ir import ArrayType, Eqn, Function, Params, Var
from .nonfinite import guard_sources
from .primitives import elementwise as ew
from .primitives.elementwise import all_finite
from .primitives.registry import runtime_primitive
from .simplify import eliminate_dead_code

MIN_LAZY_ELEMENTS = 1024  # below, computing and adding a guard costs less than a call
GUARD = "guard_add"
_names = itertools.count()  # helper names: unique in any namespace that gathers them  # the lowered additions' primitive name (memory.py: a view of t)
def _chain(g: Var, producers: dict[Var, Eqn], sources: dict[Var, tuple[Var, ...]]
           ) -> tuple[list[Eqn], list[Var]]:
    """The guard terms' equations that compute g, in program order, and the values they
    read (their leaves)."""
    members: set[Var] = set()
    stack = [g]
    while stack:
        var = stack.pop()
        if var in members:
            continue
        members.add(var)
        stack.extend(a for a in producers[var].ins if isinstance(a, Var) and a in sources)
    eqns = [e for e in producers.values() if e.out in members]
    leaves = list(dict.fromkeys(a for e in eqns for a in e.ins
                                if isinstance(a, Var) and a not in members))
    return eqns, leaves


def _small(t: Var, chain: list[Eqn], leaves: list[Var]) -> bool:
    """Whether the plain addition touches so few elements that a helper call (~1.5 us)
    would cost more than it saves."""
    sizes = [t.type.size] + [e.out.type.size for e in chain] + [v.type.size for v in leaves]
    return max(sizes) < MIN_LAZY_ELEMENTS


def _guarded_add(g: Var, chain: list[Eqn], leaves: list[Var], checked: Sequence[Var]
                 ) -> Callable[..., np.ndarray]:
    terms = Function(leaves, chain, [g])
    positions = [leaves.index(v) for v in dict.fromkeys(checked)]

    def guarded_add(t: np.ndarray, *values: np.ndarray) -> np.ndarray:
        if all(all_finite(values[i]) for i in positions):
            return t  # every guarded value is finite: the guard is zeros
        (guard,) = interpret(terms, values)
        return np.add(t, guard)

    return guarded_add


def _first_type(in_types: tuple[ArrayType, ...], params: Params) -> ArrayType:
    return in_types[0]


def lower(fn: Function, broadcast_only: bool = False
          ) -> tuple[Function, dict[str, Callable[..., np.ndarray]]]:
    """fn with each `t + guard` replaced by a guarded addition, and the helpers those call
    by name (for the generated code's namespace). `broadcast_only` (before fusion): only
    guards smaller than what they guard, on results that no elementwise operation reads:
    the others fuse into the loops that compute t or read the sum."""
    producers = {e.out: e for e in fn.eqns}
    sources: dict[Var, tuple[Var, ...]] = {}
    for e in fn.eqns:
        found = guard_sources(e, sources, producers)
        if found is not None:
            sources[e.out] = found
    fusable = {a for e in fn.eqns if e.prim.elementwise for a in e.ins}
    helpers: dict[str, Callable[..., np.ndarray]] = {}
    replaced: dict[Var, Eqn] = {}
    for e in fn.eqns:
        found = _guarded_operands(e, sources)
        if found is None or broadcast_only and (
                found[1].type.size >= found[0].type.size or e.out in fusable):
            continue
        t, g = found
        chain, leaves = _chain(g, producers, sources)
        if _small(t, chain, leaves):
            continue
        name = f"guard{next(_names)}"
        helpers[name] = _guarded_add(g, chain, leaves, sources[g])
        replaced[e.out] = Eqn(runtime_primitive(GUARD, name, helpers[name], _first_type),
                              (t, *leaves), {}, e.out, e.span)
    if not replaced:
        return fn, {}
    eqns = [replaced.get(e.out, e) for e in fn.eqns]
    return Function(fn.inputs, eliminate_dead_code(eqns, fn.outputs), fn.outputs,
                    fn.names), helpers


def _guarded_operands(eqn: Eqn, sources: dict[Var, tuple[Var, ...]]
                      ) -> tuple[Var, Var] | None:
    """(t, g) when eqn is t + g for a guard term g and a t of the result's type."""
    if eqn.prim is not ew.ADD or eqn.out in sources:
        return None
    for t, g in (eqn.ins, eqn.ins[::-1]):
        if isinstance(t, Var) and t.type == eqn.out.type and isinstance(g, Var) and (
                g in sources):
            return t, g
    return None
