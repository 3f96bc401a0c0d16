"""Random well-typed programs (issue 8): 1 to 4 inputs of mixed ranks, definitions, constant
bindings and in-language derivatives, built shape-first so every program compiles, and
kept where the functions are smooth and their values moderate (inputs in [-1, 1]).

`generate(draw)` takes a `Draw`: `SeededDraw` (numpy's generator; bench/fuzz.py prints its
seed as the reproducer) or `HypothesisDraw` (tests; hypothesis shrinks failures).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np

from .ops import BINARY, KINKED, REDUCTIONS, UNARY
from .tree import Apply, Call, Derivative, Function, Literal, Name, Node, Program, Shape

T = TypeVar("T")
INPUT_NAMES = ("x", "y", "w", "A", "B", "s", "v", "M")
SHAPES: tuple[Shape, ...] = ((), (2,), (3,), (4,), (2, 3), (3, 2), (3, 3))
MAX_INPUTS = 4
MAX_NODES = 60


class Draw(Protocol):
    def integer(self, lo: int, hi: int) -> int: ...  # lo..hi inclusive

    def chance(self, p: float) -> bool: ...


def choice(draw: Draw, options: Sequence[T]) -> T:
    return options[draw.integer(0, len(options) - 1)]


class SeededDraw:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def integer(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)


class HypothesisDraw:
    def __init__(self, data: Any):
        from hypothesis import strategies as st

        self.data, self.st = data, st

    def integer(self, lo: int, hi: int) -> int:
        return int(self.data.draw(self.st.integers(lo, hi)))

    def chance(self, p: float) -> bool:
        return self.integer(0, 999) >= 1000 - int(p * 1000)  # shrinks towards False


@dataclass
class Scope:
    """Names an expression may read: inputs (created on first use), and inside a function
    body its parameters; at the top, constant bindings too."""

    names: list[Name]
    params: list[Name] = field(default_factory=list)


class Generator:
    def __init__(self, draw: Draw, smooth: bool, derivatives: bool):
        self.draw, self.smooth, self.derivatives = draw, smooth, derivatives
        self.program = Program(inputs={})
        self.counter = 0
        self.budget = MAX_NODES  # expressions left to make: bounds the program's size

    # ---- names ----

    def fresh(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}{self.counter}"

    def input(self, shape: Shape) -> Name | None:
        if len(self.program.inputs) >= MAX_INPUTS:
            return None
        free = [n for n in INPUT_NAMES if n not in self.program.inputs]
        name = choice(self.draw, free)
        self.program.inputs[name] = shape
        return Name(name, shape)

    def readable(self, scope: Scope, shape: Shape) -> list[Node]:
        inputs = [Name(n, s) for n, s in self.program.inputs.items() if s == shape]
        return [*inputs, *(n for n in scope.names + scope.params if n.shape == shape)]

    # ---- expressions of a given shape ----

    def expr(self, shape: Shape, depth: int, scope: Scope, top: bool = False) -> Node:
        self.budget -= 1
        if depth <= 0 or self.budget <= 0 or (not top and self.draw.chance(0.2)):
            return self.leaf(shape, scope)
        makers = [self.unary, self.binary, self.reduce_to, self.matmul_to, self.slice_to,
                  self.call]
        if not self.smooth:
            makers += [self.kinked, self.kinked]
        if self.derivatives:
            makers += [self.derivative, self.derivative]
        if len(shape) == 2:
            makers.append(self.transposed)
        if shape and shape[0] in (2, 3):
            makers.append(self.stacked)
        return choice(self.draw, makers)(shape, depth - 1, scope)

    def leaf(self, shape: Shape, scope: Scope) -> Node:
        if scope.params and self.draw.chance(0.6):  # a function mostly reads its parameters
            return self.adapted(choice(self.draw, scope.params), shape)
        known = self.readable(scope, shape)
        if known and (self.draw.chance(0.9) or len(self.program.inputs) >= MAX_INPUTS):
            return choice(self.draw, known)
        if shape == () and (self.draw.chance(0.3) or len(self.program.inputs) >= MAX_INPUTS):
            return Literal(choice(self.draw, (0.5, 2.0, -1.5, 3.0, 0.25)))
        if not scope.params and self.budget > 0 and self.draw.chance(0.15):
            return self.binding(shape)
        fresh = self.input(shape)
        if fresh is not None:
            return fresh
        if known:
            return choice(self.draw, known)
        return self.broadcast_scalar(shape, scope)

    def binding(self, shape: Shape) -> Name:
        """`c1 = expression` at the top level; the leaf reads c1."""
        value = self.expr(shape, 1, Scope([]))
        name = self.fresh("c")
        self.program.functions.append((name, value))
        return Name(name, shape)

    def adapted(self, name: Name, shape: Shape) -> Node:
        """`name` made into `shape`: itself, or its sum, broadcast where needed."""
        if name.shape == shape:
            return name
        scalar = name if name.shape == () else Apply(
            "sum({0})", lambda be, a: be.xp.sum(a), [name], ())
        return scalar if shape == () else self.broadcast(scalar, shape)

    def broadcast(self, scalar: Node, shape: Shape) -> Node:
        dims = ", ".join(map(str, shape))
        return Apply("({0} * ones(" + dims + "))", lambda be, a: a * be.xp.ones(shape),
                     [scalar], shape)

    def broadcast_scalar(self, shape: Shape, scope: Scope) -> Node:
        return self.broadcast(self.expr((), 0, scope), shape)

    def unary(self, shape: Shape, depth: int, scope: Scope) -> Node:
        template, compute = choice(self.draw, UNARY)
        return Apply(template, compute, [self.expr(shape, depth, scope)], shape)

    def kinked(self, shape: Shape, depth: int, scope: Scope) -> Node:
        template, compute, arity = choice(self.draw, KINKED)
        operands = [self.expr(shape, depth, scope) for _ in range(arity)]
        return Apply(template, compute, operands, shape, smooth=False)

    def binary(self, shape: Shape, depth: int, scope: Scope) -> Node:
        template, compute = choice(self.draw, BINARY)
        right = shape if not shape or self.draw.chance(0.7) else ()  # a broadcast scalar
        a, b = self.expr(shape, depth, scope), self.expr(right, depth, scope)
        if self.draw.chance(0.3):
            a, b = b, a
        return Apply(template, compute, [a, b], shape)

    def reduce_to(self, shape: Shape, depth: int, scope: Scope) -> Node:
        n = self.draw.integer(2, 3)
        axis = self.draw.integer(0, len(shape)) if len(shape) < 2 else None
        if axis is None:
            return self.unary(shape, depth, scope)
        source = shape[:axis] + (n,) + shape[axis:]
        name, compute, smooth = choice(self.draw, REDUCTIONS if not self.smooth else
                                       [r for r in REDUCTIONS if r[2]])
        whole = not shape and self.draw.chance(0.5)
        text = f"{name}({{0}})" if whole else f"{name}({{0}}, axis={axis})"
        return Apply(text, lambda be, a: compute(be, a, None if whole else axis),
                     [self.expr(source, depth, scope)], shape, smooth)

    def matmul_to(self, shape: Shape, depth: int, scope: Scope) -> Node:
        k = self.draw.integer(2, 3)
        if len(shape) == 0:
            left, right = (k,), (k,)
        elif len(shape) == 1:
            left, right = (shape[0], k), (k,)
        else:
            left, right = (shape[0], k), (k, shape[1])
        operands = [self.expr(left, depth, scope), self.expr(right, depth, scope)]
        return Apply("({0} @ {1})", lambda be, a, b: a @ b, operands, shape)

    def slice_to(self, shape: Shape, depth: int, scope: Scope) -> Node:
        if not shape:
            n, i = self.draw.integer(2, 3), self.draw.integer(-2, 1)
            return Apply(f"{{0}}[{i}]", lambda be, a: a[i],
                         [self.expr((n,), depth, scope)], shape)
        if len(shape) == 1 and self.draw.chance(0.5):
            rows, i = self.draw.integer(2, 3), self.draw.integer(0, 1)
            return Apply(f"{{0}}[{i}]", lambda be, a: a[i],
                         [self.expr((rows,) + shape, depth, scope)], shape)
        longer = (shape[0] + 1,) + shape[1:]
        start, text = choice(self.draw, ((1, "{0}[1:]"), (0, "{0}[:-1]")))
        reverse = self.draw.chance(0.3)
        text = text + "[::-1]" if reverse else text

        def compute(be: Any, a: Any) -> Any:
            part = a[start:start + shape[0]]
            return part[::-1] if reverse else part

        return Apply(text, compute, [self.expr(longer, depth, scope)], shape)

    def transposed(self, shape: Shape, depth: int, scope: Scope) -> Node:
        return Apply("{0}.T", lambda be, a: a.T,
                     [self.expr(shape[::-1], depth, scope)], shape)

    def stacked(self, shape: Shape, depth: int, scope: Scope) -> Node:
        parts = [self.expr(shape[1:], depth, scope) for _ in range(shape[0])]
        template = "[" + ", ".join(f"{{{i}}}" for i in range(shape[0])) + "]"
        return Apply(template, lambda be, *xs: be.xp.stack(xs), parts, shape)

    # ---- functions ----

    def function(self, out: Shape, params: Sequence[Shape], depth: int, scope: Scope
                 ) -> Function:
        names = [Name(self.fresh("p"), s) for s in params]
        body = self.expr(out, max(depth, 1), Scope([], names))
        read = {n.name for n in Program(inputs={}, result=body).nodes() if isinstance(n, Name)}
        for param in names:  # a derivative of a constant is too easy: read every parameter
            if param.name not in read:
                body = Apply("({0} + {1})", lambda be, a, b: a + b,
                             [body, self.reduce_all(param, out)], out)
        function = Function(self.fresh("f"), names, body)
        self.program.functions.append(function)
        return function

    def reduce_all(self, param: Name, out: Shape) -> Node:
        if param.shape == out:
            return Apply("sin({0})", lambda be, a: be.xp.sin(a), [param], out)
        return Apply("sum(sin({0}))", lambda be, a: be.xp.sum(be.xp.sin(a)), [param], ())

    def call(self, shape: Shape, depth: int, scope: Scope) -> Node:
        param = choice(self.draw, SHAPES[:5])
        function = self.function(shape, [param], depth, scope)
        return Call(function, [self.expr(param, depth, scope)], shape)

    def derivative(self, shape: Shape, depth: int, scope: Scope) -> Node:
        options: list[tuple[str, Shape, Shape]] = [("grad", (), shape), ("hvp", (), shape)]
        for cut in range(len(shape) + 1):  # out + in == shape
            options.append((choice(self.draw, ("jacobian", "jacfwd", "jacrev")),
                            shape[:cut], shape[cut:]))
        if len(shape) == 2 and shape[0] == shape[1]:
            options.append(("hessian", (), shape[:1]))
        options.append(("jvp", shape, choice(self.draw, SHAPES[:4])))
        kind, out, inner = choice(self.draw, options)
        if kind == "grad" and self.draw.chance(0.3):  # grad(f, 1)(a, b): in b, a held fixed
            other = choice(self.draw, SHAPES[:4])
            function = self.function(out, [other, inner], depth, scope)
            args = [self.expr(other, depth, scope), self.expr(inner, depth, scope)]
            return Derivative(kind, function, args, shape, argnum=1)
        function = self.function(out, [inner], depth, scope)
        args = [self.expr(inner, depth, scope)]
        if kind in ("jvp", "hvp"):
            args.append(self.expr(inner, depth, scope))
        return Derivative(kind, function, args, shape)


def generate(draw: Draw, *, smooth: bool = True, derivatives: bool = True,
             result: Shape | None = None, depth: int = 4) -> Program:
    """A program whose result has shape `result` (default: a scalar two times in three)."""
    gen = Generator(draw, smooth, derivatives)
    if result is None:
        result = () if draw.chance(0.65) else choice(draw, SHAPES[1:])
    for _ in range(draw.integer(2, MAX_INPUTS)):
        gen.input(choice(draw, SHAPES))
    body = gen.expr(result, depth, Scope([]), top=True)
    read = {n.name for n in Program(inputs={}, result=body).nodes() if isinstance(n, Name)}
    read |= {n.name for n in gen.program.nodes() if isinstance(n, Name)}
    for name, shape in gen.program.inputs.items():  # every input takes part
        if name not in read:
            body = Apply("({0} + {1})", lambda be, a, b: a + b,
                         [body, gen.reduce_all(Name(name, shape), result)], result)
    gen.program.result = body
    return gen.program


def point(program: Program, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {n: rng.uniform(-1.0, 1.0, s) for n, s in program.inputs.items()}


def size(shape: Shape) -> int:
    return math.prod(shape)

