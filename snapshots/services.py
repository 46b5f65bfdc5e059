"""Snapshots: save every retained board to Postgres, tied to an exact point of the log, and say
which saved snapshot covers today's retention (what a restore starts from).

A snapshot stores the aggregate for exactly the rows one transaction could see and names those
rows by the transaction's snapshot (`txid_current_snapshot()`), so "snapshot + rows not
visible in it" is exactly the log, whatever order ids and transactions committed in
(docs/SNAPSHOTS.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction

from scoring import clock, faults
from scoring.boards import Timeframe, oldest_retained_period
from scoring.eventlog.aggregate import BoardsQuery, repeatable_read
from scoring.gate import session_lock
from scoring.rules.versions import active_version
from snapshots.models import Snapshot

SNAPSHOT_LOCK = 0x1EADB0A2E  # pg_advisory_lock key: one snapshot at a time (overlapping cron runs queue up)


@dataclass
class SnapshotResult:
    snapshot: Snapshot
    delta_events: int
    pruned: int


def snapshot_take(*, progress: Callable[[str], None] | None = None) -> SnapshotResult:
    """Save every retained board to Postgres: the newest usable snapshot plus the log rows it
    did not see, in one REPEATABLE READ transaction. The consumer keeps running meanwhile; a
    rescore does not (it holds `SNAPSHOT_LOCK` from start to end, so a snapshot is of one rules
    version, recorded with it). `progress` (a command's output) is told each step.

    The fault point `snapshot_after_start` (tests) is passed once the transaction's view of the
    log is fixed.
    """
    say = progress or _silent
    with session_lock(SNAPSHOT_LOCK):
        started = time.perf_counter()
        now = clock.now()
        with transaction.atomic(), connection.cursor() as cursor:
            repeatable_read(cursor, read_only=False)
            cursor.execute("SELECT txid_current_snapshot()::text")
            (pg_snapshot,) = cursor.fetchone()
            faults.point("snapshot_after_start")
            version = active_version(cursor)
            base = base_snapshot(now, version)
            query = BoardsQuery.prepare(cursor, base=base, now=now)
            say(f"snapshot: aggregating {query.source}")
            snapshot = Snapshot.objects.create(
                pg_snapshot=pg_snapshot,
                rules_version=version,
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
        say(f"snapshot: {snapshot.entries} members on {snapshot.boards} boards saved")
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


def _silent(_: str) -> None:
    """No progress lines (a snapshot taken by a test, or by a restore's caller)."""


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


def base_snapshot(now: datetime, rules_version: int) -> Snapshot | None:
    """The newest snapshot that holds every board retained at `now`, taken under
    `rules_version` (a snapshot of another version holds other points)."""
    for snapshot in Snapshot.objects.filter(rules_version=rules_version).order_by("-id"):
        if snapshot_covers(snapshot, now):
            return snapshot
    return None
