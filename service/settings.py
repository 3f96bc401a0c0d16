"""Configuration from environment variables prefixed `NABLA_` (SPEC §4).

Every limit of SPEC §4 is here with its default; `GET /v1/limits` reports them. `host`, `port`
and `workers` are read by `make serve` and the Docker image (uvicorn's own flags), and are
listed here so that one place documents every variable.
"""

from __future__ import annotations

import math
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

import adcore


def _default_concurrency() -> int:
    # One computation per core: numpy releases the GIL in large kernels, and more threads
    # than cores only add latency to every request in flight.
    return max(1, os.cpu_count() or 1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NABLA_", extra="ignore")

    # Where uvicorn listens (used by `make serve` and the Dockerfile, not by the app itself).
    host: str = Field("127.0.0.1", description="address uvicorn binds")
    port: int = Field(8000, description="port uvicorn binds")
    workers: int = Field(1, description="uvicorn worker processes (each has its own caches)")

    # The store: SQLite registry of program texts under this directory, or PostgreSQL.
    data_dir: Path = Field(Path("./.nabla"), description="directory of the SQLite store")
    database_url: SecretStr = Field(SecretStr(""), description="postgresql://user:password@"
                                    "host:port/database: the store shared by replicas "
                                    "(empty: SQLite in data_dir)")
    database_pool_min: int = Field(1, ge=0, description="PostgreSQL connections kept open")
    database_pool_max: int = Field(10, gt=0, description="PostgreSQL connections at most")
    database_timeout_s: float = Field(2.0, gt=0, description="seconds to wait for a "
                                      "PostgreSQL connection before answering 503")

    # Limits of SPEC §4.
    max_program_chars: int = Field(64 * 1024, gt=0, description="program text, characters")
    max_depth: int = Field(256, gt=0, description="expression nesting depth")
    max_ir_equations: int = Field(200_000, gt=0, description="IR size after differentiation")
    max_array_elements: int = Field(2**26, gt=0, description="elements of any intermediate")
    max_flops: float = Field(1e11, gt=0, description="estimated work per request, flops")
    max_body_bytes: int = Field(64 * 1024 * 1024, gt=0, description="request body, bytes")
    max_seconds: float = Field(30.0, gt=0, description="wall time per request, seconds")
    body_timeout_s: float = Field(60.0, gt=0, description="time to receive a whole request "
                                  "body, seconds (408 above: slow clients cannot hold a request)")

    # Capacity.
    max_concurrent: int = Field(default_factory=_default_concurrency, gt=0,
                                description="computations running at once; more get 503")
    retry_after_s: int = Field(1, ge=0, description="Retry-After sent with a 503")
    cache_entries: int = Field(1024, gt=0, description="compiled kernels kept (LRU)")
    cache_bytes: int = Field(256 * 1024 * 1024, gt=0,
                             description="estimated bytes of compiled kernels kept (LRU)")
    program_cache_entries: int = Field(1024, gt=0, description="parsed programs kept (LRU)")
    # Access control (service/auth.py): off unless configured.
    api_keys: str = Field("", description="accepted API keys as comma-separated "
                          "'sha256:<64 hex digits>' digests; empty: no key needed")
    rate_limit: str = Field("", description="token bucket per API key (per client address "
                            "without keys): 'rate' or 'rate,burst', requests/second")

    gc_freeze: bool = Field(True, description="freeze the startup heap out of GC passes "
                            "(right for a server process; tests turn it off)")

    def model_post_init(self, context: Any, /) -> None:
        # Checked here, not in a field validator, so that a malformed entry (perhaps a key
        # pasted in clear) is never echoed back in a validation error.
        api_key_digests(self.api_keys)
        rate_limit_pair(self.rate_limit)
        check_database_url(self.database_url.get_secret_value())
        if self.database_pool_min > self.database_pool_max:
            raise ConfigurationError("NABLA_DATABASE_POOL_MIN is over NABLA_DATABASE_POOL_MAX")

    def key_digests(self) -> frozenset[str]:
        return api_key_digests(self.api_keys)

    def rate(self) -> tuple[float, float] | None:
        return rate_limit_pair(self.rate_limit)

    def limits(self) -> adcore.Limits:
        return adcore.Limits(
            max_program_chars=self.max_program_chars,
            max_depth=self.max_depth,
            max_ir_equations=self.max_ir_equations,
            max_array_elements=self.max_array_elements,
            max_flops=self.max_flops,
            max_seconds=self.max_seconds,
        )

    @property
    def database(self) -> Path:
        return self.data_dir / "functions.sqlite3"


class ConfigurationError(Exception):
    """A malformed setting. Not a ValueError on purpose: pydantic would wrap it in a
    validation error that echoes every input, API key entries included."""


_DIGEST = re.compile(r"[0-9a-f]{64}")


def api_key_digests(value: str) -> frozenset[str]:
    """'sha256:<hex>,sha256:<hex>' -> the hex digests (lower case). Keys are never
    configured in clear text: `printf %s "$KEY" | sha256sum` gives the digest."""
    digests = set()
    for number, entry in enumerate((part.strip() for part in value.split(",")), 1):
        if not entry:
            continue
        scheme, _, digest = entry.partition(":")
        digest = digest.strip().lower()
        if scheme.strip().lower() != "sha256" or not _DIGEST.fullmatch(digest):
            raise ConfigurationError(
                f"NABLA_API_KEYS entry {number} is not 'sha256:<64 hex digits>' "
                "(give the SHA-256 digest of each key, never the key itself)")
        digests.add(digest)
    return frozenset(digests)


def rate_limit_pair(value: str) -> tuple[float, float] | None:
    """'rate' or 'rate,burst' (requests/second; burst defaults to max(1, rate)) or None."""
    if not value.strip():
        return None
    parts = [part.strip() for part in value.split(",")]
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        raise ConfigurationError(
            f"NABLA_RATE_LIMIT must be 'rate' or 'rate,burst', not {value!r}") from None
    if len(numbers) > 2 or not all(math.isfinite(n) and n > 0 for n in numbers):
        raise ConfigurationError("NABLA_RATE_LIMIT must be one or two positive numbers, "
                                 f"not {value!r}")
    rate = numbers[0]
    burst = numbers[1] if len(numbers) == 2 else max(1.0, rate)
    if burst < 1:
        raise ConfigurationError("the burst of NABLA_RATE_LIMIT must be at least 1 request")
    return rate, burst


def check_database_url(url: str) -> None:
    """Empty, or a PostgreSQL URL. The URL is never echoed: it may hold a password."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if url and scheme not in ("postgresql", "postgres"):
        raise ConfigurationError("NABLA_DATABASE_URL must be a postgresql://user:password@"
                                 "host:port/database URL (or empty for the SQLite store)")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once; tests pass their own to `create_app`."""
    return Settings()
