"""A board's page, and one user's standing on a board."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api import shapes
from api.errors import ERRORS, Error
from api.links import offset_links
from api.query import AROUND, BOARD, LIMIT, OFFSET, USER_ID
from leaderboard_project.errors import NotFound
from scoring import clock
from scoring.apis.base import QueryApi, cached, openapi_parameters
from scoring.selectors import board_page, period_is_closed, user_standing


class BoardPageApi(QueryApi):
    """One board, one page."""

    parameters = (LIMIT, OFFSET)

    @extend_schema(
        operation_id="leaderboard_page",
        summary="One page of a board",
        description=(
            "Users by score, highest first, with standard competition ranks (equal scores share a "
            "rank, the next rank skips). Within a tie, users are ordered by user id descending "
            "byte-wise. A board with no entries is a 200 with total 0. Boards of past periods that "
            "have left Redis are answered from the event log with the same rows and ranks."
        ),
        parameters=openapi_parameters(*BOARD, LIMIT, OFFSET),
        responses={200: shapes.BoardPage, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        now = clock.now()
        query = self.board_query(request, now=now)
        page = board_page(board=query.board, limit=query.limit, offset=query.offset, now=now)
        following, before = offset_links(
            request.build_absolute_uri(request.path), page.board, limit=page.limit, offset=page.offset, total=page.total
        )
        body = shapes.BoardPage.body(page, next=following, previous=before)
        return cached(Response(body), closed=period_is_closed(page.board, now=now))


class UserStandingApi(QueryApi):
    """One user's standing on one board."""

    parameters = (USER_ID, AROUND)

    @extend_schema(
        operation_id="leaderboard_user",
        summary="One user's rank and score on a board",
        parameters=openapi_parameters(USER_ID, *BOARD, AROUND),
        responses={200: shapes.UserStanding, 404: Error, **ERRORS},
    )
    def get(self, request: Request, user_id: str) -> Response:
        now = clock.now()
        query = self.board_query(request, now=now, user_id=user_id)
        board = query.board
        standing = user_standing(board=board, user_id=query.user_id, around=query.around, now=now)
        if standing is None:
            raise NotFound(
                f"user {query.user_id} is not on this board",
                details={"user_id": str(query.user_id), **shapes.BoardFields.body(query)},
            )
        return cached(Response(shapes.UserStanding.body(standing)), closed=period_is_closed(board, now=now))
