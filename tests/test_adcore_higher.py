"""Hessians, HVPs, Laplacians and derivatives of derivatives (issue 3), against closed forms
derived by hand and central differences of numpy closed forms, never our own results.

The workhorse is F(y) = sum(sin(3 y)) + sum(y)^4, with s = sum(y), n = len(y):
  grad F = 3 cos(3y) + 4 s^3,      H = diag(-9 sin(3y)) + 12 s^2 11^T,
  d/dy_k H_ij = -27 cos(3y_k) [i=j=k] + 24 s,   and sum(H) = -9 sum(sin(3y)) + 12 s^2 n^2.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import adcore
from adcore.testing import assert_close, numeric_jacobian

RNG = np.random.default_rng(7)
TOL = dict(rtol=1e-7, atol=1e-8)
CLOSE = dict(rtol=1e-12, atol=1e-12)
F = "F(y) = sum(sin(3 * y)) + sum(y) ^ 4"
X = RNG.uniform(-0.6, 0.6, 4)


@functools.lru_cache(maxsize=None)
def program(text: str) -> adcore.Program:
    return adcore.compile(text)


def grad_F(y: np.ndarray) -> np.ndarray:
    return 3 * np.cos(3 * y) + 4 * np.sum(y) ** 3


def hess_F(y: np.ndarray) -> np.ndarray:
    n = len(y)
    return np.diag(-9 * np.sin(3 * y)) + 12 * np.sum(y) ** 2 * np.ones((n, n))


def third_F(y: np.ndarray) -> np.ndarray:
    """T[i, j, k] = d^3 F / dy_i dy_j dy_k."""
    n = len(y)
    t = np.full((n, n, n), 24 * np.sum(y))
    t[np.arange(n), np.arange(n), np.arange(n)] += -27 * np.cos(3 * y)
    return t


def test_closed_forms_are_right() -> None:
    """The hand-derived closed forms themselves, against central differences."""
    f = lambda y: np.sum(np.sin(3 * y)) + np.sum(y) ** 4  # noqa: E731
    assert_close(grad_F(X), numeric_jacobian(f, X), **TOL)
    assert_close(hess_F(X), numeric_jacobian(grad_F, X), **TOL)
    assert_close(third_F(X), numeric_jacobian(hess_F, X), **TOL)


# ---- the operations of SPEC §3 on a multi-input program ----

MULTI = "sum(tanh(m @ x) * y) + sum(x ^ 2) * sum(y)"
AT = dict(m=RNG.uniform(-1, 1, (2, 3)), x=RNG.uniform(-1, 1, 3), y=RNG.uniform(-1, 1, 2))


def multi_grads(m: np.ndarray, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Closed-form gradient of MULTI."""
    t = np.tanh(m @ x)
    d = (1 - t * t) * y
    return {"m": np.outer(d, x), "x": m.T @ d + 2 * x * np.sum(y),
            "y": t + np.sum(x * x)}


def test_hessian_blocks_against_finite_differences_of_gradient() -> None:
    out = program(MULTI).hessian(at=AT)["hessian"]
    for xi in AT:
        grad_i = lambda **at: multi_grads(**at)[xi]  # noqa: E731
        for xj in AT:
            expected = numeric_jacobian(lambda a: grad_i(**{**AT, xj: a}), AT[xj])
            assert out[xi][xj].shape == AT[xi].shape + AT[xj].shape
            assert_close(out[xi][xj], expected, **TOL, what=f"H[{xi}][{xj}]")


def _swap(block: np.ndarray, ni: int) -> np.ndarray:
    """A block of shape Ia + Ib (ni = len(Ia)) -> Ib + Ia."""
    nj = block.ndim - ni
    return np.transpose(block, tuple(range(ni, ni + nj)) + tuple(range(ni)))


@pytest.mark.parametrize("text", [MULTI, "dot(x, x) + 0 * sum(m) * sum(y)",
                                  "logsumexp(m @ x + y) * norm(x)"])
def test_hessian_symmetry(text: str) -> None:
    out = program(text).hessian(at=AT)["hessian"]
    for xi in AT:
        for xj in AT:
            assert_close(out[xi][xj], _swap(out[xj][xi], AT[xj].ndim), **CLOSE)
    if text.startswith("dot"):
        np.testing.assert_array_equal(out["x"]["x"], 2 * np.eye(3))


