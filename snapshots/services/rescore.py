"""Rescore: move every event of the log to another rules version while the consumers keep
running, build every board aside from it, then switch the version and the boards at once.

docs/EXACTLY_ONCE.md ("Rules versions, the boards gate and the rescore") has each step and
what a process killed at each one leaves. In short:

1. bulk: the applied rows not at the target version are scored again from their raw bytes,
   a chunk of ids per transaction, each keeping its live points in `points_prev` — so every
   aggregate of the log still reads the active version's points, and nothing else changes;
2. build: the boards of the rows at the target, written aside (`BoardBuild`);
3. catch-up passes: what was logged or applied since, scored again and added to the build;
4. switch, under the boards gate held exclusive: the last rows, the version, the pending
   markers, the sentinel aside, commit; then the swap.

`RESTORE_LOCK` is held throughout, so no restore, rebuild or other rescore interleaves; so is
`SNAPSHOT_LOCK`, so that snapshots wait and are taken of the new version.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import redis
from django.conf import settings
from django.db import connection, transaction

from scoring import clock, exclusions, ingest, redis_boards
from scoring.boards import Board, expires_at
from scoring.eventlog.aggregate import LIVE_POINTS, BoardsQuery
from scoring.eventlog.sql import is_excluded, user_excluded
from scoring.faults import crash_point
from scoring.gate import gate_exclusive, session_lock
from scoring.ingest import wire
from scoring.ranking import BoardMoves, rank_moves
from scoring.redis_boards import BoardBuild, BuildLost
from scoring.rules import RowChange, ScoringFacts, ScoringTable, points, table_diff
from scoring.rules.versions import (
    UnknownVersion,
    rules_active,
    rules_current,
    rules_ensure,
    version_activate,
    version_target,
)
from snapshots.services.aggregate import Progress, quiet, repeatable_read
from snapshots.services.restore import RESTORE_LOCK, BoardWriter, pending_markers, rebuild_locked, swap_record
from snapshots.services.snapshot import SNAPSHOT_LOCK

logger = logging.getLogger("leaderboard.snapshots")

CHUNK = 50_000  # log ids per bulk transaction
CATCH_UP_ENOUGH = 1_000  # a catch-up pass that moved fewer rows is the last before the switch
CATCH_UP_PASSES = 5
PROGRESS_EVERY = 250_000  # events between two progress lines
BUILD_ATTEMPTS = 2  # a build that loses boards (Redis emptied mid-way) is made once more

# Whether a row's contributor is excluded from every board (SPEC section 9), as the apply asks.
_EXCLUDED = user_excluded("e.user_id")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_STAGE = "CREATE TEMP TABLE IF NOT EXISTS rescore_stage (id bigint, points integer) ON COMMIT DELETE ROWS"
_COPY = "COPY rescore_stage (id, points) FROM STDIN"
# The row keeps its live points (those of the active version) in points_prev; no column of any
# index or index predicate changes, so the update is HOT where the page has room (fillfactor).
_MOVE = f"""
UPDATE scoring_contributionevent e
   SET points_prev = {LIVE_POINTS}, points = s.points, rules_version = %(target)s{{applied}}
  FROM rescore_stage s
 WHERE e.id = s.id AND e.rules_version <> %(target)s{{where}}
