"""gRPC benchmark (issue 21): `serve_grpc` as `make run` starts it, on a database and Redis
database of its own (named by the run's token, printed at the start, dropped at the end), a
daily global board of 5,000 users.

1. GetLeaderboard top-50 (rankr's call) from 50 concurrent callers for `--seconds`, driven by
   h2load (nghttp2's C load generator: a Python client on the same 2 cores cost more CPU than
   the server): calls/s, p50 and p99 latency (h2load's per-call log), the server's CPU per call
   (/proc). h2load counts any HTTP 200 as a success, and a gRPC error is an HTTP 200 with
   `grpc-status` in its trailers: so the answer is checked once by a real client, and h2load's
   DATA bytes must be exactly the calls times that answer's length-prefixed size.
2. 1,000 WatchLeaderboard streams on the same board; each round one change is written to the
   board and announced as the consumer announces it, and the time from that announcement to
   each stream's page showing it is taken: p50, p99 and the slowest, over every stream and round.

The load generators run on the same 2 cores as the server: their CPU is the server's loss. The
figures go to docs/BENCHMARKS.md, section "gRPC".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

# Run as a script, this file's folder would come first on the path, and this module would be `grpc`.
sys.path[:1] = [str(Path(__file__).resolve().parent.parent)]

import grpc  # noqa: E402

from bench.common import (  # noqa: E402
    PYTHON,
    ROOT,
    Process,
    Target,
    cpu_seconds,
    database_name,
    durable_name,
    percentile,
    redis_claim,
    run_announce,
)
from bench.web import free_port, prepare, write_section  # noqa: E402
from proto.leaderboard.v1 import leaderboard_pb2 as ours  # noqa: E402
from proto.leaderboard.v1 import leaderboard_pb2_grpc as ours_grpc  # noqa: E402
from proto.leaderboardscoring.v1 import leaderboardscoring_pb2 as rankr  # noqa: E402
from proto.leaderboardscoring.v1 import leaderboardscoring_pb2_grpc as rankr_grpc  # noqa: E402
from scoring.boards import GLOBAL, Board, Timeframe, period_of  # noqa: E402
from scoring.redis_boards.keys import READY_KEY, changed_channel  # noqa: E402

GET_LEADERBOARD = "/leaderboardscoring.v1.LeaderboardScoringService/GetLeaderboard"  # the call's HTTP/2 path
USERS = 5_000
SECTION = "## gRPC"
LIMITS = """
**GetLeaderboard misses its target here** (≥ 5,000 calls/s, p99 ≤ 20 ms). What limits it: the
server's CPU per call, nearly all of it grpc.aio's own (cygrpc's per-call work on each process's
event loop, about 80 % of the samples below; our code, the query parsed and the kept answer
looked up, under 10 %), on two cores shared with h2load and with other people's test suites
(the load average above): one process holds one core at about 4,400 calls/s, two share what
the machine leaves them.
"""
PROFILE = """
Profile (py-spy 0.4.3 in the venv, 2026-12-06, one serve_grpc process under this h2load load,
samples while a thread holds the GIL: `py-spy record -p PID -d 10 -r 200 --gil -f raw`):
before the micro-cache, 60 % of the samples in the reader threads (board_page 22 %: the Redis
slice 8 %, the Postgres names query 9 %), 57 % in `Handle._run` on the event loop (grpc.aio);
after, `Handle._run` (cygrpc, not resolved further: `--native` shows only cygrpc's addresses)
80 %, GetLeaderboard on the loop 7 % (the query parse 3.5 %), the reader threads 1.6 %.

Before and after, one session (2026-12-06 20:56-21:00 UTC, load average about 5, other people's
suites beside it), the same h2load command (`h2load -t 1 -c 50 -m 1 -D 10 -d top50.bin -H
'content-type: application/grpc' -H 'te: trailers' http://HOST:PORT/leaderboardscoring.v1.LeaderboardScoringService/GetLeaderboard`),
server CPU from /proc: before (a reader thread, Redis and Postgres per call, one process) 955
calls/s, p50 51 ms, p99 101 ms, 1,016 µs a call; the micro-cache and no names, one process 4,388
calls/s, p50 10.6 ms, p99 27.6 ms, 236 µs; the same, two processes 4,981, 6,020 and 4,910
calls/s in three runs, p99 22.6, 17.9 and 26.0 ms, 285-324 µs a call. The Python client of
the first figure (815 calls/s) measured its own CPU as much as the server's.
"""


def seed(target: Target) -> Board:
    """Today's global daily board with USERS users, ties included, and the ready sentinel."""
    board = Board(GLOBAL, Timeframe.DAILY, period_of(Timeframe.DAILY, datetime.now(UTC)))
    client = target.redis()
    client.zadd(board.key, {str(user): user // 3 for user in range(1, USERS + 1)})
    client.set(READY_KEY, "bench")
    client.close()
    return board


def framed(message: bytes) -> bytes:
    """A gRPC message on the wire: not compressed (0), its length (4 bytes big-endian), itself."""
    return b"\0" + struct.pack(">I", len(message)) + message


def server_cpu(pid: int) -> float:
    """CPU seconds used so far by serve_grpc and the processes it forked."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return cpu_seconds(pid) + sum(cpu_seconds(int(child)) for child in children)


def unary(address: str, pid: int, callers: int, seconds: float, logs: Path) -> dict[str, float]:
    """h2load: `callers` connections calling GetLeaderboard(daily, top 50) for `seconds`."""
    request = rankr.GetLeaderboardRequest(timeframe=rankr.TIMEFRAME_DAILY, page_size=50)
    with grpc.insecure_channel(address) as channel:  # a real client: the answer h2load must get
        answer = rankr_grpc.LeaderboardScoringServiceStub(channel).GetLeaderboard(request, timeout=10)
    assert len(answer.rows) == 50
    body, log = logs / "top50.bin", logs / "h2load.log"
    body.write_bytes(framed(request.SerializeToString()))
    url = f"http://{address}{GET_LEADERBOARD}"
    argv = ["h2load", "-t", "1", "-c", str(callers), "-m", "1", "-D", str(int(seconds)), "-d", str(body)]
    argv += ["-H", "content-type: application/grpc", "-H", "te: trailers", "--log-file", str(log), url]
    cpu = server_cpu(pid)
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    cpu = server_cpu(pid) - cpu
    done = int(re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out).group(2))
    data = int(re.search(r"traffic: .*\((\d+)\) data", out).group(1))
    expected = len(framed(answer.SerializeToString()))
    assert data == done * expected, f"h2load got {data} bytes of answers, not {done} x {expected}: {out}"
    latencies = sorted(int(line.split()[2]) / 1e6 for line in log.read_text().splitlines())
    return {
        "rate": done / seconds,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "cpu_us": cpu / done * 1e6,
    }


async def watches(address: str, target: Target, board: Board, streams: int, rounds: int) -> list[float]:
    """`streams` watches; per round one change announced: each stream's delay until it shows it."""
    client = target.redis()
    request = ours.WatchLeaderboardRequest(timeframe=ours.TIMEFRAME_DAILY)
    channels = [grpc.aio.insecure_channel(address) for _ in range(10)]
    calls = [ours_grpc.LeaderboardServiceStub(channels[i % 10]).WatchLeaderboard(request) for i in range(streams)]
    marker = 10**15 + 7
    delays: list[float] = []
    try:
        for call in calls:  # the first page, at once
            await asyncio.wait_for(call.read(), 30)
        for score in range(rounds):
            client.zadd(board.key, {str(marker): USERS + score})  # on top: the page changes
            published = time.perf_counter()
            client.publish(changed_channel(target.redis_db), board.key)

            async def seen(call, top: str = str(marker), wanted: int = USERS + score, published=published) -> float:
                while True:
                    page = await asyncio.wait_for(call.read(), 30)
                    if page.rows[0].user_id == top and page.rows[0].score == wanted:
                        return time.perf_counter() - published

            delays += await asyncio.gather(*(seen(call) for call in calls))
            await asyncio.sleep(1.5)  # past the hub's interval: each round is a leading edge
    finally:
        for call in calls:
            call.cancel()
        for channel in channels:
            await channel.close()
        client.close()
    return delays


def loadavg() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--callers", type=int, default=50)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave BENCHMARKS.md")
    args = parser.parse_args()
    target = Target("grpc", database_name("grpc"), redis_claim(13), durable_name("grpc"))
    server = None
    try:
        run_announce(database=target.database, redis_db=target.redis_db)
        prepare(target)
        board = seed(target)
        port = free_port()
        logs = Path(tempfile.mkdtemp(prefix="bench-grpc-"))
        argv = [PYTHON, str(ROOT / "manage.py"), "serve_grpc", "--host", "127.0.0.1", "--port", str(port)]
        server = Process(argv, target.env(LOG_FORMAT="text"), logs / "grpc.log")
        address = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while f"gRPC on {address}" not in server.output():
            if time.monotonic() > deadline or not server.alive():
                raise RuntimeError(f"serve_grpc did not start:\n{server.output()[-2000:]}")
            time.sleep(0.2)
        before = loadavg()
        calls = unary(address, server.proc.pid, args.callers, args.seconds, logs)
        delays = asyncio.run(watches(address, target, board, args.streams, args.rounds))
        after = loadavg()
    finally:
        code = server.stop() if server is not None else None
        target.release()
    rate = calls["rate"]
    text = (
        f"{SECTION}\n\n"
        f"`make bench` runs `bench/grpc.py`: `serve_grpc` as `make run` starts it (GRPC_PROCESSES, 2 processes "
        f"on the port, grpc.aio; the micro-cache at its default) on a daily global board of {USERS:,} users. "
        "GetLeaderboard is driven by h2load (one thread), the watches by grpc.aio clients (one Python "
        "process), on the same 2 cores.\n\n"
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average {before} before, {after} after (the machine is "
        "shared: other people's test suites ran beside it).\n\n"
        "| figure | measured | target |\n|---|---|---|\n"
        f"| GetLeaderboard top-50, {args.callers} concurrent callers (h2load), {args.seconds:.0f} s | {rate:,.0f} "
        f"calls/s, p50 {calls['p50'] * 1000:.1f} ms, p99 {calls['p99'] * 1000:.1f} ms; server CPU "
        f"{calls['cpu_us']:.0f} µs a call | ≥ 5,000 calls/s, p99 ≤ 20 ms |\n"
        f"| {args.streams:,} WatchLeaderboard streams, {args.rounds} changes: publish → page seen | "
        f"p50 {percentile(delays, 0.5) * 1000:.0f} ms, p99 {percentile(delays, 0.99) * 1000:.0f} ms, "
        f"max {max(delays) * 1000:.0f} ms ({len(delays):,} pages) | p99 ≤ 1 s |\n"
        f"\nserve_grpc exited with {code} on SIGTERM (the watches ended first).\n"
    )
    if rate < 5000 or calls["p99"] > 0.020:
        text += LIMITS
    text += PROFILE
    print(text)
    if not args.no_write:
        write_section(text, SECTION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
