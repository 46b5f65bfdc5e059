"""Snapshot, restore, rebuild and verify the boards — all exact, all from the event log.

Every board is a function of the log. `_BoardsQuery` aggregates log rows into one row per
board (its members as parallel arrays) in Postgres, optionally on top of a saved snapshot.
A snapshot stores that aggregate for exactly the rows one transaction could see and names
those rows by the transaction's snapshot (`txid_current_snapshot()`), so "snapshot + rows not
visible in it" is exactly the log, whatever order ids and transactions committed in
(docs/SNAPSHOTS.md).

Restore and rebuild write the boards aside while consumers keep applying to the live ones,
then remove the ready sentinel (no consumer applies without it), catch up with the rows
committed meanwhile, and swap the boards in atomically together with the pending markers of
every event they counted that the log does not yet record as applied. The Postgres advisory
lock `RESTORE_LOCK` lets only one of them run at a time.

Which boards exist is decided in Python by `scoring.boards` (periods and retention, the same
rule the consumer applies): Postgres receives the retained (day, timeframe, period) triples
of the days the log touches and only sums.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import redis
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from scoring import redis_boards
from scoring.boards import (
    GLOBAL,
    Board,
    Timeframe,
    expires_at,
    is_retained,
    oldest_retained_period,
    period_of,
)
from snapshots.models import Snapshot

logger = logging.getLogger("leaderboard.snapshots")

RESTORE_LOCK = 0x1EADB0A2D  # pg_advisory_lock key: one restore or rebuild at a time
SNAPSHOT_LOCK = 0x1EADB0A2E  # one snapshot at a time (overlapping cron runs queue up)
WORK_MEM = "256MB"  # per aggregating transaction: lets a million-member aggregate hash in memory
FETCH_BOARDS = 50  # boards per round trip when streaming the aggregate
PROGRESS_EVERY = 250_000  # members between two progress lines
VERIFY_BATCH = 100_000  # members compared per Redis round trip

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


class _Ticker:
    """Calls `progress` each time another PROGRESS_EVERY members went by."""

    def __init__(self, progress: Progress, what: str) -> None:
        self.progress, self.what, self.next = progress, what, PROGRESS_EVERY

    def __call__(self, boards: int, members: int) -> None:
        if members >= self.next:
            self.progress(f"{self.what}: {boards} boards, {members} members")
            self.next = (members // PROGRESS_EVERY + 1) * PROGRESS_EVERY


@contextlib.contextmanager
def _session_lock(key: int) -> Iterator[None]:
    """A Postgres session advisory lock on Django's connection (waits for it)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [key])
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        except DatabaseError as exc:  # the connection died: the server dropped the lock with it
            logger.warning("advisory unlock failed: %s", exc)


def _repeatable_read(cursor, *, read_only: bool) -> None:
    """Make the transaction just opened REPEATABLE READ: every later statement in it sees the
    log as of its first query. Must run before any query of the transaction."""
    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ" + (", READ ONLY" if read_only else ""))
    cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")


# ------------------------------------------------------------ the log as boards, in SQL


def retained_from(now: datetime) -> dict[str, str]:
    """The oldest period kept at `now`, per timeframe that expires (the rest keep every period)."""
    oldest = {t.value: oldest_retained_period(t, now, settings.BOARD_RETENTION_DAYS) for t in Timeframe}
    return {timeframe: period for timeframe, period in oldest.items() if period is not None}


def snapshot_covers(snapshot: Snapshot, now: datetime) -> bool:
    """Whether `snapshot` holds every board retained at `now`. False when its retention is
    unknown, or when the retention grew (or the clock went back) since it was taken."""
    if snapshot.retained_from is None:
        return False
    wanted = retained_from(now)
    for timeframe, theirs in snapshot.retained_from.items():
        ours = wanted.get(timeframe)
        if ours is None or ours < theirs:
            return False
    return True


