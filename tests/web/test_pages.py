"""The pages and their pure parts: periods, moves, the chart, the stream's query and frames;
pages rendered by Django's test client over boards written by the service's own write path."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest

from scoring.boards import GLOBAL, Board, Timeframe, period_of, period_shift
from scoring.selectors import board_ranks, user_points_by_kind, user_points_per_day
from tests.web.conftest import ingest, push
from web.board import board_event, move_of, rows_digest
from web.chart import points_chart
from web.live import board_frame, stream_board

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)  # a Monday: ISO week 2026-W49


# ---- pure


@pytest.mark.parametrize(
    ("timeframe", "period", "steps", "expected"),
    [
        (Timeframe.DAILY, "2026-03-01", -1, "2026-02-28"),
        (Timeframe.DAILY, "2024-02-28", 1, "2024-02-29"),
        (Timeframe.WEEKLY, "2026-W01", -1, "2025-W52"),
        (Timeframe.WEEKLY, "2020-W53", 1, "2021-W01"),
        (Timeframe.MONTHLY, "2026-01", -1, "2025-12"),
        (Timeframe.MONTHLY, "2026-12", 1, "2027-01"),
        (Timeframe.YEARLY, "2026", -1, "2025"),
        (Timeframe.ALL_TIME, "all", -1, None),
        (Timeframe.DAILY, "0001-01-01", -1, None),
        (Timeframe.YEARLY, "9999", 1, None),
    ],
)
def test_period_shift(timeframe, period, steps, expected):
    assert period_shift(timeframe, period, steps) == expected


def test_move_is_places_gained_and_none_when_new():
    assert move_of(3, 7) == 4
    assert move_of(7, 3) == -4
    assert move_of(5, 5) == 0
    assert move_of(1, None) is None


def test_chart_scales_bars_to_the_busiest_day():
    days = [(date(2026, 1, 1) + timedelta(days=n), points) for n, points in enumerate([0, 5, 10, 0])]
    chart = points_chart(days, width=400, height=108)
    assert [bar.points for bar in chart.bars] == [0, 5, 10, 0]
    assert [bar.x for bar in chart.bars] == [0, 100, 200, 300]
    assert [bar.height for bar in chart.bars] == [1.0, 50.0, 100.0, 1.0]  # 108 less 8 of headroom
    assert [bar.y for bar in chart.bars] == [107.0, 58.0, 8.0, 107.0]
    assert (chart.peak, chart.total, chart.active_days) == (10, 15, 2)
    assert (chart.first, chart.last) == (date(2026, 1, 1), date(2026, 1, 4))
    assert points_chart([]).bars == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", Board(GLOBAL, Timeframe.ALL_TIME, "all")),
        ("timeframe=weekly", Board(GLOBAL, Timeframe.WEEKLY, "2026-W49")),
        ("timeframe=daily&period=2026-02-28&project_id=7", Board(7, Timeframe.DAILY, "2026-02-28")),
        (f"project_id={2**64 - 1}", Board(2**64 - 1, Timeframe.ALL_TIME, "all")),
        ("timeframe=bogus", None),
        ("timeframe=daily&period=2026-02-30", None),
        ("timeframe=weekly&timeframe=daily", None),
        ("limit=5", None),
        ("project_id=0", None),
        ("project_id=%2B5", None),
        (f"project_id={2**64}", None),
        ("period=", None),
    ],
)
def test_stream_board_accepts_only_what_the_api_accepts(query, expected):
    assert stream_board(query, now=NOW) == expected


def test_board_frame_is_one_sse_event():
    assert board_frame("abc", b'{"x":1}') == b'id: abc\nevent: board\ndata: {"x":1}\n\n'


# ---- selectors the pages add, and the pages


@pytest.fixture
def boards(ready_boards):
    """Two projects; this week ties 12, 12, 7; last week 7 led."""
    last_week = NOW - timedelta(days=7)
    ingest(
        push(5, 10, at=NOW),
        push(5, 2, at=NOW, project_id=2),
        push(9, 10, at=NOW),
        push(9, 2, at=NOW),
        push(7, 7, at=NOW),
        push(7, 9, at=last_week),
        push(9, 1, at=last_week),
    )
    return ready_boards


@pytest.mark.django_db(transaction=True)
def test_board_ranks_of_chosen_users(boards):
    board = Board(GLOBAL, Timeframe.WEEKLY, "2026-W49")
    assert board_ranks(board=board, user_ids=[7, 5, 9, 404], now=NOW) == {9: 1, 5: 1, 7: 3}


@pytest.mark.django_db(transaction=True)
def test_board_ranks_from_the_event_log_past_retention(ready_boards):
    long_ago = NOW - timedelta(days=200)
    ingest(push(1, 3, at=long_ago), push(2, 3, at=long_ago), push(3, 1, at=long_ago))
    board = Board(GLOBAL, Timeframe.DAILY, period_of(Timeframe.DAILY, long_ago))
    assert board_ranks(board=board, user_ids=[3, 2, 1, 4], now=datetime.now(UTC)) == {1: 1, 2: 1, 3: 3}


@pytest.mark.django_db(transaction=True)
def test_points_per_day_and_by_kind(boards):
    days = user_points_per_day(user_id=7, days=90, now=NOW)
    assert len(days) == 90 and days[0].day == date(2026, 9, 2) and days[-1].day == date(2026, 11, 30)
    assert {d.day: d.points for d in days if d.points} == {date(2026, 11, 30): 7, date(2026, 11, 23): 9}
    [kind] = user_points_by_kind(user_id=7)
    assert (kind.kind.name, kind.events, kind.points) == ("PUSHED", 2, 16)


def _rows(html: str) -> list[tuple[str, str, str]]:
    """(rank, name, points) of each row of the board table."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        (rank, name, points)
        for rank, name, points in re.findall(
            r'<td class="rank[^"]*">(\d+)</td>.*?<span class="name">([^<]+)</span>.*?<td class="score">(\d+)</td>',
            body,
            re.S,
        )
    ]


