"""What the registry backends share: the interface, the SQL, the schema versions, and how a
database error becomes an answer.

Rows hold only `(id, program, created)`: text, never pickles or code, so a store written by
one version is safe to read by any other. Errors: a write that fails, or any failure to reach
the database (locked past SQLite's busy timeout, PostgreSQL down or restarting), is a 503
`store-unavailable` with Retry-After; a read that finds a row or the file damaged is a miss
(None), logged. Whether a row holds the program of its id is checked above, in
`FunctionStore`, the same way for every backend.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

from ..problems import ProblemException

log = logging.getLogger("nabla.store")

# The schema, one tuple of statements per version, applied in order and recorded in
# `schema_version` (one row per version applied). Never edit a version once released: add one.
FUNCTIONS_V1 = ("CREATE TABLE IF NOT EXISTS functions ("
                " id TEXT PRIMARY KEY, program TEXT NOT NULL, created TEXT NOT NULL)")
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (FUNCTIONS_V1,),  # 1: the program texts by content id
)
SCHEMA_VERSION = len(MIGRATIONS)

# Standard SQL that SQLite (3.24+) and PostgreSQL both run; `?` marks a parameter.
INSERT = ("INSERT INTO functions (id, program, created) VALUES (?, ?, ?)"
          " ON CONFLICT (id) DO NOTHING")
UPSERT = ("INSERT INTO functions (id, program, created) VALUES (?, ?, ?)"
          " ON CONFLICT (id) DO UPDATE SET program = excluded.program, created = excluded.created")
SELECT = "SELECT id, program, created FROM functions WHERE id = ?"
COUNT = "SELECT COUNT(*) FROM functions"
VERSIONS = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied TEXT)"
CURRENT_VERSION = "SELECT MAX(version) FROM schema_version"
RECORD_VERSION = "INSERT INTO schema_version (version, applied) VALUES (?, ?)"


@dataclass(frozen=True)
class StoredFunction:
    id: str
    program: str
    created: str


class Registry(Protocol):
    """Program texts by content id: what `FunctionStore` needs of a backend."""

    retry_after_s: int

    def open(self) -> bool:
        """Connect and bring the schema up to date now; False (logged) if that fails."""

    def add(self, function_id: str, program: str) -> tuple[StoredFunction | None, bool]:
        """Insert unless present: the stored row (None if unreadable) and whether it is new."""

    def replace(self, function_id: str, program: str) -> StoredFunction | None:
        """Overwrite a damaged row with the text it should hold."""

    def get(self, function_id: str) -> StoredFunction | None:
        """The row, or None if absent or damaged."""

    def count(self) -> int: ...

    def close(self) -> None: ...


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...


class Connection(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Cursor: ...


class Unreadable(Exception):
    """A read found the database or a row damaged: answered as a miss."""


class Breaker:
    """After the database was out of reach, requests that need it get their 503 at once for
    `pause_s` instead of each waiting for a connection (holding a compute slot); then one
    request at a time tries again, and the first that gets through closes the breaker."""

    def __init__(self, pause_s: float, clock: Callable[[], float] = time.monotonic):
        self.pause_s = pause_s
        self.clock = clock
        self._lock = threading.Lock()
        self._open_until: float | None = None  # None: the database is presumed reachable
        self._probing = False

    @property
    def closed(self) -> bool:
        return self._open_until is None

    def admit(self) -> bool:
        with self._lock:
            if self._open_until is None:
                return True
            if self._probing or self.clock() < self._open_until:
                return False
            self._probing = True
            return True

    def report(self, reachable: bool) -> None:
        with self._lock:
            self._probing = False
            self._open_until = None if reachable else self.clock() + self.pause_s


class SQLRegistry:
    """The registry over any DB-API connection; a backend supplies `_connection`,
    `_schema_transaction` (holding a lock that serializes start-ups), `_transient` and
    `errors`. `?` in the shared SQL becomes the backend's `placeholder`."""

    errors: ClassVar[tuple[type[Exception], ...]] = ()
    placeholder: ClassVar[str] = "?"

    def __init__(self, retry_after_s: int = 1):
        self.retry_after_s = retry_after_s
        self.breaker = Breaker(max(1, retry_after_s))
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    # ---- backend hooks ----

    def _connection(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _schema_transaction(self, db: Connection) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _transient(self, err: Exception) -> bool:
        """Whether the database is out of reach (503, trips the breaker) rather than damaged."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # ---- the registry ----

    def open(self) -> bool:
        try:
            self._run("open the store", "SELECT 1", result=_first)
        except (ProblemException, Unreadable):
            return False  # logged; tried again by the next request that needs the store
        return True

    def add(self, function_id: str, program: str) -> tuple[StoredFunction | None, bool]:
        inserted = self._run("store the program", INSERT, (function_id, program, _now()),
                             result=_rowcount) == 1
        return self.get(function_id), inserted

    def replace(self, function_id: str, program: str) -> StoredFunction | None:
        self._run("repair the program", UPSERT, (function_id, program, _now()), result=_rowcount)
        return self.get(function_id)

    def get(self, function_id: str) -> StoredFunction | None:
        try:
            row = self._run("read the program", SELECT, (function_id,), reading=True,
                            result=_fetchone)
        except Unreadable:
            return None
        if row is None:
            return None
        try:
            return StoredFunction(*(_text(column) for column in row))
        except (UnicodeDecodeError, TypeError):
            log.warning("function store: row %s is not valid UTF-8 text; answered as a miss",
                        function_id[:80])
            return None

    def count(self) -> int:
        return int(self._run("count the programs", COUNT, result=_first))

    # ---- plumbing ----

    def _run(self, what: str, statement: str, params: Sequence[Any] = (), *,
             reading: bool = False, result: Callable[[Cursor], Any]) -> Any:
        with self._guard(what, reading), self._connection() as db:
            self._ensure_schema(db)
            return result(db.execute(self._sql(statement), params))

    def _sql(self, statement: str) -> str:
        return statement.replace("?", self.placeholder)

    def _ensure_schema(self, db: Connection) -> None:
        """Bring the schema to `SCHEMA_VERSION`, once per process. The backend's schema lock
        makes replicas starting together take turns: the first migrates, the rest find it
        done."""
        if self._schema_ready:
            return
        with self._schema_lock:
            if not self._schema_ready:
                self._migrate(db)
                self._schema_ready = True

    def _migrate(self, db: Connection) -> None:
        with self._schema_transaction(db):
            db.execute(VERSIONS)
            current = int(db.execute(CURRENT_VERSION).fetchone()[0] or 0)
            if current > SCHEMA_VERSION:
                log.error("function store: schema version %d is newer than this server's "
                          "(%d); upgrade the server", current, SCHEMA_VERSION)
                raise self._unavailable(
                    "use its schema", f"the store's schema (version {current}) is newer than "
                    f"this server's (version {SCHEMA_VERSION}); upgrade the server")
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[version - 1]:
                    db.execute(statement)
                db.execute(self._sql(RECORD_VERSION), (version, _now()))
                log.info("function store: schema version %d applied", version)

    @contextmanager
    def _guard(self, what: str, reading: bool) -> Iterator[None]:
        """Database errors, logged, become a 503 `store-unavailable`, or for a read of
        something damaged, `Unreadable` (a miss). Never a 500, never the driver's message."""
        if not self.breaker.admit():
            raise self._unavailable(what)
        reachable = True
        try:
            yield
        except self.errors as err:
            log.error("function store: %s failed: %s: %s", what, type(err).__name__, err)
            reachable = not self._transient(err)
            if reading and reachable:
                raise Unreadable from None
            raise self._unavailable(what) from None
        finally:
            self.breaker.report(reachable)

    def _unavailable(self, what: str, detail: str | None = None) -> ProblemException:
        return ProblemException(
            503, "store-unavailable", detail or f"the function store could not {what} right "
            "now; retry shortly, or send the program inline",
            headers={"Retry-After": str(self.retry_after_s)})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _fetchone(cursor: Cursor) -> Any:
    return cursor.fetchone()


def _first(cursor: Cursor) -> Any:
    return cursor.fetchone()[0]


def _rowcount(cursor: Cursor) -> int:
    return cursor.rowcount


def _text(column: object) -> str:
    """A column as text, strictly: SQLite's are read as bytes (see its `text_factory`) and
    decoded here; integers and floats (SQLite's type affinity lets a tampered row hold them)
    become their text."""
    if isinstance(column, str):
        return column
    if isinstance(column, bytes):
        return column.decode("utf-8")  # UnicodeDecodeError for a damaged row
    if isinstance(column, int | float):
        return str(column)
    raise TypeError(f"unexpected column type {type(column).__name__}")
