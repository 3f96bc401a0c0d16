"""The function registry: program texts by content id, behind one interface (`Registry`).
SQLite under `NABLA_DATA_DIR` by default; PostgreSQL, shared by replicas, when
`NABLA_DATABASE_URL` names one (psycopg is imported only then)."""

from __future__ import annotations

from ..settings import Settings
from .base import Registry, StoredFunction


def open_registry(settings: Settings) -> Registry:
    url = settings.database_url.get_secret_value()
    if url:
        from .postgres import PostgresRegistry

        return PostgresRegistry(url, pool_min=settings.database_pool_min,
                                pool_max=settings.database_pool_max,
                                timeout_s=settings.database_timeout_s,
                                retry_after_s=settings.retry_after_s)
    from .sqlite import SQLiteRegistry

    return SQLiteRegistry(settings.database, settings.retry_after_s)


__all__ = ["Registry", "StoredFunction", "open_registry"]
