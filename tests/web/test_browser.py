"""The pages in Debian's Chromium (Playwright), served by the real gunicorn with the stream
worker: tabs, periods, the project selector and profiles against the API; the keyboard; the
375 px layout; axe-core. (Live updates: test_live.py.)

Screenshots of every page, desktop and 375 px, light and dark, go to artifacts/screenshots/.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from scoring.boards import Timeframe, period_of, period_shift
from scoring.results.finalize import results_finalize
from tests.web.conftest import AXE, WebServer, ingest, push, screenshot

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROWS_JS = """() => Array.from(document.querySelectorAll('table.board tbody tr')).map(tr => [
  tr.querySelector('.rank').textContent.trim(), tr.querySelector('.name').textContent.trim(),
  tr.querySelector('.score').textContent.trim()])"""


def api(server: WebServer, query: str) -> dict:
    with urllib.request.urlopen(f"{server.url}/v1/leaderboard/public?{query}", timeout=10) as response:
        return json.loads(response.read())


def serious_violations(page) -> list[str]:
    """What axe-core finds serious or critical on the page open in `page` (its context bypasses
    the pages' CSP, which refuses the injected script; test_csp.py holds the pages to it)."""
    page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """async () => (await axe.run()).violations
             .filter(v => v.impact === 'serious' || v.impact === 'critical')
             .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))"""
    )


def expected_rows(body: dict) -> list[list[str]]:
    return [[str(r["rank"]), r.get("login") or f"#{r['user_id']}", str(r["score"])] for r in body["results"]]


@pytest.fixture
def seeded(ready_boards):
    """Ties on every board; a previous week; two projects; a contributor with history; logins
    for some contributors and none for others (#id); a bot with the most points, which no page
    shows (SPEC section 9)."""
    now = datetime.now(UTC)
    last_week = now - timedelta(days=7)
    ingest(
        push(11, 10, at=now, login="ada"),
        push(11, 4, at=now - timedelta(days=20), login="ada"),
        push(22, 10, at=now, project_id=2, login="grace-hopper"),
        push(22, 6, at=now - timedelta(days=40), login="grace-hopper"),
        push(33, 9, at=now),  # no login known: shown as #33
        push(44, 9, at=now, login="linus"),
        push(55, 3, at=last_week),
        push(33, 8, at=last_week, project_id=2),
        push(11, 2, at=last_week, login="ada"),
        push(66, 10, at=now, login="dependabot[bot]"),
        push(66, 10, at=now, project_id=2, login="dependabot[bot]"),
    )
    return now


def test_pages_tabs_periods_projects_and_profiles(web_server, page, seeded):
    now = seeded
    page.goto(web_server.url + "/")
    assert (
        page.evaluate(ROWS_JS)
        == expected_rows(api(web_server, ""))
        == [
            ["1", "#33", "17"],
            ["2", "grace-hopper", "16"],  # a tie: both rank 2, the next rank is 4
            ["2", "ada", "16"],
            ["4", "linus", "9"],
            ["5", "#55", "3"],
        ]
    )
    screenshot(page, "board-desktop")

    page.get_by_role("navigation", name="Timeframe").get_by_role("link", name="Week").click()
    week = period_of(Timeframe.WEEKLY, now)
    assert page.url == f"{web_server.url}/?timeframe=weekly"
    assert page.get_attribute("nav.tabs a[aria-current]", "href") == "/?timeframe=weekly"
    assert (
        page.evaluate(ROWS_JS)
        == expected_rows(api(web_server, f"timeframe=weekly&period={week}"))
        == [
            ["1", "grace-hopper", "10"],
            ["1", "ada", "10"],
            ["3", "linus", "9"],
            ["3", "#33", "9"],
        ]
    )
    screenshot(page, "board-weekly-desktop")

    previous = period_shift(Timeframe.WEEKLY, week, -1)
    page.click("nav.periods a[rel=prev]")
    assert page.url == f"{web_server.url}/?timeframe=weekly&period={previous}"
    assert page.evaluate(ROWS_JS) == expected_rows(api(web_server, f"timeframe=weekly&period={previous}"))
    page.click("nav.periods a[rel=next]")
    assert page.url == f"{web_server.url}/?timeframe=weekly&period={week}"

    page.select_option("#project", "2")
    page.get_by_role("button", name="Show").click()
    assert page.url == f"{web_server.url}/projects/2?timeframe=weekly"
    assert page.evaluate(ROWS_JS) == expected_rows(api(web_server, f"timeframe=weekly&period={week}&project_id=2"))
    page.get_by_role("navigation", name="Timeframe").get_by_role("link", name="All time").click()
    assert page.url == f"{web_server.url}/projects/2"
    screenshot(page, "project-desktop")

    page.get_by_role("link", name="grace-hopper").click()
    assert page.url == f"{web_server.url}/contributors/grace-hopper"
    assert page.locator(".chart svg rect").count() == 90
    assert page.locator(".chart svg rect:not(.zero)").count() == 2
    assert page.locator("ol.events li").count() == 2
    assert page.inner_text(".cards li:first-child .card-rank") == "#2"
    screenshot(page, "contributor-desktop")

    page.goto(web_server.url + "/")
    page.fill("#find-q", "33")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{web_server.url}/contributors/33")

    # The bot (66) is logged but on no board, and has no page: the tables above never showed it.
    assert page.goto(web_server.url + "/contributors/dependabot[bot]").status == 404
    assert page.goto(web_server.url + "/contributors/66").status == 404


