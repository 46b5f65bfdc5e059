"""Exclusions (SPEC section 9): contributors on no board, their events still in the log.

An exclusion changes in two steps, so that a crash between them is repaired, never lost:

1. `_mark`: one transaction sets the contributor's `excluded_reason` (or clears it) and
   `boards_dirty`. From its commit every apply reads the new state (`services._LOG_ROW`) and
   adds nothing for an excluded contributor.
2. `contributors_sync`: under the boards gate held exclusive — no record or apply in flight, so
   every event is either applied and committed or not applied at all — the contributor's member
   is set to what the log says on every board it is on, in one atomic script: off them all when
   excluded; its exact score on each when included, with a pending marker for each of its logged
   events not yet applied, whose later apply then adds nothing twice. `boards_dirty` is cleared
   in the same transaction.

Which boards a contributor is on comes from the log (its events by project and UTC day, read
through the index on user and time), never from scanning Redis. A dirty contributor is synced
again by the consumers' sweep, and by every restore, rebuild or rescore after its swap: a sync
holds the boards lock (`gate.BOARDS_LOCK`), and one that cannot have it leaves the work to them.

Bots exclude themselves: `actor.is_bot`, a login ending in `[bot]`, or one of
`LEADERBOARD_EXCLUDED_LOGINS`. Those are excluded automatically (`excluded_auto`), and included
again automatically when none of that holds any more; an operator's word wins over both.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from django.conf import settings
from django.db import connection, transaction

from scoring import clock, faults, redis_boards
from scoring.boards import GLOBAL, Board, Timeframe, expires_at, is_retained, midnight, periods_of
from scoring.eventlog.aggregate import day_scores
from scoring.eventlog.sql import is_excluded, is_unapplied, live_points
from scoring.gate import BOARDS_LOCK, gate_exclusive, session_lock
from scoring.models import Contributor
from scoring.redis_boards import MemberBoards
from scoring.selectors import contributor_find

logger = logging.getLogger("leaderboard.exclusions")

BOT = "bot"  # the reason of an automatic exclusion


def looks_like_bot_sql(row: str) -> str:
    """SQL: whether the row `row` (a contributor, or a staged event: both have `is_bot` and
    `login`) looks like a bot; the parameter %(logins)s is `excluded_logins()`."""
    return f"({row}.is_bot OR {row}.login LIKE '%%[bot]' OR upper({row}.login) = ANY(%(logins)s::text[]))"


def bot_excludable(contributor: str) -> str:
    """SQL: whether the contributor row may be excluded as a bot: on the boards, and not kept
    on them by an operator."""
    return f"(NOT {is_excluded(contributor)} AND NOT {contributor}.bot_allowed)"


# Mark, as excluded by themselves, the contributors that look like bots and may be; callers
# add a condition and RETURNING.
_MARK_BOTS = (
    "UPDATE scoring_contributor c SET excluded_reason = %(bot)s, excluded_at = now(), excluded_auto = true,"
    f" boards_dirty = true WHERE {bot_excludable('c')} AND {looks_like_bot_sql('c')}"
)


def excluded_logins() -> list[str]:
    return [login.upper() for login in settings.LEADERBOARD_EXCLUDED_LOGINS]


def looks_like_bot(*, login: str | None, is_bot: bool) -> bool:
    """The rule of `looks_like_bot_sql`, for one contributor in hand."""
    return is_bot or (login or "").endswith("[bot]") or (login or "").upper() in excluded_logins()


@dataclass
class SyncResult:
    contributors: int = 0
    boards: int = 0  # live boards whose member changed
    archives: int = 0  # archives of expired boards dropped
    seconds: float = 0.0
    gate_seconds: float = 0.0  # how long records and applies were held back (the gate held exclusive)
    deferred: bool = False  # another holds the boards lock: it syncs them after its swap
    users: list[int] = field(default_factory=list)


def contributor_exclude(contributor: Contributor, *, reason: str, wait: bool = True) -> SyncResult:
    """Take `contributor` off every board, for `reason` (an operator's: it stays excluded
    whatever its events say, until included)."""
    reason = reason.strip()
    if not reason:
        raise ValueError("an exclusion needs a reason")
    _mark([contributor.id], reason=reason)
    faults.point("after_exclusion_mark")
    return contributors_sync([contributor.id], wait=wait)


def contributor_include(contributor: Contributor, *, wait: bool = True) -> SyncResult:
    """Put `contributor` back on every board with exactly what the log says. A contributor that
    looks like a bot stays included: the operator said so (`bot_allowed`)."""
    _mark([contributor.id], reason=None)
    faults.point("after_exclusion_mark")
    return contributors_sync([contributor.id], wait=wait)


def _mark(user_ids: Sequence[int], *, reason: str | None) -> None:
    """Step 1 of an operator's change: the new state, committed, with the boards marked as not
    following it yet. Including keeps a contributor on even if it looks like a bot."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE scoring_contributor SET excluded_reason = %(reason)s,"
            " excluded_at = CASE WHEN %(reason)s::text IS NULL THEN NULL ELSE now() END,"
            " excluded_auto = false, bot_allowed = %(reason)s::text IS NULL, boards_dirty = true"
            " WHERE id = ANY(%(ids)s::numeric[])",
            {"reason": reason, "ids": list(user_ids)},
        )


