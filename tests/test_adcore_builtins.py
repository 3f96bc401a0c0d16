"""Every builtin of SPEC §2.4 through `adcore.compile(text)`: values against numpy/scipy,
derivatives against closed forms and central differences of `evaluate`, forward == reverse,
batches == stacks of single points, and the non-smooth conventions, exactly.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from scipy import special

import adcore
from adcore.interpret import interpret
from adcore.testing import assert_close, numeric_jacobian, random_programs, typecheck

HYP = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
RNG = np.random.default_rng(20240601)
TOL = dict(rtol=1e-7, atol=1e-8)


@functools.lru_cache(maxsize=None)
def program(text: str) -> adcore.Program:
    return adcore.compile(text)


def value(text: str, **at: object) -> np.ndarray:
    return program(text).evaluate(at=at)["value"]


def grad(text: str, wrt: str = "x", mode: str = "rev", **at: object) -> np.ndarray:
    """The gradient by reverse mode, or by a forward Jacobian."""
    if mode == "rev":
        return program(text).gradient(at=at)["gradient"][wrt]
    return program(text).jacobian(at=at, mode="forward")["jacobian"][wrt]


def fd(text: str, name: str, **at: object) -> np.ndarray:
    """Central differences of `evaluate` with respect to input `name`."""
    return numeric_jacobian(lambda x: value(text, **{**at, name: x}), at[name])


def check_derivatives(text: str, **at: np.ndarray) -> None:
    """jacobian forward == reverse == finite differences for every input; gradient too
    when the result is scalar."""
    prog = program(text)
    fwd = prog.jacobian(at=at, mode="forward")["jacobian"]
    rev = prog.jacobian(at=at, mode="reverse")["jacobian"]
    scalar = np.shape(prog.evaluate(at=at)["value"]) == ()
    gradient = prog.gradient(at=at)["gradient"] if scalar else None
    for name in prog.inputs:
        expected = fd(text, name, **at)
        assert_close(fwd[name], expected, **TOL, what=f"{text}: forward d/d{name}")
        assert_close(rev[name], expected, **TOL, what=f"{text}: reverse d/d{name}")
        if gradient is not None:
            assert_close(gradient[name], expected, **TOL, what=f"{text}: gradient d/d{name}")


def uniform(lo: float, hi: float, shape: tuple[int, ...] = (5,)) -> np.ndarray:
    return RNG.uniform(lo, hi, shape)


# ---- elementwise: value, first and second derivative against closed forms ----

def sig(x: np.ndarray) -> np.ndarray:
    return special.expit(x)


UNARY = {  # name: (value, derivative, domain)
    "abs": (np.abs, np.sign, (0.1, 2)), "sign": (np.sign, np.zeros_like, (0.1, 2)),
    "sqrt": (np.sqrt, lambda x: 0.5 / np.sqrt(x), (0.1, 4)),
    "cbrt": (np.cbrt, lambda x: 1 / (3 * np.cbrt(x) ** 2), (0.1, 4)),
    "exp": (np.exp, np.exp, (-2, 2)), "expm1": (np.expm1, np.exp, (-2, 2)),
    "log": (np.log, lambda x: 1 / x, (0.1, 4)),
    "log1p": (np.log1p, lambda x: 1 / (1 + x), (-.9, 3)),
    "log2": (np.log2, lambda x: 1 / (x * math.log(2)), (0.1, 4)),
    "log10": (np.log10, lambda x: 1 / (x * math.log(10)), (0.1, 4)),
    "sin": (np.sin, np.cos, (-3, 3)), "cos": (np.cos, lambda x: -np.sin(x), (-3, 3)),
    "tan": (np.tan, lambda x: 1 / np.cos(x) ** 2, (-1.2, 1.2)),
    "arcsin": (np.arcsin, lambda x: 1 / np.sqrt(1 - x * x), (-.9, .9)),
    "arccos": (np.arccos, lambda x: -1 / np.sqrt(1 - x * x), (-.9, .9)),
    "arctan": (np.arctan, lambda x: 1 / (1 + x * x), (-3, 3)),
    "sinh": (np.sinh, np.cosh, (-2, 2)), "cosh": (np.cosh, np.sinh, (-2, 2)),
    "tanh": (np.tanh, lambda x: 1 / np.cosh(x) ** 2, (-2, 2)),
    "arcsinh": (np.arcsinh, lambda x: 1 / np.sqrt(x * x + 1), (-3, 3)),
    "arccosh": (np.arccosh, lambda x: 1 / np.sqrt(x * x - 1), (1.1, 4)),
    "arctanh": (np.arctanh, lambda x: 1 / (1 - x * x), (-.9, .9)),
    "sigmoid": (sig, lambda x: sig(x) * (1 - sig(x)), (-4, 4)),
    "softplus": (lambda x: np.log1p(np.exp(x)), sig, (-4, 4)),
    "relu": (lambda x: np.maximum(x, 0), lambda x: (x > 0) * 1.0, (-2, 2)),
    "erf": (special.erf, lambda x: 2 / math.sqrt(math.pi) * np.exp(-x * x), (-2, 2)),
    "square": (np.square, lambda x: 2 * x, (-2, 2)),
    "floor": (np.floor, np.zeros_like, (-3, 3)), "ceil": (np.ceil, np.zeros_like, (-3, 3)),
    "round": (np.round, np.zeros_like, (-3, 3)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_builtin(name: str) -> None:
    f, df, (lo, hi) = UNARY[name]
    x = uniform(lo, hi)
    if name in ("abs", "sign"):
        x = x * np.array([1, -1, 1, -1, 1])
    text = f"sum({name}(x))"
    assert_close(value(f"{name}(x)", x=x), f(x), 1e-14, 1e-15, what="value")
    assert_close(grad(text, x=x), df(x), 1e-13, 1e-15, what="reverse")
    assert_close(grad(text, mode="fwd", x=x), df(x), 1e-13, 1e-15, what="forward")
    hess = program(text).hessian(at={"x": x})["hessian"]["x"]["x"]
    assert_close(hess, numeric_jacobian(df, x), **TOL, what="hessian vs d/dx of f'")
    assert_close(np.diag(np.diag(hess)), hess, 0, 0, what="elementwise: diagonal Hessian")
    batch = np.stack([x, x[::-1]])
    out = program(text).gradient(at={"x": batch}, batch=["x"])["gradient"]["x"]
    assert_close(out, np.stack([df(x), df(x[::-1])]), 1e-13, 1e-15, what="batch")


@pytest.mark.parametrize("name", [n
                                  for n in sorted(UNARY)])
def test_unary_builtin_large_arrays(name: str) -> None:
    """Over the memory planner's in-place threshold: f(x * 0.5) and its derivative."""
    f, df, (lo, hi) = UNARY[name]
    x = np.linspace(2 * lo, 2 * hi, 2000)
    assert_close(value(f"{name}(x * 0.5)", x=x), f(x * 0.5), 1e-14, 1e-15, what="value")
    assert_close(grad(f"sum({name}(x * 0.5))", x=x), 0.5 * df(x * 0.5), 1e-13, 1e-15)


