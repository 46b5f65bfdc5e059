"""The live stream's pure parts: which board a stream URL names, and the SSE frames. No I/O.

`GET /v1/stream?timeframe=&period=&project_id=` (SPEC §11) names a board as the API does, read
by the same parser (`api.query.board_query_parse`). The stream worker (`web.worker`) takes over
only the queries `stream_board` accepts; anything else goes on to Django, whose view answers
the API's 400 with the same parser's problems.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import TooManyFieldsSent

from api.query import QueryError, board_query_parse, query_values
from scoring import clock
from scoring.boards import Board

STREAM_PATH = "/v1/stream"
RETRY_MS = 1000  # how soon a browser reconnects after the stream drops

RESPONSE_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream; charset=utf-8\r\n"
    b"Cache-Control: no-cache, no-store\r\n"
    b"X-Accel-Buffering: no\r\n"
    b"X-Content-Type-Options: nosniff\r\n"
    b"Connection: close\r\n"
    b"\r\n"
) + f"retry: {RETRY_MS}\n\n".encode()
HEARTBEAT = b": heartbeat\n\n"


def stream_board(query: str, *, now: datetime | None = None) -> Board | None:
    """The board a stream's query string names, or None when it names none (unknown or
    repeated parameters, a bad value): Django's view then answers with the 400."""
    try:
        return board_query_parse(query_values(query), now=now or clock.now()).board
    except (QueryError, TooManyFieldsSent):
        return None


def board_frame(event_id: str, data: bytes) -> bytes:
    """One `board` event: its id (the page's digest) and its JSON on one data line."""
    return b"id: " + event_id.encode() + b"\nevent: board\ndata: " + data + b"\n\n"
