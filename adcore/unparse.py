"""Canonical program text, for content ids: same tree, same text; different tree, different text.

`normalize` drops whitespace, comments, spans and number spellings (`1`, `1.0` and `1e0`
print alike), and writes parentheses exactly where the tree needs them, so the output parses
back to the same tree. Since it never adds parentheses the source did not need, it never nests
deeper than the source did, and it re-parses within the same depth limit.

Recursion is two frames per tree level; the parser bounds tree depth (`max_depth`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from . import ast

# Binding strength of each node kind; a child looser than its slot needs parentheses.
_COMPARE, _SUM, _PRODUCT, _UNARY, _POWER, _POSTFIX = range(6)
_SUM_OPS = frozenset({"+", "-"})


def normalize(program: ast.Program) -> str:
    """Definitions one per line, then the result; a canonical spelling of `program`."""
    lines: list[str] = []
    for definition in program.definitions:
        if isinstance(definition, ast.FuncDef):
            params = ", ".join(p.id for p in definition.params)
            lines.append(f"{definition.name}({params}) = {expr(definition.body)}")
        else:
            lines.append(f"{definition.name} = {expr(definition.value)}")
    lines.append(expr(program.result))
    return "\n".join(lines)


def expr(node: ast.Expr) -> str:
    """The canonical text of one expression."""
    return _operand(node, _COMPARE)


def number(value: float) -> str:
    # repr of a finite float re-lexes to the same float; an overflowing literal (1e400) is
    # inf, whose repr would read as a name, so it gets a spelling that overflows again.
    return repr(float(value)) if math.isfinite(value) else "1e999"


def _strength(node: ast.Expr) -> int:
    if isinstance(node, ast.Compare):
        return _COMPARE
    if isinstance(node, ast.Chain):
        return _SUM if node.rest[0].op in _SUM_OPS else _PRODUCT
    if isinstance(node, ast.Unary):
        return _UNARY
    if isinstance(node, ast.Power):
        return _POWER
    return _POSTFIX


def _operand(node: ast.Expr, weakest: int) -> str:
    """`node` in a slot that binds at least as tightly as `weakest`: parenthesize if looser.

    Every formatter recurses through here, not through `expr`: two frames per tree level.
    """
    text = _FORMATTERS[type(node)](node)
    return f"({text})" if _strength(node) < weakest else text


def _num(node: ast.Num) -> str:
    return number(node.value)


def _name(node: ast.Name) -> str:
    return node.id


def _unary(node: ast.Unary) -> str:
    return node.op + _operand(node.operand, _UNARY)


def _chain(node: ast.Chain) -> str:
    # Operands of a left-assoc chain bind tighter than it: a nested chain of the same
    # level, in any position, came from explicit parentheses and keeps them.
    tighter = _strength(node) + 1
    parts = [_operand(node.first, tighter)]
    for link in node.rest:
        parts.append(f" {link.op} {_operand(link.operand, tighter)}")
    return "".join(parts)


def _power(node: ast.Power) -> str:
    # Right-assoc: the exponent may be another power or a unary (`2 ^ -x ^ 2`); the base may not.
    return f"{_operand(node.base, _POSTFIX)} ^ {_operand(node.exponent, _UNARY)}"


def _compare(node: ast.Compare) -> str:
    return f"{_operand(node.left, _SUM)} {node.op} {_operand(node.right, _SUM)}"


def _call(node: ast.Call) -> str:
    args: list[str] = []
    for arg in node.args:  # loops, not comprehensions: a comprehension is one more frame
        args.append(_operand(arg, _COMPARE))
    for keyword in node.keywords:
        args.append(f"{keyword.name}={_operand(keyword.value, _COMPARE)}")
    return f"{_operand(node.func, _POSTFIX)}({', '.join(args)})"


def _index(node: ast.Index) -> str:
    items: list[str] = []
    for item in node.items:
        items.append(_slice(item) if isinstance(item, ast.Slice) else _operand(item, _COMPARE))
    return f"{_operand(node.value, _POSTFIX)}[{', '.join(items)}]"


def _slice(item: ast.Slice) -> str:
    start = "" if item.start is None else _operand(item.start, _COMPARE)
    stop = "" if item.stop is None else _operand(item.stop, _COMPARE)
    step = "" if item.step is None else ":" + _operand(item.step, _COMPARE)
    return f"{start}:{stop}{step}"


def _transpose(node: ast.Transpose) -> str:
    return _operand(node.value, _POSTFIX) + ".T"


def _array(node: ast.ArrayLit) -> str:
    elements: list[str] = []
    for element in node.elements:
        elements.append(_operand(element, _COMPARE))
    return "[" + ", ".join(elements) + "]"


_FORMATTERS: dict[type[ast.Expr], Callable[..., str]] = {
    ast.Num: _num,
    ast.Name: _name,
    ast.Unary: _unary,
    ast.Chain: _chain,
    ast.Power: _power,
    ast.Compare: _compare,
    ast.Call: _call,
    ast.Index: _index,
    ast.Transpose: _transpose,
    ast.ArrayLit: _array,
}
