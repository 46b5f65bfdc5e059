"""The service's own reads: its health, the projects it has seen, its scoring rules."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api import shapes
from api.errors import ERRORS
from api.links import offset_links
from api.query import LIMIT, OFFSET
from scoring.apis.base import QueryApi, cached, openapi_parameters
from scoring.health import health_check
from scoring.rules.versions import rules_versions
from scoring.selectors import project_list


class HealthCheckApi(APIView):
    @extend_schema(
        responses={200: shapes.HealthCheck, 503: shapes.HealthCheck},
        summary="Are Postgres, Redis and NATS reachable, and is the consumer keeping up?",
        description="200 with status ok, or degraded when only the consumer is behind or silent (the "
        "boards are served, but stale); 503 with status error when Postgres, Redis or NATS is unreachable.",
    )
    def get(self, request):
        overall, checks = health_check()
        code = status.HTTP_503_SERVICE_UNAVAILABLE if overall == "error" else status.HTTP_200_OK
        response = Response(shapes.HealthCheck.body(status=overall, checks=checks), status=code)
        response["Cache-Control"] = "no-store"  # a health answer is about this moment only
        return response


class ProjectListApi(QueryApi):
    """The projects seen in events."""

    parameters = (LIMIT, OFFSET)

    @extend_schema(
        operation_id="project_list",
        summary="The projects seen, by id",
        parameters=openapi_parameters(LIMIT, OFFSET),
        responses={200: shapes.ProjectPage, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        query = self.query(request)
        limit, offset = query["limit"], query["offset"]
        projects = project_list()
        total = projects.count()
        page = projects[offset : offset + limit] if offset < total else []
        following, before = offset_links(
            request.build_absolute_uri(request.path), limit=limit, offset=offset, total=total
        )
        body = shapes.ProjectPage.body(
            total=total, limit=limit, offset=offset, next=following, previous=before, results=shapes.Project.many(page)
        )
        return cached(Response(body), closed=False)


class RulesApi(QueryApi):
    """The scoring rules: the active version's table, and the earlier versions (SPEC section 10)."""

    @extend_schema(
        operation_id="rules",
        summary="The active scoring rules and the earlier versions",
        description=(
            "Every event in the log is scored by the active version; `rescore_leaderboards` makes another one "
            "active. Before any version is recorded (no consumer has run) the settings' table is shown as "
            "version 1, with null dates."
        ),
        responses={200: shapes.Rules, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        self.query(request)  # no parameter is known: any is a 400
        active, earlier = rules_versions()
        body = shapes.Rules.body(active, earlier=shapes.RulesVersion.many(earlier))
        return Response(body, headers={"Cache-Control": "no-cache"})
