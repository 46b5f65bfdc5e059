"""Which notification targets a result goes to, and its outbox rows (SPEC section 14).

Targets are the admin's enabled `NotificationTarget`s and the settings' `LEADERBOARD_NOTIFY_URLS`
(every board, every timeframe). The outbox rows are written in the transaction that records the
results, so a result is recorded with its deliveries or not at all; the sender
(notify/sender.py) takes them from there. Each row's `Idempotency-Key` is the result's id and
the target's, the same on every attempt.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from scoring.boards import Timeframe
from scoring.results.models import Delivery, NotificationTarget


@dataclass(frozen=True, slots=True)
class Target:
    key: str  # t<id> for the admin's, env-<hash of kind=url> for the settings'
    kind: str
    url: str
    timeframes: frozenset[str]  # empty: all
    project_ids: frozenset[int]  # empty: every board; 0 is the global board
    row_id: int | None = None

    def wants(self, timeframe: str, project_id: int) -> bool:
        """Whether this target is told of the result of a board."""
        return (not self.timeframes or timeframe in self.timeframes) and (
            not self.project_ids or project_id in self.project_ids
        )


def targets_active() -> list[Target]:
    """The enabled targets: the admin's and the settings'."""
    found = [
        Target(
            f"t{row.id}",
            row.kind,
            row.url,
            frozenset(str(t) for t in row.timeframes or ()),
            frozenset(int(p) for p in row.project_ids or ()),
            row.id,
        )
        for row in NotificationTarget.objects.filter(enabled=True).order_by("id")
    ]
    for kind, url in settings.LEADERBOARD_NOTIFY_URLS:
        digest = hashlib.sha256(f"{kind}={url}".encode()).hexdigest()[:16]
        found.append(Target(f"env-{digest}", kind, url, frozenset(), frozenset()))
    return found


def idempotency_key(result_id: int, target_key: str) -> str:
    """The key every attempt to deliver one result to one target carries."""
    return f"result-{result_id}-{target_key}"


def deliveries_enqueue(
    cursor, *, timeframe: Timeframe, final: datetime, recorded: list[tuple[int, int]], now: datetime
) -> int:
    """Outbox rows for the results just `recorded` ([(result id, project id)]) of one period,
    in the caller's transaction; returns how many."""
    # Every result is announced (SPEC section 14) unless the operator limits it: a first run over
    # a long log may not want a year of winners posted in a channel.
    max_age = settings.RESULTS_ANNOUNCE_MAX_AGE_DAYS
    if max_age and final < now - timedelta(days=max_age):
        return 0
    rows = [
        Delivery(
            result_id=result_id,
            target_id=target.row_id,
            target_key=target.key,
            kind=target.kind,
            url=target.url,
            idempotency_key=idempotency_key(result_id, target.key),
            created_at=now,
            next_attempt_at=now,
        )
        for target in targets_active()
        for result_id, project_id in recorded
        if target.wants(timeframe.value, project_id)
    ]
    Delivery.objects.bulk_create(rows, batch_size=1000)
    return len(rows)
