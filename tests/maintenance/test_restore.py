"""Restore and rebuild, in process, against the real Postgres and Redis: in-flight events,
the build aside and its catch-up, Redis emptied mid-way, the lock.

Each test ends with `assert_exact`: every board key in Redis equals what tests/oracle.py
computes from the events (nothing missing, nothing extra), and verify finds no difference.
"""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from scoring import faults, redis_boards
from scoring.ingest import BoardPlan, apply, batch_ingest, contributions_score, events_apply, events_record
from scoring.maintenance.restore import RESTORE_LOCK, boards_restore
from scoring.models import ContributionEvent
from scoring.redis_boards import PENDING_KEY, BoardsNotReady
from tests.builders import contributions
from tests.fixtures import advisory_waiters, wait_for
from tests.fixtures import started as started_thread
from tests.oracle import expected_boards, points, redis_boards_state

pytestmark = pytest.mark.django_db(transaction=True)


def scored(events) -> int:
    return sum(1 for c in events if points(c) > 0)


def test_restore_without_a_snapshot_reads_the_whole_log(ready_boards, ingest, flush_redis, assert_exact):
    events = contributions(300, seed=3)
    ingest(events)
    flush_redis()
    result = boards_restore()
    assert (result.snapshot_id, result.delta_events) == (None, scored(events))
    assert_exact(events)


def utc_day(moment: datetime) -> int:
    """A log row's time as the apply reads it: its UTC date's ordinal."""
    return moment.astimezone(UTC).date().toordinal()


def _apply_and_hold(events, applied: threading.Event, release: threading.Event) -> None:
    """A consumer stopped between its Lua apply and its commit (events_apply's steps)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            ids = [c.event_id for c in events]
            cursor.execute(
                "SELECT e.event_id, e.user_id, e.project_id, e.points, e.occurred_at"
                " FROM scoring_unapplied u JOIN scoring_contributionevent e ON e.id = u.id"
                " WHERE e.event_id = ANY(%s) AND e.points > 0 ORDER BY e.event_id FOR UPDATE OF u",
                [ids],
            )
            fetched = cursor.fetchall()
            rows = [(e, int(u), int(p), pts, utc_day(t), False) for e, u, p, pts, t in fetched]  # none excluded
            apply._apply_locked(rows, BoardPlan())
            applied.set()
            release.wait(10)
        redis_boards.pending_clear([r[0] for r in rows])
    finally:
        connection.close()


@pytest.mark.parametrize("commit", ["after_swap", "between_read_and_swap"])
def test_redis_emptied_with_an_event_in_flight(commit, ready_boards, ingest, flush_redis, assert_exact, redis_client):
    """Points on the boards and marked, log row not yet `applied`, then Redis dies; the consumer
    commits after the restore's swap, or after its read but before its swap."""
    settled, in_flight = contributions(200, seed=30), contributions(80, seed=31, prefix="f-")
    ingest(settled)
    events_record(scored=contributions_score(in_flight))
    applied, release = threading.Event(), threading.Event()
    consumer = started_thread(_apply_and_hold, in_flight, applied, release)
    assert applied.wait(10)
    assert redis_client.hlen(PENDING_KEY) == scored(in_flight)
    flush_redis()

    def commit_now() -> None:
        release.set()
        consumer.join(10)

    with faults.hooked("restore_before_swap", commit_now if commit == "between_read_and_swap" else None):
        result = boards_restore()
    assert result.pending == scored(in_flight)  # counted, and marked so a late apply skips them
    commit_now()
    assert events_apply(scored=contributions_score(in_flight)) == (0, 0)
    assert ContributionEvent.objects.unapplied().filter(points__gt=0).count() == 0
    assert redis_client.hlen(PENDING_KEY) == 0  # no marker outlives its event's commit
    assert_exact(settled + in_flight)


def test_a_redelivered_in_flight_event_is_skipped_after_restore(ready_boards, ingest, flush_redis, assert_exact):
    """The consumer died between its apply and its commit; Redis died too; the restore counts
    the event and marks it; the redelivery finds the mark and adds nothing."""
    settled, in_flight = contributions(150, seed=32), contributions(60, seed=33, prefix="g-")
    ingest(settled)
    scored_in_flight = contributions_score(in_flight)
    events_record(scored=scored_in_flight)
    with pytest.raises(RuntimeError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT event_id, user_id, project_id, points, occurred_at FROM scoring_contributionevent"
            " WHERE event_id = ANY(%s) AND points > 0 FOR UPDATE",
            [[c.event_id for c in in_flight]],
        )
        rows = [(e, int(u), int(p), pts, utc_day(t), False) for e, u, p, pts, t in cursor.fetchall()]  # none excluded
        apply._apply_locked(rows, BoardPlan())
        raise RuntimeError("killed before the commit")
    flush_redis()
    with pytest.raises(BoardsNotReady):  # no consumer applies onto an emptied Redis
        events_apply(scored=scored_in_flight)
    assert boards_restore().pending == scored(in_flight)
    applied, skipped = events_apply(scored=scored_in_flight)
    assert (applied, skipped) == (0, scored(in_flight))
    assert_exact(settled + in_flight)


