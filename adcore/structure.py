"""Rewrites that use the structure of identity matrices (the basis of dense Jacobians).

A Jacobian is a derivative vectorized over the rows of an identity matrix, so its IR often
multiplies that identity by a coefficient and contracts the product:
`einsum(eye_ij * d_bj, M_jk -> bik)`. Most of the product is zeros; the contraction equals
`d_bi * M_ik`, one broadcast product instead of a matmul n times larger.
"""

from __future__ import annotations

from .ir import ArrayType, Atom, Eqn, Var
from .primitives import elementwise as ew
from .primitives import linalg as la
from .primitives import shape as sh


def identity_axes(atom: Atom, producers: dict[Var, Eqn]) -> tuple[int, int] | None:
    """The two axes along which `atom` is an identity matrix (size 1 on all others)."""
    eqn = producers.get(atom) if isinstance(atom, Var) else None
    if eqn is None:
        return None
    if eqn.prim is sh.EYE:
        return (0, 1)
    source = eqn.ins[0] if eqn.ins else None
    if eqn.prim is sh.GETITEM and all(
            item == (0, n, 1) or item == (0, None, 1)
            for item, n in zip(eqn.params["index"], source.type.shape)):
        return identity_axes(source, producers)
    if eqn.prim is sh.RESHAPE:
        axes = identity_axes(source, producers)
        kept = [i for i, n in enumerate(atom.type.shape) if n != 1]
        if axes is None or len(kept) != 2 or [n for n in source.type.shape if n != 1] != [
                atom.type.shape[i] for i in kept]:
            return None
        return kept[0], kept[1]
    return None


def contract_identity(eqn: Eqn, producers: dict[Var, Eqn]) -> list[Eqn]:
    """einsum(identity_pq * d, b) with d of size 1 along p -> einsum(d', b) with the letter of
    q renamed to that of p (q must be summed: a kept q would need the diagonal)."""
    if eqn.prim is not la.EINSUM:
        return [eqn]
    sa, sb, so = eqn.params["spec"]
    for side in (0, 1):
        operand, other = eqn.ins[side], eqn.ins[1 - side]
        letters = (sa, sb)[side]
        rewritten = _drop_identity(operand, letters, producers)
        if rewritten is None:
            continue
        coefficient, p, q = rewritten
        if letters[q] in so:
            continue
        rename = {letters[q]: letters[p]}
        d_letters = "".join(rename.get(c, c) for i, c in enumerate(letters) if i != p)
        o_letters = "".join(rename.get(c, c) for c in (sb, sa)[side])
        squeezed = Var(ArrayType(tuple(n for i, n in enumerate(operand.type.shape) if i != p)))
        spec = (d_letters, o_letters, so) if side == 0 else (o_letters, d_letters, so)
        ins = (squeezed, other) if side == 0 else (other, squeezed)
        return [Eqn(sh.RESHAPE, (coefficient,), {"shape": squeezed.type.shape}, squeezed,
                    eqn.span),
                Eqn(la.EINSUM, ins, {"spec": spec}, eqn.out, eqn.span)]
    return [eqn]


def _drop_identity(operand: Atom, letters: str, producers: dict[Var, Eqn]
                   ) -> tuple[Atom, int, int] | None:
    """(d aligned to the operand's rank, p, q) when operand = identity_pq * d and d has
    size 1 along p and the operand's size along every other axis."""
    eqn = producers.get(operand) if isinstance(operand, Var) else None
    if eqn is None or eqn.prim not in (ew.MUL, ew.SMUL):
        return None
    shape = operand.type.shape
    for e_atom, d_atom in (eqn.ins, eqn.ins[::-1]):
        axes = identity_axes(e_atom, producers)
        if axes is None or not isinstance(d_atom, Var):
            continue
        shift = len(shape) - e_atom.type.ndim
        if any(e_atom.type.shape[a] != shape[a + shift] for a in axes):
            continue  # a broadcast identity (eye(1) * d) is no identity of the operand
        for p, q in ((axes[0] + shift, axes[1] + shift), (axes[1] + shift, axes[0] + shift)):
            d_shape = (1,) * (len(shape) - d_atom.type.ndim) + d_atom.type.shape
            if d_shape[p] == 1 and all(d_shape[i] == n for i, n in enumerate(shape) if i != p):
                return d_atom, p, q
    return None
