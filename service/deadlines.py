"""Time limits for many short waits, on one timer per event loop.

`asyncio.timeout` arms and cancels a timer for every wait: about 5 us with uvloop, a
twentieth of a small cached request, spent on the fast lane's body reads that almost never
wait at all (the body came with the headers). Here each wait only records its deadline;
one timer per loop looks at the waits every `tick` while there are any, and cancels those
past their deadline, which then raise TimeoutError as under `asyncio.timeout`. A wait is
cut between `seconds` and `seconds + tick` after it began.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")
Task = asyncio.Task[Any]


class Deadlines:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.tick = min(1.0, seconds / 4)
        # One watch per running loop (tests run apps on several loops, one per thread).
        self._watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Watch] = (
            weakref.WeakKeyDictionary())
        self._last: _Watch | None = None  # the loop of the last wait: nearly always this one

    async def run(self, awaitable: Awaitable[T]) -> T:
        """`await awaitable`, or TimeoutError once it has taken `seconds`."""
        loop = asyncio.get_running_loop()
        watch = self._last
        if watch is None or watch.loop() is not loop:
            watch = self._watches.get(loop)
            if watch is None:
                watch = self._watches[loop] = _Watch(loop, self.tick)
            self._last = watch
        task = asyncio.current_task()
        assert task is not None
        watch.add(task, loop.time() + self.seconds, loop)
        try:
            return await awaitable
        except asyncio.CancelledError:
            if watch.expired(task) and task.uncancel() == 0:  # ours alone: a timeout
                raise TimeoutError from None
            raise
        finally:
            watch.remove(task)


class _Watch:
    """The waits of one loop, and its timer (armed only while there are waits). It holds
    its loop weakly: it is the loop's entry in a WeakKeyDictionary."""

    def __init__(self, loop: asyncio.AbstractEventLoop, tick: float):
        self.loop = weakref.ref(loop)
        self._tick = tick
        self._waiting: dict[Task, float] = {}
        self._cancelled: set[Task] = set()
        self._timer: asyncio.TimerHandle | None = None

    def add(self, task: Task, deadline: float, loop: asyncio.AbstractEventLoop) -> None:
        self._waiting[task] = deadline
        if self._timer is None:
            self._timer = loop.call_later(self._tick, self._check, loop)

    def remove(self, task: Task) -> None:
        del self._waiting[task]
        self._cancelled.discard(task)

    def expired(self, task: Task) -> bool:
        return task in self._cancelled

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for task, deadline in self._waiting.items():
            if deadline <= now and task not in self._cancelled:
                self._cancelled.add(task)
                task.cancel()
        self._timer = loop.call_later(self._tick, self._check, loop) if self._waiting else None
