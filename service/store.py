"""The function store: a SQLite registry of program texts plus in-memory caches.

Rows hold only `(id, program, created)`: text, never pickles or code, so a store written by
one version is safe to read by any other. Everything compiled lives in memory: parsed programs
in one bounded LRU (by id and by exact text, so a repeated inline program skips the parser)
and compiled kernels in another (`BoundedCache`, keyed by adcore per SPEC §4). The database
runs in WAL mode so several uvicorn workers can share one file.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import adcore

from .cache import BoundedCache


def kernel_bytes(kernel: Any) -> int:
    """A rough, stable size estimate: the IR kept by the plan dominates (~1 KiB per equation,
    measured with tracemalloc), plus the generated source and the compiled code object."""
    return 2048 + 1024 * kernel.estimate.equations + 16 * len(kernel.source)


@dataclass(frozen=True)
class StoredFunction:
    id: str
    program: str
    created: str


class Registry:
    """Program texts by id in SQLite; one connection guarded by a lock (the queries take
    microseconds, so a pool of connections would buy nothing)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; WAL-safe
        self._db.execute("PRAGMA busy_timeout=5000")  # other worker processes may write
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS functions ("
            " id TEXT PRIMARY KEY, program TEXT NOT NULL, created TEXT NOT NULL)")

    def add(self, function_id: str, program: str) -> tuple[StoredFunction, bool]:
        """Insert unless present; returns the stored row and whether it is new."""
        created = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO functions (id, program, created) VALUES (?, ?, ?)",
                (function_id, program, created))
            inserted = cursor.rowcount == 1
        stored = self.get(function_id)
        assert stored is not None
        return stored, inserted

    def get(self, function_id: str) -> StoredFunction | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, program, created FROM functions WHERE id = ?",
                (function_id,)).fetchone()
        return StoredFunction(*row) if row else None

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM functions").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


class FunctionStore:
    """Programs by text or registered id, each parsed once, sharing one kernel cache."""

    def __init__(self, path: Path, limits: adcore.Limits, kernels: BoundedCache, *,
                 program_entries: int):
        self.limits = limits
        self.registry = Registry(path)
        self.kernels = kernels
        self._by_text = BoundedCache(program_entries)
        # Only ids known to be in the registry: an inline program's id is not a handle.
        self._registered = BoundedCache(program_entries)

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
        """Store the program under its content id; `created` is False when it existed."""
        program = self.compile(text)
        stored, created = self.registry.add(program.id, text)
        self._registered.put(program.id, program)
        return program, stored, created

    def lookup(self, function_id: str) -> tuple[adcore.Program, StoredFunction] | None:
        """The registered row and its program, or None for an unknown id."""
        stored = self.registry.get(function_id)
        if stored is None:
            return None
        return self.compile(stored.program), stored

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
        program = adcore.compile(text, self.limits)
        program.kernels = self.kernels  # one cache for every program
        return program

    def close(self) -> None:
        self.registry.close()
