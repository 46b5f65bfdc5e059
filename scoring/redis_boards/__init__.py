"""Redis: the boards and everything the service keeps beside them.

The rule: only this package knows Redis keys and sends Redis commands (and runs its Lua
scripts). Everything else calls the functions below: `from scoring import redis_boards`.

What it keeps in Redis, by module (the names themselves are all in `keys`):

- `apply`: the boards, sorted sets named by `boards.board_key` (member = user id, score =
  points), and `leaderboard:meta:pending`, the markers of events whose points are on the boards
  but whose log row may not say `applied` yet; one atomic script applies a batch once per event;
- `ready`: `leaderboard:meta:ready`, the sentinel, present exactly when the boards are whole
  and holding the token of the swap that put them in (`leaderboard:meta:paused` while a restore
  catches up); a missing sentinel is `BoardsNotReady`;
- `build`: `leaderboard:meta:build:<token>:<board key>`, boards a restore or rebuild builds
  aside (`BoardBuild`), renamed over the live boards at its swap;
- `read`: a page of a board, a member's place, ranks, whole boards, their keys and sizes;
- `archive`: boards past their retention, aggregated from the log by the API and kept a while;
- `members`: one contributor's member set on all its boards (exclusions), and the exclusions
  epoch that an archive is checked against;
- `heartbeat`: `leaderboard:meta:consumer:<durable>`, the consumers' heartbeat;
- `announce`: the pub/sub channel `leaderboard:boards:changed:<db>`, the keys of the boards
  each apply changed (the live pages follow it), and `RESULTS_KEY` when results are recorded;
- `limits`: `leaderboard:limits:*`, the abuse limits' token buckets and the leases of open
  streams and watches, shared by every process (docs/SECURITY.md);
- `client`: the Redis client and the registered Lua scripts.
"""

from scoring.redis_boards.announce import RESULTS_KEY, boards_announce, boards_changed, results_announce
from scoring.redis_boards.apply import Increment, boards_apply, pending_clear, pending_has, pending_sample
from scoring.redis_boards.archive import archive_exists, archive_store
from scoring.redis_boards.build import BoardBuild, BuildLost, builds_drop
from scoring.redis_boards.client import connection
from scoring.redis_boards.heartbeat import Heartbeat, consumer_status, heartbeat_write
from scoring.redis_boards.keys import ARCHIVE_INDEX, BUILD_PREFIX, PAUSED_KEY, PENDING_KEY, READY_KEY, archive_keys
from scoring.redis_boards.limits import (
    SLOT_ALL_FULL,
    SLOT_CLIENT_FULL,
    SLOT_HELD,
    bucket_take,
    slot_acquire,
    slot_release,
    slots_renew,
)
from scoring.redis_boards.members import MemberBoards, exclusions_epoch, members_set
from scoring.redis_boards.read import (
    BoardMember,
    BoardSlice,
    board_keys,
    board_member,
    board_size,
    board_slice,
    boards_read,
    members_ranks,
)
from scoring.redis_boards.ready import (
    BoardsNotReady,
    eviction_policy,
    is_ready,
    ready_clear,
    ready_pause,
    ready_resume,
    ready_token,
    server_run_id,
)

__all__ = [
    "ARCHIVE_INDEX",
    "BUILD_PREFIX",
    "PAUSED_KEY",
    "PENDING_KEY",
    "READY_KEY",
    "RESULTS_KEY",
    "SLOT_ALL_FULL",
    "SLOT_CLIENT_FULL",
    "SLOT_HELD",
    "BoardBuild",
    "BoardMember",
    "BoardSlice",
    "BoardsNotReady",
    "BuildLost",
    "Heartbeat",
    "Increment",
    "MemberBoards",
    "archive_exists",
    "archive_keys",
    "archive_store",
    "board_keys",
    "board_member",
    "board_size",
    "board_slice",
    "boards_announce",
    "boards_apply",
    "boards_changed",
    "boards_read",
    "bucket_take",
    "builds_drop",
    "connection",
    "consumer_status",
    "eviction_policy",
    "exclusions_epoch",
    "heartbeat_write",
    "is_ready",
    "members_ranks",
    "members_set",
    "pending_clear",
    "pending_has",
    "pending_sample",
    "ready_clear",
    "ready_pause",
    "ready_resume",
    "ready_token",
    "results_announce",
    "server_run_id",
    "slot_acquire",
    "slot_release",
    "slots_renew",
]
