"""Every error is RFC 9457 problem+json with the right status and kind (SPEC §2.5, §4);
no input, however hostile, gets a 500."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

PROBLEM = "application/problem+json"


def problem(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["kind"] == kind
    assert body["type"] == f"/problems/{kind}"
    assert body["title"] and body["detail"]
    return body


# ---- program errors: 422 with kind, line, column, excerpt ----

@pytest.mark.parametrize(("text", "kind", "line", "column"), [
    ("sum(x", "syntax", 1, 6),
    ("x +* 2", "syntax", 1, 4),
    ("y = 2\n_x + y", "syntax", 2, 1),
    ("x $ 2", "syntax", 1, 3),
    ("foo(x)", "name", 1, 1),
    ("f(y) = g(y)\ng(y) = y\nf(x)", "name", 1, 8),
    ("sum(x, x, x, x)", "type", 1, 1),
    ("where(x > 0, x, 0) + (x > 0)", "type", 1, 25),
])
def test_program_errors_point_at_the_character(api: Any, text: str, kind: str, line: int,
                                               column: int) -> None:
    body = problem(api.post("/v1/gradient", json={"program": text, "at": {"x": [1.0]}}),
                   422, kind)
    assert (body["line"], body["column"]) == (line, column)
    assert body["excerpt"].splitlines()[1] == " " * (column - 1) + "^"
    assert body["instance"] == "/v1/gradient"


def test_register_refuses_a_broken_program(api: Any) -> None:
    body = problem(api.post("/v1/functions", json={"program": "1 +"}), 422, "syntax")
    assert body["line"] == 1


def test_shape_error_at_the_operator(api: Any) -> None:
    body = problem(api.post("/v1/evaluate", json={"program": "x + y",
                                                  "at": {"x": [1.0, 2.0], "y": [1.0, 2.0, 3.0]}}),
                   422, "shape")
    assert (body["line"], body["column"]) == (1, 3)


def test_gradient_of_a_non_scalar_is_a_shape_error(api: Any) -> None:
    problem(api.post("/v1/gradient", json={"program": "x * 2", "at": {"x": [1.0, 2.0]}}),
            422, "shape")


# ---- limits: 422 naming the limit and its value ----

def test_program_over_max_program_chars(service_app: Any) -> None:
    with TestClient(service_app(max_program_chars=20)) as api:
        body = problem(api.post("/v1/functions", json={"program": "x + " * 10 + "x"}),
                       422, "limit")
    assert (body["limit"], body["value"]) == ("max_program_chars", 20)


def test_nesting_over_max_depth(service_app: Any) -> None:
    with TestClient(service_app(max_depth=5)) as api:
        body = problem(api.post("/v1/evaluate", json={"program": "(" * 10 + "x" + ")" * 10,
                                                      "at": {"x": 1.0}}), 422, "limit")
    assert body["limit"] == "max_depth"


def test_work_over_max_flops_is_refused_before_running(service_app: Any) -> None:
    with TestClient(service_app(max_flops=1000)) as api:
        body = problem(api.post("/v1/hessian", json={"program": "sum(exp(x))",
                                                     "at": {"x": [0.0] * 50}}), 422, "limit")
        assert (body["limit"], body["value"]) == ("max_flops", 1000)
        assert body["hint"]
        assert api.get("/v1/cache").json()["entries"] == 0


def test_elements_over_max_array_elements(service_app: Any) -> None:
    with TestClient(service_app(max_array_elements=100)) as api:
        body = problem(api.post("/v1/evaluate", json={"program": "outer(x, x)",
                                                      "at": {"x": [0.0] * 20}}), 422, "limit")
    assert body["limit"] == "max_array_elements"


def test_body_over_max_body_bytes_is_413(service_app: Any) -> None:
    with TestClient(service_app(max_body_bytes=100)) as api:
        body = problem(api.post("/v1/gradient", json={"program": "sum(x^2)",
                                                      "at": {"x": [1.0] * 100}}),
                       413, "payload-too-large")
        assert (body["limit"], body["value"]) == ("max_body_bytes", 100)

        def chunks() -> Any:  # no Content-Length: counted while streaming
            yield b'{"program": "sum(x^2)", "at": {"x": ['
            for _ in range(50):
                yield b"1.0, "
            yield b"1.0]}}"

        streamed = api.post("/v1/gradient", content=chunks(),
                            headers={"content-type": "application/json"})
        problem(streamed, 413, "payload-too-large")
        small = api.post("/v1/gradient", json={"program": "sum(x^2)", "at": {"x": [1.0]}})
        assert small.status_code == 200


# ---- request errors: 400 ----

@pytest.mark.parametrize(("body", "needle"), [
    ({"program": "x + y", "at": {"x": 1.0}}, "missing input 'y'"),
    ({"program": "x", "at": {"x": 1.0, "z": 2.0}}, "'z' is not an input"),
    ({"program": "sum(x)", "at": {"x": [1.0]}, "wrt": ["q"]}, "'q' in wrt"),
    ({"program": "sum(x)", "at": {"x": [[1.0], [1.0, 2.0]]}}, "ragged"),
    ({"program": "sum(x)", "at": {"x": [1.0, True]}}, "boolean"),
    ({"program": "sum(x)", "at": {"x": True}}, "boolean"),
    ({"program": "sum(x)", "at": {"x": ["1"]}}, "'1'"),
    ({"program": "sum(x)", "at": {"x": "1.5"}}, "'1.5'"),
    ({"program": "sum(x)", "at": {"x": [None]}}, "null"),
    ({"program": "sum(x)", "at": {"x": {"a": 1}}}, "object"),
    ({"program": "sum(x)", "at": {"x": [1.0, [2.0]]}}, "ragged"),
    ({"program": "sum(x * y)", "at": {"x": [[1.0]] * 2, "y": [[1.0]] * 3},
      "batch": ["x", "y"]}, "batch lengths disagree"),
])
def test_request_errors_are_400(api: Any, body: dict[str, Any], needle: str) -> None:
    found = problem(api.post("/v1/gradient", json=body), 400, "request")
    assert needle in found["detail"]
    assert "line" not in found


def test_hvp_without_v_and_vjp_without_u(api: Any) -> None:
    problem(api.post("/v1/hvp", json={"program": "sum(x^2)", "at": {"x": [1.0]}}),
            400, "request")
    problem(api.post("/v1/vjp", json={"program": "x^2", "at": {"x": [1.0]}}), 400, "request")
    problem(api.post("/v1/vjp", json={"program": "x^2", "at": {"x": [1.0]}, "u": [False]}),
            400, "request")


@pytest.mark.parametrize("raw", [b"{", b"", b'{"program": "x", "at": {"x": NaN}}',
                                 b'{"program": "x", "at": {"x": Infinity}}', b"\xff\xfe"])
def test_malformed_json_is_400(api: Any, raw: bytes) -> None:
    response = api.post("/v1/evaluate", content=raw, headers={"content-type": "application/json"})
    problem(response, 400, "json")


# ---- the body does not match the schema: 422 validation ----

@pytest.mark.parametrize("body", [
    {"at": {"x": 1.0}},
    {"program": "x", "function": "abc", "at": {"x": 1.0}},
    {"program": "x"},
    {"program": "x", "at": {"x": 1.0}, "mode": "sideways"},
    {"program": "x", "at": {"x": 1.0}, "diagonal": "true"},
    {"program": "x", "at": {"x": 1.0}, "diagonal": 1},
    {"program": "x", "at": {"x": 1.0}, "diagnonal": True},
    {"program": 5, "at": {"x": 1.0}},
    {"program": "x", "at": [1.0]},
    {"program": "x", "at": {"x": 1.0}, "wrt": [1]},
    [1, 2, 3],
    "text",
])
def test_schema_errors_are_422(api: Any, body: Any) -> None:
    found = problem(api.post("/v1/hessian", json=body), 422, "validation")
    assert found["errors"] and all({"loc", "msg", "type"} <= set(e) for e in found["errors"])


def test_validation_errors_do_not_echo_the_input(api: Any) -> None:
    response = api.post("/v1/gradient", json={"program": "x" * 5000, "function": "f",
                                              "at": {"x": 1.0}})
    assert "x" * 100 not in response.text


# ---- HTTP-level problems ----

def test_unknown_route_is_404_problem(api: Any) -> None:
    body = problem(api.get("/v2/nothing"), 404, "not-found")
    assert body["instance"] == "/v2/nothing"
    problem(api.post("/v1/derivative", json={}), 404, "not-found")


def test_unknown_function_is_404(api: Any) -> None:
    body = problem(api.post("/v1/gradient", json={"function": "0" * 32, "at": {"x": 1.0}}),
                   404, "unknown-function")
    assert body["function"] == "0" * 32
    problem(api.get("/v1/functions/" + "0" * 32), 404, "unknown-function")


def test_inline_program_id_is_not_a_registered_function(api: Any) -> None:
    inline = api.post("/v1/gradient", json={"program": "sum(x^4)", "at": {"x": [1.0]}}).json()
    problem(api.post("/v1/gradient", json={"function": inline["id"], "at": {"x": [1.0]}}),
            404, "unknown-function")


def test_wrong_method_is_405_problem(api: Any) -> None:
    response = api.get("/v1/gradient")
    problem(response, 405, "method-not-allowed")
    assert response.headers["allow"] == "POST"
    problem(api.delete("/v1/functions"), 405, "method-not-allowed")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_wrong_content_type_is_415(api: Any, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    raw = b'{"program": "x", "at": {"x": 1.0}}'
    problem(api.post("/v1/evaluate", content=raw, headers=headers), 415,
            "unsupported-media-type")
    problem(api.post("/v1/functions", content=raw, headers=headers), 415,
            "unsupported-media-type")


def test_json_content_type_variants_are_accepted(api: Any) -> None:
    raw = b'{"program": "x", "at": {"x": 1.0}}'
    for content_type in ("application/json; charset=utf-8", "Application/JSON",
                         "application/problem+json"):
        response = api.post("/v1/evaluate", content=raw, headers={"content-type": content_type})
        assert response.status_code == 200, content_type


# ---- hostile input never gets a 500 ----

HOSTILE = [
    "x" * 70_000, "(" * 5000, "[" * 300 + "x" + "]" * 300, "\x00", "é", "x\r\ny", "1e999999",
    "grad(grad(grad(grad(grad(f)))))(x)", "f(x) = f(x)\nf(x)", "x[99999999999999999999]",
    "reshape(x, 99999999, 99999999)", "zeros(100000, 100000)", "sum(x" + ", axis=1" * 100 + ")",
    "hessian(hessian(hessian(f)))(x)\nf(y) = y", "eye(-1)", "x[::0]", "2 ^ 2 ^ 2 ^ 2 ^ 2 ^ 2",
    "where(x, x, x)", "stop_gradient()", "jvp(sum, x, x)", "\ufeffx", "x # \u2028 y",
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_programs_get_an_answer_not_a_500(api: Any, text: str) -> None:
    for operation in ("evaluate", "hessian"):
        response = api.post(f"/v1/{operation}", json={"program": text, "at": {"x": [1.0, 2.0]}})
        assert response.status_code < 500, (response.status_code, response.text[:300])
        assert response.headers["content-type"] in (PROBLEM, "application/json")


def nested(depth: int) -> Any:
    value: Any = 1.0
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("at", [
    {"x": []}, {"x": [[]]}, {"x": nested(34)},
    {"x": 1e308}, {"x": -0.0}, {"x": 10**30}, {"x": [1, 2.5, -3]},
])
def test_odd_arrays_get_an_answer_not_a_500(api: Any, at: dict[str, Any]) -> None:
    response = api.post("/v1/gradient", json={"program": "sum(x^2)", "at": at})
    assert response.status_code < 500, response.text


def test_problem_types_resolve(api: Any) -> None:
    from service.problems import STATUSES

    for kind, status in STATUSES.items():
        body = api.get(f"/problems/{kind}").json()
        assert (body["type"], body["status"]) == (f"/problems/{kind}", status)
        assert body["description"]
    problem(api.get("/problems/nonsense"), 404, "not-found")
