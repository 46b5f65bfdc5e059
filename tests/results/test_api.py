"""GET /v1/results: one result, the latest paginated, 404 with the time a period becomes final;
exact bodies."""

from datetime import timedelta

import pytest

from scoring import ingest
from scoring.boards import midnight
from scoring.models import Contributor
from scoring.results.finalize import results_finalize
from scoring.results.models import PeriodResult
from tests.builders import pushes
from tests.clock import START

pytestmark = pytest.mark.usefixtures("ready_boards")
TODAY = midnight(START.date())
D1, D2 = TODAY - timedelta(days=2), TODAY - timedelta(days=1)


@pytest.fixture
def recorded(settings, clock):
    settings.RESULTS_GRACE_SECONDS = 3600
    Contributor.objects.create(id=2, login="octocat", avatar_url="https://a.example/2.png")
    ingest.batch_ingest(
        contributions=[
            *pushes("a", 1, 12, D1, project=7),
            *pushes("b", 2, 30, D1, project=7),
            *pushes("c", 1, 5, D2, project=8),
        ]
    )
    clock.set(TODAY + timedelta(hours=2))
    results_finalize(now=clock.now())
    return {r.period: r for r in PeriodResult.objects.filter(timeframe="daily", project_id=0)}


def iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


def test_one_result(client, recorded):
    day = D1.date().isoformat()
    result = recorded[day]
    answer = client.get(f"/v1/results?timeframe=daily&period={day}")
    assert answer.status_code == 200
    assert answer.json() == {
        "timeframe": "daily",
        "period": day,
        "project_id": None,
        "id": result.id,
        "final_at": iso(D2 + timedelta(hours=1)),
        "recorded_at": iso(result.recorded_at),
        "rules_version": 1,
        "members": 2,
        "total_points": 42,
        "late_events": 0,
        "top": [
            {"rank": 1, "user_id": "2", "score": 30, "login": "octocat", "avatar_url": "https://a.example/2.png"},
            {"rank": 2, "user_id": "1", "score": 12, "login": None, "avatar_url": None},
        ],
    }
    project = client.get(f"/v1/results?timeframe=daily&period={day}&project_id=7").json()
    assert (project["project_id"], project["members"], project["total_points"]) == (7, 2, 42)


def test_the_latest_results_newest_first_paginated(client, recorded):
    first = client.get("/v1/results?timeframe=daily&limit=1")
    assert first.status_code == 200
    body = first.json()
    assert [r["period"] for r in body["results"]] == [D2.date().isoformat()]
    assert {k: body[k] for k in ("timeframe", "project_id", "total", "limit", "offset", "previous")} == {
        "timeframe": "daily",
        "project_id": None,
        "total": 2,
        "limit": 1,
        "offset": 0,
        "previous": None,
    }
    assert body["next"] == "http://testserver/v1/results?timeframe=daily&limit=1&offset=1"
    second = client.get(body["next"]).json()
    assert [r["period"] for r in second["results"]] == [D1.date().isoformat()]
    assert (second["next"], second["previous"]) == (
        None,
        "http://testserver/v1/results?timeframe=daily&limit=1&offset=0",
    )
    every = client.get("/v1/results?project_id=8").json()
    assert {(r["timeframe"], r["period"]) for r in every["results"]} >= {("daily", D2.date().isoformat())}


def test_a_period_not_final_is_a_404_with_the_time_it_becomes_final(client, recorded):
    day, final = TODAY.date().isoformat(), iso(TODAY + timedelta(days=1, hours=1))
    answer = client.get(f"/v1/results?timeframe=daily&period={day}")
    assert answer.status_code == 404
    assert answer.json() == {
        "error": {
            "code": "not_found",
            "message": f"this period is not final yet: its result is recorded after {final}",
            "details": {
                "timeframe": "daily",
                "period": day,
                "project_id": None,
                "final_at": final,
            },
        }
    }
    empty = client.get(f"/v1/results?timeframe=daily&period={D1.date().isoformat()}&project_id=99")
    assert empty.status_code == 404 and empty.json()["error"]["message"].startswith("no result")


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("timeframe=all_time", "timeframe"),
        ("period=2026-01-01", "timeframe"),
        ("timeframe=daily&period=2026-13-01", "period"),
        ("timeframe=daily&limit=0", "limit"),
        ("timeframe=daily&colour=red", "colour"),
    ],
)
def test_a_bad_query_is_a_400_naming_the_parameter(client, query, param):
    answer = client.get(f"/v1/results?{query}")
    assert answer.status_code == 400
    assert param in answer.json()["error"]["details"]


def test_the_openapi_document_declares_the_endpoint(client):
    document = client.get("/v1/schema?format=json").json()
    operation = document["paths"]["/v1/results"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"timeframe", "period", "project_id", "limit", "offset"}
    assert set(operation["responses"]) >= {"200", "400", "404"}
    assert "PeriodResult" in document["components"]["schemas"]
