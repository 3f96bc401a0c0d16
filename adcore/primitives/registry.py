"""One record per primitive: every rule a transform needs lives together here.

Rules receive a `Builder` and emit IR. Conventions:
* jvp(b, primals, tangents, params, out) -> tangent of `out`, or None for a zero tangent.
  `tangents[i]` is None when input i has a zero tangent. Tangent code must be linear in
  the tangents and use only primitives that have a transpose rule.
* transpose(b, ct, ins, linear, params) -> one cotangent (or None) per input; `linear[i]`
  tells which inputs are the linear ones (their primal value is not available).
* batch(b, ins, batched, params, size) -> output, batched along a new leading axis of
  length `size`; `batched[i]` tells which inputs carry that axis (always axis 0).
* cost(in_types, out_type, params) -> Cost in flops and bytes moved.
* sparsity(in_types, out_type, params, nonzero) -> the local pattern (patterns.Local):
  first-order dependencies per input, structurally nonzero outputs, second-order
  interactions; `nonzero[i]` says which elements of input i may be nonzero.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..ir import ArrayType, Atom, Params, Var
from .patterns import SparsityRule

if TYPE_CHECKING:
    from ..builder import Builder

ShapeRule = Callable[[tuple[ArrayType, ...], Params], ArrayType]
ImplRule = Callable[..., Any]
JvpRule = Callable[["Builder", Sequence[Atom], Sequence[Atom | None], Params, Var], Atom | None]
TransposeRule = Callable[
    ["Builder", Atom, Sequence[Atom], Sequence[bool], Params], Sequence[Atom | None]
]
BatchRule = Callable[["Builder", Sequence[Atom], Sequence[bool], Params, int], Atom]


@dataclass(frozen=True)
class Cost:
    flops: float
    bytes: float


CostRule = Callable[[tuple[ArrayType, ...], ArrayType, Params], Cost]


@dataclass(frozen=True, eq=False)
class Primitive:
    """A primitive operation. `numpy` is a source template over `{0}`, `{1}`... and params;
    `impl` computes the same thing directly and backs the reference interpreter."""

    name: str
    shape: ShapeRule
    impl: ImplRule
    numpy: str | Callable[[Sequence[str], Params, Sequence[ArrayType]], str]
    jvp: JvpRule
    transpose: TransposeRule | None
    batch: BatchRule
    cost: CostRule
    sparsity: SparsityRule
    linear: bool = False  # linear in every float input (transpose must exist)
    elementwise: bool = False  # numpy-broadcasting elementwise (operands may be scalars)
    scalar: str | None = None  # the same on scalars, for fused loops (fusion.py)
    # source that writes the result into input 0's buffer, when memory.py allows it
    in_place: Callable[[Sequence[str], Params, Sequence[ArrayType]], str] | None = None

    def __repr__(self) -> str:
        return self.name

    def source(self, args: Sequence[str], params: Params, in_types: Sequence[ArrayType],
               render: Callable[[Any], str]) -> str:
        """numpy source for this operation on rendered arguments; a template gets its params
        through `render` (which only emits literals), a callable renders them itself."""
        if callable(self.numpy):
            return self.numpy(args, params, in_types)
        return self.numpy.format(*args, **{k: render(v) for k, v in params.items()})


PRIMITIVES: dict[str, Primitive] = {}


def register(prim: Primitive) -> Primitive:
    if prim.name in PRIMITIVES:
        raise ValueError(f"primitive {prim.name} registered twice")
    PRIMITIVES[prim.name] = prim
    return prim


def elementwise_cost(flops_per_element: float) -> CostRule:
    def cost(in_types: tuple[ArrayType, ...], out: ArrayType, params: Params) -> Cost:
        moved = out.size + sum(t.size for t in in_types)
        return Cost(flops_per_element * out.size, 8.0 * moved)

    return cost


def no_jvp(b: Builder, primals: Sequence[Atom], tangents: Sequence[Atom | None],
           params: Params, out: Var) -> Atom | None:
    """For primitives whose output is piecewise constant (or not differentiable at all)."""
    return None


def as_float(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.float64)


def _generated_only(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("this primitive exists only in generated code")


def runtime_primitive(name: str, function: str, impl: ImplRule = _generated_only,
                      shape: ShapeRule = _generated_only) -> Primitive:
    """A primitive of generated code only, after the transforms (a fused loop, a guarded
    addition): a call of `function`, a helper in the generated code's namespace. It has
    none of the transforms' rules; `impl` and `shape` are for the reference interpreter
    and the type checker, when the helper has them."""
    return Primitive(name, shape, impl,
                     lambda args, params, types: f"{function}({', '.join(args)})",
                     _generated_only, None, _generated_only, lambda *a: Cost(0.0, 0.0),
                     _generated_only)
