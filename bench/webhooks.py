"""GitHub webhook deliveries: signed POSTs to /v1/webhooks/github, each acknowledged by JetStream.

    .venv/bin/python bench/webhooks.py [--connections 6] [--duration 10] [--runs 3] [--threads 2]

Starts a gunicorn of its own on a free port, as `make run` starts it (2 gthread workers of 8
threads), with a secret, a stream and a Redis db of its own (the stream named by the run's
token, `bench/common.py`, and deleted afterwards; the Redis db claimed as the test runs claim
theirs; both printed at the start: the service's stream and Redis are never touched; no
database is made, the webhook needs none), and drives it with `wrk`: every request is GitHub's
`pull_request` `opened` example, signed, with a delivery GUID of its own, so each one is a new
event that JetStream must store and acknowledge before the 202. After each run the stream
must hold exactly one message per 202 (the `Nats-Msg-Id` dedup would hide a repeated GUID).

Prints deliveries/s and p50/p99 latency per run and the median; exit 1 on any non-202 answer
or a stream count that disagrees. The machine is shared: figures move with the neighbours, so
it also prints the CPU time one delivery costs (gunicorn's workers and wrk; the shared
nats-server is not counted) and the deliveries/s two idle cores could serve at that cost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import nats
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api import children_cpu, process_tree_cpu  # noqa: E402
from bench.common import (  # noqa: E402
    PYTHON,
    STREAM,
    SUBJECT,
    Target,
    database_name,
    durable_name,
    redis_claim,
    redis_release,
    run_announce,
)
from github.signatures import signature_of  # noqa: E402 - after the path is set

NATS_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
SECRET = "bench-webhook-secret"
PAYLOAD = ROOT / "tests" / "fixtures" / "github" / "payloads" / "pull_request.opened.json"
PATH = "/v1/webhooks/github"

# wrk's request generator: the same signed body, a new X-GitHub-Delivery on every request
# (the signature covers the body only, as on GitHub).
LUA = """
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  prefix = args[1] .. "-" .. tid .. "-"
  local f = io.open(args[2], "rb")
  body = f:read("*a")
  f:close()
  signature = args[3]
end
function request()
  counter = counter + 1
  return wrk.format("POST", "%(path)s", {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "GitHub-Hookshot/bench",
    ["X-GitHub-Event"] = "pull_request",
    ["X-GitHub-Delivery"] = prefix .. counter,
    ["X-Hub-Signature-256"] = signature,
  }, body)
