"""Dependencies of the routes: the service object and the raw JSON body. All are `async`:
FastAPI runs a sync dependency on the thread pool, which costs more than the work itself.

The body is read raw (then parsed with orjson: on a worker thread when over 16 KiB) rather
than declared as a pydantic parameter: FastAPI's own parsing goes through `json.loads`, which
accepts `NaN` tokens and costs ~10x more CPU on a 2 MB batch. The size limit is enforced before anything is
parsed: from Content-Length when given, and while streaming otherwise.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import ClientDisconnect

from .engine import Nabla
from .problems import ProblemException
from .settings import Settings


def nabla_of(request: Request) -> Nabla:
    return request.app.state.nabla  # type: ignore[no-any-return]


async def get_nabla(request: Request) -> Nabla:
    return nabla_of(request)


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.nabla.settings  # type: ignore[no-any-return]


NablaDep = Annotated[Nabla, Depends(get_nabla)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/")
                                           and media.endswith("+json"))


async def json_body(request: Request) -> bytes:
    """The raw body: 415 unless JSON, 413 over `max_body_bytes`, 408 when it takes longer
    than `body_timeout_s` to arrive (a slow client holds nothing but its own coroutine), 400
    when the client goes away before sending all of it."""
    content_type = request.headers.get("content-type", "")
    if not _is_json(content_type):
        raise ProblemException(
            415, "unsupported-media-type",
            f"send Content-Type: application/json (got {content_type[:80] or 'none'!r})")
    settings = nabla_of(request).settings
    limit = settings.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    try:
        async with asyncio.timeout(settings.body_timeout_s):
            if declared.isdigit():
                return await request.body()  # the server holds it to its declared length
            chunks, size = [], 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
            return b"".join(chunks)
    except TimeoutError:
        raise too_slow(settings.body_timeout_s) from None
    except ClientDisconnect:
        raise ProblemException(400, "json", "the client closed the connection before the "
                               "body was complete") from None


def too_slow(seconds: float) -> ProblemException:
    return ProblemException(408, "request-timeout",
                            f"the body did not arrive within body_timeout_s = {seconds:g} s",
                            headers={"Connection": "close"}, limit="body_timeout_s",
                            value=seconds)


def _too_large(limit: int) -> ProblemException:
    return ProblemException(413, "payload-too-large",
                            f"the body is over max_body_bytes = {limit}",
                            limit="max_body_bytes", value=limit)


BodyDep = Annotated[bytes, Depends(json_body)]
