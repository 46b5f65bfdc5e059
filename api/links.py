"""Pagination links: one way to write the `next` and `previous` URLs of every paged answer.

A link names the board it came from in full (so it stays on that board when the current
period rolls over) and the page's own parameters. Board values were validated (a timeframe,
a period of digits, "-", "W" or "all", integers), so only strings need quoting: urlencode was
a tenth of a board read.
"""

from __future__ import annotations

from urllib.parse import quote

from api.cursor import encode_cursor
from scoring.boards import GLOBAL, Board
from scoring.selectors import EventPosition


def link(base: str, board: Board | None = None, **params: int | str) -> str:
    """`base` (an absolute URL without its query) with `board` named in full and `params`."""
    parts = []
    if board is not None:
        parts.append(f"timeframe={board.timeframe.value}&period={board.period}")
        if board.project_id != GLOBAL:
            parts.append(f"project_id={board.project_id}")
    parts.extend(
        f"{name}={value}" if isinstance(value, int) else f"{name}={quote(value, safe='')}"
        for name, value in params.items()
    )
    return f"{base}?{'&'.join(parts)}"


def previous_offset(*, offset: int, limit: int, total: int) -> int | None:
    """Where the page before the one at `offset` starts (None on the first page): `limit`
    rows back, and never past the last full page (an offset beyond the end steps back into it)."""
    return max(0, min(offset - limit, total - limit)) if offset > 0 else None


def offset_links(
    base: str, board: Board | None = None, *, limit: int, offset: int, total: int
) -> tuple[str | None, str | None]:
    """The (next, previous) links of an offset-paged answer; None where there is no such page."""
    following = link(base, board, limit=limit, offset=offset + limit) if offset + limit < total else None
    before = previous_offset(offset=offset, limit=limit, total=total)
    return following, (link(base, board, limit=limit, offset=before) if before is not None else None)


def cursor_link(base: str, board: Board, *, limit: int, position: EventPosition | None) -> str | None:
    """A cursor-paged answer's link to `position` (None: no such page)."""
    if position is None:
        return None
    return link(base, board, limit=limit, cursor=encode_cursor(position))
