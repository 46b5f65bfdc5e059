"""Boards built aside, then swapped in at once: what a restore or a rebuild writes.

A build writes each board under `leaderboard:meta:build:<token>:<board key>`, checks that
nothing was lost meanwhile, and its swap renames them over the live boards, resets the
pending markers and sets the ready sentinel to its token, in one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from scoring.boards import Board
from scoring.redis_boards.client import connection
from scoring.redis_boards.keys import BUILD_PATTERN, PAUSED_KEY, PENDING_KEY, READY_KEY, build_key
from scoring.redis_boards.read import board_keys


class BuildLost(Exception):
    """Boards built aside lost members before the swap: Redis was emptied, or a board expired."""


class BoardBuild:
    """Boards built aside under temporary keys, then swapped in at once (restore, rebuild).

    One thread at a time uses a build: its pipeline is not shared."""

    def __init__(self, chunk: int = 10000) -> None:
        self._client = connection()
        self.token = uuid.uuid4().hex
        self.chunk = chunk
        self._built: dict[str, str] = {}  # board key -> temporary key
        self._written: dict[str, int] = {}  # board key -> members written when it was built
        self._pipe = self._client.pipeline(transaction=False)
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
            temp = build_key(self.token, board.key)
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
        pipe = self._client.pipeline(transaction=False)
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
        stale = [key for key in board_keys() if key not in self._built]
        pipe = self._client.pipeline(transaction=True)
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
        pipe = self._client.pipeline(transaction=False)
        for key in self._built:
            pipe.zcard(key)
        return sum(pipe.execute())

    def discard(self) -> None:
        """Drop what was built (after a failure)."""
        for temp in self._built.values():
            self._client.delete(temp)
        self._built.clear()


def builds_drop() -> int:
    """Delete boards half-built by a restore that died (their temporary keys have no TTL); the
    caller makes sure no build is running. Returns how many keys went."""
    client = connection()
    stale = list(client.scan_iter(match=BUILD_PATTERN, count=1000))
    for start in range(0, len(stale), 1000):
        client.unlink(*stale[start : start + 1000])
    return len(stale)
