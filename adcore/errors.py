"""Errors a user can cause, each with a kind, a source position and a hint (SPEC §2.5).

Every error raised while compiling or running a program is a `ProgramError`. Errors are
raised with a `Span` of character offsets; `api.compile` calls `locate(source)` once to turn
the span into a 1-based line and column and a caret excerpt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NoReturn


@dataclass(frozen=True)
class Span:
    """Half-open range [start, end) of code-point offsets into the program text."""

    start: int
    end: int

    def join(self, other: Span) -> Span:
        return Span(min(self.start, other.start), max(self.end, other.end))


class ProgramError(Exception):
    """Base of every error a program or request can cause."""

    kind: ClassVar[str] = "program"
    status: ClassVar[int] = 422

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint
        self.line: int | None = None
        self.column: int | None = None
        self.excerpt: str | None = None

    @property
    def code(self) -> str:
        return self.kind

    def locate(self, source: str) -> ProgramError:
        """Fill `line`, `column` and `excerpt` from the span; returns self."""
        if self.span is None or self.line is not None:
            return self
        offset = max(0, min(self.span.start, len(source)))
        line_start = _line_start(source, offset)
        self.line = _count_newlines(source, offset) + 1
        self.column = offset - line_start + 1
        line_end = _line_end(source, line_start)
        text = _printable(source[line_start:line_end])
        self.excerpt = f"{text}\n{' ' * (self.column - 1)}^"
        return self

    def render(self, source: str | None = None) -> str:
        if source is not None:
            self.locate(source)
        where = f"line {self.line}, column {self.column}: " if self.line else ""
        parts = [f"{self.kind} error: {where}{self.message}"]
        if self.excerpt:
            parts.append(self.excerpt)
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.render()


def _count_newlines(source: str, offset: int) -> int:
    # "\r\n" is one line break; a lone "\r" is one too (SPEC: CR-only newlines).
    head = source[:offset].replace("\r\n", "\n").replace("\r", "\n")
    return head.count("\n")


def _line_start(source: str, offset: int) -> int:
    return max(source.rfind("\n", 0, offset), source.rfind("\r", 0, offset)) + 1


def _line_end(source: str, line_start: int) -> int:
    ends = [i for i in (source.find("\n", line_start), source.find("\r", line_start)) if i >= 0]
    return min(ends) if ends else len(source)


def _printable(text: str) -> str:
    """One visible character per code point, so the caret stays under its column."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


class LexError(ProgramError):
    kind = "syntax"


class ParseError(ProgramError):
    kind = "syntax"


class UnboundNameError(ProgramError):
    kind = "name"


class SignatureError(ProgramError):
    """Wrong arity, masks outside `where`, non-literal integers, functions used as values."""

    kind = "type"


class ShapeError(ProgramError):
    kind = "shape"


class LimitExceededError(ProgramError):
    kind = "limit"

    def __init__(
        self,
        message: str,
        span: Span | None = None,
        hint: str | None = None,
        *,
        limit: str = "",
        value: float | None = None,
    ):
        super().__init__(message, span, hint)
        self.limit = limit
        self.value = value


class RequestError(ProgramError):
    """The request does not fit the program: inputs, `wrt`, ragged arrays, batch sizes."""

    kind = "request"
    status = 400


def fail(error_type: type[ProgramError], message: str, span: Span | None = None,
         hint: str | None = None) -> NoReturn:
    raise error_type(message, span, hint)
