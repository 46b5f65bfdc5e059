"""One error family for the service, mapped to HTTP in one place.

Services and selectors raise `ApplicationError` subclasses; DRF's own errors and the
dependency failures (Postgres, Redis down) are folded into the same JSON shape:
`{"error": {"code": ..., "message": ..., "details": {...}}}`.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from django.db import DatabaseError
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response

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
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "dependency_unavailable"


def _body(code: str, message: str, details: dict[str, Any]) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: every error becomes the one JSON shape with a fitting status."""
    if isinstance(exc, ApplicationError):
        return Response(_body(exc.code, exc.message, exc.details), status=exc.status_code)
    if isinstance(exc, drf_exceptions.ValidationError):
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        names = ", ".join(sorted(details))
        return Response(
            _body("invalid_parameter", f"invalid parameter: {names}", details), status=status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, Http404 | drf_exceptions.NotFound):
        return Response(_body("not_found", str(exc) or "not found", {}), status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, drf_exceptions.APIException):
        return Response(_body(exc.default_code, str(exc.detail), {}), status=exc.status_code)
    if isinstance(exc, redis.RedisError):
        logger.warning("redis unavailable: %s", exc)
        return Response(
            _body("dependency_unavailable", "redis is unavailable", {"redis": str(exc)}),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    if isinstance(exc, DatabaseError):
        logger.warning("postgres unavailable: %s", exc)
        return Response(
            _body("dependency_unavailable", "postgres is unavailable", {"postgres": str(exc)}),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    return None
