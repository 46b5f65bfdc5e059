"""Reading a request's query: one parser for every transport, so errors and limits cannot drift.

A query is a plain mapping of each name to the values given for it (`query_values` makes one
from a query string or Django's `QueryDict`; gRPC builds its own). Each endpoint names its
parameters once, as `Param`s: the same declarations read the values and describe them in the
OpenAPI document (`Param.openapi`). A bad value, a parameter an endpoint does not know, or one
given twice is a `QueryError` naming each bad parameter and what is allowed (docs/API.md).

`board_query_parse` reads a board query (`timeframe`, `period`, `project_id`, plus an
endpoint's own parameters) into one `BoardQuery`: the API, the pages and the stream call it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.http import QueryDict
from drf_spectacular.utils import OpenApiParameter

from api.bounds import (
    AROUND_MAX,
    GRPC_OFFSET_MAX,
    GRPC_PAGE_SIZE_MAX,
    LIMIT_DEFAULT,
    LIMIT_MAX,
    OFFSET_MAX,
    PAGE_MAX,
    U64_MAX,
)
from leaderboard_project.errors import InvalidParameter, invalid_message
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

TIMEFRAMES = [timeframe.value for timeframe in Timeframe]
BAD_CURSOR = "not a cursor this API gave out; follow the next and previous links"


class QueryError(InvalidParameter):
    """A query that cannot be answered: `details` names each bad parameter with its problems."""

    def __init__(self, problems: dict[str, list[str]]) -> None:
        super().__init__(invalid_message(problems), details=problems)


class Invalid(ValueError):
    """One parameter's problems (a `Param.read` raises it; the parser gathers them)."""

    def __init__(self, *problems: str) -> None:
        super().__init__(*problems)
        self.problems = list(problems)


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of an endpoint: how it is read and how the OpenAPI document shows it."""

    name: str
    description: str
    schema: Mapping[str, Any]
    default: Any = None
    in_path: bool = False  # a path parameter: read with the query, never named in it

    def read(self, raw: str) -> Any:
        """The value `raw` names; raises `Invalid` saying why it is not one."""
        return raw

    def openapi(self) -> OpenApiParameter:
        location = OpenApiParameter.PATH if self.in_path else OpenApiParameter.QUERY
        return OpenApiParameter(
            self.name, dict(self.schema), location, required=self.in_path, description=self.description
        )


@dataclass(frozen=True, slots=True)
class Whole(Param):
    """A whole number in ASCII digits only (no sign, space or decimal point), in [minimum, maximum]."""

    minimum: int = 0
    maximum: int = U64_MAX

    def read(self, raw: str) -> int:
        if 0 < len(raw) <= 20 and raw.isascii() and raw.isdigit() and self.minimum <= int(raw) <= self.maximum:
            return int(raw)
        raise Invalid(f"must be an integer from {self.minimum} to {self.maximum}")


def whole(name: str, minimum: int, maximum: int, description: str, default: int | None = None) -> Whole:
    """A `Whole` query parameter, shown in the OpenAPI document with its range and default."""
    schema: dict[str, Any] = {"type": "integer", "minimum": minimum, "maximum": maximum}
    if default is not None:
        schema["default"] = default
    return Whole(name, description, schema, default, minimum=minimum, maximum=maximum)


@dataclass(frozen=True, slots=True)
class Text(Param):
    """A string, taken as given (no trimming). Null and surrogate characters are refused, as
    DRF's CharField did (its messages too)."""

    blank: str | None = None  # the problem with an empty value; None: an empty value is fine
    max_length: int | None = None

    def read(self, raw: str) -> str:
        if raw == "" and self.blank is not None:
            raise Invalid(self.blank)
        problems = []
        if self.max_length is not None and len(raw) > self.max_length:
            problems.append(f"Ensure this field has no more than {self.max_length} characters.")
        if "\x00" in raw:
            problems.append("Null characters are not allowed.")
        surrogate = next((ch for ch in raw if 0xD800 <= ord(ch) <= 0xDFFF), None)
        if surrogate is not None:
            problems.append(f"Surrogate characters are not allowed: U+{ord(surrogate):X}.")
        if problems:
            raise Invalid(*problems)
        return raw


@dataclass(frozen=True, slots=True)
class TimeframeParam(Param):
    def read(self, raw: str) -> Timeframe:
        if raw in TIMEFRAMES:
            return Timeframe(raw)
        raise Invalid(f'"{raw}" is not a timeframe; allowed: {", ".join(TIMEFRAMES)}')


