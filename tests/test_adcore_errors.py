"""Golden tests of program and request errors (SPEC §2.5): exact kind, 1-based line and
column, a message substring and the caret excerpt; `limit` errors name their limit.

Positions: a name error points at the name, a call error at the called name, an operator's
error at the operator.
"""

from __future__ import annotations

import numpy as np
import pytest

import adcore
from adcore import Limits, ProgramError

V2, V3, M23 = np.ones(2), np.ones(3), np.ones((2, 3))

# name: (program, inputs, kind, line, column, message substring)
PROGRAM_ERRORS = {
    "unknown function": ("foo(x) + 1", {"x": 1.0}, "name", 1, 1, "unknown function 'foo'"),
    "unknown function, line 2": ("f(y) = y\nbar(f(x))", {"x": 1.0}, "name", 2, 1,
                                 "unknown function 'bar'"),
    "input called": ("x(1)", {"x": 1.0}, "name", 1, 1, "'x'"),
    # issue 8: a name in function position must be a function, never a new input
    "unknown function differentiated": ("grad(foo)(x)", {"x": V2}, "name", 1, 6,
                                        "'foo' is not a function"),
    "unknown function in jvp": ("jvp(g, x, x)", {"x": V2}, "name", 1, 5,
                                "'g' is not a function"),
    "input differentiated": ("x + grad(x)(x)", {"x": V2}, "name", 1, 10,
                             "'x' is not a function (it is an input of the program)"),
    "result is a function": ("f(y) = sum(y)\ngrad(f)", {}, "type", 2, 1,
                             "the program's result is the function grad(f), not an array"),
    "result is a user function": ("f(y) = sum(y)\nf", {}, "type", 2, 1,
                                  "the program's result is the function f"),
    "array differentiated": ("grad(x + 1)(x)", {"x": V2}, "type", 1, 6,
                             "expected a function here, not an array"),
    "float literal as a size": ("zeros(1e8) + x", {"x": 1.0}, "type", 1, 7, "integer literal"),
    "integral float as an index": ("x[1.0]", {"x": V2}, "type", 1, 3, "integer literal"),
    "long postfix chain": ("sum(x" + "[0]" * 300 + ")", {"x": V2}, "shape", 1, 9,
                           "too many indices"),
    "recursion": ("f(y) = f(y) + 1\nf(x)", {"x": 1.0}, "name", 1, 8, "recursion"),
    "forward reference to a function": ("f(y) = g(y)\ng(y) = y\nf(x)", {"x": 1.0}, "name", 1, 8,
                                        "'g' is called before its definition"),
    "forward reference to a constant": ("a = b + 1\nb = 2\na * x", {"x": 1.0}, "name", 1, 5,
                                        "'b' is used before its definition"),
    "redefinition": ("f(y) = y\nf(y) = 2 * y\nf(x)", {"x": 1.0}, "name", 2, 1,
                     "'f' is already defined"),
    "constant redefined": ("a = 1\na = 2\na * x", {"x": 1.0}, "name", 2, 1,
                           "'a' is already defined"),
    "builtin arity": ("sin(x, x)", {"x": 1.0}, "type", 1, 1, "sin takes 1 argument(s), not 2"),
    "user function arity": ("f(a, b) = a + b\nf(x)", {"x": 1.0}, "type", 2, 1,
                            "f takes 2 argument(s), not 1"),
    "mask outside where": ("sum(x > 0)", {"x": V2}, "type", 1, 7,
                           "a comparison can only be the first argument of where"),
    "mask as the result": ("x > 0", {"x": V2}, "type", 1, 3, "comparison"),
    "mask in arithmetic": ("where((x > 0) * 2, x, 0)", {"x": V2}, "type", 1, 10, "comparison"),
    "where without a mask": ("where(x, x, 0)", {"x": V2}, "type", 1, 7, "comparison"),
    "non-literal index": ("x[y]", {"x": V2, "y": 1.0}, "type", 1, 3, "integer literal"),
    "non-literal axis": ("sum(x, axis=y)", {"x": V2, "y": 1.0}, "type", 1, 13,
                         "integer literal"),
    "fractional index": ("x[0.5]", {"x": V2}, "type", 1, 3, "integer literal"),
    "non-literal reshape size": ("reshape(x, y)", {"x": V2, "y": 2.0}, "type", 1, 12,
                                 "integer literal"),
    "function used as a value": ("f(y) = y\nf + x", {"x": 1.0}, "type", 2, 1,
                                 "the function f is used as a value"),
    "builtin used as a value": ("sin + x", {"x": 1.0}, "type", 1, 1,
                                "the function sin is used as a value"),
    "constant called": ("a = 2\na(x)", {"x": 1.0}, "type", 2, 1, "'a' is a constant"),
    "broadcast mismatch": ("x + y", {"x": V2, "y": V3}, "shape", 1, 3,
                           "shapes (2,) and (3,) do not broadcast together"),
    "mismatch on line 2": ("f(a) = a\nf(x) * y", {"x": V2, "y": V3}, "shape", 2, 6,
                           "do not broadcast"),
    "mismatch inside a function body": ("f(a) = a + y\nf(x)", {"x": V2, "y": V3}, "shape", 1,
                                        10, "do not broadcast"),
    "mismatch inside a differentiated body": ("f(a) = sum(a @ y)\ngrad(f)(x)",
                                              {"x": V2, "y": V3}, "shape", 1, 14, "do not fit"),
    "index error two calls deep": ("f(a) = a[3]\ng(b) = sum(f(b))\nhessian(g)(x)", {"x": V2},
                                   "shape", 1, 10, "index 3"),
    "mismatch in a constant binding": ("s = x + y\ns", {"x": V2, "y": V3}, "shape", 1, 7,
                                       "do not broadcast"),
    "matmul mismatch": ("x @ y", {"x": M23, "y": V2}, "shape", 1, 3,
                        "shapes (2, 3) and (2,) do not fit"),
    "index out of range": ("x[5]", {"x": V2}, "shape", 1, 3,
                           "index 5 is out of range for an axis of length 2"),
    "negative index out of range": ("x[0, -4]", {"x": M23}, "shape", 1, 6, "index -4"),
    "too many indices": ("x[0, 0]", {"x": V2}, "shape", 1, 2, "2 indices"),
    "grad of a non-scalar": ("f(y) = y * 2\ngrad(f)(x)", {"x": V2}, "shape", 2, 1,
                             "grad needs a function with a scalar result"),
    "hvp of a non-scalar": ("f(y) = y * 2\nhvp(f, x, x)", {"x": V2}, "shape", 2, 1,
                            "scalar result"),
    "jvp direction shape": ("f(y) = y\njvp(f, x, y)", {"x": V2, "y": V3}, "shape", 2, 11,
                            "direction"),
    "concat mismatch": ("concat(x, y)", {"x": np.ones((2, 2)), "y": M23}, "shape", 1, 1,
                        "cannot concatenate"),
    "reshape size": ("reshape(x, 4)", {"x": M23}, "shape", 1, 1, "cannot reshape"),
    "after a unicode comment": ("a = sum(x) # \u2260 caf\u00e9\nfoo(a)", {"x": V2}, "name", 2, 1,
                                "unknown function 'foo'"),
    "column counts code points": ("c = x + 1 # \u00e9\u00e9\nc + y[9]", {"x": 1.0, "y": V2},
                                  "shape", 2, 7, "index 9"),
}


