"""A user's scoring days (`ContributorDay`) and the streaks made of them (SPEC section 15).

A streak is a run of consecutive UTC days with at least one live point (any project). The days
are kept per user in `scoring_contributorday` (one row per scoring day, with its points), so a
profile reads a streak from the user's days alone, an index range of a few hundred rows at
most, however many events stand behind them (docs/ACHIEVEMENTS.md has the EXPLAIN):

- `days_refresh`: the (user, day) pairs that log rows logged since the sweep's watermark touch,
  summed again from the log (their events by user and time, the `event_user_time` index): exact
  whatever order rows came in, a late event included;
- `days_rebuild`: every user's days from the log's one grain (`day_scores`), after a rescore
  changed the live points or when nothing was swept yet;
- `runs`: the gaps-and-islands SQL over the days, for the profile's streaks and for the
  streak achievements alike.
"""

from __future__ import annotations

from scoring.eventlog.aggregate import day_scores
from scoring.eventlog.sql import LOG, live_points, logged_since

_REFRESH = f"""
WITH touched AS (
    SELECT DISTINCT e.user_id, (e.occurred_at AT TIME ZONE 'UTC')::date AS day
      FROM {LOG} e
     WHERE {logged_since("e", "seen")}
), sums AS (
    SELECT t.user_id, t.day, coalesce(sum(x.points) FILTER (WHERE x.points > 0), 0)::bigint AS points
      FROM touched t
      LEFT JOIN LATERAL (
           SELECT {live_points("e")} AS points
             FROM {LOG} e
            WHERE e.user_id = t.user_id
              AND e.occurred_at >= t.day::timestamp AT TIME ZONE 'UTC'
              AND e.occurred_at < (t.day + 1)::timestamp AT TIME ZONE 'UTC'
           ) x ON true
     GROUP BY 1, 2
), gone AS (
    DELETE FROM scoring_contributorday d USING sums s
     WHERE d.user_id = s.user_id AND d.day = s.day AND s.points = 0
)
INSERT INTO scoring_contributorday (user_id, day, points)
SELECT user_id, day, points FROM sums WHERE points > 0
    ON CONFLICT (user_id, day) DO UPDATE SET points = excluded.points
"""
_REBUILD = f"""
INSERT INTO scoring_contributorday (user_id, day, points)
SELECT user_id, day, sum(score)::bigint FROM ({day_scores("true")}) AS d GROUP BY 1, 2
"""


def days_refresh(cursor, *, seen: str) -> None:
    """Sum again, from the log, each (user, day) that a row logged after the txid snapshot
    `seen` falls on."""
    cursor.execute(_REFRESH, {"seen": seen})


def days_rebuild(cursor) -> int:
    """Every user's scoring days from the whole log, under the active rules; how many."""
    cursor.execute("DELETE FROM scoring_contributorday")
    cursor.execute(_REBUILD)
    return cursor.rowcount


def runs(users: str) -> str:
    """SQL: the runs of consecutive days (`user_id`, `start`, `finish`, `days`) of the users
    that the condition `users` (on `cd.user_id`) selects: gaps and islands, a day minus its
    position among the user's days being constant along a run."""
    return f"""SELECT user_id, min(day) AS start, max(day) AS finish, count(*)::integer AS days
  FROM (SELECT cd.user_id, cd.day,
               cd.day - (row_number() OVER (PARTITION BY cd.user_id ORDER BY cd.day))::integer AS run
          FROM scoring_contributorday cd
         WHERE {users}) AS numbered
 GROUP BY user_id, run"""


def first_scoring_event(user: str, day: str) -> str:
    """SQL, for a LATERAL join: the user's first live-scoring event (`id`, `occurred_at`) on
    the UTC day `day`, in (occurred_at, id) order: the event a day-based award names."""
    return f"""SELECT e.id, e.occurred_at
  FROM {LOG} e
 WHERE e.user_id = {user}
   AND e.occurred_at >= ({day})::timestamp AT TIME ZONE 'UTC'
   AND e.occurred_at < ({day} + 1)::timestamp AT TIME ZONE 'UTC'
   AND {live_points("e")} > 0
 ORDER BY e.occurred_at, e.id
 LIMIT 1"""
