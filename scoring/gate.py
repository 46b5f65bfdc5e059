"""The Postgres advisory locks that order changes to the boards as a whole.

- The boards gate (`GATE_LOCK`, transaction-scoped). Every transaction that records or applies
  events takes it shared, as its first statement, so that each later statement sees every
  change made under it exclusively. What must see no record or apply in flight — an
  exclusion's boards sync, a rescore's switch — takes it exclusive, for as short a time as it
  can: while it waits, new records and applies queue behind it (docs/EXACTLY_ONCE.md).
- The boards lock (`BOARDS_LOCK`, session-scoped): one restore, rebuild, rescore or exclusion
  sync at a time. Each of them writes whole boards, and none may interleave with another.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from django.db import DatabaseError, OperationalError, connection, transaction

logger = logging.getLogger("leaderboard.gate")

GATE_LOCK = 0x1EADB0A30
BOARDS_LOCK = 0x1EADB0A2D  # the restore lock of old: the same key, so old and new never overlap


def gate_shared(cursor) -> None:
    cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [GATE_LOCK])


def gate_exclusive(cursor) -> None:
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [GATE_LOCK])


@contextlib.contextmanager
def session_lock(key: int, *, wait: bool | float = True) -> Iterator[bool]:
    """A Postgres session advisory lock on Django's connection. Yields whether it is held: with
    `wait` True, always (it waits for it); False, not when another session holds it; a number,
    not when another holds it that many seconds more. Reentrant: a session that holds it takes
    it again."""
    with connection.cursor() as cursor:
        if wait is True:
            cursor.execute("SELECT pg_advisory_lock(%s)", [key])
            held = True
        elif not wait:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            (held,) = cursor.fetchone()
        else:
            held = _lock_within(cursor, key, seconds=float(wait))
    try:
        yield held
    finally:
        if held:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
            except DatabaseError as exc:  # the connection died: the server dropped the lock with it
                logger.warning("advisory unlock failed: %s", exc)


def _lock_within(cursor, key: int, *, seconds: float) -> bool:
    """Wait at most `seconds` for the session lock `key` (Postgres's lock_timeout bounds an
    advisory lock's wait too; a savepoint keeps a caller's transaction usable after it)."""
    with transaction.atomic():
        cursor.execute("SET LOCAL lock_timeout = %s", [f"{max(int(seconds * 1000), 1)}ms"])
        try:
            with transaction.atomic():
                cursor.execute("SELECT pg_advisory_lock(%s)", [key])
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) != "55P03":  # lock_not_available
                raise
            return False
    return True
