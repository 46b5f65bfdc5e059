"""`manage.py serve_grpc` as a real process on this test's database, Redis and clock, and
stubs generated from our .proto files to call it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from proto.leaderboard.v1 import leaderboard_pb2_grpc as ours_grpc
from proto.leaderboardscoring.v1 import leaderboardscoring_pb2_grpc as rankr_grpc
from tests.clock import manage
from tests.fixtures import ROOT, consumer_env, free_port, process_stop, wait_for


class GrpcProcess:
    """`serve_grpc` at the test's clock (caches off: a test reads what it just wrote)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log_path = log
        self._log = open(log, "ab")  # noqa: SIM115
        command = manage("serve_grpc", "--host", "127.0.0.1", "--port", str(self.port))
        self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self.channel = grpc.insecure_channel(self.address)

    def wait_ready(self) -> None:
        def listening() -> bool:
            assert self.proc.poll() is None, f"serve_grpc exited:\n{self.output()}"
            return f"gRPC on {self.address}" in self.output()

        wait_for(listening, timeout=30, message="serve_grpc to listen")

    def output(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> int:
        process_stop(self.proc)
        self._log.close()
        self.channel.close()  # after the server's end: its calls have ended as it ended them
        return self.proc.returncode

    def rankr(self) -> rankr_grpc.LeaderboardScoringServiceStub:
        return rankr_grpc.LeaderboardScoringServiceStub(self.channel)

    def ours(self) -> ours_grpc.LeaderboardServiceStub:
        return ours_grpc.LeaderboardServiceStub(self.channel)


@pytest.fixture
def spawn_grpc(nats_names, tmp_path) -> Iterator:
    """Start serve_grpc processes; each one still running is stopped after the test."""
    started: list[GrpcProcess] = []

    def spawn(**extra: str) -> GrpcProcess:
        env = {"PAGE_CACHE_SECONDS": "0", "API_MICROCACHE_SECONDS": "0", **extra}
        server = GrpcProcess(consumer_env(nats_names, **env), tmp_path / f"grpc-{len(started)}.log")
        started.append(server)
        server.wait_ready()
        return server

    yield spawn
    for server in started:
        server.stop()
