"""Cluster benchmark (issue 12), run by hand from the project's venv (it needs Debian's
PostgreSQL and nginx, which `make test` installs):

    .venv/bin/python -m bench.cluster_load [--seconds 3] [--repeats 3] [--out bench/RESULTS_cluster.md]

On loopback, with the servers of the cluster tests (tests/postgres.py, tests/cluster.py, so
nginx runs the shipped deploy/nginx/nginx.conf):

* requests per second (wrk, from Debian's package) of a small cached gradient (`sum(x^2)`, n=3) at concurrency 16:
  directly on one replica (the baseline), and through nginx to 1 and to 2 replicas on one
  PostgreSQL; inline text (no header: round-robin), one function by id (`Nabla-Function`:
  every request on one replica), and 16 functions by id (spread by the hash);
* what a registration costs, PostgreSQL versus SQLite: over HTTP on one replica (a new
  program each request, concurrency 1 and 8) and in-process (`Registry.add` alone).

Within a repeat every configuration runs once, so drifts in the machine's load hit all of
them; each figure is the median over the repeats.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import orjson

from bench.http_load import cpu_seconds
from tests.cluster import nginx
from tests.postgres import PostgresServer, binaries, postgres_server
from tests.servers import free_port, log_of, start_uvicorn, stop, wait_healthy
from tests.stores import postgres_store, sqlite_store

CONCURRENCY = 16
SMALL = {"at": {"x": [1.0, 2.0, 3.0]}}
FUNCTIONS = [f"sum(x^2) * {k}" for k in range(2, 18)]  # 16 functions by id


@contextmanager
def replicas(root: Path, count: int, settings: dict[str, str]
             ) -> Iterator[tuple[list[int], list[int]]]:
    """`count` uvicorn replicas (one worker each, uvloop and httptools); yields their ports
    and process ids."""
    ports = [free_port() for _ in range(count)]
    dirs = [root / f"replica-{port}" / "data" for port in ports]
    processes = [start_uvicorn(port, data, settings) for port, data in zip(ports, dirs,
                                                                            strict=True)]
    try:
        for port, data, process in zip(ports, dirs, processes, strict=True):
            wait_healthy(f"http://127.0.0.1:{port}", process, log_of(data, port))
        yield ports, [process.pid for process in processes]
    finally:
        for process in processes:
            stop(process)


def wrk(port: int, script: str, concurrency: int, seconds: float, pids: list[int]
        ) -> tuple[float, float, int, float]:
    """(requests/s, p50 ms, non-2xx answers, server CPU us per request) of one wrk run (C,
    one thread: the load generator must not be what is measured). `pids`: the server
    processes whose CPU time (utime + stime) is counted."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        cpu0 = sum(cpu_seconds(pid) for pid in pids)
        out = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "--latency",
                              "-s", lua.name, f"http://127.0.0.1:{port}"], capture_output=True,
                             text=True, check=True).stdout
        cpu = sum(cpu_seconds(pid) for pid in pids) - cpu0
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    value, unit = re.search(r"50%\s+([\d.]+)(us|ms|s)", out).groups()
    p50 = float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    requests = int(re.search(r"(\d+) requests in", out)[1])
    return rate, p50, int(bad[1]) if bad else 0, cpu / max(1, requests) * 1e6


def lua_requests(path: str, requests: list[tuple[bytes, str]]) -> str:
    """A wrk script cycling through (body, Nabla-Function or '') pairs."""
    def one(body: bytes, function: str) -> str:
        header = f', ["Nabla-Function"] = "{function}"' if function else ""
        return (f'wrk.format("POST", "{path}", {{["Content-Type"] = "application/json"'
                f'{header}}}, [[{body.decode()}]])')
    formatted = ", ".join(one(body, function) for body, function in requests)
    return (f"local all = {{}}\nfunction init(args) all = {{{formatted}}} end\n"
            "local n = 0\nfunction request() n = n + 1 return all[(n % #all) + 1] end\n")


def lua_registrations() -> str:
    """A wrk script registering a new program with every request."""
    salt = time.time_ns() % 10**12
    return ("local n = 0\nfunction request() n = n + 1\n"
            f'  return wrk.format("POST", "/v1/functions", {{["Content-Type"] = '
            f'"application/json"}}, \'{{"program": "sum(x^2) + {salt}\' .. n .. \'"}}\')\nend\n')


def gradient_scripts(ids: list[str]) -> dict[str, str]:
    inline = orjson.dumps({"program": "sum(x^2)", **SMALL})
    by_id = [(orjson.dumps({"function": i, **SMALL}), i) for i in ids]
    return {"inline text": lua_requests("/v1/gradient", [(inline, "")]),
            "one function by id": lua_requests("/v1/gradient", by_id[:1]),
            "16 functions by id": lua_requests("/v1/gradient", by_id)}


def nginx_pids(root: Path) -> list[int]:
    master = int((root / "nginx.pid").read_text())
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [master, *map(int, children)]


Cells = dict[tuple[str, str], list[tuple[float, float, int, float]]]


