"""When the consumer's awards thread takes a due turn (pure: no servers): not while a full batch
or more waits undelivered, unless the last turn is AWARDS_YIELD_MAX seconds old; always while
the durable's counts are not read yet. The processes' side: test_processes.py."""

from __future__ import annotations

import pytest

from scoring.ingest.consumer import AWARDS_YIELD_MAX, awards_yield


@pytest.mark.parametrize(
    ("pending", "since_last_turn", "waits"),
    [
        (None, 0.0, False),  # counts not read yet: the turn goes on
        (0, 0.0, False),  # caught up
        (7_999, 5.0, False),  # less than a batch waits
        (8_000, 5.0, True),  # a full batch waits
        (10**9, 0.0, True),
        (10**9, AWARDS_YIELD_MAX - 0.001, True),
        (10**9, AWARDS_YIELD_MAX, False),  # a profile is never more than this much behind a turn
        (8_000, 3600.0, False),
    ],
)
def test_a_due_turn_yields_to_a_backlog_for_a_bounded_time(pending, since_last_turn, waits):
    assert AWARDS_YIELD_MAX == 30.0
    assert awards_yield(pending, 8_000, since_last_turn) is waits
