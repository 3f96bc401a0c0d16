"""The n = 100,000 Rosenbrock Hessian as COO over HTTP, end to end (issue 10).

    PYTHONPATH=. .venv/bin/python -m bench.sparse_http [--n N] [--repeats R]

A real uvicorn (uvloop, httptools, one worker) on a loopback port. End to end means what a
client sees: numpy in, JSON body built, POST, the server's work, the answer parsed back into
numpy arrays (row, col, data), and through `service.client.Client` also into a
scipy.sparse.coo_array. Cold is the first request of the program (pattern, colouring, plan,
compile), after a warm-up request on another program (server start-up excluded); warm is
the median of the later requests. `post` sends and receives JSON lists; `Client` sends and
receives binary arrays (issue 9) and builds a scipy.sparse.coo_array; its cold request is
the first of another program (the same function plus `0 * sum(zeros(1))`).
"""

from __future__ import annotations

from . import run as _run  # noqa: F401  first: pins the thread counts before numpy loads

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import orjson  # noqa: E402

from service.client import Client  # noqa: E402

from .http_load import server  # noqa: E402

ROSENBROCK = "sum(100*(x[1:]-x[:-1]^2)^2 + (1-x[:-1])^2)"


def post(http: httpx.Client, base: str, x: np.ndarray, program: str) -> tuple[dict, int]:
    body = orjson.dumps({"program": program, "at": {"x": x}, "sparse": True},
                        option=orjson.OPT_SERIALIZE_NUMPY)
    response = http.post(f"{base}/v1/hessian", content=body,
                         headers={"content-type": "application/json"})
    response.raise_for_status()
    answer = orjson.loads(response.content)
    block = answer["hessian"]["x"]["x"]
    for key, dtype in (("row", np.int64), ("col", np.int64), ("data", np.float64)):
        block[key] = np.asarray(block[key], dtype=dtype)
    return answer, len(response.content)


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    x = np.random.default_rng(0).uniform(-1.5, 1.5, args.n)
    with tempfile.TemporaryDirectory() as data, \
            server("service.main:app", {"NABLA_DATA_DIR": data}) as (_, port), \
            httpx.Client(timeout=120) as http:
        base = f"http://127.0.0.1:{port}"
        post(http, base, x[:100], "sum(sin(x[1:]) * x[:-1])")  # warm-up: another program
        cold, (answer, size) = timed(lambda: post(http, base, x, ROSENBROCK))
        meta = answer["meta"]
        warm = [timed(lambda: post(http, base, x, ROSENBROCK))[0] for _ in range(args.repeats)]
        runs = [post(http, base, x, ROSENBROCK)[0]["meta"]["run_ms"] for _ in range(5)]
        with Client(base, http) as client:
            client.hessian("sum(x^2)", at={"x": x[:1000]}, sparse=True)  # the client's imports
            fresh = ROSENBROCK + " + 0 * sum(zeros(1))"  # another program: nothing cached
            cold_client = timed(lambda: client.hessian(fresh, at={"x": x}, sparse=True))[0]
            client.hessian(ROSENBROCK, at={"x": x}, sparse=True)
            via_client = [timed(lambda: client.hessian(ROSENBROCK, at={"x": x}, sparse=True))[0]
                          for _ in range(args.repeats)]
    nnz = len(answer["hessian"]["x"]["x"]["row"])
    print(f"n = {args.n:,}: {nnz:,} nonzeros, {meta['coloring']['colors']} colours, "
          f"response {size / 1e6:.1f} MB of JSON")
    print(f"cold (first request of the program): {cold * 1e3:.0f} ms end to end "
          f"(server compile {meta['compile_ms']:.0f} ms, run {meta['run_ms']:.1f} ms)")
    print(f"warm: {statistics.median(warm) * 1e3:.0f} ms end to end (httpx + orjson + numpy), "
          f"server run {statistics.median(runs):.1f} ms")
    print(f"through service.client.Client (binary arrays, coo_array): cold "
          f"{cold_client * 1e3:.0f} ms (first request of another program: registration, "
          f"pattern, colouring, compile), warm {statistics.median(via_client) * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
