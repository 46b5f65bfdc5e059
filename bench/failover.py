"""Figures for docs/BENCHMARKS.md, "Cluster": a Redis failover at a large board — Sentinel's
promotion, the consumer's detection, the boards exact again, from the log or from a recent
snapshot — and, with `--freshness`, how long an event takes to show on a board read while the
primary fails over under a steady stream of events.

    .venv/bin/python bench/failover.py --members 1000000 [--snapshot]
    .venv/bin/python bench/failover.py --members 100000 --freshness 500 [--before 20] [--after 20]
    .venv/bin/python bench/failover.py --members 1000000 --database NAME [--reuse]   # keep the log

The log is written as the consumer writes it, without JetStream: 3 x `--members` generated
events (bench/cluster.py's shape: users 1..members, 20 projects, 30 days, 5 % re-sent), decoded
by the consumer's decoder and recorded by its `batch_record` (log rows, projects, contributors,
the ledger), in batches of `--batch`; a second process generates while this one records. The
ledger is then emptied, as the applies would have, and the boards are built by
`restore_leaderboards`: the state an idle consumer leaves. The achievements' watermark is set
past the seeded log (their backfill is not part of a board's restore, and would otherwise run in
the consumer's first sweep, during the measurement); the seeded periods' results are finalized.
`verify_leaderboards` must pass before the fault. With `--database NAME` the log is kept, and a
later run with `--reuse` starts from it (its snapshots are dropped unless `--snapshot`).

Then one consumer runs on bin/cluster's topology (deploy/cluster.py: three nats-servers, a Redis
primary, a replica, three sentinels; the stream R3), `--live` more events are published through
JetStream and applied (a snapshot, with `--snapshot`, is taken before them, so the restore adds
them to it), the replica is in step, and the primary is SIGKILLed.

`--freshness RATE`: events stream in at RATE a second from a publisher thread (each crediting a
user of its own, so that it shows as a new member of the global all-time board) from `--before`
seconds before the kill to `--after` seconds after the boards are exact again; a reader thread
polls the board read path (`scoring.selectors.board_ranks`, what the pages use: a 503 while
the boards are not ready) for every event not yet seen, and for the last 2,000 seen. An event
is fresh at the first read that finds it; a read that loses an event an earlier read found is a
stale 200, counted (it must stay 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    PYTHON,
    Process,
    cpu_seconds,
    database_create,
    database_drop,
    database_exists,
    database_name,
    kept_database_check,
    kept_database_options,
    percentile,
    postgres_backends,
    run_announce,
)
from deploy.cluster import DOWN_AFTER_MS, MASTER, Topology, wait_until  # noqa: E402

STREAM, SUBJECT, DURABLE = "BENCH_FAILOVER", "bench.failover.CONTRIBUTION_REGISTERED", "bench-failover"
FAILOVER_LINE = "the Redis primary is another server"
RESTORED_LINE = re.compile(r"restored (\d+) boards, (\d+) members from (.+) in ([\d.]+)s")
FRESH_PROJECT = 1_000_001  # the freshness events' project: no seeded event names it
# The freshness events' users: one each, new in every run (a kept log holds an earlier run's).
FRESH_USER_BASE = 10**12 + int(time.time()) * 10**5
KEEP_SEEN = 2000  # events already seen that each read asks again (a stale read loses one)


def say(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


# The seeded log ---------------------------------------------------------------------------


def _chunk(job: tuple[int, int, int, int, float]) -> list:
    """Generated events `job` describes, decoded as the consumer decodes them (the generator's
    process: no database here)."""
    from scoring.event_generator import GeneratorOptions, events_generate
    from scoring.ingest.wire import InvalidEvent, decode

    index, count, users, projects, end = job
    options = GeneratorOptions(
        count=count, users=users, projects=projects, seed=8_000_000 + index, end=datetime.fromtimestamp(end, UTC)
    )
    contributions = []
    for data in events_generate(options):
        with contextlib.suppress(InvalidEvent):
            contributions.append(decode(data))
    return contributions


def seed(members: int, batch: int) -> None:
    """3 x `members` generated events recorded by the consumer's own code, the ledger emptied
    (the boards are built from the log afterwards), the achievements' watermark past them."""
    from django.db import connection

    from scoring.ingest.record import batch_record
    from scoring.rules.versions import ACTIVE_VERSION

    count, chunk = 3 * members, 30_000
    end = time.time()
    jobs = [(i, min(chunk, count - start), members, 20, end) for i, start in enumerate(range(0, count, chunk))]
    started, recorded = time.monotonic(), 0
    connection.close()  # the generator's process must not inherit a connection
    with multiprocessing.get_context("fork").Pool(1) as pool:
        for done, contributions in enumerate(pool.imap(_chunk, jobs), 1):
            for start in range(0, len(contributions), batch):
                recorded += batch_record(contributions[start : start + batch])[1].logged
            if done % 10 == 0:
                say(f"  {recorded:,} rows logged ({recorded / (time.monotonic() - started):,.0f}/s)")
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE scoring_unapplied")
        cursor.execute(
            "INSERT INTO scoring_achievementswatermark (id, log_snapshot, rules_version, held_back)"
            f" VALUES (1, txid_current_snapshot()::text, {ACTIVE_VERSION}, '{{}}')"
            " ON CONFLICT (id) DO UPDATE SET log_snapshot = EXCLUDED.log_snapshot"
        )
        cursor.execute("VACUUM ANALYZE")
    say(f"seeded {recorded:,} log rows from {count:,} events in {time.monotonic() - started:.1f}s")


