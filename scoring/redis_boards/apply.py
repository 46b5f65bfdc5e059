"""The apply: events' points onto the boards, once per event id (the hot path of ingest).

`leaderboard:meta:pending` is a hash of event ids whose points are on the boards but whose
log row may not say `applied` yet. The apply script adds an id and its points in one atomic
step, and skips ids already there, so re-applying after a crash cannot count twice. Ids are
removed once Postgres has recorded them as applied (so the hash holds only in-flight events).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from scoring.boards import Board
from scoring.redis_boards.client import connection, script, text
from scoring.redis_boards.keys import PENDING_KEY, READY_KEY
from scoring.redis_boards.ready import NOT_READY, BoardsNotReady


class Increment(NamedTuple):
    """One event's points for one user on a set of boards (one per event: a named tuple,
    like `Contribution`)."""

    event_id: str
    user_id: int
    points: int
    boards: tuple[Board, ...]


# KEYS: ready, pending, then every board key of the batch.
# ARGV: expire-at (unix seconds, 0 = never) for each board key; the number of board sets,
#       then each set as <size> <key index>...; then per event <id> <member> <points> <set>.
# Per event: HSETNX marks it; only a first mark adds its points. Points are summed per
# (board, member) inside the script so each pair costs one ZINCRBY.
_APPLY_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 0} end
local n_boards = #KEYS - 2
-- A key of another type would fail ZINCRBY midway, after some boards were written: such
-- boards are not whole. Check before any write; drop the sentinel so that they are restored.
local pending_type = redis.call('TYPE', KEYS[2]).ok
if pending_type ~= 'none' and pending_type ~= 'hash' then redis.call('DEL', KEYS[1]); return {-1, 0} end
for k = 3, #KEYS do
  local t = redis.call('TYPE', KEYS[k]).ok
  if t ~= 'none' and t ~= 'zset' then redis.call('DEL', KEYS[1]); return {-1, 0} end
end
local i = 1
local expire = {}
for k = 1, n_boards do expire[k] = tonumber(ARGV[i]); i = i + 1 end
local n_sets = tonumber(ARGV[i]); i = i + 1
local sets = {}
for s = 1, n_sets do
  local size = tonumber(ARGV[i]); i = i + 1
  local set = {}
  for j = 1, size do set[j] = tonumber(ARGV[i]) + 2; i = i + 1 end
  sets[s] = set
end
local sums = {}
local applied, skipped = 0, 0
local n = #ARGV
while i <= n do
  local event_id, member, points, set = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), sets[tonumber(ARGV[i + 3])]
  i = i + 4
  if redis.call('HSETNX', KEYS[2], event_id, points) == 1 then
    applied = applied + 1
    for _, k in ipairs(set) do
      local board = sums[k]
      if board == nil then board = {}; sums[k] = board end
      board[member] = (board[member] or 0) + points
    end
  else
    skipped = skipped + 1
  end
end
for k, board in pairs(sums) do
  for member, points in pairs(board) do redis.call('ZINCRBY', KEYS[k], points, member) end
  local at = expire[k - 2]
  if at > 0 then redis.call('EXPIREAT', KEYS[k], at) end
end
return {applied, skipped}
"""


def boards_apply(increments: Sequence[Increment], *, expires: dict[Board, datetime | None]) -> tuple[int, int]:
    """Add each increment's points to its boards, once per event id, in one atomic script.

    Returns (applied, skipped): skipped events were already on the boards. Raises
    `BoardsNotReady` when the ready sentinel is missing; then nothing changed.
    """
    client = connection()
    key_index: dict[Board, int] = {}
    set_index: dict[int, int] = {}  # by the board set's identity: many events share one tuple
    set_args: list[int] = []
    event_args: list[str | int] = []
    for increment in increments:
        index = set_index.get(id(increment.boards))
        if index is None:
            index = set_index[id(increment.boards)] = len(set_index) + 1
            set_args.append(len(increment.boards))
            for board in increment.boards:
                set_args.append(key_index.setdefault(board, len(key_index) + 1))
        event_args += (increment.event_id, increment.user_id, increment.points, index)
    keys = [READY_KEY, PENDING_KEY, *(board.key for board in key_index)]
    expire_args = [int(expires[board].timestamp()) if expires.get(board) else 0 for board in key_index]
    args = [*expire_args, len(set_index), *set_args, *event_args]
    applied, skipped = script(_APPLY_LUA)(keys=keys, args=args, client=client)
    if applied == NOT_READY:
        raise BoardsNotReady("the boards are not ready (restore or rebuild in progress, or Redis was emptied)")
    return applied, skipped


def pending_clear(event_ids: Sequence[str]) -> None:
    """Forget the markers of events that Postgres now records as applied."""
    if event_ids:
        connection().hdel(PENDING_KEY, *event_ids)


def pending_has(event_id: str) -> bool:
    """Whether the event carries a pending marker (its points are on the boards)."""
    return bool(connection().hexists(PENDING_KEY, event_id))


def pending_sample(limit: int) -> list[str]:
    """Up to about `limit` event ids that carry a pending marker."""
    _, fields = connection().hscan(PENDING_KEY, 0, count=limit)
    return [text(f) for f in fields][:limit]
