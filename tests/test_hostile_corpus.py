"""The hostile corpus (tests/hostile/corpus.jsonl): every case against the ASGI app, then all of
them once more against a real uvicorn on a loopback port.

Each line of the corpus is one case: `method`, `path`, optional `headers` (default: JSON
content type), a body (`json`, `raw` text or `b64` bytes; absent for GET), and `expect`:
the exact `status`, and for errors the problem `kind`, `line`/`column` where the SPEC fixes
them, the `limit` named by a limit error, `detail_contains`, or for answers a `json` subset
of the result. Big inputs are written with small generators instead of megabytes of text:
`{"$repeat": s, "times": n}`, `{"$concat": [...]}`, `{"$seq": template, ...}` (numbered
lines), `{"$fill": value, "shape": [...]}` (nested lists), `{"$inputs": "x{i}", ...}` (an
`at` object of many inputs). Optional: `settings` (overrides for the app that runs the case),
`chunked` (send the body without Content-Length), `slow` (send part of the body, then stall;
with `disconnect`, close the connection instead), `within_s` (time bound, default 30 s), and
`known_adcore_bug` (an adcore defect: the case runs as xfail(strict=True) on an app of its
own until adcore is fixed, and is left out of the uvicorn pass), and `expect_edge` (what
nginx answers instead, in the cluster run, when it refuses a request itself).

Every answer, whatever the case, must also be well formed: never a 5xx; an error is
`application/problem+json` with `type` `/problems/<kind>`, `title`, `status`, `detail`, and a
caret under `column` in its `excerpt`; a success is strict JSON. After the corpus the server
must still answer a valid request, and its metrics must show no 5xx at all.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.servers import ROOT, uvicorn_server

CORPUS = ROOT / "tests" / "hostile" / "corpus.jsonl"
PROBLEM = "application/problem+json"
DEFAULT_WITHIN_S = 30.0
# The corpus runs on an app with these settings (a real server's defaults otherwise; four
# compute slots, like the e2e tests, so that a case still finishing in the background never
# makes the next one wait). A case's `settings` override them.
BASE_SETTINGS: dict[str, Any] = {"max_concurrent": 4}
VALID = {"program": "sum(100*(x[1:]-x[:-1]^2)^2 + (1-x[:-1])^2)", "at": {"x": [-1.2, 1.0, 1.0]}}
VALID_GRADIENT = [-215.59999999999997, -87.99999999999999, 0.0]
RETRY_503 = 40  # a 503 with Retry-After is legal under load: retried (the final check then
# fails anyway, since the corpus runs one request at a time and must see no 5xx at all)


# ---------------------------------------------------------------- the corpus

def load_corpus() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]


def expand(node: Any) -> Any:
    """The corpus generators, recursively."""
    if isinstance(node, list):
        return [expand(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$repeat" in node:
        return expand(node["$repeat"]) * node["times"]
    if "$concat" in node:
        parts = [expand(part) for part in node["$concat"]]
        if all(isinstance(part, str) for part in parts):
            return "".join(parts)
        return [item for part in parts for item in part]
    if "$seq" in node:
        lines = [node["$seq"].format(i=i, prev=i - 1) for i in range(node["start"], node["stop"])]
        return node["sep"].join([node["first"], *lines]) + node["last"]
    if "$fill" in node:
        value: Any = node["$fill"]
        for size in reversed(node["shape"]):
            value = [value] * size
        return value
    if "$inputs" in node:
        return {node["$inputs"].format(i=i): node["value"] for i in range(node["count"])}
    return {key: expand(value) for key, value in node.items()}


def body_of(case: dict[str, Any]) -> bytes | None:
    if "json" in case:
        return json.dumps(expand(case["json"]), ensure_ascii=False, allow_nan=False).encode()
    if "raw" in case:
        return expand(case["raw"]).encode()
    if "b64" in case:
        return base64.b64decode(case["b64"])
    return None


def headers_of(case: dict[str, Any], body: bytes | None) -> dict[str, str]:
    if "headers" in case:
        return dict(case["headers"])
    return {"content-type": "application/json"} if body is not None else {}


def settings_key(case: dict[str, Any]) -> str:
    """Cases with the same settings share an app; known adcore bugs get apps of their own,
    so that their 500s never mix with the metrics of the others."""
    settings = {**BASE_SETTINGS, **case.get("settings", {})}
    if "known_adcore_bug" in case:
        settings[KNOWN_BUG] = True
    return json.dumps(settings, sort_keys=True)


KNOWN_BUG = "known_adcore_bug"


CASES = load_corpus()


def test_the_corpus_is_well_formed() -> None:
    ids = [case["id"] for case in CASES]
    assert len(ids) == len(set(ids)), "case ids are unique"
    assert len(CASES) >= 200
    allowed = {"id", "group", "why", "method", "path", "headers", "json", "raw", "b64", "expect",
               "settings", "chunked", "slow", "known_adcore_bug", "within_s", "expect_edge"}
    for case in CASES:
        assert set(case) <= allowed, (case["id"], set(case) - allowed)
        assert sum(key in case for key in ("json", "raw", "b64", "slow")) <= 1, case["id"]
        assert case["expect"]["status"] < 500, case["id"]
        assert case.get("expect_edge", case["expect"])["status"] < 500, case["id"]
    groups = {case["group"] for case in CASES}
    assert {"escape", "unicode", "literal", "nesting", "bomb", "numeric", "http", "derive"} <= groups


# ---------------------------------------------------------------- checks on every answer

def close(expected: Any, got: Any, where: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(got, dict), f"{where}: expected an object, got {got!r:.200}"
        for key, value in expected.items():
            assert key in got, f"{where}: no key {key!r} in {list(got)}"
            close(value, got[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), \
            f"{where}: expected {expected!r:.200}, got {got!r:.200}"
        for i, (e, g) in enumerate(zip(expected, got, strict=True)):
            close(e, g, f"{where}[{i}]")
    elif isinstance(expected, float | int) and not isinstance(expected, bool):
        assert isinstance(got, float | int) and not isinstance(got, bool), f"{where}: {got!r}"
        assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-300), \
            f"{where}: expected {expected!r}, got {got!r}"
        if expected == 0:
            assert math.copysign(1, got) == math.copysign(1, expected), f"{where}: sign of zero"
    else:
        assert got == expected, f"{where}: expected {expected!r}, got {got!r}"


def check_answer(case: dict[str, Any], status: int, headers: Any, content: bytes) -> None:
    """The exact expectation of the case, plus the invariants every answer keeps."""
    expect = case["expect"]
    name = case["id"]
    assert status < 500, f"{name}: {status} {content[:300]!r}"
    if status >= 400:
        assert headers.get("content-type") == PROBLEM, (name, headers.get("content-type"))
        body = orjson.loads(content)
        assert body["status"] == status and body["type"] == f"/problems/{body['kind']}", body
        assert isinstance(body["title"], str) and body["title"], body
        assert isinstance(body["detail"], str) and body["detail"], body
        assert "\n" not in body["detail"], f"{name}: the detail is one line"
        if body.get("line") is not None:
            assert isinstance(body["line"], int) and body["line"] >= 1, body
            column = body["column"]
            assert isinstance(column, int) and column >= 1, body
            assert body["excerpt"].split("\n")[-1] == " " * (column - 1) + "^", body
        if status in (429, 503):
            assert headers.get("retry-after", "").isdigit(), (name, dict(headers))
    elif case["method"] != "HEAD":
        assert headers.get("content-type", "").startswith("application/json"), name
        body = orjson.loads(content)  # strict: no NaN or Infinity tokens
    assert status == expect["status"], f"{name}: expected {expect['status']}, got {status}: " \
                                       f"{content[:400]!r}"
    if status >= 400:
        for field in ("kind", "line", "column", "limit"):
            if field in expect:
                assert body.get(field) == expect[field], \
                    f"{name}: {field} expected {expect[field]!r}, got {body.get(field)!r}: {body}"
        if "detail_contains" in expect:
            assert expect["detail_contains"] in body["detail"], (name, body["detail"])
    if "json" in expect:
        close(expand(expect["json"]), body, name)


# ---------------------------------------------------------------- the ASGI app

class AppCache:
    """One app (and TestClient, lifespan entered) per distinct settings."""

    def __init__(self, root: Path):
        self.root = root
        self.clients: dict[str, Any] = {}

    def client(self, key: str) -> Any:
        from fastapi.testclient import TestClient

        from service.main import create_app
        from service.settings import Settings

        if key not in self.clients:
            overrides = {k: v for k, v in json.loads(key).items() if k != KNOWN_BUG}
            settings = Settings(data_dir=self.root / f"store-{len(self.clients)}",
                                gc_freeze=False, **overrides)
            client = TestClient(create_app(settings), raise_server_exceptions=False)
            client.__enter__()
            self.clients[key] = client
        return self.clients[key]

    def close(self) -> None:
        for client in self.clients.values():
            client.__exit__(None, None, None)


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppCache]:
    cache = AppCache(tmp_path_factory.mktemp("hostile-asgi"))
    yield cache
    cache.close()


def send_case(client: Any, case: dict[str, Any]) -> tuple[int, Any, bytes]:
    """One corpus request through a TestClient or an httpx.Client (same interface)."""
    body = body_of(case)
    headers = headers_of(case, body)
    content: Any = body
    if case.get("chunked") and body is not None:
        content = iter([body[: len(body) // 2], body[len(body) // 2:]])
    for _ in range(RETRY_503):
        response = client.request(case["method"], case["path"], content=content,
                                  headers=headers)
        if response.status_code != 503 or case["expect"]["status"] == 503:
            break
        time.sleep(0.25)
    return response.status_code, response.headers, response.content


async def asgi_slow(app: Any, case: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """Send the first part of the body, then stall (never send the rest). Meanwhile a valid
    request on the same app must be answered: a slow client holds nobody else up."""
    slow = case["slow"]
    first = slow["send"].encode()
    headers = [(b"content-type", b"application/json"), (b"host", b"nabla")]
    if slow["declared_length"] is not None:
        headers.append((b"content-length", str(slow["declared_length"]).encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": case["method"], "scheme": "http", "path": case["path"],
             "raw_path": case["path"].encode(), "query_string": b"", "headers": headers,
             "client": ("127.0.0.1", 5000), "server": ("nabla", 80), "root_path": ""}
    sent = False
    stall = asyncio.Event()
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": first, "more_body": True}
        if not slow.get("disconnect"):
            await stall.wait()  # the client never sends the rest
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://nabla") as client:
        await client.post("/v1/gradient", json=VALID)  # compiled: the next one is quick
        slow_task = asyncio.create_task(app(scope, receive, send))
        valid = await client.post("/v1/gradient", json=VALID)
    assert valid.status_code == 200, valid.text
    if not slow.get("disconnect"):
        assert not slow_task.done(), "the valid request was answered while the slow one waits"
    await asyncio.wait_for(slow_task, case.get("within_s", DEFAULT_WITHIN_S))
    stall.set()
    start = next(m for m in messages if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    response_headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], response_headers, content


IDLE_WITHIN_S = 15.0


def wait_idle(metrics: Any) -> None:
    """Before each case: no computation left running from the one before. A request over
    max_seconds is answered at once, but its computation must stop soon after too (a
    Hessian-diagonal sweep stops at its next chunk), or it would hold a compute slot."""
    deadline = time.monotonic() + IDLE_WITHIN_S
    while True:
        text = metrics()
        running = next(line for line in text.splitlines()
                       if line.startswith("nabla_compute_running "))
        if running.endswith(" 0"):
            return
        assert time.monotonic() < deadline, f"a computation still runs: {running}"
        time.sleep(0.05)


def run_asgi(apps: AppCache, case: dict[str, Any]) -> None:
    client = apps.client(settings_key(case))
    wait_idle(lambda: client.get("/metrics").text)
    start = time.monotonic()
    if "slow" in case:
        status, headers, content = asyncio.run(asgi_slow(client.app, case))
    else:
        status, headers, content = send_case(client, case)
    elapsed = time.monotonic() - start
    check_answer(case, status, headers, content)
    assert elapsed < case.get("within_s", DEFAULT_WITHIN_S), f"{case['id']}: {elapsed:.1f} s"


def marks(case: dict[str, Any]) -> list[Any]:
    if "known_adcore_bug" in case:
        return [pytest.mark.xfail(strict=True, reason="known adcore bug: "
                                  + case["known_adcore_bug"])]
    return []


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"], marks=marks(c)) for c in CASES])
def test_case_against_the_asgi_app(apps: AppCache, case: dict[str, Any]) -> None:
    run_asgi(apps, case)


def test_after_the_corpus_every_app_still_answers_and_never_said_5xx(apps: AppCache) -> None:
    assert apps.clients, "runs after the cases"
    for key, client in apps.clients.items():
        response = client.post("/v1/gradient", json=VALID)
        assert response.status_code == 200, response.text
        assert response.json()["gradient"]["x"] == VALID_GRADIENT
        assert client.get("/healthz").status_code == 200
        if KNOWN_BUG not in key:  # the apps of known adcore bugs do answer 500 (for now)
            assert five_hundreds(client.get("/metrics").text) == [], "metrics show a 5xx"


def five_hundreds(metrics: str) -> list[str]:
    return [line for line in metrics.splitlines()
            if line.startswith("nabla_requests_total") and 'status="5' in line]


# ---------------------------------------------------------------- a real uvicorn

async def network_slow(base: str, case: dict[str, Any]
                       ) -> tuple[int, dict[str, str], bytes] | None:
    """The slow client over a real socket: headers and part of the body, then silence. The
    server must answer 408 by itself; meanwhile another connection gets a valid answer. A
    client that disconnects instead gets no answer to check (None): the metrics checked
    after the corpus show how the server took it."""
    slow = case["slow"]
    host, port = base.removeprefix("http://").split(":")
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        await client.post("/v1/gradient", json=VALID)  # compiled: the one below is quick
    reader, writer = await asyncio.open_connection(host, int(port))
    length = (f"Content-Length: {slow['declared_length']}\r\n"
              if slow["declared_length"] is not None else "Transfer-Encoding: chunked\r\n")
    first = slow["send"].encode()
    if slow["declared_length"] is None:
        first = f"{len(first):x}\r\n".encode() + first + b"\r\n"
    writer.write(f"{case['method']} {case['path']} HTTP/1.1\r\nHost: {host}\r\n"
                 f"Content-Type: application/json\r\n{length}\r\n".encode() + first)
    await writer.drain()
    if slow.get("disconnect"):
        writer.close()
        await writer.wait_closed()
        await asyncio.sleep(0.2)  # let the server see the end of the connection
        return None
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        valid = await client.post("/v1/gradient", json=VALID)
    assert valid.status_code == 200, valid.text
    try:
        raw = await asyncio.wait_for(reader.read(), case.get("within_s", DEFAULT_WITHIN_S))
    finally:
        writer.close()
    head, _, content = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    if headers.get("transfer-encoding") == "chunked":
        content = _unchunk(content)
    return status, headers, content


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2:]
    return out


# Garbage below HTTP: uvicorn itself refuses these (a plain 400, or a closed connection)
# before the app sees anything. The server must survive them all.
RAW_GARBAGE = [
    b"GARBAGE\r\n\r\n",
    b"\x00\x01\x02\x03\r\n\r\n",
    b"GET /healthz HTTP/9.9\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad\x00Header: 1\r\n\r\n",
    b"POST /v1/evaluate HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"POST /v1/evaluate HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 9\r\n\r\n",
    b"POST /v1/evaluate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n",
    b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
]


async def send_raw(base: str, raw: bytes) -> bytes:
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), 10)
    except (ConnectionError, TimeoutError):
        return b""
    finally:
        writer.close()


def run_over_network(base: str, cases: list[dict[str, Any]], metrics: list[str]) -> list[str]:
    """Every case once at `base`, then the raw garbage; the failures (collected, so one run
    reports them all). `metrics` are the URLs of the servers behind `base`."""
    failures = []
    with httpx.Client(base_url=base, timeout=120) as client:
        for case in cases:
            for url in metrics:
                wait_idle(lambda url=url: httpx.get(url, timeout=10).text)
            start = time.monotonic()
            try:
                if "slow" in case:
                    answer = asyncio.run(network_slow(base, case))
                else:
                    answer = send_case(client, case)
                if answer is not None:
                    check_answer(case, *answer)
                elapsed = time.monotonic() - start
                assert elapsed < case.get("within_s", DEFAULT_WITHIN_S), elapsed
            except (AssertionError, httpx.HTTPError, OSError) as err:
                failures.append(f"{case['id']}: {type(err).__name__}: {err}"[:600])
        for raw in RAW_GARBAGE:
            answer = asyncio.run(send_raw(base, raw))
            status = answer.split(b" ", 2)[1:2]
            assert not status or not status[0].startswith(b"5"), answer[:200]
        after = client.post("/v1/gradient", json=VALID)
        assert after.status_code == 200, after.text
        assert after.json()["gradient"]["x"] == VALID_GRADIENT
    return failures


def test_the_corpus_against_a_real_uvicorn(tmp_path: Path) -> None:
    """Every case (known adcore bugs aside) once over the network, grouped by settings: one
    server per group."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for case in CASES:
        if "known_adcore_bug" not in case:
            groups.setdefault(settings_key(case), []).append(case)
    failures = []
    for number, (key, cases) in enumerate(sorted(groups.items())):
        with uvicorn_server(tmp_path / f"store-{number}", json.loads(key)) as (base, process):
            failures += run_over_network(base, cases, [f"{base}/metrics"])
            assert five_hundreds(httpx.get(f"{base}/metrics").text) == []
            assert process.poll() is None, "the server is still up after its cases"
    assert not failures, "\n".join(failures)


def test_the_corpus_against_the_cluster(cluster: Any) -> None:
    """The cases of the default settings through nginx to three replicas on PostgreSQL
    (the cluster runs one configuration). A stalled body never reaches a replica there:
    nginx ends the connection itself (tests/test_cluster.py)."""
    cases = [{**case, "expect": case.get("expect_edge", case["expect"])} for case in CASES
             if settings_key(case) == settings_key({})]
    before = [five_hundreds(text) for text in cluster.metrics()]
    failures = run_over_network(cluster.base, cases,
                                [f"{url}/metrics" for url in cluster.replica_urls])
    assert [five_hundreds(text) for text in cluster.metrics()] == before, "a 5xx"
    assert all(process.poll() is None for process in cluster.processes)
    assert not failures, "\n".join(failures)