# Processes --------------------------------------------------------------------------------


class CpuWatch:
    """CPU seconds used while it runs: by the Redis servers `pids` and by the Postgres backends
    of `database` (sampled, since a backend leaves with its client), and by this process's
    waited-for children (the management command)."""

    def __init__(self, pids: dict[str, int], database: str) -> None:
        self.pids, self.database = pids, database
        self.start = {name: cpu_seconds(pid) for name, pid in pids.items()}
        self.backends: dict[int, tuple[float, float]] = {}  # pid -> (first seen, last seen) CPU
        self.children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.done.wait(0.2):
            with contextlib.suppress(Exception):
                for pid in postgres_backends(self.database):
                    used = cpu_seconds(pid)
                    if used == used:  # not NaN: the backend is still there
                        first = self.backends.get(pid, (used, used))[0]
                        self.backends[pid] = (first, used)

    def stop(self) -> str:
        self.done.set()
        self.thread.join()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        command = children.ru_utime + children.ru_stime - self.children.ru_utime - self.children.ru_stime
        used = {name: cpu_seconds(pid) - self.start[name] for name, pid in self.pids.items()}
        postgres = sum(last - first for first, last in self.backends.values())
        return f"CPU: the command {command:.1f}s, Postgres {postgres:.1f}s (at least), " + ", ".join(
            f"{name} {seconds:.1f}s" for name, seconds in used.items()
        )


def manage(env: dict[str, str], *args: str, watch: CpuWatch | None = None, profile: Path | None = None) -> float:
    """Run a management command to its end (it must succeed); returns the seconds it took.
    `profile`: under py-spy (every thread, waiting ones too; collapsed stacks written there)."""
    command = [PYTHON, str(ROOT / "manage.py"), *args]
    if profile is not None:
        spy = Path(PYTHON).with_name("py-spy")
        options = ["--idle", "--threads", "-r", "50", "-f", "raw", "-o", str(profile)]
        command = [str(spy), "record", *options, "--", *command]
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    last = (done.stdout.strip().splitlines() or [""])[-1]
    say(f"manage.py {' '.join(args)}: {seconds:.1f}s — {last}")
    if watch is not None:
        say(f"  {watch.stop()}")
    if done.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds


async def _stream_create() -> None:
    from nats.js.errors import NotFoundError

    from scoring.jetstream import connect

    nc = await connect("bench", reconnect_wait=None)
    try:
        js = nc.jetstream()
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(STREAM)
        await js.add_stream(name=STREAM, subjects=[SUBJECT], num_replicas=3)
    finally:
        await nc.close()


async def _pending() -> tuple[int, int] | None:
    from nats.js.errors import NotFoundError

    from scoring.jetstream import connect

    nc = await connect("bench", reconnect_wait=None)
    try:
        info = await nc.jetstream().consumer_info(STREAM, DURABLE)
        return info.num_pending, info.num_ack_pending
    except NotFoundError:
        return None
    finally:
        await nc.close()


def drained() -> bool:
    return asyncio.run(_pending()) == (0, 0)


def replica_in_step(topology: Topology) -> bool:
    """Whether the replica has acknowledged every write the primary took so far (`WAIT`)."""
    with topology.primary().client() as client:
        return client.execute_command("WAIT", 1, 1000) >= 1


