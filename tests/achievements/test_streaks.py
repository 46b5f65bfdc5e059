"""Streaks (SPEC section 15) on dated histories, in process against the real Postgres and Redis:
month and year ends, a one-day gap, a streak alive yesterday but not today, a day whose only
points a rescore takes away, an exclusion, a late event and a zero-point day. Each is checked
against tests/achievements/oracle.py (plain Python over the published events) and, for the
first ones, against the dates written out by hand."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from scoring import ingest
from scoring.achievements.services import achievements_award
from scoring.exclusions import contributor_exclude, contributor_include
from scoring.models import Contributor
from tests.achievements import oracle
from tests.achievements.events import at, contributions, history, span, wire
from tests.clock import START

pytestmark = pytest.mark.usefixtures("ready_boards")

TODAY = START.date()
D = TODAY


def logged(messages: list[bytes]):
    events = contributions(messages)
    ingest.batch_ingest(contributions=events)
    return events


def streaks_of(client, user: int) -> dict:
    response = client.get(f"/v1/contributors/{user}")
    assert response.status_code == 200, response.content
    return response.json()["streaks"]


def test_month_and_year_ends_and_a_streak_alive_yesterday(client):
    year_end = span(date(2025, 12, 29), date(2026, 1, 2))
    month_end = span(date(2026, 2, 27), date(2026, 3, 2))  # 2026 is not a leap year: Feb 28 then Mar 1
    recent = [D - timedelta(days=2), D - timedelta(days=1)]
    events = logged(history(11, year_end + month_end + recent))
    achievements_award()
    body = streaks_of(client, 11)
    assert body == {
        "current": {"days": 2, "start": recent[0].isoformat(), "end": recent[1].isoformat()},
        "longest": {"days": 5, "start": "2025-12-29", "end": "2026-01-02"},
    }
    assert body == oracle.streaks(events, 11, TODAY)


def test_a_gap_of_one_day_breaks_a_streak_and_of_equal_ones_the_latest_is_the_longest(client):
    days = [D - timedelta(days=4), D - timedelta(days=3), D - timedelta(days=1), D]
    events = logged(history(12, days))
    achievements_award()
    body = streaks_of(client, 12)
    assert body == {
        "current": {"days": 2, "start": days[2].isoformat(), "end": days[3].isoformat()},
        "longest": {"days": 2, "start": days[2].isoformat(), "end": days[3].isoformat()},
    }
    assert body == oracle.streaks(events, 12, TODAY)


def test_a_streak_that_ended_two_days_ago_is_no_current_streak(client):
    days = span(D - timedelta(days=6), D - timedelta(days=2))
    events = logged(history(13, days))
    achievements_award()
    body = streaks_of(client, 13)
    assert body == {"current": None, "longest": {"days": 5, "start": days[0].isoformat(), "end": days[-1].isoformat()}}
    assert body == oracle.streaks(events, 13, TODAY)


def test_a_zero_point_day_is_no_streak_day_and_a_late_event_joins_two_streaks(client):
    gap = D - timedelta(days=3)
    messages = history(14, [D - timedelta(days=5), D - timedelta(days=4), D - timedelta(days=2)])
    messages.append(wire("closed-unmerged", "unmerged", 14, at(gap)))  # logged, worth 0
    events = logged(messages)
    achievements_award()
    assert streaks_of(client, 14) == oracle.streaks(events, 14, TODAY)
    assert streaks_of(client, 14)["longest"]["days"] == 2
    assert streaks_of(client, 14)["current"] is None

    late = logged([wire("late-push", "push", 14, at(gap))])  # a late event on the gap
    achievements_award()
    body = streaks_of(client, 14)
    assert body == oracle.streaks(events + late, 14, TODAY)
    first, last = (D - timedelta(days=5)).isoformat(), (D - timedelta(days=2)).isoformat()
    assert body["longest"] == {"days": 4, "start": first, "end": last}


def test_an_excluded_contributor_has_no_profile_and_comes_back_with_its_streak(client):
    days = span(D - timedelta(days=3), D)
    events = logged(history(15, days) + history(16, days[1:]))
    achievements_award()
    contributor_exclude(Contributor.objects.get(id=15), reason="staff")
    achievements_award()
    assert client.get("/v1/contributors/15").status_code == 404
    assert client.get("/v1/contributors/user15").status_code == 404
    assert streaks_of(client, 16) == oracle.streaks(events, 16, TODAY)  # the others' unchanged
    contributor_include(Contributor.objects.get(id=15))
    achievements_award()
    assert streaks_of(client, 15) == oracle.streaks(events, 15, TODAY)
    assert streaks_of(client, 15)["current"]["days"] == 4


def test_a_day_whose_only_points_a_rescore_takes_away_is_no_longer_a_streak_day(client, settings):
    from scoring.maintenance.rescore import rules_rescore
    from scoring.rules import versions

    days = span(D - timedelta(days=4), D - timedelta(days=1))
    messages = history(17, [days[0], days[1], days[3]])
    messages += history(17, [days[2]], kind="comment")  # that day's only points: a comment
    events = logged(messages)
    achievements_award()
    assert streaks_of(client, 17)["current"] == {"days": 4, "start": days[0].isoformat(), "end": days[3].isoformat()}

    versions.rules_ensure()
    settings.SCORING = {**settings.SCORING, "issue_commented": 0}
    rules_rescore()
    body = streaks_of(client, 17)
    table = {"issue_commented": 0}
    assert body == oracle.streaks(events, 17, TODAY, table)
    assert body == {
        "current": {"days": 1, "start": days[3].isoformat(), "end": days[3].isoformat()},
        "longest": {"days": 2, "start": days[0].isoformat(), "end": days[1].isoformat()},
    }


def test_the_openapi_document_declares_the_fields(client):
    document = client.get("/v1/schema", HTTP_ACCEPT="application/json").json()
    schemas = document["components"]["schemas"]
    contributor = schemas["Contributor"]["properties"]
    assert {"streaks", "achievements"} <= set(contributor)
    assert set(schemas["Streaks"]["properties"]) == {"current", "longest"}
    assert set(schemas["Streak"]["properties"]) == {"days", "start", "end"}
    assert set(schemas["Achievement"]["properties"]) == {"code", "title", "earned_at", "event_id", "result", "revoked"}
    assert schemas["CodeEnum"]["enum"] == [
        "first_scored_event",
        "first_merged_pull_request",
        "merged_pull_requests_10",
        "merged_pull_requests_100",
        "merged_pull_requests_1000",
        "reviews_10",
        "reviews_100",
        "streak_7",
        "streak_30",
        "streak_100",
        "first_weekly",
        "first_monthly",
        "first_yearly",
        "top_10_all_time",
    ]
