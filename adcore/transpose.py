"""Reverse mode as JVP then transpose (Autodidax): no second per-primitive derivative table.

The JVP's equations split into the primal part (no tangent input reaches them) and the
linear part. The primal part runs forward; the linear part runs backward, each equation
replaced by its primitive's transpose rule. Input cotangents are guarded: NaN when a
non-finite output meets a nonzero cotangent (`nonfinite.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

from . import nonfinite
from .builder import Builder
from .ir import Atom, Eqn, Function, Var, substitute
from .jvp import jvp
from .limits import DEFAULT_LIMITS, Limits
from .primitives.elementwise import ADD
from .primitives.shape import zeros


def vjp(fn: Function, wrt: Sequence[bool] | None = None,
        limits: Limits = DEFAULT_LIMITS) -> Function:
    """Inputs: fn's inputs, then one cotangent per output.
    Outputs: fn's outputs, then the cotangent of each input marked in `wrt` (default: all)."""
    wrt = [True] * len(fn.inputs) if wrt is None else list(wrt)
    linearized = jvp(fn, wrt, limits, guard=False)
    n_in, n_out = len(fn.inputs), len(fn.outputs)
    tangent_inputs = linearized.inputs[n_in:]
    linear = _linear_vars(linearized.eqns, tangent_inputs)

    b = Builder(limits)
    primals = [Var(v.type) for v in fn.inputs]
    env: dict[Var, Atom] = dict(zip(linearized.inputs[:n_in], primals))
    for eqn in linearized.eqns:
        if eqn.out not in linear:
            env[eqn.out] = b.emit(eqn, tuple(substitute(a, env) for a in eqn.ins))

    cotangent_inputs = [Var(a.type) for a in fn.outputs]
    cts: dict[Var, Atom] = {}
    for t_out, ct in zip(linearized.outputs[n_out:], cotangent_inputs):
        if isinstance(t_out, Var) and t_out in linear:
            _accumulate(b, cts, t_out, ct)
    for eqn in reversed(linearized.eqns):
        ct = cts.pop(eqn.out, None)
        if ct is not None:
            _transpose_eqn(b, eqn, ct, env, linear, cts)

    outputs = [substitute(a, env) for a in linearized.outputs[:n_out]]
    poison = nonfinite.cotangent_poison(b, outputs, cotangent_inputs)
    input_cts = [b.bind(ADD, cts.get(t) or zeros(b, t.type.shape), poison)
                 for t in tangent_inputs]
    return b.function(primals + cotangent_inputs, outputs + input_cts)


def _linear_vars(eqns: list[Eqn], tangent_inputs: list[Var]) -> set[Var]:
    linear = set(tangent_inputs)
    for eqn in eqns:
        if any(isinstance(a, Var) and a in linear for a in eqn.ins):
            linear.add(eqn.out)
    return linear


def _transpose_eqn(b: Builder, eqn: Eqn, ct: Atom, env: dict[Var, Atom], linear: set[Var],
                   cts: dict[Var, Atom]) -> None:
    is_linear = [isinstance(a, Var) and a in linear for a in eqn.ins]
    if eqn.prim.transpose is None:
        raise AssertionError(f"{eqn.prim.name} appears in tangent code but is not linear")
    ins = tuple(a if lin else substitute(a, env) for a, lin in zip(eqn.ins, is_linear))
    with b.at(eqn.span):
        in_cts = eqn.prim.transpose(b, ct, ins, is_linear, eqn.params)
    for atom, lin, in_ct in zip(eqn.ins, is_linear, in_cts):
        if lin and in_ct is not None:
            _accumulate(b, cts, atom, in_ct)


def _accumulate(b: Builder, cts: dict[Var, Atom], var: Atom, ct: Atom) -> None:
    assert isinstance(var, Var)
    cts[var] = b.bind(ADD, cts[var], ct) if var in cts else ct
