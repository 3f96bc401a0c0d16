"""The embedded registry: one SQLite file under `NABLA_DATA_DIR` (the default; needs nothing
else). WAL mode, so several uvicorn workers can share the file; a commit survives `kill -9`
(`synchronous=NORMAL` may lose the last commits on power loss, not on a crash)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .base import Connection, SQLRegistry

BUSY_TIMEOUT_MS = 10_000  # other worker processes may hold the write lock this long


def _switch_to_wal(db: sqlite3.Connection) -> None:
    """`PRAGMA journal_mode=WAL`, which SQLite answers "database is locked" at once (its busy
    handler is not asked) while another connection switches a fresh file too: several
    workers starting together on a new data directory. Retried up to the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class SQLiteRegistry(SQLRegistry):
    """One connection guarded by a lock (the queries take microseconds, so a pool of
    connections would buy nothing), opened on first use and again after a failed open."""

    errors = (sqlite3.Error, OSError)

    def __init__(self, path: Path, retry_after_s: int = 1):
        super().__init__(retry_after_s)
        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        with self._lock:
            if self._db is None:
                self._db = self._connect()
            yield self._db

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The connect timeout is SQLite's busy handler for every statement, the PRAGMAs and
        # the schema included: workers starting together wait for each other's write lock
        # rather than failing with "database is locked".
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                             timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            # Text comes back as bytes, whatever a row holds: a damaged row can then be told
            # apart instead of failing inside the driver's UTF-8 decoding.
            db.text_factory = bytes
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            _switch_to_wal(db)
            db.execute("PRAGMA synchronous=NORMAL")  # a commit survives kill -9
        except BaseException:
            db.close()
            raise
        return db

    @contextmanager
    def _schema_transaction(self, db: Connection) -> Iterator[None]:
        db.execute("BEGIN IMMEDIATE")  # the write lock: other workers wait (busy timeout)
        try:
            yield
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _transient(self, err: Exception) -> bool:
        message = str(err).lower()
        return "locked" in message or "busy" in message

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
