"""The profile's streaks and achievements in Debian's Chromium (Playwright), served by the real
gunicorn: what the page shows equals what GET /v1/contributors/{key} says, a rescore's revoked
achievements are marked, nothing is wider than a 375 px screen, and axe-core finds nothing
serious, light and dark. Screenshots go to artifacts/screenshots/ (profile-achievements-*)."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from scoring.achievements.services import achievements_award
from scoring.ingest import batch_ingest
from scoring.maintenance.rescore import rules_rescore
from scoring.rules import versions
from tests.achievements import oracle
from tests.achievements.events import contributions, wire
from tests.web.conftest import SCREENSHOTS, screenshot
from tests.web.test_browser import serious_violations

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

USER, LOGIN = 71, "margaret"

CARDS_JS = """() => Array.from(document.querySelectorAll('.streaks .card')).map(c =>
  [c.querySelector('.card-rank').textContent.trim(), c.querySelector('.card-meta').textContent.trim()])"""
LIST_JS = """() => Array.from(document.querySelectorAll('ol.achievements li')).map(li =>
  [li.querySelector('.what').firstChild.textContent.trim(), li.classList.contains('revoked'),
   li.querySelector('time').getAttribute('datetime')])"""


@pytest.fixture
def profile(ready_boards, settings):
    """Nine days in a row up to now (pushes), ten merged pull requests and ten reviews, then a
    rescore that makes merged pull requests worth nothing: their achievements are revoked."""
    now = datetime.now(UTC).replace(microsecond=0)
    messages = [wire(f"p{k}", "push", USER, now - timedelta(days=k, minutes=5), login=LOGIN) for k in range(9)]
    messages += [wire(f"m{k}", "merged", USER, now - timedelta(days=k, minutes=10), login=LOGIN) for k in range(10)]
    messages += [wire(f"r{k}", "review", USER, now - timedelta(days=k, minutes=15), login=LOGIN) for k in range(10)]
    messages.append(wire("other", "push", 72, now - timedelta(days=1), login="grace"))
    events = contributions(messages)
    batch_ingest(contributions=events)
    achievements_award()
    versions.rules_ensure()
    settings.SCORING = {**settings.SCORING, "pull_request_merged": 0}
    rules_rescore()
    return events, now


def contributor_api(server, key: str) -> dict:
    with urllib.request.urlopen(f"{server.url}/v1/contributors/{key}", timeout=10) as response:
        return json.loads(response.read())


def days(n: int) -> str:
    return f"{n} day{'s' if n != 1 else ''}"


def test_the_profile_shows_the_streaks_and_achievements_the_api_gives(web_server, page, profile):
    events, now = profile
    body = contributor_api(web_server, LOGIN)
    assert body["streaks"] == oracle.streaks(events, USER, now.date(), {"pull_request_merged": 0})
    current, longest = body["streaks"]["current"], body["streaks"]["longest"]
    assert current == longest and current["days"] >= 10  # the reviews reach a day further back than the pushes
    page.goto(f"{web_server.url}/contributors/{LOGIN}")
    assert page.evaluate(CARDS_JS) == [
        [days(current["days"]), f"{current['start']} to {current['end']}"],
        [days(longest["days"]), f"{longest['start']} to {longest['end']}"],
    ]
    shown = page.evaluate(LIST_JS)
    assert [(title, revoked) for title, revoked, _ in shown] == [
        (a["title"], a["revoked"] is not None) for a in body["achievements"]
    ]
    assert {title for title, revoked, _ in shown if revoked} == {"First merged pull request", "10 merged pull requests"}
    assert {a["code"] for a in body["achievements"]} == {
        "first_scored_event",
        "first_merged_pull_request",
        "merged_pull_requests_10",
        "reviews_10",
        "streak_7",
        "top_10_all_time",
    }
    screenshot(page, "profile-achievements-desktop")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_profile_at_375_px_and_its_accessibility(web_server, browser, profile, scheme):
    for width, name in [(375, "375"), (1280, "desktop")]:
        # axe goes in as an inline script, which the pages' CSP refuses (tests/web/test_csp.py
        # holds the pages to the policy without the bypass)
        context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme, bypass_csp=True)
        page = context.new_page()
        try:
            page.goto(f"{web_server.url}/contributors/{LOGIN}")
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            screenshot(page, f"profile-achievements-{name}-{scheme}")
            for section in ("streaks", "achievements"):  # the new sections alone, at full size
                page.locator(f"section[aria-labelledby={section}-h]").screenshot(
                    path=str(SCREENSHOTS / f"profile-{section}-{name}-{scheme}.png")
                )
            assert serious_violations(page) == []
        finally:
            context.close()
