"""Pull and ack alone: the CPU per message of the consumer's NATS side (`JetStreamSource`: its
pull requests, nats-py's parsing of the deliveries, the acks), without Postgres or Redis.

`--acks batched` writes a batch's acks as one buffer of `PUB <reply> 0` lines through nats-py's
private `_send_command`, instead of a `msg.ack()` per message: a candidate measured beside the
service's way, not the service's code (docs/BENCHMARKS.md, "Ingest"). Each round drains the same
generated events (`bench/run.py`'s mix) once each way, alternating, on the run's own stream.

    .venv/bin/python bench/pull_ack.py [--events 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    INGEST_MIX,
    NATS_URL,
    STREAM,
    SUBJECT,
    Durables,
    durable_name,
    run_announce,
    stream_delete,
    stream_recreate,
)

DURABLE = durable_name("pull")
os.environ.update(
    NATS_URL=NATS_URL,
    NATS_STREAM=STREAM,
    NATS_SUBJECT=SUBJECT,
    NATS_DURABLE=DURABLE,
    DJANGO_SETTINGS_MODULE="leaderboard_project.settings",
    DJANGO_SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", "bench"),
)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from scoring.event_generator import GeneratorOptions, events_generate, events_publish  # noqa: E402
from scoring.jetstream.source import JetStreamSource  # noqa: E402


async def _acks_batched(source: JetStreamSource, msgs: list) -> None:
    await source.nc._send_command(b"".join(b"PUB %s 0\r\n\r\n" % msg.reply.encode() for msg in msgs))
    await source.nc._flush_pending()


def drain(events: int, acks: str) -> float:
    """Pull and ack `events` messages in the consumer's batches; CPU seconds of this process
    (the NATS thread's work, almost all of it) per message."""
    source = JetStreamSource()
    source.connect()
    try:
        started = resource.getrusage(resource.RUSAGE_SELF)
        got = 0
        while got < events:
            msgs = source.fetch_start(settings.CONSUMER_BATCH_SIZE, 1.0).result()
            got += len(msgs)
            if acks == "batched":
                source.loop.submit(_acks_batched(source, msgs))
            else:
                source.ack(msgs)
        source.loop.run(source.nc.flush(), timeout=30)
        ended = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        source.close()
    asyncio.run(_until_acked())
    return (ended.ru_utime + ended.ru_stime - started.ru_utime - started.ru_stime) / got


async def _until_acked() -> None:
    async with Durables() as durables:
        deadline = time.monotonic() + 30
        while not (await durables.state(DURABLE)).drained:
            if time.monotonic() > deadline:
                raise SystemExit("the durable still has unacked messages after 30 s: an ack was lost")
            await asyncio.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    run_announce(stream=STREAM, durable=DURABLE)
    messages = list(events_generate(GeneratorOptions(count=args.events, **INGEST_MIX)))
    cpu: dict[str, list[float]] = {"each": [], "batched": []}
    try:
        for round_ in range(1, args.rounds + 1):
            for acks in cpu:
                stream_recreate()
                events_publish(iter(messages))
                cpu[acks].append(drain(len(messages), acks))
                print(f"round {round_}: acks {acks}: {cpu[acks][-1] * 1e6:.1f} us of CPU per message", flush=True)
    finally:
        stream_delete()
    for acks, values in cpu.items():
        print(f"acks {acks}: median {statistics.median(values) * 1e6:.1f} us per message ({len(values)} rounds)")


if __name__ == "__main__":
    main()
