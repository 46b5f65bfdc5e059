"""Recording period results exactly once (SPEC section 14; docs/EXACTLY_ONCE.md, "Period results").

One finalizer at a time (a session advisory lock: the others skip their turn), in one REPEATABLE
READ transaction whose snapshot is "the log as it stood":

1. the log rows logged since the watermark (the txid snapshot the last run saw; the `txid`
   index finds them), as (UTC day, project, count): each day's periods are registered with the
   time they become final, and a row for a period already finalized is *late*: it adds to the
   `late_events` of that period's global result and its project's;
2. every registered period that is final by `now` is finalized: each of its boards (global and
   every project with points in it) summed from the log's one grain (`day_scores`, live points,
   excluded contributors left out), ranked as the boards rank, its top `RESULTS_TOP_N` kept;
3. an outbox row per result and matching notification target (scoring/results/targets.py);
4. the watermark moves to this transaction's snapshot; commit.

Nothing here takes the boards gate or a row lock of the log, so records and applies never wait
for it. A result is inserted once (unique per board) and never updated but for `late_events`;
a rescore moves the log, never a result (each keeps `rules_version`, the version it was scored
under).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings

from scoring import faults, redis_boards
from scoring.boards import GLOBAL, Timeframe, midnight, period_end, period_of, period_start
from scoring.eventlog.aggregate import day_scores, log_pass
from scoring.eventlog.sql import user_excluded
from scoring.results import targets

logger = logging.getLogger("leaderboard.results")

FINALIZE_LOCK = 0x1EADB0A31  # one finalizer at a time, across every consumer and command
RESULT_TIMEFRAMES = (Timeframe.YEARLY, Timeframe.MONTHLY, Timeframe.WEEKLY, Timeframe.DAILY)

# A board's members ranked as Redis ranks them (score descending, then user id descending
# byte-wise), with standard competition ranks; one row per board with its size, total and top.
_FINALIZE = """
WITH per_day AS (
    {day_scores}
), per_user AS (
    SELECT s.project_id, d.user_id, sum(d.score)::bigint AS score
      FROM per_day d
     CROSS JOIN LATERAL (VALUES (0::numeric), (d.project_id)) AS s(project_id)
     GROUP BY 1, 2
), ranked AS (
    SELECT project_id, user_id, score,
           rank() OVER (PARTITION BY project_id ORDER BY score DESC) AS rank,
           row_number() OVER (PARTITION BY project_id ORDER BY score DESC, user_id::text COLLATE "C" DESC) AS position
      FROM per_user
), inserted AS (
    INSERT INTO scoring_periodresult
           (timeframe, period, project_id, final_at, recorded_at, rules_version, members, total_points, top,
            late_events, log_snapshot)
    SELECT %(timeframe)s, %(period)s, project_id, %(final_at)s, now(), %(version)s, count(*), sum(score),
           coalesce(jsonb_agg(jsonb_build_object('rank', rank, 'user_id', user_id::text, 'score', score)
                              ORDER BY position) FILTER (WHERE position <= %(top)s), '[]'::jsonb),
           0, %(snapshot)s
      FROM ranked
     GROUP BY project_id
    RETURNING id, project_id
)
SELECT id, project_id FROM inserted
"""
_PLACINGS = """
INSERT INTO scoring_periodplacing (result_id, user_id, rank, score)
SELECT r.id, (t->>'user_id')::numeric, (t->>'rank')::integer, (t->>'score')::bigint
  FROM scoring_periodresult r, jsonb_array_elements(r.top) AS t
 WHERE r.id = ANY(%s)
"""
_SINCE = """
SELECT (e.occurred_at AT TIME ZONE 'UTC')::date, e.project_id, count(*)
  FROM scoring_contributionevent e
 WHERE {since}
 GROUP BY 1, 2
"""
_NOT_SEEN = (
    "e.txid >= txid_snapshot_xmin(%(seen)s::txid_snapshot)"
    " AND NOT txid_visible_in_snapshot(e.txid, %(seen)s::txid_snapshot)"
)
_LATE = """
UPDATE scoring_periodresult r SET late_events = r.late_events + l.n
  FROM unnest(%s::text[], %s::text[], %s::numeric[], %s::integer[]) AS l(timeframe, period, project_id, n)
 WHERE (r.timeframe, r.period, r.project_id) = (l.timeframe, l.period, l.project_id)
