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
from .primitives.registry import Primitive


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
    q renamed to that of p. q must be summed and p absent from b: otherwise the renamed spec
    would repeat a letter (take a diagonal), which no einsum of ours does (the builtin refuses
    it; codegen, the sparsity rule and derive's text assume distinct letters)."""
    if eqn.prim is not la.EINSUM:
        return [eqn]
    sa, sb, so = eqn.params["spec"]
    for side in (0, 1):
        operand, other = eqn.ins[side], eqn.ins[1 - side]
        letters = (sa, sb)[side]
        rewritten = _drop_identity(operand, producers)
        if rewritten is None:
            continue
        coefficient, p, q = rewritten
        if letters[q] in so or letters[p] in (sb, sa)[side]:
            continue  # renaming q to p would repeat a letter (a diagonal) in so or the other
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


def _drop_identity(operand: Atom, producers: dict[Var, Eqn]) -> tuple[Atom, int, int] | None:
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


def sum_identity(eqn: Eqn, producers: dict[Var, Eqn]) -> list[Eqn]:
    """sum over q of strong_mul(identity_pq, d), d of size 1 along p -> d with its q axis
    moved to p: one entry per row instead of a product as large as the identity (reverse
    mode's guard, vmapped over a basis of cotangents). A plain product is left alone: there
    a NaN of d would spread over its whole row."""
    operand = eqn.ins[0] if eqn.prim is sh.REDUCE_SUM else None
    product = producers.get(operand) if isinstance(operand, Var) else None
    found = _drop_identity(operand, producers) if product and product.prim is ew.SMUL else None
    if found is None or found[2] not in eqn.params["axes"]:
        return [eqn]
    d, p, q = found
    shape = operand.type.shape
    squeezed = tuple(n for i, n in enumerate(shape) if i != p)  # q's data, at q - (q > p)
    source, target = q - (q > p), p - (p > q)
    rest = tuple(a - (a > q) for a in eqn.params["axes"] if a != q)
    steps: list[tuple[Primitive, dict]] = [(sh.RESHAPE, {"shape": squeezed})]
    if source != target:
        order = [i for i in range(len(squeezed)) if i != source]
        steps.append((sh.TRANSPOSE, {"perm": tuple(order[:target] + [source] +
                                                   order[target:])}))
    if rest:
        steps.append((sh.REDUCE_SUM, {"axes": rest}))
    return _chain(d, steps, eqn)


def _chain(atom: Atom, steps: list[tuple[Primitive, dict]], eqn: Eqn) -> list[Eqn]:
    """Equations applying `steps` in turn to atom, the last one writing eqn's output."""
    eqns = []
    for k, (prim, params) in enumerate(steps):
        if k == len(steps) - 1:
            out = eqn.out
        else:
            out = Var(prim.shape((atom.type,), params))
        eqns.append(Eqn(prim, (atom,), params, out, eqn.span))
        atom = out
    return eqns