BINARY = {  # text: (numpy value, domain of x, domain of y)
    "atan2(x, y)": (np.arctan2, (-2, 2), (-2, 2)),
    "maximum(x, y)": (np.maximum, (-2, 2), (-2, 2)),
    "minimum(x, y)": (np.minimum, (-2, 2), (-2, 2)),
    "pow(x, y)": (np.power, (0.2, 3), (-2, 2)), "x ^ y": (np.power, (0.2, 3), (-2, 2)),
    "x ** y": (np.power, (0.2, 3), (-2, 2)),
    "x / y": (np.divide, (-2, 2), (0.5, 2)),
    "clip(x, -0.5, y)": (lambda x, y: np.minimum(np.maximum(x, -0.5), y), (-2, 2), (0, 1)),
    "where(x > y, x * y, sin(y))": (lambda x, y: np.where(x > y, x * y, np.sin(y)),
                                    (-2, 2), (-2, 2)),
}


@pytest.mark.parametrize("text", sorted(BINARY))
def test_binary_builtin(text: str) -> None:
    f, dx, dy = BINARY[text]
    x, y = uniform(*dx, (2, 3)), uniform(*dy, (3,))
    assert_close(value(text, x=x, y=y), f(x, y), 1e-14, 1e-15)
    check_derivatives(f"sum({text})", x=x, y=y)
    check_derivatives(text, x=x[0], y=y)


