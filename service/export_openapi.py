"""Print the OpenAPI document of the app (`make openapi` writes it to openapi/openapi.json;
a test fails when the committed file drifts from the app)."""

from __future__ import annotations

import json
import sys
from typing import Any

from .main import create_app
from .settings import Settings


def document() -> dict[str, Any]:
    return create_app(Settings()).openapi()  # settings change limits, never the document


def render() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
