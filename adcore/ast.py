"""Syntax tree of the Nabla language (SPEC §2). Every node keeps the span it came from.

Left-associative chains of one precedence level (`a + b - c`, `x * y @ z`) are one flat
`Chain` node, so a 20,000-term sum is a wide node, not a 20,000-deep tree: every walker may
recurse over the tree, whose depth the parser bounds by the nesting limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import Span


@dataclass(frozen=True)
class Num:
    value: float
    text: str
    span: Span

    @property
    def is_integer_literal(self) -> bool:
        """Digits only: the spelling integer arguments (indices, axes, sizes) must have."""
        return self.text.isascii() and self.text.isdigit()


@dataclass(frozen=True)
class Name:
    id: str
    span: Span


@dataclass(frozen=True)
class Unary:
    op: str  # "-" or "+"
    operand: Expr
    span: Span  # the operator


@dataclass(frozen=True)
class Link:
    """One `op operand` step of a Chain; `span` is the operator's."""

    op: str
    operand: Expr
    span: Span


@dataclass(frozen=True)
class Chain:
    """`first op1 e1 op2 e2 ...`, left-associative; ops of one level: `+ -` or `* / @`."""

    first: Expr
    rest: tuple[Link, ...]
    span: Span  # the whole chain


@dataclass(frozen=True)
class Power:
    """`base ^ exponent` (also written `**`); right-associative."""

    base: Expr
    exponent: Expr
    span: Span  # the operator


@dataclass(frozen=True)
class Compare:
    op: str  # "<", "<=", ">", ">=", "==", "!="
    left: Expr
    right: Expr
    span: Span  # the operator


@dataclass(frozen=True)
class Keyword:
    name: str
    value: Expr
    span: Span  # the keyword name


@dataclass(frozen=True)
class Call:
    func: Expr  # a Name, or a Call for `grad(f)(x)`
    args: tuple[Expr, ...]
    keywords: tuple[Keyword, ...]
    span: Span  # the called expression (the name for `f(x)`)


@dataclass(frozen=True)
class Slice:
    start: Expr | None
    stop: Expr | None
    step: Expr | None
    span: Span


@dataclass(frozen=True)
class Index:
    value: Expr
    items: tuple[Expr | Slice, ...]
    span: Span  # the opening bracket


@dataclass(frozen=True)
class Transpose:
    value: Expr
    span: Span  # the `.T`


@dataclass(frozen=True)
class ArrayLit:
    elements: tuple[Expr, ...]
    span: Span  # the opening bracket


Expr = Num | Name | Unary | Chain | Power | Compare | Call | Index | Transpose | ArrayLit


@dataclass(frozen=True)
class FuncDef:
    name: str
    params: tuple[Name, ...]
    body: Expr
    span: Span  # the defined name


@dataclass(frozen=True)
class ConstDef:
    name: str
    value: Expr
    span: Span  # the defined name


@dataclass(frozen=True)
class Program:
    definitions: tuple[FuncDef | ConstDef, ...]
    result: Expr
