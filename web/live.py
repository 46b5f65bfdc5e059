"""The live stream's pure parts: which board a stream URL names, and the SSE frames. No I/O.

`GET /v1/stream?timeframe=&period=&project_id=` (SPEC §11) names a board as the API does. The
stream worker (`web.worker`) takes over only the queries `stream_board` accepts; anything else
goes on to Django, whose view answers the API's 400 — so the rules stay the API's.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qs

from scoring import clock
from scoring.boards import GLOBAL, Board, Timeframe, period_end, period_of, validate_period

STREAM_PATH = "/v1/stream"
STREAM_PARAMS = ("timeframe", "period", "project_id")
U64_MAX = 2**64 - 1
RETRY_MS = 1000  # how soon a browser reconnects after the stream drops

RESPONSE_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream; charset=utf-8\r\n"
    b"Cache-Control: no-cache, no-store\r\n"
    b"X-Accel-Buffering: no\r\n"
    b"Connection: close\r\n"
    b"\r\n"
) + f"retry: {RETRY_MS}\n\n".encode()
HEARTBEAT = b": heartbeat\n\n"


def stream_board(query: str, *, now: datetime | None = None) -> Board | None:
    """The board a stream's query string names, or None when it is not a plain valid one
    (unknown or repeated parameters, a bad value): Django's view then answers with the 400."""
    try:
        values = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        return None
    if any(name not in STREAM_PARAMS or len(given) != 1 for name, given in values.items()):
        return None
    try:
        timeframe = Timeframe(values.get("timeframe", [Timeframe.ALL_TIME.value])[0])
        period = values["period"][0] if "period" in values else period_of(timeframe, now or clock.now())
        validate_period(timeframe, period)
        period_end(timeframe, period)
    except (ValueError, OverflowError):
        return None
    project = values.get("project_id", [None])[0]
    if project is None:
        return Board(GLOBAL, timeframe, period)
    if not (project.isascii() and project.isdigit() and len(project) <= 20 and 1 <= int(project) <= U64_MAX):
        return None
    return Board(int(project), timeframe, period)


def board_frame(event_id: str, data: bytes) -> bytes:
    """One `board` event: its id (the page's digest) and its JSON on one data line."""
    return b"id: " + event_id.encode() + b"\nevent: board\ndata: " + data + b"\n\n"
