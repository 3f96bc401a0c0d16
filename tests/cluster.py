"""The cluster of docker-compose.yml on loopback, without containers: a PostgreSQL store
(tests/postgres.py), uvicorn replicas sharing it, and nginx in front with the shipped
deploy/nginx/nginx.conf, whose two included files are written here for loopback ports."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.servers import ROOT, free_port, log_of, start_uvicorn, stop, wait_healthy

NGINX_CONF = ROOT / "deploy" / "nginx" / "nginx.conf"
# Short enough for a test to see a stalled body end (the shipped value is 60 s).
TEST_BODY_TIMEOUT_S = 2


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                      else None)
    if found is None:
        raise RuntimeError("no nginx: `make test` installs Debian's nginx-light package")
    return found


@contextmanager
def nginx(upstream_ports: list[int], root: Path) -> Iterator[str]:
    """nginx with the shipped configuration in front of `upstream_ports`; yields its URL."""
    root.mkdir(parents=True)
    shutil.copy(NGINX_CONF, root / "nginx.conf")
    (root / "nabla-replicas.conf").write_text(
        "".join(f"server 127.0.0.1:{port};\n" for port in upstream_ports))
    port = free_port()
    (root / "nabla-listen.conf").write_text(
        f"listen 127.0.0.1:{port};\nclient_body_timeout {TEST_BODY_TIMEOUT_S}s;\n")
    settings = f"pid {root}/nginx.pid; daemon off;"
    if os.geteuid() == 0:  # workers would run as nobody, unable to use nginx's temp dirs
        settings += " user root;"
    with (root / "nginx.out").open("ab") as out:
        process = subprocess.Popen(
            [nginx_binary(), "-p", str(root), "-c", str(root / "nginx.conf"),
             "-e", str(root / "error.log"), "-g", settings],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_listening(port, process, root / "nginx.out")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def wait_listening(port: int, process: subprocess.Popen[bytes], log: Path,
                   limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


class Cluster:
    """Replicas on fixed ports (a restarted replica keeps its place behind nginx)."""

    def __init__(self, root: Path, database_url: str, replicas: int,
                 settings: dict[str, Any]):
        self.root = root
        self.settings = {"database_url": database_url, **settings}
        self.ports = [free_port() for _ in range(replicas)]
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * replicas
        self.base = ""  # nginx's URL, once started

    @property
    def replica_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def _data_dir(self, index: int) -> Path:
        return self.root / f"replica-{index}" / "data"  # unused by PostgreSQL: never shared

    def start(self, *indexes: int) -> None:
        """Start these replicas together (all when none is named) and wait for them."""
        indexes = indexes or tuple(range(len(self.ports)))
        for i in indexes:
            self.processes[i] = start_uvicorn(self.ports[i], self._data_dir(i), self.settings)
        for i in indexes:
            process = self.processes[i]
            assert process is not None
            wait_healthy(self.replica_urls[i], process, log_of(self._data_dir(i), self.ports[i]))

    def kill(self, index: int) -> None:
        process = self.processes[index]
        assert process is not None and process.poll() is None
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop(self) -> None:
        for process in self.processes:
            if process is not None:
                stop(process)

    def metrics(self) -> list[str]:
        return [httpx.get(f"{url}/metrics", timeout=10).text for url in self.replica_urls]

    def logs(self) -> str:
        return "\n".join(log_of(self._data_dir(i), port).read_text()
                         for i, port in enumerate(self.ports))


@contextmanager
def cluster(root: Path, database_url: str, replicas: int = 3,
            settings: dict[str, Any] | None = None) -> Iterator[Cluster]:
    running = Cluster(root, database_url, replicas, settings or {})
    try:
        running.start()
        with nginx(running.ports, root / "nginx") as base:
            running.base = base
            yield running
    finally:
        running.stop()
