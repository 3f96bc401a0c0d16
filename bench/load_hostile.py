"""Hostile load on loopback (issue 5), run by hand:

    python -m bench.load_hostile [--seconds 20] [--out bench/RESULTS_hostile.md]

Starts real uvicorn servers (uvloop + httptools when installed, one worker, no access log) on
free loopback ports, each on its own temporary store, and drives them with a small
keep-alive HTTP/1.1 client on asyncio. Every run is bounded in time and in request count;
nothing leaves 127.0.0.1. Four scenarios:

A. Sustained small cached gradients, first alone, then with 20% hostile traffic mixed in:
   the requests of the hostile corpus (tests/hostile/corpus.jsonl) that cost the server
   little (answered in < 100 ms alone, bodies < 1 MB). Reported: throughput, p50/p99/max of
   the good requests, statuses of the hostile ones; there must be no 5xx.
B. Offered load at 5x capacity with maximum-cost requests: gradients whose intermediates
   are at the `max_array_elements` bound (64e6 float64, 512 MB each). Capacity is
   `max_concurrent` such requests at a time; the rest must be refused at once (503 with
   Retry-After, here in < 100 ms), the server's memory must stay bounded (RSS sampled
   before, during and after; VmHWM is the peak), and the server process must survive.
C. `/healthz` latency while two maximum-cost requests run.
D. The per-key rate limit (NABLA_API_KEYS, NABLA_RATE_LIMIT) under a flood from one key:
   429 with Retry-After, answered in < 100 ms; another key unaffected.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import hashlib
import itertools
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.test_hostile_corpus import body_of, headers_of, load_corpus

TICKS = os.sysconf("SC_CLK_TCK")
GOOD = orjson.dumps({"program": "sum(x^2) + dot(x, x)", "at": {"x": [1.0, 2.0, 3.0]}})
HEAVY = {"program": "sum(exp(outer(x, x)) * outer(x, x))",
         "at": {"x": np.linspace(-1, 1, 8000).tolist()}}  # 64e6-element intermediates
KEYS = ["bench-key-a-0123456789", "bench-key-b-9876543210"]


# ---------------------------------------------------------------- server

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    pid: int
    port: int
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def server(env: dict[str, str]) -> Iterator[Server]:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "service.main:app", "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1", "--no-access-log", "--log-level",
               "warning"]
    with contextlib.suppress(ImportError):
        import httptools  # noqa: F401
        import uvloop  # noqa: F401

        command += ["--loop", "uvloop", "--http", "httptools"]
    with tempfile.TemporaryDirectory() as data_dir:
        process = subprocess.Popen(command, cwd=ROOT,
                                   env={**os.environ, "NABLA_DATA_DIR": data_dir, **env})
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"server exited with {process.returncode}")
                with contextlib.suppress(OSError), \
                        socket.create_connection(("127.0.0.1", port), 0.2):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start")
                time.sleep(0.05)
            yield Server(process.pid, port, process)
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (the peak since the process started), MiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) / 1024
    return found


# ---------------------------------------------------------------- client

@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float


class Connection:
    """One keep-alive HTTP/1.1 connection that reopens itself when the server closes it
    (after a 408, or a 413 whose body it did not read)."""

    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port,
                                                                 limit=2**26)
        self.writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP,
                                                        socket.TCP_NODELAY, 1)

    async def request(self, method: str, path: str, body: bytes | None = None,
                      headers: dict[str, str] | None = None) -> Answer:
        for attempt in range(2):
            if self.writer is None:
                await self._open()
            try:
                return await self._exchange(method, path, body, headers or {})
            except (ConnectionError, asyncio.IncompleteReadError, ValueError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _exchange(self, method: str, path: str, body: bytes | None,
                        headers: dict[str, str]) -> Answer:
        assert self.reader is not None and self.writer is not None
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        start = time.perf_counter()
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("closed")
        found: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            found[name.strip().lower()] = value.strip()
        content = await self.reader.readexactly(int(found.get("content-length", "0")))
        seconds = time.perf_counter() - start
        if found.get("connection", "").lower() == "close":
            self.close()
        return Answer(int(status_line.split()[1]), found, content, seconds)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1e3 if values else float("nan")


# ---------------------------------------------------------------- A: hostile mix

@dataclass
class Hostile:
    id: str
    method: str
    path: str
    body: bytes | None
    headers: dict[str, str]


def hostile_requests() -> list[Hostile]:
    """Corpus cases a client can send in one plain request (no special settings, no slow or
    chunked body, no known adcore bug), bodies under 1 MB."""
    found = []
    for case in load_corpus():
        if {"settings", "slow", "chunked", "known_adcore_bug"} & set(case):
            continue
        body = body_of(case)
        if body is not None and len(body) > 1_000_000:
            continue
        found.append(Hostile(case["id"], case["method"], case["path"], body,
                             headers_of(case, body)))
    return found


@dataclass
class MixRun:
    seconds: float
    good: list[float] = field(default_factory=list)
    good_statuses: Counter[int] = field(default_factory=Counter)
    hostile_statuses: Counter[int] = field(default_factory=Counter)
    cpu: float = 0.0

    @property
    def requests(self) -> int:
        return sum(self.good_statuses.values()) + sum(self.hostile_statuses.values())


async def mix(srv: Server, hostile: list[Hostile], share: float, concurrency: int,
              seconds: float, max_requests: int) -> MixRun:
    rng = random.Random(5)
    connections = [Connection(srv.port) for _ in range(concurrency)]
    run = MixRun(seconds)
    issued = 0
    deadline = time.perf_counter() + seconds
    json_headers = {"Content-Type": "application/json"}

    async def worker(connection: Connection) -> None:
        nonlocal issued
        while issued < max_requests and time.perf_counter() < deadline:
            issued += 1
            if hostile and rng.random() < share:
                case = rng.choice(hostile)
                answer = await connection.request(case.method, case.path, case.body,
                                                  case.headers)
                run.hostile_statuses[answer.status] += 1
            else:
                answer = await connection.request("POST", "/v1/gradient", GOOD, json_headers)
                run.good_statuses[answer.status] += 1
                run.good.append(answer.seconds)

    cpu0, t0 = cpu_seconds(srv.pid), time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections))
    run.seconds, run.cpu = time.perf_counter() - t0, cpu_seconds(srv.pid) - cpu0
    for connection in connections:
        connection.close()
    return run


async def cheap_hostile(srv: Server, limit_s: float = 0.1) -> tuple[list[Hostile], list[str]]:
    """Each hostile request once, alone: the cheap ones (the common garbage) join the mix."""
    connection = Connection(srv.port)
    cheap: list[Hostile] = []
    costly: list[str] = []
    for case in hostile_requests():
        answer = await connection.request(case.method, case.path, case.body, case.headers)
        assert answer.status < 500, (case.id, answer.status, answer.body[:200])
        if answer.seconds < limit_s:
            cheap.append(case)
        else:
            costly.append(case.id)
    connection.close()
    return cheap, costly


async def warm_good(srv: Server) -> None:
    warm = Connection(srv.port)
    for _ in range(5):  # compiled, cached, fused: the fast lane answers it
        assert (await warm.request("POST", "/v1/gradient", GOOD,
                                   {"Content-Type": "application/json"})).status == 200
    warm.close()


async def scenario_a(seconds: float, concurrency: int) -> dict[str, Any]:
    """As many compute slots as connections (so admission control never refuses: that is
    scenario B), then the same mix on the default slots (one per CPU)."""
    with server({"NABLA_MAX_CONCURRENT": str(concurrency)}) as srv:
        await warm_good(srv)
        cheap, costly = await cheap_hostile(srv)
        await asyncio.sleep(1.0)
        alone = await mix(srv, [], 0.0, concurrency, seconds / 2, 10**6)
        mixed = await mix(srv, cheap, 0.2, concurrency, seconds, 10**6)
        alive = srv.process.poll() is None
    with server({}) as srv:
        await warm_good(srv)
        default_slots = await mix(srv, cheap, 0.2, concurrency, seconds / 2, 10**6)
        alive = alive and srv.process.poll() is None
    return {"alone": alone, "mixed": mixed, "default_slots": default_slots,
            "cheap": len(cheap), "costly": costly, "alive": alive}


# ---------------------------------------------------------------- B and C: maximum cost

async def sample_memory(pid: int, stop: asyncio.Event, into: list[float]) -> None:
    while not stop.is_set():
        into.append(memory_mb(pid)["VmRSS"])
        await asyncio.sleep(0.05)


async def scenario_b(seconds: float, slots: int) -> dict[str, Any]:
    """Offered load: 5x what `slots` maximum-cost requests at a time can serve, as an
    open-loop stream (each request on its own connection, at a fixed rate)."""
    heavy = orjson.dumps(HEAVY)
    headers = {"Content-Type": "application/json"}
    with server({"NABLA_MAX_CONCURRENT": str(slots)}) as srv:
        one = Connection(srv.port)
        timed = await one.request("POST", "/v1/gradient", heavy, headers)  # compile + time it
        assert timed.status == 200, timed.body[:300]
        timed = await one.request("POST", "/v1/gradient", heavy, headers)
        one.close()
        service_s = timed.seconds
        capacity = slots / service_s
        rate = 5 * capacity
        before = memory_mb(srv.pid)
        samples: list[float] = []
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_memory(srv.pid, stop, samples))
        answers: list[Answer] = []

        async def send() -> None:
            connection = Connection(srv.port)
            answers.append(await connection.request("POST", "/v1/gradient", heavy, headers))
            connection.close()

        tasks = []
        start = time.perf_counter()
        count = max(10, int(rate * seconds))
        for i in range(count):  # open loop: arrivals do not wait for answers
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(send()))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
        answered = memory_mb(srv.pid)
        cpu_answered = cpu_seconds(srv.pid)
        quiet = time.perf_counter() + 60  # then wait for background work (kernel fusion)
        while time.perf_counter() < quiet:
            cpu = cpu_seconds(srv.pid)
            await asyncio.sleep(1.0)
            if cpu_seconds(srv.pid) - cpu < 0.05:
                break
        stop.set()
        await sampler
        after = memory_mb(srv.pid)
        background_cpu = cpu_seconds(srv.pid) - cpu_answered
        health = await Connection(srv.port).request("GET", "/healthz")
        alive = srv.process.poll() is None and health.status == 200
    statuses = Counter(a.status for a in answers)
    refused = [a for a in answers if a.status in (429, 503)]
    return {"service_s": service_s, "capacity": capacity, "rate": rate, "count": count,
            "elapsed": elapsed, "statuses": statuses,
            "refused_p50": percentile([a.seconds for a in refused], 50),
            "refused_p99": percentile([a.seconds for a in refused], 99),
            "refused_max": max((a.seconds for a in refused), default=float("nan")) * 1e3,
            "retry_after": all(a.headers.get("retry-after", "").isdigit() for a in refused),
            "served_p50": percentile([a.seconds for a in answers if a.status == 200], 50),
            "before": before, "answered": answered, "after": after,
            "background_cpu": background_cpu, "peak_sampled": max(samples, default=0.0),
            "alive": alive, "pid": srv.pid}


async def scenario_c(seconds: float) -> dict[str, Any]:
    heavy = orjson.dumps(HEAVY)
    headers = {"Content-Type": "application/json"}
    with server({"NABLA_MAX_CONCURRENT": "2"}) as srv:
        probe = Connection(srv.port)
        idle = [(await probe.request("GET", "/healthz")).seconds for _ in range(200)]
        warm = Connection(srv.port)
        await warm.request("POST", "/v1/gradient", heavy, headers)  # compiled once
        warm.close()
        running: list[Answer] = []
        stop_at = time.perf_counter() + seconds

        async def heavy_loop() -> None:  # keeps one maximum-cost request running
            connection = Connection(srv.port)
            while time.perf_counter() < stop_at:
                running.append(await connection.request("POST", "/v1/gradient", heavy,
                                                        headers))
            connection.close()

        loops = [asyncio.create_task(heavy_loop()) for _ in range(2)]
        await asyncio.sleep(0.5)  # both are computing
        busy = []
        while time.perf_counter() < stop_at and len(busy) < 100_000:
            answer = await probe.request("GET", "/healthz")
            assert answer.status == 200
            busy.append(answer.seconds)
            await asyncio.sleep(0.005)
        await asyncio.gather(*loops)
        probe.close()
    return {"idle_p50": percentile(idle, 50), "idle_p99": percentile(idle, 99),
            "busy_p50": percentile(busy, 50), "busy_p99": percentile(busy, 99),
            "busy_max": max(busy) * 1e3, "probes": len(busy),
            "heavy_done": Counter(a.status for a in running)}


async def scenario_d(seconds: float) -> dict[str, Any]:
    digests = ",".join(f"sha256:{hashlib.sha256(k.encode()).hexdigest()}" for k in KEYS)
    env = {"NABLA_API_KEYS": digests, "NABLA_RATE_LIMIT": "50,20"}
    with server(env) as srv:
        flood = [Connection(srv.port) for _ in range(8)]
        other = Connection(srv.port)
        one = {"Content-Type": "application/json", "Authorization": f"Bearer {KEYS[0]}"}
        two = {"Content-Type": "application/json", "X-API-Key": KEYS[1]}
        answers: list[Answer] = []
        others: list[Answer] = []
        deadline = time.perf_counter() + seconds

        async def flooding(connection: Connection) -> None:
            while time.perf_counter() < deadline and len(answers) < 200_000:
                answers.append(await connection.request("POST", "/v1/gradient", GOOD, one))

        async def polite() -> None:  # the other key, at 20 requests/s, under its limit
            while time.perf_counter() < deadline:
                others.append(await other.request("POST", "/v1/gradient", GOOD, two))
                await asyncio.sleep(0.05)

        unauthorized = await other.request("POST", "/v1/gradient", GOOD,
                                           {"Content-Type": "application/json"})
        for _ in range(3):  # compiled and cached before the flood (D measures the limiter)
            await other.request("POST", "/v1/gradient", GOOD, two)
        await asyncio.sleep(1.0)  # the other key's bucket refills
        await asyncio.gather(*(flooding(c) for c in flood), polite())
    limited = [a for a in answers if a.status == 429]
    return {"statuses": Counter(a.status for a in answers),
            "limited_p50": percentile([a.seconds for a in limited], 50),
            "limited_p99": percentile([a.seconds for a in limited], 99),
            "retry_after": all(a.headers.get("retry-after", "").isdigit() for a in limited),
            "accepted_rate": sum(a.status == 200 for a in answers) / seconds,
            "others": Counter(a.status for a in others), "unauthorized": unauthorized.status}


# ---------------------------------------------------------------- report

def machine() -> list[str]:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = next(int(line.split()[1]) // 1024 for line in
                  Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    load = os.getloadavg()
    return [f"- date: {datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')}",
            (f"- machine: {os.cpu_count()} CPUs (`nproc`), {cpu}, {memory} MiB RAM; "
            f"Python {platform.python_version()}; load average at start "
            f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"),
            ("- server: uvicorn, one worker, `--loop uvloop --http httptools` when installed, "
            "no access log; client on the same machine, over 127.0.0.1 only")]


def statuses(counter: Counter[int]) -> str:
    return ", ".join(f"{status}: {count}" for status, count in sorted(counter.items()))


def report(a: dict[str, Any], b: dict[str, Any], c: dict[str, Any], d: dict[str, Any],
           concurrency: int) -> str:
    alone, mixed = a["alone"], a["mixed"]
    fives = sum(n for s, n in itertools.chain(mixed.good_statuses.items(),
                                              mixed.hostile_statuses.items(),
                                              alone.good_statuses.items()) if s >= 500)
    slots = a["default_slots"]
    slot_fives = sum(n for s, n in itertools.chain(slots.good_statuses.items(),
                                                   slots.hostile_statuses.items())
                     if s >= 500 and s != 503)
    b_fives = sum(n for s, n in b["statuses"].items() if s >= 500 and s != 503)
    lines = ["# Hostile load on loopback (issue 5)", "", *machine(), "",
             "Produced by `python -m bench.load_hostile` (bounded in time and count).", "",
             "## A. Small cached gradients with 20% hostile traffic", "",
             (f"{concurrency} keep-alive connections, closed loop. Good request: "
             "`sum(x^2) + dot(x, x)`, n=3, compiled and cached (the fast lane). Hostile: "
             f"{a['cheap']} requests of the corpus, chosen at random; "
             f"{len(a['costly'])} costlier ones (over 100 ms alone) left out of the mix: "
             f"{', '.join(a['costly']) or 'none'}."), "",
             ("| run | s | req/s | good p50 ms | good p99 ms | good max ms | good statuses | "
             "hostile statuses | server CPU us/req |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for name, run in (("good only", alone), ("20% hostile", mixed),
                      ("20% hostile, default slots (1 per CPU)", slots)):
        lines.append(
            f"| {name} | {run.seconds:.1f} | {run.requests / run.seconds:.0f} | "
            f"{percentile(run.good, 50):.2f} | {percentile(run.good, 99):.2f} | "
            f"{max(run.good) * 1e3:.1f} | {statuses(run.good_statuses)} | "
            f"{statuses(run.hostile_statuses) or '-'} | "
            f"{run.cpu / max(1, run.requests) * 1e6:.0f} |")
    lines += ["", (f"5xx answers in the first two runs: **{fives}**; server alive after: "
              f"{a['alive']}. The first two runs give the server as many compute slots as "
              f"there are connections ({concurrency}), so admission control never refuses; "
              "the third keeps the default (one slot per CPU): hostile requests that need a "
              "slot (everything that parses a new program) then get 503 with Retry-After "
              "when both are busy, the good ones never do (they run on the fast lane); "
              f"other 5xx there: **{slot_fives}**."), "",
              "## B. Offered load at 5x capacity, maximum-cost requests", "",
              ("Request: the gradient of `sum(exp(outer(x, x)) * outer(x, x))` at n=8000: "
              "intermediates of 64e6 elements (512 MB each), just under `max_array_elements` "
              f"(2^26). Alone it takes {b['service_s']:.2f} s; with `NABLA_MAX_CONCURRENT=2` "
              f"capacity is {b['capacity']:.2f} req/s; offered {b['rate']:.2f} req/s "
              f"(open loop, {b['count']} requests over {b['elapsed']:.1f} s)."), "",
              "| figure | value |", "|---|---|",
              f"| statuses | {statuses(b['statuses'])} |",
              (f"| refused (503) latency p50 / p99 / max | {b['refused_p50']:.1f} / "
              f"{b['refused_p99']:.1f} / {b['refused_max']:.1f} ms |"),
              f"| every refusal has Retry-After | {b['retry_after']} |",
              f"| served latency p50 | {b['served_p50']:.0f} ms |",
              (f"| server RSS before / peak sampled / at the last answer / settled | "
               f"{b['before']['VmRSS']:.0f} / {b['peak_sampled']:.0f} / "
               f"{b['answered']['VmRSS']:.0f} / {b['after']['VmRSS']:.0f} MiB |"),
              (f"| server CPU after the last answer (background kernel fusion) | "
               f"{b['background_cpu']:.1f} s |"),
              f"| server VmHWM (peak since start) | {b['after']['VmHWM']:.0f} MiB |",
              f"| 5xx other than 503 | {b_fives} |",
              (f"| server process {b['pid']} alive and answering /healthz after | "
              f"{b['alive']} |"), "",
              "## C. /healthz while two maximum-cost requests run", "",
              "| figure | value |", "|---|---|",
              f"| /healthz idle p50 / p99 | {c['idle_p50']:.2f} / {c['idle_p99']:.2f} ms |",
              (f"| /healthz busy p50 / p99 / max | {c['busy_p50']:.2f} / {c['busy_p99']:.2f} / "
              f"{c['busy_max']:.1f} ms ({c['probes']} probes) |"),
              f"| maximum-cost requests completed meanwhile | {statuses(c['heavy_done'])} |",
              "",
              "## D. Per-key rate limit under a flood", "",
              ("`NABLA_RATE_LIMIT=50,20` (50 requests/s, burst 20); one key floods on 8 "
              "connections, another sends 20 requests/s."), "",
              "| figure | value |", "|---|---|",
              f"| flooding key: statuses | {statuses(d['statuses'])} |",
              f"| flooding key: accepted | {d['accepted_rate']:.0f} req/s |",
              f"| 429 latency p50 / p99 | {d['limited_p50']:.2f} / {d['limited_p99']:.2f} ms |",
              f"| every 429 has Retry-After | {d['retry_after']} |",
              f"| the other key: statuses | {statuses(d['others'])} |",
              f"| no key: status | {d['unauthorized']} |", ""]
    return "\n".join(lines)


async def run_all(seconds: float, concurrency: int) -> str:
    a = await scenario_a(seconds, concurrency)
    print("A", a["alone"].requests, a["mixed"].requests, flush=True)
    b = await scenario_b(seconds, 2)
    print("B", b["statuses"], flush=True)
    c = await scenario_c(min(seconds, 15.0))
    print("C", c["busy_p99"], flush=True)
    d = await scenario_d(min(seconds, 10.0))
    print("D", d["statuses"], flush=True)
    return report(a, b, c, d, concurrency)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="bound per scenario run")
    parser.add_argument("--concurrency", type=int, default=8, help="connections in A")
    parser.add_argument("--out", type=Path, default=None, help="write markdown here")
    args = parser.parse_args()
    text = asyncio.run(run_all(args.seconds, args.concurrency))
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