def test_rebuild_builds_aside_and_swaps_at_once(ready_boards, ingest, redis_client, assert_exact):
    events = contributions(300, seed=40)
    ingest(events)
    before = redis_boards_state(redis_client)
    redis_client.zincrby(next(iter(before)), 5, "12345")  # a wrong board, to be replaced
    shown = redis_boards_state(redis_client)

    def readers_still_see_the_old_boards() -> None:
        assert redis_boards_state(redis_client) == shown
        assert any(key.startswith(redis_boards.BUILD_PREFIX) for key in redis_client.scan_iter(count=1000))

    out = io.StringIO()
    with faults.hooked("restore_before_swap", readers_still_see_the_old_boards):
        result = boards_restore(use_snapshot=False)
    assert result.snapshot_id is None
    call_command("rebuild_leaderboards", stdout=out)
    assert out.getvalue().splitlines()[-1].startswith(f"rebuilt {result.boards} boards, {result.members} members")
    assert not [key for key in redis_client.scan_iter(count=1000) if key.startswith(redis_boards.BUILD_PREFIX)]
    assert_exact(events)


def _ingest_elsewhere(events) -> None:
    """A consumer of its own (another connection) records and applies `events`."""

    started_thread(batch_ingest, contributions=events).join(30)  # re-raises what it met


def test_events_applied_while_the_bulk_is_built_are_caught_up(ready_boards, ingest, redis_client, assert_exact):
    """Consumers keep applying to the live boards during the bulk of a rebuild; the catch-up
    after the sentinel goes adds what they applied."""
    first, during = contributions(200, seed=47), contributions(120, seed=48, prefix="d-")
    ingest(first)

    def meanwhile(message: str) -> None:
        if "building boards aside" in message:
            _ingest_elsewhere(during)
            assert redis_boards_state(redis_client) == expected_boards(first + during)  # applied, live

    result = boards_restore(use_snapshot=False, progress=meanwhile)
    assert result.source == f"{scored(first)} events + {scored(during)} events"
    assert result.delta_events == scored(first + during)
    assert_exact(first + during)


@pytest.mark.parametrize("when", ["before the check", "between the check and the swap"])
def test_redis_emptied_during_the_build_is_built_again(when, ready_boards, ingest, flush_redis, assert_exact):
    """Found by counting the built members before the swap, or by the swap's RENAME."""
    events = contributions(200, seed=41)
    ingest(events)
    flushes = []

    def flush_once(message: str = "applies paused") -> None:
        if "applies paused" in message and not flushes:
            flushes.append(message)
            flush_redis()

    if when == "before the check":
        result = boards_restore(progress=flush_once)
    else:
        with faults.hooked("restore_before_swap", flush_once):
            result = boards_restore()
    assert flushes and result.restored
    assert_exact(events)


def test_leftovers_of_a_dead_restore_are_dropped(ready_boards, ingest, redis_client, assert_exact):
    events = contributions(100, seed=42)
    ingest(events)
    leftover = f"{redis_boards.BUILD_PREFIX}:deadbeef:leaderboard:global:all_time:all"
    redis_client.zadd(leftover, {"1": 5})
    boards_restore()
    assert not redis_client.exists(leftover)
    assert_exact(events)


def test_restore_if_missing_does_nothing_when_the_boards_are_there(ready_boards, ingest, redis_client):
    ingest(contributions(50, seed=43))
    redis_client.zincrby("leaderboard:global:all_time:all", 1, "1")  # would be undone by a restore
    state = redis_boards_state(redis_client)
    assert boards_restore(only_if_missing=True).restored is False
    assert redis_boards_state(redis_client) == state


def test_restore_waits_for_the_lock(ready_boards, ingest, pg_session, flush_redis, assert_exact):
    """One restore at a time: a second one waits on the advisory lock, then runs."""
    events = contributions(60, seed=45)
    ingest(events)
    holder = pg_session()
    holder.execute("SELECT pg_advisory_lock(%s)", [RESTORE_LOCK])
    flush_redis()
    worker = started_thread(boards_restore, only_if_missing=True)
    wait_for(lambda: advisory_waiters(RESTORE_LOCK) == 1, message="the restore to wait on the lock")
    assert worker.is_alive() and not redis_boards.is_ready()
    holder.execute("SELECT pg_advisory_unlock(%s)", [RESTORE_LOCK])
    worker.join(10)
    assert worker.result.restored
    assert_exact(events)
