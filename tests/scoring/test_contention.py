"""Two workers on one event, and rows whose message is gone: the row lock and the markers make
each event count once whatever the other worker does; the consumer's sweep applies what no
message will ever bring back."""

from __future__ import annotations

import re
import threading

import pytest
from django.db import connection

from scoring import ingest, redis_boards
from scoring.models import ContributionEvent
from scoring.redis_boards import PENDING_KEY
from scoring.rules import Contribution, EventKind
from tests.clock import START
from tests.fixtures import pg_connect, wait_for
from tests.oracle import expected_boards, redis_boards_state

pytestmark = pytest.mark.django_db(transaction=True)
NOW = START
# What `events_apply` locks: the ledger rows of the batch's unapplied events, in event id order.
LOCK_FOR_APPLY = (
    "SELECT u.id FROM scoring_unapplied u JOIN scoring_contributionevent e ON e.id = u.id"
    " WHERE e.event_id = ANY(%s) ORDER BY e.event_id FOR UPDATE OF u"
)


def events(*ids: str) -> list[Contribution]:
    return [
        Contribution(event_id, EventKind.PULL_REQUEST_OPENED, NOW, 10, "org/ten", n + 1, raw=event_id.encode())
        for n, event_id in enumerate(ids)
    ]


def waiting_on_the_row_lock(pid: int) -> bool:
    """Whether backend `pid` is blocked on a lock while locking log rows for its apply."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT wait_event_type, query FROM pg_stat_activity WHERE pid = %s",
            [pid],
        )
        row = cursor.fetchone()
    if row is None or row[0] != "Lock":
        return False
    query = " ".join(row[1].split())
    return query.startswith("WITH locked AS") and "FROM scoring_unapplied" in query and "FOR UPDATE" in query


class Worker(threading.Thread):
    """The second worker: `events_apply` in a thread of its own (its own connection)."""

    def __init__(self, scored) -> None:
        super().__init__()
        self.scored, self.result, self.error, self.pid = scored, None, None, None
        self.started_apply = threading.Event()

    def run(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                (self.pid,) = cursor.fetchone()
            self.started_apply.set()
            self.result = ingest.events_apply(scored=self.scored)
        except BaseException as exc:  # handed to the test
            self.error = exc
        finally:
            connection.close()


@pytest.mark.parametrize("first_worker", ["commits", "dies after its Lua call", "dies before its Lua call"])
def test_two_workers_contending_for_one_event_count_it_once(first_worker, ready_boards, redis_client):
    """The first worker holds the rows locked (as `events_apply` does); the second blocks on
    them. Whatever the first then does, the second ends with every event counted once."""
    batch = events("c1", "c2")
    scored = ingest.contributions_score(batch)
    ingest.events_record(scored=scored)  # both received the batch; its rows are logged
    first = pg_connect()
    first.execute(LOCK_FOR_APPLY, [["c1", "c2"]])
    if first_worker != "dies before its Lua call":
        plan = ingest.BoardPlan()
        increments = [
            redis_boards.Increment(s.contribution.event_id, s.contribution.user_id, s.points, plan.boards(10, NOW))
            for s in scored
        ]
        assert redis_boards.boards_apply(increments, expires=plan.expires) == (2, 0)

    second = Worker(scored)
    second.start()
    try:
        assert second.started_apply.wait(10)
        wait_for(lambda: waiting_on_the_row_lock(second.pid), timeout=10, message="the second worker at the row lock")
        assert second.result is None and second.error is None
        if first_worker == "commits":
            first.execute(
                "DELETE FROM scoring_unapplied u USING scoring_contributionevent e"
                " WHERE e.id = u.id AND e.event_id = ANY(%s)",
                [["c1", "c2"]],
            )
            first.commit()
            redis_boards.pending_clear(["c1", "c2"])
        else:
            first.rollback()  # its transaction aborts, as when the worker's process dies
    finally:
        second.join(20)
        first.close()
    assert second.error is None, second.error
    assert (
        second.result
        == {"commits": (0, 0), "dies after its Lua call": (0, 2), "dies before its Lua call": (2, 0)}[first_worker]
    )
    assert redis_boards_state(redis_client) == expected_boards(batch)
    assert set(ContributionEvent.objects.values_list("event_id", "unapplied")) == {
        ("c1", None),
        ("c2", None),
    }  # applied
    assert redis_client.hlen(PENDING_KEY) == 0


@pytest.mark.slow
def test_a_running_consumer_sweeps_logged_rows_whose_message_is_gone(ready_boards, spawn_consumer, redis_client):
    """Rows logged, never applied, and no message in the stream that would bring them back:
    the consumer's periodic sweep applies them, once, without any message arriving."""
    batch = events("gone-1", "gone-2", "gone-3")
    ingest.events_record(scored=ingest.contributions_score(batch))
    with connection.cursor() as cursor:  # logged long ago, as by a consumer that died then
        cursor.execute("UPDATE scoring_contributionevent SET logged_at = now() - interval '1 hour'")
    assert redis_boards_state(redis_client) == {}
    consumer = spawn_consumer()
    wait_for(lambda: not ContributionEvent.objects.unapplied().exists(), timeout=30, message="the sweep to apply")
    assert redis_boards_state(redis_client) == expected_boards(batch)
    wait_for(lambda: "sweep applied=3 already_applied=0" in consumer.output(), timeout=10, message="the sweep line")
    output = consumer.output()
    assert "restored" not in output and not re.search(r"batch seq=\S+ received=", output)  # the sweep did it, no batch
    assert redis_client.hlen(PENDING_KEY) == 0
