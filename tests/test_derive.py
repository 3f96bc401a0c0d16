"""`derive` (SPEC §3): derivatives as programs in the language.

The core property is the round trip: a derived program, compiled and evaluated like any
program, gives exactly (bitwise) what the operation gives on the original. It is checked on
hand-written programs across every primitive family, on the seeds, on generated programs,
and on re-derived programs. The expectations are the operations' own results, which the rest
of the suite checks against closed forms and finite differences; here the claim under test
is only that the text computes the same thing.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import adcore
from adcore.limits import Limits
from adcore.testing import assert_close
from tests.programs import HypothesisDraw, generate

HYP = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
RNG = np.random.default_rng(11)

OPERATIONS = ["gradient", "jacobian", "hessian", "hvp", "jvp", "vjp", "laplacian",
              "hessian_diagonal"]
RESULT_KEY = {"hessian_diagonal": "hessian_diagonal"}

# One program per primitive family (and the in-language derivatives), inputs in (0.2, 1.5).
FAMILIES = {
    "elementwise": ("sum(sin(x) * cos(y) + tan(x) / exp(y) + log(x) * sqrt(y) + cbrt(x)"
                    " + arctan(x) + sinh(y) + cosh(x) + tanh(y) + arcsinh(x) + log1p(y)"
                    " + expm1(x) + log2(x) + log10(y) + sigmoid(x) + softplus(y) + erf(x)"
                    " + abs(x - 1) + relu(y - 1) + square(x) + arcsin(x / 2)"
                    " + arccos(y / 2) + arccosh(x + 1) + arctanh(y / 2) + floor(x)"
                    " + sign(y - 1) + ceil(x) + round(y))", {"x": (3,), "y": (3,)}),
    "binary": ("sum(atan2(x, y) + maximum(x, y) * minimum(x, 2 * y) + pow(x, y) + x ^ 3"
               " + y ** 0.5 + clip(x, 0.5, 1) - x / y)", {"x": (2, 3), "y": (3,)}),
    "where": ("sum(where(x > y, x * y, sin(y)) + where(x <= 1, log(x), 0)"
              " + where(y != 0.7, x, y) + where(x == y, 1, x) + where(x < 0.3, x, 2 * x)"
              " + where(y >= x, y, x ^ 2))", {"x": (4,), "y": (4,)}),
    "reductions": ("sum(x, axis=0) @ max(x.T, axis=1) + min(x) * norm(x, axis=-1)[0]"
                   " + logsumexp(x, axis=1)[1] + sum(softmax(x) * x) + mean(x, axis=[0, 1])"
                   " + prod(x, axis=1)[0] + norm(x)", {"x": (2, 3)}),
    "linalg": ("sum(tanh(M @ x) * (x @ N)) + dot(x, x) + sum(outer(x, x[::-1]))"
               " + trace(M @ N) + sum(diag(x)) * sum(diag(N @ M)) + sum(M.T @ M)"
               " + sum(transpose(N))", {"M": (2, 3), "x": (3,), "N": (3, 2)}),
    "shapes": ("sum(reshape(x, 3, 2)[1:, ::-1] ^ 2) + sum(concat(x, x * 2, axis=1)[:, ::2])"
               " + sum(stack(x[0], x[1], axis=1)) * x[-1, 0] + sum([x[0, 0], 2, x[1, 2]])"
               " + sum(x[::-1, 1:][0])", {"x": (2, 3)}),
    "in-language": ("f(y) = sum(sin(y) * y)\ng(y) = exp(y) * y[0]\n"
                    "sum(grad(f)(x)) + sum(jacobian(g)(x)) + sum(hessian(f)(x))"
                    " + jvp(f, x, x) + sum(hvp(f, x, x)) + sum(stop_gradient(x) * x)",
                    {"x": (3,)}),
    "new-builtins": ("sum(einsum(A, [0, 1], B, [1, 2], [2, 0]) * broadcast_to(x[:2], 4, 2))"
                     " + sum(sum_to(A, 1, 3) * x[:1]) + sum(transpose(C, 2, 0, 1) ^ 2)"
                     " + sum(add_at(zeros(2, 3)[1, ::-1], x) * A)"
                     " + sum(add_at(A[:, 1:], B[:2, :2]) ^ 2) + sum(strong_mul(x, x) * x)",
                     {"A": (2, 3), "B": (3, 4), "x": (3,), "C": (2, 3, 2)}),
}
SEEDS = {
    "nested": ("f(y) = 1 / norm(y)\ng(v) = sum(v)^3\ng(grad(f)(x))", {"x": (5,)}),
    "maml": ("loss(p) = mean((X @ p - y)^2); meta(p) = loss(p - 0.01 * grad(loss)(p)); "
             "meta(p)", {"X": (6, 3), "y": (6,), "p": (3,)}),
    "td0": ("value(th, s) = dot(th, s)\n"
            "td_loss(th) = -0.5 * ((stop_gradient(r_t + value(th, s_t)) "
            "- value(th, s_tm1))^2)\ntd_loss(theta)",
            {"theta": (3,), "s_tm1": (3,), "r_t": (), "s_t": (3,)}),
    "tanh": ("tanh(M @ x)", {"M": (2, 3), "x": (3,)}),
    "tanh-loss": ("sum(tanh(M @ x))", {"M": (2, 3), "x": (3,)}),
}


@functools.lru_cache(maxsize=None)
def program(text: str) -> adcore.Program:
    return adcore.compile(text)


def point(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.uniform(0.2, 1.5, shape) for name, shape in shapes.items()}


def leaves(tree: dict, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], dict]]:
    for key, value in tree.items():
        if "program" in value:
            yield path + (key,), value
        else:
            yield from leaves(value, path + (key,))


def operation_and_options(name: str, prog: adcore.Program, at: dict[str, np.ndarray],
                          wrt: list[str] | None = None
                          ) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(operation, its options, the derived programs' extra inputs by name)."""
    if name in ("hessian_diagonal", "hessian"):
        return "hessian", {"diagonal": name == "hessian_diagonal"}, {}
    if name in ("hvp", "jvp"):
        v = {n: RNG.normal(size=np.shape(at[n])) for n in prog.inputs
             if wrt is None or n in wrt}
        return name, {"v": v}, {f"v_{n}": t for n, t in v.items()}
    if name == "vjp":
        u = RNG.normal(size=np.shape(prog.evaluate(at=at)["value"]))
        return name, {"u": u}, {"u": u}
    return name, {}, {}


