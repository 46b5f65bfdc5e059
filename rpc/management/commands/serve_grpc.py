"""`python manage.py serve_grpc`: the gRPC services (SPEC §13) on `GRPC_PORT` until SIGTERM or
Ctrl-C; `make run` starts it beside gunicorn and the consumer. With `GRPC_PORT=0` it says so,
serves nothing and waits for the same signals (so that `bin/run`, which stops everything when
one of its processes exits, keeps running without gRPC).

`GRPC_PROCESSES` (`--processes`, default 2) servers share the port (SO_REUSEPORT, the kernel
spreads the connections), as gunicorn's workers do: one grpc.aio event loop is one core at
most. The command's process serves too; the others are forked before any of them makes a
server or a connection (gRPC's rule for fork). A SIGTERM to the command stops them all; one
that exits stops the others.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
import sys

from django.conf import settings
from django.core.management.base import BaseCommand

from leaderboard_project.api_sessions import limit_api_queries
from rpc.server import GrpcServer


class Command(BaseCommand):
    help = "Serve the gRPC services (leaderboardscoring.v1, leaderboard.v1, health, reflection) on GRPC_PORT."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="0.0.0.0", help="the address to listen on (default: all)")
        parser.add_argument("--port", type=int, default=None, help="the port (default: GRPC_PORT)")
        parser.add_argument("--processes", type=int, default=None, help="servers on the port (default: GRPC_PROCESSES)")

    def handle(self, *args, host: str, port: int | None, processes: int | None, **options) -> None:
        port = settings.GRPC_PORT if port is None else port
        processes = max(1, settings.GRPC_PROCESSES if processes is None else processes)
        limit_api_queries()  # a read API: its Postgres sessions get the API's statement timeout
        others = []
        if port != 0:
            fork = multiprocessing.get_context("fork")
            others = [fork.Process(target=self._child, args=(host, port), daemon=True) for _ in range(processes - 1)]
            for other in others:
                other.start()
        code = asyncio.run(self._serve(host, port, others))
        sys.exit(code)

    def _child(self, host: str, port: int) -> None:
        sys.exit(asyncio.run(self._serve(host, port, [])))

    async def _serve(self, host: str, port: int, others: list) -> int:
        """Serve until a signal (or one of `others` exits); then stop them; the exit code."""
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        for other in others:
            loop.add_reader(other.sentinel, stopping.set)
        if port == 0:
            self.stdout.write("GRPC_PORT is 0: gRPC is off")
            self.stdout.flush()
            await stopping.wait()
            return 0
        server = GrpcServer(host=host, port=port)
        await server.start()
        if multiprocessing.parent_process() is None:
            self.stdout.write(f"gRPC on {host}:{server.port} ({len(others) + 1} processes)")
            self.stdout.flush()
        await stopping.wait()
        for other in others:
            loop.remove_reader(other.sentinel)
            if other.is_alive():
                other.terminate()  # SIGTERM: it stops as this one does
        await server.stop()
        for other in others:
            await loop.run_in_executor(None, other.join)
        return max((abs(other.exitcode or 0) for other in others), default=0)
