"""Restore and rebuild: every retained board in Redis, exactly, from a snapshot plus the log
rows it did not see (restore) or from the whole log (rebuild).

The boards are written aside while consumers keep applying to the live ones; then the ready
sentinel goes (no consumer applies without it), the rows committed meanwhile are added to the
built boards, and the boards are swapped in atomically together with the pending markers of
every event they counted that the log does not yet record as applied. The Postgres advisory
lock `RESTORE_LOCK` lets only one restore or rebuild run at a time.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from datetime import datetime

import redis
from django.db import connection, transaction

from scoring import clock, exclusions, faults, ingest, redis_boards
from scoring.errors import is_transient
from scoring.eventlog.aggregate import BoardsQuery, repeatable_read
from scoring.gate import session_lock
from scoring.maintenance.build import (
    RESTORE_LOCK,
    leftovers_drop,
    logger,
    pending_markers,
    query_build,
    swap_record,
)
from scoring.maintenance.progress import Progress, quiet
from scoring.redis_boards import BoardBuild, BuildLost
from scoring.rules.versions import active_version
from snapshots.models import BoardsSwap
from snapshots.services import base_snapshot


@dataclass
class RestoreResult:
    restored: bool  # False: the boards were already there (only_if_missing)
    source: str = ""
    snapshot_id: int | None = None
    delta_events: int = 0
    boards: int = 0
    members: int = 0
    pending: int = 0
    seconds: float = 0.0


def boards_restore(
    *,
    use_snapshot: bool = True,
    only_if_missing: bool = False,
    progress: Progress = quiet,
) -> RestoreResult:
    """Rebuild every retained board in Redis exactly: from the newest usable snapshot plus the
    log rows it did not see (`use_snapshot`), or from the whole log. With `only_if_missing`,
    do nothing when the boards in Redis are the current ones (`boards_current`: another
    consumer restored them, or nothing happened to them).

    Readers keep the old boards until the new ones are swapped in at once. Consumers keep
    applying while the bulk is built, and pause only for the catch-up and the swap (the fault
    point `restore_before_swap` is between the two).
    """
    started = time.perf_counter()
    if only_if_missing and boards_current(quiet=True):  # the common case, without the lock
        return RestoreResult(restored=False)
    with session_lock(RESTORE_LOCK):
        if only_if_missing and boards_current():
            return RestoreResult(restored=False)
        leftovers_drop("restore")
        try:
            result = _restore_once(use_snapshot, progress)
        except (BuildLost, redis.ResponseError) as exc:
            if is_transient(exc):  # e.g. out of memory: the live boards kept their sentinel
                raise
            # Built boards were lost (Redis emptied, or a board expired, mid-build): found before
            # the swap, or by the swap's RENAME — whose MULTI went on and set the sentinel over
            # partial boards. Either way: sentinel off, build again (with a fresh `now`).
            redis_boards.ready_clear()
            logger.warning("restore: built boards were lost (%s); building again", exc)
            result = _restore_once(use_snapshot, progress, again=True)
    result.seconds = time.perf_counter() - started
    logger.info(
        "restored %d boards, %d members from %s in %.2fs", result.boards, result.members, result.source, result.seconds
    )
    return result


def rebuild_locked(progress: Progress = quiet) -> RestoreResult:
    """Rebuild every board from the log, for a caller that holds `RESTORE_LOCK` already (a
    rescore whose swap failed)."""
    started = time.perf_counter()
    result = _restore_once(False, progress, again=True)
    result.seconds = time.perf_counter() - started
    return result


def boards_current(*, quiet: bool = False) -> bool:
    """Whether Redis holds the boards of the last swap the log knows of: the ready sentinel is
    there, holds the token kept in Postgres, and the server has not restarted since (same run
    id). A Redis restarted from an RDB or AOF file holds an older token, or the same one from a
    dump taken since that swap: either way its boards may miss what was applied after the dump,
    so they are restored. With no token in Postgres yet (boards swapped in before tokens were
    kept), Redis's own is adopted."""
    token = redis_boards.ready_token()
    if token is None:
        if not quiet:
            logger.warning("the boards are gone from Redis (or not whole): restoring")
        return False
    kept = BoardsSwap.objects.filter(id=1).first()
    if kept is None:
        swap_record(token, "adopted: the boards Redis held")
        return True
    run_id = redis_boards.server_run_id()
    if kept.token != token:
        reason = f"Redis holds the boards of swap {token} but the last swap was {kept.token}"
    elif run_id and kept.redis_run_id and run_id != kept.redis_run_id:
        reason = "Redis restarted since the last swap, its boards from a dump"
    else:
        return True
    if not quiet:
        logger.warning("%s (an old dump?): restoring", reason)
    return False


