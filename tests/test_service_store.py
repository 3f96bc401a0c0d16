"""The kernel cache (bounded, single-flight) and the registry on both backends (SQLite and a
real PostgreSQL): text only, idempotent, the same ids, versioned schema, one migration
however many replicas start at once."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import adcore
from service.cache import BoundedCache
from service.problems import ProblemException
from service.registry.base import SCHEMA_VERSION, Breaker
from service.registry.sqlite import SQLiteRegistry
from service.store import FunctionStore
from tests.servers import free_port
from tests.stores import StoreUnderTest


def wait_until(condition: Any, limit: float = 10.0) -> None:
    """Poll a condition set by another thread (bounded; never an assertion on time)."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition never became true")
        time.sleep(0.001)


# ---- BoundedCache ----

def test_lru_evicts_the_least_recently_used() -> None:
    cache = BoundedCache(2)
    cache.get_or_build("a", lambda: 1)
    cache.get_or_build("b", lambda: 2)
    assert cache.get_or_build("a", lambda: 99) == 1  # a is now the most recent
    cache.get_or_build("c", lambda: 3)
    assert "b" not in cache and "a" in cache and "c" in cache
    assert cache.stats()["evictions"] == 1


def test_bytes_bound_evicts_and_refuses_giants() -> None:
    cache = BoundedCache(100, max_bytes=10, sizeof=lambda value: value)
    cache.get_or_build("a", lambda: 4)
    cache.get_or_build("b", lambda: 4)
    cache.get_or_build("c", lambda: 4)  # 12 > 10: a goes
    assert "a" not in cache and cache.bytes == 8
    assert cache.get_or_build("giant", lambda: 11) == 11  # returned, not kept
    assert "giant" not in cache and cache.bytes == 8


def test_hits_misses_and_rate() -> None:
    cache = BoundedCache(4)
    for key in "aab":
        cache.get_or_build(key, lambda: 0)
    stats = cache.stats()
    assert (stats["hits"], stats["misses"], stats["entries"]) == (1, 2, 2)
    assert stats["hit_rate"] == pytest.approx(1 / 3)


def test_errors_are_not_cached() -> None:
    cache = BoundedCache(4)
    calls = []

    def failing() -> Any:
        calls.append(1)
        raise ValueError("no")

    for _ in range(2):
        with pytest.raises(ValueError):
            cache.get_or_build("k", failing)
    assert len(calls) == 2 and "k" not in cache


def test_concurrent_misses_build_once() -> None:
    cache = BoundedCache(4)
    builds = []

    def build() -> str:
        builds.append(1)
        wait_until(lambda: cache.misses == 2)  # the second caller is waiting on this build
        return "kernel"

    results: list[Any] = []
    first = threading.Thread(target=lambda: results.append(cache.get_or_build("k", build)))
    first.start()
    wait_until(lambda: builds)
    results.append(cache.get_or_build("k", build))
    first.join(10)
    assert results == ["kernel", "kernel"] and len(builds) == 1


def test_a_failed_build_reaches_every_waiter() -> None:
    cache = BoundedCache(4)

    def build() -> Any:
        wait_until(lambda: cache.misses == 2)
        raise RuntimeError("broken")

    errors: list[BaseException] = []

    def call() -> None:
        try:
            cache.get_or_build("k", build)
        except RuntimeError as err:
            errors.append(err)

    first = threading.Thread(target=call)
    first.start()
    wait_until(lambda: cache.misses == 1)
    call()
    first.join(10)
    assert len(errors) == 2 and "k" not in cache


# ---- the registry and FunctionStore, on each backend (the `store` fixture) ----

def test_registry_keeps_text_only_and_is_idempotent(store: StoreUnderTest) -> None:
    registry = store.registry()
    assert registry.open()
    stored, created = registry.add("abc", "sum(x^2)  # squares")
    assert created and stored is not None and stored.program == "sum(x^2)  # squares"
    again, created = registry.add("abc", "other text")  # the first text stays
    assert not created and again == stored
    registry.close()

    rows = store.execute("SELECT id, program FROM functions", ())
    assert rows == [("abc", "sum(x^2)  # squares")]
    assert store.execute("SELECT version FROM schema_version", ()) == [(SCHEMA_VERSION,)]
    reopened = store.registry()
    assert reopened.get("abc") == stored
    assert reopened.get("absent") is None
    assert reopened.count() == 1
    reopened.close()
    # opening again migrates nothing: still one row per schema version
    assert store.execute("SELECT COUNT(*) FROM schema_version", ()) == [(SCHEMA_VERSION,)]


def test_sqlite_runs_in_wal_mode_with_the_same_columns(tmp_path: Path) -> None:
    path = tmp_path / "functions.sqlite3"
    registry = SQLiteRegistry(path)
    registry.add("abc", "sum(x)")
    registry.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    columns = [(row[1], row[2]) for row in db.execute("PRAGMA table_info(functions)")]
    assert columns == [("id", "TEXT"), ("program", "TEXT"), ("created", "TEXT")]
    db.close()


