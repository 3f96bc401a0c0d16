"""Sparse Jacobians and Hessians (issue 10): Nabla against JAX dense (`jax.hessian`) and
against JAX with the same colouring done by hand (vmapped HVPs / JVPs over the seed rows,
then a gather), in one process and one run.

    PYTHONPATH=. /work/benchenv/bin/python -m bench.sparse [--budget S]

Threads are pinned to one (bench.run's settings). Nabla's warm time is the whole in-process
call `program.hessian(at=..., sparse=True)`; cold is a fresh program object to its first
result (pattern + colouring + plan + compile + run), after a warm-up on an unrelated
function (library start-up excluded, as in bench.run), and once more in a fresh process.
Every Nabla result is checked against JAX's at the same nonzeros.
"""

from __future__ import annotations

from . import run as _run  # noqa: F401  first: pins the thread counts before numpy loads

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import adcore  # noqa: E402

ROSENBROCK = "sum(100*(x[1:]-x[:-1]^2)^2 + (1-x[:-1])^2)"
BRATU = ("4*u[1:-1,1:-1] - u[:-2,1:-1] - u[2:,1:-1] - u[1:-1,:-2] - u[1:-1,2:] "
         "- 0.01*exp(u[1:-1,1:-1])")
COLD_SCRIPT = """
import time, numpy as np
t0 = time.perf_counter()
import adcore
t1 = time.perf_counter()
out = adcore.compile({text!r}).hessian(at={{"x": np.linspace(-1, 1, {n})}}, sparse=True)
t2 = time.perf_counter()
print(f"{{(t1 - t0) * 1e3:.0f}} {{(t2 - t1) * 1e3:.0f}}")
"""


def median_time(fn: Callable[[], Any], budget: float) -> float:
    fn()
    times: list[float] = []
    end = time.perf_counter() + budget
    while time.perf_counter() < end or len(times) < 5:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def jax_modules() -> tuple[Any, Any]:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    return jax, jnp


