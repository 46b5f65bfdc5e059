"""Many live streams on one server: latency from the publish, memory per idle stream, and the
API beside them.

    .venv/bin/python bench/streams.py [--streams 1000,10000] [--rate 1000] [--seconds 30]
                                      [--every 1] [--procs 2] [--rounds 2] [--duration 10]
                                      [--one-worker-from 1001] [--profile DIR] [--no-write]

On a database, a Redis database, a JetStream stream and a durable of its own (the run's token,
`bench/common.py`), with one consumer, for each count N of `--streams` it starts gunicorn as
`make run` does (bin/run's flags: 2 workers x 8 threads, the stream worker) — with ONE worker
past 1,000 streams, so that the figure is what one process holds — and then:

1. `--rounds` rounds of: the API's top-50 (`bench/api.py`, wrk, 50 connections) with no
   stream open, then with N idle streams open (on a board nothing changes: heartbeats only;
   measured `SETTLE` seconds after they opened), alternating, so that the neighbours move both
   alike. The first time the N streams open,
   the gunicorn workers' resident memory (VmRSS) and open descriptors are read before and
   once they are all connected: memory per idle stream = the RSS delta / N (later rounds
   reuse what the allocator already has).
2. N streams on the global all-time board, which every batch changes, while `--rate` events/s
   are published (generated events on 20 projects, `manage.py publish_events`, through the
   consumer) for `--seconds`, and a probe event about every `--every` s (+-30 %), from a
   process of its own that notes each probe's publish time (CLOCK_MONOTONIC, which every
   process here reads alike). The probes all score one user (10 points each, 2,000 points
   ahead of everybody: always in the first page), so the probe user's score in an event says
   which probes it reflects: probe k makes the score base + 10 (k + 1). For every stream and
   every probe: the time from the probe's publish to the first `board` event that shows it
   (a probe that no event showed by the end is missed); and for every event that shows a new
   score, the time from the publish of the newest probe it reflects.

The streams are opened from `--procs` client processes (asyncio, one protocol object per
socket and no task per read), each in a session of its own: the kernel's autogroup scheduling
gives a session one share of the CPU, and clients sharing the benchmark's session with the
consumer and the publishers ran seconds late on a busy machine. Each reports its CPU, how late
its loop ran a 20 ms timer and how long it waited for a CPU, so that it is seen not to be the
bottleneck. Their address is 127.0.0.1 for all: the run sets `STREAMS_PER_CLIENT=0` (no
per-address limit; `bench/common.py`) and `STREAMS_TOTAL` to twice the largest N.

With `--profile DIR`, py-spy records each gunicorn worker during the live runs (raw collapsed
stacks, one file per worker). Prints the figures and writes them into the "## Many streams"
section of docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nats

from bench.api import _children
from bench.common import (
    NATS_URL,
    PYTHON,
    ROOT,
    STREAM,
    SUBJECT,
    Process,
    Target,
    cpu_seconds,
    database_name,
    durable_name,
    percentile,
    redis_claim,
    run_announce,
    stream_delete,
    stream_recreate,
)
from bench.web import (
    MARKER_PROJECT,
    MARKER_USER,
    api_figure,
    lift_marker_user,
    marker_score,
    prepare,
    start_server,
    write_section,
)
from proto.contributions.v1 import contribution_pb2 as pb
from scoring.event_generator import event_build

SECTION = "## Many streams"
BUSY_QUERY = "timeframe=all_time"  # the global all-time board: every batch changes it
IDLE_QUERY = f"project_id={MARKER_PROJECT - 2}"  # a board no event changes
LIFT_EVENTS = 200  # the probe user's lead: 2,000 points
CONNECTING = 64  # streams a client process opens at once (the gate holds 256 per peer)
SETTLE = 8.0  # seconds between the idle streams' opening and the API's run beside them


# ---- the client processes


class Probe(asyncio.Protocol):
    """One stream. The read callback only counts events and finds the probe user's score
    (bytes operations in C); nothing is parsed or kept beyond the first time of each score."""

    __slots__ = ("events", "head", "last", "ready", "seen", "status", "tail", "transport")
    PATTERN = re.compile(rb'"user_id":"%d","score":(\d+)' % MARKER_USER)

    def __init__(self, ready: asyncio.Future) -> None:
        self.ready, self.head, self.status, self.tail = ready, b"", 0, b""
        self.events, self.last = 0, -1
        self.seen: list[tuple[int, float]] = []  # (a new score of the probe user, when first seen)

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if not self.status:
            self.head += data
            if b"\r\n\r\n" not in self.head:
                return
            head, data = self.head.split(b"\r\n\r\n", 1)
            self.status, self.head = int(head.split(b" ", 2)[1]), b""
            if not self.ready.done():
                self.ready.set_result(self.status)
            if self.status != 200:
                self.transport.close()
                return
        chunk = self.tail + data
        self.events += chunk.count(b"event: board") - self.tail.count(b"event: board")
        found = self.PATTERN.findall(chunk)
        if found:
            score = int(found[-1])
            if score > self.last:
                self.last = score
                self.seen.append((score, now))
        self.tail = chunk[-96:]

    def connection_lost(self, exc) -> None:
        if not self.ready.done():
            self.ready.set_result(0)


def cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def runqueue_seconds() -> float:
    """How long this process has waited for a CPU while runnable, so far (Linux schedstat)."""
    try:
        return int(Path("/proc/self/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return float("nan")


async def client_main(port: int, query: str, count: int) -> None:
    """Open `count` streams, print `connected N refused N`; on `go`, start counting (CPU, events);
    on `stop <probes as JSON>`, close them and print the figures as one JSON line."""
    loop = asyncio.get_running_loop()
    probes: list[Probe] = []
    gate = asyncio.Semaphore(CONNECTING)

    async def open_one() -> None:
        async with gate:
            ready = loop.create_future()
            try:
                _, probe = await loop.create_connection(lambda: Probe(ready), "127.0.0.1", port)
            except OSError:
                return
            probe.transport.write(f"GET /v1/stream?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            probes.append(probe)
            await asyncio.wait_for(ready, 30)

    results = await asyncio.gather(*(open_one() for _ in range(count)), return_exceptions=True)
    connected = sum(p.status == 200 for p in probes)
    failed = sum(isinstance(result, Exception) for result in results)
    print(f"connected {connected} refused {len(probes) - connected} failed {failed}", flush=True)
    lags: list[float] = []

    async def lag_monitor() -> None:  # how late the client's loop runs a 20 ms timer
        while True:
            due = time.perf_counter() + 0.02
            await asyncio.sleep(0.02)
            lags.append(time.perf_counter() - due)

    monitor = asyncio.ensure_future(lag_monitor())
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    started_wall, started_cpu, started_wait = time.perf_counter(), cpu_now(), runqueue_seconds()
    while line := (await stdin.readline()).decode():
        if line.startswith("go"):
            started_wall, started_cpu, started_wait = time.perf_counter(), cpu_now(), runqueue_seconds()
            lags.clear()
            for probe in probes:
                probe.events, probe.seen = 0, []
        elif line.startswith("stop"):
            published = json.loads(line.split(" ", 1)[1]) if " " in line else []
            wall, cpu = time.perf_counter() - started_wall, cpu_now() - started_cpu
            lost = sum(p.transport.is_closing() for p in probes if p.status == 200)
            monitor.cancel()
            for probe in probes:
                probe.transport.close()
            figures = client_figures(probes, published, wall, cpu, lost)
            figures["lag_ms"] = [percentile(lags, 0.99) * 1000, max(lags, default=0) * 1000]
            figures["waited"] = runqueue_seconds() - started_wait
            if os.environ.get("BENCH_STREAMS_DUMP"):
                by_score: dict[int, list[float]] = {}
                for probe in probes:
                    for score, at in probe.seen:
                        by_score.setdefault(score, []).append(at)
                dump = {score: [min(t), max(t), len(t)] for score, t in by_score.items()}
                Path(os.environ["BENCH_STREAMS_DUMP"], f"{os.getpid()}.json").write_text(json.dumps(dump))
            print(json.dumps(figures), flush=True)
            return


def client_figures(probes: list[Probe], published: list[list[float]], wall: float, cpu: float, lost: int) -> dict:
    """`published`: [score the probe makes, its publish time] in publish order."""
    scores = [score for score, _ in published]
    change, event, missed = [], [], 0
    first_seen: dict[int, list[float]] = {}  # probe index -> the times its first showing reached each stream
    for probe in (p for p in probes if p.status == 200):
        seen = probe.seen
        shown_scores = [score for score, _ in seen]
        for index, (score, at) in enumerate(published):
            position = bisect_left(shown_scores, score)  # the first event showing this probe
            if position == len(seen):
                missed += 1
                continue
            change.append((seen[position][1] - at) * 1000)
            first_seen.setdefault(index, []).append(seen[position][1])
        for score, when in seen:
            newest = bisect_right(scores, score) - 1
            if newest >= 0:
                event.append((when - published[newest][1]) * 1000)
    return {
        "change_ms": change,
        "event_ms": event,
        "missed": missed,
        "events": sum(p.events for p in probes),
        "streams": sum(p.status == 200 for p in probes),
        "lost": lost,
        "wall": wall,
        "cpu": cpu,
        "spread": {index: [min(times), max(times)] for index, times in first_seen.items()},
    }


class Clients:
    """`count` streams on `query`, opened from `procs` client processes."""

    def __init__(self, url: str, query: str, count: int, procs: int, env: dict) -> None:
        port = int(url.rsplit(":", 1)[1])
        shares = [count // procs + (1 if n < count % procs else 0) for n in range(procs)]
        argv = [PYTHON, str(Path(__file__)), "--client", str(port), query]
        # each in a session of its own: with the kernel's autogroup scheduling a session shares
        # one slice of the CPU, and the clients are not to share theirs with this process's others
        pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True, "start_new_session": True}
        self.procs = [subprocess.Popen([*argv, str(share)], cwd=ROOT, env=env, **pipes) for share in shares if share]
        self.connected = self.refused = self.failed = 0
        for proc in self.procs:
            line = proc.stdout.readline().split()
            if not line:
                raise RuntimeError("a client process ended before its streams connected")
            self.connected += int(line[1])
            self.refused += int(line[3])
            self.failed += int(line[5])

    def go(self) -> None:
        for proc in self.procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()

    def stop(self, published: list[tuple[int, float]] | None = None) -> list[dict]:
        line = "stop " + json.dumps(published or []) + "\n"
        for proc in self.procs:
            proc.stdin.write(line)
            proc.stdin.flush()
        results = [json.loads(proc.stdout.readline()) for proc in self.procs]
        for proc in self.procs:
            proc.stdin.close()
            proc.wait(30)
        return results


# ---- the server side


def workers(server: Process) -> list[int]:
    return _children(server.proc.pid)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@dataclass
class Idle:
    """The API's rounds without and with N idle streams, and what the streams cost at rest."""

    without: list[float] = field(default_factory=list)  # req/s
    with_streams: list[float] = field(default_factory=list)
    cpu_without: list[float] = field(default_factory=list)  # gunicorn's CPU per request, us
    cpu_with: list[float] = field(default_factory=list)
    connected: list[int] = field(default_factory=list)
    rss_before_kib: int = 0
    rss_after_kib: int = 0
    fds_before: int = 0
    fds_after: int = 0
    open_seconds: float = 0.0
    output: list[str] = field(default_factory=list)
    load: tuple[float, float] = (0.0, 0.0)