def expected(result: dict, name: str, path: tuple[str, ...]) -> np.ndarray:
    node = result[RESULT_KEY.get(name, name.split("_")[0])]
    if name in ("jvp", "laplacian"):
        return node
    for key in path:
        node = node[key]
    return node


def round_trip(text: str, shapes: dict[str, tuple[int, ...]], name: str,
               wrt: list[str] | None = None) -> dict:
    """Derive, then compile and evaluate every derived program against the operation."""
    prog, at = program(text), point(shapes)
    operation, options, extras = operation_and_options(name, prog, at, wrt)
    derived = prog.derive(operation, shapes=shapes, wrt=wrt, **{
        k: v for k, v in options.items() if k == "diagonal"})
    result = prog.run(operation, at, wrt=wrt, **options)
    for path, entry in leaves(derived["programs"]):
        again = adcore.compile(entry["program"])
        assert list(again.inputs) == entry["inputs"] == [*prog.inputs, *extras]
        assert again.id == entry["id"]
        got = again.evaluate(at={**at, **extras})["value"]
        want = expected(result, name, path)
        assert list(np.shape(want)) == entry["shape"]
        if name in ("laplacian", "hessian_diagonal"):  # promised to rounding (README)
            assert_close(got, want, 1e-13, 1e-300, what=f"{name} {path}")
        else:
            assert np.array_equal(got, want, equal_nan=True), (
                f"{name} {path}: {np.max(np.abs(got - want))}\n{entry['program']}")
    return derived


def applies(case: tuple[str, dict[str, tuple[int, ...]]], name: str) -> bool:
    """gradient and hvp need a scalar program."""
    text, shapes = case
    return name not in ("gradient", "hvp") or np.ndim(
        program(text).evaluate(at=point(shapes))["value"]) == 0


@pytest.mark.parametrize("family, name", [(f, n) for f in sorted(FAMILIES) for n in OPERATIONS
                                          if applies(FAMILIES[f], n)])
