"""The ingest benchmark (`make bench`): drain rate, ours against the seed's design; freshness.

Each run, on a stream, durables, databases and Redis databases of its own, named by the run's
token (`bench/common.py`; printed at the start, all dropped at the end, on Ctrl-C too; nothing
of the service's defaults is touched, and two runs at once do not meet):

1. publishes N generated events (`scoring.event_generator`, what `manage.py publish_events` uses)
   to the run's stream before any consumer runs;
2. starts one `manage.py consume_contributions` and times it until its durable has nothing
   pending and nothing unacked (end to end, and from its first delivery, i.e. without the
   process start-up); then checks the boards (`verify_leaderboards` exits 0) and the log
   (one row per distinct valid event, one dead letter per invalid message);
3. drains the same N events, on a durable of its own, through `bench/seed_consumer.py`
   (the seed's event-at-a-time design) and times it the same way;
4. freshness: publishes at a steady rate, each event crediting a user of its own, and
   times publish -> the user on the global all-time board (what the API reads); then
   verifies the boards again.

Then `bench/api.py` if it exists. Prints a table (median and spread over the runs) and
writes it into the "## Ingest" section of docs/BENCHMARKS.md.

    .venv/bin/python bench/run.py [--runs 3] [--events 30000] [--no-seed] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    INGEST_MIX,
    NATS_URL,
    PG_HOST,
    PG_PORT,
    PG_USER,
    PYTHON,
    ROOT,
    STREAM,
    SUBJECT,
    Durables,
    Process,
    Target,
    cpu_seconds,
    database_name,
    durable_name,
    manage,
    percentile,
    postgres_backends,
    redis_claim,
    run_announce,
    server_pids,
    stream_delete,
    stream_recreate,
)

OURS_DATABASE, SEED_DATABASE = database_name("ingest"), database_name("ingest_seed")

# This process publishes and decodes with the service's code, so its settings name the run's
# stream (it touches no database or Redis through Django).
os.environ.update(
    NATS_URL=NATS_URL,
    NATS_STREAM=STREAM,
    NATS_SUBJECT=SUBJECT,
    DATABASE_URL=f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{OURS_DATABASE}",
    DJANGO_SECRET_KEY="bench",
    DJANGO_SETTINGS_MODULE="leaderboard_project.settings",
)

import django  # noqa: E402

django.setup()

import nats  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402

from proto.contributions.v1 import contribution_pb2 as pb  # noqa: E402
from scoring.boards import GLOBAL, Timeframe, board_key  # noqa: E402
from scoring.event_generator import GeneratorOptions, event_build, events_generate, events_publish  # noqa: E402
from scoring.ingest.wire import InvalidEvent, decode  # noqa: E402

BENCHMARKS = ROOT / "docs" / "BENCHMARKS.md"
SECTION = "## Ingest"
BEGIN, END = "<!-- bench/run.py: begin -->", "<!-- bench/run.py: end -->"
DRAIN_TIMEOUT = 900.0
# A poll of the durable costs ~0.5 ms of CPU (0.3 in this process, 0.2 in nats-server), taken
# from the drain it times: every 10 ms while the start and the end are near, but only every
# 100 ms while more than FAR_PENDING messages wait undelivered — no consumer here clears that
# many in 100 ms, so the end is still seen within 10 ms.
POLL_NEAR, POLL_FAR, FAR_PENDING = 0.01, 0.1, 10_000
LONE_RATE, LONE_SECONDS = 5.0, 4.0  # a quiet stream: is a lone event applied at once?


@dataclass
class Drain:
    seconds: float  # consumer start -> durable drained
    warm_seconds: float  # first delivery -> durable drained
    events: int
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds used during the drain, by process

    def cpu_per_1000(self, who: str) -> float:
        return self.cpu.get(who, float("nan")) * 1000 / self.events

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def warm_rate(self) -> float:
        return self.events / self.warm_seconds

    @property
    def startup(self) -> float:
        return self.seconds - self.warm_seconds


@dataclass
class Freshness:
    latencies_ms: list[float]
    published: int
    missing: int
    publish_rate: float

    def p(self, fraction: float) -> float:
        return percentile(self.latencies_ms, fraction)


@dataclass
class RunResult:
    ours: Drain
    seed: Drain | None
    fresh: Freshness | None
    lone: Freshness | None = None
    checks: dict[str, bool] = field(default_factory=dict)


# --------------------------------------------------------------------------- set-up


def prepare(target: Target) -> None:
    """Create and migrate the target's database; empty its tables and its Redis database."""
    manage(target, "ensure_database")
    manage(target, "migrate", "--no-input")
    with target.pg() as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND (tablename LIKE 'scoring\\_%'"
                " OR tablename LIKE 'snapshots\\_%' OR tablename = 'seed_contribution')"
            )
        ]
        if tables:
            conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    target.redis_reset()


