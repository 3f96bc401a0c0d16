"""The pages and their files over HTTP: nothing loads from another origin, media types and
cache headers are right, only the named files are served. (tests/browser/ opens them.)"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import pytest

from service.assets import playground_files, vendor_url
from service.auth import digest

PAGES = ("/", "/docs", "/redoc", "/docs/oauth2-redirect")
ATTRIBUTE_URL = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
ANY_URL = re.compile(r"""(?:https?:)?//[^\s"'<>)]+""", re.IGNORECASE)
NAMESPACES = {"http://www.w3.org/2000/svg"}  # identifiers in SVG, never fetched


def referenced(html: str) -> list[str]:
    return ATTRIBUTE_URL.findall(html)


@pytest.mark.parametrize("path", PAGES)
def test_pages_name_no_other_origin(api: Any, path: str) -> None:
    page = api.get(path)
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    html = page.text
    assert ANY_URL.findall(html) == [], "a page may only name its own origin"
    assert "fonts.googleapis" not in html
    for url in referenced(html):  # and everything it names is there
        asset = api.get(url if url.startswith("/") else f"/{url}")
        assert asset.status_code == 200, url
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy
    assert "unsafe-eval" not in policy and "http" not in policy


def test_every_inline_script_is_allowed_by_its_digest(api: Any) -> None:
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        page = api.get(path)
        for script in re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL):
            token = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
            assert f"'sha256-{token}'" in page.headers["content-security-policy"], path


def test_playground_files_name_no_other_origin(api: Any) -> None:
    for name in playground_files():
        text = api.get(f"/static/{name}").text
        assert set(ANY_URL.findall(text)) <= NAMESPACES, name
        assert "eval(" not in text and "new Function" not in text, name


def test_vendor_bundles_load_nothing_from_a_cdn(api: Any) -> None:
    redoc = api.get(vendor_url("redoc.standalone.js"))
    assert redoc.status_code == 200 and b"cdn.redoc.ly" not in redoc.content
    css = api.get(vendor_url("swagger-ui.css")).text
    assert [u for u in re.findall(r"url\(([^)]*)\)", css) if not u.strip("'\"").startswith(
        "data:")] == []
    for name in ("swagger-ui-bundle.js", "redoc.standalone.js", "plotly.min.js"):
        assert b"fonts.googleapis" not in api.get(vendor_url(name)).content, name


@pytest.mark.parametrize(("path", "media"), [
    ("/static/playground.css", "text/css; charset=utf-8"),
    ("/static/js/main.js", "text/javascript; charset=utf-8"),
    ("/static/favicon.svg", "image/svg+xml"),
])
def test_own_files_revalidate(api: Any, path: str, media: str) -> None:
    first = api.get(path)
    assert first.status_code == 200 and first.headers["content-type"] == media
    assert first.headers["cache-control"] == "no-cache"
    assert first.headers["x-content-type-options"] == "nosniff"
    again = api.get(path, headers={"if-none-match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_vendor_files_are_versioned_and_immutable(api: Any) -> None:
    url = vendor_url("plotly.min.js")
    assert re.fullmatch(r"/vendor/plotly-[0-9][^/]*/plotly\.min\.js", url)
    plain = api.get(url, headers={"accept-encoding": "identity"})
    assert plain.headers["content-type"] == "text/javascript; charset=utf-8"
    assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
    packed = api.get(url, headers={"accept-encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.num_bytes_downloaded < plain.num_bytes_downloaded / 2
    assert packed.content == plain.content  # httpx decodes it
    redoc = vendor_url("redoc.standalone.js")  # served from memory (rewritten): same rules
    first = api.get(redoc)
    assert first.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert api.get(redoc, headers={"if-none-match": first.headers["etag"]}).status_code == 304


@pytest.mark.parametrize("path", [
    "/static/index.html",  # the page template is served at / only
    "/static/../main.py", "/static/%2e%2e/main.py", "/static/js/../../assets.py",
    "/vendor/plotly-0.0.0/plotly.min.js",  # another version than the installed one
    vendor_url("plotly.min.js").replace("plotly.min.js", "widgetbundle.js"),  # not named
])
def test_only_named_files_are_served(api: Any, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_files_take_only_get_and_head(api: Any) -> None:
    assert api.head("/static/js/main.js").status_code == 200
    refused = api.post(vendor_url("redoc.standalone.js"))
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"


def test_pages_stay_open_when_keys_are_required(service_app: Any) -> None:
    from fastapi.testclient import TestClient

    with TestClient(service_app(api_keys=f"sha256:{digest('k' * 32)}")) as client:
        for path in (*PAGES, "/static/js/main.js", vendor_url("plotly.min.js")):
            assert client.get(path).status_code == 200, path
        assert client.post("/v1/evaluate", json={"program": "x", "at": {"x": 1}}
                           ).status_code == 401
