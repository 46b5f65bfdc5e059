"""The log as boards, in SQL: the aggregate every snapshot, restore, rebuild and verify reads.

Every board is a function of the log. `BoardsQuery` aggregates log rows into one row per board
(its members as parallel arrays) in Postgres, optionally on top of a saved snapshot: the
snapshot's boards plus the rows not visible in its transaction snapshot (docs/SNAPSHOTS.md).
Which boards exist is decided in Python by `scoring.boards` (periods and retention, the same
rule the consumer applies): Postgres receives the retained (day, timeframe, period) triples of
the days the log touches and only sums.

Also here, for the three subjects that aggregate: the advisory locks, the REPEATABLE READ
transaction setup and the progress ticker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.db import connection

from scoring.boards import GLOBAL, Board, Timeframe, is_retained, oldest_retained_period, period_of
from scoring.gate import session_lock  # noqa: F401 (the subjects that aggregate take it from here)
from scoring.models import ACTIVE_RULES_SQL, live_points
from snapshots.models import Snapshot

logger = logging.getLogger("leaderboard.snapshots")

WORK_MEM = "256MB"  # per aggregating transaction: lets a million-member aggregate hash in memory
FETCH_BOARDS = 50  # boards per round trip when streaming the aggregate
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
# A row's points are its live points (`scoring.models.live_points`): under the active rules
# version, also while a rescore is moving the log to another one (docs/EXACTLY_ONCE.md).
LIVE_POINTS = live_points("e")
_EVENT_DAYS = """
SELECT (e.occurred_at AT TIME ZONE 'UTC')::date, count(*)
  FROM scoring_contributionevent e
 WHERE {points} > 0 AND {events}
 GROUP BY 1
"""
# The log rows selected by {events}, summed per (board, user): first per (project, UTC day,
# user), then spread over the retained periods of that day, in both scopes.
_DELTA = """
periods(day, timeframe, period) AS (
    SELECT * FROM unnest(%(days)s::date[], %(timeframes)s::text[], %(periods)s::text[])
), per_day AS (
    SELECT e.project_id, (e.occurred_at AT TIME ZONE 'UTC')::date AS day, e.user_id, sum({points})::bigint AS score
      FROM scoring_contributionevent e
     WHERE {points} > 0 AND {events}
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
        cursor.execute("SELECT id::text FROM scoring_contributor WHERE excluded_reason IS NOT NULL")
        excluded = frozenset(user_id for (user_id,) in cursor.fetchall())
        if only is not None:
            events, params = f"{events} AND {only[0]}", params | only[1]
        sql = {"events": events, "points": points}
        cursor.execute(_EVENT_DAYS.format(**sql), params)
        day_counts = cursor.fetchall()
        days, timeframes, periods = _periods_of_days(sorted(day for day, _ in day_counts), now)
        params |= {"days": days, "timeframes": timeframes, "periods": periods}
        if base is None:
            return cls(_FROM_LOG.format(**sql), params, sum(n for _, n in day_counts), None, excluded)
        cursor.execute("SELECT id, timeframe, period FROM snapshots_snapshotboard WHERE snapshot_id = %s", [base.id])
        retention = settings.BOARD_RETENTION_DAYS
        params["base"] = [
            board_id
            for board_id, timeframe, period in cursor.fetchall()
            if is_retained(Board(GLOBAL, Timeframe(timeframe), period), now, retention)
        ]
        return cls(_ON_SNAPSHOT.format(**sql), params, sum(n for _, n in day_counts), base, excluded)

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


def rules_version_active(cursor) -> int:
    """The active rules version, as the current transaction sees it."""
    cursor.execute(f"SELECT {ACTIVE_RULES_SQL}")
    return cursor.fetchone()[0]


def base_snapshot(now: datetime, rules_version: int) -> Snapshot | None:
    """The newest snapshot that holds every board retained at `now`, taken under
    `rules_version` (a snapshot of another version holds other points)."""
    for snapshot in Snapshot.objects.filter(rules_version=rules_version).order_by("-id"):
        if snapshot_covers(snapshot, now):
            return snapshot
    return None
