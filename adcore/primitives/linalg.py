"""`einsum`: the one bilinear contraction behind dot, matmul, outer, trace and diag.

params: `spec = (a_letters, b_letters, out_letters)`. Every letter of an operand appears in
the other operand or in the output, so the transpose with respect to either operand is again
an einsum. Codegen turns each contraction into one `np.matmul` (BLAS) on transposed,
reshaped operands, or a broadcast product when nothing is contracted.
"""

from __future__ import annotations

import math
import string
from collections.abc import Sequence

import numpy as np

from ..builder import shape_error
from ..ir import ArrayType, Params
from .elementwise import add_tangents
from .patterns import contraction
from .registry import Cost, Primitive, register

Spec = tuple[str, str, str]


def letter_sizes(spec: Spec, in_types: Sequence[ArrayType]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for letters, t in zip(spec[:2], in_types):
        if len(letters) != t.ndim:
            raise shape_error(f"an operand of shape {t.shape} does not have {len(letters)} axes")
        for letter, n in zip(letters, t.shape):
            if sizes.setdefault(letter, n) != n:
                shapes = " and ".join(str(t.shape) for t in in_types)
                raise shape_error(f"shapes {shapes} do not fit for a product "
                                  f"(axis sizes {sizes[letter]} and {n} must agree)",
                                  "check the inner dimensions of @ / dot / matmul")
    return sizes


def _shape(in_types, params):
    sa, sb, so = params["spec"]
    if any(c not in sb + so for c in sa) or any(c not in sa + so for c in sb):
        raise shape_error(f"einsum spec {params['spec']}: each operand letter must appear in "
                         "the other operand or the output (so both transposes exist)")
    sizes = letter_sizes(params["spec"], in_types)
    return ArrayType(tuple(sizes[c] for c in params["spec"][2]))


def _impl(a, b, spec):
    return np.einsum(f"{spec[0]},{spec[1]}->{spec[2]}", a, b)


def _jvp(b, primals, tangents, params, out):
    (x, y), (tx, ty) = primals, tangents
    left = None if tx is None else b.bind(EINSUM, tx, y, **params)
    right = None if ty is None else b.bind(EINSUM, x, ty, **params)
    return add_tangents(b, left, right)


def _transpose(b, ct, ins, linear, params):
    sa, sb, so = params["spec"]
    x, y = ins
    return [b.bind(EINSUM, ct, y, spec=(so, sb, sa)) if linear[0] else None,
            b.bind(EINSUM, x, ct, spec=(sa, so, sb)) if linear[1] else None]


def _batch(b, ins, batched, params, size):
    sa, sb, so = params["spec"]
    new = next(c for c in string.ascii_letters if c not in sa + sb + so)
    spec = (new + sa if batched[0] else sa, new + sb if batched[1] else sb, new + so)
    return b.bind(EINSUM, *ins, spec=spec)


def _cost(in_types, out, params):
    sizes = letter_sizes(params["spec"], in_types)
    return Cost(2.0 * math.prod(sizes.values()),
                8.0 * (out.size + sum(t.size for t in in_types)))


def _perm_source(name: str, letters: str, order: str) -> str:
    if letters == order:
        return name
    return f"np.transpose({name}, {tuple(letters.index(c) for c in order)})"


def _reshaped(src: str, shape: tuple[int, ...], current: tuple[int, ...]) -> str:
    return src if shape == current else f"np.reshape({src}, {shape})"


def einsum_source(args: Sequence[str], params: Params, in_types: Sequence[ArrayType]) -> str:
    """One BLAS matmul (or broadcast product) for the contraction, shapes known statically.
    The operands go in the order whose result already has the output's axis order, so the
    result is contiguous (e.g. a batch of points times a shared matrix: x @ M.T)."""
    sa, sb, so = params["spec"]
    sizes = letter_sizes(params["spec"], in_types)
    contract = "".join(c for c in sa if c in sb and c not in so)
    free_a = "".join(c for c in so if c in sa and c not in sb)
    free_b = "".join(c for c in so if c in sb and c not in sa)
    if contract and _size(sizes, free_a) == 1 and _size(sizes, free_b) == 1:
        return f"np.einsum('{sa},{sb}->{so}', {args[0]}, {args[1]}, optimize=True)"
    batch = "".join(c for c in so if c in sa and c in sb)
    if so != batch + free_a + free_b and so == batch + free_b + free_a:
        return _matmul_source((args[1], sb, free_b), (args[0], sa, free_a), batch, contract,
                              so, sizes)
    return _matmul_source((args[0], sa, free_a), (args[1], sb, free_b), batch, contract, so,
                          sizes)


def _size(sizes: dict[str, int], letters: str) -> int:
    return math.prod(sizes[c] for c in letters)


def _matmul_source(left: tuple[str, str, str], right: tuple[str, str, str], batch: str,
                   contract: str, so: str, sizes: dict[str, int]) -> str:
    (l_name, l_letters, l_free), (r_name, r_letters, r_free) = left, right

    def shape(letters: str) -> tuple[int, ...]:
        return tuple(sizes[c] for c in letters)

    lead = (_size(sizes, batch),) if batch else ()
    l_order, r_order = batch + l_free + contract, batch + contract + r_free
    l_src = _reshaped(_perm_source(l_name, l_letters, l_order),
                      lead + (_size(sizes, l_free), _size(sizes, contract)), shape(l_order))
    r_src = _reshaped(_perm_source(r_name, r_letters, r_order),
                      lead + (_size(sizes, contract), _size(sizes, r_free)), shape(r_order))
    product = f"np.matmul({l_src}, {r_src})" if contract else f"({l_src} * {r_src})"
    natural = batch + l_free + r_free
    result = _reshaped(product, shape(natural),
                       lead + (_size(sizes, l_free), _size(sizes, r_free)))
    return _perm_source(result, natural, so)


EINSUM = register(Primitive("einsum", _shape, _impl, einsum_source, _jvp, _transpose, _batch,
                            _cost, contraction))
