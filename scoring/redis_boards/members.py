"""The exclusions' writes: one contributor's member on every board it is on, set to what the
log says, and the exclusions epoch, `leaderboard:meta:exclusions-epoch`, that every such sync
moves on (an archive aggregated before a sync is not stored after it: `archive_store`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from scoring.boards import Board
from scoring.redis_boards.client import connection, script
from scoring.redis_boards.keys import EXCLUSIONS_EPOCH_KEY, PENDING_KEY, READY_KEY, archive_keys
from scoring.redis_boards.ready import NOT_READY


@dataclass(frozen=True, slots=True)
class MemberBoards:
    """What one contributor's member should be on the boards it is on: `scores` on the live
    boards (empty: off them, the contributor is excluded), `archives` the expired boards whose
    archives hold it (dropped: aggregated again, with exclusions, on their next read) and
    `pending` the markers of its logged events not yet applied that `scores` counts."""

    user_id: int
    remove: tuple[Board, ...] = ()
    scores: tuple[tuple[Board, int, datetime | None], ...] = ()  # (board, score, expires at)
    archives: tuple[Board, ...] = ()
    pending: tuple[tuple[str, int], ...] = ()


# KEYS: ready, pending, epoch, then the boards the ops name, then the archive keys.
# ARGV: how many boards; then ops, each a letter and its arguments: R <key> <member> (remove),
# Z <key> <member> <score> <expire-at, 0 = never> (set), D <key> (delete), P <event id>
# <points> (mark). The boards' types are checked before any write, as the apply does.
_MEMBERS_SET_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
for k = 4, 3 + tonumber(ARGV[1]) do
  local t = redis.call('TYPE', KEYS[k]).ok
  if t ~= 'none' and t ~= 'zset' then redis.call('DEL', KEYS[1]); return -1 end
end
local i, n, ops = 2, #ARGV, 0
while i <= n do
  local op = ARGV[i]
  if op == 'R' then
    redis.call('ZREM', KEYS[tonumber(ARGV[i + 1])], ARGV[i + 2]); i = i + 3
  elseif op == 'Z' then
    local key = KEYS[tonumber(ARGV[i + 1])]
    redis.call('ZADD', key, ARGV[i + 3], ARGV[i + 2])
    if tonumber(ARGV[i + 4]) > 0 then redis.call('EXPIREAT', key, ARGV[i + 4]) end
    i = i + 5
  elseif op == 'D' then
    redis.call('DEL', KEYS[tonumber(ARGV[i + 1])]); i = i + 2
  else
    redis.call('HSET', KEYS[2], ARGV[i + 1], ARGV[i + 2]); i = i + 3
  end
  ops = ops + 1
end
redis.call('INCR', KEYS[3])
return ops
"""


def members_set(members: Sequence[MemberBoards]) -> bool:
    """Set each contributor's member on its boards, in one atomic script, and move the
    exclusions epoch on (an archive aggregated before cannot be stored after: `archive_store`).
    False, with nothing changed, when the boards are not ready: the restore to come builds
    them from the log, exclusions included."""
    boards = list(
        dict.fromkeys(
            [board.key for m in members for board in m.remove]
            + [board.key for m in members for board, _, _ in m.scores]
        )
    )
    archives = list(dict.fromkeys(key for m in members for board in m.archives for key in archive_keys(board)))
    index = {key: position for position, key in enumerate([*boards, *archives], start=4)}
    args: list[str | int] = [len(boards)]
    for member in members:
        for board in member.remove:
            args += ("R", index[board.key], member.user_id)
        for board, score, expire in member.scores:
            args += ("Z", index[board.key], member.user_id, score, int(expire.timestamp()) if expire else 0)
        for board in member.archives:
            for key in archive_keys(board):
                args += ("D", index[key])
        for event_id, points in member.pending:
            args += ("P", event_id, points)
    keys = [READY_KEY, PENDING_KEY, EXCLUSIONS_EPOCH_KEY, *boards, *archives]
    return script(_MEMBERS_SET_LUA)(keys=keys, args=args, client=connection()) != NOT_READY


def exclusions_epoch() -> int:
    """How many exclusion syncs Redis has seen (an archive remembers the one it was built at)."""
    return int(connection().get(EXCLUSIONS_EPOCH_KEY) or 0)