def _periods_of_days(days: list[date], now: datetime) -> tuple[list[date], list[str], list[str]]:
    """The retained (day, timeframe, period) triples of `days` — as three parallel arrays."""
    retention = settings.BOARD_RETENTION_DAYS
    cache: dict[tuple[Timeframe, str], bool] = {}
    out_days, out_timeframes, out_periods = [], [], []
    for day in days:
        for timeframe in Timeframe:
            period = period_of(timeframe, day)
            kept = cache.get((timeframe, period))
            if kept is None:
                kept = cache[(timeframe, period)] = is_retained(Board(GLOBAL, timeframe, period), now, retention)
            if kept:
                out_days.append(day)
                out_timeframes.append(timeframe.value)
                out_periods.append(period)
    return out_days, out_timeframes, out_periods


_SINCE = (
    "e.txid >= txid_snapshot_xmin(%(since)s::txid_snapshot)"
    " AND NOT txid_visible_in_snapshot(e.txid, %(since)s::txid_snapshot)"
)
_EVENT_DAYS = """
SELECT (e.occurred_at AT TIME ZONE 'UTC')::date, count(*)
  FROM scoring_contributionevent e
 WHERE e.points > 0 AND {events}
 GROUP BY 1
"""
# The log rows selected by {events}, summed per (board, user): first per (project, UTC day,
# user), then spread over the retained periods of that day, in both scopes.
_DELTA = """
periods(day, timeframe, period) AS (
    SELECT * FROM unnest(%(days)s::date[], %(timeframes)s::text[], %(periods)s::text[])
), per_day AS (
    SELECT e.project_id, (e.occurred_at AT TIME ZONE 'UTC')::date AS day, e.user_id, sum(e.points)::bigint AS score
      FROM scoring_contributionevent e
     WHERE e.points > 0 AND {events}
     GROUP BY 1, 2, 3
), delta AS (
    SELECT s.project_id, p.timeframe, p.period, d.user_id, sum(d.score)::bigint AS score
      FROM per_day d
      JOIN periods p ON p.day = d.day
     CROSS JOIN LATERAL (VALUES (0::numeric), (d.project_id)) AS s(project_id)
     GROUP BY 1, 2, 3, 4
)"""
_FROM_LOG = (
    "WITH"
    + _DELTA
    + """
SELECT project_id, timeframe, period, count(*)::integer AS members, array_agg(user_id) AS user_ids,
       array_agg(score) AS scores
  FROM delta
 GROUP BY 1, 2, 3"""
)
# A snapshot's retained boards (%(base)s: their row ids) plus the delta. Boards the delta does
# not touch pass through as they are; each touched one is merged on its own (a small sum per
# user), so the work grows with the boards the delta touches, not with the whole snapshot.
_ON_SNAPSHOT = (
    "WITH"
    + _DELTA
    + """, delta_boards AS (
    SELECT project_id, timeframe, period, array_agg(user_id) AS user_ids, array_agg(score) AS scores
      FROM delta
     GROUP BY 1, 2, 3
), base AS (
    SELECT b.project_id, b.timeframe, b.period, b.members, b.user_ids, b.scores
      FROM snapshots_snapshotboard b
     WHERE b.id = ANY(%(base)s::bigint[])
)
SELECT b.project_id, b.timeframe, b.period, b.members, b.user_ids, b.scores
  FROM base b
 WHERE NOT EXISTS (SELECT FROM delta_boards d
                    WHERE (d.project_id, d.timeframe, d.period) = (b.project_id, b.timeframe, b.period))
UNION ALL
SELECT d.project_id, d.timeframe, d.period, m.members, m.user_ids, m.scores
  FROM delta_boards d
  LEFT JOIN base b USING (project_id, timeframe, period)
 CROSS JOIN LATERAL (
       SELECT count(*)::integer AS members, array_agg(user_id) AS user_ids, array_agg(score) AS scores
         FROM (SELECT user_id, sum(score)::bigint AS score
                 FROM (SELECT * FROM unnest(b.user_ids, b.scores)
                       UNION ALL
                       SELECT * FROM unnest(d.user_ids, d.scores)) AS u(user_id, score)
                GROUP BY 1) AS g
       ) AS m"""
)


