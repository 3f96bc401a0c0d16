"""Fuzzing the parser: any text gives a Program or a ProgramError, never anything else
(SPEC §2.5), and `normalize` is a faithful canonical spelling of every tree it prints."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adcore import ast
from adcore.errors import ProgramError
from adcore.limits import Limits
from adcore.parser import parse
from adcore.unparse import normalize
from tests.test_parser import tree

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

TOKENS = [
    "x", "y", "f", "g", "s", "grad", "sum", "axis", "where", "e", "T", "a1", "_", "_x",
    "0", "1", "2", "1.5", ".5", "1.", "1e-3", "1E+4", "1e400", "1e", "2x",
    "+", "-", "*", "/", "@", "^", "**", "<", "<=", ">", ">=", "==", "!=", "=", "!",
    "(", ")", "[", "]", ",", ":", ";", ".T", ".", "#", "# note\n", "\n", "\r\n", "\r",
]
HOSTILE = [
    " ", "\t", "$", "{", "'", '"', "\\", "\x00", "\x0b", "\x0c", "\x1b", "\x7f", "\x85",
    "\u00a0", "\u200b", "\u200e", "\u202e", "\u2028", "\ufeff", "\ud800", "\udfff",
    "\u0445", "\u0430", "\u00e9", "\uff11", "\u0663", "\U0001d465", "\u2212", "\u00d7",
]
ALPHABET = TOKENS + HOSTILE


def check(source: str, limits: Limits | None = None) -> ast.Program | None:
    """Parse; a failure must be a well-formed ProgramError that locates in the source."""
    try:
        return parse(source, limits) if limits else parse(source)
    except ProgramError as err:
        assert err.kind in ("syntax", "limit")
        if err.span is None:
            assert err.kind == "limit"
            return None
        assert 0 <= err.span.start <= len(source)
        err.locate(source)
        assert err.line is not None and err.line >= 1
        assert err.column is not None and err.column >= 1
        assert err.excerpt is not None and err.excerpt.endswith("^")
        assert isinstance(err.render(), str)
        return None


def check_normalize(program: ast.Program, limits: Limits | None = None) -> None:
    """The canonical text parses back to the same tree and is a fixed point."""
    text = normalize(program)
    # Spelled out numbers and spaces may make the text longer, never deeper.
    depth_only = Limits(max_depth=limits.max_depth) if limits else Limits()
    again = parse(text, depth_only)
    assert tree(again) == tree(program), text
    assert normalize(again) == text


@FUZZ
@given(st.lists(st.sampled_from(ALPHABET), max_size=40).map("".join))
def test_random_text(source: str) -> None:
    program = check(source)
    if program is not None:
        check_normalize(program)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=30).map(" ".join))
def test_random_token_streams(source: str) -> None:
    program = check(source)
    if program is not None:
        check_normalize(program)


@FUZZ
@given(st.text(max_size=60))
def test_arbitrary_unicode(source: str) -> None:
    check(source)


@FUZZ
@given(st.lists(st.sampled_from(ALPHABET), max_size=80).map("".join))
def test_small_limits(source: str) -> None:
    limits = Limits(max_program_chars=60, max_depth=4)
    program = check(source, limits)
    if program is not None:
        check_normalize(program, limits)


# ---- well-formed programs, so that the round trip is exercised on many successes ---------

NAMES = st.sampled_from(["x", "y", "z", "w1", "pi", "e"])
NUMBERS = st.sampled_from(["0", "2", "1.5", ".5", "3.", "1e-3", "1E+4", "1e400", "007"])
SPACE = st.sampled_from(["", " ", "  ", "\t"])


def _extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    operand = st.one_of(inner, inner.map(lambda s: f"({s})"))
    binary = st.sampled_from(["+", "-", "*", "/", "@", "^", "**", "<", "<=", "==", "!="])
    item = st.one_of(operand, st.tuples(st.one_of(st.just(""), operand),
                                        st.one_of(st.just(""), operand)).map(":".join))
    return st.one_of(
        st.tuples(operand, SPACE, binary, SPACE, operand).map("".join),
        operand.map(lambda s: "-" + s),
        operand.map(lambda s: "+ " + s),
        st.tuples(NAMES, st.lists(operand, max_size=3)).map(
            lambda t: f"{t[0]}({', '.join(t[1])})"),
        st.tuples(operand, operand).map(lambda t: f"sum({t[0]}, axis={t[1]})"),
        st.tuples(NAMES, operand).map(lambda t: f"grad({t[0]})({t[1]})"),
        st.tuples(operand, st.lists(item, min_size=1, max_size=3)).map(
            lambda t: f"({t[0]})[{', '.join(t[1])}]"),
        operand.map(lambda s: f"({s}).T"),
        st.lists(operand, min_size=1, max_size=3).map(lambda xs: f"[{', '.join(xs)}]"),
        inner.map(lambda s: f"(\n{s}\n)"),
    )


EXPRESSIONS = st.recursive(st.one_of(NAMES, NUMBERS), _extend, max_leaves=12)
DEFINITIONS = st.one_of(
    st.tuples(st.sampled_from(["s", "t"]), EXPRESSIONS).map(lambda t: f"{t[0]} = {t[1]}"),
    st.tuples(st.sampled_from(["f", "g"]), st.sampled_from(["a", "a, b", "a,"]),
              EXPRESSIONS).map(lambda t: f"{t[0]}({t[1]}) = {t[2]}"),
)
PROGRAMS = st.tuples(
    st.lists(DEFINITIONS, max_size=2), EXPRESSIONS,
    st.sampled_from(["\n", ";", "\r\n", "\r", " ; \n\n", "  # note\n"]),
).map(lambda t: t[2].join([*t[0], t[1]]))


@FUZZ
@given(PROGRAMS)
def test_generated_programs_round_trip(source: str) -> None:
    program = check(source)
    if program is not None:
        check_normalize(program)


@FUZZ
@given(EXPRESSIONS, st.data())
def test_layout_does_not_change_the_canonical_text(source: str, data: Any) -> None:
    """Extra parentheses around the whole, spaces and comments leave `normalize` unchanged."""
    program = check(source)
    if program is None:
        return
    padded = data.draw(st.sampled_from(["({})", " {} ", "(({}))", "# c\n{}  # d", "\n;{};\n"]))
    assert normalize(parse(padded.format(source))) == normalize(program)
