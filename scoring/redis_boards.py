"""The only module that knows the Redis keys and the Lua scripts.

Five kinds of key live in Redis:

- the boards, sorted sets named by `boards.board_key`, member = user id, score = points;
- `leaderboard:meta:ready`, the sentinel: present exactly when the boards are whole. A restore
  or rebuild removes it first, and the apply script refuses to touch boards without it. It
  holds the token of the swap that put the boards in (also kept in Postgres, so that boards
  from an old dump are recognised); `leaderboard:meta:paused` holds it while a restore
  catches up, so that a restore that fails can give it back;
- `leaderboard:meta:pending`, a hash of event ids whose points are on the boards but whose
  log row may not say `applied` yet. The apply script adds an id and its points in one atomic
  step, and skips ids already there, so re-applying after a crash cannot count twice. Ids are
  removed once Postgres has recorded them as applied (so the hash holds only in-flight events);
- `leaderboard:meta:build:<token>:<board key>`, boards a restore or rebuild builds aside
  (`BoardBuild`), renamed over the live boards at its swap;
- the archives of boards past their retention, aggregated from the log by the API and kept a
  while (`archive_store`): `leaderboard:archive:<board key>` (a sorted set like a board),
  `leaderboard:archive-ready:<board key>` (its marker), `leaderboard:archive-index` (all of
  them by expiry) and `leaderboard:archive-build:<token>` (one being written);
- `leaderboard:meta:consumer:<durable>`, the consumers' heartbeat: when one last fetched, when
  one last applied a batch and what JetStream had pending, for the health-check.

And one pub/sub channel, `leaderboard:boards:changed:<db>`: after each apply, the keys of the
boards it changed (the live pages follow it). Channels are server-wide, so the name carries
the database number: two deployments or test runs on one server do not wake each other.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import redis
import redis.asyncio
from django_redis import get_redis_connection

from scoring.boards import BOARD_KEY_PATTERNS, KEY_PREFIX, Board

logger = logging.getLogger("leaderboard.redis")

READY_KEY = f"{KEY_PREFIX}:meta:ready"
PENDING_KEY = f"{KEY_PREFIX}:meta:pending"
PAUSED_KEY = f"{KEY_PREFIX}:meta:paused"  # the sentinel, kept aside during a restore's catch-up
BUILD_PREFIX = f"{KEY_PREFIX}:meta:build"
HEARTBEAT_PREFIX = f"{KEY_PREFIX}:meta:consumer"
HEARTBEAT_TTL = 86400  # a durable no consumer serves any more leaves no key behind for long
NOT_READY = -1


class BoardsNotReady(Exception):
    """The boards are being restored or rebuilt (or Redis was emptied): nothing was applied."""


@dataclass(frozen=True, slots=True)
class Increment:
    """One event's points for one user on a set of boards."""

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


def connection() -> redis.Redis:
    """The Redis client (django-redis's pool for the default cache)."""
    return get_redis_connection("default")


_apply_script = None


def _script(client: redis.Redis):
    global _apply_script
    if _apply_script is None:
        _apply_script = client.register_script(_APPLY_LUA)
    return _apply_script


def boards_apply(
    increments: Sequence[Increment], *, expires: dict[Board, datetime | None], client: redis.Redis | None = None
) -> tuple[int, int]:
    """Add each increment's points to its boards, once per event id, in one atomic script.

    Returns (applied, skipped): skipped events were already on the boards. Raises
    `BoardsNotReady` when the ready sentinel is missing; then nothing changed.
    """
    client = client or connection()
    key_index: dict[Board, int] = {}
    set_index: dict[tuple[Board, ...], int] = {}
    set_args: list[int] = []
    event_args: list[str | int] = []
    for increment in increments:
        index = set_index.get(increment.boards)
        if index is None:
            index = set_index[increment.boards] = len(set_index) + 1
            set_args.append(len(increment.boards))
            for board in increment.boards:
                set_args.append(key_index.setdefault(board, len(key_index) + 1))
        event_args += (increment.event_id, increment.user_id, increment.points, index)
    keys = [READY_KEY, PENDING_KEY, *(board.key for board in key_index)]
    expire_args = [int(expires[board].timestamp()) if expires.get(board) else 0 for board in key_index]
    args = [*expire_args, len(set_index), *set_args, *event_args]
    applied, skipped = _script(client)(keys=keys, args=args, client=client)
    if applied == NOT_READY:
        raise BoardsNotReady("the boards are not ready (restore or rebuild in progress, or Redis was emptied)")
    return applied, skipped


