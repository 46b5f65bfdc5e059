"""Finalizing period results in process, against the real Postgres and Redis: the results equal
the boards as they stood, once each; late events are counted, never rewritten; a rescore leaves
them as they are; the boards gate is never taken."""

from datetime import timedelta

import pytest
from django.db import connection

from scoring import faults, ingest
from scoring.boards import midnight
from scoring.models import ContributionEvent
from scoring.results.finalize import FINALIZE_LOCK, results_finalize
from scoring.results.models import PeriodPlacing, PeriodResult, ResultPeriod
from tests.builders import pushes
from tests.clock import START
from tests.oracle import expected_boards, redis_boards_state
from tests.results.expected import expected_result, expected_results, recorded_results

pytestmark = pytest.mark.usefixtures("ready_boards")

TODAY = midnight(START.date())
YESTERDAY = TODAY - timedelta(days=1)


def yesterday_events():
    return [
        *pushes("a", 1, 12, YESTERDAY + timedelta(hours=3), project=7),
        *pushes("b", 2, 30, YESTERDAY + timedelta(hours=4), project=7),
        *pushes("c", 3, 12, YESTERDAY + timedelta(hours=5), project=8),
        *pushes("d", 4, 5, TODAY + timedelta(hours=1), project=8),
    ]


def test_a_final_day_is_recorded_once_per_board_equal_to_the_boards(redis_client, settings, clock):
    settings.RESULTS_GRACE_SECONDS = 600
    events = yesterday_events()
    ingest.batch_ingest(contributions=events)
    boards = redis_boards_state(redis_client)
    assert boards == expected_boards(events)

    clock.set(TODAY + timedelta(seconds=599))  # the grace is not over
    assert results_finalize(now=clock.now()).results == 0
    clock.set(TODAY + timedelta(seconds=600))
    summary = results_finalize(now=clock.now())
    day = YESTERDAY.date().isoformat()
    final = set(summary.periods_finalized)  # yesterday, and its week if it was a Sunday
    assert ("daily", day) in final and ("daily", TODAY.date().isoformat()) not in final
    assert recorded_results() == expected_results(boards, final)
    assert recorded_results()[f"leaderboard:global:daily:{day}"] == {
        "members": 3,
        "total_points": 54,
        "top": [
            {"rank": 1, "user_id": "2", "score": 30},
            {"rank": 2, "user_id": "3", "score": 12},
            {"rank": 2, "user_id": "1", "score": 12},
        ],
    }
    assert results_finalize(now=clock.now()).results == 0  # once
    assert PeriodResult.objects.filter(timeframe="daily").count() == 3  # global, project 7, project 8
    placings = PeriodPlacing.objects.filter(result__timeframe="daily")
    assert sorted((int(u), rank) for u, rank in placings.values_list("user_id", "rank")) == [
        (1, 2),
        (1, 2),
        (2, 1),
        (2, 1),
        (3, 1),
        (3, 2),
    ]


def test_a_late_event_is_counted_and_never_rewrites_the_result(redis_client, settings, clock):
    settings.RESULTS_GRACE_SECONDS = 0
    ingest.batch_ingest(contributions=yesterday_events())
    clock.set(TODAY + timedelta(hours=2))
    results_finalize(now=clock.now())
    day = YESTERDAY.date().isoformat()
    before = recorded_results()

    late = pushes("late", 9, 50, YESTERDAY + timedelta(hours=23), project=7)  # would win the day
    ingest.batch_ingest(contributions=late)
    summary = results_finalize(now=clock.now())
    assert summary.results == 0
    assert summary.late_events == 5 * len([p for p in PeriodResult.objects.filter(project_id=0) if p.late_events])
    assert recorded_results() == before
    late_counts = {(r.project_id, r.timeframe): r.late_events for r in PeriodResult.objects.filter(period=day)}
    assert late_counts == {(0, "daily"): 5, (7, "daily"): 5, (8, "daily"): 0}
    assert results_finalize(now=clock.now()).late_events == 0  # each late row counted once


