"""Nabla vs JAX vs torch.func on workloads W1-W7 (issues 2 and 3), in one process and one run.

    PYTHONPATH=. /work/benchenv/bin/python -m bench.run [--quick] [--only W1,W3] [--out FILE]

JAX and torch are optional: their columns are skipped when they are not importable.
Metrics per cell and system:
* cold: text (or a fresh jit / fresh torch.func transforms) to first result, with empty
  caches: for Nabla a new `adcore.compile` program object (text made unique), for JAX
  `jax.clear_caches()` then a freshly built `jax.jit` of new closures; median of a few
  trials (one for heavy cells). Library start-up (imports, backend init) is excluded by a
  warm-up of every system on an unrelated function first.
* warm: median time per call after warm-up, time-bounded (--budget seconds, >= 5 calls).
  Nabla's warm is the full in-process call `program.<operation>(at=..., ...)`; the
  kernel-only column is `program.execute(kernel, request)` with a prepared request.
* compile overhead = cold - warm.
Every result is checked against an independent numpy reference (max abs error relative
to the largest magnitude of each reference array, must be <= 1e-8).
"""

from __future__ import annotations

import os

THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}
for _key, _value in THREAD_ENV.items():  # before numpy, jax or torch is imported
    os.environ[_key] = _value

import argparse  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import uuid  # noqa: E402
import zlib  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from .workloads import WORKLOADS, Cell, all_cells, nabla_options  # noqa: E402

HERE = Path(__file__).resolve().parent
TOLERANCE = 1e-8
TARGET_OVERHEAD = 1 / 20
TARGET_WARM_JAX = 2.0
TARGET_WARM_TORCH = 1.0
TARGET_GRAD_EVAL = 5.0
TARGET_HVP_EVAL = 10.0
SYSTEMS = ("Nabla", "JAX", "torch.func")


# ---------------------------------------------------------------- the systems

def load_jax():
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        return jax, jnp
    except Exception as err:  # noqa: BLE001  any import problem: skip the column
        print(f"[bench] JAX not available ({type(err).__name__}: {err}); skipping",
              file=sys.stderr)
        return None


def load_torch():
    try:
        import torch
        import torch.func  # noqa: F401
        torch.set_num_threads(1)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
        torch.set_default_dtype(torch.float64)
        return torch
    except Exception as err:  # noqa: BLE001
        print(f"[bench] torch not available ({type(err).__name__}: {err}); skipping",
              file=sys.stderr)
        return None


@dataclass
class Measure:
    cold_ms: float | None = None          # median over cold trials
    cold_trials: list[float] = field(default_factory=list)
    warm_s: float | None = None           # median per call
    reps: int = 0
    exec_s: float | None = None           # Nabla: kernel-only warm
    compile_ms: float | None = None       # Nabla: adcore's own compile time of the kernel
    error: float | None = None            # max relative error vs the numpy reference
    failure: str | None = None
    note: str = ""

    @property
    def overhead_ms(self) -> float | None:
        if self.cold_ms is None or self.warm_s is None:
            return None
        return self.cold_ms - self.warm_s * 1e3


def timed(call) -> tuple[float, Any]:
    start = time.perf_counter()
    out = call()
    return time.perf_counter() - start, out


def warm_median(call, budget: float, min_reps: int = 5, max_reps: int = 20000
                ) -> tuple[float, int]:
    call()  # one more warm-up call after the cold ones
    times: list[float] = []
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        while len(times) < min_reps or (time.perf_counter() - start < budget
                                        and len(times) < max_reps):
            t0 = time.perf_counter()
            call()
            times.append(time.perf_counter() - t0)
    finally:
        gc.enable()
    return statistics.median(times), len(times)


def cold_of(cell: Cell, trials: list[float]) -> float:
    """The median cold trial; a heavy cell's first trial is dropped: it mostly measures the
    kernel faulting in (transparent huge) pages for the first 537 MB result, in every system."""
    return statistics.median(trials[1:] if cell.heavy and len(trials) > 1 else trials)