def idle_rounds(target: Target, url: str, server: Process, count: int, args, env: dict) -> Idle:
    idle = Idle()
    load_before = os.getloadavg()[0]
    for n in range(1, args.rounds + 1):
        output, rps, cpu = api_figure(target, url, server, 1, args.duration)
        idle.without.append(rps)
        idle.cpu_without.append(cpu)
        idle.output.append(f"N={count}, round {n}, no stream open:\n{output}")
        pids = workers(server)
        if n == 1:
            time.sleep(1)
            idle.rss_before_kib, idle.fds_before = sum(map(rss_kib, pids)), sum(map(fds, pids))
        started = time.perf_counter()
        clients = Clients(url, IDLE_QUERY, count, args.procs, env)
        if n == 1:
            idle.open_seconds = time.perf_counter() - started
            time.sleep(2)
            idle.rss_after_kib, idle.fds_after = sum(map(rss_kib, pids)), sum(map(fds, pids))
        # Opening 10,000 streams makes 120,000 objects in the worker, and the full garbage
        # collections their arrival sets off (0.1-0.3 s each, every thread stopped) run for a few
        # seconds after: the API is measured beside streams that are open, not opening.
        time.sleep(SETTLE)
        idle.connected.append(clients.connected)
        try:
            output, rps, cpu = api_figure(target, url, server, 1, args.duration)
        finally:
            clients.stop()
        idle.with_streams.append(rps)
        idle.cpu_with.append(cpu)
        idle.output.append(f"N={count}, round {n}, {clients.connected} idle streams open:\n{output}")
        print(idle.output[-2] + "\n" + idle.output[-1], flush=True)
        time.sleep(2)  # the slots are given back
    idle.load = (load_before, os.getloadavg()[0])
    return idle


