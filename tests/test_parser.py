"""Parser: precedence, postfix forms, statements, spans and the nesting limit (SPEC §2.1, §2.3)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from adcore import ast
from adcore.errors import LexError, LimitExceededError, ProgramError, Span
from adcore.lexer import EOF, NAME, NEWLINE, NUM, tokenize
from adcore.limits import Limits
from adcore.parser import parse
from adcore.unparse import normalize

BIG = Limits(max_program_chars=10**7)  # room for the 100,000-level inputs


def tree(node: Any) -> Any:
    """A span-free nested tuple of an AST, compact enough to write expected trees by hand."""
    if isinstance(node, ast.Num):
        return node.value
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Unary):
        return (node.op, tree(node.operand))
    if isinstance(node, ast.Chain):
        flat = [tree(node.first)]
        for link in node.rest:
            flat += [link.op, tree(link.operand)]
        return ("chain", *flat)
    if isinstance(node, ast.Power):
        return ("^", tree(node.base), tree(node.exponent))
    if isinstance(node, ast.Compare):
        return (node.op, tree(node.left), tree(node.right))
    if isinstance(node, ast.Call):
        keywords = tuple((k.name, tree(k.value)) for k in node.keywords)
        return ("call", tree(node.func), tuple(tree(a) for a in node.args), keywords)
    if isinstance(node, ast.Index):
        return ("index", tree(node.value), tuple(tree(i) for i in node.items))
    if isinstance(node, ast.Slice):
        return ("slice", tree(node.start), tree(node.stop), tree(node.step))
    if isinstance(node, ast.Transpose):
        return ("T", tree(node.value))
    if isinstance(node, ast.ArrayLit):
        return ("array", *(tree(e) for e in node.elements))
    if isinstance(node, ast.FuncDef):
        return ("def", node.name, tuple(p.id for p in node.params), tree(node.body))
    if isinstance(node, ast.ConstDef):
        return ("const", node.name, tree(node.value))
    if isinstance(node, ast.Program):
        return (tuple(tree(d) for d in node.definitions), tree(node.result))
    assert node is None, node
    return None


def expr(source: str) -> Any:
    return tree(parse(source).result)


@pytest.mark.parametrize("source, expected", [
    ("a + b * c", ("chain", "a", "+", ("chain", "b", "*", "c"))),
    ("a * b + c", ("chain", ("chain", "a", "*", "b"), "+", "c")),
    ("a - b - c", ("chain", "a", "-", "b", "-", "c")),
    ("a - (b - c)", ("chain", "a", "-", ("chain", "b", "-", "c"))),
    ("(a - b) - c", ("chain", ("chain", "a", "-", "b"), "-", "c")),
    ("a / b @ c * d", ("chain", "a", "/", "b", "@", "c", "*", "d")),
    ("a + b * c - d / e", ("chain", "a", "+", ("chain", "b", "*", "c"), "-",
                           ("chain", "d", "/", "e"))),
    ("-x^2", ("-", ("^", "x", 2.0))),
    ("(-x)^2", ("^", ("-", "x"), 2.0)),
    ("2^-1", ("^", 2.0, ("-", 1.0))),
    ("2^-x^2", ("^", 2.0, ("-", ("^", "x", 2.0)))),
    ("a^b^c", ("^", "a", ("^", "b", "c"))),
    ("a**b**c", ("^", "a", ("^", "b", "c"))),
    ("a^b**c", ("^", "a", ("^", "b", "c"))),
    ("-a * b", ("chain", ("-", "a"), "*", "b")),
    ("a * -b", ("chain", "a", "*", ("-", "b"))),
    ("a - -b", ("chain", "a", "-", ("-", "b"))),
    ("--x", ("-", ("-", "x"))),
    ("+x", ("+", "x")),
    ("-+-x", ("-", ("+", ("-", "x")))),
    ("a < b + c", ("<", "a", ("chain", "b", "+", "c"))),
    ("a * b >= -c", (">=", ("chain", "a", "*", "b"), ("-", "c"))),
    ("(a < b) < c", ("<", ("<", "a", "b"), "c")),
    ("x.T^2", ("^", ("T", "x"), 2.0)),
    ("-x.T", ("-", ("T", "x"))),
    ("x^y.T", ("^", "x", ("T", "y"))),
    ("x[0]^2", ("^", ("index", "x", (0.0,)), 2.0)),
    ("-f(x)^2", ("-", ("^", ("call", "f", ("x",), ()), 2.0))),
])
def test_precedence(source: str, expected: Any) -> None:
    assert expr(source) == expected


@pytest.mark.parametrize("op", ["<", "<=", ">", ">=", "==", "!="])
def test_every_comparison(op: str) -> None:
    assert expr(f"a {op} b") == (op, "a", "b")


def test_power_spelled_two_ways_is_one_tree() -> None:
    assert expr("x**2 + y ** -z") == expr("x^2 + y^-z")
    assert normalize(parse("x**2")) == normalize(parse("x ^ 2"))


@pytest.mark.parametrize("source, expected", [
    ("f(x)", ("call", "f", ("x",), ())),
    ("f()", ("call", "f", (), ())),
    ("f(a, b, axis=1)", ("call", "f", ("a", "b"), (("axis", 1.0),))),
    ("softmax(x, axis=-1)", ("call", "softmax", ("x",), (("axis", ("-", 1.0)),))),
    ("stack(axis=0)", ("call", "stack", (), (("axis", 0.0),))),
    ("f(x,)", ("call", "f", ("x",), ())),
    ("grad(f)(x)", ("call", ("call", "grad", ("f",), ()), ("x",), ())),
    ("grad(grad(f), 1)(x, y)", ("call", ("call", "grad", (("call", "grad", ("f",), ()), 1.0),
                                         ()), ("x", "y"), ())),
    ("jacobian(f)(x)(y)", ("call", ("call", ("call", "jacobian", ("f",), ()), ("x",), ()),
                           ("y",), ())),
    ("f(a == b)", ("call", "f", (("==", "a", "b"),), ())),
    ("x[1:, 0]", ("index", "x", (("slice", 1.0, None, None), 0.0))),
    ("x[::2]", ("index", "x", (("slice", None, None, 2.0),))),
    ("x[-1]", ("index", "x", (("-", 1.0),))),
    ("x[:]", ("index", "x", (("slice", None, None, None),))),
    ("x[::]", ("index", "x", (("slice", None, None, None),))),
    ("x[1:2:3]", ("index", "x", (("slice", 1.0, 2.0, 3.0),))),
    ("x[:-1, 1::2]", ("index", "x", (("slice", None, ("-", 1.0), None),
                                     ("slice", 1.0, None, 2.0)))),
    ("x[0,]", ("index", "x", (0.0,))),
    ("x[0][1]", ("index", ("index", "x", (0.0,)), (1.0,))),
    ("f(x)[0].T", ("T", ("index", ("call", "f", ("x",), ()), (0.0,)))),
    ("x.T", ("T", "x")),
    ("x .T.T", ("T", ("T", "x"))),
    ("1.T", ("T", 1.0)),
    ("(a + b).T", ("T", ("chain", "a", "+", "b"))),
    ("[1, 2, 3]", ("array", 1.0, 2.0, 3.0)),
    ("[[1, 2], [3, 4]]", ("array", ("array", 1.0, 2.0), ("array", 3.0, 4.0))),
    ("[x, -y,]", ("array", "x", ("-", "y"))),
    ("[1, 2][0]", ("index", ("array", 1.0, 2.0), (0.0,))),
])
def test_postfix_and_atoms(source: str, expected: Any) -> None:
    assert expr(source) == expected


@pytest.mark.parametrize("text, value", [
    ("2", 2.0), ("1.5", 1.5), (".5", 0.5), ("1e-3", 1e-3), ("1E+4", 1e4), ("1.", 1.0),
    ("1.e2", 100.0), ("0009", 9.0),
])
def test_numbers(text: str, value: float) -> None:
    node = parse(text).result
    assert isinstance(node, ast.Num)
    assert node.value == value and node.text == text and node.span == Span(0, len(text))


def test_overflowing_literals_are_syntax_errors_at_the_literal() -> None:
    # README conventions: a literal that is not a finite float64 is almost always a typo.
    digits = "9" * 5000
    for source, start in [("1e400", 0), ("2 * 1e400", 4), (digits, 0), ("x[" + digits + "]", 2),
                          ("1e" + digits, 0)]:
        with pytest.raises(LexError) as info:
            parse(source)
        assert info.value.kind == "syntax" and info.value.span.start == start, source
        assert "too large for a float64" in info.value.message
    assert expr("9" * 308) == float("9" * 308)  # large but finite
    assert expr("0." + digits) == float("0." + digits)
    assert expr("1e-" + digits) == 0.0  # underflow is the nearest float64, zero


def test_tokens() -> None:
    kinds = [t.kind for t in tokenize("f(x) = x**2 # c\r\n[1,\n 2].T <= .5; y")]
    assert kinds == [NAME, "(", NAME, ")", "=", NAME, "**", NUM, NEWLINE, "[", NUM, ",", NUM,
                     "]", ".T", "<=", NUM, ";", NAME, EOF]
    assert tokenize("ab1_c")[0].span == Span(0, 5)
    assert [t.text for t in tokenize("a\r\rb")] == ["a", "\r", "\r", "b", ""]


def test_definitions_and_result() -> None:
    source = """