RETURNING e.user_id, e.project_id, (extract(epoch FROM e.occurred_at) * 1000000)::bigint, e.points, {_EXCLUDED}
"""
# Bulk: only applied rows (an unapplied row keeps the active version's points for its apply),
# one id range. The switch: every row left, and one worth nothing now needs no apply.
_MOVE_BULK = _MOVE.format(applied="", where=" AND e.applied AND e.id >= %(lo)s AND e.id < %(hi)s")
_MOVE_APPLIED = _MOVE.format(applied="", where=" AND e.applied")
_MOVE_ALL = _MOVE.format(applied=", applied = e.applied OR s.points <= 0", where="")
# A chunk of the bulk: every row of an id range — those at the target too (without their
# bytes), whose points the boards aside add up as they are.
_READ_RANGE = (
    f"SELECT e.id, e.applied, CASE WHEN e.rules_version = %(target)s THEN NULL ELSE e.raw END, {LIVE_POINTS},"
    " e.rules_version = %(target)s, e.points, e.project_id::text, e.user_id::text,"
    " (e.occurred_at AT TIME ZONE 'UTC')::date - date '1970-01-01'"
    " FROM scoring_contributionevent e WHERE e.id >= %(lo)s AND e.id < %(hi)s"
)
# Every rescore transaction: its statements are short, and JIT compiling them would cost more
# than they do (tens of milliseconds, in the switch too). The catch-up and the switch find their
# rows by id: the planner's statistics on rules_version are stale while the log moves (it would
# think no row is off the target, and join the log by a sequential scan).
_NO_JIT = "SET LOCAL jit = off"
_BY_INDEX = "SET LOCAL enable_seqscan = off"
# The rows logged since the transaction snapshot `since` (the txid index finds them) and those
# `held` back as unapplied by an earlier pass.
_READ_SINCE = (
    f"SELECT e.id, e.applied, e.raw, {LIVE_POINTS} FROM scoring_contributionevent e"
    " WHERE ((e.txid >= txid_snapshot_xmin(%(since)s::txid_snapshot)"
    " AND NOT txid_visible_in_snapshot(e.txid, %(since)s::txid_snapshot)) OR e.id = ANY(%(held)s))"
    " AND e.rules_version <> %(target)s"
)


RescoreError = UnknownVersion  # the one way a rescore cannot run as asked: a version that does not exist


class Scorer:
    """Points under one table for logged wire messages, memoised on the few facts points depend on."""

    def __init__(self, table: ScoringTable) -> None:
        self.table = table
        self.cache: dict[ScoringFacts, int] = {}
        self.undecodable = 0

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


@dataclass
class RescoreResult:
    target: int
    previous: int
    changes: list[RowChange]  # the target's table against the previous active one
    created: bool = False  # the target version was recorded by this rescore
    switched: bool = True  # False: nothing to do (the target was active and scored every event)
    events: int = 0  # log rows this run moved to the target
    changed: int = 0  # of which the points changed
    undecodable: int = 0  # rows whose raw bytes did not decode: they kept their points
    boards: int = 0
    members: int = 0
    gate_wait_ms: float = 0.0  # waiting for the records and applies in flight
    locked_ms: float = 0.0  # the gate held exclusive: no record or apply
    paused_ms: float = 0.0  # from taking the gate to the swap: applies held off
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step (locked_*: inside the switch)
    switch_window: tuple[float, float] = (0.0, 0.0)  # unix times: the gate asked for, the swap done

    def lap(self, phase: str, since: float) -> float:
        """Add the time since `since` to `phase`; returns now (`time.perf_counter`)."""
        now = time.perf_counter()
        self.phases[phase] = round(self.phases.get(phase, 0.0) + now - since, 4)
        return now


@dataclass
class _Moving:
    """Where the bulk and catch-up passes are: the transaction snapshot of the last pass and the
    rows it held back as unapplied."""

    since: str
    held: list[int] = field(default_factory=list)


def rules_rescore(
    *,
    to: int | None = None,
    chunk: int = CHUNK,
    progress: Progress = quiet,
    after_chunk: Callable[[int], None] | None = None,
    before_switch: Callable[[], None] | None = None,
    before_swap: Callable[[], None] | None = None,
) -> RescoreResult:
    """Re-score every event of the log from its raw bytes under the settings' table (or
    version `to`'s: a rollback), rebuild every board aside and swap them in at once with the
    version, while consumers keep running. A rescore killed anywhere leaves the log and the
    boards exact (under the version still active), and running it again resumes it.

    `after_chunk` (tests) runs after each bulk chunk with the events moved so far;
    `before_switch` (tests) after the catch-up, before the gate is taken; `before_swap` (tests)
    after the switch's commit, before the swap."""
    started = time.perf_counter()
    with session_lock(RESTORE_LOCK), session_lock(SNAPSHOT_LOCK):
        previous = rules_ensure()
        target, created = version_target(to, record=True)
        result = RescoreResult(target.number, previous.number, table_diff(target.table, previous.table), created)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FILTER (WHERE rules_version <> %s), count(*) FROM scoring_contributionevent",
                [target.number],
            )
            behind, total = cursor.fetchone()
        if target.number == previous.number and not behind:
            result.switched = False
            result.seconds = time.perf_counter() - started
            return result
        if dropped := redis_boards.builds_drop():  # under RESTORE_LOCK: no build is running
            logger.warning("dropped %d keys of an unfinished build", dropped)
        progress(
            f"rescore: version {previous.number} -> {target.number}: {behind} of {total} events to score again"
            f" ({_changes_text(result.changes)})"
        )
        scorer, tally = Scorer(target.table), Tally()
        plan = ingest.BoardPlan(clock.now())  # which boards a row lands on: one rule, one instant
        lap = result.lap("count", started)
        moving = _bulk(target.number, scorer, result, chunk, progress, after_chunk, tally)
        lap = result.lap("bulk", lap)
        for attempt in range(BUILD_ATTEMPTS):
            build = BoardBuild()
            try:
                if attempt == 0:
                    _build_from_tally(build, tally, plan, progress)
                    tally = None  # its memory
                else:
                    _build_aside(build, target.number, plan.now, progress)
                crash_point("rescore_after_build")
                lap = result.lap("build", lap)
                moving = _catch_up(build, plan, target.number, scorer, moving, result, progress)
                lap = result.lap("catch_up", lap)
                if before_switch is not None:
                    before_switch()
                pending, locked_at = _switch(build, plan, target.number, scorer, moving, result)
                break
            except BuildLost as exc:
                with contextlib.suppress(redis.RedisError):
                    build.discard()
                if attempt + 1 == BUILD_ATTEMPTS:
                    raise
                logger.warning("rescore: built boards were lost (%s); building again", exc)
            except BaseException:
                with contextlib.suppress(redis.RedisError):
                    build.discard()
                raise
        crash_point("rescore_before_swap")
        if before_swap is not None:
            before_swap()
        try:
            build.swap(pending)
            rebuilt = None
        except (BuildLost, redis.ResponseError) as exc:
            # The version is switched and committed, and Redis may hold part of the swap (its MULTI
            # goes on past a failed RENAME): no sentinel, and the boards from the log at the new
            # version, still under the boards lock (a transient error, out of memory say, too:
            # nothing in Redis can be trusted, the consumers restore if this rebuild fails).
            redis_boards.ready_clear()
            logger.error("rescore: the swap failed (%s); rebuilding the boards from the log", exc)
            rebuilt = rebuild_locked(progress)
        # Exclusions changed while this rescore held the boards lock left their contributors
        # dirty (their sync needs that lock): put them right on the new boards, as a restore does.
        while rebuilt is None and exclusions.contributors_sync().contributors:
            pass
    # The locks are free: a consumer whose apply met the sentinel aside, and that waits for the
    # boards lock to restore, finds the new boards now. So applies were held off until here.
    result.paused_ms = (time.perf_counter() - locked_at) * 1000
    result.switch_window = (result.switch_window[0], time.time())
    lap = result.lap("switch", lap)
    if rebuilt is None:
        result.boards, result.members = build.boards, build.members()
    else:
        result.boards, result.members = rebuilt.boards, rebuilt.members
    rules_current(reload=True)
    ingest.pending_tidy(event_ids=list(pending))
    result.undecodable = scorer.undecodable
    result.seconds = time.perf_counter() - started
    result.lap("tidy", lap)
    logger.info(
        "rescored %d events to rules version %d (was %d) in %.2fs: gate held %.0f ms, applies paused %.0f ms (%s)",
        result.events,
        result.target,
        result.previous,
        result.seconds,
        result.locked_ms,
        result.paused_ms,
        " ".join(f"{phase}={seconds * 1000:.0f}ms" for phase, seconds in result.phases.items()),
        extra={"locked_ms": round(result.locked_ms, 1), "paused_ms": round(result.paused_ms, 1)},
    )
    return result


