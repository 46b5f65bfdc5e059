"""DRF views: validate the query, call a selector, shape the answer.

Every query parameter goes through an input serializer: a bad value, a parameter an endpoint
does not know, or one given twice is a 400 whose JSON names it and says what is allowed
(docs/API.md). The board reads are the hot path: their output serializers build plain dicts
directly, and the only Postgres read on that path is one query for the names of the page's
users (none at all when Postgres is down: the rows then come without names).
"""

from __future__ import annotations

import copy
from base64 import b64decode, b64encode
from datetime import UTC, datetime
from typing import Any
from urllib import parse
from urllib.parse import urlencode

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboard_project.exceptions import InvalidParameter, NotFound
from scoring import clock
from scoring.boards import (
    GLOBAL,
    PERIOD_FORMATS,
    PERIOD_PATTERN,
    Board,
    Timeframe,
    period_end,
    period_of,
    validate_period,
)
from scoring.health import health_check
from scoring.rules import EventKind
from scoring.rules.versions import rules_versions
from scoring.selectors import (
    BoardPage,
    BoardRow,
    EventPosition,
    Standing,
    board_page,
    contributor_find,
    contributor_names,
    period_is_closed,
    project_list,
    user_events_page,
    user_is_excluded,
    user_standing,
)

U64_MAX = 2**64 - 1  # user and project ids are unsigned 64-bit on the wire
OFFSET_MAX = 2**53 - 1  # far past any board, and safe for Redis ranges and JSON readers
LIMIT_MAX, LIMIT_DEFAULT = 1000, 50
AROUND_MAX = 50
# Cache-Control max-age: a current board changes every moment; a closed period's board only
# when a late event arrives.
CURRENT_MAX_AGE = 5
CLOSED_MAX_AGE = 3600
TIMEFRAMES = [timeframe.value for timeframe in Timeframe]
BAD_CURSOR = "not a cursor this API gave out; follow the next and previous links"


def previous_offset(*, offset: int, limit: int, total: int) -> int | None:
    """Where the page before the one at `offset` starts (None on the first page): `limit`
    rows back, and never past the last full page (an offset beyond the end steps back into it)."""
    return max(0, min(offset - limit, total - limit)) if offset > 0 else None


class HealthCheckApi(APIView):
    @extend_schema_serializer(component_name="HealthCheck")
    class OutputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=["ok", "degraded", "error"])
        checks = inline_serializer(
            "HealthChecks",
            {
                **{name: serializers.CharField() for name in ("postgres", "redis", "nats")},
                "consumer": inline_serializer(
                    "ConsumerCheck",
                    {
                        "status": serializers.ChoiceField(choices=["ok", "degraded", "unknown"]),
                        "last_batch_age_seconds": serializers.FloatField(allow_null=True),
                        "pending": serializers.IntegerField(allow_null=True),
                        "detail": serializers.CharField(required=False),
                    },
                ),
            },
        )

    @extend_schema(
        responses={200: OutputSerializer, 503: OutputSerializer},
        summary="Are Postgres, Redis and NATS reachable, and is the consumer keeping up?",
        description="200 with status ok, or degraded when only the consumer is behind or silent (the "
        "boards are served, but stale); 503 with status error when Postgres, Redis or NATS is unreachable.",
    )
    def get(self, request):
        overall, checks = health_check()
        body = {"status": overall, "checks": checks}
        code = status.HTTP_503_SERVICE_UNAVAILABLE if overall == "error" else status.HTTP_200_OK
        response = Response(body, status=code)
        response["Cache-Control"] = "no-store"  # a health answer is about this moment only
        return response


class JsonOnly(BaseContentNegotiation):
    """JSON is the only answer the query API gives, whatever the Accept header asks; DRF's
    default negotiation parses that header on every request only to reach the same choice."""

    def select_parser(self, request: Request, parsers: list) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: list, format_suffix: str | None = None) -> tuple:
        return renderers[0], renderers[0].media_type


class QueryApi(APIView):
    """A read of the query API: JSON, whatever is asked."""

    content_negotiation_class = JsonOnly


# ---- input: fields and serializers for query strings


