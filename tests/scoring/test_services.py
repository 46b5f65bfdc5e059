"""The write path against the real Postgres and Redis, in process."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection

from scoring import ingest, redis_boards
from scoring.models import ContributionEvent, Contributor, DeadLetter, Project
from scoring.redis_boards import PENDING_KEY, BoardsNotReady
from scoring.rules import Contribution, EventKind, IssueCloseReason
from tests.clock import START
from tests.oracle import expected_boards, redis_boards_state

NOW = START


def c(event_id, user_id=1, project_id=10, kind=EventKind.ISSUE_OPENED, at=NOW, name="org/ten", **facts):
    return Contribution(event_id, kind, at, project_id, name, user_id, raw=event_id.encode(), **facts)


def log_rows():
    return {
        e.event_id: (int(e.user_id), int(e.project_id), e.points, e.applied)
        for e in ContributionEvent.objects.select_related("unapplied")
    }


pytestmark = pytest.mark.usefixtures("ready_boards")


def test_a_batch_with_duplicates_counts_each_event_once(redis_client):
    first = [c("a", 1), c("b", 2, kind=EventKind.PULL_REQUEST_CLOSED, merged=True), c("a", 1), c("c", 1)]
    result = ingest.batch_ingest(contributions=first)
    assert (result.logged, result.duplicates, result.applied, result.skipped) == (3, 1, 3, 0)
    late = [c("b", 2, kind=EventKind.PULL_REQUEST_CLOSED, merged=True), c("d", 3, project_id=11)]
    result = ingest.batch_ingest(contributions=late)
    assert (result.logged, result.duplicates, result.applied) == (1, 1, 1)

    everything = first + late
    assert redis_boards_state(redis_client) == expected_boards(everything)
    assert redis_client.zscore("leaderboard:global:all_time:all", "1") == 4
    assert redis_client.zscore("leaderboard:global:all_time:all", "2") == 10
    assert log_rows() == {
        "a": (1, 10, 2, True),
        "b": (2, 10, 10, True),
        "c": (1, 10, 2, True),
        "d": (3, 11, 2, True),
    }
    assert redis_client.hlen(PENDING_KEY) == 0
    assert {p.id: (p.name, p.event_count) for p in Project.objects.all()} == {10: ("org/ten", 3), 11: ("org/ten", 1)}


def test_zero_point_events_are_logged_and_change_no_board(redis_client):
    ingest.batch_ingest(
        contributions=[c("z", 5, kind=EventKind.ISSUE_CLOSED, issue_close_reason=IssueCloseReason.NOT_PLANNED)]
    )
    assert log_rows() == {"z": (5, 10, 0, True)}
    assert redis_boards_state(redis_client) == {}


def test_applied_in_redis_but_not_committed_is_not_counted_again(redis_client):
    """The crash window between the Lua call and the commit: the markers make the retry a no-op."""
    events = [c("x", 1), c("y", 2)]
    scored = ingest.contributions_score(events)
    ingest.events_record(scored=scored)
    plan = ingest.BoardPlan()
    increments = [
        redis_boards.Increment(
            s.contribution.event_id,
            s.contribution.user_id,
            s.points,
            plan.boards(s.contribution.project_id, s.contribution.occurred_at),
        )
        for s in scored
    ]
    assert redis_boards.boards_apply(increments, expires=plan.expires) == (2, 0)  # ... and then the "crash"
    assert log_rows()["x"][3] is False

    result = ingest.batch_ingest(contributions=events)  # the redelivery
    assert (result.logged, result.applied, result.skipped) == (0, 0, 2)
    assert redis_boards_state(redis_client) == expected_boards(events)
    assert all(row[3] for row in log_rows().values())
    assert redis_client.hlen(PENDING_KEY) == 0


def test_logged_but_never_applied_is_swept(redis_client):
    """A crash after the log commit with no redelivery: the sweep applies the rows, once."""
    events = [c("s1", 1), c("s2", 2, project_id=12)]
    ingest.events_record(scored=ingest.contributions_score(events))
    assert ingest.pending_sweep(older_than=timedelta(hours=1)) == (0, 0)  # too recent
    assert ingest.pending_sweep(older_than=timedelta(0)) == (2, 0)
    assert ingest.pending_sweep(older_than=timedelta(0)) == (0, 0)
    assert ingest.batch_ingest(contributions=events).applied == 0  # a late redelivery
    assert redis_boards_state(redis_client) == expected_boards(events)


def test_nothing_changes_while_the_boards_are_not_ready(redis_client):
    redis_boards.ready_clear()
    with pytest.raises(BoardsNotReady):
        ingest.batch_ingest(contributions=[c("n", 1)])
    assert log_rows() == {"n": (1, 10, 2, False)}  # logged, not applied
    assert redis_boards_state(redis_client) == {}
    assert redis_client.hlen(PENDING_KEY) == 0


def test_old_events_skip_expired_period_boards_but_count_all_time(redis_client):
    old = NOW - timedelta(days=800)
    ingest.batch_ingest(contributions=[c("old", 4, at=old)])
    keys = set(redis_boards_state(redis_client))
    assert keys == {
        "leaderboard:global:all_time:all",
        f"leaderboard:global:yearly:{old.year}",
        "leaderboard:project:10:all_time:all",
        f"leaderboard:project:10:yearly:{old.year}",
    }


def test_period_boards_expire_after_their_retention(redis_client, settings):
    ingest.batch_ingest(contributions=[c("e1", 1)])
    day_key = f"leaderboard:global:daily:{NOW.date().isoformat()}"
    tomorrow = datetime(NOW.year, NOW.month, NOW.day, tzinfo=UTC) + timedelta(days=1)
    assert redis_client.execute_command("EXPIRETIME", day_key) == int((tomorrow + timedelta(days=35)).timestamp())
    assert redis_client.execute_command("EXPIRETIME", "leaderboard:global:all_time:all") == -1


def test_dead_letters_are_kept_once_per_message():
    bad = [
        ingest.DeadLetterIn(b"\x00bad", "undecodable: x", "s", 7),
        ingest.DeadLetterIn(b"\x00bad", "undecodable: x", "s", 7),
    ]
    ingest.batch_ingest(contributions=[], dead_letters=bad)
    ingest.batch_ingest(contributions=[], dead_letters=bad[:1])  # redelivered
    ingest.batch_ingest(contributions=[], dead_letters=[ingest.DeadLetterIn(b"\x00bad", "undecodable: x", "s", 8)])
    assert sorted(DeadLetter.objects.values_list("stream_sequence", "reason")) == [
        (7, "undecodable: x"),
        (8, "undecodable: x"),
    ]
    assert bytes(DeadLetter.objects.first().raw) == b"\x00bad"


def test_snapshot_visibility_id_is_the_inserting_transaction():
    ingest.batch_ingest(contributions=[c("t1", 1)])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT txid, NOT EXISTS (SELECT 1 FROM scoring_unapplied u WHERE u.id = e.id)"
            " FROM scoring_contributionevent e WHERE event_id = 't1'"
        )
        txid, applied = cursor.fetchone()
        cursor.execute("SELECT txid_current()")
        (now_txid,) = cursor.fetchone()
    assert applied is True and 0 < txid < now_txid


def test_a_failure_inside_the_copy_is_a_django_database_error():
    """The consumer retries Django's DatabaseError; COPY, which Django's cursor does not wrap,
    must raise one too (a NUL byte is one thing Postgres refuses inside COPY)."""
    from django.db import DataError

    with pytest.raises(DataError):
        ingest.events_record(scored=ingest.contributions_score([c("bad\x00id", 2)]))
    assert ingest.batch_ingest(contributions=[c("good", 2)]).applied == 1


def test_every_instant_a_timestamp_holds_is_logged_exactly(redis_client):
    india = timezone(timedelta(hours=5, minutes=30))
    instants = {
        "first": datetime(1, 1, 1, tzinfo=UTC),
        "first-plus-1us": datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        "before-epoch": datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        "epoch": datetime(1970, 1, 1, tzinfo=UTC),
        "now": NOW.replace(microsecond=123456),
        "elsewhere": datetime(2026, 3, 29, 1, 30, 0, 654321, tzinfo=india),
        "last": datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    }
    events = [c(name, user_id=n + 1, login=f"u{n}") for n, name in enumerate(instants)]
    events = [e._replace(occurred_at=instants[e.event_id]) for e in events]
    events.append(c("first-again", user_id=1, login="u0")._replace(occurred_at=instants["last"]))  # user 1 twice
    assert ingest.batch_ingest(contributions=events).logged == len(instants) + 1
    logged = dict(ContributionEvent.objects.values_list("event_id", "occurred_at"))
    assert logged == {**instants, "first-again": instants["last"]}
    seen = {int(i): (f, s) for i, f, s in Contributor.objects.values_list("id", "first_seen_at", "last_seen_at")}
    assert seen[1] == (instants["first"], instants["last"])
    assert seen[6] == (instants["elsewhere"], instants["elsewhere"])
    assert seen[7] == (instants["last"], instants["last"])
