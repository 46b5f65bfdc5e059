"""A request message's board query, read by the API's one parser (`api.query.board_query_parse`).

Each message's fields become the plain mapping a query string would give (`{name: [value]}`),
so a bad value is the same `QueryError`, naming the same field with the same words and limits,
as in the REST API; `services` answers it INVALID_ARGUMENT. The timeframe enum is read by its
name (`TIMEFRAME_DAILY` is `daily`): `TIMEFRAME_UNSPECIFIED`, and a number the enum does not
know, are values the parser refuses. A `project_id` or `period` absent or empty names none.
"""

from __future__ import annotations

from datetime import datetime

from google.protobuf.message import Message

from api.query import AROUND, GRPC_OFFSET, PAGE_SIZE, USER_ID, BoardQuery, board_query_parse
from scoring.boards import Board

TIMEFRAME_PREFIX = "TIMEFRAME_"


def timeframe_value(request: Message) -> str:
    """The query's `timeframe` for the request's enum number ("unspecified" and a number the
    enum does not name are refused by the parser)."""
    number = request.timeframe
    value = request.DESCRIPTOR.fields_by_name["timeframe"].enum_type.values_by_number.get(number)
    return str(number) if value is None else value.name.removeprefix(TIMEFRAME_PREFIX).lower()


def board_params(request: Message) -> dict[str, list[str]]:
    """The request's board (`timeframe`, and `project_id` and `period` where given) as a query."""
    params = {"timeframe": [timeframe_value(request)]}
    for name in ("project_id", "period"):
        if name in request.DESCRIPTOR.fields_by_name and request.HasField(name) and getattr(request, name) != "":
            params[name] = [getattr(request, name)]
    return params


def leaderboard_query(request: Message, *, now: datetime) -> BoardQuery:
    """GetLeaderboard's board (the current period) and page (`page_size`, `offset`)."""
    params = board_params(request)
    params.update(page_size=[str(request.page_size)], offset=[str(request.offset)])
    return board_query_parse(params, now=now, fields=(PAGE_SIZE, GRPC_OFFSET))


def standing_query(request: Message, *, now: datetime) -> BoardQuery:
    """GetStanding's board, `user_id` and `around`."""
    params = board_params(request)
    if request.HasField("around"):
        params["around"] = [str(request.around)]
    return board_query_parse(params, now=now, fields=(USER_ID, AROUND), path={"user_id": request.user_id})


def watched_board(request: Message, *, now: datetime) -> Board:
    """WatchLeaderboard's board."""
    return board_query_parse(board_params(request), now=now).board
