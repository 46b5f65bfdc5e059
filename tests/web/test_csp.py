"""The pages keep to their Content-Security-Policy (no inline script or style): in Chromium,
with the policy enforced, each page loads without a single CSP violation, its scripts run (the
avatars' colours and the meters are set by them), and every answer carries the headers."""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime

import pytest

from guard.middleware import CONTENT_SECURITY_POLICY
from tests.web.conftest import ingest, push, screenshot

PAGES = ["/", "/contributors/ada", "/projects/1", "/results", "/v1/docs", "/admin/login/"]


@pytest.fixture
def named(ready_boards):
    ingest(push(11, 9, at=datetime.now(UTC), login="ada"), push(22, 4, at=datetime.now(UTC), login="bob"))


def test_every_answer_carries_the_security_headers(web_server, named):
    for path in [*PAGES, "/v1/leaderboard/public", "/v1/health-check"]:
        with urllib.request.urlopen(web_server.url + path, timeout=10) as response:
            headers = response.headers
            assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, path
            assert headers["X-Content-Type-Options"] == "nosniff", path
            assert headers["Referrer-Policy"] == "same-origin", path
            assert headers["X-Frame-Options"] == "DENY", path
            assert "Strict-Transport-Security" not in headers, path  # no TLS here: HSTS is off
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY and "unsafe-eval" not in CONTENT_SECURITY_POLICY


def test_the_pages_load_without_a_csp_violation(web_server, browser, named):
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # the policy enforced
    page = context.new_page()
    refused: list[str] = []
    page.on(
        "console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None
    )
    try:
        for path in PAGES:
            page.goto(web_server.url + path, wait_until="networkidle")
            assert refused == [], (path, refused)
        page.goto(web_server.url + "/")
        hues = page.eval_on_selector_all(".avatar", "els => els.map(e => e.style.getPropertyValue('--hue'))")
        assert hues == [str(11 * 137 % 360), str(22 * 137 % 360)]  # set by avatars.js, not by markup
        page.goto(web_server.url + "/contributors/ada")
        shares = page.eval_on_selector_all(".meter", "els => els.map(e => e.style.getPropertyValue('--share'))")
        assert shares == ["100%"]
        screenshot(page, "csp-contributor")
        page.goto(web_server.url + "/v1/docs", wait_until="networkidle")
        assert page.locator(".swagger-ui .info .title").first.inner_text().startswith("Leaderboard Scoring Service")
        assert refused == []
    finally:
        context.close()
