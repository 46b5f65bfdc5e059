"""`GET /v1/stream` where the stream worker did not take it: the API's 400 for a bad query,
and, under a server without the worker (runserver, tests), a stream of one event that asks
the browser to come back in a second — the page still updates, by polling."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request

from api.errors import ERRORS
from api.query import BOARD
from scoring import clock
from scoring.apis.base import QueryApi, openapi_parameters
from web.board import board_event
from web.live import RETRY_MS, board_frame

# One event of the stream, as the OpenAPI document describes it.
SSE_EVENT = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["board"]},
        "id": {"type": "string", "description": "A digest of the page: send it back as Last-Event-ID."},
        "data": {"type": "string", "description": "The board's first page, JSON (see the description)."},
        "retry": {"type": "integer"},
    },
}


class BoardStreamApi(QueryApi):
    @extend_schema(
        operation_id="board_stream",
        summary="Server-Sent Events: a board's first page each time it changes",
        description=(
            "`text/event-stream`. A `board` event carries the board's first page (`timeframe`, "
            "`period`, `project_id`, `total`, `results` of rows with `rank`, `user_id`, `score`, "
            "`login`, `avatar_url`, `move`, `new`) when the board changes, coalesced (a leading edge, "
            "a 250 ms window); "
            "a comment line every 15 s keeps the connection open. Each event has an `id:`; a "
            "client reconnecting with `Last-Event-ID` gets the current page at once if its copy "
            "is stale. The first event comes at once."
        ),
        parameters=[
            *openapi_parameters(*BOARD),
            OpenApiParameter("Last-Event-ID", str, OpenApiParameter.HEADER, description="The last `id:` received."),
        ],
        responses={(200, "text/event-stream"): SSE_EVENT, **ERRORS},
    )
    def get(self, request: Request) -> HttpResponse:
        event_id, data = board_event(self.board_query(request, now=clock.now()).board)
        body = f"retry: {RETRY_MS}\n\n".encode()
        if request.headers.get("Last-Event-ID") != event_id:
            body += board_frame(event_id, data)
        response = HttpResponse(body, content_type="text/event-stream; charset=utf-8")
        response["Cache-Control"] = "no-cache, no-store"
        return response