TIMEFRAME = TimeframeParam(
    "timeframe", "The board's timeframe.", {"type": "string", "enum": TIMEFRAMES, "default": "all_time"}
)
PERIOD = Text(
    "period",
    "The period, in its timeframe's format: "
    + "; ".join(f"{t.value}: {PERIOD_FORMATS[t]}" for t in Timeframe)
    + ". Default: the current UTC period of the timeframe. Weeks are ISO weeks with the ISO year "
    "(2025-12-30 is in 2026-W01).",
    {"type": "string", "pattern": PERIOD_PATTERN},
)
PROJECT_ID = Whole(
    "project_id",
    "A project's board (the repository id); absent: the global board.",
    {"type": "integer", "minimum": 1, "maximum": U64_MAX},
    minimum=1,
)
BOARD = (TIMEFRAME, PERIOD, PROJECT_ID)
LIMIT = whole("limit", 1, LIMIT_MAX, "Rows per page.", LIMIT_DEFAULT)
OFFSET = whole("offset", 0, OFFSET_MAX, "Rows to skip.", 0)
AROUND = whole("around", 0, AROUND_MAX, "Also return the rows from N above the user to N below.")
CURSOR = Text("cursor", "From a `next` or `previous` link.", {"type": "string"}, blank=BAD_CURSOR)
USER_ID = Whole(
    "user_id",
    "The user id in decimal (1 to 2^64-1).",
    {"type": "string", "pattern": "^[0-9]{1,20}$"},
    in_path=True,
    minimum=1,
)
PAGE = whole("page", 1, PAGE_MAX, "The page of 50 rows (the pages' own parameter).", 1)
# gRPC's GetLeaderboard names its page as rankr does (read into `limit` and `offset`).
PAGE_SIZE = whole("page_size", 1, GRPC_PAGE_SIZE_MAX, "Rows per page (gRPC).")
GRPC_OFFSET = whole("offset", 0, GRPC_OFFSET_MAX, "Rows to skip (gRPC).")


def query_values(query: str | QueryDict) -> dict[str, list[str]]:
    """Each name of a query string (or of Django's parsed one) with the values given for it."""
    parsed = query if isinstance(query, QueryDict) else QueryDict(query)
    return dict(parsed.lists())


def query_parse(
    params: Mapping[str, Sequence[str]], fields: Sequence[Param], path: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The values of `fields` that `params` (and the path's parameters) give, defaults filled
    in; raises `QueryError` naming each unknown, repeated or bad parameter."""
    allowed = [field.name for field in fields if not field.in_path]
    problems: dict[str, list[str]] = {}
    for name, values in params.items():
        if name not in allowed:
            problems[name] = [f"unknown parameter; allowed: {', '.join(allowed)}"]
        elif len(values) > 1:
            problems[name] = ["given more than once"]
    if problems:
        raise QueryError(problems)
    given = {name: values[-1] for name, values in params.items() if values}
    given.update(path or {})
    found: dict[str, Any] = {}
    for field in fields:
        raw = given.get(field.name)
        if raw is None:
            if field.default is not None:
                found[field.name] = field.default
            continue
        try:
            found[field.name] = field.read(raw)
        except Invalid as exc:
            problems[field.name] = exc.problems
    if problems:
        raise QueryError(problems)
    return found


@dataclass(frozen=True, slots=True)
class BoardQuery:
    """A board, and what else an endpoint's query named (None or the default where it names none)."""

    board: Board
    limit: int = LIMIT_DEFAULT
    offset: int = 0
    around: int | None = None
    cursor: str | None = None
    user_id: int | None = None
    page: int = 1
    page_size: int | None = None


def board_query_parse(
    params: Mapping[str, Sequence[str]],
    *,
    now: datetime,
    fields: Sequence[Param] = (),
    path: Mapping[str, str] | None = None,
) -> BoardQuery:
    """The board that `timeframe`, `period` (default: the current one at `now`) and
    `project_id` (default: the global board) name, with `fields`' values; raises `QueryError`.
    The period is checked once every parameter is valid, as one more problem of `period`."""
    values = query_parse(params, (*BOARD, *fields), path)
    timeframe = values.pop("timeframe", Timeframe.ALL_TIME)
    period = values.pop("period", None)
    if period is None:
        period = period_of(timeframe, now)
    else:
        period_check(timeframe, period)
    return BoardQuery(Board(values.pop("project_id", GLOBAL), timeframe, period), **values)


def period_check(timeframe: Timeframe, period: str) -> None:
    """Raise `QueryError` unless `period` is a real period of `timeframe` that ends by 9999-12-31."""
    expected = f"expected {PERIOD_FORMATS[timeframe]}"
    try:
        validate_period(timeframe, period)
    except ValueError as exc:
        if exc.__cause__ is not None:  # well formed, but no such day, week or month
            message = f"{period!r} is not a real period of timeframe {timeframe.value} ({exc.__cause__}): {expected}"
        else:
            message = f"{period!r} is not a period of timeframe {timeframe.value}: {expected}"
        raise QueryError({"period": [message]}) from exc
    try:  # a period is read as [start, end): its end must be a date too
        period_end(timeframe, period)
    except (ValueError, OverflowError) as exc:
        raise QueryError({"period": [f"{period!r} is out of range: a period must end by 9999-12-31"]}) from exc
