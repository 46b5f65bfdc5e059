"""gRPC watches count with the SSE streams (api/watch.py's admission): past the client's limit
a WatchLeaderboard call is RESOURCE_EXHAUSTED, and a watch that ends gives its slot back."""

from __future__ import annotations

import grpc
import pytest

from proto.leaderboard.v1 import leaderboard_pb2 as ours
from tests.fixtures import wait_for

REQUEST = ours.WatchLeaderboardRequest(timeframe=ours.TIMEFRAME_WEEKLY)


def test_watches_past_the_client_limit_are_resource_exhausted(ready_boards, spawn_grpc, redis_client):
    server = spawn_grpc(STREAMS_PER_CLIENT="2")
    first, second = server.ours().WatchLeaderboard(REQUEST), server.ours().WatchLeaderboard(REQUEST)
    assert next(first).total == 0 and next(second).total == 0
    with pytest.raises(grpc.RpcError) as raised:
        next(server.ours().WatchLeaderboard(REQUEST))
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert raised.value.details() == "at most 2 open streams per client"
    assert redis_client.zcard("leaderboard:limits:slots:streams:127.0.0.1") == 2
    first.cancel()
    wait_for(
        lambda: redis_client.zcard("leaderboard:limits:slots:streams:127.0.0.1") == 1,
        timeout=10,
        message="the cancelled watch's slot to come back",
    )
    third = server.ours().WatchLeaderboard(REQUEST)
    assert next(third).total == 0
    second.cancel()
    third.cancel()