def throughput(root: Path, url: str, seconds: float, repeats: int) -> Cells:
    """The gradient cells: direct to 1 replica, nginx to 1, nginx to 2 (all on PostgreSQL)."""
    cells: Cells = {}
    settings = {"database_url": url, "max_concurrent": "64"}  # throughput, not admission
    with ExitStack() as stack:
        ports, pids = stack.enter_context(replicas(root / "replicas", 2, settings))
        one = stack.enter_context(nginx(ports[:1], root / "nginx-1"))
        two = stack.enter_context(nginx(ports, root / "nginx-2"))
        with httpx.Client(base_url=f"http://127.0.0.1:{ports[0]}") as client:
            ids = [client.post("/v1/functions", json={"program": p}).json()["id"]
                   for p in FUNCTIONS]
        targets = {"direct, 1 replica": (ports[0], pids[:1]),
                   "nginx, 1 replica": (_port(one), pids[:1] + nginx_pids(root / "nginx-1")),
                   "nginx, 2 replicas": (_port(two), pids + nginx_pids(root / "nginx-2"))}
        for name, script in gradient_scripts(ids).items():
            for port, _ in targets.values():  # warm every replica's kernels
                wrk(port, script, CONCURRENCY, 1.0, [])
            time.sleep(1.0)  # background kernel fusion
            for _ in range(repeats):
                for target, (port, counted) in targets.items():
                    run = wrk(port, script, CONCURRENCY, seconds, counted)
                    cells.setdefault((name, target), []).append(run)
                    print(name, target, run, flush=True)
    return cells


def registration_cost(root: Path, url_of: Callable[[], str], seconds: float,
                      repeats: int) -> Cells:
    """POST /v1/functions with a new program each time, SQLite vs PostgreSQL, c=1 and 8."""
    cells: Cells = {}
    stores = {"SQLite": lambda: {"data_dir": str(root / f"sqlite-{time.time_ns()}")},
              "PostgreSQL": lambda: {"database_url": url_of()}}
    for _ in range(repeats):
        for store, settings in stores.items():
            with replicas(root / "registration", 1, {**settings(), "max_concurrent": "8"}
                          ) as ((port,), pids):
                for concurrency in (1, 8):
                    run = wrk(port, lua_registrations(), concurrency, seconds, pids)
                    cells.setdefault((f"c={concurrency}", store), []).append(run)
                    print("register", store, concurrency, run, flush=True)
    return cells


def in_process_add(root: Path, server: PostgresServer, calls: int = 500) -> dict[str, float]:
    """Median microseconds of `Registry.add` (insert + read back), no HTTP, no parsing."""
    medians = {}
    for name, store in (("SQLite", sqlite_store(root / "in-process")),
                        ("PostgreSQL", postgres_store(server, root / "unused"))):
        registry = store.registry()
        registry.open()
        times = []
        for i in range(calls):
            start = time.perf_counter()
            registry.add(f"id-{i}", f"sum(x) + {i}")
            times.append(time.perf_counter() - start)
        registry.close()
        medians[name] = statistics.median(times) * 1e6
    return medians


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def median_cells(cells: Cells) -> dict[tuple[str, str], tuple[float, float, int, float]]:
    return {key: (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs),
                  sum(r[2] for r in runs), statistics.median(r[3] for r in runs))
            for key, runs in cells.items()}


def report(gradients: Cells, registering: Cells, in_process: dict[str, float],
           args: argparse.Namespace) -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    nginx_version = subprocess.run(["nginx", "-v"], capture_output=True, text=True,
                                   check=False).stderr.strip()
    postgres_version = subprocess.run([str(binaries() / "postgres"), "--version"],
                                      capture_output=True, text=True, check=False).stdout.strip()
    lines = ["# Cluster benchmark (issue 12)", "",
             f"- date: {datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')}",
             (f"- machine: {os.cpu_count()} CPUs (`nproc`), {cpu}; Python "
              f"{platform.python_version()}; {nginx_version}; {postgres_version}"),
             (f"- command: `.venv/bin/python -m bench.cluster_load --seconds {args.seconds:g} "
              f"--repeats {args.repeats}`"),
             ("- everything on one 2-core machine over loopback: the load generator (wrk, one "
              "thread), nginx (2 workers), the replicas (uvicorn, 1 worker each, uvloop + "
              "httptools) and PostgreSQL share the two cores; server CPU counts the replicas "
              "and nginx (not PostgreSQL, not wrk)"),
             (f"- medians over {args.repeats} runs of {args.seconds:g} s each; configurations "
              "alternate within each repeat"), "",
             f"## Small cached gradient, concurrency {CONCURRENCY}", "",
             "| requests | target | req/s | p50 ms | server CPU us/req | non-2xx |",
             "|---|---|---|---|---|---|"]
    for (name, target), (rate, p50, errors, cpu) in median_cells(gradients).items():
        lines.append(f"| {name} | {target} | {rate:.0f} | {p50:.2f} | {cpu:.0f} | {errors} |")
    lines += ["", "## Registration (a new program each request), one replica", "",
              "| concurrency | store | registrations/s | p50 ms | server CPU us/req | non-2xx |",
              "|---|---|---|---|---|---|"]
    for (concurrency, store), (rate, p50, errors, cpu) in sorted(
            median_cells(registering).items()):
        lines.append(f"| {concurrency} | {store} | {rate:.0f} | {p50:.2f} | {cpu:.0f} | "
                     f"{errors} |")
    lines += ["", "In-process `Registry.add` (insert, then read the row back; no HTTP, no "
              "parsing), median of 500 calls: " + ", ".join(
                  f"{name} {us:.0f} us" for name, us in in_process.items()) + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per cell (median)")
    parser.add_argument("--out", type=Path, default=None, help="write markdown here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, postgres_server() as server:
        root = Path(tmp)
        gradients = throughput(root, server.database(), args.seconds, args.repeats)
        registering = registration_cost(root, server.database, args.seconds, args.repeats)
        in_process = in_process_add(root, server)
    text = report(gradients, registering, in_process, args)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
