"""One error family for the service, mapped to HTTP in one place.

Services and selectors raise `ApplicationError` subclasses; DRF's own errors and the
dependency failures (Postgres, Redis down) are folded into the same JSON shape:
`{"error": {"code": ..., "message": ..., "details": {...}}}`.

A dependency failure's body names the dependency and nothing else: no host, port, user or
exception text reaches an anonymous caller (the log keeps the detail). No error answer may be
stored by a cache (`Cache-Control: no-store`): a 503 passes, a 404 may not last; a 503 also
says when to try again (`Retry-After`).
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

import psycopg
import redis
from django.db import DatabaseError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response

from api.errors import error_body

logger = logging.getLogger("leaderboard.api")


class ApplicationError(Exception):
    """Base of the service's errors: a code, a message for people, and details."""

    status_code = status.HTTP_400_BAD_REQUEST
    code = "error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidParameter(ApplicationError):
    code = "invalid_parameter"


class NotFound(ApplicationError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"


class DependencyUnavailable(ApplicationError):
    """A dependency cannot answer now (e.g. the boards are being restored): a 503."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "dependency_unavailable"


def application_error_response(exc: ApplicationError) -> JsonResponse:
    """The error as plain Django views answer it (the same JSON shape as the DRF handler's)."""
    return _json(error_body(exc.code, exc.message, exc.details), status=exc.status_code)


def invalid_message(details: dict[str, Any]) -> str:
    """ "invalid parameter limit: must be an integer from 1 to 1000" — each name and why."""
    parts = []
    for name, problems in details.items():
        text = " ".join(str(p) for p in problems) if isinstance(problems, list) else str(problems)
        parts.append(f"{name}: {text}")
    return f"invalid parameter{'s' if len(parts) > 1 else ''} " + "; ".join(parts)


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


class DependencyFailure(NamedTuple):
    """Which dependency failed (`redis`, `postgres`) and what (`unavailable`, `timed out`)."""

    dependency: str
    what: str

    @property
    def message(self) -> str:
        return f"{self.dependency} timed out" if self.what == "timed out" else f"{self.dependency} is {self.what}"


def dependency_failure(exc: Exception) -> DependencyFailure | None:
    """The dependency whose failure `exc` is (logged with its detail), or None: the one reading
    of Redis' and Postgres' errors for the REST API's 503 and gRPC's UNAVAILABLE."""
    if isinstance(exc, redis.RedisError):
        logger.warning("redis unavailable: %s: %s", type(exc).__name__, exc)
        return DependencyFailure("redis", "timed out" if isinstance(exc, redis.TimeoutError) else "unavailable")
    if isinstance(exc, DatabaseError):
        logger.warning("postgres unavailable: %s: %s", type(exc).__name__, exc)
        if isinstance(exc, OperationalError) and isinstance(exc.__cause__, psycopg.errors.QueryCanceled):
            return DependencyFailure("postgres", "timed out")  # API_STATEMENT_TIMEOUT_MS
        return DependencyFailure("postgres", "unavailable")
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
