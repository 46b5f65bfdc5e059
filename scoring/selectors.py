"""Reads: a board page, a user's standing on a board, a user's scored events, the projects,
the contributors, how many log rows are not applied yet.

A board is read from Redis while it is retained (`boards.is_retained`). A period board past
its retention has left Redis (and the consumer no longer applies late events to it), so it is
aggregated from the event log instead, once, into an archive in Redis that expires, and read
from there with the same scripts — the same rows in the same order: score descending, then
user id descending byte-wise (ZREVRANGE's order). Ranks are standard competition ranks
(1, 2, 2, 4). While the boards are being restored a live board read is a 503.

Rows carry the contributor's login and avatar (None while unknown), read from Postgres in one
query per page for the page's user ids. A board still answers when Postgres is down: its rows
come from Redis, and the names are then left out rather than failing the read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, NamedTuple, TypeVar

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Q, QuerySet, Sum

from leaderboard_project.exceptions import DependencyUnavailable
from scoring import clock, redis_boards
from scoring.boards import GLOBAL, Board, is_retained, period_end, period_start
from scoring.models import ContributionEvent, Contributor, Project, RulesVersion, live_points, live_points_expression
from scoring.rules import EventKind, ScoringTable

logger = logging.getLogger("leaderboard.selectors")

Source = Literal["redis", "event_log"]
T = TypeVar("T")
U64_DIGITS = 20


class BoardRow(NamedTuple):
    """One user's line on a board (a tuple: a page makes many, and tuples are the cheapest)."""

    rank: int
    user_id: int
    score: int
    login: str | None = None
    avatar_url: str | None = None


@dataclass(frozen=True, slots=True)
class BoardPage:
    """`limit` rows of a board from 0-based `offset`, and how many users the board holds."""

    board: Board
    total: int
    limit: int
    offset: int
    rows: list[BoardRow]
    source: Source


@dataclass(frozen=True, slots=True)
class Standing:
    """One user's rank and score on a board; `around` (when asked for) is the rows from
    N above the user to N below, the user's own row included, clipped at the board's ends."""

    board: Board
    user_id: int
    rank: int
    score: int
    total: int
    around: list[BoardRow] | None
    source: Source
    login: str | None = None
    avatar_url: str | None = None


def competition_ranks(scores: Sequence[int], *, first_position: int, first_rank: int) -> list[int]:
    """Standard competition ranks (1, 2, 2, 4) of consecutive rows of a board.

    `scores` are consecutive rows in board order, the first at 0-based `first_position`, whose
    rank is `first_rank` (1 + the number of users scoring strictly more). A later row shares
    the rank of the row before it when their scores are equal; otherwise its rank is its
    position + 1 — exact at any offset without reading the rows above the page.
    """
    ranks: list[int] = []
    for index, score in enumerate(scores):
        if index == 0:
            ranks.append(first_rank)
        elif score == scores[index - 1]:
            ranks.append(ranks[-1])
        else:
            ranks.append(first_position + index + 1)
    return ranks


def period_is_closed(board: Board, *, now: datetime) -> bool:
    """Whether the board's period has ended at `now` (all-time never ends)."""
    end = period_end(board.timeframe, board.period)
    return end is not None and end <= now.astimezone(UTC).date()


def board_from_event_log(board: Board, *, now: datetime) -> bool:
    """Whether `board` is answered from the event log: it is past its retention in Redis."""
    return not is_retained(board, now, settings.BOARD_RETENTION_DAYS)


def board_page(*, board: Board, limit: int, offset: int, now: datetime | None = None) -> BoardPage:
    """One page of a board, ranked. Costs one Redis round trip; a board that has left Redis is
    aggregated from the log by its first read, then read from its archive the same way."""
    now = now or clock.now()
    stop = offset + limit - 1
    if board_from_event_log(board, now=now):
        found = _from_archive(
            board, lambda key, marker: redis_boards.board_slice(key, start=offset, stop=stop, guard=marker)
        )
        return BoardPage(board, found.total, limit, offset, _named(_ranked(found)), "event_log")
    with _restoring_is_unavailable():
        found = redis_boards.board_slice(board.key, start=offset, stop=stop)
    return BoardPage(board, found.total, limit, offset, _named(_ranked(found)), "redis")


