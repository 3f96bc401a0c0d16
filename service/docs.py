"""OpenAPI pieces FastAPI cannot infer here: the routes read raw bodies (see `deps.py`), so
their request schemas and /docs examples are declared with `openapi_extra`, and the models
they reference are added to the document's components."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .framing import HEADER_LENGTH, OCTET_STREAM
from .schemas import DerivativeRequest, DeriveRequest, FunctionCreate, Problem

REF = "#/components/schemas/{model}"
BODY_MODELS: tuple[type[BaseModel], ...] = (DerivativeRequest, DeriveRequest, FunctionCreate,
                                            Problem)


def request_body(model: type[BaseModel], examples: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": {"$ref": REF.format(model=model.__name__)}}
    if examples:
        media["examples"] = examples
    return {"requestBody": {"required": True, "content": {"application/json": media}}}


FRAMED = ("A JSON part (an operation's body, its arrays as array objects with `\"data\": "
          "{\"encoding\": \"binary\", \"binary_data_size\": n}`), then the raw little-"
          "endian C-order bytes of those arrays back to back, in the order they appear in the "
          "JSON text (the Open Inference Protocol's binary tensor extension). The header "
          f"`{HEADER_LENGTH}` gives the JSON part's length in bytes.")


def operation_request_body(model: type[BaseModel], examples: dict[str, Any]
                           ) -> dict[str, Any]:
    """An operation's body: JSON (arrays as lists or array objects), or framed binary."""
    body = request_body(model, examples)
    body["requestBody"]["content"][OCTET_STREAM] = {
        "schema": {"type": "string", "format": "binary", "description": FRAMED}}
    body["parameters"] = [{
        "name": HEADER_LENGTH, "in": "header", "required": False,
        "schema": {"type": "integer", "minimum": 0},
        "description": "with Content-Type application/octet-stream: the length in bytes of "
                       "the JSON part, which the binary arrays follow"}]
    return body


def answers() -> dict[int | str, dict[str, Any]]:
    """The framed binary form of an operation's 200 answer (its JSON forms come from the
    response model)."""
    return {200: {"description": "the results; arrays as nested lists, as base64 array objects "
                                 "(`Accept: application/json+base64` or `\"arrays\": "
                                 "\"base64\"`), or framed binary (`Accept: application/octet-"
                                 "stream` or `\"arrays\": \"binary\"`)",
                  "content": {OCTET_STREAM: {"schema": {
                      "type": "string", "format": "binary",
                      "description": FRAMED + " The answer is padded with spaces to a multiple "
                                     "of 8 bytes, and each array names its "
                                     "`binary_data_offset`."}}}}}


FUNCTION_HEADER = {
    "name": "Nabla-Function", "in": "header", "required": False, "schema": {"type": "string"},
    "description": "The function id this request uses, for a load balancer to hash on (keeps "
                   "each function's compiled kernels on one replica). A routing hint only: the "
                   "server reads the id from the body or path and ignores this header."}


def with_function_header(extra: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra` of a route that takes a function id, documenting the header."""
    return {**extra, "parameters": [*extra.get("parameters", []), FUNCTION_HEADER]}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries: each status answers with a problem+json body."""
    content = {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}}
    return {status: {"description": _DESCRIPTIONS.get(status, "problem"), "content": content}
            for status in statuses}


_DESCRIPTIONS = {
    400: "malformed JSON (including a repeated key), a binary body whose framing does not add "
         "up (kind `framing`), or a request that does not fit the program (kind `request`)",
    401: "API keys are configured and none valid was sent (kind `unauthorized`)",
    404: "unknown function id (kind `unknown-function`)",
    408: "the body did not arrive within body_timeout_s (kind `request-timeout`)",
    413: "body over max_body_bytes",
    415: "Content-Type is not application/json (nor, for an operation, application/octet-"
         "stream with a framed binary body)",
    422: "program error (syntax, name, type, shape), over a limit (kind `limit`), "
         "or a body that does not match the schema (kind `validation`)",
    429: "over the per-key rate limit; retry after Retry-After seconds (kind `rate-limited`)",
    503: "every compute slot is busy, or the function store is unavailable; retry after "
         "Retry-After seconds",
}


def install(app: FastAPI, models: Sequence[type[BaseModel]] = BODY_MODELS) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes,
                                 tags=app.openapi_tags)
            _, defs = models_json_schema([(m, "validation") for m in models],
                                         ref_template=REF)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, definition in defs.get("$defs", {}).items():
                components.setdefault(name, definition)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
