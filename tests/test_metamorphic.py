"""Metamorphic suite (issue 8): generated programs (tests/programs) of 1-4 inputs of mixed
ranks, with definitions, constants and in-language derivatives, under every operation.

Relations that must hold whatever the program: permuting `wrt` (and the keys of `v`)
permutes nothing but the order of the keys; a subset of `wrt` gives the matching
sub-results; a batch equals the stack of its points, for every subset of batched inputs
and for `v`/`u` shared or per point; Hessian blocks are symmetric; hvp is H v; the diagonal
is diag(H); the Laplacian is trace(H); sparse equals dense; forward equals reverse;
<u, J v> = <J^T u, v>; derivatives agree with central finite differences of an independent
numpy evaluation; evaluate agrees with numpy; HTTP equals in-process, bit for bit, in every
array form. Each comparison counts as one check; the last test reports the count.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import adcore
from adcore.testing import numeric_jacobian
from tests.programs import HypothesisDraw, NumpyBackend, Program, dense, generate, largest, point

SCALE = float(os.environ.get("NABLA_FUZZ_SCALE", "1"))
CHECKS: Counter[str] = Counter()
NUMPY = NumpyBackend()
RTOL, ATOL = 1e-12, 1e-13  # one system, two routes: agreement to rounding


def examples(n: int) -> Any:
    """Random examples each run (no database: CI starts clean anyway); a failure prints the
    blob for `@reproduce_failure`, since the program text is drawn, not printed."""
    return settings(max_examples=max(1, int(n * SCALE)), deadline=None, database=None,
                    print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


pytestmark = pytest.mark.usefixtures("quiet_numpy")


class Subject:
    """A generated program, compiled, at a random point, with the randomness of its test."""

    def __init__(self, data: Any, smooth: bool | None = None):
        draw = HypothesisDraw(data)
        self.tree: Program = generate(draw, smooth=draw.chance(0.6) if smooth is None
                                      else smooth)
        self.text = self.tree.text()
        self.program = adcore.compile(self.text)
        self.rng = np.random.default_rng(draw.integer(0, 2**31))
        self.at = point(self.tree, self.rng)
        self.names = list(self.program.inputs)
        self.shape = self.tree.result.shape  # type: ignore[union-attr]

    def operations(self) -> list[str]:
        scalar = ["gradient", "hvp"] if self.shape == () else []
        return ["evaluate", "jacobian", "hessian", "hessian_diagonal", "jvp", "vjp",
                "laplacian", *scalar]

    def subset(self) -> list[str]:
        chosen = [n for n in self.names if self.rng.random() < 0.6] or [self.names[-1]]
        return list(self.rng.permutation(chosen))

    def tangents(self, names: list[str], batch: int | None = None) -> dict[str, Any]:
        lead = () if batch is None else (batch,)
        return {n: self.rng.uniform(-1, 1, lead + self.at[n].shape)
                for n in self.rng.permutation(names)}

    def run(self, operation: str, **options: Any) -> dict[str, Any]:
        at = options.pop("at", self.at)
        if operation == "hessian_diagonal":
            operation, options["diagonal"] = "hessian", True
        return self.program.run(operation, at, **options)

    def options(self, operation: str, wrt: list[str]) -> dict[str, Any]:
        if operation in ("hvp", "jvp"):
            return {"wrt": wrt, "v": self.tangents(wrt)}
        if operation == "vjp":
            return {"wrt": wrt, "u": self.rng.uniform(-1, 1, self.shape)}
        return {} if operation == "evaluate" else {"wrt": wrt}


def check(ours: Any, truth: Any, what: str, rtol: float = RTOL, atol: float = ATOL) -> None:
    """One check: |ours - truth| <= rtol * max|truth| + atol, NaN where NaN."""
    ours, truth = np.asarray(ours, dtype=float), np.asarray(truth, dtype=float)
    CHECKS[what.split()[0]] += 1
    assert ours.shape == truth.shape, (what, ours.shape, truth.shape)
    nan = np.isnan(truth)
    np.testing.assert_array_equal(np.isnan(ours), nan, err_msg=what)
    scale = np.max(np.abs(truth[~nan]), initial=0.0)
    np.testing.assert_allclose(ours[~nan], truth[~nan], rtol=0, atol=rtol * scale + atol,
                               err_msg=what)


def leaves(tree: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(tree, dict) and tree.get("format") != "coo":
        for key, value in tree.items():
            yield from leaves(value, path + (key,))
    else:
        yield path, tree


def contract(block: np.ndarray, v: np.ndarray) -> np.ndarray:
    """block (..., *v.shape) . v over v's axes."""
    return np.tensordot(block, v, axes=v.ndim) if v.ndim else block * v