def probes_publish(every: float, seconds: float) -> None:
    """Publish a probe event every `every` s (+-30 %) for `seconds`; print "n perf_counter"
    for each, taken just before its publish."""

    async def publish() -> None:
        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        token = uuid.uuid4().hex[:8]
        end = time.perf_counter() + seconds
        await asyncio.sleep(every * random.uniform(0.5, 1.5))
        n = 0
        while time.perf_counter() < end:
            event = event_build(
                event_id=f"probe-{token}-{n}",
                kind=pb.PULL_REQUEST_CLOSED,
                user_id=MARKER_USER,
                project_id=MARKER_PROJECT,
                occurred_at=datetime.now(UTC),
            )
            data = event.SerializeToString()
            print(n, time.perf_counter(), flush=True)
            await js.publish(SUBJECT, data)
            n += 1
            await asyncio.sleep(every * random.uniform(0.7, 1.3))
        await nc.close()

    asyncio.run(publish())


@dataclass
class Live:
    streams: int
    connected: int
    refused: int
    open_seconds: float
    published: int
    publish_rate: float
    probes: int
    change_ms: list[float]
    event_ms: list[float]
    missed: int
    lost: int
    events_per_stream_s: float
    client_cpu: list[float]  # each client process's CPU, as a share of one core
    client_lag_ms: list[list[float]]  # each client process's loop lag: p99, max
    client_waited: list[float]  # each client process's time runnable but waiting for a CPU, a share of the run
    worker_cpu: float  # the gunicorn workers' CPU, as a share of one core
    consumer_cpu: float
    first_ms: list[float]  # per probe: publish to the first stream showing it
    spread_ms: list[float]  # per probe: from the first stream to the last
    load: tuple[float, float]