def _changes_text(changes: list[RowChange]) -> str:
    if not changes:
        return "the same table"
    return ", ".join(f"{c.row} {c.active} -> {c.wanted}" for c in changes)


class Tally:
    """Points per (project, UTC day) and user of the rows at the target the bulk saw — moved by
    it, or at the target already (a rescore run again) — from which the boards aside are spread."""

    def __init__(self) -> None:
        self.groups: dict[tuple[str, int], dict[str, int]] = {}

    def add(self, project_id: str, day: int, user_id: str, points: int) -> None:
        if points > 0:  # as the boards: a row worth nothing is on none
            group = self.groups.get((project_id, day))
            if group is None:
                group = self.groups[(project_id, day)] = {}
            group[user_id] = group.get(user_id, 0) + points


@dataclass
class _Chunk:
    """One id range read and scored, ready to be moved."""

    lo: int
    hi: int
    staged: list[tuple[int, int]]  # (id, new points)


class _ChunkReader:
    """Reads, decodes and scores the bulk's chunks on a thread of its own (`rescore-reader`, with
    its own Postgres connection), one or two ahead of the thread that moves them: Python scores
    chunk k+1 while Postgres updates chunk k. Reading outside the moving transaction is exact:
    a row read as applied stays applied, and only this rescore changes a row's version (the
    UPDATE checks both again, and its row count is checked)."""

    def __init__(self, ranges: list[tuple[int, int]], target: int, scorer: Scorer, tally: Tally, moving: _Moving):
        self.ranges, self.target, self.scorer, self.tally, self.moving = ranges, target, scorer, tally, moving
        self.changed = 0
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

    def _read(self, lo: int, hi: int) -> _Chunk:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_NO_JIT)
            cursor.execute(_READ_RANGE, {"lo": lo, "hi": hi, "target": self.target})
            rows = cursor.fetchall()
        staged, tally, scorer = [], self.tally, self.scorer
        for row_id, applied, raw, live, at_target, points_now, project_id, user_id, day in rows:
            if at_target:
                tally.add(project_id, day, user_id, points_now)
            elif not applied:
                self.moving.held.append(row_id)  # at the active version until its apply: moved later
            else:
                new = scorer(raw, live)
                staged.append((row_id, new))
                self.changed += new != live
                tally.add(project_id, day, user_id, new)
        return _Chunk(lo, hi, staged)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join()


