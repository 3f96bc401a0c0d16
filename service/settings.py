"""Configuration from environment variables prefixed `NABLA_` (SPEC §4).

Every limit of SPEC §4 is here with its default; `GET /v1/limits` reports them. `host`, `port`
and `workers` are read by `make serve` and the Docker image (uvicorn's own flags), and are
listed here so that one place documents every variable.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
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

    # The store: SQLite registry of program texts under this directory.
    data_dir: Path = Field(Path("./.nabla"), description="directory of the SQLite store")

    # Limits of SPEC §4.
    max_program_chars: int = Field(64 * 1024, gt=0, description="program text, characters")
    max_depth: int = Field(256, gt=0, description="expression nesting depth")
    max_ir_equations: int = Field(200_000, gt=0, description="IR size after differentiation")
    max_array_elements: int = Field(2**26, gt=0, description="elements of any intermediate")
    max_flops: float = Field(1e11, gt=0, description="estimated work per request, flops")
    max_body_bytes: int = Field(64 * 1024 * 1024, gt=0, description="request body, bytes")
    max_seconds: float = Field(30.0, gt=0, description="wall time per request, seconds")

    # Capacity.
    max_concurrent: int = Field(default_factory=_default_concurrency, gt=0,
                                description="computations running at once; more get 503")
    retry_after_s: int = Field(1, ge=0, description="Retry-After sent with a 503")
    cache_entries: int = Field(1024, gt=0, description="compiled kernels kept (LRU)")
    cache_bytes: int = Field(256 * 1024 * 1024, gt=0,
                             description="estimated bytes of compiled kernels kept (LRU)")
    program_cache_entries: int = Field(1024, gt=0, description="parsed programs kept (LRU)")
    gc_freeze: bool = Field(True, description="freeze the startup heap out of GC passes "
                            "(right for a server process; tests turn it off)")

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


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once; tests pass their own to `create_app`."""
    return Settings()
