"""The embeddable badges (SPEC section 15): shields.io's endpoint JSON and the SVG, with their
caching, against the real Redis and Postgres."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib import parse
from xml.etree import ElementTree

import pytest

from scoring import clock, ingest
from scoring.apis.badges import LABEL_COLOR, NOT_RANKED_COLOR, RANKED_COLOR, TEXT_COLOR, TOP_TEN_COLOR
from scoring.models import Contributor
from tests.builders import pushes

AT = datetime(2026, 3, 2, 10, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"
ODD = "a<b>&'\"é\u200b🦀"  # markup, quotes and odd Unicode: a login is user input


@pytest.fixture
def ranked(ready_boards):
    """octocat first with 1,234 points; eleven others below, the last (rank 12) named ODD."""
    events = pushes("o", 5346, 1234, AT)
    for user in range(1, 12):
        events += pushes("u", user, 100 - user, AT)
    ingest.batch_ingest(contributions=events)
    Contributor.objects.create(id=5346, login="octocat")
    Contributor.objects.create(id=11, login=ODD)
    Contributor.objects.create(id=99, login="idle")  # known, on no board


def shields(rank_message: str, color: str, label: str = "rank") -> dict:
    return {"schemaVersion": 1, "label": label, "message": rank_message, "color": color, "cacheSeconds": 300}


def svg_texts(response) -> tuple[str, list[str], list[str]]:
    """The SVG's title, its texts and its fills: parsed as XML, so bad escaping fails here."""
    root = ElementTree.fromstring(response.content)
    assert root.tag == SVG + "svg"
    texts = [text.text for text in root.iter(SVG + "text")]
    fills = [
        rect.get("fill") for rect in root.iter(SVG + "rect") if rect.get("x") is not None or rect.get("rx") is None
    ]
    return root.find(SVG + "title").text, texts, fills


def test_the_shields_json_of_a_ranked_contributor(client, ranked):
    response = client.get("/v1/badges/octocat")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "public, max-age=300"
    assert response["ETag"].startswith('"') and len(response["ETag"]) == 34
    assert response.json() == shields("#1 · 1,234 pts", TOP_TEN_COLOR)
    assert client.get("/v1/badges/5346").json() == shields("#1 · 1,234 pts", TOP_TEN_COLOR)
    assert client.get("/v1/badges/11").json() == shields("#12 · 89 pts", RANKED_COLOR)


def test_the_svg_says_what_the_json_says(client, ranked):
    for key, message in (("OctoCat", "#1 · 1,234 pts"), ("11", "#12 · 89 pts")):
        response = client.get(f"/badges/contributors/{key}.svg")
        assert response.status_code == 200
        assert response["Content-Type"] == "image/svg+xml; charset=utf-8"
        assert response["Cache-Control"] == "public, max-age=300"
        body = client.get(f"/v1/badges/{key}").json()
        title, texts, fills = svg_texts(response)
        assert texts == [body["label"], body["message"]] == ["rank", message]
        assert fills == ["#" + LABEL_COLOR, "#" + body["color"]]
    assert title == f"{ODD}: rank #12 · 89 pts"  # escaped in the file, the same text once parsed
    assert "<b>" not in response.content.decode() and "&lt;b&gt;&amp;&#x27;&quot;" in response.content.decode()


def test_a_timeframe_names_the_current_period_of_the_global_board(client, ranked):
    ingest.batch_ingest(contributions=pushes("now", 5346, 3, clock.now()))
    assert client.get("/v1/badges/octocat", {"timeframe": "weekly"}).json() == shields(
        "#1 · 3 pts", TOP_TEN_COLOR, "weekly rank"
    )
    idle = client.get("/v1/badges/11", {"timeframe": "daily"})  # known, no points today
    assert (idle.status_code, idle.json()) == (200, shields("not ranked", NOT_RANKED_COLOR, "daily rank"))
    assert client.get("/v1/badges/idle").json() == shields("not ranked", NOT_RANKED_COLOR)


def test_a_user_on_the_board_with_no_name_yet_has_a_badge_by_id(client, ranked):
    assert client.get("/v1/badges/3").json() == shields("#4 · 97 pts", TOP_TEN_COLOR)
    title, texts, _ = svg_texts(client.get("/badges/contributors/3.svg"))
    assert (title, texts) == ("#3: rank #4 · 97 pts", ["rank", "#4 · 97 pts"])
    weekly = client.get("/v1/badges/3", {"timeframe": "weekly"})  # on no board this week: not known there
    assert (weekly.status_code, weekly.json()["message"]) == (404, "not ranked")


@pytest.mark.parametrize("path", ["/v1/badges/{}", "/badges/contributors/{}.svg"])
def test_an_unknown_or_excluded_contributor_gets_a_grey_not_ranked_badge_with_404(client, ranked, path):
    Contributor.objects.filter(id=11).update(excluded_reason="spam", excluded_at=AT)
    for key in ("nobody", "404", "bell\x07", ODD, "11"):  # unknown; excluded, by login and by id
        response = client.get(path.format(parse.quote(key)))
        assert response.status_code == 404, key
        assert response["Cache-Control"] == "public, max-age=300"
        if path.startswith("/v1"):
            assert response.json() == shields("not ranked", NOT_RANKED_COLOR)
        else:
            title, texts, fills = svg_texts(response)
            assert (title, texts, fills) == (
                f"{key.strip(chr(7))}: rank not ranked",
                ["rank", "not ranked"],
                [
                    "#" + LABEL_COLOR,
                    "#" + NOT_RANKED_COLOR,
                ],
            )


