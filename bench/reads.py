"""API reads: a board's top 50 and one user's standing, closed loop (wrk) and open loop.

    .venv/bin/python bench/reads.py [--users 10000] [--rotate 1000] [--rate 2000]
                                    [--connections 50] [--duration 10] [--runs 3] [--only CASE ...]

Sets up a world of its own (the run's names, `bench/common.py`): a migrated database whose
`--users` contributors all have a login and an avatar, and a claimed Redis database whose global
all-time board holds them (many ties). Starts gunicorn as `make run` starts it (bin/run's flags:
2 gthread workers of 8 threads) on a free port, in a process group of its own, and measures:

- `top50`: `GET /v1/leaderboard/public?limit=50`, 50 connections as fast as it answers (wrk);
- `standing`: `GET /v1/leaderboard/users/<a user mid-board>?around=2`, the same;
- `standing-rotating`: the standings of `--rotate` different users in turn (a wrk Lua script),
  so that most answers are rendered, not kept: a user polls their own standing, not someone
  else's;
- `top50-open`, `standing-open`: `--rate` requests/s offered over 50 connections, latency from
  each request's due time (`bench/openloop.py`);
- `top50-uncached`, `top50-uncached-no-names-cache`: the top 50 with the response cache off
  (`API_MICROCACHE_SECONDS=0`: every request rendered), with and without the board-name cache
  (`NAMES_CACHE_SECONDS=0`): what the names cost a render, in Postgres CPU per request too.

For each closed-loop run: requests/s, p50/p99, and the CPU one request costs (gunicorn's
workers, wrk, Redis from its INFO, and the Postgres backends of the run's database), which,
unlike requests/s, hardly moves with the neighbours. Every answer is checked first against
Redis and Postgres (the rows, ranks and logins). At the end the servers' process groups are
stopped, the database dropped and the Redis database given back.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import openloop
from bench.api import drive, load_options, request_cpu, seed, summary
from bench.common import (
    Process,
    Target,
    cpu_seconds,
    database_name,
    durable_name,
    postgres_backends,
    redis_claim,
    run_announce,
)
from bench.web import GLOBAL_KEY, prepare, start_server
from scoring.redis_boards.keys import READY_KEY

CASES = (
    "top50",
    "standing",
    "standing-rotating",
    "top50-open",
    "standing-open",
    "top50-uncached",
    "top50-uncached-no-names-cache",
)


def world_seed(target: Target, users: int) -> list[int]:
    """The global all-time board with `users` members and a contributor row (login, avatar) for
    each; the user ids from the top of the board down."""
    client = target.redis()
    try:
        seed(client, users, GLOBAL_KEY)
        client.persist(GLOBAL_KEY)  # the run's own Redis database, emptied at the end
        client.set(READY_KEY, "bench")  # the boards are whole, as a restore leaves them
        ids = [int(member) for member in client.zrevrange(GLOBAL_KEY, 0, -1)]
    finally:
        client.close()
    with (
        target.pg() as conn,
        conn.cursor().copy("COPY scoring_contributor (id, login, avatar_url, is_bot) FROM STDIN") as copy,
    ):
        for user_id in ids:
            copy.write_row((user_id, f"bench-{user_id}", f"https://avatars.example/u/{user_id}", False))
    return ids


def answer_check(target: Target, url: str, user_id: int) -> None:
    """The top 50 and `user_id`'s standing as the server answers them equal Redis and Postgres."""
    client = target.redis()
    try:
        top = [(int(m), int(s)) for m, s in client.zrevrange(GLOBAL_KEY, 0, 49, withscores=True)]
        score = int(client.zscore(GLOBAL_KEY, user_id))
        rank = client.zcount(GLOBAL_KEY, f"({score}", "+inf") + 1
    finally:
        client.close()
    with urllib.request.urlopen(f"{url}/v1/leaderboard/public?limit=50", timeout=10) as response:
        body = json.load(response)
    got = [(int(row["user_id"]), row["score"]) for row in body["results"]]
    if got != top or any(row["login"] != f"bench-{row['user_id']}" for row in body["results"]):
        raise SystemExit(f"the top 50 is not what Redis and Postgres hold: {body['results'][:3]}")
    with urllib.request.urlopen(f"{url}/v1/leaderboard/users/{user_id}?around=2", timeout=10) as response:
        body = json.load(response)
    if (body["rank"], body["score"], body["login"]) != (rank, score, f"bench-{user_id}"):
        raise SystemExit(f"user {user_id}'s standing is not #{rank} with {score}: {body}")


