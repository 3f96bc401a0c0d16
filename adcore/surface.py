"""The surface form of each primitive: the expression tree that lowers to exactly it.

This is the language side of the registry, the inverse of `builtins.py` and the operators
of `lower.py`, and built from their tables: `WRITERS` maps every primitive to a writer
`(argument trees, params, input types) -> tree`. A test checks that every registered
primitive has one and that each round-trips through the parser and the lowering.
Two writers choose an equivalent form with the same values, because the exact one has no
spelling: an einsum with a scalar operand is a product (`c * y.T`), and reductions or
indexings over no axes are their operand.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from . import ast
from .builtins import BINARY, MATMUL_SPECS, REDUCTIONS, UNARY
from .errors import Span
from .ir import ArrayType, Atom, Eqn, Params, Var
from .lower import ARITHMETIC, COMPARISONS
from .primitives import elementwise as ew
from .primitives import linalg as la
from .primitives import shape as sh
from .primitives.registry import Primitive

SPAN = Span(0, 0)
Writer = Callable[[list[ast.Expr], Params, Sequence[ArrayType]], ast.Expr]


class UnwritableError(AssertionError):
    """An IR the language cannot spell: a bug (every primitive has a surface form)."""


# ---- small trees ----

def name(identifier: str) -> ast.Name:
    return ast.Name(identifier, SPAN)


def integer(k: int) -> ast.Expr:
    return ast.Num(float(k), str(k), SPAN) if k >= 0 else ast.Unary("-", integer(-k), SPAN)


def literal(value: float) -> ast.Expr:
    """A float literal that lexes back to exactly `value`: integers as `2`, others as their
    shortest repr, infinity as `1 / 0` and nan as `0 / 0` (IEEE division; no literal is
    infinite), signs (and -0) as a unary minus, which lowering folds back into the literal."""
    value = float(value)
    if math.isnan(value):
        return chain("/", integer(0), integer(0))
    if math.copysign(1.0, value) < 0:
        return ast.Unary("-", literal(-value), SPAN)
    if math.isinf(value):
        return chain("/", integer(1), integer(0))
    if value.is_integer() and value < 1e16:
        return ast.Num(value, str(int(value)), SPAN)
    return ast.Num(value, repr(value), SPAN)


def call(function: str, *args: ast.Expr, **keywords: ast.Expr) -> ast.Call:
    kws = tuple(ast.Keyword(k, v, SPAN) for k, v in keywords.items())
    return ast.Call(name(function), tuple(args), kws, SPAN)


def integers(values: Sequence[int]) -> list[ast.Expr]:
    return [integer(k) for k in values]


def int_list(values: Sequence[int]) -> ast.ArrayLit:
    return ast.ArrayLit(tuple(integers(values)), SPAN)


_LEVEL = {"+": 0, "-": 0, "*": 1, "/": 1, "@": 1}


def chain(op: str, left: ast.Expr, right: ast.Expr) -> ast.Chain:
    """left op right, extending left when it is a chain of the same level (left-assoc)."""
    if isinstance(left, ast.Chain) and _LEVEL[left.rest[0].op] == _LEVEL[op]:
        return ast.Chain(left.first, (*left.rest, ast.Link(op, right, SPAN)), SPAN)
    return ast.Chain(left, (ast.Link(op, right, SPAN),), SPAN)


# ---- elementwise ----

def negated(node: ast.Expr) -> ast.Expr:
    """-node, and -(-a) as a."""
    return node.operand if isinstance(node, ast.Unary) and node.op == "-" else ast.Unary(
        "-", node, SPAN)


def _without_sign(node: ast.Expr) -> ast.Expr | None:
    """b for -b, and b * c / d for -b * c / d (the sign of a product's first factor is the
    product's: IEEE rounding is symmetric); None when node has no leading minus."""
    if isinstance(node, ast.Unary) and node.op == "-":
        return node.operand
    if isinstance(node, ast.Chain) and node.rest[0].op in "*/" and isinstance(
            node.first, ast.Unary) and node.first.op == "-":
        return ast.Chain(node.first.operand, node.rest, SPAN)
    return None


def _arithmetic(op: str) -> Writer:
    """Operators, without the noise of a + -b, a - -b and -1 * b (same values, IEEE)."""

    def writer(args: list[ast.Expr], params: Params, types: Sequence[ArrayType]) -> ast.Expr:
        left, right = args
        positive = _without_sign(right) if op in "+-" else None
        if positive is not None:
            return chain("-" if op == "+" else "+", left, positive)
        if op == "*" and (_is_literal(left, -1.0) or _is_literal(right, -1.0)):
            return negated(right if _is_literal(left, -1.0) else left)
        return chain(op, left, right)

    return writer


def _power(args: list[ast.Expr], params: Params, types: Sequence[ArrayType]) -> ast.Expr:
    base, exponent = args
    if isinstance(exponent, ast.Num) and exponent.value == 2.0:
        return call("pow", base, exponent)  # `x ^ 2` lowers to x * x, not to pow
    return ast.Power(base, exponent, SPAN)


def _function(function: str) -> Writer:
    return lambda args, params, types: call(function, *args)


def _compare(op: str) -> Writer:
    return lambda args, params, types: ast.Compare(op, args[0], args[1], SPAN)


# ---- reductions and shapes ----

def _reduction(function: str) -> Writer:
    def writer(args: list[ast.Expr], params: Params, types: Sequence[ArrayType]) -> ast.Expr:
        axes, ndim = params["axes"], types[0].ndim
        if axes == tuple(range(ndim)):
            return call(function, args[0])
        if not axes:  # over no axes: the operand itself (the norm: sqrt of its square)
            return args[0] if function != "norm" else call("sqrt", chain("*", args[0], args[0]))
        axis = integer(axes[0]) if len(axes) == 1 else int_list(axes)
        return call(function, args[0], axis=axis)

    return writer


def _transpose(args: list[ast.Expr], params: Params, types: Sequence[ArrayType]) -> ast.Expr:
    perm, ndim = params["perm"], types[0].ndim
    if perm == tuple(reversed(range(ndim))):
        return ast.Transpose(args[0], SPAN) if ndim == 2 else call("transpose", args[0])
    return call("transpose", args[0], *integers(perm))


def index_items(index: sh.Index, shape: tuple[int, ...]) -> tuple[ast.Expr | ast.Slice, ...]:
    """getitem's normalized index as written: defaults left out, trailing `:` dropped."""
    items: list[ast.Expr | ast.Slice] = []
    for item, n in zip(index, shape):
        if isinstance(item, int):
            items.append(integer(item))
            continue
        start, stop, step = item
        if step > 0:
            parts = (None if start == 0 else start, None if stop is None or stop >= n else stop,
                     None if step == 1 else step)
        else:
            parts = (None if start >= n - 1 else start, stop, step)
        items.append(ast.Slice(*(None if p is None else integer(p) for p in parts), SPAN))
    while len(items) > 1 and items[-1] == ast.Slice(None, None, None, SPAN):
        items.pop()
    return tuple(items)


def _indexed(value: ast.Expr, index: sh.Index, shape: tuple[int, ...]) -> ast.Expr | None:
    return ast.Index(value, index_items(index, shape), SPAN) if index else None


def _getitem(args: list[ast.Expr], params: Params, types: Sequence[ArrayType]) -> ast.Expr:
    index, shape = params["index"], types[0].shape
    if all(not isinstance(i, int) and len(range(n)[slice(*i)]) == n and i[2] == 1
           for i, n in zip(index, shape)):
        return args[0]  # every axis whole: the operand itself
    return _indexed(args[0], index, shape) or args[0]


def _scatter(args: list[ast.Expr], params: Params, types: Sequence[ArrayType]) -> ast.Expr:
    zeros = call("zeros", *integers(params["shape"]))
    target = _indexed(zeros, params["index"], params["shape"])
    return args[0] if target is None else call("add_at", target, args[0])


def _scatter_add(args: list[ast.Expr], params: Params, types: Sequence[ArrayType]
                 ) -> ast.Expr:
    target = _indexed(args[0], params["index"], types[0].shape)
    return chain("+", args[0], args[1]) if target is None else call("add_at", target, args[1])


def _with_shape(function: str) -> Writer:
    return lambda args, params, types: call(function, args[0], *integers(params["shape"]))


def _reshape(args: list[ast.Expr], params: Params, types: Sequence[ArrayType]) -> ast.Expr:
    value = args[0]
    if isinstance(value, ast.Call) and value.func == name("reshape"):
        value = value.args[0]  # reshape(reshape(x, 2, 3), 6): one reshape does it
    return call("reshape", value, *integers(params["shape"]))


def _broadcast(args: list[ast.Expr], params: Params, types: Sequence[ArrayType]) -> ast.Expr:
    value = args[0]
    if isinstance(value, ast.Call) and value.func == name("reshape") and _is_literal(
            value.args[0]):
        value = value.args[0]  # broadcast_to(reshape(2, 1, 1), 3, 3): the 2 broadcasts alone
    return call("broadcast_to", value, *integers(params["shape"]))


def _fill(args: list[ast.Expr], params: Params, types: Sequence[ArrayType]) -> ast.Expr:
    dims = integers(params["shape"])
    named = {0.0: "zeros", 1.0: "ones"}.get(params["value"])
    return call(named, *dims) if named else call("broadcast_to", literal(params["value"]), *dims)


def _concat(args: list[ast.Expr], params: Params, types: Sequence[ArrayType]) -> ast.Expr:
    axis = params["axis"]
    return call("concat", *args, axis=integer(axis)) if axis else call("concat", *args)


# ---- einsum ----

def canonical(spec: tuple[str, ...]) -> tuple[str, ...]:
    """Letters renamed by first appearance: specs equal up to renaming compile alike."""
    labels = {c: chr(ord("a") + i) for i, c in enumerate(dict.fromkeys("".join(spec)))}
    return tuple("".join(labels[c] for c in part) for part in spec)


def _einsum(args: list[ast.Expr], params: Params, types: Sequence[ArrayType]) -> ast.Expr:
    spec = params["spec"]
    (sa, sb, so), (a, b) = spec, args
    if canonical(spec) == canonical(MATMUL_SPECS.get((len(sa), len(sb)), ("", "", "?"))):
        return chain("@", a, b)
    if canonical(spec) == ("a", "b", "ab"):
        return call("outer", a, b)
    if not sa or not sb:
        return _scaled(a, b, sb or sa, so, scalar_first=not sa)
    if len(set(sa)) < len(sa) or len(set(sb)) < len(sb):
        raise UnwritableError(f"einsum spec {spec}: a repeated letter (a diagonal)")
    labels = {c: i for i, c in enumerate(dict.fromkeys(sa + sb + so))}
    lists = [int_list([labels[c] for c in part]) for part in spec]
    return call("einsum", a, lists[0], b, lists[1], *([lists[2]] if so else []))


def _scaled(a: ast.Expr, b: ast.Expr, letters: str, out: str, scalar_first: bool
            ) -> ast.Expr:
    """einsum with a scalar operand: a product, the other operand's axes permuted."""
    if sorted(letters) != sorted(out) or len(set(letters)) != len(letters):
        raise UnwritableError(f"einsum of a scalar into {letters}->{out}")
    perm = [letters.index(c) for c in out]
    scalar, array = (a, b) if scalar_first else (b, a)
    if perm != sorted(perm):
        array = _transpose([array], {"perm": tuple(perm)}, [ArrayType((1,) * len(perm))])
    if _is_literal(scalar, 1.0):
        return array  # 1 * y: y exactly
    return chain("*", scalar, array) if scalar_first else chain("*", array, scalar)


def _is_literal(node: ast.Expr, value: float | None = None) -> bool:
    """A literal as `literal` writes it (a sign is a unary minus), equal to `value` if given."""
    if isinstance(node, ast.Unary) and node.op == "-":
        inner = node.operand
        return isinstance(inner, ast.Num) and (value is None or -inner.value == value)
    return isinstance(node, ast.Num) and (value is None or node.value == value)


# ---- the table ----

def _writers() -> dict[Primitive, Writer]:
    writers: dict[Primitive, Writer] = {prim: _function(n) for n, prim in UNARY.items()}
    writers.update({prim: _function(n) for n, prim in BINARY.items()})
    writers.update({prim: _arithmetic(op) for op, prim in ARITHMETIC.items()})
    writers.update({prim: _compare(op) for op, prim in COMPARISONS.items()})
    writers.update({prim: _reduction(n) for n, prim in REDUCTIONS.items()})
    writers.update({
        ew.POW: _power, ew.NEG: lambda args, params, types: negated(args[0]),
        ew.SELECT: _function("where"), sh.TRANSPOSE: _transpose, sh.GETITEM: _getitem,
        sh.SCATTER: _scatter, sh.SCATTER_ADD: _scatter_add, sh.RESHAPE: _reshape,
        sh.BROADCAST: _broadcast, sh.SUM_TO: _with_shape("sum_to"),
        sh.FILL: _fill, sh.EYE: lambda args, params, types: call("eye", integer(params["n"])),
        sh.CONCAT: _concat, la.EINSUM: _einsum,
    })
    return writers


WRITERS = _writers()
SHAPE_MOVES = frozenset({sh.RESHAPE, sh.BROADCAST, sh.TRANSPOSE, sh.GETITEM})
COMPARE_OPS = {prim: op for op, prim in COMPARISONS.items()}


def write(eqn: Eqn, args: list[ast.Expr]) -> ast.Expr:
    writer = WRITERS.get(eqn.prim)
    if writer is None:
        raise UnwritableError(f"no surface form for the primitive {eqn.prim.name}")
    return writer(args, eqn.params, [a.type for a in eqn.ins])


class MaskWriter:
    """A mask as a comparison: shape moves of a mask (reshape, broadcast, transpose,
    indexing) move into the compared operands, since a mask cannot be bound to a name or
    passed to a builtin in the language."""

    def __init__(self, eqns: Sequence[Eqn], atom: Callable[[Atom], ast.Expr]):
        self.producers = {e.out: e for e in eqns}
        self.atom = atom

    def mask(self, var: Var) -> ast.Compare:
        op, (left, _), (right, _) = self._parts(var)
        return ast.Compare(op, left, right, SPAN)

    def _parts(self, var: Var) -> tuple[str, tuple[ast.Expr, tuple], tuple[ast.Expr, tuple]]:
        eqn = self.producers[var]
        if eqn.prim in COMPARE_OPS:
            left, right = ((self.atom(a), a.type.shape) for a in eqn.ins)
            return COMPARE_OPS[eqn.prim], left, right
        if eqn.prim not in SHAPE_MOVES:
            raise UnwritableError(f"a mask made by {eqn.prim.name}")
        op, *sides = self._parts(eqn.ins[0])
        full = eqn.ins[0].type.shape
        if all(shape == () for _, shape in sides):
            sides[0] = (call("broadcast_to", sides[0][0], *integers(full)), full)
        moved = []
        for expr, shape in sides:
            if shape != ():  # a scalar side broadcasts against the moved one
                if shape != full:
                    expr = call("broadcast_to", expr, *integers(full))
                expr, shape = write(Eqn(eqn.prim, (Var(ArrayType(full)),), eqn.params, var),
                                    [expr]), eqn.out.type.shape
            moved.append((expr, shape))
        return op, moved[0], moved[1]
