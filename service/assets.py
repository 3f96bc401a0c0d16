"""The files the browser pages load, all served by the app itself (SPEC §4: /docs, /redoc and
the playground work with no network beyond the server).

* `/static/...`: the playground's own files (`service/playground/`). They change with each
  release under the same names, so `Cache-Control: no-cache`: browsers keep them and
  revalidate with the ETag (a 304 when unchanged).
* `/vendor/<package>-<version>/<file>`: third-party bundles from installed Python packages:
  Swagger UI and ReDoc from `fastapi-offline`, plotly.js from `plotly`. Their URLs carry the
  package version, so they are cached for a year as immutable.

Only the named files are served (a vendor package's folder holds more than we mean to
publish), with explicit media types: `mimetypes` answers differently across machines for
`.js`. Both mounts compress for clients that accept gzip (plotly.js is 4.8 MB, 1.4 MB
gzipped); FileResponse streams 64 KiB chunks, so compression never holds the event loop long.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from functools import cache
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path
from string import Template

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Scope

log = logging.getLogger("nabla.service")
PLAYGROUND = Path(__file__).resolve().parent / "playground"
STATIC_PREFIX = "/static"
VENDOR_PREFIX = "/vendor"
NO_CACHE = "no-cache"
IMMUTABLE = "public, max-age=31536000, immutable"
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml",
               ".png": "image/png"}
# ReDoc's sidebar footer shows Redocly's logo from their CDN, with no option to turn it off:
# the served bundle points it at an empty inline image instead (the link text stays).
EMPTY_IMAGE = b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='0'/%3E"
REWRITES = {"redoc.standalone.js": (b"https://cdn.redoc.ly/redoc/logo-mini.svg", EMPTY_IMAGE)}


def _package_files(distribution: str, package: str, folder: str,
                   names: tuple[str, ...]) -> dict[str, Path]:
    """`names` inside an installed package's data folder, keyed by their versioned URL path."""
    root = Path(str(files(package).joinpath(folder)))
    prefix = f"{distribution}-{version(distribution)}"
    return {f"{prefix}/{name}": root / name for name in names}


@cache
def vendor_files() -> dict[str, Path]:
    return {**_package_files("fastapi-offline", "fastapi_offline", "static",
                             ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js")),
            **_package_files("plotly", "plotly", "package_data", ("plotly.min.js",))}


def vendor_url(name: str) -> str:
    """The versioned path of a vendor file by its bare name (`plotly.min.js`)."""
    for path in vendor_files():
        if path.rsplit("/", 1)[1] == name:
            return f"{VENDOR_PREFIX}/{path}"
    raise KeyError(name)


def playground_files() -> dict[str, Path]:
    return {path.relative_to(PLAYGROUND).as_posix(): path
            for path in sorted(PLAYGROUND.rglob("*"))
            if path.is_file() and path.name != "index.html"}  # index.html is a template: /


@cache
def rewritten(path: Path) -> bytes:
    old, new = REWRITES[path.name]
    content = path.read_bytes()
    if old not in content:  # a new release: the browser tests say whether it loads another
        log.warning("%s no longer holds %r: served unchanged", path.name, old)
    return content.replace(old, new)


class NamedFiles(StaticFiles):
    """StaticFiles over a fixed set of named files, with a cache policy and explicit types."""

    def __init__(self, named: Mapping[str, Path], cache_control: str):
        super().__init__(directory=None, check_dir=False)
        self.named = dict(named)
        self.cache_control = cache_control

    def _headers(self, path: str | os.PathLike[str]) -> dict[str, str]:
        headers = {"cache-control": self.cache_control, "x-content-type-options": "nosniff"}
        media = MEDIA_TYPES.get(Path(path).suffix)
        return {**headers, "content-type": media} if media else headers

    async def get_response(self, path: str, scope: Scope) -> Response:
        found = self.named.get(path.replace(os.sep, "/"))
        if found is None or found.name not in REWRITES:
            return await super().get_response(path, scope)
        if scope["method"] not in ("GET", "HEAD"):
            raise HTTPException(status_code=405, headers={"Allow": "GET, HEAD"})
        content = rewritten(found)
        headers = {**self._headers(found), "etag": f'"{hashlib.md5(content).hexdigest()}"'}
        if self.is_not_modified(Headers(headers), Headers(scope=scope)):
            return NotModifiedResponse(Headers(headers))
        return Response(content, headers=headers)

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        found = self.named.get(path.replace(os.sep, "/"))
        try:
            return (str(found), os.stat(found)) if found else ("", None)
        except OSError:
            return "", None

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result,
                      scope: Scope, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        headers = self._headers(full_path)
        if response.status_code != 200:
            headers.pop("content-type", None)
        response.headers.update(headers)
        return response


def _compressed(named: Mapping[str, Path], cache_control: str) -> GZipMiddleware:
    return GZipMiddleware(NamedFiles(named, cache_control), minimum_size=1024, compresslevel=6)


def mounts() -> list[Mount]:
    return [Mount(STATIC_PREFIX, _compressed(playground_files(), NO_CACHE), name="static"),
            Mount(VENDOR_PREFIX, _compressed(vendor_files(), IMMUTABLE), name="vendor")]


@cache
def playground_page() -> str:
    """index.html with the versioned vendor URLs filled in (relative, so the page also works
    under a proxy's path prefix)."""
    page = Template((PLAYGROUND / "index.html").read_text(encoding="utf-8"))
    return page.substitute(plotly_js=vendor_url("plotly.min.js").lstrip("/"))
