"""Rules versions and rescoring in this process, against the real Postgres and Redis: the
versions, the record guard, the gate, what every aggregate reads while the log is half moved,
snapshots of one version, `--dry-run`, `GET /v1/rules`. (Consumers running and killed, and a
rescore killed at each crash point: tests/maintenance/test_rescore_live.py.)"""

from __future__ import annotations

import io
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command

from proto.contributions.v1 import contribution_pb2 as pb
from scoring import clock, faults
from scoring.event_generator import event_build
from scoring.gate import GATE_LOCK
from scoring.ingest import batch_ingest, contributions_score, events_record
from scoring.maintenance.rescore import RescoreError, rules_rescore
from scoring.maintenance.restore import boards_restore
from scoring.maintenance.verify import boards_verify
from scoring.models import ContributionEvent, RulesVersion
from scoring.redis_boards import READY_KEY
from scoring.rules import ScoringTable, versions
from snapshots.models import Snapshot
from snapshots.services import SNAPSHOT_LOCK, snapshot_take
from tests.builders import contributions
from tests.fixtures import advisory_waiters, pg_connect, started, wait_for
from tests.oracle import SPEC_TABLE, expected_boards, redis_boards_state, valid_events

pytestmark = pytest.mark.django_db(transaction=True)

ALL_TIME = "leaderboard:global:all_time:all"
NEW = {"push_per_commit": 2, "push_max_commits": 4, "pull_request_merged": 7, "issue_commented": 0, "review_other": 3}


@pytest.fixture
def new_settings(transactional_db, settings):
    """Version 1 recorded from SPEC's table (as the first consumer did), then the operator's new
    table in this process's settings (what `rescore_leaderboards` reads)."""
    versions.rules_ensure()
    settings.SCORING = {**settings.SCORING, **NEW}
    return settings


def log_state() -> list[tuple]:
    return list(
        ContributionEvent.objects.order_by("id").values_list(
            "id", "points", "points_prev", "rules_version", "unapplied"
        )
    )


def test_version_1_is_recorded_from_the_settings_on_first_use(transactional_db, settings):
    settings.SCORING = {**settings.SCORING, "issue_opened": 4}
    assert not RulesVersion.objects.exists()
    read = versions.rules_current(reload=True)  # a lookup: version 1 as it would be, nothing recorded
    assert (read.number, read.table.issue_opened, RulesVersion.objects.exists()) == (1, 4, False)
    active = versions.rules_ensure()
    assert (active.number, active.table.issue_opened) == (1, 4)
    version = RulesVersion.objects.get()
    assert (version.number, version.active, version.table["issue_opened"]) == (1, True, 4)
    assert version.activated_at is not None
    versions.rules_ensure()
    assert RulesVersion.objects.count() == 1


def test_a_rescore_scores_the_log_by_the_settings_and_a_rollback_by_the_old_version(
    ready_boards, ingest, assert_exact, new_settings
):
    events, later = contributions(400, seed=81), contributions(100, seed=82, prefix="later-")
    ingest(events)
    result = rules_rescore(chunk=50)
    assert (result.target, result.previous, result.created, result.switched) == (2, 1, True, True)
    assert result.events == len(events)
    assert result.changed == sum(1 for c in events if _points(c, NEW) != _points(c))
    assert_exact(events, table=NEW)
    assert set(ContributionEvent.objects.values_list("rules_version", flat=True)) == {2}
    ingest(later)  # scored by version 2 now: the active one, not the settings
    assert_exact(events + later, table=NEW)
    back = rules_rescore(to=1)
    assert (back.target, back.previous, back.created) == (1, 2, False)
    assert_exact(events + later)
    assert list(RulesVersion.objects.order_by("number").values_list("number", "active")) == [(1, True), (2, False)]
    again = rules_rescore()  # the settings' table is version 2's: reused, not recorded twice
    assert (again.target, again.created) == (2, False)
    assert RulesVersion.objects.count() == 2
    assert_exact(events + later, table=NEW)


def _points(c, table=None) -> int:
    from tests.oracle import points

    return points(c, table)


