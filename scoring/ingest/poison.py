"""Poison isolation: a batch that fails the same way every time is split in halves until only
the message at fault is left; that one becomes a dead letter (why it fails, found by trying it
once more step by step) and the rest of the batch is applied. Transient errors propagate, for
the consumer's one retry loop (`Consumer._until_done`)."""

from __future__ import annotations

import logging

from scoring.errors import describe, is_transient
from scoring.ingest.apply import events_apply
from scoring.ingest.messages import Item, batch_name
from scoring.ingest.record import DeadLetterIn, batch_record, dead_letter_record, event_quarantine
from scoring.ingest.services import BatchResult, batch_ingest
from scoring.redis_boards import BoardsNotReady

logger = logging.getLogger("leaderboard.consumer")


def batch_ingest_isolating(items: list[Item]) -> BatchResult:
    """Ingest `items`; if that fails the same way it would every time, split them in halves
    and ingest each (recursively), so that only the message at fault is left: it becomes a
    dead letter and the rest of the batch is applied. Transient errors propagate (the whole
    batch is retried: what was written is found again and adds nothing)."""
    try:
        return batch_ingest(
            contributions=[i.contribution for i in items if i.contribution],
            dead_letters=[i.dead_letter for i in items if i.dead_letter],
        )
    except BoardsNotReady:
        raise
    except Exception as exc:
        if is_transient(exc):
            raise
        if len(items) == 1:
            return _poison(items[0], exc)
        logger.warning("%s failed for good (%s): splitting it", batch_name(items), describe(exc, 300))
        half = len(items) // 2
        result = batch_ingest_isolating(items[:half])
        result += batch_ingest_isolating(items[half:])
        return result


def _poison(item: Item, exc: BaseException) -> BatchResult:
    """One message that failed on its own: find which step it fails in (trying it once more,
    step by step) and keep it as a dead letter with the reason. A message whose apply fails
    leaves the log too (`event_quarantine`), so that restore and verify agree with the boards."""
    result = BatchResult(batches=1, received=1)
    sequence, subject = item.sequence, item.msg.subject[:256]
    if item.contribution is None:  # a dead letter whose own insert failed: keep the error instead
        reason = f"{item.dead_letter.reason}; kept with: {describe(exc)}"[:4000]
        dead = DeadLetterIn(item.msg.data, reason, subject, sequence)
        return _dead_letter(dead, result)
    try:
        scored, recorded = batch_record([item.contribution])
    except Exception as again:
        if is_transient(again):
            raise
        reason = f"the log cannot hold it: {describe(again)}"
        return _dead_letter(DeadLetterIn(item.msg.data, reason, subject, sequence), result)
    result.logged, result.duplicates = recorded.logged, 1 - recorded.logged
    try:
        result.applied, result.skipped = events_apply(scored=scored, recorded=recorded)
        return result
    except BoardsNotReady:
        raise
    except Exception as again:
        if is_transient(again):
            raise
        reason = f"the boards cannot hold it: {describe(again)}"
    event_id = item.contribution.event_id
    if event_quarantine(event_id=event_id, reason=reason, subject=subject, stream_sequence=sequence):
        logger.error("dead letter (seq %s, event %r, taken out of the log): %s", sequence, event_id, reason)
        result.dead_letters, result.logged = 1, 0
    return result


def _dead_letter(dead: DeadLetterIn, result: BatchResult) -> BatchResult:
    logger.error("dead letter (seq %s): %s", dead.stream_sequence, dead.reason)
    try:
        result.dead_letters = dead_letter_record(dead)
    except Exception as exc:
        if is_transient(exc):
            raise
        # Even the dead letter cannot be kept: say so with the bytes, and go on (acked).
        logger.error(
            "dead letter (seq %s) not kept (%s); its bytes: %s",
            dead.stream_sequence,
            describe(exc),
            dead.raw[:4096],
        )
    return result
