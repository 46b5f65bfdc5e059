"""The rules of the event log as SQL fragments, each spelled once and imported wherever a
statement needs it (a second spelling is a rule a later change forgets).

- A row's **live points**: its points under the active rules version, `points` if the row is at
  that version, else `points_prev` (a row a rescore has moved ahead keeps its points under the
  active version there until the rescore's switch). Every aggregate of the log sums these.
- An **unapplied** row: its points are not on the boards yet — it has a row in the ledger
  `scoring_unapplied` (the log's own rows are written once and never updated for this). The
  ORM twin is `ContributionEvent.objects.unapplied()` / `.applied()`.
- An **excluded** contributor (SPEC section 9): its `excluded_reason` is set. Its events stay in
  the log and reach no board. The ORM twin is `Contributor.objects.excluded()` /
  `.on_boards()` (`scoring.models.EXCLUDED`).
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Coalesce

from scoring.models import RulesVersion
from scoring.rules.versions import ACTIVE_VERSION

LOG = "scoring_contributionevent"


def live_points(row: str = LOG) -> str:
    """SQL: the live points of the log row `row` (the table, or its alias)."""
    return f"CASE WHEN {row}.rules_version = {ACTIVE_VERSION} THEN {row}.points ELSE {row}.points_prev END"


def utc_day(row: str = LOG) -> str:
    """SQL: the UTC date of the log row `row`'s time as its ordinal (Python's `date.toordinal`:
    0001-01-01 is 1), all the boards' periods depend on (`BoardPlan.boards_on`): an integer
    needs no datetime made per row in Python."""
    return f"({row}.occurred_at AT TIME ZONE 'UTC')::date - date '0001-01-01' + 1"


def live_points_expression() -> models.Case:
    """`live_points` for the ORM (aliases and subqueries included)."""
    active = Coalesce(models.Subquery(RulesVersion.objects.filter(active=True).values("number")[:1]), 1)
    return models.Case(
        models.When(rules_version=active, then=models.F("points")),
        default=models.F("points_prev"),
        output_field=models.IntegerField(),
    )


UNAPPLIED = "scoring_unapplied"


def is_unapplied(row: str) -> str:
    """SQL: whether the log row `row` (an alias of the log) waits for its apply."""
    return f"EXISTS (SELECT 1 FROM {UNAPPLIED} u WHERE u.id = {row}.id)"


def is_applied(row: str) -> str:
    """SQL: whether the log row `row` has its points on the boards (or is worth none)."""
    return f"NOT {is_unapplied(row)}"


def is_excluded(contributor: str) -> str:
    """SQL: whether the contributor row `contributor` (an alias of scoring_contributor) is excluded."""
    return f"{contributor}.excluded_reason IS NOT NULL"


def user_excluded(user_id: str) -> str:
    """SQL: whether the user in the column `user_id` is excluded (a partial index of the few
    excluded contributors answers it)."""
    return f"{user_id} IN (SELECT x.id FROM scoring_contributor x WHERE {is_excluded('x')})"


def logged_since(row: str, snapshot: str) -> str:
    """SQL: whether the log row `row` was logged after the transaction snapshot in the parameter
    `snapshot` (a txid snapshot's text): not visible in it (the `txid` index finds such rows)."""
    return (
        f"{row}.txid >= txid_snapshot_xmin(%({snapshot})s::txid_snapshot)"
        f" AND NOT txid_visible_in_snapshot({row}.txid, %({snapshot})s::txid_snapshot)"
    )