def pending_clear(event_ids: Sequence[str], client: redis.Redis | None = None) -> None:
    """Forget the markers of events that Postgres now records as applied."""
    if event_ids:
        (client or connection()).hdel(PENDING_KEY, *event_ids)


def pending_has(event_id: str, client: redis.Redis | None = None) -> bool:
    """Whether the event carries a pending marker (its points are on the boards)."""
    return bool((client or connection()).hexists(PENDING_KEY, event_id))


def pending_sample(limit: int, client: redis.Redis | None = None) -> list[str]:
    """Up to about `limit` event ids that carry a pending marker."""
    _, fields = (client or connection()).hscan(PENDING_KEY, 0, count=limit)
    return [f.decode() if isinstance(f, bytes) else f for f in fields][:limit]


def is_ready(client: redis.Redis | None = None) -> bool:
    return bool((client or connection()).exists(READY_KEY))


def ready_token(client: redis.Redis | None = None) -> str | None:
    """The token the sentinel holds (set by the swap that put the boards in), or None."""
    token = (client or connection()).get(READY_KEY)
    return token.decode() if isinstance(token, bytes) else token


# Pause and resume: RENAME only (Redis never refuses it for memory), so that a restore failing
# under maxmemory can give the live boards their sentinel back.
_PAUSE_LUA = """
local token = redis.call('GET', KEYS[1])
if token then redis.call('RENAME', KEYS[1], KEYS[2]) end
return token
"""
_RESUME_LUA = """
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('RENAME', KEYS[2], KEYS[1]); return 1 end
return 0
"""


def ready_pause(client: redis.Redis | None = None) -> str | None:
    """Take the sentinel away (no apply from here) but keep it aside, so that `ready_resume` can
    put the same one back if the boards it stands for stay. Returns its token, or None."""
    client = client or connection()
    token = client.eval(_PAUSE_LUA, 2, READY_KEY, PAUSED_KEY)
    return token.decode() if isinstance(token, bytes) else token


def ready_resume(client: redis.Redis | None = None) -> bool:
    """Put back the sentinel `ready_pause` kept aside — only if it is still there: Redis emptied
    meanwhile took it with the boards, and then the boards must be restored, not resumed."""
    return bool((client or connection()).eval(_RESUME_LUA, 2, READY_KEY, PAUSED_KEY))


def server_run_id(client: redis.Redis | None = None) -> str | None:
    """The Redis server's run id, new at every start; None when INFO is disabled or renamed."""
    try:
        return (client or connection()).info("server").get("run_id")
    except redis.ResponseError:
        return None


def eviction_policy(client: redis.Redis | None = None) -> str | None:
    """Redis's maxmemory-policy; None when CONFIG is disabled or renamed (managed services)."""
    try:
        found = (client or connection()).config_get("maxmemory-policy")
    except redis.ResponseError:
        return None
    value = found.get("maxmemory-policy") or found.get(b"maxmemory-policy")
    return value.decode() if isinstance(value, bytes) else value


def ready_clear(client: redis.Redis | None = None) -> None:
    """Stop all applying until `build_swap` sets the sentinel again."""
    (client or connection()).delete(READY_KEY)


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """What the consumers of one durable last said about themselves (unix times)."""

    seen_at: float  # a consumer's loop last went round (a batch, or a fetch that found nothing)
    last_batch_at: float | None  # the last batch applied (None: none since Redis was emptied)
    pending: int | None  # JetStream's num_pending for the durable, as last read