def check_sparse(block: dict[str, Any], truth: np.ndarray, value: Any, what: str) -> None:
    """A COO block against the dense answer: its entries are the dense entries at their
    positions; elsewhere the dense answer holds exact zeros, or NaN where the value is not
    finite (README: a sparse pattern is structural, whatever the values)."""
    truth = np.asarray(truth, dtype=float).reshape(block["shape"])
    inside = np.zeros(block["shape"], dtype=bool)
    inside[block["row"], block["col"]] = True
    check(np.asarray(block["data"]), truth[block["row"], block["col"]], what)
    outside = truth[~inside]
    poisoned = not np.isfinite(np.asarray(value)).all()
    assert ((outside == 0) | (np.isnan(outside) & poisoned)).all(), what


# ---- wrt: order and subsets ----

@examples(150)
@given(data=st.data())
def test_wrt_order_and_subsets(data: Any) -> None:
    s = Subject(data)
    operation = s.rng.choice([o for o in s.operations() if o != "evaluate"])
    wrt = s.subset()
    options = s.options(operation, wrt)
    part = s.run(operation, **options)
    in_order = s.run(operation, **{**options, "wrt": sorted(wrt, key=s.names.index)})
    for (path, got), (path2, same) in zip(leaves(part), leaves(in_order)):
        assert path == path2, (s.text, operation, path, path2)  # keyed in input order
        np.testing.assert_array_equal(got, same, err_msg=f"{s.text}\n{operation} {path}")
        CHECKS["order"] += 1
    full_h = s.run("hessian")["hessian"] if operation in ("hvp", "laplacian") else None
    full_j = s.run("jacobian")["jacobian"] if operation == "jvp" else None
    key = {"hessian_diagonal": "hessian_diagonal"}.get(operation, operation)
    if operation in ("gradient", "jacobian", "vjp", "hessian_diagonal", "hessian"):
        full = s.run(operation, **{**options, "wrt": None})[key]
        for path, got in leaves(part[key]):
            truth = full
            for k in path:
                truth = truth[k]
            check(got, truth, f"subset {operation} {path}\n{s.text}")
    elif operation == "hvp":
        for a in wrt:
            truth = sum(contract(full_h[a][b], options["v"][b]) for b in wrt)
            check(part["hvp"][a], truth, f"subset hvp {a}\n{s.text}")
    elif operation == "jvp":
        truth = sum(contract(full_j[b], options["v"][b]) for b in wrt)
        check(part["jvp"], truth, f"subset jvp\n{s.text}")
    elif operation == "laplacian":
        nd = len(s.shape)
        truth = sum(np.trace(full_h[b][b].reshape(s.shape + (s.at[b].size,) * 2), axis1=nd,
                             axis2=nd + 1) for b in wrt)
        check(part["laplacian"], truth, f"subset laplacian\n{s.text}")


# ---- batches ----

@examples(120)
@given(data=st.data())
def test_a_batch_is_the_stack_of_its_points(data: Any) -> None:
    s = Subject(data)
    operation = s.rng.choice(s.operations())
    size = int(s.rng.integers(2, 4))
    batched = s.subset()
    wrt = s.subset()
    at = {n: np.stack([s.at[n]] + [s.rng.uniform(-1, 1, s.at[n].shape)
                                   for _ in range(size - 1)]) if n in batched else s.at[n]
          for n in s.names}
    options: dict[str, Any] = {} if operation == "evaluate" else {"wrt": wrt}
    if operation in ("hvp", "jvp"):  # each tangent shared or per point, at random
        options["v"] = {n: (s.tangents([n], size) if s.rng.random() < 0.5
                            else s.tangents([n]))[n] for n in wrt}
    if operation == "vjp":
        options["u"] = s.rng.uniform(-1, 1, ((size,) if s.rng.random() < 0.5 else ())
                                     + s.shape)
    together = s.run(operation, at=at, batch=batched, **options)
    for i in range(size):
        one = {n: a[i] if n in batched else a for n, a in at.items()}
        single = dict(options)
        if "v" in options:
            single["v"] = {n: t[i] if t.shape != s.at[n].shape else t
                           for n, t in options["v"].items()}
        if "u" in options and options["u"].shape != s.shape:
            single["u"] = options["u"][i]
        alone = s.run(operation, at=one, **single)
        for (path, got), (_, truth) in zip(leaves(together), leaves(alone)):
            check(np.asarray(got)[i], truth, f"batch {operation} point {i} {path}\n{s.text}"
                  f"\nbatch={batched}")


