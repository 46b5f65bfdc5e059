"""The consumers' heartbeat, `leaderboard:meta:consumer:<durable>`: when one last fetched, when
one last applied a batch and what JetStream had pending, for the health-check."""

from __future__ import annotations

import json
from dataclasses import dataclass

from scoring.redis_boards.client import connection
from scoring.redis_boards.keys import READY_KEY, heartbeat_key

HEARTBEAT_TTL = 86400  # a durable no consumer serves any more leaves no key behind for long


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """What the consumers of one durable last said about themselves (unix times)."""

    seen_at: float  # a consumer's loop last went round (a batch, or a fetch that found nothing)
    last_batch_at: float | None  # the last batch applied (None: none since Redis was emptied)
    pending: int | None  # JetStream's num_pending for the durable, as last read


def heartbeat_write(durable: str, heartbeat: Heartbeat) -> None:
    """Record a consumer's heartbeat (every consumer of the durable writes the same key)."""
    value = json.dumps(
        {"seen_at": heartbeat.seen_at, "last_batch_at": heartbeat.last_batch_at, "pending": heartbeat.pending}
    )
    connection().set(heartbeat_key(durable), value, ex=HEARTBEAT_TTL)


def consumer_status(durable: str) -> tuple[Heartbeat | None, bool]:
    """The durable's heartbeat (None if no consumer wrote one) and whether the boards are ready,
    in one round trip."""
    pipe = connection().pipeline(transaction=False)
    pipe.get(heartbeat_key(durable))
    pipe.exists(READY_KEY)
    raw, ready = pipe.execute()
    if raw is None:
        return None, bool(ready)
    fields = json.loads(raw)
    return Heartbeat(fields["seen_at"], fields["last_batch_at"], fields["pending"]), bool(ready)
