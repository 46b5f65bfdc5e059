"""Snapshot, restore, rebuild and verify the boards — all exact, all from the event log.

Every board is a function of the log: `board_rows_sql` aggregates log rows into
(project, timeframe, period, user, score) in Postgres. A snapshot stores that aggregate for
the rows one transaction could see, and names those rows by the transaction's snapshot, so
"snapshot + rows not visible in it" is exactly the log (docs/SNAPSHOTS.md).

Restore and rebuild write the boards aside, then swap them in atomically together with the
pending markers of every event they counted that the log does not yet record as applied.
While they work the ready sentinel is absent, so no consumer applies anything; Postgres
advisory lock `RESTORE_LOCK` makes sure only one of them runs at a time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby

from django.conf import settings
from django.db import connection, transaction

from scoring import redis_boards
from scoring.boards import GLOBAL, SQL_PERIODS, Board, Timeframe, expires_at, oldest_retained_period, parse_board_key
from snapshots.models import Snapshot

logger = logging.getLogger("leaderboard.snapshots")

RESTORE_LOCK = 0x1EADB0A2D  # pg_advisory_lock key: one restore or rebuild at a time
Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def _retention_filter(now: datetime, alias: str = "b") -> tuple[str, list[str]]:
    """SQL condition keeping only boards retained at `now` (the rule of boards.is_retained)."""
    clauses, params = [], []
    for timeframe in Timeframe:
        oldest = oldest_retained_period(timeframe, now, settings.BOARD_RETENTION_DAYS)
        if oldest is not None:
            clauses.append(f"({alias}.timeframe <> %s OR {alias}.period >= %s)")
            params += [timeframe.value, oldest]
    return (" AND ".join(clauses) or "true"), params


def board_rows_sql(event_filter: str, now: datetime) -> tuple[str, list[str]]:
    """SELECT of (project_id, timeframe, period, user_id, score) over scored log rows
    matching `event_filter` (SQL over alias `e`), retained boards only, not yet summed."""
    values = []
    for scope in (f"{GLOBAL}::numeric", "e.project_id"):
        for timeframe in Timeframe:
            values.append(f"({scope}, '{timeframe.value}', {SQL_PERIODS[timeframe].format(t='e.occurred_at')})")
    retained, params = _retention_filter(now)
    sql = f"""
        SELECT b.project_id, b.timeframe, b.period, e.user_id, e.points::bigint AS score
          FROM scoring_contributionevent e
         CROSS JOIN LATERAL (VALUES {", ".join(values)}) AS b(project_id, timeframe, period)
         WHERE e.points > 0 AND ({event_filter}) AND {retained}"""
    return sql, params


def _repeatable_read() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


# ---------------------------------------------------------------------------- snapshot


@dataclass
class SnapshotResult:
    snapshot: Snapshot
    delta_events: int
    pruned: int


def snapshot_take(*, progress: Progress = _quiet) -> SnapshotResult:
    """Save every retained board to Postgres: the previous snapshot plus the log rows it did
    not see, in one REPEATABLE READ transaction. The consumer keeps running meanwhile."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    with transaction.atomic():
        _repeatable_read()
        with connection.cursor() as cursor:
            cursor.execute("SELECT txid_current_snapshot()::text")
            (pg_snapshot,) = cursor.fetchone()
            previous = Snapshot.objects.order_by("-id").first()
            if previous is None:
                delta_filter, delta_params = "true", []
            else:
                delta_filter = (
                    "e.txid >= txid_snapshot_xmin(%s::txid_snapshot)"
                    " AND NOT txid_visible_in_snapshot(e.txid, %s::txid_snapshot)"
                )
                delta_params = [previous.pg_snapshot, previous.pg_snapshot]
            cursor.execute(
                f"SELECT count(*) FROM scoring_contributionevent e WHERE e.points > 0 AND {delta_filter}", delta_params
            )
            (delta_events,) = cursor.fetchone()
            progress(f"snapshot: {delta_events} scored events since the previous snapshot")
            snapshot = Snapshot.objects.create(
                pg_snapshot=pg_snapshot, based_on=previous, events=(previous.events if previous else 0) + delta_events
            )
            rows_sql, rows_params = board_rows_sql(delta_filter, now)
            parts, params = [rows_sql], [*delta_params, *rows_params]
            if previous is not None:
                retained, retained_params = _retention_filter(now, alias="s")
                parts.append(
                    "SELECT s.project_id, s.timeframe, s.period, s.user_id, s.score"
                    f" FROM snapshots_snapshotentry s WHERE s.snapshot_id = %s AND {retained}"
                )
                params += [previous.id, *retained_params]
            cursor.execute(
                "INSERT INTO snapshots_snapshotentry (snapshot_id, project_id, timeframe, period, user_id, score)"
                " SELECT %s, project_id, timeframe, period, user_id, sum(score)"
                f" FROM ({' UNION ALL '.join(parts)}) AS rows GROUP BY 1, 2, 3, 4, 5",
                [snapshot.id, *params],
            )
            snapshot.entries = cursor.rowcount
            cursor.execute(
                "SELECT count(*) FROM (SELECT DISTINCT project_id, timeframe, period"
                " FROM snapshots_snapshotentry WHERE snapshot_id = %s) AS b",
                [snapshot.id],
            )
            (snapshot.boards,) = cursor.fetchone()
        snapshot.duration_ms = int((time.perf_counter() - started) * 1000)
        snapshot.save(update_fields=["entries", "boards", "duration_ms"])
    progress(f"snapshot: {snapshot.entries} entries on {snapshot.boards} boards")
    pruned = snapshot_prune(keep=settings.SNAPSHOT_RETENTION)
    return SnapshotResult(snapshot=snapshot, delta_events=delta_events, pruned=pruned)


