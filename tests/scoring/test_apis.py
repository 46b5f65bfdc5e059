"""The query API through HTTP, against the real Redis and Postgres.

Tests that only read boards from Redis use no database fixture at all: pytest-django then
refuses any query, which proves the board read path never touches Postgres.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from urllib import parse

import pytest
from django.contrib.staticfiles import finders
from django.db import connection

from scoring import ingest
from scoring.boards import Timeframe, board_key, period_of
from tests.builders import pushes, zero_point
from tests.clock import START
from tests.fixtures import refused_port

PUBLIC = "/v1/leaderboard/public"
ALL_TIME_KEY = board_key(0, Timeframe.ALL_TIME, "all")
TIMEFRAMES = "all_time, yearly, monthly, weekly, daily"


def row(rank: int, user: int, score: int, login: str | None = None, avatar_url: str | None = None) -> dict:
    return {"rank": rank, "user_id": str(user), "score": score, "login": login, "avatar_url": avatar_url}


def link(path: str, **query: object) -> str:
    return "http://testserver" + path + "?" + "&".join(f"{k}={v}" for k, v in query.items())


def invalid(name: str, message: str) -> dict:
    return {
        "error": {
            "code": "invalid_parameter",
            "message": f"invalid parameter {name}: {message}",
            "details": {name: [message]},
        }
    }


@pytest.fixture
def ties(live_boards, db):
    """30, then a three-way tie at 20 across the first page boundary (limit 2), then 10."""
    live_boards.zadd(ALL_TIME_KEY, {"1": 30, "2": 20, "3": 20, "4": 20, "5": 10})
    return live_boards


# ---- the board page


def test_top_page_with_defaults(client, ties):
    response = client.get(PUBLIC)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "public, max-age=5"
    assert response.json() == {
        "timeframe": "all_time",
        "period": "all",
        "project_id": None,
        "total": 5,
        "limit": 50,
        "offset": 0,
        "next": None,
        "previous": None,
        "results": [row(1, 1, 30), row(2, 4, 20), row(2, 3, 20), row(2, 2, 20), row(5, 5, 10)],
    }


def test_pages_across_a_three_way_tie(client, ties):
    first = client.get(PUBLIC, {"limit": 2}).json()
    second = client.get(first["next"]).json()
    third = client.get(second["next"]).json()
    assert first["results"] == [row(1, 1, 30), row(2, 4, 20)]
    assert second == {
        "timeframe": "all_time",
        "period": "all",
        "project_id": None,
        "total": 5,
        "limit": 2,
        "offset": 2,
        "next": link(PUBLIC, timeframe="all_time", period="all", limit=2, offset=4),
        "previous": link(PUBLIC, timeframe="all_time", period="all", limit=2, offset=0),
        "results": [row(2, 3, 20), row(2, 2, 20)],
    }
    assert third["results"] == [row(5, 5, 10)]
    assert third["next"] is None
    assert client.get(third["previous"]).json() == second


def test_page_starting_inside_a_tie(client, ties):
    body = client.get(PUBLIC, {"offset": 3, "limit": 1}).json()
    assert body["results"] == [row(2, 2, 20)]


def test_past_the_end_and_empty_boards(client, ties):
    body = client.get(PUBLIC, {"offset": 10, "limit": 2}).json()
    assert (body["total"], body["results"], body["next"]) == (5, [], None)
    assert body["previous"] == link(PUBLIC, timeframe="all_time", period="all", limit=2, offset=3)
    empty = client.get(PUBLIC, {"project_id": 99})
    assert empty.status_code == 200
    assert empty.json() == {
        "timeframe": "all_time",
        "period": "all",
        "project_id": 99,
        "total": 0,
        "limit": 50,
        "offset": 0,
        "next": None,
        "previous": None,
        "results": [],
    }


def test_a_project_board(client, live_boards, db):
    # a yearly board: never past its retention, so this reads Redis whatever the date
    live_boards.zadd(board_key(7, Timeframe.YEARLY, "2026"), {"9": 3, "10": 3, "100": 1})
    body = client.get(PUBLIC, {"project_id": 7, "timeframe": "yearly", "period": "2026", "limit": 2}).json()
    assert body["project_id"] == 7
    assert body["results"] == [row(1, 9, 3), row(1, 10, 3)]  # "9" > "10" byte-wise
    assert body["next"] == link(PUBLIC, timeframe="yearly", period="2026", project_id=7, limit=2, offset=2)


# ---- one user's standing


def test_standing(client, ties):
    response = client.get("/v1/leaderboard/users/3")
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=5"
    assert response.json() == {
        "user_id": "3",
        "login": None,
        "avatar_url": None,
        "rank": 2,
        "score": 20,
        "total": 5,
        "timeframe": "all_time",
        "period": "all",
        "project_id": None,
    }


def test_around_me_at_the_top_middle_and_bottom(client, ties):
    top = client.get("/v1/leaderboard/users/1", {"around": 2}).json()
    assert top["around"] == [row(1, 1, 30), row(2, 4, 20), row(2, 3, 20)]
    middle = client.get("/v1/leaderboard/users/3", {"around": 1}).json()
    assert middle["around"] == [row(2, 4, 20), row(2, 3, 20), row(2, 2, 20)]
    bottom = client.get("/v1/leaderboard/users/5", {"around": 50}).json()
    assert bottom == {
        "user_id": "5",
        "login": None,
        "avatar_url": None,
        "rank": 5,
        "score": 10,
        "total": 5,
        "timeframe": "all_time",
        "period": "all",
        "project_id": None,
        "around": [row(1, 1, 30), row(2, 4, 20), row(2, 3, 20), row(2, 2, 20), row(5, 5, 10)],
    }
    assert client.get("/v1/leaderboard/users/2", {"around": 0}).json()["around"] == [row(2, 2, 20)]


def test_not_on_the_board_is_a_404(client, ties):
    response = client.get("/v1/leaderboard/users/6", {"timeframe": "yearly", "period": "2026"})
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "code": "not_found",
            "message": "user 6 is not on this board",
            "details": {"user_id": "6", "timeframe": "yearly", "period": "2026", "project_id": None},
        }
    }
    assert client.get("/v1/leaderboard/users/1", {"project_id": 5}).status_code == 404


def test_unknown_paths_and_methods_are_json(client, redis_client):
    response = client.get("/v1/leaderboard")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "no such endpoint: /v1/leaderboard", "details": {}}
    }
    assert client.get("/v1/leaderboard/users/").status_code == 404
    response = client.post(PUBLIC)
    assert response.status_code == 405
    assert response.json() == {
        "error": {"code": "method_not_allowed", "message": 'Method "POST" not allowed.', "details": {}}
    }


# ---- periods


@pytest.mark.parametrize("timeframe", list(Timeframe))
def test_the_default_period_is_the_current_one(client, ready_boards, timeframe, clock):
    now = clock.now()
    ingest.batch_ingest(contributions=pushes("now", 31, 4, now))
    body = client.get(PUBLIC, {"timeframe": timeframe.value}).json()
    assert body["period"] == period_of(timeframe, now)
    assert body["results"] == [row(1, 31, 4)]


@pytest.mark.parametrize(
    ("timeframe", "period", "score"),
    [
        ("all_time", "all", 5),
        ("yearly", "2025", 3),
        ("yearly", "2026", 2),
        ("monthly", "2025-12", 3),
        ("monthly", "2026-01", 2),
        # 2025-12-30 and 2026-01-01 both lie in ISO week 1 of ISO year 2026
        ("weekly", "2026-W01", 5),
        ("daily", "2025-12-30", 3),
        ("daily", "2026-01-01", 2),
    ],
)
def test_every_timeframe_reads_its_period(client, ready_boards, timeframe, period, score):
    ingest.batch_ingest(
        contributions=[
            *pushes("a", 77, 3, datetime(2025, 12, 30, 23, 30, tzinfo=UTC)),
            *pushes("b", 77, 2, datetime(2026, 1, 1, 0, 0, tzinfo=UTC)),
        ]
    )
    response = client.get(PUBLIC, {"timeframe": timeframe, "period": period})
    assert response.status_code == 200
    assert response.json()["results"] == [row(1, 77, score)]
    assert response.json()["period"] == period


@pytest.mark.parametrize(
    ("timeframe", "period"),
    [
        ("weekly", "2025-W52"),
        ("weekly", "2025-W01"),
        ("weekly", "2026-W53"),  # ISO year 2026 has 53 weeks
        ("daily", "2025-12-31"),
        ("daily", "9999-12-30"),  # the last period that ends within the calendar
        ("weekly", "0001-W01"),  # long past: answered from the event log
    ],
)
def test_periods_without_events_are_empty(client, ready_boards, timeframe, period):
    ingest.batch_ingest(contributions=pushes("a", 77, 3, datetime(2025, 12, 30, 23, 30, tzinfo=UTC)))
    body = client.get(PUBLIC, {"timeframe": timeframe, "period": period}).json()
    assert (body["total"], body["results"]) == (0, [])


def test_iso_week_one_belongs_to_the_next_iso_year():
    assert period_of(Timeframe.WEEKLY, date(2025, 12, 30)) == "2026-W01"
    assert period_of(Timeframe.WEEKLY, date(2027, 1, 3)) == "2026-W53"


def test_an_expired_period_answers_from_the_event_log_with_the_same_bodies(client, ready_boards, settings):
    when = START - timedelta(days=10)
    events = []
    for user, score in {9: 8, 11: 8, 100: 8, 3: 5, 10: 5, 1: 2}.items():
        events += pushes("p", user, score, when)
    events.append(zero_point("z", 4, when))
    ingest.batch_ingest(contributions=events)
    period = period_of(Timeframe.DAILY, when)
    urls = [
        (PUBLIC, {"timeframe": "daily", "period": period}),
        (PUBLIC, {"timeframe": "daily", "period": period, "limit": 2, "offset": 1}),
        (PUBLIC, {"timeframe": "daily", "period": period, "project_id": 7, "limit": 2, "offset": 4}),
        (PUBLIC, {"timeframe": "daily", "period": period, "offset": 9}),
        ("/v1/leaderboard/users/100", {"timeframe": "daily", "period": period, "around": 2}),
        ("/v1/leaderboard/users/1", {"timeframe": "daily", "period": period, "around": 1}),
        ("/v1/leaderboard/users/4", {"timeframe": "daily", "period": period}),
    ]
    from_redis = [client.get(url, query) for url, query in urls]
    assert from_redis[0].json()["results"] == [
        row(1, 9, 8),
        row(1, 11, 8),
        row(1, 100, 8),
        row(4, 3, 5),
        row(4, 10, 5),
        row(6, 1, 2),
    ]
    assert from_redis[0]["Cache-Control"] == "public, max-age=3600"  # a closed period

    settings.BOARD_RETENTION_DAYS = {"daily": 1, "weekly": 91, "monthly": 400}
    ready_boards.delete(board_key(0, Timeframe.DAILY, period), board_key(7, Timeframe.DAILY, period))
    for (url, query), before in zip(urls, from_redis, strict=True):
        after = client.get(url, query)
        assert (after.status_code, after.json()) == (before.status_code, before.json()), (url, query)
        assert after.get("Cache-Control") == before.get("Cache-Control")


# ---- bad input: each a 400 naming its parameter


BAD_BOARD_QUERIES = [
    ({"timeframe": "hourly"}, "timeframe", f'"hourly" is not a timeframe; allowed: {TIMEFRAMES}'),
    ({"timeframe": ""}, "timeframe", f'"" is not a timeframe; allowed: {TIMEFRAMES}'),
    ({"timeframe": "Weekly"}, "timeframe", f'"Weekly" is not a timeframe; allowed: {TIMEFRAMES}'),
    (
        {"timeframe": "weekly", "period": "2026-W54"},
        "period",
        "'2026-W54' is not a real period of timeframe weekly (Invalid week: 54): expected YYYY-Www (ISO week)",
    ),
    (
        {"timeframe": "weekly", "period": "2025-W53"},
        "period",
        "'2025-W53' is not a real period of timeframe weekly (Invalid week: 53): expected YYYY-Www (ISO week)",
    ),
    (
        {"timeframe": "weekly", "period": "2026-W00"},
        "period",
        "'2026-W00' is not a real period of timeframe weekly (Invalid week: 0): expected YYYY-Www (ISO week)",
    ),
    (
        {"timeframe": "weekly", "period": "2026-48"},
        "period",
        "'2026-48' is not a period of timeframe weekly: expected YYYY-Www (ISO week)",
    ),
    (
        {"timeframe": "monthly", "period": "2026-13"},
        "period",
        "'2026-13' is not a real period of timeframe monthly (month must be in 1..12): expected YYYY-MM",
    ),
    (
        {"timeframe": "monthly", "period": "2026-11-01"},
        "period",
        "'2026-11-01' is not a period of timeframe monthly: expected YYYY-MM",
    ),
    (
        {"timeframe": "daily", "period": "2026-02-29"},
        "period",
        "'2026-02-29' is not a real period of timeframe daily (day is out of range for month): expected YYYY-MM-DD",
    ),
    (
        {"timeframe": "daily", "period": "2026-2-1"},
        "period",
        "'2026-2-1' is not a period of timeframe daily: expected YYYY-MM-DD",
    ),
    ({"timeframe": "yearly", "period": "26"}, "period", "'26' is not a period of timeframe yearly: expected YYYY"),
    (
        {"timeframe": "yearly", "period": "0000"},
        "period",
        "'0000' is not a real period of timeframe yearly (year 0 is out of range): expected YYYY",
    ),
    ({"timeframe": "yearly", "period": "9999"}, "period", "'9999' is out of range: a period must end by 9999-12-31"),
    (
        {"timeframe": "monthly", "period": "9999-12"},
        "period",
        "'9999-12' is out of range: a period must end by 9999-12-31",
    ),
    (
        {"timeframe": "weekly", "period": "9999-W52"},
        "period",
        "'9999-W52' is out of range: a period must end by 9999-12-31",
    ),
    (
        {"timeframe": "daily", "period": "9999-12-31"},
        "period",
        "'9999-12-31' is out of range: a period must end by 9999-12-31",
    ),
    ({"period": "2026"}, "period", "'2026' is not a period of timeframe all_time: expected all"),
    ({"timeframe": "all_time", "period": "ALL"}, "period", "'ALL' is not a period of timeframe all_time: expected all"),
    ({"timeframe": "daily", "period": ""}, "period", "'' is not a period of timeframe daily: expected YYYY-MM-DD"),
    (
        {"timeframe": "yearly", "period": " 2026"},
        "period",
        "' 2026' is not a period of timeframe yearly: expected YYYY",
    ),
    ({"limit": "0"}, "limit", "must be an integer from 1 to 1000"),
    ({"limit": "1001"}, "limit", "must be an integer from 1 to 1000"),
    ({"limit": "abc"}, "limit", "must be an integer from 1 to 1000"),
    ({"limit": "-1"}, "limit", "must be an integer from 1 to 1000"),
    ({"limit": "1.5"}, "limit", "must be an integer from 1 to 1000"),
    ({"limit": "5.0"}, "limit", "must be an integer from 1 to 1000"),
    ({"limit": "+5"}, "limit", "must be an integer from 1 to 1000"),
    ({"limit": "1_0"}, "limit", "must be an integer from 1 to 1000"),
    ({"limit": ""}, "limit", "must be an integer from 1 to 1000"),
    ({"limit": "１０"}, "limit", "must be an integer from 1 to 1000"),  # noqa: RUF001 - full-width digits
    ({"offset": "-1"}, "offset", "must be an integer from 0 to 9007199254740991"),
    ({"offset": "x"}, "offset", "must be an integer from 0 to 9007199254740991"),
    ({"offset": "9007199254740992"}, "offset", "must be an integer from 0 to 9007199254740991"),
    ({"project_id": "abc"}, "project_id", "must be an integer from 1 to 18446744073709551615"),
    ({"project_id": "0"}, "project_id", "must be an integer from 1 to 18446744073709551615"),
    ({"project_id": "-3"}, "project_id", "must be an integer from 1 to 18446744073709551615"),
    ({"project_id": "18446744073709551616"}, "project_id", "must be an integer from 1 to 18446744073709551615"),
    ({"project_id": "7 "}, "project_id", "must be an integer from 1 to 18446744073709551615"),
    ({"page": "2"}, "page", "unknown parameter; allowed: timeframe, period, project_id, limit, offset"),
    ({"around": "2"}, "around", "unknown parameter; allowed: timeframe, period, project_id, limit, offset"),
    ({"limit": ["1", "2"]}, "limit", "given more than once"),
]


@pytest.mark.parametrize(("query", "name", "message"), BAD_BOARD_QUERIES)
def test_bad_board_queries_are_400s_naming_the_parameter(client, redis_client, query, name, message):
    response = client.get(PUBLIC, query)
    assert response.status_code == 400
    assert response.json() == invalid(name, message)


def test_a_400_body_in_full(client, redis_client):
    response = client.get(PUBLIC, {"limit": "5000"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.content == (
        b'{"error":{"code":"invalid_parameter","message":"invalid parameter limit: must be an integer from 1 to 1000",'
        b'"details":{"limit":["must be an integer from 1 to 1000"]}}}'
    )


def test_several_bad_parameters_are_all_named(client, redis_client):
    body = client.get(PUBLIC, {"limit": "0", "offset": "-1"}).json()
    assert body["error"]["message"] == (
        "invalid parameters limit: must be an integer from 1 to 1000; "
        "offset: must be an integer from 0 to 9007199254740991"
    )
    assert set(body["error"]["details"]) == {"limit", "offset"}


@pytest.mark.parametrize(
    ("path", "query", "name", "message"),
    [
        ("/v1/leaderboard/users/abc", {}, "user_id", "must be an integer from 1 to 18446744073709551615"),
        ("/v1/leaderboard/users/0", {}, "user_id", "must be an integer from 1 to 18446744073709551615"),
        ("/v1/leaderboard/users/-5", {}, "user_id", "must be an integer from 1 to 18446744073709551615"),
        ("/v1/leaderboard/users/1", {"around": "51"}, "around", "must be an integer from 0 to 50"),
        ("/v1/leaderboard/users/1", {"around": "-1"}, "around", "must be an integer from 0 to 50"),
        ("/v1/leaderboard/users/1", {"around": "x"}, "around", "must be an integer from 0 to 50"),
        (
            "/v1/leaderboard/users/1",
            {"user_id": "2"},
            "user_id",
            "unknown parameter; allowed: timeframe, period, project_id, around",
        ),
        (
            "/v1/leaderboard/users/1",
            {"limit": "2"},
            "limit",
            "unknown parameter; allowed: timeframe, period, project_id, around",
        ),
        ("/v1/users/x1/events", {}, "user_id", "must be an integer from 1 to 18446744073709551615"),
        ("/v1/users/1/events", {"limit": "0"}, "limit", "must be an integer from 1 to 1000"),
        (
            "/v1/users/1/events",
            {"offset": "0"},
            "offset",
            "unknown parameter; allowed: timeframe, period, project_id, limit, cursor",
        ),
        (
            "/v1/users/1/events",
            {"cursor": "!!"},  # not base64
            "cursor",
            "not a cursor this API gave out; follow the next and previous links",
        ),
        (
            "/v1/users/1/events",
            {"cursor": ""},  # empty
            "cursor",
            "not a cursor this API gave out; follow the next and previous links",
        ),
        (
            "/v1/users/1/events",
            {"cursor": "bm90IGEgY3Vyc29y"},  # base64, but no cursor fields
            "cursor",
            "not a cursor this API gave out; follow the next and previous links",
        ),
        (
            "/v1/users/1/events",
            {"cursor": "eD0x"},  # an unknown field
            "cursor",
            "not a cursor this API gave out; follow the next and previous links",
        ),
        (
            "/v1/users/1/events",
            {"cursor": "bz0tMQ=="},  # a negative offset
            "cursor",
            "not a cursor this API gave out; follow the next and previous links",
        ),
        (
            "/v1/users/1/events",
            {"cursor": "cD0yMDI2LTAxLTAxIDAwOjAwOjAw"},  # a time without a zone
            "cursor",
            "not a cursor this API gave out; follow the next and previous links",
        ),
        (
            "/v1/users/1/events",
            {"cursor": "cD1ub3QtYS10aW1l"},  # base64 of "p=not-a-time"
            "cursor",
            "not a cursor this API gave out; follow the next and previous links",
        ),
        (
            "/v1/users/1/events",
            {"timeframe": "weekly", "period": "2026-W54"},
            "period",
            "'2026-W54' is not a real period of timeframe weekly (Invalid week: 54): expected YYYY-Www (ISO week)",
        ),
        ("/v1/projects", {"limit": "x"}, "limit", "must be an integer from 1 to 1000"),
        ("/v1/projects", {"timeframe": "daily"}, "timeframe", "unknown parameter; allowed: limit, offset"),
    ],
)
def test_bad_parameters_of_the_other_endpoints(client, redis_client, db, path, query, name, message):
    response = client.get(path, query)
    assert response.status_code == 400
    assert response.json() == invalid(name, message)


# ---- provenance


@pytest.fixture
def user_history(ready_boards):
    """User 5: seven scored events (two at the same moment) and two worth nothing."""
    t0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
    events = [e for i in range(6) for e in pushes(f"e{i}", 5, i + 1, t0 + timedelta(hours=i))]
    events += pushes("e6", 5, 9, t0 + timedelta(hours=5), project=8, name="org/other")  # ties with e5
    events += [zero_point("z1", 5, t0 + timedelta(hours=7)), zero_point("z2", 5, t0)]
    events += pushes("x", 6, 4, t0)
    ingest.batch_ingest(contributions=events)
    return t0


def event(event_id: str, points: int, at: str, project: int = 7, name: str = "org/app") -> dict:
    return {
        "event_id": event_id,
        "kind": "PUSHED",
        "project_id": project,
        "project_name": name,
        "points": points,
        "occurred_at": at,
        "url": "",
    }


def test_provenance_pages_newest_first(client, user_history):
    first = client.get("/v1/users/5/events", {"limit": 3})
    assert first.status_code == 200
    assert first["Cache-Control"] == "public, max-age=5"
    body = first.json()
    assert {k: body[k] for k in ("user_id", "timeframe", "period", "project_id", "previous")} == {
        "user_id": "5",
        "timeframe": "all_time",
        "period": "all",
        "project_id": None,
        "previous": None,
    }
    # e5 and e6 happened at the same moment: the one logged later comes first
    assert body["results"] == [
        event("e6-5-0", 9, "2026-03-02T15:00:00Z", 8, "org/other"),
        event("e5-5-0", 6, "2026-03-02T15:00:00Z"),
        event("e4-5-0", 5, "2026-03-02T14:00:00Z"),
    ]
    assert body["next"].startswith("http://testserver/v1/users/5/events?timeframe=all_time&period=all&limit=3&cursor=")
    second = client.get(body["next"]).json()
    assert second["results"] == [
        event("e3-5-0", 4, "2026-03-02T13:00:00Z"),
        event("e2-5-0", 3, "2026-03-02T12:00:00Z"),
        event("e1-5-0", 2, "2026-03-02T11:00:00Z"),
    ]
    third = client.get(second["next"]).json()
    assert third["results"] == [event("e0-5-0", 1, "2026-03-02T10:00:00Z")]
    assert third["next"] is None
    assert client.get(second["previous"]).json()["results"] == body["results"]


def test_provenance_filtered_by_project_and_period(client, user_history):
    by_project = client.get("/v1/users/5/events", {"project_id": 8}).json()
    assert by_project["results"] == [event("e6-5-0", 9, "2026-03-02T15:00:00Z", 8, "org/other")]
    by_day = client.get("/v1/users/5/events", {"timeframe": "daily", "period": "2026-03-02", "project_id": 7})
    assert [e["points"] for e in by_day.json()["results"]] == [6, 5, 4, 3, 2, 1]
    assert client.get("/v1/users/5/events", {"timeframe": "daily", "period": "2026-03-03"}).json()["results"] == []
    assert client.get("/v1/users/12345/events").json()["results"] == []


def test_provenance_adds_up_to_the_score(client, user_history):
    week = {"timeframe": "weekly", "period": "2026-W10"}
    events = client.get("/v1/users/5/events", {**week, "limit": 1000}).json()["results"]
    standing = client.get("/v1/leaderboard/users/5", week).json()
    assert sum(e["points"] for e in events) == standing["score"] == 30


def test_projects(client, user_history):
    response = client.get("/v1/projects")
    assert response.status_code == 200
    assert response.json() == {
        "total": 2,
        "limit": 50,
        "offset": 0,
        "next": None,
        "previous": None,
        "results": [
            {"id": 7, "name": "org/app", "event_count": 9},
            {"id": 8, "name": "org/other", "event_count": 1},
        ],
    }
    page = client.get("/v1/projects", {"limit": 1, "offset": 1}).json()
    assert page["results"] == [{"id": 8, "name": "org/other", "event_count": 1}]
    assert page["previous"] == "http://testserver/v1/projects?limit=1&offset=0"
    assert page["next"] is None


# ---- dependencies down


SECRET_USER = "internal_db_user"


def assert_unavailable(response, dependency: str, *secrets: str) -> None:
    """A 503 that names the dependency and nothing else (no host, port, user, exception text),
    which no cache may keep, with a time to try again."""
    assert response.status_code == 503
    assert response.json() == {
        "error": {
            "code": "dependency_unavailable",
            "message": f"{dependency} is unavailable",
            "details": {dependency: "unavailable"},
        }
    }
    assert (response["Cache-Control"], response["Retry-After"]) == ("no-store", "5")
    for secret in ("127.0.0.1", "Error", "refused", "connect", *secrets):
        assert secret not in response.content.decode()


@pytest.mark.parametrize("path", [PUBLIC, "/v1/leaderboard/users/1"])
def test_redis_down_is_a_503(client, settings, path, caplog):
    cache = dict(settings.CACHES["default"])
    cache["LOCATION"] = f"redis://{SECRET_USER}:pw@127.0.0.1:{refused_port()}/0"
    settings.CACHES = {"default": cache}
    assert_unavailable(client.get(path), "redis", SECRET_USER)
    assert "redis unavailable: ConnectionError" in caplog.text  # the log keeps the detail


def test_postgres_down_is_a_503(client, transactional_db, caplog):
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update({"PORT": "1", "USER": SECRET_USER})  # nothing listens on port 1
    try:
        response = client.get("/v1/projects")
    finally:
        connection.close()
        connection.settings_dict.update(saved)
    assert_unavailable(response, "postgres", SECRET_USER, ":1")
    assert "postgres unavailable: OperationalError" in caplog.text


# ---- the docs page


def test_docs_page_uses_local_swagger_ui(client):
    response = client.get("/v1/docs")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn.jsdelivr.net" not in page
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js") is not None


NASTY = ["", " ", "\x00", "😀", "1e3", "0x10", "NaN", "-0", "00", "9" * 30, "2026-W1", "2026-W001", "all ", "null"]
NASTY += ["[]", "'", '"', "\\", "../", "2026-02-29T00:00", "%", "x" * 3000, "1\n", "٣"]


def test_no_input_is_a_5xx(client, ready_boards):
    ready_boards.zadd(ALL_TIME_KEY, {"1": 3})
    paths = [PUBLIC, "/v1/leaderboard/users/1", "/v1/users/1/events", "/v1/projects"]
    names = ["timeframe", "period", "project_id", "limit", "offset", "around", "cursor", "x"]
    for path in paths:
        for name in names:
            for value in NASTY:
                for timeframe in [None, "weekly", "daily"] if name == "period" else [None]:
                    query = {name: value} if timeframe is None else {name: value, "timeframe": timeframe}
                    response = client.get(path, query)
                    assert response.status_code in (200, 400), (path, query, response.content[:300])
                    assert response["Content-Type"] == "application/json"
    for value in NASTY[1:]:
        response = client.get("/v1/leaderboard/users/" + parse.quote(value, safe=""))
        assert response.status_code in (400, 404), (value, response.content[:300])
        assert response.json()["error"]["code"] in ("invalid_parameter", "not_found")
