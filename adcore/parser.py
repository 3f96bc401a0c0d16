"""Tokens to the syntax tree of `adcore.ast` (SPEC §2.1, §2.3): a recursive-descent parser.

Grammar, loosest first (`{}` repeats, `[]` is optional):

    program    = {separator} {definition separator {separator}} expression {separator}
    definition = NAME "=" expression | NAME "(" NAME {"," NAME} [","] ")" "=" expression
    expression = sum [compare_op sum]             # non-associative: `a < b < c` is an error
    sum        = product {("+" | "-") product}    # one flat Chain
    product    = operand {("*" | "/" | "@") operand}
    operand    = {"-" | "+"} postfix [("^" | "**") operand]   # `-x^2` is -(x^2); 2^-1
    postfix    = atom {"(" args ")" | "[" items "]" | ".T"}
    atom       = NUMBER | NAME | "(" expression ")" | "[" expression {"," expression} [","] "]"

A statement is a definition when it starts `name =` or `name(...) =` (LL lookahead over the
head only); any other `=` is an error at that `=`. Decisions: a function definition needs at least one parameter; a trailing comma is allowed in
parameter lists, argument lists, array literals and index lists (`x[0,]` is `x[0]`); keyword
arguments come after positional ones; only a name or a call (`grad(f)(x)`) can be called.

Nesting limit: every node gets a height (leaves 0). Parentheses, array literals, argument
lists, index lists, each unary prefix, each `^` and each Chain or Compare add one; a chain of
postfix operations does not (`x[0][1].T` is as deep as its deepest index list), since every
walker follows such chains in a loop, so `x[0][0]...[0]` on a vector is the shape error it is,
whatever its length. A height over `limits.max_depth` is a `limit` error at the token that
adds the excess level: `max_depth` levels are allowed (`sum(` + 255 `(` + `x` + 256 `)`),
one more is not. The parser itself recurses only into brackets and argument lists, at most
four Python frames per level, and raises before recursing past the limit; unary prefixes,
power chains, operator chains and postfix chains are loops.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple, NoReturn

from . import ast
from .errors import LexError, LimitExceededError, ParseError, Span
from .lexer import EOF, NAME, NEWLINE, NUM, Token, iter_tokens
from .limits import DEFAULT_LIMITS, Limits, ensure_recursion_room

_COMPARE = frozenset({"<", "<=", ">", ">=", "==", "!="})
_ADD = frozenset({"+", "-"})
_MUL = frozenset({"*", "/", "@"})
_BINARY = _COMPARE | _ADD | _MUL
_POWER = frozenset({"^", "**"})
_SEPARATORS = frozenset({NEWLINE, ";"})
_OPENERS = frozenset({"(", "["})
_CLOSERS = frozenset({")", "]"})
_CLOSER_OF = {"(": ")", "[": "]"}
_STARTS_EXPR = frozenset({NUM, NAME, "(", "[", "-", "+"})
_ERROR = "ERROR"  # stands where the lexer found a bad character; raised when reached

_PROGRAM_HINT = "a program ends with the expression to compute"
_DEF_HINT = "a definition is `name = expression` or `name(a, b) = expression`"


def parse(source: str, limits: Limits = DEFAULT_LIMITS) -> ast.Program:
    """Parse a whole program; raises a `ProgramError` (kind `syntax` or `limit`)."""
    if len(source) > limits.max_program_chars:
        raise LimitExceededError(
            f"the program has {len(source)} characters, over the limit "
            f"max_program_chars = {limits.max_program_chars}",
            None, "shorten the program", limit="max_program_chars",
            value=limits.max_program_chars)
    ensure_recursion_room(limits)
    parser = _Parser(source, iter_tokens(source), limits.max_depth)
    try:
        return parser.program()
    except RecursionError:
        # Only reachable if max_depth is configured far above the default: still a clean
        # limit error (SPEC §2.5), at the token where the stack ran out.
        raise LimitExceededError(
            "the expression is nested too deeply for the parser", parser.position(),
            "lower max_depth or flatten the expression", limit="max_depth",
            value=limits.max_depth) from None


def describe(tok: Token) -> str:
    """How a token is named in a message: `name 'x'`, `number 2`, `'+'`, `end of input`."""
    named = {NUM: f"number {tok.text}", NAME: f"name '{tok.text}'", NEWLINE: "end of line",
             EOF: "end of input"}
    return named.get(tok.kind, f"'{tok.text}'")


class _Item(NamedTuple):
    """A parsed expression with its nesting height and its source extent (for Chain spans)."""

    node: ast.Expr
    height: int
    start: int
    end: int


class _Parser:
    def __init__(self, source: str, stream: Iterator[Token | LexError], max_depth: int):
        self._source = source
        self._stream = stream
        self._tokens: list[Token] = []  # lexed so far; the stream ends with EOF or ERROR
        self._lex_error: LexError | None = None
        self._max_depth = max_depth
        self._pos = 0

    # ---- tokens -------------------------------------------------------------------------

    def _token(self, index: int) -> Token:
        while index >= len(self._tokens):
            item = next(self._stream)
            if isinstance(item, LexError):
                assert item.span is not None
                self._lex_error = item
                item = Token(_ERROR, "", item.span)
            self._tokens.append(item)
        return self._tokens[index]

    def _peek(self) -> Token:
        tok = self._token(self._pos)
        if tok.kind == _ERROR:
            # Every earlier token was fine, so the bad character is the first error.
            assert self._lex_error is not None
            raise self._lex_error
        return tok

    def _advance(self) -> Token:
        tok = self._peek()
        self._pos += 1
        return tok

    def position(self) -> Span:
        """The span of the current token, or of the last one lexed."""
        return self._tokens[min(self._pos, len(self._tokens) - 1)].span

    def _last_end(self) -> int:
        return self._tokens[self._pos - 1].span.end

    # ---- errors and limits --------------------------------------------------------------

    def _fail(self, message: str, tok: Token, hint: str | None = None) -> NoReturn:
        raise ParseError(message, tok.span, hint)

    def _unexpected(self, tok: Token, expected: str, hint: str | None = None) -> NoReturn:
        if hint is None and tok.kind == NEWLINE:
            hint = "a new line ends the statement; wrap a long expression in ( )"
        if hint is None and tok.kind == "=":
            hint = "'=' only defines a name at the start of a statement; compare with '=='"
        self._fail(f"unexpected {describe(tok)}; expected {expected}", tok, hint)

    def _fail_close(self, opener: Token, tok: Token, alternative: str = "") -> NoReturn:
        line, column = self._line_column(opener.span.start)
        want = f"{alternative} or '{_CLOSER_OF[opener.kind]}'" if alternative else \
            f"'{_CLOSER_OF[opener.kind]}'"
        expected = f"expected {want} to close '{opener.text}' at line {line}, column {column}"
        if tok.kind == EOF:
            self._fail(f"unexpected end of input; {expected}", tok)
        self._fail(f"{expected}, found {describe(tok)}", tok)

    def _line_column(self, offset: int) -> tuple[int, int]:
        # Reuse errors.py's newline rules so message positions match the error's own.
        where = ParseError("", Span(offset, offset + 1)).locate(self._source)
        assert where.line is not None and where.column is not None
        return where.line, where.column

    def _check_depth(self, height: int, tok: Token) -> int:
        if height > self._max_depth:
            raise LimitExceededError(
                f"the expression is nested more than max_depth = {self._max_depth} levels deep",
                tok.span, "flatten the expression or move parts of it into definitions",
                limit="max_depth", value=self._max_depth)
        return height

    # ---- statements ---------------------------------------------------------------------

    def program(self) -> ast.Program:
        definitions: list[ast.FuncDef | ast.ConstDef] = []
        self._skip_separators()
        while True:
            tok = self._peek()
            if tok.kind == EOF:
                if definitions:
                    raise ParseError("the program ends with a definition, not an expression",
                                     definitions[-1].span, _PROGRAM_HINT)
                self._fail("the program is empty", tok, _PROGRAM_HINT)
            if not self._is_definition():
                break
            definitions.append(self._definition())
            self._end_statement()
        result = self._expr(0).node
        self._end_statement()
        tok = self._peek()
        if tok.kind != EOF:
            self._fail("unexpected statement after the result expression", tok,
                       _PROGRAM_HINT + "; definitions come before it")
        return ast.Program(tuple(definitions), result)

    def _skip_separators(self) -> None:
        while self._peek().kind in _SEPARATORS:
            self._pos += 1

    def _end_statement(self) -> None:
        tok = self._peek()
        if tok.kind in _SEPARATORS:
            self._skip_separators()
        elif tok.kind in _CLOSERS:
            self._fail(f"unmatched '{tok.text}'", tok)
        elif tok.kind != EOF:
            hint = None
            if tok.kind == NUM and tok.text.startswith("."):
                hint = "a number has at most one decimal point"
            elif tok.kind in (NAME, NUM, "(", "["):
                hint = "write multiplication with '*'; separate statements with ';' or a new line"
            self._unexpected(tok, "an operator, ';' or a new line", hint)

    def _is_definition(self) -> bool:
        """`name =` or `name(...) =`: an LL(k) look at the head only, so an `=` later in a
        statement is an error at that `=`, and a deep expression is never read twice."""
        if self._peek().kind != NAME:
            return False
        after = self._token(self._pos + 1).kind
        if after != "(":
            return after == "="
        depth, index = 0, self._pos + 1
        while depth <= self._max_depth:  # deeper cannot parse; let the expression report it
            kind = self._token(index).kind
            if kind in (EOF, _ERROR, NEWLINE, ";"):
                return False
            depth += 1 if kind in _OPENERS else -1 if kind in _CLOSERS else 0
            index += 1
            if depth == 0:
                return self._token(index).kind == "="
        return False

    def _definition(self) -> ast.FuncDef | ast.ConstDef:
        name = self._advance()  # `_is_definition` saw `name =` or `name(`
        if self._advance().kind == "=":
            return ast.ConstDef(name.text, self._expr(0).node, name.span)
        params = self._params(self._tokens[self._pos - 1])
        equals = self._advance()
        if equals.kind != "=":
            self._unexpected(equals, "'=' after the parameter list", _DEF_HINT)
        return ast.FuncDef(name.text, params, self._expr(0).node, name.span)

    def _params(self, opener: Token) -> tuple[ast.Name, ...]:
        params: list[ast.Name] = []
        seen: set[str] = set()
        if self._peek().kind == ")":
            self._fail("a function definition needs at least one parameter", self._peek(),
                       "define a constant as `name = expression`")
        while True:
            tok = self._peek()
            if tok.kind != NAME:
                self._unexpected(tok, "a parameter name")
            if tok.text in seen:
                self._fail(f"parameter '{tok.text}' appears twice", tok)
            seen.add(tok.text)
            params.append(ast.Name(tok.text, tok.span))
            self._pos += 1
            if not self._after_item(opener):
                return tuple(params)

    def _after_item(self, opener: Token) -> bool:
        """After a list item: True if `,` and another item follow; False once closed."""
        tok = self._peek()
        closer = _CLOSER_OF[opener.kind]
        if tok.kind == ",":
            self._pos += 1
            if self._peek().kind != closer:
                return True
            tok = self._peek()  # a trailing comma
        if tok.kind == closer:
            self._pos += 1
            return False
        self._fail_close(opener, tok, "','")

    # ---- expressions --------------------------------------------------------------------

    def _expr(self, depth: int) -> _Item:
        """Comparisons, sums and products: a flat loop, built into Chains afterwards."""
        operands = [self._operand(depth)]
        ops: list[Token] = []
        compare_at = -1
        while (tok := self._peek()).kind in _BINARY:
            if tok.kind in _COMPARE:
                if compare_at >= 0:
                    self._fail("comparisons cannot be chained", tok,
                               "compare two values at a time, e.g. where(a < b, a, b)")
                compare_at = len(ops)
            self._pos += 1
            ops.append(tok)
            operands.append(self._operand(depth + 1))
        if compare_at < 0:
            return self._sum(operands, ops)
        left = self._sum(operands[:compare_at + 1], ops[:compare_at])
        right = self._sum(operands[compare_at + 1:], ops[compare_at + 1:])
        op = ops[compare_at]
        height = self._check_depth(1 + max(left.height, right.height), op)
        return _Item(ast.Compare(op.kind, left.node, right.node, op.span), height,
                     left.start, right.end)

    def _sum(self, operands: list[_Item], ops: list[Token]) -> _Item:
        terms: list[_Item] = []
        add_ops: list[Token] = []
        first = 0
        for i, op in enumerate(ops):
            if op.kind in _ADD:
                terms.append(self._chain(operands[first:i + 1], ops[first:i]))
                add_ops.append(op)
                first = i + 1
        terms.append(self._chain(operands[first:], ops[first:]))
        return self._chain(terms, add_ops)

    def _chain(self, operands: list[_Item], ops: list[Token]) -> _Item:
        if not ops:
            return operands[0]
        links = tuple(ast.Link(op.kind, item.node, op.span)
                      for op, item in zip(ops, operands[1:]))
        start, end = operands[0].start, operands[-1].end
        height = self._check_depth(1 + max(item.height for item in operands), ops[0])
        return _Item(ast.Chain(operands[0].node, links, Span(start, end)), height, start, end)

    def _operand(self, depth: int) -> _Item:
        """Unary prefixes and right-associative powers, folded from the right."""
        start = self._peek().span.start
        segments: list[tuple[list[Token], ast.Expr, int, Token]] = []
        prefixes: list[Token] = []
        levels = depth  # prefixes and carets enclose everything after them
        while True:
            tok = self._peek()
            if tok.kind in _ADD:
                levels = self._check_depth(levels + 1, tok)
                prefixes.append(tok)
                self._pos += 1
                continue
            atom_start = tok.span.start
            node, height = self._array(levels) if tok.kind == "[" else self._atom(levels)
            node, height = self._postfix(node, height, atom_start, levels)
            caret = self._peek()
            if caret.kind not in _POWER:
                break
            levels = self._check_depth(levels + 1, caret)
            self._pos += 1
            segments.append((prefixes, node, height, caret))
            prefixes = []
        node, height = self._prefixed(prefixes, node, height)
        for base_prefixes, base, base_height, caret in reversed(segments):
            height = self._check_depth(1 + max(base_height, height), caret)
            node, height = self._prefixed(base_prefixes, ast.Power(base, node, caret.span),
                                          height)
        return _Item(node, height, start, self._last_end())

    def _prefixed(self, prefixes: list[Token], node: ast.Expr,
                  height: int) -> tuple[ast.Expr, int]:
        for tok in reversed(prefixes):
            height = self._check_depth(height + 1, tok)
            node = ast.Unary(tok.kind, node, tok.span)
        return node, height

    def _atom(self, depth: int) -> tuple[ast.Expr, int]:
        tok = self._peek()
        if tok.kind == NUM:
            self._pos += 1
            return ast.Num(float(tok.text), tok.text, tok.span), 0
        if tok.kind == NAME:
            self._pos += 1
            return ast.Name(tok.text, tok.span), 0
        if tok.kind != "(":
            self._unexpected(tok, "an expression")
        self._check_depth(depth + 1, tok)
        self._pos += 1
        inner = self._expr(depth + 1)
        if self._peek().kind != ")":
            self._fail_close(tok, self._peek())
        self._pos += 1
        return inner.node, self._check_depth(inner.height + 1, tok)

    def _array(self, depth: int) -> tuple[ast.Expr, int]:
        opener = self._advance()
        self._check_depth(depth + 1, opener)
        if self._peek().kind == "]":
            self._fail("an array literal needs at least one element", self._peek())
        elements: list[ast.Expr] = []
        height = 0
        while True:
            item = self._expr(depth + 1)
            elements.append(item.node)
            height = max(height, item.height)
            if not self._after_item(opener):
                break
        return ast.ArrayLit(tuple(elements), opener.span), self._check_depth(height + 1, opener)

    def _postfix(self, node: ast.Expr, height: int, start: int,
                 depth: int) -> tuple[ast.Expr, int]:
        """Calls, indexing and `.T`, applied left to right."""
        while True:
            tok = self._peek()
            if tok.kind == "(":
                if not isinstance(node, (ast.Name, ast.Call)):
                    self._fail("only a function name or a call such as grad(f) can be called",
                               tok, "write multiplication with '*', e.g. 2 * (x + 1)")
                node, height = self._call(node, height, Span(start, self._last_end()), depth)
            elif tok.kind == "[":
                node, height = self._index(node, height, depth)
            elif tok.kind == ".T":
                self._pos += 1
                node = ast.Transpose(node, tok.span)
            else:
                return node, height

    def _call(self, func: ast.Expr, func_height: int, callee: Span,
              depth: int) -> tuple[ast.Expr, int]:
        opener = self._advance()
        self._check_depth(depth + 1, opener)
        args: list[ast.Expr] = []
        keywords: list[ast.Keyword] = []
        seen: set[str] = set()
        height = 0
        more = self._peek().kind != ")"
        if not more:
            self._pos += 1
        while more:
            tok = self._peek()
            if tok.kind == NAME and self._token(self._pos + 1).kind == "=":
                if tok.text in seen:
                    self._fail(f"keyword argument '{tok.text}' is repeated", tok)
                seen.add(tok.text)
                self._pos += 2
                item = self._expr(depth + 1)
                keywords.append(ast.Keyword(tok.text, item.node, tok.span))
            else:
                if keywords:
                    self._fail("a positional argument cannot follow a keyword argument", tok,
                               "put keyword arguments such as axis=0 last")
                item = self._expr(depth + 1)
                args.append(item.node)
            height = max(height, item.height)
            more = self._after_item(opener)
        height = self._check_depth(1 + max(func_height, height), opener)
        return ast.Call(func, tuple(args), tuple(keywords), callee), height

    def _index(self, value: ast.Expr, value_height: int, depth: int) -> tuple[ast.Expr, int]:
        opener = self._advance()
        self._check_depth(depth + 1, opener)
        if self._peek().kind == "]":
            self._fail("an index needs at least one item", self._peek())
        items: list[ast.Expr | ast.Slice] = []
        height = 0
        while True:
            item, item_height = self._index_item(depth + 1)
            items.append(item)
            height = max(height, item_height)
            if not self._after_item(opener):
                break
        height = max(value_height, self._check_depth(height + 1, opener))
        return ast.Index(value, tuple(items), opener.span), height

    def _index_item(self, depth: int) -> tuple[ast.Expr | ast.Slice, int]:
        """An expression, or a slice `start:stop:step` with every part optional."""
        start = self._peek().span.start
        parts: list[ast.Expr | None] = [None, None, None]
        height = 0
        if self._peek().kind != ":":
            first = self._expr(depth)
            if self._peek().kind != ":":
                return first.node, first.height
            parts[0], height = first.node, first.height
        for i in (1, 2):
            if self._peek().kind != ":":
                break
            self._pos += 1
            if self._peek().kind in _STARTS_EXPR:
                part = self._expr(depth)
                parts[i], height = part.node, max(height, part.height)
        span = Span(start, self._last_end())
        return ast.Slice(parts[0], parts[1], parts[2], span), height
