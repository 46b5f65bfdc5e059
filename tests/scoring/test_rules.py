"""The scoring table of SPEC section 2, row by row, and how two tables differ (no servers)."""

from dataclasses import fields
from datetime import UTC, datetime

import pytest

from scoring.rules import (
    Contribution,
    EventKind,
    IssueCloseReason,
    ReviewState,
    RowChange,
    ScoringTable,
    points,
    table_diff,
)

TABLE = ScoringTable()
WHEN = datetime(2026, 11, 29, 12, tzinfo=UTC)


def contribution(kind: EventKind, **facts) -> Contribution:
    return Contribution(event_id="e", kind=kind, occurred_at=WHEN, project_id=1, project_name="o/r", user_id=7, **facts)


@pytest.mark.parametrize(
    ("kind", "facts", "expected"),
    [
        (EventKind.PULL_REQUEST_OPENED, {}, 2),
        (EventKind.PULL_REQUEST_CLOSED, {"merged": True}, 10),
        (EventKind.PULL_REQUEST_CLOSED, {"merged": False}, 0),
        (EventKind.PULL_REQUEST_REVIEW_SUBMITTED, {"review_state": ReviewState.APPROVED}, 3),
        (EventKind.PULL_REQUEST_REVIEW_SUBMITTED, {"review_state": ReviewState.CHANGES_REQUESTED}, 3),
        (EventKind.PULL_REQUEST_REVIEW_SUBMITTED, {"review_state": ReviewState.COMMENTED}, 1),
        (EventKind.PULL_REQUEST_REVIEW_SUBMITTED, {"review_state": ReviewState.UNSPECIFIED}, 1),
        (EventKind.ISSUE_OPENED, {}, 2),
        (EventKind.ISSUE_CLOSED, {"issue_close_reason": IssueCloseReason.COMPLETED}, 3),
        (EventKind.ISSUE_CLOSED, {"issue_close_reason": IssueCloseReason.NOT_PLANNED}, 0),
        (EventKind.ISSUE_CLOSED, {"issue_close_reason": IssueCloseReason.REOPENED}, 0),
        (EventKind.ISSUE_CLOSED, {"issue_close_reason": IssueCloseReason.UNSPECIFIED}, 0),
        (EventKind.ISSUE_COMMENTED, {}, 1),
        (EventKind.PUSHED, {"commits": 0}, 0),
        (EventKind.PUSHED, {"commits": 1}, 1),
        (EventKind.PUSHED, {"commits": 7}, 7),
        (EventKind.PUSHED, {"commits": 10}, 10),
        (EventKind.PUSHED, {"commits": 11}, 10),
        (EventKind.PUSHED, {"commits": 500}, 10),
        (EventKind.PUSHED, {"commits": -3}, 0),
    ],
)
def test_points_for_every_row_of_the_table(kind, facts, expected):
    assert points(contribution(kind, **facts), TABLE) == expected


def test_the_table_is_configurable():
    table = ScoringTable.from_mapping({"pull_request_merged": 25, "push_per_commit": 2, "push_max_commits": 3, "x": 1})
    assert points(contribution(EventKind.PULL_REQUEST_CLOSED, merged=True), table) == 25
    assert points(contribution(EventKind.PUSHED, commits=9), table) == 6
    assert points(contribution(EventKind.ISSUE_OPENED), table) == 2


def test_settings_scoring_section_reaches_the_table(settings):
    from scoring.rules.versions import settings_table

    settings.SCORING = {**settings.SCORING, "issue_commented": 4}
    assert points(contribution(EventKind.ISSUE_COMMENTED), settings_table()) == 4


def test_table_diff_names_each_row_that_differs_in_the_tables_order():
    wanted = ScoringTable.from_mapping({"push_per_commit": 2, "pull_request_merged": 7})
    assert table_diff(wanted, ScoringTable()) == [
        RowChange("pull_request_merged", 7, 10),
        RowChange("push_per_commit", 2, 1),
    ]
    assert table_diff(ScoringTable(), ScoringTable.from_mapping(ScoringTable().as_mapping())) == []


def test_a_table_stored_as_a_mapping_reads_back_equal_and_rows_it_lacks_take_the_defaults():
    table = ScoringTable.from_mapping({"issue_opened": 5})
    assert ScoringTable.from_mapping(table.as_mapping()) == table
    assert list(table.as_mapping()) == [f.name for f in fields(ScoringTable)]
    assert ScoringTable.from_mapping({"issue_opened": 5, "a_row_of_the_future": 9}) == table


@pytest.mark.parametrize("seed", range(3))
def test_the_rescores_lean_decoder_scores_every_message_as_decode_does(seed):
    """wire.scoring_facts reads only what points depend on; under any table it must score
    every message exactly as the full decoder's Contribution does."""
    from scoring.ingest.wire import decode, scoring_facts
    from tests.builders import wire_events

    other = ScoringTable.from_mapping({"push_per_commit": 3, "push_max_commits": 4, "review_other": 5})
    tables = [ScoringTable(), other]
    for data in wire_events(300, seed=seed):
        full, lean = decode(data), scoring_facts(data)
        for table in tables:
            assert points(lean, table) == points(full, table)


def test_the_lean_decoder_refuses_bytes_that_are_no_logged_event():
    from scoring.ingest.wire import InvalidEvent, scoring_facts

    for data in (b"", b"\xff\xff not protobuf"):
        with pytest.raises(InvalidEvent):
            scoring_facts(data)
