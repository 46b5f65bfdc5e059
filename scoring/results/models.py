"""The tables of period results (SPEC section 14) and of their notifications' outbox.

- `ResultPeriod`: a (timeframe, period) the log holds events for, and when it becomes final;
  `finalized` once its results are recorded (after which an event for it is late).
- `ResultsWatermark`: the one row saying which log rows the finalizer has seen (a transaction
  snapshot), so that each sweep reads only the rows logged since the last one.
- `PeriodResult`: one board's result, written once and never rewritten (`late_events` aside).
- `NotificationTarget`, `Delivery` (the outbox: one row per result and target, written in the
  result's transaction), `DeliveryAttempt` (every try, for the admin).
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now

U64 = {"max_digits": 20, "decimal_places": 0}
TIMEFRAME_CHOICES = [(t, t) for t in ("yearly", "monthly", "weekly", "daily")]
KIND_CHOICES = [("slack", "Slack"), ("discord", "Discord"), ("webhook", "webhook (signed JSON)")]


class ResultPeriod(models.Model):
    timeframe = models.CharField(max_length=16, choices=TIMEFRAME_CHOICES)
    period = models.CharField(max_length=16)
    final_at = models.DateTimeField(help_text="The period's end plus RESULTS_GRACE_SECONDS.")
    finalized = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["timeframe", "period"], name="result_period_unique")]
        indexes = [models.Index(fields=["final_at"], name="result_period_due", condition=models.Q(finalized=False))]

    def __str__(self) -> str:
        return f"{self.timeframe} {self.period}"


class ResultsWatermark(models.Model):
    log_snapshot = models.TextField(help_text="The log rows the finalizer has seen: a txid snapshot.")

    def __str__(self) -> str:
        return "results watermark"


class PeriodResult(models.Model):
    """A final board: its top `RESULTS_TOP_N` and totals, as the log stood at `log_snapshot`."""

    id = models.BigAutoField(primary_key=True)
    timeframe = models.CharField(max_length=16, choices=TIMEFRAME_CHOICES)
    period = models.CharField(max_length=16)
    project_id = models.DecimalField(help_text="0: the global board.", **U64)
    final_at = models.DateTimeField()
    recorded_at = models.DateTimeField(db_default=Now())
    rules_version = models.IntegerField(help_text="The rules version the scores are under.")
    members = models.IntegerField(help_text="Contributors on the board.")
    total_points = models.BigIntegerField()
    top = models.JSONField(help_text='[{"rank", "user_id", "score"}], best first.')
    late_events = models.IntegerField(default=0, help_text="Events for the period logged after the result.")
    log_snapshot = models.TextField(help_text="The txid snapshot the result was computed in.")

    class Meta:
        ordering = ["-final_at", "project_id"]
        constraints = [
            models.UniqueConstraint(fields=["timeframe", "period", "project_id"], name="period_result_unique")
        ]
        indexes = [
            models.Index(fields=["timeframe", "project_id", "-final_at"], name="result_latest"),
            models.Index(fields=["project_id", "-final_at"], name="result_latest_any"),
        ]

    def __str__(self) -> str:
        scope = "global" if not self.project_id else f"project {self.project_id}"
        return f"{self.timeframe} {self.period} ({scope})"


class PeriodPlacing(models.Model):
    """A contributor's place in a result's top, for the profile's "won or placed" list."""

    result = models.ForeignKey(PeriodResult, on_delete=models.CASCADE, related_name="placings")
    user_id = models.DecimalField(**U64)
    rank = models.IntegerField()
    score = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["user_id", "rank"], name="placing_user")]

    def __str__(self) -> str:
        return f"#{self.rank} user {self.user_id}"


class NotificationTarget(models.Model):
    name = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=16, choices=KIND_CHOICES)
    url = models.URLField(max_length=2000)
    timeframes = models.JSONField(default=list, blank=True, help_text='e.g. ["weekly", "monthly"]; empty: all.')
    project_ids = models.JSONField(
        default=list, blank=True, help_text="e.g. [0, 1296269]: 0 is the global board; empty: every board."
    )
    enabled = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.name or f"{self.kind} {self.url}"


class Delivery(models.Model):
    """One result to one target: the outbox row, with the exact body every attempt sends."""

    PENDING, DELIVERED, REJECTED, EXPIRED = "pending", "delivered", "rejected", "expired"
    STATES = [(s, s) for s in (PENDING, DELIVERED, REJECTED, EXPIRED)]

    result = models.ForeignKey(PeriodResult, on_delete=models.CASCADE, related_name="deliveries")
    target = models.ForeignKey(NotificationTarget, null=True, blank=True, on_delete=models.SET_NULL)
    target_key = models.CharField(max_length=64, help_text="t<id> for the admin's, env-<hash> for the settings'.")
    kind = models.CharField(max_length=16, choices=KIND_CHOICES)
    url = models.URLField(max_length=2000)
    idempotency_key = models.CharField(max_length=128, unique=True)
    body = models.TextField(blank=True, help_text="Set at the first attempt; every later one sends it again.")
    state = models.CharField(max_length=16, choices=STATES, default=PENDING)
    attempts = models.IntegerField(default=0)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="delivery_due", condition=models.Q(state="pending")),
        ]

    def __str__(self) -> str:
        return self.idempotency_key


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_rows")
    started_at = models.DateTimeField()
    duration_ms = models.IntegerField()
    status_code = models.IntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=16, help_text="delivered, retry, rejected or expired.")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.outcome} {self.status_code or ''}".strip()
