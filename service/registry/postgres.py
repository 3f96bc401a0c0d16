"""The shared registry: PostgreSQL, chosen by `NABLA_DATABASE_URL=postgresql://...`, for any
number of replicas. psycopg 3 with its connection pool (the `postgres` extra).

Outages: a connection that the database dropped (a restart, a failover) is found by the
pool's check before use and replaced; while the database is down, requests that need it get
503 `store-unavailable` at once (`Breaker`) and the first request after the pause reconnects,
so the service recovers by itself. A pool attempt gives up reconnecting after
`RECONNECT_S` (psycopg's backoff would otherwise wait up to twice the outage); the next
request then starts a fresh attempt at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from .base import Connection, SQLRegistry

SCHEMA_LOCK = 0x4E61626C61  # pg_advisory_xact_lock key ("Nabla"): start-ups take turns
RECONNECT_S = 5.0


class PostgresRegistry(SQLRegistry):
    errors = (psycopg.Error,)
    placeholder = "%s"

    def __init__(self, url: str, *, pool_min: int = 1, pool_max: int = 10,
                 timeout_s: float = 2.0, retry_after_s: int = 1):
        super().__init__(retry_after_s)
        self._pool: ConnectionPool[Any] = ConnectionPool(
            url, min_size=pool_min, max_size=pool_max, timeout=timeout_s, open=False,
            name="nabla-store", check=ConnectionPool.check_connection,
            reconnect_timeout=RECONNECT_S,
            kwargs={"autocommit": True, "application_name": "nabla",
                    "connect_timeout": max(2, math.ceil(timeout_s))})
        self._pool.open(wait=False)  # connects in the background: start-up never waits

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        with self._pool.connection() as db:
            yield db

    @contextmanager
    def _schema_transaction(self, db: Connection) -> Iterator[None]:
        assert isinstance(db, psycopg.Connection)
        with db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            yield

    def _transient(self, err: Exception) -> bool:
        # Connection-level errors (refused, dropped, shutting down, pool timeout) mean the
        # database is out of reach; anything else (a damaged table, say) is not.
        return isinstance(err, psycopg.OperationalError | psycopg.InterfaceError)

    def close(self) -> None:
        self._pool.close()
