"""Decoding and validating wire messages (SPEC section 1), no servers."""

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proto.contributions.v1 import contribution_pb2 as pb
from scoring.event_generator import event_build
from scoring.ingest.wire import InvalidEvent, decode
from scoring.rules import EventKind, IssueCloseReason, ReviewState

WHEN = datetime(2026, 11, 29, 10, 30, 15, 123456, tzinfo=UTC)


def wire(**overrides) -> pb.ContributionEvent:
    event = event_build(event_id="ev-1", kind=pb.PUSHED, user_id=42, project_id=9, occurred_at=WHEN, commits=3)
    for name, value in overrides.items():
        setattr(event, name, value)
    return event


def test_a_valid_event_becomes_plain_values():
    data = wire().SerializeToString()
    c = decode(data)
    assert (c.event_id, c.kind, c.occurred_at, c.project_id, c.project_name, c.user_id, c.commits, c.raw) == (
        "ev-1",
        EventKind.PUSHED,
        WHEN,
        9,
        "org/repo-9",
        42,
        3,
        data,
    )


def test_push_counts_commits_when_commits_count_is_zero():
    event = wire()
    event.push_payload.commits_count = 0
    for n in range(4):
        event.push_payload.commits.add(commit_id=f"c{n}")
    assert decode(event.SerializeToString()).commits == 4


@pytest.mark.parametrize(
    ("merged", "reason", "expected"),
    [
        (True, pb.PR_CLOSE_REASON_UNSPECIFIED, True),
        (None, pb.MERGED, True),
        (False, pb.MERGED, True),
        (None, pb.CLOSED_WITHOUT_MERGE, False),
        (False, pb.CLOSED_WITHOUT_MERGE, False),
        (None, 0, False),
    ],
)
def test_merged_is_the_flag_or_the_close_reason(merged, reason, expected):
    event = pb.ContributionEvent(id="p", event_name=pb.PULL_REQUEST_CLOSED, repository_id=1)
    event.time.FromDatetime(WHEN)
    event.pr_closed_payload.user_id = 5
    event.pr_closed_payload.close_reason = reason
    if merged is not None:
        event.pr_closed_payload.merged = merged
    assert decode(event.SerializeToString()).merged is expected


def test_review_credits_the_reviewer_and_issue_close_keeps_its_reason():
    review = event_build(
        event_id="r",
        kind=pb.PULL_REQUEST_REVIEW_SUBMITTED,
        user_id=8,
        project_id=1,
        occurred_at=WHEN,
        review_state=pb.CHANGES_REQUESTED,
    )
    review.pr_review_payload.pr_author_user_id = 99
    c = decode(review.SerializeToString())
    assert (c.user_id, c.review_state) == (8, ReviewState.CHANGES_REQUESTED)
    closed = event_build(
        event_id="i", kind=pb.ISSUE_CLOSED, user_id=3, project_id=1, occurred_at=WHEN, issue_close_reason=pb.NOT_PLANNED
    )
    assert decode(closed.SerializeToString()).issue_close_reason is IssueCloseReason.NOT_PLANNED


def test_u64_ids_survive():
    event = wire(repository_id=2**64 - 1)
    event.push_payload.user_id = 2**64 - 2
    c = decode(event.SerializeToString())
    assert (c.project_id, c.user_id) == (2**64 - 1, 2**64 - 2)


FIRST, LAST = -62_135_596_800, 253_402_300_799  # 0001-01-01T00:00:00Z, 9999-12-31T23:59:59Z


@given(
    seconds=st.one_of(st.integers(FIRST, LAST), st.sampled_from([FIRST, LAST, 0, -1])),
    nanos=st.one_of(st.integers(0, 999_999_999), st.sampled_from([0, 999, 1_000, 999_999_999])),
)
def test_the_time_is_what_protobuf_makes_of_it_over_the_whole_range(seconds, nanos):
    event = wire()
    event.time.seconds, event.time.nanos = seconds, nanos
    occurred_at = decode(event.SerializeToString()).occurred_at
    assert occurred_at == event.time.ToDatetime(tzinfo=UTC)
    assert occurred_at.tzinfo is UTC and occurred_at.microsecond == nanos // 1000


@pytest.mark.parametrize(
    ("seconds", "nanos", "reason"),
    [
        (FIRST - 1, 0, "Seconds -62135596801 must be in range"),
        (LAST + 1, 0, "Seconds 253402300800 must be in range"),
        (0, -1, "Nanos -1 must be in a range"),
        (0, 1_000_000_000, "Nanos 1000000000 must be in a range"),
        (-(2**63), -(2**31), "must be in range"),
    ],
)
def test_a_time_a_timestamp_cannot_hold_says_so(seconds, nanos, reason):
    event = wire()
    event.time.seconds, event.time.nanos = seconds, nanos
    with pytest.raises(InvalidEvent, match=r"^time is out of range: Timestamp is not valid: ") as caught:
        decode(event.SerializeToString())
    assert reason in str(caught.value)


def _without_time():
    event = wire()
    event.ClearField("time")
    return event.SerializeToString()


def _without_payload():
    event = wire()
    event.ClearField("push_payload")
    return event.SerializeToString()


def _other_payload():
    event = wire()
    event.issue_opened_payload.user_id = 42
    return event.SerializeToString()


def _user_zero():
    event = wire()
    event.push_payload.user_id = 0
    return event.SerializeToString()


def _unknown_event_name():
    event = wire()
    event.event_name = 99
    return event.SerializeToString()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff\xff\xff garbage", "undecodable"),
        (wire(id="").SerializeToString(), "id is empty"),
        (wire(id="x" * 257).SerializeToString(), "id is longer than 256"),
        (_without_time(), "time is missing"),
        (wire(event_name=pb.EVENT_NAME_UNSPECIFIED).SerializeToString(), "event_name 0 is unspecified or unknown"),
        (_unknown_event_name(), "event_name 99 is unspecified or unknown"),
        (_without_payload(), "payload is missing (expected push_payload)"),
        (_other_payload(), "payload issue_opened_payload does not match event_name PUSHED"),
        (wire(repository_id=0).SerializeToString(), "repository_id is 0"),
        (wire(id="a\x00b").SerializeToString(), "id contains a NUL character"),
        (_user_zero(), "push_payload.user_id (the credited user) is 0"),
    ],
)
def test_invalid_events_say_why(data, reason):
    with pytest.raises(InvalidEvent) as caught:
        decode(data)
    assert reason in str(caught.value)


def test_a_nul_in_the_repository_name_is_dropped():
    assert decode(wire(repository_name="org/\x00repo").SerializeToString()).project_name == "org/repo"