def heartbeat_write(durable: str, heartbeat: Heartbeat, client: redis.Redis | None = None) -> None:
    """Record a consumer's heartbeat (every consumer of the durable writes the same key)."""
    value = json.dumps(
        {"seen_at": heartbeat.seen_at, "last_batch_at": heartbeat.last_batch_at, "pending": heartbeat.pending}
    )
    (client or connection()).set(f"{HEARTBEAT_PREFIX}:{durable}", value, ex=HEARTBEAT_TTL)


def consumer_status(durable: str, client: redis.Redis | None = None) -> tuple[Heartbeat | None, bool]:
    """The durable's heartbeat (None if no consumer wrote one) and whether the boards are ready,
    in one round trip."""
    pipe = (client or connection()).pipeline(transaction=False)
    pipe.get(f"{HEARTBEAT_PREFIX}:{durable}")
    pipe.exists(READY_KEY)
    raw, ready = pipe.execute()
    if raw is None:
        return None, bool(ready)
    fields = json.loads(raw)
    return Heartbeat(fields["seen_at"], fields["last_batch_at"], fields["pending"]), bool(ready)


def board_keys(client: redis.Redis | None = None) -> Iterator[str]:
    """Every board key in Redis (SCAN, never KEYS)."""
    client = client or connection()
    for pattern in BOARD_KEY_PATTERNS:
        for key in client.scan_iter(match=pattern, count=1000):
            yield key.decode() if isinstance(key, bytes) else key


class BuildLost(Exception):
    """Boards built aside lost members before the swap: Redis was emptied, or a board expired."""


class BoardBuild:
    """Boards built aside under temporary keys, then swapped in at once (restore, rebuild).

    One thread at a time uses a build: its pipeline is not shared."""

    def __init__(self, client: redis.Redis | None = None, chunk: int = 10000) -> None:
        self.client = client or connection()
        self.token = uuid.uuid4().hex
        self.chunk = chunk
        self._built: dict[str, str] = {}  # board key -> temporary key
        self._written: dict[str, int] = {}  # board key -> members written when it was built
        self._pipe = self.client.pipeline(transaction=False)
        self._queued = 0

    @property
    def boards(self) -> int:
        """How many boards are built."""
        return len(self._built)

    def add(self, board: Board, scores: Iterable[tuple[int | str, int]], expire_at: datetime | None) -> None:
        """Queue one board's (user id, score) pairs under a temporary key. On a board already
        built, the scores are added to its members' (the restore's catch-up)."""
        temp = self._built.get(board.key)
        if temp is not None:
            for user_id, score in scores:
                self._pipe.zincrby(temp, score, str(user_id))
                self._queued += 1
        else:
            temp = f"{BUILD_PREFIX}:{self.token}:{board.key}"
            batch = {str(user_id): score for user_id, score in scores}
            if not batch:
                return  # an empty board is no key at all
            items = list(batch.items())
            for start in range(0, len(items), self.chunk):
                self._pipe.zadd(temp, dict(items[start : start + self.chunk]))
            if expire_at is not None:
                self._pipe.expireat(temp, int(expire_at.timestamp()))
            self._queued += len(batch)
            self._built[board.key] = temp
            self._written[board.key] = len(batch)
        if self._queued >= self.chunk:
            self.flush()

    def flush(self) -> None:
        """Send what is queued (one round trip)."""
        self._pipe.execute()
        self._queued = 0

    def check(self, boards: Iterable[Board] | None = None) -> None:
        """Raise BuildLost unless every built board (or those of `boards` that are built) still
        holds at least the members written to it (one pipelined ZCARD per board). A FLUSHDB
        between two writes of a big board would leave a board that the swap's RENAME cannot
        tell from a whole one."""
        self.flush()
        if boards is None:
            built = list(self._built.items())
        else:
            built = [(b.key, self._built[b.key]) for b in dict.fromkeys(boards) if b.key in self._built]
        pipe = self.client.pipeline(transaction=False)
        for _, temp in built:
            pipe.zcard(temp)
        for (key, _), found in zip(built, pipe.execute(), strict=True):
            if found < self._written[key]:
                raise BuildLost(f"{key} holds {found} of the {self._written[key]} members built")

    def swap(self, pending: dict[str, int]) -> None:
        """Atomically: replace every board with the built ones, reset the pending markers to
        `pending` (event id -> points, for events the build counted that the log does not yet
        record as applied), and set the ready sentinel."""
        self.flush()
        stale = [key for key in board_keys(self.client) if key not in self._built]
        pipe = self.client.pipeline(transaction=True)
        # UNLINK first: the old boards leave the keyspace at once and their memory is freed by a
        # background thread. A RENAME over them would free a million members inside the MULTI,
        # holding up every other client (applies, reads) for half a second.
        for key, temp in self._built.items():
            pipe.unlink(key)
            pipe.rename(temp, key)
        for start in range(0, len(stale), 1000):
            pipe.unlink(*stale[start : start + 1000])
        pipe.unlink(PENDING_KEY)
        items = list(pending.items())
        for start in range(0, len(items), 1000):
            pipe.hset(PENDING_KEY, mapping=dict(items[start : start + 1000]))
        pipe.delete(PAUSED_KEY)
        pipe.set(READY_KEY, self.token)
        pipe.execute()

    def members(self) -> int:
        """Members on the boards swapped in (after `swap`)."""
        pipe = self.client.pipeline(transaction=False)
        for key in self._built:
            pipe.zcard(key)
        return sum(pipe.execute())

    def discard(self) -> None:
        """Drop what was built (after a failure)."""
        for temp in self._built.values():
            self.client.delete(temp)
        self._built.clear()


