"""Sparse Jacobians and Hessians (issue 10), in-process: sparse equals dense on programs
covering every primitive family (every block, batched or not, wrt orders and subsets
varied), the pattern never misses a nonzero at random points and is exact for smooth
programs, closed forms, colour counts on known patterns, and the limit and request cases.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import adcore
from adcore.testing import assert_close

CLOSE = dict(rtol=1e-10, atol=1e-10)
ROSENBROCK = "sum(100*(x[1:]-x[:-1]^2)^2 + (1-x[:-1])^2)"
BRATU = ("4*u[1:-1,1:-1] - u[:-2,1:-1] - u[2:,1:-1] - u[1:-1,:-2] - u[1:-1,2:] "
         "- 0.01*exp(u[1:-1,1:-1])")
ROSEN_F = "f(z) = sum(100*(z[1:]-z[:-1]^2)^2 + (1-z[:-1])^2)"


def uniform(lo: float, hi: float, *shape: int):
    return lambda rng: rng.uniform(lo, hi, shape)


# Hand programs over every primitive family (elementwise, reductions, shapes, contractions,
# constants, in-language derivatives), with input samplers where they are smooth.
PROGRAMS: dict[str, tuple[str, dict[str, Any]]] = {
    "rosenbrock": (ROSENBROCK, {"x": uniform(-1.5, 1.5, 7)}),
    "bratu": (BRATU, {"u": uniform(-0.5, 0.5, 6, 5)}),
    "matmul": ("tanh(m @ x) * sum(y^2) + x[0]*y",
               {"m": uniform(-1, 1, 2, 3), "x": uniform(-1, 1, 3), "y": uniform(-1, 1, 2)}),
    "reductions": (("where(x > 0, log(abs(x) + 1), x^3) * softmax(y) + max(x) * norm(y)"
                    " + logsumexp(x * y) - mean(y) * min(x)"),
                   {"x": uniform(-2, 2, 4), "y": uniform(-2, 2, 4)}),
    "shapes": (("concat(x[::2] * y[1:], reshape(transpose(A) @ (A * y), 9)[2:6], "
                "stack(sum(A), prod(x))^2, axis=0)"),
               {"x": uniform(-1, 1, 4), "y": uniform(-1, 1, 3), "A": uniform(-1, 1, 2, 3)}),
    "constants": (("trace(outer(x, x) @ diag(y)) + dot(x, y^2) + sum(eye(3) @ x * ones(3))"
                   " + sum(zeros(3) * x)"), {"x": uniform(-1, 1, 3), "y": uniform(-1, 1, 3)}),
    "binary": (("atan2(x, y + 3) + pow(abs(x) + 1, y) / (2 + x^2) + clip(x, -0.5, 0.5)"
                " * maximum(x, y) + sqrt(x^2 + 1) * cbrt(y + 5)"),
               {"x": uniform(-1, 1, 4), "y": uniform(-1, 1, 4)}),
    "piecewise": ("stop_gradient(x) * x + floor(x) * y + relu(x - y)^2 + sign(y) * x^2",
                  {"x": uniform(-1, 1, 5), "y": uniform(-1, 1, 5)}),
    "grad-in-language": (f"{ROSEN_F}\ngrad(f)(x) * y", {"x": uniform(-1, 1, 6),
                                                         "y": uniform(-1, 1, 6)}),
    "hessian-in-language": (f"{ROSEN_F}\nsum(hessian(f)(x) * w) + jvp(f, x, v)",
                            {"x": uniform(-1, 1, 5), "w": uniform(-1, 1, 5, 5),
                             "v": uniform(-1, 1, 5)}),
    "jacobian-in-language": (("g(z) = sin(z[1:]) * z[:-1]\nh(z) = sum(z^3)\n"
                              "sum(jacobian(g)(x) * w) + sum(hvp(h, x, x))"),
                             {"x": uniform(-1, 1, 4), "w": uniform(-1, 1, 3, 4)}),
}


@functools.cache
def program(text: str) -> adcore.Program:
    return adcore.compile(text)


def draw(name: str, rng: np.random.Generator, batch: int | None = None) -> dict[str, Any]:
    samplers = PROGRAMS[name][1]
    if batch is None:
        return {k: f(rng) for k, f in samplers.items()}
    return {k: np.stack([f(rng) for _ in range(batch)]) for k, f in samplers.items()}


def densify(block: dict[str, Any]) -> np.ndarray:
    """A COO block as a dense array (with the batch axis of its data, if any)."""
    assert block["format"] == "coo" and block["row"].dtype == np.int64
    rows, cols = block["shape"]
    keys = block["row"] * cols + block["col"]
    assert np.all(np.diff(keys) > 0), "rows sorted, each entry once"
    data = block["data"]
    dense = np.zeros(data.shape[:-1] + (rows, cols))
    dense[..., block["row"], block["col"]] = data
    return dense


def as_2d(dense: np.ndarray, rows: int, cols: int, batched: bool) -> np.ndarray:
    return dense.reshape(((dense.shape[0],) if batched else ()) + (rows, cols))


def input_order(prog: adcore.Program, names: list[str]) -> list[str]:
    return [n for n in prog.inputs if n in names]


def check_jacobian(prog: adcore.Program, at: dict, wrt: list[str], batch: list[str] | None,
                   mode: str) -> dict:
    sparse = prog.jacobian(at=at, wrt=wrt, batch=batch, mode=mode, sparse=True)
    dense = prog.jacobian(at=at, wrt=input_order(prog, wrt), batch=batch)
    assert list(sparse["jacobian"]) == input_order(prog, wrt)
    assert_close(sparse["value"], dense["value"], **CLOSE)
    for name, block in sparse["jacobian"].items():
        rows, cols = block["shape"]
        expected = as_2d(dense["jacobian"][name], rows, cols, batch is not None)
        assert_close(densify(block), expected, **CLOSE, what=f"jacobian[{name}]")
    return sparse


def check_hessian(prog: adcore.Program, at: dict, wrt: list[str], batch: list[str] | None,
                  triangle: str) -> dict:
    sparse = prog.hessian(at=at, wrt=wrt, batch=batch, sparse=True, triangle=triangle)
    names = input_order(prog, wrt)
    dense = prog.hessian(at=at, wrt=names, batch=batch)
    for a, b in itertools.product(range(len(names)), repeat=2):
        xa, xb = names[a], names[b]
        if triangle == "lower" and b > a:
            assert xb not in sparse["hessian"][xa]
            continue
        block = sparse["hessian"][xa][xb]
        rows, cols = block["shape"]
        expected = as_2d(dense["hessian"][xa][xb], rows, cols, batch is not None)
        if triangle == "lower" and a == b:  # row r = o * |I| + i keeps i >= column
            i = np.arange(rows)[:, None] % cols
            expected = np.where(i >= np.arange(cols)[None, :], expected, 0.0)
        assert_close(densify(block), expected, **CLOSE, what=f"hessian[{xa}][{xb}]")
    return sparse


def wrt_choice(data: st.DataObject, inputs: tuple[str, ...]) -> list[str]:
    """A non-empty subset of the inputs, in any order."""
    return data.draw(st.lists(st.sampled_from(inputs), min_size=1, unique=True))


@pytest.mark.parametrize("name", sorted(PROGRAMS))
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_sparse_equals_dense(name: str, data: st.DataObject) -> None:
    """Every block of the sparse Jacobian (each mode) and Hessian (each triangle), at one
    point and at a batch with some inputs shared, for any wrt subset in any order."""
    prog = program(PROGRAMS[name][0])
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    wrt = wrt_choice(data, prog.inputs)
    mode = data.draw(st.sampled_from(["auto", "forward", "reverse"]))
    triangle = data.draw(st.sampled_from(["both", "lower"]))
    if data.draw(st.booleans()):
        batch = data.draw(st.lists(st.sampled_from(prog.inputs), min_size=1, unique=True))
        at = {k: v if k in batch else v[0] for k, v in draw(name, rng, 3).items()}
    else:
        batch, at = None, draw(name, rng)
    check_jacobian(prog, at, wrt, batch, mode)
    check_hessian(prog, at, wrt, batch, triangle)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_pattern_never_misses_a_nonzero_and_is_exact_when_smooth(name: str) -> None:
    """`sparsity` patterns hold every nonzero of the dense derivatives at random points;
    for the smooth programs, the union over a few points is the whole pattern."""
    prog = program(PROGRAMS[name][0])
    rng = np.random.default_rng(11)
    at = draw(name, rng)
    for of in ("jacobian", "hessian"):
        found = prog.sparsity(at=at, of=of)
        seen: dict[tuple[str, ...], np.ndarray] = {}
        for _ in range(4):
            point = draw(name, rng)
            dense = getattr(prog, of)(at=point)[of]
            for key, block in _blocks(found[of]):
                rows, cols = block["shape"]
                nonzero = as_2d(_get(dense, key), rows, cols, False) != 0
                mask = np.zeros((rows, cols), dtype=bool)
                mask[block["row"], block["col"]] = True
                assert not np.any(nonzero & ~mask), f"{name}: {of}{key} misses a nonzero"
                seen[key] = seen.get(key, np.zeros_like(mask)) | nonzero
        if name not in ("piecewise", "reductions", "binary", "constants"):
            for key, block in _blocks(found[of]):
                assert seen[key].sum() == len(block["row"]), f"{name}: {of}{key} not exact"


def _blocks(tree: dict, key: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], dict]]:
    if tree.get("format") == "coo":
        return [(key, tree)]
    return [item for name, sub in tree.items() for item in _blocks(sub, key + (name,))]


def _get(tree: dict, key: tuple[str, ...]) -> np.ndarray:
    for name in key:
        tree = tree[name]
    return tree  # type: ignore[return-value]


# ---- closed forms and colour counts on known patterns ----

def rosenbrock_hessian(x: np.ndarray) -> np.ndarray:
    n = len(x)
    h = np.zeros((n, n))
    i = np.arange(n - 1)
    h[i, i] += 2 - 400 * (x[1:] - x[:-1] ** 2) + 800 * x[:-1] ** 2
    h[i + 1, i + 1] += 200
    h[i, i + 1] = h[i + 1, i] = -400 * x[:-1]
    return h


def test_rosenbrock_hessian_closed_form_three_colours() -> None:
    x = np.random.default_rng(1).uniform(-1.5, 1.5, 50)
    out = program(ROSENBROCK).hessian(at={"x": x}, sparse=True)
    assert out["coloring"] == {"mode": "star", "colors": 3, "lower_bound": 3,
                               "ordering": "natural", "directions": 3, "nonzeros": 148}
    assert_close(densify(out["hessian"]["x"]["x"]), rosenbrock_hessian(x), **CLOSE)
    lower = program(ROSENBROCK).hessian(at={"x": x}, sparse=True, triangle="lower")
    assert_close(densify(lower["hessian"]["x"]["x"]), np.tril(rosenbrock_hessian(x)), **CLOSE)


def bratu_jacobian(u: np.ndarray) -> np.ndarray:
    rows, cols = u.shape
    index = np.arange(u.size).reshape(u.shape)
    jac = np.zeros(((rows - 2) * (cols - 2), u.size))
    out = np.arange(jac.shape[0])
    jac[out, index[1:-1, 1:-1].ravel()] = 4 - 0.01 * np.exp(u[1:-1, 1:-1]).ravel()
    for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        jac[out, index[1 + di:rows - 1 + di, 1 + dj:cols - 1 + dj].ravel()] = -1.0
    return jac


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
def test_bratu_jacobian_closed_form_five_colours(mode: str) -> None:
    u = np.random.default_rng(2).uniform(-1, 1, (20, 20))
    out = program(BRATU).jacobian(at={"u": u}, sparse=True, mode=mode)
    facts = out["coloring"]
    assert facts["colors"] == facts["lower_bound"] == 5 and facts["nonzeros"] == 5 * 18 * 18
    assert facts["mode"] == ("forward" if mode == "auto" else mode)
    assert_close(densify(out["jacobian"]["u"]), bratu_jacobian(u), **CLOSE)


def test_hessian_of_a_vector_output_is_one_block_row_per_output_element() -> None:
    """Rows o * |I| + i: the Bratu residual's element o has only d2/du_c2 = -0.01 e^u_c at
    its centre c; the output row colouring lets all outputs share one pass."""
    u = np.random.default_rng(3).uniform(-1, 1, (6, 7))
    out = program(BRATU).hessian(at={"u": u}, sparse=True)
    block = out["hessian"]["u"]["u"]
    centres = np.arange(u.size).reshape(u.shape)[1:-1, 1:-1].ravel()
    assert block["shape"] == (centres.size * u.size, u.size)
    np.testing.assert_array_equal(block["row"], np.arange(centres.size) * u.size + centres)
    np.testing.assert_array_equal(block["col"], centres)
    assert_close(block["data"], -0.01 * np.exp(u[1:-1, 1:-1]).ravel(), **CLOSE)
    assert out["coloring"]["directions"] == 1


@pytest.mark.parametrize("text,colors,nonzeros", [
    ("x[0] * sum(x) + sum(x^2)", 2, 3 * 40 - 2),  # arrow: dense first row and column
    ("sum(x[2:] * x[:-2]) + sum(x[1:] * x[:-1]) + sum(x^4)", None, 5 * 40 - 6),  # banded
    ("sum(x^3) + sum(sin(x[1:] - x[:-1]))", 3, 3 * 40 - 2),  # tridiagonal
])
def test_hessian_colour_counts(text: str, colors: int | None, nonzeros: int) -> None:
    facts = program(text).sparsity(at={"x": np.zeros(40)}, of="hessian")["coloring"]
    assert facts["mode"] == "star" and facts["nonzeros"] == nonzeros
    assert facts["lower_bound"] <= facts["colors"]
    if colors is not None:
        assert facts["colors"] == colors
    else:  # half bandwidth 2: a column colouring needs 5; the star colouring no more
        assert 3 <= facts["colors"] <= 5


def test_dense_derivative_falls_back_to_the_dense_plan() -> None:
    out = program("sum(x)^3").hessian(at={"x": np.arange(1.0, 7.0)}, sparse=True)
    assert out["coloring"]["mode"] == "dense" and out["coloring"]["nonzeros"] == 36
    assert_close(densify(out["hessian"]["x"]["x"]), np.full((6, 6), 6 * 21.0), **CLOSE)


# ---- compile once, run many; limits; requests ----

def test_pattern_and_colouring_are_cached_with_the_kernel() -> None:
    prog = adcore.compile(ROSENBROCK)
    x = np.linspace(-1, 1, 30)
    first, hit = prog.kernel(prog.prepare("hessian", {"x": x}, sparse=True))
    again, hit_again = prog.kernel(prog.prepare("hessian", {"x": 2 * x}, sparse=True))
    assert not hit and hit_again and again is first
    lower, hit_lower = prog.kernel(prog.prepare("hessian", {"x": x}, sparse=True,
                                                triangle="lower"))
    dense, hit_dense = prog.kernel(prog.prepare("hessian", {"x": x}))
    assert not hit_lower and not hit_dense and len({id(first), id(lower), id(dense)}) == 3


def test_sparsity_of_a_jacobian_is_cached_per_mode() -> None:
    prog = adcore.compile(BRATU)
    at = {"u": np.zeros((8, 9))}
    modes = [prog.sparsity(at=at, of="jacobian", mode=mode)["coloring"]["mode"]
             for mode in ("forward", "reverse", "forward")]
    assert modes == ["forward", "reverse", "forward"]


def test_large_sparse_hessian_passes_limits_a_dense_one_fails() -> None:
    """n = 100,000: the dense Hessian (10^10 elements) is refused before anything runs,
    with a hint; the sparse one is three Hessian-vector products."""
    prog = adcore.compile(ROSENBROCK)
    x = np.random.default_rng(4).uniform(-1, 1, 100_000)
    with pytest.raises(adcore.ProgramError) as info:
        prog.hessian(at={"x": x})
    assert info.value.kind == "limit" and "sparse: true" in info.value.hint
    block = prog.hessian(at={"x": x}, sparse=True)["hessian"]["x"]["x"]
    assert len(block["row"]) == 3 * 100_000 - 2
    diagonal = block["row"] == block["col"]
    expected = np.diagonal(rosenbrock_hessian(x[:5]))  # leading entries, by the closed form
    assert_close(block["data"][diagonal][:4], expected[:4], **CLOSE)


def test_sparse_result_over_the_element_limit_is_refused() -> None:
    prog = adcore.compile(ROSENBROCK, adcore.Limits(max_array_elements=1000))
    with pytest.raises(adcore.ProgramError) as info:
        prog.hessian(at={"x": np.zeros((4, 100))}, batch=["x"], sparse=True)
    assert info.value.kind == "limit" and info.value.limit == "max_array_elements"


def test_pattern_too_large_to_analyse_means_dense(monkeypatch: pytest.MonkeyPatch) -> None:
    """Over the analysis budget the pattern is treated as full (conservative): every entry
    is stored, values still right."""
    from adcore.primitives import patterns

    monkeypatch.setattr(patterns, "MAX_ENTRIES", 20)
    x = np.random.default_rng(5).uniform(-1, 1, 12)
    out = adcore.compile(ROSENBROCK).hessian(at={"x": x}, sparse=True)
    assert out["coloring"]["mode"] == "dense" and out["coloring"]["nonzeros"] == 144
    assert_close(densify(out["hessian"]["x"]["x"]), rosenbrock_hessian(x), **CLOSE)


def test_colouring_too_costly_keeps_the_exact_pattern(monkeypatch: pytest.MonkeyPatch) -> None:
    from adcore.primitives import patterns

    monkeypatch.setattr(patterns, "MAX_ENTRIES", 1000)  # an arrow of 40: sum deg^2 = 1560
    out = adcore.compile("x[0] * sum(x) + sum(x^2)").hessian(at={"x": np.ones(40)},
                                                             sparse=True)
    assert out["coloring"]["mode"] == "dense" and out["coloring"]["nonzeros"] == 118


@pytest.mark.parametrize("batch", [None, 3])
def test_no_dependence_gives_empty_blocks(batch: int | None) -> None:
    prog = adcore.compile("stop_gradient(x) * y + floor(x)")
    at = {"x": np.ones(4) if batch is None else np.ones((batch, 4)), "y": np.ones(4)}
    options = {"batch": ["x"]} if batch else {}
    out = prog.jacobian(at=at, wrt=["x"], sparse=True, **options)
    block = out["jacobian"]["x"]
    assert out["coloring"]["mode"] == "empty" and len(block["row"]) == 0
    assert block["data"].shape == ((batch,) if batch else ()) + (0,)
    hess = prog.hessian(at=at, wrt=["x"], sparse=True, **options)["hessian"]["x"]["x"]
    assert len(hess["row"]) == 0


@pytest.mark.parametrize("operation,options,message", [
    ("gradient", {"sparse": True}, "sparse applies to jacobian and hessian"),
    ("hessian", {"sparse": True, "diagonal": True}, "exclude each other"),
    ("hessian", {"triangle": "lower"}, "applies to sparse Hessians"),
    ("jacobian", {"sparse": True, "triangle": "lower"}, "applies to sparse Hessians"),
    ("hessian", {"sparse": True, "triangle": "upper"}, "triangle must be"),
    ("jacobian", {"sparse": "yes"}, "sparse must be true or false"),
    ("sparsity", {}, "sparsity needs 'of'"),
    ("sparsity", {"of": "gradient"}, "sparsity needs 'of'"),
    ("jacobian", {"of": "hessian"}, "'of' applies to sparsity"),
])
def test_sparse_request_errors(operation: str, options: dict, message: str) -> None:
    with pytest.raises(adcore.ProgramError) as info:
        program(ROSENBROCK).run(operation, {"x": np.ones(4)}, **options)
    assert info.value.kind == "request" and message in info.value.message


def test_sparsity_gives_patterns_without_values() -> None:
    out = program(ROSENBROCK).sparsity(at={"x": np.zeros((2, 5))}, batch=["x"], of="hessian",
                                       triangle="lower")
    block = out["hessian"]["x"]["x"]
    assert set(block) == {"format", "shape", "row", "col"} and block["shape"] == (5, 5)
    np.testing.assert_array_equal(block["row"], [0, 1, 1, 2, 2, 3, 3, 4, 4])
    np.testing.assert_array_equal(block["col"], [0, 0, 1, 1, 2, 2, 3, 3, 4])
    assert out["coloring"]["colors"] == 3 and "value" not in out
