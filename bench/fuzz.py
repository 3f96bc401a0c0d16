"""Differential run against JAX (issue 8): generated programs (tests/programs), every
operation compared with JAX in float64 at 1e-10 relative to the largest magnitude of each
result array, with a reproducer printed for each mismatch. By hand, not in CI:

    PYTHONPATH=. /work/benchenv/bin/python -m bench.fuzz --programs 2000 [--seed 0]
    PYTHONPATH=. /work/benchenv/bin/python -m bench.fuzz --only 1234   # one program again

Each program gets its own seed (`--seed` + index): the seed regenerates the program, its
point, its `wrt` (a random subset in a random order), tangents, cotangent and batch.
"""

from __future__ import annotations

import argparse
import math
import time
import traceback
from collections import Counter
from typing import Any

import numpy as np

from bench.run import load_jax  # sets single-threaded XLA and enables float64
from tests.programs import JaxBackend, SeededDraw, dense, generate, largest, point

RTOL = 1e-10
# Absolute floor: an array whose exact value is 0 comes out as rounding noise (1e-17) in
# one system and exact zeros in the other; inputs and values are O(1) by construction.
ATOL = 1e-13


def compare(ours: Any, theirs: Any) -> float:
    """max |ours - theirs| / max(max |theirs|, ATOL / RTOL): the relative error of SPEC §3,
    with an absolute floor for arrays that are zero up to rounding; inf on a shape or
    non-finite mismatch."""
    ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    if ours.shape != theirs.shape:
        return math.inf
    finite = np.isfinite(theirs)
    if not np.array_equal(np.isfinite(ours), finite) or not np.array_equal(
            ours[~finite], theirs[~finite], equal_nan=True):
        return math.inf
    scale = max(np.max(np.abs(theirs[finite]), initial=0.0), ATOL / RTOL)
    return np.max(np.abs(ours[finite] - theirs[finite]), initial=0.0) / scale


class Case:
    """One program with its point, `wrt` and directions, and JAX's answers to compare."""

    def __init__(self, seed: int, be: JaxBackend, nudge: float = 0.0):
        import adcore

        draw, rng = SeededDraw(seed), np.random.default_rng(seed)
        self.program = generate(draw, smooth=draw.chance(0.6))
        self.text = self.program.text()
        self.compiled = adcore.compile(self.text)
        self.at = point(self.program, rng)
        if nudge:  # the same case a few ulps away: how much rounding moves the answers
            self.at = {n: a * (1 + nudge * np.random.default_rng(seed + 1).normal(
                size=a.shape)) for n, a in self.at.items()}
        names = list(self.compiled.inputs)
        picked = [n for n in names if rng.random() < 0.7] or names[:1]
        self.wrt = list(rng.permutation(picked))  # in a random order
        self.v = {n: rng.uniform(-1, 1, self.at[n].shape) for n in self.wrt}
        self.be, self.jnp, self.jax = be, be.xp, be.jax
        self.shape = self.program.result.shape  # the result's
        self.u = rng.uniform(-1, 1, self.shape)
        self.scalar = self.shape == ()

    def primals(self) -> list[Any]:
        return [self.jnp.asarray(self.at[n]) for n in self.wrt]

    def f(self, *xs: Any) -> Any:
        env = {n: self.jnp.asarray(a) for n, a in self.at.items()}
        env.update(zip(self.wrt, xs))
        return self.program.run(self.be, env)

    def reference(self, *p: Any) -> dict[str, Any]:
        """JAX's answers, traced and compiled as one function (op-by-op JAX compiles each
        primitive for each new shape: ~50x slower here)."""
        jax, argnums = self.jax, tuple(range(len(self.wrt)))
        tangents = tuple(self.jnp.asarray(self.v[n]) for n in self.wrt)
        out = {"value": self.f(*p), "jacobian": jax.jacfwd(self.f, argnums)(*p),
               "hessian": jax.hessian(self.f, argnums)(*p),
               "jvp": jax.jvp(self.f, p, tangents)[1],
               "vjp": jax.vjp(self.f, *p)[1](self.jnp.asarray(self.u))}
        if self.scalar:
            out["gradient"] = jax.grad(self.f, argnums)(*p)
            out["hvp"] = jax.jvp(jax.grad(self.f, argnums), p, tangents)[1]
        return out

    def checks(self) -> list[tuple[str, Any, Any]]:
        """(what, ours, JAX's) for every operation that applies."""
        theirs = self.jax.jit(self.reference)(*self.primals())
        self.value = theirs["value"]
        run, wrt, hess = self.compiled.run, self.wrt, theirs["hessian"]
        out: list[tuple[str, Any, Any]] = [("evaluate", run("evaluate", self.at)["value"],
                                             theirs["value"])]
        for mode in ("forward", "reverse"):
            jac = run("jacobian", self.at, wrt=wrt, mode=mode)["jacobian"]
            out += [(f"jacobian {mode} [{n}]", jac[n], t)
                    for n, t in zip(wrt, theirs["jacobian"])]
        ours = run("hessian", self.at, wrt=wrt)["hessian"]
        out += [(f"hessian [{a}][{b}]", ours[a][b], hess[i][j])
                for i, a in enumerate(wrt) for j, b in enumerate(wrt)]
        diag = run("hessian", self.at, wrt=wrt, diagonal=True)["hessian_diagonal"]
        out += [(f"hessian diagonal [{n}]", diag[n], self.diagonal(hess[i][i], n))
                for i, n in enumerate(wrt)]
        lap = sum(np.sum(self.diagonal(hess[i][i], n), axis=tuple(
            range(len(self.shape), len(self.shape) + self.at[n].ndim)))
            for i, n in enumerate(wrt))
        out.append(("laplacian", run("laplacian", self.at, wrt=wrt)["laplacian"], lap))
        out.append(("jvp", run("jvp", self.at, wrt=wrt, v=self.v)["jvp"], theirs["jvp"]))
        vjp = run("vjp", self.at, wrt=wrt, u=self.u)["vjp"]
        out += [(f"vjp [{n}]", vjp[n], t) for n, t in zip(wrt, theirs["vjp"])]
        if self.scalar:
            out += self.scalar_checks(theirs)
        return out

    def scalar_checks(self, theirs: dict[str, Any]) -> list[tuple[str, Any, Any]]:
        run, wrt = self.compiled.run, self.wrt
        grad = run("gradient", self.at, wrt=wrt)["gradient"]
        out = [(f"gradient [{n}]", grad[n], t) for n, t in zip(wrt, theirs["gradient"])]
        hvp = run("hvp", self.at, wrt=wrt, v=self.v)["hvp"]
        out += [(f"hvp [{n}]", hvp[n], t) for n, t in zip(wrt, theirs["hvp"])]
        sparse = run("hessian", self.at, wrt=wrt, sparse=True)["hessian"]
        out += [(f"sparse hessian [{a}][{b}]", dense(sparse[a][b]),
                 np.reshape(theirs["hessian"][i][j], (self.at[a].size, self.at[b].size)))
                for i, a in enumerate(wrt) for j, b in enumerate(wrt)]
        return out

    def diagonal(self, block: Any, name: str) -> np.ndarray:
        n, lead = self.at[name].size, self.shape
        square = np.reshape(np.asarray(block), lead + (n, n))
        return np.reshape(np.diagonal(square, axis1=-2, axis2=-1), lead + self.at[name].shape)

    def reproducer(self) -> str:
        at = {n: a.tolist() for n, a in self.at.items()}
        return (f"program:\n{self.text}\nat = {at}\nwrt = {self.wrt}\n"
                f"v = { {n: a.tolist() for n, a in self.v.items()} }\nu = {self.u.tolist()}")


