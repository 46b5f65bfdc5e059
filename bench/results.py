"""Benchmark: finalize one day's boards for 1,000 projects, and how long it holds applies back.

    .venv/bin/python bench/results.py [--runs 5] [--projects 1000] [--events 200000] [--users 20000]

A database of its own (`leaderboard_bench_results`, created and emptied). The log: `--events`
events of `--users` users spread over `--projects` projects, all on yesterday (UTC), straight
into Postgres as if consumed, plus unapplied rows of today for the applies. Each run finalizes
yesterday's daily board (global and every project: 1,001 results, their placings) from scratch,
while a second connection applies in a loop exactly what an apply holds in Postgres (the boards
gate shared, 100 unapplied rows `FOR UPDATE`, `applied = true`; rolled back so it repeats). The
figures: the finalize's time, and the slowest apply during it against the slowest before it.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import PG_HOST, PG_PORT, PG_USER, database_fresh  # noqa: E402

DATABASE = "leaderboard_bench_results"
URL = f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{DATABASE}"


def _setup_environment() -> None:
    database_fresh(DATABASE)
    os.environ["RESULTS_GRACE_SECONDS"] = "0"


def _seed(projects: int, events: int, users: int, day: datetime) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO scoring_project (id, name, event_count) SELECT g, 'org/repo-' || g, 0"
            " FROM generate_series(1, %s) g",
            [projects],
        )
        cursor.execute(
            """INSERT INTO scoring_contributionevent (event_id, kind, user_id, project_id, occurred_at, points, raw,
                                                       applied, rules_version)
               SELECT 'e-' || g, 1 + g %% 7, 1 + (g * 7919) %% %(users)s, 1 + g %% %(projects)s,
                      %(day)s + (g %% 86400) * interval '1 second', 1 + g %% 10, '\\x00'::bytea, true, 1
                 FROM generate_series(1, %(events)s) g
               UNION ALL
               SELECT 'today-' || g, 1, 1 + g, 1, %(day)s + interval '1 day 1 hour', 2, '\\x00'::bytea, false, 1
                 FROM generate_series(1, 100) g""",
            {"users": users, "projects": projects, "day": day, "events": events},
        )
        cursor.execute("ANALYZE")


def _applies(stop: threading.Event, durations: list[tuple[float, float]]) -> None:
    """What an apply holds in Postgres, again and again: (start, seconds) of each."""
    import psycopg

    from scoring.gate import GATE_LOCK

    with psycopg.connect(URL) as conn:
        while not stop.is_set():
            started = time.perf_counter()
            with conn.transaction(force_rollback=True):
                conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", [GATE_LOCK])
                conn.execute("SELECT id FROM scoring_contributionevent WHERE NOT applied ORDER BY event_id FOR UPDATE")
                conn.execute("UPDATE scoring_contributionevent SET applied = true WHERE NOT applied")
            durations.append((started, time.perf_counter() - started))
            time.sleep(0.002)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--users", type=int, default=20_000)
    args = parser.parse_args()
    _setup_environment()
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from scoring.results.finalize import results_finalize

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    call_command("migrate", verbosity=0)
    _seed(args.projects, args.events, args.users, yesterday)
    finalize_ms, apply_during, apply_before = [], [], []
    for _ in range(args.runs):
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE scoring_periodresult, scoring_periodplacing, scoring_resultperiod,"
                " scoring_resultswatermark CASCADE"
            )
        stop, durations = threading.Event(), []
        applier = threading.Thread(target=_applies, args=(stop, durations))
        applier.start()
        time.sleep(0.5)
        started = time.perf_counter()
        done = results_finalize(now=today + timedelta(minutes=1))
        ended = time.perf_counter()
        time.sleep(0.2)
        stop.set()
        applier.join()
        daily = [p for p in done.periods_finalized if p[0] == "daily"]
        assert daily == [("daily", yesterday.date().isoformat())], done.periods_finalized
        finalize_ms.append((ended - started) * 1000)
        apply_during.append(max(s for t, s in durations if started <= t + s and t <= ended) * 1000)
        apply_before.append(max(s for t, s in durations if t + s < started) * 1000)
        print(
            f"finalized {done.results} results of {len(done.periods_finalized)} periods in {finalize_ms[-1]:.0f} ms;"
            f" slowest apply during it {apply_during[-1]:.1f} ms, before it {apply_before[-1]:.1f} ms",
            flush=True,
        )
    print(
        f"{platform.node()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; {args.events} events,"
        f" {args.projects} projects, {args.users} users; {args.runs} runs: finalize median"
        f" {statistics.median(finalize_ms):.0f} ms (max {max(finalize_ms):.0f}); slowest apply during a finalize"
        f" median {statistics.median(apply_during):.1f} ms (max {max(apply_during):.1f}), before one"
        f" {statistics.median(apply_before):.1f} ms"
    )
    connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
