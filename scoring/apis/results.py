"""Period results (SPEC section 14): one board's, or the latest of a scope."""

from __future__ import annotations

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api import shapes
from api.errors import ERRORS, Error
from api.links import link
from api.query import LIMIT, OFFSET, PERIOD, PROJECT_ID, TIMEFRAME, QueryError, period_check
from leaderboard_project.errors import NotFound
from scoring import clock
from scoring.apis.base import QueryApi, cached, openapi_parameters
from scoring.boards import GLOBAL, Board, Timeframe
from scoring.results import selectors
from scoring.results.finalize import final_at


class ResultsApi(QueryApi):
    """One result (`period` given), or the latest results of a scope, newest first."""

    parameters = (TIMEFRAME, PERIOD, PROJECT_ID, LIMIT, OFFSET)

    @extend_schema(
        operation_id="results",
        summary="Period results: one board's, or the latest",
        description=(
            "With `timeframe` and `period`: that board's result (global, or `project_id`'s), recorded once "
            "when the period became final (its end plus RESULTS_GRACE_SECONDS); a period not final yet is a "
            "404 whose details give `final_at`. Without `period`: the latest results of the scope "
            "(`timeframe` absent: every timeframe's), newest first, paginated. all_time never ends: no results."
        ),
        parameters=openapi_parameters(TIMEFRAME, PERIOD, PROJECT_ID, LIMIT, OFFSET),
        responses={
            200: PolymorphicProxySerializer(
                component_name="PeriodResultAnswer",
                serializers=[shapes.PeriodResult, shapes.PeriodResultPage],
                resource_type_field_name=None,
            ),
            404: Error,
            **ERRORS,
        },
    )
    def get(self, request: Request) -> Response:
        values = self.query(request)
        timeframe, period = values.get("timeframe"), values.get("period")
        project_id = values.get("project_id", GLOBAL)
        if timeframe is Timeframe.ALL_TIME:
            raise QueryError(
                {"timeframe": ["all_time never ends, so it has no results; allowed: yearly, monthly, weekly, daily"]}
            )
        if period is None:
            return self._latest(request, timeframe, project_id, values["limit"], values["offset"])
        if timeframe is None:
            raise QueryError({"timeframe": ["required with period"]})
        period_check(timeframe, period)
        board = Board(project_id, timeframe, period)
        result = selectors.result_of(board=board)
        if result is None:
            raise self._missing(board)
        return cached(Response(shapes.PeriodResult.body(result)), closed=True)

    @staticmethod
    def _latest(request: Request, timeframe: Timeframe | None, project_id: int, limit: int, offset: int) -> Response:
        total, found = selectors.results_latest(timeframe=timeframe, project_id=project_id, limit=limit, offset=offset)
        scope: dict[str, int | str] = {"timeframe": timeframe.value} if timeframe else {}
        if project_id != GLOBAL:
            scope["project_id"] = project_id
        base = request.build_absolute_uri(request.path)
        following = link(base, **scope, limit=limit, offset=offset + limit) if offset + limit < total else None
        before = max(offset - limit, 0) if offset > 0 else None
        body = shapes.PeriodResultPage.body(
            timeframe=timeframe.value if timeframe else None,
            project_id=project_id if project_id != GLOBAL else None,
            total=total,
            limit=limit,
            offset=offset,
            next=following,
            previous=link(base, **scope, limit=limit, offset=before) if before is not None else None,
            results=shapes.PeriodResult.many(found),
        )
        return cached(Response(body), closed=False)

    @staticmethod
    def _missing(board: Board) -> NotFound:
        final = final_at(board.timeframe, board.period)
        details = {
            "timeframe": board.timeframe.value,
            "period": board.period,
            "project_id": board.project_id if board.project_id != GLOBAL else None,
            "final_at": final.isoformat().replace("+00:00", "Z") if final else None,
        }
        if selectors.period_is_final(timeframe=board.timeframe, period=board.period) or (
            final is not None and final <= clock.now()
        ):
            return NotFound(
                "no result: nothing scored on this board in this period (or not recorded yet)", details=details
            )
        return NotFound(
            f"this period is not final yet: its result is recorded after {details['final_at']}", details=details
        )
