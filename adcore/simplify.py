"""`simplify(fn)`: algebraic identities, constant folding, common subexpressions, dead code.

Each rewrite maps an equation (inputs already rewritten) to an existing atom, or None to
keep it. A rewrite may only return an atom of exactly the equation's type.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .ir import (
    ArrayType,
    Atom,
    Eqn,
    Function,
    Lit,
    Var,
    broadcast_shapes,
    params_key,
    substitute,
)
from .nonfinite import guard_sources
from .primitives import elementwise as ew
from .primitives import shape as sh
from .structure import contract_identity, sum_identity


def _is(atom: Atom, value: float) -> bool:
    return isinstance(atom, Lit) and atom.value == value


def _same_type(atom: Atom, eqn: Eqn) -> Atom | None:
    return atom if atom.type == eqn.out.type else None


def _fold(eqn: Eqn) -> Atom | None:
    # f(literals) -> literal: scalar arithmetic on constants happens at compile time
    if eqn.ins and eqn.out.type.shape == () and eqn.out.type.dtype == "float64" and all(
            isinstance(a, Lit) for a in eqn.ins):
        with np.errstate(all="ignore"):
            return Lit(float(eqn.prim.impl(*(a.value for a in eqn.ins), **eqn.params)))
    return None


def _identity(eqn: Eqn) -> Atom | None:
    p, ins = eqn.prim, eqn.ins
    if p is ew.ADD and _is(ins[1], 0.0):  # x + 0 -> x
        return _same_type(ins[0], eqn)
    if p is ew.ADD and _is(ins[0], 0.0):  # 0 + x -> x
        return _same_type(ins[1], eqn)
    if p is ew.SUB and _is(ins[1], 0.0):  # x - 0 -> x
        return _same_type(ins[0], eqn)
    if p in (ew.MUL, ew.SMUL) and _is(ins[1], 1.0):  # x * 1 -> x
        return _same_type(ins[0], eqn)
    if p in (ew.MUL, ew.SMUL) and _is(ins[0], 1.0):  # 1 * x -> x
        return _same_type(ins[1], eqn)
    if p is ew.SMUL and (_is(ins[0], 0.0) or _is(ins[1], 0.0)) and eqn.out.type.shape == ():
        return Lit(0.0)  # strong zero: 0 * anything -> 0
    if p in (ew.DIV, ew.POW) and _is(ins[1], 1.0):  # x / 1 -> x, x ^ 1 -> x
        return _same_type(ins[0], eqn)
    if p is ew.SELECT and ins[1] == ins[2]:  # where(m, x, x) -> x
        return _same_type(ins[1], eqn)
    if p in (sh.RESHAPE, sh.BROADCAST, sh.SUM_TO, sh.TRANSPOSE, sh.REDUCE_SUM) and (
            ins[0].type == eqn.out.type and eqn.params.get("perm", ()) == tuple(
                sorted(eqn.params.get("perm", ())))):
        return ins[0]  # reshape/broadcast/sum to its own shape, identity perm -> x
    return None


def _plain_product(eqn: Eqn) -> Eqn:
    """smul(x, c) -> x * c for a finite literal c: the strong zero only differs from a plain
    product when a zero meets an inf or nan, and a finite c is neither."""
    if eqn.prim is ew.SMUL and any(
            isinstance(a, Lit) and np.isfinite(a.value) for a in eqn.ins):
        return Eqn(ew.MUL, eqn.ins, eqn.params, eqn.out, eqn.span)
    return eqn


def _accumulate_scatter(eqn: Eqn, producers: dict[Var, Eqn]) -> Eqn:
    """x + scatter(v, index) -> scatter_add(x, v, index): transposed slices (stencils)
    accumulate into one buffer instead of a zero array each plus full-size additions."""
    if eqn.prim is not ew.ADD:
        return eqn
    for base, other in (eqn.ins, eqn.ins[::-1]):
        scatter = producers.get(other) if isinstance(other, Var) else None
        if scatter is not None and scatter.prim is sh.SCATTER and (
                base.type.shape == eqn.out.type.shape):
            return Eqn(sh.SCATTER_ADD, (base, scatter.ins[0]), {"index": scatter.params["index"]},
                       eqn.out, eqn.span)
    return eqn


def _factor_out_of_sum(eqn: Eqn, producers: dict[Var, Eqn]) -> list[Eqn]:
    """sum(x * c, axes) -> sum(x, axes) * c when c is constant along those axes (a row
    scale in a per-row sum): one pass over x instead of a full-size product and a sum."""
    product = producers.get(eqn.ins[0]) if eqn.prim is sh.REDUCE_SUM and isinstance(
        eqn.ins[0], Var) else None
    if product is None or product.prim not in (ew.MUL, ew.SMUL):
        return [eqn]
    axes, full = eqn.params["axes"], product.out.type.shape
    for x, c in (product.ins, product.ins[::-1]):
        aligned = (1,) * (len(full) - c.type.ndim) + c.type.shape
        if x.type.shape != full or any(aligned[a] != 1 for a in axes):
            continue
        summed = Var(eqn.out.type)
        kept = tuple(n for i, n in enumerate(aligned) if i not in axes)
        parts = [Eqn(sh.REDUCE_SUM, (x,), {"axes": axes}, summed, eqn.span)]
        if kept != c.type.shape:
            scale = Var(ArrayType(kept))
            parts.append(Eqn(sh.RESHAPE, (c,), {"shape": kept}, scale, eqn.span))
            c = scale
        return [*parts, Eqn(product.prim, (summed, c), {}, eqn.out, eqn.span)]
    return [eqn]


def _sum_of_guarded(eqn: Eqn, producers: dict[Var, Eqn],
                    guards: dict[Var, tuple[Var, ...]]) -> list[Eqn]:
    """sum(t + g) -> sum(t) + g' for a guard term g (zeros, or NaN where a value is not
    finite: nonfinite.py), g' its sum over the summed axes where it has them: the same
    zeros and NaNs (n zeros sum to zero, a NaN stays). A gradient taken inside the language
    and then summed keeps its row scales factored out of the sum (_factor_out_of_sum)."""
    total = producers.get(eqn.ins[0]) if eqn.prim is sh.REDUCE_SUM and isinstance(
        eqn.ins[0], Var) else None
    if total is None or total.prim is not ew.ADD:
        return [eqn]
    for t, g in (total.ins, total.ins[::-1]):
        if not (isinstance(g, Var) and g in guards and isinstance(t, Var)) or (
                t in guards or t.type != total.out.type):
            continue
        axes, lead = eqn.params["axes"], t.type.ndim - g.type.ndim
        aligned = (1,) * lead + g.type.shape
        own = tuple(a - lead for a in axes if aligned[a] > 1)
        kept = tuple(n for i, n in enumerate(aligned) if i not in axes)
        summed, reduced, flat = Var(eqn.out.type), Var(ArrayType(
            tuple(n for i, n in enumerate(g.type.shape) if i not in own))), Var(ArrayType(kept))
        return [Eqn(sh.REDUCE_SUM, (t,), {"axes": axes}, summed, eqn.span),
                Eqn(sh.REDUCE_SUM, (g,), {"axes": own}, reduced, eqn.span),
                Eqn(sh.RESHAPE, (reduced,), {"shape": kept}, flat, eqn.span),
                Eqn(ew.ADD, (summed, flat), {}, eqn.out, eqn.span)]
    return [eqn]


def _double_negation(eqn: Eqn, producers: dict[Var, Eqn]) -> Atom | None:
    # -(-x) -> x
    if eqn.prim is not ew.NEG or not isinstance(eqn.ins[0], Var):
        return None
    inner = producers.get(eqn.ins[0])
    if inner is not None and inner.prim is ew.NEG:
        return inner.ins[0]
    return None


# a op b == b op a: one key for both orders, so common subexpressions are found either way
COMMUTATIVE = frozenset({ew.ADD, ew.MUL, ew.SMUL, ew.MAXIMUM, ew.MINIMUM, ew.EQ, ew.NE})


def _cse_key(eqn: Eqn) -> tuple:
    ins: tuple = eqn.ins
    if eqn.prim in COMMUTATIVE:
        ins = tuple(sorted(ins, key=lambda a: (0, a.value) if isinstance(a, Lit) else (1, a.id)))
    return (eqn.prim, ins, params_key(eqn.params))


REWRITES: list[Callable[[Eqn], Atom | None]] = [_fold, _identity]


def _broadcast_source(atom: Atom, producers: dict[Var, Eqn]) -> Atom:
    """The smallest array that `atom` is a numpy broadcast of (itself if none), through
    chains: broadcast_to(reshape(c, (1,)), S) is a broadcast of the scalar c."""
    eqn = producers.get(atom) if isinstance(atom, Var) else None
    while eqn is not None and (eqn.prim is sh.BROADCAST or (
            eqn.prim is sh.RESHAPE and eqn.ins[0].type.shape == ())):
        atom = eqn.ins[0]
        eqn = producers.get(atom) if isinstance(atom, Var) else None
    return atom


def _unbroadcast_operands(eqn: Eqn, producers: dict[Var, Eqn]) -> Eqn:
    """op(broadcast_to(s, S), y) -> op(s, y) when y alone gives the result its shape:
    elementwise primitives broadcast by themselves, without materializing s at size S."""
    if not eqn.prim.elementwise:
        return eqn
    ins = list(eqn.ins)
    for i, atom in enumerate(ins):
        source = _broadcast_source(atom, producers)
        others = [a.type.shape for j, a in enumerate(ins) if j != i]
        if source is not atom and broadcast_shapes(source.type.shape, *others) == (
                eqn.out.type.shape):
            ins[i] = source
    return eqn if tuple(ins) == eqn.ins else Eqn(eqn.prim, tuple(ins), eqn.params, eqn.out,
                                                 eqn.span)


def _hoist_broadcast(eqn: Eqn, producers: dict[Var, Eqn]) -> list[Eqn]:
    """op(broadcast_to(a, S), broadcast_to(b, S)) -> broadcast_to(op(a, b), S): compute at
    the operands' own size, broadcast once (a product of two columns stays a column)."""
    if not eqn.prim.elementwise or eqn.out.type.shape == ():
        return [eqn]
    sources = [_broadcast_source(a, producers) for a in eqn.ins]
    small = broadcast_shapes(*(a.type.shape for a in sources))
    if small == eqn.out.type.shape:
        return [eqn]
    out_shape = {"shape": eqn.out.type.shape}
    if small == () and all(isinstance(a, Lit) for a in sources):
        with np.errstate(all="ignore"):
            value = float(eqn.prim.impl(*(a.value for a in sources), **eqn.params))  # type: ignore[union-attr]
        return [Eqn(sh.BROADCAST, (Lit(value),), out_shape, eqn.out, eqn.span)]
    compact = Var(ArrayType(small, eqn.out.type.dtype))
    return [Eqn(eqn.prim, tuple(sources), eqn.params, compact, eqn.span),
            Eqn(sh.BROADCAST, (compact,), out_shape, eqn.out, eqn.span)]


