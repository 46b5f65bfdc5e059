"""Snapshots of the boards, each tied to an exact point of the event log.

A snapshot holds, for every board retained when it was taken, each user's score over exactly
the log rows that were visible to one Postgres transaction snapshot (`pg_snapshot`, the text
form of `txid_current_snapshot()`). "Snapshot + the rows not visible in it" is therefore the
whole log, however transaction ids and sequence ids committed out of order (docs/SNAPSHOTS.md).

One `SnapshotBoard` row per board keeps its members as two parallel arrays: a million members
fit in a few thousand rows, which makes writing, reading and pruning a snapshot cheap.
"""

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Now

from scoring.boards import Timeframe
from scoring.models import U64


class Snapshot(models.Model):
    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(db_default=Now())
    pg_snapshot = models.TextField(help_text="txid_current_snapshot() of the transaction that took it.")
    retained_from = models.JSONField(
        null=True,
        blank=True,
        help_text="The oldest period kept per timeframe when it was taken (absent: every period). "
        "A restore uses the snapshot only if it holds every board retained now.",
    )
    based_on = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    events = models.BigIntegerField(default=0, help_text="Scored events the snapshot covers.")
    rules_version = models.IntegerField(
        default=1, help_text="The rules version active when it was taken: a restore uses only the active one's."
    )
    boards = models.IntegerField(default=0)
    entries = models.BigIntegerField(default=0, help_text="(board, user) members over all boards.")
    duration_ms = models.IntegerField(default=0)

    class Meta:
        ordering = ["-id"]
        get_latest_by = "id"

    def __str__(self) -> str:
        return f"snapshot {self.id} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class SnapshotBoard(models.Model):
    """One board in one snapshot: `user_ids[i]` has `scores[i]`; project_id 0 is the global board."""

    TIMEFRAME_CHOICES = [(t.value, t.value) for t in Timeframe]

    id = models.BigAutoField(primary_key=True)
    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="board_set", db_index=False)
    project_id = models.DecimalField(**U64)
    timeframe = models.CharField(max_length=16, choices=TIMEFRAME_CHOICES)
    period = models.CharField(max_length=16)
    members = models.IntegerField()
    user_ids = ArrayField(models.DecimalField(**U64))
    scores = ArrayField(models.BigIntegerField())

    class Meta:
        ordering = ["snapshot", "project_id", "timeframe", "period"]
        constraints = [
            models.UniqueConstraint(
                fields=["snapshot", "project_id", "timeframe", "period"], name="snapshot_board_once"
            )
        ]

    def __str__(self) -> str:
        scope = "global" if self.project_id == 0 else f"project {self.project_id}"
        return f"{scope} {self.timeframe}:{self.period} ({self.members} members)"


class BoardsSwap(models.Model):
    """The last swap of boards into Redis (restore or rebuild): one row, id 1.

    Redis's ready sentinel holds the same token. A Redis that came back from an old RDB or AOF
    file holds the token of an older swap (or none), or — from a dump taken since the last
    swap — the same token under a new server run id: either way its boards may be older than
    the log says, and the consumer restores them (docs/FAILURES.md)."""

    id = models.SmallIntegerField(primary_key=True, default=1)
    token = models.CharField(max_length=64)
    redis_run_id = models.CharField(
        max_length=64, blank=True, help_text="The Redis server's run id at the swap: another one means it restarted."
    )
    swapped_at = models.DateTimeField(db_default=Now())
    source = models.TextField(blank=True, help_text="What the boards were built from.")

    def __str__(self) -> str:
        return f"boards {self.token} swapped in at {self.swapped_at:%Y-%m-%d %H:%M:%S}"
