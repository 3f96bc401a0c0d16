"""Arrays on the wire (issue 9), run by hand:

    python -m bench.wire [--repeats 15] [--out bench/RESULTS_wire.md]

Real uvicorn servers (uvloop, httptools, one worker) on free loopback ports: Nabla and the
floor (`bench/http_floor.py`: orjson echo, bytes echo). One run, same machine, ratios within
the run. Sections:

1. End to end through the Python client: batched Rosenbrock gradient, B = 10,000, n = 100,
   against the in-process call (adcore, fused kernel), each form; medians of alternating
   rounds. The transport floor beside it: the same bytes echoed by the bare app, via httpx.
2. Server side, each body driven by a raw keep-alive client (bench/http_load.py) at Nabla
   and at the echo floor of the same payload: server CPU per request (the steadiest figure
   here) and latency. A small cached gradient first (issue 4's figure: unchanged?), then the
   batch as JSON lists, base64 and binary.
3. Where binary pays for the client: list against binary end to end, by size.
4. Peak memory per request: a fresh server per cell, its peak RSS reset (`clear_refs`), then
   one request; the increase over the request's arrays (float64 bytes), and over the
   request's and the answer's arrays together. Fusion off (numba's compiler would weigh in).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import os
import platform
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

import adcore
from bench.http_load import drive, emit, in_process_ms, median_run, server
from service import encoding
from service.client import Client, _encode_body

ROSENBROCK = "sum(100*(x[1:]-x[:-1]^2)^2 + (1-x[:-1])^2)"
FORMS = ("list", "base64", "binary")
ACCEPT = {"list": "application/json", "base64": "application/json+base64",
          "binary": "application/octet-stream"}
Row = list[str]


def median_ms(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


@contextlib.contextmanager
def servers(env: dict[str, str] | None = None) -> Iterator[tuple[tuple[int, int], ...]]:
    with tempfile.TemporaryDirectory() as data_dir, \
            server("service.main:app", {"NABLA_DATA_DIR": data_dir, **(env or {})}) as nabla, \
            server("bench.http_floor:app", {}) as floor:
        yield nabla, floor


def warm(client: Client, at: dict[str, np.ndarray]) -> None:
    """Until the server's kernel is fused (background numba): run_ms stops falling."""
    for _ in range(10):
        client.gradient(ROSENBROCK, at=at, batch=["x"])
    time.sleep(5)
    for _ in range(3):
        client.gradient(ROSENBROCK, at=at, batch=["x"])


@contextlib.contextmanager
def stdlib_base64() -> Iterator[None]:
    """The light client's base64 (binascii), as when pybase64 is not installed."""
    saved = encoding._b64encode, encoding._b64decode
    encoding._b64encode, encoding._b64decode = encoding.b64encode_stdlib, encoding.b64decode_stdlib
    try:
        yield
    finally:
        encoding._b64encode, encoding._b64decode = saved


