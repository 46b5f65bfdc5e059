"""`python manage.py serve_grpc`: the gRPC services (SPEC §13) on `GRPC_PORT` until SIGTERM or
Ctrl-C; `make run` starts it beside gunicorn and the consumer. With `GRPC_PORT=0` it says so,
serves nothing and waits for the same signals (so that `bin/run`, which stops everything when
one of its processes exits, keeps running without gRPC)."""

from __future__ import annotations

import asyncio
import signal

from django.conf import settings
from django.core.management.base import BaseCommand

from leaderboard_project.api_sessions import limit_api_queries
from rpc.server import GrpcServer


class Command(BaseCommand):
    help = "Serve the gRPC services (leaderboardscoring.v1, leaderboard.v1, health, reflection) on GRPC_PORT."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="0.0.0.0", help="the address to listen on (default: all)")
        parser.add_argument("--port", type=int, default=None, help="the port (default: GRPC_PORT)")

    def handle(self, *args, host: str, port: int | None, **options) -> None:
        port = settings.GRPC_PORT if port is None else port
        limit_api_queries()  # a read API: its Postgres sessions get the API's statement timeout
        asyncio.run(self._serve(host, port))

    async def _serve(self, host: str, port: int) -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        if port == 0:
            self.stdout.write("GRPC_PORT is 0: gRPC is off")
            self.stdout.flush()
            await stopping.wait()
            return
        server = GrpcServer(host=host, port=port)
        await server.start()
        self.stdout.write(f"gRPC on {host}:{server.port}")
        self.stdout.flush()
        await stopping.wait()
        await server.stop()