def test_every_timeframe_is_finalized_when_its_period_ends(redis_client, settings, clock):
    settings.RESULTS_GRACE_SECONDS = 0
    long_ago = TODAY - timedelta(days=400)
    events = [*pushes("old", 1, 7, long_ago, project=7), *pushes("new", 2, 3, YESTERDAY, project=7)]
    ingest.batch_ingest(contributions=events)
    summary = results_finalize(now=clock.now())
    finalized = set(summary.periods_finalized)
    old = long_ago.date()
    assert {
        ("daily", old.isoformat()),
        ("weekly", f"{old.isocalendar().year:04d}-W{old.isocalendar().week:02d}"),
        ("monthly", f"{old.year:04d}-{old.month:02d}"),
        ("yearly", f"{old.year:04d}"),
        ("daily", YESTERDAY.date().isoformat()),
    } <= finalized
    assert ("daily", TODAY.date().isoformat()) not in finalized
    boards = expected_boards(events, now=clock.now(), retention={})
    assert recorded_results() == expected_results(boards, finalized)
    assert not ResultPeriod.objects.filter(finalized=False, final_at__lte=clock.now()).exists()


def test_an_excluded_contributor_is_in_no_result(redis_client, settings, clock):
    from scoring import exclusions

    settings.RESULTS_GRACE_SECONDS = 0
    events = yesterday_events()
    ingest.batch_ingest(contributions=events)
    from scoring.models import Contributor

    exclusions.contributor_exclude(Contributor.objects.get_or_create(id=2)[0], reason="staff")
    results_finalize(now=clock.now())
    day = YESTERDAY.date().isoformat()
    assert recorded_results()[f"leaderboard:global:daily:{day}"] == expected_result({"1": 12, "3": 12})


def test_killed_before_the_commit_records_nothing_and_the_next_run_records_it_all(redis_client, settings, clock):
    settings.RESULTS_GRACE_SECONDS = 0
    ingest.batch_ingest(contributions=yesterday_events())

    def die():
        raise RuntimeError("killed")

    with faults.hooked("results_after_record", die), pytest.raises(RuntimeError):
        results_finalize(now=clock.now())
    assert PeriodResult.objects.count() == 0
    assert results_finalize(now=clock.now()).results >= 3


def test_a_second_finalizer_skips_while_one_runs(redis_client, settings, clock):
    settings.RESULTS_GRACE_SECONDS = 0
    ingest.batch_ingest(contributions=yesterday_events())
    import psycopg

    other = psycopg.connect(**_conninfo())
    try:
        other.execute("SELECT pg_advisory_lock(%s)", [FINALIZE_LOCK])
        assert results_finalize(now=clock.now()).skipped
        other.execute("SELECT pg_advisory_unlock(%s)", [FINALIZE_LOCK])
        assert results_finalize(now=clock.now()).results >= 3
    finally:
        other.close()


def test_finalizing_never_takes_the_gate_nor_locks_a_log_row(redis_client, settings, clock):
    """An apply runs to its commit while a finalizer's transaction is open."""
    settings.RESULTS_GRACE_SECONDS = 0
    ingest.batch_ingest(contributions=yesterday_events())
    applied = []

    def apply_meanwhile():
        from tests.fixtures import started

        worker = started(lambda: applied.append(ingest.batch_ingest(contributions=pushes("x", 5, 3, TODAY, project=9))))
        worker.join()

    with faults.hooked("results_after_record", apply_meanwhile):
        results_finalize(now=clock.now())
    assert applied[0].applied == 1
    assert ContributionEvent.objects.unapplied().count() == 0


def _conninfo():
    params = connection.get_connection_params()
    return {k: v for k, v in params.items() if k in ("host", "port", "user", "password", "dbname")}
