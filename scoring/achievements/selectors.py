"""Reads of a contributor's streaks and achievements, for the API and the profile: one query each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple

from django.db import connection

from scoring.achievements.days import runs
from scoring.achievements.rules import CATALOGUE, TITLES

_ORDER = {rule.code: position for position, rule in enumerate(CATALOGUE)}

# The user's run of consecutive scoring days alive today or yesterday, and the longest (of equal
# ones, the most recent): two rows at most, from one index-only range of the user's days.
_STREAKS = f"""
WITH streaks AS ({runs("cd.user_id = %(user)s")})
(SELECT start, finish, days, true AS alive FROM streaks
  WHERE start <= %(today)s AND finish >= %(yesterday)s ORDER BY start LIMIT 1)
UNION ALL
(SELECT start, finish, days, false FROM streaks ORDER BY days DESC, start DESC LIMIT 1)
"""
_ACHIEVEMENTS = """
SELECT a.code, a.earned_at, a.revoked, e.event_id, r.id, r.timeframe, r.period
  FROM scoring_achievement a
  LEFT JOIN scoring_contributionevent e ON e.id = a.event_id
  LEFT JOIN scoring_periodresult r ON r.id = a.result_id
 WHERE a.user_id = %s
"""


class Streak(NamedTuple):
    """A run of consecutive UTC days with points: how many, its first and its last."""

    days: int
    start: date
    end: date


@dataclass(frozen=True, slots=True)
class Streaks:
    """The run alive today or yesterday (None: none), and the longest (of equal ones, the most
    recent; None: no scoring day at all)."""

    current: Streak | None
    longest: Streak | None


class EarnedResult(NamedTuple):
    id: int
    timeframe: str
    period: str


@dataclass(frozen=True, slots=True)
class Earned:
    """An achievement as the API and the profile show it."""

    code: str
    title: str
    earned_at: datetime
    event_id: str | None
    result: EarnedResult | None
    revoked: datetime | None


def contributor_streaks(*, user_id: int, today: date) -> Streaks:
    """The user's current and longest streaks, as of the UTC day `today`."""
    with connection.cursor() as cursor:
        cursor.execute(_STREAKS, {"user": user_id, "today": today, "yesterday": today - timedelta(days=1)})
        found = cursor.fetchall()
    current = next((Streak(days, start, end) for start, end, days, alive in found if alive), None)
    longest = next((Streak(days, start, end) for start, end, days, alive in found if not alive), None)
    return Streaks(current, longest)


def contributor_achievements(*, user_id: int) -> list[Earned]:
    """The user's achievements in the order earned (of those earned at the same instant, in the
    catalogue's order), the revoked ones included and marked."""
    with connection.cursor() as cursor:
        cursor.execute(_ACHIEVEMENTS, [user_id])
        found = cursor.fetchall()
    earned = [
        Earned(
            code,
            TITLES.get(code, code),
            earned_at,
            event_id,
            EarnedResult(result_id, timeframe, period) if result_id is not None else None,
            revoked,
        )
        for code, earned_at, revoked, event_id, result_id, timeframe, period in found
    ]
    return sorted(earned, key=lambda a: (a.earned_at, _ORDER.get(a.code, len(_ORDER)), a.code))
