"""The builtins that spell IR primitives (`broadcast_to`, `sum_to`, `add_at`, `einsum`,
`strong_mul`, `transpose` with axes, `axis=[...]`), and the surface form of every primitive.

Builtins: values against numpy, derivatives against central differences (forward, reverse
and the gradient), errors with positions. Surface forms: every primitive of the registry,
in every registry test case and its jvp, vjp and vmap transforms, written as text by
`unlower` and compiled again computes what the IR computes.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import adcore
from adcore.interpret import interpret
from adcore.ir import ArrayType, Function, Var
from adcore.primitives.registry import PRIMITIVES
from adcore.surface import WRITERS
from adcore.unlower import program_text
from adcore.testing import assert_close
from tests.test_adcore_builtins import check_derivatives, value
from tests.test_adcore_registry import CASES, NAMES, _args_for

RNG = np.random.default_rng(7)
A, B, C = RNG.uniform(-1, 1, (2, 3)), RNG.uniform(-1, 1, (3, 4)), RNG.uniform(-1, 1, (2, 3, 4))
V, W = RNG.uniform(-1, 1, (3,)), RNG.uniform(-1, 1, (2,))


def scattered(base: np.ndarray, index: tuple, v: np.ndarray) -> np.ndarray:
    out = np.array(base, dtype=float)
    out[index] += v
    return out


BUILTINS = {  # text: (numpy value, inputs)
    "broadcast_to(v, 2, 3)": (np.broadcast_to(V, (2, 3)), dict(v=V)),
    "broadcast_to(w[0], 4)": (np.full(4, W[0]), dict(w=W)),
    "broadcast_to(reshape(w, 2, 1), 2, 5)": (np.broadcast_to(W[:, None], (2, 5)), dict(w=W)),
    "sum_to(a, 3)": (A.sum(0), dict(a=A)),
    "sum_to(a, 1, 3)": (A.sum(0, keepdims=True), dict(a=A)),
    "sum_to(c, 2, 1, 4)": (C.sum(1, keepdims=True), dict(c=C)),
    "sum_to(c, 1)": (np.array([C.sum()]), dict(c=C)),
    "add_at(zeros(4, 3)[1:3, 0], w)": (scattered(np.zeros((4, 3)), (slice(1, 3), 0), W),
                                      dict(w=W)),
    "add_at(a[:, ::-1], a)": (scattered(A, (slice(None), slice(None, None, -1)), A),
                              dict(a=A)),
    "add_at(b[::2, 3], w)": (scattered(B, (slice(None, None, 2), 3), W), dict(b=B, w=W)),
    "add_at(b[-1], w[0] * b[0])": (scattered(B, (-1,), W[0] * B[0]), dict(b=B, w=W)),
    "add_at(zeros(3, 2)[2:0:-1], a.T[:2])": (
        scattered(np.zeros((3, 2)), (slice(2, 0, -1),), A.T[:2]), dict(a=A)),
    "einsum(a, [0, 1], b, [1, 2])": (A @ B, dict(a=A, b=B)),
    "einsum(a, [0, 1], b, [1, 2], [2, 0])": ((A @ B).T, dict(a=A, b=B)),
    "einsum(a, [0, 1], a, [0, 1])": (np.sum(A * A), dict(a=A)),
    "einsum(c, [0, 1, 2], b, [1, 2])": (np.einsum("ijk,jk->i", C, B), dict(c=C, b=B)),
    "einsum(c, [5, 1, 2], a, [5, 1], [1, 2, 5])": (np.einsum("ajk,aj->jka", C, A),
                                                  dict(c=C, a=A)),
    "einsum(v, [0], w, [1], [1, 0])": (np.outer(W, V), dict(v=V, w=W)),
    "strong_mul(a, v)": (A * V, dict(a=A, v=V)),
    "transpose(c, 2, 0, 1)": (np.transpose(C, (2, 0, 1)), dict(c=C)),
    "transpose(c, -1, 1, 0)": (np.transpose(C, (2, 1, 0)), dict(c=C)),
    "transpose(c)": (C.T, dict(c=C)),
    "sum(c, axis=[0, 2])": (C.sum((0, 2)), dict(c=C)),
    "max(c, axis=[2, 0])": (C.max((2, 0)), dict(c=C)),
    "min(c, axis=[-1, 1])": (C.min((1, 2)), dict(c=C)),
    "norm(c, axis=[0, 1])": (np.sqrt((C * C).sum((0, 1))), dict(c=C)),
    "mean(c, axis=[1, 2])": (C.mean((1, 2)), dict(c=C)),
    "logsumexp(c, axis=[0, 2])": (np.log(np.exp(C).sum((0, 2))), dict(c=C)),
    "softmax(c, axis=[0, 2])": (np.exp(C) / np.exp(C).sum((0, 2), keepdims=True), dict(c=C)),
}


@pytest.mark.parametrize("text", sorted(BUILTINS))
def test_builtin_values_and_derivatives(text: str) -> None:
    expected, at = BUILTINS[text]
    assert_close(value(text, **at), expected, 1e-13, 1e-15, what=text)
    check_derivatives(text, **at)


def test_strong_mul_is_zero_against_infinities() -> None:
    x, y = np.array([0.0, 0.0, 2.0, -0.0]), np.array([np.inf, np.nan, np.inf, 1.0])
    got = value("strong_mul(x, y)", x=x, y=y)
    np.testing.assert_array_equal(got, [0.0, 0.0, np.inf, -0.0])
    # Its derivative in y is x (a zero coefficient absorbs nothing: y's own zeros do), at a
    # point where the value is finite (at the others it is NaN: README conventions).
    finite_x, finite_y = np.array([0.0, 2.0, -0.0]), np.array([np.inf, 1.0, 1.0])
    grad = adcore.compile("sum(strong_mul(x, y))").gradient(
        at={"x": finite_x, "y": finite_y})["gradient"]
    np.testing.assert_array_equal(grad["y"], finite_x)


def test_add_at_into_zeros_is_a_plain_scatter() -> None:
    """-0.0 stays -0.0: the value is placed, not added to a zero."""
    got = value("add_at(zeros(3)[1:], v)", v=np.array([-0.0, 1.0]))
    assert np.signbit(got[1]) and list(got) == [0.0, 0.0, 1.0]


def test_transpose_is_still_a_function_value() -> None:
    got = adcore.compile("jacobian(transpose)(a)").evaluate(at={"a": A})["value"]
    assert got.shape == (3, 2, 2, 3) and got[2, 1, 1, 2] == 1.0 and got.sum() == 6


@pytest.mark.parametrize("text, kind, column, words", [
    ("broadcast_to(a, 3, 3)", "shape", 1, "cannot broadcast shape (2, 3) to (3, 3)"),
    ("broadcast_to(a, -1, 3)", "shape", 1, "non-negative"),
    ("broadcast_to(a, n)", "type", 17, "integer literal"),
    ("sum_to(a, 2)", "shape", 1, "cannot sum shape (2, 3) down to (2,)"),
    ("add_at(a, v)", "type", 8, "indexed array"),
    ("add_at(a[0], a)", "shape", 1, "does not fit the indexed part"),
    ("add_at(a[5], v)", "shape", 10, "out of range"),
    ("add_at(a[0], v, v)", "type", 1, "takes 2 argument(s)"),
    ("einsum(a, [0, 1], v, [1], [1])", "shape", 1, "label 0 of the first operand"),
    ("einsum(a, [0, 1], v, [1], [0, 0])", "shape", 1, "distinct labels"),
    ("einsum(a, [0, 1], v, [1], [3])", "shape", 1, "distinct labels"),
    ("einsum(a, [0, 1], v, [1, 2])", "shape", 1, "does not have 2 axes"),
    ("einsum(a, [0, 0], v, [0])", "shape", 1, "cannot repeat a label"),
    ("einsum(a, [0, 1], v, [60])", "type", 1, "from 0 to 51"),
    ("einsum(a, 0, v, [0])", "type", 11, "list of integer literals"),
    ("einsum(a, [0, x], v, [0])", "type", 15, "integer literal"),
    ("transpose(a, 0)", "shape", 1, "takes 2 axis numbers"),
    ("transpose(a, 0, 0)", "shape", 1, "not a permutation"),
    ("sum(a, axis=[0, -2])", "shape", 1, "names an axis twice"),
    ("sum(a, axis=[0, 2])", "shape", 1, "out of range"),
    ("prod(a, axis=[0])", "type", 1, "one axis"),
    ("concat(a, a, axis=[0])", "type", 1, "one axis"),
    ("stack(a, a, axis=[1])", "type", 1, "one axis"),
    ("grad(add_at)(a, v)", "type", 1, "cannot be passed as a function"),
    ("grad(transpose)(a, a)", "type", 1, "cannot be passed as a function"),
])
def test_builtin_errors(text: str, kind: str, column: int, words: str) -> None:
    inputs = {"a": A, "v": V, "n": 2.0, "x": 1.0}
    prog = adcore.compile(text)
    with pytest.raises(adcore.ProgramError) as raised:
        prog.evaluate(at={name: inputs[name] for name in prog.inputs})
    err = raised.value
    assert (err.kind, err.line, err.column) == (kind, 1, column) and words in err.message, err


# ---- every primitive's surface form ----

def test_every_primitive_has_a_surface_form() -> None:
    assert set(WRITERS) == set(PRIMITIVES.values())


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_surface_form_computes_the_ir(name: str, data: st.DataObject) -> None:
    for case in CASES[name]:
        point = case.draw(data)
        for fn, _, _ in case.derived:
            args = _args_for(fn, point, RNG)
            names = [f"x{i}" for i in range(len(fn.inputs))]
            for output in fn.outputs:
                if output.type.dtype == "bool":
                    continue  # a mask is written only inside `where` (next test)
                one = Function(fn.inputs, fn.eqns, [output])
                text = program_text(one, names)
                again = adcore.compile(text)
                assert again.inputs == tuple(names), text
                got = again.evaluate(at=dict(zip(names, args)))["value"]
                assert_close(got, interpret(one, args)[0], 1e-12, 1e-12, what=text)


def _masked(build: str) -> Function:
    """select(mask moved by shape primitives, x, 0), the mask comparing x with y."""
    from adcore.builder import Builder

    b = Builder()
    x, y, s = Var(ArrayType((2, 3))), Var(ArrayType((3,))), Var(ArrayType(()))
    p = PRIMITIVES
    masks = {
        "transpose": lambda: b.bind(p["transpose"], b.bind(p["gt"], x, y), perm=(1, 0)),
        "getitem": lambda: b.bind(p["getitem"], b.bind(p["le"], y, x), index=((1, None, -1),)),
        "reshape": lambda: b.bind(p["reshape"], b.bind(p["lt"], x, 0.5), shape=(3, 2)),
        "broadcast": lambda: b.bind(p["broadcast_to"], b.bind(p["ge"], s, 0.0), shape=(3, 2)),
        "scalars": lambda: b.bind(p["reshape"], b.bind(p["eq"], s, s), shape=(1, 1)),
        "chain": lambda: b.bind(p["broadcast_to"], b.bind(p["getitem"], b.bind(
            p["ne"], x, y), index=(0,)), shape=(2, 3)),
    }
    mask = masks[build]()
    branch = b.bind(p["reshape"], x, shape=mask.type.shape) if mask.type.size == 6 else s
    out = b.bind(p["select"], mask, branch, 0.0)
    return b.function([x, y, s], [out])


@pytest.mark.parametrize("build", ["transpose", "getitem", "reshape", "broadcast", "scalars",
                                   "chain"])
def test_moved_masks_become_comparisons(build: str) -> None:
    fn = _masked(build)
    text = program_text(fn, ["x", "y", "s"])
    args = [np.array([[0.1, 0.9, 0.5], [0.7, 0.2, 0.5]]), np.array([0.5, 0.5, 0.2]),
            np.array(0.5)]
    got = adcore.compile(text).evaluate(at=dict(zip("xys", args)))["value"]
    np.testing.assert_array_equal(got, interpret(fn, args)[0])
    assert "where(" in text, text