@pytest.mark.django_db(transaction=True)
def test_board_page_ranks_ties_like_the_api(boards, client):
    page = client.get("/?timeframe=weekly&period=2026-W49")
    assert page.status_code == 200
    api = client.get("/v1/leaderboard/public?timeframe=weekly&period=2026-W49").json()
    assert _rows(page.content.decode()) == [
        (str(r["rank"]), f"#{r['user_id']}", str(r["score"])) for r in api["results"]
    ]
    assert _rows(page.content.decode()) == [("1", "#9", "12"), ("1", "#5", "12"), ("3", "#7", "7")]
    html = page.content.decode()
    assert html.count('<td class="rank first">') == 2  # both rows ranked 1 are marked first
    assert 'rel="prev" href="/?timeframe=weekly&amp;period=2026-W48"' in html
    # 9 was 2nd last week (1 point, behind 7's 9): up one; 7 was 1st: down two; 5 is new
    moves = re.findall(r'<td class="move">(.*?)</td>', html, re.S)
    assert ["▲</span> 1" in moves[0], "new" in moves[1], "▼</span> 2" in moves[2]] == [True, True, True]


@pytest.mark.django_db(transaction=True)
def test_project_page_and_selector(boards, client):
    page = client.get("/projects/2")
    assert page.status_code == 200
    assert _rows(page.content.decode()) == [("1", "#5", "2")]
    assert "<h1>org/repo-2</h1>" in page.content.decode()
    chosen = client.get("/?project=2&timeframe=weekly")
    assert (chosen.status_code, chosen["Location"]) == (302, "/projects/2?timeframe=weekly")
    assert client.get("/?project=0").status_code == 200
    assert client.get("/projects/99").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_pagination(ready_boards, client):
    ingest(*(push(user, 1 + user % 10, at=NOW) for user in range(1, 121)))
    first = client.get("/").content.decode()
    assert len(_rows(first)) == 50 and "Page 1 of 3" in first and 'href="/?page=2"' in first
    last = client.get("/?page=3").content.decode()
    api = client.get("/v1/leaderboard/public?offset=100&limit=50").json()
    assert _rows(last) == [(str(r["rank"]), f"#{r['user_id']}", str(r["score"])) for r in api["results"]]


@pytest.mark.django_db(transaction=True)
def test_bad_queries_are_400_pages(ready_boards, client):
    for query in ("?timeframe=hourly", "?timeframe=daily&period=2026-02-30", "?page=0", "?page=x"):
        response = client.get("/" + query)
        assert response.status_code == 400, query
        assert response["Content-Type"].startswith("text/html")