def test_hvp_is_hessian_times_v() -> None:
    v = {k: RNG.standard_normal(a.shape) for k, a in AT.items()}
    prog = program(MULTI)
    h = prog.hessian(at=AT)["hessian"]
    out = prog.hvp(at=AT, v=v)
    for xi in AT:
        expected = sum(np.tensordot(h[xi][xj], v[xj], axes=v[xj].ndim) for xj in AT)
        assert_close(out["hvp"][xi], expected, **CLOSE, what=xi)
    sub = prog.hvp(at=AT, v={"x": v["x"]}, wrt=["x"])
    assert set(sub["hvp"]) == {"x"}
    assert_close(sub["hvp"]["x"], h["x"]["x"] @ v["x"], **CLOSE)


@pytest.mark.parametrize("text", [MULTI, "tanh(m @ x) * y"])
def test_diagonal_and_laplacian_match_full_hessian(text: str) -> None:
    prog = program(text)
    full = prog.hessian(at=AT)["hessian"]
    diag = prog.hessian(at=AT, diagonal=True)["hessian_diagonal"]
    lap = prog.laplacian(at=AT)["laplacian"]
    total = 0.0
    for name, a in AT.items():
        flat = full[name][name].reshape(full[name][name].shape[:-2 * a.ndim] + (a.size, a.size))
        d = np.diagonal(flat, axis1=-2, axis2=-1).reshape(flat.shape[:-2] + a.shape)
        assert_close(diag[name], d, **CLOSE, what=name)
        total = total + np.sum(d, axis=tuple(range(d.ndim - a.ndim, d.ndim)))
    assert_close(lap, total, **CLOSE)


# ---- vector outputs and batches: tanh(M @ x) ----

def jac_tanh(m: np.ndarray, x: np.ndarray) -> np.ndarray:
    return (1 - np.tanh(m @ x) ** 2)[:, None] * m


def test_vector_output_hessian_shape_and_values() -> None:
    m, x = AT["m"], AT["x"]
    out = program("tanh(m @ x)").hessian(at={"m": m, "x": x}, wrt=["x"])["hessian"]
    assert list(out) == ["x"] and out["x"]["x"].shape == (2, 3, 3)
    assert_close(out["x"]["x"], numeric_jacobian(lambda p: jac_tanh(m, p), x), **TOL)
    t = np.tanh(m @ x)  # closed form: -2 t (1 - t^2) m_i m_i^T
    exact = (-2 * t * (1 - t * t))[:, None, None] * m[:, :, None] * m[:, None, :]
    assert_close(out["x"]["x"], exact, **CLOSE)


def test_batched_second_order_equal_stacked_single_points() -> None:
    m, xs = AT["m"], RNG.uniform(-1, 1, (5, 3))
    prog = program("tanh(m @ x)")
    at = {"m": m, "x": xs}
    hess = prog.hessian(at=at, batch=["x"], wrt=["x"])["hessian"]["x"]["x"]
    diag = prog.hessian(at=at, batch=["x"], wrt=["x"], diagonal=True)["hessian_diagonal"]["x"]
    lap = prog.laplacian(at=at, batch=["x"], wrt=["x"])["laplacian"]
    assert hess.shape == (5, 2, 3, 3) and diag.shape == (5, 2, 3) and lap.shape == (5, 2)
    for i in range(5):
        t = np.tanh(m @ xs[i])
        exact = (-2 * t * (1 - t * t))[:, None, None] * m[:, :, None] * m[:, None, :]
        assert_close(hess[i], exact, **CLOSE)
        assert_close(diag[i], np.diagonal(exact, axis1=1, axis2=2), **CLOSE)
        assert_close(lap[i], np.trace(exact, axis1=1, axis2=2), **CLOSE)
    scalar = program(f"{F}\nF(x) * w")
    ws, vs, v = RNG.uniform(1, 2, 5), RNG.standard_normal((5, 4)), RNG.standard_normal(4)
    xb = RNG.uniform(-0.6, 0.6, (5, 4))
    for direction in (vs, v):
        out = scalar.hvp(at={"x": xb, "w": ws}, batch=["x", "w"], v={"x": direction},
                         wrt=["x"])["hvp"]["x"]
        for i in range(5):
            vi = direction[i] if direction.ndim == 2 else direction
            assert_close(out[i], ws[i] * hess_F(xb[i]) @ vi, **CLOSE)


# ---- derivatives inside the language ----

def test_gradient_wrt_weights_of_a_loss_of_per_input_hessians() -> None:
    """The forum's Enzyme case: g(v) = sum(tanh(M v)) has H(x) = M^T diag(-2t(1-t^2)) M;
    the gradient with respect to the shared M of sum(H(x)^2), one per batched x."""
    m, xs = AT["m"], RNG.uniform(-1, 1, (3, 3))

    def loss(mm: np.ndarray, x: np.ndarray) -> float:
        t = np.tanh(mm @ x)
        return float(np.sum((mm.T @ np.diag(-2 * t * (1 - t * t)) @ mm) ** 2))

    prog = program("g(v) = sum(tanh(M @ v))\nsum(hessian(g)(x) ^ 2)")
    out = prog.gradient(at={"M": m, "x": xs}, batch=["x"], wrt=["M"])
    for i in range(3):
        assert_close(out["value"][i], loss(m, xs[i]), **CLOSE)
        expected = numeric_jacobian(lambda mm: loss(mm, xs[i]), m)
        assert_close(out["gradient"]["M"][i], expected, **TOL)


def test_in_language_hessian_equals_operation() -> None:
    inner = program(f"{F}\nhessian(F)(x)").evaluate(at={"x": X})["value"]
    outer = program(f"{F}\nF(x)").hessian(at={"x": X})["hessian"]["x"]["x"]
    assert_close(inner, outer, **CLOSE)
    assert_close(inner, hess_F(X), **CLOSE)


@pytest.mark.parametrize("kind", ["jacobian", "jacfwd", "jacrev"])
def test_in_language_jacobian_and_grad_k(kind: str) -> None:
    m, x = AT["m"], AT["x"]
    text = f"g(a, b) = tanh(a @ b)\n{kind}(g, 1)(m, x)"
    assert_close(program(text).evaluate(at={"m": m, "x": x})["value"], jac_tanh(m, x), **CLOSE)
    g1 = program("F2(a, b) = sum(tanh(a @ b))\ngrad(F2, 1)(m, x)").evaluate(
        at={"m": m, "x": x})["value"]
    assert_close(g1, m.T @ (1 - np.tanh(m @ x) ** 2), **CLOSE)


def test_in_language_jvp_and_hvp() -> None:
    v = RNG.standard_normal(4)
    prog = program(f"{F}\n[jvp(F, x, v), sum(hvp(F, x, v) * v)]")
    val = prog.evaluate(at={"x": X, "v": v})["value"]
    assert_close(val, [grad_F(X) @ v, v @ hess_F(X) @ v], **CLOSE)
    hv = program(f"{F}\nhvp(F, x, v)").evaluate(at={"x": X, "v": v})["value"]
    assert_close(hv, hess_F(X) @ v, **CLOSE)
    sq = program("sq(y) = y * sin(y)\njvp(sq, x, v)").evaluate(at={"x": X, "v": v})["value"]
    assert_close(sq, (np.sin(X) + X * np.cos(X)) * v, **CLOSE)


def test_jvp_of_hessian_is_third_derivative() -> None:
    v = RNG.standard_normal(4)
    out = program(f"{F}\njvp(hessian(F), x, v)").evaluate(at={"x": X, "v": v})["value"]
    assert_close(out, np.tensordot(third_F(X), v, axes=1), **CLOSE)


def test_third_derivative_gradient_of_hessian() -> None:
    w = RNG.standard_normal((4, 4))
    text = f"{F}\nsum(hessian(F)(x) * w)"
    g = program(text).gradient(at={"x": X, "w": w}, wrt=["x"])["gradient"]["x"]
    assert_close(g, np.einsum("ij,ijk->k", w, third_F(X)), **CLOSE)
    assert_close(g, numeric_jacobian(lambda p: np.sum(hess_F(p) * w), X), **TOL)


def test_third_derivative_hessian_of_grad() -> None:
    w = RNG.standard_normal(4)
    text = f"{F}\nsum(grad(F)(x) * w)"
    h = program(text).hessian(at={"x": X, "w": w}, wrt=["x"])["hessian"]["x"]["x"]
    assert_close(h, np.einsum("i,ijk->jk", w, third_F(X)), **CLOSE)
    assert_close(h, numeric_jacobian(lambda p: hess_F(p).T @ w, X), **TOL)


def test_fourth_derivative_hessian_of_hessian() -> None:
    h = program(f"{F}\nsum(hessian(F)(x))").hessian(at={"x": X})["hessian"]["x"]["x"]
    n = len(X)
    assert_close(h, np.diag(81 * np.sin(3 * X)) + 24 * n * n * np.ones((n, n)), **CLOSE)
    assert_close(h, numeric_jacobian(lambda p: np.sum(third_F(p), axis=(0, 1)), X), **TOL)


NESTED = "f(y) = 1 / norm(y)\ng(v) = sum(v)^3\ng(grad(f)(x))"


def nested_h(x: np.ndarray) -> float:
    return float((-np.sum(x) / np.linalg.norm(x) ** 3) ** 3)


def test_nested_gradient_of_function_of_gradient() -> None:
    x = np.array([0.5, -1.2, 0.9, 2.0])
    prog = program(NESTED)
    assert_close(prog.evaluate(at={"x": x})["value"], nested_h(x), **CLOSE)
    expected = numeric_jacobian(nested_h, x)
    assert_close(prog.gradient(at={"x": x})["gradient"]["x"], expected, **TOL)
    assert_close(prog.jacobian(at={"x": x}, mode="forward")["jacobian"]["x"], expected, **TOL)
    xb = np.stack([x, 2 * x, -x])
    batched = prog.gradient(at={"x": xb}, batch=["x"])["gradient"]["x"]
    for i in range(3):
        assert_close(batched[i], numeric_jacobian(nested_h, xb[i]), **TOL)


MAML = "loss(p) = mean((X @ p - y)^2); meta(p) = loss(p - 0.01 * grad(loss)(p)); meta(p)"


def test_maml_meta_gradient_closed_form() -> None:
    """loss(p) = |X p - y|^2 / m is quadratic: the SGD step is affine, p' = A p + b with
    A = I - (2a/m) X^T X, so grad meta = A (2/m) X^T (X p' - y), Hessian A (2/m) X^T X A."""
    m_rows, a = 8, 0.01
    xm, y = RNG.standard_normal((m_rows, 3)), RNG.standard_normal(m_rows)
    p = RNG.standard_normal(3)
    A = np.eye(3) - 2 * a / m_rows * xm.T @ xm
    p1 = A @ p + 2 * a / m_rows * xm.T @ y
    prog = program(MAML)
    assert prog.inputs == ("X", "y", "p")
    at = {"X": xm, "y": y, "p": p}
    out = prog.gradient(at=at)
    assert_close(out["value"], np.mean((xm @ p1 - y) ** 2), **CLOSE)
    assert_close(out["gradient"]["p"], A @ (2 / m_rows * xm.T @ (xm @ p1 - y)), **CLOSE)
    meta = lambda **kw: np.mean(  # noqa: E731
        (kw["X"] @ (kw["p"] - a * 2 / m_rows * kw["X"].T @ (kw["X"] @ kw["p"] - kw["y"]))
         - kw["y"]) ** 2)
    for name in ("X", "y"):
        fd = numeric_jacobian(lambda v: meta(**{**at, name: v}), at[name])
        assert_close(out["gradient"][name], fd, **TOL, what=name)
    h = prog.hessian(at=at, wrt=["p"])["hessian"]["p"]["p"]
    assert_close(h, A @ (2 / m_rows * xm.T @ xm) @ A, **CLOSE)


def test_perturbation_confusion_nested_closure() -> None:
    """d/dx [x * d/dy (x + y)] = 1; and d/dx [d/dy (x * y)] = 1 (not 2, not 0)."""
    for text in ["inner(y) = x + y\nx * grad(inner)(1)", "k(y) = x * y\ngrad(k)(x)"]:
        prog = program(text)
        assert prog.gradient(at={"x": 3.0})["gradient"]["x"] == 1.0
        assert prog.hessian(at={"x": 3.0})["hessian"]["x"]["x"] == 0.0


def test_stop_gradient_td0() -> None:
    """TD(0): loss = (r + g * V(s') - V(s))^2 / 2 with V(s) = theta . s; the semi-gradient
    stops the target: -(target - V(s)) s, versus the full residual gradient."""
    theta, s0, s1, r = RNG.standard_normal(4), RNG.standard_normal(4), RNG.standard_normal(4), 0.7
    at = dict(theta=theta, s_tm1=s0, r_t=r, s_t=s1)
    delta = r + 0.9 * theta @ s1 - theta @ s0
    semi = "0.5 * (stop_gradient(r_t + 0.9 * dot(theta, s_t)) - dot(theta, s_tm1))^2"
    full = "0.5 * (r_t + 0.9 * dot(theta, s_t) - dot(theta, s_tm1))^2"
    g = program(semi).gradient(at=at, wrt=["theta"])["gradient"]["theta"]
    assert_close(g, -delta * s0, **CLOSE)
    g = program(full).gradient(at=at, wrt=["theta"])["gradient"]["theta"]
    assert_close(g, delta * (0.9 * s1 - s0), **CLOSE)


