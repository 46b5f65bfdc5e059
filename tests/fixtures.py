"""Helpers shared by the tests that talk to the real servers: consumer processes, waits, and
connections built from the configured URLs (never a hard-coded endpoint).

The pytest fixtures themselves are in tests/conftest.py; test modules import from here, never
from each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import nats
import psycopg
import redis
from django.conf import settings
from django.db import connection

from tests.redis_claim import CLAIM, CLAIM_KEY, CLAIM_SECONDS

ROOT = Path(__file__).resolve().parent.parent


def redis_connect(**options) -> redis.Redis:
    """A client of this run's Redis database (settings.REDIS_URL, as tests/settings.py set it)."""
    return redis.Redis.from_url(settings.REDIS_URL, **options)


def boards_flush() -> None:
    """FLUSHDB this run's Redis database — everything goes, as when Redis dies — and renew the
    run's claim on it."""
    client = redis_connect()
    client.flushdb()
    client.set(CLAIM_KEY, CLAIM, ex=CLAIM_SECONDS)
    client.close()


def database_url() -> str:
    """The test database as a postgres:// URL (for a consumer process)."""
    db = connection.settings_dict
    user = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "") + "@" if db["USER"] else ""
    host = db["HOST"] + (f":{db['PORT']}" if db["PORT"] else "")
    return f"postgres://{user}{host}/{db['NAME']}"


def pg_connect(**options) -> psycopg.Connection:
    """A connection of its own to the test database (another process's transaction, say)."""
    db = connection.settings_dict
    params = {"host": db["HOST"], "port": db["PORT"], "user": db["USER"], "password": db["PASSWORD"]}
    return psycopg.connect(dbname=db["NAME"], **{k: v for k, v in params.items() if v}, **options)


def consumer_env(nats_names: dict[str, str], **extra: str) -> dict[str, str]:
    """The environment for a consumer subprocess that talks to this test's servers, with the
    production settings module (the test settings would claim a Redis database of its own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "CONSUMER_", "DATABASE_", "REDIS_"))}
    env.update(nats_names)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "leaderboard_project.settings",
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "NATS_URL": settings.NATS_URL,
            "DJANGO_SECRET_KEY": "test",
            "CONSUMER_ACK_WAIT": "3",
            "CONSUMER_FETCH_TIMEOUT": "0.2",
            "CONSUMER_SWEEP_INTERVAL": "1",
            "CONSUMER_METRICS_PORT": "0",  # a test that scrapes a consumer gives it a port of its own
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


class ConsumerProcess:
    """`manage.py consume_contributions` as a real process."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.handle = open(log, "ab")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "consume_contributions"],
            cwd=ROOT,
            env=env,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
        )

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self.handle.close()

    def kill(self) -> None:
        self.proc.kill()
        self.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


async def stream_delete(name: str) -> None:
    """Delete a test's stream (best effort: the server may be the one a test stopped)."""
    with contextlib.suppress(Exception):
        nc = await nats.connect(settings.NATS_URL, connect_timeout=2, max_reconnect_attempts=0)
        try:
            await nc.jetstream().delete_stream(name)
        finally:
            await nc.close()


async def _consumer_state(stream: str, durable: str) -> tuple[int, int]:
    nc = await nats.connect(settings.NATS_URL)
    try:
        info = await nc.jetstream().consumer_info(stream, durable)
        return info.num_pending, info.num_ack_pending
    finally:
        await nc.close()


def wait_until_drained(nats_names: dict[str, str], timeout: float = 60, processes=()) -> None:
    """Block until the durable has nothing pending and nothing unacked."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            pending, unacked = asyncio.run(_consumer_state(nats_names["NATS_STREAM"], nats_names["NATS_DURABLE"]))
            if pending == 0 and unacked == 0:
                return
        for process in processes:
            if process.proc.poll() is not None:
                raise AssertionError(f"consumer exited with {process.proc.returncode}:\n{process.output()[-3000:]}")
        time.sleep(0.1)
    raise AssertionError(f"the durable did not drain within {timeout}s")


def wait_for(condition, timeout: float = 30, interval: float = 0.05, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def free_port() -> int:
    """A TCP port nothing listens on now (bound, read, released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ApiProcess:
    """The API as `make run` serves it: gunicorn with gunicorn.conf.py, gthread workers."""

    def __init__(self, env: dict[str, str], directory: Path, workers: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stdout_path, self.stderr_path = directory / "api.out", directory / "api.err"
        self._out, self._err = open(self.stdout_path, "ab"), open(self.stderr_path, "ab")  # noqa: SIM115
        command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "leaderboard_project.wsgi"]
        command += ["--bind", f"127.0.0.1:{self.port}", "--workers", str(workers), "--worker-class", "gthread"]
        self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self._out, stderr=self._err)

    def wait_ready(self, timeout: float = 30) -> None:
        import urllib.request

        def answers() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"gunicorn exited with {self.proc.returncode}:\n{self.stderr_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/metrics", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_for(answers, timeout=timeout, interval=0.1, message="gunicorn to answer")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        self._err.close()