def relative_error(outputs: list, reference: list[np.ndarray]) -> float:
    if len(outputs) != len(reference):
        raise AssertionError(f"{len(outputs)} outputs, expected {len(reference)}")
    worst = 0.0
    for got, want in zip(outputs, reference):
        got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
        if got.shape != want.shape:
            raise AssertionError(f"shape {got.shape}, expected {want.shape}")
        scale = float(np.max(np.abs(want))) if want.size else 0.0
        diff = float(np.max(np.abs(got - want))) if want.size else 0.0
        worst = max(worst, diff / scale if scale > 0 else diff)
    return worst


class Nabla:
    name = "Nabla"

    def __init__(self):
        import adcore
        self.adcore = adcore
        p = adcore.compile("sum(x^2) + prod(sin(x))")  # warm-up: imports, lazy modules
        p.gradient(at={"x": np.ones((4, 3))}, batch=["x"])
        p.hessian(at={"x": np.ones(3)})

    def measure(self, cell: Cell, at, extra, reference, trials: int, budget: float) -> Measure:
        m = Measure()
        opts = nabla_options(cell, extra)
        program = kernel = request = None
        for trial in range(trials):
            gc.collect()
            text = f"{cell.text}\n# cold {trial} {uuid.uuid4().hex}"  # unique text

            def cold():
                p = self.adcore.compile(text)
                req = p.prepare(cell.operation, at, **opts)
                k, hit = p.kernel(req)
                return p, req, k, hit, p.execute(k, req)
            seconds, (program, request, kernel, hit, out) = timed(cold)
            if hit:
                m.note = "cache hit on a cold call!"
            m.cold_trials.append(seconds * 1e3)
            if trial == 0:
                m.error = relative_error(cell.extract(out), reference)
            del out
        m.cold_ms = cold_of(cell, m.cold_trials)
        m.compile_ms = kernel.compile_ms
        # A hot kernel is fused in the background (adcore/fusion.py); warm means after that.
        for _ in range(self.adcore.api.HOT_CALLS):
            program.execute(kernel, request)
        if kernel.fused is not None:
            kernel.fused.result()
        m.warm_s, m.reps = warm_median(lambda: program.run(cell.operation, at, **opts), budget)
        m.exec_s, _ = warm_median(lambda: program.execute(kernel, request), budget / 2)
        return m


class Jax:
    name = "JAX"

    def __init__(self, mod):
        self.jax, self.jnp = mod
        self._tiny()

    def _tiny(self):  # backend and dispatch warm-up on an unrelated function
        self.jax.block_until_ready(self.jax.jit(lambda a: a * 2.0 + 1.0)(self.jnp.ones(3)))

    def measure(self, cell: Cell, at, extra, reference, trials: int, budget: float) -> Measure:
        m = Measure()
        factory, args = cell.jax(at, extra)
        fn = None
        for trial in range(trials):
            fn = None
            gc.collect()
            self.jax.clear_caches()
            self._tiny()

            def cold():
                f = factory()
                return f, self.jax.block_until_ready(f(*args))
            seconds, (fn, out) = timed(cold)
            m.cold_trials.append(seconds * 1e3)
            if trial == 0:
                m.error = relative_error([np.asarray(o) for o in out], reference)
            del out
        m.cold_ms = cold_of(cell, m.cold_trials)
        m.warm_s, m.reps = warm_median(lambda: self.jax.block_until_ready(fn(*args)), budget)
        return m


class Torch:
    name = "torch.func"

    def __init__(self, torch):
        self.torch = torch
        import torch.func as tf
        tf.vmap(tf.grad(lambda a: (a * a).sum()))(torch.ones(2, 3))

    def measure(self, cell: Cell, at, extra, reference, trials: int, budget: float) -> Measure:
        m = Measure()
        factory, args = cell.torch(at, extra)
        fn = None
        for trial in range(trials):
            gc.collect()

            def cold():
                f = factory()
                return f, f(*args)
            seconds, (fn, out) = timed(cold)
            m.cold_trials.append(seconds * 1e3)
            if trial == 0:
                m.error = relative_error([o.detach().numpy() for o in out], reference)
            del out
        m.cold_ms = cold_of(cell, m.cold_trials)
        m.warm_s, m.reps = warm_median(lambda: fn(*args), budget)
        return m


