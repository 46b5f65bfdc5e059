"""The gRPC services against the real servers: `serve_grpc` as a process, called by stubs
generated from our .proto files, checked field by field against the REST API (in this process,
at the same clock) on the same Postgres and Redis."""

from __future__ import annotations

import time
from datetime import timedelta

import grpc
import pytest

from proto.leaderboard.v1 import leaderboard_pb2 as ours
from proto.leaderboardscoring.v1 import leaderboardscoring_pb2 as rankr
from scoring import exclusions, ingest
from scoring.models import Contributor
from tests.builders import pushes
from tests.clock import START
from tests.fixtures import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

PUBLIC = "/v1/leaderboard/public"
TIMEFRAMES = {
    "all_time": rankr.TIMEFRAME_ALL_TIME,
    "yearly": rankr.TIMEFRAME_YEARLY,
    "monthly": rankr.TIMEFRAME_MONTHLY,
    "weekly": rankr.TIMEFRAME_WEEKLY,
    "daily": rankr.TIMEFRAME_DAILY,
}
CHEATER = 99


@pytest.fixture
def boards(ready_boards):
    """Two projects; ties within and across pages; a day earlier that only the daily board
    leaves out; a contributor excluded, who is on no board."""
    events = []
    for user, points in {1: 30, 2: 20, 3: 20, 4: 20, 5: 10, 6: 10, 7: 5, 8: 1}.items():
        events += pushes("now", user, points, START, project=7)
    for user, points in {2: 7, 9: 7, 10: 3, 11: 40}.items():
        events += pushes("p8", user, points, START - timedelta(hours=3), project=8, name="org/other")
    events += pushes("before", 8, 25, START - timedelta(days=1), project=7)  # not on today's board
    events += pushes("cheat", CHEATER, 500, START, project=7)
    ingest.batch_ingest(contributions=events)
    cheater, _ = Contributor.objects.get_or_create(id=CHEATER, defaults={"login": "cheater"})
    exclusions.contributor_exclude(cheater, reason="cheating")
    return ready_boards


def rest_rows(client, timeframe: str, project: int | None, limit: int, offset: int) -> list[tuple[int, str, int]]:
    query = {"timeframe": timeframe, "limit": limit, "offset": offset}
    if project is not None:
        query["project_id"] = project
    response = client.get(PUBLIC, query)
    assert response.status_code == 200, response.content
    return [(row["rank"], row["user_id"], row["score"]) for row in response.json()["results"]]


def grpc_rows(response: rankr.GetLeaderboardResponse) -> list[tuple[int, str, int]]:
    return [(row.rank, row.user_id, row.score) for row in response.rows]


def test_every_board_and_page_equals_the_rest_api(client, boards, spawn_grpc):
    stub = spawn_grpc().rankr()
    for name, timeframe in TIMEFRAMES.items():
        for project in (None, 7, 8):
            for page_size, offset in ((50, 0), (3, 0), (3, 3), (2, 1), (1, 5), (5, 100)):
                request = rankr.GetLeaderboardRequest(timeframe=timeframe, page_size=page_size, offset=offset)
                if project is not None:
                    request.project_id = str(project)
                response = stub.GetLeaderboard(request, timeout=10)
                assert response.timeframe == timeframe
                assert response.HasField("project_id") == (project is not None)
                assert response.project_id == ("" if project is None else str(project))
                assert grpc_rows(response) == rest_rows(client, name, project, page_size, offset), (name, project)
            assert all(user != str(CHEATER) for _, user, _ in rest_rows(client, name, project, 1000, 0))
    daily = grpc_rows(stub.GetLeaderboard(rankr.GetLeaderboardRequest(timeframe=rankr.TIMEFRAME_DAILY, page_size=9)))
    # competition ranks: 40, 30, 27, then 20, 20 share the 4th, 10, 10 the 6th
    top = [(1, "11", 40), (2, "1", 30), (3, "2", 27), (4, "4", 20), (4, "3", 20), (6, "6", 10), (6, "5", 10)]
    assert daily[:7] == top
    # user 8: 1 point today, 25 the day before: on this week's board with both when that day is
    # in this week (any day but a Monday), and on today's board with 1 alone
    full = rankr.GetLeaderboardRequest(timeframe=rankr.TIMEFRAME_WEEKLY, page_size=100)
    weekly = {user: score for _, user, score in grpc_rows(stub.GetLeaderboard(full))}
    same_week = (START - timedelta(days=1)).isocalendar()[:2] == START.isocalendar()[:2]
    assert weekly["8"] == (26 if same_week else 1)
    full.timeframe = rankr.TIMEFRAME_DAILY
    assert {user: score for _, user, score in grpc_rows(stub.GetLeaderboard(full))}["8"] == 1


def test_paged_as_rankrs_statistics_service_pages_until_a_short_page(client, boards, spawn_grpc):
    stub = spawn_grpc().rankr()
    for project in ("", "7", "8"):
        rows, offset = [], 0
        while True:
            request = rankr.GetLeaderboardRequest(timeframe=rankr.TIMEFRAME_DAILY, page_size=2, offset=offset)
            request.project_id = project  # set, even when empty: the global board, echoed as given
            response = stub.GetLeaderboard(request)
            assert response.HasField("project_id") and response.project_id == project
            rows += grpc_rows(response)
            offset += 2
            if len(response.rows) < 2:
                break
        assert rows == rest_rows(client, "daily", int(project) if project else None, 1000, 0)