def _literal_factor(atom: Atom, producers: dict[Var, Eqn]) -> tuple[Atom, float] | None:
    """(x, c) when atom is x * c (or c * x) for a literal c."""
    eqn = producers.get(atom) if isinstance(atom, Var) else None
    if eqn is None or eqn.prim is not ew.MUL:
        return None
    for x, c in (eqn.ins, eqn.ins[::-1]):
        if isinstance(c, Lit):
            return x, c.value
    return None


def _power_of_two(c: float) -> bool:
    return abs(math.frexp(c)[0]) == 0.5  # scaling by it commutes with rounding


def _scalar_multiple(eqn: Eqn, producers: dict[Var, Eqn]) -> list[Eqn]:
    """Chains of scalar multiples (what the chain rule makes of 100 * x^2) become one
    product, where that is exact in IEEE arithmetic."""
    p, ins, scaled = eqn.prim, eqn.ins, None
    if p is ew.ADD and ins[0] is ins[1] and isinstance(ins[0], Var):
        scaled = ins[0], 2.0  # x + x -> x * 2
    elif p is ew.NEG and (found := _literal_factor(ins[0], producers)):
        scaled = found[0], -found[1]  # -(x * c) -> x * -c
    elif p is ew.MUL and (found := _literal_factor(eqn.out, {eqn.out: eqn})):
        x, d = found
        inner = producers.get(x) if isinstance(x, Var) else None
        nested = _literal_factor(x, producers)
        if inner is not None and inner.prim is ew.NEG:
            scaled = inner.ins[0], -d  # (-x) * d -> x * -d
        elif nested and (_power_of_two(nested[1]) or _power_of_two(d)):
            scaled = nested[0], nested[1] * d  # (x * c) * d -> x * (c d): c or d is 2^k
    if scaled is None or scaled[0].type != eqn.out.type:
        return [eqn]
    return [Eqn(ew.MUL, (scaled[0], Lit(scaled[1])), {}, eqn.out, eqn.span)]


