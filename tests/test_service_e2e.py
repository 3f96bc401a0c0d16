"""A real uvicorn process on a loopback port: the store survives a restart, and the client
works against the real server (registration, fallback to inline text, errors), and the same
through nginx to three replicas on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest

from service.client import Client, ProblemError
from tests.servers import uvicorn_server

ROOT = Path(__file__).resolve().parent.parent
ROSENBROCK = "sum(100*(x[1:]-x[:-1]^2)^2 + (1-x[:-1])^2)"


@contextmanager
def uvicorn(data_dir: Path) -> Iterator[str]:
    """A server on a free loopback port and `data_dir`; yields its base URL."""
    with uvicorn_server(data_dir, {"max_concurrent": 4}) as (base, _):
        yield base


def test_registered_ids_survive_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    with uvicorn(data_dir) as base:
        registered = httpx.post(f"{base}/v1/functions", json={"program": ROSENBROCK})
        assert registered.status_code == 201
        function_id = registered.json()["id"]
    assert (data_dir / "functions.sqlite3").exists()

    with uvicorn(data_dir) as base:
        again = httpx.post(f"{base}/v1/functions", json={"program": ROSENBROCK})
        assert again.status_code == 200 and again.json()["id"] == function_id
        response = httpx.post(f"{base}/v1/gradient",
                              json={"function": function_id, "at": {"x": [1.0, 1.0, 1.0]}})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["id"] == function_id
        assert body["gradient"]["x"] == [0.0, 0.0, 0.0]
        assert body["meta"]["cache"] == "miss"  # compiled code never outlives the process


@pytest.fixture(scope="module", params=["uvicorn", "cluster"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[str]:
    """One uvicorn on SQLite, then the cluster: three replicas behind nginx on PostgreSQL."""
    if request.param == "cluster":
        yield request.getfixturevalue("cluster").base
        return
    with uvicorn(tmp_path_factory.mktemp("client-store")) as base:
        yield base


def test_client_against_the_real_server(server: str) -> None:
    with Client(server) as nabla:
        assert nabla.health()["status"] == "ok"
        x = np.array([-1.2, 1.0, 1.0])
        result = nabla.gradient(ROSENBROCK, at={"x": x})
        assert isinstance(result["gradient"]["x"], np.ndarray)
        np.testing.assert_allclose(result["gradient"]["x"], [-215.6, -88.0, 0.0])
        assert nabla.function(result["id"])["inputs"] == ["x"]  # registered, then by id

        f = nabla.compile("dot(x, x)")
        hessian = f.hessian(at={"x": np.arange(3.0)})["hessian"]["x"]["x"]
        np.testing.assert_allclose(hessian, 2 * np.eye(3))
        assert f.inputs == ("x",)

        batch = nabla.gradient(ROSENBROCK, at={"x": np.ones((4, 3))}, batch=["x"])
        assert batch["gradient"]["x"].shape == (4, 3)
        again = nabla.gradient(ROSENBROCK, at={"x": np.zeros((4, 3))}, batch=["x"])
        assert again["meta"]["cache"] == "hit"
        # the client's own cache endpoint: per server (behind nginx, whichever replica
        # answers a request without a function id)
        assert set(nabla.cache()) >= {"entries", "hits", "misses", "hit_rate"}

        with pytest.raises(ProblemError) as caught:
            nabla.evaluate("sum(x", at={"x": x})
        assert (caught.value.status, caught.value.kind) == (422, "syntax")
        assert (caught.value.line, caught.value.column) == (1, 6)


def test_client_falls_back_to_inline_text_on_a_server_that_lost_the_id(
        server: str, tmp_path: Path) -> None:
    with Client(server) as nabla:
        nabla.register("sum(x^6)")
        with uvicorn(tmp_path / "other-store") as other:
            nabla.base_url = other  # the same client now talks to a server without the id
            result = nabla.gradient("sum(x^6)", at={"x": np.array([1.0])})
            np.testing.assert_allclose(result["gradient"]["x"], [6.0])
            nabla.gradient("sum(x^6)", at={"x": np.array([2.0])})  # re-registers there
            assert httpx.get(f"{other}/v1/functions/{result['id']}").status_code == 200
