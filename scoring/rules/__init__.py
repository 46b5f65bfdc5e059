"""The scoring rules: what an event is worth (`table`, pure) and which table scores the log now
(`versions`, the `RulesVersion` rows from their creation to their activation).

The pure table is re-exported here, so `from scoring.rules import Contribution, points` reads as
before; `scoring.rules.versions` talks to Postgres and is imported by name.
"""

from scoring.rules.table import (
    Contribution,
    EventKind,
    IssueCloseReason,
    PrCloseReason,
    ReviewState,
    RowChange,
    ScoringFacts,
    ScoringTable,
    points,
    table_diff,
)

__all__ = [
    "Contribution",
    "EventKind",
    "IssueCloseReason",
    "PrCloseReason",
    "ReviewState",
    "RowChange",
    "ScoringFacts",
    "ScoringTable",
    "points",
    "table_diff",
]