def test_keyboard_reaches_the_tabs_and_rows(web_server, page, seeded):
    page.goto(web_server.url + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    focused = []
    for _ in range(13):
        page.keyboard.press("Tab")
        focused.append(
            page.evaluate("(e => e.getAttribute('href') || e.id || e.textContent.trim())(document.activeElement)")
        )
    assert focused == [
        "/",
        "find-q",
        "Find",
        "project",
        "Show",
        "/",
        "/?timeframe=yearly",
        "/?timeframe=monthly",
        "/?timeframe=weekly",
        "/?timeframe=daily",
        "/contributors/33",
        "/contributors/grace-hopper",
        "/contributors/ada",
    ]
    page.keyboard.press("Enter")
    page.wait_for_url("**/contributors/ada")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_phone_layout_and_screenshots(web_server, browser, seeded, scheme):
    context = browser.new_context(
        viewport={"width": 375, "height": 812}, color_scheme=scheme, device_scale_factor=2, bypass_csp=True
    )
    page = context.new_page()
    try:
        for name, path in [
            ("board", "/"),
            ("board-weekly", "/?timeframe=weekly"),
            ("project", "/projects/2"),
            ("contributor", "/contributors/ada"),
        ]:
            page.goto(web_server.url + path)
            # nothing wider than the screen: no sideways scrolling
            assert page.evaluate("document.documentElement.scrollWidth") <= 375, path
            screenshot(page, f"{name}-375-{scheme}")
        if scheme == "dark":
            desktop = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="dark", bypass_csp=True)
            dark = desktop.new_page()
            for name, path in [("board-weekly", "/?timeframe=weekly"), ("contributor", "/contributors/ada")]:
                dark.goto(web_server.url + path)
                screenshot(dark, f"{name}-desktop-dark")
            desktop.close()
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_serious_accessibility_violations(web_server, browser, seeded, scheme):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme, bypass_csp=True)
    page = context.new_page()
    try:
        found = {}
        for path in ["/", "/?timeframe=weekly", "/projects/2", "/contributors/11", "/contributors/999"]:
            page.goto(web_server.url + path)
            found[path] = serious_violations(page)
        assert found == {path: [] for path in found}
    finally:
        context.close()


@pytest.fixture
def with_results(seeded, settings):
    """`seeded`, with every period closed by now recorded (no grace): last week's, the days
    and months of the older events; a bot's points last week, in no result."""
    now = seeded
    ingest(
        push(66, 10, at=now - timedelta(days=7), login="dependabot[bot]"),
        push(22, 7, at=now - timedelta(days=7), login="grace-hopper"),
    )
    settings.RESULTS_GRACE_SECONDS = 0
    results_finalize(now=now)
    return now


def results_api(server: WebServer, query: str) -> dict:
    with urllib.request.urlopen(f"{server.url}/v1/results?{query}", timeout=10) as response:
        return json.loads(response.read())


def winners(result: dict) -> list[list[str]]:
    """A result's winners as a page shows them: the rows ranked 1 to 3."""
    return [
        [str(r["rank"]), r.get("login") or f"#{r['user_id']}", str(r["score"])] for r in result["top"] if r["rank"] <= 3
    ]


WINNERS_JS = """(section) => Array.from(document.querySelectorAll(section + ' table.winners')).map(t =>
  Array.from(t.querySelectorAll('tbody tr')).map(tr => [tr.querySelector('.rank').textContent.trim(),
    tr.querySelector('.name').textContent.trim(), tr.querySelector('.score').textContent.trim()]))"""


