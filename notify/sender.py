"""The outbox's sender: deliver each pending result to its target, retrying until it is taken.

Per pass (`deliveries_send`): claim the due rows (`FOR UPDATE SKIP LOCKED`, so several
consumers share the work, never the same row), move each one's next attempt a lease ahead and
commit; then, with no transaction open, POST each body (the same bytes and `Idempotency-Key`
every time) and record the attempt. A 2xx delivers it; a 4xx other than 429 rejects it (the
target will not take it); a connection error, a timeout, a 5xx or a 429 is retried with
exponential backoff until 24 h after the result was recorded, then it expires. Killed between
the claim and the record, the lease runs out and the row is sent again with the same key.

`SenderLoop` is a thread of the consumer process with its own Postgres connection: nothing in
it runs on a batch loop, so a slow or dead receiver never holds up ingest.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from notify.messages import SIGNATURE_HEADER, delivery_body, signature
from scoring import clock, faults, metrics
from scoring.errors import describe
from scoring.results.models import Delivery, DeliveryAttempt
from scoring.results.selectors import result_by_id

logger = logging.getLogger("leaderboard.notify")

RETRY_FIRST = timedelta(seconds=10)
RETRY_MAX = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(hours=24)
CLAIM = 20  # deliveries per pass
LEASE_EXTRA = timedelta(seconds=30)  # past the timeout: how long a claimed row stays with its sender


@dataclass(frozen=True, slots=True)
class Answer:
    status: int | None  # None: no answer (connection error, timeout)
    error: str


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 10 s doubling, at most an hour."""
    return min(RETRY_FIRST * 2 ** max(attempts - 1, 0), RETRY_MAX)


def outcome_of(answer: Answer) -> str:
    """delivered, rejected (a 4xx but 429: the target refuses it for good) or retry."""
    if answer.status is not None and 200 <= answer.status < 300:
        return Delivery.DELIVERED
    if answer.status is not None and 400 <= answer.status < 500 and answer.status != 429:
        return Delivery.REJECTED
    return "retry"


def post(delivery: Delivery) -> Answer:
    """POST the delivery's body once, within `LEADERBOARD_NOTIFY_TIMEOUT`."""
    headers = {"Content-Type": "application/json", "Idempotency-Key": delivery.idempotency_key}
    secret = settings.LEADERBOARD_NOTIFY_SECRET
    if delivery.kind == "webhook" and secret:
        headers[SIGNATURE_HEADER] = signature(delivery.body, secret)
    request = urllib.request.Request(delivery.url, data=delivery.body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=settings.LEADERBOARD_NOTIFY_TIMEOUT) as response:
            return Answer(response.status, "")
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, f"HTTP {exc.code}")
    except (OSError, ValueError) as exc:  # refused, reset, timed out, a bad URL
        return Answer(None, describe(exc, 300))


def _claim(now: datetime) -> list[Delivery]:
    with transaction.atomic():
        rows = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(state=Delivery.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")[:CLAIM]
        )
        lease = now + timedelta(seconds=settings.LEADERBOARD_NOTIFY_TIMEOUT) + LEASE_EXTRA
        for row in rows:
            if not row.body:  # the first attempt fixes the bytes every later one sends
                row.body = delivery_body(row.kind, result_by_id(row.result_id))
            row.next_attempt_at = lease
            row.save(update_fields=["body", "next_attempt_at"])
    return rows


def _record(delivery: Delivery, answer: Answer, started: datetime, seconds: float) -> str:
    outcome = outcome_of(answer)
    now = clock.now()
    attempts = delivery.attempts + 1
    fields = {"attempts": attempts, "last_error": answer.error}
    if outcome == "retry":
        following = now + backoff(attempts)
        if following > delivery.created_at + GIVE_UP_AFTER:
            outcome = Delivery.EXPIRED
            fields["state"] = Delivery.EXPIRED
        else:
            fields["next_attempt_at"] = following
    else:
        fields["state"] = outcome
        if outcome == Delivery.DELIVERED:
            fields["delivered_at"] = now
    with transaction.atomic():
        Delivery.objects.filter(id=delivery.id).update(**fields)
        DeliveryAttempt.objects.create(
            delivery_id=delivery.id,
            started_at=started,
            duration_ms=int(seconds * 1000),
            status_code=answer.status,
            outcome=outcome,
            error=answer.error,
        )
    return outcome


def deliveries_send(*, now: datetime | None = None) -> dict[str, int]:
    """One pass: send every due delivery once; returns how many ended in each outcome."""
    outcomes: dict[str, int] = {}
    for delivery in _claim(now or clock.now()):
        faults.point("delivery_after_claim")
        started, began = clock.now(), time.monotonic()
        answer = post(delivery)
        faults.point("delivery_after_send")
        outcome = _record(delivery, answer, started, time.monotonic() - began)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        metrics.DELIVERIES.labels(outcome).inc()
        if outcome != Delivery.DELIVERED:
            logger.info("delivery %s: %s (%s)", delivery.idempotency_key, outcome, answer.error or answer.status)
    return outcomes


def undelivered_age(now: datetime) -> float:
    """Seconds since the oldest pending delivery was queued (0: none pending)."""
    oldest = Delivery.objects.filter(state=Delivery.PENDING).order_by("created_at").values_list("created_at", flat=True)
    first = oldest.first()
    return max((now - first).total_seconds(), 0.0) if first is not None else 0.0


class SenderLoop(threading.Thread):
    """`deliveries_send` every `every` seconds until `stop` is set, on a connection of its own."""

    def __init__(self, stop: threading.Event, every: float = 1.0) -> None:
        super().__init__(name="results-sender", daemon=True)
        self.stop, self.every = stop, every

    def run(self) -> None:
        try:
            while not self.stop.wait(self.every):
                try:
                    deliveries_send()
                    metrics.UNDELIVERED_AGE.set(undelivered_age(clock.now()))
                except DatabaseError as exc:
                    logger.warning("sending results failed: %s", describe(exc, 300))
                    connection.close()
        finally:
            connection.close()
