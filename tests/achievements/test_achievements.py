"""Achievements (SPEC section 15) in process against the real Postgres and Redis: the exact
set with the event (or result) that earned each, in the order earned; revoked by a rescore that
takes them away (never deleted) and un-revoked by one that gives them back; held back while a
contributor is excluded; the backfill command finds the same over the whole log."""

from __future__ import annotations

from datetime import UTC, date, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from scoring import ingest
from scoring.achievements.services import achievements_award
from scoring.exclusions import contributor_exclude, contributor_include
from scoring.maintenance.rescore import rules_rescore
from scoring.models import Achievement, Contributor
from scoring.results.finalize import results_finalize
from scoring.rules import versions
from tests.achievements import oracle
from tests.achievements.events import at, contributions, history, span, wire

pytestmark = pytest.mark.usefixtures("ready_boards")

ALICE, BOB, CAROL = 21, 22, 23
JUNE = span(date(2025, 6, 2), date(2025, 6, 11))  # ten days: ISO weeks 2025-W23 and W24


def published() -> list[bytes]:
    messages = history(ALICE, JUNE, kind="merged", hour=12)  # 10 merged pull requests, 10 points a day
    messages += history(ALICE, JUNE, kind="review", hour=14)  # 10 reviews (COMMENTED: 1 point)
    messages.append(wire("alice-unmerged", "unmerged", ALICE, at(JUNE[3], 16)))  # 0 points, not merged
    messages.append(wire("bob-merged", "merged", BOB, at(JUNE[1], 9)))
    messages.append(wire("bob-push", "push", BOB, at(JUNE[1], 10)))
    return messages


def logged(messages: list[bytes]):
    events = contributions(messages)
    ingest.batch_ingest(contributions=events)
    return events


def listed(client, user: int) -> list[tuple]:
    response = client.get(f"/v1/contributors/{user}")
    assert response.status_code == 200, response.content
    return [
        (a["code"], a["earned_at"], a["event_id"], a["result"] and a["result"]["period"], a["revoked"] is not None)
        for a in response.json()["achievements"]
    ]


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def final(day: date) -> str:  # a period's end with RESULTS_GRACE_SECONDS = 0
    return iso(datetime.combine(day, datetime.min.time(), tzinfo=UTC))


def alice_expected(events) -> list[tuple]:
    by_code = oracle.achievements(events, ALICE)
    assert set(by_code) == {"first_scored_event", "first_merged_pull_request", "merged_pull_requests_10"} | {
        "reviews_10",
        "streak_7",
    }
    newest = max((e for e in events if e.user_id == ALICE), key=lambda e: e.occurred_at)
    return [
        ("first_scored_event", iso(at(JUNE[0], 12)), by_code["first_scored_event"], None, False),
        ("first_merged_pull_request", iso(at(JUNE[0], 12)), by_code["first_merged_pull_request"], None, False),
        ("streak_7", iso(at(JUNE[6], 12)), by_code["streak_7"], None, False),
        ("first_weekly", final(date(2025, 6, 9)), None, "2025-W23", False),
        ("merged_pull_requests_10", iso(at(JUNE[9], 12)), by_code["merged_pull_requests_10"], None, False),
        ("reviews_10", iso(at(JUNE[9], 14)), by_code["reviews_10"], None, False),
        ("top_10_all_time", iso(at(JUNE[9], 14)), newest.event_id, None, False),
        ("first_monthly", final(date(2025, 7, 1)), None, "2025-06", False),
        ("first_yearly", final(date(2026, 1, 1)), None, "2025", False),
    ]


@pytest.fixture
def awarded(settings, clock):
    settings.RESULTS_GRACE_SECONDS = 0
    events = logged(published())
    results_finalize(now=clock.now())  # 2025's days, weeks, June and the year are final
    summary = achievements_award()
    assert not summary.skipped and summary.full  # the first sweep computes everything
    return events


def test_the_exact_achievements_with_their_events_in_the_order_earned(client, awarded):
    events = awarded
    assert listed(client, ALICE) == alice_expected(events)
    bob = oracle.achievements(events, BOB)
    assert listed(client, BOB) == [  # one event, two achievements: in the catalogue's order
        ("first_scored_event", iso(at(JUNE[1], 9)), bob["first_scored_event"], None, False),
        ("first_merged_pull_request", iso(at(JUNE[1], 9)), bob["first_merged_pull_request"], None, False),
        ("top_10_all_time", iso(at(JUNE[1], 10)), "bob-push", None, False),
    ]
    assert bob == {"first_scored_event": "bob-merged", "first_merged_pull_request": "bob-merged"}
    # once: another sweep, and a full recompute, award nothing more
    assert achievements_award().awarded == []
    again = achievements_award(full=True)
    assert (again.awarded, again.revoked) == ([], [])
    assert Achievement.objects.count() == 12