def user_standing(
    *, board: Board, user_id: int, around: int | None = None, now: datetime | None = None
) -> Standing | None:
    """The user's rank and score on `board`, with `around` rows either side when given;
    None when the user is not on the board."""
    now = now or clock.now()
    source: Source = "event_log" if board_from_event_log(board, now=now) else "redis"
    if source == "event_log":
        found = _from_archive(
            board, lambda key, marker: redis_boards.board_member(key, user_id=user_id, around=around, guard=marker)
        )
    else:
        with _restoring_is_unavailable():
            found = redis_boards.board_member(board.key, user_id=user_id, around=around)
    if found is None:
        return None
    rows = _ranked(found.around) if found.around is not None else None
    names = contributor_names({user_id, *(row.user_id for row in rows or ())})
    login, avatar_url = names.get(user_id, (None, None))
    rows = _named(rows, names) if rows is not None else None
    return Standing(board, user_id, found.higher + 1, found.score, found.total, rows, source, login, avatar_url)


def contributor_names(user_ids: Collection[int]) -> dict[int, tuple[str | None, str | None]]:
    """(login, avatar_url) of each of `user_ids` that is a known contributor, None for what
    is not known: one query. Nothing when Postgres is down (callers answer without names)."""
    if not user_ids:
        return {}
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, login, avatar_url FROM scoring_contributor WHERE id = ANY(%s::numeric[])", [list(user_ids)]
            )
            found = cursor.fetchall()
    except DatabaseError as exc:
        logger.warning("contributor names unavailable: %s", exc)
        return {}
    return {int(user_id): (login or None, avatar_url or None) for user_id, login, avatar_url in found}


def _named(rows: list[BoardRow], names: dict[int, tuple[str | None, str | None]] | None = None) -> list[BoardRow]:
    if names is None:
        names = contributor_names({row.user_id for row in rows})
    if not names:
        return rows
    return [
        row._replace(login=names[row.user_id][0], avatar_url=names[row.user_id][1]) if row.user_id in names else row
        for row in rows
    ]


@contextmanager
def _restoring_is_unavailable() -> Iterator[None]:
    """A live board read while the ready sentinel is missing is a 503, not an empty board: the
    boards are being restored (or Redis came back empty), and an empty 200 would be cached."""
    try:
        yield
    except redis_boards.BoardsNotReady as exc:
        raise DependencyUnavailable(
            "the boards are being restored; try again shortly", details={"redis": "boards being restored"}
        ) from exc


def _ranked(found: redis_boards.BoardSlice) -> list[BoardRow]:
    scores = [score for _, score in found.rows]
    ranks = competition_ranks(scores, first_position=found.start, first_rank=found.higher + 1)
    return [BoardRow(rank, user_id, score) for rank, (user_id, score) in zip(ranks, found.rows, strict=True)]


# ---- the event log's answer for boards that have left Redis: aggregated once, then archived
# in Redis for `API_ARCHIVE_SECONDS` and read there like a live board (docs/API.md, "Expired
# periods"), so paging through an old board costs one aggregate, not one per page.

_LIVE = live_points()  # a row's points under the active rules version
_BOARD_SCORES = (
    f"SELECT user_id, sum({_LIVE})::bigint FROM scoring_contributionevent WHERE {{where}}"
    " AND user_id NOT IN (SELECT id FROM scoring_contributor WHERE excluded_reason IS NOT NULL) GROUP BY user_id"
)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _board_events(board: Board) -> tuple[str, list[object]]:
    """The SQL condition (and its parameters) for the events that score on `board`."""
    clauses, params = [f"{_LIVE} > 0"], []
    start = period_start(board.timeframe, board.period)
    if start is not None:
        clauses.append("occurred_at >= %s AND occurred_at < %s")
        params += [_midnight(start), _midnight(period_end(board.timeframe, board.period))]
    if board.project_id != GLOBAL:
        clauses.append("project_id = %s")
        params.append(board.project_id)
    return " AND ".join(clauses), params


def _archive(board: Board) -> None:
    """Aggregate `board` from the log into its Redis archive, unless it is there already.

    A transaction-scoped advisory lock per board makes concurrent readers of the same missing
    archive wait for the one that aggregates, then find its result: one aggregate per board.
    """
    where, params = _board_events(board)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"archive:{board.key}"])
        if redis_boards.archive_exists(board):
            return
        for _ in range(2):  # an exclusion changed during the first: its result may hold who is excluded now
            epoch = redis_boards.exclusions_epoch()  # before the aggregate's snapshot
            cursor.execute(_BOARD_SCORES.format(where=where), params)
            if redis_boards.archive_store(
                board,
                _rows_of(cursor),
                ttl=settings.API_ARCHIVE_SECONDS,
                max_boards=settings.API_ARCHIVE_MAX_BOARDS,
                epoch=epoch,
            ):
                return