@dataclass
class _BoardsQuery:
    """Every retained board, as of the current transaction: `base` snapshot + the log rows not
    visible in it (no base: the whole log). Run inside a REPEATABLE READ transaction so the
    preparatory queries and the aggregate see the same rows."""

    sql: str
    params: dict
    delta_events: int
    base: Snapshot | None

    @classmethod
    def prepare(cls, cursor, *, now: datetime, base: Snapshot | None = None, since: str | None = None) -> _BoardsQuery:
        """`base`: add the log rows it did not see to its boards. `since` (a transaction
        snapshot) without a base: only the rows not visible in it. Neither: the whole log."""
        since = since or (base.pg_snapshot if base is not None else None)
        events, params = ("true", {}) if since is None else (_SINCE, {"since": since})
        cursor.execute(_EVENT_DAYS.format(events=events), params)
        day_counts = cursor.fetchall()
        days, timeframes, periods = _periods_of_days(sorted(day for day, _ in day_counts), now)
        params |= {"days": days, "timeframes": timeframes, "periods": periods}
        if base is None:
            return cls(_FROM_LOG.format(events=events), params, sum(n for _, n in day_counts), None)
        cursor.execute("SELECT id, timeframe, period FROM snapshots_snapshotboard WHERE snapshot_id = %s", [base.id])
        retention = settings.BOARD_RETENTION_DAYS
        params["base"] = [
            board_id
            for board_id, timeframe, period in cursor.fetchall()
            if is_retained(Board(GLOBAL, Timeframe(timeframe), period), now, retention)
        ]
        return cls(_ON_SNAPSHOT.format(events=events), params, sum(n for _, n in day_counts), base)

    def stream(self) -> Iterator[tuple[Board, list[str], list[int]]]:
        """Each board with its user ids (decimal strings) and their scores, in no set order:
        unordered, boards flow out of Postgres while it still computes the rest."""
        with connection.chunked_cursor() as cursor:
            cursor.execute(
                f"SELECT project_id::text, timeframe, period, user_ids::text[], scores FROM ({self.sql}) AS boards",
                self.params,
            )
            while rows := cursor.fetchmany(FETCH_BOARDS):
                for project_id, timeframe, period, user_ids, scores in rows:
                    yield Board(int(project_id), Timeframe(timeframe), period), user_ids, scores


def _base_snapshot(now: datetime) -> Snapshot | None:
    """The newest snapshot that holds every board retained at `now`."""
    for snapshot in Snapshot.objects.order_by("-id"):
        if snapshot_covers(snapshot, now):
            return snapshot
    return None


# ---------------------------------------------------------------------------- snapshot


@dataclass
class SnapshotResult:
    snapshot: Snapshot
    delta_events: int
    pruned: int


def snapshot_take(*, progress: Progress = _quiet, after_start: Callable[[], None] | None = None) -> SnapshotResult:
    """Save every retained board to Postgres: the newest usable snapshot plus the log rows it
    did not see, in one REPEATABLE READ transaction. The consumer keeps running meanwhile.

    `after_start` (tests) runs once the transaction's view of the log is fixed.
    """
    with _session_lock(SNAPSHOT_LOCK):
        started = time.perf_counter()
        now = datetime.now(UTC)
        with transaction.atomic(), connection.cursor() as cursor:
            _repeatable_read(cursor, read_only=False)
            cursor.execute("SELECT txid_current_snapshot()::text")
            (pg_snapshot,) = cursor.fetchone()
            if after_start is not None:
                after_start()
            base = _base_snapshot(now)
            query = _BoardsQuery.prepare(cursor, base=base, now=now)
            source = f"snapshot {base.id} + {query.delta_events} events" if base else f"{query.delta_events} events"
            progress(f"snapshot: aggregating {source}")
            snapshot = Snapshot.objects.create(
                pg_snapshot=pg_snapshot,
                retained_from=retained_from(now),
                based_on=base,
                events=(base.events if base else 0) + query.delta_events,
            )
            cursor.execute(
                "INSERT INTO snapshots_snapshotboard (snapshot_id, project_id, timeframe, period, members, user_ids,"
                f" scores) SELECT %(snapshot)s, * FROM ({query.sql}) AS boards",
                query.params | {"snapshot": snapshot.id},
            )
            cursor.execute(
                "SELECT count(*), coalesce(sum(members), 0) FROM snapshots_snapshotboard WHERE snapshot_id = %s",
                [snapshot.id],
            )
            snapshot.boards, snapshot.entries = cursor.fetchone()
            snapshot.duration_ms = int((time.perf_counter() - started) * 1000)
            snapshot.save(update_fields=["boards", "entries", "duration_ms"])
        progress(f"snapshot: {snapshot.entries} members on {snapshot.boards} boards saved")
    pruned = snapshot_prune(keep=settings.SNAPSHOT_RETENTION)
    return SnapshotResult(snapshot=snapshot, delta_events=query.delta_events, pruned=pruned)


