"""Compute never blocks the event loop; admission control answers 503 at once; the wall-time
limit answers 422; the fast lane answers exactly like the routes.

The "heavy" computation is held on a `threading.Event` inside the worker, so each check runs
while it is certainly still in flight: no sleeps, no timing assertions.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

HEAVY = {"program": "sum(exp(x) * outer(x, x))", "at": {"x": [0.1] * 300}}


class Gate:
    """Wraps `Nabla.derive`: each call signals `entered`, then waits for `release`."""

    def __init__(self, nabla: Any):
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls = 0
        real = nabla.derive

        def derive(*args: Any) -> Any:
            self.calls += 1
            self.entered.set()
            assert self.release.wait(30), "test never released the computation"
            return real(*args)

        nabla.derive = derive


def run(app: Any, scenario: Callable[[httpx.AsyncClient], Any]) -> Any:
    async def main() -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://nabla") as client:
            return await scenario(client)

    try:
        return asyncio.run(main())
    finally:
        app.state.nabla.close()


def test_healthz_answers_while_a_heavy_request_runs(service_app: Any) -> None:
    app = service_app()
    gate = Gate(app.state.nabla)

    async def scenario(client: httpx.AsyncClient) -> None:
        heavy = asyncio.create_task(client.post("/v1/hessian", json=HEAVY))
        await asyncio.to_thread(gate.entered.wait, 30)
        for path in ("/healthz", "/v1/limits", "/v1/cache", "/metrics"):
            assert (await client.get(path)).status_code == 200
        assert not heavy.done()  # answered while the computation is still held
        gate.release.set()
        response = await heavy
        assert response.status_code == 200, response.text
        assert len(response.json()["hessian"]["x"]["x"]) == 300

    run(app, scenario)


def test_overload_is_503_with_retry_after(service_app: Any) -> None:
    app = service_app(max_concurrent=1, retry_after_s=2)
    gate = Gate(app.state.nabla)

    async def scenario(client: httpx.AsyncClient) -> None:
        first = asyncio.create_task(client.post("/v1/gradient", json={
            "program": "sum(x^2)", "at": {"x": [1.0]}}))
        await asyncio.to_thread(gate.entered.wait, 30)
        refused = await client.post("/v1/gradient", json={"program": "sum(x^3)",
                                                          "at": {"x": [1.0]}})
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "2"
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["kind"] == "overloaded"
        assert (await client.get("/healthz")).status_code == 200
        gate.release.set()
        assert (await first).status_code == 200
        again = await client.post("/v1/gradient", json={"program": "sum(x^3)",
                                                        "at": {"x": [1.0]}})
        assert again.status_code == 200
        metrics = (await client.get("/metrics")).text
        assert "nabla_compute_rejected_total 1" in metrics

    run(app, scenario)


def test_wall_time_limit_is_a_422_limit_problem(service_app: Any) -> None:
    app = service_app(max_seconds=0.05, max_concurrent=1)
    gate = Gate(app.state.nabla)

    async def scenario(client: httpx.AsyncClient) -> None:
        response = await client.post("/v1/gradient", json={"program": "sum(x^2)",
                                                           "at": {"x": [1.0]}})
        assert response.status_code == 422
        body = response.json()
        assert (body["kind"], body["limit"], body["value"]) == ("limit", "max_seconds", 0.05)
        # The computation still holds its slot until it really ends.
        busy = await client.post("/v1/gradient", json={"program": "sum(x^4)",
                                                       "at": {"x": [1.0]}})
        assert busy.status_code == 503
        gate.release.set()
        await asyncio.to_thread(wait_for_free_slot, app)

    run(app, scenario)


def wait_for_free_slot(app: Any) -> None:
    slots = app.state.nabla.pool._slots
    assert slots.acquire(timeout=30)
    slots.release()


# ---- the fast lane ----

def test_fast_lane_answers_like_the_routes(service_app: Any) -> None:
    from fastapi.testclient import TestClient

    app = service_app()
    nabla = app.state.nabla
    calls = []
    real = nabla.derive
    nabla.derive = lambda *args: calls.append(args[0]) or real(*args)
    body = {"program": "sum(x^2) + dot(x, y)", "at": {"x": [1.0, 2.0], "y": [3.0, 4.0]},
            "wrt": ["x"]}
    with TestClient(app) as client:
        cold = client.post("/v1/gradient", json=body)  # compiles on the pool
        warm = client.post("/v1/gradient", json=body)  # the fast lane: no pool call
        assert calls == ["gradient"]
        assert cold.json()["gradient"] == warm.json()["gradient"]
        assert (cold.json()["meta"]["cache"], warm.json()["meta"]["cache"]) == ("miss", "hit")
        assert warm.headers["content-type"] == "application/json"
        # Errors in the lane go to the routes, which answer them.
        wrong = client.post("/v1/gradient", json={**body, "at": {"x": [1.0, 2.0]}})
        assert wrong.status_code == 400 and wrong.json()["kind"] == "request"
        text = client.post("/v1/gradient", content=b"{}", headers={"content-type": "text/plain"})
        assert text.status_code == 415
        metrics = client.get("/metrics").text
        assert 'route="/v1/gradient",status="200"} 2' in metrics


@pytest.mark.parametrize("operation", ["evaluate", "jvp", "vjp", "hvp", "jacobian"])
def test_fast_lane_for_each_small_operation(service_app: Any, operation: str) -> None:
    from fastapi.testclient import TestClient

    bodies = {
        "evaluate": {"at": {"x": [1.0, 2.0]}},
        "jvp": {"at": {"x": [1.0, 2.0]}, "v": {"x": [1.0, 0.0]}},
        "vjp": {"at": {"x": [1.0, 2.0]}, "u": [1.0, 1.0]},
        "hvp": {"program": "sum(x^3)", "at": {"x": [1.0, 2.0]}, "v": {"x": [1.0, 0.0]}},
        "jacobian": {"at": {"x": [1.0, 2.0]}},
    }
    body = {"program": "sin(x) * x", **bodies[operation]}
    with TestClient(service_app()) as client:
        cold = client.post(f"/v1/{operation}", json=body).json()
        warm = client.post(f"/v1/{operation}", json=body).json()
    assert warm["meta"]["cache"] == "hit"
    assert {k: v for k, v in cold.items() if k != "meta"} == \
        {k: v for k, v in warm.items() if k != "meta"}


def test_ieee_results_raise_no_warnings_on_either_lane(service_app: Any) -> None:
    """1/0, -1/0 and 0/0 are answers (Infinity, -Infinity, NaN), never numpy warnings,
    whether the pool (cold) or the fast lane (warm) computes them; and the thread that
    answered keeps numpy's own defaults."""
    import warnings

    import numpy as np
    from fastapi.testclient import TestClient

    body = {"program": "x / y", "at": {"x": [1.0, -1.0, 0.0], "y": [0.0, 0.0, 0.0]}}
    with TestClient(service_app()) as client, warnings.catch_warnings():
        warnings.simplefilter("error")
        answers = [client.post("/v1/evaluate", json=body).json() for _ in range(2)]
    assert [a["meta"]["cache"] for a in answers] == ["miss", "hit"]
    assert all(a["value"] == ["Infinity", "-Infinity", "NaN"] for a in answers)
    assert np.geterr()["divide"] == "warn"
