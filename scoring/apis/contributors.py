"""A user's events (why a score is what it is), and a contributor by login or id."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api import shapes
from api.cursor import decode_cursor
from api.errors import ERRORS, Error
from api.links import cursor_link
from api.query import BOARD, CURSOR, LIMIT, USER_ID, Text
from leaderboard_project.errors import NotFound
from scoring import clock
from scoring.achievements.selectors import contributor_achievements, contributor_streaks
from scoring.apis.base import QueryApi, cached, openapi_parameters
from scoring.selectors import contributor_find, contributor_names, user_events_page, user_is_excluded

CONTRIBUTOR = Text(
    "contributor",
    "A login (e.g. octocat) or a user id (e.g. 5346).",
    {"type": "string", "minLength": 1, "maxLength": 256},
    in_path=True,
    blank="This field may not be blank.",
    max_length=256,
)


class UserEventsApi(QueryApi):
    """The events that scored for a user: why a score is what it is."""

    parameters = (USER_ID, LIMIT, CURSOR)

    @extend_schema(
        operation_id="user_events",
        summary="The events that scored for a user, newest first",
        parameters=openapi_parameters(USER_ID, *BOARD, LIMIT, CURSOR),
        description=(
            "Events with points > 0 (events worth 0 changed no board and are left out), newest "
            "first (by the time they happened, then by log order), cursor-paginated. Filtered to "
            "one board: `timeframe` + `period` limit the time, `project_id` the project; with "
            "neither, every event of the user. On any board, the points listed add up to the "
            "user's score there."
        ),
        responses={200: shapes.UserEvents, **ERRORS},
    )
    def get(self, request: Request, user_id: str) -> Response:
        query = self.board_query(request, now=clock.now(), user_id=user_id)
        at = decode_cursor(query.cursor) if query.cursor is not None else None
        if user_is_excluded(query.user_id):  # SPEC section 9: on no board, and no events to show
            raise NotFound(f"no user {query.user_id} on the boards", details={"user_id": str(query.user_id)})
        page = user_events_page(user_id=query.user_id, board=query.board, limit=query.limit, at=at)
        # links name the resolved board, so they stay on it
        base = request.build_absolute_uri(request.path)
        login, avatar_url = contributor_names([query.user_id]).get(query.user_id, (None, None))
        body = shapes.UserEvents.body(
            query,
            login=login,
            avatar_url=avatar_url,
            next=cursor_link(base, query.board, limit=query.limit, position=page.next),
            previous=cursor_link(base, query.board, limit=query.limit, position=page.previous),
            results=shapes.Event.many(page.events),
        )
        return cached(Response(body), closed=False)


class ContributorApi(QueryApi):
    """One contributor, by login or by user id."""

    parameters = (CONTRIBUTOR,)

    @extend_schema(
        operation_id="contributor",
        summary="A contributor, by login or user id",
        description=(
            "What the events said of a user last: login, avatar, whether it is a bot, when it was "
            "first and last seen; its streaks (consecutive UTC days with at least one point, in any "
            "project: the current one, alive today or yesterday, and the longest) and its "
            "achievements in the order earned (SPEC section 15; both as of the consumers' last "
            "sweep). `contributor` is a login (any case) or a user id in decimal; an all-digit "
            "value is tried as an id first. An excluded contributor is 404."
        ),
        parameters=openapi_parameters(CONTRIBUTOR),
        responses={200: shapes.Contributor, 404: Error, **ERRORS},
    )
    def get(self, request: Request, contributor: str) -> Response:
        key = self.query(request, contributor=contributor)["contributor"]
        found = contributor_find(key=key)
        if found is None:
            raise NotFound(f"no contributor {key!r}", details={"contributor": key})
        user_id = int(found.id)
        streaks = contributor_streaks(user_id=user_id, today=clock.now().date())
        body = shapes.Contributor.body(
            found,
            streaks=shapes.Streaks.body(streaks),
            achievements=shapes.Achievement.many(contributor_achievements(user_id=user_id)),
        )
        return cached(Response(body), closed=False)
