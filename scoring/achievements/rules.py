"""The catalogue of achievements (SPEC section 15): one rule object per achievement, each a SQL
query over the log's derived tables. To add an achievement, add one line to `CATALOGUE` (a new
kind of rule is one more small class here); docs/ACHIEVEMENTS.md says how.

Every rule answers, for the users a condition selects, the rows
`(user_id, code, earned_at, event_id, result_id)` of the achievement as the log stands, with the
earning event (or result) chosen deterministically, so that the sweep, a rescore and the
backfill all find the same one:

- counts (`NthCounted`): the Nth counted event (a merged pull request, a review) that scores
  under the active rules, in (occurred_at, id) order;
- streaks (`StreakOf`): the first live-scoring event, in (occurred_at, id) order, of the first
  day that ends a run of N consecutive scoring days;
- the first scored event (`FirstScoredEvent`): the first live-scoring event of the first
  scoring day;
- results (`FirstInResult`): the first global result of the timeframe (by final time, then id)
  with the user at rank 1, earned at its final time;
- the board (`TopOfAllTime`): among the global all-time board's top N as the sweep reads it,
  earned by the user's newest live-scoring event then.

`users(column)` is the condition a rule puts on its user column (always qualified by its
table's alias: the condition has subqueries of its own): the sweep's (these users, not
excluded, not holding it yet) or a recompute's (everyone).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from scoring.achievements.days import first_scoring_event, runs
from scoring.achievements.models import CountedEvent
from scoring.eventlog.sql import LOG, live_points
from scoring.rules import EventKind, ScoringFacts

Users = Callable[[str], str]  # a user column -> the SQL condition a rule puts on it

# Where a rule's candidates come from: "log" rules are asked only for the users whose events the
# sweep saw arrive; "results" and "board" ones for everyone, every sweep (their facts change
# without a new event of the user's).
LOG_SCOPE, RESULTS_SCOPE, BOARD_SCOPE = "log", "results", "board"


@dataclass(frozen=True)
class Rule:
    code: str
    title: str
    scope: ClassVar[str] = LOG_SCOPE

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9_]+", self.code):
            raise ValueError(f"an achievement code is [a-z0-9_]+, not {self.code!r}")  # it is spelled into SQL

    def select(self, users: Users) -> str:
        """SQL: `(user_id, code, earned_at, event_id, result_id)` of the users `users` selects."""
        raise NotImplementedError


@dataclass(frozen=True)
class FirstScoredEvent(Rule):
    def select(self, users: Users) -> str:
        return f"""SELECT d.user_id, '{self.code}', f.occurred_at, f.id, NULL::bigint
  FROM (SELECT cd.user_id, min(cd.day) AS day FROM scoring_contributorday cd
         WHERE {users("cd.user_id")} GROUP BY 1) AS d
 CROSS JOIN LATERAL ({first_scoring_event("d.user_id", "d.day")}) AS f"""


@dataclass(frozen=True)
class NthCounted(Rule):
    counter: str = CountedEvent.MERGED_PULL_REQUEST
    n: int = 1

    def select(self, users: Users) -> str:
        return f"""SELECT user_id, '{self.code}', occurred_at, event_id, NULL::bigint
  FROM (SELECT c.user_id, c.occurred_at, c.event_id,
               row_number() OVER (PARTITION BY c.user_id ORDER BY c.occurred_at, c.event_id) AS n
          FROM scoring_countedevent c
          JOIN {LOG} e ON e.id = c.event_id
         WHERE c.counter = '{self.counter}' AND {users("c.user_id")} AND {live_points("e")} > 0) AS counted
 WHERE n = {int(self.n)}"""


@dataclass(frozen=True)
class StreakOf(Rule):
    days: int = 7

    def select(self, users: Users) -> str:
        return f"""SELECT r.user_id, '{self.code}', f.occurred_at, f.id, NULL::bigint
  FROM (SELECT user_id, min(start) + {int(self.days) - 1} AS day
          FROM ({runs(users("cd.user_id"))}) AS streaks
         WHERE days >= {int(self.days)}
         GROUP BY 1) AS r
 CROSS JOIN LATERAL ({first_scoring_event("r.user_id", "r.day")}) AS f"""


@dataclass(frozen=True)
class FirstInResult(Rule):
    timeframe: str = "weekly"
    scope: ClassVar[str] = RESULTS_SCOPE

    def select(self, users: Users) -> str:
        return f"""SELECT DISTINCT ON (p.user_id) p.user_id, '{self.code}', r.final_at, NULL::bigint, r.id
  FROM scoring_periodresult r
  JOIN scoring_periodplacing p ON p.result_id = r.id
 WHERE r.timeframe = '{self.timeframe}' AND r.project_id = 0 AND p.rank = 1 AND {users("p.user_id")}
 ORDER BY p.user_id, r.final_at, r.id"""


@dataclass(frozen=True)
class TopOfAllTime(Rule):
    places: int = 10
    scope: ClassVar[str] = BOARD_SCOPE

    def select(self, users: Users) -> str:
        # %(top_users)s, %(top_ranks)s: the global all-time board's first rows, as the sweep read it
        return f"""SELECT t.user_id, '{self.code}', f.occurred_at, f.id, NULL::bigint
  FROM unnest(%(top_users)s::numeric[], %(top_ranks)s::integer[]) AS t(user_id, rank)
 CROSS JOIN LATERAL (SELECT e.id, e.occurred_at FROM {LOG} e
                      WHERE e.user_id = t.user_id AND {live_points("e")} > 0
                      ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1) AS f
 WHERE t.rank <= {int(self.places)} AND {users("t.user_id")}"""


MERGED, REVIEW = CountedEvent.MERGED_PULL_REQUEST, CountedEvent.REVIEW

CATALOGUE: tuple[Rule, ...] = (
    FirstScoredEvent("first_scored_event", "First scored event"),
    NthCounted("first_merged_pull_request", "First merged pull request", MERGED, 1),
    NthCounted("merged_pull_requests_10", "10 merged pull requests", MERGED, 10),
    NthCounted("merged_pull_requests_100", "100 merged pull requests", MERGED, 100),
    NthCounted("merged_pull_requests_1000", "1,000 merged pull requests", MERGED, 1000),
    NthCounted("reviews_10", "10 reviews", REVIEW, 10),
    NthCounted("reviews_100", "100 reviews", REVIEW, 100),
    StreakOf("streak_7", "7-day streak", 7),
    StreakOf("streak_30", "30-day streak", 30),
    StreakOf("streak_100", "100-day streak", 100),
    FirstInResult("first_weekly", "First in a week", "weekly"),
    FirstInResult("first_monthly", "First in a month", "monthly"),
    FirstInResult("first_yearly", "First in a year", "yearly"),
    TopOfAllTime("top_10_all_time", "Top 10 of all time", 10),
)
TOP_PLACES = max((rule.places for rule in CATALOGUE if isinstance(rule, TopOfAllTime)), default=0)
TITLES = {rule.code: rule.title for rule in CATALOGUE}
assert len(TITLES) == len(CATALOGUE), "each achievement code once"

# The log rows a counted rule counts, by kind: their raw message says which counter (if any).
COUNTED_KINDS = (EventKind.PULL_REQUEST_CLOSED, EventKind.PULL_REQUEST_REVIEW_SUBMITTED)


def counter_of(facts: ScoringFacts) -> str | None:
    """Which counter a logged message adds to (None: none)."""
    if facts.kind is EventKind.PULL_REQUEST_CLOSED:
        return MERGED if facts.merged else None
    if facts.kind is EventKind.PULL_REQUEST_REVIEW_SUBMITTED:
        return REVIEW
    return None