def end_to_end(nabla: tuple[int, int], floor: tuple[int, int], repeats: int) -> list[Row]:
    x = np.random.default_rng(0).standard_normal((10_000, 100))
    at = {"x": x}
    base, floor_base = f"http://127.0.0.1:{nabla[1]}", f"http://127.0.0.1:{floor[1]}"
    clients = {form: Client(base, arrays=form) for form in FORMS}
    warm(clients["binary"], at)
    program = adcore.compile(ROSENBROCK)
    in_process = in_process_ms(orjson.dumps({"program": ROSENBROCK, "batch": ["x"], "at": at},
                                            option=orjson.OPT_SERIALIZE_NUMPY), 20)
    http = httpx.Client(timeout=60)
    body = {"program": ROSENBROCK, "batch": ["x"], "at": at}
    binary_body, binary_headers = _encode_body(body, "binary")
    b64_body, _ = _encode_body(body, "base64")

    def echo(path: str, content: bytes, headers: dict[str, str]) -> None:
        with http.stream("POST", floor_base + path, content=content, headers=headers) as r:
            raw = bytearray()
            for chunk in r.iter_bytes():
                raw += chunk

    raw = contextlib.ExitStack()
    raw_round_trip = raw.enter_context(raw_echo(len(binary_body)))
    cells: dict[str, Callable[[], Any]] = {
        "in-process (adcore, fused)": lambda: program.gradient(at=at, batch=["x"]),
        **{f"client, {form}": (lambda c=c: c.gradient(ROSENBROCK, at=at, batch=["x"]))
           for form, c in clients.items() if form != "list"},
        "client, base64 without pybase64": lambda: light_base64(clients["base64"], at),
        "floor: 8 MB binary body echoed (httpx + uvicorn, no work)":
            lambda: echo("/echo-bytes", binary_body, binary_headers),
        "floor: 10.7 MB base64 JSON echoed with orjson":
            lambda: echo("/echo", b64_body, {"content-type": "application/json"}),
        "floor: 8 MB each way over a raw loopback socket (no HTTP)": raw_round_trip,
    }
    times: dict[str, list[float]] = {name: [] for name in cells}
    for _ in range(repeats):  # alternate, so that drifts in the machine's load hit all
        for name, fn in cells.items():
            times[name].append(median_ms(fn, 1))
    raw.close()
    list_ms = median_ms(lambda: clients["list"].gradient(ROSENBROCK, at=at, batch=["x"]), 3)
    medians = {name: statistics.median(t) for name, t in times.items()}
    reference = medians["in-process (adcore, fused)"]
    rows = [[name, f"{ms:.1f}", f"{ms / reference:.2f}x"] for name, ms in medians.items()]
    rows.append(["client, list (stdlib json in the client; 3 calls)", f"{list_ms:.0f}",
                 f"{list_ms / reference:.0f}x"])
    print(rows, in_process, flush=True)
    return rows


@contextlib.contextmanager
def raw_echo(size: int) -> Iterator[Callable[[], None]]:
    """The loopback floor under any HTTP stack: `size` bytes sent over a plain TCP socket to a
    thread that reads them into a buffer and sends them back, read into a buffer again."""
    listener = socket.create_server(("127.0.0.1", 0))
    data, back = b"\0" * size, bytearray(size)

    def read_into(conn: socket.socket, buffer: bytearray) -> bool:
        view, got = memoryview(buffer), 0
        while got < len(buffer):
            n = conn.recv_into(view[got:])
            if n == 0:
                return False
            got += n
        return True

    def serve() -> None:
        conn, _ = listener.accept()
        received = bytearray(size)
        with conn:
            while read_into(conn, received):
                conn.sendall(received)

    threading.Thread(target=serve, daemon=True).start()
    with socket.create_connection(listener.getsockname()) as client, listener:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def round_trip() -> None:
            client.sendall(data)
            read_into(client, back)

        yield round_trip


def light_base64(client: Client, at: dict[str, np.ndarray]) -> None:
    with stdlib_base64():
        client.gradient(ROSENBROCK, at=at, batch=["x"])


def small_against_baseline(nabla: tuple[int, int], floor: tuple[int, int], baseline: Path,
                           seconds: float, repeats: int) -> list[Row]:
    """The small cached gradient at this tree's server, at a baseline tree's (main before
    this work: `git archive main | tar -x -C DIR`) and at the floor, alternating."""
    small = orjson.dumps({"program": "sum(x^2)", "at": {"x": [1.0, 2.0, 3.0]}})
    with tempfile.TemporaryDirectory() as data_dir, server(
            "service.main:app", {"NABLA_DATA_DIR": data_dir}, baseline) as before:
        targets = {"this tree": (nabla, "/v1/gradient"), "baseline": (before, "/v1/gradient"),
                   "floor": (floor, "/echo")}
        runs: dict[str, list[Any]] = {name: [] for name in targets}
        for (pid, port), path in targets.values():
            asyncio.run(drive(port, pid, path, lambda _: small, 1, 200, seconds))
        for _ in range(repeats):
            for name, ((pid, port), path) in targets.items():
                runs[name].append(asyncio.run(drive(port, pid, path, lambda _: small, 1,
                                                    50_000, seconds)))
    cells = {name: median_run(r) for name, r in runs.items()}
    floor_us = cells["floor"]["cpu_us"]
    return [[name, f"{c['cpu_us']:.0f}", f"{c['cpu_us'] / floor_us:.2f}x", f"{c['p50']:.3f}",
             f"{c['rate']:.0f}"] for name, c in cells.items()]


