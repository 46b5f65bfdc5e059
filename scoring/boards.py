"""Boards, timeframes and periods (SPEC section 3). Pure functions, no I/O.

A board is one (scope, timeframe, period): the global scope, or one project's. Its Redis key
is `leaderboard:global:{timeframe}:{period}` or `leaderboard:project:{id}:{timeframe}:{period}`.
Periods come from the event's own time in UTC; weeks are ISO weeks with the ISO year.

Period boards (daily, weekly, monthly) live in Redis until a retention after their period
ends; yearly and all-time boards never expire. `oldest_retained_period` gives the first
period still kept, and the same rule decides what the consumer applies, what a restore
loads and what `verify_leaderboards` expects — so all three always agree.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

KEY_PREFIX = "leaderboard"
GLOBAL = 0  # the project id that stands for the global scope in tables and tuples


class Timeframe(enum.StrEnum):
    ALL_TIME = "all_time"
    YEARLY = "yearly"
    MONTHLY = "monthly"
    WEEKLY = "weekly"
    DAILY = "daily"


ALL_PERIOD = "all"
# Each timeframe's period syntax; the API's OpenAPI pattern is their union. [0-9], not \d:
# \d and int() also take other scripts' digits (fullwidth, Arabic-Indic), which would name the
# same period with another string (another Redis key, another cache entry).
PERIOD_PATTERNS = {
    Timeframe.ALL_TIME: r"all",
    Timeframe.YEARLY: r"([0-9]{4})",
    Timeframe.MONTHLY: r"([0-9]{4})-([0-9]{2})",
    Timeframe.WEEKLY: r"([0-9]{4})-W([0-9]{2})",
    Timeframe.DAILY: r"([0-9]{4})-([0-9]{2})-([0-9]{2})",
}
PERIOD_PATTERN = "^(?:" + "|".join(PERIOD_PATTERNS.values()) + ")$"
_PERIOD_RE = {timeframe: re.compile(pattern) for timeframe, pattern in PERIOD_PATTERNS.items()}
PERIOD_FORMATS = {
    Timeframe.ALL_TIME: "all",
    Timeframe.YEARLY: "YYYY",
    Timeframe.MONTHLY: "YYYY-MM",
    Timeframe.WEEKLY: "YYYY-Www (ISO week)",
    Timeframe.DAILY: "YYYY-MM-DD",
}


@dataclass(frozen=True, slots=True, order=True)
class Board:
    """One leaderboard: `project_id` is `GLOBAL` (0) for the global board."""

    project_id: int
    timeframe: Timeframe
    period: str
    # Its Redis key, made once: the apply names every board of every event of a batch.
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", board_key(self.project_id, self.timeframe, self.period))


def period_of(timeframe: Timeframe, moment: datetime | date) -> str:
    """The period of `timeframe` that contains `moment` (a UTC datetime or a date)."""
    day = moment.astimezone(UTC).date() if isinstance(moment, datetime) else moment
    if timeframe is Timeframe.ALL_TIME:
        return ALL_PERIOD
    if timeframe is Timeframe.YEARLY:
        return f"{day.year:04d}"
    if timeframe is Timeframe.MONTHLY:
        return f"{day.year:04d}-{day.month:02d}"
    if timeframe is Timeframe.WEEKLY:
        iso = day.isocalendar()
        return f"{iso.year:04d}-W{iso.week:02d}"
    return day.isoformat()


def periods_of(moment: datetime) -> dict[Timeframe, str]:
    """Every timeframe's period for one moment."""
    day = moment.astimezone(UTC).date()
    return {timeframe: period_of(timeframe, day) for timeframe in Timeframe}


def period_start(timeframe: Timeframe, period: str) -> date | None:
    """The first day of a period, or None for all-time. Raises ValueError if malformed."""
    match = _PERIOD_RE[timeframe].fullmatch(period)
    if match is None:
        raise ValueError(f"{period!r} is not a {timeframe.value} period ({PERIOD_FORMATS[timeframe]})")
    numbers = [int(group) for group in match.groups()]
    try:
        if timeframe is Timeframe.ALL_TIME:
            return None
        if timeframe is Timeframe.YEARLY:
            return date(numbers[0], 1, 1)
        if timeframe is Timeframe.MONTHLY:
            return date(numbers[0], numbers[1], 1)
        if timeframe is Timeframe.WEEKLY:
            start = date.fromisocalendar(numbers[0], numbers[1], 1)
            return start
        return date(numbers[0], numbers[1], numbers[2])
    except ValueError as exc:
        raise ValueError(f"{period!r} is not a real {timeframe.value} period: {exc}") from exc