end
"""


@dataclass
class Run:
    deliveries_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    stored: int
    cpu_us: float = 0.0  # gunicorn's workers and wrk, per delivery


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


async def _stream(action: str) -> int:
    nc = await nats.connect(NATS_URL)
    try:
        js = nc.jetstream()
        if action in ("reset", "delete"):
            with contextlib.suppress(NotFoundError):
                await js.delete_stream(STREAM)
            if action == "reset":
                await js.add_stream(StreamConfig(name=STREAM, subjects=[SUBJECT]))
            return 0
        return (await js.stream_info(STREAM)).state.messages
    finally:
        await nc.close()


def stream(action: str) -> int:
    return asyncio.run(_stream(action))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_start(target: Target, port: int, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in target.env(NATS_URL=NATS_URL).items() if not k.startswith("GITHUB_WEBHOOK")}
    env["GITHUB_WEBHOOK_SECRET"] = SECRET
    argv = [str(Path(PYTHON).parent / "gunicorn"), "leaderboard_project.wsgi", "--bind", f"127.0.0.1:{port}"]
    argv += ["--workers", "2", "--worker-class", "gthread", "--threads", "8", "--log-level", "warning"]
    with open(log, "wb") as out:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def warm_up(url: str, body: bytes) -> None:
    """Wait for the server, and let every worker open its NATS connection (the first delivery
    of a worker connects); the warm-up deliveries are not counted."""
    deadline = time.monotonic() + 30
    answered = 0
    while time.monotonic() < deadline and answered < 50:
        request = urllib.request.Request(
            url,
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-GitHub-Event": "pull_request",
                "X-GitHub-Delivery": f"warm-{uuid.uuid4()}",
                "X-Hub-Signature-256": signature_of(body, SECRET),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 202:
                    answered += 1
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    if answered < 50:
        raise SystemExit(f"the webhook at {url} did not answer 202 within 30 s")


def run_wrk(url: str, script: Path, body_file: Path, signature: str, args, n: int, server_pid: int) -> Run:
    stream("reset")
    cpu_before = process_tree_cpu(server_pid) + children_cpu()
    prefix = f"bench-{uuid.uuid4().hex[:8]}-{n}"
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency"]
    command += ["-s", str(script), url, "--", prefix, str(body_file), signature]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    latency = dict(re.findall(r"^\s*(50|99)%\s+([\d.]+(?:us|ms|s))\s*$", output, re.MULTILINE))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    errors = sum(int(k) for k in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    errors += sum(int(k) for k in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    cpu = process_tree_cpu(server_pid) + children_cpu() - cpu_before
    return Run(
        deliveries_per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        p50_ms=_ms(latency["50"]),
        p99_ms=_ms(latency["99"]),
        requests=requests,
        errors=errors,
        stored=stream("count"),
        cpu_us=cpu / max(requests, 1) * 1e6,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=6, help="concurrent deliveries (default 6)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    args = parser.parse_args()

    body = PAYLOAD.read_bytes()
    port = free_port()
    url = f"http://127.0.0.1:{port}{PATH}"
    work = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    script = work / "deliveries.lua"
    script.write_text(LUA % {"path": PATH})
    # The database is named, never made: the webhook reads none, and nothing reaches the service's.
    target = Target("webhooks", database_name("webhooks"), redis_claim(13), durable_name("webhooks"))
    server = None
    runs: list[Run] = []
    try:
        run_announce(stream=STREAM, subject=SUBJECT, redis_db=target.redis_db)
        stream("reset")
        server = server_start(target, port, work / "server.log")
        warm_up(url, body)
        for n in range(1, args.runs + 1):
            run = run_wrk(url, script, PAYLOAD, signature_of(body, SECRET), args, n, server.pid)
            runs.append(run)
            # wrk counts the answers it read; a request cut off at the end may still be stored
            agrees = run.requests <= run.stored <= run.requests + args.connections
            print(
                f"run {n}: {run.deliveries_per_second:,.0f} deliveries/s  p50 {run.p50_ms:.2f} ms"
                f"  p99 {run.p99_ms:.2f} ms  answered 202: {run.requests - run.errors}  errors {run.errors}"
                f"  in the stream: {run.stored}{'' if agrees else '  MISMATCH'}  CPU {run.cpu_us:.0f} us/delivery"
                f"  (load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        stream("delete")
        redis_release(target.redis_db)
    rates = [r.deliveries_per_second for r in runs]
    p99 = [r.p99_ms for r in runs]
    print(
        f"POST /v1/webhooks/github (pull_request opened, {len(body):,} bytes, signed), {args.connections} connections,"
        f" each acknowledged by JetStream: median {statistics.median(rates):,.0f} deliveries/s"
        f" (range {min(rates):,.0f}-{max(rates):,.0f}), p99 median {statistics.median(p99):.2f} ms"
        f" (range {min(p99):.2f}-{max(p99):.2f})"
    )
    cpu = statistics.median(r.cpu_us for r in runs)
    cores = os.cpu_count() or 1
    print(
        f"CPU per delivery (gunicorn + wrk): median {cpu:.0f} us: {cores} idle cores would serve about"
        f" {cores / cpu * 1e6:,.0f} deliveries/s"
    )
    ok = all(r.errors == 0 and r.requests <= r.stored <= r.requests + args.connections for r in runs)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
