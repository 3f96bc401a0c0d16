"""A bounded, thread-safe LRU with single-flight builds, shared by every program.

`adcore.Program` asks its kernel cache only for `get_or_build(key, build)` and `key in cache`
(the keys already hold the program id), so one instance serves all programs, inline or
registered. Concurrent misses of one key run `build` once; the others wait for its result
(or its error), so a burst of identical cold requests compiles once.

With `validate`, an entry that fails it (a damaged entry: not what the cache is meant to
hold) is dropped on lookup and answered as a miss, so the caller rebuilds it; `discard`
drops one entry on demand (the engine uses it when a cached kernel fails to run).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any

Sizer = Callable[[Any], int]


class BoundedCache:
    """At most `max_entries` values and `max_bytes` estimated bytes, least recent out first.
    A single value larger than `max_bytes` is returned but not kept."""

    def __init__(self, max_entries: int, max_bytes: int = 2**62,
                 sizeof: Sizer = lambda _: 0, validate: Callable[[Any], bool] | None = None):
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._sizeof = sizeof
        self._validate = validate
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._building: dict[Hashable, Future[Any]] = {}
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.damaged = 0

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return self._valid_entry(key) is not None

    def _valid_entry(self, key: Hashable) -> tuple[Any, int] | None:
        """The entry under `key`, dropping it if it fails validation. Holds the lock."""
        entry = self._entries.get(key)
        if entry is not None and self._validate is not None and not self._validate(entry[0]):
            del self._entries[key]
            self.bytes -= entry[1]
            self.damaged += 1
            return None
        return entry

    def discard(self, key: Hashable) -> None:
        with self._lock:
            entry = self._entries.pop(key, None)
            if entry is not None:
                self.bytes -= entry[1]

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, accept: Callable[[Any], bool] | None = None) -> Any | None:
        """The value if present and `accept`ed (a hit), else None, counting no miss (the
        caller falls back to `get_or_build`, which counts it)."""
        with self._lock:
            entry = self._valid_entry(key)
            if entry is None or (accept is not None and not accept(entry[0])):
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[0]

    def get_or_build(self, key: Hashable, build: Callable[[], Any]) -> Any:
        with self._lock:
            entry = self._valid_entry(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return entry[0]
            self.misses += 1
            pending = self._building.get(key)
            owner = pending is None
            if owner:
                pending = self._building[key] = Future()
        assert pending is not None
        if not owner:
            return pending.result()  # re-raises the builder's error, which is not cached
        try:
            value = build()
        except BaseException as err:
            with self._lock:
                del self._building[key]
            pending.set_exception(err)
            raise
        self._insert(key, value)
        with self._lock:
            del self._building[key]
        pending.set_result(value)
        return value

    def put(self, key: Hashable, value: Any) -> None:
        self._insert(key, value)

    def _insert(self, key: Hashable, value: Any) -> None:
        size = self._sizeof(value)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            if size > self.max_bytes:
                return
            self._entries[key] = (value, size)
            self.bytes += size
            while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self.bytes -= dropped
                self.evictions += 1

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.bytes = 0

    def stats(self) -> dict[str, Any]:
        with self._lock:
            lookups = self.hits + self.misses
            return {
                "entries": len(self._entries),
                "max_entries": self.max_entries,
                "bytes": self.bytes,
                "max_bytes": self.max_bytes,
                "hits": self.hits,
                "misses": self.misses,
                "evictions": self.evictions,
                "hit_rate": self.hits / lookups if lookups else 0.0,
            }