def snapshot_prune(*, keep: int) -> int:
    """Delete all but the `keep` newest snapshots; returns how many went."""
    old = list(Snapshot.objects.order_by("-id").values_list("id", flat=True)[keep:])
    if old:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE snapshots_snapshot SET based_on_id = NULL WHERE based_on_id = ANY(%s)", [old])
            cursor.execute("DELETE FROM snapshots_snapshotboard WHERE snapshot_id = ANY(%s)", [old])
            cursor.execute("DELETE FROM snapshots_snapshot WHERE id = ANY(%s)", [old])
    return len(old)


# ---------------------------------------------------------------------- restore / rebuild


@dataclass
class RestoreResult:
    restored: bool  # False: the boards were already there (only_if_missing)
    source: str = ""
    snapshot_id: int | None = None
    delta_events: int = 0
    boards: int = 0
    members: int = 0
    pending: int = 0
    seconds: float = 0.0


def boards_restore(
    *,
    use_snapshot: bool = True,
    only_if_missing: bool = False,
    progress: Progress = _quiet,
    before_swap: Callable[[], None] | None = None,
) -> RestoreResult:
    """Rebuild every retained board in Redis exactly: from the newest usable snapshot plus the
    log rows it did not see (`use_snapshot`), or from the whole log. With `only_if_missing`,
    do nothing when the boards are already there (another consumer restored them).

    Readers keep the old boards until the new ones are swapped in at once. Consumers keep
    applying while the bulk is built, and pause only for the catch-up and the swap.
    `before_swap` (tests) runs after the build, with applies paused, before the swap.
    """
    started = time.perf_counter()
    with _session_lock(RESTORE_LOCK):
        if only_if_missing and redis_boards.is_ready():
            return RestoreResult(restored=False)
        _builds_drop()
        try:
            result = _restore_once(use_snapshot, progress, before_swap)
        except (BuildLost, redis.ResponseError) as exc:
            # Built boards were lost (Redis emptied, or a board expired, mid-build): found before
            # the swap, or by the swap's RENAME — whose MULTI went on and set the sentinel over
            # partial boards. Either way: sentinel off, build again (with a fresh `now`).
            redis_boards.ready_clear()
            logger.warning("restore: built boards were lost (%s); building again", exc)
            result = _restore_once(use_snapshot, progress, None)
    result.seconds = time.perf_counter() - started
    logger.info(
        "restored %d boards, %d members from %s in %.2fs", result.boards, result.members, result.source, result.seconds
    )
    return result


