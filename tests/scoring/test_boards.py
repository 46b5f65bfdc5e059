"""Periods, keys and retention (SPEC section 3), at the calendar's edges (no servers)."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from scoring.boards import (
    GLOBAL,
    Board,
    Timeframe,
    board_key,
    boards_of,
    expires_at,
    is_retained,
    oldest_retained_period,
    period_end,
    period_of,
    period_start,
    validate_period,
)
from scoring.ingest import BoardPlan

RETENTION = {"daily": 35, "weekly": 91, "monthly": 400}


@pytest.mark.parametrize(
    ("day", "weekly"),
    [
        (date(2025, 12, 29), "2026-W01"),  # ISO week 1 of 2026 starts in December 2025
        (date(2025, 12, 30), "2026-W01"),
        (date(2026, 1, 1), "2026-W01"),
        (date(2026, 12, 31), "2026-W53"),  # 2026 has 53 ISO weeks
        (date(2027, 1, 3), "2026-W53"),  # ... and its week 53 ends in 2027
        (date(2027, 1, 4), "2027-W01"),
        (date(2021, 1, 1), "2020-W53"),
        (date(2024, 12, 30), "2025-W01"),
    ],
)
def test_iso_weeks_use_the_iso_year(day, weekly):
    assert period_of(Timeframe.WEEKLY, day) == weekly


def test_every_timeframe_of_one_moment():
    moment = datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC)  # leap day, last second
    assert {t: period_of(t, moment) for t in Timeframe} == {
        Timeframe.ALL_TIME: "all",
        Timeframe.YEARLY: "2024",
        Timeframe.MONTHLY: "2024-02",
        Timeframe.WEEKLY: "2024-W09",
        Timeframe.DAILY: "2024-02-29",
    }


def test_periods_are_taken_in_utc():
    from datetime import timedelta, timezone

    late_in_new_york = datetime(2026, 12, 31, 20, 0, tzinfo=timezone(timedelta(hours=-5)))  # 2027-01-01 01:00 UTC
    assert period_of(Timeframe.DAILY, late_in_new_york) == "2027-01-01"
    assert period_of(Timeframe.YEARLY, late_in_new_york) == "2027"
    assert period_of(Timeframe.MONTHLY, late_in_new_york) == "2027-01"


@pytest.mark.parametrize(
    ("timeframe", "period", "start", "end"),
    [
        (Timeframe.YEARLY, "2026", date(2026, 1, 1), date(2027, 1, 1)),
        (Timeframe.MONTHLY, "2026-12", date(2026, 12, 1), date(2027, 1, 1)),
        (Timeframe.MONTHLY, "2024-02", date(2024, 2, 1), date(2024, 3, 1)),
        (Timeframe.WEEKLY, "2026-W01", date(2025, 12, 29), date(2026, 1, 5)),
        (Timeframe.WEEKLY, "2026-W53", date(2026, 12, 28), date(2027, 1, 4)),
        (Timeframe.DAILY, "2024-02-29", date(2024, 2, 29), date(2024, 3, 1)),
        (Timeframe.DAILY, "2026-12-31", date(2026, 12, 31), date(2027, 1, 1)),
        (Timeframe.ALL_TIME, "all", None, None),
    ],
)
def test_period_bounds(timeframe, period, start, end):
    assert period_start(timeframe, period) == start
    assert period_end(timeframe, period) == end


@pytest.mark.parametrize(
    ("timeframe", "period"),
    [
        (Timeframe.WEEKLY, "2026-W54"),
        (Timeframe.WEEKLY, "2025-W53"),  # 2025 has 52 weeks
        (Timeframe.WEEKLY, "2026-W00"),
        (Timeframe.WEEKLY, "2026-48"),
        (Timeframe.DAILY, "2023-02-29"),
        (Timeframe.DAILY, "2026-13-01"),
        (Timeframe.DAILY, "2026-1-01"),
        (Timeframe.MONTHLY, "2026-00"),
        (Timeframe.MONTHLY, "2026-11-01"),
        (Timeframe.YEARLY, "26"),
        (Timeframe.YEARLY, "0000"),
        (Timeframe.ALL_TIME, "2026"),
    ],
)
def test_bad_periods_are_rejected_with_a_reason(timeframe, period):
    with pytest.raises(ValueError, match=period):
        validate_period(timeframe, period)


def test_board_keys():
    assert board_key(GLOBAL, Timeframe.WEEKLY, "2026-W01") == "leaderboard:global:weekly:2026-W01"
    assert board_key(42, "daily", "2026-11-29") == "leaderboard:project:42:daily:2026-11-29"


def test_an_event_scores_on_ten_boards():
    keys = [b.key for b in boards_of(18446744073709551615, datetime(2025, 12, 30, 8, tzinfo=UTC))]
    assert keys == [
        "leaderboard:global:all_time:all",
        "leaderboard:global:yearly:2025",
        "leaderboard:global:monthly:2025-12",
        "leaderboard:global:weekly:2026-W01",
        "leaderboard:global:daily:2025-12-30",
        "leaderboard:project:18446744073709551615:all_time:all",
        "leaderboard:project:18446744073709551615:yearly:2025",
        "leaderboard:project:18446744073709551615:monthly:2025-12",
        "leaderboard:project:18446744073709551615:weekly:2026-W01",
        "leaderboard:project:18446744073709551615:daily:2025-12-30",
    ]


def test_retention_and_expiry_agree():
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    # A daily board lives until 35 days after its day ends.
    assert expires_at(Timeframe.DAILY, "2026-10-25", RETENTION) == datetime(2026, 11, 30, tzinfo=UTC)
    assert oldest_retained_period(Timeframe.DAILY, now, RETENTION) == "2026-10-25"
    assert is_retained(Board(GLOBAL, Timeframe.DAILY, "2026-10-25"), now, RETENTION)
    assert not is_retained(Board(GLOBAL, Timeframe.DAILY, "2026-10-24"), now, RETENTION)
    assert oldest_retained_period(Timeframe.WEEKLY, now, RETENTION) == "2026-W35"
    assert oldest_retained_period(Timeframe.MONTHLY, now, RETENTION) == "2025-10"
    assert oldest_retained_period(Timeframe.YEARLY, now, RETENTION) is None
    assert expires_at(Timeframe.YEARLY, "2001", RETENTION) is None
    assert expires_at(Timeframe.ALL_TIME, "all", RETENTION) is None


@pytest.mark.parametrize("timeframe", [Timeframe.DAILY, Timeframe.WEEKLY, Timeframe.MONTHLY])
def test_a_board_is_retained_exactly_until_it_expires(timeframe):
    from datetime import timedelta

    start = datetime(2024, 1, 1, tzinfo=UTC)
    for step in range(0, 800, 3):
        moment = start + timedelta(days=step, hours=step % 24)
        board = Board(GLOBAL, timeframe, period_of(timeframe, moment))
        expiry = expires_at(timeframe, board.period, RETENTION)
        assert is_retained(board, expiry - timedelta(seconds=1), RETENTION)
        assert not is_retained(board, expiry, RETENTION)


@pytest.mark.parametrize(
    "moment",
    [  # no year 1: a plan's clock there has no retention to subtract (test_poison applies events of that year)
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),  # 2026-03-28 in UTC
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_the_apply_finds_an_events_boards_by_its_utc_date_alone(moment):
    """The apply reads a log row's UTC date as an ordinal, not its time: the same ten boards."""
    expected = tuple(boards_of(42, moment))  # all retained: the plan's day is the event's
    assert BoardPlan(now=moment).boards_on(42, moment.astimezone(UTC).date().toordinal()) == expected
    assert BoardPlan(now=moment).boards(42, moment) == expected
    daily = Board(GLOBAL, Timeframe.DAILY, moment.astimezone(UTC).date().isoformat())
    assert daily in expected and len(expected) == 10
