"""No poison halts anything (SPEC section 1, docs/FAILURES.md): messages with every edge value
the wire allows, through the consumer's batch path in process, against the real Postgres and
Redis. Valid ones are scored exactly, invalid ones are dead letters with their reason, a batch
that fails for good is split until only the message at fault is left, and restore, rebuild,
snapshot, verify and the sweep all succeed on the log left behind."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db import connection

from scoring import ingest
from scoring.ingest.consumer import Consumer
from scoring.ingest.messages import batch_items
from scoring.ingest.wire import InvalidEvent, decode
from scoring.maintenance.restore import boards_restore
from scoring.models import ContributionEvent, DeadLetter, Project
from scoring.redis_boards import PENDING_KEY, READY_KEY
from scoring.rules import Contribution, EventKind
from tests.builders import wire_events
from tests.edge_values import edge_messages
from tests.fixtures import pg_connect
from tests.oracle import expected_boards, redis_boards_state, valid_events

pytestmark = pytest.mark.usefixtures("ready_boards")


class Message:
    """A delivered message as the consumer sees one: bytes, subject, stream sequence."""

    def __init__(self, data: bytes, sequence: int) -> None:
        self.data, self.subject = data, "test.CONTRIBUTION_REGISTERED"
        self.metadata = SimpleNamespace(sequence=SimpleNamespace(stream=sequence), timestamp=datetime.now(UTC))


class NoStream:
    """In place of the JetStream source: these tests hand the consumer its batches themselves."""

    pending = ack_pending = None


def consumer() -> Consumer:
    return Consumer(NoStream(), lambda: boards_restore(only_if_missing=True), threading.Event())


def run_batches(messages: list[bytes], size: int) -> None:
    """What the consumer's loops do with these messages, `size` at a time (without NATS)."""
    worker = consumer()
    msgs = [Message(data, n) for n, data in enumerate(messages, start=1)]
    for start in range(0, len(msgs), size):
        assert worker.ingest(msgs[start : start + size]) is not None


def invalid_reasons(messages: list[bytes]) -> dict[int, str]:
    """Stream sequence -> why decode refuses the message (the dead letters expected)."""
    reasons = {}
    for n, data in enumerate(messages, start=1):
        try:
            decode(data)
        except InvalidEvent as exc:
            reasons[n] = str(exc)
    return reasons


def commands_succeed_and_agree(client, events: list[Contribution]) -> None:
    """restore, rebuild, snapshot and verify succeed on the log, and the boards stay exact."""
    out = io.StringIO()
    for command in ("snapshot_leaderboards", "restore_leaderboards", "rebuild_leaderboards", "verify_leaderboards"):
        call_command(command, stdout=out)
        assert redis_boards_state(client) == expected_boards(events), command
    assert out.getvalue().splitlines()[-1].startswith("OK: ")
    assert ingest.pending_sweep(older_than=timedelta(0)) == (0, 0)


def test_every_edge_value_followed_by_valid_events(redis_client):
    messages: list[bytes] = []
    for n, (_, data) in enumerate(edge_messages("edge")):
        messages.append(data)
        messages += wire_events(3, seed=n, prefix=f"after-{n}-")
    run_batches(messages, size=40)

    events = valid_events(messages)
    assert redis_boards_state(redis_client) == expected_boards(events)
    assert sorted(ContributionEvent.objects.values_list("event_id", flat=True)) == sorted(e.event_id for e in events)
    assert not ContributionEvent.objects.unapplied().exists()
    assert dict(DeadLetter.objects.values_list("stream_sequence", "reason")) == invalid_reasons(messages)
    assert redis_client.hlen(PENDING_KEY) == 0
    commands_succeed_and_agree(redis_client, events)


def test_edge_values_that_the_log_cuts_or_clamps():
    """A repository name longer than the log keeps is cut (it scores nothing); events at the
    last instant a Timestamp holds land on boards that never expire; at the first, on the
    boards still retained."""
    edges = dict(edge_messages("cut"))
    run_batches([edges["time=last-instant"], edges["repository_name=big"]], size=1)  # the later name stays
    assert Project.objects.get(id=5).name == "r" * 512
    last = ContributionEvent.objects.get(occurred_at__year=9999)
    assert last.occurred_at == datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) and last.applied


def test_a_batch_failing_for_good_is_split_until_the_poison_is_left(redis_client):
    """A value the log refuses that no rule knows in advance (here a CHECK constraint the
    test adds; Postgres answers IntegrityError for each message carrying it): the batch is
    bisected, each such message becomes a dead letter with the error, the rest is applied."""
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE scoring_contributionevent ADD CONSTRAINT test_refused CHECK (event_id NOT LIKE 'refused-%%')"
        )
    try:
        good = wire_events(300, seed=5, prefix="good-")
        refused = wire_events(3, seed=6, prefix="refused-")
        messages = [*good[:10], refused[0], *good[10:200], *refused[1:], *good[200:]]
        run_batches(messages, size=100)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE scoring_contributionevent DROP CONSTRAINT test_refused")

    assert redis_boards_state(redis_client) == expected_boards(valid_events(good))
    dead = list(DeadLetter.objects.order_by("stream_sequence").values_list("stream_sequence", "reason"))
    assert [sequence for sequence, _ in dead] == [11, 202, 203]
    assert all(reason.startswith("the log cannot hold it: IntegrityError: ") for _, reason in dead)
    assert all('"test_refused"' in reason for _, reason in dead)
    assert {bytes(raw) for raw in DeadLetter.objects.values_list("raw", flat=True)} == set(refused)
    commands_succeed_and_agree(redis_client, valid_events(good))