def sentinels_down_after(topology: Topology, milliseconds: int) -> None:
    for sentinel in topology.sentinels:
        with sentinel.client() as client:
            client.sentinel_set(MASTER, "down-after-milliseconds", milliseconds)


def recorded_run_id() -> str | None:
    from scoring.maintenance.build import recorded_run_id as recorded

    return recorded()


# Freshness --------------------------------------------------------------------------------


class Freshness:
    """The freshness events (the n-th credits user FRESH_USER_BASE + n): when each one's publish
    began, written by the publisher's process into shared memory (CLOCK_MONOTONIC is the
    machine's, so both processes' times compare), and when a read of this one first found it."""

    def __init__(self, capacity: int) -> None:
        context = multiprocessing.get_context("fork")
        self.times = context.Array("d", capacity, lock=False)
        self.started = context.Value("q", 0)  # events whose publish has begun (their time is written)
        self.stop = context.Event()
        self.seen: dict[int, float] = {}  # n -> first read that found it
        self.reads = self.unavailable = self.stale = 0
        self.stale_examples: list[str] = []
        self.stopped_at = 0.0

    def published(self) -> dict[int, float]:
        return {n: self.times[n] for n in range(self.started.value)}


def publisher(state: Freshness, rate: float) -> None:
    """One event every 1/rate s (in a process of its own, so that the reader's work never holds
    it back), each crediting a new user (2 points, a pull request opened), published with its id
    until JetStream acknowledges it."""
    from proto.contributions.v1 import contribution_pb2 as pb
    from scoring.event_generator import event_build
    from scoring.jetstream import JetStreamPublisher

    nats = JetStreamPublisher("bench-freshness")
    started, n = time.monotonic(), 0
    try:
        while not state.stop.is_set() and n < len(state.times):
            ahead = started + n / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
            event = event_build(
                event_id=f"fresh-{FRESH_USER_BASE + n}",
                kind=pb.PULL_REQUEST_OPENED,
                user_id=FRESH_USER_BASE + n,
                project_id=FRESH_PROJECT,
                occurred_at=datetime.now(UTC),
                login=f"fresh-{n}",
            )
            state.times[n] = time.monotonic()
            state.started.value = n + 1
            while True:
                try:
                    nats.publish(event.SerializeToString(), msg_id=event.id, timeout=5)
                    break
                except Exception as exc:  # no acknowledgement: the same id again (deduplicated)
                    say(f"publish of {event.id} failed ({exc}); again")
            n += 1
    finally:
        nats.close()


def reader(state: Freshness) -> None:
    """Poll the read path for every event not yet found (and the last KEEP_SEEN found)."""
    from leaderboard_project.errors import DependencyUnavailable
    from scoring.boards import GLOBAL, Board, Timeframe
    from scoring.selectors import board_ranks

    board = Board(GLOBAL, Timeframe.ALL_TIME, "all")
    order: list[int] = []  # found events, in the order found
    while True:
        started = state.started.value
        if state.stop.is_set() and (len(state.seen) >= started or time.monotonic() - state.stopped_at > 120):
            break
        waiting = [n for n in range(started) if n not in state.seen]
        asked = waiting + order[-KEEP_SEEN:]
        if not asked:
            time.sleep(0.005)
            continue
        try:
            ranks = board_ranks(board=board, user_ids=[FRESH_USER_BASE + n for n in asked])
        except DependencyUnavailable:
            state.unavailable += 1
            time.sleep(0.005)
            continue
        except Exception:  # Redis unreachable mid-failover: the API answers 503 then too
            state.unavailable += 1
            time.sleep(0.05)
            continue
        now = time.monotonic()
        state.reads += 1
        lost = [n for n in order[-KEEP_SEEN:] if FRESH_USER_BASE + n not in ranks]
        if lost:
            state.stale += 1
            if len(state.stale_examples) < 5:
                state.stale_examples.append(f"a 200 without {len(lost)} events found before, e.g. fresh-{lost[0]}")
        for n in waiting:
            if FRESH_USER_BASE + n in ranks:
                state.seen[n] = now
                order.append(n)
        time.sleep(0.005)


def _spread(values: list[float]) -> str:
    if not values:
        return "none"
    return (
        f"p50 {statistics.median(values) * 1000:,.0f} ms, p99 {percentile(values, 0.99) * 1000:,.0f} ms, "
        f"max {max(values) * 1000:,.0f} ms (n={len(values):,})"
    )