def rotation_script(logs: Path, user_ids: list[int]) -> str:
    """A wrk script asking for each of `user_ids`' standing in turn (each wrk thread from its own
    place in the list)."""
    path = logs / "rotate.lua"
    path.write_text(
        f"local ids = {{{','.join(map(str, user_ids))}}}\n"
        "local i = math.random(#ids)\n"
        "request = function()\n"
        "  i = i % #ids + 1\n"
        '  return wrk.format("GET", "/v1/leaderboard/users/" .. ids[i] .. "?around=2")\n'
        "end\n"
    )
    return str(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--rotate", type=int, default=1000, help="users whose standings standing-rotating asks for")
    parser.add_argument("--rate", type=float, default=2000.0, help="the open-loop cases' offered requests/s")
    parser.add_argument("--only", nargs="+", choices=CASES, default=list(CASES))
    load_options(parser)
    args = parser.parse_args()

    logs = Path(tempfile.mkdtemp(prefix="bench-reads-"))
    target = Target("reads", database_name("reads"), redis_claim(13), durable_name("reads"))
    servers: dict[str, tuple[Process, str]] = {}
    results: list[str] = []
    try:
        run_announce(database=target.database, redis_db=target.redis_db)
        started, load = datetime.now(UTC), os.getloadavg()
        print(f"logs in {logs}; {started:%Y-%m-%d %H:%M} UTC; load average {load[0]:.2f} {load[1]:.2f}", flush=True)
        prepare(target)
        ids = world_seed(target, args.users)
        middle = ids[len(ids) // 2]
        redis_client = target.redis()

        def server(name: str, **env: str) -> tuple[Process, str]:
            if name not in servers:
                for other in list(servers):  # one server at a time: they would share the cores
                    servers.pop(other)[0].stop()
                workers = int(os.environ.get("WORKERS", "2"))
                (logs / name).mkdir(exist_ok=True)
                servers[name] = start_server(target, logs / name, workers=workers, **env)
                answer_check(target, servers[name][1], middle)
            return servers[name]

        def cpu_of(process: Process):
            def cpu() -> float:
                postgres = sum(cpu_seconds(pid) for pid in postgres_backends(target.database))
                return request_cpu(process.proc.pid, redis_client) + postgres

            return cpu

        top50 = "/v1/leaderboard/public?limit=50"
        standing = f"/v1/leaderboard/users/{middle}?around=2"
        closed = {
            "top50": ("default", {}, top50, None),
            "standing": ("default", {}, standing, None),
            "standing-rotating": ("default", {}, standing, rotation_script(logs, ids[: args.rotate])),
            "top50-uncached": ("uncached", {"API_MICROCACHE_SECONDS": "0"}, top50, None),
            "top50-uncached-no-names-cache": (
                "uncached-no-names",
                {"API_MICROCACHE_SECONDS": "0", "NAMES_CACHE_SECONDS": "0"},
                top50,
                None,
            ),
        }
        opened = {"top50-open": top50, "standing-open": standing}
        for case in args.only:
            if case in closed:
                name, env, path, script = closed[case]
                process, url = server(name, **env)
                print(f"{case}: GET {path}{' (rotating)' if script else ''}", flush=True)
                tool, runs = drive(url + path, args, cpu_of(process), script=script)
                results.append(summary(case, tool, runs, args.connections, "gunicorn + wrk + Redis + Postgres"))
            else:
                process, url = server("default")
                print(f"{case}: GET {opened[case]}, {args.rate:,.0f}/s offered", flush=True)
                for n in range(1, args.runs + 1):
                    run = openloop.run(
                        url + opened[case], rate=args.rate, connections=args.connections, duration=args.duration
                    )
                    line = f"{case} run {n}: {run.summary()}"
                    print(line, flush=True)
                    results.append(line)
        redis_client.close()
    finally:
        for process, _ in servers.values():
            process.stop()
        target.release()

    load = os.getloadavg()
    print(f"\nload average at the end {load[0]:.2f} {load[1]:.2f}")
    for line in results:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
