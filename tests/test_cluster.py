"""Three replicas behind nginx on one PostgreSQL store (the `cluster` fixture), for real on
loopback: any replica answers any id, the `Nabla-Function` header keeps a function on one
replica, nginx refuses oversized headers itself, a replica killed mid-burst loses no
acknowledged registration, and a PostgreSQL restart under load is a 503 with Retry-After
meanwhile and a full recovery after, with no restart of anything else."""

from __future__ import annotations

import asyncio
import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest

from service.client import Client, ProblemError
from tests.cluster import TEST_BODY_TIMEOUT_S, Cluster
from tests.test_hostile_corpus import send_raw

ROUTE = re.compile(r'nabla_requests_total\{method="(\w+)",route="([^"]+)",status="(\d+)"\} (\d+)')


def requests_by_route(metrics: str) -> Counter[tuple[str, str, int]]:
    return Counter({(m[1], m[2], int(m[3])): int(m[4]) for m in ROUTE.finditer(metrics)})


def served(cluster: Cluster, route: str) -> list[int]:
    """Requests of `route` each replica answered so far (any status)."""
    return [sum(n for (_, r, _), n in requests_by_route(text).items() if r == route)
            for text in cluster.metrics()]


def wait_for(condition: Callable[[], bool], limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened within {limit} s: {what}")
        time.sleep(0.05)


def test_any_replica_answers_any_id_and_the_header_keeps_a_function_on_one(
        cluster: Cluster) -> None:
    first, second, third = cluster.replica_urls
    program = f"sum(x^3) + {random.randint(0, 10**9)}"
    registered = httpx.post(f"{first}/v1/functions", json={"program": program})
    assert registered.status_code == 201, registered.text
    function_id = registered.json()["id"]
    for other in (second, third):  # never saw it: compiles from the stored text
        answer = httpx.post(f"{other}/v1/gradient",
                            json={"function": function_id, "at": {"x": [1.0, 2.0]}})
        assert answer.status_code == 200, answer.text
        assert answer.json()["gradient"]["x"] == [3.0, 12.0]  # 3 x^2
        assert answer.json()["meta"]["cache"] == "miss"
        assert httpx.get(f"{other}/v1/functions/{function_id}").json()["program"] == program

    before = served(cluster, "/v1/gradient")
    with httpx.Client(base_url=cluster.base) as edge:
        for i in range(20):
            answer = edge.post("/v1/gradient", headers={"Nabla-Function": function_id},
                               json={"function": function_id, "at": {"x": [float(i)]}})
            assert answer.status_code == 200 and answer.json()["gradient"]["x"] == [3.0 * i * i]
    delta = [after - b for after, b in zip(served(cluster, "/v1/gradient"), before, strict=True)]
    assert sorted(delta) == [0, 0, 20], delta  # all on one replica

    before = served(cluster, "/v1/evaluate")
    with httpx.Client(base_url=cluster.base) as edge:
        for _ in range(30):  # no header: round-robin
            assert edge.post("/v1/evaluate", json={"program": "sum(x)", "at": {"x": [1.0]}}
                             ).status_code == 200
    delta = [after - b for after, b in zip(served(cluster, "/v1/evaluate"), before, strict=True)]
    assert sum(delta) == 30 and sum(d > 0 for d in delta) >= 2, delta


async def stalled_body(base: str) -> bytes:
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST /v1/evaluate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 400\r\n\r\n{\"program\": \"sum(x)\", \"at\"")
    await writer.drain()
    async with httpx.AsyncClient(base_url=base) as client:  # meanwhile, others are served
        valid = await client.post("/v1/evaluate", json={"program": "sum(x)", "at": {"x": [2.0]}})
        assert valid.status_code == 200, valid.text
    try:
        return await asyncio.wait_for(reader.read(), TEST_BODY_TIMEOUT_S + 20)
    finally:
        writer.close()


def test_nginx_refuses_oversized_headers_and_stalled_bodies_at_the_edge(
        cluster: Cluster) -> None:
    before = [requests_by_route(text) for text in cluster.metrics()]
    many = b"".join(b"X-H-%d: v\r\n" % i for i in range(10_000))
    cases = {
        "a 1 MB header": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_000_000
                         + b"\r\n\r\n",
        "10,000 headers": b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n",
        "a 100 KB URI": b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        "garbage": b"GARBAGE\r\n\r\n",
        "an unknown transfer coding": b"POST /v1/evaluate HTTP/1.1\r\nHost: x\r\n"
                                      b"Transfer-Encoding: gzip\r\n\r\n",
    }
    expected = {"a 1 MB header": (431, "headers-too-large"),
                "10,000 headers": (431, "headers-too-large"),
                "a 100 KB URI": (414, "uri-too-long"), "garbage": (400, "bad-request"),
                "an unknown transfer coding": (400, "bad-request")}
    for name, raw in cases.items():
        answer = asyncio.run(send_raw(cluster.base, raw))
        head, _, body = answer.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        assert b"content-type: application/problem+json" in head.lower(), (name, head)
        problem = json.loads(body)
        assert (status, problem["status"], problem["kind"]) == (*expected[name][:1],
                                                                *expected[name]), name
    # a body that stalls: nginx ends the connection itself (without an answer) after its
    # client_body_timeout; no replica ever sees the request
    assert asyncio.run(stalled_body(cluster.base)) == b""
    after = [requests_by_route(text) for text in cluster.metrics()]
    for old, new in zip(before, after, strict=True):
        changed = {key for key in new if new[key] != old.get(key)}
        assert changed <= {("POST", "/v1/evaluate", 200), ("GET", "/metrics", 200)}, changed


def burst(cluster: Cluster, salt: int, acked: list[tuple[str, str, float]],
          failures: list[str], stop: threading.Event, worker: int) -> None:
    """Register distinct programs through nginx and compute each by id (the client sends the
    header), as a user would, until told to stop; record what was acknowledged."""
    with Client(cluster.base, timeout=60) as client:
        for i in range(100_000):
            if stop.is_set():
                return
            power, scale = worker + 2, i + 1
            program = f"sum(x^{power}) * {scale} + {salt}"
            try:
                function_id = client.register(program)
                acked.append((function_id, program, float(power * scale * 2 ** (power - 1))))
                gradient = client.gradient(program, at={"x": np.array([2.0])})["gradient"]["x"]
                assert gradient[0] == power * scale * 2.0 ** (power - 1), (program, gradient)
            except (ProblemError, httpx.HTTPError, AssertionError) as err:
                failures.append(f"{program}: {type(err).__name__}: {err}")


def test_kill_9_a_replica_mid_burst_loses_nothing_and_clients_never_notice(
        cluster: Cluster) -> None:
    acked: list[tuple[str, str, float]] = []
    failures: list[str] = []
    stop = threading.Event()
    salt = random.randint(0, 10**9)
    workers = [threading.Thread(target=burst, args=(cluster, salt, acked, failures, stop, w))
               for w in range(4)]
    for thread in workers:
        thread.start()
    victim = random.randrange(len(cluster.ports))
    try:
        wait_for(lambda: len(acked) >= random.randint(20, 60), 60, "registrations before")
        cluster.kill(victim)
        at_kill = len(acked)
        wait_for(lambda: len(acked) >= at_kill + 60, 60, "registrations after the kill")
    finally:
        stop.set()
        for thread in workers:
            thread.join(60)
        if cluster.processes[victim].poll() is not None:
            cluster.start(victim)  # back, on its port, for the tests after this one
    assert failures == [], failures[:5]
    with httpx.Client(base_url=cluster.base) as edge:
        for function_id, program, _ in acked:
            found = edge.get(f"/v1/functions/{function_id}",
                             headers={"Nabla-Function": function_id})
            assert found.status_code == 200 and found.json()["program"] == program
    print(f"\nkill -9 of replica {victim}: {at_kill} registrations acknowledged before, "
          f"{len(acked) - at_kill} after, every one found; no client saw an error")


def load(base: str, ids: list[str], tally: Counter[tuple[str, int, str]],
         problems: list[str], stop: threading.Event, worker: int) -> None:
    """Registrations, requests by id and inline requests, round after round."""
    with httpx.Client(base_url=base, timeout=60) as client:
        for i in range(100_000):
            if stop.is_set():
                return
            program = f"sum(x^2) * {worker} + {i} + {time.monotonic_ns()}"
            function_id = ids[i % len(ids)]
            for what, response in (
                    ("register", client.post("/v1/functions", json={"program": program})),
                    ("by id", client.post("/v1/gradient", headers={"Nabla-Function": function_id},
                                          json={"function": function_id, "at": {"x": [1.0]}})),
                    ("inline", client.post("/v1/gradient",
                                           json={"program": "sum(x^2)", "at": {"x": [1.0]}}))):
                kind = response.json().get("kind", "") if response.status_code >= 400 else ""
                tally[(what, response.status_code, kind)] += 1
                if response.status_code == 503 and not response.headers.get("retry-after"):
                    problems.append(f"{what}: 503 without Retry-After")
                if response.status_code >= 500 and response.status_code != 503:
                    problems.append(f"{what}: {response.status_code} {response.text[:300]}")


def test_a_postgresql_restart_under_load_is_503_meanwhile_and_recovers_by_itself(
        cluster: Cluster, postgres: Any) -> None:
    with httpx.Client(base_url=cluster.base) as edge:
        ids = [edge.post("/v1/functions", json={"program": f"sum(x^2) * {k}"}).json()["id"]
               for k in range(2, 8)]
    tally: Counter[tuple[str, int, str]] = Counter()
    problems: list[str] = []
    stop = threading.Event()
    threads = [threading.Thread(target=load, args=(cluster.base, ids, tally, problems, stop, w))
               for w in range(3)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: tally[("register", 201, "")] >= 10, 60, "registrations before")
        postgres.stop("fast")
        wait_for(lambda: tally[("register", 503, "store-unavailable")] >= 10, 60,
                 "503 store-unavailable while the database is down")
        inline_during = tally[("inline", 200, "")]
        wait_for(lambda: tally[("inline", 200, "")] >= inline_during + 10, 60,
                 "inline programs served during the outage")
        postgres.start()
        registered_after = tally[("register", 201, "")]
        wait_for(lambda: tally[("register", 201, "")] >= registered_after + 30, 60,
                 "registrations after the database returned")
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert problems == [], problems[:5]
    statuses = {(what, status, kind) for what, status, kind in tally}
    allowed = {("register", 201, ""), ("register", 503, "store-unavailable"),
               ("by id", 200, ""), ("by id", 503, "store-unavailable"), ("inline", 200, "")}
    overload = {(what, 503, "overloaded") for what in ("register", "by id", "inline")}
    assert statuses <= allowed | overload, statuses - allowed
    # and every replica writes again (none needed a restart)
    for url in cluster.replica_urls:
        answer = httpx.post(f"{url}/v1/functions", json={"program": f"sum(x) + {time.time_ns()}"})
        assert answer.status_code == 201, answer.text
    print(f"\nPostgreSQL restart under load: {dict(sorted(tally.items()))}")


@pytest.fixture(autouse=True)
def no_5xx_but_503(cluster: Cluster) -> Any:
    """Whatever a test did, no replica answered a 5xx other than 503."""
    yield
    for text in cluster.metrics():
        bad = {key: n for key, n in requests_by_route(text).items()
               if key[2] >= 500 and key[2] != 503}
        assert bad == {}
    assert "Traceback" not in cluster.logs()
