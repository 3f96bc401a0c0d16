"""Test helpers in the style of JAX's and autograd's `check_grads` (STYLE.md, "Test habits").

Truth here is always independent of the code under test: derivatives are checked against
central finite differences (Richardson-extrapolated) of the reference interpreter, and
reverse mode against forward mode through the identity <u, J v> == <J^T u, v>.
Nothing here imports the in-language lowering: it works on IR `Function`s and on plain
numpy callables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .interpret import interpret
from .ir import Function, Lit, Var
from .jvp import jvp
from .transpose import vjp

__all__ = [
    "assert_close",
    "check_grads",
    "check_jvp",
    "check_vjp",
    "numeric_directional",
    "numeric_gradient",
    "numeric_jacobian",
    "random_programs",
    "typecheck",
]

DEFAULT_EPS = 1e-4
DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-6


# ---- finite differences on numpy callables ----

def numeric_directional(f: Callable[[float], Any], eps: float = DEFAULT_EPS) -> Any:
    """d/dh f(h) at h = 0 for f: float -> array or tuple of arrays, by central differences
    with one Richardson step (error O(eps^4))."""

    many = False

    def central(h: float) -> list[np.ndarray]:
        nonlocal many
        plus, minus = f(h), f(-h)
        many = isinstance(plus, (list, tuple))
        return [(np.asarray(p, float) - np.asarray(m, float)) / (2 * h)
                for p, m in zip(_as_list(plus), _as_list(minus))]

    coarse, fine = central(eps), central(eps / 2)
    out = [(4 * b - a) / 3 for a, b in zip(coarse, fine)]
    return out if many else out[0]


def numeric_jacobian(f: Callable[[np.ndarray], Any], x: Any, eps: float = DEFAULT_EPS
                     ) -> np.ndarray:
    """Jacobian of a numpy callable by central differences: shape out + shape(x)."""
    x = np.asarray(x, dtype=np.float64)
    out_shape = np.shape(f(x))
    jac = np.zeros(out_shape + x.shape)
    for i in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[i] = 1.0
        col = numeric_directional(lambda h, e=e: np.asarray(f(x + h * e), float), eps)
        jac[(Ellipsis,) + i] = col
    return jac


def numeric_gradient(f: Callable[[np.ndarray], Any], x: Any, eps: float = DEFAULT_EPS
                     ) -> np.ndarray:
    """Gradient of a scalar numpy callable by central differences: shape(x)."""
    return numeric_jacobian(f, x, eps)


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


# ---- comparisons ----

def assert_close(actual: Any, expected: Any, rtol: float = DEFAULT_RTOL,
                 atol: float = DEFAULT_ATOL, what: str = "") -> None:
    """|actual - expected| <= atol + rtol * max|expected| elementwise, shapes equal; the
    relative part is scaled by the largest magnitude of the expected array (SPEC §3)."""
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    finite = np.isfinite(expected)
    assert np.array_equal(np.isfinite(actual), finite), f"{what}: {actual} vs {expected}"
    assert np.array_equal(actual[~finite], expected[~finite]), f"{what}: {actual} vs {expected}"
    if not finite.any():
        return
    scale = float(np.max(np.abs(expected[finite]), initial=0.0))
    err = float(np.max(np.abs(actual[finite] - expected[finite]), initial=0.0))
    assert err <= atol + rtol * scale, (
        f"{what}: max error {err:.3g} over tolerance {atol + rtol * scale:.3g}\n"
        f"actual={actual}\nexpected={expected}")


# ---- IR checks ----

def typecheck(fn: Function, free: Sequence[Var] = ()) -> None:
    """Every equation's output type is what its shape rule says, every Var is defined
    before use (inputs, earlier equations, or the given free vars), literals are scalars."""
    defined: set[Var] = set(fn.inputs) | set(free)
    for eqn in fn.eqns:
        for a in eqn.ins:
            if isinstance(a, Var):
                assert a in defined, f"{a!r} used before definition in {eqn!r}"
            else:
                assert isinstance(a, Lit) and np.ndim(a.value) == 0, eqn
        expected = eqn.prim.shape(tuple(a.type for a in eqn.ins), eqn.params)
        assert expected == eqn.out.type, f"{eqn!r}: shape rule says {expected}"
        assert eqn.out not in defined, f"{eqn.out!r} defined twice"
        defined.add(eqn.out)
    for a in fn.outputs:
        assert isinstance(a, Lit) or a in defined, f"output {a!r} undefined"


# ---- check_grads ----

def _random_like(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    v = rng.standard_normal(shape)
    return v / max(1.0, float(np.max(np.abs(v), initial=0.0)))


def _float_inputs(fn: Function) -> None:
    for v in fn.inputs:
        assert v.type.dtype == "float64", "check_grads needs float64 inputs"


def check_jvp(fn: Function, args: Sequence[Any], rng: np.random.Generator,
              eps: float = DEFAULT_EPS, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL
              ) -> tuple[list[np.ndarray], list[np.ndarray], Function]:
    """JVP in a random direction against central differences; returns (v, J v, jvp fn)."""
    args = [np.asarray(a, np.float64) for a in args]
    vs = [_random_like(rng, a.shape) for a in args]
    pushforward = jvp(fn)
    typecheck(pushforward)
    result = interpret(pushforward, args + vs)
    n_out = len(fn.outputs)
    for got, want in zip(result[:n_out], interpret(fn, args)):
        assert_close(got, want, 1e-12, 1e-12, "jvp primal output")
    numeric = numeric_directional(
        lambda h: interpret(fn, [a + h * v for a, v in zip(args, vs)]), eps)
    for k, (got, want) in enumerate(zip(result[n_out:], numeric)):
        assert_close(got, want, rtol, atol, f"jvp of output {k} vs finite differences")
    return vs, result[n_out:], pushforward


def check_vjp(fn: Function, args: Sequence[Any], rng: np.random.Generator,
              jv: tuple[list[np.ndarray], list[np.ndarray]] | None = None,
              eps: float = DEFAULT_EPS, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL
              ) -> tuple[list[np.ndarray], Function]:
    """<u, J v> == <J^T u, v>, J v from `jv` (a checked JVP) or finite differences."""
    args = [np.asarray(a, np.float64) for a in args]
    if jv is None:
        vs = [_random_like(rng, a.shape) for a in args]
        tangents = numeric_directional(
            lambda h: interpret(fn, [a + h * v for a, v in zip(args, vs)]), eps)
    else:
        vs, tangents = jv
    us = [_random_like(rng, a.type.shape) for a in fn.outputs]
    pullback = vjp(fn)
    typecheck(pullback)
    result = interpret(pullback, args + us)
    n_out = len(fn.outputs)
    for got, want in zip(result[:n_out], interpret(fn, args)):
        assert_close(got, want, 1e-12, 1e-12, "vjp primal output")
    cts = result[n_out:]
    for ct, a in zip(cts, args):
        assert ct.shape == a.shape, f"cotangent shape {ct.shape} != input shape {a.shape}"
    terms_jv = [np.asarray(u * t) for u, t in zip(us, tangents)]
    terms_ct = [np.asarray(c * v) for c, v in zip(cts, vs)]
    lhs = sum(float(np.sum(t)) for t in terms_jv)
    rhs = sum(float(np.sum(t)) for t in terms_ct)
    scale = max(1.0, sum(float(np.sum(np.abs(t))) for t in terms_jv + terms_ct))
    assert abs(lhs - rhs) <= atol + rtol * scale, f"<u, J v> = {lhs} but <J^T u, v> = {rhs}"
    return us, pullback


def check_grads(fn: Function, args: Sequence[Any], order: int = 2,
                modes: Sequence[str] = ("fwd", "rev"), rtol: float | None = None,
                atol: float | None = None, eps: float = DEFAULT_EPS, seed: int = 0) -> None:
    """JAX's check_grads: forward mode against finite differences in a random direction,
    reverse mode by the transpose identity, then recursively on the jvp / vjp functions up
    to `order`. Tolerances default to float64 ones (finite differences are Richardson-
    extrapolated, so 1e-6 relative to each result's largest magnitude holds)."""
    _float_inputs(fn)
    rtol = DEFAULT_RTOL if rtol is None else rtol
    atol = DEFAULT_ATOL if atol is None else atol
    rng = np.random.default_rng(seed)
    typecheck(fn)
    args = [np.asarray(a, np.float64) for a in args]
    jv = None
    if "fwd" in modes:
        vs, tangents, pushforward = check_jvp(fn, args, rng, eps, rtol, atol)
        jv = (vs, tangents)
        if order > 1:
            check_grads(pushforward, args + vs, order - 1, modes, rtol, atol, eps, seed + 1)
    if "rev" in modes:
        us, pullback = check_vjp(fn, args, rng, jv, eps, rtol, atol)
        if order > 1:
            check_grads(pullback, args + us, order - 1, modes, rtol, atol, eps, seed + 2)


# ---- random well-typed programs (hypothesis) ----

SMOOTH_UNARY = ("sin", "cos", "tanh", "arctan", "sigmoid", "softplus", "erf", "arcsinh",
                "square")
SMOOTH_BINARY = ("+", "-", "*")


def random_programs(min_steps: int = 3, max_steps: int = 10) -> Any:
    """A hypothesis strategy of program texts over one input `x` (a vector of length >= 2),
    scalar result, smooth everywhere: a chain of `min_steps`..`max_steps` operations, each
    a smooth unary function of an earlier value or a binary operation on two of them, with
    definitions (`f(y) = ...`) and constant bindings, for property tests of the pipeline."""
    from hypothesis import strategies as st

    leaves = ["x", "x[0]", "sum(x[1:])", "x[::-1]", "0.5", "x.T", "mean(x)"]

    @st.composite
    def programs(draw: Any) -> str:
        values = list(leaves)
        for _ in range(draw(st.integers(min_steps, max_steps))):
            a = draw(st.sampled_from(values))
            if draw(st.booleans()):
                values.append(f"{draw(st.sampled_from(SMOOTH_UNARY))}({a})")
            else:
                op = draw(st.sampled_from(SMOOTH_BINARY))
                values.append(f"({a} {op} {draw(st.sampled_from(values))})")
        body = values[-1] if "x" in values[-1] else f"({values[-1]} * x[0])"
        if draw(st.booleans()):  # through a definition and a constant binding
            return f"f(x) = {body}\nc = f(x)\nsum(c * c)"
        return f"sum({body})"

    return programs()
