"""The log as boards, in SQL: the one aggregate of the event log into board scores.

Every board is a function of the log, at one grain: a user's live points per project and UTC
day (`day_scores`). A board's score for a user is the sum of that grain over the board's
project (or all of them) and the days of its period, so every reader builds on it:
`board_scores` spreads it over the retained periods, in both scopes (what a snapshot, restore,
rebuild, verify and rescore read, as `BoardsQuery`); a selector sums it for one board past its
retention; an exclusion reads one contributor's grain and spreads it in Python.

Which boards exist is decided in Python by `scoring.boards` (periods and retention, the same
rule the consumer applies): Postgres receives the retained (day, timeframe, period) triples of
the days the log touches and only sums. A `BoardsQuery` can start from a saved snapshot's
boards plus the rows not visible in its transaction snapshot (docs/SNAPSHOTS.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction

from scoring import faults
from scoring.boards import GLOBAL, Board, Timeframe, is_retained, period_of
from scoring.eventlog.sql import is_excluded, live_points
from scoring.gate import session_lock
from scoring.rules.versions import ACTIVE_VERSION

if TYPE_CHECKING:
    from snapshots.models import Snapshot

FETCH_BOARDS = 50  # boards per round trip when streaming the aggregate
WORK_MEM = "256MB"  # per aggregating transaction: lets a million-member aggregate hash in memory


def repeatable_read(cursor, *, read_only: bool) -> None:
    """Make the transaction just opened REPEATABLE READ: every later statement in it sees the
    log as of its first query (what a `BoardsQuery` needs). Must run before any query of the
    transaction."""
    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ" + (", READ ONLY" if read_only else ""))
    cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")


class LogPass(NamedTuple):
    """A pass over the log in a REPEATABLE READ transaction: its cursor, its txid snapshot (the
    watermark a later pass reads the rows logged since from) and the active rules version."""

    cursor: Any
    snapshot: str
    version: int


@contextmanager
def log_pass(lock: int, *, wait: bool, after_commit: str) -> Iterator[LogPass | None]:
    """One pass at a time over the log (the results' finalizer, the achievements' sweep): the
    session advisory lock `lock` (tried, or waited for with `wait`), then one REPEATABLE READ
    transaction, committed when the block ends; None when another holds the lock. The fault
    point `after_commit` is passed once committed, the lock still held."""
    with session_lock(lock, wait=wait) as held:
        if not held:
            yield None
            return
        with transaction.atomic(), connection.cursor() as cursor:
            repeatable_read(cursor, read_only=False)
            cursor.execute(f"SELECT txid_current_snapshot()::text, {ACTIVE_VERSION}")
            yield LogPass(cursor, *cursor.fetchone())
        faults.point(after_commit)


def retained_periods(days: list[date], now: datetime) -> tuple[list[date], list[str], list[str]]:
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
# A row's points are its live points: under the active rules version, also while a rescore is
# moving the log to another one (docs/EXACTLY_ONCE.md).
LIVE_POINTS = live_points("e")


def day_scores(events: str, points: str = LIVE_POINTS) -> str:
    """SQL: the log rows `e` that the condition `events` selects, summed per (project_id, UTC
    day, user_id) — the grain of every board — counting only rows worth `points` > 0."""
    return f"""SELECT e.project_id, (e.occurred_at AT TIME ZONE 'UTC')::date AS day, e.user_id,
           sum({points})::bigint AS score
      FROM scoring_contributionevent e
     WHERE {points} > 0 AND {events}
     GROUP BY 1, 2, 3"""


def board_scores(events: str, points: str = LIVE_POINTS) -> str:
    """SQL, the CTEs of a WITH list: `delta`, the rows `events` selects summed per (board,
    user): their `day_scores`, spread over the retained periods of each day (the parameters
    %(days)s, %(timeframes)s, %(periods)s: `retained_periods`), in both scopes."""
    return f"""
