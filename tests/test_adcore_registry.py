"""One test per primitive of the registry (JAX's LAX_GRAD_OPS table): each record is
complete, each differentiable primitive passes check_grads at random points of its domain,
its batch rule equals a loop plus np.stack, codegen equals the reference interpreter, and
simplify preserves values. Every transform's output typechecks.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adcore.builder import Builder
from adcore.codegen import compile_function
from adcore.interpret import interpret
from adcore.ir import ArrayType, Atom, Function, Var
from adcore.jvp import jvp
from adcore.primitives import PRIMITIVES, Cost
from adcore.simplify import simplify
from adcore.testing import assert_close, check_grads, typecheck
from adcore.transpose import vjp
from adcore.vmap import vmap

P = PRIMITIVES
HYP = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))

Interval = tuple[float, float]
ANY: tuple[Interval, ...] = ((-2.0, 2.0),)
NONZERO: tuple[Interval, ...] = ((-2.0, -0.1), (0.1, 2.0))
POSITIVE: tuple[Interval, ...] = ((0.1, 5.0),)
OPEN_UNIT: tuple[Interval, ...] = ((-0.9, 0.9),)
OFF_INTEGERS = tuple((k + 0.1, k + 0.9) for k in range(-2, 2))
OFF_HALVES = tuple((k - 0.4, k + 0.4) for k in range(-2, 3))
Points = Callable[[st.DataObject], list[np.ndarray]]


@dataclass
class Case:
    build: Callable[[Builder, list[Var]], Atom]
    shapes: tuple[tuple[int, ...], ...]
    domains: tuple[tuple[Interval, ...], ...] = (ANY,)  # per input; the last one repeats
    grads: str = "check"  # "check", "zero" (derivative exactly 0) or "none" (bool output)
    points: Points | None = None
    label: str = ""
    fn: Function = field(init=False)

    def __post_init__(self) -> None:
        b = Builder()
        xs = [Var(ArrayType(s)) for s in self.shapes]
        self.fn = b.function(xs, [self.build(b, xs)])

    @functools.cached_property
    def derived(self) -> list[tuple[Function, Function, Callable[..., Any]]]:
        """(fn, simplify(fn), compiled fn) for the case and its transforms."""
        fns = [self.fn, vmap(self.fn, (True,) * len(self.shapes), 2)]
        if self.grads != "none":
            fns += [jvp(self.fn), vjp(self.fn), jvp(jvp(self.fn)), vjp(jvp(self.fn))]
        out = []
        for fn in fns:
            simple = simplify(fn)
            typecheck(simple)
            out.append((fn, simple, compile_function(fn)))
        return out

    def draw(self, data: st.DataObject) -> list[np.ndarray]:
        if self.points is not None:
            return self.points(data)
        out = []
        for i, shape in enumerate(self.shapes):
            domain = self.domains[min(i, len(self.domains) - 1)]
            elements = st.one_of(*[st.floats(lo, hi) for lo, hi in domain])
            out.append(data.draw(hnp.arrays(np.float64, shape, elements=elements)))
        return out


def prim(name: str, **params: object) -> Callable[[Builder, list[Var]], Atom]:
    return lambda b, xs: b.bind(P[name], *xs, **params)


def separated(shape: tuple[int, ...]) -> Points:
    """Distinct entries at least 0.2 apart: away from the ties of max/min."""
    def draw(data: st.DataObject) -> list[np.ndarray]:
        size = int(np.prod(shape))
        raw = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-0.4, 0.4)))
        perm = np.array(data.draw(st.permutations(range(size))), float).reshape(shape)
        return [raw + perm - size / 2]
    return draw


def apart(data: st.DataObject) -> list[np.ndarray]:
    """(x, y) with |x - y| >= 0.1 everywhere: away from the ties of maximum/minimum."""
    x = data.draw(hnp.arrays(np.float64, (2, 3), elements=st.floats(-2, 2)))
    gap = data.draw(hnp.arrays(np.float64, (2, 3), elements=st.one_of(
        st.floats(-1, -0.1), st.floats(0.1, 1))))
    return [x, x + gap]


def unary(name: str, domain: tuple[Interval, ...] = ANY, grads: str = "check") -> list[Case]:
    return [Case(prim(name), ((2, 3),), (domain,), grads)]


def binary(name: str, dx: tuple[Interval, ...] = ANY, dy: tuple[Interval, ...] = ANY,
           lit: float | None = None) -> list[Case]:
    cases = [Case(prim(name), ((2, 3), (3,)), (dx, dy), label="broadcast"),
             Case(prim(name), ((), (2,)), (dx, dy), label="scalar")]
    if lit is not None:
        cases.append(Case(lambda b, xs: b.bind(P[name], xs[0], lit), ((3,),), (dx,), label="lit"))
    return cases


def compare(name: str) -> list[Case]:
    ties = ((-1.0, -1.0), (0.0, 0.0), (1.0, 1.0))  # equal values happen
    return [Case(prim(name), ((2, 3), (3,)), (ties,), grads="none")]


def einsum(*specs: tuple[str, str, str, tuple[int, ...], tuple[int, ...]]) -> list[Case]:
    return [Case(prim("einsum", spec=(a, b_, o)), (sa, sb), label=f"{a},{b_}->{o}")
            for a, b_, o, sa, sb in specs]


SMOOTH = ["sin", "cos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "exp", "expm1",
          "sigmoid", "softplus", "erf", "neg"]
CASES: dict[str, list[Case]] = {name: unary(name) for name in SMOOTH}
CASES |= {
    "tan": unary("tan", ((-1.2, 1.2),)), "arcsin": unary("arcsin", OPEN_UNIT),
    "arccos": unary("arccos", OPEN_UNIT), "arctanh": unary("arctanh", OPEN_UNIT),
    "arccosh": unary("arccosh", ((1.1, 3.0),)), "log": unary("log", POSITIVE),
    "log2": unary("log2", POSITIVE), "log10": unary("log10", POSITIVE),
    "sqrt": unary("sqrt", POSITIVE), "log1p": unary("log1p", ((-0.9, 3.0),)),
    "cbrt": unary("cbrt", NONZERO), "abs": unary("abs", NONZERO),
    "sign": unary("sign", NONZERO), "relu": unary("relu", NONZERO),
    "floor": unary("floor", OFF_INTEGERS), "ceil": unary("ceil", OFF_INTEGERS),
    "round": unary("round", OFF_HALVES),
    "stop_gradient": unary("stop_gradient", grads="zero"),
    "add": binary("add", lit=2.0), "sub": binary("sub", lit=2.0),
    "mul": binary("mul", lit=-3.0), "smul": binary("smul", lit=-3.0),
    "div": binary("div", ANY, NONZERO, lit=4.0),
    "pow": binary("pow", ((0.3, 2.0),), ((-2.0, 2.0),), lit=3.0)
    + [Case(prim("pow"), ((3,), (3,)), (((0.3, 2.0),), ((-2.0, 2.0),)), label="same shape")],
    "atan2": binary("atan2", NONZERO, ANY),
    "maximum": [Case(prim("maximum"), ((2, 3), (2, 3)), points=apart)],
    "minimum": [Case(prim("minimum"), ((2, 3), (2, 3)), points=apart)],
    "select": [Case(lambda b, xs: b.bind(P["select"], b.bind(P["gt"], xs[0], 0.0), xs[1], xs[2]),
                    ((2, 3), (2, 3), (3,)), (NONZERO, ANY))],
    **{name: compare(name) for name in ("lt", "le", "gt", "ge", "eq", "ne")},
    "einsum": einsum(("ij", "jk", "ik", (2, 3), (3, 4)), ("i", "i", "", (3,), (3,)),
                     ("i", "j", "ij", (2,), (3,)), ("ij", "j", "i", (2, 3), (3,)),
                     ("bij", "bjk", "bik", (2, 2, 3), (2, 3, 2)), ("ij", "ij", "", (2, 3), (2, 3)),
                     ("i", "ij", "ij", (3,), (3, 3)), ("ij", "ij", "i", (3, 3), (3, 3)),
                     ("ij", "jk", "ki", (2, 3), (3, 4)), ("ij", "kj", "ik", (2, 3), (4, 3)),
                     ("bij", "bj", "ib", (2, 3, 4), (2, 4))),
    "reshape": [Case(prim("reshape", shape=(3, 2)), ((2, 3),)),
                Case(prim("reshape", shape=(1,)), ((),), label="scalar")],
    "broadcast_to": [Case(prim("broadcast_to", shape=(2, 3)), ((3,),)),
                     Case(prim("broadcast_to", shape=(4, 2, 3)), ((1, 3),)),
                     Case(prim("broadcast_to", shape=(2,)), ((),), label="scalar")],
    "sum_to": [Case(prim("sum_to", shape=(3,)), ((2, 3),)),
               Case(prim("sum_to", shape=(1, 3)), ((2, 3),)),
               Case(prim("sum_to", shape=(2, 1)), ((4, 2, 3),))],
    "reduce_sum": [Case(prim("reduce_sum", axes=a), ((2, 3, 4),), label=str(a))
                   for a in [(1,), (0, 2), (0, 1, 2), ()]],
    "transpose": [Case(prim("transpose", perm=(1, 0)), ((2, 3),)),
                  Case(prim("transpose", perm=(2, 0, 1)), ((2, 3, 4),))],
    "getitem": [Case(prim("getitem", index=ix), ((4, 3),), label=str(ix)) for ix in [
        ((3, None, -1), 1), ((0, 4, 2), (0, 3, 1)), (2,), ((2, 0, -1), (2, None, -2))]],
    "scatter": [Case(prim("scatter", index=((1, 3, 1),), shape=(4,)), ((2,),)),
                Case(prim("scatter", index=((3, None, -2), 1), shape=(4, 3)), ((2,),))],
    "scatter_add": [Case(prim("scatter_add", index=((1, 3, 1),)), ((4,), (2,))),
                    Case(prim("scatter_add", index=((3, None, -2), 1)), ((4, 3), (2,)))],
    "concat": [Case(prim("concat", axis=0), ((2, 3), (1, 3))),
               Case(prim("concat", axis=1), ((2, 3), (2, 2), (2, 1)))],
    "fill": [Case(lambda b, xs: b.bind(P["add"], xs[0], b.bind(P["fill"], value=2.5, shape=(3,))),
                  ((2, 3),))],
    "eye": [Case(lambda b, xs: b.bind(P["mul"], xs[0], b.bind(P["eye"], n=3)), ((3, 3),))],
    "reduce_max": [Case(prim("reduce_max", axes=a), ((2, 3),), points=separated((2, 3)),
                        label=str(a)) for a in [(1,), (0, 1)]],
    "reduce_min": [Case(prim("reduce_min", axes=a), ((2, 3),), points=separated((2, 3)),
                        label=str(a)) for a in [(0,), (0, 1)]],
    "norm": [Case(prim("norm", axes=a), ((2, 3),), (NONZERO,), label=str(a))
             for a in [(1,), (0, 1)]],
}
NAMES = sorted(PRIMITIVES)
EXACT = dict(rtol=1e-12, atol=1e-12)


def test_every_primitive_has_cases() -> None:
    assert sorted(CASES) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_record_is_complete(name: str) -> None:
    p = P[name]
    assert p.name == name
    for rule in (p.shape, p.impl, p.jvp, p.batch, p.cost, p.sparsity):
        assert callable(rule), f"{name}: a rule is missing"
    assert isinstance(p.numpy, str) or callable(p.numpy)
    assert p.transpose is None or callable(p.transpose)
    if p.linear:
        assert p.transpose is not None, f"{name} is linear but has no transpose"
    for case in CASES[name]:
        typecheck(case.fn)
        (eqn,) = [e for e in case.fn.eqns if e.prim is p]
        in_types = [a.type for a in eqn.ins]
        source = p.source([f"a{i}" for i in range(len(eqn.ins))], eqn.params, in_types, repr)
        assert isinstance(source, str) and all(f"a{i}" in source for i in range(len(eqn.ins)))
        compile(source, "<source>", "eval")  # valid Python
        cost = p.cost(tuple(in_types), eqn.out.type, eqn.params)
        assert isinstance(cost, Cost) and cost.flops >= 0 and cost.bytes >= 0


@pytest.mark.parametrize("name", NAMES)
@HYP
@given(data=st.data())
def test_check_grads(name: str, data: st.DataObject) -> None:
    for case in CASES[name]:
        args = case.draw(data)
        if case.grads == "check":
            check_grads(case.fn, args, order=2)
        elif case.grads == "zero":
            t = interpret(jvp(case.fn), args + [np.ones_like(a) for a in args])[1]
            assert np.array_equal(t, np.zeros_like(t))
            ct = interpret(vjp(case.fn), args + [np.ones(case.fn.outputs[0].type.shape)])[1]
            assert np.array_equal(ct, np.zeros_like(ct))


def _subsets(n: int) -> list[tuple[bool, ...]]:
    return [flags for flags in itertools.product([False, True], repeat=n) if any(flags)]


def _check_batching(fn: Function, points: list[list[np.ndarray]], flags: tuple[bool, ...]
                    ) -> None:
    size = len(points)
    batched = vmap(fn, flags, size)
    typecheck(batched)
    args = [np.stack([p[i] for p in points]) if bt else points[0][i]
            for i, bt in enumerate(flags)]
    got = interpret(batched, args)
    singles = [interpret(fn, [p[i] if bt else points[0][i] for i, bt in enumerate(flags)])
               for p in points]
    for k, out in enumerate(got):
        assert_close(out, np.stack([s[k] for s in singles]), **EXACT, what=f"output {k}")


@pytest.mark.parametrize("name", NAMES)
@HYP
@given(data=st.data())
def test_batch_rule_equals_loop(name: str, data: st.DataObject) -> None:
    """vmap(fn) == stack of single points, for every subset of batched inputs; also through
    the jvp and vjp functions (batched tangents and cotangents)."""
    rng = np.random.default_rng(0)
    for case in CASES[name]:
        points = [case.draw(data) for _ in range(3)]
        for flags in _subsets(len(case.shapes)):
            _check_batching(case.fn, points, flags)
        if case.grads == "none":
            continue
        n_in = len(case.shapes)
        extra = [[rng.standard_normal(s) for s in case.shapes] for _ in points]
        with_t = [p + t for p, t in zip(points, extra)]
        _check_batching(jvp(case.fn), with_t, (True,) * n_in + (False,) * n_in)
        _check_batching(jvp(case.fn), with_t, (False,) * n_in + (True,) * n_in)
        out_shape = case.fn.outputs[0].type.shape
        with_u = [p + [rng.standard_normal(out_shape)] for p in points]
        _check_batching(vjp(case.fn), with_u, (True,) * (n_in + 1))
        _check_batching(vjp(case.fn), with_u, (False,) * n_in + (True,))


def _args_for(fn: Function, base: list[np.ndarray], rng: np.random.Generator
              ) -> list[np.ndarray]:
    """The case's point for the leading inputs, random arrays for tangents and cotangents;
    batched inputs get the point repeated with noise-free copies."""
    out = []
    for i, v in enumerate(fn.inputs):
        if i < len(base) and v.type.shape == base[i].shape:
            out.append(base[i])
        elif i < len(base):
            out.append(np.broadcast_to(base[i], v.type.shape).copy())
        else:
            out.append(rng.standard_normal(v.type.shape))
    return out


@pytest.mark.parametrize("name", NAMES)
@HYP
@given(data=st.data())
def test_codegen_and_simplify_equal_interpret(name: str, data: st.DataObject) -> None:
    """On the function and its jvp, vjp, vmap and second-order transforms."""
    rng = np.random.default_rng(1)
    for case in CASES[name]:
        point = case.draw(data)
        for fn, simple, compiled in case.derived:
            args = _args_for(fn, point, rng)
            want = interpret(fn, args)
            got = compiled(*args)
            assert len(got) == len(want)
            for g, s, w in zip(got, interpret(simple, args), want):
                assert_close(np.asarray(g, float), w, **EXACT, what=f"{name} codegen")
                assert_close(s, w, **EXACT, what=f"{name} simplify")


def test_check_grads_catches_wrong_rules() -> None:
    """The harness itself: a wrong JVP and a wrong transpose are both caught."""
    bad_jvp = dataclasses.replace(P["sin"], name="bad_sin", jvp=lambda b, primals, tangents,
                                  params, out: b.bind(P["mul"], tangents[0], out))
    holder: list = []
    bad_transpose = dataclasses.replace(
        P["neg"], name="bad_neg",
        jvp=lambda b, primals, tangents, params, out: b.bind(holder[0], tangents[0]),
        transpose=lambda b, ct, ins, linear, params: [ct])
    holder.append(bad_transpose)
    x = np.array([0.3, -0.5])
    for prim, modes in [(bad_jvp, ("fwd",)), (bad_transpose, ("rev",))]:
        b = Builder()
        v = Var(ArrayType((2,)))
        fn = b.function([v], [b.bind(prim, v)])
        with pytest.raises(AssertionError):
            check_grads(fn, [x], order=1, modes=modes)


@pytest.mark.parametrize("spec,sa,sb", [(("ij", "j", ""), (2, 3), (3,)),
                                        (("i", "j", ""), (2,), (3,))])
def test_einsum_spec_is_refused_or_differentiable(spec, sa, sb) -> None:  # noqa: ANN001
    from adcore.errors import ProgramError

    try:
        case = Case(prim("einsum", spec=spec), (sa, sb))
    except ProgramError:
        return  # refused by the shape rule: fine
    check_grads(case.fn, [np.linspace(-1, 1, int(np.prod(s))).reshape(s) for s in (sa, sb)])


def _sample(domain: tuple[Interval, ...], size: int, rng: np.random.Generator) -> np.ndarray:
    pick = rng.integers(len(domain), size=size)
    lo, hi = np.array(domain)[pick].T
    return rng.uniform(lo, hi)


ELEMENTWISE = [n for n in NAMES if P[n].elementwise]
@pytest.mark.parametrize("name", [n
                                  for n in ELEMENTWISE])
def test_codegen_large_arrays(name: str) -> None:
    """Arrays over the memory planner's threshold, so generated code writes in place into
    dying buffers: still the interpreter's values, for the op, its jvp and its vjp."""
    rng, case, size = np.random.default_rng(3), CASES[name][0], 2048
    b = Builder()
    xs = [Var(ArrayType((size,))) for _ in case.shapes]
    scaled = [b.bind(P["mul"], x, 1.0) for x in xs]  # buffers we own, dying at the op
    if name == "select":
        out = b.bind(P["select"], b.bind(P["gt"], scaled[0], 0.0), scaled[1], scaled[2])
    else:
        out = b.bind(P[name], *scaled)
    fn = b.function(xs, [out])
    args = [_sample(case.domains[min(i, len(case.domains) - 1)], size, rng)
            for i in range(len(xs))]
    fns = [fn] if case.grads == "none" else [fn, jvp(fn), vjp(fn)]
    for g in fns:
        full = args + [rng.standard_normal(v.type.shape) for v in g.inputs[len(args):]]
        for got, want in zip(compile_function(g)(*full), interpret(g, full)):
            assert_close(np.asarray(got, float), want, **EXACT, what=name)