class WholeNumberField(serializers.Field):
    """A whole number written in ASCII digits only (no sign, space, or decimal point), in
    [minimum, maximum]. Stricter than IntegerField, which takes "+5", " 5", "5.0" and "5_0"."""

    default_error_messages = {"invalid": "must be an integer from {minimum} to {maximum}"}

    def __init__(self, *, minimum: int, maximum: int, **kwargs: Any) -> None:
        self.minimum, self.maximum = minimum, maximum
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, str) and 0 < len(data) <= 20 and data.isascii() and data.isdigit():
            value = int(data)
            if self.minimum <= value <= self.maximum:
                return value
        self.fail("invalid", minimum=self.minimum, maximum=self.maximum)

    def to_representation(self, value: int) -> int:
        return value


class QuerySerializer(serializers.Serializer):
    """Validates a request's query string, plus the path parameters named in `path_fields`."""

    path_fields: tuple[str, ...] = ()

    def get_fields(self) -> dict[str, serializers.Field]:
        # DRF deep-copies every declared field for every request: a quarter of a board read's
        # time. Query fields are never mutated after construction, so a shallow copy (which
        # `bind` then names and parents) is enough.
        return {name: copy.copy(field) for name, field in self._declared_fields.items()}

    @classmethod
    def validated(cls, request: Request, *, now: datetime, **path: str) -> dict[str, Any]:
        """The validated values; raises ValidationError (a 400) naming each bad parameter.
        `now` decides the default period."""
        query = request.query_params
        allowed = [name for name in cls._declared_fields if name not in cls.path_fields]
        errors = {}
        for name in query:
            if name not in allowed:
                errors[name] = [f"unknown parameter; allowed: {', '.join(allowed)}"]
            elif len(query.getlist(name)) > 1:
                errors[name] = ["given more than once"]
        if errors:
            raise serializers.ValidationError(errors)
        # A plain dict, not the QueryDict: DRF would read "limit=" as "absent" from a QueryDict.
        serializer = cls(data={**query.dict(), **path}, context={"request": request, "now": now})
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


def _period_error(timeframe: Timeframe, period: str, exc: ValueError) -> str:
    expected = f"expected {PERIOD_FORMATS[timeframe]}"
    if exc.__cause__ is not None:  # well formed, but no such day, week or month
        return f"{period!r} is not a real period of timeframe {timeframe.value} ({exc.__cause__}): {expected}"
    return f"{period!r} is not a period of timeframe {timeframe.value}: {expected}"


