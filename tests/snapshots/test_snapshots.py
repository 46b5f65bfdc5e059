"""Snapshot and restore, in process, against the real Postgres and Redis.

Each test ends with `assert_exact`: every board key in Redis equals what tests/oracle.py
computes from the events (nothing missing, nothing extra), and verify finds no difference.
"""

from __future__ import annotations

import io
import threading

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from scoring import redis_boards
from scoring.ingest import BoardPlan, apply, batch_ingest, contributions_score, events_apply, events_record
from scoring.models import ContributionEvent
from scoring.redis_boards import PENDING_KEY, BoardsNotReady
from snapshots.models import Snapshot, SnapshotBoard
from snapshots.services import RESTORE_LOCK, boards_restore, snapshot_take
from tests.builders import contributions
from tests.fixtures import advisory_waiters, wait_for
from tests.fixtures import started as started_thread
from tests.oracle import expected_boards, points, redis_boards_state, snapshot_state

pytestmark = pytest.mark.django_db(transaction=True)


def scored(events) -> int:
    return sum(1 for c in events if points(c) > 0)


def test_snapshot_more_events_redis_emptied_restore_is_exact(ready_boards, ingest, flush_redis, assert_exact):
    first, second = contributions(400, seed=1), contributions(250, seed=2, prefix="b-")
    ingest(first)
    out = io.StringIO()
    call_command("snapshot_leaderboards", stdout=out)
    snapshot = Snapshot.objects.get()
    assert out.getvalue().splitlines()[-1].startswith(f"snapshot {snapshot.id}: {snapshot.entries} members on ")
    assert snapshot_state(snapshot) == expected_boards(first)
    assert snapshot.events == scored(first)
    assert snapshot.boards == len(expected_boards(first))

    ingest(second)
    flush_redis()
    out = io.StringIO()
    call_command("restore_leaderboards", stdout=out)
    summary = out.getvalue().splitlines()[-1]
    assert summary.startswith("restored ")
    assert f"from snapshot {snapshot.id} + {scored(second)} events" in summary
    assert_exact(first + second)


def test_restore_without_a_snapshot_reads_the_whole_log(ready_boards, ingest, flush_redis, assert_exact):
    events = contributions(300, seed=3)
    ingest(events)
    flush_redis()
    result = boards_restore()
    assert (result.snapshot_id, result.delta_events) == (None, scored(events))
    assert_exact(events)


def test_incremental_snapshots_are_exact_and_old_ones_are_pruned(
    ready_boards, ingest, flush_redis, assert_exact, settings
):
    settings.SNAPSHOT_RETENTION = 2
    so_far, taken = [], []
    for round_ in range(4):
        batch = contributions(120, seed=10 + round_, prefix=f"r{round_}-")
        ingest(batch)
        so_far += batch
        result = snapshot_take()
        assert result.delta_events == scored(batch)
        assert snapshot_state(result.snapshot) == expected_boards(so_far)
        taken.append(result.snapshot.id)
        if round_:
            assert result.snapshot.based_on_id == taken[-2]
    assert list(Snapshot.objects.values_list("id", flat=True)) == taken[:1:-1]
    assert set(SnapshotBoard.objects.values_list("snapshot_id", flat=True)) == set(taken[2:])
    flush_redis()
    assert boards_restore().snapshot_id == taken[-1]
    assert_exact(so_far)


def _record_and_hold(events, started: threading.Event, release: threading.Event) -> None:
    """Another writer: log `events` in a transaction that stays open until `release`."""
    try:
        with transaction.atomic():
            events_record(scored=contributions_score(events))
            started.set()
            if not release.wait(10):
                raise AssertionError("the held transaction was never released")
    finally:
        connection.close()


