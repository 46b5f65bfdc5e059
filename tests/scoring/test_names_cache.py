"""The board names' cache (NAMES_CACHE_SECONDS): a board read that the response cache does not
answer takes its rows' names from this process's memory, not from Postgres, for the setting's
seconds; a rename or a new name shows after them. The cache's clock (`scoring.clock.monotonic`)
is the test's: ages are set, not waited for."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scoring import clock
from scoring.models import Contributor

PUBLIC = "/v1/leaderboard/public"
BOARD = "leaderboard:global:all_time:all"


@pytest.fixture
def seconds(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(clock, "monotonic", lambda: now[0])
    return now


@pytest.fixture
def named(settings, ready_boards, seconds):
    settings.NAMES_CACHE_SECONDS = 60
    ready_boards.zadd(BOARD, {"1": 30, "2": 20, "3": 10})
    Contributor.objects.create(id=1, login="alice", avatar_url="https://a.example/1")
    Contributor.objects.create(id=2, login="bob")
    return ready_boards  # user 3 is on the board but no contributor (no actor in its events)


def rows(response):
    assert response.status_code == 200, response.content
    return [(row["user_id"], row["login"], row["avatar_url"]) for row in response.json()["results"]]


def name_queries(queries: CaptureQueriesContext) -> int:
    return sum("scoring_contributor" in query["sql"] for query in queries.captured_queries)


EXPECTED = [("1", "alice", "https://a.example/1"), ("2", "bob", None), ("3", None, None)]


def test_a_board_read_again_asks_postgres_for_no_name(client, named):
    with CaptureQueriesContext(connection) as first:
        assert rows(client.get(PUBLIC)) == EXPECTED
    assert name_queries(first) == 1
    with CaptureQueriesContext(connection) as again:
        assert rows(client.get(PUBLIC)) == EXPECTED
        standing = client.get("/v1/leaderboard/users/2?around=1").json()
    assert name_queries(again) == 0  # user 3 too: an id that is no contributor is kept as such
    assert (standing["login"], [row["login"] for row in standing["around"]]) == ("bob", ["alice", "bob", None])


def test_only_the_names_not_kept_are_asked_for(client, named):
    assert rows(client.get(PUBLIC + "?limit=1")) == EXPECTED[:1]
    with CaptureQueriesContext(connection) as queries:
        assert rows(client.get(PUBLIC)) == EXPECTED
    assert name_queries(queries) == 1
    (asked,) = [query["sql"] for query in queries.captured_queries if "scoring_contributor" in query["sql"]]
    assert "'{2,3}'" in asked  # not alice's, kept from the first read


def test_a_rename_and_a_new_name_show_once_the_setting_s_seconds_have_passed(client, named, seconds):
    assert rows(client.get(PUBLIC)) == EXPECTED
    Contributor.objects.filter(id=1).update(login="alice-renamed")
    Contributor.objects.create(id=3, login="carol")
    seconds[0] += 59.9
    assert rows(client.get(PUBLIC)) == EXPECTED  # within the 60 s
    seconds[0] += 0.1
    assert rows(client.get(PUBLIC)) == [
        ("1", "alice-renamed", "https://a.example/1"),
        ("2", "bob", None),
        ("3", "carol", None),
    ]


def test_with_the_setting_at_zero_every_read_asks_postgres(client, named, settings):
    settings.NAMES_CACHE_SECONDS = 0
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            assert rows(client.get(PUBLIC)) == EXPECTED
        assert name_queries(queries) == 1


def test_postgres_down_leaves_out_only_the_names_not_kept(client, named):
    assert rows(client.get(PUBLIC + "?limit=1")) == EXPECTED[:1]  # alice is kept
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update({"PORT": "1"})  # nothing listens on port 1
    try:
        down = client.get(PUBLIC)
    finally:
        connection.close()
        connection.settings_dict.update(saved)
    assert rows(down) == [("1", "alice", "https://a.example/1"), ("2", None, None), ("3", None, None)]
    # what Postgres could not say was not kept as unknown: it is asked for again
    assert rows(client.get(PUBLIC)) == EXPECTED
