"""openapi/openapi.json is the app's document (regenerate with `make openapi`), and valid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import adcore
from service.export_openapi import document, render

COMMITTED = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


def test_committed_document_is_in_sync_with_the_app() -> None:
    assert COMMITTED.read_text() == render(), "run `make openapi` and commit the result"


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in refs(value)]
    return []


def test_document_is_valid_openapi() -> None:
    spec = document()
    assert spec["openapi"].startswith("3.")
    schemas = spec["components"]["schemas"]
    for ref in refs(spec):  # every reference resolves
        assert ref.startswith("#/components/schemas/") and ref.split("/")[-1] in schemas, ref
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            assert operation["responses"], (path, method)
            assert operation.get("summary"), (path, method)
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(json.loads(COMMITTED.read_text()))


def test_document_covers_spec_section_4() -> None:
    paths = document()["paths"]
    for operation in adcore.OPERATIONS:
        post = paths[f"/v1/{operation}"]["post"]
        body = post["requestBody"]["content"]["application/json"]
        assert body["schema"] == {"$ref": "#/components/schemas/DerivativeRequest"}
        assert body["examples"]
        for status in ("400", "404", "413", "415", "422", "503"):
            assert "application/problem+json" in post["responses"][status]["content"]
    assert {"/v1/functions", "/v1/functions/{function_id}", "/healthz", "/v1/limits",
            "/v1/cache", "/metrics"} <= set(paths)
    assert paths["/v1/functions"]["post"]["responses"]["201"]
