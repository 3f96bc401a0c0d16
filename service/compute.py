"""Where computations run: a bounded thread pool with admission control and a wall-time limit.

Compile and execute never run on the event loop, so `/healthz` and other requests keep being
answered. At most `max_concurrent` computations are admitted; the next one is refused at once
with 503 and Retry-After instead of waiting in an unbounded queue (the pool has exactly as
many threads as slots, so an admitted job never queues either). Threads suit the work: numpy
releases the GIL in the large kernels, and compiled kernels stay shared in one cache.

A request still running after `max_seconds` is answered with a 422 `limit` problem
(`max_seconds`). Python cannot stop a thread, so the computation finishes in the background
and keeps its slot until then; the static flops budget (checked before running) keeps that
rare and bounded. Work that can stop cooperatively does: the job's event
(`current_cancel_event()`) is set at the timeout, and a Hessian-diagonal sweep checks it
before each chunk (`engine.StoppableKernel`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from adcore.errors import LimitExceededError

from .problems import overloaded

T = TypeVar("T")
_job = threading.local()  # the running job's cancellation event, on pool threads


def current_cancel_event() -> threading.Event | None:
    """Set once the job running on this thread is over `max_seconds`; None off the pool."""
    return getattr(_job, "cancelled", None)


class ComputePool:
    def __init__(self, max_concurrent: int, max_seconds: float, retry_after_s: int):
        self.max_concurrent = max_concurrent
        self.max_seconds = max_seconds
        self.retry_after_s = retry_after_s
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._executor = ThreadPoolExecutor(max_concurrent, thread_name_prefix="nabla-compute")
        self._lock = threading.Lock()
        self.running = 0
        self.rejected = 0
        self.timeouts = 0

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on a worker thread; 503 when no slot is free, 422 after the time limit."""
        if not self._slots.acquire(blocking=False):
            self.rejected += 1
            raise overloaded(self.retry_after_s)
        cancelled = threading.Event()
        try:
            future = self._executor.submit(self._hold_slot, fn, args, cancelled)
        except RuntimeError:  # the pool is shutting down
            self._slots.release()
            raise overloaded(self.retry_after_s) from None
        try:
            async with asyncio.timeout(self.max_seconds):
                return await asyncio.wrap_future(future)
        except TimeoutError:
            cancelled.set()  # work that checks it (a Hessian-diagonal sweep) stops early
            self.timeouts += 1
            raise LimitExceededError(
                f"the computation ran longer than max_seconds = {self.max_seconds:g}",
                hint="a smaller batch, fewer wrt inputs, or hvp instead of a full hessian",
                limit="max_seconds", value=self.max_seconds) from None

    def _hold_slot(self, fn: Callable[..., T], args: tuple[Any, ...],
                   cancelled: threading.Event) -> T:
        with self._lock:
            self.running += 1
        _job.cancelled = cancelled
        try:
            return fn(*args)
        finally:
            _job.cancelled = None
            with self._lock:
                self.running -= 1
            self._slots.release()  # only when the work is really over, even after a timeout

    def stats(self) -> dict[str, int | float]:
        return {"max_concurrent": self.max_concurrent, "running": self.running,
                "rejected": self.rejected, "timeouts": self.timeouts,
                "max_seconds": self.max_seconds}

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
