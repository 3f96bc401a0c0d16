"""Static cost of a plan, known before anything runs: flops, bytes and the largest array."""

from __future__ import annotations

from dataclasses import dataclass

from .ir import Function


@dataclass(frozen=True)
class Estimate:
    flops: float
    bytes: float
    max_elements: int
    equations: int

    def times(self, repeats: int) -> Estimate:
        return Estimate(self.flops * repeats, self.bytes * repeats, self.max_elements,
                        self.equations)


def estimate(fn: Function) -> Estimate:
    flops = moved = 0.0
    largest = max((v.type.size for v in fn.inputs), default=1)
    for eqn in fn.eqns:
        cost = eqn.prim.cost(tuple(a.type for a in eqn.ins), eqn.out.type, eqn.params)
        flops += cost.flops
        moved += cost.bytes
        largest = max(largest, eqn.out.type.size)
    return Estimate(flops, moved, largest, len(fn.eqns))
