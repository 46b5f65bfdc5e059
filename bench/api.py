"""API reads: GET one board's top 50 with many concurrent clients against a running server.

    .venv/bin/python bench/api.py [--url http://127.0.0.1:8000] [--users 10000] [--connections 50]
                                  [--duration 10] [--runs 3] [--redis-url redis://127.0.0.1:6379/0]
                                  [--server-pid PID]

Start the server first (`make run`, or gunicorn as `make run` starts it). The script seeds a
board of its own in the server's Redis — the all-time board of a project id no repository
has, one per run (from the run's token, `bench/common.py`), printed at the start — with
`--users` users (many ties), drives `GET /v1/leaderboard/public?project_id=…&limit=50`
with `wrk` (Debian's package; a slower Python load generator if it is missing), prints
requests/s and p50/p99 latency for each run, and deletes the board afterwards (it also expires
on its own within the hour, should the script be killed).

The machine is shared, so requests/s and latency move with whatever else runs. With
`--server-pid` (gunicorn's master) the script also measures the CPU time one request costs —
the server's workers, wrk, and Redis (from its INFO, so other clients of that Redis count too)
— which does not depend on the neighbours, and the requests/s two idle cores could serve at
that cost.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RUN, run_announce

# Near 2^64 (no repository has such an id), and the run's own: two runs against one server
# each read and delete their own board.
BENCH_PROJECT = 18446744073709551557 - zlib.crc32(RUN.encode())
BOARD_KEY = f"leaderboard:project:{BENCH_PROJECT}:all_time:all"


@dataclass
class Run:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int = 0
    cpu_us: float | None = None  # CPU time per request: server, load generator, Redis


def _ticks_to_seconds(ticks: int) -> float:
    return ticks / os.sysconf("SC_CLK_TCK")


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by `pid` and its children (gunicorn's workers)."""
    total = 0.0
    for each in [pid, *_children(pid)]:
        try:
            with open(f"/proc/{each}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += _ticks_to_seconds(int(fields[11]) + int(fields[12]))  # utime, stime
    return total


def _children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as handle:
            found += [int(child) for child in handle.read().split()]
    return found


def redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def seed(client: redis.Redis, users: int, key: str = BOARD_KEY) -> None:
    """`users` users with scores from a narrow range, so the board is full of ties."""
    rng = random.Random(42)
    client.delete(key)
    ids = rng.sample(range(1, 10 * users), users)
    for start in range(0, users, 5000):
        client.zadd(key, {str(user): rng.randint(1, users // 5) for user in ids[start : start + 5000]})
    client.expire(key, 3600)


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(
    url: str, connections: int, duration: int, threads: int, headers: Sequence[str] = (), script: str | None = None
) -> Run:
    """`headers` ("Name: value") go with every request; `script`: a wrk Lua script's path."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", url]
    command += [arg for header in headers for arg in ("-H", header)]
    command += ["-s", script] if script else []
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    latency = dict(re.findall(r"^\s*(50|99)%\s+([\d.]+(?:us|ms|s))\s*$", output, re.MULTILINE))

    def percentile(name: str) -> float:
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", latency[name]).groups()
        return _ms(value, unit)

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    return Run(rps, percentile("50"), percentile("99"), errors, requests)


def run_python(url: str, connections: int, duration: int) -> Run:
    """A thread per connection, keep-alive when the server allows it. Slower than wrk (the
    generator competes with the server for the same cores), so figures are a lower bound."""
    parts = urlsplit(url)
    target = parts.path + ("?" + parts.query if parts.query else "")
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def client() -> None:
        mine: list[float] = []
        connection = HTTPConnection(parts.hostname, parts.port or 80, timeout=10)
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                connection.request("GET", target)
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    errors[0] += 1
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
            except OSError:
                errors[0] += 1
                connection.close()
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(connections)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    quantiles = statistics.quantiles(latencies, n=100)
    return Run(len(latencies) / elapsed, quantiles[49] * 1000, quantiles[98] * 1000, errors[0], len(latencies))


def request_cpu(server_pid: int | None, client: redis.Redis) -> float | None:
    """CPU seconds so far of the server's process tree, this process's children (wrk) and Redis."""
    if server_pid is None:
        return None
    return process_tree_cpu(server_pid) + children_cpu() + redis_cpu(client)


def load_options(parser: argparse.ArgumentParser) -> None:
    """The load's options (`drive` reads them): connections, seconds per run, runs, wrk threads."""
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")


def drive(
    url: str,
    load: argparse.Namespace,
    cpu: Callable[[], float | None],
    headers: Sequence[str] = (),
    script: str | None = None,
) -> tuple[str, list[Run]]:
    """`load.runs` runs of `load.duration` seconds at `url` over `load.connections` connections
    (wrk, or the Python generator if it is missing; `script`: a wrk Lua script that makes the
    requests), each printed as it ends, with its CPU per request from `cpu` (CPU seconds so far,
    or None: not measured). Returns the generator's name and the runs."""
    connections, duration, runs, threads = load.connections, load.duration, load.runs, load.threads
    tool = "wrk" if shutil.which("wrk") else "python"
    if tool == "python":
        print("wrk not found (apt-get install -y wrk): using the slower Python load generator", file=sys.stderr)
        if headers or script:
            raise SystemExit("the Python load generator sends no extra headers or scripts: install wrk")
    done = []
    for n in range(1, runs + 1):
        cpu_before = cpu()
        if tool == "wrk":
            run = run_wrk(url, connections, duration, threads, headers, script)
        else:
            run = run_python(url, connections, duration)
        if cpu_before is not None and run.requests:
            run.cpu_us = (cpu() - cpu_before) / run.requests * 1e6
        done.append(run)
        cpu_text = f"  CPU {run.cpu_us:.0f} us/request" if run.cpu_us is not None else ""
        print(
            f"run {n}: {run.requests_per_second:,.0f} req/s  p50 {run.p50_ms:.2f} ms  p99 {run.p99_ms:.2f} ms"
            f"  errors {run.errors}{cpu_text}",
            flush=True,
        )
    return tool, done


def summary(what: str, tool: str, runs: list[Run], connections: int, cpu_of: str) -> str:
    """The medians and ranges of `runs`; with CPU per request (`cpu_of`: what it counts), the
    requests/s this machine's cores would serve idle at that cost."""
    rps = [r.requests_per_second for r in runs]
    p50 = [r.p50_ms for r in runs]
    p99 = [r.p99_ms for r in runs]
    lines = [
        f"{what}, {connections} connections, {tool}: "
        f"median {statistics.median(rps):,.0f} req/s (range {min(rps):,.0f}-{max(rps):,.0f}), "
        f"p50 median {statistics.median(p50):.2f} ms, "
        f"p99 median {statistics.median(p99):.2f} ms (range {min(p99):.2f}-{max(p99):.2f})"
    ]
    cpu = [r.cpu_us for r in runs if r.cpu_us is not None]
    if cpu:
        cores = os.cpu_count() or 1
        lines.append(
            f"CPU per request ({cpu_of}): median {statistics.median(cpu):.0f} us "
            f"(range {min(cpu):.0f}-{max(cpu):.0f}): {cores} idle cores would serve about "
            f"{cores / statistics.median(cpu) * 1e6:,.0f} req/s"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('HTTP_PORT', '8000')}")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--users", type=int, default=10000)
    load_options(parser)
    parser.add_argument("--server-pid", type=int, help="gunicorn's master: also measure CPU per request")
    args = parser.parse_args()

    url = f"{args.url.rstrip('/')}/v1/leaderboard/public?project_id={BENCH_PROJECT}&limit=50"
    client = redis.Redis.from_url(args.redis_url)
    run_announce(board=BOARD_KEY, redis=args.redis_url)
    try:
        seed(client, args.users)
        with urllib.request.urlopen(url, timeout=10) as response:  # the server is up and reads our board
            body = response.read()
        if f'"total":{args.users}'.encode() not in body:
            print(f"the server at {args.url} does not read {args.redis_url}: {body[:200]!r}", file=sys.stderr)
            return 1
        tool, runs = drive(url, args, lambda: request_cpu(args.server_pid, client))
    finally:
        client.delete(BOARD_KEY)
    what = f"GET top-50 of a {args.users:,}-user board"
    print(summary(what, tool, runs, args.connections, f"server + {tool} + Redis"))
    return 0 if all(r.errors == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
