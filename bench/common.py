"""Plumbing shared by the benchmark scripts: isolated targets, processes, the durable's state.

A `Target` is one isolated world for one consumer: its own Postgres database, its own Redis
database and its own durable on the benchmark stream. Nothing here touches the service's
default database, Redis database 0, or the `CONTRIBUTIONS` stream.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import nats
import psycopg
import redis
from nats.js.errors import NotFoundError

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
NATS_URL = "nats://127.0.0.1:4222"
STREAM = "BENCH_INGEST"
SUBJECT = "bench.ingest.CONTRIBUTION_REGISTERED"

# The test fixtures claim Redis databases 1..15 with this key (SET NX); so do we, so that a
# test run and a benchmark never share (or flush) one database.
CLAIM_KEY = "leaderboard-test:claim"
CLAIM_TOKEN = f"bench-{uuid.uuid4().hex[:8]}"
CLAIM_SECONDS = 3 * 3600


def redis_claim(preferred: int) -> int:
    """Claim a free Redis database, `preferred` first, then 15 down to 1."""
    for db in [preferred, *range(15, 0, -1)]:
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db)
        try:
            if client.set(CLAIM_KEY, CLAIM_TOKEN, nx=True, ex=CLAIM_SECONDS):
                return db
        finally:
            client.close()
    raise RuntimeError("no free Redis database among 1..15 for the benchmark")


@dataclass(frozen=True)
class Target:
    """One consumer's world: a database, a Redis database, a durable on the bench stream."""

    name: str
    database: str
    redis_db: int
    durable: str

    @property
    def database_url(self) -> str:
        return f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{self.database}"

    @property
    def redis_url(self) -> str:
        return f"redis://{REDIS_HOST}:{REDIS_PORT}/{self.redis_db}"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a process that works on this target (and nothing else)."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("NATS_", "CONSUMER_", "DATABASE_", "REDIS_", "LEADERBOARD_CONFIG"))
        }
        env.update(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            NATS_URL=NATS_URL,
            NATS_STREAM=STREAM,
            NATS_SUBJECT=SUBJECT,
            NATS_DURABLE=self.durable,
            DJANGO_SECRET_KEY="bench",
            DJANGO_SETTINGS_MODULE="leaderboard_project.settings",
            PYTHONUNBUFFERED="1",
            # the benchmarks' 1,000 streams and watches come from one address by design: they
            # measure the hub, not the per-client limit (docs/SECURITY.md)
            STREAMS_PER_CLIENT="0",
        )
        env.update(extra)
        return env

    def redis(self) -> redis.Redis:
        return redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=self.redis_db)

    def pg(self) -> psycopg.Connection:
        return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=self.database, autocommit=True)

    def redis_reset(self) -> None:
        """Empty this target's Redis database, keeping our claim on it."""
        client = self.redis()
        try:
            if client.get(CLAIM_KEY) not in (None, CLAIM_TOKEN.encode()):
                raise RuntimeError(f"redis db {self.redis_db} is claimed by someone else")
            client.flushdb()
            client.set(CLAIM_KEY, CLAIM_TOKEN, ex=CLAIM_SECONDS)
        finally:
            client.close()

    def redis_release(self) -> None:
        client = self.redis()
        try:
            if client.get(CLAIM_KEY) == CLAIM_TOKEN.encode():
                client.flushdb()
        finally:
            client.close()


def manage(target: Target, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run `manage.py <args>` against `target`, output captured."""
    return subprocess.run(
        [PYTHON, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=target.env(),
        capture_output=True,
        text=True,
        check=check,
    )


class Process:
    """A long-running process (a consumer) with its output in a log file."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, wait; SIGKILL if it will not go. Returns the exit code."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._out.close()
        return code

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class DurableState:
    exists: bool
    delivered: int = 0  # messages handed to the consumer so far (consumer sequence)
    pending: int = 0  # not yet delivered
    ack_pending: int = 0  # delivered, not yet acked
    waiting: int = 0  # pull requests waiting on the server

    @property
    def drained(self) -> bool:
        return self.exists and self.pending == 0 and self.ack_pending == 0


class Durables:
    """The bench stream and the state of its durables, on one NATS connection."""

    async def __aenter__(self) -> Durables:
        self.nc = await nats.connect(NATS_URL)
        self.js = self.nc.jetstream()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.nc.close()

    async def stream_recreate(self) -> None:
        with contextlib.suppress(NotFoundError):
            await self.js.delete_stream(STREAM)
        await self.js.add_stream(name=STREAM, subjects=[SUBJECT])

    async def stream_delete(self) -> None:
        with contextlib.suppress(NotFoundError):
            await self.js.delete_stream(STREAM)

    async def state(self, durable: str) -> DurableState:
        try:
            info = await self.js.consumer_info(STREAM, durable)
        except NotFoundError:
            return DurableState(exists=False)
        return DurableState(
            exists=True,
            delivered=info.delivered.consumer_seq or 0,
            pending=info.num_pending or 0,
            ack_pending=info.num_ack_pending or 0,
            waiting=info.num_waiting or 0,
        )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pids() -> dict[str, int]:
    """The local redis-server and nats-server processes (for their CPU use)."""
    found = {}
    for name in ("redis-server", "nats-server"):
        result = subprocess.run(["pgrep", "-o", "-x", name], capture_output=True, text=True)
        if result.stdout.strip():
            found[name] = int(result.stdout.split()[0])
    return found


def postgres_backends(database: str) -> list[int]:
    """The server processes of the client connections to `database`."""
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'"
            " AND pid <> pg_backend_pid()",
            [database],
        ).fetchall()
    return [pid for (pid,) in rows]


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (fraction in 0..1)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]
