"""The function store: a SQLite registry of program texts plus in-memory caches.

Rows hold only `(id, program, created)`: text, never pickles or code, so a store written by
one version is safe to read by any other. A row is trusted only once its text compiles to its
own id: a damaged row (undecodable bytes, a blob, text edited behind our back) is answered as
a miss, logged, and repaired by the next registration of the program. A database that cannot
be read or written at all (locked past the busy timeout, damaged pages) is a 503
`store-unavailable` with Retry-After, never a 500. Everything compiled lives in memory: parsed programs
in one bounded LRU (by id and by exact text, so a repeated inline program skips the parser)
and compiled kernels in another (`BoundedCache`, keyed by adcore per SPEC §4). The database
runs in WAL mode so several uvicorn workers can share one file.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import adcore

from .cache import BoundedCache
from .problems import ProblemException

log = logging.getLogger("nabla.store")
BUSY_TIMEOUT_MS = 10_000  # other worker processes may hold the write lock this long


def kernel_bytes(kernel: Any) -> int:
    """A rough, stable size estimate: the IR kept by the plan dominates (~1 KiB per equation,
    measured with tracemalloc), plus the generated source and the compiled code object, plus
    the arrays a sparse plan keeps (pattern, seeds, recovery indices)."""
    return (2048 + 1024 * kernel.estimate.equations + 16 * len(kernel.source)
            + kernel.operation.held_bytes)


def _is_program(value: Any) -> bool:
    return isinstance(value, adcore.Program)


@dataclass(frozen=True)
class StoredFunction:
    id: str
    program: str
    created: str


class Registry:
    """Program texts by id in SQLite; one connection guarded by a lock (the queries take
    microseconds, so a pool of connections would buy nothing).

    Errors: a write that fails (or a read that finds the database locked past the busy
    timeout) is a 503 `store-unavailable`; a read that finds the file or a row damaged is a
    miss (None), logged. The connection is opened at once when possible, else on next use,
    so a store that cannot be opened never stops inline programs."""

    def __init__(self, path: Path, retry_after_s: int = 1):
        self.path = path
        self.retry_after_s = retry_after_s
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        try:
            with self._lock:
                self._connection()
        except (ProblemException, _Unreadable):
            pass  # logged; tried again by the next request that needs the store

    def _connection(self, reading: bool = False) -> sqlite3.Connection:
        """The open connection (call with the lock held)."""
        if self._db is None:
            with self._guard("open the store", reading):
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # The connect timeout is SQLite's busy handler for every statement, the
                # PRAGMAs and the CREATE included: workers starting together wait for each
                # other's write lock rather than failing with "database is locked".
                db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                     timeout=BUSY_TIMEOUT_MS / 1000)
                try:
                    # Text comes back as bytes, whatever a row holds: a damaged row can then
                    # be told apart instead of failing inside the driver's UTF-8 decoding.
                    db.text_factory = bytes
                    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                    db.execute("PRAGMA journal_mode=WAL")
                    db.execute("PRAGMA synchronous=NORMAL")  # a commit survives kill -9
                    db.execute(
                        "CREATE TABLE IF NOT EXISTS functions ("
                        " id TEXT PRIMARY KEY, program TEXT NOT NULL, created TEXT NOT NULL)")
                except BaseException:
                    db.close()
                    raise
                self._db = db
        return self._db

    @contextmanager
    def _guard(self, what: str, reading: bool = False) -> Iterator[None]:
        """SQLite (and file system) errors, logged, become a 503 `store-unavailable`, or for
        a read of something damaged, `_Unreadable` (a miss). Never a 500, never the raw
        message."""
        try:
            yield
        except (sqlite3.Error, OSError) as err:
            log.error("function store: %s failed: %s: %s", what, type(err).__name__, err)
            message = str(err).lower()
            transient = "locked" in message or "busy" in message
            if reading and not transient:
                raise _Unreadable from None
            raise ProblemException(
                503, "store-unavailable", f"the function store could not {what} right now; "
                "retry shortly, or send the program inline",
                headers={"Retry-After": str(self.retry_after_s)}) from None

    def add(self, function_id: str, program: str) -> tuple[StoredFunction | None, bool]:
        """Insert unless present; returns the stored row (None when it cannot be read back)
        and whether it is new."""
        created = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock, self._guard("store the program"):
            cursor = self._connection().execute(
                "INSERT OR IGNORE INTO functions (id, program, created) VALUES (?, ?, ?)",
                (function_id, program, created))
            inserted = cursor.rowcount == 1
        return self.get(function_id), inserted

    def replace(self, function_id: str, program: str) -> StoredFunction | None:
        """Overwrite a damaged row with the text it should hold."""
        created = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock, self._guard("repair the program"):
            self._connection().execute(
                "INSERT OR REPLACE INTO functions (id, program, created) VALUES (?, ?, ?)",
                (function_id, program, created))
        return self.get(function_id)

    def get(self, function_id: str) -> StoredFunction | None:
        """The row, or None if absent, undecodable or unreadable (damage is logged)."""
        try:
            with self._lock, self._guard("read the program", reading=True):
                row = self._connection(reading=True).execute(
                    "SELECT id, program, created FROM functions WHERE id = ?",
                    (function_id,)).fetchone()
        except _Unreadable:
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
        with self._lock, self._guard("count the programs"):
            return int(self._connection().execute(
                "SELECT COUNT(*) FROM functions").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


class _Unreadable(Exception):
    """A read found the database or a row damaged: answered as a miss."""


def _text(column: object) -> str:
    """A column read as bytes (see `text_factory`), strictly decoded; integers and floats
    (SQLite's type affinity lets a tampered row hold them) become their text."""
    if isinstance(column, bytes):
        return column.decode("utf-8")  # UnicodeDecodeError for a damaged row
    if isinstance(column, int | float):
        return str(column)
    raise TypeError(f"unexpected column type {type(column).__name__}")


class FunctionStore:
    """Programs by text or registered id, each parsed once, sharing one kernel cache."""

    def __init__(self, path: Path, limits: adcore.Limits, kernels: BoundedCache, *,
                 program_entries: int, retry_after_s: int = 1):
        self.limits = limits
        self.registry = Registry(path, retry_after_s)
        self.kernels = kernels
        self._by_text = BoundedCache(program_entries, validate=_is_program)
        # Only ids known to be in the registry: an inline program's id is not a handle.
        self._registered = BoundedCache(program_entries, validate=_is_program)

    def compile(self, text: str) -> adcore.Program:
        """Parse and resolve `text` (a `ProgramError` otherwise); cached by exact text."""
        program = self._by_text.get(text)
        if program is None:
            program = self._new(text)
            self._by_text.put(text, program)
        return program

    def cached(self, text: str) -> adcore.Program | None:
        """The program for this exact text if parsed before, else None (never parses)."""
        return self._by_text.get(text)

    def cached_id(self, function_id: str) -> adcore.Program | None:
        """A registered program if in memory, else None (never touches the database)."""
        return self._registered.get(function_id)

    def register(self, text: str) -> tuple[adcore.Program, StoredFunction, bool]:
        """Store the program under its content id; `created` is False when it existed. A
        damaged row under that id is overwritten (and reported as created)."""
        program = self.compile(text)
        stored, created = self.registry.add(program.id, text)
        if stored is None or (not created and self._verified(stored) is None):
            log.warning("function store: repairing the damaged row %s", program.id)
            stored, created = self.registry.replace(program.id, text), True
            if stored is None:
                raise ProblemException(503, "store-unavailable", "the function store did "
                                       "not keep the program; retry shortly",
                                       headers={"Retry-After": str(self.registry.retry_after_s)})
        self._registered.put(program.id, program)
        return program, stored, created

    def lookup(self, function_id: str) -> tuple[adcore.Program, StoredFunction] | None:
        """The registered row and its program, or None for an unknown id or a row that does
        not hold the program of its id (damaged; logged)."""
        stored = self.registry.get(function_id)
        if stored is None:
            return None
        program = self._verified(stored)
        return None if program is None else (program, stored)

    def _verified(self, stored: StoredFunction) -> adcore.Program | None:
        """The stored text's program if it compiles to the row's own id, else None. A
        `limit` error is not damage (the limits may have been lowered since): it is raised."""
        try:
            program = self.compile(stored.program)
        except adcore.ProgramError as err:
            if err.kind == "limit":
                raise
            log.warning("function store: row %s does not compile (%s); answered as a miss",
                        stored.id[:80], err.kind)
            return None
        if program.id != stored.id:
            log.warning("function store: row %s holds the program of %s; answered as a miss",
                        stored.id[:80], program.id)
            return None
        return program

    def program(self, function_id: str) -> adcore.Program | None:
        """A registered program by id; skips the database once the id was seen (registration
        is permanent, so a cached answer never goes stale)."""
        program = self._registered.get(function_id)
        if program is None:
            found = self.lookup(function_id)
            if found is None:
                return None
            program = found[0]
            self._registered.put(function_id, program)
        return program

    def _new(self, text: str) -> adcore.Program:
        if type(text) is not str:  # only ever text reaches adcore
            raise TypeError(f"a program is text, not {type(text).__name__}")
        program = adcore.compile(text, self.limits)
        program.kernels = self.kernels  # one cache for every program
        return program

    def close(self) -> None:
        self.registry.close()
