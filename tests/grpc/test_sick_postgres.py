"""Postgres down or stalled under `serve_grpc` (SPEC §13 says UNAVAILABLE when Redis or Postgres
is down; docs/API.md, "gRPC", says why this server answers instead): the boards are in Redis,
so GetLeaderboard's rows — which carry no names — are exact and complete, and GetStanding's
rank and score are exact with the names left out, as the REST API answers. The Postgres is
made sick for the server alone: a port that refuses (down), or one that accepts and never
answers (stalled); the test's own REST client reads the healthy one."""

from __future__ import annotations

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from proto.leaderboard.v1 import leaderboard_pb2 as ours
from proto.leaderboardscoring.v1 import leaderboardscoring_pb2 as rankr
from scoring import ingest
from scoring.models import Contributor
from tests.builders import pushes
from tests.clock import START
from tests.fixtures import listening_socket, refused_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def named_board(ready_boards):
    events = []
    for user, points in {1: 30, 2: 20, 3: 20, 4: 10}.items():
        events += pushes(f"u{user}", user, points, START, project=7)
    ingest.batch_ingest(contributions=events)
    Contributor.objects.update_or_create(id=3, defaults={"login": "third"})
    return ready_boards


@pytest.mark.parametrize("sickness", ["down", "stalled"])
def test_postgres_sick_leaves_the_rows_exact_and_the_names_out(client, named_board, spawn_grpc, sickness):
    stalled = listening_socket()  # accepts (the kernel's backlog) and never answers
    port = refused_port() if sickness == "down" else stalled.getsockname()[1]
    server = spawn_grpc(DATABASE_URL=f"postgres://postgres@127.0.0.1:{port}/leaderboard")
    request = rankr.GetLeaderboardRequest(timeframe=rankr.TIMEFRAME_DAILY, page_size=10)
    answer = server.rankr().GetLeaderboard(request, timeout=5)
    rest = client.get("/v1/leaderboard/public", {"timeframe": "daily", "limit": 10}).json()["results"]
    assert [(row.rank, row.user_id, row.score) for row in answer.rows] == [
        (row["rank"], row["user_id"], row["score"]) for row in rest
    ]
    assert [(row.rank, row.user_id) for row in answer.rows] == [(1, "1"), (2, "3"), (2, "2"), (4, "4")]
    health = health_pb2_grpc.HealthStub(server.channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert health.status == health_pb2.HealthCheckResponse.SERVING  # the boards are readable
    if sickness == "down":  # a stalled Postgres would hold this read until its connection gives up
        standing = server.ours().GetStanding(
            ours.GetStandingRequest(timeframe=ours.TIMEFRAME_DAILY, user_id="3", around=1), timeout=5
        )
        assert (standing.rank, standing.score, standing.total) == (2, 20, 4)
        assert not standing.HasField("login") and not any(row.HasField("login") for row in standing.around)
        body = client.get("/v1/leaderboard/users/3", {"timeframe": "daily"}).json()
        assert body["login"] == "third"  # what a healthy Postgres adds
    stalled.close()