def _expand_power(eqn: Eqn) -> list[Eqn]:
    """x ^ 2 -> x * x and x ^ 3 -> (x * x) * x: a multiply is a fraction of libm's pow."""
    if eqn.prim is not ew.POW or not isinstance(eqn.ins[1], Lit) or (
            eqn.ins[1].value not in (2.0, 3.0)):
        return [eqn]
    x = eqn.ins[0]
    if eqn.ins[1].value == 2.0:
        return [Eqn(ew.MUL, (x, x), {}, eqn.out, eqn.span)]
    square = Var(eqn.out.type)
    return [Eqn(ew.MUL, (x, x), {}, square, eqn.span),
            Eqn(ew.MUL, (square, x), {}, eqn.out, eqn.span)]


def simplify(fn: Function) -> Function:
    env: dict[Var, Atom] = {}
    producers: dict[Var, Eqn] = {}
    seen: dict[tuple, Var] = {}
    eqns: list[Eqn] = []
    guards: dict[Var, tuple[Var, ...]] = {}  # guard terms and the values they guard

    def add(eqn: Eqn) -> None:
        ins = tuple(substitute(a, env) for a in eqn.ins)
        if ins != eqn.ins:
            eqn = Eqn(eqn.prim, ins, eqn.params, eqn.out, eqn.span)
        eqn = _accumulate_scatter(_plain_product(_unbroadcast_operands(eqn, producers)),
                                  producers)
        hoisted = _hoist_broadcast(eqn, producers)
        if hoisted == [eqn]:
            hoisted = _expand_power(eqn)
        if hoisted == [eqn]:
            hoisted = _scalar_multiple(eqn, producers)
        if hoisted == [eqn]:
            hoisted = contract_identity(eqn, producers)
        if hoisted == [eqn]:
            hoisted = sum_identity(eqn, producers)
        if hoisted == [eqn]:
            hoisted = _sum_of_guarded(eqn, producers, guards)
        if hoisted == [eqn]:
            hoisted = _factor_out_of_sum(eqn, producers)
        if len(hoisted) > 1 or hoisted[0] is not eqn:
            for part in hoisted:
                add(part)
            return
        replacement = _rewrite(eqn, producers)
        if replacement is not None:
            env[eqn.out] = replacement
            return
        key = _cse_key(eqn)
        if key in seen:  # common subexpression
            env[eqn.out] = seen[key]
            return
        seen[key] = eqn.out
        producers[eqn.out] = eqn
        eqns.append(eqn)
        sources = guard_sources(eqn, guards, producers)
        if sources is not None:
            guards[eqn.out] = sources

    for eqn in fn.eqns:
        add(eqn)
    outputs = [substitute(a, env) for a in fn.outputs]
    return Function(fn.inputs, eliminate_dead_code(eqns, outputs), outputs, fn.names)


def _rewrite(eqn: Eqn, producers: dict[Var, Eqn]) -> Atom | None:
    for rule in REWRITES:
        replacement = rule(eqn)
        if replacement is not None:
            return replacement
    return _double_negation(eqn, producers)


def eliminate_dead_code(eqns: list[Eqn], outputs: list[Atom]) -> list[Eqn]:
    live = {a for a in outputs if isinstance(a, Var)}
    kept: list[Eqn] = []
    for eqn in reversed(eqns):
        if eqn.out in live:
            kept.append(eqn)
            live.update(a for a in eqn.ins if isinstance(a, Var))
    kept.reverse()
    return kept
