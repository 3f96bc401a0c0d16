"""Derivatives of a non-finite value are NaN (README, derivative conventions).

The strong-zero product keeps `where` NaN-safe: a branch not taken meets its infinite
coefficients with a zero tangent, and contributes zero. The same product would also turn a
pole into a silent zero: at y = 0, `1 / norm(y)` is inf, and its gradient is -inf times
norm's conventional zero gradient, which the strong zero makes 0, a finite answer where no
derivative exists (and its Hessian would come out as -inf, the wrong sign). Nothing computed
at such a point can be trusted, so the transforms guard what they return with the values
they differentiate, by IEEE arithmetic (`0 * v` is 0 where v is finite, NaN where not):

* forward mode: each output tangent gets `0 * y` added: every derivative of a non-finite
  output element is NaN, with respect to every input;
* reverse mode: each input cotangent gets `sum(strong_mul(0 * y, u))` added: NaN when some
  non-finite output element has a nonzero cotangent (its row of the Jacobian is NaN), and
  exactly zero otherwise, so the rows of a Jacobian built by reverse mode do not taint each
  other.

Higher orders follow, since each transform guards its own results: a Hessian (the
derivative of a gradient) is NaN where the gradient is not finite, as at sqrt(0), whose
gradient is the IEEE inf.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .builder import Builder
from .ir import Atom, Eqn, Lit, Var
from .primitives.elementwise import ADD, MUL, NEG, SMUL, SUB
from .primitives.shape import (
    BROADCAST,
    GETITEM,
    REDUCE_SUM,
    RESHAPE,
    STOP_GRADIENT,
    SUM_TO,
    TRANSPOSE,
)


def nan_where_not_finite(b: Builder, value: Atom) -> Atom:
    """0 where `value` is finite, NaN where it is not (IEEE: 0 * inf and 0 * nan are nan).
    A constant to the transforms: its own derivative is zero, not more work (the next
    order guards itself with its own values)."""
    return b.bind(MUL, 0.0, b.bind(STOP_GRADIENT, value))


def guard_tangent(b: Builder, value: Atom, tangent: Atom) -> Atom:
    return b.bind(ADD, tangent, nan_where_not_finite(b, value))


def cotangent_poison(b: Builder, values: Sequence[Atom], cotangents: Sequence[Atom]) -> Atom:
    """A scalar: 0, or NaN when a non-finite value meets a nonzero cotangent."""
    total: Atom | None = None
    for value, ct in zip(values, cotangents):
        meets = b.bind(SMUL, nan_where_not_finite(b, value), ct)
        part = b.bind(REDUCE_SUM, meets, axes=tuple(range(meets.type.ndim)))
        total = part if total is None else b.bind(ADD, total, part)
    assert total is not None
    return total


# ---- recognizing guard terms (simplify and lazy_guards.py use them) ----

# zero in, zero out (one operand), whatever the other operand of a strong-zero product
PASS_ZERO = frozenset({NEG, REDUCE_SUM, RESHAPE, BROADCAST, TRANSPOSE, GETITEM, SUM_TO,
                       STOP_GRADIENT})


def _is_finite_literal(atom: Atom) -> bool:
    return isinstance(atom, Lit) and bool(np.isfinite(atom.value))


def _is_stopped(atom: Atom, producers: dict[Var, Eqn]) -> bool:
    eqn = producers.get(atom) if isinstance(atom, Var) else None
    return eqn is not None and eqn.prim is STOP_GRADIENT


def guard_sources(eqn: Eqn, sources: dict[Var, tuple[Var, ...]],
                  producers: dict[Var, Eqn]) -> tuple[Var, ...] | None:
    """The values whose finiteness makes eqn's result all zeros (±0), if it is a guard
    term: None when it is not one."""
    p, ins = eqn.prim, eqn.ins
    known = [sources.get(a) if isinstance(a, Var) else None for a in ins]
    if p is MUL:
        for (lit, other), zero in ((ins, known[1]), (ins[::-1], known[0])):
            if zero is not None and _is_finite_literal(lit):
                return zero  # a guard term times a finite number
            if isinstance(lit, Lit) and lit.value == 0.0 and _is_stopped(other, producers):
                return (other,)  # 0 * stop_gradient(y): the guard term itself
        return None
    if p is SMUL:  # strong zero: a zero factor makes zero, whatever the other
        return known[0] if known[0] is not None else known[1]
    if p in (ADD, SUB) and known[0] is not None and known[1] is not None:
        return known[0] + known[1]
    if p in PASS_ZERO:
        return known[0]
    return None
