"""Typed expression trees of generated programs: each node knows its shape, writes itself as
Nabla text, and runs under a backend (numpy or JAX, `backends.py`), which is the reference
the service is compared with. Text is fully parenthesised, so precedence never decides."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Shape = tuple[int, ...]
Env = dict[str, Any]


class Node:
    shape: Shape
    smooth: bool = True  # differentiable everywhere that matters (finite differences apply)

    def text(self) -> str:
        raise NotImplementedError

    def run(self, be: Any, env: Env) -> Any:
        raise NotImplementedError

    def children(self) -> Sequence[Node]:
        return ()


@dataclass
class Name(Node):
    """An input, a function parameter or a constant binding."""

    name: str
    shape: Shape

    def text(self) -> str:
        return self.name

    def run(self, be: Any, env: Env) -> Any:
        return env[self.name]


@dataclass
class Literal(Node):
    value: float
    shape: Shape = ()

    def text(self) -> str:
        return repr(self.value) if self.value >= 0 else f"({self.value!r})"

    def run(self, be: Any, env: Env) -> Any:
        return be.xp.asarray(self.value)


@dataclass
class Apply(Node):
    """A builtin or an operator written by `template` ({0}, {1}, ... the operands), computed
    by `compute(be, *operands)`; `smooth` False for kinks (abs, relu, maximum...)."""

    template: str
    compute: Callable[..., Any]
    operands: list[Node]
    shape: Shape
    smooth: bool = True

    def text(self) -> str:
        return self.template.format(*(o.text() for o in self.operands))

    def run(self, be: Any, env: Env) -> Any:
        return self.compute(be, *(o.run(be, env) for o in self.operands))

    def children(self) -> Sequence[Node]:
        return self.operands


@dataclass
class Function:
    """`name(p0, p1, ...) = body`: its body may read inputs and earlier bindings."""

    name: str
    params: list[Name]
    body: Node

    def text(self) -> str:
        return f"{self.name}({', '.join(p.name for p in self.params)}) = {self.body.text()}"

    def callable(self, be: Any, env: Env) -> Callable[..., Any]:
        return lambda *args: self.body.run(be, {**env, **{p.name: a for p, a in
                                                           zip(self.params, args)}})


@dataclass
class Call(Node):
    function: Function
    args: list[Node]
    shape: Shape

    def text(self) -> str:
        return f"{self.function.name}({', '.join(a.text() for a in self.args)})"

    def run(self, be: Any, env: Env) -> Any:
        return self.function.callable(be, env)(*(a.run(be, env) for a in self.args))

    def children(self) -> Sequence[Node]:
        return [self.function.body, *self.args]


@dataclass
class Derivative(Node):
    """An in-language derivative: `grad(f, k)(args)`, `jacfwd(f)(a)`, `hessian(f)(a)`,
    `jvp(f, a, t)` or `hvp(f, a, t)`; the backend says how it computes each."""

    kind: str
    function: Function
    args: list[Node]
    shape: Shape
    argnum: int = 0

    def text(self) -> str:
        args = ", ".join(a.text() for a in self.args)
        name = self.function.name
        if self.kind in ("jvp", "hvp"):
            return f"{self.kind}({name}, {args})"
        k = f", {self.argnum}" if self.argnum else ""
        return f"{self.kind}({name}{k})({args})"

    def run(self, be: Any, env: Env) -> Any:
        values = [a.run(be, env) for a in self.args]
        return be.derivative(self.kind, self.function.callable(be, env), values, self.argnum)

    def children(self) -> Sequence[Node]:
        return [self.function.body, *self.args]


@dataclass
class Program:
    """Definitions (functions and constant bindings, in order), then the result."""

    inputs: dict[str, Shape]  # every input the text reads, by name
    functions: list[Function | tuple[str, Node]] = field(default_factory=list)
    result: Node | None = None

    def text(self) -> str:
        lines = [d.text() if isinstance(d, Function) else f"{d[0]} = {d[1].text()}"
                 for d in self.functions]
        assert self.result is not None
        return "\n".join([*lines, self.result.text()])

    def run(self, be: Any, at: dict[str, Any]) -> Any:
        env: Env = dict(at)
        for d in self.functions:
            if not isinstance(d, Function):
                env[d[0]] = d[1].run(be, env)
        assert self.result is not None
        return self.result.run(be, env)

    def nodes(self) -> list[Node]:
        out: list[Node] = []
        pending: list[Node] = [self.result] if self.result is not None else []
        pending += [d.body if isinstance(d, Function) else d[1] for d in self.functions]
        while pending:
            node = pending.pop()
            out.append(node)
            pending.extend(node.children())
        return out

    @property
    def smooth(self) -> bool:
        return all(n.smooth for n in self.nodes())

    @property
    def uses_derivatives(self) -> bool:
        return any(isinstance(n, Derivative) for n in self.nodes())

    @property
    def size(self) -> int:
        return math.prod(self.result.shape) if self.result is not None else 0