def _bulk(
    target: int,
    scorer: Scorer,
    result: RescoreResult,
    chunk: int,
    progress: Progress,
    after_chunk: Callable[[int], None] | None,
    tally: Tally,
) -> _Moving:
    """Step 1: every applied row not at `target`, scored again and moved, a chunk of ids per
    transaction; every row at `target` then (moved or already there) added to `tally`. Returns
    the transaction snapshot it started from (every row visible in it was read) and the rows it
    left because they were not applied yet."""
    with connection.cursor() as cursor:
        # One statement: the ids bound exactly the rows visible in the snapshot it returns.
        cursor.execute("SELECT txid_current_snapshot()::text, min(id), max(id) FROM scoring_contributionevent")
        since, first, last = cursor.fetchone()
    moving = _Moving(since)
    if first is None:
        return moving
    started, next_line = time.perf_counter(), PROGRESS_EVERY
    reader = _ChunkReader([(lo, lo + chunk) for lo in range(first, last + 1, chunk)], target, scorer, tally, moving)
    try:
        for piece in reader:
            if piece.staged:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(_NO_JIT)
                    _stage(cursor, piece.staged)
                    cursor.execute(_MOVE_BULK, {"target": target, "lo": piece.lo, "hi": piece.hi})
                    if cursor.rowcount != len(piece.staged):  # an applied row is never unapplied, nor deleted
                        raise RuntimeError(f"{len(piece.staged) - cursor.rowcount} rows changed under the rescore")
                    result.events += cursor.rowcount
            crash_point("rescore_after_chunk")
            if after_chunk is not None:
                after_chunk(result.events)
            if result.events >= next_line:
                progress(f"rescore: {result.events} events scored again ({time.perf_counter() - started:.1f}s)")
                next_line = (result.events // PROGRESS_EVERY + 1) * PROGRESS_EVERY
    finally:
        reader.close()
    result.changed += reader.changed
    return moving


def _score(rows: Iterable[tuple], scorer: Scorer, held: list[int] | None, result: RescoreResult) -> list[tuple]:
    """(id, new points) of the rows (id, applied, raw, live points) to move; with `held`, the
    unapplied ones are put there instead."""
    staged = []
    for row_id, applied, raw, live in rows:
        if held is not None and not applied:
            held.append(row_id)
            continue
        new = scorer(raw, live)
        staged.append((row_id, new))
        result.changed += new != live
    return staged


def _stage(cursor, staged: list[tuple[int, int]]) -> None:
    cursor.execute(_STAGE)
    # Django's cursor does not wrap COPY: this makes a dropped connection a DatabaseError.
    with connection.wrap_database_errors, cursor.copy(_COPY) as copy:
        for row in staged:
            copy.write_row(row)


def _build_from_tally(build: BoardBuild, tally: Tally, plan: ingest.BoardPlan, progress: Progress) -> None:
    """Step 2: every board of the rows the bulk tallied, spread over the boards each (project,
    day) lands on by the consumer's own rule (`BoardPlan`), the excluded contributors left out
    (who is excluded changes meanwhile: those contributors are synced after the swap), written
    aside by the `board-writer` thread."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT c.id::text FROM scoring_contributor c WHERE {is_excluded('c')}")
        excluded = {user_id for (user_id,) in cursor.fetchall()}
    boards: dict[Board, dict[str, int]] = {}
    for (project_id, day), group in tally.groups.items():
        for user_id in excluded.intersection(group):
            del group[user_id]
        for board in plan.boards(int(project_id), _EPOCH + timedelta(days=day)):
            members = boards.get(board)
            if members is None:
                boards[board] = dict(group)
                continue
            get = members.get
            for user_id, points_sum in group.items():
                members[user_id] = get(user_id, 0) + points_sum
    writer = BoardWriter(build)
    try:
        for board, members in boards.items():
            writer.add(board, members.items(), plan.expires[board])
        writer.close()
    except BaseException:
        writer.close(raise_error=False)
        raise
    build.flush()
    progress(f"rescore: {len(boards)} boards, {sum(map(len, boards.values()))} members built aside")


def _build_aside(build: BoardBuild, target: int, now: datetime, progress: Progress) -> None:
    """Step 2 again, for a build lost midway (Redis emptied): every board of the rows at `target`
    (their `points`), as of one REPEATABLE READ transaction, under temporary keys; Postgres
    streams while the `board-writer` thread writes."""
    retention = settings.BOARD_RETENTION_DAYS
    writer = BoardWriter(build)
    boards = members = 0
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            repeatable_read(cursor, read_only=True)
            query = BoardsQuery.prepare(
                cursor, now=now, points="e.points", only=("e.rules_version = %(target)s", {"target": target})
            )
            for board, user_ids, scores in query.stream():
                writer.add(
                    board, zip(user_ids, scores, strict=True), expires_at(board.timeframe, board.period, retention)
                )
                boards += 1
                members += len(user_ids)
        writer.close()
    except BaseException:
        writer.close(raise_error=False)
        raise
    build.flush()
    progress(f"rescore: {boards} boards, {members} members built aside from {query.delta_events} events")


def _catch_up(
    build: BoardBuild,
    plan: ingest.BoardPlan,
    target: int,
    scorer: Scorer,
    moving: _Moving,
    result: RescoreResult,
    progress: Progress,
) -> _Moving:
    """Step 3, without any lock: the rows logged since the last pass (and those it held back),
    once applied, moved and added to the build; until a pass finds few."""
    for n in range(1, CATCH_UP_PASSES + 1):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"{_NO_JIT}; {_BY_INDEX}")
            cursor.execute("SELECT txid_current_snapshot()::text")  # before the read: the next pass starts here
            upcoming = _Moving(cursor.fetchone()[0])
            cursor.execute(_READ_SINCE, {"since": moving.since, "held": moving.held, "target": target})
            staged = _score(cursor.fetchall(), scorer, upcoming.held, result)
            moved = _move(cursor, staged, _MOVE_APPLIED, target, build, plan)
        result.events += moved
        build.flush()
        progress(f"rescore: catch-up {n}: {moved} events scored again, {len(upcoming.held)} not applied yet")
        moving = upcoming
        if moved < CATCH_UP_ENOUGH:
            break
    return moving


def _move(
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
    _stage(cursor, staged)
    cursor.execute(statement, {"target": target})
    moved = cursor.fetchall()
    scores: dict[Board, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for user_id, project_id, micros, new, excluded in moved:
        if new > 0 and not excluded:  # as the apply: an excluded contributor is on no board
            for board in plan.boards(int(project_id), _EPOCH + timedelta(microseconds=micros)):
                scores[board][int(user_id)] += new
    for board, members in scores.items():
        build.add(board, members.items(), plan.expires[board])
    if touched is not None:
        touched.update(scores)
    return len(moved)


def _switch(
    build: BoardBuild, plan: ingest.BoardPlan, target: int, scorer: Scorer, moving: _Moving, result: RescoreResult
) -> tuple[dict[str, int], float]:
    """Step 4, under the boards gate held exclusive: the rows still not at `target` (the newest
    and the unapplied) moved and added to the build, `target` made active, the markers of the
    counted rows not yet applied, the swap's token recorded; the sentinel aside; commit. The
    caller swaps. Returns the markers and when the gate was taken (`time.perf_counter`)."""
    # Every built board still whole, before the gate (a round trip per board: not while it is held);
    # under the gate, only the boards the last rows change are checked again (an emptied Redis shows
    # there, or in the swap's RENAME, which then fails: `rules_rescore` rebuilds).
    build.check()
    touched: set[Board] = set()
    asked = time.perf_counter()
    result.switch_window = (time.time(), 0.0)
    paused = committing = False
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            gate_exclusive(cursor)
            locked = lap = time.perf_counter()
            cursor.execute(f"{_NO_JIT}; {_BY_INDEX}")
            cursor.execute(_READ_SINCE, {"since": moving.since, "held": moving.held, "target": target})
            staged = _score(cursor.fetchall(), scorer, None, result)
            result.events += _move(cursor, staged, _MOVE_ALL, target, build, plan, touched)
            lap = result.lap("locked_rows", lap)
            version_activate(cursor, target)
            pending = pending_markers(cursor)  # the live points are the target's now
            swap_record(build.token, f"rescore to rules version {target}")
            lap = result.lap("locked_versions", lap)
            redis_boards.ready_pause()  # from here no apply until the swap, whatever happens
            paused = True
            build.check(touched)
            lap = result.lap("locked_check", lap)
            crash_point("rescore_before_commit")
            committing = True
    except BaseException:
        # Rolled back: the log is as before the switch. Give the live boards their sentinel back,
        # unless the commit itself failed (then whether it happened is unknown: no sentinel, and
        # the consumers restore the boards from whichever log it is).
        if paused and not committing:
            with contextlib.suppress(redis.RedisError):
                redis_boards.ready_resume()
        raise
    committed = result.lap("locked_commit", lap)
    result.gate_wait_ms = (locked - asked) * 1000
    result.locked_ms = (committed - locked) * 1000
    return pending, locked


@dataclass
class DryRunResult:
    active: int
    target: int | None  # None: the settings' table, a version not recorded yet
    changes: list[RowChange]
    events: int = 0
    changed: int = 0
    points_before: int = 0  # on the global all-time board
    points_after: int = 0
    moves: BoardMoves | None = None
    undecodable: int = 0
    seconds: float = 0.0


def rescore_dry_run(*, to: int | None = None, top: int = 10, progress: Progress = quiet) -> DryRunResult:
    """What `rules_rescore` would change, changing nothing: how many events change points, and
    the biggest rank moves on the global all-time board (contributors excluded from the boards
    left out), from one REPEATABLE READ view of the log."""
    started = time.perf_counter()
    active = rules_active()
    target, _ = version_target(to, record=False)
    result = DryRunResult(active.number, target.number, table_diff(target.table, active.table))
    scorer = Scorer(target.table)
    before: dict[int, int] = defaultdict(int)
    after: dict[int, int] = defaultdict(int)
    with transaction.atomic(), connection.cursor() as cursor:
        repeatable_read(cursor, read_only=True)
        with connection.chunked_cursor() as rows:
            rows.execute(f"SELECT e.raw, {LIVE_POINTS}, e.user_id, {_EXCLUDED} FROM scoring_contributionevent e")
            next_line = PROGRESS_EVERY
            while batch := rows.fetchmany(10_000):
                for raw, live, user_id, excluded in batch:
                    new = scorer(raw, live)
                    result.events += 1
                    result.changed += new != live
                    if not excluded:
                        if live > 0:
                            before[int(user_id)] += live
                        if new > 0:
                            after[int(user_id)] += new
                if result.events >= next_line:
                    progress(f"rescore --dry-run: {result.events} events read")
                    next_line += PROGRESS_EVERY
    result.points_before, result.points_after = sum(before.values()), sum(after.values())
    result.moves = rank_moves(before, after, top=top)
    result.undecodable = scorer.undecodable
    result.seconds = time.perf_counter() - started
    return result
