"""Source text to tokens (SPEC §2.1): numbers, ASCII names, operators, newlines.

Newlines separate statements, like `;`, except inside `()` and `[]`, where the lexer drops
them so an argument list or array literal may span lines. Any character the language does
not use is a syntax error pointing at exactly that character.

`iter_tokens` is the parser's entry point: lazy, and it yields the error of a bad character
instead of raising it, so the parser can first report an earlier token that cannot be there
("the first character that cannot be there", SPEC §2.5).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterator
from typing import NamedTuple

from .errors import LexError, Span

NUM = "NUM"
NAME = "NAME"
NEWLINE = "NEWLINE"
EOF = "EOF"


class Token(NamedTuple):
    """`kind` is NUM, NAME, NEWLINE, EOF, or the operator itself ("+", "**", ".T")."""

    kind: str
    text: str
    span: Span


# `[0-9]`, not `\d`: `\d` matches every Unicode digit. A `.` after digits belongs to the
# number unless `T` follows (`1.T` is the transpose of 1). `.T` must not start a longer name.
_TOKEN_RE = re.compile(
    r"""
    (?P<ws>[ \t]+)
    | (?P<comment>\#[^\r\n]*)
    | (?P<newline>\r\n|\r|\n)
    | (?P<num>(?:[0-9]+(?:\.(?!T)[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>\*\*|<=|>=|==|!=|\.T(?![A-Za-z0-9_])|[-+*/@^<>()\[\],:;=])
    | (?P<bad>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_NAME_CHAR = re.compile(r"[A-Za-z0-9_]")
_OPENERS = frozenset("([")
_CLOSERS = frozenset(")]")

_CHAR_HINTS = {
    "!": "did you mean '!=' (not equal)?",
    "{": "use ( ) to group and [ ] for array literals",
    "}": "use ( ) to group and [ ] for array literals",
    "'": "the language has no strings",
    '"': "the language has no strings",
    "%": "there is no '%' operator",
    ".": "only '.T' (transpose) may follow a value; write numbers like 0.5 or .5",
}


def tokenize(source: str) -> list[Token]:
    """All tokens of `source`, ending with EOF; raises LexError at the first bad character."""
    tokens: list[Token] = []
    for item in iter_tokens(source):
        if isinstance(item, LexError):
            raise item
        tokens.append(item)
    return tokens


def iter_tokens(source: str) -> Iterator[Token | LexError]:
    """Tokens ending with EOF, or up to the first bad character, then its LexError.

    Lazy, so the parser stops lexing as soon as it fails (say, at the nesting limit).
    """
    depth = 0  # bracket nesting: newlines inside () and [] are not separators
    for match in _TOKEN_RE.finditer(source):
        kind, text, pos = match.lastgroup, match.group(), match.start()
        if kind == "op":
            if text in _OPENERS:
                depth += 1
            elif text in _CLOSERS and depth:
                depth -= 1  # an unmatched closer is a parse error before any later newline
            yield Token(text, text, Span(pos, match.end()))
        elif kind == "name":
            if text[0] == "_":
                yield LexError(f"name '{text}' starts with '_'", Span(pos, pos + 1),
                               "names starting with '_' are reserved; rename it")
                return
            yield Token(NAME, text, Span(pos, match.end()))
        elif kind == "num":
            end = match.end()
            if end < len(source) and _NAME_CHAR.match(source, end):
                yield _glued_number(source, end)
                return
            if math.isinf(float(text)):
                yield _overflowing_number(text, Span(pos, end))
                return
            yield Token(NUM, text, Span(pos, end))
        elif kind == "newline" and depth == 0:
            yield Token(NEWLINE, text, Span(pos, match.end()))
        elif kind == "bad":
            yield _bad_char(source, pos)
            return
    yield Token(EOF, "", Span(len(source), len(source)))


def describe_char(ch: str) -> str:
    """`U+0024 '$'`, `U+0445 'х' (CYRILLIC SMALL LETTER HA)`, `U+200B (ZERO WIDTH SPACE)`."""
    code = f"U+{ord(ch):04X}"
    shown = f" '{ch}'" if ch.isprintable() and not ch.isspace() else ""
    name = unicodedata.name(ch, "") if not ch.isascii() else ""
    return code + shown + (f" ({name})" if name else "")


def _bad_char(source: str, pos: int) -> LexError:
    ch = source[pos]
    return LexError(f"unexpected character {describe_char(ch)}", Span(pos, pos + 1),
                    _char_hint(ch))


def _char_hint(ch: str) -> str | None:
    if ch in _CHAR_HINTS:
        return _CHAR_HINTS[ch]
    if ch.isascii():
        return None
    category = unicodedata.category(ch)
    if category[0] in "LN":
        # Homoglyphs (Cyrillic 'х' for 'x'), accented letters, non-ASCII digits.
        return "names and numbers use only ASCII letters, digits and '_'"
    if category in ("Sm", "Pd"):  # U+2212 MINUS SIGN, U+00D7 MULTIPLICATION SIGN, dashes
        return "use the ASCII operators + - * / ^ < > ="
    if category in ("Cf", "Zs", "Zl", "Zp", "Cc", "Cs", "Co", "Cn"):
        return "remove this invisible or invalid character"
    return None


def _glued_number(source: str, pos: int) -> LexError:
    ch = source[pos]
    return LexError(
        f"a number cannot be followed directly by '{ch}'", Span(pos, pos + 1),
        "write multiplication explicitly, e.g. 2 * x; an exponent needs digits, e.g. 1e-3")


def _overflowing_number(text: str, span: Span) -> LexError:
    # A literal beyond float64 (1e999, hundreds of digits) would silently be infinity: almost
    # always a typo, so it is refused where it is written.
    shown = text if len(text) <= 24 else f"{text[:12]}...{text[-6:]} ({len(text)} characters)"
    return LexError(f"the number {shown} is too large for a float64", span,
                    "literals must be finite, at most about 1.8e308 in magnitude")
