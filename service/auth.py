"""Optional access control: API keys and a per-key rate limit (both off by default).

* `NABLA_API_KEYS="sha256:<hex>,sha256:<hex>"`: the SHA-256 digests of the accepted keys
  (the keys themselves are never configured). A request then needs `Authorization: Bearer
  <key>` or `X-API-Key: <key>`; without a valid one it gets 401 problem+json with
  `WWW-Authenticate`. The presented key is hashed and compared with every digest in constant
  time, so neither the keys nor their digests leak through timing.
* `NABLA_RATE_LIMIT="rate,burst"`: a token bucket per key (per client address when no keys
  are configured): `burst` requests at once, refilled at `rate` per second. Over it, 429
  problem+json with `Retry-After` (whole seconds until a token is back, at least 1).

Open without a key: liveness, the documentation, the playground page and its files, and the
problem type pages (`OPEN_PATHS`).
This is plain ASGI in front of everything else (the fast lane included), on the event loop:
no lock is needed, and a refused request costs a hash and a dict lookup. Each uvicorn worker
keeps its own buckets, so with N workers a client can get up to N times the rate.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from .problems import problem

OPEN_PATHS = frozenset({"/healthz", "/", "/docs", "/docs/oauth2-redirect", "/redoc",
                        "/openapi.json"})
OPEN_PREFIXES = ("/problems/", "/static/", "/vendor/")
MAX_BUCKETS = 10_000  # client addresses tracked without keys (least recent dropped first)


class TokenBucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, burst: float, now: float):
        self.tokens = burst
        self.stamp = now


class RateLimiter:
    """Token buckets by identity; `take` returns 0 when allowed, else the seconds to wait."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic,
                 max_buckets: int = MAX_BUCKETS):
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, identity: str) -> float:
        now = self.clock()
        bucket = self._buckets.get(identity)
        if bucket is None:
            bucket = self._buckets[identity] = TokenBucket(self.burst, now)
            while len(self._buckets) > self.max_buckets:
                self._buckets.popitem(last=False)  # a forgotten client starts full: harmless
        else:
            self._buckets.move_to_end(identity)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate


def digest(key: str | bytes) -> str:
    raw = key.encode() if isinstance(key, str) else key
    return hashlib.sha256(raw).hexdigest()


class AccessControl:
    """Which digests are accepted, and the rate limiter (either may be absent)."""

    def __init__(self, digests: frozenset[str], rate: tuple[float, float] | None):
        self.digests = tuple(sorted(digests))
        self.limiter = RateLimiter(*rate) if rate else None

    @property
    def enabled(self) -> bool:
        return bool(self.digests) or self.limiter is not None

    def identify(self, presented: bytes | None) -> str | None:
        """The matching digest, or None; compares with every digest, in constant time."""
        if presented is None:
            return None
        candidate = digest(presented).encode()
        found = None
        for known in self.digests:
            if hmac.compare_digest(candidate, known.encode()):
                found = known
        return found


def presented_key(scope: Scope) -> bytes | None:
    """`Authorization: Bearer <key>` or `X-API-Key: <key>` (the first one given)."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, credentials = value.strip().partition(b" ")
            if scheme.lower() == b"bearer" and credentials.strip():
                return credentials.strip()
        elif name == b"x-api-key" and value.strip():
            return value.strip()
    return None


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


class AccessMiddleware:
    def __init__(self, app: ASGIApp, control: AccessControl):
        self.app = app
        self.control = control

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_open(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        control = self.control
        identity: str | None
        if control.digests:
            identity = control.identify(presented_key(scope))
            if identity is None:
                missing = presented_key(scope) is None
                response = problem(
                    401, "unauthorized",
                    "this server needs an API key: send 'Authorization: Bearer <key>' or "
                    "'X-API-Key: <key>'" if missing else "the API key is not valid here",
                    scope.get("path"),
                    {"WWW-Authenticate": 'Bearer realm="nabla"' + (
                        "" if missing else ', error="invalid_token"')})
                await response(scope, receive, send)
                return
        else:
            client = scope.get("client")
            identity = "addr:" + (client[0] if client else "unknown")
        if control.limiter is not None:
            wait = control.limiter.take(identity)
            if wait > 0:
                retry = max(1, math.ceil(wait))
                response = problem(
                    429, "rate-limited",
                    f"over the rate limit of {control.limiter.rate:g} requests/second "
                    f"(burst {control.limiter.burst:g}); retry after {retry} s",
                    scope.get("path"), {"Retry-After": str(retry)},
                    limit="rate_limit", value=control.limiter.rate)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