# ---- sparsity rules: the patterns cover every nonzero derivative, and are exact when smooth

# piecewise functions: a branch not taken at a point still counts (both branches of where)
PIECEWISE = {"select", "maximum", "minimum", "relu", "reduce_max", "reduce_min"}


def _dense_derivatives(fn: Function, args: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Jacobian (m, n) and Hessian (m * n, n) over all inputs, flattened in input order,
    from the dense transforms run by the reference interpreter."""
    from adcore import derivatives as d

    wrt = list(range(len(fn.inputs)))
    sizes = [v.type.size for v in fn.inputs]
    starts = np.cumsum([0] + sizes[:-1])
    m, n = fn.outputs[0].type.size, sum(sizes)
    jac = np.concatenate([np.reshape(b, (m, -1)) for b in interpret(d.jacobian(fn, wrt), args)[1:]],
                         axis=1)
    hess = np.zeros((m, n, n))
    blocks = interpret(d.hessian(fn, wrt), args)
    for (a, b), block in zip(itertools.product(wrt, wrt), blocks):
        hess[:, starts[a]:starts[a] + sizes[a], starts[b]:starts[b] + sizes[b]] = np.reshape(
            block, (m, sizes[a], sizes[b]))
    return jac, hess.reshape(m * n, n)


def _as_mask(pattern: Any) -> np.ndarray:
    mask = np.zeros(pattern.shape, dtype=bool)
    mask[pattern.row, pattern.col] = True
    return mask


def _patterns(case: Case) -> tuple[np.ndarray, np.ndarray]:
    from adcore.sparsity import forward, hessian_pattern, jacobian_pattern

    wrt = list(range(len(case.shapes)))
    flow = forward(case.fn, wrt)
    return (_as_mask(jacobian_pattern(case.fn, wrt, flow)),
            _as_mask(hessian_pattern(case.fn, wrt, flow)))


DIFFERENTIABLE = [n for n in NAMES if CASES[n][0].grads != "none"]


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_sparsity_rule_covers_derivatives(name: str, data: st.DataObject) -> None:
    """The first- and second-order patterns from the rules hold every nonzero of the dense
    derivatives, at any point of the domain (hypothesis tries zeros and edges too)."""
    for case in CASES[name]:
        jac_mask, hess_mask = _patterns(case)
        jac, hess = _dense_derivatives(case.fn, case.draw(data))
        assert not np.any((jac != 0) & ~jac_mask), f"{name}: a Jacobian nonzero is missed"
        assert not np.any((hess != 0) & ~hess_mask), f"{name}: a Hessian nonzero is missed"
        if case.grads == "zero":
            assert not jac_mask.any() and not hess_mask.any()


@pytest.mark.parametrize("name", [n for n in DIFFERENTIABLE if n not in PIECEWISE])
def test_sparsity_rule_is_exact_for_smooth_primitives(name: str) -> None:
    """At generic points, the union of the dense derivatives' nonzeros is the pattern: no
    structural zero is reported as a possible nonzero (exact up to structure)."""
    rng = np.random.default_rng(5)
    for case in CASES[name]:
        jac_mask, hess_mask = _patterns(case)
        seen_jac, seen_hess = np.zeros_like(jac_mask), np.zeros_like(hess_mask)
        for _ in range(3):
            args = [_sample(case.domains[min(i, len(case.domains) - 1)], int(np.prod(s)),
                            rng).reshape(s) for i, s in enumerate(case.shapes)]
            jac, hess = _dense_derivatives(case.fn, args)
            seen_jac |= jac != 0
            seen_hess |= hess != 0
        np.testing.assert_array_equal(seen_jac, jac_mask, err_msg=f"{name} {case.label}")
        np.testing.assert_array_equal(seen_hess, hess_mask, err_msg=f"{name} {case.label}")
