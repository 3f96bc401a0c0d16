"""The IR: typed SSA over array primitives with static shapes, printable like a jaxpr.

A `Function` is a list of equations `out = prim(ins; params)`. Atoms are `Var`s (compared by
identity) or scalar `Lit`s. A function may read `Var`s it does not define or take as input:
those are free variables captured from an enclosing program (lexical closure), which every
transform treats as constants.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import Span

if TYPE_CHECKING:
    from .primitives.registry import Primitive

Params = Mapping[str, Any]


@dataclass(frozen=True)
class ArrayType:
    """A value's type (JAX's aval): a static shape and a dtype, float64 or bool (masks)."""

    shape: tuple[int, ...]
    dtype: str = "float64"

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def batched(self, size: int) -> ArrayType:
        return ArrayType((size,) + self.shape, self.dtype)

    def __str__(self) -> str:
        prefix = "f64" if self.dtype == "float64" else self.dtype
        return f"{prefix}[{','.join(map(str, self.shape))}]"


SCALAR = ArrayType(())
MAX_RANK = 64  # numpy's limit on the number of axes


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """numpy's broadcasting rule (right-aligned; equal sizes or 1), for any rank numpy
    allows (np.broadcast_shapes stops at 32 axes); ValueError when shapes do not fit."""
    rank = max((len(s) for s in shapes), default=0)
    out = [1] * rank
    for shape in shapes:
        for i, n in enumerate(shape, start=rank - len(shape)):
            if n != 1 and out[i] not in (1, n):
                raise ValueError(f"shapes {shapes} do not broadcast")
            if n != 1:
                out[i] = n
    return tuple(out)

_fresh_ids = itertools.count()


class Var:
    """An SSA value; identity is the object, `id` only names it when printed."""

    __slots__ = ("id", "type")

    def __init__(self, type: ArrayType):
        self.type = type
        self.id = next(_fresh_ids)

    def __repr__(self) -> str:
        return f"v{self.id}"


@dataclass(frozen=True)
class Lit:
    """A float64 scalar literal."""

    value: float

    @property
    def type(self) -> ArrayType:
        return SCALAR

    def __repr__(self) -> str:
        return repr(float(self.value))


Atom = Var | Lit


@dataclass(eq=False)
class Eqn:
    prim: Primitive
    ins: tuple[Atom, ...]
    params: Params
    out: Var
    span: Span | None = None

    def __repr__(self) -> str:
        args = ", ".join(map(repr, self.ins))
        params = "".join(f"; {k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.out!r}:{self.out.type} = {self.prim.name}({args}{params})"


@dataclass(eq=False)
class Function:
    inputs: list[Var]
    eqns: list[Eqn]
    outputs: list[Atom]
    names: list[str] = field(default_factory=list)  # input names, for printing only

    def __repr__(self) -> str:
        ins = ", ".join(f"{v!r}:{v.type}" for v in self.inputs)
        body = "\n".join(f"  {e!r}" for e in self.eqns)
        outs = ", ".join(map(repr, self.outputs))
        return f"{{ lambda {ins} .\n{body}\n  in ({outs}) }}"

    def free_vars(self) -> list[Var]:
        """Vars read but neither inputs nor defined here: captured from an outer scope."""
        bound = set(self.inputs) | {e.out for e in self.eqns}
        seen: dict[Var, None] = {}
        for atom in itertools.chain((a for e in self.eqns for a in e.ins), self.outputs):
            if isinstance(atom, Var) and atom not in bound:
                seen[atom] = None
        return list(seen)


def params_key(params: Params) -> tuple[tuple[str, Any], ...]:
    """A hashable form of params, for caches and common-subexpression elimination."""
    return tuple(sorted(params.items()))


def substitute(atom: Atom, env: Mapping[Var, Atom]) -> Atom:
    return env.get(atom, atom) if isinstance(atom, Var) else atom


def atoms_used(eqns: Iterable[Eqn]) -> set[Var]:
    return {a for e in eqns for a in e.ins if isinstance(a, Var)}


def output_types(fn: Function) -> list[ArrayType]:
    return [a.type for a in fn.outputs]


def same_shapes(types: Sequence[ArrayType]) -> bool:
    return all(t.shape == types[0].shape for t in types)
