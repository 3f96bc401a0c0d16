"""The browser pages: the playground at `/`, Swagger UI at /docs and ReDoc at /redoc, every
asset served by the app (`assets.py`), none from a CDN. FastAPI's own /docs and /redoc load
their scripts from a CDN and ReDoc its fonts from Google: a blank page offline.

Each page carries a Content-Security-Policy that allows no other origin, so a browser
refuses any request that would leave the server (and `eval` in our own scripts)."""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import APIRouter, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse

from ..assets import NO_CACHE, playground_page, vendor_url

router = APIRouter(include_in_schema=False)

FAVICON = "/static/favicon.svg"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
# Swagger UI options: no online validator badge (it would call validator.swagger.io), the
# request duration shown with each answer, operations listed but not expanded.
SWAGGER_PARAMETERS = {"validatorUrl": None, "displayRequestDuration": True,
                      "docExpansion": "list", "defaultModelsExpandDepth": 0}
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def policy(html: str, *, workers: bool = False) -> str:
    """A CSP for `html`: its own origin only; its inline scripts allowed by their digests
    (Swagger UI's and ReDoc's start-up code), inline styles allowed (both UIs set them)."""
    digests = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(html))
    parts = ["default-src 'self'", f"script-src 'self' {digests}".rstrip(),
             "style-src 'self' 'unsafe-inline'", "img-src 'self' data:",
             "font-src 'self' data:", "connect-src 'self'", "base-uri 'self'",
             "form-action 'self'", "frame-ancestors 'self'"]
    if workers:
        parts.append("worker-src 'self' blob:")  # ReDoc searches in a blob: web worker
    return "; ".join(parts)


def page(html: str, *, workers: bool = False) -> HTMLResponse:
    return HTMLResponse(html, headers={"cache-control": NO_CACHE,
                                       "content-security-policy": policy(html, workers=workers),
                                       "x-content-type-options": "nosniff"})


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


@router.get("/", response_class=HTMLResponse)
async def playground() -> HTMLResponse:
    return page(playground_page())


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui(request: Request) -> HTMLResponse:
    root = _root(request)
    html = get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}", title="Nabla API: Swagger UI",
        swagger_js_url=root + vendor_url("swagger-ui-bundle.js"),
        swagger_css_url=root + vendor_url("swagger-ui.css"),
        swagger_favicon_url=root + FAVICON, oauth2_redirect_url=root + OAUTH2_REDIRECT,
        swagger_ui_parameters=SWAGGER_PARAMETERS)
    return page(bytes(html.body).decode())


@router.get(OAUTH2_REDIRECT, response_class=HTMLResponse)
async def swagger_ui_redirect() -> HTMLResponse:
    return page(bytes(get_swagger_ui_oauth2_redirect_html().body).decode())


@router.get("/redoc", response_class=HTMLResponse)
async def redoc(request: Request) -> HTMLResponse:
    root = _root(request)
    html = get_redoc_html(openapi_url=f"{root}{request.app.openapi_url}",
                          title="Nabla API: ReDoc", redoc_js_url=root + vendor_url(
                              "redoc.standalone.js"),
                          redoc_favicon_url=root + FAVICON, with_google_fonts=False)
    return page(bytes(html.body).decode(), workers=True)
