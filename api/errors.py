"""The error answer's shape: `{"error": {"code", "message", "details"}}`, for every error the
service gives (leaderboard_project/exceptions.py builds them all with `error_body`)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from api.shape import Shape


@extend_schema_serializer(component_name="ErrorBody")
class ErrorBody(Shape):
    code = serializers.CharField(help_text="invalid_parameter, not_found, dependency_unavailable…")
    message = serializers.CharField(help_text="What is wrong, for people.")
    details = serializers.DictField(
        help_text="For a 400: each bad parameter and what is allowed; for a 503: the dependency."
    )


@extend_schema_serializer(component_name="Error")
class Error(Shape):
    error = ErrorBody()


def error_body(code: str, message: str, details: dict[str, Any]) -> dict[str, Any]:
    """An error answer's JSON."""
    return Error.body(error=ErrorBody.body(code=code, message=message, details=details))


# The answers every query endpoint may give besides its own, for the OpenAPI document.
ERRORS = {400: Error, 503: Error}
