"""The one board-query parser (api/query.py) over its whole input range, without servers:
what the API, the pages, the stream and gRPC all accept, and the exact problems they name."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.bounds import U64_MAX
from api.cursor import decode_cursor, encode_cursor
from api.query import (
    AROUND,
    CURSOR,
    LIMIT,
    OFFSET,
    USER_ID,
    BoardQuery,
    QueryError,
    Text,
    board_query_parse,
    query_parse,
    query_values,
)
from scoring.boards import GLOBAL, Board, Timeframe
from scoring.selectors import EventPosition

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)  # a Monday: ISO week 2026-W49
WHOLE = f"must be an integer from 1 to {U64_MAX}"


def parse(query: str, *fields, **path) -> BoardQuery:
    return board_query_parse(query_values(query), now=NOW, fields=fields, path=path)


def problems(query: str, *fields, **path) -> dict[str, list[str]]:
    with pytest.raises(QueryError) as caught:
        parse(query, *fields, **path)
    assert caught.value.code == "invalid_parameter"
    return caught.value.details


def test_an_empty_query_is_the_current_global_all_time_board():
    assert parse("") == BoardQuery(Board(GLOBAL, Timeframe.ALL_TIME, "all"))
    assert parse("", LIMIT, OFFSET) == BoardQuery(Board(GLOBAL, Timeframe.ALL_TIME, "all"), limit=50, offset=0)


@pytest.mark.parametrize(
    ("timeframe", "current"),
    [("all_time", "all"), ("yearly", "2026"), ("monthly", "2026-11"), ("weekly", "2026-W49"), ("daily", "2026-11-30")],
)
def test_each_timeframe_defaults_to_its_current_period(timeframe, current):
    assert parse(f"timeframe={timeframe}").board == Board(GLOBAL, Timeframe(timeframe), current)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("1", True),
        (str(U64_MAX), True),
        (str(U64_MAX + 1), False),
        ("0", False),
        ("-1", False),
        ("%2B5", False),  # "+5"
        ("5.0", False),
        ("5_0", False),
        ("%205", False),  # " 5"
        ("", False),
        ("%EF%BC%95", False),  # fullwidth 5: int() would take it
        ("%D9%A5", False),  # Arabic-Indic 5
        ("1" * 21, False),
        ("9" * 400, False),
        ("00000000000000000001", True),
    ],
)
def test_project_id_is_ascii_digits_from_1_to_u64_max(value, ok):
    if ok:
        assert parse(f"project_id={value}").board.project_id == int(value)
    else:
        assert problems(f"project_id={value}") == {"project_id": [WHOLE]}


@pytest.mark.parametrize(
    ("timeframe", "good", "malformed", "unreal"),
    [
        ("all_time", ["all"], ["", "ALL", "all ", "2026"], []),
        ("yearly", ["0001", "2026", "9998"], ["26", "+2026", "20266", "\uff12\uff10\uff12\uff16", "2026-01"], ["0000"]),
        ("monthly", ["2026-01", "2026-12", "9999-11"], ["2026-1", "2026/01", "2026-001"], ["2026-00", "2026-13"]),
        ("weekly", ["2026-W01", "2026-W53", "2020-W53"], ["2026-W1", "2026W01", "2026-w01"], ["2026-W00", "2025-W53"]),
        ("daily", ["2024-02-29", "0001-01-01", "9999-12-30"], ["2026-2-1", "2026-02-1", "20260201"], ["2026-02-29"]),
    ],
)
def test_each_timeframes_period_syntax_and_calendar(timeframe, good, malformed, unreal):
    for period in good:
        assert parse(f"timeframe={timeframe}&period={period}").board.period == period
    expected = {
        "all_time": "all",
        "yearly": "YYYY",
        "monthly": "YYYY-MM",
        "weekly": "YYYY-Www (ISO week)",
        "daily": "YYYY-MM-DD",
    }[timeframe]
    for period in malformed:
        found = problems(f"timeframe={timeframe}&" + query_values_of(period=period))
        assert found == {"period": [f"{period!r} is not a period of timeframe {timeframe}: expected {expected}"]}
    for period in unreal:
        (message,) = problems(f"timeframe={timeframe}&period={period}")["period"]
        assert message.startswith(f"{period!r} is not a real period of timeframe {timeframe} (")
        assert message.endswith(f"): expected {expected}")


def query_values_of(**values: str) -> str:
    from urllib.parse import urlencode

    return urlencode(values)


@pytest.mark.parametrize(("timeframe", "period"), [("daily", "9999-12-31"), ("monthly", "9999-12"), ("yearly", "9999")])
def test_a_period_must_end_by_the_last_day_of_9999(timeframe, period):
    assert problems(f"timeframe={timeframe}&period={period}") == {
        "period": [f"{period!r} is out of range: a period must end by 9999-12-31"]
    }


def test_a_bad_timeframe_names_the_allowed_ones():
    allowed = "all_time, yearly, monthly, weekly, daily"
    assert problems("timeframe=hourly") == {"timeframe": [f'"hourly" is not a timeframe; allowed: {allowed}']}
    assert problems("timeframe=") == {"timeframe": [f'"" is not a timeframe; allowed: {allowed}']}
    assert problems("timeframe=WEEKLY&period=x") == {"timeframe": [f'"WEEKLY" is not a timeframe; allowed: {allowed}']}


def test_unknown_and_repeated_parameters_come_first_and_alone():
    allowed = "unknown parameter; allowed: timeframe, period, project_id, limit, offset"
    assert problems("limt=5&limit=0&offset=1&offset=2", LIMIT, OFFSET) == {
        "limt": [allowed],
        "offset": ["given more than once"],
    }
    assert problems("user_id=5", USER_ID, AROUND, user_id="5") == {
        "user_id": ["unknown parameter; allowed: timeframe, period, project_id, around"]
    }
    with pytest.raises(QueryError) as caught:
        query_parse({"x": [""]}, ())
    assert caught.value.details == {"x": ["unknown parameter; allowed: "]}


def test_every_bad_value_is_named_and_the_period_only_once_they_are_good():
    assert problems("project_id=0&limit=0&offset=-1&period=nope", LIMIT, OFFSET) == {
        "project_id": [WHOLE],
        "limit": ["must be an integer from 1 to 1000"],
        "offset": ["must be an integer from 0 to 9007199254740991"],
    }
    with pytest.raises(QueryError) as caught:
        parse("limit=0&offset=-1", LIMIT, OFFSET)
    assert caught.value.message == (
        "invalid parameters limit: must be an integer from 1 to 1000; "
        "offset: must be an integer from 0 to 9007199254740991"
    )


@pytest.mark.parametrize(
    ("field", "lowest", "highest"),
    [(LIMIT, 1, 1000), (OFFSET, 0, 2**53 - 1), (AROUND, 0, 50)],
)
def test_the_bounds_of_limit_offset_and_around(field, lowest, highest):
    name = field.name
    assert getattr(parse(f"{name}={lowest}", field), name) == lowest
    assert getattr(parse(f"{name}={highest}", field), name) == highest
    message = [f"must be an integer from {lowest} to {highest}"]
    for bad in (lowest - 1, highest + 1, 10**30):
        assert problems(f"{name}={bad}", field) == {name: message}
    assert problems(f"{name}=", field) == {name: message}  # empty is not absent


def test_the_path_user_id():
    assert parse("", USER_ID, user_id=str(U64_MAX)).user_id == U64_MAX
    for bad in ("0", str(U64_MAX + 1), "\u0661", "x"):
        assert problems("", USER_ID, user_id=bad) == {"user_id": [WHOLE]}


def test_text_parameters_refuse_null_and_surrogate_characters_as_drf_did():
    contributor = Text("c", "", {}, in_path=True, blank="This field may not be blank.", max_length=3)
    assert query_parse({}, (contributor,), {"c": "abc"}) == {"c": "abc"}
    for value, found in [
        ("", ["This field may not be blank."]),
        ("abcd", ["Ensure this field has no more than 3 characters."]),
        ("a\x00", ["Null characters are not allowed."]),
        (
            "ab\x00\ud800",
            [
                "Ensure this field has no more than 3 characters.",
                "Null characters are not allowed.",
                "Surrogate characters are not allowed: U+D800.",
            ],
        ),
    ]:
        with pytest.raises(QueryError) as caught:
            query_parse({}, (contributor,), {"c": value})
        assert caught.value.details == {"c": found}


def test_the_cursor():
    blank = "not a cursor this API gave out; follow the next and previous links"
    assert problems("cursor=", CURSOR) == {"cursor": [blank]}
    position = EventPosition(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), 42, True)
    encoded = parse(f"cursor={query_values_of(c=encode_cursor(position))[2:]}", CURSOR).cursor
    assert decode_cursor(encoded) == position
    for bad in ("x", encode_cursor(position)[:-2], "cD0yMDI2LTAxLTAyJmk9MA=="):
        with pytest.raises(QueryError) as caught:
            decode_cursor(bad)
        assert caught.value.details == {"cursor": [blank]}
