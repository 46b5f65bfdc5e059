"""Step 2 of a batch (docs/EXACTLY_ONCE.md has every crash point): apply it to the boards.

`events_apply` is one transaction: lock the ledger rows (`scoring_unapplied`) of the batch's
events not yet applied (`FOR UPDATE`, in event id order), add their points to the boards with
one atomic Lua call that marks each event id in Redis as it adds it, delete those ledger rows,
commit; then drop the markers. The caller acks.

An event is re-applied only while its ledger row is locked and there, and the Lua call skips
every id already marked, so a crash anywhere repeats work but never counts twice. Rows left
unapplied by a crash are picked up by redelivery, or by `pending_sweep` if none comes.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction

from scoring import clock, faults, redis_boards
from scoring.boards import Board, boards_of, expires_at, is_retained
from scoring.eventlog.sql import LOG, UNAPPLIED, is_applied, user_excluded, utc_day
from scoring.gate import gate_shared
from scoring.ingest.record import Recorded, Scored
from scoring.redis_boards import Increment


class BoardPlan:
    """Which retained boards an event lands on, and when each expires — memoised per
    (project, day), since a batch holds many events of few projects and days."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or clock.now()
        self.retention = dict(settings.BOARD_RETENTION_DAYS)
        self.expires: dict[Board, datetime | None] = {}
        self._cache: dict[tuple[int, object], tuple[Board, ...]] = {}

    def serves(self, now: datetime) -> bool:
        """Whether this plan is still right at `now`: what is retained changes only with the
        UTC day (and the retention settings); bounded so that it does not grow for ever."""
        return (
            now.date() == self.now.date()
            and self.retention == settings.BOARD_RETENTION_DAYS
            and len(self._cache) < PLAN_MAX_ENTRIES
        )

    def boards(self, project_id: int, occurred_at: datetime) -> tuple[Board, ...]:
        return self.boards_on(project_id, occurred_at.astimezone(UTC).date().toordinal())

    def boards_on(self, project_id: int, day: int) -> tuple[Board, ...]:
        """The boards of an event of `project_id` on the UTC date whose ordinal is `day`
        (`date.toordinal`): the periods depend on the date alone."""
        cache_key = (project_id, day)
        found = self._cache.get(cache_key)
        if found is None:
            moment = datetime.combine(date.fromordinal(day), time(), UTC)
            found = tuple(b for b in boards_of(project_id, moment) if is_retained(b, self.now, self.retention))
            for board in found:
                self.expires[board] = expires_at(board.timeframe, board.period, self.retention)
            self._cache[cache_key] = found
        return found

    @staticmethod
    def distinct(increments: Sequence[Increment]) -> list[tuple[Board, ...]]:
        """The distinct board sets of `increments` (each set is the plan's own tuple, shared by
        every event of its project and day: told apart by identity, not by hashing ten boards
        an event)."""
        return list({id(i.boards): i.boards for i in increments}.values())


PLAN_MAX_ENTRIES = 10_000
_plan: BoardPlan | None = None


def board_plan() -> BoardPlan:
    """The plan shared by every batch of the day: computing it per batch was a large share of
    the consumer's time (docs/BENCHMARKS.md, Profiling)."""
    global _plan
    now = clock.now()
    if _plan is None or not _plan.serves(now):
        _plan = BoardPlan(now)
    return _plan


# Runs the Lua call while this thread has Postgres mark the rows applied (see _apply_locked).
_boards_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="boards-apply")


def _apply_locked(rows: Sequence[LogRow], plan: BoardPlan, where: tuple[str, list] | None = None) -> tuple[int, int]:
    """Apply locked, unapplied rows and mark them applied (their ledger rows deleted), inside
    the caller's transaction (which holds the gate shared). An excluded contributor's event is
    marked like any other but adds nothing: its points stay in the log, off every board (SPEC
    section 9); so is a row worth nothing.

    The Lua call and the DELETE run at the same time (Redis and Postgres each on a core);
    both belong to the open transaction, which commits only once both have succeeded, and the
    row locks are held until the script is done whatever happens. `where` names the rows again
    for the DELETE (the condition on the log row `e` that selected them, and its parameters),
    when it names exactly the locked rows; otherwise they are named by id."""
    if where is None:
        where = ("e.event_id = ANY(%s)", [[r[0] for r in rows]])
    increments = [
        Increment(event_id, user_id, points, () if excluded or points <= 0 else plan.boards_on(project_id, day))
        for event_id, user_id, project_id, points, day, excluded in rows
    ]
    applying = _boards_worker.submit(redis_boards.boards_apply, increments, expires=plan.expires)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {UNAPPLIED} u USING {LOG} e WHERE e.id = u.id AND {where[0]}", where[1])
    finally:
        result = applying.result()  # raises BoardsNotReady or a Redis error: the transaction rolls back
    faults.point("after_redis_apply")
    if result[0]:  # the live pages re-read these boards (docs/LIVE.md)
        redis_boards.boards_announce(board for boards in plan.distinct(increments) for board in boards)
    return result