def test_an_empty_board_echoes_the_request(ready_boards, spawn_grpc):
    stub = spawn_grpc().rankr()
    request = rankr.GetLeaderboardRequest(timeframe=rankr.TIMEFRAME_MONTHLY, project_id="424242", page_size=10)
    response = stub.GetLeaderboard(request)
    assert response == rankr.GetLeaderboardResponse(timeframe=rankr.TIMEFRAME_MONTHLY, project_id="424242")
    edge = rankr.GetLeaderboardRequest(timeframe=rankr.TIMEFRAME_ALL_TIME, page_size=1000, offset=1_000_000)
    assert stub.GetLeaderboard(edge) == rankr.GetLeaderboardResponse(timeframe=rankr.TIMEFRAME_ALL_TIME)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"timeframe": rankr.TIMEFRAME_UNSPECIFIED}, "timeframe"),
        ({"timeframe": 9}, "timeframe"),  # a number the enum does not name
        ({"page_size": 0}, "page_size"),
        ({"page_size": -1}, "page_size"),
        ({"page_size": 1001}, "page_size"),
        ({"offset": -1}, "offset"),
        ({"offset": 1_000_001}, "offset"),
        ({"project_id": "abc"}, "project_id"),
        ({"project_id": "0"}, "project_id"),
        ({"project_id": "-7"}, "project_id"),
        ({"project_id": " 7"}, "project_id"),
        ({"project_id": "18446744073709551616"}, "project_id"),  # 2^64
    ],
)
def test_every_invalid_argument_names_its_field(ready_boards, spawn_grpc, fields, named):
    stub = spawn_grpc().rankr()
    request = rankr.GetLeaderboardRequest(**{"timeframe": rankr.TIMEFRAME_DAILY, "page_size": 10, **fields})
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetLeaderboard(request)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details().startswith(f"invalid parameter {named}: ")


def test_standing_with_around_equals_the_rest_api(client, boards, spawn_grpc):
    stub = spawn_grpc().ours()
    for timeframe, project, user in (("daily", None, 3), ("all_time", "7", 8), ("weekly", "8", 9)):
        request = ours.GetStandingRequest(timeframe=TIMEFRAMES[timeframe], user_id=str(user), around=2)
        query = {"timeframe": timeframe, "around": 2}
        if project is not None:
            request.project_id, query["project_id"] = project, project
        answer = stub.GetStanding(request)
        body = client.get(f"/v1/leaderboard/users/{user}", query).json()
        assert answer.board.timeframe == TIMEFRAMES[timeframe] and answer.board.period == body["period"]
        assert answer.board.HasField("project_id") == (body["project_id"] is not None)
        assert (answer.user_id, answer.rank, answer.score, answer.total) == (
            body["user_id"],
            body["rank"],
            body["score"],
            body["total"],
        )
        assert [(r.rank, r.user_id, r.score, r.login or None) for r in answer.around] == [
            (r["rank"], r["user_id"], r["score"], r["login"]) for r in body["around"]
        ]
    not_on = ours.GetStandingRequest(timeframe=ours.TIMEFRAME_DAILY, user_id=str(CHEATER))
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetStanding(not_on)  # excluded: on no board
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    for bad, named in (({"user_id": ""}, "user_id"), ({"user_id": "1", "around": 51}, "around")):
        with pytest.raises(grpc.RpcError) as raised:
            stub.GetStanding(ours.GetStandingRequest(timeframe=ours.TIMEFRAME_DAILY, **bad))
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert raised.value.details().startswith(f"invalid parameter {named}: ")


def test_a_kept_answer_is_a_fresh_one_at_most_the_microcache_bound_old(client, boards, spawn_grpc):
    """With the micro-cache on (here 3 s, long enough to be seen), a call after a change may get
    the answer read before it, equal to that fresh answer; past the bound, the change."""
    stub = spawn_grpc(API_MICROCACHE_SECONDS="3").rankr()
    request = rankr.GetLeaderboardRequest(timeframe=rankr.TIMEFRAME_DAILY, page_size=3)
    asked = time.monotonic()
    first = stub.GetLeaderboard(request, timeout=10)
    assert grpc_rows(first) == rest_rows(client, "daily", None, 3, 0)
    ingest.batch_ingest(contributions=pushes("more", 5, 100, START, project=7))  # user 5 on top
    fresh = rest_rows(client, "daily", None, 3, 0)
    assert fresh[0] == (1, "5", 110) and fresh != grpc_rows(first)
    assert stub.GetLeaderboard(request, timeout=10) == first
    assert time.monotonic() - asked < 3, "too slow to have seen the kept answer"
    # kept by the validated query and the project as spelled: "" is the same board, echoed
    spelled = rankr.GetLeaderboardRequest(timeframe=rankr.TIMEFRAME_DAILY, page_size=3, project_id="")
    assert stub.GetLeaderboard(spelled, timeout=10).HasField("project_id")
    wait_for(lambda: grpc_rows(stub.GetLeaderboard(request, timeout=10)) == fresh, timeout=10, message="the change")
    assert time.monotonic() - asked < 3 + 2  # the bound, and the polling's slack
