"""Integer arguments of the language (SPEC §2.2): indices, slice bounds, axes, sizes and
einsum labels are integer literals, fixed when the program is compiled."""

from __future__ import annotations

from collections.abc import Sequence

from . import ast
from .errors import ShapeError, SignatureError, Span

HUGE_INTEGER = 2**62  # stands for any integer literal at least this large


def int_literal(node: ast.Expr) -> int:
    """Integer arguments (indices, axes, sizes) must be written as integer literals."""
    sign = 1
    if isinstance(node, ast.Unary):
        sign, node = (-1 if node.op == "-" else 1), node.operand
    if isinstance(node, ast.Num) and node.is_integer_literal:
        # Huge integers stay integers: the index, axis or size check then says what is
        # wrong with them (out of range, over a limit).
        return sign * min(int(node.text), HUGE_INTEGER)
    raise SignatureError("this must be an integer literal, like 0 or -1", node.span,
                         "indices, axes and sizes are fixed when the program is compiled; "
                         "write digits only (2, not 2.0 or 2e0)")


def int_list(node: ast.Expr) -> tuple[int, ...]:
    """A list of integer literals, like `[0, 2]` (axes, einsum labels)."""
    if not isinstance(node, ast.ArrayLit):
        raise SignatureError("this must be a list of integer literals, like [0, 1]",
                             node.span)
    return tuple(int_literal(element) for element in node.elements)


def index_params(shape: tuple[int, ...], items: Sequence[ast.Expr | ast.Slice], span: Span
                 ) -> tuple[int | tuple[int, int | None, int], ...]:
    """getitem's normalized index: in-range integers and (start, stop, step) slices."""
    if len(items) > len(shape):
        raise ShapeError(f"too many indices ({len(items)} indices for an array of shape "
                         f"{shape})", span, "each index takes one axis")
    index: list[int | tuple[int, int | None, int]] = []
    for n, item in zip(shape, items):
        if isinstance(item, ast.Slice):
            parts = [None if p is None else int_literal(p)
                     for p in (item.start, item.stop, item.step)]
            if parts[2] == 0:
                raise ShapeError("a slice step cannot be zero", item.span)
            start, stop, step = slice(*parts).indices(n)
            index.append((start, stop if stop >= 0 else None, step))
        else:
            i = int_literal(item)
            if not -n <= i < n:
                raise ShapeError(f"index {i} is out of range for an axis of length {n}",
                                 item.span)
            index.append(i % n)
    return tuple(index)