def test_snapshot_excludes_a_transaction_still_open_and_restore_counts_it(
    ready_boards, ingest, flush_redis, assert_exact
):
    """Ids commit out of order: the held transaction takes lower ids than a later one that
    commits first, and commits itself only after the snapshot has fixed its view. (Its events
    are of a project of their own: writers of one project queue on the project's row.)"""
    before, after, later = (contributions(150, seed=s, prefix=f"{s}-") for s in (20, 22, 23))
    held = contributions(150, seed=21, prefix="21-", projects=[99])
    ingest(before)
    started, release = threading.Event(), threading.Event()
    writer = started_thread(_record_and_hold, held, started, release)
    assert started.wait(10)
    ingest(after)  # commits while `held` is still open, with higher sequence ids

    def commit_the_held_transaction() -> None:
        release.set()
        writer.join(10)

    result = snapshot_take(after_start=commit_the_held_transaction)
    assert not writer.is_alive()
    held_ids = ContributionEvent.objects.filter(event_id__in=[c.event_id for c in held]).values_list("id", flat=True)
    after_ids = ContributionEvent.objects.filter(event_id__in=[c.event_id for c in after]).values_list("id", flat=True)
    assert max(held_ids) < min(after_ids)  # the scenario: lower ids, committed later
    assert snapshot_state(result.snapshot) == expected_boards(before + after)
    assert result.snapshot.events == scored(before + after)

    events_apply(scored=contributions_score(held))  # what the redelivery does
    ingest(later)
    flush_redis()
    restored = boards_restore()
    assert (restored.snapshot_id, restored.delta_events) == (result.snapshot.id, scored(held + later))
    assert_exact(before + held + after + later)


def _apply_and_hold(events, applied: threading.Event, release: threading.Event) -> None:
    """A consumer stopped between its Lua apply and its commit (ingest.events_apply's steps)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            ids = [c.event_id for c in events]
            cursor.execute(
                "SELECT event_id, user_id, project_id, points, occurred_at FROM scoring_contributionevent"
                " WHERE event_id = ANY(%s) AND NOT applied AND points > 0 ORDER BY event_id FOR UPDATE",
                [ids],
            )
            rows = [(e, int(u), int(p), pts, t, False) for e, u, p, pts, t in cursor.fetchall()]  # none excluded
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

    result = boards_restore(before_swap=commit_now if commit == "between_read_and_swap" else None)
    assert result.pending == scored(in_flight)  # counted, and marked so a late apply skips them
    commit_now()
    assert events_apply(scored=contributions_score(in_flight)) == (0, 0)
    assert ContributionEvent.objects.filter(applied=False, points__gt=0).count() == 0
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
        rows = [(e, int(u), int(p), pts, t, False) for e, u, p, pts, t in cursor.fetchall()]  # none excluded
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
    result = boards_restore(use_snapshot=False, before_swap=readers_still_see_the_old_boards)
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
        result = boards_restore(before_swap=flush_once)
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


def test_a_snapshot_taken_under_a_shorter_retention_is_not_used(
    ready_boards, ingest, flush_redis, assert_exact, settings
):
    events = contributions(200, seed=44)
    ingest(events)
    snapshot_take()
    longer_retention = {"daily": 100, "weekly": 91, "monthly": 400}  # older daily boards return
    settings.BOARD_RETENTION_DAYS = longer_retention
    flush_redis()
    assert boards_restore().snapshot_id is None  # the snapshot lacks them
    assert_exact(events, retention=longer_retention)
    longer = snapshot_take().snapshot
    assert longer.based_on_id is None  # nor can a new snapshot build on it
    assert snapshot_state(longer) == expected_boards(events, retention=longer_retention)
    shorter_retention = {"daily": 5, "weekly": 30, "monthly": 400}
    settings.BOARD_RETENTION_DAYS = shorter_retention
    flush_redis()
    assert boards_restore().snapshot_id == longer.id  # a shorter retention is covered
    assert_exact(events, retention=shorter_retention)


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


def test_snapshot_admin_pages(ready_boards, ingest, admin_client):
    ingest(contributions(50, seed=46))
    snapshot = snapshot_take().snapshot
    board = SnapshotBoard.objects.filter(snapshot=snapshot).order_by("-members").first()
    assert admin_client.get("/admin/snapshots/snapshot/").status_code == 200
    page = admin_client.get(f"/admin/snapshots/snapshot/{snapshot.id}/change/")
    assert page.status_code == 200
    assert f"browse its {snapshot.boards} boards" in page.content.decode()
    assert admin_client.get(f"/admin/snapshots/snapshotboard/?snapshot__id__exact={snapshot.id}").status_code == 200
    page = admin_client.get(f"/admin/snapshots/snapshotboard/{board.id}/change/")
    assert page.status_code == 200
    top_user, top_score = max(zip(board.user_ids, board.scores, strict=True), key=lambda pair: (pair[1], -pair[0]))
    assert f"user {top_user}: {top_score}" in page.content.decode()
    assert admin_client.post(f"/admin/snapshots/snapshot/{snapshot.id}/delete/").status_code == 403
    assert admin_client.get("/admin/snapshots/snapshot/add/").status_code == 403
