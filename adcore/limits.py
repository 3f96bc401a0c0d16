"""Configured bounds on what one program or request may cost (SPEC §4, defaults there)."""

from __future__ import annotations

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


DEFAULT_LIMITS = Limits()
