"""Reads of the boards: a page of one (the query API), a member's place, ranks, whole boards
(verify), their keys and sizes.

Each read of the query API is one Lua script: one round trip whatever the page size, and one
consistent view of the board, so the count of higher scores and the rows it ranks agree. Board
order is ZREVRANGE's: score descending, then member descending byte-wise. Each read names a
guard key that must exist for the board to be whole: the ready sentinel for a live board (a
missing key then means "no entries", not "not restored yet"), an archive's marker for an archive.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from scoring.redis_boards.client import connection, script, text
from scoring.redis_boards.keys import BOARD_KEY_PATTERNS, READY_KEY
from scoring.redis_boards.ready import NOT_READY, BoardsNotReady

# KEYS: the board, its guard. ARGV: start, stop (0-based, inclusive).
# Returns {-1} without the guard; else {size, members scoring more than the first row,
# {member, score, ...}}.
_SLICE_LUA = """
if redis.call('EXISTS', KEYS[2]) == 0 then return {-1} end
local rows = redis.call('ZREVRANGE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES')
local higher = 0
if #rows > 0 then higher = redis.call('ZCOUNT', KEYS[1], '(' .. rows[2], '+inf') end
return {redis.call('ZCARD', KEYS[1]), higher, rows}
"""

# KEYS: the board, its guard. ARGV: member, around (-1: no rows around).
# Returns {-1} without the guard; {} when the member is not on the board; else {size, score, position, members scoring
# more, and with around: first position, members scoring more than the first row, rows}.
_MEMBER_LUA = """
if redis.call('EXISTS', KEYS[2]) == 0 then return {-1} end
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return {} end
local size = redis.call('ZCARD', KEYS[1])
local position = redis.call('ZREVRANK', KEYS[1], ARGV[1])
local higher = redis.call('ZCOUNT', KEYS[1], '(' .. score, '+inf')
local around = tonumber(ARGV[2])
if around < 0 then return {size, score, position, higher} end
local first = math.max(0, position - around)
local rows = redis.call('ZREVRANGE', KEYS[1], first, position + around, 'WITHSCORES')
local first_higher = redis.call('ZCOUNT', KEYS[1], '(' .. rows[2], '+inf')
return {size, score, position, higher, first, first_higher, rows}
"""

# KEYS: the board, its guard. ARGV: members. Returns {-1} without the guard; else, per member,
# its rank (1 + members scoring strictly more) or 0 when it is not on the board.
_RANKS_LUA = """
if redis.call('EXISTS', KEYS[2]) == 0 then return {-1} end
local ranks = {}
for i, member in ipairs(ARGV) do
  local score = redis.call('ZSCORE', KEYS[1], member)
  if score then ranks[i] = redis.call('ZCOUNT', KEYS[1], '(' .. score, '+inf') + 1 else ranks[i] = 0 end
end
return ranks
"""


def _points(raw: bytes | str) -> int:
    """A board score as Redis replies it ("120", or "1.2e+17" when large) as an int."""
    try:
        return int(raw)
    except ValueError:
        return int(float(raw))


def _rows(flat: Sequence[bytes | str]) -> list[tuple[int, int]]:
    return [(int(flat[i]), _points(flat[i + 1])) for i in range(0, len(flat), 2)]


@dataclass(frozen=True, slots=True)
class BoardSlice:
    """Consecutive rows (user id, score) of a board from 0-based position `start`; `higher`
    counts the members scoring strictly more than the first row; `total` is the board's size."""

    total: int
    start: int
    higher: int
    rows: list[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class BoardMember:
    """One member of a board: its score, 0-based position, how many score strictly more,
    the board's size, and the rows around it when asked for."""

    total: int
    score: int
    position: int
    higher: int
    around: BoardSlice | None


def board_slice(key: str, *, start: int, stop: int, guard: str = READY_KEY) -> BoardSlice:
    """Rows `start`..`stop` (inclusive) of the board at `key`; a missing key is an empty board.
    Raises `BoardsNotReady` when `guard` is missing (the boards are being restored)."""
    found = script(_SLICE_LUA)(keys=[key, guard], args=[start, stop], client=connection())
    if found[0] == NOT_READY:
        raise BoardsNotReady(f"{guard} is missing")
    total, higher, flat = found
    return BoardSlice(total, start, higher, _rows(flat))


def board_member(key: str, *, user_id: int, around: int | None, guard: str = READY_KEY) -> BoardMember | None:
    """The user's place on the board at `key` with `around` rows either side (clipped at the
    ends, the user's own row included); None when the user is not on the board. Raises
    `BoardsNotReady` when `guard` is missing."""
    args = [user_id, -1 if around is None else around]
    found = script(_MEMBER_LUA)(keys=[key, guard], args=args, client=connection())
    if not found:
        return None
    if found[0] == NOT_READY:
        raise BoardsNotReady(f"{guard} is missing")
    total, score, position, higher = found[0], _points(found[1]), found[2], found[3]
    rows = BoardSlice(total, found[4], found[5], _rows(found[6])) if around is not None else None
    return BoardMember(total, score, position, higher, rows)


def members_ranks(key: str, *, user_ids: Sequence[int], guard: str = READY_KEY) -> dict[int, int]:
    """The competition rank of each of `user_ids` on the board at `key` (one round trip);
    users not on the board are left out. Raises `BoardsNotReady` when `guard` is missing."""
    if not user_ids:
        return {}
    ranks = script(_RANKS_LUA)(keys=[key, guard], args=list(user_ids), client=connection())
    if ranks and ranks[0] == NOT_READY:
        raise BoardsNotReady(f"{guard} is missing")
    return {user_id: rank for user_id, rank in zip(user_ids, ranks, strict=True) if rank}


def board_keys() -> Iterator[str]:
    """Every board key in Redis (SCAN, never KEYS)."""
    client = connection()
    for pattern in BOARD_KEY_PATTERNS:
        for key in client.scan_iter(match=pattern, count=1000):
            yield text(key)


def boards_read(keys: Sequence[str]) -> list[dict[str, int]]:
    """Every member and score of each board at `keys` (one pipelined round trip); a missing
    board reads as empty."""
    pipe = connection().pipeline(transaction=False)
    for key in keys:
        pipe.zrange(key, 0, -1, withscores=True)
    return [{text(m): int(score) for m, score in found} for found in pipe.execute()]


def board_size(key: str) -> int:
    """How many members the board at `key` holds."""
    return connection().zcard(key)
