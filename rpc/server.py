"""The gRPC server: rankr's service, ours, the standard health service and reflection, on one
`grpc.aio` server (asyncio: a WatchLeaderboard call is a coroutine, not a thread, so a thousand
open watches cost a thousand small objects; docs/API.md, "gRPC").

Health (`grpc.health.v1`): SERVING while the boards are readable — a probe reads the top row of
the global all-time board through the selectors every `HEALTH_INTERVAL` seconds (Redis only,
without names: a Postgres down or stalled leaves the boards readable) — else
NOT_SERVING; the overall status ("") and each service's follow it. On stop every status turns
NOT_SERVING, the watches end (OK), and calls in flight get `STOP_GRACE` seconds to finish.
"""

from __future__ import annotations

import asyncio
import logging

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from proto.leaderboard.v1 import leaderboard_pb2 as ours
from proto.leaderboard.v1 import leaderboard_pb2_grpc as ours_grpc
from proto.leaderboardscoring.v1 import leaderboardscoring_pb2 as rankr
from proto.leaderboardscoring.v1 import leaderboardscoring_pb2_grpc as rankr_grpc
from rpc import services, watch
from scoring.boards import GLOBAL, Board, Timeframe
from scoring.selectors import board_page

logger = logging.getLogger("leaderboard.grpc")

HEALTH_INTERVAL = 1.0
STOP_GRACE = 5.0
READER_THREADS = 8
SERVICES = (
    rankr.DESCRIPTOR.services_by_name["LeaderboardScoringService"].full_name,
    ours.DESCRIPTOR.services_by_name["LeaderboardService"].full_name,
)
PROBED_BOARD = Board(GLOBAL, Timeframe.ALL_TIME, "all")
# Abusive and idle clients (docs/SECURITY.md): a request is a few fields, so 64 KiB is plenty;
# a connection with no call open is closed after five minutes; a peer that stops answering
# HTTP/2 pings (a dead or stuck watcher) is dropped; a connection opens 100 calls at most.
# Open watches per client address: `BoardHub.admit`, as the SSE stream's (RESOURCE_EXHAUSTED).
SERVER_OPTIONS = [
    ("grpc.so_reuseport", 1),
    ("grpc.max_receive_message_length", 64 * 1024),
    ("grpc.max_connection_idle_ms", 300_000),
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.max_concurrent_streams", 100),
]


class GrpcServer:
    """The four services on `port` (0: a free port, see `port` once started)."""

    def __init__(self, *, host: str, port: int) -> None:
        self.address = f"{host}:{port}"
        self.port = port
        self.reads = services.Reads(READER_THREADS)
        self.health = health.aio.HealthServicer()
        self.server: grpc.aio.Server | None = None
        self.hub = None
        self.probe: asyncio.Task | None = None
        self.status = None  # the last probe's

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.hub = watch.board_hub(loop)
        self.hub.listen()
        self.server = grpc.aio.server(options=SERVER_OPTIONS)
        rankr_grpc.add_LeaderboardScoringServiceServicer_to_server(services.LeaderboardScoring(self.reads), self.server)
        ours_grpc.add_LeaderboardServiceServicer_to_server(services.Leaderboard(self.reads, self.hub), self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (*SERVICES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
            self.server,
        )
        self.port = self.server.add_insecure_port(self.address)
        await self._probe_once()  # the first status is known before the first call
        await self.server.start()
        self.probe = loop.create_task(self._probe())
        logger.info("gRPC on port %d: %s", self.port, ", ".join(SERVICES))

    async def _probe_once(self) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(
                self.reads.pool,
                self.reads._fresh,
                lambda: board_page(board=PROBED_BOARD, limit=1, offset=0, named=False),
            )
            status = health_pb2.HealthCheckResponse.SERVING
        except Exception as exc:
            if self.status != health_pb2.HealthCheckResponse.NOT_SERVING:
                logger.warning("the boards are not readable: %s", getattr(exc, "message", exc))
            status = health_pb2.HealthCheckResponse.NOT_SERVING
        self.status = status
        for name in ("", *SERVICES):
            await self.health.set(name, status)

    async def _probe(self) -> None:
        while True:
            await asyncio.sleep(HEALTH_INTERVAL)
            await self._probe_once()

    async def stop(self) -> None:
        """NOT_SERVING, every watch ended, then the server stopped after a grace."""
        if self.probe is not None:
            self.probe.cancel()
        await self.health.enter_graceful_shutdown()
        watch.close_all(self.hub)
        await self.server.stop(STOP_GRACE)
        self.reads.pool.shutdown(wait=False, cancel_futures=True)