def expected_log(messages: list[bytes]) -> tuple[int, int]:
    """(distinct valid events, invalid messages) among `messages`."""
    valid: set[str] = set()
    invalid = 0
    for data in messages:
        try:
            valid.add(decode(data).event_id)
        except InvalidEvent:
            invalid += 1
    return len(valid), invalid


# --------------------------------------------------------------------------- phases


async def _watch_drain(target: Target, process: Process, started: float) -> tuple[float, float]:
    """Poll the durable until it is drained; returns (first delivery, drained) times."""
    first = None
    async with Durables() as durables:
        while True:
            state = await durables.state(target.durable)
            now = time.monotonic()
            if first is None and state.delivered > 0:
                first = now
            if first is not None and state.drained:
                return first, now
            if not process.alive():
                raise RuntimeError(f"{target.name} consumer exited early:\n{process.output()[-3000:]}")
            if now - started > DRAIN_TIMEOUT:
                raise RuntimeError(f"{target.name} consumer did not drain in {DRAIN_TIMEOUT:.0f}s")
            await asyncio.sleep(POLL_FAR if first is not None and state.pending > FAR_PENDING else POLL_NEAR)


def drain(
    target: Target, argv: list[str], events: int, log: Path, env: dict[str, str], profile: Path | None = None
) -> tuple[Drain, Process]:
    """Start a consumer process and time it until its durable is drained; it keeps running.
    Also notes the CPU time the consumer, its Postgres backend and the Redis and NATS servers
    used meanwhile (the servers' includes whatever else ran on them). With `profile`, py-spy
    samples the consumer (every thread, idle included) until the drain ends."""
    servers = server_pids()
    servers_before = {name: cpu_seconds(pid) for name, pid in servers.items()}
    started = time.monotonic()
    process = Process(argv, env, log)
    spy = None
    try:
        if profile is not None:
            time.sleep(0.2)  # let the interpreter start before py-spy attaches
            spy_argv = [str(Path(PYTHON).parent / "py-spy"), "record", "--pid", str(process.proc.pid)]
            idle = [] if os.environ.get("BENCH_PROFILE_CPU") else ["--idle"]  # on-CPU samples only
            spy_argv += [*idle, "--threads", "--nonblocking", "--rate", "200", "--format", "raw", "-o", str(profile)]
            spy = subprocess.Popen(spy_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        first, drained = asyncio.run(_watch_drain(target, process, started))
    except BaseException:  # the caller never gets the process: stop it here (Ctrl-C included)
        process.stop()
        raise
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
            spy.wait(30)
    cpu = {"consumer": cpu_seconds(process.proc.pid)}
    cpu["postgres"] = sum(cpu_seconds(pid) for pid in postgres_backends(target.database))
    cpu.update({name: cpu_seconds(pid) - servers_before[name] for name, pid in servers.items()})
    return Drain(seconds=drained - started, warm_seconds=drained - first, events=events, cpu=cpu), process


async def _freshness(target: Target, rate: float, seconds: float, run: int) -> Freshness:
    board = board_key(GLOBAL, Timeframe.ALL_TIME, "all")
    client = aioredis.Redis(host="127.0.0.1", port=6379, db=target.redis_db)
    nc = await nats.connect(os.environ["NATS_URL"])
    js = nc.jetstream()
    total = int(rate * seconds)
    base_user = 10**15 + run * 10**7  # a user of its own per event, far from generated ones
    token = uuid.uuid4().hex[:8]
    outstanding: dict[str, float] = {}  # member -> publish time
    latencies: list[float] = []
    done = asyncio.Event()

    async def publish() -> float:
        acks = []  # JetStream acks awaited at the end, so that they do not pace the publishing
        start = time.perf_counter()
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            event = event_build(
                event_id=f"fresh-{token}-{i}",
                kind=pb.PULL_REQUEST_OPENED,
                user_id=base_user + i,
                project_id=1 + i % 20,
                occurred_at=datetime.now(UTC),
            )
            data = event.SerializeToString()
            outstanding[str(base_user + i)] = time.perf_counter()
            acks.append(asyncio.ensure_future(js.publish(SUBJECT, data)))
        elapsed = time.perf_counter() - start
        await asyncio.gather(*acks)
        done.set()
        return total / elapsed

    async def watch() -> None:
        deadline = None
        while True:
            if outstanding:
                members = list(outstanding)
                scores = await client.zmscore(board, members)
                now = time.perf_counter()
                for member, score in zip(members, scores, strict=True):
                    if score is not None:
                        latencies.append((now - outstanding.pop(member)) * 1000)
            if done.is_set():
                deadline = deadline or time.perf_counter() + 10
                if not outstanding or time.perf_counter() > deadline:
                    return
            await asyncio.sleep(0.002)

    try:
        publish_rate, _ = await asyncio.gather(publish(), watch())
    finally:
        await nc.close()
        await client.aclose()
    return Freshness(latencies, total, len(outstanding), publish_rate)


def freshness(target: Target, rate: float, seconds: float, run: int) -> Freshness:
    return asyncio.run(_freshness(target, rate, seconds, run))


def verify(target: Target) -> bool:
    result = manage(target, "verify_leaderboards", check=False)
    if result.returncode != 0:
        print(result.stdout[-2000:], result.stderr[-2000:], sep="\n")
    return result.returncode == 0


def log_counts(target: Target) -> tuple[int, int]:
    with target.pg() as conn:
        (events,) = conn.execute("SELECT count(*) FROM scoring_contributionevent").fetchone()
        (dead,) = conn.execute("SELECT count(*) FROM scoring_deadletter").fetchone()
    return events, dead


def one_run(run: int, args: argparse.Namespace, logs: Path, ours: Target, seed: Target) -> RunResult:
    for target in (ours, seed):
        prepare(target)
    stream_recreate()
    options = GeneratorOptions(
        count=args.events,
        users=args.users,
        projects=args.projects,
        days=args.days,
        duplicates=args.duplicates,
        invalid=args.invalid,
        seed=args.seed,
    )
    messages = list(events_generate(options))
    started = time.monotonic()
    events_publish(iter(messages))
    print(f"run {run}: published {len(messages)} events in {time.monotonic() - started:.1f}s")
    distinct, invalid = expected_log(messages)

    consume = [PYTHON, str(args.ours_code / "manage.py"), "consume_contributions"]
    consumer_env = ours.env(**({"CONSUMER_BATCH_SIZE": str(args.batch_size)} if args.batch_size else {}))
    profile = args.profile / f"consumer-{run}.txt" if args.profile else None
    drained, ours_process = drain(ours, consume, len(messages), logs / f"ours-{run}.log", consumer_env, profile)
    print(
        f"run {run}: ours drained in {drained.seconds:.2f}s: {drained.rate:.0f}/s end to end,"
        f" {drained.warm_rate:.0f}/s after a {drained.startup:.2f}s start-up; CPU s per 1000 events: "
        + ", ".join(f"{who} {drained.cpu_per_1000(who):.3f}" for who in drained.cpu)
    )
    checks: dict[str, bool] = {}
    try:
        checks["boards exact after the drain"] = verify(ours)
        logged, dead = log_counts(ours)
        checks[f"log rows = distinct valid events ({distinct})"] = logged == distinct
        checks[f"dead letters = invalid messages ({invalid})"] = dead == invalid
        if not (logged == distinct and dead == invalid):
            print(f"run {run}: log has {logged} events and {dead} dead letters")

        seed_drained = None
        if not args.no_seed:
            seed_argv = [PYTHON, str(ROOT / "bench" / "seed_consumer.py")]
            seed_drained, seed_process = drain(seed, seed_argv, len(messages), logs / f"seed-{run}.log", seed.env())
            seed_process.stop()
            print(
                f"run {run}: seed drained in {seed_drained.seconds:.2f}s: {seed_drained.rate:.0f}/s end to end,"
                f" {seed_drained.warm_rate:.0f}/s after a {seed_drained.startup:.2f}s start-up"
            )

        fresh = lone = None
        if args.fresh_seconds > 0:
            fresh = freshness(ours, args.fresh_rate, args.fresh_seconds, run)
            print(
                f"run {run}: freshness at {fresh.publish_rate:.0f}/s: p50 {fresh.p(0.5):.0f} ms,"
                f" p99 {fresh.p(0.99):.0f} ms, max {max(fresh.latencies_ms, default=float('nan')):.0f} ms,"
                f" {fresh.missing} not seen"
            )
            lone = freshness(ours, LONE_RATE, LONE_SECONDS, run + 100)  # a quiet stream: one event at a time
            print(f"run {run}: lone events: p50 {lone.p(0.5):.0f} ms, max {max(lone.latencies_ms, default=0):.0f} ms")
            checks["every fresh event seen"] = fresh.missing == 0 and lone.missing == 0
            checks["boards exact after freshness"] = verify(ours)
    finally:
        code = ours_process.stop()
    checks["consumer exits 0 on SIGTERM"] = code == 0
    for name, ok in checks.items():
        if not ok:
            print(f"run {run}: CHECK FAILED: {name} (log: {ours_process.log})")
    return RunResult(ours=drained, seed=seed_drained, fresh=fresh, lone=lone, checks=checks)


def api_bench(ours: Target, runs: int, logs: Path) -> str | None:
    """Run bench/api.py (the query API's benchmark) if it exists, against a gunicorn of our
    own on the bench database and Redis database (started as `make run` starts it); its
    output, verbatim."""
    script = ROOT / "bench" / "api.py"
    if not script.exists():
        return None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gunicorn = [str(Path(PYTHON).parent / "gunicorn"), "leaderboard_project.wsgi", "--bind", f"127.0.0.1:{port}"]
    gunicorn += ["--workers", "2", "--worker-class", "gthread", "--threads", "8", "--log-level", "warning"]
    server = Process(gunicorn, ours.env(), logs / "api-server.log")
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/v1/health-check", timeout=2).close()
                break
            except urllib.error.HTTPError:
                break  # it answers (a 503 names a dependency; the board reads need only Redis)
            except OSError:
                time.sleep(0.2)
        argv = [PYTHON, str(script), "--url", url, "--redis-url", ours.redis_url]
        argv += ["--server-pid", str(server.proc.pid), "--runs", str(runs)]
        result = subprocess.run(argv, cwd=ROOT, env=ours.env(), capture_output=True, text=True)
    finally:
        server.stop()
    output = (result.stdout + result.stderr).strip()
    return output + ("" if result.returncode == 0 else f"\n(exit {result.returncode})")


# --------------------------------------------------------------------------- report


def _spread(values: list[float], digits: int = 0) -> tuple[str, str]:
    values = [v for v in values if v == v]  # drop NaN
    if not values:
        return "-", "-"
    fmt = f"{{:,.{digits}f}}"
    return fmt.format(statistics.median(values)), f"{fmt.format(min(values))} - {fmt.format(max(values))}"


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def report(results: list[RunResult], args: argparse.Namespace) -> str:
    rows: list[tuple[str, list[float], int]] = [
        ("ours: drain, end to end (events/s)", [r.ours.rate for r in results], 0),
        ("ours: drain, without start-up (events/s)", [r.ours.warm_rate for r in results], 0),
        ("ours: process start-up (s)", [r.ours.startup for r in results], 2),
    ]
    rows += [
        (f"ours: CPU s per 1,000 events, {who}", [r.ours.cpu_per_1000(who) for r in results], 3)
        for who in ("consumer", "postgres", "redis-server", "nats-server")
    ]
    if all(r.seed for r in results):
        rows += [
            ("seed design: drain, end to end (events/s)", [r.seed.rate for r in results], 0),
            ("seed design: drain, without start-up (events/s)", [r.seed.warm_rate for r in results], 0),
            ("ours / seed, end to end (x)", [r.ours.rate / r.seed.rate for r in results], 1),
        ]
    if all(r.fresh for r in results):
        rows += [
            (f"freshness p50 at {args.fresh_rate:.0f}/s (ms)", [r.fresh.p(0.5) for r in results], 0),
            (f"freshness p99 at {args.fresh_rate:.0f}/s (ms)", [r.fresh.p(0.99) for r in results], 0),
            ("freshness max (ms)", [max(r.fresh.latencies_ms, default=float("nan")) for r in results], 0),
            (f"lone events ({LONE_RATE:.0f}/s): latency p50 (ms)", [r.lone.p(0.5) for r in results], 0),
            ("lone events: latency max (ms)", [max(r.lone.latencies_ms, default=float("nan")) for r in results], 0),
        ]
    lines = [
        "| metric | median | spread (min - max) |",
        "|---|---:|---:|",
        *(f"| {name} | {' | '.join(_spread(values, digits))} |" for name, values, digits in rows),
    ]
    failed = sorted({name for r in results for name, ok in r.checks.items() if not ok})
    checks = sorted({name for r in results for name in r.checks})
    verdict = "all passed" if not failed else "FAILED: " + "; ".join(failed)
    return "\n".join(
        [
            *lines,
            "",
            f"Exactness checks in every run ({', '.join(checks)}): {verdict}.",
        ]
    )


def section_text(table: str, args: argparse.Namespace, api: str | None) -> str:
    """The measured part of our section (between BEGIN and END; the prose around it stays)."""
    workload = (
        f"{args.events:,} generated events per run ({args.users:,} users, {args.projects} projects,"
        f" {args.days} days, {args.duplicates:.0%} duplicates, {args.invalid:.0%} invalid), published before"
        " the consumer starts; one `consume_contributions` with the default settings."
    )
    parts = [
        BEGIN,
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `make bench` (`bench/run.py`),"
        f" median of {args.runs} runs; machine: {machine()}, shared with other work while it ran"
        f" (Postgres, Redis and NATS on the same machine; load average {args.load_before:.1f} at the start,"
        f" {os.getloadavg()[0]:.1f} at the end).",
        "",
        f"Workload: {workload} The seed design is `bench/seed_consumer.py` (event at a time: processed"
        " check, lock, TTL reads, ten ZINCRBYs, INSERT, mark, unlock, ack) on the same events,"
        f" its own durable, database and Redis database. Freshness: {args.fresh_rate:.0f} events/s for"
        f" {args.fresh_seconds:.0f} s, each crediting a user of its own; latency = publish until the user"
        " is on the global all-time board in Redis (what the API reads), polled every 2 ms.",
        "",
        table,
    ]
    if api:
        parts += ["", "API read latency (`bench/api.py`, run after the drain):", "", "```", api, "```"]
    return "\n".join([*parts, END]) + "\n"


def write_section(measured: str) -> None:
    """Put the measured block into our section of docs/BENCHMARKS.md: between its BEGIN and END
    markers if they are there, else as a new section at the end. Nothing else is touched."""
    BENCHMARKS.parent.mkdir(exist_ok=True)
    current = BENCHMARKS.read_text() if BENCHMARKS.exists() else "# Benchmarks\n"
    if BEGIN in current and END in current:
        before, rest = current.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        BENCHMARKS.write_text(before + measured.rstrip("\n") + after)
    else:
        BENCHMARKS.write_text(current.rstrip("\n") + f"\n\n{SECTION}\n\n" + measured)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--users", type=int, default=INGEST_MIX["users"])
    parser.add_argument("--projects", type=int, default=INGEST_MIX["projects"])
    parser.add_argument("--days", type=int, default=INGEST_MIX["days"])
    parser.add_argument("--duplicates", type=float, default=INGEST_MIX["duplicates"])
    parser.add_argument("--invalid", type=float, default=INGEST_MIX["invalid"])
    parser.add_argument(
        "--seed", type=int, default=INGEST_MIX["seed"], help="generator seed (the same events every run)"
    )
    parser.add_argument("--fresh-rate", type=float, default=1_000.0)
    parser.add_argument("--fresh-seconds", type=float, default=10.0)
    parser.add_argument("--no-seed", action="store_true", help="skip the seed design")
    parser.add_argument(
        "--ours-code", type=Path, default=ROOT, help="run the consumer of another checkout (an A/B comparison)"
    )
    parser.add_argument("--no-write", action="store_true", help="do not write docs/BENCHMARKS.md")
    parser.add_argument("--no-api", action="store_true", help="skip bench/api.py")
    parser.add_argument("--batch-size", type=int, help="CONSUMER_BATCH_SIZE for our consumer (default: the setting's)")
    parser.add_argument("--profile", type=Path, help="directory for a py-spy profile of our consumer's drain")
    args = parser.parse_args()

    args.load_before = os.getloadavg()[0]
    results: list[RunResult] = []
    api = None
    logs = Path(tempfile.mkdtemp(prefix="bench-"))
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}; logs in {logs}")
    claimed: list[Target] = []
    try:
        # The other checkout's own migrations and commands, with its consumer: an A/B run must
        # not meet a schema of this checkout's.
        ours = Target("ours", OURS_DATABASE, redis_claim(13), durable_name("ours"), code=args.ours_code.resolve())
        claimed.append(ours)
        seed = Target("seed", SEED_DATABASE, redis_claim(14), durable_name("seed"))
        claimed.append(seed)
        run_announce(
            stream=STREAM,
            subject=SUBJECT,
            durables=f"{ours.durable}, {seed.durable}",
            databases=f"{ours.database}, {seed.database}",
            redis_dbs=f"{ours.redis_db}, {seed.redis_db}",
        )
        for run in range(1, args.runs + 1):
            results.append(one_run(run, args, logs, ours, seed))
        api = api_bench(ours, args.runs, logs) if not args.no_api else None
    finally:
        stream_delete()
        for target in claimed:
            target.release()
    table = report(results, args)
    print()
    print(table)
    if api:
        print("\nAPI read latency (bench/api.py):\n" + api)
    if not args.no_write:
        write_section(section_text(table, args, api))
        print(f"\nwritten to {BENCHMARKS.relative_to(ROOT)}")
    if any(not ok for r in results for ok in r.checks.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
