"""Optional access control (service/auth.py): API keys configured as SHA-256 digests, 401
problem+json without a valid key, and a per-key token-bucket rate limit answering 429 with
Retry-After. None of it is on by default."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from service.auth import AccessControl, RateLimiter, presented_key
from service.main import create_app
from service.settings import ConfigurationError, Settings
from tests.servers import uvicorn_server

KEYS = ["k3y-one-0123456789abcdef", "k3y-two-fedcba9876543210"]
DIGESTS = ",".join(f"sha256:{hashlib.sha256(key.encode()).hexdigest()}" for key in KEYS)
BODY = {"program": "sum(x^2)", "at": {"x": [1.0, 2.0]}}


@contextmanager
def app(tmp_path: Path, **overrides: Any) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", gc_freeze=False, **overrides)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["kind"], body["type"]) == (status, kind, f"/problems/{kind}")
    return body


def test_no_key_is_needed_by_default(tmp_path: Path) -> None:
    with app(tmp_path) as client:
        assert client.post("/v1/gradient", json=BODY).status_code == 200
        assert client.post("/v1/gradient", json=BODY, headers=bearer("anything")).status_code \
            == 200
        layers = [m.cls.__name__ for m in client.app.user_middleware]  # type: ignore
        assert "FastPathMiddleware" in layers and "AccessMiddleware" not in layers


def test_keys_are_required_once_configured(tmp_path: Path) -> None:
    with app(tmp_path, api_keys=DIGESTS) as client:
        missing = problem(client.post("/v1/gradient", json=BODY), 401, "unauthorized")
        assert "Authorization: Bearer" in missing["detail"]
        response = client.post("/v1/gradient", json=BODY)
        assert response.headers["www-authenticate"] == 'Bearer realm="nabla"'
        wrong = client.post("/v1/gradient", json=BODY, headers=bearer("not-a-key"))
        problem(wrong, 401, "unauthorized")
        assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
        for key in KEYS:
            assert client.post("/v1/gradient", json=BODY, headers=bearer(key)).status_code == 200
            assert client.post("/v1/gradient", json=BODY,
                               headers={"x-api-key": key}).status_code == 200
        assert client.post("/v1/gradient", json=BODY,
                           headers={"authorization": f"bearer   {KEYS[0]}  "}).status_code == 200
        for headers in ({"authorization": f"Basic {KEYS[0]}"}, {"authorization": "Bearer "},
                        {"authorization": KEYS[0]}, {"x-api-key": KEYS[0][:-1]},
                        {"x-api-key": DIGESTS.split(",")[0].split(":")[1]}):  # not the digest
            problem(client.post("/v1/gradient", json=BODY, headers=headers), 401, "unauthorized")


def test_every_route_but_health_docs_and_problem_pages_needs_a_key(tmp_path: Path) -> None:
    with app(tmp_path, api_keys=DIGESTS) as client:
        for path in ("/healthz", "/docs", "/redoc", "/openapi.json", "/problems/unauthorized"):
            assert client.get(path).status_code == 200, path
        for method, path in (("GET", "/v1/limits"), ("GET", "/v1/cache"), ("GET", "/metrics"),
                             ("GET", "/v1/functions/" + "0" * 32), ("POST", "/v1/functions"),
                             ("GET", "/v2/unknown"), ("POST", "/v1/hessian")):
            problem(client.request(method, path, json={"program": "x"}), 401, "unauthorized")
        limits = client.get("/v1/limits", headers=bearer(KEYS[1]))
        assert limits.status_code == 200 and limits.json()["body_timeout_s"] == 60.0


def test_the_fast_lane_does_not_bypass_the_keys(tmp_path: Path) -> None:
    with app(tmp_path, api_keys=DIGESTS) as client:
        for _ in range(3):  # compiled, cached: from now on the fast lane could answer it
            assert client.post("/v1/gradient", json=BODY, headers=bearer(KEYS[0])).status_code \
                == 200
        problem(client.post("/v1/gradient", json=BODY), 401, "unauthorized")
        metrics = client.get("/metrics", headers=bearer(KEYS[0])).text
        assert 'status="401"' in metrics


def test_keys_are_configured_as_digests_never_in_clear() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings(api_keys=KEYS[0])
    assert KEYS[0] not in str(caught.value)
    with pytest.raises(ConfigurationError):
        Settings(api_keys="sha256:abc")
    with pytest.raises(ConfigurationError):
        Settings(api_keys="md5:" + "0" * 32)
    settings = Settings(api_keys=DIGESTS.upper().replace("SHA256", "sha256") + ", ")
    assert len(settings.key_digests()) == 2
    for bad in ("0", "-1", "fast", "1,2,3", "nan", "inf", "2,0.5"):
        with pytest.raises(ConfigurationError):
            Settings(rate_limit=bad)
    assert Settings(rate_limit="2.5").rate() == (2.5, 2.5)
    assert Settings(rate_limit="0.5").rate() == (0.5, 1.0)
    assert Settings(rate_limit=" 10 , 20 ").rate() == (10.0, 20.0)


def test_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NABLA_API_KEYS", DIGESTS)
    monkeypatch.setenv("NABLA_RATE_LIMIT", "5,10")
    settings = Settings(data_dir=tmp_path, gc_freeze=False)
    assert settings.rate() == (5.0, 10.0) and len(settings.key_digests()) == 2


# ---------------------------------------------------------------- rate limit

def test_token_bucket_with_a_fake_clock() -> None:
    now = [100.0]
    limiter = RateLimiter(rate=2.0, burst=3.0, clock=lambda: now[0], max_buckets=2)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)  # one token back in half a second
    assert limiter.take("b") == 0.0  # another key has its own bucket
    now[0] += 0.5
    assert limiter.take("a") == 0.0
    assert limiter.take("a") == pytest.approx(0.5)
    now[0] += 100
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]  # refilled to burst only
    assert limiter.take("a") > 0
    limiter.take("c")  # a third identity: the least recent ("b") is forgotten
    assert "b" not in limiter._buckets and len(limiter._buckets) == 2


def test_per_key_rate_limit_is_429_with_retry_after(tmp_path: Path) -> None:
    with app(tmp_path, api_keys=DIGESTS, rate_limit="1,3") as client:
        first = [client.post("/v1/gradient", json=BODY, headers=bearer(KEYS[0])).status_code
                 for _ in range(3)]
        assert first == [200, 200, 200]
        refused = client.post("/v1/gradient", json=BODY, headers=bearer(KEYS[0]))
        body = problem(refused, 429, "rate-limited")
        assert refused.headers["retry-after"] == "1"
        assert (body["limit"], body["value"]) == ("rate_limit", 1.0)
        # the other key is not affected; an unknown key is 401 before any bucket
        assert client.post("/v1/gradient", json=BODY, headers=bearer(KEYS[1])).status_code \
            == 200
        problem(client.post("/v1/gradient", json=BODY), 401, "unauthorized")
        time.sleep(1.1)  # one token back
        assert client.post("/v1/gradient", json=BODY, headers=bearer(KEYS[0])).status_code \
            == 200
        problem(client.post("/v1/gradient", json=BODY, headers=bearer(KEYS[0])), 429,
                "rate-limited")
        assert client.get("/healthz").status_code == 200  # never limited


def test_rate_limit_without_keys_is_per_client_address(tmp_path: Path) -> None:
    with app(tmp_path, rate_limit="0.5,2") as client:
        assert [client.post("/v1/gradient", json=BODY).status_code for _ in range(3)] == \
            [200, 200, 429]
        assert client.post("/v1/gradient", json=BODY).headers["retry-after"] == "2"


def test_presented_key_parsing() -> None:
    def scope(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
        return {"headers": list(headers)}

    assert presented_key(scope((b"authorization", b"Bearer abc"))) == b"abc"
    assert presented_key(scope((b"x-api-key", b" abc "))) == b"abc"
    assert presented_key(scope((b"authorization", b"Basic abc"))) is None
    assert presented_key(scope()) is None
    control = AccessControl(frozenset({hashlib.sha256(b"abc").hexdigest()}), None)
    assert control.identify(b"abc") is not None and control.identify(b"abd") is None
    assert control.identify(None) is None


def test_keys_and_rate_limit_over_a_real_uvicorn(tmp_path: Path) -> None:
    settings = {"api_keys": DIGESTS, "rate_limit": "1,2"}
    with uvicorn_server(tmp_path / "store", settings) as (base, _), \
            httpx.Client(base_url=base) as client:
        assert client.get("/healthz").status_code == 200
        problem(client.post("/v1/gradient", json=BODY), 401, "unauthorized")
        statuses = [client.post("/v1/gradient", json=BODY, headers=bearer(KEYS[0]))
                    for _ in range(3)]
        assert [r.status_code for r in statuses] == [200, 200, 429]
        assert statuses[-1].headers["retry-after"].isdigit()
        assert problem(statuses[-1], 429, "rate-limited")["limit"] == "rate_limit"


def test_the_document_declares_401_and_429() -> None:
    from service.export_openapi import document

    paths = document()["paths"]
    for operation in ("gradient", "hessian"):
        responses = paths[f"/v1/{operation}"]["post"]["responses"]
        assert {"401", "408", "429"} <= set(responses)
    assert {"401", "429"} <= set(paths["/v1/functions"]["post"]["responses"])
