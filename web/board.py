"""What a board page shows, built from the selectors: the rows with names, avatars and the
move since the previous period, and the same first page as a live `board` event.

The page and the stream build their rows here, so a row reads the same in the HTML and in the
JSON that the page's script applies. Rows come only from `scoring.selectors`, so whatever the
selectors leave out (an excluded contributor) no page shows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from django.urls import reverse

from api import shapes
from scoring import clock
from scoring.boards import GLOBAL, Board, Timeframe, period_shift, period_start
from scoring.selectors import BoardRow, board_page, board_ranks
from web.templatetags.board_extras import avatar_hue

PAGE_SIZE = 50
TIMEFRAME_LABELS = {
    Timeframe.ALL_TIME: "All time",
    Timeframe.YEARLY: "Year",
    Timeframe.MONTHLY: "Month",
    Timeframe.WEEKLY: "Week",
    Timeframe.DAILY: "Day",
}


def board_url(board: Board, *, page: int = 1, timeframe_only: bool = False) -> str:
    """The page of `board` (naming the period unless `timeframe_only`: then the current one)."""
    path = reverse("web:board") if board.project_id == GLOBAL else reverse("web:project", args=[board.project_id])
    query: dict[str, object] = {}
    if board.timeframe is not Timeframe.ALL_TIME:
        query["timeframe"] = board.timeframe.value
        if not timeframe_only:
            query["period"] = board.period
    if page > 1:
        query["page"] = page
    return f"{path}?{urlencode(query)}" if query else path


def contributor_display(login: str | None, user_id: str | int) -> dict[str, Any]:
    """How a page names a contributor: the profile's link, the login (or `#id`), the
    placeholder avatar's colour and letter."""
    return {
        "href": f"/contributors/{quote(login or str(user_id))}",
        "name": login or f"#{user_id}",
        "hue": avatar_hue(user_id),
        "initial": login[0].upper() if login else "#",
    }


def move_of(rank: int, previous_rank: int | None) -> int | None:
    """Places gained since the previous period (negative: lost); None: not on that board."""
    return None if previous_rank is None else previous_rank - rank


def row_view(row: BoardRow, *, move: int | None, moves_shown: bool) -> dict[str, Any]:
    """One row as the template and the stream's JSON show it: the API's row (`api.shapes.BoardRow`;
    a null `login` shows as `#id`) and the move since the previous period."""
    body = shapes.BoardRow.body(row)
    body["move"] = move if moves_shown else None
    body["new"] = moves_shown and move is None
    return body


def previous_board(board: Board) -> Board | None:
    """The board of the period before (None for all-time, which has no periods)."""
    previous = period_shift(board.timeframe, board.period, -1)
    return None if previous is None else Board(board.project_id, board.timeframe, previous)


def next_period(board: Board, *, now: datetime) -> str | None:
    """The period after the board's, if it has begun by `now`."""
    following = period_shift(board.timeframe, board.period, 1)
    if following is None or period_start(board.timeframe, following) > now.astimezone(UTC).date():
        return None
    return following


@dataclass(frozen=True, slots=True)
class BoardView:
    board: Board
    total: int
    offset: int
    rows: list[dict[str, Any]]
    moves_shown: bool

    @property
    def boards(self) -> frozenset[str]:
        """The keys of the boards this page was read from (the page cache drops it when one changes)."""
        previous = previous_board(self.board) if self.moves_shown else None
        return frozenset({self.board.key} | ({previous.key} if previous else set()))

    @property
    def event_id(self) -> str:
        """What the first page shows, as a short digest: the stream's `id:`. A client that
        resumes with another id has a stale page and is sent the current one at once."""
        return rows_digest(self.total, self.rows)


def rows_digest(total: int, rows: list[dict[str, Any]]) -> str:
    body = json.dumps([total, rows], separators=(",", ":"), sort_keys=True).encode()
    return hashlib.blake2b(body, digest_size=8).hexdigest()


def board_view(*, board: Board, offset: int = 0, limit: int = PAGE_SIZE, now: datetime | None = None) -> BoardView:
    """One page of `board` with the move of each row since the previous period."""
    now = now or clock.now()
    page = board_page(board=board, limit=limit, offset=offset, now=now)
    previous = previous_board(board) if board.timeframe is not Timeframe.ALL_TIME else None
    previous_ranks = (
        board_ranks(board=previous, user_ids=[row.user_id for row in page.rows], now=now) if previous else {}
    )
    rows = [
        row_view(row, move=move_of(row.rank, previous_ranks.get(row.user_id)), moves_shown=previous is not None)
        for row in page.rows
    ]
    return BoardView(board, page.total, offset, rows, previous is not None)


def board_event(board: Board) -> tuple[str, bytes]:
    """The stream's `board` event for the board's first page: (id, JSON data)."""
    view = board_view(board=board)
    body = {
        **shapes.BoardFields.body(view),
        "total": view.total,
        "results": view.rows,
    }
    return view.event_id, json.dumps(body, separators=(",", ":")).encode()
