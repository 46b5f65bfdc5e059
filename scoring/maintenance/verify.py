"""Verify: compare every board in Redis with the event log, and list each difference."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection, transaction

from scoring import clock, redis_boards
from scoring.eventlog.aggregate import BoardsQuery, repeatable_read
from scoring.maintenance.progress import Progress, Ticker, quiet

VERIFY_BATCH = 100_000  # members compared per Redis round trip


@dataclass
class Difference:
    board: str
    user_id: str | None  # None: the whole board is missing or unexpected
    redis_score: int | None  # for a whole board: its members in Redis
    log_score: int | None  # for a whole board: its members in the log


@dataclass
class VerifyResult:
    boards: int = 0
    members: int = 0
    ready: bool = True
    unsynced: int = 0  # contributors whose exclusion changed and whose boards do not follow yet
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def boards_verify(*, progress: Progress = quiet) -> VerifyResult:
    """Compare every board in Redis with the event log; list each difference. Exact at a quiet
    moment (while events are being applied, Redis runs ahead of or behind the log)."""
    now = clock.now()
    result = VerifyResult(ready=redis_boards.is_ready())
    expected: set[str] = set()
    tick = Ticker(progress, "verify")
    with transaction.atomic(), connection.cursor() as cursor:
        repeatable_read(cursor, read_only=True)
        query = BoardsQuery.prepare(cursor, base=None, now=now)
        cursor.execute("SELECT count(*) FROM scoring_contributor WHERE boards_dirty")
        (result.unsynced,) = cursor.fetchone()
        batch: list[tuple[str, list[str], list[int]]] = []
        queued = 0
        for board, user_ids, scores in query.stream():
            batch.append((board.key, user_ids, scores))
            queued += len(user_ids)
            if queued >= VERIFY_BATCH:
                _verify_batch(batch, result, expected)
                tick(result.boards, result.members)
                batch, queued = [], 0
        _verify_batch(batch, result, expected)
    # Boards in Redis that the log does not know (any key in the board namespace).
    for key in redis_boards.board_keys():
        if key not in expected:
            result.differences.append(Difference(key, None, redis_boards.board_size(key), None))
    result.differences.sort(key=lambda d: (d.board, d.user_id or ""))
    return result


def _verify_batch(batch: list[tuple[str, list[str], list[int]]], result: VerifyResult, expected: set[str]) -> None:
    """Compare a batch of boards with Redis (one round trip)."""
    found = redis_boards.boards_read([key for key, _, _ in batch])
    for (key, user_ids, scores), in_redis in zip(batch, found, strict=True):
        expected.add(key)
        result.boards += 1
        result.members += len(user_ids)
        if not in_redis:
            result.differences.append(Difference(key, None, None, len(user_ids)))
            continue
        for user_id, score in zip(user_ids, scores, strict=True):
            there = in_redis.pop(user_id, None)
            if there != score:
                result.differences.append(Difference(key, user_id, there, score))
        for member, score in in_redis.items():
            result.differences.append(Difference(key, member, score, None))
