"""Wire events of known histories for the streak and achievement tests (built as a publisher
would, so that the log keeps their raw bytes)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from proto.contributions.v1 import contribution_pb2 as pb
from scoring.event_generator import event_build
from scoring.rules import Contribution
from tests.oracle import valid_events

KINDS = {
    "push": pb.PUSHED,
    "merged": pb.PULL_REQUEST_CLOSED,
    "unmerged": pb.PULL_REQUEST_CLOSED,
    "review": pb.PULL_REQUEST_REVIEW_SUBMITTED,
    "comment": pb.ISSUE_COMMENTED,
    "opened": pb.PULL_REQUEST_OPENED,
}


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def wire(event_id: str, kind: str, user: int, moment: datetime, project: int = 7, login: str | None = None) -> bytes:
    event = event_build(
        event_id=event_id,
        kind=KINDS[kind],
        user_id=user,
        project_id=project,
        occurred_at=moment,
        merged=kind != "unmerged",
        review_state=pb.COMMENTED,
        login=login if login is not None else f"user{user}",
    )
    return event.SerializeToString()


def history(user: int, days: list[date], kind: str = "push", prefix: str = "h", hour: int = 12) -> list[bytes]:
    """One event of `kind` by `user` on each of `days`."""
    return [wire(f"{prefix}-{user}-{day.isoformat()}-{kind}", kind, user, at(day, hour)) for day in days]


def span(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def contributions(messages: list[bytes]) -> list[Contribution]:
    return valid_events(messages)
