"""Name resolution (SPEC §2.1), before any shape is known: finds the program's inputs in
order of first appearance and rejects unknown functions, recursion, forward references and
redefinitions, each pointing at the offending name."""

from __future__ import annotations

from dataclasses import dataclass

from . import ast
from .builtins import BUILTINS, CONSTANTS, DERIVATIVES, FUNCTION_MAKERS
from .errors import SignatureError, UnboundNameError

Role = str
VALUE, FUNCTION, RESULT = "value", "function", "result"  # RESULT: a value, the program's


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
        self._walk(self.program.result, frozenset(), None, RESULT)
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

    def _walk(self, node: ast.Expr, params: frozenset[str], current: str | None,
              role: Role = VALUE) -> None:
        """Checks every name in source order, and that functions and arrays each stand where
        they belong: decidable from names alone, so these errors come before any input is
        looked at."""
        stack = [(node, role)]
        while stack:  # source order: pop the first child next
            expr, want = stack.pop()
            if isinstance(expr, ast.Call):
                kids = self._call(expr, params, current)
                self._expect(want, expr, FUNCTION if _makes_function(expr) else VALUE)
            elif isinstance(expr, ast.Name):
                kids = []
                if want == FUNCTION:
                    self._check_called(expr, params, current, argument=True)
                else:
                    self._check_value(expr, params, current, want)
            else:
                kids = [(kid, VALUE) for kid in children(expr)]
                self._expect(want, expr, VALUE)
            stack.extend(reversed(kids))

    def _call(self, call: ast.Call, params: frozenset[str], current: str | None
              ) -> list[tuple[ast.Expr, Role]]:
        """The call's parts to walk, each with the role it must play."""
        parts: list[tuple[ast.Expr, Role]] = [(a, VALUE) for a in call.args]
        parts += [(k.value, VALUE) for k in call.keywords]
        func = call.func
        if not isinstance(func, ast.Name):
            return [(func, FUNCTION), *parts]  # grad(f)(x): the callee is itself a call
        self._check_called(func, params, current)
        if func.id in DERIVATIVES and parts:
            parts[0] = (call.args[0], FUNCTION)  # grad(f), jvp(f, x, v): f is a function
        return parts

    def _expect(self, want: Role, expr: ast.Expr, got: Role) -> None:
        if got == FUNCTION and want != FUNCTION:
            name = _function_name(expr)
            if want == RESULT:
                raise SignatureError(f"the program's result is the function {name}, not an "
                                     "array", expr.span, f"call it: {name}(...)")
            raise SignatureError(f"the function {name} is used as a value", expr.span,
                                 f"call it: {name}(...)")
        if got == VALUE and want == FUNCTION:
            raise SignatureError("expected a function here, not an array", expr.span,
                                 "pass a function's name, like grad(f)")

    def _check_called(self, name: ast.Name, params: frozenset[str], current: str | None,
                      argument: bool = False) -> None:
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
        message = f"'{n}' is not a function" if argument else f"unknown function '{n}'"
        if n in self.inputs:
            message += " (it is an input of the program)"
        raise UnboundNameError(message, name.span, self._functions_hint())

    def _functions_hint(self) -> str:
        functions = [n for n, d in self.defined.items() if isinstance(d, ast.FuncDef)]
        if functions:
            return f"the functions defined above: {', '.join(functions)}; or a builtin"
        return "define it first, like f(y) = ..., or use a builtin (see the README)"

    def _check_value(self, name: ast.Name, params: frozenset[str], current: str | None,
                     want: Role) -> None:
        n = name.id
        if n in params or n in CONSTANTS or isinstance(self.defined.get(n), ast.ConstDef):
            return
        if n in self.defined or n in BUILTINS or n in DERIVATIVES:
            self._expect(want, name, FUNCTION)
        if n == current:
            raise UnboundNameError(f"'{n}' is used in its own definition", name.span)
        if n in self.later:
            raise UnboundNameError(f"'{n}' is used before its definition", name.span,
                                   "definitions must come before their use")
        self.inputs.setdefault(n)


def _makes_function(call: ast.Call) -> bool:
    return isinstance(call.func, ast.Name) and call.func.id in FUNCTION_MAKERS


def _function_name(expr: ast.Expr) -> str:
    """How a function-valued expression is named in messages: f, sin, grad(f)."""
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name):
        inner = _function_name(expr.args[0]) if expr.args else ""
        return f"{expr.func.id}({inner})"
    return "..."


def resolve(program: ast.Program) -> Resolved:
    return _Resolver(program).run()
