"""The OpenAPI document, and schemathesis driving every documented operation through it.

Schemathesis generates valid and invalid requests from `/v1/schema` and sends them to the
WSGI app (the real Redis and Postgres behind it); none may be a 5xx, every answer must match
its documented status and schema, and invalid input must be refused.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from scoring import ingest
from scoring.boards import Timeframe, board_key
from tests.builders import pushes

ENDPOINTS = {
    "/v1/leaderboard/public": {"timeframe", "period", "project_id", "limit", "offset"},
    "/v1/leaderboard/users/{user_id}": {"user_id", "timeframe", "period", "project_id", "around"},
    "/v1/users/{user_id}/events": {"user_id", "timeframe", "period", "project_id", "limit", "cursor"},
    "/v1/projects": {"limit", "offset"},
    "/v1/contributors/{contributor}": {"contributor"},
    "/v1/health-check": set(),
    "/v1/rules": set(),
    "/v1/badges/{contributor}": {"contributor", "timeframe"},
    "/v1/results": {"timeframe", "period", "project_id", "limit", "offset"},
    "/v1/stream": {"timeframe", "period", "project_id", "Last-Event-ID"},
}


def test_the_document_describes_every_endpoint_parameter_and_response(client):
    response = client.get("/v1/schema", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert set(ENDPOINTS) <= set(document["paths"])
    for path, names in ENDPOINTS.items():
        operation = document["paths"][path]["get"]
        assert {p["name"] for p in operation.get("parameters", [])} == names, path
        assert all(p.get("description") for p in operation.get("parameters", [])), path
        assert "200" in operation["responses"]
        if names:
            assert "400" in operation["responses"], path
            assert "503" in operation["responses"], path
    standing = document["paths"]["/v1/leaderboard/users/{user_id}"]["get"]["responses"]
    assert "404" in standing
    assert "404" in document["paths"]["/v1/contributors/{contributor}"]["get"]["responses"]
    schemas = document["components"]["schemas"]
    for component in ("BoardRow", "UserStanding", "UserEvents"):
        assert {"login", "avatar_url"} <= set(schemas[component]["properties"]), component
        assert schemas[component]["properties"]["login"]["nullable"] is True, component
    limit = next(p for p in document["paths"]["/v1/leaderboard/public"]["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}


@pytest.fixture
def api_schema(ready_boards):
    """The live document, over a small history (so that reads find users, ties and events)."""
    at = datetime(2026, 3, 2, 10, tzinfo=UTC)
    events = []
    for user, score in {1: 5, 2: 5, 3: 5, 4: 2, 5: 9}.items():
        events += pushes("s", user, score, at)
    ingest.batch_ingest(contributions=events)
    ready_boards.zadd(board_key(0, Timeframe.ALL_TIME, "all"), {"6": 1})
    return schemathesis.openapi.from_wsgi("/v1/schema", get_wsgi_application())


# schemathesis.pytest.from_fixture does not run under pytest 9 (it sets a node attribute pytest
# no longer has), so each operation's strategies are driven with Hypothesis here directly.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda mode: mode.value)
def test_generated_requests_get_no_5xx_and_match_the_document(api_schema, mode):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {operation.path for operation in operations} >= set(ENDPOINTS)
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and not ENDPOINTS[operation.path]:
            continue  # no parameter to get wrong

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def exercise(case):
            case.call_and_validate(checks=CHECKS)

        exercise()
