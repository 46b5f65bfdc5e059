"""`manage.py results` as a process: finalize (killed at each of its crash points, then run
again: every result recorded once, its outbox rows with it) and list."""

import subprocess
from datetime import timedelta

import pytest

from scoring import ingest
from scoring.boards import midnight
from scoring.results.models import Delivery, PeriodResult
from tests.builders import pushes
from tests.clock import START, manage
from tests.fixtures import consumer_env
from tests.oracle import expected_boards
from tests.results.expected import expected_results, recorded_results

pytestmark = pytest.mark.usefixtures("ready_boards")
YESTERDAY = midnight(START.date()) - timedelta(days=1)
EVENTS = [*pushes("a", 1, 12, YESTERDAY, project=7), *pushes("b", 2, 30, YESTERDAY, project=8)]


def run(nats_names, *args, **env):
    extra = {"RESULTS_GRACE_SECONDS": "0", "LEADERBOARD_NOTIFY_URLS": "webhook=http://127.0.0.1:9/hook", **env}
    return subprocess.run(
        manage("results", *args), env=consumer_env(nats_names, **extra), capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("point", ["results_after_record", "results_after_commit"])
def test_killed_at_each_crash_point_then_run_again_records_each_result_once(nats_names, point):
    ingest.batch_ingest(contributions=EVENTS)
    killed = run(nats_names, "finalize", CONSUMER_CRASH_AT=point)
    assert killed.returncode == -9, killed.stderr
    assert PeriodResult.objects.exists() == (point == "results_after_commit")
    again = run(nats_names, "finalize")
    assert again.returncode == 0, again.stderr
    results = recorded_results()
    final = {(key.split(":")[-2], key.split(":")[-1]) for key in results}
    assert ("daily", YESTERDAY.date().isoformat()) in final
    assert results == expected_results(expected_boards(EVENTS), final)
    assert Delivery.objects.count() == PeriodResult.objects.count()  # one per result and target
    assert len(set(Delivery.objects.values_list("idempotency_key", flat=True))) == Delivery.objects.count()


def test_finalize_with_now_and_list(nats_names):
    ingest.batch_ingest(contributions=EVENTS)
    early = run(nats_names, "finalize", "--now", (YESTERDAY + timedelta(hours=23)).isoformat())
    assert early.returncode == 0 and early.stdout.startswith("finalized 0 periods"), early.stdout
    done = run(nats_names, "finalize", "--now", START.isoformat())
    assert done.returncode == 0 and "results" in done.stdout
    listed = run(nats_names, "list", "--timeframe", "daily")
    assert listed.returncode == 0, listed.stderr
    day = YESTERDAY.date().isoformat()
    assert f"daily    {day} members=2      points=42       late=0    #1 2 (30), #2 1 (12)" in listed.stdout
    assert listed.stdout.rstrip().endswith("1 of 1 results")
    bad = run(nats_names, "finalize", "--now", "yesterday")
    assert bad.returncode != 0 and "--now" in bad.stderr