def bots_exclude(user_ids: Sequence[int]) -> SyncResult | None:
    """Exclude those of `user_ids` that look like bots and are on the boards (the consumer
    calls this with the users a batch named as bots, before applying it). Waits for the boards
    lock a moment only (another sync is short): while a restore holds it, that restore syncs
    them after its swap, or else the consumers' sweep."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"{_MARK_BOTS} AND c.id = ANY(%(ids)s::numeric[]) RETURNING c.id",
            {"bot": BOT, "ids": list(user_ids), "logins": excluded_logins()},
        )
        marked = [int(user_id) for (user_id,) in cursor.fetchall()]
    if not marked:
        return None
    logger.info("excluded %d bots: %s", len(marked), " ".join(map(str, marked[:20])))
    faults.point("after_exclusion_mark")
    return contributors_sync(marked, wait=BOT_SYNC_WAIT)


BOT_SYNC_WAIT = 2.0  # seconds


def bots_reconcile() -> SyncResult:
    """Bring the automatic exclusions in line with the rule (at the consumer's start: the
    excluded logins may have changed): exclude who looks like a bot now, include again who was
    excluded automatically and no longer does. Then sync whatever is dirty."""
    params = {"bot": BOT, "logins": excluded_logins()}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_MARK_BOTS, params)
        excluded = cursor.rowcount
        cursor.execute(
            "UPDATE scoring_contributor c SET excluded_reason = NULL, excluded_at = NULL, excluded_auto = false,"
            f" boards_dirty = true WHERE c.excluded_auto AND NOT {looks_like_bot_sql('c')}",
            params,
        )
        included = cursor.rowcount
    if excluded or included:
        logger.info("bots: %d excluded, %d included again (the rule changed)", excluded, included)
    return contributors_sync(wait=False)


def contributors_sync(
    user_ids: Sequence[int] | None = None, *, wait: bool | float = True, limit: int = 1000
) -> SyncResult:
    """Step 2, for the dirty contributors (only those of `user_ids`, if given): set their
    members on the boards to what the log says, and clear `boards_dirty`.

    With `wait`, waits for the boards lock (at most that many seconds, if a number); without,
    returns at once (`deferred`) while a restore, rebuild, rescore or another sync holds it."""
    started = time.perf_counter()
    waiting = Contributor.objects.filter(boards_dirty=True)  # the partial index: cheap when none is
    if not (waiting if user_ids is None else waiting.filter(id__in=list(user_ids))).exists():
        return SyncResult()  # nothing to do: no lock taken, no apply held back
    with session_lock(BOARDS_LOCK, wait=wait) as held:
        if not held:
            return SyncResult(deferred=True)
        with transaction.atomic(), connection.cursor() as cursor:
            gate_exclusive(cursor)
            gated = time.perf_counter()
            only, params = ("", []) if user_ids is None else (" AND c.id = ANY(%s::numeric[])", [list(user_ids)])
            cursor.execute(
                f"SELECT c.id, {is_excluded('c')} FROM scoring_contributor c WHERE c.boards_dirty{only}"
                " ORDER BY c.id LIMIT %s FOR UPDATE",
                [*params, limit],
            )
            dirty = {int(user_id): excluded for user_id, excluded in cursor.fetchall()}
            if not dirty:
                return SyncResult()
            members = _member_boards(cursor, dirty, now=clock.now())
            if not redis_boards.members_set(members):
                logger.warning("boards not ready: the restore to come puts %d contributors right", len(dirty))
            faults.point("after_exclusion_lua")
            cursor.execute("UPDATE scoring_contributor SET boards_dirty = false WHERE id = ANY(%s)", [list(dirty)])
        gate_seconds = time.perf_counter() - gated  # the commit is in: the gate is free again
    # The live pages re-read the boards that changed (docs/LIVE.md), as after an apply.
    redis_boards.boards_announce(
        [*(board for m in members for board in m.remove), *(board for m in members for board, _, _ in m.scores)]
    )
    result = SyncResult(
        contributors=len(dirty),
        boards=sum(len(m.remove) + len(m.scores) for m in members),
        archives=sum(len(m.archives) for m in members),
        seconds=time.perf_counter() - started,
        gate_seconds=gate_seconds,
        users=sorted(dirty),
    )
    logger.info(
        "synced %d contributors on %d boards (%d archives dropped) in %.1f ms, records and applies held %.1f ms",
        result.contributors,
        result.boards,
        result.archives,
        result.seconds * 1000,
        result.gate_seconds * 1000,
    )
    return result


# A contributor's points per project and UTC day (the log's grain: every board it is on follows
# from these). Live points: those of the active rules version, also while a rescore moves the log.
_USER_DAYS = f"SELECT user_id, project_id, day, score FROM ({day_scores('e.user_id = ANY(%s::numeric[])')}) AS d"
_LIVE = live_points("e")
_USER_PENDING = f"""
SELECT e.user_id, e.event_id, {_LIVE} FROM scoring_contributionevent e
 WHERE e.user_id = ANY(%s::numeric[]) AND {is_unapplied("e")} AND {_LIVE} > 0