def freshness_report(state: Freshness, killed: float, exact: float) -> None:
    """Publish-to-read latencies over the whole run, and of the events published before the
    kill, between the kill and the boards exact again, and after that."""
    published = state.published()
    unseen = [n for n in published if n not in state.seen]
    times = sorted(published.values())
    say(
        f"freshness: {len(times):,} events published at {len(times) / (times[-1] - times[0]):,.0f}/s "
        f"over {times[-1] - times[0]:.1f}s"
    )
    spans = {
        "whole run": (float("-inf"), float("inf")),
        "published before the kill": (float("-inf"), killed),
        "published between the kill and the boards exact again": (killed, exact),
        "published after the boards were exact again": (exact, float("inf")),
    }
    for label, (start, end) in spans.items():
        latencies = [state.seen[u] - t for u, t in published.items() if u in state.seen and start <= t < end]
        say(f"  {label}: {_spread(latencies)}")
    say(
        f"reads: {state.reads:,} answered 200, {state.unavailable:,} answered 503; "
        f"stale 200s: {state.stale}; events never seen: {len(unseen)}"
    )
    for example in state.stale_examples:
        say(f"  stale: {example}")


# The run ----------------------------------------------------------------------------------


def consumer_env(topology: Topology, database: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "REDIS_", "CONSUMER_", "DATABASE_"))}
    env.update(
        topology.settings(),
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{database}",
        REDIS_URL="redis://127.0.0.1:6379/0",  # with REDIS_SENTINELS only its database number counts
        NATS_STREAM=STREAM,
        NATS_SUBJECT=SUBJECT,
        NATS_DURABLE=DURABLE,
        CONSUMER_METRICS_PORT="0",
        DJANGO_SECRET_KEY="bench",
        DJANGO_SETTINGS_MODULE="leaderboard_project.settings",
        PYTHONUNBUFFERED="1",
    )
    return env


