"""IR -> straight-line numpy source -> a callable.

Only names we generate (`a0`, `v1`, ...) and literals rendered from int/float/tuple values
reach the source; user text never does. The source is compiled in a namespace holding only
numpy and our runtime helpers, with no builtins.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import special

from . import lazy_guards
from .ir import Atom, Function, Lit, Var
from .memory import in_place_ufunc, keep_freed_memory, plan_memory
from .primitives.elementwise import strong_zero_multiply
from .primitives.shape import place, place_add, place_add_into, sum_to

RUNTIME: dict[str, Any] = {
    "np": np, "smul": strong_zero_multiply, "sum_to": sum_to, "place": place,
    "place_add": place_add, "place_add_into": place_add_into,
    "erf": special.erf,
}

keep_freed_memory()

CompiledFunction = Callable[..., tuple[np.ndarray, ...]]


def render_value(value: Any) -> str:
    """Source text for a param or literal: only numbers, booleans, None and tuples of them,
    plus letter-only strings (einsum specs)."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        if math.isnan(value):
            return "np.nan"
        if math.isinf(value):
            return "np.inf" if value > 0 else "(-np.inf)"
        # parenthesized when negative, so "x ** {0}"-style templates stay correct
        return f"({value!r})" if math.copysign(1.0, value) < 0 else repr(float(value))
    if isinstance(value, tuple):
        return "(" + "".join(render_value(v) + ", " for v in value) + ")"
    if isinstance(value, str) and value.isascii() and value.isalpha():
        return repr(value)
    raise TypeError(f"cannot render {type(value).__name__} into generated code")


def to_numpy_source(fn: Function, name: str = "kernel") -> str:
    names: dict[Var, str] = {v: f"a{i}" for i, v in enumerate(fn.inputs)}

    def arg(atom: Atom) -> str:
        if isinstance(atom, Lit):
            return render_value(float(atom.value))
        return names[atom]

    memory = plan_memory(fn)
    lines = [f"def {name}({', '.join(names[v] for v in fn.inputs)}):"]
    for i, eqn in enumerate(fn.eqns):
        names[eqn.out] = f"v{i}"
        args = [arg(a) for a in eqn.ins]
        ufunc = in_place_ufunc(eqn.prim)
        if i in memory.reuse and ufunc is not None:
            expr = f"np.{ufunc.__name__}({', '.join(args)}, out={names[memory.reuse[i]]})"
        elif i in memory.reuse and eqn.prim.in_place is not None:
            expr = eqn.prim.in_place(args, eqn.params, [a.type for a in eqn.ins])
        else:
            expr = eqn.prim.source(args, eqn.params, [a.type for a in eqn.ins], render_value)
        lines.append(f"    v{i} = {expr}")
        dead = [names[v] for v in memory.frees.get(i, ()) if v not in fn.inputs]
        if dead:
            lines.append(f"    del {', '.join(dead)}")
    outs = ", ".join(f"np.float64({arg(a)})" if isinstance(a, Lit) else arg(a)
                     for a in fn.outputs)
    lines.append(f"    return ({outs},)" if outs else "    return ()")
    return "\n".join(lines) + "\n"


def compile_function(fn: Function, extra: dict[str, Any] | None = None) -> CompiledFunction:
    """Compile generated source (from our IR only) into a function; `extra` adds compiled
    helpers the source calls by generated name (fused loops). Guards are added lazily
    (lazy_guards.py)."""
    fn, guards = lazy_guards.lower(fn)
    source = to_numpy_source(fn)
    namespace: dict[str, Any] = {"__builtins__": {}, **RUNTIME, **guards, **(extra or {})}
    # The source is generated from a type-checked IR: generated names and rendered numbers.
    exec(compile(source, "<nabla-generated>", "exec"), namespace)  # noqa: S102
    kernel = namespace["kernel"]

    def run(*args: np.ndarray) -> tuple[np.ndarray, ...]:
        with np.errstate(all="ignore"):
            outputs = kernel(*args)
        # a broadcast result is a read-only view; callers get arrays they own
        return tuple(o if getattr(o, "flags", None) is None or o.flags.writeable
                     else np.array(o) for o in outputs)

    run.source = source  # type: ignore[attr-defined]
    run.helpers = {**guards, **(extra or {})}  # type: ignore[attr-defined]
    return run