def test_results_on_the_board_page_the_hall_of_fame_and_a_profile(web_server, page, with_results):
    last_week = results_api(web_server, "timeframe=weekly&limit=1")["results"][0]
    # the bot's 10 points last week are on no board and in no result
    assert winners(last_week) == [["1", "#33", "8"], ["2", "grace-hopper", "7"], ["3", "#55", "3"]]
    assert "dependabot[bot]" not in json.dumps(last_week)
    page.goto(web_server.url + "/?timeframe=weekly")
    assert page.evaluate(WINNERS_JS, ".last-winners") == [winners(last_week)]
    assert page.inner_text(".last-winners h2") == f"Last winners: week {last_week['period']}"
    screenshot(page, "board-winners-desktop")

    page.locator(".last-winners").get_by_role("link", name="Hall of fame").click()
    assert page.url == f"{web_server.url}/results?timeframe=weekly"
    assert page.get_attribute("nav.tabs a[aria-current]", "href") == "/results?timeframe=weekly"
    weeks = results_api(web_server, "timeframe=weekly")["results"]
    assert page.evaluate(WINNERS_JS, "main") == [winners(r) for r in weeks]
    page.get_by_role("navigation", name="Timeframe").get_by_role("link", name="Month").click()
    assert page.url == f"{web_server.url}/results?timeframe=monthly"
    months = results_api(web_server, "timeframe=monthly")["results"]
    assert [h.split(" ", 1)[1] for h in page.locator("section.result h2").all_inner_texts()] == [
        r["period"] for r in months
    ]
    assert page.evaluate(WINNERS_JS, "main") == [winners(r) for r in months]
    screenshot(page, "results-desktop")
    assert "dependabot" not in page.content()

    page.locator("section.result").first.get_by_role("link").nth(1).click()
    assert page.url.startswith(f"{web_server.url}/contributors/")
    rows = page.locator("table.placings tbody tr").all_inner_texts()
    assert rows and all("#" in row for row in rows)
    screenshot(page, "contributor-placings-desktop")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_results_pages_at_375_px_and_accessibility(web_server, browser, with_results, scheme):
    context = browser.new_context(
        viewport={"width": 375, "height": 812}, color_scheme=scheme, device_scale_factor=2, bypass_csp=True
    )
    page = context.new_page()
    try:
        found = {}
        for name, path in [
            ("board-winners", "/?timeframe=weekly"),
            ("results", "/results?timeframe=weekly"),
            ("results-daily", "/results?timeframe=daily"),
            ("contributor-placings", "/contributors/grace-hopper"),
        ]:
            page.goto(web_server.url + path)
            assert page.evaluate("document.documentElement.scrollWidth") <= 375, path
            screenshot(page, f"{name}-375-{scheme}")
            found[path] = serious_violations(page)
        assert found == {path: [] for path in found}
    finally:
        context.close()


UNREACHABLE_AVATAR = "http://127.0.0.1:9/x.png"  # port 9 (discard) refuses: the image cannot load
# a 1x1 PNG that always loads
LOADING_AVATAR = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkaPj/"
    "HwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
AVATARS_JS = """() => Array.from(document.querySelectorAll('.avatar-placeholder')).map(a => {
  const img = a.querySelector('img');
  return [a.firstChild.textContent, a.checkVisibility(), img ? img.checkVisibility() : null];
})"""


@pytest.fixture
def blocked_avatars(ready_boards):
    """Two contributors whose avatars cannot load, and one whose avatar loads."""
    now = datetime.now(UTC)
    ingest(
        push(11, 9, at=now, login="ada", avatar_url=UNREACHABLE_AVATAR),
        push(22, 5, at=now, login="grace-hopper", avatar_url=UNREACHABLE_AVATAR),
        push(33, 2, at=now, login="linus", avatar_url=LOADING_AVATAR),
    )


@pytest.mark.parametrize("width", [1280, 375])
def test_avatars_that_cannot_load_show_the_initials(web_server, browser, blocked_avatars, width):
    context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)  # test_csp.py
    page = context.new_page()
    try:
        for name, path, expected in [
            ("board-blocked-avatars", "/", [["A", True, False], ["G", True, False], ["L", True, True]]),
            ("contributor-blocked-avatar", "/contributors/ada", [["A", True, False]]),
        ]:
            page.goto(web_server.url + path)
            page.wait_for_function("() => document.querySelectorAll('img.avatar-img[hidden]').length > 0")
            assert page.evaluate(AVATARS_JS) == expected, path
            assert page.evaluate("document.documentElement.scrollWidth") <= width, path
            screenshot(page, f"{name}-{'desktop' if width > 375 else '375'}")
    finally:
        context.close()


def test_the_badge_svg_renders_what_the_api_says(web_server, page, blocked_avatars):
    with urllib.request.urlopen(f"{web_server.url}/v1/badges/ada", timeout=10) as response:
        body = json.loads(response.read())
    page.goto(web_server.url + "/badges/contributors/ada.svg")
    texts = page.evaluate("() => Array.from(document.querySelectorAll('text')).map(t => t.textContent)")
    assert texts == [body["label"], body["message"]] == ["rank", "#1 · 9 pts"]
    # as a README shows it, on a light page and on a dark one
    page.goto(web_server.url + "/")
    svg = web_server.url + "/badges/contributors/ada.svg"
    page.set_content(
        f'<div style="background:#fff;padding:12px"><img src="{svg}" alt="rank"></div>'
        f'<div style="background:#0d1117;padding:12px"><img src="{svg}" alt="rank"></div>'
    )
    page.wait_for_function("() => Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    screenshot(page, "badge-svg-light-and-dark")