# ---- reductions with axis keywords ----

def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


REDUCTIONS = {
    "sum": np.sum, "mean": np.mean, "prod": np.prod, "max": np.max, "min": np.min,
    "logsumexp": special.logsumexp, "norm": lambda x, axis=None: np.sqrt(
        np.sum(x * x, axis=axis)),
}


@pytest.mark.parametrize("axis", [None, 0, 1, -1, -2])
@pytest.mark.parametrize("name", sorted(REDUCTIONS) + ["softmax"])
def test_reduction(name: str, axis: int | None) -> None:
    x = uniform(-2, 2, (3, 4))
    text = name + ("(x)" if axis is None else f"(x, axis={axis})")
    if name == "softmax":
        expected = softmax(x, -1 if axis is None else axis)
    else:
        expected = REDUCTIONS[name](x, axis=axis)
    assert_close(value(text, x=x), expected, 1e-13, 1e-15)
    w = uniform(-1, 1, np.shape(expected))
    check_derivatives(f"sum(w * {text})", x=x, w=w)


def test_large_inputs_do_not_overflow() -> None:
    big = np.array([1000.0, 1000.0, -1000.0])
    assert value("logsumexp(x)", x=big) == 1000.0 + math.log(2.0)
    assert_close(grad("logsumexp(x)", x=big), [0.5, 0.5, 0.0], 1e-15, 0)
    assert_close(value("softmax(x)", x=big), [0.5, 0.5, 0.0], 1e-15, 0)
    low = np.array([-1000.0, -1000.0, -1001.0])
    assert value("logsumexp(x)", x=low) == pytest.approx(-1000 + math.log(2 + math.exp(-1)),
                                                        rel=1e-15)
    assert_close(grad("logsumexp(x)", x=low), softmax(low, 0), 1e-14, 0)
    jac = program("softmax(x)").jacobian(at={"x": np.array([800.0, 0.0])})["jacobian"]["x"]
    assert np.all(np.isfinite(jac)) and np.allclose(jac, 0.0, atol=1e-300)
    assert value("logsumexp(x, axis=1)", x=np.array([[1e308, 1e308]])) == pytest.approx(1e308)


# ---- linear algebra, shapes, constants ----

A, B, V, W = uniform(-1, 1, (2, 3)), uniform(-1, 1, (3, 4)), uniform(-1, 1, (3,)), uniform(
    -1, 1, (4,))
