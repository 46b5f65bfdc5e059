"""The events' cursor: an opaque token for a position in a user's events, given out in the
`next` and `previous` links and read back from the `cursor` parameter."""

from __future__ import annotations

from base64 import b64decode, b64encode
from datetime import UTC, datetime
from urllib import parse
from urllib.parse import urlencode

from api.bounds import ID_MAX
from api.query import BAD_CURSOR, QueryError
from scoring.selectors import EventPosition


def encode_cursor(position: EventPosition) -> str:
    """An opaque cursor: base64 of `p=<time>&i=<log id>` (and `&r=1` for a `previous` link)."""
    fields = {"p": position.occurred_at.astimezone(UTC).isoformat(), "i": position.id}
    if position.backwards:
        fields["r"] = 1
    return b64encode(urlencode(fields).encode("ascii")).decode("ascii")


def decode_cursor(encoded: str) -> EventPosition:
    """The position in a cursor `encode_cursor` wrote; anything else is a `QueryError` (a
    cursor is a parameter like any other), a time without a zone or an id out of range included."""
    try:
        tokens = parse.parse_qs(b64decode(encoded, validate=True).decode("ascii"), strict_parsing=True)
        if set(tokens) - {"r"} != {"p", "i"} or any(len(values) != 1 for values in tokens.values()):
            raise ValueError("not the cursor fields")
        (moment,), (raw_id,), backwards = tokens["p"], tokens["i"], tokens.get("r", ["0"])[0]
        occurred_at = datetime.fromisoformat(moment)
        if occurred_at.tzinfo is None or not (raw_id.isascii() and raw_id.isdigit()) or backwards not in ("0", "1"):
            raise ValueError("a naive time, or an id or direction that is not ours")
        if not 0 < int(raw_id) <= ID_MAX:
            raise ValueError("id out of range")
        return EventPosition(occurred_at.astimezone(UTC), int(raw_id), backwards == "1")
    except (ValueError, OverflowError, UnicodeDecodeError) as exc:
        raise QueryError({"cursor": [BAD_CURSOR]}) from exc
