"""Reads of the log for people: a user's scored events (keyset pages), points per day and per
kind, the projects a user scored in, the projects seen, how many rows are not applied yet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from django.db import connection
from django.db.models import Count, Q, QuerySet, Sum

from scoring import clock
from scoring.boards import GLOBAL, Board, midnight, period_end, period_start
from scoring.eventlog.aggregate import day_scores
from scoring.eventlog.sql import live_points_expression
from scoring.models import ContributionEvent, Project, UnappliedEvent
from scoring.rules import EventKind


class EventPosition(NamedTuple):
    """A place in a user's events, newest first: the row with this (time, log id), which is
    unique, so a page boundary inside many events of one instant is still exact. `backwards`:
    the page wanted is the one before this place (a `previous` link), else the one after."""

    occurred_at: datetime
    id: int
    backwards: bool = False


@dataclass(frozen=True, slots=True)
class EventsPage:
    """One page of a user's events, newest first, and where the pages beside it start."""

    events: list[ContributionEvent]
    next: EventPosition | None
    previous: EventPosition | None


def _scored_events(user_id: int) -> QuerySet[ContributionEvent]:
    """The user's events worth points under the active rules version, each with `live_points`."""
    return ContributionEvent.objects.annotate(live_points=live_points_expression()).filter(
        user_id=user_id, live_points__gt=0
    )


def user_events(*, user_id: int, board: Board) -> QuerySet[ContributionEvent]:
    """The user's events that scored on `board` (points > 0), newest first, each with its
    `live_points` (its points under the active rules version, also during a rescore).

    Events worth 0 points are left out: they changed no board. Their points add up to the
    user's score on `board`, so this is why a score is what it is.
    """
    events = _scored_events(user_id)
    start = period_start(board.timeframe, board.period)
    if start is not None:
        end = period_end(board.timeframe, board.period)
        events = events.filter(occurred_at__gte=midnight(start), occurred_at__lt=midnight(end))
    if board.project_id != GLOBAL:
        events = events.filter(project_id=board.project_id)
    return (
        events.select_related("project")
        .only("id", "event_id", "kind", "occurred_at", "url", "project__id", "project__name")
        .order_by("-occurred_at", "-id")
    )


def user_events_page(*, user_id: int, board: Board, limit: int, at: EventPosition | None) -> EventsPage:
    """`limit` of the user's scored events on `board` (see `user_events`): the newest, or
    those after (before, when `at.backwards`) the position `at`. Keyset paging on the unique
    (time, id): one index range per page, whatever the depth, and no row on two pages."""
    events = user_events(user_id=user_id, board=board)
    if at is None:
        rows = list(events[: limit + 1])
        more = len(rows) > limit
        rows = rows[:limit]
        return EventsPage(rows, _position(rows[-1]) if more else None, None)
    t, i = at.occurred_at, at.id
    if not at.backwards:
        # (occurred_at, id) < (t, i); the first term bounds the index range
        older = events.filter(Q(occurred_at__lte=t) & (Q(occurred_at__lt=t) | Q(id__lt=i)))
        rows = list(older[: limit + 1])
        more = len(rows) > limit
        rows = rows[:limit]
        previous = _position(rows[0], backwards=True) if rows else at._replace(backwards=True)
        return EventsPage(rows, _position(rows[-1]) if more else None, previous)
    newer = events.filter(Q(occurred_at__gte=t) & (Q(occurred_at__gt=t) | Q(id__gt=i))).order_by("occurred_at", "id")
    rows = list(newer[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit][::-1]
    following = _position(rows[-1]) if rows else at._replace(backwards=False)
    return EventsPage(rows, following, _position(rows[0], backwards=True) if more else None)


def _position(event: ContributionEvent, *, backwards: bool = False) -> EventPosition:
    return EventPosition(event.occurred_at, event.id, backwards)


def project_list() -> QuerySet[Project]:
    """The projects seen in events, by id."""
    return Project.objects.only("id", "name", "event_count").order_by("id")


def unapplied_count() -> int:
    """Log rows whose points are not on the boards yet (the ledger holds exactly these, so this
    stays cheap however long the log grows)."""
    return UnappliedEvent.objects.count()


class DayPoints(NamedTuple):
    day: date
    points: int


def user_points_per_day(*, user_id: int, days: int = 90, now: datetime | None = None) -> list[DayPoints]:
    """The user's points on each of the last `days` UTC days (today included, oldest first,
    days without events as 0), from the log."""
    today = (now or clock.now()).astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    with connection.cursor() as cursor:
        events = "e.user_id = %s AND e.occurred_at >= %s AND e.occurred_at < %s"
        cursor.execute(
            f"SELECT day, sum(score)::bigint FROM ({day_scores(events)}) AS d GROUP BY day",
            [user_id, midnight(first), midnight(today + timedelta(days=1))],
        )
        found = dict(cursor.fetchall())
    return [DayPoints(day, int(found.get(day, 0))) for day in (first + timedelta(days=n) for n in range(days))]


class KindPoints(NamedTuple):
    kind: EventKind
    events: int
    points: int


def user_points_by_kind(*, user_id: int) -> list[KindPoints]:
    """The user's scored events and points per kind of event, most points first."""
    rows = (
        _scored_events(user_id)
        .values("kind")
        .annotate(events=Count("id"), total=Sum("live_points"))
        .order_by("-total", "kind")
    )
    return [KindPoints(EventKind(row["kind"]), row["events"], int(row["total"])) for row in rows]


def user_projects(*, user_id: int) -> list[Project]:
    """The projects the user scored in, by name."""
    ids = _scored_events(user_id).values("project_id").distinct()
    return list(Project.objects.filter(id__in=ids).only("id", "name").order_by("name", "id"))