def server_side(nabla: tuple[int, int], floor: tuple[int, int], seconds: float,
                repeats: int) -> list[Row]:
    """CPU per request and latency of the same body at Nabla and at its echo floor."""
    x = np.random.default_rng(1).standard_normal((10_000, 100))
    body = {"program": ROSENBROCK, "batch": ["x"], "at": {"x": x}}
    small = orjson.dumps({"program": "sum(x^2)", "at": {"x": [1.0, 2.0, 3.0]}})
    json_body = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    b64_body, _ = _encode_body({**body, "arrays": "base64"}, "base64")
    bin_body, bin_headers = _encode_body({**body, "arrays": "binary"}, "binary")
    framed = ("Content-Type: application/octet-stream\r\nInference-Header-Content-Length: "
              f"{bin_headers['Inference-Header-Content-Length']}\r\n")
    cases = [("small cached gradient (n=3), JSON", small, "/echo", ""),
             ("B=10,000 n=100, JSON lists", json_body, "/echo", ""),
             ("B=10,000 n=100, base64", b64_body, "/echo", ""),
             ("B=10,000 n=100, binary", bin_body, "/echo-bytes", framed)]
    rows = []
    for name, content, floor_path, headers in cases:
        extra = headers or "Content-Type: application/json\r\n"
        results: dict[str, list[Any]] = {"nabla": [], "floor": []}
        targets = [("nabla", nabla, "/v1/gradient"), ("floor", floor, floor_path)]
        count = 20_000 if "small" in name else 200
        def body(_: int, content: bytes = content) -> bytes:
            return content

        for _, (pid, port), path in targets:
            asyncio.run(drive(port, pid, path, body, 1, 20, seconds, extra))
        for _ in range(repeats):
            for target, (pid, port), path in targets:
                results[target].append(asyncio.run(drive(
                    port, pid, path, body, 1, count, seconds, extra)))
        ours, base = median_run(results["nabla"]), median_run(results["floor"])
        rows.append([name, f"{len(content) / 1e6:.2f} MB", f"{ours['cpu_us'] / 1e3:.2f}",
                     f"{base['cpu_us'] / 1e3:.2f}", f"{ours['cpu_us'] / base['cpu_us']:.2f}x",
                     f"{ours['p50']:.2f}", f"{base['p50']:.2f}", f"{ours['p50'] / base['p50']:.2f}x",
                     f"{ours['errors']:.0f}"])
        print(rows[-1], flush=True)
    return rows


def threshold(nabla: tuple[int, int], repeats: int) -> list[Row]:
    base = f"http://127.0.0.1:{nabla[1]}"
    clients = {form: Client(base, arrays=form) for form in ("list", "binary")}
    rows = []
    for n in (16, 256, 1024, 2048, 4096, 16384, 65536):
        x = np.random.default_rng(n).standard_normal(n)
        for c in clients.values():
            for _ in range(5):
                c.gradient("sum(x^2)", at={"x": x})
        ms = {form: [] for form in clients}
        for _ in range(repeats * 3):
            for form, c in clients.items():
                ms[form].append(median_ms(
                    lambda c=c, x=x: c.gradient("sum(x^2)", at={"x": x}), 1))
        lst, binary = statistics.median(ms["list"]), statistics.median(ms["binary"])
        rows.append([f"{n}", f"{n * 8 / 1024:.1f} KiB", f"{lst:.2f}", f"{binary:.2f}",
                     f"{lst / binary:.2f}"])
        print(rows[-1], flush=True)
    return rows


def peak_memory(repeats_unused: int) -> list[Row]:
    """One fresh server per cell: peak RSS over the resting RSS, for one request."""
    cells = [(form, n) for n in (1_000_000, 2_000_000) for form in FORMS]
    cells += [("binary", 7_800_000), ("base64", 5_800_000)]  # bodies near 64 MiB
    rows = []
    for program, operation in (("sum(x)", "evaluate"), ("sum(x^2)", "gradient")):
        for form, n in cells:
            rows.append(memory_cell(program, operation, form, n))
            print(rows[-1], flush=True)
    return rows