LINALG = {  # text: (numpy value, inputs)
    "a @ b": (A @ B, dict(a=A, b=B)), "a @ v": (A @ V, dict(a=A, v=V)),
    "v @ b": (V @ B, dict(v=V, b=B)), "v @ v": (V @ V, dict(v=V)),
    "matmul(a, b)": (A @ B, dict(a=A, b=B)), "dot(v, v)": (V @ V, dict(v=V)),
    "dot(a, v)": (A @ V, dict(a=A, v=V)), "outer(v, w)": (np.outer(V, W), dict(v=V, w=W)),
    "trace(b)": (np.trace(B), dict(b=B)), "trace(b @ b.T)": (np.trace(B @ B.T), dict(b=B)),
    "transpose(a)": (A.T, dict(a=A)), "a.T": (A.T, dict(a=A)),
    "reshape(a, 3, 2)": (A.reshape(3, 2), dict(a=A)),
    "reshape(a, -1)": (A.reshape(-1), dict(a=A)), "reshape(a, 1, -1)": (A.reshape(1, -1),
                                                                        dict(a=A)),
    "concat(v, w)": (np.concatenate([V, W]), dict(v=V, w=W)),
    "concat(a, a, axis=-1)": (np.concatenate([A, A], -1), dict(a=A)),
    "concat(a, b.T, axis=0)": (np.concatenate([A, B.T]), dict(a=A, b=B)),
    "stack(v, 2 * v)": (np.stack([V, 2 * V]), dict(v=V)),
    "stack(v, v, axis=1)": (np.stack([V, V], 1), dict(v=V)),
    "stack(v, v, axis=-1)": (np.stack([V, V], -1), dict(v=V)),
    "diag(v)": (np.diag(V), dict(v=V)), "diag(b)": (np.diag(B), dict(b=B)),
    "v * zeros(3) + ones(2, 3)": (np.ones((2, 3)), dict(v=V)),
    "eye(3) @ v + pi + e": (V + math.pi + math.e, dict(v=V)),
    "[v[0], 2 * v[1], 3]": (np.array([V[0], 2 * V[1], 3]), dict(v=V)),
    "[[1, 2], [3, 4]] @ a[:, 1:]": (np.array([[1, 2], [3, 4]]) @ A[:, 1:], dict(a=A)),
    "[v, v ^ 2]": (np.stack([V, V ** 2]), dict(v=V)),
}
INDEXING = ["[1:, 0]", "[::-1]", "[-1]", "[::-2]", "[1:0:-1]", "[-2:]", "[:, ::-1]",
            "[0, -1]", "[:, 1:3]", "[::-1, ::-2]", "[-1:-3:-1, 2]", "[1]"]
for _ix in INDEXING:
    LINALG[f"b{_ix}"] = (eval(f"B{_ix}"), dict(b=B))  # noqa: S307 - our literal list


@pytest.mark.parametrize("text", sorted(LINALG))
def test_linear_algebra_and_shapes(text: str) -> None:
    expected, at = LINALG[text]
    assert_close(value(text, **at), expected, 1e-14, 1e-15)
    check_derivatives(text, **at)


def test_a_broadcast_identity_is_not_contracted_as_one() -> None:
    """Regression: simplify took eye(1) * v, a 1 x 2 matrix, for an identity and contracted
    it away, giving a 2 x 3 result for a 1 x 3 product."""
    v, m = np.array([1.0, 2.0]), np.arange(6.0).reshape(2, 3)
    assert_close(value("(eye(1) * v) @ m", v=v, m=m), (np.eye(1) * v) @ m, 0, 0)
    check_derivatives("(eye(1) * v) @ m", v=v, m=m)



def test_an_identity_is_not_contracted_into_a_diagonal() -> None:
    """Regression (metamorphic suite): contracting the identity of an inner jacrev renamed a
    letter that the other operand already had, making a diagonal einsum ('a', 'aaj' -> 'j')
    that codegen cannot write: every reverse-mode derivative w.r.t. A crashed. Closed form:
    with S = sum(A) and t = sin(sin(x)), the value is S^2 cos(S t) + sin(y)."""
    text = "f(p) = sin((p * ones(3, 3)) @ A)\njacrev(f)(sin(sin(x))) @ A + sin(y)"
    a, x, y = np.array([0.5, -0.3, 0.7]), np.array(0.3), np.array(0.2)
    s, t = a.sum(), np.sin(np.sin(x))
    gradient = program(text).gradient(at={"A": a, "x": x, "y": y})["gradient"]
    assert_close(gradient["A"], np.full(3, 2 * s * np.cos(s * t) - s**2 * t * np.sin(s * t)))
    assert_close(gradient["x"], -s**3 * np.sin(s * t) * np.cos(np.sin(x)) * np.cos(x))
    check_derivatives(text, A=a, x=x, y=y)

# ---- wrt subsets and batches ----

