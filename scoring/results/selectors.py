"""Reads of the recorded results: one board's, the latest of a timeframe, the last closed
period's winners, and the periods a contributor won or placed in. They read the results'
tables only (and contributors' names), never the log or Redis.

A result is recorded once and kept as it was; a contributor excluded since (SPEC section 9)
stays in it but no read shows their row (the others keep their recorded ranks)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from scoring.boards import GLOBAL, Board, Timeframe
from scoring.models import Contributor
from scoring.results.models import PeriodPlacing, PeriodResult, ResultPeriod
from scoring.selectors import BoardRow, contributor_names


@dataclass(frozen=True, slots=True)
class Result:
    """A board's recorded result, its top rows with the contributors' names."""

    id: int
    board: Board
    final_at: datetime
    recorded_at: datetime
    rules_version: int
    members: int
    total_points: int
    late_events: int
    rows: list[BoardRow]


@dataclass(frozen=True, slots=True)
class Placing:
    """A contributor's place in one result's top."""

    board: Board
    rank: int
    score: int
    members: int
    final_at: datetime


def _results_of(rows: list[PeriodResult]) -> list[Result]:
    users = {int(r["user_id"]) for row in rows for r in row.top}
    names = contributor_names(users)
    hidden = {int(i) for i in Contributor.objects.excluded().filter(id__in=users).values_list("id", flat=True)}
    return [
        Result(
            row.id,
            Board(int(row.project_id), Timeframe(row.timeframe), row.period),
            row.final_at,
            row.recorded_at,
            row.rules_version,
            row.members,
            row.total_points,
            row.late_events,
            [
                BoardRow(r["rank"], int(r["user_id"]), r["score"], *names.get(int(r["user_id"]), (None, None)))
                for r in row.top
                if int(r["user_id"]) not in hidden
            ],
        )
        for row in rows
    ]


def result_of(*, board: Board) -> Result | None:
    """The recorded result of `board`, or None."""
    row = PeriodResult.objects.filter(
        timeframe=board.timeframe.value, period=board.period, project_id=board.project_id
    ).first()
    return _results_of([row])[0] if row is not None else None


def results_latest(
    *, timeframe: Timeframe | None, project_id: int = GLOBAL, limit: int, offset: int
) -> tuple[int, list[Result]]:
    """How many results a scope has, and `limit` of them from `offset`, newest period first
    (`timeframe` None: every timeframe's)."""
    rows = PeriodResult.objects.filter(project_id=project_id)
    if timeframe is not None:
        rows = rows.filter(timeframe=timeframe.value)
    total = rows.count()
    page = list(rows.order_by("-final_at", "timeframe")[offset : offset + limit])
    return total, _results_of(page)


def result_last(*, timeframe: Timeframe, project_id: int = GLOBAL) -> Result | None:
    """The newest recorded result of a scope and timeframe: the last closed period's winners."""
    _, found = results_latest(timeframe=timeframe, project_id=project_id, limit=1, offset=0)
    return found[0] if found else None


def user_placings(*, user_id: int, limit: int = 50) -> list[Placing]:
    """The results `user_id` won or placed in, best rank first, then newest."""
    rows = (
        PeriodPlacing.objects.filter(user_id=user_id)
        .select_related("result")
        .order_by("rank", "-result__final_at", "result__project_id")[:limit]
    )
    return [
        Placing(
            Board(int(p.result.project_id), Timeframe(p.result.timeframe), p.result.period),
            p.rank,
            p.score,
            p.result.members,
            p.result.final_at,
        )
        for p in rows
    ]


def period_is_final(*, timeframe: Timeframe, period: str) -> bool:
    """Whether the finalizer has recorded the results of a period (its boards with points)."""
    return ResultPeriod.objects.filter(timeframe=timeframe.value, period=period, finalized=True).exists()


def result_by_id(result_id: int) -> Result:
    """The recorded result `result_id` (it exists: a delivery names it)."""
    return _results_of([PeriodResult.objects.get(id=result_id)])[0]
