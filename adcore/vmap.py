"""Batching: `vmap(fn, batched, size)` maps fn over a new leading axis of the marked inputs.

Batch axes are always axis 0, so each rule only needs to know which inputs carry one.
Unbatched inputs and free variables are shared by every point (JAX's in_axes=None).
"""

from __future__ import annotations

from collections.abc import Sequence

from .builder import Builder
from .ir import Atom, Function, Var, substitute
from .limits import DEFAULT_LIMITS, Limits
from .primitives.shape import BROADCAST


def vmap(fn: Function, batched: Sequence[bool], size: int,
         limits: Limits = DEFAULT_LIMITS) -> Function:
    """Inputs as fn's, the marked ones with a leading axis of length `size`; every output
    gets that leading axis (an output that does not depend on the batch is broadcast)."""
    b = Builder(limits)
    inputs = [Var(v.type.batched(size) if bt else v.type)
              for v, bt in zip(fn.inputs, batched)]
    env: dict[Var, Atom] = dict(zip(fn.inputs, inputs))
    mapped = {v for v, bt in zip(fn.inputs, batched) if bt}
    for eqn in fn.eqns:
        ins = tuple(substitute(a, env) for a in eqn.ins)
        flags = [isinstance(a, Var) and a in mapped for a in eqn.ins]
        if any(flags):
            with b.at(eqn.span):
                env[eqn.out] = eqn.prim.batch(b, ins, flags, eqn.params, size)
            mapped.add(eqn.out)
        else:
            env[eqn.out] = b.emit(eqn, ins)
    outputs = [
        substitute(a, env) if isinstance(a, Var) and a in mapped
        else b.bind(BROADCAST, substitute(a, env), shape=(size,) + a.type.shape)
        for a in fn.outputs
    ]
    return b.function(inputs, outputs, fn.names)