periods(day, timeframe, period) AS (
    SELECT * FROM unnest(%(days)s::date[], %(timeframes)s::text[], %(periods)s::text[])
), per_day AS (
    {day_scores(events, points)}
), delta AS (
    SELECT s.project_id, p.timeframe, p.period, d.user_id, sum(d.score)::bigint AS score
      FROM per_day d
      JOIN periods p ON p.day = d.day
     CROSS JOIN LATERAL (VALUES (0::numeric), (d.project_id)) AS s(project_id)
     GROUP BY 1, 2, 3, 4
)"""


_EVENT_DAYS = """
SELECT (e.occurred_at AT TIME ZONE 'UTC')::date, count(*)
  FROM scoring_contributionevent e
 WHERE {points} > 0 AND {events}
 GROUP BY 1
"""
_FROM_LOG = (
    "WITH{delta}"
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
    "WITH{delta}"
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
class BoardsQuery:
    """Every retained board, as of the current transaction: `base` snapshot + the log rows not
    visible in it (no base: the whole log). Run inside a REPEATABLE READ transaction so the
    preparatory queries and the aggregate see the same rows."""

    sql: str
    params: dict
    delta_events: int
    base: Snapshot | None
    excluded: frozenset[str] = frozenset()  # the excluded contributors' ids, as `stream` yields ids

    @classmethod
    def prepare(
        cls,
        cursor,
        *,
        now: datetime,
        base: Snapshot | None = None,
        since: str | None = None,
        points: str = LIVE_POINTS,
        only: tuple[str, dict] | None = None,
    ) -> BoardsQuery:
        """`base`: add the log rows it did not see to its boards. `since` (a transaction
        snapshot) without a base: only the rows not visible in it. Neither: the whole log.
        `points`: what a row adds (its live points unless told); `only`: a condition on the
        rows `e` (and its parameters), for a rescore's boards of the rows at its version."""
        since = since or (base.pg_snapshot if base is not None else None)
        events, params = ("true", {}) if since is None else (_SINCE, {"since": since})
        cursor.execute(f"SELECT c.id::text FROM scoring_contributor c WHERE {is_excluded('c')}")
        excluded = frozenset(user_id for (user_id,) in cursor.fetchall())
        if only is not None:
            events, params = f"{events} AND {only[0]}", params | only[1]
        sql = {"events": events, "points": points}
        cursor.execute(_EVENT_DAYS.format(**sql), params)
        day_counts = cursor.fetchall()
        days, timeframes, periods = retained_periods(sorted(day for day, _ in day_counts), now)
        params |= {"days": days, "timeframes": timeframes, "periods": periods}
        delta, events_count = board_scores(events, points), sum(n for _, n in day_counts)
        if base is None:
            return cls(_FROM_LOG.format(delta=delta), params, events_count, None, excluded)
        cursor.execute("SELECT id, timeframe, period FROM snapshots_snapshotboard WHERE snapshot_id = %s", [base.id])
        retention = settings.BOARD_RETENTION_DAYS
        params["base"] = [
            board_id
            for board_id, timeframe, period in cursor.fetchall()
            if is_retained(Board(GLOBAL, Timeframe(timeframe), period), now, retention)
        ]
        return cls(_ON_SNAPSHOT.format(delta=delta), params, events_count, base, excluded)

    @property
    def source(self) -> str:
        """What the aggregate sums, for people: "snapshot 7 + 120 events" or "120 events"."""
        events = f"{self.delta_events} events"
        return f"snapshot {self.base.id} + {events}" if self.base is not None else events

    def stream(self) -> Iterator[tuple[Board, list[str], list[int]]]:
        """Each board with its user ids (decimal strings) and their scores, in no set order:
        unordered, boards flow out of Postgres while it still computes the rest. Without the
        excluded contributors (SPEC section 9): `sql` itself sums the whole log, as a snapshot
        keeps it, so that including someone again never needs an older snapshot; a board left
        with no member is no board."""
        with connection.chunked_cursor() as cursor:
            cursor.execute(
                f"SELECT project_id::text, timeframe, period, user_ids::text[], scores FROM ({self.sql}) AS boards",
                self.params,
            )
            while rows := cursor.fetchmany(FETCH_BOARDS):
                for project_id, timeframe, period, user_ids, scores in rows:
                    if self.excluded and not self.excluded.isdisjoint(user_ids):
                        kept = [(u, score) for u, score in zip(user_ids, scores, strict=True) if u not in self.excluded]
                        if not kept:
                            continue
                        user_ids, scores = [u for u, _ in kept], [score for _, score in kept]
                    yield Board(int(project_id), Timeframe(timeframe), period), user_ids, scores
