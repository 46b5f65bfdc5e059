"""One error family for the service, mapped to HTTP in one place.

Services and selectors raise `ApplicationError` subclasses (`leaderboard_project.errors`,
which does not import DRF); DRF's own errors and the
dependency failures (Postgres, Redis down) are folded into the same JSON shape:
`{"error": {"code": ..., "message": ..., "details": {...}}}`.

A dependency failure's body names the dependency and nothing else: no host, port, user or
exception text reaches an anonymous caller (the log keeps the detail). No error answer may be
stored by a cache (`Cache-Control: no-store`): a 503 passes, a 404 may not last; a 503 also
says when to try again (`Retry-After`).
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response

from api.errors import error_body
from leaderboard_project.errors import ApplicationError, dependency_failure, invalid_message


def application_error_response(exc: ApplicationError) -> JsonResponse:
    """The error as plain Django views answer it (the same JSON shape as the DRF handler's)."""
    return _json(error_body(exc.code, exc.message, exc.details), status=exc.status_code)


RETRY_AFTER_SECONDS = 5


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: every error becomes the one JSON shape with a fitting status."""
    response = _error_response(exc)
    if response is not None:
        response["Cache-Control"] = "no-store"
        if response.status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _error_response(exc: Exception) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status_code)
    if isinstance(exc, drf_exceptions.ValidationError):
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return Response(
            error_body("invalid_parameter", invalid_message(details), details), status=status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, Http404 | drf_exceptions.NotFound):
        return Response(error_body("not_found", str(exc) or "not found", {}), status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, drf_exceptions.APIException):
        return Response(error_body(exc.default_code, str(exc.detail), {}), status=exc.status_code)
    failed = dependency_failure(exc)
    if failed is not None:
        return Response(
            error_body("dependency_unavailable", failed.message, {failed.dependency: failed.what}),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    return None


# Django's own error pages (no URL matched, a bad Host header, a crash) in the same JSON shape.


def _json(body: dict[str, Any], status: int) -> JsonResponse:
    return JsonResponse(body, status=status, json_dumps_params={"separators": (",", ":")})


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json(error_body("bad_request", "bad request", {}), status=status.HTTP_400_BAD_REQUEST)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json(error_body("permission_denied", "permission denied", {}), status=status.HTTP_403_FORBIDDEN)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json(error_body("not_found", f"no such endpoint: {request.path}", {}), status=status.HTTP_404_NOT_FOUND)


def server_error(request: HttpRequest) -> JsonResponse:
    return _json(
        error_body("internal_error", "internal server error", {}), status=status.HTTP_500_INTERNAL_SERVER_ERROR
    )
