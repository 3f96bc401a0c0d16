"""Canonical program text, for content ids: same tree, same text; different tree, different text.

`normalize` drops whitespace, comments, spans and number spellings (`1`, `1.0` and `1e0`
print alike), and writes parentheses exactly where the tree needs them, so the output parses
back to the same tree. Since it never adds parentheses the source did not need, it never nests
deeper than the source did, and it re-parses within the same depth limit.

`Printer` is that printer; a subclass may spell numbers its own way (`derive` writes
integers as `2`, not `2.0`) and keep everything else, parentheses included.

Recursion is two frames per tree level; the parser bounds tree depth (`max_depth`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable

from . import ast

# Binding strength of each node kind; a child looser than its slot needs parentheses.
_COMPARE, _SUM, _PRODUCT, _UNARY, _POWER, _POSTFIX = range(6)
_SUM_OPS = frozenset({"+", "-"})


def normalize(program: ast.Program) -> str:
    """Definitions one per line, then the result; a canonical spelling of `program`."""
    return CANONICAL.program(program)


def content_id(program: ast.Program) -> str:
    """A program's id (SPEC §4): a hash of its canonical text."""
    return hashlib.sha256(normalize(program).encode()).hexdigest()[:32]


def expr(node: ast.Expr) -> str:
    """The canonical text of one expression."""
    return CANONICAL.expr(node)


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


class Printer:
    """Program text from a tree, with the fewest parentheses that keep the tree."""

    def __init__(self) -> None:
        self._formatters: dict[type, Callable[..., str]] = {
            ast.Num: self.number, ast.Name: self._name, ast.Unary: self._unary,
            ast.Chain: self._chain, ast.Power: self._power, ast.Compare: self._compare,
            ast.Call: self._call, ast.Index: self._index, ast.Transpose: self._transpose,
            ast.ArrayLit: self._array,
        }

    def program(self, program: ast.Program) -> str:
        lines: list[str] = []
        for definition in program.definitions:
            if isinstance(definition, ast.FuncDef):
                params = ", ".join(p.id for p in definition.params)
                lines.append(f"{definition.name}({params}) = {self.expr(definition.body)}")
            else:
                lines.append(f"{definition.name} = {self.expr(definition.value)}")
        lines.append(self.expr(program.result))
        return "\n".join(lines)

    def expr(self, node: ast.Expr) -> str:
        return self._operand(node, _COMPARE)

    def number(self, node: ast.Num) -> str:
        return number(node.value)

    def _operand(self, node: ast.Expr, weakest: int) -> str:
        """`node` in a slot that binds at least as tightly as `weakest`: parenthesize if
        looser. Every formatter recurses through here: two frames per tree level."""
        text = self._formatters[type(node)](node)
        return f"({text})" if _strength(node) < weakest else text

    def _name(self, node: ast.Name) -> str:
        return node.id

    def _unary(self, node: ast.Unary) -> str:
        return node.op + self._operand(node.operand, _UNARY)

    def _chain(self, node: ast.Chain) -> str:
        # Operands of a left-assoc chain bind tighter than it: a nested chain of the same
        # level, in any position, came from explicit parentheses and keeps them.
        tighter = _strength(node) + 1
        parts = [self._operand(node.first, tighter)]
        for link in node.rest:
            parts.append(f" {link.op} {self._operand(link.operand, tighter)}")
        return "".join(parts)

    def _power(self, node: ast.Power) -> str:
        # Right-assoc: the exponent may be a power or a unary (`2 ^ -x ^ 2`); the base may not.
        return f"{self._operand(node.base, _POSTFIX)} ^ {self._operand(node.exponent, _UNARY)}"

    def _compare(self, node: ast.Compare) -> str:
        return f"{self._operand(node.left, _SUM)} {node.op} {self._operand(node.right, _SUM)}"

    def _call(self, node: ast.Call) -> str:
        args: list[str] = []
        for arg in node.args:  # loops, not comprehensions: a comprehension is one more frame
            args.append(self._operand(arg, _COMPARE))
        for keyword in node.keywords:
            args.append(f"{keyword.name}={self._operand(keyword.value, _COMPARE)}")
        return f"{self._operand(node.func, _POSTFIX)}({', '.join(args)})"

    def _index(self, node: ast.Index) -> str:
        items: list[str] = []
        for item in node.items:
            items.append(self._slice(item) if isinstance(item, ast.Slice)
                         else self._operand(item, _COMPARE))
        return f"{self._operand(node.value, _POSTFIX)}[{', '.join(items)}]"

    def _slice(self, item: ast.Slice) -> str:
        start = "" if item.start is None else self._operand(item.start, _COMPARE)
        stop = "" if item.stop is None else self._operand(item.stop, _COMPARE)
        step = "" if item.step is None else ":" + self._operand(item.step, _COMPARE)
        return f"{start}:{stop}{step}"

    def _transpose(self, node: ast.Transpose) -> str:
        return self._operand(node.value, _POSTFIX) + ".T"

    def _array(self, node: ast.ArrayLit) -> str:
        elements: list[str] = []
        for element in node.elements:
            elements.append(self._operand(element, _COMPARE))
        return "[" + ", ".join(elements) + "]"


CANONICAL = Printer()
