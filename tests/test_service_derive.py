"""POST /v1/derive over HTTP (ASGI) and the client: each derived program registers under
the id it was given, and evaluating it through the API gives what the operation's own
endpoint gives (the same JSON numbers); every user error is a 4xx problem."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service import examples
from service.client import Client

NESTED_AT = {"x": [0.3, -1.2, 0.8]}
TANH = "sum(tanh(M @ x))"
TANH_AT = {"M": [[0.1, 0.2, -0.3], [0.4, -0.5, 0.6]], "x": [1.0, -2.0, 0.5]}


def derive(api: Any, **body: Any) -> dict:
    response = api.post("/v1/derive", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def evaluate_registered(api: Any, entry: dict, at: dict) -> Any:
    """Register the derived text (its id must be the one derive gave), evaluate it by id."""
    registered = api.post("/v1/functions", json={"program": entry["program"]}).json()
    assert registered["id"] == entry["id"] and registered["inputs"] == entry["inputs"]
    response = api.post("/v1/evaluate", json={"function": entry["id"], "at": at})
    assert response.status_code == 200, response.text
    return response.json()["value"]


def test_gradient_programs_register_and_evaluate_to_the_gradient(api: Any) -> None:
    answer = derive(api, program=examples.NESTED, operation="gradient", shapes={"x": [3]})
    assert answer["operation"] == "gradient" and answer["wrt"] == ["x"]
    assert answer["id"] == api.post("/v1/functions", json={"program": examples.NESTED}
                                    ).json()["id"]
    gradient = api.post("/v1/gradient", json={"program": examples.NESTED, "at": NESTED_AT})
    entry = answer["programs"]["x"]
    assert entry["shape"] == [3] and entry["inputs"] == ["x"]
    assert evaluate_registered(api, entry, NESTED_AT) == gradient.json()["gradient"]["x"]


def test_hessian_blocks_keyed_by_both_inputs_from_at(api: Any) -> None:
    answer = derive(api, program=TANH, operation="hessian", at=TANH_AT, wrt=["x", "M"])
    assert answer["wrt"] == ["M", "x"]  # input order, whatever the request's order
    hessian = api.post("/v1/hessian", json={"program": TANH, "at": TANH_AT}).json()["hessian"]
    for xi in ("M", "x"):
        for xj in ("M", "x"):
            entry = answer["programs"][xi][xj]
            assert evaluate_registered(api, entry, TANH_AT) == hessian[xi][xj]


@pytest.mark.parametrize("operation, extra", [
    ("hvp", {"v_x": [1.0, 0.5, -2.0]}), ("jvp", {"v_x": [1.0, 0.5, -2.0]}), ("vjp", {"u": 2.0}),
])
def test_directions_are_extra_inputs(api: Any, operation: str, extra: dict) -> None:
    function_id = api.post("/v1/functions", json={"program": examples.ROSENBROCK}).json()["id"]
    answer = derive(api, function=function_id, operation=operation, shapes={"x": [3]})
    at = {"x": [-1.2, 1.0, 1.0]}
    body = {"function": function_id, "at": at}
    body.update({"v": {"x": extra["v_x"]}} if "v_x" in extra else {"u": extra["u"]})
    result = api.post(f"/v1/{operation}", json=body).json()[operation]
    entry = answer["programs"]["jvp" if operation == "jvp" else "x"]
    assert entry["inputs"] == ["x", *extra]
    assert evaluate_registered(api, entry, {**at, **extra}) == (
        result if operation == "jvp" else result["x"])


def test_laplacian_and_hessian_diagonal(api: Any) -> None:
    at = {"x": [0.5, 1.0, 2.0]}
    body = {"program": "1 / norm(x)", "at": at}
    laplacian = derive(api, operation="laplacian", **body)["programs"]["laplacian"]
    expected = api.post("/v1/laplacian", json=body).json()["laplacian"]
    assert evaluate_registered(api, laplacian, at) == pytest.approx(expected, abs=1e-15)
    diagonal = derive(api, operation="hessian", diagonal=True, **body)["programs"]["x"]
    expected = api.post("/v1/hessian", json={**body, "diagonal": True}).json()
    assert evaluate_registered(api, diagonal, at) == expected["hessian_diagonal"]["x"]


@pytest.mark.parametrize("body, status, kind, words", [
    ({"operation": "curl", "shapes": {"x": [3]}}, 422, "validation", "operation"),
    ({"operation": "gradient"}, 422, "validation", "'at' (arrays) or 'shapes'"),
    ({"operation": "gradient", "shapes": {"x": [3]}, "at": {"x": [1, 2, 3]}}, 422,
     "validation", "exactly one"),
    ({"operation": "gradient", "shapes": {"x": "3"}}, 422, "validation", "shapes"),
    ({"operation": "gradient", "shapes": {"x": [-3]}}, 400, "request", "non-negative"),
    ({"operation": "gradient", "shapes": {"x": [3], "y": [2]}}, 400, "request", "'y'"),
    ({"operation": "gradient", "shapes": {}}, 400, "request", "missing input 'x'"),
    ({"operation": "gradient", "shapes": {"x": [3]}, "wrt": ["y"]}, 400, "request",
     "'y' in wrt"),
    ({"operation": "gradient", "at": {"x": [[1, 2], [3]]}}, 400, "request", "ragged"),
    ({"operation": "gradient", "shapes": {"x": [3]}, "v": {"x": [1, 2, 3]}}, 422,
     "validation", "v"),
    ({"operation": "gradient", "shapes": {"x": [4096, 4096, 4096]}}, 422, "limit",
     "max_array_elements"),
])
def test_user_errors_are_problems(api: Any, body: dict, status: int, kind: str,
                                  words: str) -> None:
    response = api.post("/v1/derive", json={"program": examples.ROSENBROCK, **body})
    assert response.status_code == status, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["kind"] == kind and words in problem["detail"] + str(problem.get("errors"))


def test_program_errors_point_into_the_original(api: Any) -> None:
    response = api.post("/v1/derive", json={"program": "sin(x) * [1, 2]", "operation": "gradient",
                                            "shapes": {"x": [2]}})
    problem = response.json()
    assert response.status_code == 422 and problem["kind"] == "shape"
    assert (problem["line"], problem["column"]) == (1, 1)
    missing = api.post("/v1/derive", json={"function": "0" * 32, "operation": "gradient",
                                           "shapes": {"x": [2]}})
    assert missing.status_code == 404 and missing.json()["kind"] == "unknown-function"


def test_a_derived_program_over_the_program_limit(service_app: Any) -> None:
    with TestClient(service_app(max_program_chars=120)) as api:
        response = api.post("/v1/derive", json={"program": TANH, "operation": "hessian",
                                                "at": TANH_AT})
    assert response.status_code == 422
    assert response.json()["kind"] == "limit" and response.json()["limit"] == (
        "max_program_chars")


def test_client_derive(service_app: Any) -> None:
    with TestClient(service_app()) as http:
        nabla = Client("http://testserver", http)
        f = nabla.compile(TANH)
        answer = f.derive("gradient", shapes={"M": [2, 3], "x": [3]}, wrt="x")
        program = nabla.compile(answer["programs"]["x"]["program"])
        at = {name: np.array(value) for name, value in TANH_AT.items()}
        np.testing.assert_array_equal(program.evaluate(at=at)["value"],
                                      f.gradient(at=at, wrt=["x"])["gradient"]["x"])
        assert program.id == answer["programs"]["x"]["id"]


def test_every_derive_example_runs_as_shipped(api: Any) -> None:
    media = api.get("/openapi.json").json()["paths"]["/v1/derive"]["post"][
        "requestBody"]["content"]["application/json"]
    assert len(media["examples"]) >= 4
    for name, example in media["examples"].items():
        assert api.post("/v1/derive", json=example["value"]).status_code == 200, name
