"""An answer's shape builds its body by DRF's rules (api/shape.py), without servers."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

from api import shapes
from api.errors import error_body
from scoring.boards import GLOBAL, Board, Timeframe
from scoring.selectors import BoardRow


def test_a_row_is_the_api_row():
    assert shapes.BoardRow.body(BoardRow(1, 2**64 - 1, 30, "octocat", None)) == {
        "rank": 1,
        "user_id": "18446744073709551615",
        "score": 30,
        "login": "octocat",
        "avatar_url": None,
    }


def test_board_fields_name_the_global_board_null():
    assert shapes.BoardFields.body(SimpleNamespace(board=Board(GLOBAL, Timeframe.WEEKLY, "2026-W49"))) == {
        "timeframe": "weekly",
        "period": "2026-W49",
        "project_id": None,
    }
    assert type(shapes.BoardFields.body(SimpleNamespace(board=Board(7, Timeframe.DAILY, "x")))["timeframe"]) is str


def test_an_optional_field_is_left_out_while_none_and_given_values_win():
    standing = SimpleNamespace(
        board=Board(7, Timeframe.ALL_TIME, "all"), user_id=5, login=None, avatar_url=None, rank=1, score=2, total=3
    )
    assert "around" not in shapes.UserStanding.body(SimpleNamespace(**vars(standing), around=None))
    body = shapes.UserStanding.body(SimpleNamespace(**vars(standing), around=[BoardRow(1, 5, 2)]))
    assert body["around"] == [{"rank": 1, "user_id": "5", "score": 2, "login": None, "avatar_url": None}]
    assert body["project_id"] == 7 and body["user_id"] == "5"
    assert shapes.Project.body(SimpleNamespace(id=Decimal(12), name="o/r", event_count=3)) == {
        "id": 12,
        "name": "o/r",
        "event_count": 3,
    }


def test_the_error_body():
    assert error_body("not_found", "no", {"a": 1}) == {
        "error": {"code": "not_found", "message": "no", "details": {"a": 1}}
    }
