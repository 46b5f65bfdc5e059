"""The expected boards, computed from the events alone — independent of the service's
SQL, Lua and bookkeeping — and the boards as Redis holds them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from django.conf import settings

from scoring.boards import BOARD_KEY_PATTERNS, boards_of, is_retained
from scoring.rules import Contribution, ScoringTable, points
from scoring.wire import InvalidEvent, decode


def valid_events(messages: Iterable[bytes]) -> list[Contribution]:
    """The distinct valid events among wire messages (first of each id wins)."""
    seen: dict[str, Contribution] = {}
    for data in messages:
        try:
            contribution = decode(data)
        except InvalidEvent:
            continue
        seen.setdefault(contribution.event_id, contribution)
    return list(seen.values())


def expected_boards(contributions: Iterable[Contribution], now: datetime | None = None) -> dict[str, dict[str, int]]:
    """{board key: {user id: score}} for the distinct events, retained boards only."""
    now = now or datetime.now(UTC)
    table = ScoringTable.from_mapping(settings.SCORING)
    boards: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    seen: set[str] = set()
    for c in contributions:
        if c.event_id in seen:
            continue
        seen.add(c.event_id)
        earned = points(c, table)
        if earned == 0:
            continue
        for board in boards_of(c.project_id, c.occurred_at):
            if is_retained(board, now, settings.BOARD_RETENTION_DAYS):
                boards[board.key][str(c.user_id)] += earned
    return {key: dict(members) for key, members in boards.items()}


def redis_boards_state(client) -> dict[str, dict[str, int]]:
    """Every board in Redis as {key: {member: score}}."""
    state = {}
    for pattern in BOARD_KEY_PATTERNS:
        for key in client.scan_iter(match=pattern, count=1000):
            key = key.decode() if isinstance(key, bytes) else key
            members = client.zrange(key, 0, -1, withscores=True)
            state[key] = {(m.decode() if isinstance(m, bytes) else m): int(s) for m, s in members}
    return state