def test_rows_already_logged_at_the_edges_never_break_the_sweep_or_the_commands(redis_client):
    """Rows logged before these rules (unapplied, at the last and first instants a Timestamp
    holds, and one with negative points) are swept, restored, rebuilt, snapshot and verified
    consistently: the edge rows count, the negative one is on no board."""
    edges = [
        Contribution("at-9999", EventKind.ISSUE_OPENED, datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), 5, "", 71),
        Contribution("at-0001", EventKind.ISSUE_OPENED, datetime(1, 1, 1, tzinfo=UTC), 5, "", 72),
        Contribution("negative", EventKind.ISSUE_OPENED, datetime.now(UTC), 5, "", 73),
    ]
    scored = [ingest.Scored(c, -5 if c.event_id == "negative" else 2) for c in edges]
    ingest.events_record(scored=scored)  # logged, none applied yet (the negative one needs none)
    assert ContributionEvent.objects.unapplied().count() == 2
    assert ingest.pending_sweep(older_than=timedelta(0)) == (2, 0)
    counted = edges[:2]
    assert redis_boards_state(redis_client) == expected_boards(counted)
    assert redis_client.ttl("leaderboard:global:daily:9999-12-31") == -1  # past datetime's range: kept
    commands_succeed_and_agree(redis_client, counted)


def test_the_log_decides_what_is_applied_not_the_message_in_hand(redis_client):
    """An event logged with content A (a crash before its apply), then a message with the same
    id and content B (another user, other points): the boards show A only."""
    now = datetime.now(UTC)
    a = Contribution("same-id", EventKind.PUSHED, now, 5, "org/a", 81, commits=4)
    b = Contribution("same-id", EventKind.PULL_REQUEST_CLOSED, now - timedelta(days=3), 6, "org/b", 82, merged=True)
    ingest.events_record(scored=ingest.contributions_score([a]))
    result = ingest.batch_ingest(contributions=[b])
    assert (result.logged, result.duplicates, result.applied) == (0, 1, 1)
    assert redis_boards_state(redis_client) == expected_boards([a])


def test_a_board_key_of_another_type_is_restored_not_half_applied(redis_client):
    """A key in the board namespace that is not a sorted set would make the apply fail midway;
    the script refuses before writing, drops the sentinel, and the boards are restored."""
    first = [decode(m) for m in wire_events(50, seed=8, prefix="first-")]
    ingest.batch_ingest(contributions=first)
    redis_client.set("leaderboard:global:all_time:all", "not a board")
    later = wire_events(50, seed=9, prefix="later-")
    run_batches(later, size=50)
    assert redis_client.exists(READY_KEY)
    assert redis_boards_state(redis_client) == expected_boards(first + valid_events(later))


def test_batch_items_keep_each_message_in_its_place():
    good, bad = wire_events(1, seed=1)[0], b"\xff not protobuf"
    items = batch_items([Message(good, 1), Message(bad, 2)])
    assert [(i.sequence, i.contribution is not None, i.dead_letter is not None) for i in items] == [
        (1, True, False),
        (2, False, True),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_transient_failure_retries_the_batch_with_a_line_naming_it(redis_client, caplog):
    """Postgres drops the consumer's session (terminated by another): the batch is retried, and
    the log line names it by its first and last stream sequence and its size."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    with pg_connect(autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    messages = wire_events(3, seed=12, prefix="retried-")
    worker = consumer()
    with caplog.at_level("WARNING", logger="leaderboard.consumer"):
        assert worker.ingest([Message(data, n) for n, data in enumerate(messages, start=41)]) is not None
    assert "batch seq=41-43 (3 messages) failed, retrying in 0.2s" in caplog.text
    assert redis_boards_state(redis_client) == expected_boards(valid_events(messages))


def test_an_event_whose_apply_fails_for_good_leaves_the_log_for_the_dead_letters():
    """`event_quarantine`, what the consumer does with a message whose apply fails the same way
    every time: the unapplied row goes (its project's count with it) and its own bytes become
    a dead letter with the reason; an applied row is never taken out."""
    now = datetime.now(UTC)
    kept, moved = (Contribution(e, EventKind.ISSUE_OPENED, now, 5, "org/five", 91, raw=e.encode()) for e in "km")
    ingest.batch_ingest(contributions=[kept])
    ingest.events_record(scored=ingest.contributions_score([moved]))
    assert Project.objects.get(id=5).event_count == 2

    reason = "the boards cannot hold it: ValueError: x"
    assert ingest.event_quarantine(event_id="m", reason=reason, subject="s", stream_sequence=9)
    assert not ingest.event_quarantine(event_id="k", reason=reason)  # applied: stays
    assert list(ContributionEvent.objects.values_list("event_id", flat=True)) == ["k"]
    assert Project.objects.get(id=5).event_count == 1
    assert list(DeadLetter.objects.values_list("stream_sequence", "reason", "raw")) == [(9, reason, b"m")]


def test_an_event_whose_points_reached_the_boards_stays_in_the_log(redis_client):
    """A failure after the apply script ran (its marker is set, its points are on the boards):
    the row is not taken out, so the log still says what the boards hold."""
    now = datetime.now(UTC)
    event = Contribution("on-boards", EventKind.ISSUE_OPENED, now, 5, "org/five", 92, raw=b"x")
    ingest.events_record(scored=ingest.contributions_score([event]))
    redis_client.hset(PENDING_KEY, "on-boards", 2)
    assert not ingest.event_quarantine(event_id="on-boards", reason="the boards cannot hold it: x")
    assert list(ContributionEvent.objects.values_list("event_id", flat=True)) == ["on-boards"]
    assert not DeadLetter.objects.exists()
