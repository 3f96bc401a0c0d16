"""Show the generated numpy kernel of a benchmark cell and where its time goes, line by line.

    PYTHONPATH=. python -m bench.profile_kernel --list
    PYTHONPATH=. python -m bench.profile_kernel w1-grad-n1000-b100 [--top 15] [--budget 1]
    PYTHONPATH=. python -m bench.profile_kernel w5-td0-b10000 --cprofile
    PYTHONPATH=. python -m bench.profile_kernel --program "sum(x^2)" --op gradient \\
        --input x=100x1000 --batch x

Prints `kernel.source`, then runs the kernel statement by statement over the cell's inputs
(the same seeded inputs as `bench.run`), repeating whole passes in program order and
timing each statement (median over passes), with the shape and size of what it produced.
Per statement `exec` adds ~0.3 us, so lines near that are noise. The sum of the lines is
compared with a plain call of the compiled kernel and with the full API call
(`program.<operation>`: request validation and result assembly included).
`--cprofile` profiles whole API calls with cProfile instead (numpy operators on arrays are
not Python calls, so this only shows function-level helpers: `place`, `np.einsum`, ...).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import statistics
import sys
import time
import zlib

from . import run as _run  # noqa: F401  sets the one-thread environment before numpy loads
from .workloads import all_cells, nabla_options

import numpy as np  # noqa: E402  (after the thread environment)

LINE = re.compile(r"^\s+(v\d+) = (.*)$")


def parse_input(spec: str) -> tuple[str, np.ndarray]:
    """`x=100x1000`, `b=scalar` -> a seeded random array."""
    name, _, shape = spec.partition("=")
    dims = () if shape in ("", "scalar") else tuple(int(d) for d in shape.split("x"))
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    return name, rng.standard_normal(dims)


def setup(args) -> tuple:
    import adcore
    if args.program:
        at = dict(parse_input(s) for s in args.input)
        opts: dict = {}
        if args.batch:
            opts["batch"] = args.batch.split(",")
        if args.wrt:
            opts["wrt"] = args.wrt.split(",")
        if args.op == "hvp":
            rng = np.random.default_rng(1)  # one direction per point for batched inputs
            opts["v"] = {n: rng.standard_normal(at[n].shape) for n in
                         (opts.get("wrt") or list(at))}
        if args.mode:
            opts["mode"] = args.mode
        if args.diagonal:
            opts["diagonal"] = True
        text, operation, title = args.program, args.op, args.program
    else:
        cells = {c.id: c for c in all_cells()}
        if args.cell not in cells:
            sys.exit(f"unknown cell {args.cell!r}; --list shows the cells")
        cell = cells[args.cell]
        at, extra = cell.make_inputs(np.random.default_rng(zlib.crc32(cell.id.encode())))
        opts = nabla_options(cell, extra)
        text, operation, title = cell.text, cell.operation, f"{cell.workload} {cell.title}"
    program = adcore.compile(text)
    request = program.prepare(operation, at, **opts)
    kernel, _ = program.kernel(request)
    return program, request, kernel, operation, at, opts, title


def kernel_arguments(kernel, request) -> tuple[list, str]:
    args = list(request.arguments(kernel.operation.extras))
    note = ""
    if kernel.sweep is not None:  # a Hessian diagonal: the runner sweeps chunks of directions
        directions, chunk = kernel.sweep
        rows = np.zeros((chunk, directions))
        count = min(chunk, directions)
        rows[np.arange(count), np.arange(count)] = 1.0
        args.append(rows)
        passes = -(-directions // chunk)
        note = (f"Hessian diagonal sweep: {directions} directions in chunks of {chunk} -> "
                f"{passes} kernel call(s) per request; profiled: the first chunk")
    return args, note


def describe(value) -> str:
    if isinstance(value, np.ndarray):
        mb = value.nbytes / 2**20
        return f"{value.shape} {mb:.1f}MB" if mb >= 0.1 else f"{value.shape}"
    if isinstance(value, np.generic | float | int):
        return "scalar"
    return type(value).__name__


def line_profile(kernel, args: list, budget: float, min_passes: int = 5):
    from adcore.codegen import RUNTIME
    lines = kernel.source.splitlines()
    params = re.match(r"def \w+\((.*)\):", lines[0]).group(1)
    names = [p.strip() for p in params.split(",") if p.strip()]
    statements = []  # (line, var or None, text, code): `del` lines run untimed (var None)
    for number, line in enumerate(lines[1:], start=2):
        stripped = line.strip()
        if not stripped or stripped.startswith(("return", "#")):
            continue
        match = LINE.match(line)
        statements.append((number, match.group(1) if match else None,
                           match.group(2) if match else stripped,
                           compile(stripped, f"<line {number}>", "exec")))
    helpers = {**RUNTIME, **kernel.compiled.helpers}  # guarded additions, fused loops
    namespace = {**helpers, **dict(zip(names, args))}
    times: list[list[float]] = [[] for _ in statements]
    start = time.perf_counter()
    passes = 0
    with np.errstate(all="ignore"):
        while passes < min_passes or time.perf_counter() - start < budget:
            for i, (_, _, _, code) in enumerate(statements):
                t0 = time.perf_counter()
                exec(code, namespace)  # noqa: S102  the kernel's own generated statements
                times[i].append(time.perf_counter() - t0)
            passes += 1
    # describe results from one more pass that keeps every value alive
    keep = {**helpers, **dict(zip(names, args))}
    with np.errstate(all="ignore"):
        for _, var, _, code in statements:
            if var is not None:
                exec(code, keep)  # noqa: S102
                keep[var + "_kept"] = keep[var]
    namespace = {var: keep[var + "_kept"] for _, var, _, _ in statements if var}
    statements_times = [(s, t) for s, t in zip(statements, times) if s[1] is not None]
    statements, times = [s for s, _ in statements_times], [t for _, t in statements_times]
    rows = [(number, var, expr, statistics.median(t), describe(namespace[var]))
            for (number, var, expr, _), t in zip(statements, times)]
    return rows, passes


def median_call(call, budget: float, min_reps: int = 5) -> float:
    call()
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < budget:
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_kernel", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cell", nargs="?", help="a cell id (see --list)")
    parser.add_argument("--list", action="store_true", help="list the cells")
    parser.add_argument("--top", type=int, default=15, help="how many slowest lines to list")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds of profiling")
    parser.add_argument("--cprofile", action="store_true", help="cProfile whole API calls")
    parser.add_argument("--no-source", action="store_true", help="do not print the source")
    parser.add_argument("--fused", action="store_true",
                        help="profile the kernel after its background fusion (what warm runs)")
    parser.add_argument("--program", help="profile this program text instead of a cell")
    parser.add_argument("--op", default="gradient", help="with --program: the operation")
    parser.add_argument("--input", action="append", default=[],
                        help="with --program: name=SHAPE (e.g. x=100x1000, b=scalar); repeat")
    parser.add_argument("--batch", help="with --program: comma-separated batched inputs")
    parser.add_argument("--wrt", help="with --program: comma-separated wrt inputs")
    parser.add_argument("--mode", help="with --program: jacobian mode")
    parser.add_argument("--diagonal", action="store_true", help="with --program: diagonal")
    args = parser.parse_args(argv)
    if args.list:
        for c in all_cells():
            print(f"{c.id:24s} {c.workload}  {c.title}")
        return 0
    if not args.cell and not args.program:
        parser.error("give a cell id (or --program)")

    program, request, kernel, operation, at, opts, title = setup(args)
    if args.fused:
        from adcore.api import HOT_CALLS
        for _ in range(HOT_CALLS):
            program.execute(kernel, request)
        if kernel.fused is not None:
            title += f" (fused: {kernel.fused.result()})"
    kargs, note = kernel_arguments(kernel, request)
    print(f"# {title}: {operation}, {len(kernel.source.splitlines()) - 2} statements, "
          f"adcore compile {kernel.compile_ms:.1f} ms")
    est = kernel.estimate
    print(f"# estimate: {est}")
    if note:
        print(f"# {note}")
    if not args.no_source:
        print()
        for number, line in enumerate(kernel.source.splitlines(), start=1):
            print(f"{number:4d}  {line}")
        print()

    if args.cprofile:
        profiler = cProfile.Profile()
        reps = 0
        start = time.perf_counter()
        profiler.enable()
        while reps < 5 or time.perf_counter() - start < args.budget:
            program.run(operation, at, **opts)
            reps += 1
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        print(f"# cProfile over {reps} API calls")
        print(out.getvalue())
        return 0

    rows, passes = line_profile(kernel, kargs, args.budget)
    total = sum(r[3] for r in rows)
    plain = median_call(lambda: kernel.compiled(*kargs), args.budget / 2)
    full = median_call(lambda: program.run(operation, at, **opts), args.budget / 2)
    print(f"# per-line profile: median over {passes} passes; sum of lines "
          f"{total * 1e3:.3f} ms, kernel call {plain * 1e3:.3f} ms, full API call "
          f"{full * 1e3:.3f} ms (validation, sweep and assembly: "
          f"{(full - plain) * 1e3:.3f} ms)")
    print()
    print(f"{'line':>4s} {'time':>10s} {'%':>6s}  {'result':28s} statement")
    for number, var, expr, t, shape in rows:
        print(f"{number:4d} {t * 1e6:8.1f}us {100 * t / total:5.1f}%  {shape:28s} "
              f"{var} = {expr}")
    print()
    print(f"# the {args.top} slowest lines")
    for number, var, expr, t, shape in sorted(rows, key=lambda r: -r[3])[:args.top]:
        print(f"{number:4d} {t * 1e6:8.1f}us {100 * t / total:5.1f}%  {shape:28s} "
              f"{var} = {expr}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
