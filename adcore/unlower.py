"""IR -> program text in the language: the inverse of lowering, for `derive` (SPEC §3).

`program_text(fn)` writes a one-output `Function` as a program whose inputs are fn's inputs,
with their names, in the same order. Each equation becomes the surface form that lowers to
exactly that primitive (`surface.py`); a value used more than once, or too long to read
inline, becomes a definition `t1 = ...`; everything else is written inline, with the fewest
parentheses that keep the tree (`unparse.Printer`).

* Masks (comparison results) cannot be bound to names in the language, so they are always
  written inline, as the first argument of each `where` that reads them.
* Inputs are ordered by first appearance in the text. When the text would meet them in
  another order, or not at all (a derivative that does not read an input), a declaration
  that is never called comes first: `inputs(p) = [x, M, y]`. It is never lowered, so it
  costs nothing and fits any shapes.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import ast
from .builtins import BUILTINS, CONSTANTS, DERIVATIVES
from .ir import Atom, Eqn, Function, Lit, Var
from .resolve import resolve
from .simplify import eliminate_dead_code
from .surface import SPAN, MaskWriter, literal, name, write
from .unparse import Printer

INLINE_CHARS = 72  # a single-use expression longer than this gets a name
SHARED_INLINE_CHARS = 6  # a shared one this short (`x[0]`, `-y`) is repeated: CSE merges it
DECLARATION = "# the derivative does not read every input in order; this keeps them all"


class PrettyPrinter(Printer):
    """Numbers as `surface.literal` spelled them: `2`, not `2.0`."""

    def number(self, node: ast.Num) -> str:
        return node.text


PRETTY = PrettyPrinter()


def program_text(fn: Function, names: Sequence[str]) -> str:
    """fn (one output) as program text taking inputs `names`, in that order."""
    assert len(fn.outputs) == 1 and len(names) == len(fn.inputs)
    writer = _Writer(fn, names)
    program = writer.program()
    if resolve(program).inputs != tuple(names):
        program = ast.Program((writer.declaration(), *program.definitions), program.result)
        return DECLARATION + "\n" + PRETTY.program(program)
    return PRETTY.program(program)


def _text_uses(eqns: list[Eqn], outputs: Sequence[Atom]) -> dict[Var, int]:
    """How often each value is written out: a mask is written at each `where` that reads
    it, and so are the operands of its comparison."""
    uses: dict[Var, int] = {a: 1 for a in outputs if isinstance(a, Var)}
    for eqn in reversed(eqns):
        times = uses.get(eqn.out, 0) if eqn.out.type.dtype == "bool" else 1
        for atom in eqn.ins:
            if isinstance(atom, Var):
                uses[atom] = uses.get(atom, 0) + times
    return uses


class _Writer:
    def __init__(self, fn: Function, names: Sequence[str]):
        self.eqns = eliminate_dead_code(fn.eqns, fn.outputs)
        self.output = fn.outputs[0]
        self.uses = _text_uses(self.eqns, fn.outputs)
        self.taken = set(names) | set(BUILTINS) | set(CONSTANTS) | set(DERIVATIVES)
        self.names = list(names)
        self.env: dict[Var, ast.Expr] = {v: name(n) for v, n in zip(fn.inputs, names)}
        self.masks = MaskWriter(self.eqns, self.atom)
        self.counter = 0

    def fresh(self, stem: str, numbered: bool = True) -> str:
        """`t1`, `t2`, ... (numbered), or `stem`, `stem_`, `stem__`: never a name in use."""
        suffix = 0
        while True:
            if numbered:
                self.counter += 1
                candidate = f"{stem}{self.counter}"
            else:
                candidate, suffix = stem + "_" * suffix, suffix + 1
            if candidate not in self.taken:
                self.taken.add(candidate)
                return candidate

    def atom(self, atom: Atom) -> ast.Expr:
        if isinstance(atom, Lit):
            return literal(atom.value)
        if atom.type.dtype == "bool":
            return self.masks.mask(atom)
        return self.env[atom]

    def program(self) -> ast.Program:
        definitions: list[ast.ConstDef] = []
        for eqn in self.eqns:
            if eqn.out.type.dtype == "bool":
                continue  # written at each use
            expr = write(eqn, [self.atom(a) for a in eqn.ins])
            if eqn.out is not self.output and self._named(eqn.out, expr):
                label = self.fresh("t")
                definitions.append(ast.ConstDef(label, expr, SPAN))
                expr = name(label)
            self.env[eqn.out] = expr
        return ast.Program(tuple(definitions), self.atom(self.output))

    def _named(self, var: Var, expr: ast.Expr) -> bool:
        if isinstance(expr, (ast.Name, ast.Num)):
            return False
        length = len(PRETTY.expr(expr))
        shared = self.uses.get(var, 0) > 1 and length > SHARED_INLINE_CHARS
        return shared or length > INLINE_CHARS

    def declaration(self) -> ast.FuncDef:
        """`inputs(p) = [x, M, ...]`: names every input in order, never called."""
        function, param = self.fresh("inputs", numbered=False), self.fresh("p", numbered=False)
        body = ast.ArrayLit(tuple(name(n) for n in self.names), SPAN)
        return ast.FuncDef(function, (ast.Name(param, SPAN),), body, SPAN)