def _error(text: str, at: dict, operation: str = "evaluate", **options: object) -> ProgramError:
    with pytest.raises(ProgramError) as info:
        adcore.compile(text).run(operation, at, **options)
    return info.value


def _caret(text: str, line: int, column: int) -> str:
    return text.splitlines()[line - 1] + "\n" + " " * (column - 1) + "^"


@pytest.mark.parametrize("name", sorted(PROGRAM_ERRORS))
def test_program_error_golden(name: str) -> None:
    text, at, kind, line, column, message = PROGRAM_ERRORS[name]
    err = _error(text, at)
    assert (err.kind, err.line, err.column) == (kind, line, column), err.render()
    assert message in err.message
    assert "\n" not in err.message
    assert err.excerpt == _caret(text, line, column)
    assert f"line {line}, column {column}" in str(err)


def test_program_errors_come_before_request_errors() -> None:
    """Name and function/array errors are found from the text alone: no `at` is needed."""
    for text in ("grad(foo)(x)", "f(y) = sum(y)\ngrad(f)", "x + sin"):
        with pytest.raises(ProgramError) as info:
            adcore.compile(text).evaluate(at={"unknown": 1.0})
        assert info.value.kind in ("name", "type") and info.value.line is not None


def test_function_hints_name_the_functions_defined_above() -> None:
    err = _error("f(y) = sum(y)\ng(y) = f(y)^2\ngrad(h)(x)", {"x": V2})
    assert err.hint is not None and "f, g" in err.hint
    assert "define it first" in (_error("grad(h)(x)", {"x": V2}).hint or "")


