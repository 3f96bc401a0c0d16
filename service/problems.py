"""RFC 9457 problem details for every error the service can answer with (SPEC §2.5, §4).

Statuses: 400 for a request that does not fit (malformed JSON, a binary body whose framing
does not add up, a `request` error of adcore:
missing or unknown inputs, ragged arrays, booleans or numeric strings where numbers belong);
422 for a program that does not compile (`syntax`, `name`, `type`, `shape`), for a body that
does not match the schema (`validation`), and for anything over a configured limit (`limit`,
naming the limit and its value); 404, 405, 413, 415 as HTTP means them; 503 with Retry-After
when every compute slot is busy. A 500 is a bug and says so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from adcore import ProgramError
from adcore.errors import LimitExceededError

log = logging.getLogger("nabla.service")
MEDIA_TYPE = "application/problem+json"

TITLES = {
    "syntax": "Syntax error in the program",
    "name": "Unknown or misused name in the program",
    "type": "Type error in the program",
    "shape": "Shapes do not fit",
    "limit": "Over a configured limit",
    "request": "The request does not fit the program",
    "validation": "The body does not match the schema",
    "json": "The body is not valid JSON",
    "framing": "The binary body does not match its framing",
    "unknown-function": "No function with this id",
    "not-found": "Not found",
    "method-not-allowed": "Method not allowed",
    "payload-too-large": "Request body too large",
    "unsupported-media-type": "Unsupported media type",
    "overloaded": "Every compute slot is busy",
    "unauthorized": "A valid API key is needed",
    "rate-limited": "Over the rate limit",
    "request-timeout": "The body arrived too slowly",
    "store-unavailable": "The function store cannot be used right now",
    "internal": "Internal error (a bug in Nabla)",
    # Answered by the load balancer (deploy/nginx/nginx.conf), never by the app itself.
    "bad-request": "Malformed HTTP request",
    "headers-too-large": "Request headers too large",
    "uri-too-long": "URI too long",
    "replica-unavailable": "No replica could answer",
}
# What each `type` means, served at /problems/<kind> so that the URIs resolve (RFC 9457 §3.1.1).
STATUSES = {"syntax": 422, "name": 422, "type": 422, "shape": 422, "limit": 422,
            "request": 400, "validation": 422, "json": 400, "framing": 400,
            "unknown-function": 404,
            "not-found": 404, "method-not-allowed": 405, "payload-too-large": 413,
            "unsupported-media-type": 415, "overloaded": 503, "unauthorized": 401,
            "rate-limited": 429, "request-timeout": 408, "store-unavailable": 503,
            "internal": 500, "bad-request": 400, "headers-too-large": 431, "uri-too-long": 414,
            "replica-unavailable": 503}
DESCRIPTIONS = {
    "syntax": "A character or token that cannot be there; `line` and `column` point at it.",
    "name": "An unknown function, recursion, a forward reference or a redefinition.",
    "type": "Wrong number of arguments, a mask outside `where`, a non-literal index or axis.",
    "shape": "Shapes that do not fit, an index out of range, or the gradient of a non-scalar.",
    "limit": "Over a configured limit; `limit` names it and `value` is its setting "
             "(see GET /v1/limits). Change the request: retrying it as is will not help.",
    "request": "The request does not fit the program: a missing or unknown input, a `wrt` "
               "name that is not an input, ragged arrays, booleans or numeric strings where "
               "numbers belong, batch lengths that disagree.",
    "validation": "The body does not match the schema; `errors` lists each mismatch.",
    "json": "The body is not JSON (NaN and Infinity tokens are not JSON: send the strings "
            "\"NaN\", \"Infinity\", \"-Infinity\"), repeats a key in an object, or was cut "
            "short by the client.",
    "framing": "An application/octet-stream body is a JSON part, whose length is the "
               "Inference-Header-Content-Length header, then the bytes of its binary arrays in "
               "the order they appear: the header is missing or past the end of the body, or "
               "the arrays' binary_data_size do not add up to the bytes after the JSON part.",
    "unknown-function": "No program with this id is registered on this server; send the "
                        "program text inline or register it first.",
    "not-found": "No such route.",
    "method-not-allowed": "The route exists with other methods; see the Allow header.",
    "payload-too-large": "The body is over max_body_bytes.",
    "unsupported-media-type": "Send Content-Type: application/json (or, for an operation, "
                              "application/octet-stream with a framed binary body).",
    "overloaded": "Every compute slot is busy (or memory is short); retry after the "
                  "Retry-After seconds.",
    "unauthorized": "This server needs an API key: 'Authorization: Bearer <key>' or "
                    "'X-API-Key: <key>'.",
    "rate-limited": "Over the per-key rate limit (`limit` rate_limit, `value` requests per "
                    "second); retry after the Retry-After seconds.",
    "request-timeout": "The body did not arrive within body_timeout_s; send it faster.",
    "store-unavailable": "The function store cannot be read or written (a locked or damaged "
                         "database, or PostgreSQL out of reach); retry after Retry-After, or "
                         "send the program inline.",
    "internal": "A bug in Nabla. Please report it with the request.",
    "bad-request": "The load balancer could not read the HTTP request (its request line, "
                   "headers or transfer coding).",
    "headers-too-large": "A header line over 8 KiB, or all headers together over 32 KiB, "
                         "refused by the load balancer.",
    "uri-too-long": "The request line is over 8 KiB, refused by the load balancer.",
    "replica-unavailable": "The load balancer found no replica that answered (all down or "
                           "restarting); retry after Retry-After.",
}
_HTTP_KINDS = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large",
               415: "unsupported-media-type", 503: "overloaded", 401: "unauthorized",
               408: "request-timeout", 429: "rate-limited"}


class ProblemException(Exception):
    """An error the service raises itself, answered as a problem."""

    def __init__(self, status: int, kind: str, detail: str, *,
                 headers: Mapping[str, str] | None = None, **extensions: Any):
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = extensions


def one_line(text: str) -> str:
    """SPEC §2.5: a one-line message. Details can quote client text (an unknown id, say);
    control characters are shown escaped, never as line breaks."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def problem(status: int, kind: str, detail: str, instance: str | None = None,
            headers: Mapping[str, str] | None = None, **extensions: Any) -> Response:
    body = {"type": f"/problems/{kind}", "title": TITLES.get(kind, kind), "status": status,
            "detail": one_line(detail), "kind": kind}
    if instance is not None:
        body["instance"] = instance
    body.update({k: v for k, v in extensions.items() if v is not None})
    return Response(orjson.dumps(body), status_code=status, media_type=MEDIA_TYPE,
                    headers=dict(headers or {}))


