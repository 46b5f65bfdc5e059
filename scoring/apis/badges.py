"""Embeddable badges of a contributor's rank (SPEC section 15): an SVG to put in a README, and
shields.io's endpoint JSON (`https://img.shields.io/endpoint?url=…`). Both read the global board
of the timeframe's current period, and both are cached by anyone for five minutes, with an ETag
so that a check costs a 304."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.cache import get_conditional_response
from django.utils.http import quote_etag
from drf_spectacular.utils import extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from api import shapes
from api.errors import ERRORS
from api.query import TIMEFRAME, USER_ID, Invalid, query_parse, query_values
from scoring import clock
from scoring.apis.base import QueryApi, openapi_parameters
from scoring.apis.contributors import CONTRIBUTOR
from scoring.boards import GLOBAL, Board, Timeframe, period_of
from scoring.selectors import contributor_find, user_is_excluded, user_standing

MAX_AGE = 300
NOT_RANKED = "not ranked"
# White text on each of these has a contrast of at least 4.5:1 (WCAG AA), and each badge is
# opaque: it reads the same on a light page and on a dark one.
LABEL_COLOR = "3d444d"
TOP_TEN_COLOR = "1a7f37"
RANKED_COLOR = "0550ae"
NOT_RANKED_COLOR = "57606a"
TEXT_COLOR = "ffffff"
# Verdana at 11 px, as shields draws: an average advance per character, and the padding each side.
CHAR_WIDTH = 7
PADDING = 6


@dataclass(frozen=True, slots=True)
class Badge:
    """What a badge says: `label` on the left, `message` on a `color` ground on the right;
    `name` (a login, or the key asked for) is the SVG's accessible title."""

    label: str
    message: str
    color: str
    name: str
    max_age: int = MAX_AGE


def badge_of(request: HttpRequest, contributor: str) -> tuple[Badge, int]:
    """The badge the request asks for, and its status: 404 for a contributor unknown or
    excluded (a grey "not ranked" badge still), 200 otherwise. Raises `QueryError` for a bad
    query (a timeframe that is none, a parameter other than `timeframe`)."""
    values = query_parse(query_values(request.GET), (CONTRIBUTOR, TIMEFRAME), {"contributor": contributor})
    timeframe = values.get("timeframe", Timeframe.ALL_TIME)
    key = values["contributor"]
    label = "rank" if timeframe is Timeframe.ALL_TIME else f"{timeframe.value} rank"
    found = contributor_find(key=key)
    # a user id with events but no contributor row yet (no actor known) has a profile too
    user_id = int(found.id) if found is not None else unnamed_user_id(key)
    if user_id is None:
        return Badge(label, NOT_RANKED, NOT_RANKED_COLOR, key), 404
    name = (found.login if found is not None else None) or f"#{user_id}"
    now = clock.now()
    board = Board(GLOBAL, timeframe, period_of(timeframe, now))
    standing = user_standing(board=board, user_id=user_id, now=now, named=False)  # the name is found above
    if standing is None:  # known but with no points in this period (200), or not known at all
        if found is None:
            return Badge(label, NOT_RANKED, NOT_RANKED_COLOR, key), 404
        return Badge(label, NOT_RANKED, NOT_RANKED_COLOR, name), 200
    color = TOP_TEN_COLOR if standing.rank <= 10 else RANKED_COLOR
    return Badge(label, f"#{standing.rank:,} · {standing.score:,} pts", color, name), 200


def unnamed_user_id(key: str) -> int | None:
    """`key` as a user id, unless it is not one or names an excluded user."""
    try:
        user_id = USER_ID.read(key)
    except Invalid:
        return None
    return None if user_is_excluded(user_id) else user_id


def conditional(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """`response` with its Cache-Control and an ETag of its body; a 304 when the request's
    If-None-Match names that ETag."""
    response["Cache-Control"] = f"public, max-age={MAX_AGE}"
    response["ETag"] = quote_etag(hashlib.sha256(response.content).hexdigest()[:32])
    return get_conditional_response(request, etag=response["ETag"], response=response)


class BadgeApi(QueryApi):
    """shields.io's endpoint badge of a contributor's rank."""

    parameters = (CONTRIBUTOR, TIMEFRAME)

    @extend_schema(
        operation_id="badge",
        summary="A contributor's rank as a shields.io endpoint badge",
        description=(
            "The JSON that https://img.shields.io/endpoint?url=… reads: the contributor's rank and "
            "score on the global board of the timeframe's current period. An unknown or excluded "
            'contributor is a 404 with a grey "not ranked" badge (still a valid one); a contributor '
            'with no points in the period a 200 "not ranked". Cache-Control max-age=300, with an '
            "ETag: a request naming it in If-None-Match is a 304."
        ),
        parameters=openapi_parameters(CONTRIBUTOR, TIMEFRAME),
        responses={200: shapes.ShieldsBadge, 304: None, 404: shapes.ShieldsBadge, **ERRORS},
    )
    def get(self, request: Request, contributor: str) -> HttpResponse:
        badge, status = badge_of(request, contributor)
        body = JSONRenderer().render(shapes.ShieldsBadge.body(badge))
        return conditional(request, HttpResponse(body, status=status, content_type="application/json"))


class BadgeSvgApi(QueryApi):
    """The SVG badge of a contributor's rank, drawn as shields draws its badges."""

    parameters = (CONTRIBUTOR, TIMEFRAME)

    @extend_schema(exclude=True)  # an image, not JSON: docs/API.md describes it
    def get(self, request: Request, contributor: str) -> HttpResponse:
        badge, status = badge_of(request, contributor)
        svg = render_to_string("scoring/badge.svg", badge_drawing(badge))
        return conditional(request, HttpResponse(svg, status=status, content_type="image/svg+xml; charset=utf-8"))


def xml_can_carry(ch: str) -> bool:
    """Whether XML 1.0 allows `ch` in text (no control character but tab and newlines, no
    U+FFFE or U+FFFF): escaping cannot make the others valid."""
    code = ord(ch)
    return (code >= 0x20 and code not in (0xFFFE, 0xFFFF)) or ch in "\t\n\r"


def badge_drawing(badge: Badge) -> dict[str, object]:
    """The template's context for `badge`: each part's width and text position, in pixels.
    The title drops characters XML cannot carry (control characters): it may be a key as typed."""
    label_width = CHAR_WIDTH * len(badge.label) + 2 * PADDING
    message_width = CHAR_WIDTH * len(badge.message) + 2 * PADDING
    return {
        "badge": badge,
        "title": "".join(ch for ch in f"{badge.name}: {badge.label} {badge.message}" if xml_can_carry(ch)),
        "width": label_width + message_width,
        "label_width": label_width,
        "message_width": message_width,
        "label_x": label_width / 2,
        "message_x": label_width + message_width / 2,
        "label_text": label_width - 2 * PADDING,
        "message_text": message_width - 2 * PADDING,
        "label_color": LABEL_COLOR,
        "text_color": TEXT_COLOR,
    }
