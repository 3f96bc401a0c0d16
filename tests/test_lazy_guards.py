"""Guards added lazily (adcore/lazy_guards.py) keep the convention of README "Derivative
conventions": derivatives of a non-finite value are NaN, the others exact, on arrays large
enough for generated code to check the guarded values instead of adding their guards, in
plain and in fused kernels. Expectations are closed forms."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import sparse

import adcore
from adcore import coloring
from adcore.api import HOT_CALLS

N = 1500  # over lazy_guards.MIN_LAZY_ELEMENTS and fusion.MIN_FUSED_ELEMENTS (N x N)


pytestmark = pytest.mark.usefixtures("quiet_numpy")


def hot(prog: adcore.Program, operation: str, **request: object) -> list[dict]:
    """The answer of a fresh kernel, then of the same kernel once fused (if fusion kept it)."""
    answers = [prog.run(operation, **request) for _ in range(HOT_CALLS + 1)]
    kernel, _ = prog.kernel(prog.prepare(operation, **request))
    if kernel.fused is not None:
        kernel.fused.result()
    return [answers[0], prog.run(operation, **request)]


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_jacobian_rows_are_nan_only_where_the_value_is_not_finite(mode: str) -> None:
    prog = adcore.compile("concat(1 / x[:1], x[1:] * x[1:])")
    x = np.linspace(0.0, 2.0, N)  # x[0] = 0: the first element is inf
    for answer in hot(prog, "jacobian", at={"x": x}, mode=mode):
        jac = answer["jacobian"]["x"]
        assert np.isnan(jac[0]).all()
        np.testing.assert_array_equal(jac[1:], np.eye(N)[1:] * 2 * x[:, None][1:])
    finite = prog.jacobian(at={"x": x + 1.0}, mode=mode)["jacobian"]["x"]
    assert not np.isnan(finite).any()
    assert finite[0, 0] == -1.0


def test_batched_reverse_jacobian_poisons_only_the_point_and_row() -> None:
    prog = adcore.compile("log(x) * 3")
    xs = np.tile(np.linspace(0.5, 1.5, 40), (30, 1))
    xs[7, 5] = 0.0  # log(0) = -inf at one point, one element
    for answer in hot(prog, "jacobian", at={"x": xs}, batch=["x"], mode="reverse"):
        jac = answer["jacobian"]["x"]
        assert np.isnan(jac[7, 5]).all() and np.isnan(jac).sum() == 40
        expected = np.eye(40) * (3 / xs[0])[:, None]
        np.testing.assert_allclose(jac[0], expected, rtol=1e-15)


def test_hvp_is_nan_where_the_gradient_is_not_finite() -> None:
    prog = adcore.compile("sum(sqrt(x))")
    x = np.linspace(0.0, 4.0, N)  # sqrt has an infinite gradient at 0
    v = np.cos(np.arange(N))
    for answer in hot(prog, "hvp", at={"x": x}, v={"x": v}):
        hvp = answer["hvp"]["x"]
        assert np.isnan(hvp[0]) and not np.isnan(hvp[1:]).any()
        np.testing.assert_allclose(hvp[1:], -0.25 * x[1:] ** -1.5 * v[1:], rtol=1e-13)


def test_gradient_of_a_pole_is_nan_and_elsewhere_exact() -> None:
    prog = adcore.compile("1 / sum(x * x)")
    for answer in hot(prog, "gradient", at={"x": np.zeros(N)}):
        assert np.isnan(answer["gradient"]["x"]).all()
    x = np.linspace(1.0, 2.0, N)
    got = prog.gradient(at={"x": x})["gradient"]["x"]
    np.testing.assert_allclose(got, -2 * x / np.sum(x * x) ** 2, rtol=1e-13)


def test_summed_in_language_gradient_keeps_its_guard() -> None:
    """sum(grad(f)(x)) with the guard moved out of the sum: NaN at a pole, exact elsewhere."""
    prog = adcore.compile("f(y) = 1 / norm(y)\nsum(grad(f)(x))")
    xs = np.tile(np.linspace(1.0, 2.0, 100), (20, 1))
    xs[3] = 0.0
    value = prog.evaluate(at={"x": xs}, batch=["x"])["value"]
    assert np.isnan(value[3]) and not np.isnan(np.delete(value, 3)).any()
    np.testing.assert_allclose(value[0], -np.sum(xs[0]) / np.linalg.norm(xs[0]) ** 3,
                               rtol=1e-13)


def test_banded_star_colouring_keeps_vertices_two_apart_distinct() -> None:
    rng = np.random.default_rng(3)
    for width in (1, 2, 4):
        n = 60
        offsets = [k for k in range(-width, width + 1) if rng.random() < 0.7 or abs(k) == width]
        pattern = sparse.csr_array(sum(np.eye(n, k=k) for k in offsets + [-k for k in offsets]))
        found = coloring.star_coloring(pattern)
        colors = found.colors
        adjacency = (pattern.toarray() != 0) & ~np.eye(n, dtype=bool)
        two = adjacency | (adjacency.astype(int) @ adjacency.astype(int) > 0)
        i, j = np.nonzero(two & ~np.eye(n, dtype=bool))
        assert np.all(colors[i] != colors[j]), width  # distance-2: a star colouring


def test_a_tridiagonal_hessian_never_loads_numba() -> None:
    script = ("import sys, numpy as np, adcore\n"
              "p = adcore.compile('sum(100*(x[1:]-x[:-1]^2)^2 + (1-x[:-1])^2)')\n"
              "out = p.hessian(at={'x': np.linspace(-1, 1, 5000)}, sparse=True)\n"
              "assert out['coloring']['colors'] == 3 == out['coloring']['lower_bound']\n"
              "print('numba' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, env={"NABLA_FUSION": "0", "PATH": ""})
    assert done.stdout.strip() == "False"
