"""Prometheus text exposition without a client library: request counts by route and status,
a latency histogram per route, compile times, cache and pool gauges.

`MetricsMiddleware` is plain ASGI (not `BaseHTTPMiddleware`, which costs a task and a memory
stream per request). Routes are labelled by their template (`/v1/functions/{function_id}`),
never by the raw path, so the label set stays bounded.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0, 30.0)
COMPILE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Histogram:
    def __init__(self, buckets: tuple[float, ...]):
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value

    def lines(self, name: str, labels: str) -> Iterable[str]:
        sep = "," if labels else ""
        running = 0
        for bound, count in zip((*map(repr, self.buckets), "+Inf"), self.counts, strict=True):
            running += count
            yield f'{name}_bucket{{{labels}{sep}le="{bound}"}} {running}'
        braced = f"{{{labels}}}" if labels else ""
        yield f"{name}_sum{braced} {self.total!r}"
        yield f"{name}_count{braced} {running}"


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: defaultdict[tuple[str, str, int], int] = defaultdict(int)
        self.latency: dict[str, Histogram] = {}
        self.compile = Histogram(COMPILE_BUCKETS)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, status)] += 1
            histogram = self.latency.get(route)
            if histogram is None:
                histogram = self.latency[route] = Histogram(LATENCY_BUCKETS)
            histogram.observe(seconds)

    def observe_compile(self, seconds: float) -> None:
        with self._lock:
            self.compile.observe(seconds)

    def render(self, cache: dict[str, Any], pool: dict[str, Any]) -> str:
        out = ["# HELP nabla_requests_total HTTP requests by method, route and status.",
               "# TYPE nabla_requests_total counter"]
        with self._lock:
            for (method, route, status), count in sorted(self.requests.items()):
                out.append(f'nabla_requests_total{{method="{method}",route="{_esc(route)}",'
                           f'status="{status}"}} {count}')
            out += ["# HELP nabla_request_duration_seconds Request latency by route.",
                    "# TYPE nabla_request_duration_seconds histogram"]
            for route, histogram in sorted(self.latency.items()):
                out.extend(histogram.lines("nabla_request_duration_seconds",
                                           f'route="{_esc(route)}"'))
            out += ["# HELP nabla_compile_seconds Time to build a kernel on a cache miss.",
                    "# TYPE nabla_compile_seconds histogram"]
            out.extend(self.compile.lines("nabla_compile_seconds", ""))
        gauges = [
            ("nabla_cache_hits_total", "counter", "Kernel cache hits.", cache["hits"]),
            ("nabla_cache_misses_total", "counter", "Kernel cache misses.", cache["misses"]),
            ("nabla_cache_evictions_total", "counter", "Kernels evicted.", cache["evictions"]),
            ("nabla_cache_entries", "gauge", "Kernels in the cache.", cache["entries"]),
            ("nabla_cache_bytes", "gauge", "Estimated bytes of cached kernels.", cache["bytes"]),
            ("nabla_compute_running", "gauge", "Computations running now.", pool["running"]),
            ("nabla_compute_rejected_total", "counter", "Requests refused with 503.",
             pool["rejected"]),
            ("nabla_compute_timeouts_total", "counter", "Requests over max_seconds.",
             pool["timeouts"]),
        ]
        for name, kind, help_text, value in gauges:
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value}"]
        return "\n".join(out) + "\n"


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # if the app dies before answering

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or scope.get("nabla.route") or "unmatched"
            self.metrics.observe_request(scope["method"], path, status,
                                         time.perf_counter() - start)
