"""schemathesis against the exported OpenAPI document (openapi/openapi.json) on a real uvicorn
on loopback: schema-valid and schema-violating requests for every operation.

Checks on every answer: no server error, a documented status code, a documented content
type, a body that matches the documented schema (problems included), documented headers, and
schema-violating requests refused with a 4xx. `MAX_EXAMPLES` per operation bounds the run: a
few thousand requests in all, well under 90 s.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import checks

from tests.servers import uvicorn_server
from tests.test_hostile_corpus import five_hundreds

DOCUMENT = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"
MAX_EXAMPLES = 120  # per operation: 16 operations, about 3,000 requests
CHECKS = [checks.not_a_server_error, checks.status_code_conformance,
          checks.content_type_conformance, checks.response_schema_conformance,
          checks.response_headers_conformance, checks.negative_data_rejection]
REQUESTS: Counter[str] = Counter()
STATUSES: Counter[int] = Counter()

schema = schemathesis.openapi.from_path(DOCUMENT)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with uvicorn_server(tmp_path_factory.mktemp("schemathesis") / "data",
                        {"max_concurrent": 4}) as (base, _):
        yield base


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
          phases=[Phase.explicit, Phase.generate, Phase.shrink],
          suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_to_the_document(case: Any, server: str) -> None:
    response = case.call(base_url=server, timeout=60)
    REQUESTS[case.operation.label] += 1
    STATUSES[response.status_code] += 1
    case.validate_response(response, checks=CHECKS)


def test_schemathesis_ran_thousands_of_requests_and_saw_no_server_error(server: str) -> None:
    import httpx

    total = sum(REQUESTS.values())
    print(f"\nschemathesis: {total} requests over {len(REQUESTS)} operations; "
          f"statuses {dict(sorted(STATUSES.items()))}")
    assert len(REQUESTS) == len(list(schema.get_all_operations()))
    assert total >= 2000
    assert not any(status >= 500 for status in STATUSES)
    assert five_hundreds(httpx.get(f"{server}/metrics").text) == []
