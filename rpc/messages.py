"""The selectors' values (`scoring.selectors.BoardPage`, `Standing`) as the services' messages,
field for field as the REST API's bodies (`api.shapes`): `user_id` in decimal, competition
ranks, a row's login and avatar where known."""

from __future__ import annotations

import hashlib

from google.protobuf.message import Message

from proto.leaderboard.v1 import leaderboard_pb2 as ours
from proto.leaderboardscoring.v1 import leaderboardscoring_pb2 as rankr
from scoring.boards import GLOBAL, Board
from scoring.selectors import BoardPage, BoardRow, Standing


def leaderboard_response(request: rankr.GetLeaderboardRequest, page: BoardPage) -> rankr.GetLeaderboardResponse:
    """GetLeaderboard's answer: the page's rows, the request's timeframe and project echoed
    (as given, also when the page is empty)."""
    response = rankr.GetLeaderboardResponse(
        timeframe=request.timeframe,
        rows=[rankr.LeaderboardRow(rank=row.rank, user_id=str(row.user_id), score=row.score) for row in page.rows],
    )
    if request.HasField("project_id"):
        response.project_id = request.project_id
    return response


def board_message(board: Board) -> ours.Board:
    message = ours.Board(timeframe=ours.Timeframe.Value(f"TIMEFRAME_{board.timeframe.value.upper()}"))
    message.period = board.period
    if board.project_id != GLOBAL:
        message.project_id = str(board.project_id)
    return message


def row_message(row: BoardRow) -> ours.Row:
    message = ours.Row(rank=row.rank, user_id=str(row.user_id), score=row.score)
    _names(message, row.login, row.avatar_url)
    return message


def standing_response(standing: Standing) -> ours.GetStandingResponse:
    """GetStanding's answer: the REST API's `UserStanding`."""
    response = ours.GetStandingResponse(
        board=board_message(standing.board),
        user_id=str(standing.user_id),
        rank=standing.rank,
        score=standing.score,
        total=standing.total,
        around=[row_message(row) for row in standing.around or ()],
    )
    _names(response, standing.login, standing.avatar_url)
    return response


def board_page_message(page: BoardPage) -> ours.BoardPage:
    """A WatchLeaderboard update: the page, and its `version` (a digest of what it shows)."""
    message = ours.BoardPage(board=board_message(page.board), total=page.total, rows=map(row_message, page.rows))
    message.version = hashlib.blake2b(message.SerializeToString(deterministic=True), digest_size=8).hexdigest()
    return message


def _names(message: Message, login: str | None, avatar_url: str | None) -> None:
    if login is not None:
        message.login = login
    if avatar_url is not None:
        message.avatar_url = avatar_url
