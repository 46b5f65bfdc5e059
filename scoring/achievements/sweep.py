"""Awarding achievements exactly once, in the consumer's sweep (never in a batch's transaction).

One sweeper at a time (a session advisory lock: another consumer skips its turn, a rescore or
the backfill waits for it), in one REPEATABLE READ transaction, like the results' finalizer:

1. the log rows logged since the watermark (a txid snapshot; the `txid` index finds them): the
   merged pull requests and reviews among them are noted as `CountedEvent`s (their raw message
   says which), and the (user, day) pairs they touch are summed again (`days.days_refresh`);
2. the users they belong to (and the excluded ones held back earlier) are the candidates; the
   excluded among them are held back again (an excluded contributor is not awarded while
   excluded; what it holds stays);
3. one INSERT … SELECT of every rule's query (scoring/achievements/rules.py) for the candidates
   and, on a result's or the board's rules, for everyone not holding it yet: `ON CONFLICT
   (user_id, code)` leaves an award as it is, or un-revokes one earned again, or moves one to the
   event that earns it now (a late event earlier than it), so that it is what a recompute names;
4. the watermark moves to this transaction's snapshot; commit. A crash anywhere rolls it all
   back and the next sweep does it again: nothing is awarded twice (the unique constraint).

When the active rules version is not the one the awards were computed under (a rescore switched
it, and perhaps died before its own recompute), or nothing was swept yet, the sweep recomputes
instead (`full`): every user's days from the log, every rule for everyone, then revokes the
awards no longer earned (`revoked` set, never deleted), updates the kept ones to their earning
event under the new points, un-revokes those earned again and inserts the new ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from scoring import faults
from scoring.achievements.days import days_rebuild, days_refresh
from scoring.achievements.rules import BOARD_SCOPE, CATALOGUE, COUNTED_KINDS, LOG_SCOPE, TOP_PLACES, Rule, counter_of
from scoring.boards import GLOBAL, Board, Timeframe
from scoring.eventlog.aggregate import log_pass
from scoring.eventlog.sql import LOG, is_excluded, logged_since, user_excluded
from scoring.ingest.wire import InvalidEvent, scoring_facts
from scoring.selectors import board_page

logger = logging.getLogger("leaderboard.achievements")

ACHIEVEMENTS_LOCK = 0x1EADB0A32  # one sweeper at a time, across every consumer, rescore and command
TOP_READ = 100  # board rows read for the top places (ties at the last place included up to this)
FILL_CHUNK = 20_000  # log rows per round trip when noting counted events over the whole log

_FIELDS = "(user_id, code, earned_at, event_id, result_id)"
_INSERT_COUNTED = """
INSERT INTO scoring_countedevent (event_id, user_id, counter, occurred_at)
SELECT * FROM unnest(%s::bigint[], %s::numeric[], %s::text[], %s::timestamptz[])
    ON CONFLICT (event_id) DO NOTHING
"""

_WATERMARK = "SELECT log_snapshot, rules_version, held_back FROM scoring_achievementswatermark WHERE id = 1"
_WATERMARK_MOVE = """
INSERT INTO scoring_achievementswatermark (id, log_snapshot, rules_version, held_back) VALUES (1, %s, %s, %s::numeric[])
    ON CONFLICT (id) DO UPDATE SET log_snapshot = excluded.log_snapshot, rules_version = excluded.rules_version,
                                   held_back = excluded.held_back
