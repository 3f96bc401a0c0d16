"""Crashes and concurrency on a real uvicorn: `kill -9` during a burst of registrations from
several processes loses nothing that was acknowledged, and the SQLite file passes its
integrity check; several processes share one store with no "database is locked" reaching any
client."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx

from tests.servers import ROOT, uvicorn_server
from tests.test_hostile_corpus import five_hundreds

KILL_TRIALS = int(os.environ.get("NABLA_KILL_TRIALS", "3"))  # CI: 3; more by hand
CLIENTS = 4
# One registration client: registers distinct programs until the server goes away (or its
# bounds run out), appending each acknowledged id to its file the moment it is known.
CLIENT = r"""
import sys, time, httpx
base, out, worker = sys.argv[1], sys.argv[2], int(sys.argv[3])
deadline = time.monotonic() + 60
with open(out, "a", buffering=1) as log, httpx.Client(base_url=base, timeout=10) as client:
    for i in range(100000):
        if time.monotonic() > deadline:
            break
        program = f"sum(x^{worker + 2}) * {i + 1} + {worker}"
        try:
            response = client.post("/v1/functions", json={"program": program})
        except httpx.TransportError:
            break  # the server is gone
        if response.status_code in (200, 201):
            log.write(f"{response.json()['id']}\t{program}\t{response.status_code}\n")
        elif response.status_code != 503:
            log.write(f"!\t{program}\t{response.status_code} {response.text[:200]}\n")
"""


def acknowledged(files: list[Path]) -> list[tuple[str, str]]:
    rows = []
    for path in files:
        if path.exists():
            for line in path.read_text().splitlines():
                parts = line.split("\t")
                if len(parts) == 3 and parts[0] != "!":
                    rows.append((parts[0], parts[1]))
                elif line:
                    raise AssertionError(f"unexpected answer: {line}")
    return rows


def integrity(database: Path) -> str:
    db = sqlite3.connect(database)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


def test_kill_9_mid_burst_loses_no_acknowledged_registration(tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    totals = []
    everything: list[tuple[str, str]] = []  # acknowledged in any trial so far
    for trial in range(KILL_TRIALS):
        files = [tmp_path / f"acks-{trial}-{worker}.tsv" for worker in range(CLIENTS)]
        with uvicorn_server(data_dir) as (base, server):
            pid = server.pid  # the recorded PID: this uvicorn runs as one process
            clients = [subprocess.Popen([sys.executable, "-c", CLIENT, base, str(path),
                                         str(worker + CLIENTS * trial)], cwd=ROOT)
                       for worker, path in enumerate(files)]
            try:
                deadline = time.monotonic() + 30
                target = random.randint(20, 120)  # somewhere in the middle of the burst
                while len(acknowledged(files)) < target and time.monotonic() < deadline:
                    time.sleep(0.01)
                assert all(client.poll() is None for client in clients), "burst still going"
                os.kill(pid, signal.SIGKILL)
                server.wait(10)
                assert server.returncode == -signal.SIGKILL
                for client in clients:
                    assert client.wait(30) == 0
            finally:
                for client in clients:
                    if client.poll() is None:
                        client.kill()
                        client.wait(10)
        assert integrity(data_dir / "functions.sqlite3") == "ok"
        acks = acknowledged(files)
        totals.append(len(acks))
        assert len(acks) >= 20
        everything += acks
        with uvicorn_server(data_dir) as (base, _), httpx.Client(base_url=base) as client:
            for function_id, program in everything:  # this trial's and every earlier one's
                found = client.get(f"/v1/functions/{function_id}")
                assert found.status_code == 200, (function_id, found.text)
                assert found.json()["program"] == program
            sample = acks[-1][0]  # the last one acknowledged before the kill, by id
            answer = client.post("/v1/gradient", json={"function": sample, "at": {"x": [1.0]}})
            assert answer.status_code == 200, answer.text
        assert integrity(data_dir / "functions.sqlite3") == "ok"
    print(f"\nkill -9 trials: {KILL_TRIALS}; acknowledged ids per trial, all found intact "
          f"after restart: {totals}")


def registrations(metrics: str) -> int:
    """Registrations this worker answered (201 and 200), from its metrics."""
    return sum(int(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
               if line.startswith('nabla_requests_total{method="POST",route="/v1/functions"')
               and ('status="201"' in line or 'status="200"' in line))


def register(client: httpx.Client, program: str) -> httpx.Response:
    """Registration as a client does it: a 503 `overloaded` (every compute slot of that
    worker busy) is retried after its Retry-After. A 503 `store-unavailable` is not."""
    for _ in range(50):
        response = client.post("/v1/functions", json={"program": program})
        if response.status_code != 503 or response.json()["kind"] != "overloaded":
            return response
        time.sleep(0.05)
    return response


def test_two_processes_share_one_store_with_no_locking_errors(tmp_path: Path) -> None:
    """Two uvicorn processes on one SQLite store, each client thread bound to one of them, so
    that both take registrations for certain (with `--workers 2` the kernel may hand every
    connection to the worker that started first) and race for the same rows."""
    threads, per_thread = 16, 30
    statuses: list[int] = []
    bodies: list[str] = []
    ids: dict[str, str] = {}
    lock = threading.Lock()
    with ExitStack() as stack:
        servers = [stack.enter_context(uvicorn_server(tmp_path / "store", {"max_concurrent": 8}))
                   for _ in range(2)]

        def work(worker: int) -> None:
            base = servers[worker % 2][0]
            with httpx.Client(base_url=base, timeout=60) as client:
                for i in range(per_thread):
                    # New programs, programs a thread on the other process registers at the
                    # same time (a race for the same row), and reads by id.
                    for program in (f"sum(x^{worker + 2}) + {i}", f"sum(sin(x)) * {i + 1}"):
                        response = register(client, program)
                        with lock:
                            statuses.append(response.status_code)
                            bodies.append(response.text)
                            if response.status_code in (200, 201):
                                ids[response.json()["id"]] = program
                    got = client.get(f"/v1/functions/{next(iter(ids))}")
                    with lock:
                        statuses.append(got.status_code)
                        bodies.append(got.text)

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(work, range(threads)))
        assert all(server.poll() is None for _, server in servers)
        assert set(statuses) <= {200, 201}, sorted(set(statuses))
        assert not any("locked" in body.lower() for body in bodies)
        for base, _ in servers:  # each process reads what the other registered
            with httpx.Client(base_url=base) as client:
                for function_id, program in ids.items():
                    found = client.get(f"/v1/functions/{function_id}")
                    assert found.status_code == 200 and found.json()["program"] == program
            text = httpx.get(f"{base}/metrics").text
            errors = [line for line in five_hundreds(text) if 'status="503"' not in line]
            assert errors == []  # overload answers aside
            assert registrations(text) == threads * per_thread  # half of them, all 200 or 201
    log = "\n".join(path.read_text() for path in tmp_path.glob("uvicorn-*.log"))
    assert "locked" not in log.lower() and "Traceback" not in log, log[-3000:]
    assert len(ids) == threads * per_thread + per_thread
    assert integrity(tmp_path / "store" / "functions.sqlite3") == "ok"