def test_wrt_subset_and_batch_equal_single_points() -> None:
    text = "sum(tanh(m @ x) * y) + norm(x)"
    m, xs, ys = uniform(-1, 1, (2, 3)), uniform(-1, 1, (4, 3)), uniform(-1, 1, (4, 2))
    prog = program(text)
    out = prog.gradient(at={"m": m, "x": xs, "y": ys}, batch=["x", "y"], wrt=["m", "y"])
    assert set(out["gradient"]) == {"m", "y"}
    for i in range(4):
        at = dict(m=m, x=xs[i], y=ys[i])
        single = prog.gradient(at=at, wrt=["m", "y"])
        for name in ("m", "y"):
            assert_close(out["gradient"][name][i], single["gradient"][name], 1e-13, 1e-15)
            assert_close(single["gradient"][name], fd(text, name, **at), **TOL)
        assert_close(out["value"][i], value(text, **at), 1e-14, 0)
    jac = prog.jacobian(at={"m": m, "x": xs, "y": ys}, batch=["x", "y"], wrt=["x"])["jacobian"]
    assert set(jac) == {"x"} and jac["x"].shape == (4, 3)


# ---- non-smooth conventions (SPEC §2.4), exactly, in both modes ----

EXACT_CASES = {  # text: (x, expected gradient)
    "sum(abs(x))": ([0.0, 1.0, -2.0], [0.0, 1.0, -1.0]),
    "sum(sign(x))": ([0.0, 1.0, -2.0], [0.0, 0.0, 0.0]),
    "sum(relu(x))": ([0.0, 1.0, -2.0], [0.0, 1.0, 0.0]),
    "sum(floor(x) + ceil(x) + round(x))": ([0.0, 1.5, -2.0], [0.0, 0.0, 0.0]),
    "max(x)": ([1.0, 3.0, 3.0], [0.0, 0.5, 0.5]),
    "min(x)": ([1.0, 1.0, 1.0], [1 / 3, 1 / 3, 1 / 3]),
    "sum(max(reshape(x, 1, 3), axis=1))": ([2.0, 2.0, 0.0], [0.5, 0.5, 0.0]),
    "maximum(x[0], x[1]) + minimum(x[1], x[2])": ([1.0, 1.0, 1.0], [0.5, 1.0, 0.5]),
    "sum(clip(x, 0, 1))": ([0.0, 1.0, 0.5], [0.5, 0.5, 1.0]),
    "norm(x)": ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0]),
    "sum(norm(reshape(x, 3, 1), axis=1))": ([0.0, 2.0, -1.0], [0.0, 1.0, -1.0]),
    "sum(sqrt(x))": ([0.0, 4.0, 1.0], [math.inf, 0.25, 0.5]),
    "sum(where(x > 0, log(x), 0))": ([0.0, 1.0, -1.0], [0.0, 1.0, 0.0]),
    "sum(where(x > 0, sqrt(x), 0))": ([0.0, 4.0, -1.0], [0.0, 0.25, 0.0]),
    "sum(where(x != 0, 1 / x, 0))": ([0.0, 2.0, -1.0], [0.0, -0.25, -1.0]),
    "prod(x)": ([0.0, 2.0, 3.0], [6.0, 0.0, 0.0]),
    "prod(x) + prod(x, axis=0)": ([0.0, 0.0, 3.0], [0.0, 0.0, 0.0]),
    "sum(stop_gradient(x) * x)": ([1.0, -2.0, 3.0], [1.0, -2.0, 3.0]),
    "sum(stop_gradient(x ^ 2))": ([1.0, -2.0, 3.0], [0.0, 0.0, 0.0]),
    "sum(x + stop_gradient(round(x) - x))": ([0.3, 1.7, -2.2], [1.0, 1.0, 1.0]),  # STE
}


@pytest.mark.parametrize("mode", ["rev", "fwd"])
@pytest.mark.parametrize("text", sorted(EXACT_CASES))
def test_convention_exact(text: str, mode: str) -> None:
    x, expected = (np.array(a) for a in EXACT_CASES[text])
    np.testing.assert_array_equal(grad(text, mode=mode, x=x), expected)


