"""A fetched batch, decoded message by message: each keeps its place (its message, to ack) and
is either a `Contribution` or a dead letter (why it is invalid)."""

from __future__ import annotations

from typing import NamedTuple

from scoring.errors import describe
from scoring.ingest.record import DeadLetterIn
from scoring.ingest.wire import InvalidEvent, decode
from scoring.jetstream import BatchSpan, batch_span
from scoring.rules import Contribution


class Item(NamedTuple):
    """One message of a batch: decoded (`contribution`) or not (`dead_letter`). One per
    message: a named tuple, like `Contribution`."""

    msg: object
    contribution: Contribution | None = None
    dead_letter: DeadLetterIn | None = None

    @property
    def sequence(self) -> int | None:
        return stream_sequence(self.msg)


def stream_sequence(msg) -> int | None:
    """A message's stream sequence; None when it is not a JetStream message."""
    try:
        return msg.metadata.sequence.stream
    except Exception:  # not a JetStream message: no sequence to dedup on
        return None


def batch_items(msgs: list) -> list[Item]:
    """Decode a batch, message by message, keeping each one's place."""
    items = []
    for msg in msgs:
        try:
            items.append(Item(msg, contribution=decode(msg.data)))
        except Exception as exc:  # InvalidEvent, or whatever else the decoder may raise on odd bytes
            reason = str(exc) if isinstance(exc, InvalidEvent) else f"undecodable: {describe(exc)}"
            dead = DeadLetterIn(msg.data, reason, msg.subject[:256], stream_sequence(msg))
            items.append(Item(msg, dead_letter=dead))
    return items


def batch_name(items: list, span: BatchSpan | None = None) -> str:
    """A batch (or a part of one, while it is split) for the log: its first and last stream
    sequence and its size."""
    span = span or batch_span([getattr(i, "msg", i) for i in (items[0], items[-1])])
    return f"batch {span} ({len(items)} messages)"
