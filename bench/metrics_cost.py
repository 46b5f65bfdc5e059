"""What the web metrics cost per request, measured in-process (no sockets, no neighbours' noise
in the figure beyond the CPU it shares): the same micro-cached board page through Django's WSGI
handler, with and without `RequestMetrics`, in prometheus-client's multiprocess mode as gunicorn
runs it. CPU time (process_time) per request; the minimum over rounds is the least disturbed.

    .venv/bin/python bench/metrics_cost.py [--requests 20000] [--rounds 10]

It serves an empty board from a Redis database of its own (claimed like the test runs do, and
emptied afterwards; printed at the start). The page reads no Postgres: its database is named
for the run and never made, so that nothing reaches the service's.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PG_HOST, PG_PORT, PG_USER, REDIS_HOST, REDIS_PORT, database_name, redis_claim, run_announce


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    db = redis_claim(15)
    redis_url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"

    # Before Django and prometheus-client load: multiprocess mode, and the bench's own Redis db.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="metrics-cost-")
    os.environ["REDIS_URL"] = redis_url
    os.environ["DATABASE_URL"] = f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{database_name('metrics_cost')}"
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard_project.settings")
    try:
        run_announce(redis_db=db)
        import django

        django.setup()
        from django.conf import settings
        from django.core.handlers.wsgi import WSGIHandler

        from scoring import redis_boards

        redis_boards.connection().set(redis_boards.READY_KEY, 1)
        handlers = {}
        for name, with_metrics in (("without metrics", False), ("with metrics", True)):
            middleware = [m for m in settings.MIDDLEWARE if with_metrics or not m.endswith(".RequestMetrics")]
            original, settings.MIDDLEWARE = settings.MIDDLEWARE, middleware
            handlers[name] = WSGIHandler()
            settings.MIDDLEWARE = original
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/v1/leaderboard/public",
            "QUERY_STRING": "limit=50",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "HTTP_HOST": "127.0.0.1",
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
        }
        results: dict[str, list[float]] = {name: [] for name in handlers}
        for _ in range(args.rounds):
            for name, handler in handlers.items():
                started = time.process_time()
                for _ in range(args.requests):
                    b"".join(handler({**environ, "wsgi.input": io.BytesIO(b"")}, lambda status, headers: None))
                results[name].append((time.process_time() - started) / args.requests * 1e6)
        for name, values in results.items():
            print(
                f"{name}: CPU per request min {min(values):.1f} us, median {statistics.median(values):.1f} us "
                f"(rounds: {', '.join(f'{v:.0f}' for v in values)})"
            )
        added = min(results["with metrics"]) - min(results["without metrics"])
        print(f"the metrics add {added:.1f} us of CPU per request (min against min)")
    finally:
        redis.Redis.from_url(redis_url).flushdb()  # the sentinel and our claim
    return 0


if __name__ == "__main__":
    sys.exit(main())