def test_nothing_to_do_when_the_settings_are_the_active_version_and_it_scored_every_event(
    ready_boards, ingest, assert_exact
):
    events = contributions(50, seed=83)
    ingest(events)
    before = log_state()
    out = io.StringIO()
    call_command("rescore_leaderboards", stdout=out)
    assert (
        out.getvalue()
        .splitlines()[-1]
        .startswith("nothing to rescore: rules version 1 is active and scored every event")
    )
    assert log_state() == before
    assert_exact(events)


def test_an_unknown_version_is_refused(ready_boards):
    with pytest.raises(RescoreError, match=r"there is no rules version 7 \(the versions are: 1\)"):
        versions.rules_ensure()
        rules_rescore(to=7)


def test_a_batch_scored_by_a_version_no_longer_active_is_scored_again(ready_boards, ingest, new_settings):
    settled, batch = contributions(100, seed=84), contributions(60, seed=85, prefix="b-")
    ingest(settled)
    stale = contributions_score(batch)  # scored by version 1, as a consumer would ...
    assert {s.version for s in stale} == {1}
    rules_rescore()  # ... just before the switch
    with pytest.raises(versions.RulesChanged, match="scored by rules version 1, but version 2 is active"):
        events_record(scored=stale)
    assert not ContributionEvent.objects.filter(event_id__in=[c.event_id for c in batch]).exists()  # nothing written
    versions._rules = versions.ActiveRules(1, ScoringTable())  # a consumer that still holds version 1
    result = batch_ingest(contributions=batch)
    assert (result.logged, versions.rules_current().number) == (len(valid_events([c.raw for c in batch])), 2)
    assert set(ContributionEvent.objects.filter(event_id__startswith="b-").values_list("rules_version", flat=True)) == {
        2
    }
    assert redis_boards_state(ready_boards) == expected_boards(settled + batch, table=NEW)


def test_the_switch_waits_for_a_record_in_flight_and_holds_the_next_ones(ready_boards, ingest, new_settings):
    ingest(contributions(100, seed=86))
    in_flight = pg_connect()  # a record between its first statement (the gate, shared) and its commit
    in_flight.execute("SELECT pg_advisory_xact_lock_shared(%s)", [GATE_LOCK])
    rescore = started(rules_rescore)
    wait_for(lambda: advisory_waiters(GATE_LOCK) == 1, message="the switch to wait for the gate")
    assert RulesVersion.objects.get(active=True).number == 1  # nothing switched yet
    assert ready_boards.exists(READY_KEY)  # and applies and reads go on
    later = pg_connect(autocommit=True)
    waiting = started(later.execute, "SELECT pg_advisory_xact_lock_shared(%s)", [GATE_LOCK])
    wait_for(lambda: advisory_waiters(GATE_LOCK) == 2, message="a new record to queue behind the switch")
    in_flight.rollback()
    rescore.join()
    waiting.join()
    assert RulesVersion.objects.get(active=True).number == 2
    assert rescore.result.gate_wait_ms > 0
    in_flight.close()
    later.close()


class Stop(Exception):
    """A rescore stopped on purpose."""


def test_every_aggregate_reads_the_active_versions_points_while_the_log_is_half_moved(
    ready_boards, ingest, assert_exact, new_settings, flush_redis, client
):
    events = contributions(600, seed=87)
    ingest(events)

    def stop_after_two_chunks() -> None:
        if ContributionEvent.objects.filter(rules_version=2).count() >= 200:  # moved so far
            raise Stop

    with pytest.raises(Stop), faults.hooked("rescore_after_chunk", stop_after_two_chunks):
        rules_rescore(chunk=100)
    versions = Counter(ContributionEvent.objects.values_list("rules_version", flat=True))
    assert set(versions) == {1, 2} and versions[2] >= 200  # half moved
    assert_exact(events)  # the boards and verify: version 1's points
    snapshot = snapshot_take().snapshot
    assert snapshot.rules_version == 1
    flush_redis()
    assert boards_restore().snapshot_id == snapshot.id
    assert_exact(events)
    flush_redis()
    boards_restore(use_snapshot=False)  # a rebuild
    assert_exact(events)
    # A user's events, "why a score is what it is", list version 1's points and add up to the board.
    body = client.get("/v1/users/42/events", {"limit": 1000}).json()
    assert body["next"] is None
    assert sum(e["points"] for e in body["results"]) == expected_boards(events)[ALL_TIME]["42"]
    result = rules_rescore(chunk=100)  # run again: it resumes
    assert result.events == versions[1]
    assert_exact(events, table=NEW)
    body = client.get("/v1/users/42/events", {"limit": 1000}).json()
    assert sum(e["points"] for e in body["results"]) == expected_boards(events, table=NEW)[ALL_TIME]["42"]


