"""Damage: rows of the SQLite store edited behind the service's back, a damaged database
file, damaged or missing cache entries, memory running out, a client gone mid-body. Each is
answered as a miss or a clean problem, never a 500."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings
from tests.stores import StoreUnderTest

PROGRAMS = ["sum(x^2)", "sum(x^3)", "sum(x^4)", "sum(x^5)", "sum(x^6)", "sum(x^7)", "sum(x^8)"]
AT = {"x": [1.0, 2.0]}


@contextmanager
def app_on(data_dir: Path | None = None, **overrides: Any) -> Iterator[TestClient]:
    """A fresh app (empty caches) on `data_dir` (or the store the overrides name), as after a
    restart."""
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    settings = Settings(gc_freeze=False, **overrides)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def no_5xx(client: TestClient) -> None:
    lines = [line for line in client.get("/metrics").text.splitlines()
             if line.startswith("nabla_requests_total") and 'status="5' in line]
    assert lines == []


def register_all(data_dir: Path | None = None, **settings: Any) -> list[str]:
    with app_on(data_dir, **settings) as client:
        return [client.post("/v1/functions", json={"program": p}).json()["id"] for p in PROGRAMS]


# Each damage is SQL run directly on the store; `?` is the row's id. PostgreSQL checks text
# encoding and column types itself: only the damage it lets through is tried there.
DAMAGE = {
    "garbage text": "UPDATE functions SET program = 'garbage $$$ (' WHERE id = ?",
    "another valid program": "UPDATE functions SET program = 'sum(x^9)' WHERE id = ?",
    "an integer": "UPDATE functions SET program = 42 WHERE id = ?",
    "an empty program": "UPDATE functions SET program = '' WHERE id = ?",
}
SQLITE_DAMAGE = {
    "invalid UTF-8 text": "UPDATE functions SET program = CAST(X'FFFE41' AS TEXT) WHERE id = ?",
    "a blob": "UPDATE functions SET program = X'00FF00' WHERE id = ?",
}


def test_damaged_rows_are_misses_and_registration_repairs_them(store: StoreUnderTest) -> None:
    ids = register_all(**store.settings)
    damage = {**DAMAGE, **(SQLITE_DAMAGE if store.name == "sqlite" else {})}
    for (_, sql), function_id in zip(damage.items(), ids, strict=False):
        store.execute(sql, (function_id,))
    if store.name == "sqlite":  # an undecodable `created` on an otherwise good row
        store.execute("UPDATE functions SET created = X'FF' WHERE id = ?", (ids[-1],))
    damaged = ids[:len(damage)]
    with app_on(**store.settings) as client:
        for function_id in damaged:
            # a miss: the row does not hold the program of its id
            found = client.get(f"/v1/functions/{function_id}")
            assert found.status_code == 404, found.text
            assert found.json()["kind"] == "unknown-function"
            answer = client.post("/v1/gradient", json={"function": function_id, "at": AT})
            assert answer.status_code == 404 and answer.json()["kind"] == "unknown-function"
        if store.name == "sqlite":  # a garbage `created` is a miss too (undecodable)
            assert client.get(f"/v1/functions/{ids[-1]}").status_code == 404
        # registering the program again repairs its row (201: stored anew)
        for program, function_id in zip(PROGRAMS, damaged, strict=False):
            again = client.post("/v1/functions", json={"program": program})
            assert again.status_code == 201, again.text
            assert again.json()["id"] == function_id and again.json()["program"] == program
            answer = client.post("/v1/gradient", json={"function": function_id, "at": AT})
            assert answer.status_code == 200 and answer.json()["id"] == function_id
        no_5xx(client)
    with app_on(**store.settings) as client:  # and the repair is stored
        for program, function_id in zip(PROGRAMS, damaged, strict=False):
            assert client.get(f"/v1/functions/{function_id}").json()["program"] == program


@pytest.mark.parametrize("where", ["header", "pages", "truncated", "not a database"])
def test_a_damaged_database_file_is_a_miss_or_503_and_inline_programs_still_work(
        tmp_path: Path, where: str) -> None:
    data_dir = tmp_path / "store"
    ids = register_all(data_dir)
    path = data_dir / "functions.sqlite3"
    for extra in ("-wal", "-shm"):  # checkpointed at close; leftovers would mask the damage
        Path(f"{path}{extra}").unlink(missing_ok=True)
    raw = bytearray(path.read_bytes())
    if where == "header":
        raw[:100] = b"\xa5" * 100
    elif where == "pages":
        for offset in range(4096, len(raw), 97):
            raw[offset] ^= 0x5A
    elif where == "truncated":
        raw = raw[:4096 + 10]
    else:
        raw = bytearray(b"this is not a database at all\n" * 200)
    path.write_bytes(bytes(raw))
    with app_on(data_dir) as client:
        inline = client.post("/v1/gradient", json={"program": "sum(x^2)", "at": AT})
        assert inline.status_code == 200, inline.text
        for function_id in ids:
            found = client.get(f"/v1/functions/{function_id}")
            assert found.status_code in (200, 404), found.text  # read or a miss
            if found.status_code == 200:
                assert found.json()["program"] in PROGRAMS
        registered = client.post("/v1/functions", json={"program": "sum(cos(x))"})
        assert registered.status_code in (200, 201, 503), registered.text
        if registered.status_code == 503:
            assert registered.json()["kind"] == "store-unavailable"
            assert registered.headers["retry-after"].isdigit()
        assert client.get("/healthz").status_code == 200
        lines = [line for line in client.get("/metrics").text.splitlines()
                 if line.startswith("nabla_requests_total") and 'status="500"' in line]
        assert lines == []


def test_an_unwritable_store_directory_is_503_not_500(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the data directory should be")
    with app_on(blocker / "data") as client:
        registered = client.post("/v1/functions", json={"program": "sum(x)"})
        assert registered.status_code == 503 and registered.json()["kind"] == "store-unavailable"
        assert client.get("/v1/functions/" + "0" * 32).status_code == 404
        assert client.post("/v1/evaluate", json={"program": "sum(x)", "at": AT}).status_code == 200
        no_5xx_but_503(client)


def no_5xx_but_503(client: TestClient) -> None:
    lines = [line for line in client.get("/metrics").text.splitlines()
             if line.startswith("nabla_requests_total") and 'status="5' in line
             and 'status="503"' not in line]
    assert lines == []


# ---------------------------------------------------------------- in-memory caches

Damage = Callable[[Any, Any], None]


def garbage_kernels(nabla: Any, key: Any) -> None:
    with nabla.kernels._lock:
        for k in list(nabla.kernels._entries):
            nabla.kernels._entries[k] = ("not a kernel", 0)


def broken_kernels(nabla: Any, key: Any) -> None:
    def explode(*args: Any) -> Any:
        raise ZeroDivisionError("a damaged kernel")

    for kernel, _ in list(nabla.kernels._entries.values()):
        kernel.compiled = explode


def kernels_gone(nabla: Any, key: Any) -> None:
    nabla.kernels.clear()


def garbage_programs(nabla: Any, key: Any) -> None:
    store = nabla.store
    for cache in (store._by_text, store._registered):
        with cache._lock:
            for k in list(cache._entries):
                cache._entries[k] = ({"not": "a program"}, 0)


def programs_gone(nabla: Any, key: Any) -> None:
    nabla.store._by_text.clear()
    nabla.store._registered.clear()


@pytest.mark.parametrize("damage", [garbage_kernels, broken_kernels, kernels_gone,
                                    garbage_programs, programs_gone],
                         ids=lambda damage: damage.__name__)
def test_damaged_or_missing_cache_entries_are_misses(tmp_path: Path, damage: Damage) -> None:
    with app_on(tmp_path / "store") as client:
        nabla = client.app.state.nabla  # type: ignore[attr-defined]
        function_id = client.post("/v1/functions", json={"program": "sum(x^2)"}).json()["id"]
        requests = [("/v1/gradient", {"program": "sum(sin(x))", "at": AT}),
                    ("/v1/gradient", {"function": function_id, "at": AT}),
                    ("/v1/hessian", {"program": "sum(x^4)", "at": {"x": [1.0] * 3},
                                     "diagonal": True})]
        first = [client.post(path, json=body).json() for path, body in requests]
        for path, body in requests:  # warm: every kernel cached, the fast lane in use
            assert client.post(path, json=body).json()["meta"]["cache"] == "hit"
        damage(nabla, None)
        for (path, body), before in zip(requests, first, strict=True):
            after = client.post(path, json=body)
            assert after.status_code == 200, after.text
            drop = ("meta",)
            assert {k: v for k, v in after.json().items() if k not in drop} == \
                {k: v for k, v in before.items() if k not in drop}
        found = client.get(f"/v1/functions/{function_id}")
        assert found.status_code == 200 and found.json()["program"] == "sum(x^2)"
        no_5xx(client)


def test_running_out_of_memory_is_503_with_retry_after(tmp_path: Path) -> None:
    with app_on(tmp_path / "store", retry_after_s=3) as client:
        nabla = client.app.state.nabla  # type: ignore[attr-defined]
        real = nabla.derive

        def starved(*args: Any) -> Any:
            raise MemoryError

        nabla.derive = starved
        response = client.post("/v1/hessian", json={"program": "sum(x^2)", "at": AT})
        assert response.status_code == 503, response.text
        assert response.json()["kind"] == "overloaded"
        assert response.headers["retry-after"] == "3"
        nabla.derive = real
        assert client.post("/v1/hessian", json={"program": "sum(x^2)", "at": AT}).status_code == 200
        no_5xx_but_503(client)
