"""The scoring table of SPEC section 2, row by row (no servers)."""

from datetime import UTC, datetime

import pytest

from scoring.rules import Contribution, EventKind, IssueCloseReason, ReviewState, ScoringTable, points

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
    from scoring.services import scoring_table

    settings.SCORING = {**settings.SCORING, "issue_commented": 4}
    assert points(contribution(EventKind.ISSUE_COMMENTED), scoring_table()) == 4