# ---------------------------------------------------------------- formatting

def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:.1f}" if abs(ms) >= 10 else f"{ms:.2f}"


def fmt_ratio(r: float | None) -> str:
    if r is None or not math.isfinite(r):
        return "-"
    return f"{r:.3f}" if r < 0.1 else f"{r:.2f}"


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0:
        return None
    return a / b


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def machine() -> dict[str, str]:
    info = {"date": subprocess.run(["date", "-u"], capture_output=True, text=True).stdout.strip(),
            "nproc": subprocess.run(["nproc"], capture_output=True, text=True,  # nproc honours
                                     env={k: v for k, v in os.environ.items()  # OMP_NUM_THREADS
                                          if k not in THREAD_ENV}).stdout.strip()}
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory"] = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    info["cpu"] = cpu
    info["load"] = loadavg()
    info["python"] = platform.python_version()
    info["numpy"] = np.__version__
    try:
        import scipy
        info["scipy"] = scipy.__version__
    except ImportError:
        pass
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=HERE.parent).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "adcore"], capture_output=True,
                               text=True, cwd=HERE.parent).stdout.strip()
        info["commit"] = head + (" (adcore/ has uncommitted changes)" if dirty else "")
    except OSError:
        pass
    return info


@dataclass
class Row:
    cell: Cell
    results: dict[str, Measure]


def targets(rows: list[Row], systems: list[str]) -> list[dict]:
    """Every target of issues 2 and 3 that this run can evaluate."""
    out = []
    by_id = {row.cell.id: row for row in rows}

    def add(target, cell, value, limit, strict=False, detail=""):
        met = None if value is None else (value < limit if strict else value <= limit)
        out.append({"target": target, "cell": cell, "value": value, "limit":
                    ("< " if strict else "<= ") + fmt_ratio(limit), "met": met,
                    "detail": detail})

    for row in rows:
        n = row.results.get("Nabla")
        label = f"{row.cell.workload} {row.cell.title}"
        if n is None or n.failure:
            continue
        if "JAX" in systems and (j := row.results.get("JAX")) and not j.failure:
            add("compile overhead Nabla/JAX", label, ratio(n.overhead_ms, j.overhead_ms),
                TARGET_OVERHEAD, detail=f"{fmt_ms(n.overhead_ms)} / {fmt_ms(j.overhead_ms)} ms")
            if row.cell.warm_target:
                add("warm Nabla/JAX", label, ratio(n.warm_s, j.warm_s), TARGET_WARM_JAX,
                    detail=f"{fmt_time(n.warm_s)} / {fmt_time(j.warm_s)}")
        if "torch.func" in systems and (t := row.results.get("torch.func")) and not t.failure:
            add("warm Nabla/torch.func", label, ratio(n.warm_s, t.warm_s), TARGET_WARM_TORCH,
                strict=True, detail=f"{fmt_time(n.warm_s)} / {fmt_time(t.warm_s)}")
    evaluate = by_id.get("w1-eval-n1000-b100")
    for other, name, limit in (("w1-grad-n1000-b100", "gradient/evaluate", TARGET_GRAD_EVAL),
                               ("w1-hvp-n1000-b100", "HVP/evaluate", TARGET_HVP_EVAL)):
        row = by_id.get(other)
        if evaluate is None or row is None:
            continue
        n_eval, n_other = evaluate.results.get("Nabla"), row.results.get("Nabla")
        if n_eval and n_other and not (n_eval.failure or n_other.failure):
            add(f"Nabla {name}", "W1 n=1000 B=100", ratio(n_other.warm_s, n_eval.warm_s), limit,
                detail=f"{fmt_time(n_other.warm_s)} / {fmt_time(n_eval.warm_s)}")
    return out


def context_ratios(rows: list[Row], systems: list[str]) -> list[str]:
    by_id = {row.cell.id: row for row in rows}
    evaluate = by_id.get("w1-eval-n1000-b100")
    lines = []
    for other, name in (("w1-grad-n1000-b100", "gradient/evaluate"),
                        ("w1-hvp-n1000-b100", "HVP/evaluate")):
        row = by_id.get(other)
        if evaluate is None or row is None:
            continue
        parts = []
        for s in systems:
            a, b = row.results.get(s), evaluate.results.get(s)
            if a and b and not (a.failure or b.failure):
                parts.append(f"{s} {fmt_ratio(ratio(a.warm_s, b.warm_s))}")
        lines.append(f"* W1 n=1000 B=100 {name} (warm): " + ", ".join(parts))
    return lines


