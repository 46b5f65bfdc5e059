"""Reads that cannot hurt writes (docs/API.md, "Reads and failures"): a statement timeout on
the web server's sessions, expired boards aggregated once into an archive, 503 (never cached)
while the boards are being restored, periods in ASCII digits only, and a unique events cursor.
Against the real Postgres and Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import connection

from leaderboard_project.api_sessions import limit_api_queries, unlimit_api_queries
from scoring import faults, ingest, redis_boards, selectors
from scoring.boards import GLOBAL, Board, Timeframe, board_key, period_of, period_start
from scoring.maintenance.restore import boards_restore
from scoring.redis_boards import ARCHIVE_INDEX, READY_KEY, archive_keys
from tests.builders import pushes
from tests.clock import START
from tests.fixtures import ROOT, boards_flush, database_url, wait_for

PUBLIC = "/v1/leaderboard/public"
RESTORING = {
    "error": {
        "code": "dependency_unavailable",
        "message": "the boards are being restored; try again shortly",
        "details": {"redis": "boards being restored"},
    }
}


def row(rank: int, user: int, score: int) -> dict:
    return {"rank": rank, "user_id": str(user), "score": score, "login": None, "avatar_url": None}


# ---- the statement timeout


def test_a_read_past_the_statement_timeout_is_a_503(client, transactional_db, settings):
    settings.API_STATEMENT_TIMEOUT_MS = 200
    limit_api_queries()
    connection.close()  # the next request opens a session, which gets the timeout
    try:
        with psycopg.connect(database_url()) as locker:  # holds the table until rollback
            locker.execute("LOCK TABLE scoring_project IN ACCESS EXCLUSIVE MODE")
            response = client.get("/v1/projects")
            locker.rollback()
        after = client.get("/v1/projects")
    finally:
        unlimit_api_queries()
        connection.close()
    assert response.status_code == 503
    assert response.json() == {
        "error": {
            "code": "dependency_unavailable",
            "message": "postgres timed out",
            "details": {"postgres": "timed out"},
        }
    }
    assert (response["Cache-Control"], response["Retry-After"]) == ("no-store", "5")
    assert after.status_code == 200  # the same worker answers again by itself


SHOW_TIMEOUT = (
    "from django.db import connection\n"
    "with connection.cursor() as cursor:\n"
    "    cursor.execute('SHOW statement_timeout')\n"
    "    print(cursor.fetchone()[0])\n"
)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("import leaderboard_project.wsgi\n", "3s"),  # gunicorn, and runserver, load it
        ("import leaderboard_project.asgi\n", "3s"),
        ("import django\ndjango.setup()\n", "0"),  # manage.py: the consumer and every command
    ],
)
def test_only_the_web_server_sessions_have_the_timeout(transactional_db, entry, expected):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "leaderboard_project.settings",
        "DATABASE_URL": database_url(),
        "API_STATEMENT_TIMEOUT_MS": "3000",
    }
    found = subprocess.run(
        [sys.executable, "-c", entry + SHOW_TIMEOUT], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == expected


# ---- while the boards are being restored


def test_board_reads_during_a_restore_are_503s_that_no_cache_keeps(client, ready_boards):
    now = START
    ingest.batch_ingest(contributions=pushes("r", 1, 5, now))
    during = []

    def read_now() -> None:  # the sentinel is off: the restore is about to swap its boards in
        during.extend([client.get(PUBLIC), client.get("/v1/leaderboard/users/1")])

    with faults.hooked("restore_before_swap", read_now):
        boards_restore(use_snapshot=False)
    for response in during:
        assert (response.status_code, response.json()) == (503, RESTORING)
        assert (response["Cache-Control"], response["Retry-After"]) == ("no-store", "5")
    after = client.get(PUBLIC)
    assert (after.status_code, after.json()["results"]) == (200, [row(1, 1, 5)])


def test_an_emptied_redis_is_a_503_not_an_empty_board(client, live_boards):
    live_boards.zadd(board_key(GLOBAL, Timeframe.YEARLY, "2020"), {"1": 3})
    boards_flush()  # Redis restarted without its data: no sentinel, no boards (the run's claim kept)
    for path in (PUBLIC, "/v1/leaderboard/users/1"):
        response = client.get(path, {"timeframe": "yearly", "period": "2020"})
        assert (response.status_code, response.json(), response["Cache-Control"]) == (503, RESTORING, "no-store")


def test_the_cache_control_of_every_board_answer(client, ready_boards, settings):
    now = START
    old = now - timedelta(days=10)
    ingest.batch_ingest(contributions=pushes("c", 1, 5, now) + pushes("o", 2, 4, old))
    today, old_day = period_of(Timeframe.DAILY, now), period_of(Timeframe.DAILY, old)
    answers = {
        "current board": (client.get(PUBLIC), 200, "public, max-age=5"),
        "current standing": (client.get("/v1/leaderboard/users/1"), 200, "public, max-age=5"),
        "closed board in Redis": (
            client.get(PUBLIC, {"timeframe": "daily", "period": old_day}),
            200,
            "public, max-age=3600",
        ),
        "not on the board": (client.get("/v1/leaderboard/users/3"), 404, "no-store"),
        "bad parameter": (client.get(PUBLIC, {"limit": "0"}), 400, "no-store"),
    }
    settings.BOARD_RETENTION_DAYS = {"daily": 1, "weekly": 91, "monthly": 400}
    answers["closed board from the log"] = (
        client.get(PUBLIC, {"timeframe": "daily", "period": old_day}),
        200,
        "public, max-age=3600",
    )
    ready_boards.delete(READY_KEY)
    answers["restoring"] = (client.get(PUBLIC, {"timeframe": "daily", "period": today}), 503, "no-store")
    for name, (response, status, cache_control) in answers.items():
        assert (response.status_code, response["Cache-Control"]) == (status, cache_control), name


# ---- expired boards: one aggregate, then the archive


@pytest.fixture
def expired_day(ready_boards, settings):
    """A day 10 days ago, past a 1-day retention: users 1..4 scored 4, 3, 3, 1 there."""
    settings.BOARD_RETENTION_DAYS = {"daily": 1, "weekly": 91, "monthly": 400}
    when = START.replace(hour=12) - timedelta(days=10)
    events = [e for user, score in {1: 4, 2: 3, 3: 3, 4: 1}.items() for e in pushes("x", user, score, when)]
    ingest.batch_ingest(contributions=events)
    return when


def test_an_expired_board_is_aggregated_once_then_read_from_its_archive(
    client, ready_boards, expired_day, django_assert_num_queries
):
    period = period_of(Timeframe.DAILY, expired_day)
    query = {"timeframe": "daily", "period": period}
    first = client.get(PUBLIC, {**query, "limit": 2})
    assert first.json()["results"] == [row(1, 1, 4), row(2, 3, 3)]
    key, marker = archive_keys(Board(GLOBAL, Timeframe.DAILY, period))
    assert ready_boards.ttl(marker) in (3599, 3600)  # API_ARCHIVE_SECONDS
    assert ready_boards.ttl(key) in (3659, 3660)  # a minute longer: a marker means a whole set
    with django_assert_num_queries(2):  # every other page and standing: Redis, and one query for names each
        second = client.get(PUBLIC, {**query, "limit": 2, "offset": 2}).json()
        standing = client.get("/v1/leaderboard/users/2", {**query, "around": 1}).json()
    assert (second["total"], second["results"]) == (4, [row(2, 2, 3), row(4, 4, 1)])
    assert (standing["rank"], standing["around"]) == (2, [row(2, 3, 3), row(2, 2, 3), row(4, 4, 1)])

    # a late event for the closed day lands in the log; the archive shows it once it expires
    ingest.batch_ingest(contributions=pushes("late", 4, 9, expired_day))
    assert client.get(PUBLIC, {**query, "limit": 1}).json()["results"] == [row(1, 1, 4)]
    ready_boards.delete(marker)  # what the TTL does
    assert client.get(PUBLIC, {**query, "limit": 1}).json()["results"] == [row(1, 4, 10)]


def test_readers_that_waited_for_an_aggregate_read_it_instead_of_aggregating_again(ready_boards, expired_day):
    """Three first readers of one board: they queue on the board's advisory lock; whoever holds
    it stores the archive (here the test, with a planted row no aggregate could give), and
    those that waited read that archive rather than aggregating the log again."""
    board = Board(GLOBAL, Timeframe.DAILY, period_of(Timeframe.DAILY, expired_day))
    pages: list[selectors.BoardPage] = []

    def read() -> None:
        try:
            pages.append(selectors.board_page(board=board, limit=10, offset=0))
        finally:
            connection.close()  # this thread's own session

    lock = [f"archive:{board.key}"]
    with psycopg.connect(database_url(), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", lock)
        readers = [threading.Thread(target=read) for _ in range(3)]
        for reader in readers:
            reader.start()
        waiting = (
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        wait_for(lambda: holder.execute(waiting).fetchone()[0] == 3, message="three readers waiting on the lock")
        redis_boards.archive_store(board, [(77, 1)], ttl=3600, max_boards=50, epoch=redis_boards.exclusions_epoch())
        holder.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", lock)
        for reader in readers:
            reader.join(30)
    assert [page.rows for page in pages] == [[selectors.BoardRow(1, 77, 1)]] * 3


def test_an_empty_expired_board_is_archived_too(client, ready_boards, expired_day, django_assert_num_queries):
    query = {"timeframe": "daily", "period": period_of(Timeframe.DAILY, expired_day - timedelta(days=1))}
    assert client.get(PUBLIC, query).json()["total"] == 0
    with django_assert_num_queries(0):
        assert client.get(PUBLIC, query).json()["total"] == 0
        assert client.get("/v1/leaderboard/users/1", query).status_code == 404


def test_at_most_api_archive_max_boards_are_kept(client, ready_boards, expired_day, settings):
    settings.API_ARCHIVE_MAX_BOARDS = 2
    for days in range(4):
        period = period_of(Timeframe.DAILY, expired_day - timedelta(days=days))
        assert client.get(PUBLIC, {"timeframe": "daily", "period": period}).status_code == 200
    assert ready_boards.zcard(ARCHIVE_INDEX) == 2
    assert len([k for k in ready_boards.scan_iter(match="leaderboard:archive-ready:*")]) == 2


# ---- periods: ASCII digits only

UNICODE_PERIODS = [
    ("yearly", "２０２６"),  # noqa: RUF001 - fullwidth
    ("yearly", "٢٠٢٦"),  # Arabic-Indic
    ("monthly", "۲۰۲۶-۰۱"),  # noqa: RUF001 - extended Arabic-Indic
    ("weekly", "2026-W０1"),  # noqa: RUF001
    ("daily", "2026-01-0١"),  # noqa: RUF001
]


@pytest.mark.parametrize(("timeframe", "period"), UNICODE_PERIODS)
def test_periods_in_other_digits_are_400s(client, timeframe, period):
    assert int(period.replace("-", "").replace("W", "")) > 0  # what int() would have accepted
    with pytest.raises(ValueError, match="is not a"):
        period_start(Timeframe(timeframe), period)
    for path in (PUBLIC, "/v1/leaderboard/users/1", "/v1/users/1/events"):
        response = client.get(path, {"timeframe": timeframe, "period": period})
        assert response.status_code == 400, path
        assert list(response.json()["error"]["details"]) == ["period"]


def test_ids_in_other_digits_are_400s(client):
    assert client.get("/v1/leaderboard/users/١٢").status_code == 400
    assert client.get(PUBLIC, {"project_id": "７"}).status_code == 400  # noqa: RUF001


# ---- the events cursor


def test_three_pages_of_events_at_one_instant_repeat_nothing(client, ready_boards):
    moment = datetime(2026, 3, 2, 10, tzinfo=UTC)
    ingest.batch_ingest(contributions=[e for i in range(10) for e in pushes(f"s{i}", 5, 1, moment)])
    logged = [f"s{i}-5-0" for i in reversed(range(10))]  # one instant: the one logged last first
    pages, url = [], "/v1/users/5/events?limit=4"
    while url:
        body = client.get(url).json()
        pages.append([event["event_id"] for event in body["results"]])
        url = body["next"]
    assert pages == [logged[0:4], logged[4:8], logged[8:10]]
    # and back: previous from the last page gives the pages before it again
    last = client.get(client.get(client.get("/v1/users/5/events?limit=4").json()["next"]).json()["next"]).json()
    middle = client.get(last["previous"]).json()
    assert [event["event_id"] for event in middle["results"]] == logged[4:8]
    first = client.get(middle["previous"]).json()
    assert ([event["event_id"] for event in first["results"]], first["previous"]) == (logged[0:4], None)
    assert client.get(first["next"]).json()["results"] == middle["results"]


def test_a_cursor_without_a_valid_id_is_a_400(client, ready_boards):
    from base64 import b64encode

    for raw in ("p=2026-01-01T00:00:00%2B00:00&i=0", "p=2026-01-01T00:00:00%2B00:00&i=99999999999999999999", "i=1"):
        cursor = b64encode(raw.encode()).decode()
        assert client.get("/v1/users/5/events", {"cursor": cursor}).status_code == 400, raw
