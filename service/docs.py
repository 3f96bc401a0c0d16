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


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries: each status answers with a problem+json body."""
    content = {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}}
    return {status: {"description": _DESCRIPTIONS.get(status, "problem"), "content": content}
            for status in statuses}


_DESCRIPTIONS = {
    400: "malformed JSON (including a repeated key), or a request that does not fit the "
         "program (kind `request`)",
    401: "API keys are configured and none valid was sent (kind `unauthorized`)",
    404: "unknown function id (kind `unknown-function`)",
    408: "the body did not arrive within body_timeout_s (kind `request-timeout`)",
    413: "body over max_body_bytes",
    415: "Content-Type is not application/json",
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
