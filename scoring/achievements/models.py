"""The tables of streaks and achievements (SPEC section 15), all kept by the sweep
(scoring/achievements/sweep.py), never by the ingest's batch transaction.

- `ContributorDay`: the UTC days on which a user scored at least one live point (any project),
  with that day's points: the log's one grain (`day_scores`) summed over the projects, so a
  streak is read from a user's few hundred days, not from every event of theirs.
- `CountedEvent`: the log rows an achievement counts (merged pull requests, reviews): a fact of
  the message (a merged pull request is only known from its raw payload), not of the rules, so
  a rescore leaves it as it is; whether a row still scores is read from the log.
- `Achievement`: one per (user, achievement), never deleted: `revoked` is set when a rescore
  finds it no longer earned (and cleared if earned again).
- `AchievementsWatermark`: the one row saying which log rows the sweep has seen (a txid
  snapshot), under which rules version, and the excluded users it held back.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Now

U64 = {"max_digits": 20, "decimal_places": 0}


class ContributorDay(models.Model):
    """A UTC day with at least one live point for the user (rows with none are not kept)."""

    pk = models.CompositePrimaryKey("user_id", "day")
    user_id = models.DecimalField(**U64)
    day = models.DateField()
    points = models.BigIntegerField(help_text="Live points that day, every project.")

    class Meta:
        ordering = ["user_id", "day"]

    def __str__(self) -> str:
        return f"user {self.user_id} on {self.day}"


class CountedEvent(models.Model):
    """A log row that an achievement counts: a merged pull request or a review."""

    MERGED_PULL_REQUEST = "merged_pull_request"
    REVIEW = "review"
    COUNTER_CHOICES = [(MERGED_PULL_REQUEST, "merged pull request"), (REVIEW, "review")]

    event = models.OneToOneField(
        "scoring.ContributionEvent", primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False
    )
    user_id = models.DecimalField(**U64)
    counter = models.CharField(max_length=32, choices=COUNTER_CHOICES)
    occurred_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["user_id", "counter", "occurred_at", "event"], name="counted_user")]

    def __str__(self) -> str:
        return f"{self.counter} {self.event_id}"


# What earned an award: an event of the log or a period result (neither ever deleted; no foreign
# key constraint, so that the log's inserts check nothing more).
_EARNED_BY = {"null": True, "blank": True, "on_delete": models.DO_NOTHING, "db_constraint": False, "related_name": "+"}


class Achievement(models.Model):
    """One achievement of one user: when and by what it was earned."""

    id = models.BigAutoField(primary_key=True)
    user_id = models.DecimalField(**U64)
    code = models.CharField(max_length=64, help_text="The rule's code, e.g. merged_prs_10.")
    earned_at = models.DateTimeField(help_text="The earning event's time, or the result's final time.")
    event = models.ForeignKey(
        "scoring.ContributionEvent", help_text="The event that earned it (null for a result's).", **_EARNED_BY
    )
    result = models.ForeignKey("scoring.PeriodResult", help_text="The period result that earned it.", **_EARNED_BY)
    awarded_at = models.DateTimeField(db_default=Now(), help_text="When the sweep recorded it.")
    revoked = models.DateTimeField(null=True, blank=True, help_text="When a rescore found it no longer earned.")

    class Meta:
        ordering = ["user_id", "earned_at", "id"]
        constraints = [models.UniqueConstraint(fields=["user_id", "code"], name="achievement_once")]

    def __str__(self) -> str:
        return f"{self.code} of user {self.user_id}"


class AchievementsWatermark(models.Model):
    log_snapshot = models.TextField(help_text="The log rows the sweep has seen: a txid snapshot.")
    rules_version = models.IntegerField(help_text="The active rules version the awards were computed under.")
    held_back = ArrayField(
        models.DecimalField(**U64), default=list, help_text="Excluded users whose awards wait for their inclusion."
    )

    def __str__(self) -> str:
        return "achievements watermark"
