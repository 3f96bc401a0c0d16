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
from collections.abc import Callable

from . import ast
from .builtins import BUILTINS, FUNCTION_MAKERS

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
    return repr(float(value))  # re-lexes to the same float (the lexer refuses overflow)


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
            ast.Call: self._call, ast.Index: self._postfix, ast.Transpose: self._postfix,
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

    def integer(self, node: ast.Expr) -> str:
        """An operand in an integer position (index, slice bound, axis, size, argument
        number, einsum labels): an integer literal prints as an integer (`x[1:]`, not
        `x[1.0:]`); anything else as usual, so a program that is wrong there stays wrong."""
        if isinstance(node, ast.Num) and node.is_integer_literal:
            return str(int(node.text))
        if isinstance(node, ast.Unary) and isinstance(node.operand, ast.Num):
            return node.op + self.integer(node.operand)
        if isinstance(node, ast.ArrayLit):
            elements: list[str] = []
            for element in node.elements:
                elements.append(self.integer(element))
            return "[" + ", ".join(elements) + "]"
        return self._operand(node, _COMPARE)

    def _call(self, node: ast.Call) -> str:
        integral = _integer_arguments(node)
        args: list[str] = []
        for i, arg in enumerate(node.args):  # loops, not comprehensions: one frame less
            args.append(self.integer(arg) if integral(i) else self._operand(arg, _COMPARE))
        for keyword in node.keywords:  # every keyword argument (axis=) is integral
            args.append(f"{keyword.name}={self.integer(keyword.value)}")
        return f"{self._operand(node.func, _POSTFIX)}({', '.join(args)})"

    def _postfix(self, node: ast.Index | ast.Transpose) -> str:
        """A postfix chain (`x[0][1:].T`) in a loop: its length is not bounded by the
        nesting limit, only its index lists are."""
        suffixes: list[str] = []
        base: ast.Expr = node
        while isinstance(base, (ast.Index, ast.Transpose)):
            suffixes.append(self._index_list(base) if isinstance(base, ast.Index) else ".T")
            base = base.value
        return self._operand(base, _POSTFIX) + "".join(reversed(suffixes))

    def _index_list(self, node: ast.Index) -> str:
        items: list[str] = []
        for item in node.items:
            items.append(self._slice(item) if isinstance(item, ast.Slice)
                         else self.integer(item))
        return f"[{', '.join(items)}]"

    def _slice(self, item: ast.Slice) -> str:
        start = "" if item.start is None else self.integer(item.start)
        stop = "" if item.stop is None else self.integer(item.stop)
        step = "" if item.step is None else ":" + self.integer(item.step)
        return f"{start}:{stop}{step}"

    def _array(self, node: ast.ArrayLit) -> str:
        elements: list[str] = []
        for element in node.elements:
            elements.append(self._operand(element, _COMPARE))
        return "[" + ", ".join(elements) + "]"


def _integer_arguments(node: ast.Call) -> Callable[[int], bool]:
    """Which positional arguments of a call are integers: sizes (reshape, zeros...), einsum
    labels, the argument number of grad(f, k)."""
    name = node.func.id if isinstance(node.func, ast.Name) else ""
    if name in FUNCTION_MAKERS:
        return lambda i: i == 1
    builtin = BUILTINS.get(name)
    if builtin is None:
        return lambda i: False
    start = len(node.args) if builtin.ints_from is None else builtin.ints_from
    return lambda i: i >= start or i in builtin.int_lists


CANONICAL = Printer()
