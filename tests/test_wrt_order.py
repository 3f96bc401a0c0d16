"""Regression tests of issue 8: results, Hessian blocks and tangents are matched by name,
whatever order `wrt` and `v` list the inputs in (the metamorphic suite generalises this)."""

from __future__ import annotations

import numpy as np

import adcore

PROGRAM = "sum(exp(x) * tanh(A @ y)) + norm(y)^2 * x[1]"
RNG = np.random.default_rng(8)
AT = {"x": RNG.normal(size=3), "A": RNG.normal(size=(3, 4)), "y": RNG.normal(size=4)}


def central_gradient(name: str, h: float = 1e-6) -> np.ndarray:
    """d PROGRAM / d at[name] by central differences, independent of adcore's derivatives."""
    program = adcore.compile(PROGRAM)
    out = np.zeros_like(AT[name])
    for i in np.ndindex(out.shape):
        plus, minus = dict(AT), dict(AT)
        plus[name], minus[name] = AT[name].copy(), AT[name].copy()
        plus[name][i] += h
        minus[name][i] -= h
        out[i] = (program.evaluate(at=plus)["value"] - program.evaluate(at=minus)["value"]) / (2 * h)
    return out


def test_gradient_with_wrt_out_of_input_order() -> None:
    gradient = adcore.compile(PROGRAM).gradient(at=AT, wrt=["y", "A"])["gradient"]
    assert set(gradient) == {"y", "A"}
    for name in ("y", "A"):
        assert gradient[name].shape == AT[name].shape
        np.testing.assert_allclose(gradient[name], central_gradient(name), rtol=1e-6, atol=1e-8)


def test_hessian_and_hvp_with_wrt_and_v_out_of_input_order() -> None:
    program = adcore.compile(PROGRAM)
    blocks = program.hessian(at=AT, wrt=["y", "x"])["hessian"]
    assert blocks["y"]["x"].shape == (4, 3) and blocks["x"]["y"].shape == (3, 4)
    np.testing.assert_allclose(blocks["y"]["x"], blocks["x"]["y"].T, rtol=1e-12, atol=1e-12)
    v = {"y": RNG.normal(size=4), "x": RNG.normal(size=3)}
    hvp = program.hvp(at=AT, wrt=["y", "x"], v=v)["hvp"]
    for xi in ("x", "y"):
        expected = sum(blocks[xi][xj] @ v[xj] for xj in ("x", "y"))
        np.testing.assert_allclose(hvp[xi], expected, rtol=1e-12, atol=1e-12)
    diagonal = program.hessian(at=AT, wrt=["y", "x"], diagonal=True)["hessian_diagonal"]
    for name in ("x", "y"):
        np.testing.assert_allclose(diagonal[name], np.diag(blocks[name][name]), rtol=1e-12,
                                   atol=1e-12)
