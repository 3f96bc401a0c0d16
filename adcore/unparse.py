"""Canonical program text, for content ids: same tree, same text; different tree, different text.

`normalize` drops whitespace, comments, spans and number spellings (`1`, `1.0` and `1e0`
print alike), and writes parentheses exactly where the tree needs them, so the output parses
back to the same tree. Since it never adds parentheses the source did not need, it never nests
deeper than the source did, and it re-parses within the same depth limit.

Recursion is two frames per tree level; the parser bounds tree depth (`max_depth`).
"""

from __future__ import annotations

from collections.abc import Callable

from . import ast
from .builtins import BUILTINS, FUNCTION_MAKERS

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
    return repr(float(value))  # re-lexes to the same float (the lexer refuses overflow)


def integer(node: ast.Expr) -> str:
    """An operand in an integer position (index, slice bound, axis, size, argument number):
    an integer literal prints as an integer (`x[1:]`, not `x[1.0:]`), anything else as
    usual, so a program that is wrong there stays wrong after normalization."""
    if isinstance(node, ast.Num) and node.is_integer_literal:
        return str(int(node.text))
    if isinstance(node, ast.Unary) and isinstance(node.operand, ast.Num):
        return node.op + integer(node.operand)
    return _operand(node, _COMPARE)


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
    ints_from = _ints_from(node)
    args: list[str] = []
    for i, arg in enumerate(node.args):  # loops, not comprehensions: one frame less
        args.append(integer(arg) if i >= ints_from else _operand(arg, _COMPARE))
    for keyword in node.keywords:  # every keyword argument (axis=) is an integer
        args.append(f"{keyword.name}={integer(keyword.value)}")
    return f"{_operand(node.func, _POSTFIX)}({', '.join(args)})"


def _ints_from(node: ast.Call) -> int:
    """Where a call's integer arguments start: reshape/zeros/ones/eye sizes, grad(f, k)."""
    name = node.func.id if isinstance(node.func, ast.Name) else None
    builtin = BUILTINS.get(name) if name else None
    if builtin is not None and builtin.ints_from is not None:
        return builtin.ints_from
    return 1 if name in FUNCTION_MAKERS else len(node.args)


def _postfix(node: ast.Index | ast.Transpose) -> str:
    """A postfix chain (`x[0][1:].T`) in a loop: its length is not bounded by the nesting
    limit, only its index lists are."""
    suffixes: list[str] = []
    base: ast.Expr = node
    while isinstance(base, (ast.Index, ast.Transpose)):
        suffixes.append(_index_list(base) if isinstance(base, ast.Index) else ".T")
        base = base.value
    return _operand(base, _POSTFIX) + "".join(reversed(suffixes))


def _index_list(node: ast.Index) -> str:
    items: list[str] = []
    for item in node.items:
        items.append(_slice(item) if isinstance(item, ast.Slice) else integer(item))
    return f"[{', '.join(items)}]"


def _slice(item: ast.Slice) -> str:
    start = "" if item.start is None else integer(item.start)
    stop = "" if item.stop is None else integer(item.stop)
    step = "" if item.step is None else ":" + integer(item.step)
    return f"{start}:{stop}{step}"


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
    ast.Index: _postfix,
    ast.Transpose: _postfix,
    ast.ArrayLit: _array,
}
