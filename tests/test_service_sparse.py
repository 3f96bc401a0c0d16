"""Sparse Jacobians and Hessians over HTTP and through the client (issue 10): the COO block
format of SPEC §3 on the wire (integer indices, rows sorted), meta.coloring, POST
/v1/sparsity, scipy.sparse.coo_array results, and a light client that needs scipy only for
sparse answers."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service import examples
from service.client import Client
from tests.servers import ROOT
from tests.test_sparse import bratu_jacobian, rosenbrock_hessian

CLOSE = dict(rtol=1e-10, atol=1e-10)


@pytest.fixture
def nabla(service_app: Any) -> Any:
    with TestClient(service_app()) as http:
        yield Client("http://testserver", http)


def test_sparse_hessian_json_is_coo_with_integer_indices(api: Any) -> None:
    x = [-1.2, 1.0, 0.5, -0.3, 0.8, 1.1]
    body = api.post("/v1/hessian", json={"program": examples.ROSENBROCK, "at": {"x": x},
                                         "sparse": True}).json()
    block = body["hessian"]["x"]["x"]
    assert block["format"] == "coo" and block["shape"] == [6, 6]
    assert all(type(i) is int for i in block["row"] + block["col"])
    keys = np.array(block["row"]) * 6 + np.array(block["col"])
    assert np.all(np.diff(keys) > 0)
    dense = np.zeros((6, 6))
    dense[block["row"], block["col"]] = block["data"]
    np.testing.assert_allclose(dense, rosenbrock_hessian(np.array(x)), **CLOSE)
    assert body["meta"]["coloring"] == {"mode": "star", "colors": 3, "lower_bound": 3,
                                        "ordering": "natural", "directions": 3,
                                        "nonzeros": 16}
    assert "coloring" not in body


def test_sparsity_endpoint_and_batched_sparse_jacobian(api: Any) -> None:
    u = np.random.default_rng(0).uniform(-1, 1, (3, 7, 7))
    body = api.post("/v1/sparsity", json={"program": examples.BRATU, "at": {"u": u[0].tolist()},
                                          "of": "jacobian"}).json()
    block = body["jacobian"]["u"]
    assert "data" not in block and "value" not in body and block["shape"] == [25, 49]
    assert body["meta"]["coloring"]["colors"] == 5 and len(block["row"]) == 125
    batched = api.post("/v1/jacobian", json={"program": examples.BRATU, "at": {"u": u.tolist()},
                                             "batch": ["u"], "sparse": True}).json()
    data = np.array(batched["jacobian"]["u"]["data"])
    assert data.shape == (3, 125)
    assert batched["jacobian"]["u"]["row"] == block["row"]  # one pattern for the batch
    for point in range(3):
        dense = np.zeros((25, 49))
        dense[block["row"], block["col"]] = data[point]
        np.testing.assert_allclose(dense, bratu_jacobian(u[point]), **CLOSE)


@pytest.mark.parametrize("path,body,status,kind", [
    ("/v1/gradient", {"sparse": True}, 400, "request"),
    ("/v1/hessian", {"sparse": True, "triangle": "upper"}, 422, "validation"),
    ("/v1/hessian", {"sparse": "true"}, 422, "validation"),
    ("/v1/sparsity", {}, 400, "request"),
    ("/v1/sparsity", {"of": "gradient"}, 422, "validation"),
    ("/v1/hessian", {"triangle": "lower"}, 400, "request"),
])
def test_sparse_request_problems(api: Any, path: str, body: dict, status: int,
                                 kind: str) -> None:
    response = api.post(path, json={"program": examples.ROSENBROCK, "at": {"x": [1.0, 2.0]},
                                    **body})
    assert response.status_code == status and response.json()["kind"] == kind


def test_client_returns_scipy_coo_arrays(nabla: Client) -> None:
    from scipy import sparse

    x = np.random.default_rng(1).uniform(-1, 1, 8)
    out = nabla.hessian(examples.ROSENBROCK, at={"x": x}, sparse=True)
    block = out["hessian"]["x"]["x"]
    assert isinstance(block, sparse.coo_array) and block.shape == (8, 8)
    np.testing.assert_allclose(block.toarray(), rosenbrock_hessian(x), **CLOSE)
    assert out["meta"]["coloring"]["mode"] == "star"
    xs = np.random.default_rng(2).uniform(-1, 1, (4, 8))
    batch = nabla.compile(examples.ROSENBROCK).hessian(at={"x": xs}, batch=["x"], sparse=True,
                                                       triangle="lower")["hessian"]["x"]["x"]
    assert isinstance(batch, list) and len(batch) == 4
    for point, matrix in zip(xs, batch):
        np.testing.assert_allclose(matrix.toarray(), np.tril(rosenbrock_hessian(point)),
                                   **CLOSE)
    pattern = nabla.sparsity(examples.CONSTRAINTS, at={"x": x}, of="jacobian")["jacobian"]["x"]
    assert pattern.dtype == bool and pattern.shape == (6, 8) and pattern.nnz == 18


def test_light_client_needs_scipy_only_for_sparse_answers() -> None:
    """The client module imports without adcore or scipy; a dense answer decodes without
    scipy; a sparse one asks for it."""
    script = (
        "import sys\n"
        "sys.modules['scipy'] = None\n"
        "sys.modules['adcore'] = None\n"
        "from service import client\n"
        "assert client._results({'x': [1.0, 2.0]}, None)['x'].dtype.name == 'float64'\n"
        "try:\n"
        "    client._results({'format': 'coo', 'shape': [1, 1], 'row': [0], 'col': [0],\n"
        "                     'data': [1.0]}, None)\n"
        "except ImportError:\n"
        "    print('needs scipy')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "needs scipy"


def test_cache_counts_the_arrays_a_sparse_plan_keeps(api: Any) -> None:
    x = np.linspace(-1, 1, 20_000).tolist()
    before = api.get("/v1/cache").json()["bytes"]
    assert api.post("/v1/hessian", json={"program": examples.ROSENBROCK, "at": {"x": x},
                                         "sparse": True}).status_code == 200
    pattern = 3 * 8 * (3 * 20_000 - 2)  # row, col and recovery positions of each nonzero
    assert api.get("/v1/cache").json()["bytes"] - before > pattern


def test_large_patterns_never_take_the_inline_lane() -> None:
    """The event loop answers only tiny cached kernels itself; a sparsity kernel computes
    nothing (no flops), yet its answer is as large as its pattern."""
    import adcore
    from service.engine import cheap

    small = adcore.compile(examples.ROSENBROCK)
    request = small.prepare("sparsity", {"x": np.zeros(6)}, of="hessian")
    assert cheap(small.kernel(request)[0])
    outer = adcore.compile("outer(x, y)")
    request = outer.prepare("sparsity", {"x": np.zeros(1000), "y": np.zeros(1000)},
                            of="jacobian")
    assert not cheap(outer.kernel(request)[0])
