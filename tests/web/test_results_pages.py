"""The pages of period results (SPEC sections 11 and 14), rendered by Django's test client over
results the finalizer recorded from events written by the service's own write path: the board
page's last winners, the hall of fame `/results`, a profile's placings; excluded contributors
never shown; and the page cache seeing a new result."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from api import cache as pagecache
from scoring import clock as scoring_clock
from scoring import exclusions, ingest, redis_boards
from scoring.models import Contributor
from scoring.redis_boards.keys import changed_channel
from scoring.results.finalize import results_finalize
from tests.builders import pushes
from web import views

pytestmark = pytest.mark.django_db(transaction=True)

# A Tuesday, a Wednesday and a Sunday of ISO week 2026-W48 (23 to 29 November).
D1, D2, SUNDAY = (
    datetime(2026, 11, 24, 9, tzinfo=UTC),
    datetime(2026, 11, 25, 9, tzinfo=UTC),
    datetime(2026, 11, 29, 9, tzinfo=UTC),
)
AFTER_D2 = datetime(2026, 11, 26, 2, tzinfo=UTC)  # D1 and D2 are final (an hour's grace), the week is not
AFTER_WEEK = datetime(2026, 11, 30, 2, tzinfo=UTC)


def _results(html: str) -> list[tuple[str, str, list[tuple[str, str, str, str]]]]:
    """Each result section of a page: (heading, its link, [(rank, name, points, profile link)])."""
    found = []
    for section in re.findall(r"<h2 id=\"(?:result-\d+|winners-h)\">(.*?)</table>", html, re.S):
        heading = re.search(r'<a href="([^"]+)">([^<]+)</a></h2>', section)
        rows = re.findall(
            r'<td class="rank[^"]*">(\d+)</td><td class="who"><a href="([^"]+)">.*?<span class="name">([^<]+)</span>'
            r'</a></td><td class="score">(\d+)</td>',
            section,
            re.S,
        )
        found.append((heading.group(2), heading.group(1).replace("&amp;", "&"), [(r, n, p, h) for r, h, n, p in rows]))
    return found


@pytest.fixture
def recorded(ready_boards, settings, clock):
    """Daily results of D1 and D2: on D1 user 3 (ada) led, and has been excluded since."""
    settings.RESULTS_GRACE_SECONDS = 3600
    clock.set(AFTER_D2)
    Contributor.objects.create(id=2, login="octocat", avatar_url="https://a.example/2.png")
    Contributor.objects.create(id=3, login="ada")
    ingest.batch_ingest(
        contributions=[
            *pushes("a", 1, 12, D1, project=7),
            *pushes("b", 2, 30, D1, project=7),
            *pushes("c", 3, 40, D1, project=8),
            *pushes("d", 1, 5, D2, project=8),
        ]
    )
    summary = results_finalize(now=clock.now())
    assert sorted(summary.periods_finalized) == [("daily", "2026-11-24"), ("daily", "2026-11-25")]
    exclusions.contributor_exclude(Contributor.objects.get(id=3), reason="staff")
    return clock


def test_hall_of_fame_newest_first_with_ranks_scores_and_links(client, recorded):
    page = client.get("/results?timeframe=daily")
    assert page.status_code == 200
    html = page.content.decode()
    assert _results(html) == [
        ("Day 2026-11-25", "/?timeframe=daily&period=2026-11-25", [("1", "#1", "5", "/contributors/1")]),
        (
            "Day 2026-11-24",
            "/?timeframe=daily&period=2026-11-24",
            # ada (40 points, first when recorded) is excluded since: not shown; the others keep their ranks
            [("2", "octocat", "30", "/contributors/octocat"), ("3", "#1", "12", "/contributors/1")],
        ),
    ]
    assert "ada" not in html
    assert '<a href="/results?timeframe=daily" aria-current="page">Day</a>' in html
    assert '<caption class="sr-only">Winners, day 2026-11-24</caption>' in html
    assert '<th scope="col" class="rank">Rank</th>' in html
    assert "3 contributors · 82 points" in html  # the board as it stood: ada's 40 were on it
    project = client.get("/results?timeframe=daily&project_id=7").content.decode()
    assert _results(project) == [
        (
            "Day 2026-11-24",
            "/projects/7?timeframe=daily&period=2026-11-24",
            [("1", "octocat", "30", "/contributors/octocat"), ("2", "#1", "12", "/contributors/1")],
        )
    ]
    assert '<a href="/projects/7">org/app</a>' in project


def test_hall_of_fame_tabs_pages_and_bad_queries(client, recorded, monkeypatch):
    weekly = client.get("/results").content.decode()  # the first tab: weeks, none closed yet
    assert '<a href="/results?timeframe=weekly" aria-current="page">Week</a>' in weekly
    assert "All time" not in weekly and _results(weekly) == [] and "No results yet" in weekly
    monkeypatch.setattr(views, "RESULTS_PAGE_SIZE", 1)
    first = client.get("/results?timeframe=daily").content.decode()
    assert [heading for heading, _, _ in _results(first)] == ["Day 2026-11-25"]
    assert "Page 1 of 2" in first and 'rel="next" href="/results?timeframe=daily&amp;page=2"' in first
    second = client.get("/results?timeframe=daily&page=2&unknown=1").content.decode()
    assert [heading for heading, _, _ in _results(second)] == ["Day 2026-11-24"]
    assert 'rel="prev" href="/results?timeframe=daily"' in second
    for query in ("?timeframe=all_time", "?timeframe=hourly", "?page=0", "?project_id=x"):
        response = client.get("/results" + query)
        assert response.status_code == 400, query
        assert response["Content-Type"].startswith("text/html")


def test_board_page_shows_the_last_closed_periods_winners(client, recorded):
    daily = client.get("/?timeframe=daily").content.decode()
    assert _results(daily) == [
        ("day 2026-11-25", "/?timeframe=daily&period=2026-11-25", [("1", "#1", "5", "/contributors/1")])
    ]
    assert '<a href="/results?timeframe=daily">Hall of fame' in daily
    project = client.get("/projects/7?timeframe=daily").content.decode()
    assert _results(project)[0][:2] == ("day 2026-11-24", "/projects/7?timeframe=daily&period=2026-11-24")
    weekly = client.get("/?timeframe=weekly").content.decode()
    assert _results(weekly) == [] and "No period of this board has closed yet." in weekly
    # all time never closes: the newest result of any timeframe
    assert _results(client.get("/").content.decode())[0][0] == "day 2026-11-25"
    # the week and its Sunday close together: the longer one is shown
    ingest.batch_ingest(contributions=pushes("e", 2, 7, SUNDAY, project=7))
    recorded.set(AFTER_WEEK)
    results_finalize(now=recorded.now())
    assert _results(client.get("/").content.decode()) == [
        (
            "week 2026-W48",
            "/?timeframe=weekly&period=2026-W48",
            [("1", "octocat", "37", "/contributors/octocat"), ("2", "#1", "17", "/contributors/1")],
        )
    ]


def test_profile_lists_the_periods_won_or_placed_in(client, recorded):
    html = client.get("/contributors/octocat").content.decode()
    placings = re.findall(
        r'<tr><td><a href="([^"]+)">([^<]+)</a><span class="scope">([^<]+)</span></td><td class="num[^"]*">#(\d+)'
        r'<span class="muted"> of (\d+)</span></td><td class="num">(\d+)</td></tr>',
        html.split('id="placings-h"', 1)[1].split("</table>", 1)[0],
    )
    assert placings == [  # best rank first
        ("/projects/7?timeframe=daily&amp;period=2026-11-24", "Day 2026-11-24", "org/app", "1", "2", "30"),
        ("/?timeframe=daily&amp;period=2026-11-24", "Day 2026-11-24", "All projects", "2", "3", "30"),
    ]
    assert client.get("/contributors/ada").status_code == 404  # the excluded have no page
    nobody = client.get("/contributors/1").content.decode()
    assert "Periods won or placed in" in nobody


def test_a_recorded_result_is_a_change_the_page_cache_sees(ready_boards, settings, clock, client, monkeypatch):
    """The finalizer announces `RESULTS_KEY` after its commit; the stream hub hands every
    announcement to the cache (`cache.changed`), which drops the pages marked with it."""
    settings.RESULTS_GRACE_SECONDS = 3600
    settings.PAGE_CACHE_SECONDS = 60
    seconds = [100.0]
    monkeypatch.setattr(scoring_clock, "monotonic", lambda: seconds[0])
    monkeypatch.setattr(pagecache, "cache", pagecache.ResponseCache())
    clock.set(AFTER_D2)
    ingest.batch_ingest(contributions=pushes("a", 1, 12, D1, project=7))
    empty = client.get("/results?timeframe=daily").content.decode()
    board = client.get("/?timeframe=daily").content.decode()
    assert _results(empty) == [] and _results(board) == []
    redis = redis_boards.connection()
    listener = redis.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(changed_channel(redis.connection_pool.connection_kwargs.get("db", 0)))
    results_finalize(now=clock.now())
    announced = None
    for _ in range(50):  # the first reads may be the subscription's confirmation, which is skipped
        announced = listener.get_message(timeout=0.1)
        if announced is not None:
            break
    listener.close()
    assert announced["data"].decode().split() == [redis_boards.RESULTS_KEY]
    seconds[0] += 1
    assert client.get("/results?timeframe=daily").content.decode() == empty  # kept: no change seen yet
    pagecache.cache.changed(announced["data"].decode().split())
    for path in ("/results?timeframe=daily", "/?timeframe=daily"):
        shown = _results(client.get(path).content.decode())
        assert shown[0][0].lower() == "day 2026-11-24", path