def builds_drop(client: redis.Redis | None = None) -> int:
    """Delete boards half-built by a restore that died (their temporary keys have no TTL); the
    caller makes sure no build is running. Returns how many keys went."""
    client = client or connection()
    stale = list(client.scan_iter(match=f"{BUILD_PREFIX}:*", count=1000))
    for start in range(0, len(stale), 1000):
        client.unlink(*stale[start : start + 1000])
    return len(stale)


def boards_read(keys: Sequence[str], client: redis.Redis | None = None) -> list[dict[str, int]]:
    """Every member and score of each board at `keys` (one pipelined round trip); a missing
    board reads as empty."""
    pipe = (client or connection()).pipeline(transaction=False)
    for key in keys:
        pipe.zrange(key, 0, -1, withscores=True)
    return [{_member(m): int(score) for m, score in found} for found in pipe.execute()]


def board_size(key: str, client: redis.Redis | None = None) -> int:
    """How many members the board at `key` holds."""
    return (client or connection()).zcard(key)


def _member(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


# ---- reads (query API)
# Each read is one Lua script: one round trip whatever the page size, and one consistent view
# of the board, so the count of higher scores and the rows it ranks agree. Board order is
# ZREVRANGE's: score descending, then member descending byte-wise. Each read names a guard key
# that must exist for the board to be whole: the ready sentinel for a live board (a missing
# key then means "no entries", not "not restored yet"), an archive's marker for an archive.

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

_read_scripts: dict[str, object] = {}


def _read_script(client: redis.Redis, source: str):
    script = _read_scripts.get(source)
    if script is None:
        script = _read_scripts[source] = client.register_script(source)
    return script


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


def board_slice(
    key: str, *, start: int, stop: int, guard: str = READY_KEY, client: redis.Redis | None = None
) -> BoardSlice:
    """Rows `start`..`stop` (inclusive) of the board at `key`; a missing key is an empty board.
    Raises `BoardsNotReady` when `guard` is missing (the boards are being restored)."""
    client = client or connection()
    found = _read_script(client, _SLICE_LUA)(keys=[key, guard], args=[start, stop], client=client)
    if found[0] == NOT_READY:
        raise BoardsNotReady(f"{guard} is missing")
    total, higher, flat = found
    return BoardSlice(total, start, higher, _rows(flat))


def board_member(
    key: str, *, user_id: int, around: int | None, guard: str = READY_KEY, client: redis.Redis | None = None
) -> BoardMember | None:
    """The user's place on the board at `key` with `around` rows either side (clipped at the
    ends, the user's own row included); None when the user is not on the board. Raises
    `BoardsNotReady` when `guard` is missing."""
    client = client or connection()
    args = [user_id, -1 if around is None else around]
    found = _read_script(client, _MEMBER_LUA)(keys=[key, guard], args=args, client=client)
    if not found:
        return None
    if found[0] == NOT_READY:
        raise BoardsNotReady(f"{guard} is missing")
    total, score, position, higher = found[0], _points(found[1]), found[2], found[3]
    rows = BoardSlice(total, found[4], found[5], _rows(found[6])) if around is not None else None
    return BoardMember(total, score, position, higher, rows)


# ---- archives: boards past their retention, aggregated from the log once and kept a while
# `leaderboard:archive:<board key>` is the sorted set (absent when the board has no entries),
# `leaderboard:archive-ready:<board key>` its marker, which expires a minute before the set so
# that a present marker always means a whole set. `leaderboard:archive-index` scores every
# archive by its expiry, to keep at most `max_boards` of them (Redis runs with noeviction: an
# unbounded cache filled by reads would refuse the consumer's writes).

ARCHIVE_PREFIX = f"{KEY_PREFIX}:archive"
ARCHIVE_READY_PREFIX = f"{KEY_PREFIX}:archive-ready"
ARCHIVE_INDEX = f"{KEY_PREFIX}:archive-index"
ARCHIVE_GRACE = 60  # seconds the set outlives its marker
EXCLUSIONS_EPOCH_KEY = f"{KEY_PREFIX}:meta:exclusions-epoch"


def archive_keys(board: Board) -> tuple[str, str]:
    """(the archive's sorted set, its marker) for `board`."""
    return f"{ARCHIVE_PREFIX}:{board.key}", f"{ARCHIVE_READY_PREFIX}:{board.key}"


def archive_exists(board: Board, client: redis.Redis | None = None) -> bool:
    return bool((client or connection()).exists(archive_keys(board)[1]))


def archive_store(
    board: Board,
    scores: Iterable[tuple[int, int]],
    *,
    ttl: int,
    max_boards: int,
    epoch: int,
    client: redis.Redis | None = None,
    chunk: int = 10000,
) -> bool:
    """Keep `board`'s (user id, score) pairs as an archive for `ttl` seconds (written aside,
    then renamed in, so a reader never sees half of it), then drop the oldest archives beyond
    `max_boards`. False, with nothing kept, when an exclusion sync ran since `epoch` was read
    (`exclusions_epoch`, before the aggregate): the pairs may hold who is excluded now."""
    client = client or connection()
    key, marker = archive_keys(board)
    temp = f"{ARCHIVE_PREFIX}-build:{uuid.uuid4().hex}"
    written = 0
    batch: dict[str, int] = {}
    for user_id, score in scores:
        batch[str(user_id)] = score
        if len(batch) >= chunk:
            written += _archive_chunk(client, temp, batch, ttl)
            batch = {}
    if batch:
        written += _archive_chunk(client, temp, batch, ttl)
    now = int(time.time())
    swap = client.pipeline(transaction=True)
    swap.watch(EXCLUSIONS_EPOCH_KEY)
    if int(swap.get(EXCLUSIONS_EPOCH_KEY) or 0) != epoch:
        swap.reset()
        client.delete(temp)
        return False
    swap.multi()
    if written:
        swap.rename(temp, key)
        swap.expire(key, ttl + ARCHIVE_GRACE)
    else:
        swap.delete(key)
    swap.set(marker, written, ex=ttl)
    swap.zadd(ARCHIVE_INDEX, {board.key: now + ttl})
    swap.zremrangebyscore(ARCHIVE_INDEX, "-inf", now)
    try:
        swap.execute()
    except redis.WatchError:  # a sync ran meanwhile
        client.delete(temp)
        return False
    excess = client.zcard(ARCHIVE_INDEX) - max_boards
    if excess > 0:  # the oldest others (the one just stored may share their second)
        oldest = [k.decode() if isinstance(k, bytes) else k for k in client.zrange(ARCHIVE_INDEX, 0, excess)]
        for old in [k for k in oldest if k != board.key][:excess]:
            client.delete(f"{ARCHIVE_READY_PREFIX}:{old}", f"{ARCHIVE_PREFIX}:{old}")
            client.zrem(ARCHIVE_INDEX, old)
    return True


def _archive_chunk(client: redis.Redis, temp: str, batch: dict[str, int], ttl: int) -> int:
    pipe = client.pipeline(transaction=False)
    pipe.zadd(temp, batch)
    pipe.expire(temp, ttl + ARCHIVE_GRACE)  # a worker killed mid-way leaves nothing for ever
    pipe.execute()
    return len(batch)


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


def board_ranks(
    key: str, *, user_ids: Sequence[int], guard: str = READY_KEY, client: redis.Redis | None = None
) -> dict[int, int]:
    """The competition rank of each of `user_ids` on the board at `key` (one round trip);
    users not on the board are left out. Raises `BoardsNotReady` when `guard` is missing."""
    if not user_ids:
        return {}
    client = client or connection()
    ranks = _read_script(client, _RANKS_LUA)(keys=[key, guard], args=list(user_ids), client=client)
    if ranks and ranks[0] == NOT_READY:
        raise BoardsNotReady(f"{guard} is missing")
    return {user_id: rank for user_id, rank in zip(user_ids, ranks, strict=True) if rank}


# ---- announcements: which boards changed (the live pages listen)

CHANGED_CHANNEL = f"{KEY_PREFIX}:boards:changed"  # + ":<db>": channels span a server's databases


def _changed_channel(client: redis.Redis) -> str:
    return f"{CHANGED_CHANNEL}:{client.connection_pool.connection_kwargs.get('db', 0)}"


def boards_announce(boards: Iterable[Board], client: redis.Redis | None = None) -> None:
    """Tell listeners (the SSE stream) that these boards changed: one PUBLISH per batch, the
    board keys separated by spaces. Fire and forget: nobody listening costs nothing, a failure
    is logged and never fails the apply, and a listener that misses one re-reads the board on
    the next (or when it resubscribes)."""
    keys = " ".join(sorted({board.key for board in boards}))
    if not keys:
        return
    client = client or connection()
    try:
        client.publish(_changed_channel(client), keys)
    except redis.RedisError as exc:  # the boards are right; only the live pages are late
        logger.warning("could not announce changed boards: %s", exc)


async def boards_changed(*, on_subscribed: Callable[[], None] | None = None) -> AsyncIterator[list[str]]:
    """The keys of the boards each announcement names, as they come (redis.asyncio, for the
    stream's event loop). `on_subscribed` runs once the subscription is in place."""
    from django.conf import settings

    client = redis.asyncio.Redis.from_url(settings.REDIS_URL, health_check_interval=30)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.subscribe(_changed_channel(client))
        if on_subscribed is not None:
            on_subscribed()
        async for message in pubsub.listen():
            if message["type"] == "message":
                yield message["data"].decode().split()
    finally:
        await pubsub.aclose()
        await client.aclose()


# ---- exclusions: one contributor's member on every board it is on, set to what the log says


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


def members_set(members: Sequence[MemberBoards], client: redis.Redis | None = None) -> bool:
    """Set each contributor's member on its boards, in one atomic script, and move the
    exclusions epoch on (an archive aggregated before cannot be stored after: `archive_store`).
    False, with nothing changed, when the boards are not ready: the restore to come builds
    them from the log, exclusions included."""
    client = client or connection()
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
    return _read_script(client, _MEMBERS_SET_LUA)(keys=keys, args=args, client=client) != NOT_READY


def exclusions_epoch(client: redis.Redis | None = None) -> int:
    """How many exclusion syncs Redis has seen (an archive remembers the one it was built at)."""
    return int((client or connection()).get(EXCLUSIONS_EPOCH_KEY) or 0)
