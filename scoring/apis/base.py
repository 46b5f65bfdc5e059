"""What every read of the query API shares: JSON whatever is asked, the query read by the api
kit's one parser (a bad one is a `QueryError`: a 400 naming each bad parameter), and the
Cache-Control of an answer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from drf_spectacular.utils import OpenApiParameter
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.query import BoardQuery, Param, board_query_parse, query_parse, query_values

# Cache-Control max-age: a current board changes every moment; a closed period's board only
# when a late event arrives.
CURRENT_MAX_AGE = 5
CLOSED_MAX_AGE = 3600


class JsonOnly(BaseContentNegotiation):
    """JSON is the only answer the query API gives, whatever the Accept header asks; DRF's
    default negotiation parses that header on every request only to reach the same choice."""

    def select_parser(self, request: Request, parsers: list) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: list, format_suffix: str | None = None) -> tuple:
        return renderers[0], renderers[0].media_type


class QueryApi(APIView):
    """A read of the query API: JSON, whatever is asked; `parameters` are what its query may
    name besides a board's (the path's included), in the order their problems are listed."""

    content_negotiation_class = JsonOnly
    parameters: Sequence[Param] = ()

    def board_query(self, request: Request, *, now: datetime, **path: str) -> BoardQuery:
        """The board and the other values the request names; raises `QueryError`."""
        return board_query_parse(query_values(request.query_params), now=now, fields=self.parameters, path=path)

    def query(self, request: Request, **path: str) -> dict[str, Any]:
        """The values of `parameters` the request names; raises `QueryError`."""
        return query_parse(query_values(request.query_params), self.parameters, path)


def openapi_parameters(*params: Param) -> list[OpenApiParameter]:
    """The OpenAPI description of `params`, from their one declaration."""
    return [param.openapi() for param in params]


def cached(response: Response, *, closed: bool) -> Response:
    """`response`, cacheable by anyone for as long as its board may stay the same."""
    response["Cache-Control"] = f"public, max-age={CLOSED_MAX_AGE if closed else CURRENT_MAX_AGE}"
    return response