WHERE_PRODUCTS = {  # text: (x, y, gradient x, gradient y, hessian blocks xx, xy)
    "sum(where(x > 0, x * log(x), 0))": ([0.0, 1.0], [2.0, 3.0], [0.0, 1.0], [0.0, 0.0],
                                         [[0.0, 0.0], [0.0, 1.0]], [[0.0, 0.0], [0.0, 0.0]]),
    "sum(where(x > 0, square(log(x)), 0))": ([0.0, 1.0], [2.0, 3.0], [0.0, 0.0], [0.0, 0.0],
                                             [[0.0, 0.0], [0.0, 2.0]], [[0.0, 0.0], [0.0, 0.0]]),
    "sum(where(x > 0, log(x) * y, 0))": ([0.0, 1.0], [2.0, 3.0], [0.0, 3.0], [0.0, 0.0],
                                         [[0.0, 0.0], [0.0, -3.0]], [[0.0, 0.0], [0.0, 1.0]]),
    "sum(where(x > 0, sqrt(x) * sqrt(x) * y, 0))": ([0.0, 1.0], [2.0, 3.0], [0.0, 3.0],
                                                    [0.0, 1.0], [[0.0, 0.0], [0.0, 0.0]],
                                                    [[0.0, 0.0], [0.0, 1.0]]),
}


@pytest.mark.parametrize("text", sorted(WHERE_PRODUCTS))
def test_where_nan_safe_products_forward(text: str) -> None:
    x, y, gx, gy, *_ = (np.array(a) for a in WHERE_PRODUCTS[text])
    at = {k: v for k, v in {"x": x, "y": y}.items() if k in program(text).inputs}
    jac = program(text).jacobian(at=at, mode="forward")["jacobian"]
    np.testing.assert_array_equal(jac["x"], gx)
    np.testing.assert_array_equal(jac.get("y", gy), gy)


@pytest.mark.parametrize("text", sorted(WHERE_PRODUCTS))
def test_where_nan_safe_products_reverse_and_hessian(text: str) -> None:
    x, y, gx, gy, hxx, hxy = (np.array(a) for a in WHERE_PRODUCTS[text])
    prog = program(text)
    at = {k: v for k, v in {"x": x, "y": y}.items() if k in prog.inputs}
    grads = prog.gradient(at=at)["gradient"]
    h = prog.hessian(at=at)["hessian"]
    assert np.array_equal(grads["x"], gx), grads
    assert np.array_equal(h["x"]["x"], hxx), h
    if "y" in at:
        assert np.array_equal(grads["y"], gy), grads
        assert np.array_equal(h["x"]["y"], hxy) and np.array_equal(h["y"]["x"], hxy.T), h


def test_where_nan_safe_hessian() -> None:
    out = program("sum(where(x > 0, log(x), 0))").hessian(at={"x": np.array([0.0, 1.0])})
    np.testing.assert_array_equal(out["hessian"]["x"]["x"], [[0.0, 0.0], [0.0, -1.0]])
    diag = program("sum(where(x > 0, log(x), 0))").hessian(
        at={"x": np.array([0.0, 1.0])}, diagonal=True)["hessian_diagonal"]["x"]
    np.testing.assert_array_equal(diag, [0.0, -1.0])


def test_prod_with_zero_hessian_exact() -> None:
    h = program("prod(x)").hessian(at={"x": np.array([0.0, 2.0, 3.0])})["hessian"]["x"]["x"]
    np.testing.assert_array_equal(h, [[0.0, 3.0, 2.0], [3.0, 0.0, 0.0], [2.0, 0.0, 0.0]])


def test_maximum_tie_splits_between_inputs() -> None:
    out = program("maximum(x, y)").gradient(at={"x": 2.0, "y": 2.0})["gradient"]
    assert (out["x"], out["y"]) == (0.5, 0.5)
    out = program("minimum(x, y)").jacobian(at={"x": 2.0, "y": 2.0}, mode="forward")
    assert (out["jacobian"]["x"], out["jacobian"]["y"]) == (0.5, 0.5)


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_perturbation_confusion(mode: str) -> None:
    text = "inner(y) = x + y\nx * grad(inner)(1)"
    assert grad(text, mode=mode, x=np.float64(3.0)) == 1.0
    assert value(text, x=np.float64(3.0)) == 3.0


