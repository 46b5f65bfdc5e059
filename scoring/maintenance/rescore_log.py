"""The rescore's side of the event log: rows read, scored again from their raw bytes under the
target's table, and moved to the target version — each keeping its live points in
`points_prev`, so every aggregate of the log reads the active version's points until the switch
(docs/EXACTLY_ONCE.md). `scoring.maintenance.rescore` runs these in its steps.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from django.db import connection, transaction

from scoring import ingest
from scoring.boards import Board
from scoring.eventlog.aggregate import LIVE_POINTS, day_scores
from scoring.eventlog.sql import UNAPPLIED, is_applied, user_excluded, utc_day
from scoring.ingest import wire
from scoring.models import Contributor
from scoring.redis_boards import BoardBuild
from scoring.rules import ScoringFacts, ScoringTable, points

CHUNK = 50_000  # log ids per bulk transaction

# Whether a row's contributor is excluded from every board (SPEC section 9), as the apply asks.
EXCLUDED = user_excluded("e.user_id")
APPLIED = is_applied("e")
_STAGE = "CREATE TEMP TABLE IF NOT EXISTS rescore_stage (id bigint, points integer) ON COMMIT DELETE ROWS"
_COPY = "COPY rescore_stage (id, points) FROM STDIN"
# The row keeps its live points (those of the active version) in points_prev; no column of any
# index or index predicate changes, so the update is HOT where the page has room (fillfactor).
_MOVE = f"""
WITH moved AS (
    UPDATE scoring_contributionevent e
       SET points_prev = {LIVE_POINTS}, points = s.points, rules_version = %(target)s
      FROM rescore_stage s
     WHERE e.id = s.id AND e.rules_version <> %(target)s{{where}}
    RETURNING e.id, e.user_id, e.project_id, {utc_day("e")} AS day, e.points, {EXCLUDED} AS excluded
){{settle}}
SELECT user_id, project_id, day, points, excluded FROM moved
"""
# Bulk: only applied rows (an unapplied row keeps the active version's points for its apply),
# one id range. The switch: every row left, and one worth nothing now needs no apply (its
# ledger row goes).
MOVE_BULK = _MOVE.format(settle="", where=f" AND {APPLIED} AND e.id >= %(lo)s AND e.id < %(hi)s")
MOVE_APPLIED = _MOVE.format(settle="", where=f" AND {APPLIED}")
MOVE_ALL = _MOVE.format(
    settle=f", settled AS (DELETE FROM {UNAPPLIED} u USING moved m WHERE u.id = m.id AND m.points <= 0)", where=""
)
# A chunk of the bulk: the rows of an id range not at the target (those at it, moved by an
# earlier run, the build reads as they are).
_READ_RANGE = (
    f"SELECT e.id, {APPLIED}, e.raw, {LIVE_POINTS} FROM scoring_contributionevent e"
    " WHERE e.id >= %(lo)s AND e.id < %(hi)s AND e.rules_version <> %(target)s"
)
# Every rescore transaction: its statements are short, and JIT compiling them would cost more
# than they do (tens of milliseconds, in the switch too). The catch-up and the switch find their
# rows by id: the planner's statistics on rules_version are stale while the log moves (it would
# think no row is off the target, and join the log by a sequential scan).
NO_JIT = "SET LOCAL jit = off"
BY_INDEX = "SET LOCAL enable_seqscan = off"
# The rows logged since the transaction snapshot `since` (the txid index finds them) and those
# `held` back as unapplied by an earlier pass.
_READ_SINCE = (
    f"SELECT e.id, {APPLIED}, e.raw, {LIVE_POINTS} FROM scoring_contributionevent e"
    " WHERE ((e.txid >= txid_snapshot_xmin(%(since)s::txid_snapshot)"
    " AND NOT txid_visible_in_snapshot(e.txid, %(since)s::txid_snapshot)) OR e.id = ANY(%(held)s))"
    " AND e.rules_version <> %(target)s"
)


class Scorer:
    """Points under one table for logged wire messages, memoised on the few facts points depend
    on; counts the rows it scored to other points than their live ones (`changed`)."""

    def __init__(self, table: ScoringTable) -> None:
        self.table = table
        self.cache: dict[ScoringFacts, int] = {}
        self.undecodable = 0
        self.changed = 0

    def __call__(self, raw: bytes, live: int) -> int:
        try:
            facts = wire.scoring_facts(raw)
        except wire.InvalidEvent:
            # Only rows written around the wire (tests, hand-made fixes) lack their message: such
            # a row keeps the points it has, and the summary says how many there were.
            self.undecodable += 1
            return live
        found = self.cache.get(facts)
        if found is None:
            found = self.cache[facts] = points(facts, self.table)
        return found

    def rows(self, rows: Iterable[tuple], held: list[int] | None) -> list[tuple[int, int]]:
        """(id, new points) of the rows (id, applied, raw, live points) to move; with `held`,
        the unapplied ones are put there instead (at the active version until their apply)."""
        staged = []
        for row_id, applied, raw, live in rows:
            if held is not None and not applied:
                held.append(row_id)
                continue
            new = self(raw, live)
            staged.append((row_id, new))
            self.changed += new != live
        return staged


@dataclass
class Moving:
    """Where the bulk and catch-up passes are: the transaction snapshot of the last pass and the
    rows it held back as unapplied."""

    since: str
    held: list[int] = field(default_factory=list)


@dataclass
class Chunk:
    """One id range read and scored, ready to be moved."""

    lo: int
    hi: int
    staged: list[tuple[int, int]]  # (id, new points)


class ChunkReader:
    """Reads, decodes and scores the bulk's chunks on a thread of its own (`rescore-reader`, with
    its own Postgres connection), one or two ahead of the thread that moves them: Python scores
    chunk k+1 while Postgres updates chunk k. Reading outside the moving transaction is exact:
    a row read as applied stays applied, and only this rescore changes a row's version (the
    UPDATE checks both again, and its row count is checked)."""

    def __init__(self, ranges: list[tuple[int, int]], target: int, scorer: Scorer, moving: Moving) -> None:
        self.ranges, self.target, self.scorer, self.moving = ranges, target, scorer, moving
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="rescore-reader", daemon=True)
        self.thread.start()

    def __iter__(self):
        while (item := self.queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    def _run(self) -> None:
        try:
            for lo, hi in self.ranges:
                if self.stopping.is_set():
                    return
                self._put(self._read(lo, hi))
            self._put(None)
        except BaseException as exc:  # handed to the moving thread
            self._put(exc)
        finally:
            connection.close()  # this thread's own connection

    def _put(self, item) -> None:
        while not self.stopping.is_set():
            with contextlib.suppress(queue.Full):
                self.queue.put(item, timeout=0.5)
                return

    def _read(self, lo: int, hi: int) -> Chunk:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(NO_JIT)
            cursor.execute(_READ_RANGE, {"lo": lo, "hi": hi, "target": self.target})
            rows = cursor.fetchall()
        return Chunk(lo, hi, self.scorer.rows(rows, self.moving.held))

    def close(self) -> None:
        self.stopping.set()
        self.thread.join()


def rows_since(cursor, moving: Moving, target: int) -> list[tuple]:
    """The rows (id, applied, raw, live points) logged since `moving.since` or held back by it,
    not at `target` yet."""
    cursor.execute(_READ_SINCE, {"since": moving.since, "held": moving.held, "target": target})
    return cursor.fetchall()


def rows_stage(cursor, staged: list[tuple[int, int]]) -> None:
    """COPY (id, new points) into this transaction's `rescore_stage`, for a `MOVE_*` statement."""
    cursor.execute(_STAGE)
    # Django's cursor does not wrap COPY: this makes a dropped connection a DatabaseError.
    with connection.wrap_database_errors, cursor.copy(_COPY) as copy:
        for row in staged:
            copy.write_row(row)