def test_a_store_of_before_schema_versions_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "functions.sqlite3"
    db = sqlite3.connect(path)  # what the first release wrote: no schema_version table
    db.execute("CREATE TABLE functions (id TEXT PRIMARY KEY, program TEXT NOT NULL,"
               " created TEXT NOT NULL)")
    db.execute("INSERT INTO functions VALUES ('old', 'sum(x)', '2026-01-01T00:00:00+00:00')")
    db.commit()
    db.close()
    registry = SQLiteRegistry(path)
    assert registry.get("old") is not None and registry.get("old").program == "sum(x)"
    registry.close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    db.close()


def test_a_schema_newer_than_the_server_is_refused_not_guessed(store: StoreUnderTest) -> None:
    registry = store.registry()
    assert registry.open()
    registry.close()
    store.execute("INSERT INTO schema_version (version, applied) VALUES (?, ?)",
                  (SCHEMA_VERSION + 1, "later"))
    newer = store.registry()
    assert not newer.open()
    with pytest.raises(ProblemException) as refused:
        newer.add("abc", "sum(x)")
    assert refused.value.status == 503 and refused.value.kind == "store-unavailable"
    assert "newer" in refused.value.detail and refused.value.headers["Retry-After"] == "1"
    newer.close()
    assert store.execute("SELECT COUNT(*) FROM functions", ()) == [(0,)]


def test_concurrent_start_ups_migrate_once(store: StoreUnderTest) -> None:
    """Replicas starting together on an empty database: the schema lock makes them take
    turns (without it, PostgreSQL's concurrent CREATE TABLE fails on its catalog)."""
    starts = 6
    barrier = threading.Barrier(starts)
    registries = [store.registry() for _ in range(starts)]

    def start(registry: Any) -> bool:
        barrier.wait(10)
        return bool(registry.open())

    with ThreadPoolExecutor(starts) as pool:
        assert list(pool.map(start, registries)) == [True] * starts
    for registry in registries:
        registry.close()
    assert store.execute("SELECT version FROM schema_version", ()) == [(SCHEMA_VERSION,)]


def make_store(store: StoreUnderTest) -> FunctionStore:
    return FunctionStore(store.registry(), adcore.DEFAULT_LIMITS, BoundedCache(16),
                         program_entries=4)


def test_store_survives_a_restart_with_the_same_ids(store: StoreUnderTest) -> None:
    functions = make_store(store)
    program, stored, created = functions.register("sum(sin(x))")
    assert created and stored.id == program.id == adcore.compile("sum(sin(x))").id
    assert functions.register("sum( sin(x) )  # same")[2] is False  # same id: not new
    functions.close()

    restarted = make_store(store)
    assert restarted.cached_id(program.id) is None  # nothing compiled survives
    found = restarted.program(program.id)
    assert found is not None and found.id == program.id
    assert found.gradient(at={"x": [0.0]})["gradient"]["x"] == pytest.approx([1.0])
    assert restarted.program("0" * 32) is None
    restarted.close()


def test_programs_share_the_store_kernel_cache(tmp_path: Path) -> None:
    store = FunctionStore(SQLiteRegistry(tmp_path / "db.sqlite3"), adcore.DEFAULT_LIMITS,
                          BoundedCache(16), program_entries=4)
    one, two = store.compile("sum(x^2)"), store.compile("sum(x^3)")
    assert one.kernels is two.kernels is store.kernels
    assert store.compile("sum(x^2)") is one  # parsed once per text
    one.gradient(at={"x": [1.0]})
    two.gradient(at={"x": [1.0]})
    assert len(store.kernels) == 2
    store.close()


def test_inline_programs_are_not_registered(store: StoreUnderTest) -> None:
    functions = make_store(store)
    program = functions.compile("sum(x^5)")
    assert functions.program(program.id) is None
    assert functions.registry.count() == 0
    functions.close()


def test_a_database_down_at_start_up_is_503_and_inline_programs_still_work(
        tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from service.main import create_app
    from service.settings import Settings

    nothing = f"postgresql://nabla@127.0.0.1:{free_port()}/nabla"  # no server listens there
    settings = Settings(database_url=nothing, data_dir=tmp_path, gc_freeze=False,
                        database_timeout_s=0.5, retry_after_s=2)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        registered = client.post("/v1/functions", json={"program": "sum(x)"})
        assert registered.status_code == 503, registered.text
        assert registered.json()["kind"] == "store-unavailable"
        assert registered.headers["retry-after"] == "2"
        assert client.get("/v1/functions/" + "0" * 32).status_code == 503  # not a miss
        inline = client.post("/v1/gradient", json={"program": "sum(x^2)", "at": {"x": [3.0]}})
        assert inline.status_code == 200 and inline.json()["gradient"]["x"] == [6.0]
    assert not list(tmp_path.iterdir())  # no SQLite file written instead


# ---- the breaker: a database out of reach is not waited for by every request ----

def test_breaker_answers_at_once_while_open_then_lets_one_probe_through() -> None:
    now = [0.0]
    breaker = Breaker(2.0, clock=lambda: now[0])
    assert breaker.admit()
    breaker.report(reachable=False)
    assert not breaker.admit()  # open: refused without trying
    now[0] = 2.5
    assert breaker.admit()  # the probe
    assert not breaker.admit()  # one probe at a time
    breaker.report(reachable=False)
    assert not breaker.admit()
    now[0] = 5.0
    assert breaker.admit()
    breaker.report(reachable=True)
    assert breaker.closed and breaker.admit() and breaker.admit()