def _restore_once(use_snapshot: bool, progress: Progress, before_swap: Callable[[], None] | None) -> RestoreResult:
    """Two passes over the log. The bulk: every board as of one transaction snapshot S1,
    written aside while consumers still apply to the live boards. Then the sentinel goes (no
    apply from here), and the catch-up: the rows committed since S1, added to the built boards,
    as of a snapshot S2 taken after the sentinel went — so every event already applied to the
    live boards is counted — with the markers of the counted rows not yet `applied`. Swap."""
    now = datetime.now(UTC)
    what = "restore" if use_snapshot else "rebuild"
    build = redis_boards.BoardBuild()
    writer = _BoardWriter(build)
    retention = settings.BOARD_RETENTION_DAYS
    written: dict[str, int] = {}  # board key -> members written to it
    members = 0
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            _repeatable_read(cursor, read_only=True)
            cursor.execute("SELECT txid_current_snapshot()::text")
            (seen,) = cursor.fetchone()
            base = _base_snapshot(now) if use_snapshot else None
            query = _BoardsQuery.prepare(cursor, now=now, base=base)
            source = f"snapshot {base.id} + {query.delta_events} events" if base else f"{query.delta_events} events"
            progress(f"{what}: building boards aside from {source}")
            tick = _Ticker(progress, what)
            for board, user_ids, scores in query.stream():
                writer.add(
                    board, zip(user_ids, scores, strict=True), expires_at(board.timeframe, board.period, retention)
                )
                written[board.key] = len(user_ids)
                members += len(user_ids)
                tick(len(written), members)
        writer.close()
        build.flush()  # every board is now in Redis under its temporary key

        redis_boards.ready_clear()  # from here no consumer applies; readers still see the old boards
        progress(f"{what}: {len(written)} boards built aside; applies paused for the catch-up")
        with transaction.atomic(), connection.cursor() as cursor:
            _repeatable_read(cursor, read_only=True)
            cursor.execute("SELECT event_id, points FROM scoring_contributionevent WHERE NOT applied AND points > 0")
            pending = dict(cursor.fetchall())
            catch_up = _BoardsQuery.prepare(cursor, now=now, since=seen)
            if catch_up.delta_events:
                _boards_add(build, catch_up.stream(), retention, written)
        _build_check(build, written)
        if before_swap is not None:
            before_swap()
        build.swap(pending)
    except BaseException:
        writer.close(raise_error=False)
        build.discard()
        raise
    members = _members_count(build)
    progress(f"{what}: {members} members on {len(build.built)} boards swapped in (+{catch_up.delta_events} events)")
    _pending_tidy(list(pending))
    return RestoreResult(
        restored=True,
        source=source if not catch_up.delta_events else f"{source} + {catch_up.delta_events} events",
        snapshot_id=base.id if base else None,
        delta_events=query.delta_events + catch_up.delta_events,
        boards=len(build.built),
        members=members,
        pending=len(pending),
    )


def _boards_add(
    build: redis_boards.BoardBuild,
    boards: Iterator[tuple[Board, list[str], list[int]]],
    retention: dict[str, int],
    written: dict[str, int],
) -> None:
    """Add scores to the boards being built: onto a board already built, member by member;
    a board not built yet is built from them."""
    pipe = build.client.pipeline(transaction=False)
    for board, user_ids, scores in boards:
        temp = build.built.get(board.key)
        if temp is None:
            build.add(board, zip(user_ids, scores, strict=True), expires_at(board.timeframe, board.period, retention))
            written[board.key] = len(user_ids)
            continue
        for user_id, score in zip(user_ids, scores, strict=True):
            pipe.zincrby(temp, score, user_id)
        if len(pipe) >= build.chunk:
            pipe.execute()
    pipe.execute()
    build.flush()


class BuildLost(Exception):
    """Boards built aside lost members before the swap: Redis was emptied, or a board expired."""


def _build_check(build: redis_boards.BoardBuild, written: dict[str, int]) -> None:
    """Raise BuildLost unless every built board still holds at least the members written to it
    (one pipelined ZCARD per board). A FLUSHDB between two writes of a big board would leave
    a board that the swap's RENAME cannot tell from a whole one."""
    built = list(build.built.items())
    pipe = build.client.pipeline(transaction=False)
    for _, temp in built:
        pipe.zcard(temp)
    for (key, _), found in zip(built, pipe.execute(), strict=True):
        if found < written[key]:
            raise BuildLost(f"{key} holds {found} of the {written[key]} members built")


def _members_count(build: redis_boards.BoardBuild) -> int:
    """Members on the boards just swapped in."""
    pipe = build.client.pipeline(transaction=False)
    for key in build.built:
        pipe.zcard(key)
    return sum(pipe.execute())