@pytest.mark.django_db(transaction=True)
def test_contributor_page(boards, client):
    page = client.get("/contributors/7")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<h1>#7</h1>" in html
    assert html.count("<rect ") == 90
    assert "Pushed" in html and ">16</td>" in html
    assert html.count('<li>\n      <span class="pts">') == 2
    assert client.get("/contributors/404").status_code == 404
    assert client.get("/contributors/nobody").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_profile_shows_the_badge_and_the_markdown_to_copy(boards, client, settings):
    from scoring.models import Contributor

    html = client.get("/contributors/7").content.decode()
    assert '<img src="/badges/contributors/7.svg" alt="This contributor\'s all-time rank badge"' in html
    markdown = "[![rank](http://testserver/badges/contributors/7.svg)](http://testserver/contributors/7)"
    assert f'<textarea id="badge-markdown" class="copy" rows="4" readonly>{markdown}</textarea>' in html
    assert "<code>https://img.shields.io/endpoint?url=http%3A%2F%2Ftestserver%2Fv1%2Fbadges%2F7</code>" in html
    Contributor.objects.create(id=9, login="Ada")
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "ranks.example.org"]
    named = client.get("/contributors/9", HTTP_HOST="ranks.example.org").content.decode()
    assert (
        "[![rank](http://ranks.example.org/badges/contributors/Ada.svg)](http://ranks.example.org/contributors/Ada)"
        in named
    )
    found = client.get("/contributors/?q=%237")
    assert (found.status_code, found["Location"]) == (302, "/contributors/7")


@pytest.mark.django_db(transaction=True)
def test_stream_view_without_the_worker_sends_one_event(boards, client):
    response = client.get("/v1/stream?timeframe=weekly&period=2026-W49")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/event-stream")
    event_id, data = board_event(Board(GLOBAL, Timeframe.WEEKLY, "2026-W49"))
    assert response.content == b"retry: 1000\n\n" + board_frame(event_id, data)
    body = json.loads(data)
    assert [(r["rank"], r["user_id"], r["score"], r["move"], r["new"]) for r in body["results"]] == [
        (1, "9", 12, 1, False),
        (1, "5", 12, None, True),
        (3, "7", 7, -2, False),
    ]
    assert event_id == rows_digest(3, body["results"])
    fresh = client.get("/v1/stream?timeframe=weekly&period=2026-W49", HTTP_LAST_EVENT_ID=event_id)
    assert fresh.content == b"retry: 1000\n\n"
    bad = client.get("/v1/stream?timeframe=hourly")
    assert bad.status_code == 400 and "timeframe" in bad.json()["error"]["details"]


@pytest.mark.django_db(transaction=True)
def test_pages_while_the_boards_are_restored_are_503_pages(redis_client, client):
    # an empty Redis (no ready sentinel): what a restore in progress looks like to a reader
    for path in ("/", "/?timeframe=weekly", "/contributors/7"):
        response = client.get(path)
        assert (response.status_code, response["Retry-After"]) == (503, "5"), path
        assert "being restored" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_names_links_and_a_login_in_the_url(ready_boards, client):
    url = "https://github.com/org/repo-1/pull/9"
    ingest(push(7, 4, at=NOW, login="Ada", url=url), push(8, 2, at=NOW))
    board = client.get("/").content.decode()
    assert _rows(board) == [("1", "Ada", "4"), ("2", "#8", "2")]
    assert 'href="/contributors/Ada"' in board and 'href="/contributors/8"' in board
    page = client.get("/contributors/ada")  # logins in any case
    html = page.content.decode()
    assert page.status_code == 200 and "<h1>Ada</h1>" in html
    assert f'<a href="{url}">Pushed</a>' in html
    assert client.get("/contributors/8").status_code == 200  # no contributor row: by id


@pytest.mark.django_db(transaction=True)
def test_pages_read_the_time_from_the_service_clock(ready_boards, client, clock):
    """The test clock (a day ahead of the real one) decides the pages' current periods and the
    chart's last day, as it decides the API's: a page reading the real clock would show
    today's empty board instead."""
    now = clock.now()
    ingest(push(7, 4, at=now), push(8, 2, at=now))
    day = period_of(Timeframe.DAILY, now)
    page = client.get("/?timeframe=daily").content.decode()
    api = client.get("/v1/leaderboard/public?timeframe=daily").json()
    assert api["period"] == day
    assert f'<strong aria-current="true">{day}</strong>' in page
    assert _rows(page) == [(str(r["rank"]), f"#{r['user_id']}", str(r["score"])) for r in api["results"]]
    assert _rows(page) == [("1", "#7", "4"), ("2", "#8", "2")]
    profile = client.get("/contributors/7").content.decode()
    assert f'<span class="muted">{day}</span>' in profile
    bars = re.findall(r"<title>([\d-]+): (\d+) points</title>", profile)
    assert bars[-1] == (f"{now.date():%Y-%m-%d}", "4")  # the chart ends on the clock's day
