"""Forward mode: `jvp(fn)` returns the function (primals, tangents) -> (outputs, output tangents).

Zero tangents are symbolic (None) while tracing, so code that does not depend on a
differentiated input costs nothing; they are materialized only for outputs. Output tangents
are guarded: NaN where the output is not finite (`nonfinite.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

from . import nonfinite
from .builder import Builder
from .ir import Atom, Function, Var, substitute
from .limits import DEFAULT_LIMITS, Limits
from .primitives.shape import zeros


def jvp(fn: Function, wrt: Sequence[bool] | None = None,
        limits: Limits = DEFAULT_LIMITS, guard: bool = True) -> Function:
    """Inputs: fn's inputs, then one tangent per input marked in `wrt` (default: all).
    Outputs: fn's outputs, then one tangent per output. Free variables are constants.
    `guard`: output tangents are NaN where outputs are not finite (reverse mode, which
    transposes this function, guards its own way)."""
    wrt = [True] * len(fn.inputs) if wrt is None else list(wrt)
    b = Builder(limits)
    primals = [Var(v.type) for v in fn.inputs]
    env: dict[Var, Atom] = dict(zip(fn.inputs, primals))
    tangent_inputs = [Var(v.type) for v, w in zip(fn.inputs, wrt) if w]
    tangents: dict[Var, Atom] = dict(zip([v for v, w in zip(fn.inputs, wrt) if w],
                                         tangent_inputs))
    for eqn in fn.eqns:
        ins = tuple(substitute(a, env) for a in eqn.ins)
        out = b.emit(eqn, ins)
        env[eqn.out] = out
        in_tangents = [tangents.get(a) if isinstance(a, Var) else None for a in eqn.ins]
        if any(t is not None for t in in_tangents):
            with b.at(eqn.span):
                t_out = eqn.prim.jvp(b, ins, in_tangents, eqn.params, out)
            if t_out is not None:
                tangents[eqn.out] = t_out
    outputs = [substitute(a, env) for a in fn.outputs]
    out_tangents = [
        tangents.get(a) if isinstance(a, Var) and a in tangents else zeros(b, a.type.shape)
        for a in fn.outputs
    ]
    if guard:
        out_tangents = [nonfinite.guard_tangent(b, y, t) for y, t in zip(outputs, out_tangents)]
    return b.function(primals + tangent_inputs, outputs + out_tangents)
