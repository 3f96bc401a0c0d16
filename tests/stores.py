"""The store backends as the tests see them: the settings that choose one, and raw SQL on it
(to damage rows behind the service's back). `?` marks a parameter for both."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.postgres import PostgresServer

Execute = Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]


@dataclass
class StoreUnderTest:
    name: str
    settings: dict[str, Any]  # Settings overrides that choose this store
    execute: Execute

    def registry(self, **overrides: Any) -> Any:
        from service.registry import open_registry
        from service.settings import Settings

        return open_registry(Settings(**self.settings, gc_freeze=False, **overrides))


def sqlite_store(data_dir: Path) -> StoreUnderTest:
    def execute(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        db = sqlite3.connect(data_dir / "functions.sqlite3")
        try:
            rows = db.execute(sql, params).fetchall()
            db.commit()
            return rows
        finally:
            db.close()

    return StoreUnderTest("sqlite", {"data_dir": data_dir}, execute)


def postgres_store(server: PostgresServer, data_dir: Path) -> StoreUnderTest:
    url = server.database()

    def execute(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return server.execute(sql.replace("?", "%s"), params, url)

    # data_dir too: a test that forgets the URL would write SQLite there, not to the
    # developer's ./.nabla
    return StoreUnderTest("postgres", {"database_url": url, "data_dir": data_dir}, execute)
