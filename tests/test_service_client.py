"""The Python client (SPEC §5) over the ASGI app, and its retry and error behaviour over a
scripted transport."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

import adcore
from service import examples
from service.client import Client, ProblemError


@pytest.fixture
def nabla(service_app: Any) -> Any:
    with TestClient(service_app()) as http:
        yield Client("http://testserver", http)


def test_every_operation_matches_in_process(nabla: Client) -> None:
    program = adcore.compile(examples.NET)
    at = {name: np.array(value) for name, value in examples.NET_AT.items()}
    cases = {
        "evaluate": {}, "jacobian": {"wrt": ["b"]}, "jvp": {"wrt": "b", "v": {"b": np.ones(2)}},
        "vjp": {"wrt": ["W"], "u": np.eye(2)},
    }
    for operation, options in cases.items():
        served = getattr(nabla, operation)(examples.NET, at=at, **options)
        local = program.run(operation, at, **options)
        for key, value in local.items():
            if isinstance(value, dict):
                for name in value:
                    np.testing.assert_allclose(served[key][name], value[name], rtol=1e-12)
            else:
                np.testing.assert_allclose(served[key], value, rtol=1e-12)
    scalar = "sum(x^3) * y"
    point = {"x": np.array([1.0, 2.0]), "y": np.array(3.0)}
    local = adcore.compile(scalar)
    for operation, options in {"gradient": {}, "hessian": {"diagonal": True},
                               "hvp": {"v": {"x": np.ones(2), "y": np.array(1.0)}},
                               "laplacian": {"wrt": ["x"]}}.items():
        served = getattr(nabla, operation)(scalar, at=point, **options)
        expected = local.run(operation, point, **options)
        np.testing.assert_allclose(served["value"], expected["value"])


def test_results_are_float64_arrays_with_non_finite_values(nabla: Client) -> None:
    result = nabla.evaluate("x / y", at={"x": np.array([1.0, -1.0, 0.0]), "y": 0.0})
    assert result["value"].dtype == np.float64
    assert np.isposinf(result["value"][0]) and np.isneginf(result["value"][1])
    assert np.isnan(result["value"][2])
    inputs = nabla.evaluate("x", at={"x": np.array([np.nan, np.inf])})["value"]
    assert np.isnan(inputs[0]) and np.isposinf(inputs[1])
    assert nabla.evaluate("x", at={"x": np.inf})["value"] == np.inf


def test_registers_once_then_sends_the_id(service_app: Any) -> None:
    seen: list[dict[str, Any]] = []
    with TestClient(service_app()) as http:
        http.event_hooks["request"].append(lambda request: seen.append(
            {"path": request.url.path, "body": request.read()}))
        nabla = Client("http://testserver", http)
        for value in (1.0, 2.0, 3.0):
            nabla.gradient("sum(x^2)", at={"x": np.array([value])})
    paths = [entry["path"] for entry in seen]
    assert paths == ["/v1/functions", "/v1/gradient", "/v1/gradient", "/v1/gradient"]
    assert all(b'"function"' in entry["body"] and b'"program"' not in entry["body"]
               for entry in seen[1:])


def test_remote_program_mirrors_adcore(nabla: Client) -> None:
    f = nabla.compile(examples.TD_LOSS)
    assert f.id == adcore.compile(examples.TD_LOSS).id
    assert f.inputs == ("r_t", "theta", "s_t", "s_tm1")
    result = f.gradient(at=examples.TD_AT, wrt=["theta"])
    np.testing.assert_allclose(result["gradient"]["theta"], [1.2, 2.4, -1.2])


def test_problem_error_carries_the_fields(nabla: Client) -> None:
    with pytest.raises(ProblemError) as caught:
        nabla.gradient("foo(x)", at={"x": 1.0})
    err = caught.value
    assert (err.status, err.kind, err.line, err.column) == (422, "name", 1, 1)
    assert err.excerpt == "foo(x)\n^"
    assert err.type == "/problems/name"
    assert "foo" in str(err)
    with pytest.raises(ProblemError) as caught:
        nabla.gradient("sum(x)", at={"y": 1.0})
    assert (caught.value.status, caught.value.kind) == (400, "request")


# ---- retries and fallbacks over a scripted transport ----

def scripted(answers: list[httpx.Response | Exception], log: list[httpx.Request]
             ) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        log.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.Client(transport=httpx.MockTransport(handler))


def busy(seconds: str = "2") -> httpx.Response:
    return httpx.Response(503, headers={"retry-after": seconds},
                          json={"status": 503, "kind": "overloaded", "detail": "busy"})


def test_retries_503_after_retry_after(service_app: Any) -> None:
    log: list[httpx.Request] = []
    sleeps: list[float] = []
    answers = [busy("2"), httpx.Response(201, json={"id": "abc"}), busy("0"),
               httpx.Response(200, json={"id": "abc", "value": 4.0, "meta": {}})]
    nabla = Client("http://x", scripted(answers, log), sleep=sleeps.append)
    assert nabla.evaluate("x^2", at={"x": 2.0})["value"] == 4.0
    assert sleeps == [2.0, 0.0] and len(log) == 4


def test_retries_are_bounded(service_app: Any) -> None:
    log: list[httpx.Request] = []
    sleeps: list[float] = []
    nabla = Client("http://x", scripted([busy("999")] * 3, log), max_retries=2,
                   max_retry_wait=5, sleep=sleeps.append)
    with pytest.raises(ProblemError) as caught:
        nabla.register("x")
    assert caught.value.status == 503 and caught.value.kind == "overloaded"
    assert sleeps == [5.0, 5.0] and len(log) == 3


def test_a_connection_lost_mid_answer_is_sent_again_but_a_timeout_is_not() -> None:
    log: list[httpx.Request] = []
    sleeps: list[float] = []
    cut = httpx.RemoteProtocolError("peer closed connection without sending complete body")
    answers: list[httpx.Response | Exception] = [
        cut, httpx.ConnectError("refused"), httpx.Response(201, json={"id": "abc"})]
    nabla = Client("http://x", scripted(answers, log), sleep=sleeps.append)
    assert nabla.register("x") == "abc" and len(log) == 3 and len(sleeps) == 2
    slow = Client("http://x", scripted([httpx.ReadTimeout("slow")], []))
    with pytest.raises(httpx.ReadTimeout):  # the work may still run: not repeated blindly
        slow.register("x")
    gone = Client("http://x", scripted([cut] * 3, []), max_retries=2, sleep=sleeps.append)
    with pytest.raises(httpx.RemoteProtocolError):
        gone.register("x")


def test_falls_back_to_inline_on_unknown_id() -> None:
    log: list[httpx.Request] = []
    unknown = httpx.Response(404, json={"status": 404, "kind": "unknown-function",
                                        "detail": "no function"})
    answers = [httpx.Response(201, json={"id": "abc"}), unknown,
               httpx.Response(200, json={"id": "abc", "value": 1.0, "meta": {}})]
    nabla = Client("http://x", scripted(answers, log))
    assert nabla.evaluate("x", at={"x": 1.0})["value"] == 1.0
    bodies = [request.read() for request in log]
    assert b'"function":"abc"' in bodies[1] and b'"program":"x"' in bodies[2]
    assert "x" not in nabla._ids


def test_requests_by_id_name_the_function_in_a_header_for_load_balancers() -> None:
    log: list[httpx.Request] = []
    answers = [httpx.Response(201, json={"id": "abc"}),
               httpx.Response(200, json={"id": "abc", "value": 1.0, "meta": {}}),
               httpx.Response(200, json={"id": "abc", "program": "x"})]
    nabla = Client("http://x", scripted(answers, log))
    nabla.evaluate("x", at={"x": 1.0})
    nabla.function("abc")
    # registration has no id yet (round-robin); the uses of the id carry it
    assert [request.headers.get("nabla-function") for request in log] == [None, "abc", "abc"]


def test_an_unavailable_store_falls_back_to_inline_text_after_its_retries() -> None:
    log: list[httpx.Request] = []
    sleeps: list[float] = []
    down = httpx.Response(503, headers={"retry-after": "1"},
                          json={"status": 503, "kind": "store-unavailable", "detail": "down"})
    answers = [down, down, httpx.Response(200, json={"id": "abc", "value": 1.0, "meta": {}})]
    nabla = Client("http://x", scripted(answers, log), max_retries=1, sleep=sleeps.append)
    assert nabla.evaluate("x", at={"x": 1.0})["value"] == 1.0
    assert sleeps == [1.0] and "x" not in nabla._ids  # registers again next time
    assert b'"program":"x"' in log[-1].read() and "nabla-function" not in log[-1].headers


def test_a_route_404_is_not_an_unknown_function() -> None:
    answers = [httpx.Response(201, json={"id": "abc"}),
               httpx.Response(404, json={"status": 404, "kind": "not-found", "detail": "?"})]
    nabla = Client("http://x", scripted(answers, []))
    with pytest.raises(ProblemError) as caught:
        nabla.evaluate("x", at={"x": 1.0})
    assert caught.value.kind == "not-found"


def test_non_json_error_bodies_still_raise_problem_error() -> None:
    nabla = Client("http://x", scripted([httpx.Response(502, text="bad gateway")], []))
    with pytest.raises(ProblemError) as caught:
        nabla.health()
    assert caught.value.status == 502 and "bad gateway" in caught.value.detail


@pytest.mark.parametrize("arrays", ["list", "base64", "binary"])
def test_names_may_be_numpy_strings(service_app: Any, arrays: str) -> None:
    """wrt and batch from numpy (np.str_ scalars, string arrays) are names, not arrays: they
    once went to the array encoder and failed (found by the metamorphic suite)."""
    with TestClient(service_app()) as http:
        nabla = Client("http://testserver", http, arrays=arrays)
        at = {"x": np.array([1.0, 2.0]), "y": np.array(3.0)}
        for wrt in (np.array(["y", "x"]), [np.str_("y")]):
            gradient = nabla.gradient("sum(x^2) * y", at=at, wrt=wrt)["gradient"]
            assert set(gradient) == {str(n) for n in wrt}
            np.testing.assert_array_equal(gradient["y"], 5.0)