# ---- relations between the operations ----

@examples(120)
@given(data=st.data())
def test_hessians_hvps_diagonals_laplacians_and_sparse_agree(data: Any) -> None:
    s = Subject(data)
    wrt = s.subset()
    hessian = s.run("hessian", wrt=wrt)["hessian"]
    nd = len(s.shape)
    for a in wrt:
        for b in wrt:
            swapped = np.moveaxis(hessian[b][a], range(nd + s.at[b].ndim, hessian[b][a].ndim),
                                  range(nd, nd + s.at[a].ndim))
            check(hessian[a][b], swapped, f"symmetry H[{a}][{b}]\n{s.text}", rtol=1e-10)
    square = {n: hessian[n][n].reshape(s.shape + (s.at[n].size,) * 2) for n in wrt}
    # forward over forward (diagonal, Laplacian) against forward over reverse: rounding
    # differs, so noise is judged against the whole Hessian
    atol = ATOL + RTOL * largest(*(hessian[a][b] for a in wrt for b in wrt))
    diagonal = s.run("hessian_diagonal", wrt=wrt)["hessian_diagonal"]
    for n in wrt:
        truth = np.diagonal(square[n], axis1=nd, axis2=nd + 1).reshape(s.shape + s.at[n].shape)
        check(diagonal[n], truth, f"diagonal {n}\n{s.text}", atol=atol)
    laplacian = s.run("laplacian", wrt=wrt)["laplacian"]
    check(laplacian, sum(np.trace(square[n], axis1=nd, axis2=nd + 1) for n in wrt),
          f"laplacian\n{s.text}", atol=atol * len(wrt))
    if s.shape == ():
        v = s.tangents(wrt)
        hvp = s.run("hvp", wrt=wrt, v=v)["hvp"]
        for a in wrt:
            check(hvp[a], sum(contract(hessian[a][b], v[b]) for b in wrt),
                  f"hvp {a}\n{s.text}", atol=atol * sum(s.at[b].size for b in wrt))
    sparse = s.run("hessian", wrt=wrt, sparse=True)
    for a, b in ((a, b) for a in wrt for b in wrt):
        check_sparse(sparse["hessian"][a][b], hessian[a][b], sparse["value"],
                     f"sparse H[{a}][{b}]\n{s.text}")


@examples(120)
@given(data=st.data())
def test_jacobians_jvps_and_vjps_agree(data: Any) -> None:
    s = Subject(data)
    wrt = s.subset()
    forward = s.run("jacobian", wrt=wrt, mode="forward")["jacobian"]
    reverse = s.run("jacobian", wrt=wrt, mode="reverse")["jacobian"]
    answer = s.run("jacobian", wrt=wrt, sparse=True)
    sparse, value = answer["jacobian"], answer["value"]
    v, u = s.tangents(wrt), s.rng.uniform(-1, 1, s.shape)
    jvp = s.run("jvp", wrt=wrt, v=v)["jvp"]
    vjp = s.run("vjp", wrt=wrt, u=u)["vjp"]
    for n in wrt:
        check(reverse[n], forward[n], f"reverse = forward {n}\n{s.text}", rtol=1e-10)
        check_sparse(sparse[n], forward[n], value, f"sparse jacobian {n}\n{s.text}")
        check(vjp[n], np.tensordot(u, forward[n], axes=u.ndim) if u.ndim else u * forward[n],
              f"vjp = u J {n}\n{s.text}", rtol=1e-10)
    check(jvp, sum(contract(forward[n], v[n]) for n in wrt), f"jvp = J v\n{s.text}",
          rtol=1e-10)
    check(np.sum(u * jvp), sum(np.sum(vjp[n] * v[n]) for n in wrt),
          f"<u, J v> = <J^T u, v>\n{s.text}", rtol=1e-10, atol=1e-12)


# ---- independent truth: numpy and finite differences ----

def reference(s: Subject, name: str) -> Any:
    """x -> the program's value with input `name` at x: numpy's evaluation of the tree, or,
    where the program holds in-language derivatives (what is under test), our evaluate."""
    def value(x: np.ndarray) -> np.ndarray:
        at = {**s.at, name: x}
        if s.tree.uses_derivatives:
            return s.program.evaluate(at=at)["value"]
        return np.asarray(s.tree.run(NUMPY, at), dtype=float)
    return value