def events_apply(
    *, scored: Sequence[Scored], recorded: Recorded | None = None, plan: BoardPlan | None = None
) -> tuple[int, int]:
    """Add the points of the batch's logged, unapplied events to the boards, exactly once.

    What is added is what the log says — the locked row's user, project, time and points —
    never the message in hand: a redelivery with other content under a logged id, or a
    consumer with other scoring settings, cannot put on a board what the log does not hold.
    Returns (applied now, already on the boards). Raises `BoardsNotReady` (nothing changed,
    the transaction rolled back) while a restore or rebuild holds the boards.

    The batch's rows are every id of the batch, whatever the message says it is worth (the row
    decides): given what `events_record` wrote (`recorded`), they are the rows its transaction
    logged and the batch's ids that were logged before — named so, rather than by a thousand ids.
    """
    if not scored:
        return 0, 0
    if recorded is None or recorded.txid is None:
        where = ("e.event_id = ANY(%s)", [[s.contribution.event_id for s in scored]])
    else:
        where = ("(e.txid = %s OR e.event_id = ANY(%s))", [recorded.txid, list(recorded.already)])
    plan = plan or board_plan()
    with transaction.atomic(), connection.cursor() as cursor:
        gate_shared(cursor)
        cursor.execute(_LOCK.format(where=where[0], order="e.event_id", then="", skip=""), where[1])
        rows = _log_rows(cursor.fetchall())
        if not rows:
            return 0, 0
        result = _apply_locked(rows, plan, where)
    faults.point("after_apply_commit")
    redis_boards.pending_clear([r[0] for r in rows])
    return result


# A log row as the apply needs it, and whether its contributor is excluded (read after the
# gate was taken: see `gate_shared`). Of its time only the UTC date matters (the boards'
# periods), read as its ordinal (`date.toordinal`): psycopg parses timestamptz text in Python,
# which cost the consumer a fifth more CPU per batch, and an integer needs no datetime per row.
_LOG_ROW = f"e.event_id, e.user_id, e.project_id, e.points, {utc_day('e')}, {user_excluded('e.user_id')}"
# The unapplied rows that `where` names (a condition on the log row `e`), their ledger rows
# locked in `order` (event id order, as every worker locks: no deadlock between them), then
# read. A ledger row another worker deleted while this one waited for it is left out.
_LOCK = f"""
WITH locked AS (
    SELECT u.id FROM {UNAPPLIED} u JOIN {LOG} e ON e.id = u.id
     WHERE {{where}} ORDER BY {{order}}{{then}} FOR UPDATE OF u{{skip}}
)
SELECT {_LOG_ROW} FROM locked JOIN {LOG} e ON e.id = locked.id ORDER BY e.event_id
"""
LogRow = tuple[str, int, int, int, int, bool]  # event_id, user_id, project_id, points, UTC date's ordinal, excluded


def _log_rows(fetched) -> list[LogRow]:
    """Log rows as plain Python values."""
    return [(e, int(u), int(p), pts, day, x) for e, u, p, pts, day, x in fetched]


_PENDING = "e.logged_at < now() - %s"
_APPLIED = is_applied("e")


def pending_sweep(
    *, older_than: timedelta, limit: int = 1000, event_ids: Sequence[str] | None = None
) -> tuple[int, int]:
    """Apply logged events left unapplied (their message acked elsewhere, lost, or a crash
    with no redelivery) — only those of `event_ids` if given. Rows another worker holds are
    skipped, not waited for. Also drops markers that outlived their purpose (a crash between
    the commit and their removal)."""
    markers_prune(limit=limit)
    only, params = ("", []) if event_ids is None else (" AND e.event_id = ANY(%s)", [list(event_ids)])
    with transaction.atomic(), connection.cursor() as cursor:
        gate_shared(cursor)
        cursor.execute(
            _LOCK.format(where=_PENDING + only, order="u.id", then=" LIMIT %s", skip=" SKIP LOCKED"),
            [older_than, *params, limit],
        )
        rows = _log_rows(cursor.fetchall())
        if not rows:
            return 0, 0
        result = _apply_locked(rows, board_plan())
    redis_boards.pending_clear([r[0] for r in rows])
    return result


def pending_ids(*, older_than: timedelta, limit: int = 1000) -> list[str]:
    """The ids of the events `pending_sweep` would apply (oldest first), without locking them."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT e.event_id FROM {UNAPPLIED} u JOIN {LOG} e ON e.id = u.id WHERE {_PENDING} ORDER BY u.id LIMIT %s",
            [older_than, limit],
        )
        return [event_id for (event_id,) in cursor.fetchall()]


def markers_prune(*, limit: int = 1000) -> int:
    """Remove pending markers of events the log already records as applied."""
    return pending_tidy(event_ids=redis_boards.pending_sample(limit))


def pending_tidy(*, event_ids: Sequence[str]) -> int:
    """Drop the pending markers of those `event_ids` whose log rows are applied: such a row
    is never applied again, so its marker is only clutter; rows still unapplied keep theirs.
    Returns how many markers went."""
    if not event_ids:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT e.event_id FROM {LOG} e WHERE e.event_id = ANY(%s) AND {_APPLIED}", [list(event_ids)])
        done = [event_id for (event_id,) in cursor.fetchall()]
    redis_boards.pending_clear(done)
    return len(done)