def snapshot_prune(*, keep: int) -> int:
    """Delete all but the `keep` newest snapshots; returns how many went."""
    old = list(Snapshot.objects.order_by("-id").values_list("id", flat=True)[keep:])
    if old:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE snapshots_snapshot SET based_on_id = NULL WHERE based_on_id = ANY(%s)", [old])
            cursor.execute("DELETE FROM snapshots_snapshotentry WHERE snapshot_id = ANY(%s)", [old])
            cursor.execute("DELETE FROM snapshots_snapshot WHERE id = ANY(%s)", [old])
    return len(old)


# ---------------------------------------------------------------------- restore / rebuild


@dataclass
class RestoreResult:
    restored: bool  # False: the boards were already there (only_if_missing)
    snapshot_id: int | None = None
    delta_events: int = 0
    boards: int = 0
    members: int = 0
    pending: int = 0
    seconds: float = 0.0


def _advisory_lock():
    class Lock:
        def __enter__(self):
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(%s)", [RESTORE_LOCK])

        def __exit__(self, *exc):
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [RESTORE_LOCK])

    return Lock()


def _board_scores(rows: Iterator[tuple]) -> Iterator[tuple[Board, list[tuple[int, int]]]]:
    for (project_id, timeframe, period), members in groupby(rows, key=lambda r: (r[0], r[1], r[2])):
        yield Board(int(project_id), Timeframe(timeframe), period), [(int(r[3]), int(r[4])) for r in members]