def run(args, topology: Topology, env: dict[str, str], logs: Path) -> None:
    from django.db import connection

    from scoring.event_generator import GeneratorOptions, events_generate
    from scoring.jetstream import JetStreamPublisher

    if args.snapshot:
        manage(env, "snapshot_leaderboards")
    else:
        with connection.cursor() as cursor:  # a kept log's snapshots: this run restores from the log
            cursor.execute("TRUNCATE snapshots_snapshotboard, snapshots_snapshot CASCADE")
    redis_pids = {node.name: node.proc.pid for node in topology.redis}
    database = env["DATABASE_URL"].rsplit("/", 1)[1]
    manage(env, "restore_leaderboards", watch=CpuWatch(redis_pids, database), profile=args.profile)
    manage(env, "results", "finalize")
    wait_until(lambda: replica_in_step(topology), 300, "the replica in step")
    # verify's ZRANGEs of million-member boards hold Redis up for longer than Sentinel's
    # down-after (1 s): a failover then, before the one measured. Its check is not measured.
    primary = topology.primary().port
    sentinels_down_after(topology, 30_000)
    manage(env, "verify_leaderboards")
    sentinels_down_after(topology, DOWN_AFTER_MS)
    if topology.primary().port != primary:
        raise SystemExit("the primary moved during the verify: not the failover to measure")
    with topology.primary().client() as client:
        members = client.zcard("leaderboard:global:all_time:all")
        memory = client.info("memory")["used_memory_human"]
    say(f"{members:,} members on the global all-time board; Redis holds {memory}")

    asyncio.run(_stream_create())
    consumer = Process([PYTHON, str(ROOT / "manage.py"), "consume_contributions"], env, logs / "consumer.log")
    try:
        if args.live:
            # events of their own in every run: a kept log holds an earlier run's live events
            options = GeneratorOptions(count=args.live, users=args.members, projects=20, seed=time.time_ns())
            live = list(events_generate(options))
            nats = JetStreamPublisher("bench")
            try:
                nats.publish_many(live)
            finally:
                nats.close()
        wait_until(drained, 300, "the consumer to apply the live events", interval=0.2)
        time.sleep(2)  # its first sweep (results, achievements) done
        wait_until(lambda: replica_in_step(topology), 300, "the replica in step")
        say(f"{args.live:,} live events applied; load average {os.getloadavg()[0]:.2f}")

        state = Freshness(int(args.freshness * (args.before + args.after + 900)) + 1)
        if args.freshness:
            workers = [
                multiprocessing.get_context("fork").Process(target=publisher, args=(state, args.freshness)),
                threading.Thread(target=reader, args=(state,), daemon=True),
            ]
            for worker in workers:
                worker.start()
            time.sleep(args.before)

        old = topology.primary()
        old_run_id = old.run_id()
        killed = time.monotonic()
        old.kill()
        wait_until(lambda: topology.primary_port() not in (None, old.port), 120, "a failover", interval=0.01)
        promoted = time.monotonic()
        new_run_id = topology.primary().run_id()
        wait_until(lambda: FAILOVER_LINE in consumer.output(), 120, "the failover seen", interval=0.01)
        detected = time.monotonic()
        new = topology.primary()
        watch = CpuWatch({"consumer": consumer.proc.pid, new.name: new.proc.pid}, database)
        wait_until(lambda: recorded_run_id() == new_run_id != old_run_id, 900, "the boards restored", interval=0.02)
        exact = time.monotonic()
        with contextlib.suppress(TimeoutError):  # logged just after the run id is recorded
            wait_until(lambda: RESTORED_LINE.search(consumer.output()), 10, "the restore's line")
        restored = RESTORED_LINE.findall(consumer.output())
        say(
            f"Redis failover at {members:,} members: primary SIGKILLed -> Sentinel promoted the replica "
            f"{promoted - killed:.2f}s; -> the consumer saw it {detected - promoted:.2f}s later; "
            f"-> boards exact again {exact - detected:.2f}s later (reads 503 meanwhile); {exact - killed:.2f}s in all"
        )
        say(f"  from the detection to exact boards: {watch.stop()}")
        if restored:
            boards, restored_members, source, seconds = restored[-1]
            say(f"  the consumer's restore: {boards} boards, {restored_members} members from {source} in {seconds}s")

        if args.freshness:
            time.sleep(args.after)
            state.stopped_at = time.monotonic()
            state.stop.set()
            for worker in workers:
                worker.join(180)
            freshness_report(state, killed, exact)
        if args.verify_after:
            wait_until(drained, 300, "the consumer to apply the last events", interval=0.2)
            consumer.stop()
            sentinels_down_after(topology, 30_000)
            manage(env, "verify_leaderboards")
    finally:
        consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000, help="users (3 events each)")
    parser.add_argument("--snapshot", action="store_true", help="take a snapshot before the live events")
    parser.add_argument("--live", type=int, default=10_000, help="events published through JetStream before the kill")
    parser.add_argument("--batch", type=int, default=3000, help="events per recorded batch while seeding")
    parser.add_argument("--freshness", type=float, default=0, help="events a second streaming through the failover")
    parser.add_argument("--before", type=float, default=20, help="seconds of the stream before the kill")
    parser.add_argument("--after", type=float, default=20, help="seconds of the stream after the boards are exact")
    parser.add_argument("--verify-after", action="store_true", help="verify_leaderboards once more at the end")
    parser.add_argument("--profile", type=Path, help="the first restore under py-spy: its collapsed stacks here")
    parser.add_argument("--seed-only", action="store_true", help="seed the kept database and stop")
    kept_database_options(parser)
    args = parser.parse_args()
    kept_database_check(parser, args)
    if args.seed_only and not args.database:
        parser.error("--seed-only needs --database NAME")

    say(f"load average before: {os.getloadavg()}")
    database = args.database or database_name("failover")
    run_announce(database=database + (" (kept)" if args.database else ""))  # and SIGTERM unwinds as Ctrl-C does
    reused = bool(args.database and args.reuse and database_exists(database))
    with tempfile.TemporaryDirectory(prefix="bench-failover-") as directory:
        root = Path(directory)
        topology = Topology(root / "cluster")
        env = consumer_env(topology, database)
        os.environ.update(env)
        import django

        django.setup()
        try:
            topology.start()
            if not reused:
                if database_exists(database):
                    database_drop(database)
                database_create(database)
                manage(env, "migrate", "--no-input")
                seed(args.members, args.batch)
                manage(env, "results", "finalize")  # the seeded periods' results, as the consumer's sweeps made them
            if not args.seed_only:
                run(args, topology, env, root)
        finally:
            from django.db import connections

            connections.close_all()
            topology.stop()
            if not args.database:
                database_drop(database)
    say(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
