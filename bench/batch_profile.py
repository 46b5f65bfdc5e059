"""Where a batch's milliseconds go: the consumer's write path, in this process, phase by phase.

Generates events (the bench mix), decodes them as the consumer does, and writes them in
batches through the same functions a batch loop calls (`batch_ingest_isolating`), one batch at
a time, timing every SQL statement (by its first words), the COPY, the commits and the Redis
calls. A database and a Redis database of its own (the run's, printed at the start); both are
dropped afterwards.

    .venv/bin/python bench/batch_profile.py [--events 30000] [--batch-size 1000]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import INGEST_MIX, PG_HOST, PG_USER, PYTHON, ROOT, Target, cpu_seconds, in_process_target


class Phases:
    """Wall time and this thread's CPU time per phase name, summed over the batches."""

    def __init__(self) -> None:
        self.seconds: collections.Counter[str] = collections.Counter()
        self.cpu: collections.Counter[str] = collections.Counter()
        self.calls: collections.Counter[str] = collections.Counter()

    @contextlib.contextmanager
    def timed(self, name: str):
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - started
            self.cpu[name] += time.thread_time() - cpu
            self.calls[name] += 1

    def wrap(self, owner, attribute: str, name: str) -> None:
        original = getattr(owner, attribute)

        def timed(*args, **kwargs):
            with self.timed(name):
                return original(*args, **kwargs)

        setattr(owner, attribute, timed)


_AUTO_EXPLAIN = """
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_analyze = on;
SET auto_explain.log_buffers = on;
SET auto_explain.log_triggers = on;
SET auto_explain.log_level = notice
"""


def statement_name(sql: str) -> str:
    words = " ".join(sql.split())
    for marker in ("WITH inserted", "WITH locked", "pg_advisory_xact_lock_shared", "DELETE FROM scoring_unapplied"):
        if marker in words:
            return f"sql: {marker}"
    return "sql: " + words[:60]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--batch-size", type=int, default=1_000)
    parser.add_argument("--explain", type=int, help="print EXPLAIN (ANALYZE, BUFFERS) of batch N's statements")
    parser.add_argument("--setup-sql", default="", help="SQL run after the migrations (to try a schema change)")
    args = parser.parse_args()

    with in_process_target("profile", 13) as (target, _):
        _profile(args, target)


def _profile(args: argparse.Namespace, target: Target) -> None:
    os.environ["LOG_LEVEL"] = "WARNING"
    env = dict(os.environ)
    subprocess.run([PYTHON, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)
    if args.setup_sql:
        subprocess.run(["psql", "-h", PG_HOST, "-U", PG_USER, "-d", target.database, "-qc", args.setup_sql], check=True)
    import django

    django.setup()
    from django.db import connection

    from scoring import redis_boards
    from scoring.event_generator import GeneratorOptions, events_generate
    from scoring.ingest import apply as apply_module
    from scoring.ingest import record as record_module
    from scoring.ingest.messages import batch_items
    from scoring.ingest.poison import batch_ingest_isolating
    from scoring.maintenance.restore import boards_restore

    class Msg:  # what batch_items reads of a NATS message
        subject = "bench"
        metadata = None

        def __init__(self, data: bytes) -> None:
            self.data = data

    boards_restore(only_if_missing=True)
    options = GeneratorOptions(count=args.events, **{**INGEST_MIX, "invalid": 0.0})  # no dead letters here
    messages = [Msg(data) for data in events_generate(options)]
    phases = Phases()

    def wrapper(execute, sql, params, many, context):
        with phases.timed(statement_name(sql)):
            return execute(sql, params, many, context)

    connection.ensure_connection()
    commit = connection.connection.commit

    def timed_commit():
        with phases.timed("commit"):
            return commit()

    connection.connection.commit = timed_commit
    phases.wrap(redis_boards, "boards_apply", "redis: apply (Lua, overlaps the UPDATE)")
    phases.wrap(apply_module.redis_boards, "boards_announce", "redis: announce")
    phases.wrap(apply_module.redis_boards, "pending_clear", "redis: pending_clear")
    phases.wrap(record_module, "events_record", "T1 record (total)")
    phases.wrap(apply_module, "events_apply", "T2 apply (total)")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    plans: list[str] = []  # auto_explain's plans come as notices
    connection.connection.add_notice_handler(
        lambda notice: plans.append(notice.message_primary) if args.explain else None
    )
    started, backend_cpu = time.perf_counter(), cpu_seconds(backend)
    batches = 0
    with connection.execute_wrapper(wrapper):
        for first in range(0, len(messages), args.batch_size):
            explain = batches + 1 == args.explain
            if explain:
                with connection.cursor() as cursor:
                    cursor.execute(_AUTO_EXPLAIN)
            with phases.timed("decode"):
                items = batch_items(messages[first : first + args.batch_size])
            with phases.timed("batch (total)"):
                batch_ingest_isolating(items)
            if explain:
                with connection.cursor() as cursor:
                    cursor.execute("SET auto_explain.log_min_duration = -1")
            batches += 1
    wall, backend_cpu = time.perf_counter() - started, cpu_seconds(backend) - backend_cpu
    rate = args.events / wall
    print(f"{args.events} events in {batches} batches of {args.batch_size}: {wall:.2f}s, {rate:,.0f}/s")
    print(f"Postgres backend CPU: {backend_cpu * 1000 / batches:.1f} ms per batch")
    for plan in plans:
        print(plan)
    print(f"{'phase':<66} {'ms/batch':>9} {'CPU ms':>7} {'calls':>6}")
    for name, seconds in sorted(phases.seconds.items(), key=lambda kv: -kv[1]):
        cpu, calls = phases.cpu[name] * 1000 / batches, phases.calls[name] / batches
        print(f"{name[:66]:<66} {seconds * 1000 / batches:9.2f} {cpu:7.2f} {calls:6.2f}")


if __name__ == "__main__":
    main()
