"""The kernel cache (bounded, single-flight) and the SQLite registry (text only, WAL)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import adcore
from service.cache import BoundedCache
from service.store import FunctionStore, Registry


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


# ---- Registry and FunctionStore ----

def test_registry_persists_text_only_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "nabla.sqlite3"
    registry = Registry(path)
    stored, created = registry.add("abc", "sum(x^2)  # squares")
    assert created and stored.program == "sum(x^2)  # squares"
    assert registry.add("abc", "other text")[1] is False
    registry.close()

    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    columns = [(row[1], row[2]) for row in db.execute("PRAGMA table_info(functions)")]
    assert columns == [("id", "TEXT"), ("program", "TEXT"), ("created", "TEXT")]
    assert db.execute("SELECT id, program FROM functions").fetchall() == [
        ("abc", "sum(x^2)  # squares")]
    db.close()

    again = Registry(path)
    assert again.get("abc").program == "sum(x^2)  # squares"
    assert again.count() == 1
    again.close()


def make_store(path: Path) -> FunctionStore:
    return FunctionStore(path, adcore.DEFAULT_LIMITS, BoundedCache(16), program_entries=4)


def test_store_survives_a_restart(tmp_path: Path) -> None:
    store = make_store(tmp_path / "db.sqlite3")
    program, stored, created = store.register("sum(sin(x))")
    assert created and stored.id == program.id
    store.close()

    restarted = make_store(tmp_path / "db.sqlite3")
    assert restarted.cached_id(program.id) is None  # nothing compiled survives
    found = restarted.program(program.id)
    assert found is not None and found.id == program.id
    assert found.gradient(at={"x": [0.0]})["gradient"]["x"] == pytest.approx([1.0])
    assert restarted.program("0" * 32) is None
    restarted.close()


def test_programs_share_the_store_kernel_cache(tmp_path: Path) -> None:
    store = make_store(tmp_path / "db.sqlite3")
    one, two = store.compile("sum(x^2)"), store.compile("sum(x^3)")
    assert one.kernels is two.kernels is store.kernels
    assert store.compile("sum(x^2)") is one  # parsed once per text
    one.gradient(at={"x": [1.0]})
    two.gradient(at={"x": [1.0]})
    assert len(store.kernels) == 2
    store.close()


def test_inline_programs_are_not_registered(tmp_path: Path) -> None:
    store = make_store(tmp_path / "db.sqlite3")
    program = store.compile("sum(x^5)")
    assert store.program(program.id) is None
    assert store.registry.count() == 0
    store.close()
