"""Benchmark workloads W1-W7 (issues 2 and 3): one `Cell` per measured configuration.

Each cell holds
* the Nabla program text and request (operation, inputs, options),
* a JAX builder and a torch.func builder: `build(inputs) -> (factory, args)` where
  `factory()` returns a *fresh* callable (a new `jax.jit(...)` of new closures, or new
  `torch.func` transforms) and `args` are the inputs already converted (device arrays,
  tensors), so "cold" measures tracing/compiling and not data conversion,
* an independent numpy reference written out by hand (closed-form derivatives, a hand
  forward-over-reverse for the MLP), which every system is checked against.

Every system returns the same canonical flat list: the value, then the derivative arrays in
`wrt` order (Nabla's dict results are flattened by `Cell.extract`). JAX and torch are imported
lazily, inside the builders, so this module works without them; the runner configures
threads and float64 before anything imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Arrays = dict[str, np.ndarray]


@dataclass
class Cell:
    id: str                     # short slug, for --only / profile_kernel
    workload: str               # "W1" ... "W7"
    title: str                  # "gradient n=1000 B=100"
    text: str                   # the Nabla program
    operation: str              # evaluate, gradient, hessian, hvp, jacobian
    make_inputs: Callable[[np.random.Generator], tuple[Arrays, dict]]  # -> (at, extra options)
    options: dict = field(default_factory=dict)  # wrt, batch, mode, diagonal
    extract: Callable[[dict], list[np.ndarray]] = lambda r: [r["value"]]
    reference: Callable[[Arrays, dict], list[np.ndarray]] | None = None
    jax: Callable[[Arrays, dict], tuple[Callable[[], Callable], tuple]] | None = None
    torch: Callable[[Arrays, dict], tuple[Callable[[], Callable], tuple]] | None = None
    batch: int | None = None    # B, or None for a single point
    warm_target: bool = False   # the "warm <= 2x JAX" target applies (B >= 100, W6, W7)
    heavy: bool = False         # skipped by --quick
    note: str = ""


# ---------------------------------------------------------------- helpers

def _jax():
    import jax
    import jax.numpy as jnp
    return jax, jnp


def _torch():
    import torch
    import torch.func as tf
    return torch, tf


def _jax_args(*arrays):
    jax, jnp = _jax()
    return tuple(jax.device_put(jnp.asarray(a)) for a in arrays)


def _torch_args(*arrays):
    torch, _ = _torch()
    return tuple(torch.from_numpy(np.array(a, dtype=np.float64)) for a in arrays)  # keeps 0-d


def grads(*names: str) -> Callable[[dict], list[np.ndarray]]:
    return lambda r: [r["value"]] + [r["gradient"][n] for n in names]


def hvps(*names: str) -> Callable[[dict], list[np.ndarray]]:
    return lambda r: [r["value"]] + [r["hvp"][n] for n in names]


def jac(name: str) -> Callable[[dict], list[np.ndarray]]:
    return lambda r: [r["value"], r["jacobian"][name]]


def hess(name: str) -> Callable[[dict], list[np.ndarray]]:
    return lambda r: [r["value"], r["hessian"][name][name]]


def hdiag(name: str) -> Callable[[dict], list[np.ndarray]]:
    return lambda r: [r["value"], r["hessian_diagonal"][name]]


# ---------------------------------------------------------------- W1 Rosenbrock

ROSENBROCK = "sum(100*(x[1:]-x[:-1]^2)^2 + (1-x[:-1])^2)"


def _w1_inputs(n: int, b: int, with_v: bool = False):
    def make(rng):
        at = {"x": rng.uniform(-1.5, 1.5, (b, n))}
        extra = {"v": {"x": rng.standard_normal((b, n))}} if with_v else {}
        return at, extra
    return make


def _ros_parts(x):
    a, c = x[:, :-1], x[:, 1:]
    return a, c, c - a * a


def _w1_ref_value(at, extra):
    a, c, d = _ros_parts(at["x"])
    return np.sum(100 * d**2 + (1 - a) ** 2, axis=1)


def _w1_ref_grad(at, extra):
    x = at["x"]
    a, c, d = _ros_parts(x)
    g = np.zeros_like(x)
    g[:, :-1] += -400 * a * d - 2 * (1 - a)
    g[:, 1:] += 200 * d
    return [_w1_ref_value(at, extra), g]


def _w1_tridiagonal(x):
    a, c, _ = _ros_parts(x)
    diag = np.zeros_like(x)
    diag[:, :-1] += 1200 * a * a - 400 * c + 2
    diag[:, 1:] += 200
    return diag, -400 * a


def _w1_ref_hess(at, extra):
    x = at["x"]
    b, n = x.shape
    diag, off = _w1_tridiagonal(x)
    h = np.zeros((b, n, n))
    i = np.arange(n)
    h[:, i, i] = diag
    h[:, i[:-1], i[1:]] = off
    h[:, i[1:], i[:-1]] = off
    return [_w1_ref_value(at, extra), h]


def _w1_ref_hvp(at, extra):
    x, v = at["x"], extra["v"]["x"]
    diag, off = _w1_tridiagonal(x)
    hv = diag * v
    hv[:, :-1] += off * v[:, 1:]
    hv[:, 1:] += off * v[:, :-1]
    return [_w1_ref_value(at, extra), hv]


def _ros_jax(x):
    _, jnp = _jax()
    return jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def _ros_torch(x):
    torch, _ = _torch()
    return torch.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def _w1_jax(kind: str):
    def build(at, extra):
        jax, _ = _jax()

        def factory():
            f = lambda x: _ros_jax(x)  # noqa: E731  a new closure: nothing cached
            if kind == "evaluate":
                return jax.jit(jax.vmap(lambda x: (f(x),)))
            if kind == "gradient":
                return jax.jit(jax.vmap(jax.value_and_grad(f)))
            if kind == "hessian":
                return jax.jit(jax.vmap(lambda x: (f(x), jax.hessian(f)(x))))

            def value_hvp(x, v):
                (value, _), (_, hv) = jax.jvp(jax.value_and_grad(f), (x,), (v,))
                return value, hv
            return jax.jit(jax.vmap(value_hvp))

        args = (at["x"], extra["v"]["x"]) if kind == "hvp" else (at["x"],)
        return factory, _jax_args(*args)
    return build


def _w1_torch(kind: str):
    def build(at, extra):
        torch, tf = _torch()

        def factory():
            f = lambda x: _ros_torch(x)  # noqa: E731
            if kind == "evaluate":
                return tf.vmap(lambda x: (f(x),))
            if kind == "gradient":
                gv = tf.vmap(tf.grad_and_value(f))
                return lambda x: gv(x)[::-1]
            if kind == "hessian":
                return tf.vmap(lambda x: (f(x), tf.hessian(f)(x)))

            def value_hvp(x, v):
                (_, value), (hv, _) = tf.jvp(tf.grad_and_value(f), (x,), (v,))
                return value, hv
            return tf.vmap(value_hvp)

        args = (at["x"], extra["v"]["x"]) if kind == "hvp" else (at["x"],)
        return factory, _torch_args(*args)
    return build


def w1_cells() -> list[Cell]:
    cells = []
    for n, b in ((10, 1), (100, 1000), (1000, 100)):
        cells.append(Cell(
            f"w1-grad-n{n}-b{b}", "W1", f"gradient n={n} B={b}", ROSENBROCK, "gradient",
            _w1_inputs(n, b), {"batch": ["x"]}, grads("x"), _w1_ref_grad,
            _w1_jax("gradient"), _w1_torch("gradient"), batch=b, warm_target=b >= 100))
    cells.append(Cell(
        "w1-eval-n1000-b100", "W1", "evaluate n=1000 B=100", ROSENBROCK, "evaluate",
        _w1_inputs(1000, 100), {"batch": ["x"]}, lambda r: [r["value"]],
        lambda at, extra: [_w1_ref_value(at, extra)], _w1_jax("evaluate"),
        _w1_torch("evaluate"), batch=100, warm_target=True))
    for n, b in ((10, 1000), (100, 100)):
        cells.append(Cell(
            f"w1-hess-n{n}-b{b}", "W1", f"dense Hessian n={n} B={b}", ROSENBROCK, "hessian",
            _w1_inputs(n, b), {"batch": ["x"]}, hess("x"), _w1_ref_hess,
            _w1_jax("hessian"), _w1_torch("hessian"), batch=b, warm_target=True))
    cells.append(Cell(
        "w1-hvp-n1000-b100", "W1", "HVP n=1000 B=100 (batched v)", ROSENBROCK, "hvp",
        _w1_inputs(1000, 100, with_v=True), {"batch": ["x"]}, hvps("x"), _w1_ref_hvp,
        _w1_jax("hvp"), _w1_torch("hvp"), batch=100, warm_target=True))
    return cells


# ---------------------------------------------------------------- W2 nested

NESTED = "f(y) = 1 / norm(y); g(v) = sum(v)^3; g(grad(f)(x))"


def _w2_ref(at, extra):
    x = at["x"]
    s = np.sum(x, axis=1, keepdims=True)
    r = np.sqrt(np.sum(x * x, axis=1, keepdims=True))
    w = -s / r**3                               # sum(grad f) = sum(-x / |x|^3)
    dw = -1 / r**3 + 3 * s * x / r**5           # d w / d x
    return [w[:, 0] ** 3, 3 * w**2 * dw]


def _w2_jax(at, extra):
    jax, jnp = _jax()

    def factory():
        f = lambda y: 1 / jnp.linalg.norm(y)  # noqa: E731
        g = lambda v: jnp.sum(v) ** 3  # noqa: E731
        h = lambda x: g(jax.grad(f)(x))  # noqa: E731
        return jax.jit(jax.vmap(jax.value_and_grad(h)))
    return factory, _jax_args(at["x"])


def _w2_torch(at, extra):
    torch, tf = _torch()

    def factory():
        f = lambda y: 1 / torch.linalg.vector_norm(y)  # noqa: E731
        g = lambda v: torch.sum(v) ** 3  # noqa: E731
        h = lambda x: g(tf.grad(f)(x))  # noqa: E731
        gv = tf.vmap(tf.grad_and_value(h))
        return lambda x: gv(x)[::-1]
    return factory, _torch_args(at["x"])


def w2_cells() -> list[Cell]:
    return [Cell("w2-nested-n100-b1000", "W2", "gradient of g(grad(f)(x)) n=100 B=1000", NESTED,
                 "gradient", lambda rng: ({"x": rng.standard_normal((1000, 100))}, {}),
                 {"batch": ["x"]}, grads("x"), _w2_ref, _w2_jax, _w2_torch, batch=1000,
                 warm_target=True)]


# ---------------------------------------------------------------- W3 tanh(M @ x)

TANH = "tanh(M @ x)"


def _w3_inputs(rng):
    return {"M": rng.standard_normal((16, 32)) / np.sqrt(32),
            "x": rng.standard_normal((4096, 32))}, {}


def _w3_parts(at):
    m, x = at["M"], at["x"]
    y = np.tanh(x @ m.T)                        # (B, 16)
    return m, y, 1 - y * y


def _w3_ref_jac(at, extra):
    m, y, d = _w3_parts(at)
    return [y, d[:, :, None] * m[None]]


def _w3_ref_hess(at, extra):
    m, y, d = _w3_parts(at)
    c = -2 * y * d                              # tanh'' = -2 tanh (1 - tanh^2)
    return [y, c[:, :, None, None] * (m[:, :, None] * m[:, None, :])[None]]


def _w3_ref_hdiag(at, extra):
    m, y, d = _w3_parts(at)
    return [y, (-2 * y * d)[:, :, None] * (m * m)[None]]


def _w3_jax(kind: str):
    def build(at, extra):
        jax, jnp = _jax()

        def factory():
            def point(m, x):
                f = lambda x: jnp.tanh(m @ x)  # noqa: E731
                if kind == "jacobian":
                    return f(x), jax.jacrev(f)(x)
                if kind == "hessian":
                    return f(x), jax.hessian(f)(x)

                def second(e):  # forward over forward along one basis direction
                    return jax.jvp(lambda x: jax.jvp(f, (x,), (e,))[1], (x,), (e,))[1]
                return f(x), jax.vmap(second, out_axes=1)(jnp.eye(x.shape[0]))
            return jax.jit(jax.vmap(point, in_axes=(None, 0)))
        return factory, _jax_args(at["M"], at["x"])
    return build


def _w3_torch(kind: str):
    def build(at, extra):
        torch, tf = _torch()

        def factory():
            def point(m, x):
                f = lambda x: torch.tanh(m @ x)  # noqa: E731
                if kind == "jacobian":
                    return f(x), tf.jacrev(f)(x)
                if kind == "hessian":
                    return f(x), tf.hessian(f)(x)

                def second(e):
                    return tf.jvp(lambda x: tf.jvp(f, (x,), (e,))[1], (x,), (e,))[1]
                eye = torch.eye(x.shape[0], dtype=torch.float64)
                return f(x), tf.vmap(second, out_dims=1)(eye)
            return tf.vmap(point, in_dims=(None, 0))
        return factory, _torch_args(at["M"], at["x"])
    return build


def w3_cells() -> list[Cell]:
    opts = {"batch": ["x"], "wrt": ["x"]}
    return [
        Cell("w3-jac-b4096", "W3", "per-point Jacobian B=4096", TANH, "jacobian", _w3_inputs,
             opts, jac("x"), _w3_ref_jac, _w3_jax("jacobian"), _w3_torch("jacobian"),
             batch=4096, warm_target=True, note="JAX/torch: jacrev"),
        Cell("w3-hdiag-b4096", "W3", "per-point Hessian diagonals B=4096", TANH, "hessian",
             _w3_inputs, {**opts, "diagonal": True}, hdiag("x"), _w3_ref_hdiag,
             _w3_jax("hdiag"), _w3_torch("hdiag"), batch=4096, warm_target=True,
             note="JAX/torch: vmap over basis e_j of jvp(jvp(f, e_j), e_j)"),
        Cell("w3-hess-b4096", "W3", "per-point full Hessians B=4096 (537 MB)", TANH, "hessian",
             _w3_inputs, opts, hess("x"), _w3_ref_hess, _w3_jax("hessian"),
             _w3_torch("hessian"), batch=4096, warm_target=True, heavy=True,
             note="JAX/torch: hessian = jacfwd(jacrev)"),
    ]


# ---------------------------------------------------------------- W4 logistic predictor

LOGISTIC = "sigmoid(inputs @ W + b)"


def _w4_inputs(rng):
    return {"inputs": rng.standard_normal((256, 64)), "W": 0.1 * rng.standard_normal(64),
            "b": np.float64(0.1)}, {}


def _w4_ref(at, extra):
    s = 1 / (1 + np.exp(-(at["inputs"] @ at["W"] + at["b"])))
    return [s, (s * (1 - s))[:, None] * at["inputs"]]


def _w4_jax(mode: str):
    def build(at, extra):
        jax, _ = _jax()

        def factory():
            def fn(inputs, w, b):
                f = lambda w: jax.nn.sigmoid(inputs @ w + b)  # noqa: E731
                return f(w), (jax.jacfwd if mode == "forward" else jax.jacrev)(f)(w)
            return jax.jit(fn)
        return factory, _jax_args(at["inputs"], at["W"], at["b"])
    return build


def _w4_torch(mode: str):
    def build(at, extra):
        torch, tf = _torch()

        def factory():
            def fn(inputs, w, b):
                f = lambda w: torch.sigmoid(inputs @ w + b)  # noqa: E731
                return f(w), (tf.jacfwd if mode == "forward" else tf.jacrev)(f)(w)
            return fn
        return factory, _torch_args(at["inputs"], at["W"], at["b"])
    return build


def w4_cells() -> list[Cell]:
    return [Cell(f"w4-jac-{mode}", "W4", f"Jacobian w.r.t. W, {mode} mode (256x64)", LOGISTIC,
                 "jacobian", _w4_inputs, {"wrt": ["W"], "mode": mode}, jac("W"), _w4_ref,
                 _w4_jax(mode), _w4_torch(mode)) for mode in ("forward", "reverse")]


# ---------------------------------------------------------------- W5 TD(0)

TD0 = "-0.5 * (stop_gradient(r_t + dot(theta, s_t)) - dot(theta, s_tm1))^2"


def _w5_inputs(rng):
    b, n = 10_000, 100
    return {"theta": 0.1 * rng.standard_normal(n), "s_tm1": rng.standard_normal((b, n)),
            "r_t": rng.standard_normal(b), "s_t": rng.standard_normal((b, n))}, {}


def _w5_ref(at, extra):
    delta = at["r_t"] + at["s_t"] @ at["theta"] - at["s_tm1"] @ at["theta"]
    return [-0.5 * delta**2, delta[:, None] * at["s_tm1"]]


def _w5_jax(at, extra):
    jax, jnp = _jax()

    def factory():
        def td(theta, s_tm1, r_t, s_t):
            target = jax.lax.stop_gradient(r_t + jnp.dot(theta, s_t))
            return -0.5 * (target - jnp.dot(theta, s_tm1)) ** 2
        return jax.jit(jax.vmap(jax.value_and_grad(td), in_axes=(None, 0, 0, 0)))
    return factory, _jax_args(at["theta"], at["s_tm1"], at["r_t"], at["s_t"])


def _w5_torch(at, extra):
    torch, tf = _torch()

    def factory():
        def td(theta, s_tm1, r_t, s_t):
            target = (r_t + torch.dot(theta, s_t)).detach()
            return -0.5 * (target - torch.dot(theta, s_tm1)) ** 2
        gv = tf.vmap(tf.grad_and_value(td), in_dims=(None, 0, 0, 0))
        return lambda *a: gv(*a)[::-1]
    return factory, _torch_args(at["theta"], at["s_tm1"], at["r_t"], at["s_t"])


def w5_cells() -> list[Cell]:
    return [Cell("w5-td0-b10000", "W5", "per-example gradient w.r.t. theta, dim 100 B=10000",
                 TD0, "gradient", _w5_inputs,
                 {"wrt": ["theta"], "batch": ["s_tm1", "r_t", "s_t"]}, grads("theta"),
                 _w5_ref, _w5_jax, _w5_torch, batch=10_000, warm_target=True)]


# ---------------------------------------------------------------- W6 MLP HVP

MLP = "mean((tanh(X @ W1 + b1) @ W2 + b2 - y)^2)"
MLP_PARAMS = ("W1", "b1", "W2", "b2")


def _w6_inputs(rng):
    at = {"X": rng.standard_normal((256, 32)), "W1": rng.standard_normal((32, 64)) / np.sqrt(32),
          "b1": 0.1 * rng.standard_normal(64), "W2": rng.standard_normal(64) / 8,
          "b2": np.float64(0.1), "y": rng.standard_normal(256)}
    v = {k: rng.standard_normal(np.shape(at[k])) for k in MLP_PARAMS}
    v["b2"] = np.float64(v["b2"])
    return at, {"v": v}


def _w6_ref(at, extra):
    """A hand-written forward-over-reverse pass of the MLP (tangents prefixed t)."""
    x, w1, b1, w2, b2, y = (at[k] for k in ("X", "W1", "b1", "W2", "b2", "y"))
    tw1, tb1, tw2, tb2 = (extra["v"][k] for k in MLP_PARAMS)
    n = x.shape[0]
    h = np.tanh(x @ w1 + b1)
    dh = 1 - h * h
    r = h @ w2 + b2 - y
    value = np.mean(r * r)
    g_o = 2 * r / n                              # reverse pass
    g_h = np.outer(g_o, w2)
    g_a = g_h * dh
    t_a = x @ tw1 + tb1                          # tangents of the forward pass
    t_h = dh * t_a
    t_o = t_h @ w2 + h @ tw2 + tb2
    t_go = 2 * t_o / n                           # tangents of the reverse pass
    t_gh = np.outer(t_go, w2) + np.outer(g_o, tw2)
    t_ga = t_gh * dh + g_h * (-2 * h * t_h)
    return [value, x.T @ t_ga, np.sum(t_ga, axis=0), t_h.T @ g_o + h.T @ t_go, np.sum(t_go)]


def _w6_jax(at, extra):
    jax, jnp = _jax()

    def factory():
        def fn(params, v, x, y):
            def loss(p):
                w1, b1, w2, b2 = p
                return jnp.mean((jnp.tanh(x @ w1 + b1) @ w2 + b2 - y) ** 2)
            (value, _), (_, hv) = jax.jvp(jax.value_and_grad(loss), (params,), (v,))
            return (value, *hv)
        return jax.jit(fn)
    params = _jax_args(*(at[k] for k in MLP_PARAMS))
    v = _jax_args(*(extra["v"][k] for k in MLP_PARAMS))
    return factory, (params, v, *_jax_args(at["X"], at["y"]))


def _w6_torch(at, extra):
    torch, tf = _torch()

    def factory():
        def fn(params, v, x, y):
            def loss(p):
                w1, b1, w2, b2 = p
                return torch.mean((torch.tanh(x @ w1 + b1) @ w2 + b2 - y) ** 2)
            (_, value), (hv, _) = tf.jvp(tf.grad_and_value(loss), (params,), (v,))
            return (value, *hv)
        return fn
    params = _torch_args(*(at[k] for k in MLP_PARAMS))
    v = _torch_args(*(extra["v"][k] for k in MLP_PARAMS))
    return factory, (params, v, *_torch_args(at["X"], at["y"]))


def w6_cells() -> list[Cell]:
    return [Cell("w6-mlp-hvp", "W6", "HVP w.r.t. all weights, MLP 32-64-1, 256 rows", MLP, "hvp",
                 _w6_inputs, {"wrt": list(MLP_PARAMS)}, hvps(*MLP_PARAMS), _w6_ref, _w6_jax,
                 _w6_torch, warm_target=True)]


# ---------------------------------------------------------------- W7 MAML

MAML = "loss(p) = mean((X @ p - y)^2); meta(p) = loss(p - 0.01 * grad(loss)(p)); meta(p)"


def _w7_inputs(rng):
    return {"X": rng.standard_normal((64, 100)), "y": rng.standard_normal(64),
            "p": 0.1 * rng.standard_normal(100)}, {}


def _w7_ref(at, extra):
    x, y, p = at["X"], at["y"], at["p"]
    n, alpha = x.shape[0], 0.01
    q = p - alpha * (2 / n) * x.T @ (x @ p - y)  # one SGD step
    r = x @ q - y
    g_q = (2 / n) * x.T @ r
    return [np.mean(r * r), g_q - (2 * alpha / n) * x.T @ (x @ g_q)]  # (I - 2a/n X'X) g_q


def _w7_jax(at, extra):
    jax, jnp = _jax()

    def factory():
        def fn(p, x, y):
            loss = lambda p: jnp.mean((x @ p - y) ** 2)  # noqa: E731
            meta = lambda p: loss(p - 0.01 * jax.grad(loss)(p))  # noqa: E731
            return jax.value_and_grad(meta)(p)
        return jax.jit(fn)
    return factory, _jax_args(at["p"], at["X"], at["y"])


def _w7_torch(at, extra):
    torch, tf = _torch()

    def factory():
        def fn(p, x, y):
            loss = lambda p: torch.mean((x @ p - y) ** 2)  # noqa: E731
            meta = lambda p: loss(p - 0.01 * tf.grad(loss)(p))  # noqa: E731
            g, value = tf.grad_and_value(meta)(p)
            return value, g
        return fn
    return factory, _torch_args(at["p"], at["X"], at["y"])


def w7_cells() -> list[Cell]:
    return [Cell("w7-maml", "W7", "meta-gradient, X 64x100", MAML, "gradient", _w7_inputs,
                 {"wrt": ["p"]}, grads("p"), _w7_ref, _w7_jax, _w7_torch, warm_target=True)]


WORKLOADS: dict[str, str] = {
    "W1": "Rosenbrock `" + ROSENBROCK + "`",
    "W2": "nested `" + NESTED + "`",
    "W3": "`" + TANH + "`, M 16x32 shared, x batched",
    "W4": "logistic predictor `" + LOGISTIC + "`, single point",
    "W5": "TD(0) `" + TD0 + "`",
    "W6": "MLP 32-64-1 tanh `" + MLP + "`, single point",
    "W7": "MAML `" + MAML + "`, single point",
}


def all_cells() -> list[Cell]:
    return (w1_cells() + w2_cells() + w3_cells() + w4_cells() + w5_cells() + w6_cells()
            + w7_cells())


def nabla_options(cell: Cell, extra: dict) -> dict[str, Any]:
    """The keyword options of `Program.<operation>` for a cell."""
    return {**cell.options, **extra}
