"""The archives: boards past their retention, aggregated from the log once and kept a while.

`leaderboard:archive:<board key>` is the sorted set (absent when the board has no entries),
`leaderboard:archive-ready:<board key>` its marker, which expires a minute before the set so
that a present marker always means a whole set. `leaderboard:archive-index` scores every
archive by its expiry, to keep at most `max_boards` of them (Redis runs with noeviction: an
unbounded cache filled by reads would refuse the consumer's writes). An archive is read like a
live board (`board_slice` and the others), with its marker as the guard.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

import redis

from scoring.boards import Board
from scoring.redis_boards.client import connection, text
from scoring.redis_boards.keys import (
    ARCHIVE_INDEX,
    EXCLUSIONS_EPOCH_KEY,
    archive_build_key,
    archive_keys,
    archive_keys_of,
)

ARCHIVE_GRACE = 60  # seconds the set outlives its marker


def archive_exists(board: Board) -> bool:
    """Whether `board` has an archive (its marker is there)."""
    return bool(connection().exists(archive_keys(board)[1]))


def archive_store(
    board: Board,
    scores: Iterable[tuple[int, int]],
    *,
    ttl: int,
    max_boards: int,
    epoch: int,
    chunk: int = 10000,
) -> bool:
    """Keep `board`'s (user id, score) pairs as an archive for `ttl` seconds (written aside,
    then renamed in, so a reader never sees half of it), then drop the oldest archives beyond
    `max_boards`. False, with nothing kept, when an exclusion sync ran since `epoch` was read
    (`exclusions_epoch`, before the aggregate): the pairs may hold who is excluded now."""
    client = connection()
    key, marker = archive_keys(board)
    temp = archive_build_key(uuid.uuid4().hex)
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
        oldest = [text(k) for k in client.zrange(ARCHIVE_INDEX, 0, excess)]
        for old in [k for k in oldest if k != board.key][:excess]:
            old_key, old_marker = archive_keys_of(old)
            client.delete(old_marker, old_key)
            client.zrem(ARCHIVE_INDEX, old)
    return True


def _archive_chunk(client: redis.Redis, temp: str, batch: dict[str, int], ttl: int) -> int:
    pipe = client.pipeline(transaction=False)
    pipe.zadd(temp, batch)
    pipe.expire(temp, ttl + ARCHIVE_GRACE)  # a worker killed mid-way leaves nothing for ever
    pipe.execute()
    return len(batch)