def classify(case: Case, what: str, error: float, ours: Any, theirs: Any, answer_scale: float,
             be: JaxBackend, seed: int) -> str:
    """What a difference is: a documented convention (the derivatives of a non-finite
    value are NaN); the rounding noise of an exact zero (a block that is zero in exact
    arithmetic, like the Jacobian of sqrt(3) * sign(s), comes out as +-3e-13 in both
    systems: both sides under 1e-10 of the largest magnitude of the whole answer, every
    block of it); rounding amplified by the function (JAX's own answer moves as much when
    the point moves by 1e-13 relative); or a mismatch (a bug until shown otherwise)."""
    if what != "evaluate" and not np.isfinite(np.asarray(case.value)).all():
        return "non-finite value (convention)"
    if largest(ours, theirs) <= RTOL * answer_scale:
        return "rounding noise of an exact zero"
    nudged = {w: t for w, _, t in Case(seed, be, nudge=1e-13).checks()}
    if math.isfinite(error) and compare(nudged[what], theirs) * 10 >= error:
        return "rounding-sensitive point"
    return "mismatches"


def answer_scales(checks: list[tuple[str, Any, Any]]) -> dict[str, float]:
    """The largest magnitude of JAX's answer to each operation, over all its blocks (the
    operation is named by the check's text up to its block: "jacobian forward", "hvp")."""
    scales: dict[str, float] = {}
    for what, _, theirs in checks:
        operation = what.split(" [")[0]
        scales[operation] = max(scales.get(operation, 0.0), largest(theirs))
    return scales


def run(first: int, count: int, verbose: bool) -> Counter[str]:
    load_jax()
    be = JaxBackend()
    tally: Counter[str] = Counter()
    start = time.perf_counter()
    for seed in range(first, first + count):
        try:
            case = Case(seed, be)
            checks = case.checks()
            scales = answer_scales(checks)
            for what, ours, theirs in checks:
                tally["checks"] += 1
                error = compare(ours, theirs)
                if error <= RTOL:
                    continue
                kind = classify(case, what, error, ours, theirs, scales[what.split(" [")[0]],
                                be, seed)
                tally[kind] += 1
                if kind == "mismatches":
                    print(f"MISMATCH seed {seed}: {what}: relative error {error:.3g}\n"
                          f"{case.reproducer()}\nours = {np.asarray(ours).tolist()}\n"
                          f"jax = {np.asarray(theirs).tolist()}\n", flush=True)
        except Exception:  # noqa: BLE001 - a crash is a finding, reported with its seed
            tally["errors"] += 1
            print(f"ERROR seed {seed}:\n{traceback.format_exc()}", flush=True)
        tally["programs"] += 1
        if verbose and tally["programs"] % 100 == 0:
            print(f"{tally['programs']} programs, {dict(tally)}, "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
    tally["seconds"] = round(time.perf_counter() - start)
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0, help="seed of the first program")
    parser.add_argument("--only", type=int, help="run the program of this seed alone")
    args = parser.parse_args()
    first, count = (args.only, 1) if args.only is not None else (args.seed, args.programs)
    tally = run(first, count, verbose=args.only is None)
    print(f"seeds {first}..{first + count - 1}: {dict(tally)}")


if __name__ == "__main__":
    main()
