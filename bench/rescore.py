"""Benchmark: rescore a log of 1,000,000 events while a consumer keeps recording and applying
batches, then roll it back. Figures go to docs/BENCHMARKS.md ("Rescoring").

    .venv/bin/python bench/rescore.py [--events 1000000]
    .venv/bin/python bench/rescore.py --database leaderboard_bench_rescore_kept [--reuse]

It owns a database and a Redis database it claims the way test runs do, both printed at the
start. By default the database is the run's own (`leaderboard_bench_rescore_<run>`), made for
the run and dropped at the end. To keep the log between runs (writing it takes minutes), name
a database with `--database NAME` (a name with "bench" in it): it is made again and kept at
the end, and a later run with the same `--database NAME --reuse` starts from its log (rescored
back to version 1) instead of writing a new one. The log is written with real wire messages
(`scoring.event_generator.event_build`: every kind, 20 projects and 2,200 users, both skewed, times
over the last 30 days, all applied) into a table made by the migrations, so every page is laid
out with the log's fillfactor from the start. Then:

1. a feeder process (this script with --feed) records and applies a batch of 100 new events
   every 20 ms through `ingest.batch_ingest`, as a consumer does, and writes how long each
   batch took: the pause a running consumer sees;
2. `rules_rescore` under a changed table (the settings'), timed, with how long it held the
   boards gate exclusive and how long applies were held off;
3. the same rolled back (`--to 1`): a second rescore of the same pages;
4. the feeder stops, and `boards_verify` must find no difference.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    PG_HOST,
    PG_PORT,
    PG_USER,
    PYTHON,
    REDIS_HOST,
    REDIS_PORT,
    Target,
    in_process_target,
    kept_database_check,
    kept_database_options,
)

USER_BASE = 10**15
NEW = {"push_per_commit": 2, "push_max_commits": 5, "pull_request_merged": 8, "review_other": 2, "issue_commented": 0}
FEED_BATCH, FEED_EVERY = 100, 0.02


def _log(message: str) -> None:
    print(message, flush=True)


def _setup(database: str, redis_db: int) -> None:
    os.environ.update(
        DATABASE_URL=f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}",
        REDIS_URL=f"redis://{REDIS_HOST}:{REDIS_PORT}/{redis_db}",
        DJANGO_SECRET_KEY="bench",
        DJANGO_SETTINGS_MODULE="leaderboard_project.settings",
    )
    import django

    django.setup()


def _event(rng: random.Random, event_id: str, users: int, projects: int, days: int):
    from proto.contributions.v1 import contribution_pb2 as pb
    from scoring import clock
    from scoring.event_generator import event_build

    user = USER_BASE + 1 + int(users * rng.random() ** 2)
    return event_build(
        event_id=event_id,
        kind=rng.randint(1, 7),
        user_id=user,
        project_id=1 + int(projects * rng.random() ** 2),
        occurred_at=clock.now() - timedelta(seconds=rng.uniform(0, days * 86400)),
        merged=rng.random() < 0.7,
        review_state=rng.choice([pb.APPROVED, pb.CHANGES_REQUESTED, pb.COMMENTED]),
        issue_close_reason=rng.choice([pb.COMPLETED, pb.NOT_PLANNED]),
        commits=rng.randint(0, 14),
        login=f"user-{user - USER_BASE}",
    )


def _log_build(args) -> None:
    """The log, as if consumed: version 1's points, applied; then the boards from it."""
    from django.core.management import call_command
    from django.db import connection

    from scoring.ingest import wire
    from scoring.maintenance.restore import boards_restore
    from scoring.rules import ScoringTable, points, versions

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    table, rng = ScoringTable(), random.Random(42)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO scoring_project (id, name, event_count)"
            " SELECT p, 'bench/repo-' || p, 0 FROM generate_series(1, %s) AS p",
            [args.projects],
        )
        columns = "event_id, kind, user_id, project_id, occurred_at, points, raw, rules_version"
        with cursor.copy(f"COPY scoring_contributionevent ({columns}) FROM STDIN") as copy:
            for n in range(args.events):
                message = _event(rng, f"bench-{n}", args.users, args.projects, args.days)
                raw = message.SerializeToString()
                score = points(wire.scoring_facts(raw), table)
                occurred_at = message.time.ToDatetime(tzinfo=UTC)
                row = (message.id, message.event_name, _user(message), message.repository_id, occurred_at, score)
                copy.write_row((*row, raw, 1))
                if (n + 1) % 250_000 == 0:
                    _log(f"  log: {n + 1} events written")
        cursor.execute("VACUUM ANALYZE scoring_contributionevent")
    versions.rules_ensure()  # version 1: SPEC's table
    boards_restore(use_snapshot=False)
    _log(f"log: {args.events} events written and their boards built in {time.perf_counter() - started:.1f}s")


def _user(message) -> int:
    payload = getattr(message, message.WhichOneof("payload"))
    return getattr(payload, "reviewer_user_id", 0) or payload.user_id


