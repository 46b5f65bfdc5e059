"""Reads of a board: a page, a user's standing, the ranks of a set of users.

A board is read from Redis while it is retained (`boards.is_retained`); past its retention it is
read from its archive (`selectors.archive`), with the same scripts — the same rows in the same
order: score descending, then user id descending byte-wise (ZREVRANGE's order). Ranks are
standard competition ranks (1, 2, 2, 4). While the boards are being restored a live board read
is a 503.

Rows carry the contributor's login and avatar (None while unknown), read from Postgres in one
query per page for the page's user ids. A board still answers when Postgres is down: its rows
come from Redis, and the names are then left out rather than failing the read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, NamedTuple

from django.conf import settings

from leaderboard_project.errors import DependencyUnavailable
from scoring import clock, redis_boards
from scoring.boards import Board, is_retained, period_end
from scoring.ranking import ranks_of_rows
from scoring.selectors.archive import from_archive
from scoring.selectors.contributors import contributor_names

Source = Literal["redis", "event_log"]


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


def period_is_closed(board: Board, *, now: datetime) -> bool:
    """Whether the board's period has ended at `now` (all-time never ends)."""
    end = period_end(board.timeframe, board.period)
    return end is not None and end <= now.astimezone(UTC).date()


def board_from_event_log(board: Board, *, now: datetime) -> bool:
    """Whether `board` is answered from the event log: it is past its retention in Redis."""
    return not is_retained(board, now, settings.BOARD_RETENTION_DAYS)


def board_page(*, board: Board, limit: int, offset: int, now: datetime | None = None, named: bool = True) -> BoardPage:
    """One page of a board, ranked. Costs one Redis round trip; a board that has left Redis is
    aggregated from the log by its first read, then read from its archive the same way.
    `named=False` leaves the names out and Postgres unasked (a caller that shows no names)."""
    now = now or clock.now()
    stop = offset + limit - 1
    if board_from_event_log(board, now=now):
        found = from_archive(
            board, lambda key, marker: redis_boards.board_slice(key, start=offset, stop=stop, guard=marker)
        )
        source: Source = "event_log"
    else:
        with _restoring_is_unavailable():
            found = redis_boards.board_slice(board.key, start=offset, stop=stop)
        source = "redis"
    rows = _ranked(found)
    return BoardPage(board, found.total, limit, offset, _named(rows) if named else rows, source)


def user_standing(
    *, board: Board, user_id: int, around: int | None = None, now: datetime | None = None, named: bool = True
) -> Standing | None:
    """The user's rank and score on `board`, with `around` rows either side when given;
    None when the user is not on the board. `named=False` leaves the names out and Postgres
    unasked (a caller that has the name already: a badge)."""
    now = now or clock.now()
    source: Source = "event_log" if board_from_event_log(board, now=now) else "redis"
    if source == "event_log":
        found = from_archive(
            board, lambda key, marker: redis_boards.board_member(key, user_id=user_id, around=around, guard=marker)
        )
    else:
        with _restoring_is_unavailable():
            found = redis_boards.board_member(board.key, user_id=user_id, around=around)
    if found is None:
        return None
    rows = _ranked(found.around) if found.around is not None else None
    names = contributor_names({user_id, *(row.user_id for row in rows or ())}) if named else {}
    login, avatar_url = names.get(user_id, (None, None))
    rows = _named(rows, names) if rows is not None else None
    return Standing(board, user_id, found.higher + 1, found.score, found.total, rows, source, login, avatar_url)


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
    ranks = ranks_of_rows(scores, first_position=found.start, first_rank=found.higher + 1)
    return [BoardRow(rank, user_id, score) for rank, (user_id, score) in zip(ranks, found.rows, strict=True)]


def board_ranks(*, board: Board, user_ids: Sequence[int], now: datetime | None = None) -> dict[int, int]:
    """The rank of each of `user_ids` on `board` (users not on it are left out), in one Redis
    round trip — from the board's archive when it has left Redis. The pages use it for the
    move since the previous period."""
    now = now or clock.now()
    if not user_ids:
        return {}
    if board_from_event_log(board, now=now):
        return from_archive(board, lambda key, marker: redis_boards.members_ranks(key, user_ids=user_ids, guard=marker))
    with _restoring_is_unavailable():
        return redis_boards.members_ranks(board.key, user_ids=user_ids)