def period_end(timeframe: Timeframe, period: str) -> date | None:
    """The first day after a period, or None for all-time."""
    start = period_start(timeframe, period)
    if start is None:
        return None
    if timeframe is Timeframe.YEARLY:
        return date(start.year + 1, 1, 1)
    if timeframe is Timeframe.MONTHLY:
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    if timeframe is Timeframe.WEEKLY:
        return start + timedelta(days=7)
    return start + timedelta(days=1)


def period_shift(timeframe: Timeframe, period: str, steps: int) -> str | None:
    """The period `steps` periods after `period` (before it when negative); None for
    all-time, which has no neighbours, or past the calendar's ends."""
    start = period_start(timeframe, period)
    if start is None:
        return None
    try:
        if timeframe is Timeframe.YEARLY:
            return period_of(timeframe, date(start.year + steps, 1, 1))
        if timeframe is Timeframe.MONTHLY:
            months = start.year * 12 + start.month - 1 + steps
            return period_of(timeframe, date(months // 12, months % 12 + 1, 1))
        if timeframe is Timeframe.WEEKLY:
            return period_of(timeframe, start + timedelta(weeks=steps))
        return period_of(timeframe, start + timedelta(days=steps))
    except (ValueError, OverflowError):
        return None


def validate_period(timeframe: Timeframe, period: str) -> str:
    """Return `period` if it is a real period of `timeframe`; raise ValueError saying why not."""
    period_start(timeframe, period)
    return period


def board_key(project_id: int, timeframe: Timeframe | str, period: str) -> str:
    """The Redis key of a board."""
    if not isinstance(timeframe, Timeframe):
        timeframe = Timeframe(timeframe)
    if project_id == GLOBAL:
        return f"{KEY_PREFIX}:global:{timeframe.value}:{period}"
    return f"{KEY_PREFIX}:project:{project_id}:{timeframe.value}:{period}"


BOARD_KEY_PATTERNS = (f"{KEY_PREFIX}:global:*", f"{KEY_PREFIX}:project:*")


def boards_of(project_id: int, moment: datetime) -> list[Board]:
    """The ten boards an event of `project_id` at `moment` scores on (global first)."""
    periods = periods_of(moment)
    return [Board(scope, timeframe, periods[timeframe]) for scope in (GLOBAL, project_id) for timeframe in Timeframe]


def midnight(day: date) -> datetime:
    """The first instant of the UTC day `day`."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def expires_at(timeframe: Timeframe, period: str, retention_days: dict[str, int]) -> datetime | None:
    """When a board leaves Redis: its period's end plus the timeframe's retention; None = never.

    Total on every period a Timestamp can fall in: a board whose expiry lies past the last
    instant a datetime holds (periods in the year 9999) never expires — no clock reaches it."""
    days = retention_days.get(timeframe.value)
    if days is None or timeframe in (Timeframe.ALL_TIME, Timeframe.YEARLY):
        return None
    period_start(timeframe, period)  # a malformed period still raises
    try:
        end = period_end(timeframe, period)
        return midnight(end) + timedelta(days=days)
    except (ValueError, OverflowError):
        return None


def oldest_retained_period(timeframe: Timeframe, now: datetime, retention_days: dict[str, int]) -> str | None:
    """The first period of `timeframe` whose board is still kept at `now`; None = all are kept.

    A board of period p is kept while now < end(p) + retention, that is while the instant
    `now - retention` lies in p or before it: p >= period_of(now - retention). Period strings
    of one timeframe sort like their periods, so callers may compare them as strings.
    """
    days = retention_days.get(timeframe.value)
    if days is None or timeframe in (Timeframe.ALL_TIME, Timeframe.YEARLY):
        return None
    return period_of(timeframe, now - timedelta(days=days))


def is_retained(board: Board, now: datetime, retention_days: dict[str, int]) -> bool:
    """Whether `board` is kept in Redis at `now`."""
    oldest = oldest_retained_period(board.timeframe, now, retention_days)
    return oldest is None or board.period >= oldest