def live_run(url: str, server: Process, consumer: Process, count: int, args, env: dict) -> Live:
    load_before = os.getloadavg()[0]
    base = marker_score(url, "")
    started = time.perf_counter()
    clients = Clients(url, BUSY_QUERY, count, args.procs, env)
    open_seconds = time.perf_counter() - started
    time.sleep(2)  # every stream has had its first event
    try:
        clients.go()
        pids = workers(server)
        cpu_before = [sum(map(cpu_seconds, pids)), cpu_seconds(consumer.proc.pid)]
        spy = [str(Path(PYTHON).parent / "py-spy"), "record", "--nonblocking", "--threads", "--format", "raw"]
        spy += ["-d", str(int(args.seconds))]
        profilers = [
            subprocess.Popen(
                [*spy, "-p", str(pid), "-o", str(Path(args.profile) / f"{count}-{pid}.txt")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for pid in (pids if args.profile else [])
        ]
        wall = time.perf_counter()
        total = int(args.rate * args.seconds)
        ingest = subprocess.Popen(
            [PYTHON, str(ROOT / "manage.py"), "publish_events", "--count", str(total), "--rate", str(args.rate),
             "--users", "2000", "--projects", "20", "--days", "1", "--duplicates", "0", "--invalid", "0",
             "--seed", str(random.randrange(10**9))],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        probing = subprocess.Popen(
            [PYTHON, str(Path(__file__)), "--probes", str(args.every), str(args.seconds)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        output, _ = ingest.communicate()
        marked, _ = probing.communicate()
        for profiler in profilers:
            profiler.wait(30)
        time.sleep(3)  # the last probe reaches every stream
        wall = time.perf_counter() - wall
        cpu_after = [sum(map(cpu_seconds, pids)), cpu_seconds(consumer.proc.pid)]
    except BaseException:
        clients.stop()
        raise
    published = [
        (base + 10 * (int(n) + 1), float(at)) for n, at in (line.split() for line in marked.splitlines() if line)
    ]
    results = clients.stop(published)
    found = re.search(r"published (\d+) events in [\d.]+s \(([\d.]+)/s\)", output)
    count_published, rate = (int(found.group(1)), float(found.group(2))) if found else (0, float("nan"))
    first, spread = [], []
    for index in range(len(published)):
        spans = [r["spread"][str(index)] for r in results if str(index) in r["spread"]]
        if spans:
            earliest, latest = min(s[0] for s in spans), max(s[1] for s in spans)
            first.append((earliest - published[index][1]) * 1000)
            spread.append((latest - earliest) * 1000)
    streams = sum(r["streams"] for r in results)
    return Live(
        streams=count,
        connected=clients.connected,
        refused=clients.refused,
        open_seconds=open_seconds,
        published=count_published,
        publish_rate=rate,
        probes=len(published),
        change_ms=[x for r in results for x in r["change_ms"]],
        event_ms=[x for r in results for x in r["event_ms"]],
        missed=sum(r["missed"] for r in results),
        lost=sum(r["lost"] for r in results),
        events_per_stream_s=sum(r["events"] for r in results)
        / max(streams, 1)
        / statistics.mean(r["wall"] for r in results),
        client_cpu=[r["cpu"] / r["wall"] for r in results],
        client_lag_ms=[r["lag_ms"] for r in results],
        client_waited=[r["waited"] / r["wall"] for r in results],
        worker_cpu=(cpu_after[0] - cpu_before[0]) / wall,
        consumer_cpu=(cpu_after[1] - cpu_before[1]) / wall,
        first_ms=first,
        spread_ms=spread,
        load=(load_before, os.getloadavg()[0]),
    )


def _ms(values: list[float]) -> str:
    if not values:
        return "none"
    return f"p50 {percentile(values, 0.5):,.0f} ms, p99 {percentile(values, 0.99):,.0f} ms, max {max(values):,.0f} ms"


def describe_live(live: Live) -> str:
    per_write = live.worker_cpu / max(live.events_per_stream_s * live.connected, 1e-9) * 1e6
    return (
        f"{live.connected:,}/{live.streams:,} streams on `{BUSY_QUERY}` (opened in {live.open_seconds:.1f} s, "
        f"{live.refused} refused); ingest {live.publish_rate:,.0f} events/s ({live.published:,} events), "
        f"{live.probes} probes. Change seen, per stream and probe ({len(live.change_ms):,}): "
        f"{_ms(live.change_ms)}; {live.missed} missed, {live.lost} streams lost. Per event showing a new score, "
        f"from the newest probe it reflects ({len(live.event_ms):,}): {_ms(live.event_ms)}. Per probe, publish to "
        f"the first stream: {_ms(live.first_ms)}; first stream to last: {_ms(live.spread_ms)}. "
        f"{live.events_per_stream_s:.2f} board events/s per stream. CPU (share of one core): gunicorn "
        f"{live.worker_cpu:.2f} ({per_write:.0f} us per event written to a stream, reads included), "
        f"consumer {live.consumer_cpu:.2f}, client processes "
        f"{', '.join(f'{c:.2f}' for c in live.client_cpu)} (their loops late by at most "
        f"{', '.join(f'{lag[1]:.0f}' for lag in live.client_lag_ms)} ms, waiting for a CPU "
        f"{', '.join(f'{w:.0%}' for w in live.client_waited)} of the time); load {live.load[0]:.1f}-{live.load[1]:.1f}"
    )


def describe_idle(count: int, idle: Idle) -> str:
    per_stream = (idle.rss_after_kib - idle.rss_before_kib) * 1024 / max(idle.connected[0], 1)
    without, with_streams = statistics.median(idle.without), statistics.median(idle.with_streams)
    return (
        f"{_span(idle.connected)} idle streams opened in {idle.open_seconds:.1f} s; gunicorn workers' RSS "
        f"{idle.rss_before_kib / 1024:,.1f} → {idle.rss_after_kib / 1024:,.1f} MiB: **{per_stream / 1024:,.1f} KiB "
        f"per idle stream**; descriptors {idle.fds_before:,} → {idle.fds_after:,}. API top-50 without streams "
        f"{_list(idle.without)} req/s, with {_list(idle.with_streams)} req/s: medians "
        f"{(with_streams - without) / without * 100:+.1f} %; gunicorn CPU per request "
        f"{statistics.median(idle.cpu_without):.0f} → {statistics.median(idle.cpu_with):.0f} us; load "
        f"{idle.load[0]:.1f}-{idle.load[1]:.1f}"
    )


def _span(values: list[int]) -> str:
    return f"{min(values):,}" if min(values) == max(values) else f"{min(values):,}-{max(values):,}"


def _list(values: list[float]) -> str:
    return ", ".join(f"{v:,.0f}" for v in values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", default="1000,10000", help="stream counts, comma-separated")
    parser.add_argument("--rate", type=float, default=1000.0, help="ingest events/s during the live run")
    parser.add_argument("--seconds", type=float, default=30.0, help="ingest time per live run")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between probes (+-30 %%)")
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument("--rounds", type=int, default=2, help="API rounds without/with the idle streams")
    parser.add_argument("--duration", type=int, default=10, help="seconds per API run (wrk)")
    parser.add_argument("--one-worker-from", type=int, default=1001, help="one gunicorn worker from this many streams")
    parser.add_argument("--profile", help="a directory: py-spy records the gunicorn workers during the live runs")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    counts = [int(n) for n in args.streams.split(",")]
    started, load_start = datetime.now(UTC), os.getloadavg()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the server and the clients inherit it

    logs = Path(tempfile.mkdtemp(prefix="bench-streams-"))
    target = Target("streams", database_name("streams"), redis_claim(11), durable_name("streams"))
    env = target.env(STREAMS_TOTAL=str(2 * max(counts)))
    consumer = None
    figures: list[tuple[int, int, Idle, Live]] = []
    try:
        run_announce(
            stream=STREAM, subject=SUBJECT, durable=target.durable, database=target.database, redis_db=target.redis_db
        )
        print(f"logs in {logs}; load {load_start[0]:.2f}; descriptors {hard:,}", flush=True)
        prepare(target)
        stream_recreate()
        consumer = Process([PYTHON, str(ROOT / "manage.py"), "consume_contributions"], env, logs / "consumer.log")
        lifted = False
        for count in counts:
            worker_count = 1 if count >= args.one_worker_from else 2
            server, url = start_server(_Env(env), logs, workers=worker_count)
            try:
                if not lifted:
                    lift_marker_user(target, url, merged=LIFT_EVENTS, timeout=60)  # the probe user
                    lifted = True
                print(f"N={count}: {worker_count} gunicorn worker(s); API rounds with and without idle streams")
                idle = idle_rounds(target, url, server, count, args, env)
                print(describe_idle(count, idle), flush=True)
                print(f"N={count}: live run, ingest {args.rate:,.0f}/s for {args.seconds:.0f} s", flush=True)
                live = live_run(url, server, consumer, count, args, env)
                print(describe_live(live), flush=True)
                figures.append((count, worker_count, idle, live))
            finally:
                server.stop()
    finally:
        if consumer is not None:
            consumer.stop()
        stream_delete()
        target.release()
    text = section(args, started, load_start[0], os.getloadavg()[0], figures)
    print("\n" + text)
    if not args.no_write:
        write_section(text, SECTION)
    return 0


class _Env:
    """A `Target` for `bench.web.start_server` with this run's environment (STREAMS_TOTAL)."""

    def __init__(self, env: dict) -> None:
        self._env = env

    def env(self) -> dict:
        return self._env


def section(args, started: datetime, load_start: float, load_end: float, figures) -> str:
    lines = [
        SECTION,
        "",
        f"`bench/streams.py --streams {args.streams} --rate {args.rate:.0f} --seconds {args.seconds:.0f} "
        f"--rounds {args.rounds}`, started {started:%Y-%m-%d %H:%M} UTC; 2 cores shared with whatever else runs: "
        f"load average {load_start:.1f} at the start, {load_end:.1f} at the end (the benchmark's own processes "
        "count: the client processes, wrk, the publisher, the consumer). gunicorn with bin/run's flags (8 threads, "
        f"the stream worker; one worker from {args.one_worker_from:,} streams), {args.procs} client processes on "
        "127.0.0.1, each in a session of its own (`STREAMS_PER_CLIENT=0`, `STREAMS_TOTAL` twice the largest count).",
        "",
        f"**Live**: the streams on the global all-time board while {args.rate:,.0f} events/s are ingested and a probe "
        f"is published about every {args.every:g} s; latency from each probe's publish to the first `board` event "
        "showing it, for every stream and probe.",
        "",
        "| streams | workers | change seen: p50 / p99 / max | missed | first stream to last, p99 | "
        "board events/s a stream | gunicorn CPU (a core's share; per event written) | client processes: CPU, "
        "loop late by at most, waiting for a CPU |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for _, workers_, _, live in figures:
        per_write = live.worker_cpu / max(live.events_per_stream_s * live.connected, 1e-9) * 1e6
        clients = "; ".join(
            f"{cpu:.2f}, {lag[1]:.0f} ms, {waited:.0%}"
            for cpu, lag, waited in zip(live.client_cpu, live.client_lag_ms, live.client_waited, strict=True)
        )
        lines.append(
            f"| {live.connected:,} | {workers_} | **{percentile(live.change_ms, 0.5):,.0f} / "
            f"{percentile(live.change_ms, 0.99):,.0f} / {max(live.change_ms, default=0):,.0f} ms** | "
            f"{live.missed} of {len(live.change_ms) + live.missed:,} | {percentile(live.spread_ms, 0.99):,.0f} ms | "
            f"{live.events_per_stream_s:.2f} | {live.worker_cpu:.2f}; {per_write:.0f} us | {clients} |"
        )
    lines += [
        "",
        f"**Idle**: N streams open on a board nothing changes; the API's top-50 (`bench/api.py`, wrk, 50 "
        f"connections, {args.duration} s) in {args.rounds} alternating rounds without and with them "
        f"(measured {SETTLE:g} s after they opened: their opening sets off full garbage collections).",
        "",
        "| streams | opened in | gunicorn RSS before → after | **per idle stream** | descriptors | API req/s "
        "without | with | medians | gunicorn CPU a request, without → with |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for _, _, idle, _ in figures:
        per_stream = (idle.rss_after_kib - idle.rss_before_kib) / max(idle.connected[0], 1)
        without, with_streams = statistics.median(idle.without), statistics.median(idle.with_streams)
        lines.append(
            f"| {idle.connected[0]:,} | {idle.open_seconds:.1f} s | {idle.rss_before_kib / 1024:,.1f} → "
            f"{idle.rss_after_kib / 1024:,.1f} MiB | **{per_stream:.1f} KiB** | {idle.fds_before:,} → "
            f"{idle.fds_after:,} | {_list(idle.without)} | {_list(idle.with_streams)} | "
            f"{(with_streams - without) / without * 100:+.1f} % | {statistics.median(idle.cpu_without):.0f} → "
            f"{statistics.median(idle.cpu_with):.0f} us |"
        )
    lines += ["", "In full:", ""]
    for count, _, idle, live in figures:
        lines += [f"- {count:,}, idle: {describe_idle(count, idle)}", f"- {count:,}, live: {describe_live(live)}"]
    lines += ["", "`bench/api.py`, round by round:", "", "```"]
    for _, _, idle, _ in figures:
        lines += idle.output
    lines += ["```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        asyncio.run(client_main(int(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
    elif len(sys.argv) > 1 and sys.argv[1] == "--probes":
        probes_publish(float(sys.argv[2]), float(sys.argv[3]))
    else:
        sys.exit(main())
