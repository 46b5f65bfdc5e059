"""Benchmark: exclude and include again a contributor who is on about 1,000 boards, on a log
of 200,000 other events. Figures go to docs/BENCHMARKS.md.

    .venv/bin/python bench/exclusions.py [--runs 20] [--projects 16] [--others 200000]

It works in a database (`leaderboard_bench_exclusions`, created and emptied) and a Redis db
(claimed like the test runs do, and emptied) of its own. The contributor has events on
`--projects` projects on each of the last 35 days (every retained daily board) and on the
first day of each of the last 13 months, so it is on the global and every project's daily,
weekly, monthly, yearly and all-time boards. Each run excludes it (`contributors exclude`'s
service) and includes it again, and checks that the boards equal a rebuild from the log.
The time is the whole call (boards lock, gate, log read, one Lua script, commit); "held" is
how long records and applies had to wait (the gate held exclusive).
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

from bench.common import REDIS_HOST, REDIS_PORT, database_fresh, redis_claim  # noqa: E402

DATABASE = "leaderboard_bench_exclusions"
USER = 4_242_424_242


def _setup_environment() -> None:
    database_fresh(DATABASE)
    os.environ["REDIS_URL"] = f"redis://{REDIS_HOST}:{REDIS_PORT}/{redis_claim(13)}"


def _seed(projects: int, others: int) -> int:
    """The log: the contributor's events, then `others` events of 5,000 other users (written
    straight into Postgres, as if consumed). Returns the contributor's events."""
    from django.db import connection

    from scoring.models import Contributor

    Contributor.objects.create(id=USER, login="top-contributor")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO scoring_project (id, name, event_count) SELECT g, 'org/repo-' || g, 0"
            " FROM generate_series(1, %s) g",
            [max(projects, 50)],
        )
        cursor.execute(
            """INSERT INTO scoring_contributionevent (event_id, kind, user_id, project_id, occurred_at, points, raw,
                                                       applied, rules_version)
               SELECT 'top-' || p || '-' || d, 1, %(user)s, p, date_trunc('day', now()) - d * interval '1 day'
                      + interval '1 hour', 2, '\\x00'::bytea, true, 1
                 FROM generate_series(1, %(projects)s) p, generate_series(0, 34) d
               UNION ALL
               SELECT 'top-' || p || '-m' || m, 1, %(user)s, p,
                      date_trunc('month', now()) - m * interval '1 month' + interval '1 hour', 2, '\\x00'::bytea,
                      true, 1
                 FROM generate_series(1, %(projects)s) p, generate_series(1, 13) m""",
            {"user": USER, "projects": projects},
        )
        mine = cursor.rowcount
        cursor.execute(
            """INSERT INTO scoring_contributionevent (event_id, kind, user_id, project_id, occurred_at, points, raw,
                                                       applied, rules_version)
               SELECT 'other-' || g, 1 + g %% 7, 1 + (g * 7919) %% 5000, 1 + g %% 50,
                      now() - (g %% (400 * 24)) * interval '1 hour', 1 + g %% 10, '\\x00'::bytea, true, 1
                 FROM generate_series(1, %s) g""",
            [others],
        )
        cursor.execute("ANALYZE")
    return mine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--projects", type=int, default=16)
    parser.add_argument("--others", type=int, default=200_000)
    args = parser.parse_args()
    _setup_environment()
    import django

    django.setup()
    from django.core.management import call_command

    from scoring import exclusions, redis_boards
    from scoring.maintenance.restore import boards_restore
    from scoring.maintenance.verify import boards_verify
    from scoring.models import Contributor

    client = redis_boards.connection()
    client.flushdb()
    try:
        call_command("migrate", verbosity=0)
        mine = _seed(args.projects, args.others)
        boards_restore(use_snapshot=False)
        on = sum(1 for key in redis_boards.board_keys() if client.zscore(key, str(USER)) is not None)
        print(f"contributor {USER}: {mine} events on {on} boards; {args.others} other events", flush=True)
        times: dict[str, list[float]] = {"exclude": [], "include": []}
        held: dict[str, list[float]] = {"exclude": [], "include": []}
        contributor = Contributor.objects.get(id=USER)
        for run in range(args.runs):
            for action in ("exclude", "include"):
                started = time.perf_counter()
                if action == "exclude":
                    done = exclusions.contributor_exclude(contributor, reason="bench")
                else:
                    done = exclusions.contributor_include(contributor)
                times[action].append(time.perf_counter() - started)
                held[action].append(done.gate_seconds)
                assert done.boards == on, (action, done.boards, on)
            if run == 0:
                result = boards_verify()
                assert result.ok, result.differences[:5]
        result = boards_verify()
        assert result.ok, result.differences[:5]
        load = os.getloadavg()[0]
        print(f"{platform.node()}, {os.cpu_count()} cores, load {load:.2f}; {args.runs} runs each")
        for action in ("exclude", "include"):
            ms = sorted(t * 1000 for t in times[action])
            gate = sorted(t * 1000 for t in held[action])
            print(
                f"{action}: {on} boards, median {statistics.median(ms):.1f} ms, max {ms[-1]:.1f} ms;"
                f" records and applies held median {statistics.median(gate):.1f} ms, max {gate[-1]:.1f} ms"
            )
        print("verify: OK, the boards equal the log after every run")
    finally:
        client.flushdb()
        from django.db import connection

        connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
