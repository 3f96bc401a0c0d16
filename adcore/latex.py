"""LaTeX of a derived program whose values are all scalars (`derive` with format "latex").

Read from the program's syntax tree: definitions become lines of an `aligned` block, the
result comes last under a label such as `\\frac{\\partial f}{\\partial x}`. It is for
reading, not for running: `strong_mul(a, b)` is written `a \\cdot b` (they differ only when
a zero meets an infinity), `where` as cases. A program with arrays (indexing, sums, `@`,
shapes) has no LaTeX here: `latex` returns None.
"""

from __future__ import annotations

import re

from . import ast

SUM, PRODUCT, UNARY, FRAC, POWER, ATOM = range(1, 7)
GREEK = frozenset({"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
                   "iota", "kappa", "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau",
                   "phi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi",
                   "Pi", "Sigma", "Phi", "Psi", "Omega"})
COMMANDS = {"sin": r"\sin", "cos": r"\cos", "tan": r"\tan", "log": r"\log", "sinh": r"\sinh",
            "cosh": r"\cosh", "tanh": r"\tanh", "arcsin": r"\arcsin", "arccos": r"\arccos",
            "arctan": r"\arctan", "sigmoid": r"\sigma", "maximum": r"\max",
            "minimum": r"\min", "log2": r"\log_{2}", "log10": r"\log_{10}"}
OPERATOR_NAMES = frozenset({"atan2", "softplus", "relu", "erf", "sign", "round", "expm1",
                            "log1p", "arcsinh", "arccosh", "arctanh", "stop_gradient"})
DELIMITED = {"sqrt": (r"\sqrt{", "}"), "cbrt": (r"\sqrt[3]{", "}"),
             "abs": (r"\left|", r"\right|"), "floor": (r"\left\lfloor ", r"\right\rfloor"),
             "ceil": (r"\left\lceil ", r"\right\rceil")}
COMPARE = {"<": "<", "<=": r"\le", ">": ">", ">=": r"\ge", "==": "=", "!=": r"\ne"}


class NotScalarError(Exception):
    """The program holds arrays: no LaTeX for it."""


def latex(program: ast.Program, label: str) -> str | None:
    """`label = result`, after one aligned line per definition; None with arrays."""
    try:
        lines = [f"{name(d.name)} &= {expr(d.value)}" for d in program.definitions
                 if isinstance(d, ast.ConstDef)]
        lines.append(f"{label} &= {expr(program.result)}")
    except NotScalarError:
        return None
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"


def name(identifier: str) -> str:
    """`theta` -> `\\theta`, `t12` -> `t_{12}`, `s_tm1` -> `s_{tm1}`, `loss` -> `\\mathrm{loss}`,
    `v_theta` -> `v_{\\theta}`."""
    base, _, sub = identifier.partition("_")
    if not sub and (numbered := re.fullmatch(r"([A-Za-z]+)([0-9]+)", identifier)):
        base, sub = numbered.groups()
    if base in GREEK:
        base = "\\" + base
    elif len(base) > 1:
        base = f"\\mathrm{{{base}}}"
    if sub in GREEK or "_" in sub:
        sub = name(sub)  # v_theta -> v_{\theta}, v_r_t -> v_{r_{t}}
    return f"{base}_{{{sub}}}" if sub else base


def _escaped(text: str) -> str:
    return text.replace("_", r"\_")


def expr(node: ast.Expr) -> str:
    return _tex(node)[0]


def _wrapped(node: ast.Expr, weakest: int) -> str:
    text, strength = _tex(node)
    return f"\\left({text}\\right)" if strength < weakest else text


def _tex(node: ast.Expr) -> tuple[str, int]:
    match node:
        case ast.Num(text=text):
            return _number(text)
        case ast.Name(id=identifier):
            return name(identifier), ATOM
        case ast.Unary(op=op, operand=operand):
            return op + _wrapped(operand, PRODUCT), UNARY
        case ast.Chain():
            return _chain(node)
        case ast.Power(base=base, exponent=exponent):
            return f"{_wrapped(base, ATOM)}^{{{expr(exponent)}}}", POWER
        case ast.Compare(op=op, left=left, right=right):
            return f"{expr(left)} {COMPARE[op]} {expr(right)}", SUM
        case ast.Call(func=ast.Name(id=function), args=args, keywords=()):
            return _call(function, list(args))
    raise NotScalarError


def _number(text: str) -> tuple[str, int]:
    mantissa, _, exponent = text.partition("e")
    if not exponent:
        return text, ATOM
    power = f"10^{{{int(exponent)}}}"
    return (power, POWER) if mantissa == "1" else (f"{mantissa} \\times {power}", PRODUCT)


def _chain(node: ast.Chain) -> tuple[str, int]:
    if node.rest[0].op in "+-":
        text = _wrapped(node.first, SUM)
        for link in node.rest:
            if link.op == "+" and _is_guard(link.operand):
                continue
            text += f" {link.op} {_wrapped(link.operand, PRODUCT)}"
        return text, SUM
    text, strength = _tex(node.first)
    for link in node.rest:
        if link.op == "/":
            text, strength = f"\\frac{{{text}}}{{{expr(link.operand)}}}", FRAC
        elif link.op == "*":
            left = text if strength >= PRODUCT else f"\\left({text}\\right)"
            text, strength = f"{left} \\cdot {_wrapped(link.operand, FRAC)}", PRODUCT
        else:
            raise NotScalarError  # @ is a product of arrays
    return text, strength


def _is_guard(node: ast.Expr) -> bool:
    """`0 * stop_gradient(value)`, added to derivatives so that they are NaN where the value
    is not finite (nonfinite.py): zero wherever the formula means anything, so not shown."""
    return (isinstance(node, ast.Chain) and isinstance(node.first, ast.Num)
            and node.first.value == 0.0 and [link.op for link in node.rest] == ["*"])


def _call(function: str, args: list[ast.Expr]) -> tuple[str, int]:
    if function == "exp":
        return f"e^{{{expr(args[0])}}}", POWER
    if function == "pow":
        return _tex(ast.Power(args[0], args[1], args[0].span))
    if function == "strong_mul":
        return _chain(ast.Chain(args[0], (ast.Link("*", args[1], args[1].span),),
                                args[0].span))
    if function == "where":
        cases = (f"{expr(args[1])} & \\text{{if }} {expr(args[0])} \\\\ "
                 f"{expr(args[2])} & \\text{{otherwise}}")
        return f"\\begin{{cases}} {cases} \\end{{cases}}", ATOM
    if function in DELIMITED:
        opening, closing = DELIMITED[function]
        return f"{opening}{expr(args[0])}{closing}", ATOM
    if function in COMMANDS or function in OPERATOR_NAMES:
        command = COMMANDS.get(function) or f"\\operatorname{{{_escaped(function)}}}"
        return f"{command}\\left({', '.join(expr(a) for a in args)}\\right)", ATOM
    raise NotScalarError  # sums, shapes, eye, einsum...
