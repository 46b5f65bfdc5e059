"""Ingest: events in from the wire, into the log, onto the boards, exactly once.

- `wire`: protobuf → `Contribution`, or `InvalidEvent` (protobuf stops there);
- `messages`: a fetched batch decoded message by message, each keeping its place;
- `record`: step 1, the batch in the log (one transaction);
- `apply`: step 2, the logged rows' points on the boards (one transaction, one Lua call);
- `services`: `batch_ingest`, the two steps for one batch;
- `consumer`: the batch loops of `consume_contributions` (fetch, ingest, retry, isolate, ack).

The write services are re-exported here: `from scoring import ingest; ingest.batch_ingest(...)`.
"""

from scoring.ingest.apply import (
    BoardPlan,
    board_plan,
    events_apply,
    markers_prune,
    pending_ids,
    pending_sweep,
    pending_tidy,
)
from scoring.ingest.record import (
    DeadLetterIn,
    Scored,
    batch_record,
    contributions_score,
    dead_letter_record,
    event_quarantine,
    events_record,
)
from scoring.ingest.services import BatchResult, batch_ingest

__all__ = [
    "BatchResult",
    "BoardPlan",
    "DeadLetterIn",
    "Scored",
    "batch_ingest",
    "batch_record",
    "board_plan",
    "contributions_score",
    "dead_letter_record",
    "event_quarantine",
    "events_apply",
    "events_record",
    "markers_prune",
    "pending_ids",
    "pending_sweep",
    "pending_tidy",
]