OTHER_RESULTS = """

## Other benchmarks

* The HTTP service against a bare FastAPI floor (requests per second, p50/p99 at
  concurrency 1, 8 and 64, server CPU per request): `bench/RESULTS_http.md`, from
  `bench/http_load.py`.
* Hostile traffic, overload at 5x capacity and `/healthz` under maximum-cost requests:
  `bench/RESULTS_hostile.md`, from `bench/load_hostile.py`.
* Arrays on the wire (lists, base64, framed binary; the Python client end to end, the JSON
  path against an orjson echo floor, peak memory per request): `bench/RESULTS_wire.md`, from
  `bench/wire.py`.
* Sparse Jacobians and Hessians against JAX dense and hand-coloured JAX, and the n = 100,000
  sparse Hessian over HTTP: `bench/RESULTS_sparse.md`, from `bench/sparse.py` and
  `bench/sparse_http.py`.
* `derive` on the seeds (text size of each derived program against its IR, time to
  derive): `bench/RESULTS_derive.md`, from `bench/derive_sizes.py`.
"""


def markdown(rows: list[Row], systems: list[str], info: dict, args, wall: float) -> str:
    md = ["# Nabla benchmark results", ""]
    md.append("Generated by `python -m bench.run" + (" --quick" if args.quick else "")
              + (f" --only {args.only}" if args.only else "") + "` (see `bench/README.md`).")
    md.append("")
    md.append(f"* date: {info['date']}")
    md.append(f"* machine: {info['nproc']} CPUs (`nproc`), {info['cpu']}, "
              f"{info.get('memory', '?')} RAM")
    versions = [f"python {info['python']}", f"numpy {info['numpy']}"]
    if "scipy" in info:
        versions.append(f"scipy {info['scipy']}")
    versions += [f"{k} {v}" for k, v in info.get("libs", {}).items()]
    md.append("* versions: " + ", ".join(versions))
    md.append("* repo: " + info.get("commit", "?"))
    md.append("* threads: " + ", ".join(f"{k}={v}" for k, v in THREAD_ENV.items())
              + (f", torch.set_num_threads(1) (torch.get_num_threads() = {info['torch_threads']})"
                 if "torch_threads" in info else ""))
    md.append("* precision: float64 everywhere (`jax_enable_x64`, torch default dtype float64)")
    md.append(f"* protocol: cold = median of {args.trials} fresh trial(s) (heavy cells: 2 trials, "
              "the first dropped, see `cold_of`), "
              f"warm = median per call over >= 5 calls and ~{args.budget:g} s; "
              "overhead = cold - warm; error = max |result - numpy reference| / max |reference|"
              f" per result array (tolerance {TOLERANCE:g})")
    md.append(f"* total wall time of the run: {wall:.0f} s; load average (1/5/15 min) at start "
              f"{info['load']}, at end {info.get('load_end', '?')} (other work on the machine "
              "makes warm times noisy)")
    md.append("")

    tlist = targets(rows, systems)
    md += ["## Targets summary", ""]
    met = sum(1 for t in tlist if t["met"])
    md.append(f"{met} of {len(tlist)} targets met.")
    md.append("")
    md.append("| target | cell | value | target | status | missed by | detail (Nabla / other) |")
    md.append("|---|---|---|---|---|---|---|")
    for t in tlist:
        status = "-" if t["met"] is None else ("met" if t["met"] else "**missed**")
        limit = float(t["limit"].split()[-1])
        by = f"{t['value'] / limit:.1f}x" if t["met"] is False and limit > 0 else ""
        md.append(f"| {t['target']} | {t['cell']} | {fmt_ratio(t['value'])} | {t['limit']} | "
                  f"{status} | {by} | {t['detail']} |")
    md.append("")
    md += context_ratios(rows, systems)
    md.append("")

    md += ["## Overview", ""]
    md.append("| cell | " + " | ".join(f"{s} warm" for s in systems) + " | "
              + " | ".join(f"{s} cold (ms)" for s in systems) + " | Nabla kernel only |")
    md.append("|---|" + "---|" * (2 * len(systems) + 1))
    for row in rows:
        ms = [row.results.get(s) for s in systems]
        warm = [fmt_time(m.warm_s) if m and not m.failure else "-" for m in ms]
        cold = [fmt_ms(m.cold_ms) if m and not m.failure else "-" for m in ms]
        n = row.results.get("Nabla")
        md.append(f"| {row.cell.workload} {row.cell.title} | " + " | ".join(warm + cold)
                  + f" | {fmt_time(n.exec_s) if n and not n.failure else '-'} |")
    md.append("")

    for workload, description in WORKLOADS.items():
        wrows = [r for r in rows if r.cell.workload == workload]
        if not wrows:
            continue
        md += [f"## {workload}: {description}", ""]
        md.append("| cell | system | cold (ms) | warm | compile overhead (ms) | max rel. error | "
                  "notes |")
        md.append("|---|---|---|---|---|---|---|")
        for row in wrows:
            first = True
            for s in systems:
                m = row.results.get(s)
                label = row.cell.title if first else ""
                first = False
                if m is None:
                    continue
                if m.failure:
                    md.append(f"| {label} | {s} | - | - | - | - | failed: {m.failure} |")
                    continue
                err = "-" if m.error is None else f"{m.error:.1e}"
                if m.error is not None and not m.error <= TOLERANCE:
                    err = f"**{err} FAIL**"
                notes = [f"{m.reps} calls"]
                if m.exec_s is not None:
                    notes.append(f"kernel only {fmt_time(m.exec_s)}")
                if m.compile_ms is not None:
                    notes.append(f"adcore compile_ms {m.compile_ms:.1f}")
                if len(m.cold_trials) > 1:
                    notes.append("cold trials " + "/".join(f"{c:.1f}" for c in m.cold_trials))
                if m.note:
                    notes.append(m.note)
                md.append(f"| {label} | {s} | {fmt_ms(m.cold_ms)} | {fmt_time(m.warm_s)} | "
                          f"{fmt_ms(m.overhead_ms)} | {err} | {'; '.join(notes)} |")
        md.append("")
        md.append("| cell | overhead Nabla/JAX | warm Nabla/JAX | warm Nabla/torch.func |")
        md.append("|---|---|---|---|")
        for row in wrows:
            n, j, t = (row.results.get(s) for s in SYSTEMS)
            ok = lambda m: m is not None and not m.failure  # noqa: E731
            nj, nt = ok(n) and ok(j), ok(n) and ok(t)
            md.append(f"| {row.cell.title} | "
                      f"{fmt_ratio(ratio(n.overhead_ms, j.overhead_ms)) if nj else '-'}"
                      f" | {fmt_ratio(ratio(n.warm_s, j.warm_s)) if nj else '-'}"
                      f" | {fmt_ratio(ratio(n.warm_s, t.warm_s)) if nt else '-'} |")
        notes = [r.cell.note for r in wrows if r.cell.note]
        if notes:
            md.append("")
            md += [f"* {r.cell.title}: {r.cell.note}" for r in wrows if r.cell.note]
        md.append("")
    skipped = info.get("skipped", [])
    if skipped:
        md.append("Skipped: " + ", ".join(skipped))
        md.append("")
    return "\n".join(md)