"""


@dataclass
class AwardSummary:
    """What one sweep did (`skipped`: another sweeper held the lock)."""

    skipped: bool = False
    full: bool = False
    candidates: int = 0
    awarded: list[tuple[int, str]] = field(default_factory=list)
    revoked: list[tuple[int, str]] = field(default_factory=list)
    updated: list[tuple[int, str]] = field(default_factory=list)  # earned again, or by another event now
    held_back: int = 0


def achievements_award(*, full: bool = False, wait: bool = False, since: str | None = None) -> AwardSummary:
    """One sweep (see the module's docstring). `full`: recompute everything, as after a
    rescore; `wait`: wait for another sweeper rather than skip; `since`: (full only) note the
    counted events of the rows logged after this txid snapshot, not after the watermark."""
    top = _board_top()
    with log_pass(ACHIEVEMENTS_LOCK, wait=wait, after_commit="achievements_after_commit") as run:
        if run is None:
            return AwardSummary(skipped=True)
        cursor = run.cursor
        cursor.execute(_WATERMARK)
        mark = cursor.fetchone()
        summary = AwardSummary(full=full or mark is None or mark[1] != run.version)
        if summary.full:
            held_back = _recompute(cursor, summary, since=since or (mark[0] if mark else None), top=top)
        else:
            held_back = _increment(cursor, summary, seen=mark[0], held_back=[int(u) for u in mark[2]], top=top)
        summary.held_back = len(held_back)
        cursor.execute(_WATERMARK_MOVE, [run.snapshot, run.version, sorted(held_back)])
        faults.point("achievements_after_award")
    if summary.awarded or summary.revoked:
        logger.info(
            "achievements awarded=%d revoked=%d full=%s", len(summary.awarded), len(summary.revoked), summary.full
        )
    return summary


def counted_fill(cursor, *, condition: str, params: dict, limit: int | None = None) -> tuple[int, int]:
    """Note the merged pull requests and reviews among the log rows `e` that `condition`
    selects (ordered by id, at most `limit`); returns (rows read, the last id read)."""
    cursor.execute(
        f"SELECT e.id, e.user_id, e.occurred_at, e.raw FROM {LOG} e"
        f" WHERE e.kind = ANY(%(kinds)s) AND {condition} ORDER BY e.id" + (f" LIMIT {int(limit)}" if limit else ""),
        {**params, "kinds": [int(kind) for kind in COUNTED_KINDS]},
    )
    rows, counted, last = cursor.fetchall(), [], 0
    for event_id, user_id, occurred_at, raw in rows:
        last = event_id
        try:
            counter = counter_of(scoring_facts(bytes(raw)))
        except InvalidEvent:
            continue  # the log holds only decodable messages; a row that is not counts for nothing
        if counter is not None:
            counted.append((event_id, user_id, counter, occurred_at))
    if counted:
        cursor.execute(_INSERT_COUNTED, [list(column) for column in zip(*counted, strict=True)])
    return len(rows), last


def counted_fill_all(cursor, *, progress: Callable[[str], None] | None = None) -> int:
    """`counted_fill` over the whole log, FILL_CHUNK rows at a time (not all in memory at once),
    telling `progress` after each chunk; returns the rows read."""
    after = read = 0
    while True:
        rows, last = counted_fill(cursor, condition="e.id > %(after)s", params={"after": after}, limit=FILL_CHUNK)
        if not rows:
            return read
        after, read = last, read + rows
        if progress is not None:
            progress(f"counted events: {read} pull requests closed and reviews read (log id {after})")


def _increment(cursor, summary: AwardSummary, *, seen: str, held_back: list[int], top) -> set[int]:
    counted_fill(cursor, condition=logged_since("e", "seen"), params={"seen": seen})
    days_refresh(cursor, seen=seen)
    cursor.execute(f"SELECT DISTINCT e.user_id FROM {LOG} e WHERE {logged_since('e', 'seen')}", {"seen": seen})
    users = {int(user_id) for (user_id,) in cursor.fetchall()} | set(held_back)
    cursor.execute(
        f"SELECT c.id FROM scoring_contributor c WHERE c.id = ANY(%s::numeric[]) AND {is_excluded('c')}", [list(users)]
    )
    excluded = {int(user_id) for (user_id,) in cursor.fetchall()}
    candidates = sorted(users - excluded)
    summary.candidates = len(candidates)
    rules = [rule for rule in CATALOGUE if rule.scope != BOARD_SCOPE or top is not None]
    if not candidates:
        rules = [rule for rule in rules if rule.scope != LOG_SCOPE]
    if rules:
        earned = " UNION ALL ".join(f"({rule.select(_sweep_users(rule))})" for rule in rules)
        cursor.execute(
            f"INSERT INTO scoring_achievement {_FIELDS} {earned}"
            " ON CONFLICT (user_id, code) DO UPDATE SET earned_at = excluded.earned_at, event_id = excluded.event_id,"
            " result_id = excluded.result_id, revoked = NULL WHERE scoring_achievement.revoked IS NOT NULL"
            " OR (scoring_achievement.earned_at, scoring_achievement.event_id, scoring_achievement.result_id)"
            " IS DISTINCT FROM (excluded.earned_at, excluded.event_id, excluded.result_id)"
            " RETURNING user_id, code, xmax = 0",
            {"users": candidates, **_top_params(top)},
        )
        for user_id, code, inserted in cursor.fetchall():
            (summary.awarded if inserted else summary.updated).append((int(user_id), code))
    return excluded


def _recompute(cursor, summary: AwardSummary, *, since: str | None, top) -> set[int]:
    if since is None:  # nothing swept yet: the whole log
        counted_fill_all(cursor)
    else:
        counted_fill(cursor, condition=logged_since("e", "seen"), params={"seen": since})
    days_rebuild(cursor)
    rules = [rule for rule in CATALOGUE if rule.scope != BOARD_SCOPE or top is not None]
    unjudged = [rule.code for rule in CATALOGUE if rule not in rules]  # the board unread: left as they are
    earned = " UNION ALL ".join(f"({rule.select(lambda column: 'true')})" for rule in rules)
    cursor.execute(f"CREATE TEMPORARY TABLE achievements_earned {_FIELDS} ON COMMIT DROP AS {earned}", _top_params(top))
    board_codes = [rule.code for rule in CATALOGUE if rule.scope == BOARD_SCOPE]
    # No longer earned: revoked (never deleted). An excluded user's board award is not judged:
    # an excluded contributor is on no board.
    cursor.execute(
        "UPDATE scoring_achievement a SET revoked = now()"
        " WHERE a.revoked IS NULL AND NOT (a.code = ANY(%(unjudged)s))"
        " AND NOT EXISTS (SELECT FROM achievements_earned e WHERE e.user_id = a.user_id AND e.code = a.code)"
        f" AND NOT (a.code = ANY(%(board)s) AND {user_excluded('a.user_id')})"
        " RETURNING a.user_id, a.code",
        {"unjudged": unjudged, "board": board_codes},
    )
    summary.revoked = [(int(user_id), code) for user_id, code in cursor.fetchall()]
    # Still (or again) earned: the earning event as the log says now, un-revoked.
    cursor.execute(
        "UPDATE scoring_achievement a SET revoked = NULL, earned_at = e.earned_at, event_id = e.event_id,"
        " result_id = e.result_id FROM achievements_earned e WHERE e.user_id = a.user_id AND e.code = a.code"
        " AND (a.revoked IS NOT NULL OR (a.earned_at, a.event_id, a.result_id)"
        " IS DISTINCT FROM (e.earned_at, e.event_id, e.result_id))"
    )
    cursor.execute(
        f"INSERT INTO scoring_achievement {_FIELDS} SELECT * FROM achievements_earned e"
        f" WHERE NOT {user_excluded('e.user_id')} ON CONFLICT (user_id, code) DO NOTHING RETURNING user_id, code"
    )
    summary.awarded = [(int(user_id), code) for user_id, code in cursor.fetchall()]
    cursor.execute(
        f"SELECT DISTINCT e.user_id FROM achievements_earned e WHERE {user_excluded('e.user_id')}"
        " AND NOT EXISTS (SELECT FROM scoring_achievement a WHERE a.user_id = e.user_id AND a.code = e.code)"
    )
    return {int(user_id) for (user_id,) in cursor.fetchall()}


def _sweep_users(rule: Rule):
    """The sweep's condition on a rule's user column. A log rule: the candidates, all of them,
    so that a late event that changes which event earned an award (an earlier tenth merged pull
    request) updates it to what a recompute would name. A result's or the board's: anyone not
    excluded who does not hold it (un-revoked) yet."""

    def users(column: str) -> str:
        if rule.scope == LOG_SCOPE:
            return f"{column} = ANY(%(users)s::numeric[])"
        return (
            f"NOT {user_excluded(column)} AND NOT EXISTS (SELECT FROM scoring_achievement held"
            f" WHERE held.user_id = {column} AND held.code = '{rule.code}' AND held.revoked IS NULL)"
        )

    return users


def _board_top() -> list[tuple[int, int]] | None:
    """(user id, rank) of the global all-time board's rows at rank <= TOP_PLACES, read from the
    boards; None when they cannot be read now (a restore, Redis away): the board's rule waits."""
    if not TOP_PLACES:
        return []
    try:
        page = board_page(board=Board(GLOBAL, Timeframe.ALL_TIME, "all"), limit=TOP_READ, offset=0, named=False)
    except Exception as exc:  # the boards unreadable now: the next sweep reads them
        logger.info("achievements: the all-time board is unreadable now (%s)", exc)
        return None
    return [(row.user_id, row.rank) for row in page.rows if row.rank <= TOP_PLACES]


def _top_params(top) -> dict:
    return {"top_users": [user for user, _ in top or ()], "top_ranks": [rank for _, rank in top or ()]}
