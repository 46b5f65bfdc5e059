"""Points for a contribution: the scoring table of SPEC section 2. Pure functions, no I/O.

The consumer turns each wire message into a `Contribution` (plain values); `points` reads
only that and a `ScoringTable`, so the whole table is unit-tested without any server.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, NamedTuple


class EventKind(enum.IntEnum):
    """EventName on the wire (0, UNSPECIFIED, is never valid)."""

    PULL_REQUEST_OPENED = 1
    PULL_REQUEST_CLOSED = 2
    PULL_REQUEST_REVIEW_SUBMITTED = 3
    ISSUE_OPENED = 4
    ISSUE_CLOSED = 5
    ISSUE_COMMENTED = 6
    PUSHED = 7


class ReviewState(enum.IntEnum):
    UNSPECIFIED = 0
    APPROVED = 1
    CHANGES_REQUESTED = 2
    COMMENTED = 3


class IssueCloseReason(enum.IntEnum):
    UNSPECIFIED = 0
    COMPLETED = 1
    NOT_PLANNED = 2
    REOPENED = 3


class PrCloseReason(enum.IntEnum):
    UNSPECIFIED = 0
    MERGED = 1
    CLOSED_WITHOUT_MERGE = 2
    DRAFT_CONVERTED = 3


@dataclass(frozen=True, slots=True)
class ScoringTable:
    """Points per row of the scoring table; defaults are SPEC section 2."""

    pull_request_opened: int = 2
    pull_request_merged: int = 10
    pull_request_closed_unmerged: int = 0
    review_approved_or_changes_requested: int = 3
    review_other: int = 1
    issue_opened: int = 2
    issue_closed_completed: int = 3
    issue_closed_other: int = 0
    issue_commented: int = 1
    push_per_commit: int = 1
    push_max_commits: int = 10

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> ScoringTable:
        known = {f.name for f in fields(cls)}
        return cls(**{name: int(points) for name, points in values.items() if name in known})

    def as_mapping(self) -> dict[str, int]:
        """Every row and its points, in the table's order (what a rules version stores)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class RowChange:
    """One row of the scoring table whose points differ between two tables."""

    row: str
    wanted: int
    active: int


def table_diff(wanted: ScoringTable, active: ScoringTable) -> list[RowChange]:
    """The rows whose points differ, in the table's order (empty: the tables are equal)."""
    return [
        RowChange(f.name, getattr(wanted, f.name), getattr(active, f.name))
        for f in fields(ScoringTable)
        if getattr(wanted, f.name) != getattr(active, f.name)
    ]


class Contribution(NamedTuple):
    """One valid event as plain values: what the service logs and scores.

    The payload-specific facts that scoring needs are flattened into `merged`,
    `review_state`, `issue_close_reason` and `commits`; `raw` is the message as received.
    `login` (None when the message names no actor for the credited user), `avatar_url` and
    `is_bot` say who the user is; `url` is the activity on the provider's site. None of them
    changes the points.

    Immutable as a named tuple rather than a frozen dataclass: one is built for every event,
    and a frozen dataclass sets each of its fifteen fields through `object.__setattr__` (5.3
    against 1.5 us a construction, docs/BENCHMARKS.md, "Ingest").
    """

    event_id: str
    kind: EventKind
    occurred_at: datetime
    project_id: int
    project_name: str
    user_id: int
    raw: bytes = b""
    merged: bool = False
    review_state: ReviewState = ReviewState.UNSPECIFIED
    issue_close_reason: IssueCloseReason = IssueCloseReason.UNSPECIFIED
    commits: int = 0
    url: str = ""
    login: str | None = None
    avatar_url: str = ""
    is_bot: bool = False


class ScoringFacts(NamedTuple):
    """What the points of an event depend on, and nothing else: a rescore decodes only these
    from each logged message (`wire.scoring_facts`) and scores them like a `Contribution`."""

    kind: EventKind
    merged: bool = False
    review_state: ReviewState = ReviewState.UNSPECIFIED
    issue_close_reason: IssueCloseReason = IssueCloseReason.UNSPECIFIED
    commits: int = 0


def points(contribution: Contribution | ScoringFacts, table: ScoringTable) -> int:
    """The points `contribution` earns under `table` (zero included)."""
    kind = contribution.kind
    if kind is EventKind.PULL_REQUEST_OPENED:
        return table.pull_request_opened
    if kind is EventKind.PULL_REQUEST_CLOSED:
        return table.pull_request_merged if contribution.merged else table.pull_request_closed_unmerged
    if kind is EventKind.PULL_REQUEST_REVIEW_SUBMITTED:
        if contribution.review_state in (ReviewState.APPROVED, ReviewState.CHANGES_REQUESTED):
            return table.review_approved_or_changes_requested
        return table.review_other
    if kind is EventKind.ISSUE_OPENED:
        return table.issue_opened
    if kind is EventKind.ISSUE_CLOSED:
        if contribution.issue_close_reason is IssueCloseReason.COMPLETED:
            return table.issue_closed_completed
        return table.issue_closed_other
    if kind is EventKind.ISSUE_COMMENTED:
        return table.issue_commented
    if kind is EventKind.PUSHED:
        return table.push_per_commit * min(max(contribution.commits, 0), table.push_max_commits)
    raise ValueError(f"no scoring rule for {kind!r}")
