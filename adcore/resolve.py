"""Name resolution (SPEC §2.1), before any shape is known: finds the program's inputs in
order of first appearance and rejects unknown functions, recursion, forward references and
redefinitions, each pointing at the offending name."""

from __future__ import annotations

from dataclasses import dataclass

from . import ast
from .builtins import BUILTINS, CONSTANTS, DERIVATIVES
from .errors import SignatureError, UnboundNameError


@dataclass(frozen=True)
class Resolved:
    program: ast.Program
    inputs: tuple[str, ...]


def children(node: ast.Expr) -> list[ast.Expr]:
    """Sub-expressions in source order."""
    match node:
        case ast.Unary(operand=operand):
            return [operand]
        case ast.Chain(first=first, rest=rest):
            return [first, *(link.operand for link in rest)]
        case ast.Power(base=base, exponent=exponent):
            return [base, exponent]
        case ast.Compare(left=left, right=right):
            return [left, right]
        case ast.Call(func=func, args=args, keywords=keywords):
            return [func, *args, *(k.value for k in keywords)]
        case ast.Index(value=value, items=items):
            parts: list[ast.Expr] = [value]
            for item in items:
                if isinstance(item, ast.Slice):
                    parts.extend(p for p in (item.start, item.stop, item.step) if p is not None)
                else:
                    parts.append(item)
            return parts
        case ast.Transpose(value=value):
            return [value]
        case ast.ArrayLit(elements=elements):
            return list(elements)
    return []


class _Resolver:
    def __init__(self, program: ast.Program):
        self.program = program
        self.later = {d.name: d for d in program.definitions}
        self.defined: dict[str, ast.FuncDef | ast.ConstDef] = {}
        self.inputs: dict[str, None] = {}

    def run(self) -> Resolved:
        for definition in self.program.definitions:
            self._define(definition)
        self._walk(self.program.result, frozenset(), None)
        return Resolved(self.program, tuple(self.inputs))

    def _define(self, d: ast.FuncDef | ast.ConstDef) -> None:
        if d.name in self.defined or d.name in BUILTINS or d.name in CONSTANTS or (
                d.name in DERIVATIVES):
            what = "a builtin" if d.name not in self.defined else "already defined"
            raise UnboundNameError(f"'{d.name}' is {what} and cannot be defined again", d.span,
                                   "choose another name")
        if d.name in self.inputs:
            raise UnboundNameError(f"'{d.name}' is used before its definition", d.span,
                                   "define names before using them")
        if isinstance(d, ast.FuncDef):
            params = [p.id for p in d.params]
            for i, p in enumerate(d.params):
                if p.id in params[:i]:
                    raise UnboundNameError(f"parameter '{p.id}' appears twice", p.span)
            self._walk(d.body, frozenset(params), d.name)
        else:
            self._walk(d.value, frozenset(), d.name)
        self.defined[d.name] = d

    def _walk(self, node: ast.Expr, params: frozenset[str], current: str | None) -> None:
        stack = [node]
        while stack:  # source order: pop the first child next
            expr = stack.pop()
            if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name):
                self._check_called(expr.func, params, current)
                kids = children(expr)[1:]
            else:
                if isinstance(expr, ast.Name):
                    self._check_value(expr, params, current)
                kids = children(expr)
            stack.extend(reversed(kids))

    def _check_called(self, name: ast.Name, params: frozenset[str], current: str | None
                      ) -> None:
        n = name.id
        if n in params:
            raise SignatureError(f"'{n}' is an array parameter, not a function", name.span)
        if n == current:
            raise UnboundNameError(f"'{n}' calls itself: recursion is not allowed", name.span)
        if isinstance(self.defined.get(n), ast.ConstDef):
            raise SignatureError(f"'{n}' is a constant, not a function", name.span,
                                 f"define it with parameters: {n}(x) = ...")
        if n in self.defined or n in BUILTINS or n in DERIVATIVES:
            return
        if n in self.later:
            raise UnboundNameError(f"'{n}' is called before its definition", name.span,
                                   "definitions must come before their use")
        raise UnboundNameError(f"unknown function '{n}'", name.span,
                               "see the README for the list of builtins")

    def _check_value(self, name: ast.Name, params: frozenset[str], current: str | None
                     ) -> None:
        n = name.id
        if n in params or n in self.defined or n in CONSTANTS or n in BUILTINS or (
                n in DERIVATIVES):
            return  # functions used as values are checked when lowering, with their use
        if n == current:
            raise UnboundNameError(f"'{n}' is used in its own definition", name.span)
        if n in self.later:
            raise UnboundNameError(f"'{n}' is used before its definition", name.span,
                                   "definitions must come before their use")
        self.inputs.setdefault(n)


def resolve(program: ast.Program) -> Resolved:
    return _Resolver(program).run()
