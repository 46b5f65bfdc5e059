"""Figures for docs/BENCHMARKS.md, "Cluster": one consumer draining the same generated events
from one nats-server (R1) and from bin/cluster's three-node JetStream cluster (R3), in the same
run, alternating; then a Redis failover under a consumer at about `--members` board members:
Sentinel's promotion, the consumer's detection, and the boards exact again from the log.

    .venv/bin/python bench/cluster.py [--events 20000] [--runs 2] [--members 100000]
    .venv/bin/python bench/cluster.py --pauses DIR   # after pytest tests/cluster --basetemp=DIR

With `--pauses`, it reads the consumers' logs the cluster tests left under DIR and prints, per
test, the longest time without an applied batch from either consumer (the events stream in at
120/s throughout, so every gap is the fault's).

Everything runs on servers of its own (deploy/cluster.py, and one more nats-server) and a
database of its own; Postgres is the machine's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATABASE = f"bench_cluster_{uuid.uuid4().hex[:6]}"
STREAM, SUBJECT = "BENCH_CLUSTER", "bench.cluster.CONTRIBUTION_REGISTERED"
os.environ.update(
    DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
    NATS_STREAM=STREAM,
    NATS_SUBJECT=SUBJECT,
    DJANGO_SECRET_KEY="bench",
    DJANGO_SETTINGS_MODULE="leaderboard_project.settings",
)

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402
from nats.js.errors import NotFoundError  # noqa: E402

from bench.common import PYTHON, Process  # noqa: E402
from deploy.cluster import NATS_BINARY, Topology, free_port, wait_until  # noqa: E402
from scoring.event_generator import GeneratorOptions, events_generate  # noqa: E402
from scoring.jetstream import JetStreamPublisher, connect  # noqa: E402

FAILOVER_LINE = "the Redis primary is another server"


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([PYTHON, str(ROOT / "manage.py"), *args], cwd=ROOT, env=env, check=True, capture_output=True)


def reset(topology: Topology) -> None:
    """Empty the log and the primary's database (the run's own)."""
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        tables = [t for (t,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        ours = [t for t in tables if t.startswith(("scoring_", "snapshots_"))]
        conn.execute(f"TRUNCATE {', '.join(ours)} RESTART IDENTITY CASCADE")
    with topology.primary().client() as client:
        client.flushdb()


async def _stream(url: str, replicas: int, durable: str | None = None):
    nc = await connect("bench", url=url, reconnect_wait=None)
    try:
        js = nc.jetstream()
        if durable is None:
            with contextlib.suppress(NotFoundError):
                await js.delete_stream(STREAM)
            await js.add_stream(name=STREAM, subjects=[SUBJECT], num_replicas=replicas)
            return None
        try:
            info = await js.consumer_info(STREAM, durable)
        except NotFoundError:
            return None
        return info.num_pending, info.num_ack_pending
    finally:
        await nc.close()


def publish(url: str, replicas: int, messages: list[bytes]) -> float:
    """Recreate the stream at `replicas` copies and publish `messages`; returns the seconds taken."""
    asyncio.run(_stream(url, replicas))
    settings.NATS_STREAM_REPLICAS = replicas
    publisher = JetStreamPublisher("bench", url=url)
    started = time.monotonic()
    try:
        publisher.publish_many(messages)
    finally:
        publisher.close()
    return time.monotonic() - started


def drain(env: dict[str, str], url: str, durable: str, log: Path) -> tuple[float, Process]:
    """Start a consumer on `durable` and time it until nothing is pending or unacked."""
    started = time.monotonic()
    process = Process([PYTHON, str(ROOT / "manage.py"), "consume_contributions"], env, log)
    while True:
        with contextlib.suppress(Exception):
            state = asyncio.run(_stream(url, 0, durable))
            if state == (0, 0):
                return time.monotonic() - started, process
        if not process.alive():
            raise RuntimeError(process.output()[-3000:])
        time.sleep(0.02)


def base_env(topology: Topology, url: str, replicas: int, durable: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NATS_URL", "REDIS_", "CONSUMER_"))}
    env.update(topology.settings(), NATS_URL=url, NATS_STREAM_REPLICAS=str(replicas), NATS_DURABLE=durable)
    env.update(REDIS_URL="redis://127.0.0.1:6379/0", CONSUMER_METRICS_PORT="0", PYTHONUNBUFFERED="1")
    return env


def ingest(topology: Topology, single: str, args, logs: Path) -> None:
    messages = list(events_generate(GeneratorOptions(count=args.events, users=2000, projects=20, seed=7)))
    for run in range(args.runs):
        for label, url, replicas in (("one nats-server, R1", single, 1), ("3-node cluster, R3", topology.nats_url, 3)):
            reset(topology)
            published = publish(url, replicas, messages)
            durable = f"bench-{run}-{replicas}"
            env = base_env(topology, url, replicas, durable)
            seconds, process = drain(env, url, durable, logs / f"ingest-{run}-{replicas}.log")
            process.stop()
            print(
                f"run {run} {label}: published {len(messages) / published:,.0f}/s; "
                f"drained {len(messages) / seconds:,.0f}/s end to end ({seconds:.2f}s, start-up included)",
                flush=True,
            )


def _recorded_run_id() -> str | None:
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        row = conn.execute("SELECT redis_run_id FROM snapshots_boardsswap WHERE id = 1").fetchone()
    return row[0] if row else None


def failover(topology: Topology, args, logs: Path) -> None:
    reset(topology)
    count = 3 * args.members
    messages = list(events_generate(GeneratorOptions(count=count, users=args.members, projects=20, seed=8)))
    url = topology.nats_url
    publish(url, 3, messages)
    env = base_env(topology, url, 3, "bench-failover")
    seconds, process = drain(env, url, "bench-failover", logs / "failover.log")
    old = topology.primary()
    with old.client() as client:
        members = client.zcard("leaderboard:global:all_time:all")
    print(f"{count:,} events ({members:,} members on the all-time board) drained in {seconds:.1f}s", flush=True)
    killed = time.monotonic()
    old.kill()
    promoted = wait_until(lambda: topology.primary_port() not in (None, old.port), 60, "a failover", interval=0.01)
    promoted = time.monotonic()
    new = topology.primary()
    wait_until(lambda: FAILOVER_LINE in process.output(), 120, "the failover seen", interval=0.01)
    detected = time.monotonic()
    new_run_id = new.run_id()
    wait_until(lambda: _recorded_run_id() == new_run_id, 300, "the boards restored", interval=0.02)
    exact = time.monotonic()
    process.stop()
    old.start()
    print(
        f"Redis failover at {members:,} members: primary SIGKILLed -> Sentinel promoted the replica "
        f"{promoted - killed:.2f}s; -> the consumer saw it {detected - promoted:.2f}s later; "
        f"-> boards exact again {exact - detected:.2f}s later (reads 503 meanwhile); "
        f"{exact - killed:.2f}s in all",
        flush=True,
    )


BATCH_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO leaderboard.consumer batch seq=")


def pauses(directory: Path) -> None:
    """The longest gap between two applied batches (either consumer) of each test under `directory`."""
    for test in sorted(path for path in directory.iterdir() if path.is_dir() and not path.is_symlink()):
        stamps = sorted(
            datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            for log in test.glob("consumer-*.log")
            for found in map(BATCH_LINE.match, log.read_text(errors="replace").splitlines())
            if found
        )
        if len(stamps) > 1:
            gap = max(b - a for a, b in itertools.pairwise(stamps))
            print(f"{test.name}: {len(stamps)} batches, longest pause in applies {gap:.2f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--pauses", type=Path, help="only read the cluster tests' consumer logs under this directory")
    args = parser.parse_args()
    if args.pauses:
        pauses(args.pauses)
        return
    print(f"load average before: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as directory:
        root = Path(directory)
        topology = Topology(root / "cluster")
        single_port = free_port()
        single = subprocess.Popen(
            [NATS_BINARY, "-js", "-a", "127.0.0.1", "-p", str(single_port), "-sd", str(root / "single")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            topology.start()
            env = base_env(topology, topology.nats_url, 3, "none")
            manage(env, "ensure_database")
            manage(env, "migrate", "--no-input")
            ingest(topology, f"nats://127.0.0.1:{single_port}", args, root)
            if args.members:
                failover(topology, args, root)
        finally:
            single.terminate()
            single.wait(10)
            topology.stop()
            with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    print(f"load average after: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
