"""Real uvicorn servers on free loopback ports, for the end-to-end, hostile and fault tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def uvicorn_server(data_dir: Path, settings: dict[str, Any] | None = None,
                   workers: int = 1, extra_env: dict[str, str] | None = None
                   ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """uvicorn on a free loopback port; yields (base URL, process). Settings become
    NABLA_* variables. Stopped (and killed if need be) on exit."""
    port = free_port()
    process = start_uvicorn(port, data_dir, settings, workers, extra_env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process, log_of(data_dir, port))
        yield base, process
    finally:
        stop(process)


def start_uvicorn(port: int, data_dir: Path, settings: dict[str, Any] | None = None,
                  workers: int = 1, extra_env: dict[str, str] | None = None
                  ) -> subprocess.Popen[bytes]:
    """uvicorn on `port`, not waited for (see `wait_healthy`); its output goes to
    `log_of(data_dir, port)`."""
    env = {**os.environ, "NABLA_DATA_DIR": str(data_dir), **(extra_env or {})}
    for key, value in (settings or {}).items():
        env[f"NABLA_{key.upper()}"] = str(value)
    command = [sys.executable, "-m", "uvicorn", "service.main:app", "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning"]
    if workers > 1:
        command += ["--workers", str(workers)]
    with log_of(data_dir, port).open("ab") as log:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def log_of(data_dir: Path, port: int) -> Path:
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    return data_dir.parent / f"uvicorn-{port}.log"


def wait_healthy(base: str, process: subprocess.Popen[bytes], log: Path,
                 limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"uvicorn exited with {process.returncode}:\n"
                                 + log.read_text()[-3000:])
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError("uvicorn never became healthy")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(20)
