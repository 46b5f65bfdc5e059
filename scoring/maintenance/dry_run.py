"""The rescore's dry run: what `rules_rescore` would change, changing nothing."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

from django.db import connection, transaction

from scoring.eventlog.aggregate import LIVE_POINTS, repeatable_read
from scoring.maintenance.progress import PROGRESS_EVERY, Progress, quiet
from scoring.maintenance.rescore_log import EXCLUDED, Scorer
from scoring.ranking import BoardMoves, rank_moves
from scoring.rules import RowChange, table_diff
from scoring.rules.versions import rules_active, version_target


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
            rows.execute(f"SELECT e.raw, {LIVE_POINTS}, e.user_id, {EXCLUDED} FROM scoring_contributionevent e")
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