# ---- random well-typed programs (the whole pipeline) ----

@HYP
@given(text=random_programs())
def test_random_programs_match_finite_differences(text: str) -> None:
    x = np.array([0.3, -0.7, 1.1])
    prog = program(text)
    g = prog.gradient(at={"x": x})["gradient"]["x"]
    assert_close(g, fd(text, "x", x=x), **TOL, what=text)
    h = prog.hessian(at={"x": x})["hessian"]["x"]["x"]
    fd_h = numeric_jacobian(lambda p: prog.gradient(at={"x": p})["gradient"]["x"], x)
    assert_close(h, fd_h, 1e-6, 1e-7, what=text)
    xs = np.stack([x, -x, 2 * x])  # batch == stack; whole plan: codegen == interpreter
    batched = prog.hessian(at={"x": xs}, batch=["x"])["hessian"]["x"]["x"]
    singles = [prog.hessian(at={"x": p})["hessian"]["x"]["x"] for p in xs]
    assert_close(batched, np.stack(singles), 1e-12, 1e-12, what=text)
    request = prog.prepare("hessian", {"x": xs}, batch=["x"])
    kernel, _ = prog.kernel(request)
    typecheck(kernel.plan)
    args = request.arguments(kernel.operation.extras)
    for got, want in zip(kernel.compiled(*args), interpret(kernel.plan, args)):
        assert_close(got, want, 1e-12, 1e-12, what=text)


@HYP
@given(text=random_programs())
def test_random_programs_large_arrays_codegen(text: str) -> None:
    """Arrays over the memory planner's reuse threshold: in-place buffer reuse in generated
    code must give the interpreter's results and leave the inputs untouched."""
    prog = program(text)
    xs = np.sin(np.arange(2 * 1500.0)).reshape(2, 1500)
    v = np.cos(np.arange(1500.0))
    for operation, options in [("gradient", {}), ("hvp", {"v": {"x": v}}),
                               ("jvp", {"v": {"x": v}})]:
        request = prog.prepare(operation, {"x": xs}, batch=["x"], **options)
        kernel, _ = prog.kernel(request)
        args = request.arguments(kernel.operation.extras)
        copies = [np.array(a, copy=True) for a in args]
        got = kernel.compiled(*args)
        for a, c in zip(args, copies):
            np.testing.assert_array_equal(a, c)
        for g, w in zip(got, interpret(kernel.plan, copies)):
            assert_close(g, w, 1e-12, 1e-12, what=f"{operation}: {text}")


def test_prod_ir_size_does_not_grow_with_length() -> None:
    prog = program("prod(x)")
    for operation in ("evaluate", "gradient"):
        kernel, _ = prog.kernel(prog.prepare(operation, {"x": np.ones(1000)}))
        assert kernel.estimate.equations < 100, kernel.estimate


FUSE_WIDE = """
import numpy as np, adcore
from adcore.codegen import compile_function
from adcore.fusion import fuse
text = "sum(" + " + ".join(f"x[{i}] * y" for i in range(70)) + ")"
x, y = np.linspace(0, 1, 70), np.linspace(-1, 1, 5000)
program = adcore.compile(text)
request = program.prepare("evaluate", {"x": x, "y": y})
kernel, _ = program.kernel(request)
try:
    fused, ufuncs = fuse(kernel.plan)
except Exception as err:  # printed by name only: repr of numba's half-built ufunc segfaults
    print("raised", type(err).__name__)
else:
    (got,) = compile_function(fused, ufuncs)(x, y)
    print("ok" if abs(got - np.sum(x) * np.sum(y)) < 1e-9 else "wrong")
"""


def test_fusion_of_a_group_with_many_leaves() -> None:
    pytest.importorskip("numba")
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", FUSE_WIDE], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr
