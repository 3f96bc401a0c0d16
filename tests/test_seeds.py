"""The computations of the three seed documents (/work/shared/seeds/, issue 3), against
independent truth: closed forms derived by hand (each written next to its test), numpy, and
central finite differences of `evaluate`. Our own derivative code is never the expectation.

Seeds: nested-ad-forward-over-reverse.txt (nested h = g(grad f)), jax-higher-order-derivatives.md
(Hessian of dot, hvp by grad-of-grad, TD(0) and stop_gradient, per-example gradients, the
straight-through estimator, Jacobians and Hessians of a logistic predictor, MAML), and
batched-gradients-hessians.txt (per-point Jacobians and Hessians of tanh(M x), the gradient in
M of a loss built from them). The runnable versions live in examples/.
"""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import adcore

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


# ---- independent truth: finite differences and comparisons ----

def fd(fun, x, h=1e-3):
    """d fun / dx by the 4-point central stencil (error O(h^4)) per element of x:
    shape fun(x).shape + x.shape. `fun` maps a numpy array to a numpy array or float."""
    x = np.asarray(x, dtype=float)
    out = np.asarray(fun(x), dtype=float)
    jac = np.zeros(out.shape + x.shape)
    for i in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[i] = h
        f2, f1, m1, m2 = (np.asarray(fun(x + k * e), dtype=float) for k in (2, 1, -1, -2))
        jac[(Ellipsis,) + i] = (-f2 + 8 * f1 - 8 * m1 + m2) / (12 * h)
    return jac


def close(actual, expected, rtol=1e-12):
    """Equal shapes and |actual - expected| <= rtol * max(1, max|expected|)."""
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=0, atol=rtol * scale)


def value_of(program, at, name, **options):
    """x -> evaluate(program) with input `name` replaced by x: for finite differences."""
    def fun(x):
        return program.evaluate(at={**at, name: x}, **options)["value"]
    return fun


# ---- seed 1: nested-ad-forward-over-reverse.txt, h(x) = g(grad f(x)) ----

NESTED = "f(y) = 1 / norm(y)\ng(v) = sum(v)^3\ng(grad(f)(x))"


def nested_closed_form(x):
    """grad f = -x/r^3, so h = (sum(-x)/r^3)^3 = -S^3 r^-9 with S = sum(x), r = |x|, and
    grad h = -3 S^2 r^-9 1 + 9 S^3 r^-11 x."""
    s, r = x.sum(), np.linalg.norm(x)
    return -s**3 * r**-9, -3 * s**2 * r**-9 * np.ones_like(x) + 9 * s**3 * r**-11 * x


@pytest.fixture(scope="module")
def nested():
    return adcore.compile(NESTED)


@pytest.fixture
def x5():
    return np.random.default_rng(0).normal(size=5)


def test_grad_f_is_minus_x_over_norm_cubed(x5):
    grad_f = adcore.compile("f(y) = 1 / norm(y)\ngrad(f)(x)").evaluate(at={"x": x5})["value"]
    close(grad_f, -x5 / np.linalg.norm(x5) ** 3)
    op = adcore.compile("1 / norm(x)").gradient(at={"x": x5})["gradient"]["x"]
    close(op, -x5 / np.linalg.norm(x5) ** 3)


def test_nested_value_and_gradient_closed_form(nested, x5):
    out = nested.gradient(at={"x": x5})
    value, gradient = nested_closed_form(x5)
    close(out["value"], value)
    close(out["gradient"]["x"], gradient)


def test_nested_gradient_vs_finite_differences(nested, x5):
    out = nested.gradient(at={"x": x5})["gradient"]["x"]
    close(out, fd(value_of(nested, {}, "x"), x5, h=1e-4), rtol=1e-7)


def test_nested_directional_derivative_as_in_the_seed(nested, x5):
    """The thread's check: grad h(x) . dx against h(x + dx) - h(x) for dx ~ 1e-8."""
    dx = np.random.default_rng(1).normal(size=5) * 1e-8
    out = nested.gradient(at={"x": x5})
    difference = nested.evaluate(at={"x": x5 + dx})["value"] - out["value"]
    assert out["gradient"]["x"] @ dx == pytest.approx(difference, rel=1e-5)


def test_nested_batched_equals_closed_form_per_point(nested):
    points = np.random.default_rng(2).normal(size=(6, 5))
    out = nested.gradient(at={"x": points}, batch=["x"])
    for i, x in enumerate(points):
        value, gradient = nested_closed_form(x)
        close(out["value"][i], value)
        close(out["gradient"]["x"][i], gradient)


def nested_hessian_closed_form(x):
    """Differentiating grad h = -3 S^2 r^-9 1 + 9 S^3 r^-11 x once more:
    H = -6 S r^-9 11^T + 27 S^2 r^-11 (1 x^T + x 1^T) + 9 S^3 r^-11 I - 99 S^3 r^-13 x x^T."""
    s, r, one = x.sum(), np.linalg.norm(x), np.ones_like(x)
    return (-6 * s * r**-9 * np.outer(one, one)
            + 27 * s**2 * r**-11 * (np.outer(one, x) + np.outer(x, one))
            + 9 * s**3 * r**-11 * np.eye(x.size) - 99 * s**3 * r**-13 * np.outer(x, x))


def test_nested_hessian_and_batched_hvp_closed_form(nested):
    points = np.random.default_rng(8).normal(size=(4, 5))
    vs = np.random.default_rng(9).normal(size=(4, 5))
    expected = np.stack([nested_hessian_closed_form(x) for x in points])
    for i, x in enumerate(points):
        close(nested.hessian(at={"x": x})["hessian"]["x"]["x"], expected[i], rtol=1e-11)
    hvp = nested.hvp(at={"x": points}, batch=["x"], v={"x": vs})["hvp"]["x"]
    close(hvp, np.einsum("bij,bj->bi", expected, vs), rtol=1e-11)


def test_nested_batched_hessian(nested):
    points = np.random.default_rng(8).normal(size=(4, 5))
    out = nested.hessian(at={"x": points}, batch=["x"])["hessian"]["x"]["x"]
    close(out, np.stack([nested_hessian_closed_form(x) for x in points]), rtol=1e-11)


def test_batched_where_with_lower_rank_mask():
    out = adcore.compile("where(x > 0, y, 0)").evaluate(
        at={"x": np.array([1.0, -1.0]), "y": np.ones(3)}, batch=["x"])
    np.testing.assert_array_equal(out["value"], [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])


def test_third_derivative_through_in_language_hessian(x5):
    """trace of the Hessian of 1/r in R^5 is the Laplacian -(n-3) r^-3 = -2 r^-3; its
    gradient is 6 r^-5 x."""
    third = adcore.compile("f(y) = 1 / norm(y)\ntrace(hessian(f)(x))")
    out = third.gradient(at={"x": x5})
    r = np.linalg.norm(x5)
    close(out["value"], -2 * r**-3, rtol=1e-11)
    close(out["gradient"]["x"], 6 * r**-5 * x5, rtol=1e-11)


# ---- seed 2: jax-higher-order-derivatives.md, Hessians and grad-of-grad ----

def test_cubic_derivatives_in_language():
    """f = x^3 + 2x^2 - 3x + 1: f' = 3x^2 + 4x - 3, f'' = 6x + 4, f''' = 6."""
    cubic = adcore.compile("f(y) = y^3 + 2*y^2 - 3*y + 1\n"
                           "[grad(f)(x), grad(grad(f))(x), grad(grad(grad(f)))(x)]")
    xs = np.array([-1.5, 0.0, 1.0, 2.25])
    got = cubic.evaluate(at={"x": xs}, batch=["x"])["value"]
    close(got, np.stack([3 * xs**2 + 4 * xs - 3, 6 * xs + 4, 6 + 0 * xs], axis=1))


def test_hessian_of_dot_is_2I():
    x = np.array([1.0, 2.0, 3.0])
    out = adcore.compile("dot(x, x)").hessian(at={"x": x})
    assert out["value"] == 14.0
    np.testing.assert_array_equal(out["hessian"]["x"]["x"], 2 * np.eye(3))


@pytest.mark.parametrize("expr", ["jacfwd(grad(f))(x)", "jacrev(grad(f))(x)",
                                  "jacobian(grad(f))(x)", "hessian(f)(x)"])
def test_hessian_of_dot_in_language(expr):
    program = adcore.compile("f(y) = dot(y, y)\n" + expr)
    got = program.evaluate(at={"x": np.array([1.0, 2.0, 3.0])})["value"]
    np.testing.assert_array_equal(got, 2 * np.eye(3))


def test_hvp_by_grad_of_grad_closes_over_v():
    """f = S q with S = sum(sin y), q = y . y: grad f = q cos(y) + 2 S y and
    H = q diag(-sin y) + 2 (y cos^T + cos y^T) + 2 S I."""
    rng = np.random.default_rng(3)
    x, v = rng.normal(size=4), rng.normal(size=4)
    s, q, c = np.sin(x).sum(), x @ x, np.cos(x)
    hess = q * np.diag(-np.sin(x)) + 2 * (np.outer(x, c) + np.outer(c, x)) + 2 * s * np.eye(4)
    body = "f(y) = sum(sin(y)) * dot(y, y)\n"
    grad_of_grad = adcore.compile(body + "g(y) = dot(grad(f)(y), v)\ngrad(g)(x)")
    close(grad_of_grad.evaluate(at={"x": x, "v": v})["value"], hess @ v)
    close(adcore.compile(body + "hvp(f, x, v)").evaluate(at={"x": x, "v": v})["value"], hess @ v)
    program = adcore.compile("sum(sin(x)) * dot(x, x)")
    close(program.hvp(at={"x": x}, v={"x": v})["hvp"]["x"], hess @ v)
    close(program.hessian(at={"x": x})["hessian"]["x"]["x"], hess)


# ---- seed 3: TD(0), stop_gradient and per-example gradients ----

TD_NAIVE = ("value(th, s) = dot(th, s)\n"
            "td_loss(th) = -0.5 * ((r_t + value(th, s_t) - value(th, s_tm1))^2)\n")
TD_STOP = ("value(th, s) = dot(th, s)\n"
           "td_loss(th) = -0.5 * ((stop_gradient(r_t + value(th, s_t)) - value(th, s_tm1))^2)\n")
TD_AT = {"theta": np.array([0.1, -0.1, 0.0]), "s_tm1": np.array([1.0, 2.0, -1.0]),
         "r_t": np.array(1.0), "s_t": np.array([2.0, 1.0, 0.0])}
TD_DATA = ["s_tm1", "r_t", "s_t"]


def td_closed_form(theta, s_tm1, r_t, s_t):
    """delta = r + theta.s_t - theta.s_tm1 (per row). L = -delta^2/2, so the naive gradient is
    -delta (s_t - s_tm1); with the target held fixed it is delta s_tm1 (the TD(0) update)."""
    delta = r_t + s_t @ theta - s_tm1 @ theta
    d = np.asarray(delta)[..., None]
    return -0.5 * delta**2, -d * (s_t - s_tm1), d * s_tm1


def test_td_values_of_the_document():
    """At the document's transition delta = 1 + 0.1 - (-0.1) = 1.2."""
    naive = adcore.compile(TD_NAIVE + "td_loss(theta)").gradient(at=TD_AT, wrt=["theta"])
    stop = adcore.compile(TD_STOP + "td_loss(theta)").gradient(at=TD_AT, wrt=["theta"])
    close(naive["value"], -0.72)
    close(stop["value"], -0.72)
    close(naive["gradient"]["theta"], [-1.2, 1.2, -1.2])
    close(stop["gradient"]["theta"], [1.2, 2.4, -1.2])
    assert set(stop["gradient"]) == {"theta"}


def test_td_update_in_language_and_original_expression():
    update = adcore.compile(TD_STOP + "grad(td_loss)(theta)").evaluate(at=TD_AT)["value"]
    close(update, [1.2, 2.4, -1.2])
    original = adcore.compile(
        "value(th, s) = dot(th, s)\n"
        "(r_t + value(theta, s_t) - value(theta, s_tm1)) * grad(value)(theta, s_tm1)")
    close(original.evaluate(at=TD_AT)["value"], [1.2, 2.4, -1.2])


def test_td_stop_gradient_at_second_order():
    """With the target fixed L = -(c - theta.s_tm1)^2/2, so H = -s_tm1 s_tm1^T; naively
    H = -(s_t - s_tm1)(s_t - s_tm1)^T."""
    s, d = TD_AT["s_tm1"], TD_AT["s_t"] - TD_AT["s_tm1"]
    stop = adcore.compile(TD_STOP + "td_loss(theta)").hessian(at=TD_AT, wrt=["theta"])
    naive = adcore.compile(TD_NAIVE + "td_loss(theta)").hessian(at=TD_AT, wrt=["theta"])
    close(stop["hessian"]["theta"]["theta"], -np.outer(s, s))
    close(naive["hessian"]["theta"]["theta"], -np.outer(d, d))


def test_td_per_example_gradients_stacked_twice():
    batched = {k: (np.stack([a, a]) if k in TD_DATA else a) for k, a in TD_AT.items()}
    out = adcore.compile(TD_STOP + "td_loss(theta)").gradient(
        at=batched, wrt=["theta"], batch=TD_DATA)
    close(out["gradient"]["theta"], [[1.2, 2.4, -1.2], [1.2, 2.4, -1.2]])
    close(out["value"], [-0.72, -0.72])


def test_td_per_example_with_batched_theta_too():
    """The document's `almost_perex_grads`: theta stacked as well."""
    batched = {k: np.stack([a, a]) for k, a in TD_AT.items()}
    out = adcore.compile(TD_STOP + "td_loss(theta)").gradient(
        at=batched, wrt=["theta"], batch=list(TD_AT))
    close(out["gradient"]["theta"], [[1.2, 2.4, -1.2], [1.2, 2.4, -1.2]])


@pytest.mark.parametrize("stopped", [False, True])
def test_td_per_example_gradients_random_batch(stopped):
    rng = np.random.default_rng(4)
    n = 1000
    at = {"theta": rng.normal(size=3), "s_tm1": rng.normal(size=(n, 3)),
          "r_t": rng.normal(size=n), "s_t": rng.normal(size=(n, 3))}
    program = adcore.compile((TD_STOP if stopped else TD_NAIVE) + "td_loss(theta)")
    out = program.gradient(at=at, wrt=["theta"], batch=TD_DATA)
    value, naive, stop = td_closed_form(at["theta"], at["s_tm1"], at["r_t"], at["s_t"])
    assert out["gradient"]["theta"].shape == (n, 3)
    close(out["value"], value)
    close(out["gradient"]["theta"], stop if stopped else naive)


# ---- seed 4: straight-through estimator ----

STE = "x - stop_gradient(x) + stop_gradient(round(x))"


def test_straight_through_value_and_gradient():
    at = {"x": np.array(3.2)}
    out = adcore.compile(STE).gradient(at=at)
    assert out["value"] == 3.0  # exactly: x - x is an exact zero (Sterbenz)
    assert out["gradient"]["x"] == 1.0
    rounded = adcore.compile("round(x)").gradient(at=at)
    assert rounded["value"] == 3.0
    assert rounded["gradient"]["x"] == 0.0


def test_straight_through_in_language_and_batched():
    xs = np.array([-1.7, -0.5, 0.4, 2.5, 3.2, 3.5])
    inner = adcore.compile(
        "st(y) = y - stop_gradient(y) + stop_gradient(round(y))\n[st(x), grad(st)(x)]")
    got = inner.evaluate(at={"x": xs}, batch=["x"])["value"]
    np.testing.assert_array_equal(got, np.stack([np.round(xs), np.ones_like(xs)], axis=1))
    out = adcore.compile("sum(" + STE + ")").hessian(at={"x": xs})
    np.testing.assert_array_equal(out["hessian"]["x"]["x"], np.zeros((6, 6)))
    np.testing.assert_array_equal(
        adcore.compile("sum(round(x))").gradient(at={"x": xs})["gradient"]["x"], 0 * xs)


# ---- seed 5: Jacobians and Hessians of the logistic predictor ----

INPUTS = np.array([[0.52, 1.12, 0.77],
                   [0.88, -1.08, 0.15],
                   [0.52, 0.06, -1.30],
                   [0.74, -2.49, 1.39]])
PREDICTORS = {
    "builtin": "sigmoid(inputs @ W + b)",
    "tanh": "s(z) = 0.5 * (tanh(z / 2) + 1)\ns(dot(inputs, W) + b)",
}


@pytest.fixture
def logistic_at():
    rng = np.random.default_rng(5)
    return {"inputs": INPUTS, "W": rng.normal(size=3), "b": rng.normal(size=())}


def logistic_closed_form(at):
    """p = 1/(1 + e^-z), z = inputs W + b: p' = p(1-p), p'' = p(1-p)(1-2p)."""
    p = 1 / (1 + np.exp(-(at["inputs"] @ at["W"] + at["b"])))
    return p, p * (1 - p), p * (1 - p) * (1 - 2 * p)


@pytest.mark.parametrize("form", PREDICTORS)
def test_logistic_jacobian_forward_equals_reverse_equals_closed_form(form, logistic_at):
    program = adcore.compile(PREDICTORS[form])
    p, d1, _ = logistic_closed_form(logistic_at)
    close(program.evaluate(at=logistic_at)["value"], p)
    jacs = {mode: program.jacobian(at=logistic_at, wrt=["W"], mode=mode)["jacobian"]["W"]
            for mode in ("forward", "reverse", "auto")}
    close(jacs["forward"], jacs["reverse"], rtol=1e-14)
    for jac in jacs.values():
        close(jac, d1[:, None] * INPUTS)
    close(jacs["forward"], fd(value_of(program, logistic_at, "W"), logistic_at["W"]), rtol=1e-9)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_logistic_jacobian_wrt_W_and_b_at_once(mode, logistic_at):
    out = adcore.compile(PREDICTORS["tanh"]).jacobian(at=logistic_at, wrt=["W", "b"], mode=mode)
    _, d1, _ = logistic_closed_form(logistic_at)
    assert set(out["jacobian"]) == {"W", "b"}
    close(out["jacobian"]["W"], d1[:, None] * INPUTS)
    close(out["jacobian"]["b"], d1)


@pytest.mark.parametrize("form", PREDICTORS)
def test_logistic_hessian_closed_form(form, logistic_at):
    """d2p_i/dW_j dW_k = p''_i x_ij x_ik, d2p_i/dW_j db = p''_i x_ij, d2p_i/db2 = p''_i."""
    out = adcore.compile(PREDICTORS[form]).hessian(at=logistic_at, wrt=["W", "b"])["hessian"]
    _, _, d2 = logistic_closed_form(logistic_at)
    assert out["W"]["W"].shape == (4, 3, 3)
    close(out["W"]["W"], d2[:, None, None] * INPUTS[:, :, None] * INPUTS[:, None, :])
    close(out["W"]["b"], d2[:, None] * INPUTS)
    close(out["b"]["W"], d2[:, None] * INPUTS)
    close(out["b"]["b"], d2)


def test_logistic_in_language_jacfwd_jacrev(logistic_at):
    _, d1, d2 = logistic_closed_form(logistic_at)
    outer = INPUTS[:, :, None] * INPUTS[:, None, :]
    body = "s(z) = 0.5 * (tanh(z / 2) + 1)\npredict(w, c) = s(inputs @ w + c)\n"
    cases = {
        "jacfwd(predict)(W, b)": d1[:, None] * INPUTS,
        "jacrev(predict)(W, b)": d1[:, None] * INPUTS,
        "jacrev(predict, 1)(W, b)": d1,
        "jacfwd(jacrev(predict))(W, b)": d2[:, None, None] * outer,
    }
    for expr, expected in cases.items():
        close(adcore.compile(body + expr).evaluate(at=logistic_at)["value"], expected)


# ---- seed 6: MAML meta-gradient ----

MAML = "loss(p) = mean((X @ p - y)^2); meta(p) = loss(p - 0.01 * grad(loss)(p)); meta(p)"


@pytest.fixture
def maml_at():
    rng = np.random.default_rng(6)
    return {"X": rng.normal(size=(20, 5)), "y": rng.normal(size=20), "p": rng.normal(size=5)}


def maml_closed_form(X, y, p, lr=0.01):
    """grad loss(p) = (2/m) X^T (X p - y), so the SGD step p' = A p + (2 lr/m) X^T y with
    A = I - (2 lr/m) X^T X (symmetric); meta = loss(p'), grad meta = A (2/m) X^T (X p' - y),
    Hessian of meta = A (2/m) X^T X A."""
    m, n = X.shape
    A = np.eye(n) - 2 * lr / m * X.T @ X
    step = A @ p + 2 * lr / m * X.T @ y
    meta = np.mean((X @ step - y) ** 2)
    return meta, A @ (2 / m * X.T @ (X @ step - y)), A @ (2 / m * X.T @ X) @ A


def test_maml_meta_gradient_closed_form(maml_at):
    program = adcore.compile(MAML)
    out = program.gradient(at=maml_at, wrt=["p"])
    meta, gradient, hess = maml_closed_form(**maml_at)
    close(out["value"], meta)
    close(out["gradient"]["p"], gradient)
    close(program.hessian(at=maml_at, wrt=["p"])["hessian"]["p"]["p"], hess)


def test_maml_meta_gradient_vs_finite_differences(maml_at):
    program = adcore.compile(MAML)
    out = program.gradient(at=maml_at)  # every input: p, and the data X and y too
    for name in ("p", "X", "y"):
        expected = fd(value_of(program, maml_at, name), maml_at[name])
        close(out["gradient"][name], expected, rtol=1e-9)


def test_maml_per_task_meta_gradients():
    """Tasks batched (X, y per task), the parameters p shared."""
    rng = np.random.default_rng(10)
    X, y, p = rng.normal(size=(6, 20, 5)), rng.normal(size=(6, 20)), rng.normal(size=5)
    out = adcore.compile(MAML).gradient(at={"X": X, "y": y, "p": p}, wrt=["p"],
                                        batch=["X", "y"])
    for i in range(6):
        meta, gradient, _ = maml_closed_form(X[i], y[i], p)
        close(out["value"][i], meta)
        close(out["gradient"]["p"][i], gradient)


def test_first_order_maml_with_stop_gradient(maml_at):
    """Stopping the inner gradient leaves grad meta = grad loss(p') (first-order MAML)."""
    program = adcore.compile("loss(p) = mean((X @ p - y)^2)\n"
                             "meta(p) = loss(p - 0.01 * stop_gradient(grad(loss)(p)))\nmeta(p)")
    X, y, p = maml_at["X"], maml_at["y"], maml_at["p"]
    m, n = X.shape
    step = (np.eye(n) - 0.02 / m * X.T @ X) @ p + 0.02 / m * X.T @ y
    close(program.gradient(at=maml_at, wrt=["p"])["gradient"]["p"], 2 / m * X.T @ (X @ step - y))


# ---- seed 7: batched-gradients-hessians.txt, tanh(M x) over D points ----

@pytest.fixture
def tanh_at():
    rng = np.random.default_rng(7)
    return {"M": rng.normal(size=(2, 4)), "x": rng.normal(size=(8, 4))}  # A=2, C=4, D=8


def tanh_parts(at):
    """t = tanh(u), u = M x per point (rows of t: points). tanh' = 1 - t^2,
    tanh'' = -2 t (1 - t^2), tanh''' = (1 - t^2)(6 t^2 - 2)."""
    t = np.tanh(at["x"] @ at["M"].T)
    return t, 1 - t**2, -2 * t * (1 - t**2), (1 - t**2) * (6 * t**2 - 2)


def tanh_hessians(at):
    """d2 tanh(u_a) / dx_c1 dx_c2 = tanh''(u_a) M[a, c1] M[a, c2]: shape (D, A, C, C)."""
    _, _, d2, _ = tanh_parts(at)
    M = at["M"]
    return d2[:, :, None, None] * M[None, :, :, None] * M[None, :, None, :]


def test_tanh_per_point_jacobians(tanh_at):
    model = adcore.compile("tanh(M @ x)")
    _, d1, _, _ = tanh_parts(tanh_at)
    for mode in ("forward", "reverse"):
        jac = model.jacobian(at=tanh_at, wrt=["x"], batch=["x"], mode=mode)["jacobian"]["x"]
        close(jac, d1[:, :, None] * tanh_at["M"][None])


def test_tanh_per_point_hessians_and_diagonals(tanh_at):
    model = adcore.compile("tanh(M @ x)")
    expected = tanh_hessians(tanh_at)
    hess = model.hessian(at=tanh_at, wrt=["x"], batch=["x"])["hessian"]["x"]["x"]
    close(hess, expected)
    diag = model.hessian(at=tanh_at, wrt=["x"], batch=["x"], diagonal=True)
    close(diag["hessian_diagonal"]["x"], np.einsum("dacc->dac", expected))
    lap = model.laplacian(at=tanh_at, wrt=["x"], batch=["x"])["laplacian"]
    close(lap, np.einsum("dacc->da", expected))


def test_tanh_batched_equals_stack_of_points(tanh_at):
    model = adcore.compile("tanh(M @ x)")
    batched = model.hessian(at=tanh_at, wrt=["x"], batch=["x"])["hessian"]["x"]["x"]
    single = [model.hessian(at={"M": tanh_at["M"], "x": x}, wrt=["x"])["hessian"]["x"]["x"]
              for x in tanh_at["x"]]
    close(batched, np.stack(single), rtol=1e-14)


def test_tanh_jacobian_wrt_M(tanh_at):
    """d tanh(u_a) / dM[a', c] = tanh'(u_a) [a == a'] x_c: shape (D, A, A, C)."""
    _, d1, _, _ = tanh_parts(tanh_at)
    expected = np.einsum("da,ab,dc->dabc", d1, np.eye(2), tanh_at["x"])
    model = adcore.compile("tanh(M @ x)")
    for mode in ("forward", "reverse"):
        jac = model.jacobian(at=tanh_at, wrt=["M"], batch=["x"], mode=mode)["jacobian"]["M"]
        close(jac, expected)


def hessian_loss_closed_form(at):
    """L(M) = sum over points d, outputs a, c1, c2 of the Hessians = sum_da tanh''(u_da) s_a^2
    with s_a = sum_c M[a, c]; dL/dM[a, c] = sum_d tanh'''(u_da) x_dc s_a^2 + 2 tanh''(u_da) s_a."""
    _, _, d2, d3 = tanh_parts(at)
    s = at["M"].sum(axis=1)
    loss = (d2 * s**2).sum()
    grad = np.einsum("da,dc->ac", d3 * s**2, at["x"]) + (2 * d2 * s).sum(axis=0)[:, None]
    return loss, grad


def test_gradient_in_M_of_a_loss_of_per_point_hessians(tanh_at):
    """The step of the thread that needed Enzyme: differentiate through per-point Hessians."""
    loss = adcore.compile("f(z) = tanh(M @ z)\nsum(jacobian(jacobian(f))(x))")
    out = loss.gradient(at=tanh_at, wrt=["M"], batch=["x"])
    value, gradient = hessian_loss_closed_form(tanh_at)
    close(out["value"].sum(), value)
    close(out["value"], tanh_hessians(tanh_at).sum(axis=(1, 2, 3)))
    close(out["gradient"]["M"].sum(axis=0), gradient)

    def total(M):
        return loss.evaluate(at={**tanh_at, "M": M}, batch=["x"])["value"].sum()
    close(out["gradient"]["M"].sum(axis=0), fd(total, tanh_at["M"]), rtol=1e-8)


def test_gradient_in_M_of_hessian_loss_without_batch(tanh_at):
    """All points as one input X (D, C): the cross-point blocks of the Jacobian of the
    Jacobian are zero, so the sum is the same loss; one scalar program of M."""
    whole = adcore.compile("f(Z) = tanh(Z @ M.T)\nsum(jacobian(jacobian(f))(X))")
    at = {"M": tanh_at["M"], "X": tanh_at["x"]}
    out = whole.gradient(at=at, wrt=["M"])
    value, gradient = hessian_loss_closed_form(tanh_at)
    close(out["value"], value)
    close(out["gradient"]["M"], gradient)


def test_in_language_hessian_of_vector_function(tanh_at):
    loss = adcore.compile("f(z) = tanh(M @ z)\nsum(hessian(f)(x))")
    out = loss.evaluate(at=tanh_at, batch=["x"])
    close(out["value"], tanh_hessians(tanh_at).sum(axis=(1, 2, 3)))


# ---- the examples run and print what is saved next to them ----

def _normalized(text):
    return re.sub(r"-(0\.0*)(?![0-9])", r" \1", text)  # -0. and 0. print alike


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_example_output_matches_saved(script):
    path = EXAMPLES / script
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    saved = path.with_suffix(".out").read_text()
    assert _normalized(done.stdout) == _normalized(saved)
