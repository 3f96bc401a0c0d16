"""Instructions per request of a real server, counted by valgrind (callgrind), run by hand:

    python -m bench.instructions [--requests 2000] [--trees /tmp/main .]

CPU time per request is the steadiest clock figure on a shared machine, but with other
people's work on both cores it still moves by 10-20% between runs, more than the changes it
should judge. Instructions do not move: each uvicorn server (uvloop, httptools, one worker)
runs under callgrind with instrumentation off, is warmed up, then counts only while a
keep-alive client (bench/http_load.py) sends the small cached gradient. User-space
instructions only: the kernel's share (socket calls, the same for every server) is not in
it. A tree is a source checkout (`git archive main | tar -x -C DIR` for main).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

from bench.http_load import ROOT, drive, free_port, wait_ready

SMALL = orjson.dumps({"program": "sum(x^2)", "at": {"x": [1.0, 2.0, 3.0]}})


def instructions(tree: Path, app: str, path: str, requests: int) -> int:
    """Instructions per request of `app` (from the source tree `tree`) answering SMALL."""
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        log = Path(data_dir) / "callgrind.log"
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
               "--callgrind-out-file=/dev/null", sys.executable, "-m", "uvicorn", app,
               "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop",
               "--http", "httptools", "--workers", "1", "--no-access-log",
               "--log-level", "warning"]
        env = {**os.environ, "PYTHONPATH": str(tree), "NABLA_DATA_DIR": data_dir}
        with log.open("w") as stderr:
            proc = subprocess.Popen(cmd, cwd=tree, env=env, stderr=stderr)
        try:
            wait_ready(port, proc, timeout=600)
            asyncio.run(drive(port, proc.pid, path, lambda _: SMALL, 1, 300, 300))  # warm
            subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], check=True,
                           capture_output=True)
            run = asyncio.run(drive(port, proc.pid, path, lambda _: SMALL, 1, requests, 900))
            subprocess.run(["callgrind_control", "-i", "off", str(proc.pid)], check=True,
                           capture_output=True)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        if run.errors:
            raise RuntimeError(f"{run.errors} answers were not 200")
        collected = re.search(r"Collected : (\d+)", log.read_text())
        assert collected is not None, log.read_text()[-2000:]
        return int(collected.group(1)) // run.requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--trees", type=Path, nargs="+", default=[ROOT])
    args = parser.parse_args()
    floor = instructions(ROOT, "bench.http_floor:app", "/echo", args.requests)
    print(f"| server | instructions per request | vs floor |\n|---|---|---|\n"
          f"| floor (bench/http_floor.py) | {floor:,} | 1.00x |", flush=True)
    for tree in args.trees:
        count = instructions(tree.resolve(), "service.main:app", "/v1/gradient", args.requests)
        print(f"| {tree} | {count:,} | {count / floor:.3f}x |", flush=True)


if __name__ == "__main__":
    main()
