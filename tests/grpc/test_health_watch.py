"""The standard health and reflection services queried by their standard stubs, Redis down,
and WatchLeaderboard seeing published events as they come (no polling) and ending cleanly."""

from __future__ import annotations

import queue
import threading

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from proto.leaderboard.v1 import leaderboard_pb2 as ours
from proto.leaderboardscoring.v1 import leaderboardscoring_pb2 as rankr
from scoring import ingest
from scoring.redis_boards import READY_KEY
from tests.builders import pushes
from tests.clock import START
from tests.fixtures import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

SERVICES = ("leaderboardscoring.v1.LeaderboardScoringService", "leaderboard.v1.LeaderboardService")
SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING


def health_of(channel: grpc.Channel, service: str = "") -> int:
    return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status


def test_health_and_reflection_by_standard_clients(ready_boards, spawn_grpc):
    server = spawn_grpc()
    assert [health_of(server.channel, name) for name in ("", *SERVICES)] == [SERVING] * 3
    reflect = reflection_pb2_grpc.ServerReflectionStub(server.channel)
    asked = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICES[0]),
    ]
    listed, found = list(reflect.ServerReflectionInfo(iter(asked), timeout=5))
    names = {service.name for service in listed.list_services_response.service}
    assert {*SERVICES, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= names
    files = found.file_descriptor_response.file_descriptor_proto
    assert any(b"leaderboardscoring/v1/leaderboardscoring.proto" in file for file in files)


def test_redis_down_is_unavailable_and_not_serving(transactional_db, private_redis, spawn_grpc):
    private_redis.client().set(READY_KEY, "test")
    server = spawn_grpc(REDIS_URL=private_redis.url)
    request = rankr.GetLeaderboardRequest(timeframe=rankr.TIMEFRAME_DAILY, page_size=10)
    assert server.rankr().GetLeaderboard(request, timeout=5).rows == []
    assert health_of(server.channel) == SERVING
    private_redis.kill()
    with pytest.raises(grpc.RpcError) as raised:
        server.rankr().GetLeaderboard(request, timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert raised.value.details() == "redis is unavailable"  # the dependency, nothing of its address
    wait_for(lambda: health_of(server.channel) == NOT_SERVING, timeout=10, message="NOT_SERVING")
    private_redis.start()  # back: the boards are readable again (the ready sentinel aside)
    private_redis.client().set(READY_KEY, "test")
    wait_for(lambda: health_of(server.channel) == SERVING, timeout=10, message="SERVING again")
    assert server.rankr().GetLeaderboard(request, timeout=5).rows == []


def test_a_watch_sees_each_change_and_ends_when_the_server_stops(ready_boards, spawn_grpc):
    server = spawn_grpc()
    request = ours.WatchLeaderboardRequest(timeframe=ours.TIMEFRAME_DAILY, project_id="7")
    stream = server.ours().WatchLeaderboard(request)
    pages: queue.Queue = queue.Queue()

    def read() -> None:  # the stream's messages as they come; None once it ends
        try:
            for page in stream:
                pages.put(page)
            pages.put(None)
        except grpc.RpcError as exc:
            pages.put(exc)

    threading.Thread(target=read, daemon=True).start()
    first = pages.get(timeout=10)  # at once, before any change
    assert first.total == 0 and first.board.project_id == "7" and first.board.timeframe == ours.TIMEFRAME_DAILY
    ingest.batch_ingest(contributions=pushes("a", 5, 12, START))
    second = pages.get(timeout=10)
    assert second.total == 1 and [(r.rank, r.user_id, r.score) for r in second.rows] == [(1, "5", 12)]
    ingest.batch_ingest(contributions=pushes("b", 6, 20, START))
    third = pages.get(timeout=10)  # the hub's pace: an interval after the last, at most
    assert [(r.rank, r.user_id, r.score) for r in third.rows] == [(1, "6", 20), (2, "5", 12)]
    assert len({first.version, second.version, third.version}) == 3
    with pytest.raises(grpc.RpcError) as raised:
        next(server.ours().WatchLeaderboard(ours.WatchLeaderboardRequest(timeframe=0)))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert server.stop() == 0
    assert pages.get(timeout=10) is None  # ended with OK, not an error
