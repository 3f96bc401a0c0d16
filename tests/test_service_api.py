"""Every endpoint of SPEC §4 through the ASGI app: results, ids, encoding, batches, cache."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import adcore
from service import examples

ROSENBROCK = examples.ROSENBROCK


def post(api: Any, operation: str, **body: Any) -> dict[str, Any]:
    response = api.post(f"/v1/{operation}", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


# ---- the function store ----

def test_register_is_201_then_200_with_the_same_id(api: Any) -> None:
    first = api.post("/v1/functions", json={"program": ROSENBROCK})
    again = api.post("/v1/functions", json={"program": ROSENBROCK})
    assert (first.status_code, again.status_code) == (201, 200)
    body = first.json()
    assert body["id"] == again.json()["id"] == adcore.compile(ROSENBROCK).id
    assert body["inputs"] == ["x"]
    assert body["program"] == ROSENBROCK
    assert body["diagnostics"] == []
    assert set(body) == {"id", "program", "inputs", "normalized", "created", "diagnostics"}


def test_ids_ignore_whitespace_and_comments_but_not_meaning(api: Any) -> None:
    def register(text: str) -> str:
        return api.post("/v1/functions", json={"program": text}).json()["id"]

    base = register("f(y) = sum(y^2)\nf(x) * 2")
    assert register("f(y)=sum(y ^ 2)   # squares\n\n f( x )*2  # twice") == base
    assert register("f(y) = sum(y^2); f(x) * 2") == base
    assert register("f(y) = sum(y^2)\nf(x) * 3") != base
    assert register("g(y) = sum(y^2)\ng(w) * 2") != base  # a different input name


def test_equivalent_text_reports_the_kept_one(api: Any) -> None:
    api.post("/v1/functions", json={"program": "sum(x^2)"})
    again = api.post("/v1/functions", json={"program": "sum( x^2 )  # same"})
    assert again.status_code == 200
    assert again.json()["program"] == "sum(x^2)"
    assert again.json()["diagnostics"][0]["severity"] == "info"


def test_program_without_inputs_gets_a_warning(api: Any) -> None:
    body = api.post("/v1/functions", json={"program": "2 * pi"}).json()
    assert body["inputs"] == []
    assert body["diagnostics"][0]["severity"] == "warning"


def test_get_function(api: Any) -> None:
    function_id = api.post("/v1/functions", json={"program": examples.TD_LOSS}).json()["id"]
    response = api.get(f"/v1/functions/{function_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == function_id
    assert body["inputs"] == ["r_t", "theta", "s_t", "s_tm1"]
    assert body["program"] == examples.TD_LOSS


def test_compute_by_id_equals_inline(api: Any) -> None:
    function_id = api.post("/v1/functions", json={"program": ROSENBROCK}).json()["id"]
    at = {"x": [-1.2, 1.0, 1.0]}
    by_id = post(api, "gradient", function=function_id, at=at)
    inline = post(api, "gradient", program=ROSENBROCK, at=at)
    assert by_id["id"] == inline["id"] == function_id
    assert by_id["gradient"] == inline["gradient"]


# ---- the operations agree with adcore in-process (SPEC §5: handlers are thin wrappers) ----

NET_AT = examples.NET_AT
CASES = [
    ("evaluate", examples.NESTED, {"at": {"x": [1.0, 2.0, 3.0]}}),
    ("gradient", ROSENBROCK, {"at": {"x": [-1.2, 1.0, 1.0]}}),
    ("gradient", examples.TD_LOSS, {"at": examples.TD_AT, "wrt": ["theta"]}),
    ("jacobian", examples.NET, {"at": NET_AT, "wrt": ["W", "b"], "mode": "forward"}),
    ("jacobian", examples.NET, {"at": NET_AT, "mode": "reverse"}),
    ("hessian", "dot(x, x) * sum(y)", {"at": {"x": [1.0, 2.0], "y": [3.0]}}),
    ("hessian", ROSENBROCK, {"at": {"x": [-1.2, 1.0, 1.0]}, "diagonal": True}),
    ("hvp", ROSENBROCK, {"at": {"x": [-1.2, 1.0, 1.0]}, "v": {"x": [1.0, 2.0, 3.0]}}),
    ("jvp", examples.NET, {"at": NET_AT, "wrt": "b", "v": {"b": [1.0, -1.0]}}),
    ("vjp", examples.NET, {"at": NET_AT, "wrt": ["W"], "u": [[1.0, 0.0], [0.0, 1.0]]}),
    ("laplacian", "sum(sin(x) * y)", {"at": {"x": [0.5, 1.0], "y": [2.0, 3.0]},
                                      "wrt": ["x"]}),
]


def assert_same(served: Any, local: Any) -> None:
    if isinstance(local, dict):
        assert set(served) == set(local)
        for key in local:
            assert_same(served[key], local[key])
    else:
        np.testing.assert_allclose(np.array(served, dtype=float), local, rtol=1e-12)


@pytest.mark.parametrize(("operation", "program", "body"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_operation_matches_in_process(api: Any, operation: str, program: str,
                                      body: dict[str, Any]) -> None:
    served = post(api, operation, program=program, **body)
    options = {k: v for k, v in body.items() if k != "at"}
    local = adcore.compile(program).run(operation, body["at"], **options)
    assert_same({k: v for k, v in served.items() if k not in ("id", "meta")}, local)
    assert served["id"] == adcore.compile(program).id
    assert set(served["meta"]) == {"cache", "compile_ms", "run_ms", "flops"}


def test_td0_update_from_the_seed(api: Any) -> None:
    body = post(api, "gradient", program=examples.TD_LOSS, at=examples.TD_AT, wrt=["theta"])
    np.testing.assert_allclose(body["gradient"]["theta"], [1.2, 2.4, -1.2])
    assert set(body["gradient"]) == {"theta"}


def test_batch_results_carry_the_batch_axis(api: Any) -> None:
    points = np.random.default_rng(1).standard_normal((5, 4))
    body = post(api, "gradient", program=ROSENBROCK, at={"x": points.tolist()}, batch=["x"])
    assert np.shape(body["value"]) == (5,)
    program = adcore.compile(ROSENBROCK)
    for i, point in enumerate(points):
        np.testing.assert_allclose(body["gradient"]["x"][i],
                                   program.gradient(at={"x": point})["gradient"]["x"],
                                   rtol=1e-12)


def test_batch_with_shared_inputs(api: Any) -> None:
    body = post(api, "gradient", program=examples.TD_LOSS, wrt=["theta"],
                batch=["s_tm1", "r_t", "s_t"],
                at={"theta": [0.1, -0.1, 0.0], "s_tm1": [[1.0, 2.0, -1.0]] * 3,
                    "r_t": [1.0, 1.0, 1.0], "s_t": [[2.0, 1.0, 0.0]] * 3})
    np.testing.assert_allclose(body["gradient"]["theta"], [[1.2, 2.4, -1.2]] * 3)


def test_second_call_is_a_cache_hit(api: Any) -> None:
    before = api.get("/v1/cache").json()
    first = post(api, "hessian", program="sum(x^3)", at={"x": [1.0, 2.0]})
    second = post(api, "hessian", program="sum(x^3)", at={"x": [3.0, 4.0]})
    assert first["meta"]["cache"] == "miss"
    assert second["meta"]["cache"] == "hit"
    assert second["meta"]["compile_ms"] == 0.0
    after = api.get("/v1/cache").json()
    assert after["hits"] - before["hits"] == 1
    assert after["misses"] - before["misses"] == 1
    assert after["entries"] == before["entries"] + 1


def test_cache_is_per_signature(api: Any) -> None:
    post(api, "gradient", program="sum(x^2)", at={"x": [1.0, 2.0]})
    other_shape = post(api, "gradient", program="sum(x^2)", at={"x": [1.0, 2.0, 3.0]})
    other_op = post(api, "hessian", program="sum(x^2)", at={"x": [1.0, 2.0]})
    assert other_shape["meta"]["cache"] == other_op["meta"]["cache"] == "miss"


def test_registered_and_inline_share_the_cache(api: Any) -> None:
    function_id = api.post("/v1/functions", json={"program": "sum(exp(x))"}).json()["id"]
    post(api, "gradient", program="sum( exp(x) )", at={"x": [0.0]})
    assert post(api, "gradient", function=function_id, at={"x": [1.0]})["meta"]["cache"] == "hit"


# ---- JSON without NaN: the strings of SPEC §4 both ways ----

def test_non_finite_strings_in_and_out(api: Any) -> None:
    body = post(api, "evaluate", program="2 * x", at={"x": ["NaN", "Infinity", 1.0]})
    assert body["value"] == ["NaN", "Infinity", 2.0]
    body = post(api, "gradient", program="sum(x^2)", at={"x": ["NaN", "Infinity", 1.0]})
    assert body["value"] == "NaN"  # and so its derivatives (README conventions)
    assert body["gradient"]["x"] == ["NaN", "NaN", "NaN"]
    body = post(api, "evaluate", program="x / 0", at={"x": [1.0, -1.0, 0.0]})
    assert body["value"] == ["Infinity", "-Infinity", "NaN"]
    body = post(api, "evaluate", program="log(x)", at={"x": 0.0})
    assert body["value"] == "-Infinity"
    assert post(api, "evaluate", program="x", at={"x": "-Infinity"})["value"] == "-Infinity"


def test_responses_are_strict_json(api: Any) -> None:
    import json

    response = api.post("/v1/evaluate", json={"program": "x / 0", "at": {"x": [[1.0, 0.0]]}})

    def refuse(token: str) -> None:
        raise AssertionError(f"non-standard token {token}")

    json.loads(response.text, parse_constant=refuse)


# ---- operations endpoints ----

def test_healthz(api: Any) -> None:
    response = api.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_limits_report_the_settings(service_app: Any) -> None:
    from fastapi.testclient import TestClient

    with TestClient(service_app(max_flops=1e6, max_body_bytes=1000)) as client:
        limits = client.get("/v1/limits").json()
    assert limits["max_flops"] == 1e6
    assert limits["max_body_bytes"] == 1000
    assert limits["max_program_chars"] == 64 * 1024
    assert limits["max_depth"] == 256
    assert limits["max_ir_equations"] == 200_000
    assert limits["max_array_elements"] == 2**26
    assert limits["max_seconds"] == 30.0


def test_limits_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from service.settings import Settings

    monkeypatch.setenv("NABLA_MAX_FLOPS", "12345")
    monkeypatch.setenv("NABLA_DATA_DIR", "/tmp/somewhere")
    settings = Settings()
    assert settings.max_flops == 12345
    assert settings.limits().max_flops == 12345
    assert str(settings.data_dir) == "/tmp/somewhere"


def test_cache_endpoint_shape(api: Any) -> None:
    post(api, "gradient", program="sum(x^2)", at={"x": [1.0]})
    post(api, "gradient", program="sum(x^2)", at={"x": [2.0]})
    body = api.get("/v1/cache").json()
    assert body["entries"] >= 1 and body["hits"] >= 1 and body["misses"] >= 1
    assert 0.0 < body["hit_rate"] <= 1.0
    assert body["bytes"] > 0 and body["max_bytes"] > 0


def test_metrics_in_prometheus_text(api: Any) -> None:
    post(api, "gradient", program="sum(x^2)", at={"x": [1.0]})
    post(api, "gradient", program="sum(x^2)", at={"x": [2.0]})
    api.get("/nope")
    text = api.get("/metrics")
    assert text.headers["content-type"].startswith("text/plain")
    body = text.text
    assert 'nabla_requests_total{method="POST",route="/v1/gradient",status="200"} 2' in body
    assert 'route="unmatched",status="404"' in body
    assert 'nabla_request_duration_seconds_bucket{route="/v1/gradient",le="+Inf"} 2' in body
    assert "nabla_cache_hits_total 1" in body
    assert "nabla_cache_misses_total 1" in body
    assert "nabla_compile_seconds_count 1" in body
    for line in body.splitlines():  # every sample line is `name{labels} value`
        if not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])


def test_docs_are_served(api: Any) -> None:
    assert api.get("/docs").status_code == 200
    assert api.get("/openapi.json").json()["info"]["title"] == "Nabla"


@pytest.mark.parametrize("operation", adcore.OPERATIONS)
def test_every_docs_example_runs_as_shipped(api: Any, operation: str) -> None:
    media = api.get("/openapi.json").json()["paths"][f"/v1/{operation}"]["post"][
        "requestBody"]["content"]["application/json"]
    assert media["examples"]
    for name, example in media["examples"].items():
        response = api.post(f"/v1/{operation}", json=example["value"])
        assert response.status_code == 200, (name, response.text)


def test_register_example_runs_as_shipped(api: Any) -> None:
    media = api.get("/openapi.json").json()["paths"]["/v1/functions"]["post"][
        "requestBody"]["content"]["application/json"]
    for example in media["examples"].values():
        assert api.post("/v1/functions", json=example["value"]).status_code in (200, 201)
