"""The achievements' writes as the consumer's sweep, a rescore and the `achievements` command call them."""

from __future__ import annotations

import logging

from django.db import DatabaseError, connection

from scoring.achievements.sweep import AwardSummary, achievements_award, counted_fill_all
from scoring.errors import describe
from scoring.maintenance.progress import Progress, quiet

logger = logging.getLogger("leaderboard.achievements")

__all__ = [
    "AwardSummary",
    "achievements_award",
    "achievements_backfill",
    "achievements_recompute",
    "achievements_sweep",
]


def achievements_sweep() -> AwardSummary | None:
    """The consumer's sweep's turn, beside the results': award what the new log rows earned. A
    failure is logged, not raised: the next sweep does it again, and ingest never waits for it."""
    try:
        return achievements_award()
    except Exception as exc:  # never the sweep's failure: its applies must go on
        logger.warning("awarding achievements failed: %s", describe(exc, 300))
        if isinstance(exc, DatabaseError):
            connection.close()  # a broken connection is opened afresh by the next use
        return None


def achievements_recompute() -> AwardSummary:
    """After a rescore's switch: every user's days and achievements under the active rules
    (waiting for a sweep in progress); revokes what is no longer earned."""
    return achievements_award(full=True, wait=True)


def achievements_backfill(*, progress: Progress = quiet) -> AwardSummary:
    """Award over the whole existing log, exactly: the counted events of every row logged so
    far, a chunk at a time (with progress), then a recompute of everything in one transaction,
    which also notes the rows logged meanwhile."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT txid_current_snapshot()::text")
        (start,) = cursor.fetchone()
        counted_fill_all(cursor, progress=progress)
    progress("recomputing every contributor's days and achievements")
    return achievements_award(full=True, wait=True, since=start)
