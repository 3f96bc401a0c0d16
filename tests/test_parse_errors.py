"""Golden syntax errors: kind, message, 1-based line and column, and the caret excerpt.

SPEC §2.5: a syntax error points at the first character that cannot be there; columns count
Unicode code points, and `\\r\\n` or a lone `\\r` ends a line.
"""

from __future__ import annotations

import pytest

from adcore.errors import LexError, ParseError, ProgramError
from adcore.parser import parse

# (source, message, line, column, excerpt)
CASES = {
    "underscore name": (
        "_x + 1",
        "name '_x' starts with '_'", 1, 1,
        "_x + 1\n^"),
    "underscore name after a valid start": (
        "f(a) = a\nf(__b)",
        "name '__b' starts with '_'", 2, 3,
        "f(__b)\n  ^"),
    "comparison chain": (
        "where(a < b < c, a, b)",
        "comparisons cannot be chained", 1, 13,
        "where(a < b < c, a, b)\n            ^"),
    "unknown character": (
        "x $ y",
        "unexpected character U+0024 '$'", 1, 3,
        "x $ y\n  ^"),
    "Cyrillic homoglyph": (
        "2 * \u0445",
        "unexpected character U+0445 '\u0445' (CYRILLIC SMALL LETTER HA)", 1, 5,
        "2 * \u0445\n    ^"),
    "zero-width space": (
        "x +\u200b y",
        "unexpected character U+200B (ZERO WIDTH SPACE)", 1, 4,
        "x +? y\n   ^"),
    "byte order mark": (
        "\ufeffx",
        "unexpected character U+FEFF (ZERO WIDTH NO-BREAK SPACE)", 1, 1,
        "?x\n^"),
    "NUL": (
        "a \x00 b",
        "unexpected character U+0000", 1, 3,
        "a ? b\n  ^"),
    "lone surrogate": (
        "x + \ud800",
        "unexpected character U+D800", 1, 5,
        "x + ?\n    ^"),
    "unclosed paren": (
        "f(x, (y + 1)",
        "unexpected end of input; expected ',' or ')' to close '(' at line 1, column 2", 1, 13,
        "f(x, (y + 1)\n            ^"),
    "wrong closer": (
        "(1 + 2]",
        "expected ')' to close '(' at line 1, column 1, found ']'", 1, 7,
        "(1 + 2]\n      ^"),
    "unmatched closer": (
        "x)",
        "unmatched ')'", 1, 2,
        "x)\n ^"),
    "operator at end of input": (
        "x +",
        "unexpected end of input; expected an expression", 1, 4,
        "x +\n   ^"),
    "operator at end of line": (
        "x +\ny",
        "unexpected end of line; expected an expression", 1, 4,
        "x +\n   ^"),
    "definition as last statement": (
        "s = 2\nf(x) = x^2\n",
        "the program ends with a definition, not an expression", 2, 1,
        "f(x) = x^2\n^"),
    "error on line 3": (
        "f(y) = 1 / norm(y)\ns = 2 * x\ng(s) + * 3",
        "unexpected '*'; expected an expression", 3, 8,
        "g(s) + * 3\n       ^"),
    "error on line 3 after CRLF and CR": (
        "a = 1\r\nb = 2\rb + $",
        "unexpected character U+0024 '$'", 3, 5,
        "b + $\n    ^"),
    "a statement after the result": (
        "x\ny",
        "unexpected statement after the result expression", 2, 1,
        "y\n^"),
    "empty program": (
        "  # only a comment",
        "the program is empty", 1, 19,
        "  # only a comment\n                  ^"),
    "positional after keyword": (
        "sum(axis=1, x)",
        "a positional argument cannot follow a keyword argument", 1, 13,
        "sum(axis=1, x)\n            ^"),
    "empty array literal": (
        "[]",
        "an array literal needs at least one element", 1, 2,
        "[]\n ^"),
    "function without parameters": (
        "f() = 1\nf()",
        "a function definition needs at least one parameter", 1, 3,
        "f() = 1\n  ^"),
    "number glued to a name": (
        "2x",
        "a number cannot be followed directly by 'x'", 1, 2,
        "2x\n ^"),
    "calling a number": (
        "3 (x)",
        "only a function name or a call such as grad(f) can be called", 1, 3,
        "3 (x)\n  ^"),
    "assignment inside an expression": (
        "x + 1 = 2",
        "unexpected '='; expected an operator, ';' or a new line", 1, 7,
        "x + 1 = 2\n      ^"),
    "earliest error wins over a later bad character": (
        "x + ) $",
        "unexpected ')'; expected an expression", 1, 5,
        "x + ) $\n    ^"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_golden_error(name: str) -> None:
    source, message, line, column, excerpt = CASES[name]
    with pytest.raises(ProgramError) as info:
        parse(source)
    err = info.value
    assert isinstance(err, (LexError, ParseError))
    assert err.kind == "syntax"
    assert err.message == message
    err.locate(source)
    assert (err.line, err.column) == (line, column)
    assert err.excerpt == excerpt
    rendered = err.render()
    assert rendered.startswith(f"syntax error: line {line}, column {column}: {message}")


@pytest.mark.parametrize("source, hint_part", [
    ("_x", "reserved"),
    ("2 * \u0445", "ASCII"),
    ("x +\u200b y", "invisible"),
    ("f(x) = x", "ends with the expression to compute"),
    ("", "ends with the expression to compute"),
    ("x ! y", "'!='"),
    ("x.y", "'.T'"),
    ("x +\ny", "wrap a long expression in ( )"),
    ("x + 1 = 2", "'=='"),
    ("1.2.3", "decimal point"),
    ("2 y", "multiplication"),
    ("sum(axis=1, x)", "keyword arguments"),
])
def test_hints(source: str, hint_part: str) -> None:
    with pytest.raises(ProgramError) as info:
        parse(source)
    assert info.value.hint is not None and hint_part in info.value.hint


@pytest.mark.parametrize("source, column", [
    ("a < b > c", 7),
    ("a == b != c", 8),
    ("f(a, a) = a\nf(1, 2)", 6),
    ("sum(x, axis=1, axis=2)", 16),
    ("x[]", 3),
    ("x[1:2:3:4]", 8),
    ("f(1) = 2\nf(1)", 3),
    ("f(x y)", 5),
    ("x[0", 4),
    ("f(x) = g(x) = 1", 13),
    ("x.Tx", 2),
    ("caf\u00e9", 4),
    ("\u0663", 1),
    ("x\x0b", 2),
    ("x\tif\x0c", 3),  # the name `if` cannot follow `x`; the form feed comes later
    ("x\t+\x0c", 4),
    ("1e", 2),
    ("f(x)\n= 1", 1),
])
def test_more_error_columns(source: str, column: int) -> None:
    with pytest.raises(ProgramError) as info:
        parse(source)
    err = info.value.locate(source)
    assert err.kind == "syntax"
    assert err.column == column


def test_tabs_are_whitespace() -> None:
    parse("\tx\t+\t1\t")
