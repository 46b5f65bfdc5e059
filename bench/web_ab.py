"""The board page and the API's top-50, two checkouts side by side in one run: an A/B.

    .venv/bin/python bench/web_ab.py --code before=/path/to/other/checkout [--code after=.] [--rounds 4]
                                     [--duration 8]

Both servers (gunicorn as `make run` starts it: 2 workers x 8 threads, the stream worker) run
at once on one database, Redis database and 10,000-user global board of their own (named by
the run's token, printed at the start, dropped at the end); wrk (50 connections) drives one at
a time, `/` then `/v1/leaderboard/public?limit=50`, alternating the order each round so that
the neighbours' load moves both alike. The medians say whether one is slower; a single round
says little on a shared machine (docs/BENCHMARKS.md). The servers' CPU time per request (master
and workers, from /proc) moves much less with the neighbours' load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import web
from bench.common import PYTHON, ROOT, Target, cpu_seconds, database_name, durable_name, redis_claim, run_announce

PAGE, API = "/", "/v1/leaderboard/public?limit=50"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--code", action="append", default=[], help="NAME=CHECKOUT (twice: the two sides)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    args = parser.parse_args()
    code = dict(item.split("=", 1) for item in args.code)
    code.setdefault("after", str(ROOT))
    if len(code) != 2:
        parser.error("name two checkouts: --code before=PATH [--code after=PATH]")
    target = Target("ab", database_name("web_ab"), redis_claim(11), durable_name("web-ab"))
    servers, urls = {}, {}
    try:
        run_announce(database=target.database, redis_db=target.redis_db)
        web.prepare(target)
        env = target.env()
        subprocess.run(
            [PYTHON, "manage.py", "restore_leaderboards"], cwd=ROOT, env=env, check=True, capture_output=True
        )
        logs = Path(tempfile.mkdtemp(prefix="bench-web-ab-"))
        for name, root in code.items():
            port = web.free_port()
            argv = [str(Path(PYTHON).parent / "gunicorn"), "leaderboard_project.wsgi", "--bind", f"127.0.0.1:{port}"]
            argv += ["--workers", "2", "--worker-class", "web.worker.StreamingThreadWorker", "--threads", "8"]
            with open(logs / f"{name}.log", "wb") as log:
                servers[name] = subprocess.Popen(
                    [*argv, "--log-level", "warning"], cwd=root, env=env, stdout=log, stderr=log
                )
            urls[name] = f"http://127.0.0.1:{port}"
        client = target.redis()
        web.seed(client, 10_000, web.GLOBAL_KEY)
        figures: dict[str, dict[str, list[float]]] = {name: {PAGE: [], API: []} for name in code}
        cpu: dict[str, dict[str, list[float]]] = {name: {PAGE: [], API: []} for name in code}
        for url in urls.values():
            _wait_for_rows(url)
        print(f"started {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; logs in {logs}", flush=True)
        for n in range(args.rounds):
            for name in list(code) if n % 2 == 0 else list(reversed(code)):
                load = os.getloadavg()[0]
                line = [f"round {n + 1} {name}: load {load:.2f}"]
                for path in (PAGE, API):
                    before = _server_cpu(servers[name].pid)
                    run = web.run_wrk(urls[name] + path, 50, args.duration, 2)
                    used = (_server_cpu(servers[name].pid) - before) / (run.requests_per_second * args.duration)
                    figures[name][path].append(run.requests_per_second)
                    cpu[name][path].append(used * 1e6)
                    rate = f"{run.requests_per_second:,.0f}/s p99 {run.p99_ms:.1f} ms"
                    line.append(f"{path} {rate}, server CPU {used * 1e6:.0f} us")
                print(" | ".join(line), flush=True)
    finally:
        for server in servers.values():
            server.terminate()
            server.wait(30)
        target.release()  # the board with the rest of the Redis database
    for name in code:
        page, api = (statistics.median(figures[name][path]) for path in (PAGE, API))
        page_cpu, api_cpu = (statistics.median(cpu[name][path]) for path in (PAGE, API))
        print(
            f"{name}: the page {page:,.0f}/s ({page_cpu:.0f} us of server CPU each), the API's top-50"
            f" {api:,.0f}/s ({api_cpu:.0f} us each); medians of {args.rounds}"
        )
    return 0


def _server_cpu(master: int) -> float:
    """CPU seconds used so far by gunicorn's master and its workers (the CPU a request costs
    moves much less with the neighbours' load than the requests/s do)."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return cpu_seconds(master) + sum(cpu_seconds(int(pid)) for pid in children)


def _wait_for_rows(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}{PAGE}", timeout=10) as response:
                if response.read().decode().count('<tr data-user="') == 50:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url}{PAGE} does not show 50 rows")


if __name__ == "__main__":
    sys.exit(main())
