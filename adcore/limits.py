"""Configured bounds on what one program or request may cost (SPEC §4, defaults there)."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from .errors import LimitExceededError, Span


@dataclass(frozen=True)
class Limits:
    max_program_chars: int = 64 * 1024
    max_depth: int = 256
    max_ir_equations: int = 200_000
    max_array_elements: int = 2**26
    max_flops: float = 1e11
    max_seconds: float = 30.0

    def check(self, name: str, value: float, limit: float, what: str,
              span: Span | None = None, hint: str | None = None) -> None:
        """Raise a `limit` error naming the limit and its value when `value > limit`."""
        if value > limit:
            raise LimitExceededError(
                f"{what} ({value:.4g}) is over the limit {name} = {limit:.4g}",
                span,
                hint,
                limit=name,
                value=limit,
            )


FRAMES_PER_LEVEL = 16  # the deepest walker (lowering a call in a call) uses about 12
MAX_RECURSION = 100_000


def ensure_recursion_room(limits: Limits) -> None:
    """Raise Python's recursion limit so that the walkers (parser, resolver, lowering,
    unparse) fit a tree of `max_depth` levels. Pure-Python calls do not use the C stack on
    CPython 3.11+, so a higher limit is safe; it is only ever raised (it is process-wide and
    other threads may be deep in a walk)."""
    needed = min(MAX_RECURSION, 1000 + FRAMES_PER_LEVEL * limits.max_depth)
    if sys.getrecursionlimit() < needed:
        sys.setrecursionlimit(needed)


DEFAULT_LIMITS = Limits()
