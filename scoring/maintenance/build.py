"""What a restore, a rebuild and a rescore share to build boards aside and swap them in: the
`board-writer` thread, the aggregate streamed into a build, the pending markers the swap puts
in, and the record of the swap kept in Postgres.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError
from django.db import connection as db_connection
from django.db.models.functions import Now

from scoring import redis_boards
from scoring.boards import Board, expires_at
from scoring.eventlog.aggregate import LIVE_POINTS, BoardsQuery
from scoring.eventlog.sql import UNAPPLIED
from scoring.gate import BOARDS_LOCK
from scoring.maintenance.progress import Progress, Ticker
from scoring.redis_boards import BoardBuild
from snapshots.models import BoardsSwap

# The name operators' log filters and the recovery tests know these jobs by (they were the
# snapshots app's before they moved here).
logger = logging.getLogger("leaderboard.snapshots")

RESTORE_LOCK = BOARDS_LOCK  # one restore, rebuild, rescore or exclusion sync at a time


class BoardWriter:
    """Feeds a `BoardBuild` from a thread of its own (`board-writer`), so that Redis digests
    one batch while Postgres streams the next (the GIL is free while either waits on its
    socket). Only this thread touches the build until `close` returns."""

    def __init__(self, build: BoardBuild, depth: int = 16) -> None:
        self.build = build
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="board-writer", daemon=True)
        self.thread.start()

    def add(self, board: Board, scores: Iterable[tuple[str, int]], expire_at: datetime | None) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put((board, scores, expire_at))

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self.build.add(*item)
                except BaseException as exc:  # handed to the caller by add() or close()
                    self.error = exc

    def close(self, *, raise_error: bool = True) -> None:
        """Wait until everything queued is in the build's pipeline; re-raise a failure."""
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()
        if raise_error and self.error is not None:
            raise self.error


def boards_write(build: BoardBuild, boards: Iterable[tuple[Board, Iterable[tuple[str, int]], datetime | None]]) -> None:
    """Write `boards` (board, its (member, score) pairs, when it expires) under the build's
    temporary keys through a `BoardWriter`; they are all in Redis when it returns."""
    writer = BoardWriter(build)
    try:
        for board, scores, expire_at in boards:
            writer.add(board, scores, expire_at)
        writer.close()
    except BaseException:
        writer.close(raise_error=False)
        raise
    build.flush()


def query_build(build: BoardBuild, query: BoardsQuery, *, progress: Progress, what: str) -> tuple[int, int]:
    """Write every board `query` streams (run it inside its REPEATABLE READ transaction) under
    the build's temporary keys (`boards_write`); returns (boards, members)."""
    retention = settings.BOARD_RETENTION_DAYS
    tick = Ticker(progress, what)
    counted = {"boards": 0, "members": 0}

    def streamed():
        for board, user_ids, scores in query.stream():
            counted["boards"] += 1
            counted["members"] += len(user_ids)
            tick(counted["boards"], counted["members"])
            yield board, zip(user_ids, scores, strict=True), expires_at(board.timeframe, board.period, retention)

    boards_write(build, streamed())
    return counted["boards"], counted["members"]


def leftovers_drop(what: str) -> None:
    """Drop the keys an unfinished `what` (a restore, a build) left in Redis; the caller holds
    `RESTORE_LOCK`, so no build is running."""
    if dropped := redis_boards.builds_drop():
        logger.warning("dropped %d keys of an unfinished %s", dropped, what)


def pending_markers(cursor) -> dict[str, int]:
    """Event id -> live points of every row the boards count that the log does not yet record
    as applied: the markers a swap puts in (such rows are at the active version, their live
    points are their points)."""
    cursor.execute(
        f"SELECT e.event_id, {LIVE_POINTS} FROM {UNAPPLIED} u JOIN scoring_contributionevent e ON e.id = u.id"
        f" WHERE {LIVE_POINTS} > 0"
    )
    return dict(cursor.fetchall())


def swap_record(token: str, source: str) -> None:
    """Keep the token of the swap just made, and the Redis server's run id, in Postgres next to
    the log (after the swap: a crash in between only makes the next check restore once more)."""
    values = {"token": token, "redis_run_id": redis_boards.server_run_id() or "", "source": source[:1000]}
    BoardsSwap.objects.update_or_create(id=1, defaults={**values, "swapped_at": Now()})


def recorded_run_id() -> str | None:
    """The run id of the Redis server the boards were last swapped in on (where they were made
    exact), or None when none is recorded. Asked from whichever thread opens a Redis connection:
    a failure drops that thread's Postgres connection, so that the next call connects afresh."""
    try:
        return BoardsSwap.objects.filter(id=1).values_list("redis_run_id", flat=True).first() or None
    except DatabaseError:
        db_connection.close()
        raise
