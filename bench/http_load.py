"""Loopback load benchmark of the HTTP service (issue 4), run by hand:

    python -m bench.http_load [--seconds 4] [--out bench/RESULTS_http.md]

Starts two real uvicorn servers (uvloop + httptools, one worker, no access log) on free
loopback ports, Nabla and the floor (`bench/http_floor.py`: orjson in and out, nothing else),
and drives each with a small keep-alive HTTP/1.1 client on asyncio. Every run is bounded in
time and in count. Reported per scenario and concurrency (1, 8, 64): requests per second,
p50 and p99 latency, and server CPU time per request from /proc/<pid>/stat (utime + stime),
which is the steadiest figure on a shared machine. Scenarios: a small cached gradient
(`sum(x^2)`, n=3), a cold compile (a new program each request), and a batched Rosenbrock
gradient, n=100, B=1000 (about 2 MB of JSON each way).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import itertools
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

import adcore

ROOT = Path(__file__).resolve().parent.parent
ROSENBROCK = "sum(100*(x[1:]-x[:-1]^2)^2 + (1-x[:-1])^2)"
CONCURRENCY = (1, 8, 64)
TICKS = os.sysconf("SC_CLK_TCK")


# ---- servers ----

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(app: str, env: dict[str, str], cwd: Path = ROOT) -> Iterator[tuple[int, int]]:
    """(pid, port) of a uvicorn serving `app` (from the source tree `cwd`) until the block
    ends."""
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
           "--loop", "uvloop", "--http", "httptools", "--workers", "1", "--no-access-log",
           "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, "PYTHONPATH": str(cwd), **env})
    try:
        wait_ready(port, proc)
        yield proc.pid, port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError("server did not start")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


# ---- client ----

class Connection:
    """One keep-alive HTTP/1.1 connection; just enough protocol for these two servers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**24)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def post(self, path: str, body: bytes,
                   headers: str = "Content-Type: application/json\r\n") -> tuple[int, bytes]:
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


@dataclass
class Run:
    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    cpu: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) * 1e3 if self.latencies else 0.0

    @property
    def cpu_us(self) -> float:
        return self.cpu / max(1, self.requests) * 1e6


def median_run(runs: list[Run]) -> dict[str, float]:
    """Each figure's median over the repeats (a shared machine is noisy)."""
    return {"rate": float(np.median([r.rate for r in runs])),
            "p50": float(np.median([r.percentile(50) for r in runs])),
            "p99": float(np.median([r.percentile(99) for r in runs])),
            "cpu_us": float(np.median([r.cpu_us for r in runs])),
            "errors": float(sum(r.errors for r in runs))}


async def drive(port: int, pid: int, path: str, bodies: Callable[[int], bytes],
                concurrency: int, max_requests: int, max_seconds: float,
                headers: str = "Content-Type: application/json\r\n") -> Run:
    connections = [await Connection.open(port) for _ in range(concurrency)]
    latencies: list[float] = []
    errors = 0
    issued = 0
    deadline = time.perf_counter() + max_seconds

    async def worker(conn: Connection) -> None:
        nonlocal issued, errors
        while issued < max_requests and time.perf_counter() < deadline:
            body = bodies(issued)
            issued += 1
            start = time.perf_counter()
            status, _ = await conn.post(path, body, headers)
            latencies.append(time.perf_counter() - start)
            errors += status != 200

    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections))
    elapsed, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
    for c in connections:
        c.close()
    return Run(len(latencies), errors, elapsed, latencies, cpu)


# ---- scenarios ----

def scenarios() -> list[tuple[str, Callable[[int], bytes], int]]:
    rng = np.random.default_rng(0)
    small = orjson.dumps({"program": "sum(x^2)", "at": {"x": [1.0, 2.0, 3.0]}})
    big = orjson.dumps({"program": ROSENBROCK, "batch": ["x"],
                        "at": {"x": rng.standard_normal((1000, 100))}},
                       option=orjson.OPT_SERIALIZE_NUMPY)
    fresh = itertools.count(time.time_ns() % 10**9)  # never the same program twice

    def cold(_: int) -> bytes:  # a distinct literal: a distinct program, a cache miss
        return orjson.dumps({"program": f"sum(sin(x) * x^2) + {next(fresh)}",
                             "at": {"x": [1.0, 2.0, 3.0]}})

    # Counts are caps; most runs end at the time bound (long enough for 10 ms CPU ticks).
    return [("small cached gradient", lambda _: small, 50_000),
            ("cold compile", cold, 5_000),
            ("batched Rosenbrock n=100 B=1000", lambda _: big, 400)]


def in_process_ms(body: bytes, repeat: int = 50) -> float:
    """adcore alone on a request (prepare + execute, no HTTP, no JSON): the compute a server
    cannot avoid. Warmed up until the kernel is compiled and its background fusion done."""
    data = orjson.loads(body)
    program = adcore.compile(data["program"])
    at = {name: np.array(value) for name, value in data["at"].items()}
    options = {"batch": data["batch"]} if "batch" in data else {}
    kernel, _ = program.kernel(program.prepare("gradient", at, **options))
    for _ in range(5):
        program.gradient(at=at, **options)
    fused = getattr(kernel, "fused", None)
    if fused is not None:
        fused.result(timeout=120)
    start = time.perf_counter()
    for _ in range(repeat):
        program.gradient(at=at, **options)
    return (time.perf_counter() - start) / repeat * 1e3


