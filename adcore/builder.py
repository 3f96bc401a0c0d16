"""`Builder` appends type-checked equations; every transform and the lowering emit through it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import LimitExceededError, ProgramError, ShapeError, Span
from .ir import MAX_RANK, Atom, Eqn, Function, Lit, Var
from .limits import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:
    from .primitives.registry import Primitive


WORK_FACTOR = 4  # equations built while compiling one request, per allowed final equation


@dataclass
class CompileBudget:
    """All equations built while compiling one request, across every transform's builder:
    nested derivatives build many IRs, each under the IR limit, whose sum must be bounded
    too, in count and in time."""

    limit: int
    deadline: float
    built: int = 0

    def charge(self, span: Span | None) -> None:
        self.built += 1
        if self.built > self.limit:
            raise LimitExceededError(
                f"compiling this request built {self.built} IR equations in all, over "
                f"{WORK_FACTOR} x the limit max_ir_equations = {self.limit // WORK_FACTOR}",
                span,
                "differentiate fewer times, or use hvp / a Hessian diagonal",
                limit="max_ir_equations", value=self.limit // WORK_FACTOR)
        if self.built % 1024 == 0 and time.perf_counter() > self.deadline:
            raise LimitExceededError("compiling this request took longer than the limit "
                                     "max_seconds", span, "differentiate fewer times",
                                     limit="max_seconds")


_budget: ContextVar[CompileBudget | None] = ContextVar("nabla_compile_budget", default=None)


@contextmanager
def compile_budget(limits: Limits) -> Iterator[None]:
    """Bound the total compile work of everything built inside the block."""
    token = _budget.set(CompileBudget(WORK_FACTOR * limits.max_ir_equations,
                                      time.perf_counter() + limits.max_seconds))
    try:
        yield
    finally:
        _budget.reset(token)


class Builder:
    """Collects equations, checking each output's type and the configured size limits."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS, span: Span | None = None):
        self.eqns: list[Eqn] = []
        self.limits = limits
        self.span = span

    def bind(self, prim: Primitive, *ins: Atom | float, **params: Any) -> Var:
        atoms = tuple(a if isinstance(a, (Var, Lit)) else Lit(float(a)) for a in ins)
        try:
            out_type = prim.shape(tuple(a.type for a in atoms), params)
        except ProgramError as err:
            if err.span is None:
                err.span = self.span
            raise
        if out_type.ndim > MAX_RANK:
            raise ShapeError(f"a result would have {out_type.ndim} axes; arrays have at most "
                             f"{MAX_RANK}", self.span, "differentiate fewer axes at once")
        size = out_type.size
        if size > self.limits.max_array_elements:  # (the message is built only on failure)
            self.limits.check(
                "max_array_elements", size, self.limits.max_array_elements,
                f"an intermediate array of shape {out_type.shape} needs {size} elements",
                self.span, "use smaller inputs or a smaller batch",
            )
        out = Var(out_type)
        self.eqns.append(Eqn(prim, atoms, params, out, self.span))
        budget = _budget.get()
        if budget is not None:
            budget.charge(self.span)
        if len(self.eqns) > self.limits.max_ir_equations:
            self.limits.check(
                "max_ir_equations", len(self.eqns), self.limits.max_ir_equations,
                "the number of IR equations", self.span,
                "differentiate fewer times, or use hvp / a Hessian diagonal instead of full "
                "Hessians",
            )
        return out

    def emit(self, eqn: Eqn, ins: tuple[Atom, ...]) -> Var:
        """Re-emit `eqn` on new inputs, keeping its span (used when copying primal code)."""
        with self.at(eqn.span):
            return self.bind(eqn.prim, *ins, **eqn.params)

    @contextmanager
    def at(self, span: Span | None) -> Iterator[None]:
        saved = self.span
        self.span = span if span is not None else saved
        try:
            yield
        finally:
            self.span = saved

    def function(self, inputs: list[Var], outputs: list[Atom], names: list[str] | None = None
                 ) -> Function:
        return Function(list(inputs), self.eqns, list(outputs), list(names or []))


def shape_error(message: str, hint: str | None = None) -> ShapeError:
    return ShapeError(message, None, hint)