def hand_coloured(jax: Any, jnp: Any, directional: Callable, seeds: np.ndarray,
                  take: np.ndarray, width: int) -> list[Callable]:
    """jit(x -> vmap(directional(x, .))(seeds) then the gather), with the same colouring
    and the same recovery positions as Nabla's; two gathers (flat and 2-D indexing: XLA
    prefers one or the other by size), the faster is reported."""
    seeds_j, flat = jnp.asarray(seeds), jnp.asarray(take)
    passes, positions = jnp.asarray(take // width), jnp.asarray(take % width)

    @jax.jit
    def flat_gather(x: Any) -> Any:
        return jax.vmap(lambda s: directional(x, s))(seeds_j).ravel()[flat]

    @jax.jit
    def indexed(x: Any) -> Any:
        return jax.vmap(lambda s: directional(x, s))(seeds_j)[passes, positions]

    return [lambda x, f=f: jax.block_until_ready(f(x)) for f in (flat_gather, indexed)]


def best_of(variants: list[Callable], x: Any, budget: float) -> float:
    return min(median_time(lambda: f(x), budget / len(variants)) for f in variants)


def kernel_plan(prog: adcore.Program, operation: str, at: dict) -> Any:
    kernel, _ = prog.kernel(prog.prepare(operation, at, sparse=True))
    return kernel.operation


def warmed(prog: adcore.Program, operation: str, at: dict) -> Callable[[], Any]:
    """The in-process call, after the kernel's background fusion (warm means after it, as
    in bench.run)."""
    call = lambda: getattr(prog, operation)(at=at, sparse=True)  # noqa: E731
    for _ in range(adcore.api.HOT_CALLS):
        call()
    kernel, _ = prog.kernel(prog.prepare(operation, at, sparse=True))
    if kernel.fused is not None:
        kernel.fused.result()
    return call


def cold_in_process(text: str, operation: str, at: dict) -> float:
    adcore.compile("sum(sin(y[1:]) * y[:-1])").hessian(  # warm-up: an unrelated function
        at={"y": np.linspace(0, 1, 50)}, sparse=True)
    fresh = adcore.compile(f"{text} + 0 * sum(zeros(1)) # {uuid.uuid4().hex}")
    start = time.perf_counter()
    getattr(fresh, operation)(at=at, sparse=True)
    return time.perf_counter() - start


def rosenbrock(n: int, budget: float, jax: Any, jnp: Any, rows: list) -> None:
    x = np.random.default_rng(0).uniform(-1.5, 1.5, n)
    prog = adcore.compile(ROSENBROCK)
    out = prog.hessian(at={"x": x}, sparse=True)
    block, facts = out["hessian"]["x"]["x"], out["coloring"]
    seeds = kernel_plan(prog, "hessian", {"x": x}).constants[0]

    def f(z: Any) -> Any:
        return jnp.sum(100 * (z[1:] - z[:-1] ** 2) ** 2 + (1 - z[:-1]) ** 2)

    hvp = lambda z, s: jax.jvp(jax.grad(f), (z,), (s,))[1]  # noqa: E731
    gather = _hessian_take(block, seeds)
    hand = hand_coloured(jax, jnp, hvp, seeds, gather, n)
    x_j = jnp.asarray(x)
    error = max(np.abs(np.asarray(f(x_j)) - block["data"]).max() for f in hand) / np.abs(
        block["data"]).max()
    nabla = median_time(warmed(prog, "hessian", {"x": x}), budget)
    hand_t = best_of(hand, x_j, budget)
    row = {"cell": f"Rosenbrock Hessian n={n:,}", "nabla": nabla, "hand": hand_t,
           "facts": facts, "error": error, "cold": cold_in_process(ROSENBROCK, "hessian",
                                                                  {"x": x})}
    if n <= 20_000:
        dense = jax.jit(jax.hessian(f))
        row["dense"] = median_time(lambda: jax.block_until_ready(dense(jnp.asarray(x))),
                                   budget)
    rows.append(row)


def _hessian_take(block: dict, seeds: np.ndarray) -> np.ndarray:
    """Positions of the nonzeros in vmap(hvp)(seeds).ravel(), by the same star-colouring
    recovery as Nabla's (colour of j unique in row i: row i of pass c(j), else row j of c(i))."""
    colors = np.argmax(seeds, axis=0)
    count, n = seeds.shape
    i, j = block["row"], block["col"]
    keys = i * count + colors[j]
    direct = np.bincount(keys, minlength=n * count)[keys] == 1
    return np.where(direct, colors[j] * n + i, colors[i] * n + j)


def bratu(grid: int, budget: float, jax: Any, jnp: Any, rows: list) -> None:
    u = np.random.default_rng(1).uniform(-1, 1, (grid, grid))
    prog = adcore.compile(BRATU)
    out = prog.jacobian(at={"u": u}, sparse=True)
    block, facts = out["jacobian"]["u"], out["coloring"]
    colors = np.asarray((np.arange(grid)[:, None] + 2 * np.arange(grid)[None, :]) % 5).ravel()
    seeds = np.zeros((5, grid * grid))
    seeds[colors, np.arange(grid * grid)] = 1.0
    m = (grid - 2) ** 2
    take = colors[block["col"]] * m + block["row"]

    def residual(v: Any) -> Any:
        v = v.reshape(grid, grid)
        return (4 * v[1:-1, 1:-1] - v[:-2, 1:-1] - v[2:, 1:-1] - v[1:-1, :-2] - v[1:-1, 2:]
                - 0.01 * jnp.exp(v[1:-1, 1:-1])).ravel()

    jvp = lambda z, s: jax.jvp(residual, (z,), (s,))[1]  # noqa: E731
    hand = hand_coloured(jax, jnp, jvp, seeds, take, m)
    flat = jnp.asarray(u.ravel())
    error = max(np.abs(np.asarray(f(flat)) - block["data"]).max() for f in hand) / np.abs(
        block["data"]).max()
    rows.append({"cell": f"Bratu {grid}x{grid} Jacobian ({m:,} x {grid * grid:,})",
                 "nabla": median_time(warmed(prog, "jacobian", {"u": u}), budget),
                 "hand": best_of(hand, flat, budget), "facts": facts,
                 "error": error, "cold": cold_in_process(BRATU, "jacobian", {"u": u})})


def fresh_process_cold(n: int) -> str:
    done = subprocess.run([sys.executable, "-c", COLD_SCRIPT.format(text=ROSENBROCK, n=n)],
                          capture_output=True, text=True, check=True)
    imports, first = done.stdout.split()
    return f"import adcore {imports} ms, then first sparse Hessian {first} ms"


def report(rows: list[dict]) -> None:
    print("| cell | colours (lower bound) | nonzeros | Nabla warm | JAX hand-coloured | "
          "ratio | JAX dense | dense/Nabla | Nabla cold | max rel. error |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        facts, dense = r["facts"], r.get("dense")
        speedup = f"{dense / r['nabla']:.0f}x" if dense else "-"
        print(f"| {r['cell']} | {facts['colors']} ({facts['lower_bound']}), {facts['mode']} | "
              f"{facts['nonzeros']:,} | {_t(r['nabla'])} | {_t(r['hand'])} | "
              f"{r['nabla'] / r['hand']:.2f} | {_t(dense) if dense else '-'} | {speedup} | "
              f"{r['cold'] * 1e3:.0f} ms | {r['error']:.1e} |")


def _t(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", type=float, default=1.0, help="seconds per timing")
    args = parser.parse_args()
    jax, jnp = jax_modules()
    rows: list[dict] = []
    rosenbrock(1_000, args.budget, jax, jnp, rows)
    rosenbrock(100_000, args.budget, jax, jnp, rows)
    bratu(300, args.budget, jax, jnp, rows)
    report(rows)
    print(f"\nfresh process, n = 100,000: {fresh_process_cold(100_000)}")


if __name__ == "__main__":
    main()