"""


def _member_boards(cursor, dirty: dict[int, bool], *, now: datetime) -> list[MemberBoards]:
    """What each dirty contributor's member should be, from the log (see `MemberBoards`).
    Periods, retention and expiry are worked out once per day and per period, not per board:
    a contributor on a thousand boards costs a few milliseconds here."""
    retention = settings.BOARD_RETENTION_DAYS
    cursor.execute(_USER_DAYS, [list(dirty)])
    periods: dict[date, dict[Timeframe, str]] = {}
    scores: dict[int, dict[tuple[int, Timeframe, str], int]] = defaultdict(lambda: defaultdict(int))
    for user_id, project_id, day, points in cursor.fetchall():
        if day not in periods:
            periods[day] = periods_of(midnight(day))
        user, project = scores[int(user_id)], int(project_id)
        for timeframe, period in periods[day].items():
            user[(GLOBAL, timeframe, period)] += points
            user[(project, timeframe, period)] += points
    kept: dict[tuple[Timeframe, str], tuple[bool, datetime | None]] = {}

    def keeping(timeframe: Timeframe, period: str) -> tuple[bool, datetime | None]:
        found = kept.get((timeframe, period))
        if found is None:
            board = Board(GLOBAL, timeframe, period)
            found = kept[(timeframe, period)] = (
                is_retained(board, now, retention),
                expires_at(timeframe, period, retention),
            )
        return found

    included = [user_id for user_id, excluded in dirty.items() if not excluded]
    pending: dict[int, list[tuple[str, int]]] = defaultdict(list)
    if included:
        cursor.execute(_USER_PENDING, [included])
        for user_id, event_id, points in cursor.fetchall():
            pending[int(user_id)].append((event_id, points))
    members = []
    for user_id, excluded in dirty.items():
        live, archives = [], []
        for (scope, timeframe, period), score in scores.get(user_id, {}).items():
            retained, expire = keeping(timeframe, period)
            board = Board(scope, timeframe, period)
            if retained:
                live.append((board, score, expire))
            else:
                archives.append(board)
        if excluded:
            members.append(MemberBoards(user_id, remove=tuple(b for b, _, _ in live), archives=tuple(archives)))
        else:
            members.append(
                MemberBoards(user_id, scores=tuple(live), archives=tuple(archives), pending=tuple(pending[user_id]))
            )
    return members


def contributor_ensure(key: str) -> Contributor | None:
    """The contributor `key` names (a login, any case, or a user id), for the operator's tools: a
    user id that has events but was never named by an actor gets its contributor row first, so
    that it can be excluded. None when `key` names no one."""
    found = contributor_find(key=key, excluded=True)
    if found is None and key.isascii() and key.isdigit() and 0 < int(key) < 2**64:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM scoring_contributionevent WHERE user_id = %s LIMIT 1", [int(key)])
            if cursor.fetchone() is not None:
                found, _ = Contributor.objects.get_or_create(id=int(key))
    return found