def test_a_late_event_moves_an_award_to_the_event_a_recompute_names(client, awarded):
    late = logged([wire("alice-late-merged", "merged", ALICE, at(date(2025, 5, 30), 8))])
    summary = achievements_award()
    by_code = oracle.achievements(awarded + late, ALICE)
    assert by_code["first_merged_pull_request"] == by_code["first_scored_event"] == "alice-late-merged"
    assert by_code["merged_pull_requests_10"] == f"h-{ALICE}-{JUNE[8].isoformat()}-merged"  # was the tenth day's
    assert sorted(summary.updated) == [
        (ALICE, "first_merged_pull_request"),
        (ALICE, "first_scored_event"),
        (ALICE, "merged_pull_requests_10"),
    ]
    found = {code: event_id for code, _, event_id, _, _ in listed(client, ALICE) if event_id}
    assert {code: found[code] for code in by_code} == by_code
    assert Achievement.objects.count() == 12


def test_a_rescore_revokes_what_it_takes_away_and_a_rollback_gives_it_back(client, awarded, settings):
    events = awarded
    before = listed(client, ALICE)
    versions.rules_ensure()
    settings.SCORING = {**settings.SCORING, "pull_request_merged": 0}
    rules_rescore()
    table = {"pull_request_merged": 0}
    by_code = oracle.achievements(events, ALICE, table)
    assert set(by_code) == {"first_scored_event", "reviews_10", "streak_7"}
    after = {code: (event_id, revoked) for code, _, event_id, _, revoked in listed(client, ALICE)}
    assert after == {
        "first_scored_event": (by_code["first_scored_event"], False),  # now the first review
        "streak_7": (by_code["streak_7"], False),  # the seventh day's review
        "reviews_10": (by_code["reviews_10"], False),
        "first_merged_pull_request": (before[1][2], True),  # revoked, kept with the event that earned it
        "merged_pull_requests_10": (before[4][2], True),
        "top_10_all_time": (before[6][2], False),
        "first_weekly": (None, False),  # a recorded result is never rewritten: still first
        "first_monthly": (None, False),
        "first_yearly": (None, False),
    }
    assert by_code["first_scored_event"] == f"h-{ALICE}-{JUNE[0].isoformat()}-review"
    assert dict((c, r) for c, _, _, _, r in listed(client, BOB)) == {
        "first_scored_event": False,
        "first_merged_pull_request": True,
        "top_10_all_time": False,
    }
    assert Achievement.objects.count() == 12  # never deleted

    rules_rescore(to=1)  # the rollback: earned again, un-revoked with the same events
    assert listed(client, ALICE) == before


def test_an_excluded_contributor_is_held_back_and_keeps_what_it_has(client, awarded):
    carol = logged(history(CAROL, span(date(2025, 8, 1), date(2025, 8, 7))))
    contributor_exclude(Contributor.objects.get(id=CAROL), reason="staff")
    summary = achievements_award()
    assert summary.held_back == 1
    assert not Achievement.objects.filter(user_id=CAROL).exists()
    contributor_exclude(Contributor.objects.get(id=BOB), reason="opted out")
    logged([wire("bob-late", "merged", BOB, at(date(2025, 8, 2)))])
    achievements_award()
    assert Achievement.objects.filter(user_id=BOB, revoked__isnull=True).count() == 3  # kept, nothing new
    contributor_include(Contributor.objects.get(id=CAROL))
    summary = achievements_award()
    assert summary.held_back == 1  # Bob, now excluded with new events
    codes = dict(Achievement.objects.filter(user_id=CAROL).values_list("code", "event__event_id"))
    assert codes == {**oracle.achievements(carol, CAROL), "top_10_all_time": f"h-{CAROL}-2025-08-07-push"}


def test_the_backfill_finds_the_same_over_the_whole_log(client, awarded):
    before = {u: listed(client, u) for u in (ALICE, BOB)}
    with connection.cursor() as cursor:
        for table in ("achievement", "achievementswatermark", "contributorday", "countedevent"):
            cursor.execute(f"DELETE FROM scoring_{table}")
    out = StringIO()
    call_command("achievements", "--backfill", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("counted events: 22 pull requests closed and reviews read (log id ")
    assert lines[-1] == "achievements: 12 awarded, 0 revoked (every contributor recomputed; 0 excluded held back)"
    assert {u: listed(client, u) for u in (ALICE, BOB)} == before


def test_a_sweep_skips_while_another_holds_the_lock_and_the_command_waits(awarded):
    from scoring.achievements.sweep import ACHIEVEMENTS_LOCK
    from scoring.gate import session_lock
    from tests.fixtures import pg_connect

    with pg_connect(autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [ACHIEVEMENTS_LOCK])
        assert achievements_award().skipped
        other.execute("SELECT pg_advisory_unlock(%s)", [ACHIEVEMENTS_LOCK])
    with session_lock(ACHIEVEMENTS_LOCK):
        assert not achievements_award().skipped  # reentrant in the session that holds it


def test_the_admin_lists_them_read_only(client, django_user_model, awarded):
    client.force_login(django_user_model.objects.create_superuser("admin", "a@example.com", "pw"))
    response = client.get("/admin/scoring/achievement/", {"user_id": ALICE, "o": "3"})  # by earned time
    assert response.status_code == 200
    rows = response.context["cl"].result_list
    assert sorted(a.code for a in rows) == sorted(code for code, *_ in alice_expected(awarded))
    assert client.get("/admin/scoring/achievement/add/").status_code == 403
    revoked = client.get("/admin/scoring/achievement/", {"revoked__isempty": "0"})
    assert list(revoked.context["cl"].result_list) == []