"""


@dataclass
class FinalizeSummary:
    """What one finalizer run did (`skipped`: another held the lock)."""

    skipped: bool = False
    rows_seen: int = 0
    periods_finalized: list[tuple[str, str]] = field(default_factory=list)
    results: int = 0
    deliveries: int = 0
    late_events: int = 0


def final_at(timeframe: Timeframe, period: str) -> datetime | None:
    """When a period's boards become final: its end plus `RESULTS_GRACE_SECONDS` (None: never,
    for all-time or a period ending past the calendar)."""
    try:
        end = period_end(timeframe, period)
    except (ValueError, OverflowError):
        return None
    if end is None:
        return None
    try:
        return midnight(end) + timedelta(seconds=settings.RESULTS_GRACE_SECONDS)
    except OverflowError:
        return None


def results_finalize(*, now: datetime) -> FinalizeSummary:
    """Record the result of every board whose period is final at `now` and has none yet, and
    count late events; does nothing while another finalizer runs."""
    with log_pass(FINALIZE_LOCK, wait=False, after_commit="results_after_commit") as run:
        if run is None:
            return FinalizeSummary(skipped=True)
        cursor, snapshot, version = run
        summary = FinalizeSummary()
        _note_new_rows(cursor, summary)
        cursor.execute(
            "SELECT timeframe, period, final_at FROM scoring_resultperiod"
            " WHERE NOT finalized AND final_at <= %s ORDER BY final_at, timeframe, period",
            [now],
        )
        for timeframe, period, final in cursor.fetchall():
            _finalize_period(cursor, summary, Timeframe(timeframe), period, final, snapshot, version, now)
        cursor.execute(
            "INSERT INTO scoring_resultswatermark (id, log_snapshot) VALUES (1, %s)"
            " ON CONFLICT (id) DO UPDATE SET log_snapshot = excluded.log_snapshot",
            [snapshot],
        )
        faults.point("results_after_record")
    if summary.results:
        redis_boards.results_announce()  # the pages showing results go stale at once
    if summary.results or summary.late_events:
        logger.info(
            "results recorded=%d periods=%d deliveries=%d late_events=%d",
            summary.results,
            len(summary.periods_finalized),
            summary.deliveries,
            summary.late_events,
        )
    return summary


def _note_new_rows(cursor, summary: FinalizeSummary) -> None:
    """Register the periods of the rows logged since the watermark; count the late ones."""
    cursor.execute("SELECT log_snapshot FROM scoring_resultswatermark WHERE id = 1")
    row = cursor.fetchone()
    since, params = (_NOT_SEEN, {"seen": row[0]}) if row else ("true", {})
    cursor.execute(_SINCE.format(since=since), params)
    day_rows: list[tuple[date, int, int]] = cursor.fetchall()
    if not day_rows:
        return
    per_period: Counter[tuple[str, str, int]] = Counter()
    for day, project_id, count in day_rows:
        summary.rows_seen += count
        for timeframe in RESULT_TIMEFRAMES:
            period = period_of(timeframe, day)
            per_period[(timeframe.value, period, GLOBAL)] += count
            per_period[(timeframe.value, period, int(project_id))] += count
    periods = sorted({(timeframe, period) for timeframe, period, _ in per_period})
    cursor.execute(
        "SELECT timeframe, period FROM scoring_resultperiod"
        " WHERE finalized AND (timeframe, period) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
        [[t for t, _ in periods], [p for _, p in periods]],
    )
    finalized = set(cursor.fetchall())
    late = [(key, n) for key, n in per_period.items() if (key[0], key[1]) in finalized]
    if late:
        cursor.execute(
            _LATE, [[k[0] for k, _ in late], [k[1] for k, _ in late], [k[2] for k, _ in late], [n for _, n in late]]
        )
        summary.late_events += sum(n for (_, _, project_id), n in late if project_id == GLOBAL)
    new = [(t, p, final_at(Timeframe(t), p)) for t, p in periods if (t, p) not in finalized]
    new = [(t, p, at) for t, p, at in new if at is not None]
    cursor.execute(
        "INSERT INTO scoring_resultperiod (timeframe, period, final_at, finalized)"
        " SELECT t, p, f, false FROM unnest(%s::text[], %s::text[], %s::timestamptz[]) AS n(t, p, f)"
        " ON CONFLICT (timeframe, period) DO NOTHING",
        [[t for t, _, _ in new], [p for _, p, _ in new], [at for _, _, at in new]],
    )


def _finalize_period(cursor, summary, timeframe, period, final, snapshot, version, now) -> None:
    """Record the results of every board of one final period, their placings and outbox rows."""
    start = midnight(period_start(timeframe, period))
    end = midnight(period_end(timeframe, period))
    events = f"e.occurred_at >= %(start)s AND e.occurred_at < %(end)s AND NOT {user_excluded('e.user_id')}"
    cursor.execute(
        _FINALIZE.format(day_scores=day_scores(events)),
        {
            "start": start,
            "end": end,
            "timeframe": timeframe.value,
            "period": period,
            "final_at": final,
            "version": version,
            "top": settings.RESULTS_TOP_N,
            "snapshot": snapshot,
        },
    )
    recorded = [(result_id, int(project_id)) for result_id, project_id in cursor.fetchall()]
    if recorded:
        cursor.execute(_PLACINGS, [[result_id for result_id, _ in recorded]])
    cursor.execute(
        "UPDATE scoring_resultperiod SET finalized = true WHERE timeframe = %s AND period = %s",
        [timeframe.value, period],
    )
    summary.periods_finalized.append((timeframe.value, period))
    summary.results += len(recorded)
    if recorded:
        summary.deliveries += targets.deliveries_enqueue(
            cursor, timeframe=timeframe, final=final, recorded=recorded, now=now
        )
