"""The event log, the projects and contributors it names, and the dead letters.

`ContributionEvent` is the durable truth: one row per distinct valid event, unique on its
wire id, written before any board changes. `applied` says whether its points are known to
be on the Redis boards; `txid` is the inserting transaction's id, so a snapshot can name
exactly which rows it saw (docs/EXACTLY_ONCE.md). `RulesVersion` holds the scoring tables
that scored it, one of them active; a row's points under the active one are its live points
(`scoring.eventlog.sql.live_points`).
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now, Upper

from scoring.rules import EventKind

# Wire ids are unsigned 64-bit; numeric(20, 0) holds every one of them exactly.
U64 = {"max_digits": 20, "decimal_places": 0}


class Project(models.Model):
    """A repository seen in events; `event_count` counts its distinct logged events."""

    id = models.DecimalField(primary_key=True, **U64)
    name = models.CharField(max_length=512, blank=True)
    event_count = models.BigIntegerField(default=0)
    first_seen_at = models.DateTimeField(db_default=Now())
    last_seen_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name or f"project {self.id}"


# SPEC section 9: an excluded contributor is on no board (`scoring.eventlog.sql.is_excluded` in SQL).
EXCLUDED = models.Q(excluded_reason__isnull=False)


class ContributorQuerySet(models.QuerySet):
    def excluded(self) -> ContributorQuerySet:
        return self.filter(EXCLUDED)

    def on_boards(self) -> ContributorQuerySet:
        return self.exclude(EXCLUDED)


class Contributor(models.Model):
    """A user id with what the events' `actor` said of it last (SPEC section 9).

    Kept by the consumer in the statement that logs a batch: the name is the newest event's,
    and `first_seen_at` / `last_seen_at` are the times of the earliest and the newest event
    that named the user. Logins are case-insensitive on GitHub and may be renamed or reused,
    so the id is the key and the login is looked up case-insensitively (an index on its upper
    case)."""

    id = models.DecimalField(primary_key=True, **U64)
    # text, not varchar(n): whatever the wire carries fits (cut only of NUL, which Postgres refuses)
    login = models.TextField(blank=True)
    avatar_url = models.TextField(blank=True)
    is_bot = models.BooleanField(default=False)
    first_seen_at = models.DateTimeField(db_default=Now())
    last_seen_at = models.DateTimeField(db_default=Now())
    # SPEC section 9. Null: on the boards. Otherwise why the contributor is on none: "bot"
    # (set by itself, scoring.exclusions) or what the operator said.
    excluded_reason = models.TextField(null=True, blank=True)  # noqa: DJ001 (null is "not excluded")
    excluded_at = models.DateTimeField(null=True, blank=True)
    # Excluded by itself (it looks like a bot): included again by itself when it no longer does.
    excluded_auto = models.BooleanField(default=False, db_default=False)
    # An operator included this contributor although it looks like a bot: leave it on the boards.
    bot_allowed = models.BooleanField(default=False, db_default=False)
    # Its exclusion changed and the boards in Redis may not follow yet (a crash, or a restore or
    # rescore running): `exclusions.contributors_sync` brings them in line and clears it.
    boards_dirty = models.BooleanField(default=False, db_default=False)

    objects = ContributorQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(Upper("login"), name="contributor_login_upper"),
            # Every apply asks which of its users are excluded: a tiny index answers.
            models.Index(fields=["id"], name="contributor_excluded", condition=EXCLUDED),
            models.Index(fields=["id"], name="contributor_dirty", condition=models.Q(boards_dirty=True)),
        ]

    def __str__(self) -> str:
        return self.login or f"user {self.id}"

    @property
    def excluded(self) -> bool:
        return self.excluded_reason is not None


class RulesVersion(models.Model):
    """A numbered version of the scoring table (SPEC section 10). Exactly one is active: the
    consumers score by it, and the boards are the log's points under it. A rescore moves the log
    to another version and switches it active (docs/EXACTLY_ONCE.md)."""

    number = models.PositiveIntegerField(primary_key=True)
    table = models.JSONField(help_text="Points per row of the scoring table (SCORING_* names, lower case).")
    created_at = models.DateTimeField(db_default=Now())
    activated_at = models.DateTimeField(null=True, blank=True, help_text="When it last became active.")
    retired_at = models.DateTimeField(null=True, blank=True, help_text="When another version last replaced it.")
    active = models.BooleanField(default=False)

    class Meta:
        ordering = ["-number"]
        # At most one active (a partial unique index); the switch retires one, then activates the other.
        constraints = [
            models.UniqueConstraint(fields=["active"], condition=models.Q(active=True), name="one_active_rules")
        ]

    def __str__(self) -> str:
        return f"rules version {self.number}{' (active)' if self.active else ''}"


class EventQuerySet(models.QuerySet):
    def unapplied(self) -> EventQuerySet:
        """Rows whose points are not on the boards yet (`eventlog.sql.is_unapplied`)."""
        return self.filter(unapplied__isnull=False)

    def applied(self) -> EventQuerySet:
        """Rows whose points are on the boards, or that are worth none."""
        return self.filter(unapplied__isnull=True)


class ContributionEvent(models.Model):
    """One distinct valid event, with the points it earned (zero included)."""

    KIND_CHOICES = [(kind.value, kind.name) for kind in EventKind]

    id = models.BigAutoField(primary_key=True)
    event_id = models.CharField(max_length=256)  # unique by the constraint below (no LIKE twin index)
    kind = models.PositiveSmallIntegerField(choices=KIND_CHOICES)
    user_id = models.DecimalField(**U64)
    # Not indexed on its own: event_project_time below leads with it. No foreign key in the
    # database: the one statement that logs events upserts their projects in the same
    # transaction, and checking each row again at commit cost an eighth of Postgres's CPU per
    # event (docs/BENCHMARKS.md).
    project = models.ForeignKey(
        Project, on_delete=models.PROTECT, related_name="events", db_index=False, db_constraint=False
    )
    occurred_at = models.DateTimeField()
    points = models.IntegerField(help_text="Under `rules_version`'s table.")
    # Neither is in any index or index predicate: a rescore rewrites both (with `points`) as
    # HOT updates, in place (the table's fillfactor leaves each page room for them).
    rules_version = models.IntegerField(default=1, help_text="The rules version that scored `points`.")
    points_prev = models.IntegerField(
        null=True, blank=True, help_text="Its points under the active version, while a rescore has moved it ahead."
    )
    raw = models.BinaryField(help_text="The protobuf message exactly as received.")
    url = models.TextField(blank=True, db_default="", help_text="The activity on the provider's site.")
    logged_at = models.DateTimeField(db_default=Now())
    txid = models.BigIntegerField(
        db_default=models.Func(function="txid_current", output_field=models.BigIntegerField()), editable=False
    )

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        # Every index costs each insert, so the log keeps only those its reads need: the unique
        # event id (dedup, ON CONFLICT), a user's and a project's events by time, a time range
        # and the snapshot visibility id. Which rows wait for their apply is the ledger's
        # (`UnappliedEvent`): a row is written once, and no flag of it is updated per event.
        constraints = [models.UniqueConstraint(fields=["event_id"], name="event_id_unique")]
        indexes = [
            models.Index(fields=["user_id", "-occurred_at", "-id"], name="event_user_time"),
            models.Index(fields=["project", "occurred_at"], name="event_project_time"),
            models.Index(fields=["occurred_at"], name="event_time"),
            models.Index(fields=["txid"], name="event_txid"),
        ]

    def __str__(self) -> str:
        return self.event_id

    @property
    def applied(self) -> bool:
        """Whether its points are on the boards (or it is worth none): no ledger row waits
        (read once, or from `select_related("unapplied")`)."""
        try:
            self.unapplied  # noqa: B018 - the lookup is the question
        except UnappliedEvent.DoesNotExist:
            return True
        return False


class UnappliedEvent(models.Model):
    """A logged event whose points are not on the boards yet: written with the event (when it
    is worth points), deleted by the apply in the transaction that puts them there
    (docs/EXACTLY_ONCE.md). It holds only the events in flight, so it stays small; the apply
    locks these rows, not the log's, and the log's rows are never updated by it. No foreign
    key: the check would cost every insert; the quarantine deletes both rows together."""

    event = models.OneToOneField(
        "ContributionEvent",
        primary_key=True,
        db_column="id",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="unapplied",
    )

    class Meta:
        db_table = "scoring_unapplied"

    def __str__(self) -> str:
        return f"unapplied {self.pk}"


class DeadLetter(models.Model):
    """An invalid message: kept with its bytes and the reason, never scored, acked."""

    id = models.BigAutoField(primary_key=True)
    stream_sequence = models.BigIntegerField(null=True, blank=True)
    digest = models.CharField(max_length=64, help_text="SHA-256 of the raw bytes.")
    subject = models.CharField(max_length=256, blank=True)
    raw = models.BinaryField()
    reason = models.TextField()
    received_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            # A redelivered message is the same dead letter, not a new one.
            models.UniqueConstraint(fields=["stream_sequence", "digest"], name="dead_letter_once"),
        ]

    def __str__(self) -> str:
        return f"{self.reason} (seq {self.stream_sequence})"


# The results' tables live with their package (scoring/results/), and the streaks' and
# achievements' with theirs (scoring/achievements/), in this app.
from scoring.achievements.models import (  # noqa: E402, F401
    Achievement,
    AchievementsWatermark,
    ContributorDay,
    CountedEvent,
)
from scoring.results.models import (  # noqa: E402, F401
    Delivery,
    DeliveryAttempt,
    NotificationTarget,
    PeriodPlacing,
    PeriodResult,
    ResultPeriod,
    ResultsWatermark,
)