def test_gradient_of_non_scalar_program() -> None:
    err = _error("x * 2", {"x": V2}, "gradient")
    assert (err.kind, err.line, err.column) == ("shape", 1, 1)
    assert "scalar" in err.message and err.excerpt == "x * 2\n^"
    err = _error("f(a) = a\nx * 2", {"x": V2}, "hvp", v={"x": V2})
    assert (err.kind, err.line, err.column) == ("shape", 2, 1)


# Builtins that raise their own shape errors (not through a primitive's shape rule) lose
# the position: SPEC §2.5 wants line and column on every program error.
POSITIONLESS = {
    "axis out of range": ("sum(x, axis=2)", {"x": M23}, "axis 2 is out of range"),
    "softmax axis out of range": ("softmax(x, axis=3)", {"x": V2}, "axis 3"),
    "trace of a vector": ("trace(x)", {"x": V3}, "trace takes a matrix"),
    "diag of a scalar": ("diag(x)", {"x": 1.0}, "diag takes a matrix"),
    "matmul of 3-D": ("x @ y", {"x": np.ones((2, 2, 2)), "y": V2}, "1-D or 2-D"),
    "reshape two -1": ("reshape(x, -1, -1)", {"x": np.ones(4)}, "at most one -1"),
    "reshape -1 does not divide": ("reshape(x, 3, -1)", {"x": np.ones(4)}, "cannot reshape"),
    "concat of scalars": ("concat(x, x)", {"x": 1.0}, "at least one axis"),
    "stack of unequal shapes": ("stack(x, y)", {"x": V2, "y": V3}, "equal shapes"),
    "negative size": ("zeros(-1) + x", {"x": 1.0}, "non-negative"),
}


@pytest.mark.parametrize("name", sorted(POSITIONLESS))
def test_builtin_errors_have_a_position(name: str) -> None:
    text, at, message = POSITIONLESS[name]
    err = _error(text, at)
    assert message in err.message
    assert err.line == 1 and err.column is not None and err.excerpt is not None


@pytest.mark.parametrize("name", sorted(POSITIONLESS))
def test_builtin_errors_kind_and_message(name: str) -> None:
    text, at, message = POSITIONLESS[name]
    err = _error(text, at)
    assert err.kind in ("shape", "type") and message in err.message


# ---- request errors: no position ----

P2 = "sum(x * y)"
AT2 = {"x": V2, "y": V2}
REQUEST_ERRORS = {  # name: (program, operation, at, options, message substring)
    "missing input": (P2, "evaluate", {"x": V2}, {}, "missing input 'y'"),
    "unknown input": (P2, "evaluate", {**AT2, "z": 1.0}, {}, "'z' is not an input"),
    "wrt not an input": (P2, "gradient", AT2, {"wrt": ["z"]}, "'z' in wrt"),
    "batch not an input": (P2, "evaluate", AT2, {"batch": ["z"]}, "'z' in batch"),
    "ragged array": (P2, "evaluate", {"x": [[1.0, 2.0], [3.0]], "y": V2}, {}, "ragged"),
    "not numbers": (P2, "evaluate", {"x": "abc", "y": V2}, {}, "numbers"),
    "batch lengths disagree": (P2, "evaluate", {"x": np.ones((3, 2)), "y": np.ones((4, 2))},
                               {"batch": ["x", "y"]}, "batch lengths disagree"),
    "batched scalar": (P2, "evaluate", {"x": 1.0, "y": V2}, {"batch": ["x"]}, "batch axis"),
    "wrong v shape": (P2, "hvp", AT2, {"v": {"x": V3, "y": V2}}, "v['x'] has shape (3,)"),
    "missing v": (P2, "jvp", AT2, {"v": {"x": V2}}, "v['y']"),
    "v for a fixed input": (P2, "jvp", AT2, {"v": {"x": V2, "y": V2}, "wrt": ["x"]},
                            "'y'"),
    "wrong u shape": ("x * y", "vjp", AT2, {"u": V3}, "u has shape (3,)"),
    "missing u": ("x * y", "vjp", AT2, {}, "'u'"),
    "unknown mode": (P2, "jacobian", AT2, {"mode": "sideways"}, "mode"),
    "unknown operation": (P2, "integrate", AT2, {}, "unknown operation"),
}


@pytest.mark.parametrize("name", sorted(REQUEST_ERRORS))
def test_request_error(name: str) -> None:
    text, operation, at, options, message = REQUEST_ERRORS[name]
    err = _error(text, at, operation, **options)
    assert err.kind == "request", err.render()
    assert message in err.message
    assert err.line is None and err.column is None


# ---- limit errors name the limit and its value ----

NESTED = ("f(y) = sum(tanh(y) * sin(y) * exp(y / 3)) * sum(y)\ng(y) = sum(hessian(f)(y))\n"
          "h(y) = sum(hessian(g)(y))\nh(x)")


