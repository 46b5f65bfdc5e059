"""Benchmark: a profile's streaks and achievements reads for a contributor with a long history,
and one achievements sweep after a burst of new rows.

    .venv/bin/python bench/profiles.py [--days 3000] [--per-day 150] [--users 2000] [--new 20000] [--runs 20]

A database of its own (`leaderboard_bench_profiles`, created and emptied). The log: user 1
scores on `--days` days (every 13th day left out: gaps), `--per-day` events a day (450,000 by
default), and `--users` others share as many events again; straight into Postgres as if consumed.
Then the sweep's first (full) pass, VACUUM ANALYZE, and:

1. EXPLAIN (ANALYZE, BUFFERS) of the profile's two reads for user 1 (streaks; achievements),
   and their median time over `--runs`;
2. the same streaks computed the naive way, straight from the log (gaps and islands over the
   user's distinct days with live points), for comparison;
3. one incremental sweep after `--new` new rows of 1,000 users: its time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import in_process_target  # noqa: E402

START = "2017-01-01"


_SEED = """
INSERT INTO scoring_contributionevent (event_id, kind, user_id, project_id, occurred_at, points, raw,
                                       rules_version)
SELECT %(prefix)s || g, 1 + g %% 7, {user}, 1 + g %% 20,
       %(start)s::timestamptz + ({day}) * interval '1 day' + (g %% 86000) * interval '1 second',
       g %% 5, '\\x00'::bytea, 1
  FROM generate_series(1, %(events)s) g
"""


def _seed(days: int, per_day: int, users: int) -> int:
    from django.db import connection

    events = days * per_day
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO scoring_project (id, name, event_count)"
            " SELECT g, 'org/repo-' || g, 0 FROM generate_series(1, 20) g"
        )
        cursor.execute("INSERT INTO scoring_rulesversion (number, \"table\", active) VALUES (1, '{}', true)")
        # user 1: `per_day` events a day; a day that is a multiple of 13 has none (a gap)
        cursor.execute(
            _SEED.format(user="1", day=f"(g / {per_day}) + ((g / {per_day}) / 12)"),
            {"prefix": "u1-", "start": START, "events": events},
        )
        cursor.execute(
            _SEED.format(user=f"2 + g %% {users}", day=f"g %% {days}"),
            {"prefix": "o-", "start": START, "events": events},
        )
        cursor.execute(
            "INSERT INTO scoring_contributor (id, login, avatar_url, is_bot)"
            " SELECT DISTINCT user_id, 'user' || user_id, '', false FROM scoring_contributionevent"
        )
    return events


_NAIVE = """
WITH days AS (
    SELECT DISTINCT (e.occurred_at AT TIME ZONE 'UTC')::date AS day FROM scoring_contributionevent e
     WHERE e.user_id = %(user)s AND {live} > 0
), runs AS (
    SELECT min(day) AS start, max(day) AS finish, count(*) AS days
      FROM (SELECT day, day - (row_number() OVER (ORDER BY day))::integer AS run FROM days) d GROUP BY run
)
SELECT start, finish, days FROM runs
 WHERE finish >= %(yesterday)s OR days = (SELECT max(days) FROM runs)
"""


def _median_ms(run, times: int) -> float:
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        run()
        spent.append((time.perf_counter() - started) * 1000)
    return statistics.median(spent)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=3000)
    parser.add_argument("--per-day", type=int, default=150)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--new", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=20)
    options = parser.parse_args()
    with in_process_target("profiles", 13):
        _run(options)


def _run(options: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from scoring.achievements import selectors
    from scoring.achievements.services import achievements_award
    from scoring.eventlog.sql import live_points

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    events = _seed(options.days, options.per_day, options.users)
    print(f"seeded {2 * events} events in {time.perf_counter() - started:.1f}s")
    started = time.perf_counter()
    achievements_award(full=True, wait=True)
    print(f"first (full) sweep: {time.perf_counter() - started:.1f}s")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("SELECT count(*) FROM scoring_contributorday WHERE user_id = 1")
        print(f"user 1: {events} events on {cursor.fetchone()[0]} scoring days")
        cursor.execute("SELECT max(day) FROM scoring_contributorday WHERE user_id = 1")
        today = cursor.fetchone()[0]
        params = {"user": 1, "today": today, "yesterday": today}
        for name, sql in [("streaks", selectors._STREAKS), ("naive streaks, from the log", _NAIVE)]:
            sql = sql.format(live=live_points("e"))
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params)
            print(f"\n-- {name}\n" + "\n".join(row for (row,) in cursor.fetchall()))
            print(
                f"median of {options.runs}: {_median_ms(lambda s=sql: cursor.execute(s, params), options.runs):.2f} ms"
            )
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + selectors._ACHIEVEMENTS, [1])
        print("\n-- achievements\n" + "\n".join(row for (row,) in cursor.fetchall()))

    def profile_reads() -> None:
        selectors.contributor_streaks(user_id=1, today=today)
        selectors.contributor_achievements(user_id=1)

    spent = _median_ms(profile_reads, options.runs)
    print(f"\ncontributor_streaks + contributor_achievements, median of {options.runs}: {spent:.2f} ms")
    with connection.cursor() as cursor:
        cursor.execute(
            _SEED.format(user="1000000 + g %% 1000", day=f"{options.days} - g %% 3"),
            {"prefix": "new-", "start": START, "events": options.new},
        )
    started = time.perf_counter()
    done = achievements_award(wait=True)
    spent = (time.perf_counter() - started) * 1000
    print(
        f"incremental sweep after {options.new} new rows of 1,000 users: {spent:.0f} ms"
        f" ({done.candidates} candidates, {len(done.awarded)} awarded)"
    )


if __name__ == "__main__":
    main()
