"""The calendar's awkward days, read back through the API while their boards are current — so
from Redis, whatever today's date is: the clock is set to the next such day after the run's
own date (a day in the future, so that Redis keeps every board the service writes).

ISO week 1 that starts in December, ISO week 53 (in December and in January), and the last
and first instants of a year: each case scores one event on either side of the boundary, and
every timeframe's current board holds exactly the event the oracle puts there.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scoring import ingest, selectors
from scoring.boards import GLOBAL, Board, Timeframe
from tests.builders import pushes
from tests.clock import START
from tests.oracle import expected_boards, periods

PUBLIC = "/v1/leaderboard/public"


def _next_day(test, hour: int = 12) -> datetime:
    """The first day after START (at `hour` UTC) that passes `test`."""
    day = START.date() + timedelta(days=1)
    while not test(day):
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _cases() -> dict[str, tuple[datetime, datetime]]:
    """{case: (the instant the clock is set to, an instant on the other side of the boundary)}."""
    december_week_one = _next_day(lambda d: d.month == 12 and d.strftime("%G") == str(d.year + 1))
    january_week_53 = _next_day(lambda d: d.month == 1 and d.strftime("%V") == "53")
    december_week_53 = _next_day(lambda d: d.month == 12 and d.day >= 28 and d.strftime("%V") == "53")
    new_year = datetime(START.year + 1, 1, 1, tzinfo=UTC)
    return {
        "ISO week 1 in December": (december_week_one, december_week_one - timedelta(days=7)),
        "ISO week 53 in January": (january_week_53, january_week_53 + timedelta(days=7)),
        "ISO week 53 in December": (december_week_53, december_week_53 - timedelta(days=7)),
        "the last instant of a year": (new_year - timedelta(microseconds=1), new_year),
        "the first instant of a year": (new_year, new_year - timedelta(microseconds=1)),
    }


CASES = _cases()


@pytest.mark.parametrize("case", list(CASES))
def test_the_current_boards_of_an_awkward_day_come_from_redis(case, client, ready_boards, clock):
    at, other_side = CASES[case]
    clock.set(at)
    events = pushes("now", 31, 4, at, project=7) + pushes("other", 32, 6, other_side, project=7)
    ingest.batch_ingest(contributions=events)
    expected = expected_boards(events)
    current = periods(at)
    year = int(current["yearly"])
    assert {  # each case is what it says
        "ISO week 1 in December": current["weekly"] == f"{year + 1}-W01" and current["monthly"].endswith("-12"),
        "ISO week 53 in January": current["weekly"] == f"{year - 1}-W53" and current["monthly"].endswith("-01"),
        "ISO week 53 in December": current["weekly"] == f"{year}-W53" and current["monthly"].endswith("-12"),
        "the last instant of a year": current["daily"] == f"{year}-12-31",
        "the first instant of a year": current["daily"] == f"{year}-01-01",
    }[case]
    for timeframe in Timeframe:
        for project_id in (None, 7):
            query = {"timeframe": timeframe.value} | ({"project_id": 7} if project_id else {})
            body = client.get(PUBLIC, query).json()
            assert body["period"] == current[timeframe.value], (case, timeframe)
            scope = f"project:{project_id}" if project_id else "global"
            key = f"leaderboard:{scope}:{timeframe.value}:{current[timeframe.value]}"
            got = {row["user_id"]: row["score"] for row in body["results"]}
            assert got == expected[key], (case, key)
            board = Board(project_id or GLOBAL, timeframe, current[timeframe.value])
            assert selectors.board_page(board=board, limit=10, offset=0).source == "redis", (case, key)
    assert expected["leaderboard:global:all_time:all"] == {"31": 4, "32": 6}