def test_round_trip_families(family: str, name: str) -> None:
    round_trip(*FAMILIES[family], name)


@pytest.mark.parametrize("seed, name", [(s, n) for s in sorted(SEEDS) for n in OPERATIONS
                                        if applies(SEEDS[s], n)])
def test_round_trip_seeds(seed: str, name: str) -> None:
    round_trip(*SEEDS[seed], name)


@pytest.mark.parametrize("wrt", [["p"], ["y", "X"], ["p", "X"]])
def test_round_trip_wrt_subsets_in_any_order(wrt: list[str]) -> None:
    derived = round_trip(*SEEDS["maml"], "hessian", wrt=wrt)
    assert derived["wrt"] == [n for n in ("X", "y", "p") if n in wrt]
    assert set(derived["programs"]) == set(wrt)
    assert all(set(row) == set(wrt) for row in derived["programs"].values())


@HYP
@given(data=st.data())
def test_round_trip_generated_programs(data: Any) -> None:
    """Generated programs (tests/programs: 1-4 inputs of mixed ranks, definitions,
    in-language derivatives), every operation that applies, `wrt` a subset in any order."""
    draw = HypothesisDraw(data)
    tree = generate(draw, smooth=draw.chance(0.5))
    text, shapes = tree.text(), dict(tree.inputs)
    names = list(program(text).inputs)
    wrt = [n for n in names if draw.chance(0.6)] or names[:1]
    for name in [n for n in OPERATIONS if applies((text, shapes), n)]:
        round_trip(text, shapes, name, wrt=wrt[::-1])


def test_derived_programs_batch_like_any_program() -> None:
    """The per-point Hessians of tanh(M x) from the derived program, on a batch of points."""
    text, shapes = SEEDS["tanh"]
    derived = program(text).derive("hessian", shapes=shapes, wrt=["x"])
    block = adcore.compile(derived["programs"]["x"]["x"]["program"])
    at = point(shapes)
    xs = RNG.uniform(-1, 1, (4, 3))
    batched = block.evaluate(at={"M": at["M"], "x": xs}, batch=["x"])["value"]
    for i, x in enumerate(xs):  # a batch runs other BLAS calls: equal to rounding
        single = program(text).hessian(at={"M": at["M"], "x": x}, wrt=["x"])
        assert_close(batched[i], single["hessian"]["x"]["x"], 1e-13, 1e-15)


@pytest.mark.parametrize("seed", ["nested", "maml", "tanh-loss"])
def test_derived_gradients_derive_again(seed: str) -> None:
    """A derived gradient is a program like any other: derive its Jacobian (round trip
    again), which is the original's Hessian up to rounding (another order of operations)."""
    text, shapes = SEEDS[seed]
    gradients = program(text).derive("gradient", shapes=shapes)["programs"]
    hessian = program(text).hessian(at=point(shapes))["hessian"]
    for xi, entry in gradients.items():
        again = round_trip(entry["program"], shapes, "jacobian")["programs"]
        at = point(shapes)
        jacobian = adcore.compile(entry["program"]).jacobian(at=at)["jacobian"]
        for xj in shapes:
            assert_close(jacobian[xj], hessian[xi][xj], 1e-12, 1e-12, what=f"{xi}, {xj}")
            assert again[xj]["inputs"] == list(shapes)


def ir_size(text: str, shapes: dict, operation: str) -> int:
    prog = program(text)
    request = prog.prepare(operation, point(shapes))
    return len(prog.operation(prog.lowered(request.types), request).function.eqns)


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_text_stays_proportional_to_the_ir(seed: str) -> None:
    """Shared values are named once, so the text grows with the IR, not exponentially."""
    text, shapes = SEEDS[seed]
    for operation in ("jacobian", "hessian"):
        derived = program(text).derive(operation, shapes=shapes)
        longest = max(len(e["program"]) for _, e in leaves(derived["programs"]))
        assert longest <= 60 * ir_size(text, shapes, operation) + 200, longest


# ---- inputs: names, order, extras ----