@pytest.mark.parametrize("path", ["/v1/badges/octocat", "/badges/contributors/octocat.svg"])
def test_a_matching_if_none_match_is_a_304(client, ranked, path):
    first = client.get(path)
    again = client.get(path, HTTP_IF_NONE_MATCH=first["ETag"])
    assert (again.status_code, again.content, again["ETag"]) == (304, b"", first["ETag"])
    assert again["Cache-Control"] == "public, max-age=300"
    other = client.get(path, HTTP_IF_NONE_MATCH='"other"')
    assert (other.status_code, other.content) == (200, first.content)
    ingest.batch_ingest(contributions=pushes("more", 5346, 1, AT))  # the badge changes, so its tag does
    changed = client.get(path, HTTP_IF_NONE_MATCH=first["ETag"])
    assert changed.status_code == 200 and changed["ETag"] != first["ETag"]


@pytest.mark.parametrize("path", ["/v1/badges/octocat", "/badges/contributors/octocat.svg"])
def test_a_bad_timeframe_or_another_parameter_is_a_400(client, ranked, path):
    response = client.get(path, {"timeframe": "hourly"})
    assert response.status_code == 400
    message = '"hourly" is not a timeframe; allowed: all_time, yearly, monthly, weekly, daily'
    assert response.json() == {
        "error": {
            "code": "invalid_parameter",
            "message": f"invalid parameter timeframe: {message}",
            "details": {"timeframe": [message]},
        }
    }
    assert client.get(path, {"period": "2026"}).json()["error"]["details"] == {
        "period": ["unknown parameter; allowed: timeframe"]
    }


def luminance(hex_color: str) -> float:
    channels = [int(hex_color[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


@pytest.mark.parametrize("ground", [LABEL_COLOR, TOP_TEN_COLOR, RANKED_COLOR, NOT_RANKED_COLOR])
def test_the_text_is_readable_on_each_ground_whatever_the_page_behind(ground):
    # each part is opaque: its own ground, not the page's, is what the text must stand out from
    lighter, darker = sorted((luminance(TEXT_COLOR), luminance(ground)), reverse=True)
    assert (lighter + 0.05) / (darker + 0.05) >= 4.5


@pytest.mark.parametrize("path", ["/v1/badges/octocat", "/badges/contributors/octocat.svg"])
def test_a_badge_kept_by_the_micro_cache_answers_as_the_view_does(client, ranked, ready_boards, settings, path):
    view_200 = client.get(path)
    view_304 = client.get(path, HTTP_IF_NONE_MATCH=view_200["ETag"])
    settings.API_MICROCACHE_SECONDS = 60
    client.get(path)  # rendered and kept
    ready_boards.zincrby("leaderboard:global:all_time:all", 1000, "5346")  # behind the service's back
    kept_200 = client.get(path)
    kept_304 = client.get(path, HTTP_IF_NONE_MATCH=f'"other", {view_200["ETag"]}')
    other = client.get(path, HTTP_IF_NONE_MATCH='"other"')
    settings.API_MICROCACHE_SECONDS = 0
    assert client.get(path)["ETag"] != view_200["ETag"]  # the board did change: the answers above were kept
    assert (kept_200.status_code, kept_200.content, dict(kept_200.items())) == (
        200,
        view_200.content,
        dict(view_200.items()),
    )
    assert (kept_304.status_code, kept_304.content, dict(kept_304.items())) == (
        304,
        b"",
        dict(view_304.items()),
    )
    assert (other.status_code, other.content) == (200, view_200.content)


def test_a_kept_badge_asked_for_only_with_its_etag_is_rendered_whole_when_stale(
    client, ranked, ready_boards, settings, monkeypatch
):
    """Clients that hold the badge ask with If-None-Match: once the kept answer is stale, its
    render must still keep a 200 (a view's 304 is not kept), or every request renders."""
    from scoring import clock

    seconds = [1000.0]
    monkeypatch.setattr(clock, "monotonic", lambda: seconds[0])
    settings.API_MICROCACHE_SECONDS = 0.1
    path = "/badges/contributors/5346.svg"
    etag = client.get(path)["ETag"]  # rendered and kept
    seconds[0] += 0.2  # stale
    same = client.get(path, HTTP_IF_NONE_MATCH=etag)  # rendered whole and kept, answered from it
    assert (same.status_code, same.content) == (304, b"")
    ready_boards.zincrby("leaderboard:global:all_time:all", 1000, "5346")  # behind the service's back
    kept = client.get(path, HTTP_IF_NONE_MATCH=etag)
    assert (kept.status_code, kept.content) == (304, b"")  # the render above was kept: fresh
    seconds[0] += 0.2
    rendered = client.get(path, HTTP_IF_NONE_MATCH=etag)  # stale again: the change shows
    assert rendered.status_code == 200 and rendered["ETag"] != etag
    assert client.get(path, HTTP_IF_NONE_MATCH=rendered["ETag"]).status_code == 304