def feed(args) -> None:
    """The feeder: a consumer's batches, back to back, each timed (JSON lines: start, seconds)."""
    _setup(args.database, args.redis_db)
    from scoring import ingest
    from scoring.ingest import wire
    from scoring.maintenance.restore import boards_restore
    from scoring.redis_boards import BoardsNotReady

    stop = False

    def request_stop(*_) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, request_stop)
    rng, n, prefix = random.Random(7), 0, f"feed-{os.getpid()}-"
    with open(args.out, "a") as out:
        while not stop:
            batch = [
                wire.decode(_event(rng, f"{prefix}{n + i}", args.users, args.projects, 2).SerializeToString())
                for i in range(FEED_BATCH)
            ]
            n += FEED_BATCH
            started = time.time()
            while True:  # as the consumer does: boards refused (a swap coming) -> restore if missing, retry
                try:
                    ingest.batch_ingest(contributions=batch)
                    break
                except BoardsNotReady:
                    boards_restore(only_if_missing=True)
            out.write(json.dumps([started, time.time() - started]) + "\n")
            out.flush()
            time.sleep(FEED_EVERY)


def _hot_updates() -> tuple[int, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'scoring_contributionevent'"
        )
        return cursor.fetchone()


def _feeder_seen(path: Path, start: float, end: float) -> tuple[int, float, float]:
    """Batches the feeder finished within [start, end], their median and longest duration."""
    durations = [
        seconds
        for line in path.read_text().splitlines()
        for started, seconds in [json.loads(line)]
        if start <= started + seconds and started <= end
    ]
    if not durations:
        return 0, 0.0, 0.0
    return len(durations), statistics.median(durations), max(durations)


def _rescore(label: str, feeder_out: Path, **options) -> dict:
    from time import sleep

    from scoring.maintenance.rescore import rules_rescore

    time.sleep(0.5)  # the feeder runs a while before
    hot_before = _hot_updates()
    started_wall, started = time.time(), time.perf_counter()
    result = rules_rescore(progress=lambda line: _log(f"  {line}"), **options)
    seconds = time.perf_counter() - started
    sleep(0.5)
    hot_after = _hot_updates()
    batches, median, longest = _feeder_seen(feeder_out, started_wall, time.time())
    _, _, at_switch = _feeder_seen(feeder_out, *result.switch_window)
    updated, hot = hot_after[0] - hot_before[0], hot_after[1] - hot_before[1]
    figures = {
        "what": label,
        "events": result.events,
        "changed": result.changed,
        "seconds": round(seconds, 2),
        "gate_wait_ms": round(result.gate_wait_ms, 1),
        "locked_ms": round(result.locked_ms, 1),
        "paused_ms": round(result.paused_ms, 1),
        "feeder_batches": batches,
        "feeder_median_ms": round(median * 1000, 1),
        "feeder_longest_ms": round(longest * 1000, 1),
        "feeder_longest_at_switch_ms": round(at_switch * 1000, 1),
        "hot_share": round(hot / updated, 3) if updated else None,
        "phases_s": result.phases,
        "load": [round(x, 2) for x in os.getloadavg()],
    }
    _log(f"{label}: {json.dumps(figures)}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=2_200)
    parser.add_argument("--projects", type=int, default=20)
    parser.add_argument("--days", type=int, default=30)
    kept_database_options(parser)
    parser.add_argument("--feed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--redis-db", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.feed:
        return feed(args)
    kept_database_check(parser, args)
    feeder_out = Path(f"/tmp/bench-rescore-feed-{os.getpid()}.jsonl")
    try:
        with in_process_target("rescore", 13, kept=args.database, reuse=args.reuse) as (target, reused):
            _run(args, target, reused, feeder_out)
    finally:
        feeder_out.unlink(missing_ok=True)


def _run(args, target: Target, reused: bool, feeder_out: Path) -> None:
    _setup(target.database, target.redis_db)
    redis_db = target.redis_db
    from django.conf import settings

    from scoring.maintenance.restore import boards_restore
    from scoring.maintenance.verify import boards_verify

    _log(f"machine: {os.cpu_count()} cores, load {os.getloadavg()}; Redis db {redis_db}, database {target.database}")
    if not reused:
        _log(f"building a log of {args.events} events with their wire messages ...")
        _log_build(args)
    else:
        boards_restore(use_snapshot=False)
    feeder_out.touch()  # read before the feeder's first batch, on a small log
    where = ["--database", target.database, "--redis-db", str(redis_db), "--out", str(feeder_out)]
    feeder = subprocess.Popen(
        [PYTHON, __file__, "--feed", *where, "--users", str(args.users), "--projects", str(args.projects)], cwd=ROOT
    )
    try:
        settings.SCORING = {**settings.SCORING, **NEW}
        results = [_rescore("rescore to a changed table", feeder_out)]
        results.append(_rescore("rollback (--to 1), the same pages rescored again", feeder_out, to=1))
    finally:
        feeder.send_signal(signal.SIGTERM)
        feeder.wait(30)
    batches, median, longest = _feeder_seen(feeder_out, 0, time.time())
    _log(f"feeder: {batches} batches of {FEED_BATCH}, median {median * 1000:.1f} ms, longest {longest * 1000:.1f} ms")
    verified = boards_verify()
    _log(f"verify: {verified.boards} boards, {verified.members} members, {len(verified.differences)} differences")
    if verified.differences:
        sys.exit("the boards differ from the log after the rescores")
    for figures in results:
        _log(json.dumps(figures))


if __name__ == "__main__":
    main()
