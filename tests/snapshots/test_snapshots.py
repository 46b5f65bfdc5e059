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

from scoring import faults
from scoring.ingest import contributions_score, events_apply, events_record
from scoring.maintenance.restore import boards_restore
from scoring.models import ContributionEvent
from snapshots.models import Snapshot, SnapshotBoard
from snapshots.services import SNAPSHOT_LOCK, snapshot_take
from tests.builders import contributions
from tests.fixtures import advisory_waiters, wait_for
from tests.fixtures import started as started_thread
from tests.oracle import expected_boards, points, snapshot_state

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

    with faults.hooked("snapshot_after_start", commit_the_held_transaction):
        result = snapshot_take()
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


def test_two_snapshots_at_once_queue_on_the_lock(ready_boards, ingest):
    """The second waits for the first (the advisory lock), then builds on it with the events
    the first did not see: both are exact."""
    first_events, later_events = contributions(200, seed=73), contributions(100, seed=74, prefix="later-")
    ingest(first_events)
    first_started, release_first = threading.Event(), threading.Event()

    def hold_the_first() -> None:
        first_started.set()
        assert release_first.wait(30)

    with faults.hooked("snapshot_after_start", hold_the_first):  # the first snapshot's only
        first = started_thread(snapshot_take)
        assert first_started.wait(30)
    ingest(later_events)  # committed after the first snapshot's view was fixed
    second = started_thread(snapshot_take)
    try:
        wait_for(lambda: advisory_waiters(SNAPSHOT_LOCK) == 1, message="the second snapshot at the lock")
        assert second.is_alive()
    finally:
        release_first.set()
        first.join(30)
        second.join(30)
    one, two = first.result, second.result
    assert snapshot_state(one.snapshot) == expected_boards(first_events)
    assert two.snapshot.based_on_id == one.snapshot.id
    assert two.delta_events == sum(1 for c in later_events if points(c) > 0)
    assert snapshot_state(two.snapshot) == expected_boards(first_events + later_events)
    assert Snapshot.objects.count() == 2