def memory_cell(program: str, operation: str, form: str, n: int) -> Row:
    x = np.random.default_rng(2).standard_normal(n)
    body = {"program": program, "at": {"x": x}, "arrays": form}
    if form == "list":
        content, headers = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), {
            "content-type": "application/json"}
    else:
        content, headers = _encode_body(body, form)
    with tempfile.TemporaryDirectory() as data_dir, server(
            "service.main:app", {"NABLA_DATA_DIR": data_dir, "NABLA_FUSION": "0"}) as (pid, port):
        url = f"http://127.0.0.1:{port}/v1/{operation}"
        small, small_headers = _encode_body({**body, "at": {"x": x[:10]}}, form)
        httpx.post(url, content=small, headers=small_headers, timeout=60)  # imports, caches
        time.sleep(0.5)
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak (VmHWM) to now
        rest = status(pid)["VmRSS"]
        answer = httpx.post(url, content=content, headers=headers, timeout=120)
        peak = status(pid)["VmHWM"]
    arrays = x.nbytes
    answer_arrays = 8 + (x.nbytes if operation == "gradient" else 0)
    return [f"{operation} {program}", form, f"{n:,}", f"{len(content) / 2**20:.1f}",
            f"{arrays / 2**20:.1f}", f"{(peak - rest) / 2**20:.1f}",
            f"{(peak - rest) / arrays:.2f}x", f"{(peak - rest) / (arrays + answer_arrays):.2f}x",
            str(answer.status_code)]


def status(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if value.strip().endswith("kB"):
            fields[name] = int(value.split()[0]) * 1024
    return fields


def table(header: Row, rows: list[Row]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *["| " + " | ".join(row) + " |" for row in rows]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="alternating rounds")
    parser.add_argument("--seconds", type=float, default=3.0, help="bound per server-side run")
    parser.add_argument("--out", type=Path, default=None, help="write markdown here")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a source tree to compare small requests with (main)")
    args = parser.parse_args()
    with servers() as (nabla, floor):
        e2e = end_to_end(nabla, floor, args.repeats)
        side = server_side(nabla, floor, args.seconds, 3)
        base = (small_against_baseline(nabla, floor, args.baseline, args.seconds, 5)
                if args.baseline else [])
        cut = threshold(nabla, args.repeats)
    memory = peak_memory(1)
    cpu = next(line.split(":", 1)[1].strip() for line in
               Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    lines = [
        "# Arrays on the wire (issue 9)", "",
        f"- date: {datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')}",
        (f"- machine: {os.cpu_count()} CPUs, {cpu}; Python {platform.python_version()}; "
         f"load average at the end {' '.join(f'{v:.2f}' for v in os.getloadavg())}"),
        f"- command: `.venv/bin/python -m bench.wire {' '.join(sys.argv[1:])}`",
        "- servers: uvicorn `--loop uvloop --http httptools --workers 1`, loopback",
        "", "## 1. End to end through the Python client (B = 10,000, n = 100)", "",
        *table(["what", "median ms", "vs in-process"], e2e),
        "", "## 2. Server side: Nabla against the echo floor of the same body", "",
        *table(["body", "size", "Nabla CPU ms/req", "floor CPU ms/req", "CPU ratio",
                "Nabla p50 ms", "floor p50 ms", "p50 ratio", "non-200"], side),
        "", ("Small cached gradient, this tree against the baseline (`--baseline`) and the "
             "floor, 5 alternating runs:"), "",
        *table(["server", "CPU us/req", "vs floor", "p50 ms", "req/s"], base),
        "", "## 3. Client: JSON lists against binary, end to end (gradient of sum(x^2))", "",
        *table(["elements", "bytes", "list ms", "binary ms", "list / binary"], cut),
        "", "## 4. Peak memory per request", "",
        *table(["request", "form", "elements", "body MiB", "request arrays MiB", "peak MiB",
                "peak / request arrays", "peak / request + answer arrays", "status"], memory)]
    emit(lines, args.out)


if __name__ == "__main__":
    main()
