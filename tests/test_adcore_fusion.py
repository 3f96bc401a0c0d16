"""Fused kernels (numba ufuncs) agree with the reference interpreter on the same plans."""

import numpy as np
import pytest

import adcore
from adcore.codegen import compile_function
from adcore.fusion import fuse
from adcore.interpret import interpret

pytest.importorskip("numba")

PROGRAMS = [
    ("sum(100*(x[1:]-x[:-1]^2)^2 + (1-x[:-1])^2)", "gradient", {}),
    ("sum(100*(x[1:]-x[:-1]^2)^2 + (1-x[:-1])^2)", "hvp", {"v": True}),
    ("sum(where(x > 0, log(x), 0) + sigmoid(x) * softplus(x) - relu(x) * tanh(x))", "gradient",
     {}),
    ("sum(maximum(x, 0.5) + minimum(sin(x), cos(x)) + abs(x)^1.5 + sqrt(abs(x)) + erf(x))",
     "gradient", {}),
    ("sum(exp(-x^2) / (1 + x^2) + atan2(x, 2) + round(x) + floor(x) * x + cbrt(x))", "hvp",
     {"v": True}),
]


def _plan(text: str, operation: str, options: dict, x: np.ndarray):
    program = adcore.compile(text)
    kwargs = {"batch": ["x"]}
    if options.get("v"):
        kwargs["v"] = {"x": np.cos(x)}
    request = program.prepare(operation, {"x": x}, **kwargs)
    kernel, _ = program.kernel(request)
    return kernel, request.arguments(kernel.operation.extras)


@pytest.mark.parametrize("text,operation,options", PROGRAMS)
def test_fused_kernel_matches_interpreter(text, operation, options):
    x = np.random.default_rng(3).uniform(-2, 2, size=(64, 128))
    kernel, args = _plan(text, operation, options, x)
    fused_plan, ufuncs = fuse(kernel.plan)
    assert ufuncs, "expected something to fuse"
    expected = interpret(kernel.plan, args)
    got = compile_function(fused_plan, ufuncs)(*args)
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)


def test_hot_kernel_swaps_in_fused_code_with_same_results():
    x = np.random.default_rng(4).normal(size=(32, 256))
    program = adcore.compile("sum(100*(x[1:]-x[:-1]^2)^2 + (1-x[:-1])^2)")
    first = program.gradient(at={"x": x}, batch=["x"])["gradient"]["x"]
    request = program.prepare("gradient", {"x": x}, batch=["x"])
    kernel, _ = program.kernel(request)
    while kernel.fused is None:
        program.execute(kernel, request)
    assert kernel.fused.result(timeout=120)
    assert "fused" in kernel.source
    np.testing.assert_allclose(program.execute(kernel, request)["gradient"]["x"], first,
                               rtol=1e-13)


def test_a_costly_shared_value_is_read_not_recomputed():
    """exp(u) feeds both the residual's loop and its 5-direction JVP loop: it is computed
    once (by numpy, vectorized) and both loops read it, instead of each calling exp again
    per element (which made the value loop 4x slower)."""
    text = ("4*u[1:-1,1:-1] - u[:-2,1:-1] - u[2:,1:-1] - u[1:-1,:-2] - u[1:-1,2:] "
            "- 0.01*exp(u[1:-1,1:-1])")
    u = np.random.default_rng(5).uniform(-1, 1, (80, 80))
    program = adcore.compile(text)
    request = program.prepare("jacobian", {"u": u}, sparse=True)
    kernel, _ = program.kernel(request)
    args = request.arguments(kernel.operation.extras) + list(kernel.operation.constants)
    fused_plan, loops = fuse(kernel.plan)
    (exp,) = [e for e in fused_plan.eqns if e.prim.name == "exp"]
    readers = [e for e in fused_plan.eqns if exp.out in e.ins]
    assert len(readers) == 2 and all(e.prim.name in loops for e in readers)
    for e, g in zip(interpret(kernel.plan, args), compile_function(fused_plan, loops)(*args)):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)


def test_loops_read_sliced_views_from_the_arrays_they_view():
    """x[1:], x[:-1] and the tangent rows' slices become index offsets into x and the seed
    matrix: no view is left for the loops (numba sees contiguous arrays and vectorizes)."""
    x = np.random.default_rng(6).uniform(-1, 1, 5000)
    program = adcore.compile("sum(100*(x[1:]-x[:-1]^2)^2 + (1-x[:-1])^2)")
    request = program.prepare("hessian", {"x": x}, sparse=True)
    kernel, _ = program.kernel(request)
    args = request.arguments(kernel.operation.extras) + list(kernel.operation.constants)
    fused_plan, loops = fuse(kernel.plan)
    assert any(e.prim.name == "getitem" for e in kernel.plan.eqns)
    assert not any(e.prim.name == "getitem" for e in fused_plan.eqns)
    for e, g in zip(interpret(kernel.plan, args), compile_function(fused_plan, loops)(*args)):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)