f(y) = 1 / norm(y)          # function definition
g(v) = sum(v)^3
s = 2 * x                   # constant binding
g(grad(f)(s))               # the result
"""
    program = parse(source)
    assert tree(program) == (
        (("def", "f", ("y",), ("chain", 1.0, "/", ("call", "norm", ("y",), ()))),
         ("def", "g", ("v",), ("^", ("call", "sum", ("v",), ()), 3.0)),
         ("const", "s", ("chain", 2.0, "*", "x"))),
        ("call", "g", (("call", ("call", "grad", ("f",), ()), ("s",), ()),), ()))
    f = program.definitions[0]
    assert isinstance(f, ast.FuncDef) and f.span == Span(1, 2)
    assert f.params[0].span == Span(3, 4)


@pytest.mark.parametrize("source", [
    "a = 1; f(x, y,) = x * y; f(a, 2)",
    "a = 1\nf(x, y) = x * y\nf(a, 2)",
    ";\n\n a = 1 ;;\n\n f(x,y)=x*y ; \n f(a,2) ;\n\n",
    "a = 1\r\nf(x, y) = x * y\r\nf(a, 2)\r\n",
    "a = 1\rf(x, y) = x * y\rf(a, 2)\r",
    "# heading\na = 1 # one\nf(x, y) = x * y # product\n# last\nf(a, 2) # done",
    "a = (\n  1\n)\nf(\n x,\n y\n) = x *\ty\nf(a,\r\n2)",
])
def test_separators_and_layout(source: str) -> None:
    assert tree(parse(source)) == (
        (("const", "a", 1.0), ("def", "f", ("x", "y"), ("chain", "x", "*", "y"))),
        ("call", "f", ("a", 2.0), ()))


def test_newlines_inside_brackets_are_ignored() -> None:
    assert expr("f(x,\n  y)\n") == expr("f(x, y)")
    assert expr("[1,\r\n 2,\r 3\n]") == expr("[1, 2, 3]")
    assert expr("(a\n + b)") == expr("a + b")
    assert expr("x[1:\n 2]") == expr("x[1:2]")


def test_equality_is_not_a_definition() -> None:
    assert expr("a == b") == ("==", "a", "b")
    assert expr("f(x) == 1") == ("==", ("call", "f", ("x",), ()), 1.0)


def test_spans() -> None:
    source = "-a + grad(f)(x)[0].T * b^2"
    chain = parse(source).result
    assert isinstance(chain, ast.Chain)
    assert chain.span == Span(0, len(source))
    first, link = chain.first, chain.rest[0]
    assert isinstance(first, ast.Unary) and first.span == Span(0, 1)
    assert link.span == Span(3, 4)
    product = link.operand
    assert isinstance(product, ast.Chain) and product.span == Span(5, len(source))
    transpose, power = product.first, product.rest[0].operand
    assert isinstance(transpose, ast.Transpose) and transpose.span == Span(18, 20)
    assert isinstance(power, ast.Power) and power.span == Span(24, 25)
    index = transpose.value
    assert isinstance(index, ast.Index) and index.span == Span(15, 16)
    call = index.value
    assert isinstance(call, ast.Call) and call.span == Span(5, 12)  # `grad(f)`
    assert isinstance(call.func, ast.Call) and call.func.span == Span(5, 9)  # `grad`
    keyword = parse("sum(x, axis=0)").result
    assert isinstance(keyword, ast.Call) and keyword.keywords[0].span == Span(7, 11)
    compare = parse("x <= 1").result
    assert isinstance(compare, ast.Compare) and compare.span == Span(2, 4)
    array = parse("  [1]").result
    assert isinstance(array, ast.ArrayLit) and array.span == Span(2, 3)
    sliced = parse("x[1:2]").result
    assert isinstance(sliced, ast.Index) and sliced.items[0].span == Span(2, 5)


def test_long_flat_sum_is_one_chain() -> None:
    source = " + ".join(["x"] * 20_000)
    result = parse(source, BIG).result  # one flat node: no deep tree to walk
    assert isinstance(result, ast.Chain) and len(result.rest) == 19_999
    assert normalize(parse(normalize(parse(source, BIG)), BIG)) == source
    product = parse("*".join(["x"] * 20_000)).result  # fits the default size limit too
    assert isinstance(product, ast.Chain) and len(product.rest) == 19_999


@pytest.mark.parametrize("source", [
    "(" * 100_000 + "x" + ")" * 100_000,
    "-" * 100_000 + "x",
    "2^" * 100_000 + "2",
    "[" * 100_000 + "1" + "]" * 100_000,
    "f(" * 100_000 + "x" + ")" * 100_000,
    "x[" * 100_000 + "0" + "]" * 100_000,
    "f(x) = " + "(" * 100_000 + "x" + ")" * 100_000 + "\nf(1)",
    "-(" * 100_000 + "x" + ")" * 100_000,
])
def test_deep_nesting_is_a_limit_error(source: str) -> None:
    with pytest.raises(LimitExceededError) as info:
        parse(source, BIG)
    err = info.value
    assert err.kind == "limit" and err.limit == "max_depth"
    assert err.span is not None and err.span.start < 2000  # at the level that overflows
    err.locate(source)
    assert err.line == 1 and err.excerpt is not None


def test_depth_limit_boundary() -> None:
    assert expr("(" * 256 + "x" + ")" * 256) == "x"
    with pytest.raises(LimitExceededError) as info:
        parse("(" * 257 + "x" + ")" * 257)
    assert info.value.span == Span(256, 257)  # the 257th '('
    assert expr("-" * 256 + "x") is not None
    with pytest.raises(LimitExceededError):
        parse("-" * 257 + "x")
    parse("f(" * 256 + "x" + ")" * 256)  # a call is one level: its argument list
    with pytest.raises(LimitExceededError):
        parse("f(" * 257 + "x" + ")" * 257)
    parse("sum(" + "(" * 255 + "x" + ")" * 256)  # exactly max_depth levels of brackets
    with pytest.raises(LimitExceededError) as info:
        parse("sum(" + "(" * 256 + "x" + ")" * 257)
    assert info.value.span == Span(259, 260)  # the bracket at level 257
    small = Limits(max_depth=3)
    parse("-(-x)", small)  # unary, parentheses, unary: three levels
    with pytest.raises(LimitExceededError):
        parse("-(-(x))", small)
    parse("x[0][0][0][0]", small)  # a postfix chain is one index list deep: one level
    parse("x[(-1)][0]", small)  # the list, parentheses, unary: three levels
    with pytest.raises(LimitExceededError):
        parse("x[-(-1)][0]", small)


def test_a_huge_configured_depth_still_gives_a_limit_error() -> None:
    parse("(" * 5000 + "x" + ")" * 5000, Limits(max_depth=100_000))  # within the limit
    source = "(" * 50_000 + "x" + ")" * 50_000  # beyond the walkers' stack: still clean
    with pytest.raises(LimitExceededError) as info:
        parse(source, Limits(max_depth=100_000, max_program_chars=10**6))
    assert info.value.limit == "max_depth" and info.value.span is not None


@pytest.mark.parametrize("suffix", ["[0]", ".T", "[:]", "[1:][0]"])
def test_postfix_chains_do_not_count_as_nesting(suffix: str) -> None:
    source = "sum(x" + suffix * 10_000 + ")"
    program = parse(source, BIG)
    assert normalize(parse(normalize(program), BIG)) == normalize(program)


def test_program_size_limit() -> None:
    source = "x" * 70_000
    with pytest.raises(LimitExceededError) as info:
        parse(source)
    assert info.value.limit == "max_program_chars" and info.value.span is None
    assert info.value.kind == "limit"
    parse("x" * 100, Limits(max_program_chars=100))


def _nest(depth: int, fn: Any) -> Any:
    return fn() if depth == 0 else _nest(depth - 1, fn)


@pytest.mark.parametrize("source", [
    "(" * 256 + "x" + ")" * 256,
    "[" * 256 + "1" + "]" * 256,
    "f(" * 128 + "x" + ")" * 128,
    "x[" * 128 + "0" + "]" * 128,
    "x[:" * 128 + "0" + "]" * 128,
    "-(" * 128 + "x" + ")" * 128,
    "(x + " * 128 + "x" + ")" * 128,
])
def test_legal_depth_from_a_crowded_worker_thread(source: str) -> None:
    """The deepest legal programs parse and normalize with 100 frames already in use."""
    results: list[Any] = []

    def work() -> None:
        try:
            results.append(_nest(100, lambda: normalize(parse(source))))
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assert below
            results.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert isinstance(results[0], str), results[0]


@pytest.mark.parametrize("source, canonical", [
    ("-x^2", "-x ^ 2.0"),
    ("(-x)**2", "(-x) ^ 2.0"),
    ("2^-x^2", "2.0 ^ -x ^ 2.0"),
    ("(a^b)^c", "(a ^ b) ^ c"),
    ("a-(b-c)", "a - (b - c)"),
    ("((a-b))-c", "(a - b) - c"),
    ("a*(b+c)/d", "a * (b + c) / d"),
    ("(a*b)+((c))", "a * b + c"),
    ("(a<b)+1", "(a < b) + 1.0"),
    ("a+b<(c)", "a + b < c"),
    ("sum( x ,axis = 1 ,)", "sum(x, axis=1)"),
    ("x[1:, ::2, :3:]", "x[1:, ::2, :3]"),
    ("(f(x)[0]).T", "f(x)[0].T"),
    ("(a @ b).T", "(a @ b).T"),
    ("(-x)[0]", "(-x)[0]"),
    ("grad(f)(x)", "grad(f)(x)"),
    ("[1,2,]", "[1.0, 2.0]"),
    ("1e300 + .5 + 1e-7", "1e+300 + 0.5 + 1e-07"),
    ("2 .T", "2.0.T"),
    # integer arguments print as integers; a float spelling there stays (it is a type error)
    ("reshape(x, 2, 3) + zeros(02, 3)", "reshape(x, 2, 3) + zeros(2, 3)"),
    ("grad(f, 1)(x, y) + x[1.0] + x[-1:]", "grad(f, 1)(x, y) + x[1.0] + x[-1:]"),
    ("f(a,b,)=a*b # c\r\ns=1;;\n\nf(s,2)", "f(a, b) = a * b\ns = 1.0\nf(s, 2.0)"),
])
def test_normalize_golden(source: str, canonical: str) -> None:
    assert normalize(parse(source)) == canonical
    assert normalize(parse(canonical)) == canonical


def test_errors_are_program_errors() -> None:
    with pytest.raises(ProgramError) as info:
        parse("x +")
    assert info.value.kind == "syntax"