def test_a_snapshot_waits_for_a_rescore_and_a_restore_uses_only_the_active_versions(
    ready_boards, ingest, assert_exact, new_settings, flush_redis
):
    events = contributions(300, seed=88)
    ingest(events)
    old = snapshot_take().snapshot
    snapshots: list = []

    def snapshot_meanwhile() -> None:
        snapshots.append(started(snapshot_take))
        wait_for(lambda: advisory_waiters(SNAPSHOT_LOCK) == 1, message="the snapshot to wait for the rescore")

    with faults.hooked("rescore_before_switch", snapshot_meanwhile):
        rules_rescore()
    snapshots[0].join()
    taken = snapshots[0].result.snapshot
    assert (old.rules_version, taken.rules_version) == (1, 2)
    Snapshot.objects.filter(id=taken.id).delete()
    flush_redis()
    assert boards_restore().snapshot_id is None  # version 1's snapshot holds other points: the whole log
    assert_exact(events, table=NEW)
    new = snapshot_take().snapshot
    assert (new.rules_version, new.based_on_id) == (2, None)  # not built on version 1's
    flush_redis()
    assert boards_restore().snapshot_id == new.id
    assert_exact(events, table=NEW)


def _wire(event_id: str, kind: int, user: int, login: str, **facts) -> bytes:
    at = clock.now() - timedelta(days=3)
    return event_build(
        event_id=event_id, kind=kind, user_id=user, project_id=5, occurred_at=at, login=login, **facts
    ).SerializeToString()


def dry_run_log() -> list[bytes]:
    """Users whose all-time scores are 20, 15, 10, 3 and 2 under SPEC's table, and 14, 24, 0, 5
    and 2 under NEW."""
    messages = [_wire(f"push-{n}", pb.PUSHED, 1, "ada", commits=5) for n in range(3)]  # 15 -> 24
    messages += [_wire(f"merge-{n}", pb.PULL_REQUEST_CLOSED, 2, "bob", merged=True) for n in range(2)]  # 20 -> 14
    messages += [_wire("review", pb.PULL_REQUEST_REVIEW_SUBMITTED, 3, "cy", review_state=pb.COMMENTED)]  # 1 -> 3
    messages += [_wire("issue", pb.ISSUE_OPENED, 3, "cy")]  # 2 -> 2
    messages += [_wire(f"comment-{n}", pb.ISSUE_COMMENTED, 4, "di") for n in range(10)]  # 10 -> 0
    messages += [_wire("opened", pb.PULL_REQUEST_OPENED, 5, "ed")]  # 2 -> 2
    return messages


