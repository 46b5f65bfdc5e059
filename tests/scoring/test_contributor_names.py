"""Names where people read: board rows, standings, `around`, a user's events, /v1/contributors."""

from datetime import UTC, datetime

import pytest

from scoring import ingest
from scoring.models import Contributor
from tests.builders import pushes

AT = datetime(2026, 3, 2, 10, tzinfo=UTC)
OCTOCAT = "https://avatars.githubusercontent.com/u/5346?v=4"


@pytest.fixture
def named(ready_boards):
    """Three users on the board; two are known contributors, user 7 is not."""
    ingest.batch_ingest(contributions=pushes("a", 5346, 9, AT) + pushes("b", 2, 5, AT) + pushes("c", 7, 3, AT))
    Contributor.objects.create(id=5346, login="octocat", avatar_url=OCTOCAT)
    Contributor.objects.create(id=2, login="monalisa", avatar_url="")  # no avatar known


def test_board_rows_carry_login_and_avatar_or_null(client, named, django_assert_num_queries):
    with django_assert_num_queries(1):  # the board from Redis, the page's names in one query
        body = client.get("/v1/leaderboard/public").json()
    assert body["results"] == [
        {"rank": 1, "user_id": "5346", "score": 9, "login": "octocat", "avatar_url": OCTOCAT},
        {"rank": 2, "user_id": "2", "score": 5, "login": "monalisa", "avatar_url": None},
        {"rank": 3, "user_id": "7", "score": 3, "login": None, "avatar_url": None},
    ]


def test_a_standing_and_its_around_rows_carry_names(client, named):
    body = client.get("/v1/leaderboard/users/2", {"around": 1}).json()
    assert (body["user_id"], body["login"], body["avatar_url"], body["rank"]) == ("2", "monalisa", None, 2)
    assert [(r["user_id"], r["login"]) for r in body["around"]] == [("5346", "octocat"), ("2", "monalisa"), ("7", None)]
    unknown = client.get("/v1/leaderboard/users/7").json()
    assert (unknown["login"], unknown["avatar_url"]) == (None, None)


def test_a_board_past_its_retention_carries_names_too(client, ready_boards):
    old = datetime(2020, 5, 4, 12, tzinfo=UTC)
    ingest.batch_ingest(contributions=pushes("old", 5346, 4, old))
    Contributor.objects.create(id=5346, login="octocat", avatar_url=OCTOCAT)
    body = client.get("/v1/leaderboard/public", {"timeframe": "daily", "period": "2020-05-04"}).json()
    assert body["results"] == [{"rank": 1, "user_id": "5346", "score": 4, "login": "octocat", "avatar_url": OCTOCAT}]


def test_a_users_events_carry_the_name(client, named):
    body = client.get("/v1/users/5346/events").json()
    assert (body["login"], body["avatar_url"]) == ("octocat", OCTOCAT)
    assert client.get("/v1/users/7/events").json()["login"] is None


@pytest.mark.parametrize("key", ["octocat", "OctoCat", "5346"])
def test_a_contributor_by_login_in_any_case_or_by_id(client, named, key):
    response = client.get(f"/v1/contributors/{key}")
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("user_id", "login", "avatar_url", "is_bot")} == {
        "user_id": "5346",
        "login": "octocat",
        "avatar_url": OCTOCAT,
        "is_bot": False,
    }
    assert body["first_seen_at"].endswith("Z") and body["last_seen_at"].endswith("Z")


def test_an_all_digit_login_is_found_when_no_id_matches(client, ready_boards):
    Contributor.objects.create(id=99, login="1234")
    assert client.get("/v1/contributors/1234").json()["user_id"] == "99"
    assert client.get("/v1/contributors/99").json()["login"] == "1234"


def test_a_reused_login_names_the_contributor_seen_last(client, ready_boards):
    Contributor.objects.create(id=1, login="renamed", last_seen_at=datetime(2025, 1, 1, tzinfo=UTC))
    Contributor.objects.create(id=2, login="renamed", last_seen_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert client.get("/v1/contributors/renamed").json()["user_id"] == "2"


def test_an_unknown_contributor_is_a_404(client, named):
    response = client.get("/v1/contributors/nobody")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "not_found",
        "message": "no contributor 'nobody'",
        "details": {"contributor": "nobody"},
    }
    assert client.get("/v1/contributors/7").status_code == 404  # on a board, but never named


def test_a_key_too_long_to_be_a_login_is_a_400(client, named):
    response = client.get("/v1/contributors/" + "x" * 257)
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "contributor": ["Ensure this field has no more than 256 characters."]
    }
