"""Rules versions (SPEC section 10): the scoring tables that scored the log, one of them active.

The one owner of `RulesVersion`, from its creation to its activation:

- `rules_ensure` records version 1 from the settings' table when none exists (the consumer's
  start, a rescore's start); every other function here that reads never writes;
- `rules_active` reads the active version from Postgres, `rules_current` is this process's copy
  of it (the record checks it under the boards gate, so a stale copy costs a retry, never a
  wrong score);
- `version_target` finds or records the version a rescore moves the log to, `version_activate`
  switches it active (inside the rescore's switch, under the gate held exclusive);
- `ACTIVE_VERSION` is the active version's number as SQL, for every statement that reads the
  log's live points (`scoring.eventlog.sql.live_points`) or checks a batch's version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection

from scoring.models import RulesVersion
from scoring.rules.table import RowChange, ScoringTable, table_diff

# The active version's number, as SQL: an uncorrelated subquery (one InitPlan per statement). No
# version recorded yet means version 1, the one `rules_ensure` records from the settings.
ACTIVE_VERSION = "coalesce((SELECT number FROM scoring_rulesversion WHERE active), 1)"


def settings_table() -> ScoringTable:
    """The table the settings describe (`SCORING_*`, YAML `scoring`): what the operator wants.
    Events are scored by the active version's table; a consumer whose settings differ from it
    refuses to start (`rules_check`), and `rescore_leaderboards` makes this table the active one."""
    return ScoringTable.from_mapping(settings.SCORING)


@dataclass(frozen=True, slots=True)
class ActiveRules:
    """A rules version and its table."""

    number: int
    table: ScoringTable


class RulesChanged(Exception):
    """The batch was scored by a rules version that is no longer active: nothing was recorded."""

    def __init__(self, scored_by: int, active: int) -> None:
        super().__init__(f"the batch was scored by rules version {scored_by}, but version {active} is active")
        self.scored_by, self.active = scored_by, active


class UnknownVersion(Exception):
    """A rules version asked for by number that does not exist."""


_rules: ActiveRules | None = None  # this process's copy of the active version (one assignment: thread-safe)


def rules_current(*, reload: bool = False) -> ActiveRules:
    """The active rules version, as this process last read it from Postgres (`reload`: read it
    again)."""
    global _rules
    if _rules is None or reload:
        _rules = rules_active()
    return _rules


def rules_forget() -> None:
    """Drop this process's copy of the active version: the next use reads it again. (A version
    never changes its table, so in production the copy is only ever stale by its number, which
    the record checks; a test that empties the database forgets it.)"""
    global _rules
    _rules = None


def rules_active() -> ActiveRules:
    """The active rules version read from Postgres; before any is recorded, version 1 as
    `rules_ensure` would record it (the log's rows are version 1 until a rescore)."""
    with connection.cursor() as cursor:
        found = _active_row(cursor)
    return found if found is not None else ActiveRules(1, settings_table())


def rules_ensure() -> ActiveRules:
    """The active rules version, version 1 recorded from the settings' table first if no version
    exists yet (two processes doing it at once record it once). Also refreshes `rules_current`."""
    global _rules
    with connection.cursor() as cursor:
        for _ in range(2):
            found = _active_row(cursor)
            if found is not None:
                _rules = found
                return found
            cursor.execute(
                'INSERT INTO scoring_rulesversion (number, "table", created_at, activated_at, active)'
                " SELECT 1, %s, now(), now(), true WHERE NOT EXISTS (SELECT FROM scoring_rulesversion)"
                " ON CONFLICT DO NOTHING",
                [json.dumps(settings_table().as_mapping())],
            )
    raise RuntimeError("no rules version is active (scoring_rulesversion holds versions, none of them active)")


def _active_row(cursor) -> ActiveRules | None:
    cursor.execute('SELECT number, "table" FROM scoring_rulesversion WHERE active')
    found = cursor.fetchone()
    if found is None:
        return None
    number, table = found  # jsonb comes as text through Django's cursor
    return ActiveRules(number, ScoringTable.from_mapping(json.loads(table)))


def rules_check() -> tuple[ActiveRules, list[RowChange]]:
    """At a consumer's start: the active rules version (recorded first if none is), and the rows
    in which the settings' table differs from it (none: the consumer may start)."""
    active = rules_ensure()
    return active, table_diff(settings_table(), active.table)


def active_version(cursor) -> int:
    """The active version's number, as the cursor's transaction sees it."""
    cursor.execute(f"SELECT {ACTIVE_VERSION}")
    return cursor.fetchone()[0]


@dataclass(frozen=True, slots=True)
class Target:
    """The version a rescore moves the log to; `number` None: a new one, not recorded yet."""

    number: int | None
    table: ScoringTable


def version_target(to: int | None, *, record: bool) -> tuple[Target, bool]:
    """The version a rescore moves the log to — version `to`, or the settings' table — and
    whether it was just recorded. A version whose table equals the settings' is reused (the
    active one first); else, with `record`, version max+1 is recorded, inactive. Raises
    `UnknownVersion` for a `to` that does not exist. The caller holds the boards lock."""
    if to is not None:
        found = RulesVersion.objects.filter(number=to).first()
        if found is None:
            known = ", ".join(str(n) for n in RulesVersion.objects.order_by("number").values_list("number", flat=True))
            raise UnknownVersion(f"there is no rules version {to} (the versions are: {known or 'none yet'})")
        return Target(found.number, ScoringTable.from_mapping(found.table)), False
    wanted = settings_table()
    versions = list(RulesVersion.objects.order_by("-active", "-number"))
    for version in versions:
        if ScoringTable.from_mapping(version.table) == wanted:
            return Target(version.number, wanted), False
    if not record:
        return Target(None, wanted), False
    number = max((v.number for v in versions), default=0) + 1
    RulesVersion.objects.create(number=number, table=wanted.as_mapping())
    return Target(number, wanted), True


def version_activate(cursor, number: int) -> None:
    """Make version `number` the active one (retiring the other), in the cursor's transaction:
    the rescore's switch, which holds the boards gate exclusive around it."""
    cursor.execute(
        "UPDATE scoring_rulesversion SET active = false, retired_at = now() WHERE active AND number <> %s", [number]
    )
    cursor.execute(
        "UPDATE scoring_rulesversion SET active = true, activated_at = now() WHERE number = %s AND NOT active", [number]
    )


@dataclass(frozen=True, slots=True)
class RulesVersionView:
    """A rules version as the API shows it."""

    number: int
    table: dict[str, int]
    created_at: datetime | None
    activated_at: datetime | None
    retired_at: datetime | None


def rules_versions() -> tuple[RulesVersionView, list[RulesVersionView]]:
    """The active rules version and the others, newest first. Before any version is recorded
    (no consumer has run yet), the settings' table, as the version 1 the first one records."""
    active, earlier = None, []
    for version in RulesVersion.objects.order_by("-number"):
        table = ScoringTable.from_mapping(version.table).as_mapping()
        view = RulesVersionView(version.number, table, version.created_at, version.activated_at, version.retired_at)
        if version.active:
            active = view
        else:
            earlier.append(view)
    if active is None:
        active = RulesVersionView(1, settings_table().as_mapping(), None, None, None)
    return active, earlier
