"""The event log's answer for boards that have left Redis: aggregated once, then archived in
Redis for `API_ARCHIVE_SECONDS` and read there like a live board (docs/API.md, "Expired
periods"), so paging through an old board costs one aggregate, not one per page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

from django.conf import settings
from django.db import connection, transaction

from scoring import redis_boards
from scoring.boards import GLOBAL, Board, midnight, period_end, period_start
from scoring.eventlog.aggregate import day_scores
from scoring.eventlog.sql import user_excluded

T = TypeVar("T")


# in Redis for `API_ARCHIVE_SECONDS` and read there like a live board (docs/API.md, "Expired
# periods"), so paging through an old board costs one aggregate, not one per page.

# A board's scores: its events' grain of (project, day, user), summed per user on the board.
_BOARD_SCORES = "SELECT user_id, sum(score)::bigint FROM ({day_scores}) AS d GROUP BY user_id"


def _board_events(board: Board) -> tuple[str, list[object]]:
    """The SQL condition on the log rows `e` (and its parameters) for the events that score on
    `board`, its excluded contributors left out."""
    clauses, params = [f"NOT {user_excluded('e.user_id')}"], []
    start = period_start(board.timeframe, board.period)
    if start is not None:
        clauses.append("e.occurred_at >= %s AND e.occurred_at < %s")
        params += [midnight(start), midnight(period_end(board.timeframe, board.period))]
    if board.project_id != GLOBAL:
        clauses.append("e.project_id = %s")
        params.append(board.project_id)
    return " AND ".join(clauses), params


def _archive(board: Board) -> None:
    """Aggregate `board` from the log into its Redis archive, unless it is there already.

    A transaction-scoped advisory lock per board makes concurrent readers of the same missing
    archive wait for the one that aggregates, then find its result: one aggregate per board.
    """
    where, params = _board_events(board)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"archive:{board.key}"])
        if redis_boards.archive_exists(board):
            return
        for _ in range(2):  # an exclusion changed during the first: its result may hold who is excluded now
            epoch = redis_boards.exclusions_epoch()  # before the aggregate's snapshot
            cursor.execute(_BOARD_SCORES.format(day_scores=day_scores(where)), params)
            if redis_boards.archive_store(
                board,
                _rows_of(cursor),
                ttl=settings.API_ARCHIVE_SECONDS,
                max_boards=settings.API_ARCHIVE_MAX_BOARDS,
                epoch=epoch,
            ):
                return


def _rows_of(cursor, size: int = 10000) -> Iterator[tuple[int, int]]:
    """The cursor's rows a chunk at a time (a big board never becomes one Python list)."""
    while rows := cursor.fetchmany(size):
        yield from rows


def from_archive(board: Board, read: Callable[[str, str], T]) -> T:
    """`read(archive key, marker)` on the board's archive, made first when missing (and again
    if it expired between the two steps)."""
    key, marker = redis_boards.archive_keys(board)
    for _ in range(2):
        try:
            return read(key, marker)
        except redis_boards.BoardsNotReady:
            _archive(board)
    return read(key, marker)
