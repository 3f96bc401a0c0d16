"""A bounded, thread-safe LRU with single-flight builds, shared by every program.

`adcore.Program` asks its kernel cache only for `get_or_build(key, build)` and `key in cache`
(the keys already hold the program id), so one instance serves all programs, inline or
registered. Concurrent misses of one key run `build` once; the others wait for its result
(or its error), so a burst of identical cold requests compiles once.
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
                 sizeof: Sizer = lambda _: 0):
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._sizeof = sizeof
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._building: dict[Hashable, Future[Any]] = {}
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, accept: Callable[[Any], bool] | None = None) -> Any | None:
        """The value if present and `accept`ed (a hit), else None, counting no miss (the
        caller falls back to `get_or_build`, which counts it)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or (accept is not None and not accept(entry[0])):
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[0]

    def get_or_build(self, key: Hashable, build: Callable[[], Any]) -> Any:
        with self._lock:
            entry = self._entries.get(key)
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
