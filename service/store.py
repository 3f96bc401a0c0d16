"""The function store: a registry of program texts (`service/registry/`: SQLite or
PostgreSQL) plus in-memory caches.

A row is trusted only once its text compiles to its own id: a damaged row (undecodable bytes,
a blob, text edited behind our back) is answered as a miss, logged, and repaired by the next
registration of the program, whatever the backend. A database that cannot be reached, read
or written at all is a 503 `store-unavailable` with Retry-After, never a 500. Everything
compiled lives in memory: parsed programs in one bounded LRU (by id and by exact text, so a
repeated inline program skips the parser) and compiled kernels in another (`BoundedCache`,
keyed by adcore per SPEC §4). Any replica answers any registered id: it compiles the stored
text on first use.
"""

from __future__ import annotations

import logging
from typing import Any

import adcore

from .cache import BoundedCache
from .problems import ProblemException
from .registry import Registry, StoredFunction

log = logging.getLogger("nabla.store")


def kernel_bytes(kernel: Any) -> int:
    """A rough, stable size estimate: the IR kept by the plan dominates (~1 KiB per equation,
    measured with tracemalloc), plus the generated source and the compiled code object, plus
    the arrays a sparse plan keeps (pattern, seeds, recovery indices)."""
    return (2048 + 1024 * kernel.estimate.equations + 16 * len(kernel.source)
            + kernel.operation.held_bytes)


def _is_program(value: Any) -> bool:
    return isinstance(value, adcore.Program)


class FunctionStore:
    """Programs by text or registered id, each parsed once, sharing one kernel cache."""

    def __init__(self, registry: Registry, limits: adcore.Limits, kernels: BoundedCache, *,
                 program_entries: int):
        self.limits = limits
        self.registry = registry
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