@pytest.mark.parametrize("k", [1, 2, 4, 6])
def test_kth_nested_grad_closed_form(k: int) -> None:
    """d^k/dy^k [sin(y) e^y] = 2^(k/2) e^y sin(y + k pi / 4); the IR stays small."""
    lines = ["f0(y) = sin(y) * exp(y)"] + [f"f{i}(y) = grad(f{i - 1})(y)" for i in range(1, k + 1)]
    prog = program("\n".join(lines + [f"f{k}(x)"]))
    x = np.array([-0.4, 0.3, 1.1])
    out = prog.evaluate(at={"x": x}, batch=["x"])["value"]
    closed = lambda j, y: 2 ** (j / 2) * np.exp(y) * np.sin(y + j * np.pi / 4)  # noqa: E731
    assert_close(out, closed(k, x), **CLOSE)
    g = prog.gradient(at={"x": x}, batch=["x"])["gradient"]["x"]
    assert_close(g, closed(k + 1, x), **CLOSE)
    h = prog.hessian(at={"x": x}, batch=["x"])["hessian"]["x"]["x"]
    assert_close(h, closed(k + 2, x), **CLOSE)
    kernel, _ = prog.kernel(prog.prepare("hessian", {"x": x[0]}))
    assert kernel.estimate.equations < 40 * 2 ** k


def test_plans_are_vectorized_not_unrolled() -> None:
    """The batched Hessian plan is straight-line code whose size depends neither on the
    batch size nor on the number of basis directions."""
    prog = program("sum(tanh(m @ x))")
    sizes = set()
    for batch in (2, 50):
        for n in (3, 30):
            at = {"m": np.ones((2, n)), "x": np.ones((batch, n))}
            kernel, _ = prog.kernel(prog.prepare("hessian", at, batch=["x"]))
            assert "for " not in kernel.source and "while " not in kernel.source
            sizes.add(kernel.estimate.equations)
    assert len(sizes) == 1


def test_hessian_diagonal_never_builds_the_full_matrix() -> None:
    """n = 5,000 with a 10^6-element budget: the full Hessian (2.5e7) is refused, the
    diagonal and the Laplacian are computed in chunks of directions."""
    limits = adcore.Limits(max_array_elements=10**6)
    prog = adcore.compile("sum(sin(x)) * 2", limits)
    x = np.linspace(-1, 1, 5000)
    out = prog.hessian(at={"x": x}, diagonal=True)["hessian_diagonal"]["x"]
    assert_close(out, -2 * np.sin(x), **CLOSE)
    assert_close(prog.laplacian(at={"x": x})["laplacian"], -2 * np.sum(np.sin(x)), **CLOSE)
    with pytest.raises(adcore.ProgramError) as info:
        prog.hessian(at={"x": x})
    assert info.value.kind == "limit" and info.value.limit == "max_array_elements"


def test_where_nan_safe_in_every_operation() -> None:
    """SPEC §2.4: sum(where(x > 0, log(x), 0)) at [0, 1], exactly, in every operation."""
    prog = program("sum(where(x > 0, log(x), 0))")
    x, v, xs = np.array([0.0, 1.0]), np.array([1.0, 1.0]), np.array([[0.0, 1.0], [2.0, 0.0]])
    exact = np.testing.assert_array_equal
    exact(prog.gradient(at={"x": x})["gradient"]["x"], [0.0, 1.0])
    for mode in ("forward", "reverse"):
        exact(prog.jacobian(at={"x": x}, mode=mode)["jacobian"]["x"], [0.0, 1.0])
    exact(prog.vjp(at={"x": x}, u=1.0)["vjp"]["x"], [0.0, 1.0])
    assert prog.jvp(at={"x": x}, v={"x": v})["jvp"] == 1.0
    exact(prog.hvp(at={"x": x}, v={"x": v})["hvp"]["x"], [0.0, -1.0])
    exact(prog.hessian(at={"x": x}, diagonal=True)["hessian_diagonal"]["x"], [0.0, -1.0])
    assert prog.laplacian(at={"x": x})["laplacian"] == -1.0
    exact(prog.gradient(at={"x": xs}, batch=["x"])["gradient"]["x"], [[0.0, 1.0], [0.5, 0.0]])
    exact(prog.hessian(at={"x": xs}, batch=["x"])["hessian"]["x"]["x"],
          [[[0.0, 0.0], [0.0, -1.0]], [[-0.25, 0.0], [0.0, 0.0]]])
    inner = program("f(y) = sum(where(y > 0, log(y), 0))\nsum(grad(f)(x) * hvp(f, x, x))")
    exact(inner.gradient(at={"x": x})["gradient"]["x"], [0.0, 2.0])  # -sum(1/x^2)
