"""The answers' shapes, each declared once (api/shape.py): the OpenAPI document reads them,
and the REST views, the pages' rows and the stream build their bodies with them. (Comments,
not docstrings, say what each is: a docstring would be a description in the document.)"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from api.query import TIMEFRAMES
from api.shape import Shape, computed
from scoring.achievements.rules import CATALOGUE
from scoring.boards import GLOBAL
from scoring.rules import EventKind

ACHIEVEMENT_CODES = [rule.code for rule in CATALOGUE]


def _login_field() -> serializers.CharField:
    return serializers.CharField(allow_null=True, help_text="The contributor's login (null while unknown).")


def _avatar_field() -> serializers.CharField:
    return serializers.CharField(allow_null=True, help_text="The contributor's avatar image URL (null while unknown).")


def _link_field() -> serializers.URLField:
    return serializers.URLField(allow_null=True)


@extend_schema_serializer(component_name="BoardRow")
class BoardRow(Shape):
    # A row of a board (`selectors.BoardRow`): the API's, the pages' and the stream's.
    rank = serializers.IntegerField(min_value=1, help_text="Standard competition rank: 1, 2, 2, 4.")
    user_id = serializers.CharField(help_text="The user id in decimal (a string: ids are unsigned 64-bit).")
    score = serializers.IntegerField()
    login = _login_field()
    avatar_url = _avatar_field()


def _project_id(answer) -> int | None:
    return None if answer.board.project_id == GLOBAL else answer.board.project_id


class BoardFields(Shape):
    # Which board an answer is about (read from the instance's `board`).
    timeframe = serializers.ChoiceField(choices=TIMEFRAMES, source="board.timeframe")
    period = serializers.CharField(
        source="board.period", help_text="The period read (the current one when none was asked for)."
    )
    project_id = computed(
        serializers.IntegerField(allow_null=True, help_text="null: the global board."),
        _project_id,
    )


@extend_schema_serializer(component_name="BoardPage")
class BoardPage(BoardFields):
    # `selectors.BoardPage`, with its `next` and `previous` links given.
    total = serializers.IntegerField(min_value=0, help_text="How many users the board holds.")
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    next = _link_field()
    previous = _link_field()
    results = BoardRow(many=True, source="rows")


@extend_schema_serializer(component_name="UserStanding")
class UserStanding(BoardFields):
    # `selectors.Standing`.
    user_id = serializers.CharField()
    login = _login_field()
    avatar_url = _avatar_field()
    rank = serializers.IntegerField(min_value=1)
    score = serializers.IntegerField()
    total = serializers.IntegerField(min_value=0)
    around = BoardRow(
        many=True,
        required=False,
        help_text="Only with `around=N`: the rows from N above the user to N below, the user's own "
        "row included, clipped at the ends of the board.",
    )


@extend_schema_field(serializers.ChoiceField(choices=[kind.name for kind in EventKind]))
class EventKindField(serializers.Field):
    def to_representation(self, value: int) -> str:
        return EventKind(value).name


@extend_schema_serializer(component_name="Event")
class Event(Shape):
    # An event of the log (`ContributionEvent`), with its points under the active rules.
    event_id = serializers.CharField(help_text="The event's wire id.")
    kind = EventKindField(help_text="The event's name on the wire.")
    project_id = serializers.IntegerField()
    project_name = serializers.CharField(source="project.name")
    points = serializers.IntegerField(min_value=1, source="live_points", help_text="Under the active rules.")
    occurred_at = serializers.DateTimeField()
    url = serializers.CharField(help_text="The activity on the provider's site (empty when not known).")


@extend_schema_serializer(component_name="UserEvents")
class UserEvents(Shape):
    # A user's events on a board (a `BoardQuery`, with the rest given).
    user_id = serializers.CharField()
    login = _login_field()
    avatar_url = _avatar_field()
    timeframe = serializers.ChoiceField(choices=TIMEFRAMES, source="board.timeframe")
    period = serializers.CharField(source="board.period")
    project_id = computed(serializers.IntegerField(allow_null=True), _project_id)
    next = _link_field()
    previous = _link_field()
    results = Event(many=True)


@extend_schema_serializer(component_name="Project")
class Project(Shape):
    id = serializers.IntegerField(help_text="The repository id.")
    name = serializers.CharField(help_text="The latest name seen, e.g. org/repo.")
    event_count = serializers.IntegerField(help_text="Distinct valid events logged, zero-point ones included.")


@extend_schema_serializer(component_name="ProjectPage")
class ProjectPage(Shape):
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    next = _link_field()
    previous = _link_field()
    results = Project(many=True)


@extend_schema_serializer(component_name="Streak")
class Streak(Shape):
    # `scoring.achievements.selectors.Streak`: a run of consecutive UTC days with points.
    days = serializers.IntegerField(min_value=1, help_text="How many consecutive UTC days.")
    start = serializers.DateField(help_text="Its first day (UTC).")
    end = serializers.DateField(help_text="Its last day (UTC).")


@extend_schema_serializer(component_name="Streaks")
class Streaks(Shape):
    # SPEC section 15: days on which the contributor scored at least one point, in any project.
    current = Streak(allow_null=True, help_text="The streak alive today or yesterday (UTC); null: none.")
    longest = Streak(allow_null=True, help_text="The longest (of equal ones, the most recent); null: no points yet.")


@extend_schema_serializer(component_name="EarnedResult")
class EarnedResult(Shape):
    id = serializers.IntegerField(help_text="The period result's id (GET /v1/results).")
    timeframe = serializers.ChoiceField(choices=TIMEFRAMES)
    period = serializers.CharField()


@extend_schema_serializer(component_name="Achievement")
class Achievement(Shape):
    # `scoring.achievements.selectors.Earned`: awarded once, never deleted (SPEC section 15).
    code = serializers.ChoiceField(choices=ACHIEVEMENT_CODES, help_text="Which achievement.")
    title = serializers.CharField(help_text="Its name for people.")
    earned_at = serializers.DateTimeField(help_text="When: the earning event's time, or the result's final time.")
    event_id = serializers.CharField(allow_null=True, help_text="The wire id of the event that earned it.")
    result = EarnedResult(allow_null=True, help_text="The period result that earned it (first-in achievements).")
    revoked = serializers.DateTimeField(
        allow_null=True, help_text="When a rescore found it no longer earned; null while it is earned."
    )


@extend_schema_serializer(component_name="Contributor")
class Contributor(Shape):
    # A `Contributor` row.
    user_id = serializers.CharField(source="id", help_text="The user id in decimal.")
    login = serializers.CharField(help_text="The login the events named last.")
    avatar_url = computed(
        serializers.CharField(allow_null=True, help_text="The avatar image URL (null when not known)."),
        lambda contributor: contributor.avatar_url or None,
    )
    is_bot = serializers.BooleanField()
    first_seen_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField()
    streaks = Streaks(help_text="Current and longest streaks, as of the consumers' last sweep.")
    achievements = Achievement(many=True, help_text="In the order earned, the revoked ones included.")


@extend_schema_serializer(component_name="RulesVersion")
class RulesVersion(Shape):
    # `scoring.rules.versions.RulesVersionView`.
    version = serializers.IntegerField(source="number", help_text="The version's number.")
    table = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Points per row of the scoring table, by the rows' SCORING_* names in lower case.",
    )
    created_at = serializers.DateTimeField(allow_null=True)
    activated_at = serializers.DateTimeField(allow_null=True, help_text="When it last became active.")
    retired_at = serializers.DateTimeField(allow_null=True, help_text="When another version last replaced it.")


@extend_schema_serializer(component_name="Rules")
class Rules(Shape):
    # The active `RulesVersionView`, with the earlier ones given.
    version = serializers.IntegerField(source="number")
    table = serializers.DictField(child=serializers.IntegerField())
    created_at = serializers.DateTimeField(allow_null=True)
    activated_at = serializers.DateTimeField(allow_null=True)
    earlier = RulesVersion(many=True)


@extend_schema_serializer(component_name="ConsumerCheck")
class ConsumerCheck(Shape):
    status = serializers.ChoiceField(choices=["ok", "degraded", "unknown"])
    last_batch_age_seconds = serializers.FloatField(allow_null=True)
    pending = serializers.IntegerField(allow_null=True)
    detail = serializers.CharField(required=False)


@extend_schema_serializer(component_name="HealthChecks")
class HealthChecks(Shape):
    postgres = serializers.CharField()
    redis = serializers.CharField()
    nats = serializers.CharField()
    consumer = ConsumerCheck()


@extend_schema_serializer(component_name="HealthCheck")
class HealthCheck(Shape):
    # `scoring.health.health_check`'s answer (given as it is).
    status = serializers.ChoiceField(choices=["ok", "degraded", "error"])
    checks = HealthChecks()


@extend_schema_serializer(component_name="PeriodResult")
class PeriodResult(BoardFields):
    # `scoring.results.selectors.Result`: a final board, recorded once (SPEC section 14).
    id = serializers.IntegerField(help_text="The result's id (in the notifications' Idempotency-Key).")
    final_at = serializers.DateTimeField(help_text="When the period became final: its end plus the grace.")
    recorded_at = serializers.DateTimeField()
    rules_version = serializers.IntegerField(help_text="The rules version the scores are under.")
    members = serializers.IntegerField(help_text="How many contributors the board held.")
    total_points = serializers.IntegerField(help_text="The points of the whole board.")
    late_events = serializers.IntegerField(
        help_text="Events for the period logged after the result was recorded: counted here, never in the result."
    )
    top = BoardRow(many=True, source="rows", help_text="The top RESULTS_TOP_N, with standard competition ranks.")


@extend_schema_serializer(component_name="PeriodResultPage")
class PeriodResultPage(Shape):
    # The latest results of a scope (`results_latest`), newest period first.
    timeframe = serializers.ChoiceField(choices=TIMEFRAMES, allow_null=True, help_text="null: every timeframe.")
    project_id = serializers.IntegerField(allow_null=True, help_text="null: the global boards.")
    total = serializers.IntegerField(min_value=0)
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    next = _link_field()
    previous = _link_field()
    results = PeriodResult(many=True)


@extend_schema_serializer(component_name="ShieldsBadge")
class ShieldsBadge(Shape):
    # `scoring.apis.badges.Badge`, as shields.io's endpoint badge reads it
    # (https://shields.io/badges/endpoint-badge): `https://img.shields.io/endpoint?url=…`.
    schemaVersion = computed(serializers.IntegerField(help_text="Always 1."), lambda badge: 1)
    label = serializers.CharField(help_text='The left text: "rank", or e.g. "weekly rank".')
    message = serializers.CharField(help_text='The right text: e.g. "#3 · 1,234 pts", or "not ranked".')
    color = serializers.CharField(help_text="The right part's colour, in hex without the #.")
    cacheSeconds = computed(
        serializers.IntegerField(help_text="How long shields may keep it (seconds)."), lambda badge: badge.max_age
    )