def as_json(rows: list[Row], info: dict) -> dict:
    return {"machine": info, "cells": [
        {"id": r.cell.id, "workload": r.cell.workload, "title": r.cell.title,
         "results": {s: {**m.__dict__, "overhead_ms": m.overhead_ms}
                     for s, m in r.results.items()}} for r in rows]}


# ---------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="skip heavy cells (full W3 Hessians), shorter time budgets, "
                             "one cold trial")
    parser.add_argument("--only", default="",
                        help="comma-separated workloads (W1,W3) or cell ids (w1-grad-n10-b1)")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds of warm calls per cell and system (default 0.6; 0.2 quick)")
    parser.add_argument("--trials", type=int, default=None,
                        help="cold trials per cell and system (default 3; 1 quick)")
    parser.add_argument("--systems", default="Nabla,JAX,torch.func",
                        help="comma-separated subset of Nabla,JAX,torch.func")
    parser.add_argument("--out", default=None,
                        help="markdown output (default bench/RESULTS.md for a full run, "
                             "bench/RESULTS-partial.md with --quick/--only)")
    parser.add_argument("--list", action="store_true", help="list the cells and exit")
    args = parser.parse_args(argv)
    args.budget = args.budget if args.budget is not None else (0.2 if args.quick else 0.6)
    args.trials = args.trials if args.trials is not None else (1 if args.quick else 3)

    cells = all_cells()
    if args.list:
        for c in cells:
            print(f"{c.id:24s} {c.workload}  {c.title}{'  (heavy)' if c.heavy else ''}")
        return 0
    info = machine()
    skipped = []
    if args.only:
        wanted = {w.strip().lower() for w in args.only.split(",") if w.strip()}
        cells = [c for c in cells if c.workload.lower() in wanted or c.id.lower() in wanted]
    if args.quick:
        skipped += [f"{c.workload} {c.title} (--quick)" for c in cells if c.heavy]
        cells = [c for c in cells if not c.heavy]
    info["skipped"] = skipped

    wanted_systems = {s.strip() for s in args.systems.split(",")}
    runners: dict[str, Any] = {}
    libs: dict[str, str] = {}
    if "Nabla" in wanted_systems:
        runners["Nabla"] = Nabla()
    if "JAX" in wanted_systems and (jmod := load_jax()) is not None:
        import jaxlib
        libs["jax"], libs["jaxlib"] = jmod[0].__version__, jaxlib.__version__
        runners["JAX"] = Jax(jmod)
    if "torch.func" in wanted_systems and (torch := load_torch()) is not None:
        libs["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        runners["torch.func"] = Torch(torch)
    info["libs"] = libs
    systems = [s for s in SYSTEMS if s in runners]
    print(f"[bench] systems: {', '.join(systems)}; {len(cells)} cells; budget {args.budget} s",
          file=sys.stderr)

    start = time.perf_counter()
    rows: list[Row] = []
    for cell in cells:
        rng = np.random.default_rng(zlib.crc32(cell.id.encode()))
        at, extra = cell.make_inputs(rng)
        reference = cell.reference(at, extra)
        trials = 2 if cell.heavy else args.trials
        row = Row(cell, {})
        for s in systems:
            runner = runners[s]
            if s != "Nabla" and getattr(cell, "jax" if s == "JAX" else "torch") is None:
                continue
            try:
                m = runner.measure(cell, at, extra, reference, trials, args.budget)
            except Exception as err:  # noqa: BLE001  report the failure in the table
                traceback.print_exc()
                message = f"{type(err).__name__}: {err}".splitlines()[0][:200]
                m = Measure(failure=message.replace("|", "\\|"))
            row.results[s] = m
            gc.collect()
            if m.failure:
                print(f"[bench] {cell.id:22s} {s:10s} FAILED {m.failure}", file=sys.stderr)
            else:
                print(f"[bench] {cell.id:22s} {s:10s} cold {fmt_ms(m.cold_ms):>8s} ms  "
                      f"warm {fmt_time(m.warm_s):>10s}  err {m.error:.1e}"
                      + (f"  kernel {fmt_time(m.exec_s)}" if m.exec_s is not None else ""),
                      file=sys.stderr)
        rows.append(row)
        del at, extra, reference
        gc.collect()
    wall = time.perf_counter() - start
    info["load_end"] = loadavg()

    partial = bool(args.quick or args.only)
    out = Path(args.out) if args.out else HERE / ("RESULTS-partial.md" if partial
                                                  else "RESULTS.md")
    text = markdown(rows, systems, info, args, wall) + OTHER_RESULTS
    out.write_text(text + "\n")
    out.with_suffix(".json").write_text(json.dumps(as_json(rows, info), indent=1,
                                                   default=str) + "\n")
    print(text)
    print(f"[bench] wrote {out} ({wall:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