def test_a_dry_run_prints_the_exact_changes_and_moves_and_changes_nothing(ready_boards, ingest, new_settings):
    events = valid_events(dry_run_log())
    ingest(events)
    before = (log_state(), list(RulesVersion.objects.values_list()), redis_boards_state(ready_boards))
    token = ready_boards.get(READY_KEY)
    out = io.StringIO()
    call_command("rescore_leaderboards", "--dry-run", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[:-1] == [
        "active: version 1; target: the settings' table (a new version); pull_request_merged 10 -> 7,"
        " review_other 1 -> 3, issue_commented 1 -> 0, push_per_commit 1 -> 2, push_max_commits 10 -> 4",
        "global all-time board: 50 -> 45 points; 4 contributors change rank, 0 join, 1 leave",
        "  user 1 (ada): rank 2 -> 1 (up 1), score 15 -> 24",
        "  user 2 (bob): rank 1 -> 2 (down 1), score 20 -> 14",
        "  user 3 (cy): rank 4 -> 3 (up 1), score 3 -> 5",
        "  user 5 (ed): rank 5 -> 4 (up 1), score 2 -> 2",
    ]
    assert lines[-1].startswith("dry run: 16 of 18 events would change points; nothing was changed (")
    assert (log_state(), list(RulesVersion.objects.values_list()), redis_boards_state(ready_boards)) == before
    assert ready_boards.get(READY_KEY) == token
    out = io.StringIO()
    call_command("rescore_leaderboards", "--dry-run", "--to", "1", "--top", "1", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[:2] == [
        "active: version 1; target: version 1; the same table",
        "global all-time board: 50 -> 50 points; 0 contributors change rank, 0 join, 0 leave",
    ]
    assert lines[2].startswith("dry run: 0 of 18 events would change points; nothing was changed (")
    assert len(lines) == 3


def test_before_any_version_is_recorded_the_rules_endpoint_shows_the_settings_table(client, transactional_db, settings):
    settings.SCORING = {**settings.SCORING, **NEW}
    assert client.get("/v1/rules").json() == {
        "version": 1,
        "table": {**ScoringTable().as_mapping(), **NEW},
        "created_at": None,
        "activated_at": None,
        "earlier": [],
    }
    assert not RulesVersion.objects.exists()  # a read records nothing


def test_the_rules_endpoint_shows_the_active_table_and_the_earlier_versions(client, ready_boards, new_settings):
    rules_rescore()
    RulesVersion.objects.filter(number=1).update(
        created_at="2026-01-02T03:04:05Z", activated_at="2026-01-02T03:04:05Z", retired_at="2026-02-03T04:05:06Z"
    )
    RulesVersion.objects.filter(number=2).update(created_at="2026-02-03T04:00:00Z", activated_at="2026-02-03T04:05:06Z")
    response = client.get("/v1/rules")
    assert response.status_code == 200
    assert response.json() == {
        "version": 2,
        "table": {
            "pull_request_opened": 2,
            "pull_request_merged": 7,
            "pull_request_closed_unmerged": 0,
            "review_approved_or_changes_requested": 3,
            "review_other": 3,
            "issue_opened": 2,
            "issue_closed_completed": 3,
            "issue_closed_other": 0,
            "issue_commented": 0,
            "push_per_commit": 2,
            "push_max_commits": 4,
        },
        "created_at": "2026-02-03T04:00:00Z",
        "activated_at": "2026-02-03T04:05:06Z",
        "earlier": [
            {
                "version": 1,
                "table": SPEC_TABLE,  # version 1: the settings' defaults, SPEC section 2
                "created_at": "2026-01-02T03:04:05Z",
                "activated_at": "2026-01-02T03:04:05Z",
                "retired_at": "2026-02-03T04:05:06Z",
            }
        ],
    }
    assert client.get("/v1/rules", {"version": "1"}).status_code == 400
    schema = client.get("/v1/schema", {"format": "json"}).json()
    assert "/v1/rules" in schema["paths"]


def test_verify_agrees_after_a_rescore(ready_boards, ingest, new_settings):
    ingest(contributions(200, seed=89))
    rules_rescore()
    assert boards_verify().differences == []


def test_a_build_lost_to_an_emptied_redis_before_the_switch_is_built_again(
    ready_boards, ingest, assert_exact, new_settings, flush_redis, caplog
):
    events = contributions(300, seed=90)
    ingest(events)
    flushed: list[bool] = []

    def empty_redis_once() -> None:
        if not flushed:
            flush_redis()  # the boards built aside go with everything else
            flushed.append(True)

    with faults.hooked("rescore_before_switch", empty_redis_once):
        result = rules_rescore()
    assert flushed and result.switched
    assert "built boards were lost" in caplog.text  # found by the switch's check, and built again
    assert_exact(events, table=NEW)


def test_a_swap_that_fails_after_the_switch_rebuilds_the_boards_from_the_log(
    ready_boards, ingest, assert_exact, new_settings, flush_redis, caplog
):
    events = contributions(300, seed=91)
    ingest(events)
    with faults.hooked("rescore_before_swap", flush_redis):  # the built boards gone: the swap's RENAME fails
        result = rules_rescore()
    assert "the swap failed" in caplog.text
    assert result.switched and RulesVersion.objects.get(active=True).number == 2
    assert_exact(events, table=NEW)
