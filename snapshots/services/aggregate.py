"""What the subjects that aggregate the log share (snapshot, restore, rebuild, verify, rescore):
the REPEATABLE READ transaction setup, the progress ticker, and which snapshot covers today's
retention. The aggregate itself is `scoring.eventlog.aggregate`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from django.conf import settings

from scoring.boards import Timeframe, oldest_retained_period
from snapshots.models import Snapshot

logger = logging.getLogger("leaderboard.snapshots")

WORK_MEM = "256MB"  # per aggregating transaction: lets a million-member aggregate hash in memory
PROGRESS_EVERY = 250_000  # members between two progress lines

Progress = Callable[[str], None]


def quiet(_: str) -> None:
    """The default `Progress`: says nothing."""


class Ticker:
    """Calls `progress` each time another PROGRESS_EVERY members went by."""

    def __init__(self, progress: Progress, what: str) -> None:
        self.progress, self.what, self.next = progress, what, PROGRESS_EVERY

    def __call__(self, boards: int, members: int) -> None:
        if members >= self.next:
            self.progress(f"{self.what}: {boards} boards, {members} members")
            self.next = (members // PROGRESS_EVERY + 1) * PROGRESS_EVERY


def repeatable_read(cursor, *, read_only: bool) -> None:
    """Make the transaction just opened REPEATABLE READ: every later statement in it sees the
    log as of its first query. Must run before any query of the transaction."""
    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ" + (", READ ONLY" if read_only else ""))
    cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")


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