def rows_move(
    cursor,
    staged: list[tuple[int, int]],
    statement: str,
    target: int,
    build: BoardBuild,
    plan: ingest.BoardPlan,
    touched: set[Board] | None = None,
) -> int:
    """Move the staged rows to `target` and add their new points to the build (the boards that
    changed into `touched`). Returns how many."""
    if not staged:
        return 0
    rows_stage(cursor, staged)
    cursor.execute(statement, {"target": target})
    moved = cursor.fetchall()
    scores: dict[Board, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for user_id, project_id, day, new, excluded in moved:
        if new > 0 and not excluded:  # as the apply: an excluded contributor is on no board
            for board in plan.boards_on(int(project_id), day):
                scores[board][int(user_id)] += new
    for board, members in scores.items():
        build.add(board, members.items(), plan.expires[board])
    if touched is not None:
        touched.update(scores)
    return len(moved)


# The grain of the boards (`day_scores`) of the rows of one id range at the target, with the
# target's points (its `points`).
_CHUNK_GRAIN = day_scores("e.id >= %(lo)s AND e.id < %(hi)s AND e.rules_version = %(target)s", points="e.points")


class Tally:
    """The boards' grain — points per (project, UTC day, user), `day_scores` — of the rows at the
    target, read chunk by chunk as the bulk moves them (moved now, or by an earlier run), then
    spread over the boards each (project, day) lands on by the consumer's rule (`BoardPlan`).

    Why not `BoardsQuery` over the whole log after the bulk: in bench/rescore.py (1M events)
    that second pass made the build 12.6-31.5 s instead of 4.6 s, and the rescore 1.5-2.6 times
    as long (with more rows left to catch up); each chunk's grain, read in the transaction that
    moved it, finds its pages still in memory. The sum is the aggregate's own `day_scores`."""

    def __init__(self) -> None:
        self.groups: dict[tuple[int, date], dict[str, int]] = {}

    def add_chunk(self, cursor, lo: int, hi: int, target: int) -> None:
        """Add the grain of the rows of [lo, hi) at `target` (in the transaction that moved them)."""
        cursor.execute(_CHUNK_GRAIN, {"lo": lo, "hi": hi, "target": target})
        for project_id, day, user_id, score in cursor.fetchall():
            group = self.groups.get((project_id, day))
            if group is None:
                group = self.groups[(project_id, day)] = {}
            user = str(user_id)
            group[user] = group.get(user, 0) + score

    def boards(self, plan: ingest.BoardPlan) -> dict[Board, dict[str, int]]:
        """Every board's members and scores, the excluded contributors left out (who is excluded
        changes meanwhile: those contributors are synced after the swap)."""
        excluded = {str(user_id) for user_id in Contributor.objects.excluded().values_list("id", flat=True)}
        boards: dict[Board, dict[str, int]] = {}
        for (project_id, day), group in self.groups.items():
            for user_id in excluded.intersection(group):
                del group[user_id]
            for board in plan.boards_on(int(project_id), day.toordinal()):
                members = boards.get(board)
                if members is None:
                    boards[board] = dict(group)
                    continue
                get = members.get
                for user_id, score in group.items():
                    members[user_id] = get(user_id, 0) + score
        return boards