def check_differences(ours: Any, f: Any, x: np.ndarray, what: str) -> None:
    """Against central differences (Richardson-extrapolated) at two step sizes. Their own
    error is bounded by how much the two disagree (truncation) plus the rounding of f's
    values divided by the step (a derivative of 1 under a value of 1e12 is below the
    rounding of differences at step 1e-4); the tolerance widens by that bound. Where the
    bound reaches the third digit the differences are no truth at all (sin of a Jacobian
    worth 1e19 aliases at any step we can take), so the example is discarded, not passed."""
    step = 1e-4
    coarse, fine = numeric_jacobian(f, x, eps=2 * step), numeric_jacobian(f, x, eps=step)
    finite = np.isfinite(coarse) & np.isfinite(fine)
    value = np.asarray(f(x), dtype=float)
    rounding = 10 * np.finfo(float).eps * np.max(np.abs(value[np.isfinite(value)]),
                                                 initial=0.0) / step
    noise = 10 * np.max(np.abs(coarse - fine)[finite], initial=0.0) + rounding
    assume(noise <= 1e-3 * np.max(np.abs(fine)[finite], initial=0.0) + 1e-6)
    check(ours, fine, what, rtol=1e-6, atol=1e-8 + noise)


@examples(80)
@given(data=st.data())
def test_derivatives_match_central_differences(data: Any) -> None:
    s = Subject(data, smooth=True)
    wrt = s.subset()
    jacobian = s.run("jacobian", wrt=wrt)["jacobian"]
    for n in wrt:
        check_differences(jacobian[n], reference(s, n), s.at[n],
                          f"central differences d/d{n}\n{s.text}")
    if s.shape == ():
        a, b = wrt[0], wrt[-1]
        hessian = s.run("hessian", wrt=wrt)["hessian"]
        gradient = lambda x: s.program.gradient(at={**s.at, b: x}, wrt=[a])["gradient"][a]
        check_differences(hessian[a][b], gradient, s.at[b],
                          f"central differences of the gradient H[{a}][{b}]\n{s.text}")


@examples(150)
@given(data=st.data())
def test_evaluate_matches_numpy(data: Any) -> None:
    draw = HypothesisDraw(data)
    tree = generate(draw, smooth=draw.chance(0.5), derivatives=False)
    at = point(tree, np.random.default_rng(draw.integer(0, 2**31)))
    value = adcore.compile(tree.text()).evaluate(at=at)["value"]
    check(value, tree.run(NUMPY, at), f"evaluate\n{tree.text()}")


# ---- HTTP equals in-process, bit for bit ----

@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from fastapi.testclient import TestClient

    from service.client import Client
    from service.main import create_app
    from service.settings import Settings

    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("metamorphic") / "data",
                              gc_freeze=False, max_concurrent=4))
    with pytest.MonkeyPatch.context() as patch, TestClient(app) as http:
        # Fused kernels agree with numpy to rounding, not bit for bit: compare unfused.
        patch.setattr("adcore.api.fusion_available", lambda: False)
        yield {form: Client("http://testserver", http, arrays=form)
               for form in ("list", "base64", "binary")}


@examples(100)
@given(data=st.data())
def test_http_equals_in_process_bit_for_bit(data: Any, clients: dict[str, Any]) -> None:
    s = Subject(data)
    operation = s.rng.choice(s.operations())
    options = s.options(operation, s.subset())
    if operation in ("jacobian", "hessian") and s.rng.random() < 0.3:
        options["sparse"] = True
    ours = s.run(operation, **options)
    form = str(s.rng.choice(list(clients)))
    if operation == "hessian_diagonal":
        operation, options = "hessian", {**options, "diagonal": True}
    remote = clients[form].run(operation, s.text, s.at, **options)
    coloring = ours.pop("coloring", None)  # sparse: in `meta` over HTTP
    assert remote["meta"].get("coloring") == coloring, (remote["meta"], coloring)
    assert set(remote) == set(ours) | {"id", "meta"}, (set(remote), set(ours))
    for path, truth in leaves(ours):
        got = remote
        for key in path:
            got = got[key]
        if isinstance(truth, dict):  # a sparse block; the client gives a scipy coo_array
            got, truth = got.toarray(), dense(truth)
        np.testing.assert_array_equal(got, truth, err_msg=f"{form} {operation} {path}\n"
                                      f"{s.text}")
        CHECKS["http"] += 1


def test_zz_report_checks() -> None:
    """How many checks this run made (shown with -s or on failure); a few thousand."""
    total = sum(CHECKS.values())
    print(f"\nmetamorphic checks: {total} {dict(CHECKS)}")
    if SCALE >= 1 and len(CHECKS) >= 8:  # the whole file ran, not a selection
        assert total >= 3000, dict(CHECKS)
