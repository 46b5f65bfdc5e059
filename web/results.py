"""What the pages show of recorded period results (SPEC section 14): the last closed period's
winners on a board page, the hall of fame's periods, and the periods a profile's contributor
won or placed in. Everything comes from `scoring.results.selectors`, which never shows an
excluded contributor.
"""

from __future__ import annotations

from typing import Any

from scoring.boards import GLOBAL, Board, Timeframe
from scoring.results.finalize import RESULT_TIMEFRAMES
from scoring.results.selectors import Placing, Result, result_last, results_latest
from scoring.selectors import project_list
from web.board import TIMEFRAME_LABELS, board_url, contributor_display

WINNERS_RANKS = 3  # a period's winners: the rows ranked 1 to 3 (ties included)


def result_display(result: Result) -> dict[str, Any]:
    """A result as a page prints it: its period, the link to its board, and its winners."""
    board = result.board
    return {
        "timeframe_label": TIMEFRAME_LABELS[board.timeframe],
        "period": board.period,
        "board_url": board_url(board),
        "members": result.members,
        "total_points": result.total_points,
        "rows": [
            {
                "rank": row.rank,
                "score": row.score,
                "user_id": row.user_id,
                "login": row.login,
                "avatar_url": row.avatar_url,
                **contributor_display(row.login, row.user_id),
            }
            for row in result.rows
            if row.rank <= WINNERS_RANKS
        ],
    }


def last_winners(*, board: Board) -> dict[str, Any] | None:
    """The last closed period's winners for a board page: the newest result of its timeframe
    and scope; on the all-time board (which never closes), the newest result of any timeframe,
    the longest on a tie (a day that ends a month ends its day too)."""
    if board.timeframe is not Timeframe.ALL_TIME:
        result = result_last(timeframe=board.timeframe, project_id=board.project_id)
    else:
        # One result a timeframe at most shares the newest final_at: the first few hold them all.
        _, newest = results_latest(timeframe=None, project_id=board.project_id, limit=len(RESULT_TIMEFRAMES), offset=0)
        result = min(
            (r for r in newest if r.final_at == newest[0].final_at),
            key=lambda r: RESULT_TIMEFRAMES.index(r.board.timeframe),
            default=None,
        )
    return result_display(result) if result is not None else None


def placings_display(placings: list[Placing]) -> list[dict[str, Any]]:
    """A profile's periods won or placed in, each with its board's scope named."""
    ids = {p.board.project_id for p in placings} - {GLOBAL}
    names = {int(p.id): p.name for p in project_list().filter(id__in=ids)} if ids else {}
    return [
        {
            "timeframe_label": TIMEFRAME_LABELS[p.board.timeframe],
            "period": p.board.period,
            "board_url": board_url(p.board),
            "scope": "All projects"
            if p.board.project_id == GLOBAL
            else names.get(p.board.project_id) or f"Project {p.board.project_id}",
            "rank": p.rank,
            "score": p.score,
            "members": p.members,
        }
        for p in placings
    ]
