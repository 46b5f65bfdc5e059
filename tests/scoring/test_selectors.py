"""The read side: ranks, pages, standings, the event-log fallback, provenance.

The pure ranking is tested alone; the rest against the real Redis and Postgres. Boards are
written either directly (ZADD) or by logging events through `ingest.batch_ingest`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scoring import ingest, selectors
from scoring.boards import GLOBAL, Board, Timeframe, period_of
from scoring.selectors import BoardRow
from tests.builders import pushes, zero_point
from tests.clock import START

ALL_TIME = Board(GLOBAL, Timeframe.ALL_TIME, "all")

# 13 users with a three-way tie at the top, a pair, a three-way tie in the middle, a pair at the
# bottom; ids chosen so that byte order differs from numeric order ("9" > "11" > "100" > "10").
SCORES = {9: 50, 11: 50, 100: 50, 10: 40, 3: 40, 21: 30, 2: 30, 20: 30, 7: 25, 5: 10, 6: 10, 8: 5, 1: 1}


def reference(scores: dict[int, int]) -> list[BoardRow]:
    """The board by definition: score desc, then member desc byte-wise; rank = 1 + the number
    of users scoring strictly more."""
    order = sorted(scores, key=lambda user: (scores[user], str(user).encode()), reverse=True)
    return [BoardRow(1 + sum(s > scores[user] for s in scores.values()), user, scores[user]) for user in order]


# ---- pure


def test_period_is_closed():
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    assert not selectors.period_is_closed(ALL_TIME, now=now)
    assert not selectors.period_is_closed(Board(GLOBAL, Timeframe.DAILY, "2026-11-29"), now=now)
    assert selectors.period_is_closed(Board(GLOBAL, Timeframe.DAILY, "2026-11-28"), now=now)
    assert not selectors.period_is_closed(Board(GLOBAL, Timeframe.WEEKLY, "2026-W48"), now=now)
    assert selectors.period_is_closed(Board(GLOBAL, Timeframe.WEEKLY, "2026-W47"), now=now)
    assert not selectors.period_is_closed(Board(GLOBAL, Timeframe.YEARLY, "2027"), now=now)


# ---- Redis


def test_every_window_of_a_board_with_ties_matches_the_definition(live_boards, db):
    live_boards.zadd(ALL_TIME.key, {str(user): score for user, score in SCORES.items()})
    expected = reference(SCORES)
    assert [(r.rank, r.user_id) for r in expected[:6]] == [(1, 9), (1, 11), (1, 100), (4, 3), (4, 10), (6, 21)]
    n = len(SCORES)
    for offset in range(n + 2):
        for limit in range(1, n + 2):
            page = selectors.board_page(board=ALL_TIME, limit=limit, offset=offset)
            assert (page.total, page.source) == (n, "redis")
            assert page.rows == expected[offset : offset + limit], (offset, limit)


def test_ties_at_a_page_boundary(live_boards, db):
    live_boards.zadd(ALL_TIME.key, {"1": 30, "2": 20, "3": 20, "4": 20, "5": 10})
    first = selectors.board_page(board=ALL_TIME, limit=2, offset=0).rows
    second = selectors.board_page(board=ALL_TIME, limit=2, offset=2).rows
    third = selectors.board_page(board=ALL_TIME, limit=2, offset=4).rows
    assert first == [BoardRow(1, 1, 30), BoardRow(2, 4, 20)]
    assert second == [BoardRow(2, 3, 20), BoardRow(2, 2, 20)]
    assert third == [BoardRow(5, 5, 10)]


def test_an_absent_board_is_empty(live_boards, db):
    page = selectors.board_page(board=Board(42, Timeframe.ALL_TIME, "all"), limit=50, offset=0)
    assert (page.total, page.rows) == (0, [])


def test_standing_and_rows_around_at_the_top_middle_and_bottom(live_boards, db):
    live_boards.zadd(ALL_TIME.key, {str(user): score for user, score in SCORES.items()})
    expected = reference(SCORES)

    top = selectors.user_standing(board=ALL_TIME, user_id=9, around=2)
    assert (top.rank, top.score, top.total) == (1, 50, 13)
    assert top.around == expected[0:3]  # nothing above the first row: clipped

    middle = selectors.user_standing(board=ALL_TIME, user_id=20, around=2)
    # ties in byte order: 21 > 20 > 2, so user 20 is the second of the three 30s
    assert (middle.rank, middle.score) == (6, 30)
    assert middle.around == expected[4:9]
    assert [(r.rank, r.user_id) for r in middle.around] == [(4, 10), (6, 21), (6, 20), (6, 2), (9, 7)]

    bottom = selectors.user_standing(board=ALL_TIME, user_id=1, around=3)
    assert (bottom.rank, bottom.score) == (13, 1)
    assert bottom.around == expected[9:13]  # nothing below the last row: clipped

    alone = selectors.user_standing(board=ALL_TIME, user_id=11, around=0)
    assert alone.around == [BoardRow(1, 11, 50)]
    assert selectors.user_standing(board=ALL_TIME, user_id=11).around is None
    assert selectors.user_standing(board=ALL_TIME, user_id=12345, around=5) is None


def test_whole_board_in_one_window(live_boards, db):
    live_boards.zadd(ALL_TIME.key, {"5": 1, "6": 1})
    standing = selectors.user_standing(board=ALL_TIME, user_id=5, around=50)
    assert standing.around == [BoardRow(1, 6, 1), BoardRow(1, 5, 1)]


# ---- the event log answers for boards that have left Redis


@pytest.fixture
def past_history(ready_boards):
    """A history with ties on the boards of a few days ago (still in Redis today)."""
    when = START.replace(hour=12) - timedelta(days=3)
    events = []
    for user, score in SCORES.items():
        events += pushes("p", user, score, when)
    # another project, and a day outside every period of `when` but the yearly and all-time ones
    events += pushes("q", 9, 7, when, project=8, name="org/other")
    events += pushes("q", 100, 7, when, project=8, name="org/other")
    events += pushes("old", 1, 99, when - timedelta(days=400))
    events.append(zero_point("z-1", 5, when))
    ingest.batch_ingest(contributions=events)
    return when


@pytest.mark.parametrize("timeframe", [Timeframe.DAILY, Timeframe.WEEKLY, Timeframe.MONTHLY])
@pytest.mark.parametrize("project_id", [GLOBAL, 7, 8])
def test_an_expired_board_answers_from_the_event_log_identically(past_history, timeframe, project_id):
    board = Board(project_id, timeframe, period_of(timeframe, past_history))
    now = START
    later = now + timedelta(days=800)  # past every retention: the board has left Redis
    assert not selectors.board_from_event_log(board, now=now)
    assert selectors.board_from_event_log(board, now=later)

    n = 13 if project_id != 8 else 2
    from_redis = [selectors.board_page(board=board, limit=limit, offset=offset, now=now) for offset, limit in WINDOWS]
    standings = {
        user: selectors.user_standing(board=board, user_id=user, around=2, now=now) for user in [*SCORES, 4242]
    }
    assert from_redis[0].total == n and from_redis[0].source == "redis"

    from scoring import redis_boards

    redis_boards.connection().delete(board.key)  # as its expiry would
    for (offset, limit), before in zip(WINDOWS, from_redis, strict=True):
        after = selectors.board_page(board=board, limit=limit, offset=offset, now=later)
        assert after.source == "event_log"
        assert (after.total, after.rows) == (before.total, before.rows), (offset, limit)
    for user, before in standings.items():
        after = selectors.user_standing(board=board, user_id=user, around=2, now=later)
        if before is None:
            assert after is None
            continue
        assert (after.rank, after.score, after.total, after.around) == (
            before.rank,
            before.score,
            before.total,
            before.around,
        )
        assert after.source == "event_log"


WINDOWS = [(0, 50), (0, 1), (0, 3), (1, 3), (2, 2), (3, 4), (5, 3), (12, 5), (13, 5), (40, 5)]


def test_event_log_board_values(past_history):
    board = Board(GLOBAL, Timeframe.DAILY, period_of(Timeframe.DAILY, past_history))
    later = START + timedelta(days=800)
    page = selectors.board_page(board=board, limit=5, offset=0, now=later)
    # users 9 and 100 also scored 7 on project 8 that day
    assert page.rows == [
        BoardRow(1, 9, 57),
        BoardRow(1, 100, 57),
        BoardRow(3, 11, 50),
        BoardRow(4, 3, 40),
        BoardRow(4, 10, 40),
    ]
    assert page.total == 13
    past_end = selectors.board_page(board=board, limit=5, offset=20, now=later)
    assert (past_end.total, past_end.rows) == (13, [])


# ---- provenance


def test_user_events_newest_first_scored_only_and_filtered(ready_boards):
    t0 = datetime(2026, 3, 2, 10, tzinfo=UTC)  # a Monday: ISO week 2026-W10
    events = [
        *pushes("a", 5, 3, t0),
        *pushes("b", 5, 4, t0 + timedelta(days=1), project=8, name="org/other"),
        *pushes("c", 5, 5, t0 + timedelta(days=1)),  # same time as "b": log order breaks the tie
        *pushes("d", 5, 2, t0 + timedelta(days=8)),  # the next week
        zero_point("z", 5, t0 + timedelta(days=2)),
        *pushes("other", 6, 9, t0),
    ]
    ingest.batch_ingest(contributions=events)

    def ids(**board):
        found = selectors.user_events(user_id=5, board=Board(**{"project_id": GLOBAL, **board}))
        return [(e.event_id, e.points, e.project_id, e.project.name) for e in found]

    everything = ids(timeframe=Timeframe.ALL_TIME, period="all")
    # "b" and "c" happened at the same moment; "c" was logged after "b" (ids are in event id order)
    assert everything == [
        ("d-5-0", 2, 7, "org/app"),
        ("c-5-0", 5, 7, "org/app"),
        ("b-5-0", 4, 8, "org/other"),
        ("a-5-0", 3, 7, "org/app"),
    ]
    assert ids(timeframe=Timeframe.WEEKLY, period="2026-W10") == everything[1:]
    assert ids(timeframe=Timeframe.DAILY, period="2026-03-03") == everything[1:3]
    assert ids(timeframe=Timeframe.WEEKLY, period="2026-W10", project_id=8) == [everything[2]]
    assert ids(timeframe=Timeframe.MONTHLY, period="2026-04") == []


def test_project_list(ready_boards):
    at = datetime(2026, 1, 5, tzinfo=UTC)
    ingest.batch_ingest(
        contributions=[*pushes("a", 1, 3, at, project=9, name="org/nine"), zero_point("z", 1, at, project=3)]
    )
    assert [(p.id, p.name, p.event_count) for p in selectors.project_list()] == [(3, "org/app", 1), (9, "org/nine", 1)]