class BoardQuerySerializer(QuerySerializer):
    """Which board: `timeframe`, `period` (default: the current UTC one), `project_id`."""

    timeframe = serializers.ChoiceField(
        choices=TIMEFRAMES,
        required=False,
        error_messages={"invalid_choice": f'"{{input}}" is not a timeframe; allowed: {", ".join(TIMEFRAMES)}'},
    )
    period = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    project_id = WholeNumberField(minimum=1, maximum=U64_MAX, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        timeframe = Timeframe(attrs.pop("timeframe", Timeframe.ALL_TIME))
        period = attrs.pop("period", None)
        if period is None:
            period = period_of(timeframe, self.context["now"])
        else:
            try:
                validate_period(timeframe, period)
            except ValueError as exc:
                raise serializers.ValidationError({"period": [_period_error(timeframe, period, exc)]}) from exc
            try:  # a period is read as [start, end): its end must be a date too
                period_end(timeframe, period)
            except (ValueError, OverflowError) as exc:
                message = f"{period!r} is out of range: a period must end by 9999-12-31"
                raise serializers.ValidationError({"period": [message]}) from exc
        attrs["board"] = Board(attrs.pop("project_id", GLOBAL), timeframe, period)
        return attrs


# ---- output


def _error_schema() -> serializers.Serializer:
    return inline_serializer(
        "Error",
        {
            "error": inline_serializer(
                "ErrorBody",
                {
                    "code": serializers.CharField(help_text="invalid_parameter, not_found, dependency_unavailable…"),
                    "message": serializers.CharField(help_text="What is wrong, for people."),
                    "details": serializers.DictField(
                        help_text="For a 400: each bad parameter and what is allowed; for a 503: the dependency."
                    ),
                },
            )
        },
    )


ERROR = _error_schema()
ERRORS = {
    400: ERROR,
    503: ERROR,
}


def _login_field() -> serializers.CharField:
    return serializers.CharField(allow_null=True, help_text="The contributor's login (null while unknown).")


def _avatar_field() -> serializers.CharField:
    return serializers.CharField(allow_null=True, help_text="The contributor's avatar image URL (null while unknown).")


class BoardRowSerializer(serializers.Serializer):
    rank = serializers.IntegerField(min_value=1, help_text="Standard competition rank: 1, 2, 2, 4.")
    user_id = serializers.CharField(help_text="The user id in decimal (a string: ids are unsigned 64-bit).")
    score = serializers.IntegerField()
    login = _login_field()
    avatar_url = _avatar_field()

    def to_representation(self, row: BoardRow) -> dict[str, Any]:
        return _row(row)


def _row(row: BoardRow) -> dict[str, Any]:
    return {
        "rank": row.rank,
        "user_id": str(row.user_id),
        "score": row.score,
        "login": row.login,
        "avatar_url": row.avatar_url,
    }


def _board_fields(board: Board) -> dict[str, Any]:
    project_id = None if board.project_id == GLOBAL else board.project_id
    return {"timeframe": board.timeframe.value, "period": board.period, "project_id": project_id}


class BoardFieldsSerializer(serializers.Serializer):
    timeframe = serializers.ChoiceField(choices=TIMEFRAMES)
    period = serializers.CharField(help_text="The period read (the current one when none was asked for).")
    project_id = serializers.IntegerField(allow_null=True, help_text="null: the global board.")


def _link(request: Request, board: Board, **params: int) -> str:
    """This endpoint's URL for `board` (named in full, so a link stays on the board it came
    from even when the current period rolls over) with `params` added."""
    # Every value was validated (a timeframe, a period of digits, "-", "W" or "all", integers),
    # so nothing needs quoting: urlencode was a tenth of a board read.
    query = f"timeframe={board.timeframe.value}&period={board.period}"
    if board.project_id != GLOBAL:
        query += f"&project_id={board.project_id}"
    query += "".join(f"&{name}={value}" for name, value in params.items())
    return request.build_absolute_uri(f"{request.path}?{query}")


def _cached(response: Response, *, closed: bool) -> Response:
    response["Cache-Control"] = f"public, max-age={CLOSED_MAX_AGE if closed else CURRENT_MAX_AGE}"
    return response


# ---- the OpenAPI description of the query parameters (one place for all endpoints)

_TIMEFRAME = OpenApiParameter(
    "timeframe", {"type": "string", "enum": TIMEFRAMES, "default": "all_time"}, description="The board's timeframe."
)
_PERIOD = OpenApiParameter(
    "period",
    {"type": "string", "pattern": PERIOD_PATTERN},
    description="The period, in its timeframe's format: "
    + "; ".join(f"{t.value}: {PERIOD_FORMATS[t]}" for t in Timeframe)
    + ". Default: the current UTC period of the timeframe. Weeks are ISO weeks with the ISO year "
    "(2025-12-30 is in 2026-W01).",
)
_PROJECT = OpenApiParameter(
    "project_id",
    {"type": "integer", "minimum": 1, "maximum": U64_MAX},
    description="A project's board (the repository id); absent: the global board.",
)


def _whole(name: str, minimum: int, maximum: int, description: str, default: int | None = None) -> OpenApiParameter:
    schema: dict[str, Any] = {"type": "integer", "minimum": minimum, "maximum": maximum}
    if default is not None:
        schema["default"] = default
    return OpenApiParameter(name, schema, description=description)


_LIMIT = _whole("limit", 1, LIMIT_MAX, "Rows per page.", LIMIT_DEFAULT)
_OFFSET = _whole("offset", 0, OFFSET_MAX, "Rows to skip.", 0)
_USER = OpenApiParameter(
    "user_id",
    {"type": "string", "pattern": "^[0-9]{1,20}$"},
    OpenApiParameter.PATH,
    required=True,
    description="The user id in decimal (1 to 2^64-1).",
)
_BOARD = [_TIMEFRAME, _PERIOD, _PROJECT]
BOARD_PARAMETERS = _BOARD  # for other apps' board endpoints (the pages' live stream)
_AROUND = _whole("around", 0, AROUND_MAX, "Also return the rows from N above the user to N below.")
_CURSOR = OpenApiParameter("cursor", OpenApiTypes.STR, description="From a `next` or `previous` link.")


# ---- the board


class BoardPageApi(QueryApi):
    """One board, one page."""

    class InputSerializer(BoardQuerySerializer):
        limit = WholeNumberField(minimum=1, maximum=LIMIT_MAX, default=LIMIT_DEFAULT)
        offset = WholeNumberField(minimum=0, maximum=OFFSET_MAX, default=0)

    @extend_schema_serializer(component_name="BoardPage")
    class OutputSerializer(BoardFieldsSerializer):
        total = serializers.IntegerField(min_value=0, help_text="How many users the board holds.")
        limit = serializers.IntegerField()
        offset = serializers.IntegerField()
        next = serializers.URLField(allow_null=True)
        previous = serializers.URLField(allow_null=True)
        results = BoardRowSerializer(many=True)

        def to_representation(self, page: BoardPage) -> dict[str, Any]:
            request, limit, offset = self.context["request"], page.limit, page.offset
            has_next = offset + limit < page.total
            previous = previous_offset(offset=offset, limit=limit, total=page.total)
            return {
                **_board_fields(page.board),
                "total": page.total,
                "limit": limit,
                "offset": offset,
                "next": _link(request, page.board, limit=limit, offset=offset + limit) if has_next else None,
                "previous": _link(request, page.board, limit=limit, offset=previous) if previous is not None else None,
                "results": [_row(row) for row in page.rows],
            }

    @extend_schema(
        operation_id="leaderboard_page",
        summary="One page of a board",
        description=(
            "Users by score, highest first, with standard competition ranks (equal scores share a "
            "rank, the next rank skips). Within a tie, users are ordered by user id descending "
            "byte-wise. A board with no entries is a 200 with total 0. Boards of past periods that "
            "have left Redis are answered from the event log with the same rows and ranks."
        ),
        parameters=[*_BOARD, _LIMIT, _OFFSET],
        responses={200: OutputSerializer, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        now = clock.now()
        query = self.InputSerializer.validated(request, now=now)
        page = board_page(board=query["board"], limit=query["limit"], offset=query["offset"], now=now)
        body = self.OutputSerializer(page, context={"request": request, "now": now}).data
        return _cached(Response(body), closed=period_is_closed(page.board, now=now))


class UserStandingApi(QueryApi):
    """One user's standing on one board."""

    class InputSerializer(BoardQuerySerializer):
        path_fields = ("user_id",)
        user_id = WholeNumberField(minimum=1, maximum=U64_MAX)
        around = WholeNumberField(minimum=0, maximum=AROUND_MAX, required=False)

    @extend_schema_serializer(component_name="UserStanding")
    class OutputSerializer(BoardFieldsSerializer):
        user_id = serializers.CharField()
        login = _login_field()
        avatar_url = _avatar_field()
        rank = serializers.IntegerField(min_value=1)
        score = serializers.IntegerField()
        total = serializers.IntegerField(min_value=0)
        around = BoardRowSerializer(
            many=True,
            required=False,
            help_text="Only with `around=N`: the rows from N above the user to N below, the user's own "
            "row included, clipped at the ends of the board.",
        )

        def to_representation(self, standing: Standing) -> dict[str, Any]:
            body = {
                "user_id": str(standing.user_id),
                "login": standing.login,
                "avatar_url": standing.avatar_url,
                "rank": standing.rank,
                "score": standing.score,
                "total": standing.total,
                **_board_fields(standing.board),
            }
            if standing.around is not None:
                body["around"] = [_row(row) for row in standing.around]
            return body

    @extend_schema(
        operation_id="leaderboard_user",
        summary="One user's rank and score on a board",
        parameters=[_USER, *_BOARD, _AROUND],
        responses={200: OutputSerializer, 404: ERROR, **ERRORS},
    )
    def get(self, request: Request, user_id: str) -> Response:
        now = clock.now()
        query = self.InputSerializer.validated(request, now=now, user_id=user_id)
        board = query["board"]
        standing = user_standing(board=board, user_id=query["user_id"], around=query.get("around"), now=now)
        if standing is None:
            raise NotFound(
                f"user {query['user_id']} is not on this board",
                details={"user_id": str(query["user_id"]), **_board_fields(board)},
            )
        body = self.OutputSerializer(standing).data
        return _cached(Response(body), closed=period_is_closed(board, now=now))


# ---- provenance and projects


ID_MAX = 2**63 - 1  # the log's bigint ids


def encode_cursor(position: EventPosition) -> str:
    """An opaque cursor: base64 of `p=<time>&i=<log id>` (and `&r=1` for a `previous` link)."""
    fields = {"p": position.occurred_at.astimezone(UTC).isoformat(), "i": position.id}
    if position.backwards:
        fields["r"] = 1
    return b64encode(urlencode(fields).encode("ascii")).decode("ascii")


def decode_cursor(encoded: str) -> EventPosition:
    """The position in a cursor `encode_cursor` wrote; anything else is a 400 (a cursor is a
    parameter like any other), a time without a zone or an id out of range included."""
    try:
        tokens = parse.parse_qs(b64decode(encoded, validate=True).decode("ascii"), strict_parsing=True)
        if set(tokens) - {"r"} != {"p", "i"} or any(len(values) != 1 for values in tokens.values()):
            raise ValueError("not the cursor fields")
        (moment,), (raw_id,), backwards = tokens["p"], tokens["i"], tokens.get("r", ["0"])[0]
        occurred_at = datetime.fromisoformat(moment)
        if occurred_at.tzinfo is None or not (raw_id.isascii() and raw_id.isdigit()) or backwards not in ("0", "1"):
            raise ValueError("a naive time, or an id or direction that is not ours")
        if not 0 < int(raw_id) <= ID_MAX:
            raise ValueError("id out of range")
        return EventPosition(occurred_at.astimezone(UTC), int(raw_id), backwards == "1")
    except (ValueError, OverflowError, UnicodeDecodeError) as exc:
        raise InvalidParameter(f"invalid parameter cursor: {BAD_CURSOR}", details={"cursor": [BAD_CURSOR]}) from exc


@extend_schema_field(serializers.ChoiceField(choices=[kind.name for kind in EventKind]))
class EventKindField(serializers.Field):
    def to_representation(self, value: int) -> str:
        return EventKind(value).name


class UserEventsApi(QueryApi):
    """The events that scored for a user: why a score is what it is."""

    class InputSerializer(BoardQuerySerializer):
        path_fields = ("user_id",)
        user_id = WholeNumberField(minimum=1, maximum=U64_MAX)
        limit = WholeNumberField(minimum=1, maximum=LIMIT_MAX, default=LIMIT_DEFAULT)
        cursor = serializers.CharField(required=False, trim_whitespace=False, error_messages={"blank": BAD_CURSOR})

    @extend_schema_serializer(component_name="Event")
    class EventSerializer(serializers.Serializer):
        event_id = serializers.CharField(help_text="The event's wire id.")
        kind = EventKindField(help_text="The event's name on the wire.")
        project_id = serializers.IntegerField()
        project_name = serializers.CharField(source="project.name")
        points = serializers.IntegerField(min_value=1, source="live_points", help_text="Under the active rules.")
        occurred_at = serializers.DateTimeField()
        url = serializers.CharField(help_text="The activity on the provider's site (empty when not known).")

    @extend_schema(
        operation_id="user_events",
        summary="The events that scored for a user, newest first",
        parameters=[_USER, *_BOARD, _LIMIT, _CURSOR],
        description=(
            "Events with points > 0 (events worth 0 changed no board and are left out), newest "
            "first (by the time they happened, then by log order), cursor-paginated. Filtered to "
            "one board: `timeframe` + `period` limit the time, `project_id` the project; with "
            "neither, every event of the user. On any board, the points listed add up to the "
            "user's score there."
        ),
        responses={
            200: inline_serializer(
                "UserEvents",
                {
                    "user_id": serializers.CharField(),
                    "login": _login_field(),
                    "avatar_url": _avatar_field(),
                    "timeframe": serializers.ChoiceField(choices=TIMEFRAMES),
                    "period": serializers.CharField(),
                    "project_id": serializers.IntegerField(allow_null=True),
                    "next": serializers.URLField(allow_null=True),
                    "previous": serializers.URLField(allow_null=True),
                    "results": EventSerializer(many=True),
                },
            ),
            **ERRORS,
        },
    )
    def get(self, request: Request, user_id: str) -> Response:
        now = clock.now()
        query = self.InputSerializer.validated(request, now=now, user_id=user_id)
        board, limit = query["board"], query["limit"]
        at = decode_cursor(query["cursor"]) if "cursor" in query else None
        if user_is_excluded(query["user_id"]):  # SPEC section 9: on no board, and no events to show
            raise NotFound(f"no user {query['user_id']} on the boards", details={"user_id": str(query["user_id"])})
        page = user_events_page(user_id=query["user_id"], board=board, limit=limit, at=at)

        def link(position: EventPosition | None) -> str | None:
            if position is None:
                return None
            # links name the resolved board, so they stay on it; base64 needs quoting (+, /, =)
            return _link(request, board, limit=limit) + "&cursor=" + parse.quote(encode_cursor(position), safe="")

        login, avatar_url = contributor_names([query["user_id"]]).get(query["user_id"], (None, None))
        body = {
            "user_id": str(query["user_id"]),
            "login": login,
            "avatar_url": avatar_url,
            **_board_fields(board),
            "next": link(page.next),
            "previous": link(page.previous),
            "results": self.EventSerializer(page.events, many=True).data,
        }
        return _cached(Response(body), closed=False)


class ProjectListApi(QueryApi):
    """The projects seen in events."""

    class InputSerializer(QuerySerializer):
        limit = WholeNumberField(minimum=1, maximum=LIMIT_MAX, default=LIMIT_DEFAULT)
        offset = WholeNumberField(minimum=0, maximum=OFFSET_MAX, default=0)

    @extend_schema_serializer(component_name="Project")
    class ProjectSerializer(serializers.Serializer):
        id = serializers.IntegerField(help_text="The repository id.")
        name = serializers.CharField(help_text="The latest name seen, e.g. org/repo.")
        event_count = serializers.IntegerField(help_text="Distinct valid events logged, zero-point ones included.")

    @extend_schema(
        operation_id="project_list",
        summary="The projects seen, by id",
        parameters=[_LIMIT, _OFFSET],
        responses={
            200: inline_serializer(
                "ProjectPage",
                {
                    "total": serializers.IntegerField(),
                    "limit": serializers.IntegerField(),
                    "offset": serializers.IntegerField(),
                    "next": serializers.URLField(allow_null=True),
                    "previous": serializers.URLField(allow_null=True),
                    "results": ProjectSerializer(many=True),
                },
            ),
            **ERRORS,
        },
    )
    def get(self, request: Request) -> Response:
        query = self.InputSerializer.validated(request, now=clock.now())
        limit, offset = query["limit"], query["offset"]
        projects = project_list()
        total = projects.count()
        page = projects[offset : offset + limit] if offset < total else []
        previous = previous_offset(offset=offset, limit=limit, total=total)

        def link(at: int) -> str:
            return request.build_absolute_uri(f"{request.path}?{urlencode({'limit': limit, 'offset': at})}")

        body = {
            "total": total,
            "limit": limit,
            "offset": offset,
            "next": link(offset + limit) if offset + limit < total else None,
            "previous": link(previous) if previous is not None else None,
            "results": self.ProjectSerializer(page, many=True).data,
        }
        return _cached(Response(body), closed=False)


class ContributorApi(QueryApi):
    """One contributor, by login or by user id."""

    class InputSerializer(QuerySerializer):
        path_fields = ("contributor",)
        contributor = serializers.CharField(max_length=256, trim_whitespace=False)

    @extend_schema_serializer(component_name="Contributor")
    class OutputSerializer(serializers.Serializer):
        user_id = serializers.CharField(source="id", help_text="The user id in decimal.")
        login = serializers.CharField(help_text="The login the events named last.")
        avatar_url = serializers.CharField(allow_null=True, help_text="The avatar image URL (null when not known).")
        is_bot = serializers.BooleanField()
        first_seen_at = serializers.DateTimeField()
        last_seen_at = serializers.DateTimeField()

        def to_representation(self, contributor) -> dict[str, Any]:
            return {
                "user_id": str(contributor.id),
                "login": contributor.login,
                "avatar_url": contributor.avatar_url or None,
                "is_bot": contributor.is_bot,
                "first_seen_at": serializers.DateTimeField().to_representation(contributor.first_seen_at),
                "last_seen_at": serializers.DateTimeField().to_representation(contributor.last_seen_at),
            }

    @extend_schema(
        operation_id="contributor",
        summary="A contributor, by login or user id",
        description=(
            "What the events said of a user last: login, avatar, whether it is a bot, when it was "
            "first and last seen. `contributor` is a login (any case) or a user id in decimal; "
            "an all-digit value is tried as an id first."
        ),
        parameters=[
            OpenApiParameter(
                "contributor",
                {"type": "string", "minLength": 1, "maxLength": 256},
                OpenApiParameter.PATH,
                required=True,
                description="A login (e.g. octocat) or a user id (e.g. 5346).",
            )
        ],
        responses={200: OutputSerializer, 404: ERROR, **ERRORS},
    )
    def get(self, request: Request, contributor: str) -> Response:
        query = self.InputSerializer.validated(request, now=clock.now(), contributor=contributor)
        found = contributor_find(key=query["contributor"])
        if found is None:
            raise NotFound(f"no contributor {query['contributor']!r}", details={"contributor": query["contributor"]})
        return _cached(Response(self.OutputSerializer(found).data), closed=False)


class RulesApi(QueryApi):
    """The scoring rules: the active version's table, and the earlier versions (SPEC section 10)."""

    class InputSerializer(QuerySerializer):
        pass

    @extend_schema_serializer(component_name="RulesVersion")
    class VersionSerializer(serializers.Serializer):
        version = serializers.IntegerField(source="number", help_text="The version's number.")
        table = serializers.DictField(
            child=serializers.IntegerField(),
            help_text="Points per row of the scoring table, by the rows' SCORING_* names in lower case.",
        )
        created_at = serializers.DateTimeField(allow_null=True)
        activated_at = serializers.DateTimeField(allow_null=True, help_text="When it last became active.")
        retired_at = serializers.DateTimeField(allow_null=True, help_text="When another version last replaced it.")

    @extend_schema(
        operation_id="rules",
        summary="The active scoring rules and the earlier versions",
        description=(
            "Every event in the log is scored by the active version; `rescore_leaderboards` makes another one "
            "active. Before any version is recorded (no consumer has run) the settings' table is shown as "
            "version 1, with null dates."
        ),
        responses={
            200: inline_serializer(
                "Rules",
                {
                    "version": serializers.IntegerField(),
                    "table": serializers.DictField(child=serializers.IntegerField()),
                    "created_at": serializers.DateTimeField(allow_null=True),
                    "activated_at": serializers.DateTimeField(allow_null=True),
                    "earlier": VersionSerializer(many=True),
                },
            ),
            **ERRORS,
        },
    )
    def get(self, request: Request) -> Response:
        self.InputSerializer.validated(request, now=clock.now())  # no parameter is known: any is a 400
        active, earlier = rules_versions()
        shown = self.VersionSerializer(active).data
        body = {
            "version": shown["version"],
            "table": shown["table"],
            "created_at": shown["created_at"],
            "activated_at": shown["activated_at"],
            "earlier": self.VersionSerializer(earlier, many=True).data,
        }
        return Response(body, headers={"Cache-Control": "no-cache"})