def test_unused_and_reordered_inputs_are_declared_in_order() -> None:
    prog = program("y * sum(x ^ 2) + z")
    grads = prog.derive("gradient", shapes={"x": [2], "y": [], "z": []})["programs"]
    # `+ 0 * stop_gradient(value)`: a derivative of a non-finite value is NaN (README)
    assert grads["z"]["program"].splitlines()[-1] == "1 + 0 * stop_gradient(y * sum(x * x) + z)"
    assert "inputs(p) = [y, x, z]" in grads["x"]["program"]  # it reads x before y
    for entry in grads.values():
        assert adcore.compile(entry["program"]).inputs == ("y", "x", "z")
    reads_all = program("sum(x ^ 2) * y").derive("gradient", shapes={"x": [2], "y": []})
    assert "inputs" not in reads_all["programs"]["x"]["program"]  # x, then y: in order


def test_extra_inputs_never_clash_with_inputs() -> None:
    prog = program("sum(v_x * x) + u * inputs + p")
    shapes = {"v_x": [2], "x": [2], "u": [], "inputs": [], "p": []}
    hvp = prog.derive("hvp", shapes=shapes, wrt=["x", "u"])["programs"]["x"]
    assert hvp["inputs"] == ["v_x", "x", "u", "inputs", "p", "v_x_", "v_u"]
    vjp = program("x * u").derive("vjp", shapes={"x": [2], "u": [2]})["programs"]["x"]
    assert vjp["inputs"] == ["x", "u", "u_"]
    assert adcore.compile(vjp["program"]).inputs == ("x", "u", "u_")
    reordered = program("p + sum(v_x * x) + u * inputs")
    declared = reordered.derive("gradient", shapes=shapes, wrt=["x"])["programs"]["x"]
    assert "inputs_(p_) = [p, v_x, x, u, inputs]" in declared["program"]


@HYP
@given(value=st.floats(allow_nan=True, allow_infinity=True))
def test_literals_lex_back_to_the_same_float(value: float) -> None:
    from adcore.ir import Function, Lit
    from adcore.unlower import program_text

    text = program_text(Function([], [], [Lit(value)]), [])
    got = adcore.compile(text).evaluate(at={})["value"]
    assert np.array_equal(got, value, equal_nan=True)
    assert np.isnan(value) or np.signbit(got) == np.signbit(value)  # -0.0 too; NaN has no sign


def test_integers_print_as_integers() -> None:
    text = program("reshape(x, 3, 2)[::-1, 0] * 2 + 0.5").derive(
        "jacobian", shapes={"x": [2, 3]})["programs"]["x"]["program"]
    assert ".0" not in text.replace("0.5", ""), text


# ---- errors ----

@pytest.mark.parametrize("options, kind, words", [
    ({"operation": "curl", "shapes": {"x": [2]}}, "request", "no operation 'curl'"),
    ({"operation": "gradient"}, "request", "'at' (arrays) or 'shapes'"),
    ({"operation": "gradient", "shapes": {"x": [2]}, "at": {"x": [1, 2]}}, "request",
     "'at' (arrays) or 'shapes'"),
    ({"operation": "gradient", "shapes": {"x": [-1]}}, "request", "non-negative integers"),
    ({"operation": "gradient", "shapes": {"x": [2.5]}}, "request", "non-negative integers"),
    ({"operation": "gradient", "shapes": {"x": [True]}}, "request", "non-negative integers"),
    ({"operation": "gradient", "shapes": {"x": [1] * 33}}, "request", "at most 32"),
    ({"operation": "gradient", "shapes": {"x": 3}}, "request", "non-negative integers"),
    ({"operation": "gradient", "shapes": [3]}, "request", "map input names"),
    ({"operation": "gradient", "shapes": {}}, "request", "missing input 'x'"),
    ({"operation": "gradient", "shapes": {"x": [2], "y": [2]}}, "request", "'y' is not an"),
    ({"operation": "gradient", "shapes": {"x": [2]}, "wrt": ["q"]}, "request", "'q' in wrt"),
    ({"operation": "gradient", "shapes": {"x": [2]}, "wrt": []}, "request", "nothing to"),
    ({"operation": "jacobian", "shapes": {"x": [2]}, "mode": "sideways"}, "request", "mode"),
    ({"operation": "gradient", "shapes": {"x": [2, 2]}}, "shape", "scalar result"),
    ({"operation": "gradient", "shapes": {"x": [3]}}, "shape", "do not broadcast"),
    ({"operation": "gradient", "shapes": {"x": [2**20, 2**20]}}, "limit", "max_array_elem"),
])
def test_user_errors(options: dict, kind: str, words: str) -> None:
    prog = adcore.compile("sin(x) * [1, 2]" if kind == "shape" else "sum(x ^ 2)")
    if "scalar" in words:
        prog = adcore.compile("sin(x)")
    with pytest.raises(adcore.ProgramError) as raised:
        prog.derive(options.pop("operation"), **options)
    assert raised.value.kind == kind and words in raised.value.message, raised.value
    if kind == "shape":
        assert raised.value.line == 1 and raised.value.column is not None


