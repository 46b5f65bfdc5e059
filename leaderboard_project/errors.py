"""The service's errors, as services, selectors and the edges raise them.

`ApplicationError` and its kinds carry a code, a message for people, details and the HTTP
status they stand for; `dependency_failure` reads a Redis or Postgres error as the dependency
that failed. Nothing here imports the web framework: the consumer and the commands raise and
read these too, and the REST API's mapping to responses lives in `leaderboard_project.exceptions`
(importing DRF cost the consumer's start-up ~0.15 s: docs/BENCHMARKS.md, "Ingest").
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, NamedTuple

import psycopg
import redis
from django.db import DatabaseError, OperationalError

logger = logging.getLogger("leaderboard.api")


class ApplicationError(Exception):
    """Base of the service's errors: a code, a message for people, and details."""

    status_code = HTTPStatus.BAD_REQUEST
    code = "error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidParameter(ApplicationError):
    code = "invalid_parameter"


class NotFound(ApplicationError):
    status_code = HTTPStatus.NOT_FOUND
    code = "not_found"


class DependencyUnavailable(ApplicationError):
    """A dependency cannot answer now (e.g. the boards are being restored): a 503."""

    status_code = HTTPStatus.SERVICE_UNAVAILABLE
    code = "dependency_unavailable"


def invalid_message(details: dict[str, Any]) -> str:
    """ "invalid parameter limit: must be an integer from 1 to 1000" — each name and why."""
    parts = []
    for name, problems in details.items():
        text = " ".join(str(p) for p in problems) if isinstance(problems, list) else str(problems)
        parts.append(f"{name}: {text}")
    return f"invalid parameter{'s' if len(parts) > 1 else ''} " + "; ".join(parts)


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
