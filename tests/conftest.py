"""Shared fixtures of the service tests (tests/test_service_*.py): apps on a temporary store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # adcore raises Python's recursion limit for deep programs the first time it parses;
    # raised up front, hypothesis sees no change during a test (and does not warn).
    from adcore.limits import DEFAULT_LIMITS, ensure_recursion_room

    ensure_recursion_room(DEFAULT_LIMITS)
    # Starlette's TestClient warns about httpx in recent versions; not the service's concern.
    config.addinivalue_line("filterwarnings", "ignore:.*httpx2.*")


@pytest.fixture
def quiet_numpy() -> Iterator[None]:
    """numpy's floating-point warnings off for one test, and its settings back after it: a
    test that computes at poles expects IEEE results, not warnings."""
    import numpy as np

    with np.errstate(all="ignore"):
        yield


@pytest.fixture
def service_settings(tmp_path: Path) -> Callable[..., Any]:
    """Settings on a fresh data directory, with overrides: `service_settings(max_flops=1e3)`."""
    from service.settings import Settings

    def make(**overrides: Any) -> Settings:
        return Settings(**{"data_dir": tmp_path / "data", "gc_freeze": False, **overrides})

    return make


@pytest.fixture
def service_app(service_settings: Callable[..., Any]) -> Callable[..., Any]:
    """An app factory on the temporary store: `service_app(max_concurrent=1)`."""
    from service.main import create_app

    return lambda **overrides: create_app(service_settings(**overrides))


@pytest.fixture
def api(service_app: Callable[..., Any]) -> Iterator[Any]:
    """A TestClient on a default app (lifespan run, store in a temporary directory)."""
    from fastapi.testclient import TestClient

    with TestClient(service_app()) as client:
        yield client


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """A real PostgreSQL server for the session (started on first use)."""
    from tests.postgres import postgres_server

    with postgres_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Each store backend in turn, empty: SQLite in a temporary directory, PostgreSQL in a
    fresh database of the session's server."""
    from tests.stores import postgres_store, sqlite_store

    if request.param == "sqlite":
        return sqlite_store(tmp_path / "data")
    return postgres_store(request.getfixturevalue("postgres"), tmp_path / "data")


@pytest.fixture(scope="session")
def cluster(postgres: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """PostgreSQL, three uvicorn replicas and nginx (deploy/nginx/nginx.conf), as
    docker-compose.yml runs them, on loopback. Tests that kill a replica or stop the database
    restore them before they end. Four compute slots per replica, like the e2e tests."""
    from tests.cluster import cluster as start_cluster

    with start_cluster(tmp_path_factory.mktemp("cluster"), postgres.database(),
                       settings={"max_concurrent": 4}) as running:
        yield running
