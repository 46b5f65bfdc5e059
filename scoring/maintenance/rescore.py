"""Rescore: move every event of the log to another rules version while the consumers keep
running, build every board aside from it, then switch the version and the boards at once.

`Rescore` has one method per step of docs/EXACTLY_ONCE.md ("The rescore, step by step"), which
says what a process killed at each one leaves. In short:

1. `target`: the version to move to (recorded if new, by `scoring.rules.versions`);
2. `bulk`: the applied rows not at the target are scored again from their raw bytes, a chunk of
   ids per transaction, each keeping its live points in `points_prev` — so every aggregate of
   the log still reads the active version's points, and nothing else changes;
3. `build_aside`: the boards of the rows at the target, by the one aggregate of the log
   (`scoring.eventlog.aggregate`) with the target's points, written aside (`BoardBuild`);
4. `catch_up`: what was logged or applied since, scored again and added to the build;
5. `switch`, under the boards gate held exclusive: the last rows, the version, the pending
   markers, the sentinel aside, commit;
6. `swap`: the built boards in at once; 7. `tidy`: the markers left, the summary;
8. `achievements`: streak days and achievements recomputed under the new points.

`RESTORE_LOCK` is held throughout, so no restore, rebuild or other rescore interleaves; so is
`SNAPSHOT_LOCK`, so that snapshots wait and are taken of the new version. The fault points
(`scoring.faults.point`) are named `rescore_<where>`.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import redis
from django.db import connection, transaction

from scoring import clock, exclusions, faults, ingest, redis_boards
from scoring.achievements.services import achievements_recompute
from scoring.boards import Board
from scoring.eventlog.aggregate import BoardsQuery, repeatable_read
from scoring.gate import gate_exclusive, session_lock
from scoring.maintenance.build import (
    RESTORE_LOCK,
    boards_write,
    leftovers_drop,
    logger,
    pending_markers,
    query_build,
    swap_record,
)
from scoring.maintenance.progress import PROGRESS_EVERY, Progress, quiet
from scoring.maintenance.rescore_log import (
    BY_INDEX,
    CHUNK,
    MOVE_ALL,
    MOVE_APPLIED,
    MOVE_BULK,
    NO_JIT,
    ChunkReader,
    Moving,
    Scorer,
    Tally,
    rows_move,
    rows_since,
    rows_stage,
)
from scoring.maintenance.restore import RestoreResult, rebuild_locked
from scoring.redis_boards import BoardBuild, BuildLost
from scoring.rules import RowChange, table_diff
from scoring.rules.versions import UnknownVersion, rules_current, rules_ensure, version_activate, version_target
from snapshots.services import SNAPSHOT_LOCK

CATCH_UP_ENOUGH = 1_000  # a catch-up pass that moved fewer rows is the last before the switch
CATCH_UP_PASSES = 5
BUILD_ATTEMPTS = 2  # a build that loses boards (Redis emptied mid-way) is made once more

RescoreError = UnknownVersion  # the one way a rescore cannot run as asked: a version that does not exist


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


def rules_rescore(*, to: int | None = None, chunk: int = CHUNK, progress: Progress = quiet) -> RescoreResult:
    """Re-score every event of the log from its raw bytes under the settings' table (or
    version `to`'s: a rollback), rebuild every board aside and swap them in at once with the
    version, while consumers keep running. A rescore killed anywhere leaves the log and the
    boards exact (under the version still active), and running it again resumes it."""
    return Rescore(to=to, chunk=chunk, progress=progress).run()


class Rescore:
    """One rescore: `run` takes the locks and calls the steps in order; each step reads and
    leaves what the next needs on `self`."""

    def __init__(self, *, to: int | None, chunk: int, progress: Progress) -> None:
        self.to, self.chunk, self.progress = to, chunk, progress
        self.started = self.lap_start = time.perf_counter()
        self.result: RescoreResult | None = None
        self.scorer: Scorer | None = None
        self.plan: ingest.BoardPlan | None = None
        self.moving: Moving | None = None
        self.tally: Tally | None = Tally()  # the bulk's, for the first build (then None: its memory)
        self.build: BoardBuild | None = None
        self.pending: dict[str, int] = {}
        self.locked_at = 0.0  # when the switch took the gate (`time.perf_counter`)
        self.rebuilt: RestoreResult | None = None  # the boards rebuilt from the log after a failed swap

    def run(self) -> RescoreResult:
        with session_lock(RESTORE_LOCK), session_lock(SNAPSHOT_LOCK):
            if not self.target():
                return self.result
            self.bulk()
            for attempt in range(BUILD_ATTEMPTS):
                self.build = BoardBuild()
                try:
                    self.build_aside()
                    self.catch_up()
                    faults.point("rescore_before_switch")
                    self.switch()
                    break
                except BuildLost as exc:
                    with contextlib.suppress(redis.RedisError):
                        self.build.discard()
                    if attempt + 1 == BUILD_ATTEMPTS:
                        raise
                    logger.warning("rescore: built boards were lost (%s); building again", exc)
                except BaseException:
                    with contextlib.suppress(redis.RedisError):
                        self.build.discard()
                    raise
            self.swap()
        self.tidy()
        self.achievements()
        return self.result

    def _lap(self, phase: str) -> None:
        self.lap_start = self.result.lap(phase, self.lap_start)

    def target(self) -> bool:
        """Step 1: the version to move to, recorded if new; False when there is nothing to do
        (the target is active and every row is at it)."""
        previous = rules_ensure()
        target, created = version_target(self.to, record=True)
        result = self.result = RescoreResult(
            target.number, previous.number, table_diff(target.table, previous.table), created
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FILTER (WHERE rules_version <> %s), count(*) FROM scoring_contributionevent",
                [target.number],
            )
            behind, total = cursor.fetchone()
        if target.number == previous.number and not behind:
            result.switched = False
            result.seconds = time.perf_counter() - self.started
            return False
        leftovers_drop("build")
        self.progress(
            f"rescore: version {previous.number} -> {target.number}: {behind} of {total} events to score again"
            f" ({_changes_text(result.changes)})"
        )
        self.scorer = Scorer(target.table)
        self.plan = ingest.BoardPlan(clock.now())  # which boards a row lands on: one rule, one instant
        self._lap("count")
        return True

    def bulk(self) -> None:
        """Step 2: every applied row not at the target, scored again and moved, a chunk of ids
        per transaction. Leaves the transaction snapshot it started from (every row visible in
        it was read) and the rows it left because they were not applied yet."""
        result, target = self.result, self.result.target
        with connection.cursor() as cursor:
            # One statement: the ids bound exactly the rows visible in the snapshot it returns.
            cursor.execute("SELECT txid_current_snapshot()::text, min(id), max(id) FROM scoring_contributionevent")
            since, first, last = cursor.fetchone()
        self.moving = Moving(since)
        if first is not None:
            started, next_line = time.perf_counter(), PROGRESS_EVERY
            ranges = [(lo, lo + self.chunk) for lo in range(first, last + 1, self.chunk)]
            reader = ChunkReader(ranges, target, self.scorer, self.moving)
            try:
                for piece in reader:
                    with transaction.atomic(), connection.cursor() as cursor:
                        cursor.execute(NO_JIT)
                        if piece.staged:
                            rows_stage(cursor, piece.staged)
                            cursor.execute(MOVE_BULK, {"target": target, "lo": piece.lo, "hi": piece.hi})
                            if cursor.rowcount != len(piece.staged):  # an applied row is never unapplied, nor deleted
                                raise RuntimeError(
                                    f"{len(piece.staged) - cursor.rowcount} rows changed under the rescore"
                                )
                            result.events += cursor.rowcount
                        self.tally.add_chunk(cursor, piece.lo, piece.hi, target)
                    faults.point("rescore_after_chunk")
                    if result.events >= next_line:
                        elapsed = time.perf_counter() - started
                        self.progress(f"rescore: {result.events} events scored again ({elapsed:.1f}s)")
                        next_line = (result.events // PROGRESS_EVERY + 1) * PROGRESS_EVERY
            finally:
                reader.close()
        self._lap("bulk")

    def build_aside(self) -> None:
        """Step 3: every board of the rows at the target (with the target's points), the
        excluded contributors left out, written under temporary keys by the `board-writer`
        thread: spread from the bulk's `Tally`, or — a build lost midway, made again — by the
        one aggregate of the log, as of one REPEATABLE READ transaction."""
        if self.tally is not None:
            boards = self.tally.boards(self.plan)
            self.tally = None  # its memory
            boards_write(self.build, ((b, members.items(), self.plan.expires[b]) for b, members in boards.items()))
            self.progress(f"rescore: {len(boards)} boards, {sum(map(len, boards.values()))} members built aside")
        else:
            with transaction.atomic(), connection.cursor() as cursor:
                repeatable_read(cursor, read_only=True)
                only = ("e.rules_version = %(target)s", {"target": self.result.target})
                query = BoardsQuery.prepare(cursor, now=self.plan.now, points="e.points", only=only)
                boards, members = query_build(self.build, query, progress=quiet, what="rescore")
            self.progress(f"rescore: {boards} boards, {members} members built aside from {query.delta_events} events")
        faults.point("rescore_after_build")
        self._lap("build")

    def catch_up(self) -> None:
        """Step 4, without any lock: the rows logged since the last pass (and those it held
        back), once applied, moved and added to the build; until a pass finds few."""
        result, target = self.result, self.result.target
        for n in range(1, CATCH_UP_PASSES + 1):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"{NO_JIT}; {BY_INDEX}")
                cursor.execute("SELECT txid_current_snapshot()::text")  # before the read: the next pass starts here
                upcoming = Moving(cursor.fetchone()[0])
                staged = self.scorer.rows(rows_since(cursor, self.moving, target), upcoming.held)
                moved = rows_move(cursor, staged, MOVE_APPLIED, target, self.build, self.plan)
            result.events += moved
            self.build.flush()
            self.progress(f"rescore: catch-up {n}: {moved} events scored again, {len(upcoming.held)} not applied yet")
            self.moving = upcoming
            if moved < CATCH_UP_ENOUGH:
                break
        self._lap("catch_up")

    def switch(self) -> None:
        """Step 5, under the boards gate held exclusive: the rows still not at the target (the
        newest and the unapplied) moved and added to the build, the target made active, the
        markers of the counted rows not yet applied, the swap's token recorded; the sentinel
        aside; commit. Leaves the markers for the swap, and when the gate was taken."""
        result, target, build = self.result, self.result.target, self.build
        # Every built board still whole, before the gate (a round trip per board: not while it is
        # held); under the gate, only the boards the last rows change are checked again (an
        # emptied Redis shows there, or in the swap's RENAME, which then fails: `swap` rebuilds).
        build.check()
        touched: set[Board] = set()
        asked = time.perf_counter()
        result.switch_window = (time.time(), 0.0)
        paused = committing = False
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                gate_exclusive(cursor)
                locked = lap = time.perf_counter()
                cursor.execute(f"{NO_JIT}; {BY_INDEX}")
                staged = self.scorer.rows(rows_since(cursor, self.moving, target), None)
                result.events += rows_move(cursor, staged, MOVE_ALL, target, build, self.plan, touched)
                lap = result.lap("locked_rows", lap)
                version_activate(cursor, target)
                self.pending = pending_markers(cursor)  # the live points are the target's now
                swap_record(build.token, f"rescore to rules version {target}")
                lap = result.lap("locked_versions", lap)
                redis_boards.ready_pause()  # from here no apply until the swap, whatever happens
                paused = True
                build.check(touched)
                lap = result.lap("locked_check", lap)
                faults.point("rescore_before_commit")
                committing = True
        except BaseException:
            # Rolled back: the log is as before the switch. Give the live boards their sentinel
            # back, unless the commit itself failed (then whether it happened is unknown: no
            # sentinel, and the consumers restore the boards from whichever log it is).
            if paused and not committing:
                with contextlib.suppress(redis.RedisError):
                    redis_boards.ready_resume()
            raise
        committed = result.lap("locked_commit", lap)
        result.gate_wait_ms = (locked - asked) * 1000
        result.locked_ms = (committed - locked) * 1000
        self.locked_at = locked

    def swap(self) -> None:
        """Step 6: the built boards swapped in with the markers (or, if the swap fails, the
        boards rebuilt from the log at the new version), then the contributors whose exclusion
        changed meanwhile synced. Still under the locks."""
        faults.point("rescore_before_swap")
        try:
            self.build.swap(self.pending)
        except (BuildLost, redis.ResponseError) as exc:
            # The version is switched and committed, and Redis may hold part of the swap (its MULTI
            # goes on past a failed RENAME): no sentinel, and the boards from the log at the new
            # version, still under the boards lock (a transient error, out of memory say, too:
            # nothing in Redis can be trusted, the consumers restore if this rebuild fails).
            redis_boards.ready_clear()
            logger.error("rescore: the swap failed (%s); rebuilding the boards from the log", exc)
            self.rebuilt = rebuild_locked(self.progress)
        # Exclusions changed while this rescore held the boards lock left their contributors
        # dirty (their sync needs that lock): put them right on the new boards, as a restore does.
        while self.rebuilt is None and exclusions.contributors_sync().contributors:
            pass

    def tidy(self) -> None:
        """Step 7, the locks released: the figures, this process's copy of the active version,
        the markers of rows applied meanwhile, the summary in the log."""
        result = self.result
        # A consumer whose apply met the sentinel aside, and that waits for the boards lock to
        # restore, finds the new boards now: applies were held off until here.
        result.paused_ms = (time.perf_counter() - self.locked_at) * 1000
        result.switch_window = (result.switch_window[0], time.time())
        self._lap("switch")
        if self.rebuilt is None:
            result.boards, result.members = self.build.boards, self.build.members()
        else:
            result.boards, result.members = self.rebuilt.boards, self.rebuilt.members
        rules_current(reload=True)
        ingest.pending_tidy(event_ids=list(self.pending))
        result.changed, result.undecodable = self.scorer.changed, self.scorer.undecodable
        result.seconds = time.perf_counter() - self.started
        self._lap("tidy")
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

    def achievements(self) -> None:
        """Step 8: every contributor's streak days and achievements recomputed under the new
        points; those no longer earned are marked revoked (scoring/achievements/). A rescore
        killed before this leaves it to the next consumer sweep, which sees the version change."""
        done = achievements_recompute()
        self.progress(f"achievements: {len(done.awarded)} awarded, {len(done.revoked)} revoked")
        self._lap("achievements")


def _changes_text(changes: list[RowChange]) -> str:
    if not changes:
        return "the same table"
    return ", ".join(f"{c.row} {c.active} -> {c.wanted}" for c in changes)
