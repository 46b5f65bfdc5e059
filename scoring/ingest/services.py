"""Writes: a batch recorded in the log, then applied to the boards, exactly once.

1. `record.events_record` — one transaction: the events, projects, contributors and dead
   letters in the log. From its commit the log is the truth.
2. `apply.events_apply` — one transaction: the batch's unapplied rows locked, their points added
   to the boards by one atomic Lua call that marks each event in Redis, the rows set `applied`.
3. The caller acks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scoring import faults
from scoring.ingest.apply import events_apply
from scoring.ingest.record import DeadLetterIn, batch_record
from scoring.rules import Contribution


@dataclass(slots=True)
class BatchResult:
    """What one batch did — or, summed with `+=`, what many did (the consumer's totals)."""

    batches: int = 0
    received: int = 0
    logged: int = 0  # new rows in the log
    duplicates: int = 0  # already in the log
    dead_letters: int = 0
    applied: int = 0  # events whose points were added to the boards now
    skipped: int = 0  # events the boards already held (a retry after a crash)

    def __iadd__(self, other: BatchResult) -> BatchResult:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


def batch_ingest(*, contributions: Sequence[Contribution], dead_letters: Sequence[DeadLetterIn] = ()) -> BatchResult:
    """Record then apply one batch; the caller acks only after this returns."""
    scored, recorded = batch_record(contributions, dead_letters)
    faults.point("after_record")
    applied, skipped = events_apply(scored=scored, recorded=recorded)
    return BatchResult(
        batches=1,
        received=len(contributions) + len(dead_letters),
        logged=recorded.logged,
        duplicates=len(contributions) - recorded.logged,
        dead_letters=recorded.dead_letters,
        applied=applied,
        skipped=skipped,
    )
