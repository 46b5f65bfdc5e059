"""The commands nothing else runs: `publish_events`, `ensure_database`, and the stream (and
durable) a starting consumer creates — against the real NATS and Postgres."""

from __future__ import annotations

import asyncio
import gc
import io
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from proto.contributions.v1 import contribution_pb2 as pb
from scoring.management.commands.consume_contributions import GC_THRESHOLD, collector_tuned
from tests.clock import START
from tests.fixtures import ROOT, database_url, nats_client, pg_connect, wait_for
from tests.oracle import valid_events
from tests.redis_claim import RUN_ID


async def _stream_messages(stream: str, subject: str) -> list[bytes]:
    """Every message in `stream`, in order (read by sequence, no consumer involved)."""
    nc = await nats_client()
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        assert info.config.subjects == [subject]
        messages = []
        for sequence in range(info.state.first_seq, info.state.last_seq + 1):
            message = await js.get_msg(stream, sequence)
            assert message.subject == subject
            messages.append(message.data)
        return messages
    finally:
        await nc.close()


def test_publish_events_publishes_the_asked_mix_to_the_configured_subject(nats_names):
    out = io.StringIO()
    now = START
    call_command(
        "publish_events",
        "--count=400",
        "--users=6",
        "--projects=3",
        "--days=10",
        "--duplicates=0.2",
        "--invalid=0.05",
        "--seed=7",
        stdout=out,
    )
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith("published 400 events in ")
    assert lines[:-1] == ["published 400/400"]  # progress once per publish window (500 messages)
    messages = asyncio.run(_stream_messages(nats_names["NATS_STREAM"], nats_names["NATS_SUBJECT"]))
    assert len(messages) == 400
    events = valid_events(messages)
    invalid = [data for data in messages if not valid_events([data])]
    assert 0 < len(invalid) < 400 * 0.15
    assert 400 * 0.1 < len(messages) - len(invalid) - len(events) < 400 * 0.3  # re-sent duplicates
    assert {e.user_id for e in events} <= set(range(1, 7))
    assert {e.project_id for e in events} <= {1, 2, 3}
    assert all(now - timedelta(days=10) <= e.occurred_at <= now for e in events)
    assert {int(e.kind) for e in events} == set(range(pb.PULL_REQUEST_OPENED, pb.PUSHED + 1))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count=0"], "--count must be at least 1"),
        (["--duplicates=0.7", "--invalid=0.5"], "--duplicates plus --invalid must not exceed 1"),
    ],
)
def test_publish_events_refuses_bad_arguments(args, message, nats_names):
    with pytest.raises(CommandError, match=message):
        call_command("publish_events", *args, stdout=io.StringIO())


def _ensure_database(url: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "LEADERBOARD_", "DJANGO_"))}
    env.update(
        {"DATABASE_URL": url, "DJANGO_SECRET_KEY": "test", "DJANGO_SETTINGS_MODULE": "leaderboard_project.settings"}
    )
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "ensure_database"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _database_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        return cursor.fetchone() is not None


@pytest.mark.django_db
def test_ensure_database_creates_the_configured_database_once():
    name = f"test_leaderboard_{RUN_ID}_ensure"
    url = database_url().rsplit("/", 1)[0] + "/" + name  # the configured server, another database
    assert not _database_exists(name)
    try:
        created = _ensure_database(url)
        assert created.returncode == 0, created.stderr
        assert created.stdout.splitlines()[-1] == f"created database {name}"
        assert _database_exists(name)
        again = _ensure_database(url)
        assert again.returncode == 0, again.stderr
        assert again.stdout.splitlines()[-1] == f"database {name} exists"
    finally:
        with pg_connect(autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.mark.django_db
def test_ensure_database_names_the_database_it_cannot_create():
    # The configured server, as a role that does not exist: the connection is refused.
    scheme, _, rest = database_url().partition("://")
    url = f"{scheme}://no_such_role_{RUN_ID}@{rest.rpartition('@')[2].rsplit('/', 1)[0]}/test_leaderboard_{RUN_ID}_x"
    failed = _ensure_database(url)
    assert failed.returncode != 0
    assert f"cannot create database test_leaderboard_{RUN_ID}_x" in failed.stderr


async def _stream_and_durable(names: dict[str, str]):
    nc = await nats_client()
    try:
        js = nc.jetstream()
        return (
            await js.stream_info(names["NATS_STREAM"]),
            await js.consumer_info(names["NATS_STREAM"], names["NATS_DURABLE"]),
        )
    finally:
        await nc.close()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_stream_a_consumer_creates_carries_the_configured_max_age(nats_names, spawn_consumer, ready_boards):
    consumer = spawn_consumer(NATS_STREAM_MAX_AGE_DAYS="2", CONSUMER_ACK_WAIT="7", CONSUMER_MAX_DELIVER="9")
    wait_for(lambda: "created stream" in consumer.output(), timeout=30, message="the consumer to create the stream")

    def created():
        try:
            return asyncio.run(_stream_and_durable(nats_names))
        except Exception:  # the durable may not exist yet
            return None

    stream, durable = wait_for(created, timeout=30, message="the stream and the durable")
    assert stream.config.subjects == [nats_names["NATS_SUBJECT"]]
    assert stream.config.max_age == 2 * 86400
    assert durable.config.durable_name == nats_names["NATS_DURABLE"]
    assert durable.config.ack_policy == "explicit"
    assert durable.config.ack_wait == 7
    assert durable.config.max_deliver == 9
    assert durable.config.filter_subject == nats_names["NATS_SUBJECT"]


def test_the_consumer_collects_less_often_while_it_runs_and_puts_the_collector_back():
    before = gc.get_threshold()
    assert before != GC_THRESHOLD and gc.get_freeze_count() == 0
    with collector_tuned():
        assert gc.get_threshold() == GC_THRESHOLD == (50_000, 10, 10)
        # what was made before (Django, the tests) is out of every collection, a full one included
        assert gc.get_freeze_count() > 10_000
        gc.collect()
        assert gc.get_freeze_count() > 10_000
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_the_consumer_starts_without_the_web_framework():
    """The consumer's start imports what it uses: DRF (and `requests` and `pygments`, which DRF
    pulls in) cost ~0.15 s of every start (docs/BENCHMARKS.md, "Ingest"); the web's error
    classes and a webhook's shape are reachable from the consumer's modules without them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_",))}
    env.update({"DJANGO_SECRET_KEY": "test", "DJANGO_SETTINGS_MODULE": "leaderboard_project.settings"})
    probe = (
        "import sys, django; django.setup();"
        " import scoring.management.commands.consume_contributions;"
        " print(sorted(m for m in ('rest_framework.serializers', 'rest_framework.response', 'requests',"
        " 'pygments', 'api.shapes') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
