"""Dependencies of the routes: the service object and the raw body. All are `async`:
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

from . import framing
from .bodies import Incoming
from .convert import wire_problem
from .encoding import WireError
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


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _is_json(media: str) -> bool:
    return media == "application/json" or (media.startswith("application/")
                                           and media.endswith("+json"))


async def json_body(request: Request) -> bytearray:
    """The raw JSON body: 415 unless JSON, else as `_receive` reads it."""
    content_type = request.headers.get("content-type", "")
    if not _is_json(_media_type(content_type)):
        raise ProblemException(
            415, "unsupported-media-type",
            f"send Content-Type: application/json (got {content_type[:80] or 'none'!r})")
    return await _receive(request)


async def operation_body(request: Request) -> Incoming:
    """An operation's body: JSON, or framed binary (application/octet-stream with
    Inference-Header-Content-Length, checked against Content-Length before reading)."""
    content_type = request.headers.get("content-type", "")
    media = _media_type(content_type)
    header_length = None
    if media == framing.OCTET_STREAM:
        value = request.headers.get(framing.HEADER_LENGTH)
        if value is None:
            raise ProblemException(400, "framing", "an application/octet-stream body is a "
                                   f"JSON part and binary arrays: send {framing.HEADER_LENGTH}"
                                   " with the JSON part's length in bytes")
        declared = request.headers.get("content-length", "")
        try:
            header_length = framing.header_length(
                value, int(declared) if declared.isdigit() else None)
        except WireError as err:
            raise wire_problem(err) from None
    elif not _is_json(media):
        raise ProblemException(
            415, "unsupported-media-type", "send Content-Type: application/json, or "
            f"application/octet-stream for framed binary (got {content_type[:80] or 'none'!r})")
    elif framing.HEADER_LENGTH in request.headers:  # two readings of one body: refused
        raise ProblemException(400, "framing", f"{framing.HEADER_LENGTH} frames an "
                               "application/octet-stream body, but this one is JSON")
    raw = await _receive(request)
    return Incoming(raw, header_length, request.headers.get("accept", ""))


async def _receive(request: Request) -> bytearray:
    """The raw body: 413 over `max_body_bytes` (from Content-Length before reading, and while
    streaming), 408 when it takes longer than `body_timeout_s` to arrive (a slow client holds
    nothing but its own coroutine), 400 when the client goes away before sending all of it.
    Chunks are appended to one growing buffer (grown in place), never joined at the end: a
    64 MiB body costs 64 MiB, not twice that."""
    settings = nabla_of(request).settings
    limit = settings.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    try:
        async with asyncio.timeout(settings.body_timeout_s):
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise _too_large(limit)
    except TimeoutError:
        raise too_slow(settings.body_timeout_s) from None
    except ClientDisconnect:
        raise ProblemException(400, "json", "the client closed the connection before the "
                               "body was complete") from None
    return body


def too_slow(seconds: float) -> ProblemException:
    return ProblemException(408, "request-timeout",
                            f"the body did not arrive within body_timeout_s = {seconds:g} s",
                            headers={"Connection": "close"}, limit="body_timeout_s",
                            value=seconds)


def _too_large(limit: int) -> ProblemException:
    return ProblemException(413, "payload-too-large",
                            f"the body is over max_body_bytes = {limit}",
                            limit="max_body_bytes", value=limit)


BodyDep = Annotated[bytearray, Depends(json_body)]