def test_derived_text_over_the_program_limit_is_a_limit_error() -> None:
    prog = adcore.compile("sum(tanh(M @ x))", Limits(max_program_chars=100))
    with pytest.raises(adcore.ProgramError) as raised:
        prog.derive("hessian", shapes={"M": [2, 3], "x": [3]})
    assert raised.value.kind == "limit" and raised.value.limit == "max_program_chars"
    assert raised.value.line is None


# ---- LaTeX (format "latex") ----

def test_latex_of_scalar_programs() -> None:
    prog = program("sin(theta) * r_t + sqrt(theta) / 2")
    grads = prog.derive("gradient", shapes={"theta": [], "r_t": []}, format="latex")
    # The guard `+ 0 * value` (NaN where the value is not finite) is not shown: it is zero
    # wherever the formula means anything; the value it reads still names sqrt(theta).
    assert grads["programs"]["theta"]["latex"] == (
        "\\begin{aligned}\nt_{1} &= \\sqrt{\\theta} \\\\\n\\frac{\\partial f}{\\partial "
        "\\theta} &= 0.5 \\cdot \\frac{0.5}{t_{1}} + r_{t} \\cdot \\cos\\left(\\theta\\right)"
        "\n\\end{aligned}")
    assert grads["programs"]["r_t"]["latex"].endswith(
        "\\frac{\\partial f}{\\partial r_{t}} &= t_{1}\n\\end{aligned}")
    assert "latex" not in prog.derive("gradient", shapes={"theta": [], "r_t": []})[
        "programs"]["theta"]


@pytest.mark.parametrize("text", ["where(x > 0, x ^ -1.5, exp(-x)) * abs(y) + maximum(x, y)",
                                  "sigmoid(x * y) / (1 - floor(x)) + atan2(y, x) ^ 3",
                                  "stop_gradient(x) * log10(y) - cbrt(x * 1e-07) + 1e300 * y"])
def test_latex_is_balanced_for_every_scalar_form(text: str) -> None:
    for name in ("gradient", "hvp", "jvp"):
        derived = program(text).derive(name, shapes={"x": [], "y": []}, format="latex")
        for _, entry in leaves(derived["programs"]):
            tex = entry["latex"]
            assert tex is not None and "strong_mul" not in tex and "where" not in tex, tex
            assert tex.count("{") == tex.count("}") and tex.count("\\left") == tex.count(
                "\\right"), tex


def test_latex_is_null_for_programs_of_arrays() -> None:
    derived = program("sum(x ^ 2) * y").derive("gradient", shapes={"x": [2], "y": []},
                                               format="latex")
    assert derived["programs"]["x"]["latex"] is None
    assert derived["programs"]["y"]["latex"] is None  # its input x is an array
    with pytest.raises(adcore.ProgramError, match="format must be one of text, latex"):
        program("x").derive("gradient", shapes={"x": []}, format="html")


def test_all_programs_of_one_answer_are_bounded_together(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """Each program fits max_program_chars, but 12 of them together are over the total."""
    import adcore.derive

    monkeypatch.setattr(adcore.derive, "TOTAL_PROGRAMS", 2)
    text = " + ".join(f"x{i} * x{(i + 1) % 12}" for i in range(12))
    prog = adcore.compile(text, Limits(max_program_chars=300))
    shapes = {f"x{i}": [] for i in range(12)}
    assert len(prog.derive("gradient", shapes=shapes, wrt=["x0", "x1"])["programs"]) == 2
    with pytest.raises(adcore.ProgramError) as raised:
        prog.derive("gradient", shapes=shapes)
    assert raised.value.limit == "max_program_chars" and "in all" in raised.value.message