Results = dict[tuple[str, str, int], dict[str, float]]


async def measure(seconds: float, repeats: int) -> Results:
    """Nabla and the floor alternate run by run, so drifts in the machine's load hit both."""
    results: Results = {}
    with tempfile.TemporaryDirectory() as data_dir:
        env = {"NABLA_DATA_DIR": data_dir, "NABLA_MAX_CONCURRENT": "64"}
        with server("service.main:app", env) as nabla, server("bench.http_floor:app", {}) as floor:
            targets = (("nabla", nabla, "/v1/gradient"), ("floor", floor, "/echo"))
            for name, bodies, count in scenarios():
                for _, (pid, port), path in targets:
                    await drive(port, pid, path, bodies, 1, 40, seconds)  # warm-up
                await asyncio.sleep(1.0)  # let background kernel fusion finish
                for c in CONCURRENCY:
                    runs: dict[str, list[Run]] = {"nabla": [], "floor": []}
                    for _ in range(repeats):
                        for target, (pid, port), path in targets:
                            runs[target].append(
                                await drive(port, pid, path, bodies, c, count, seconds))
                    for target, cell_runs in runs.items():
                        results[(name, target, c)] = cell = median_run(cell_runs)
                        print(name, target, c, cell, flush=True)
    return results


def tables(results: Results) -> list[str]:
    lines = []
    for name in dict.fromkeys(key[0] for key in results):
        lines += ["", f"### {name}", "",
                  "| server | c | req/s | p50 ms | p99 ms | CPU us/req | non-200 |",
                  "|---|---|---|---|---|---|---|"]
        for (scenario, target, c), r in sorted(results.items(), key=lambda kv: kv[0][1:]):
            if scenario == name:
                lines.append(f"| {target} | {c} | {r['rate']:.0f} | {r['p50']:.2f} | "
                             f"{r['p99']:.2f} | {r['cpu_us']:.0f} | {r['errors']:.0f} |")
    return lines


def targets(results: Results, compute_ms: float) -> list[str]:
    """The targets of issue 4, each with its measured figure."""
    small, big = "small cached gradient", "batched Rosenbrock n=100 B=1000"
    lines = ["", "### Targets of issue 4", "", "| target | measured | met |", "|---|---|---|"]
    for c in CONCURRENCY:
        ratio = results[(small, "nabla", c)]["cpu_us"] / results[(small, "floor", c)]["cpu_us"]
        lines.append(f"| small cached gradient CPU <= 1.5x floor (c={c}) | {ratio:.2f}x | "
                     f"{'yes' if ratio <= 1.5 else 'no'} |")
    for c in CONCURRENCY:
        ours = results[(big, "nabla", c)]["cpu_us"] / 1e3
        bound = 1.5 * results[(big, "floor", c)]["cpu_us"] / 1e3 + compute_ms
        lines.append(f"| batched CPU <= 1.5x floor + compute (c={c}) | {ours:.1f} ms vs "
                     f"{bound:.1f} ms | {'yes' if ours <= bound else 'no'} |")
    for name in dict.fromkeys(key[0] for key in results):
        r = results[(name, "nabla", 8)]
        ratio = r["p99"] / r["p50"] if r["p50"] else float("inf")
        lines.append(f"| {name}: p99 <= 3x p50 at c=8 | {ratio:.1f}x | "
                     f"{'yes' if ratio <= 3 else 'no'} |")
    return lines


def header() -> list[str]:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return ["# HTTP load benchmark (issue 4)", "",
            f"- date: {datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')}",
            (f"- machine: {os.cpu_count()} CPUs (`nproc`), {cpu}; "
             f"Python {platform.python_version()}"),
            ("- servers: uvicorn, `--loop uvloop --http httptools --workers 1 --no-access-log`, "
             "client and servers on the same machine over loopback"),
            ("- Nabla with `NABLA_MAX_CONCURRENT=64` so that c=64 measures throughput, "
             "not admission control (with the default, extra requests get 503 at once)")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="bound per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per cell (median)")
    parser.add_argument("--out", type=Path, default=None, help="write markdown here")
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        uvloop = None
    runner = uvloop.run if uvloop else asyncio.run
    results = runner(measure(args.seconds, args.repeats))
    cases = scenarios()
    small_us = in_process_ms(cases[0][1](0), 2000) * 1e3
    compute_ms = in_process_ms(cases[2][1](0))
    lines = header() + tables(results) + targets(results, compute_ms) + [
        "", (f"In-process adcore time (prepare + execute, no HTTP or JSON): "
             f"{small_us:.0f} us for the small gradient, {compute_ms:.1f} ms for the batched "
             f"Rosenbrock gradient.")]
    emit(lines, args.out)


def emit(lines: list[str], out: Path | None) -> None:
    """Print a markdown report, and write it to `out` when given."""
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        out.write_text(text)


if __name__ == "__main__":
    main()