def _limit(text: str, limits: Limits, at: dict, operation: str = "evaluate",
           **options: object) -> ProgramError:
    with pytest.raises(ProgramError) as info:
        adcore.compile(text, limits).run(operation, at, **options)
    err = info.value
    assert err.kind == "limit", err.render()
    value = float(err.value)
    spellings = {f"{value:.4g}", f"{value:g}", repr(value)} | (
        {str(int(value))} if value.is_integer() else set())
    assert err.limit in err.message and any(s in err.message for s in spellings), err.message
    return err


def test_limit_ir_equations() -> None:
    err = _limit(NESTED, Limits(max_ir_equations=300), {"x": V3})
    assert err.limit == "max_ir_equations" and err.value == 300
    adcore.compile(NESTED, Limits(max_ir_equations=5000)).evaluate(at={"x": V3})


def test_limit_array_elements() -> None:
    err = _limit("sum(outer(x, x))", Limits(max_array_elements=1000), {"x": np.ones(100)})
    assert err.limit == "max_array_elements" and err.value == 1000
    assert (err.line, err.column) == (1, 5)
    assert err.excerpt == "sum(outer(x, x))\n    ^"
    err = _limit("sum(outer(x, x))", adcore.DEFAULT_LIMITS, {"x": np.ones(10_000)})
    assert err.limit == "max_array_elements" and err.value == 2**26


def test_limit_flops_of_batched_hessian() -> None:
    err = _limit("sum(tanh(x))", Limits(max_flops=1e5), {"x": np.ones((100, 30))}, "hessian",
                 batch=["x"])
    assert err.limit == "max_flops" and err.value == 1e5
    assert err.hint and "diagonal" in err.hint
    out = adcore.compile("sum(tanh(x))", Limits(max_flops=1e5)).hvp(
        at={"x": np.ones((100, 30))}, batch=["x"], v={"x": np.ones(30)})  # what fits
    assert out["hvp"]["x"].shape == (100, 30)


def test_limit_depth_and_size() -> None:
    err = _limit("(" * 300 + "x" + ")" * 300, adcore.DEFAULT_LIMITS, {"x": 1.0})
    assert err.limit == "max_depth" and err.value == 256
    err = _limit("x" + " + x" * 20_000, adcore.DEFAULT_LIMITS, {"x": 1.0})
    assert err.limit == "max_program_chars" and err.value == 64 * 1024


# ---- nothing but ProgramError, whatever the request (SPEC §2.5) ----

EMPTY = np.ones(0)
ONLY_PROGRAM_ERRORS = {  # name: (program, operation, at, options)
    "sum of empty": ("sum(x)", "hessian", {"x": EMPTY}, {}),
    "prod of empty": ("prod(x)", "gradient", {"x": EMPTY}, {}),
    "batch of zero points": ("sum(x ^ 2)", "hessian", {"x": np.ones((0, 3))}, {"batch": ["x"]}),
    "wrt none, gradient": ("sum(x)", "gradient", {"x": V2}, {"wrt": []}),
    "wrt none, hessian": ("sum(x)", "hessian", {"x": V2}, {"wrt": []}),
}
CRASHES = {
    "max of empty": ("max(x)", "evaluate", {"x": EMPTY}, {}),
    "min of empty": ("min(x)", "gradient", {"x": EMPTY}, {}),
    "logsumexp of empty": ("logsumexp(x)", "evaluate", {"x": EMPTY}, {}),
    "softmax of empty": ("softmax(x)", "evaluate", {"x": EMPTY}, {}),
    "max along an empty axis": ("max(x, axis=1)", "evaluate", {"x": np.ones((2, 0))}, {}),
    "laplacian wrt none": ("sum(x ^ 2)", "laplacian", {"x": V2}, {"wrt": []}),
    "hessian diagonal wrt none": ("sum(x ^ 2)", "hessian", {"x": V2},
                                  {"wrt": [], "diagonal": True}),
    "laplacian without inputs": ("2 + 3", "laplacian", {}, {}),
}


def _only_program_errors(text: str, operation: str, at: dict, options: dict) -> None:
    try:
        adcore.compile(text).run(operation, at, **options)
    except ProgramError:
        pass


@pytest.mark.parametrize("name", sorted(ONLY_PROGRAM_ERRORS))
def test_only_program_errors(name: str) -> None:
    _only_program_errors(*ONLY_PROGRAM_ERRORS[name])


@pytest.mark.parametrize("name", sorted(CRASHES))
def test_no_crash(name: str) -> None:
    _only_program_errors(*CRASHES[name])