def _rows_of(cursor, size: int = 10000) -> Iterator[tuple[int, int]]:
    """The cursor's rows a chunk at a time (a big board never becomes one Python list)."""
    while rows := cursor.fetchmany(size):
        yield from rows


def _from_archive(board: Board, read: Callable[[str, str], T]) -> T:
    """`read(archive key, marker)` on the board's archive, made first when missing (and again
    if it expired between the two steps)."""
    key, marker = redis_boards.archive_keys(board)
    for _ in range(2):
        try:
            return read(key, marker)
        except redis_boards.BoardsNotReady:
            _archive(board)
    return read(key, marker)


# ---- provenance and projects


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
        events = events.filter(occurred_at__gte=_midnight(start), occurred_at__lt=_midnight(end))
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


@dataclass(frozen=True, slots=True)
class RulesVersionView:
    """A rules version as the API shows it."""

    number: int
    table: dict[str, int]
    created_at: datetime | None
    activated_at: datetime | None
    retired_at: datetime | None


def rules_versions() -> tuple[RulesVersionView, list[RulesVersionView]]:
    """The active rules version and the others, newest first. Before any version is recorded
    (no consumer has run yet), the settings' table, as the version 1 the first one records."""
    active, earlier = None, []
    for version in RulesVersion.objects.order_by("-number"):
        table = ScoringTable.from_mapping(version.table).as_mapping()
        view = RulesVersionView(version.number, table, version.created_at, version.activated_at, version.retired_at)
        if version.active:
            active = view
        else:
            earlier.append(view)
    if active is None:
        active = RulesVersionView(1, ScoringTable.from_mapping(settings.SCORING).as_mapping(), None, None, None)
    return active, earlier


def project_list() -> QuerySet[Project]:
    """The projects seen in events, by id."""
    return Project.objects.only("id", "name", "event_count").order_by("id")


def unapplied_count() -> int:
    """Log rows whose points are not on the boards yet (the partial index `event_pending`
    holds exactly these, so this stays cheap however long the log grows)."""
    return ContributionEvent.objects.filter(applied=False).count()


def contributor_find(*, key: str, excluded: bool = False) -> Contributor | None:
    """The contributor named by `key`: a user id (decimal) or a login (any case). An all-digit
    key is tried as an id first, since GitHub logins may be digits too. A login renamed away
    and taken by someone else names the one seen most recently. An excluded contributor is
    found only with `excluded` (the operator's tools): to the public it does not exist."""
    contributors = Contributor.objects.all() if excluded else Contributor.objects.filter(excluded_reason__isnull=True)
    if key.isascii() and key.isdigit() and len(key) <= U64_DIGITS:
        found = contributors.filter(id=int(key)).first()
        if found is not None:
            return found
        if not excluded and user_is_excluded(int(key)):
            return None  # its id names it, whatever logins others have
    return contributors.filter(login__iexact=key).order_by("-last_seen_at", "-id").first()


def user_is_excluded(user_id: int) -> bool:
    """Whether the user is excluded from every board (SPEC section 9): the API and the pages
    answer 404 for it."""
    return Contributor.objects.filter(id=user_id, excluded_reason__isnull=False).exists()


# ---- what the pages add: ranks of a set of users, a contributor's activity


def board_ranks(*, board: Board, user_ids: Sequence[int], now: datetime | None = None) -> dict[int, int]:
    """The rank of each of `user_ids` on `board` (users not on it are left out), in one Redis
    round trip — from the board's archive when it has left Redis. The pages use it for the
    move since the previous period."""
    now = now or clock.now()
    if not user_ids:
        return {}
    if board_from_event_log(board, now=now):
        return _from_archive(
            board, lambda key, marker: redis_boards.members_ranks(key, user_ids=user_ids, guard=marker)
        )
    with _restoring_is_unavailable():
        return redis_boards.members_ranks(board.key, user_ids=user_ids)


class DayPoints(NamedTuple):
    day: date
    points: int


def user_points_per_day(*, user_id: int, days: int = 90, now: datetime | None = None) -> list[DayPoints]:
    """The user's points on each of the last `days` UTC days (today included, oldest first,
    days without events as 0), from the log."""
    today = (now or clock.now()).astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (occurred_at AT TIME ZONE 'UTC')::date AS day, sum({_LIVE})::bigint"
            "  FROM scoring_contributionevent"
            f" WHERE user_id = %s AND {_LIVE} > 0 AND occurred_at >= %s AND occurred_at < %s"
            " GROUP BY day",
            [user_id, _midnight(first), _midnight(today + timedelta(days=1))],
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