class _BoardWriter:
    """Feeds a `BoardBuild` from a thread of its own, so that Redis digests one batch while
    Postgres streams the next (the GIL is free while either waits on its socket). Only this
    thread touches the build until `close` returns."""

    def __init__(self, build: redis_boards.BoardBuild, depth: int = 16) -> None:
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


def _builds_drop() -> None:
    """Delete boards half-built by a restore that died (its temporary keys have no TTL).
    Called under RESTORE_LOCK, so no build is running."""
    client = redis_boards.connection()
    stale = list(client.scan_iter(match=f"{redis_boards.BUILD_PREFIX}:*", count=1000))
    for start in range(0, len(stale), 1000):
        client.unlink(*stale[start : start + 1000])
    if stale:
        logger.warning("dropped %d keys of an unfinished restore", len(stale))


def _pending_tidy(event_ids: list[str]) -> None:
    """Drop the markers the swap wrote for events whose consumer committed `applied` (and
    cleared its own marker) while the build ran. Such a row is never applied again, so its
    marker is only clutter; rows still unapplied keep theirs."""
    if not event_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT event_id FROM scoring_contributionevent WHERE event_id = ANY(%s) AND applied", [event_ids]
        )
        done = [event_id for (event_id,) in cursor.fetchall()]
    redis_boards.pending_clear(done)


# ---------------------------------------------------------------------------- verify


@dataclass
class Difference:
    board: str
    user_id: str | None  # None: the whole board is missing or unexpected
    redis_score: int | None  # for a whole board: its members in Redis
    log_score: int | None  # for a whole board: its members in the log


@dataclass
class VerifyResult:
    boards: int = 0
    members: int = 0
    ready: bool = True
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def boards_verify(*, progress: Progress = _quiet) -> VerifyResult:
    """Compare every board in Redis with the event log; list each difference. Exact at a quiet
    moment (while events are being applied, Redis runs ahead of or behind the log)."""
    now = datetime.now(UTC)
    client = redis_boards.connection()
    result = VerifyResult(ready=redis_boards.is_ready(client))
    expected: set[str] = set()
    tick = _Ticker(progress, "verify")
    with transaction.atomic(), connection.cursor() as cursor:
        _repeatable_read(cursor, read_only=True)
        query = _BoardsQuery.prepare(cursor, base=None, now=now)
        batch: list[tuple[str, list[str], list[int]]] = []
        queued = 0
        for board, user_ids, scores in query.stream():
            batch.append((board.key, user_ids, scores))
            queued += len(user_ids)
            if queued >= VERIFY_BATCH:
                _verify_batch(client, batch, result, expected)
                tick(result.boards, result.members)
                batch, queued = [], 0
        _verify_batch(client, batch, result, expected)
    # Boards in Redis that the log does not know (any key in the board namespace).
    for key in redis_boards.board_keys(client):
        if key not in expected:
            result.differences.append(Difference(key, None, client.zcard(key), None))
    result.differences.sort(key=lambda d: (d.board, d.user_id or ""))
    return result


def _verify_batch(
    client: redis.Redis, batch: list[tuple[str, list[str], list[int]]], result: VerifyResult, expected: set[str]
) -> None:
    """Compare a batch of boards with Redis (one pipelined round trip)."""
    pipe = client.pipeline(transaction=False)
    for key, _, _ in batch:
        pipe.zrange(key, 0, -1, withscores=True)
    for (key, user_ids, scores), found in zip(batch, pipe.execute(), strict=True):
        expected.add(key)
        result.boards += 1
        result.members += len(user_ids)
        if not found:
            result.differences.append(Difference(key, None, None, len(user_ids)))
            continue
        in_redis = {member.decode(): int(score) for member, score in found}
        for user_id, score in zip(user_ids, scores, strict=True):
            there = in_redis.pop(user_id, None)
            if there != score:
                result.differences.append(Difference(key, user_id, there, score))
        for member, score in in_redis.items():
            result.differences.append(Difference(key, member, score, None))
