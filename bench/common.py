"""Plumbing shared by the benchmark scripts: a run's own names, isolated targets, processes,
the durable's state.

Every benchmark run takes names of its own from one run token (`RUN`, eight hex digits, or
`BENCH_RUN` from the environment to debug a run): its stream and subject, every durable,
every database (`leaderboard_bench_<what>_<run>`); and it claims its Redis databases as the
test runs do (SET NX of a claim key). Each script prints those names at the start, and drops
or deletes what it made at the end, in `finally` (on Ctrl-C and SIGTERM too: `run_announce`).
So two runs started at once never share anything, and nothing here touches the service's
default database, Redis database 0, or the `CONTRIBUTIONS` stream.

A `Target` is one isolated world for one consumer: its own Postgres database, its own Redis
database and its own durable on the run's stream.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nats
import psycopg
import redis
from nats.js.errors import NotFoundError
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
NATS_URL = "nats://127.0.0.1:4222"

# The usual ingest mix (`scoring.event_generator.GeneratorOptions`' fields): what `make bench`
# generates unless told otherwise, and what the scripts that time one part of ingest feed it.
INGEST_MIX = {"users": 2_000, "projects": 20, "days": 30, "duplicates": 0.05, "invalid": 0.01, "seed": 2026}


def _run_token() -> str:
    token = os.environ.get("BENCH_RUN") or uuid.uuid4().hex[:8]
    if not re.fullmatch(r"[a-z0-9]{1,16}", token):
        raise SystemExit(f"BENCH_RUN={token!r}: give 1 to 16 of a-z and 0-9")
    return token


# The processes a run starts (consumers, servers, helpers that publish) inherit the token, and
# with it the run's stream and subject.
RUN = _run_token()
os.environ["BENCH_RUN"] = RUN
STREAM = f"BENCH_{RUN}"
SUBJECT = f"bench.{RUN}.CONTRIBUTION_REGISTERED"

# The test fixtures claim Redis databases 1..15 with this key (SET NX); so do we, so that a
# test run and a benchmark never share (or flush) one database.
CLAIM_KEY = "leaderboard-test:claim"
CLAIM_TOKEN = f"bench-{RUN}"
CLAIM_SECONDS = 3 * 3600


def database_name(what: str) -> str:
    """This run's database for `what` (created and dropped by the script that uses it)."""
    return f"leaderboard_bench_{what}_{RUN}"


def durable_name(what: str) -> str:
    """This run's durable for `what`, on the run's stream."""
    return f"bench-{RUN}-{what}"


def run_announce(**names: object) -> None:
    """Print the names this run makes and uses, so that a leftover can be traced to its run;
    and make SIGTERM unwind like Ctrl-C, so that the `finally` that drops them runs either way."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    listed = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in names.items())
    print(f"bench run {RUN}: {listed}", flush=True)


def _admin() -> psycopg.Connection:
    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True)


def database_create(name: str) -> None:
    """An empty database `name` (dropped first if a run of the same name left one)."""
    database_drop(name)
    with _admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def database_exists(name: str) -> bool:
    with _admin() as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def database_drop(name: str) -> None:
    """Drop `name`, closing whatever is still connected to it."""
    with _admin() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


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


def redis_reset(db: int) -> None:
    """Empty a Redis database we claimed, keeping our claim on it."""
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db)
    try:
        if client.get(CLAIM_KEY) not in (None, CLAIM_TOKEN.encode()):
            raise RuntimeError(f"redis db {db} is claimed by someone else")
        client.flushdb()
        client.set(CLAIM_KEY, CLAIM_TOKEN, ex=CLAIM_SECONDS)
    finally:
        client.close()


def redis_release(db: int) -> None:
    """Give a claimed Redis database back: emptied, the claim with it (if it is still ours)."""
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db)
    try:
        if client.get(CLAIM_KEY) == CLAIM_TOKEN.encode():
            client.flushdb()
    finally:
        client.close()


@dataclass(frozen=True)
class Target:
    """One consumer's world: a database, a Redis database, a durable on the run's stream."""

    name: str
    database: str
    redis_db: int
    durable: str
    code: Path = ROOT  # the checkout whose manage.py works on it (an A/B run's other side)

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
        redis_reset(self.redis_db)

    def release(self) -> None:
        """The end of a run: drop the database, give the Redis database back emptied."""
        try:
            database_drop(self.database)
        finally:
            redis_release(self.redis_db)


def manage(target: Target, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run `manage.py <args>` against `target`, output captured."""
    return subprocess.run(
        [PYTHON, str(target.code / "manage.py"), *args],
        cwd=target.code,
        env=target.env(),
        capture_output=True,
        text=True,
        check=check,
    )


class Process:
    """A long-running process (a consumer) with its output in a log file. With `group`, it leads
    a process group of its own (a server and its workers), and `stop` signals the whole group."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path, *, group: bool = False) -> None:
        self.log = log
        self.group = group
        self._out = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=group
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _signal(self, signum: int) -> None:
        if self.group:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signum)  # the group's id is the leader's pid
        else:
            self.proc.send_signal(signum)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, wait; SIGKILL if it will not go. Returns the exit code."""
        if self.alive():
            self._signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            code = self.proc.wait()
        if self.group:  # a worker that outlived its master
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
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
    """The run's stream and the state of its durables, on one NATS connection."""

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


def kept_database_options(parser: argparse.ArgumentParser) -> None:
    """`--database NAME` and `--reuse`, for a script whose generated log is worth keeping."""
    parser.add_argument(
        "--database", help="a database to keep the log in between runs (kept at the end; default: the run's own)"
    )
    parser.add_argument("--reuse", action="store_true", help="start from the log that --database NAME kept")


def kept_database_check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.reuse and not args.database:
        parser.error("--reuse needs --database NAME: the database a previous run kept")
    if args.database and "bench" not in args.database:
        parser.error(f"--database {args.database}: the script empties it; give a name with 'bench' in it")


@contextlib.contextmanager
def in_process_target(
    what: str, preferred_redis: int, *, kept: str | None = None, reuse: bool = False
) -> Iterator[tuple[Target, bool]]:
    """A world for a script that runs the service's code in this process: a database (the run's,
    or `kept`, which outlives the run) made empty unless `reuse` finds `kept` already there, a
    claimed Redis database, and this process's environment pointed at them (and at the run's
    stream) before `django.setup()`; the names printed. Yields the target and whether the kept
    database was reused. At the end the run's database is dropped and the Redis db given back."""
    target = Target(what, kept or database_name(what), redis_claim(preferred_redis), durable_name(what))
    try:
        run_announce(database=target.database + (" (kept)" if kept else ""), redis_db=target.redis_db)
        reused = bool(kept and reuse and database_exists(target.database))
        if not reused:
            database_create(target.database)
        os.environ.update(target.env())
        yield target, reused
    finally:
        if kept:
            redis_release(target.redis_db)
        else:
            target.release()  # the DROP is WITH (FORCE): this process's connection goes with it


def stream_recreate() -> None:
    """The run's stream, made empty."""

    async def recreate() -> None:
        async with Durables() as durables:
            await durables.stream_recreate()

    asyncio.run(recreate())


def stream_delete() -> None:
    """Delete the run's stream (its durables go with it)."""

    async def delete() -> None:
        async with Durables() as durables:
            await durables.stream_delete()

    asyncio.run(delete())


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
