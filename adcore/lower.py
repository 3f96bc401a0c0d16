"""Lowering: a resolved program and its input types -> one IR `Function`.

User functions are inlined at each call. A derivative in the language (`grad(f)(x)`) traces
`f` into a `Function` of fresh variables, transforms it (derivatives.py) and inlines the
result: nested AD is the same transforms applied again to IR that already holds them.
Variables a traced body reads from outside (inputs, constants, enclosing parameters) are free
variables of the trace, so the inner derivative holds them fixed (no perturbation confusion).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from . import ast
from . import derivatives as d
from .arguments import index_params, int_list, int_literal
from .builder import Builder
from .builtins import BUILTINS, CONSTANTS, FUNCTION_MAKERS, Builtin, matmul, stack
from .errors import ProgramError, ShapeError, SignatureError, Span
from .ir import ArrayType, Atom, Function, Lit, Var
from .limits import DEFAULT_LIMITS, Limits
from .primitives import elementwise as ew
from .primitives import shape as sh
from .resolve import Resolved

ARITHMETIC = {"+": ew.ADD, "-": ew.SUB, "*": ew.MUL, "/": ew.DIV}
COMPARISONS = {"<": ew.LT, "<=": ew.LE, ">": ew.GT, ">=": ew.GE, "==": ew.EQ, "!=": ew.NE}


class FunctionValue:
    name: str

    def apply(self, lw: Lowerer, b: Builder, args: list[Atom], span: Span) -> Atom:
        raise NotImplementedError


Value = Atom | FunctionValue
Env = Mapping[str, Value]


@dataclass
class UserFunction(FunctionValue):
    definition: ast.FuncDef
    env: Env

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.definition.name

    def apply(self, lw: Lowerer, b: Builder, args: list[Atom], span: Span) -> Atom:
        params = self.definition.params
        if len(args) != len(params):
            raise SignatureError(f"{self.name} takes {len(params)} argument(s), "
                                 f"not {len(args)}", span)
        with lw.nested(span):
            return lw.array(b, self.definition.body,
                            {**self.env, **{p.id: a for p, a in zip(params, args)}})


@dataclass
class BuiltinFunction(FunctionValue):
    builtin: Builtin

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.builtin.name

    def apply(self, lw: Lowerer, b: Builder, args: list[Atom], span: Span) -> Atom:
        lw.check_arity(self.builtin, len(args), span)
        ints_from = self.builtin.ints_from
        if not self.builtin.takes_only_arrays or (ints_from is not None and len(args) > ints_from):
            raise SignatureError(f"{self.name} cannot be passed as a function", span)
        with b.at(span):
            return self.builtin.lower(b, args, {} if self.builtin.ints_from is None else
                                      {"dims": []})


@dataclass
class Derivative(FunctionValue):
    kind: str  # grad, jacobian, jacfwd, jacrev, hessian
    inner: FunctionValue
    argnum: int

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"{self.kind}({self.inner.name})"

    def apply(self, lw: Lowerer, b: Builder, args: list[Atom], span: Span) -> Atom:
        if not 0 <= self.argnum < len(args):
            raise SignatureError(f"{self.kind} is taken with respect to argument "
                                 f"{self.argnum}, but {len(args)} argument(s) were given", span)
        with lw.nested(span):
            fn = lw.trace(self.inner, [a.type for a in args], span)
            wrt, limits = [self.argnum], lw.limits
            if self.kind == "grad" and fn.outputs[0].type.shape != ():
                raise ShapeError(f"{self.kind} needs a function with a scalar result; "
                                 f"{self.inner.name} returns shape {fn.outputs[0].type.shape}",
                                 span, "use jacobian for array results, or sum(...) first")
            if self.kind == "grad":
                derived = d.derivative_blocks(fn, wrt, limits)
            elif self.kind == "hessian":
                derived = d.hessian(fn, wrt, limits)
            else:
                mode = {"jacfwd": "forward", "jacrev": "reverse"}.get(self.kind, "auto")
                full = d.jacobian(fn, wrt, mode, limits)
                derived = d.select_outputs(full, [1])
            with b.at(span):
                return d.inline(b, derived, args)[0]


class Lowerer:
    def __init__(self, limits: Limits = DEFAULT_LIMITS):
        self.limits = limits
        self.depth = 0

    def nested(self, span: Span) -> _Nesting:
        return _Nesting(self, span)

    def program(self, resolved: Resolved, input_types: Mapping[str, ArrayType]) -> Function:
        b = Builder(self.limits)
        inputs = [Var(input_types[name]) for name in resolved.inputs]
        env: dict[str, Value] = dict(zip(resolved.inputs, inputs))
        for definition in resolved.program.definitions:
            if isinstance(definition, ast.FuncDef):
                env[definition.name] = UserFunction(definition, dict(env))
            else:
                env[definition.name] = self.array(b, definition.value, env)
        result = self.array(b, resolved.program.result, env)
        return b.function(inputs, [result], list(resolved.inputs))

    def trace(self, fn: FunctionValue, types: Sequence[ArrayType], span: Span) -> Function:
        b = Builder(self.limits, span)
        params = [Var(t) for t in types]
        return b.function(params, [fn.apply(self, b, list(params), span)])

    # ---- expressions ----

    def array(self, b: Builder, node: ast.Expr, env: Env) -> Atom:
        value = self.value(b, node, env)
        if isinstance(value, FunctionValue):
            raise SignatureError(f"the function {value.name} is used as a value", node.span,
                                 f"call it: {value.name}(...)")
        if value.type.dtype != "float64":
            raise SignatureError("a comparison can only be the first argument of where",
                                 node.span, "write where(condition, a, b)")
        return value

    def value(self, b: Builder, node: ast.Expr, env: Env) -> Value:
        with _pointing(node.span):  # errors from builtins and shape helpers
            return self._value(b, node, env)

    def _value(self, b: Builder, node: ast.Expr, env: Env) -> Value:
        with b.at(node.span):
            match node:
                case ast.Num(value=value):
                    return Lit(value)
                case ast.Name():
                    return self.name(node, env)
                case ast.Unary(op=op, operand=operand):
                    x = self.array(b, operand, env)
                    return b.bind(ew.NEG, x) if op == "-" else x
                case ast.Chain():
                    return self.chain(b, node, env)
                case ast.Power(base=base, exponent=exponent):
                    x, y = self.array(b, base, env), self.array(b, exponent, env)
                    if isinstance(y, Lit) and y.value == 2.0:
                        return b.bind(ew.MUL, x, x)  # one pass, and exact like numpy's square
                    return b.bind(ew.POW, x, y)
                case ast.Compare(op=op, left=left, right=right):
                    x, y = self.array(b, left, env), self.array(b, right, env)
                    return b.bind(COMPARISONS[op], x, y)
                case ast.Call():
                    return self.call(b, node, env)
                case ast.Index() | ast.Transpose():
                    return self.postfix(b, node, env)
                case ast.ArrayLit(elements=elements):
                    return stack(b, [self.array(b, e, env) for e in elements])
        raise AssertionError(f"unknown node {node!r}")

    def name(self, node: ast.Name, env: Env) -> Value:
        if node.id in env:
            return env[node.id]
        if node.id in CONSTANTS:
            return Lit(CONSTANTS[node.id])
        if node.id in BUILTINS:
            return BuiltinFunction(BUILTINS[node.id])
        raise SignatureError(f"'{node.id}' is a function and needs arguments", node.span)

    def chain(self, b: Builder, node: ast.Chain, env: Env) -> Atom:
        acc = self.array(b, node.first, env)
        for link in node.rest:
            operand = self.array(b, link.operand, env)
            with b.at(link.span), _pointing(link.span):
                if link.op == "@":
                    acc = matmul(b, acc, operand)
                else:
                    acc = b.bind(ARITHMETIC[link.op], acc, operand)
        return acc

    def postfix(self, b: Builder, node: ast.Index | ast.Transpose, env: Env) -> Atom:
        """`x[0][1:].T`: a postfix chain is applied in a loop, innermost first, so its length
        is bounded by the program's size, not by the nesting limit."""
        chain: list[ast.Index | ast.Transpose] = []
        base: ast.Expr = node
        while isinstance(base, (ast.Index, ast.Transpose)):
            chain.append(base)
            base = base.value
        x = self.array(b, base, env)
        for link in reversed(chain):
            with b.at(link.span), _pointing(link.span):
                if isinstance(link, ast.Index):
                    x = self.index(b, x, link.items, link.span)
                else:
                    x = b.bind(sh.TRANSPOSE, x, perm=tuple(reversed(range(x.type.ndim))))
        return x

    def index(self, b: Builder, x: Atom, items: Sequence[ast.Expr | ast.Slice], span: Span
              ) -> Atom:
        return b.bind(sh.GETITEM, x, index=index_params(x.type.shape, items, span))

    # ---- calls ----

    def call(self, b: Builder, node: ast.Call, env: Env) -> Value:
        func = node.func
        if isinstance(func, ast.Name) and func.id not in env:
            if func.id in FUNCTION_MAKERS:
                return self.derivative(b, node, env)
            if func.id in ("jvp", "hvp"):
                return self.directional(b, node, env)
            if func.id in BUILTINS:
                return self.builtin(b, BUILTINS[func.id], node, env)
        fn = self.function(b, func, env)
        if node.keywords:
            raise SignatureError(f"{fn.name} takes no keyword arguments", node.keywords[0].span)
        args = [self.array(b, a, env) for a in node.args]
        return fn.apply(self, b, args, node.span)

    def function(self, b: Builder, node: ast.Expr, env: Env) -> FunctionValue:
        value = self.value(b, node, env)
        if not isinstance(value, FunctionValue):
            raise SignatureError("expected a function here, not an array", node.span,
                                 "pass a function's name, like grad(f)")
        return value

    def derivative(self, b: Builder, node: ast.Call, env: Env) -> FunctionValue:
        kind = node.func.id  # type: ignore[union-attr]
        if not 1 <= len(node.args) <= 2 or node.keywords:
            raise SignatureError(f"{kind} takes a function and an optional argument number, "
                                 f"like {kind}(f) or {kind}(f, 1)", node.span)
        inner = self.function(b, node.args[0], env)
        argnum = int_literal(node.args[1]) if len(node.args) == 2 else 0
        return Derivative(kind, inner, argnum)

    def directional(self, b: Builder, node: ast.Call, env: Env) -> Atom:
        kind = node.func.id  # type: ignore[union-attr]
        if len(node.args) != 3 or node.keywords:
            raise SignatureError(f"{kind} takes a function, a point and a direction: "
                                 f"{kind}(f, x, v)", node.span)
        fn_value = self.function(b, node.args[0], env)
        x, v = (self.array(b, a, env) for a in node.args[1:])
        if x.type.shape != v.type.shape:
            raise ShapeError(f"the direction has shape {v.type.shape} but the point has shape "
                             f"{x.type.shape}", node.args[2].span)
        with self.nested(node.span):
            fn = self.trace(fn_value, [x.type], node.span)
            if kind == "hvp":
                if fn.outputs[0].type.shape != ():
                    raise ShapeError(f"hvp needs a function with a scalar result; "
                                     f"{fn_value.name} returns shape "
                                     f"{fn.outputs[0].type.shape}", node.span)
                derived = d.hvp(fn, [0], self.limits)
            else:
                derived = d.jvp(fn, None, self.limits)
            with b.at(node.span):
                return d.inline(b, derived, [x, v])[1]

    def builtin(self, b: Builder, builtin: Builtin, node: ast.Call, env: Env) -> Atom:
        self.check_arity(builtin, len(node.args), node.span)
        keywords = self.keywords(builtin, node.keywords)
        positional = node.args if builtin.ints_from is None else node.args[:builtin.ints_from]
        args: list[Atom] = []
        for i, arg in enumerate(positional):
            if i in builtin.int_lists:
                keywords.setdefault("lists", []).append(int_list(arg))
            elif builtin.mask_first and i == 0:
                args.append(self.mask(b, arg, env))
            elif builtin.indexed_first and i == 0:
                args.append(self.indexed(b, builtin, arg, env, keywords))
            else:
                args.append(self.array(b, arg, env))
        if builtin.ints_from is not None:
            keywords["dims"] = [int_literal(a) for a in node.args[builtin.ints_from:]]
        with b.at(node.span):
            return builtin.lower(b, args, keywords)

    def keywords(self, builtin: Builtin, given: Sequence[ast.Keyword]) -> dict[str, object]:
        """Keyword arguments: integer literals, or for `axis`, a list of them too."""
        keywords: dict[str, object] = {}
        for kw in given:
            if kw.name not in builtin.keywords:
                raise SignatureError(f"{builtin.name} has no keyword argument '{kw.name}'",
                                     kw.span)
            if kw.name in keywords:
                raise SignatureError(f"keyword argument '{kw.name}' given twice", kw.span)
            is_list = isinstance(kw.value, ast.ArrayLit)
            keywords[kw.name] = int_list(kw.value) if is_list else int_literal(kw.value)
        return keywords

    def indexed(self, b: Builder, builtin: Builtin, node: ast.Expr, env: Env,
                keywords: dict[str, object]) -> Atom:
        """The target of `add_at(target[index], value)`: the array, with the index and
        whether the target is written `zeros(...)` in keywords."""
        if not isinstance(node, ast.Index):
            raise SignatureError(f"the first argument of {builtin.name} is an indexed array, "
                                 "like g[1:, 0] or zeros(3, 4)[1:, 0]", node.span)
        target = self.array(b, node.value, env)
        keywords["index"] = index_params(target.type.shape, node.items, node.span)
        keywords["into_zeros"] = isinstance(node.value, ast.Call) and isinstance(
            node.value.func, ast.Name) and node.value.func.id == "zeros"
        return target

    def mask(self, b: Builder, node: ast.Expr, env: Env) -> Atom:
        value = self.value(b, node, env)
        if isinstance(value, FunctionValue) or value.type.dtype != "bool":
            raise SignatureError("the first argument of where must be a comparison", node.span,
                                 "for example where(x > 0, x, 0)")
        return value

    def check_arity(self, builtin: Builtin, count: int, span: Span) -> None:
        top = builtin.max_args
        if count < builtin.min_args or (top is not None and count > top):
            expected = (f"{builtin.min_args}" if top == builtin.min_args else
                        f"at least {builtin.min_args}" if top is None else
                        f"{builtin.min_args} to {top}")
            raise SignatureError(f"{builtin.name} takes {expected} argument(s), not {count}",
                                 span)


class _Nesting:
    """Counts inlined calls and derivatives against the depth limit."""

    def __init__(self, lowerer: Lowerer, span: Span):
        self.lowerer, self.span = lowerer, span

    def __enter__(self) -> None:
        self.lowerer.depth += 1
        limit = self.lowerer.limits.max_depth
        self.lowerer.limits.check("max_depth", self.lowerer.depth, limit,
                                  "the depth of nested function calls", self.span)

    def __exit__(self, *exc: object) -> None:
        self.lowerer.depth -= 1


@contextmanager
def _pointing(span: Span) -> Iterator[None]:
    """Errors raised without a position inside this block point at `span`."""
    try:
        yield
    except ProgramError as err:
        if err.span is None:
            err.span = span
        raise


def lower(resolved: Resolved, input_types: Mapping[str, ArrayType],
          limits: Limits = DEFAULT_LIMITS) -> Function:
    return Lowerer(limits).program(resolved, input_types)

