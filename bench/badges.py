"""Badges: the SVG and shields.io JSON badges of one contributor, and the SVG's 304, under load.

    .venv/bin/python bench/badges.py [--users 10000] [--connections 50] [--duration 10] [--runs 3]

Sets up a world of its own (the run's names, `bench/common.py`): a migrated database with one
contributor (a login), a claimed Redis database whose global all-time board has `--users`
members (many ties) with that contributor among them, mid-board, so that the badge has a real
rank; starts gunicorn as `make run` starts it (bin/run's flags: 2 gthread workers of 8 threads)
on a free port, in a process group of its own; then drives wrk (`bench/api.py`) with
`--connections` connections at

- `GET /badges/contributors/<login>.svg` (a 200, drawn each time),
- `GET /v1/badges/<login>` (shields' endpoint JSON),
- `GET /badges/contributors/<login>.svg` with `If-None-Match: <its ETag>` (the 304),

and prints requests/s, p50/p99 and the CPU one request costs for each run: gunicorn's workers,
wrk, Redis (its INFO: its other clients count too) and the Postgres backends of the run's
database — which, unlike requests/s, hardly moves with the neighbours on a shared machine. At the
end the server's process group is stopped, the database dropped and the Redis database given back.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api import Run, drive, load_options, request_cpu, seed, summary
from bench.common import Target, cpu_seconds, database_name, durable_name, postgres_backends, redis_claim, run_announce
from bench.web import GLOBAL_KEY, prepare, start_server
from scoring.redis_boards.keys import READY_KEY

LOGIN = "bench-badge"


def contributor_seed(target: Target, users: int) -> tuple[int, int]:
    """The global all-time board with `users` members, and a contributor row for the one at
    the middle of it: its user id and its rank."""
    client = target.redis()
    try:
        seed(client, users, GLOBAL_KEY)
        client.persist(GLOBAL_KEY)  # the run's own Redis database, emptied at the end
        client.set(READY_KEY, "bench")  # the boards are whole, as a restore leaves them
        user_id = int(client.zrevrange(GLOBAL_KEY, users // 2, users // 2)[0])
        rank = client.zcount(GLOBAL_KEY, f"({client.zscore(GLOBAL_KEY, user_id)}", "+inf") + 1
    finally:
        client.close()
    with target.pg() as conn:
        conn.execute(
            "INSERT INTO scoring_contributor (id, login, avatar_url, is_bot) VALUES (%s, %s, %s, false)",
            [user_id, LOGIN, ""],
        )
    return user_id, rank


def postgres_cpu(database: str) -> float:
    """CPU seconds so far of the backends connected to `database` (gunicorn's, kept open)."""
    return sum(cpu_seconds(pid) for pid in postgres_backends(database))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10000)
    load_options(parser)
    args = parser.parse_args()

    logs = Path(tempfile.mkdtemp(prefix="bench-badges-"))
    target = Target("badges", database_name("badges"), redis_claim(13), durable_name("badges"))
    server = None
    results: list[tuple[str, str, list[Run]]] = []
    try:
        run_announce(database=target.database, redis_db=target.redis_db)
        started, load = datetime.now(UTC), os.getloadavg()
        print(f"logs in {logs}; {started:%Y-%m-%d %H:%M} UTC; load average {load[0]:.2f} {load[1]:.2f}", flush=True)
        prepare(target)
        user_id, rank = contributor_seed(target, args.users)
        server, url = start_server(target, logs, workers=int(os.environ.get("WORKERS", "2")))
        svg = f"{url}/badges/contributors/{LOGIN}.svg"
        with urllib.request.urlopen(svg, timeout=10) as response:
            body, etag = response.read().decode(), response.headers["ETag"]
        if f"#{rank:,} ·" not in body:
            print(f"user {user_id} should be #{rank:,}; the badge says: {body[:400]}", file=sys.stderr)
            return 1
        request = urllib.request.Request(svg, headers={"If-None-Match": etag})
        try:
            urllib.request.urlopen(request, timeout=10).close()
            print("the SVG with its own ETag in If-None-Match is not a 304", file=sys.stderr)
            return 1
        except urllib.error.HTTPError as error:
            if error.code != 304:
                raise
        print(f"contributor {LOGIN} (user {user_id}), #{rank:,} of {args.users:,}; ETag {etag}", flush=True)
        redis_client = target.redis()

        def cpu() -> float:
            return request_cpu(server.proc.pid, redis_client) + postgres_cpu(target.database)

        cases = [
            ("SVG badge (200)", svg, ()),
            ("shields JSON (200)", f"{url}/v1/badges/{LOGIN}", ()),
            ("SVG with If-None-Match (304)", svg, (f"If-None-Match: {etag}",)),
        ]
        for name, case_url, headers in cases:
            print(f"{name}: GET {case_url.removeprefix(url)}", flush=True)
            tool, runs = drive(case_url, args, cpu, headers)
            results.append((name, tool, runs))
        redis_client.close()
    finally:
        if server is not None:
            server.stop()
        target.release()

    load = os.getloadavg()
    print(f"\nload average at the end {load[0]:.2f} {load[1]:.2f}")
    for name, tool, runs in results:
        print(summary(name, tool, runs, args.connections, f"gunicorn + {tool} + Redis + Postgres"))
    return 0 if all(run.errors == 0 for _, _, runs in results for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
