"""Step 1 of a batch (docs/EXACTLY_ONCE.md has every crash point): record it in the log.

`events_record` is one transaction: upsert the projects and contributors, insert the events
`ON CONFLICT (event_id) DO NOTHING` (the log's unique id is the permanent dedup memory), insert
the dead letters. Commit. From here the log is the truth.

Events are scored by the active rules version (`rules_current`, read from Postgres and cached),
never by the settings: the record inserts a batch only if the version that scored it is still
active, and otherwise the batch is scored again by the new one (`batch_record`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

from django.db import connection, transaction

from scoring import exclusions, redis_boards
from scoring.clock import EPOCH
from scoring.eventlog.sql import UNAPPLIED
from scoring.gate import GATE_LOCK
from scoring.rules import Contribution, points
from scoring.rules.versions import ACTIVE_VERSION, ActiveRules, RulesChanged, rules_current

logger = logging.getLogger("leaderboard.services")


@dataclass(frozen=True, slots=True)
class DeadLetterIn:
    """An invalid message to keep: its bytes, why it is invalid, where it came from."""

    raw: bytes
    reason: str
    subject: str = ""
    stream_sequence: int | None = None


class Scored(NamedTuple):
    """A contribution with the points it earned under rules version `version` (one per event:
    a named tuple, like `Contribution`)."""

    contribution: Contribution
    points: int
    version: int = 1


def contributions_score(contributions: Sequence[Contribution], rules: ActiveRules | None = None) -> list[Scored]:
    """Points for each distinct contribution under `rules` (the active version if not given), in
    event id order (the lock order)."""
    rules = rules or rules_current()
    distinct = {c.event_id: c for c in reversed(contributions)}  # the first of each id wins
    return [Scored(c, points(c, rules.table), rules.number) for _, c in sorted(distinct.items())]


@dataclass(frozen=True, slots=True)
class Recorded:
    """What `events_record` wrote: how many new events and dead letters; the transaction that
    logged the new events (each row's `txid`) and the batch's ids that were logged before, which
    together name the batch's rows for the apply without sending it a thousand ids."""

    logged: int = 0
    dead_letters: int = 0
    txid: int | None = None
    already: tuple[str, ...] = ()


def batch_record(
    contributions: Sequence[Contribution], dead_letters: Sequence[DeadLetterIn] = ()
) -> tuple[list[Scored], Recorded]:
    """Score the batch by the active rules version and record it (`events_record`); if a rescore
    switched the version meanwhile, read the new one and do both again. Returns the scored
    events and what was recorded."""
    rules = rules_current()
    while True:
        scored = contributions_score(contributions, rules)
        try:
            return scored, events_record(scored=scored, dead_letters=dead_letters)
        except RulesChanged as changed:
            rules = rules_current(reload=True)
            logger.info("%s: scoring the batch again by version %d", changed, rules.number)


# The batch is COPYed into a session-local staging table (emptied at every commit), then moved
# into the log in one statement: COPY's rows are formatted in C, array parameters in Python
# (docs/BENCHMARKS.md, Profiling). The same statement then upserts the batch's projects with
# their new-event counts, in id order: last, so that their row locks (which every batch of
# every consumer wants) are held only until the commit that follows, not during the insert;
# then the batch's contributors, from the staged rows (no array parameters), in id order too.
# A contributor's name is the one its newest event gives (`last_seen_at` is that event's time),
# so a late or redelivered old event never renames anyone; an empty login or avatar keeps the
# one known. Last, the users the batch names as bots that are not excluded yet (as of before
# the statement: a new contributor is not in the table yet), for `exclusions.bots_exclude`.
# An event's time is staged as microseconds since the epoch: an integer is written and read
# in a fraction of the time an ISO timestamp takes on both sides (`datetime.isoformat` was
# a fifth of `copy_rows`).
_STAGE_EVENTS = f"""
SELECT pg_advisory_xact_lock_shared({GATE_LOCK});
CREATE TEMP TABLE IF NOT EXISTS event_stage_v4 (
    event_id text, kind smallint, user_id numeric, project_id numeric,
    occurred_us bigint, points integer, raw bytea,
    url text, login text, avatar_url text, is_bot boolean
) ON COMMIT DELETE ROWS
"""
_COPY_EVENTS = "COPY event_stage_v4 FROM STDIN"


def _timestamp(micros: str) -> str:
    """SQL: the bigint `micros` (microseconds since the epoch) as a timestamptz, exactly over
    the whole range a Timestamp holds: whole seconds through `to_timestamp` (a double, exact
    for whole seconds of that range), then the microseconds as an interval of no days (so no
    time zone's rules apply). Its `%%` is `%` in a statement with parameters."""
    return f"(to_timestamp({micros} / 1000000) + ({micros} %% 1000000) * interval '1 microsecond')"


# The rows go in only if the version that scored them is still the active one: the subquery
# is read in this statement, whose transaction holds the boards gate shared since its first
# statement, so no rescore can switch the version before this transaction ends (it takes the
# gate exclusive). The active version is returned: the caller scores again if it differs.
_RECORD_EVENTS = """
WITH inserted AS (
    INSERT INTO scoring_contributionevent
           (event_id, kind, user_id, project_id, occurred_at, points, raw, url, rules_version)
    SELECT event_id, kind, user_id, project_id, {occurred_at}, points, raw, url, %(version)s
      FROM event_stage_v4
     WHERE %(version)s = {active}
     ORDER BY event_id
    ON CONFLICT (event_id) DO NOTHING
    RETURNING id, event_id, project_id, points
), waiting AS (
    INSERT INTO {unapplied} (id) SELECT id FROM inserted WHERE points > 0
), counted AS (
    SELECT project_id, count(*) AS count FROM inserted GROUP BY project_id
), projects AS (
    INSERT INTO scoring_project AS p (id, name, event_count)
    SELECT t.id, t.name, coalesce(n.count, 0)
      FROM unnest(%(ids)s::numeric[], %(names)s::text[]) AS t(id, name) LEFT JOIN counted AS n ON n.project_id = t.id
     ORDER BY t.id
    ON CONFLICT (id) DO UPDATE
       SET name = CASE WHEN EXCLUDED.name <> '' THEN EXCLUDED.name ELSE p.name END,
           last_seen_at = now(), event_count = p.event_count + EXCLUDED.event_count
), contributors AS (
    INSERT INTO scoring_contributor AS c (id, login, avatar_url, is_bot, first_seen_at, last_seen_at)
    SELECT DISTINCT ON (user_id) user_id, login, avatar_url, is_bot,
           {first_seen_at}, {occurred_at}
      FROM event_stage_v4
     WHERE login IS NOT NULL
     ORDER BY user_id, occurred_us DESC, event_id DESC
    ON CONFLICT (id) DO UPDATE
       SET login = CASE WHEN EXCLUDED.last_seen_at >= c.last_seen_at AND EXCLUDED.login <> ''
                        THEN EXCLUDED.login ELSE c.login END,
           avatar_url = CASE WHEN EXCLUDED.last_seen_at >= c.last_seen_at AND EXCLUDED.avatar_url <> ''
                             THEN EXCLUDED.avatar_url ELSE c.avatar_url END,
           is_bot = CASE WHEN EXCLUDED.last_seen_at >= c.last_seen_at THEN EXCLUDED.is_bot ELSE c.is_bot END,
           first_seen_at = least(c.first_seen_at, EXCLUDED.first_seen_at),
           last_seen_at = greatest(c.last_seen_at, EXCLUDED.last_seen_at)
     WHERE EXCLUDED.last_seen_at > c.last_seen_at OR EXCLUDED.first_seen_at < c.first_seen_at
        OR (EXCLUDED.last_seen_at = c.last_seen_at
            AND (EXCLUDED.login, EXCLUDED.avatar_url, EXCLUDED.is_bot)
                IS DISTINCT FROM (c.login, c.avatar_url, c.is_bot))
)
SELECT coalesce(sum(count), 0),
       (SELECT array_agg(DISTINCT s.user_id) FROM event_stage_v4 s LEFT JOIN scoring_contributor c ON c.id = s.user_id
         WHERE {bot} AND (c.id IS NULL OR {on_boards})),
       {active},
       txid_current(),
       (SELECT array_agg(s.event_id) FROM event_stage_v4 s WHERE s.event_id NOT IN (SELECT event_id FROM inserted))
  FROM counted
""".format(
    bot=exclusions.looks_like_bot_sql("s"),
    on_boards=exclusions.bot_excludable("c"),
    active=ACTIVE_VERSION,
    unapplied=UNAPPLIED,
    occurred_at=_timestamp("occurred_us"),
    first_seen_at=_timestamp("min(occurred_us) OVER (PARTITION BY user_id)"),
)
_RECORD_DEAD_LETTERS = """
INSERT INTO scoring_deadletter (stream_sequence, digest, subject, raw, reason)
SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::bytea[], %s::text[])
ON CONFLICT (stream_sequence, digest) DO NOTHING
RETURNING stream_sequence, digest
"""


_MICROSECOND = timedelta(microseconds=1)


def copy_rows(scored: Sequence[Scored]) -> bytes:
    """The batch as `COPY … FROM STDIN` text, one line per event, in `event_stage_v4`'s column
    order. Formatted here rather than by psycopg's `write_row`, which formats field by field in
    Python: this is a fifth of the consumer's CPU less per batch (docs/BENCHMARKS.md)."""
    lines = []
    for s in scored:
        c = s.contribution
        login = "\\N" if c.login is None else _copy_text(c.login)
        lines.append(
            f"{_copy_text(c.event_id)}\t{c.kind.value}\t{c.user_id}\t{c.project_id}"
            f"\t{(c.occurred_at - EPOCH) // _MICROSECOND}\t{s.points}\t\\\\x{c.raw.hex()}\t{_copy_text(c.url)}"
            f"\t{login}\t{_copy_text(c.avatar_url)}\t{'t' if c.is_bot else 'f'}\n"
        )
    return "".join(lines).encode()


def _copy_text(value: str) -> str:
    """A text field as COPY's text format writes it: backslash, tab, newline and carriage
    return escaped (the only characters that format gives a meaning; NUL never reaches here)."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


def events_record(*, scored: Sequence[Scored], dead_letters: Sequence[DeadLetterIn] = ()) -> Recorded:
    """Write the batch to the log in one transaction. Returns what it wrote (`Recorded`).

    Events already logged are left as they are; so are dead letters already kept.
    An event worth 0 points is logged applied (no ledger row waits for it): it changes no board (nor would a negative
    one: boards only ever gain points, see `events_apply`). Raises `RulesChanged` (nothing
    written) if the rules version the events were scored by is no longer the active one.
    """
    logged, bots, txid, already = 0, [], None, ()
    kept: list[DeadLetterIn] = []
    with transaction.atomic(), connection.cursor() as cursor:
        if dead_letters:
            digests = [hashlib.sha256(d.raw).hexdigest() for d in dead_letters]
            cursor.execute(
                _RECORD_DEAD_LETTERS,
                [
                    [d.stream_sequence for d in dead_letters],
                    digests,
                    [d.subject.replace("\x00", "")[:256] for d in dead_letters],  # what the columns hold
                    [d.raw for d in dead_letters],
                    [d.reason.replace("\x00", "") for d in dead_letters],
                ],
            )
            new = set(cursor.fetchall())
            kept = [d for d, digest in zip(dead_letters, digests, strict=True) if (d.stream_sequence, digest) in new]
        if scored:
            names: dict[int, str] = {}
            for s in scored:
                if s.contribution.project_name or s.contribution.project_id not in names:
                    names[s.contribution.project_id] = s.contribution.project_name
            cursor.execute(_STAGE_EVENTS)  # takes the gate too (one round trip)
            # Django's cursor does not wrap COPY: without this a dropped connection would raise
            # psycopg's own error, which callers (the consumer's retry) do not know as DatabaseError.
            with connection.wrap_database_errors, cursor.copy(_COPY_EVENTS) as copy:
                copy.write(copy_rows(scored))
            version = scored[0].version
            assert all(s.version == version for s in scored), "one batch, one rules version"
            params = {"ids": list(names), "names": list(names.values()), "version": version}
            cursor.execute(_RECORD_EVENTS, params | {"logins": exclusions.excluded_logins()})
            count, candidates, active, txid, already = cursor.fetchone()
            if active != version:
                raise RulesChanged(version, active)  # rolls the whole transaction back
            logged, bots = int(count), [int(user_id) for user_id in candidates or ()]
            already = tuple(already or ())
    if bots:  # before any of their events is applied (and again on a redelivery after a crash here)
        exclusions.bots_exclude(bots)
    for d in kept:  # once each: a redelivered dead letter was kept before and is not new
        logger.warning(
            "dead letter seq=%s: %s",
            d.stream_sequence,
            d.reason,
            extra={"stream_sequence": d.stream_sequence, "reason": d.reason, "subject": d.subject},
        )
    return Recorded(logged, len(kept), txid, already)


def dead_letter_record(dead_letter: DeadLetterIn) -> int:
    """Keep one message as a dead letter (its own transaction). Returns 1, or 0 if kept already."""
    return events_record(scored=(), dead_letters=[dead_letter]).dead_letters


def event_quarantine(*, event_id: str, reason: str, subject: str = "", stream_sequence: int | None = None) -> bool:
    """Move a logged, unapplied event whose apply fails the same way every time out of the log
    and into the dead letters, with the row's own bytes and `reason` — so that the log again
    holds only events the boards can hold, and restore, verify and the sweep agree on it.

    False when there is nothing to move: the row is gone or applied meanwhile, or its pending
    marker says its points reached the boards (a failure after the apply script ran): then the
    row stays, so the log still says what the boards hold."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT e.raw, e.project_id, e.id FROM scoring_contributionevent e"
            f" JOIN {UNAPPLIED} u ON u.id = e.id WHERE e.event_id = %s FOR UPDATE",
            [event_id],
        )
        found = cursor.fetchone()
        if found is None:
            return False
        if redis_boards.pending_has(event_id):
            logger.error("event %r fails for good after its points reached the boards: kept in the log", event_id)
            return False
        raw, project_id, row_id = bytes(found[0]), found[1], found[2]
        cursor.execute(f"DELETE FROM {UNAPPLIED} WHERE id = %s", [row_id])
        cursor.execute("DELETE FROM scoring_contributionevent WHERE id = %s", [row_id])
        cursor.execute("UPDATE scoring_project SET event_count = event_count - 1 WHERE id = %s", [project_id])
        events_record(scored=(), dead_letters=[DeadLetterIn(raw, reason, subject, stream_sequence)])
    return True