def boards_restore(
    *, use_snapshot: bool = True, only_if_missing: bool = False, progress: Progress = _quiet
) -> RestoreResult:
    """Rebuild every retained board in Redis exactly: from the latest snapshot plus the log
    rows it did not see (`use_snapshot`), or from the whole log. With `only_if_missing`,
    do nothing when the boards are already there (another consumer restored them)."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    with _advisory_lock():
        if only_if_missing and redis_boards.is_ready():
            return RestoreResult(restored=False)
        redis_boards.ready_clear()  # from here no consumer applies; readers still see the old boards
        build = redis_boards.BoardBuild()
        try:
            with transaction.atomic():
                _repeatable_read()
                snapshot = Snapshot.objects.order_by("-id").first() if use_snapshot else None
                if snapshot is None:
                    delta_filter, delta_params = "true", []
                else:
                    delta_filter = (
                        "e.txid >= txid_snapshot_xmin(%s::txid_snapshot)"
                        " AND NOT txid_visible_in_snapshot(e.txid, %s::txid_snapshot)"
                    )
                    delta_params = [snapshot.pg_snapshot, snapshot.pg_snapshot]
                rows_sql, rows_params = board_rows_sql(delta_filter, now)
                parts, params = [rows_sql], [*delta_params, *rows_params]
                if snapshot is not None:
                    retained, retained_params = _retention_filter(now, alias="s")
                    parts.append(
                        "SELECT s.project_id, s.timeframe, s.period, s.user_id, s.score"
                        f" FROM snapshots_snapshotentry s WHERE s.snapshot_id = %s AND {retained}"
                    )
                    params += [snapshot.id, *retained_params]
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"SELECT count(*) FROM scoring_contributionevent e WHERE e.points > 0 AND {delta_filter}",
                        delta_params,
                    )
                    (delta_events,) = cursor.fetchone()
                    source = f"snapshot {snapshot.id} + {delta_events} events" if snapshot else f"{delta_events} events"
                    progress(f"restore: building boards from {source}")
                    cursor.execute(
                        "SELECT event_id, points FROM scoring_contributionevent WHERE NOT applied AND points > 0"
                    )
                    pending = dict(cursor.fetchall())
                with connection.chunked_cursor() as cursor:
                    cursor.execute(
                        "SELECT project_id, timeframe, period, user_id, sum(score)"
                        f" FROM ({' UNION ALL '.join(parts)}) AS rows"
                        " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3",
                        params,
                    )
                    for count, (board, scores) in enumerate(_board_scores(iter(cursor)), start=1):
                        build.add(
                            board, scores, expires_at(board.timeframe, board.period, settings.BOARD_RETENTION_DAYS)
                        )
                        if count % 1000 == 0:
                            progress(f"restore: {count} boards, {build.members} members written")
            build.swap(pending)
        except BaseException:
            build.discard()
            raise
    result = RestoreResult(
        restored=True,
        snapshot_id=snapshot.id if snapshot else None,
        delta_events=delta_events,
        boards=len(build.built),
        members=build.members,
        pending=len(pending),
        seconds=time.perf_counter() - started,
    )
    logger.info(
        "restored %d boards, %d members from %s in %.2fs",
        result.boards,
        result.members,
        source,
        result.seconds,
    )
    return result


# ---------------------------------------------------------------------------- verify


@dataclass
class Difference:
    board: str
    user_id: str | None  # None: the whole board is missing or unexpected
    redis_score: int | None
    log_score: int | None


@dataclass
class VerifyResult:
    boards: int = 0
    members: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def boards_verify(*, progress: Progress = _quiet) -> VerifyResult:
    """Compare every board in Redis with the event log; list each difference."""
    now = datetime.now(UTC)
    client = redis_boards.connection()
    result = VerifyResult()
    seen: set[str] = set()
    rows_sql, params = board_rows_sql("true", now)
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        _repeatable_read()
        cursor.execute(
            f"SELECT project_id, timeframe, period, user_id, sum(score) FROM ({rows_sql}) AS rows"
            " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3",
            params,
        )
        for board, scores in _board_scores(iter(cursor)):
            key = board.key
            seen.add(key)
            result.boards += 1
            result.members += len(scores)
            in_redis = {m.decode(): int(s) for m, s in client.zrange(key, 0, -1, withscores=True)}
            if not in_redis:
                result.differences.append(Difference(key, None, None, sum(s for _, s in scores)))
                continue
            for user_id, score in scores:
                found = in_redis.pop(str(user_id), None)
                if found != score:
                    result.differences.append(Difference(key, str(user_id), found, score))
            for member, score in in_redis.items():
                result.differences.append(Difference(key, member, score, None))
            if result.boards % 1000 == 0:
                progress(f"verify: {result.boards} boards checked")
    for key in redis_boards.board_keys(client):
        if key not in seen and parse_board_key(key) is not None:
            result.differences.append(
                Difference(key, None, int(sum(s for _, s in client.zrange(key, 0, -1, withscores=True))), None)
            )
    return result