@dataclass
class _Bulk:
    """What the first pass built: as of transaction snapshot `seen`, from `source`."""

    seen: str
    source: str
    snapshot_id: int | None
    delta_events: int


def _restore_once(use_snapshot: bool, progress: Progress, *, again: bool = False) -> RestoreResult:
    """Two passes over the log, then the swap:

    1. `_build_aside`: every board as of one transaction snapshot S1, written aside while
       consumers still apply to the live boards;
    2. the sentinel goes (no apply from here), and `_catch_up`: the rows committed since S1,
       added to the built boards, as of a snapshot S2 taken after the sentinel went — so every
       event already applied to the live boards is counted — with the markers of the counted
       rows not yet `applied`;
    3. check that no built board lost members, and swap them in with those markers.

    `again`: a second build, after the first lost its boards, passes no fault point (a test's
    hook that emptied Redis once would empty it again)."""
    now = clock.now()
    what = "restore" if use_snapshot else "rebuild"
    build = BoardBuild()
    paused = False
    try:
        bulk = _build_aside(build, now=now, use_snapshot=use_snapshot, progress=progress, what=what)
        redis_boards.ready_pause()  # from here no consumer applies; readers still see the old boards
        paused = True
        progress(f"{what}: {build.boards} boards built aside; applies paused for the catch-up")
        pending, caught_up = _catch_up(build, now=now, since=bulk.seen)
        build.check()
        if not again:
            faults.point("restore_before_swap")
        build.swap(pending)
    except BaseException:
        # Nothing was swapped in (a failed swap's MULTI ran whole or not at all), so the live
        # boards are as they were: give them their sentinel back, if they had one and Redis
        # was not emptied meanwhile (then there is none to give back). Out of memory, say, a
        # restore must not take away boards that were intact.
        with contextlib.suppress(redis.RedisError):
            build.discard()
            if paused and redis_boards.ready_resume():
                logger.warning("%s failed before its swap: the boards in Redis stay as they were", what)
        raise
    swap_record(build.token, bulk.source)
    # Exclusions changed since the build's first pass left their contributors dirty (their own
    # sync needs the boards lock, which this restore holds): put them right on the new boards.
    while exclusions.contributors_sync().contributors:
        pass
    members = build.members()
    progress(f"{what}: {members} members on {build.boards} boards swapped in (+{caught_up} events)")
    ingest.pending_tidy(event_ids=list(pending))
    return RestoreResult(
        restored=True,
        source=bulk.source if not caught_up else f"{bulk.source} + {caught_up} events",
        snapshot_id=bulk.snapshot_id,
        delta_events=bulk.delta_events + caught_up,
        boards=build.boards,
        members=members,
        pending=len(pending),
    )


def _build_aside(build: BoardBuild, *, now: datetime, use_snapshot: bool, progress: Progress, what: str) -> _Bulk:
    """Write every board, as of one REPEATABLE READ transaction, under temporary keys: Postgres
    streams the aggregate while the `board-writer` thread feeds Redis."""
    with transaction.atomic(), connection.cursor() as cursor:
        repeatable_read(cursor, read_only=True)
        cursor.execute("SELECT txid_current_snapshot()::text")
        (seen,) = cursor.fetchone()
        base = base_snapshot(now, active_version(cursor)) if use_snapshot else None
        query = BoardsQuery.prepare(cursor, now=now, base=base)
        progress(f"{what}: building boards aside from {query.source}")
        query_build(build, query, progress=progress, what=what)
    return _Bulk(seen=seen, source=query.source, snapshot_id=base.id if base else None, delta_events=query.delta_events)


def _catch_up(build: BoardBuild, *, now: datetime, since: str) -> tuple[dict[str, int], int]:
    """Add the rows not visible in `since` to the built boards (run with applies paused).
    Returns the pending markers to swap in (event id -> points of every counted row not yet
    `applied`) and how many rows were added."""
    with transaction.atomic(), connection.cursor() as cursor:
        repeatable_read(cursor, read_only=True)
        pending = pending_markers(cursor)
        query = BoardsQuery.prepare(cursor, now=now, since=since)
        if query.delta_events:
            query_build(build, query, progress=quiet, what="catch-up")
    build.flush()
    return pending, query.delta_events
