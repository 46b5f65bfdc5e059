"""Snapshots of the boards, each tied to an exact point of the event log.

A snapshot holds, for every retained board, each user's score over exactly the log rows that
were visible to one Postgres transaction snapshot (`pg_snapshot`, the text form of
`txid_current_snapshot()`). "Snapshot + the rows not visible in it" is therefore the whole log,
however transaction ids committed out of order (docs/SNAPSHOTS.md).
"""

from django.db import models
from django.db.models.functions import Now

from scoring.boards import Timeframe
from scoring.models import U64


class Snapshot(models.Model):
    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(db_default=Now())
    pg_snapshot = models.TextField(help_text="txid_current_snapshot() of the transaction that took it.")
    based_on = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    events = models.BigIntegerField(default=0, help_text="Scored events the snapshot covers.")
    boards = models.IntegerField(default=0)
    entries = models.BigIntegerField(default=0)
    duration_ms = models.IntegerField(default=0)

    class Meta:
        ordering = ["-id"]
        get_latest_by = "id"

    def __str__(self) -> str:
        return f"snapshot {self.id} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class SnapshotEntry(models.Model):
    """One user's score on one board in one snapshot; project_id 0 is the global board."""

    TIMEFRAME_CHOICES = [(t.value, t.value) for t in Timeframe]

    id = models.BigAutoField(primary_key=True)
    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="entry_set", db_index=False)
    project_id = models.DecimalField(**U64)
    timeframe = models.CharField(max_length=16, choices=TIMEFRAME_CHOICES)
    period = models.CharField(max_length=16)
    user_id = models.DecimalField(**U64)
    score = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["snapshot", "project_id", "timeframe", "period"], name="snapshot_board")]

    def __str__(self) -> str:
        return f"{self.timeframe}:{self.period} project {self.project_id} user {self.user_id}: {self.score}"
