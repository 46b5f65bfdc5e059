"""Benchmark: rebuild, snapshot, restore and verify on a log of 1,000,000 events whose boards
hold about 1,000,000 (board, user) members. Figures go to docs/BENCHMARKS.md.

    .venv/bin/python bench/snapshots.py [--runs 3]
    .venv/bin/python bench/snapshots.py --database leaderboard_bench_snapshots_kept [--reuse]

It works in a database and a Redis db of its own, both printed at the start: the Redis db
claimed as the test runs claim theirs, and given back emptied at the end; the database the
run's own (`leaderboard_bench_snapshots_<run>`), made for the run and dropped at the end. To
keep the log between runs (writing it takes minutes), name a database with `--database NAME`
(a name with "bench" in it; the script empties its snapshots and, without --reuse, its log):
it is made if missing and kept at the end, and a later run with `--database NAME --reuse`
starts from its log instead of writing a new one.

The log is written straight into Postgres with generate_series (projects skewed, users
skewed, times over the last 30 days, all applied), as if consumed. Then, each `--runs` times:
a rebuild (the boards already in Redis, as in production), an incremental snapshot after
another `--delta` events, and a restore after FLUSHDB plus `--delta` events logged after the
snapshot. Every run is checked: the restored boards must equal the rebuilt ones, and
verify_leaderboards must find no difference.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import in_process_target, kept_database_check, kept_database_options, redis_reset  # noqa: E402

USER_BASE = 10**15  # realistic, large user ids (the numeric(20, 0) path)


def _log(message: str) -> None:
    print(message, flush=True)


def _events_insert(cursor, *, prefix: str, count: int, users: int, projects: int, days: int) -> None:
    """`count` scored, applied events with ids `<prefix><n>`, straight into the log."""
    cursor.execute(
        """
        INSERT INTO scoring_contributionevent
               (event_id, kind, user_id, project_id, occurred_at, points, raw, rules_version)
        SELECT %(prefix)s || g, 1 + g %% 7,
               %(base)s + 1 + floor(%(users)s * power(random(), 2))::bigint,
               1 + floor(%(projects)s * power(random(), 2))::bigint,
               now() - random() * %(days)s * interval '1 day',
               1 + floor(random() * 10)::int, '\\x'::bytea, 1
          FROM generate_series(1, %(count)s) AS g
        """,
        {"prefix": prefix, "base": USER_BASE, "users": users, "projects": projects, "days": days, "count": count},
    )


def _log_build(args) -> None:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE scoring_contributionevent, scoring_project CASCADE")
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute(
            "INSERT INTO scoring_project (id, name, event_count)"
            " SELECT p, 'bench/repo-' || p, 0 FROM generate_series(1, %s) AS p",
            [args.projects],
        )
        _events_insert(
            cursor, prefix="bench-", count=args.events, users=args.users, projects=args.projects, days=args.days
        )
        cursor.execute("VACUUM ANALYZE scoring_contributionevent")
    _log(f"log: {args.events} events written in {time.perf_counter() - started:.1f}s")


def _boards_state() -> dict[str, int]:
    """Board key -> (member count, score sum): a cheap fingerprint to compare runs."""
    from scoring import redis_boards

    client = redis_boards.connection()
    keys = sorted(redis_boards.board_keys())
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.zcard(key)
        pipe.zrange(key, 0, -1, withscores=True)
    replies = pipe.execute()
    return {key: (replies[2 * i], int(sum(s for _, s in replies[2 * i + 1]))) for i, key in enumerate(keys)}


def _machine() -> str:
    from django.db import connection

    from scoring import redis_boards

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.machine(),
    )
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        (postgres,) = cursor.fetchone()
    redis_version = redis_boards.connection().info("server")["redis_version"]
    python = platform.python_version()
    return f"{os.cpu_count()} cores ({model}), Python {python}, Postgres {postgres}, Redis {redis_version}"


def _timed(label: str, action):
    started = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - started
    _log(f"  {label}: {seconds:.2f}s")
    return seconds, result


def _spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f}s (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=2200, help="distinct users (skewed)")
    parser.add_argument("--projects", type=int, default=20, help="distinct projects (skewed)")
    parser.add_argument("--days", type=int, default=30, help="event times over the last N days")
    parser.add_argument("--delta", type=int, default=10_000, help="events logged after each snapshot")
    parser.add_argument("--runs", type=int, default=3)
    kept_database_options(parser)
    args = parser.parse_args()
    kept_database_check(parser, args)
    with in_process_target("snapshots", 14, kept=args.database, reuse=args.reuse) as (target, reused):
        args.reuse = reused
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        _run(args, target.redis_db)


def _run(args, redis_db: int) -> None:
    from django.conf import settings
    from django.db import connection

    from scoring.maintenance.restore import boards_restore
    from scoring.maintenance.verify import boards_verify
    from snapshots.services import snapshot_take

    redis_reset(redis_db)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE snapshots_snapshotboard, snapshots_snapshot")
    if not args.reuse:
        _log_build(args)

    rebuilds, pauses, snapshots, restores = [], [], [], []
    full_snapshot, _ = _timed("snapshot from the log alone (first snapshot)", snapshot_take)
    shape = {"users": args.users, "projects": args.projects, "days": args.days}
    for run in range(1, args.runs + 1):
        _log(f"run {run}")
        marks: dict[str, float] = {}

        def mark(message: str, marks=marks) -> None:
            marks.setdefault("paused" if "applies paused" in message else message, time.perf_counter())

        seconds, _ = _timed("rebuild (boards present)", lambda: boards_restore(use_snapshot=False, progress=mark))
        rebuilds.append(seconds)
        pauses.append(time.perf_counter() - marks["paused"])
        _log(f"  of which applies paused: {pauses[-1]:.2f}s")
        with connection.cursor() as cursor:
            _events_insert(cursor, prefix=f"bench-{time.time_ns()}-", count=args.delta, **shape)
        seconds, taken = _timed("snapshot (incremental)", snapshot_take)
        snapshots.append(seconds)
        with connection.cursor() as cursor:
            _events_insert(cursor, prefix=f"bench-{time.time_ns()}-", count=args.delta, **shape)
        reference_rebuild = boards_restore(use_snapshot=False)
        reference = _boards_state()
        redis_reset(redis_db)
        seconds, restored = _timed("restore (Redis emptied)", boards_restore)
        restores.append(seconds)
        if restored.snapshot_id != taken.snapshot.id:
            sys.exit(f"restore used snapshot {restored.snapshot_id}, not {taken.snapshot.id}")
        if _boards_state() != reference:
            sys.exit("restored boards differ from rebuilt ones")
        _log(
            f"  boards {restored.boards}, members {restored.members} "
            f"(rebuild: {reference_rebuild.boards}/{reference_rebuild.members}), delta {restored.delta_events} events"
        )
    verify_seconds, verified = _timed("verify", boards_verify)
    if not verified.ok:
        sys.exit(f"verify found {len(verified.differences)} differences")

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM scoring_contributionevent")
        (events,) = cursor.fetchone()
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('snapshots_snapshotboard'))")
        (snapshot_size,) = cursor.fetchone()
    _log("")
    _log(f"machine: {_machine()}")
    _log(f"log: {events} events; boards: {verified.boards} boards, {verified.members} members")
    _log(f"snapshot table: {snapshot_size} for {settings.SNAPSHOT_RETENTION} snapshots")
    _log(f"rebuild (from {events} events): {_spread(rebuilds)}; applies paused {_spread(pauses)}")
    _log(f"snapshot, first (from the log): {full_snapshot:.2f}s")
    _log(f"snapshot, incremental (+{args.delta} events): {_spread(snapshots)}")
    _log(f"restore (snapshot + {args.delta} events, Redis empty): {_spread(restores)}")
    _log(f"verify: {verify_seconds:.2f}s")


if __name__ == "__main__":
    main()
