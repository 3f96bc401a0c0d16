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
    """One BLAS matmul (or broadcast product) for the contraction, shapes known statically."""
    sa, sb, so = params["spec"]
    sizes = letter_sizes(params["spec"], in_types)
    a_name, b_name = args
    summed_a = "".join(c for c in sa if c not in sb and c not in so)
    summed_b = "".join(c for c in sb if c not in sa and c not in so)
    if summed_a or summed_b:
        return f"np.einsum('{sa},{sb}->{so}', {a_name}, {b_name}, optimize=True)"
    batch = "".join(c for c in so if c in sa and c in sb)
    contract = "".join(c for c in sa if c in sb and c not in so)
    free_a = "".join(c for c in so if c in sa and c not in sb)
    free_b = "".join(c for c in so if c in sb and c not in sa)

    def n(letters: str) -> int:
        return math.prod(sizes[c] for c in letters)

    if contract and n(free_a) == 1 and n(free_b) == 1:
        return f"np.einsum('{sa},{sb}->{so}', {a_name}, {b_name})"
    def shape(letters: str) -> tuple[int, ...]:
        return tuple(sizes[c] for c in letters)

    lead = (n(batch),) if batch else ()
    a_order, b_order = batch + free_a + contract, batch + contract + free_b
    a_src = _reshaped(_perm_source(a_name, sa, a_order), lead + (n(free_a), n(contract)),
                      shape(a_order))
    b_src = _reshaped(_perm_source(b_name, sb, b_order), lead + (n(contract), n(free_b)),
                      shape(b_order))
    product = f"np.matmul({a_src}, {b_src})" if contract else f"({a_src} * {b_src})"
    natural = batch + free_a + free_b
    result = _reshaped(product, shape(natural), lead + (n(free_a), n(free_b)))
    return _perm_source(result, natural, so)


EINSUM = register(Primitive("einsum", _shape, _impl, einsum_source, _jvp, _transpose, _batch,
                            _cost))