def from_program_error(err: ProgramError, instance: str | None = None) -> Response:
    extra: dict[str, Any] = {"line": err.line, "column": err.column, "excerpt": err.excerpt,
                             "hint": err.hint}
    if isinstance(err, LimitExceededError):
        extra.update(limit=err.limit or None, value=err.value)
    return problem(err.status, err.kind, err.message, instance, **extra)


def validation_errors(errors: list[Any]) -> list[dict[str, Any]]:
    """Pydantic's errors without `input` (which can echo megabytes) or `ctx` objects."""
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in errors]


def overloaded(retry_after: int) -> ProblemException:
    return ProblemException(503, "overloaded", "every compute slot is busy; retry shortly",
                            headers={"Retry-After": str(retry_after)})


def install(app: FastAPI) -> None:
    """Route every error, ours and the framework's, to a problem+json response."""

    async def on_program_error(request: Request, err: Exception) -> Response:
        assert isinstance(err, ProgramError)
        return from_program_error(err, request.url.path)

    async def on_problem(request: Request, err: Exception) -> Response:
        assert isinstance(err, ProblemException)
        return problem(err.status, err.kind, err.detail, request.url.path, err.headers,
                       **err.extensions)

    async def on_validation(request: Request, err: Exception) -> Response:
        assert isinstance(err, RequestValidationError | ValidationError)
        errors = validation_errors(list(err.errors()))
        first = errors[0] if errors else {"loc": [], "msg": "invalid"}
        where = ".".join(str(p) for p in first["loc"] if p != "body") or "body"
        return problem(422, "validation", f"{where}: {first['msg']}", request.url.path,
                       errors=errors)

    async def on_http(request: Request, err: Exception) -> Response:
        assert isinstance(err, StarletteHTTPException)
        kind = _HTTP_KINDS.get(err.status_code, "http")
        detail = err.detail if isinstance(err.detail, str) else str(err.detail)
        if err.status_code == 404 and detail == "Not Found":
            detail = f"no route {request.method} {request.url.path}"
        return problem(err.status_code, kind, detail, request.url.path, err.headers)

    async def on_memory(request: Request, err: Exception) -> Response:
        # The static estimates keep single requests within limits, but several large ones at
        # once can still exhaust memory: that is overload, not a bug.
        log.warning("out of memory on %s %s", request.method, request.url.path)
        retry = request.app.state.nabla.settings.retry_after_s
        return problem(503, "overloaded", "not enough memory for this request right now; "
                       "retry shortly", request.url.path, {"Retry-After": str(retry)})

    async def on_bug(request: Request, err: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal", f"{type(err).__name__}: this is a bug in Nabla",
                       request.url.path)

    app.add_exception_handler(ProgramError, on_program_error)
    app.add_exception_handler(ProblemException, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(ValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(MemoryError, on_memory)
    app.add_exception_handler(Exception, on_bug)
