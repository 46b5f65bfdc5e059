"""Exclusions (SPEC section 9) against the real Postgres and Redis, in process: bots and
excluded contributors are on no board, and including them again puts back exactly the log."""

from datetime import timedelta
from io import StringIO

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from scoring import exclusions, faults, ingest, selectors
from scoring.boards import GLOBAL, Board, Timeframe
from scoring.gate import BOARDS_LOCK, GATE_LOCK
from scoring.maintenance.restore import boards_restore
from scoring.maintenance.verify import boards_verify
from scoring.models import ContributionEvent, Contributor
from scoring.redis_boards import PENDING_KEY
from scoring.rules import Contribution, EventKind
from snapshots.services import snapshot_take
from tests.clock import START
from tests.fixtures import advisory_waiters, database_url, started, wait_for
from tests.oracle import expected_boards, redis_boards_state

pytestmark = pytest.mark.usefixtures("ready_boards")

DAY = timedelta(days=1)


def c(event_id, user_id=1, project_id=10, kind=EventKind.ISSUE_OPENED, at=START, login=None, is_bot=False, **facts):
    return Contribution(
        event_id, kind, at, project_id, "org/ten", user_id, raw=event_id.encode(), login=login, is_bot=is_bot, **facts
    )


def history() -> list[Contribution]:
    """Ada (1) on two projects over many periods — the top contributor — and two others."""
    events = []
    for n, days_ago in enumerate([0, 1, 6, 20, 33, 64, 200, 380, 700]):
        at = START - days_ago * DAY
        events.append(c(f"ada-{n}", 1, 10 + n % 2, EventKind.PULL_REQUEST_CLOSED, at, login="ada", merged=True))
        events.append(c(f"grace-{n}", 2, 10, EventKind.ISSUE_OPENED, at, login="grace"))
    events.append(c("linus-0", 3, 11, EventKind.ISSUE_COMMENTED, START, login="linus"))
    return events


def ada() -> Contributor:
    return Contributor.objects.get(id=1)


def assert_exact(redis_client, events, excluded=()):
    assert redis_boards_state(redis_client) == expected_boards(events, excluded=excluded)
    result = boards_verify()
    assert result.ok, result.differences


def test_excluding_takes_a_contributor_off_every_board_and_including_puts_back_exactly(redis_client):
    events = history()
    ingest.batch_ingest(contributions=events)
    assert_exact(redis_client, events)
    ada_boards = [key for key, members in redis_boards_state(redis_client).items() if "1" in members]
    assert len(ada_boards) > 40  # global and both projects, every timeframe, past periods too

    done = exclusions.contributor_exclude(ada(), reason="cheating")
    assert done.boards == len(ada_boards)
    assert_exact(redis_client, events, excluded={1})
    assert ContributionEvent.objects.filter(user_id=1).count() == 9  # the log keeps them
    assert (ada().excluded_reason, ada().boards_dirty, ada().excluded_auto) == ("cheating", False, False)

    late = [c("ada-late", 1, 10, EventKind.ISSUE_OPENED, START, login="ada"), c("grace-late", 2, at=START)]
    ingest.batch_ingest(contributions=late)  # an excluded contributor's new events reach no board either
    assert_exact(redis_client, events + late, excluded={1})

    done = exclusions.contributor_include(ada())
    assert done.boards == len(ada_boards)
    assert_exact(redis_client, events + late)
    assert (ada().excluded_reason, ada().excluded_at, ada().boards_dirty) == (None, None, False)


def test_bots_never_reach_a_board(redis_client, settings):
    settings.LEADERBOARD_EXCLUDED_LOGINS = ["Deploy-Robot"]
    humans = [c("h1", 1, login="ada"), c("h2", 2, login="grace")]
    bots = [
        c("b1", 7, login="renovate", is_bot=True),
        c("b2", 8, login="dependabot[bot]"),
        c("b3", 9, login="deploy-robot"),  # listed, in another case
    ]
    ingest.batch_ingest(contributions=humans + bots)
    assert_exact(redis_client, humans + bots, excluded={7, 8, 9})
    excluded = Contributor.objects.filter(excluded_reason__isnull=False)
    assert sorted((int(x.id), x.excluded_reason, x.excluded_auto) for x in excluded) == [
        (7, "bot", True),
        (8, "bot", True),
        (9, "bot", True),
    ]
    assert ContributionEvent.objects.applied().filter(user_id__in=[7, 8, 9]).count() == 3


def test_a_user_who_turns_out_to_be_a_bot_leaves_the_boards(redis_client):
    before = [c("u1", 5, at=START - DAY), c("u2", 5, login="helper", at=START - DAY)]  # no actor, then a human
    ingest.batch_ingest(contributions=before)
    assert_exact(redis_client, before)
    later = [c("u3", 5, login="helper", is_bot=True)]  # its newest event says: a bot
    ingest.batch_ingest(contributions=later)
    assert_exact(redis_client, before + later, excluded={5})


def test_an_operator_may_keep_a_bot_on_the_boards(redis_client):
    events = [c("b1", 8, login="dependabot[bot]"), c("h1", 1, login="ada")]
    ingest.batch_ingest(contributions=events)
    exclusions.contributor_include(Contributor.objects.get(id=8))
    more = [c("b2", 8, login="dependabot[bot]")]
    ingest.batch_ingest(contributions=more)
    exclusions.bots_reconcile()  # what a consumer does at its start
    assert_exact(redis_client, events + more)


def test_automatic_exclusions_follow_the_excluded_logins_setting(redis_client, settings):
    events = [c("a", 1, login="ada"), c("r", 4, login="release-robot")]
    ingest.batch_ingest(contributions=events)
    assert_exact(redis_client, events)
    settings.LEADERBOARD_EXCLUDED_LOGINS = ["release-robot"]
    exclusions.bots_reconcile()
    assert_exact(redis_client, events, excluded={4})
    settings.LEADERBOARD_EXCLUDED_LOGINS = []
    exclusions.bots_reconcile()
    assert_exact(redis_client, events)


def test_an_event_logged_but_not_applied_when_included_again_counts_once(redis_client):
    events = history()
    ingest.batch_ingest(contributions=events)
    exclusions.contributor_exclude(ada(), reason="opted out")
    in_flight = [c("ada-new", 1, 10, EventKind.PULL_REQUEST_OPENED, START, login="ada")]
    ingest.events_record(scored=ingest.contributions_score(in_flight))  # logged, not applied yet
    exclusions.contributor_include(ada())  # counts it, and marks it
    assert redis_client.hexists(PENDING_KEY, "ada-new")
    assert ingest.events_apply(scored=ingest.contributions_score(in_flight)) == (0, 1)  # the redelivery
    assert_exact(redis_client, events + in_flight)


def test_the_sync_waits_for_records_and_applies_in_flight(redis_client):
    events = history()
    ingest.batch_ingest(contributions=events)
    with psycopg.connect(database_url(), autocommit=False) as holder:  # an apply in flight
        holder.execute("SELECT pg_advisory_xact_lock_shared(%s)", [GATE_LOCK])
        excluding = started(exclusions.contributor_exclude, ada(), reason="cheating")
        wait_for(lambda: advisory_waiters(GATE_LOCK) == 1, message="the sync to wait for the gate")
        assert "1" in redis_boards_state(redis_client)["leaderboard:global:all_time:all"]  # nothing changed yet
        holder.rollback()
    excluding.join()
    assert_exact(redis_client, events, excluded={1})


def test_a_sync_that_cannot_have_the_boards_lock_is_left_dirty_then_done(redis_client):
    events = history()
    ingest.batch_ingest(contributions=events)
    with psycopg.connect(database_url(), autocommit=True) as holder:  # a restore running elsewhere
        holder.execute("SELECT pg_advisory_lock(%s)", [BOARDS_LOCK])
        assert exclusions.contributor_exclude(ada(), reason="cheating", wait=False).deferred
        assert ada().boards_dirty
        assert "1" in redis_boards_state(redis_client)["leaderboard:global:all_time:all"]
        with pytest.raises(
            CommandError, match=r"\(1 contributors' exclusion changed and their boards do not follow yet"
        ):
            call_command("verify_leaderboards", stdout=StringIO())
        holder.execute("SELECT pg_advisory_unlock(%s)", [BOARDS_LOCK])  # not left to the server's session end
    assert exclusions.contributors_sync(wait=False).users == [1]  # the consumers' sweep does this
    assert_exact(redis_client, events, excluded={1})


def test_exclusions_survive_flushdb_restore_and_rebuild(redis_client):
    events = history()
    ingest.batch_ingest(contributions=events)
    snapshot_take()  # taken before the exclusion: it keeps the log's sums
    exclusions.contributor_exclude(ada(), reason="cheating")
    for use_snapshot in (True, False):
        redis_client.flushdb()
        boards_restore(use_snapshot=use_snapshot)
        assert_exact(redis_client, events, excluded={1})
    exclusions.contributor_include(ada())
    redis_client.flushdb()
    boards_restore(use_snapshot=True)  # from the snapshot again: ada's points come back exactly
    assert_exact(redis_client, events)


def test_a_restore_puts_right_an_exclusion_made_while_it_ran(redis_client):
    events = history()
    ingest.batch_ingest(contributions=events)

    def exclude_elsewhere():  # another session, while the restore holds the boards lock
        started(exclusions.contributor_exclude, ada(), reason="cheating", wait=False).join()

    with faults.hooked("restore_before_swap", exclude_elsewhere):
        boards_restore(use_snapshot=False)
    assert not ada().boards_dirty
    assert_exact(redis_client, events, excluded={1})


def test_an_expired_boards_archive_forgets_an_excluded_contributor(redis_client):
    events = history()
    ingest.batch_ingest(contributions=events)
    old = Board(GLOBAL, Timeframe.DAILY, (START - 64 * DAY).strftime("%Y-%m-%d"))  # past its retention
    assert [row.user_id for row in selectors.board_page(board=old, limit=10, offset=0).rows] == [1, 2]
    exclusions.contributor_exclude(ada(), reason="cheating")
    assert [row.user_id for row in selectors.board_page(board=old, limit=10, offset=0).rows] == [2]
    exclusions.contributor_include(ada())
    assert [row.user_id for row in selectors.board_page(board=old, limit=10, offset=0).rows] == [1, 2]


def test_the_api_and_the_pages_answer_404_for_an_excluded_contributor(client):
    ingest.batch_ingest(contributions=history())
    assert client.get("/v1/users/1/events").status_code == 200
    exclusions.contributor_exclude(ada(), reason="opted out")
    events = client.get("/v1/users/1/events")
    assert (events.status_code, events.json()["error"]["code"]) == (404, "not_found")
    assert client.get("/v1/leaderboard/users/1").status_code == 404
    assert client.get("/v1/contributors/ada").status_code == 404
    assert client.get("/v1/contributors/1").status_code == 404
    assert client.get("/contributors/ada").status_code == 404
    assert client.get("/contributors/1").status_code == 404
    assert [row["user_id"] for row in client.get("/v1/leaderboard/public").json()["results"]] == ["2", "3"]


def run(*args) -> str:
    out = StringIO()
    call_command("contributors", *args, stdout=out)
    return out.getvalue()


def test_the_contributors_command(redis_client):
    events = history()
    ingest.batch_ingest(contributions=[*events, c("bot-1", 8, login="renovate[bot]")])
    said = run("exclude", "ADA", "--reason", "  cheating ")
    assert said.startswith("excluded ada (1) (cheating): off ") and said.rstrip().endswith(" ms")
    assert_exact(redis_client, events, excluded={1})
    listed = run("list", "--excluded").splitlines()
    assert [line.split()[:3] for line in listed[1:-1]] == [["1", "ada", "no"], ["8", "renovate[bot]", "no"]]
    assert "cheating (since " in listed[1] and listed[2].endswith(" UTC)") and " bot (since " in listed[2]
    assert listed[-1] == "2 contributors listed, 2 excluded in all"
    assert run("list").splitlines()[-1] == "4 contributors listed, 2 excluded in all"
    said = run("include", "1")
    assert said.startswith("included ada (1): back on ")
    assert_exact(redis_client, events)
    assert run("include", "ada") == "ada (1) is not excluded: nothing to do\n"
    with pytest.raises(CommandError, match="no contributor 'nobody'"):
        run("exclude", "nobody", "--reason", "x")
    with pytest.raises(CommandError, match="--reason must say why"):
        run("exclude", "ada", "--reason", " ")


def test_a_user_named_by_no_actor_can_be_excluded_by_id(redis_client):
    events = [c("anon", 77), c("h", 1, login="ada")]
    ingest.batch_ingest(contributions=events)
    assert run("exclude", "77", "--reason", "spam").startswith("excluded #77 (spam): off 10 boards")
    assert_exact(redis_client, events, excluded={77})


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("admin", "a@example.com", "pw"))
    return client


def test_the_admin_excludes_with_a_reason_and_includes_again(admin_client, redis_client):
    events = history()
    ingest.batch_ingest(contributions=events)
    url = "/admin/scoring/contributor/"
    asked = admin_client.post(url, {"action": "exclude_contributors", "_selected_action": ["1"]})
    assert asked.status_code == 200 and b'name="reason"' in asked.content  # the reason is asked first
    assert ada().excluded_reason is None
    done = admin_client.post(
        url, {"action": "exclude_contributors", "_selected_action": ["1"], "reason": "staff", "apply": "1"}
    )
    assert done.status_code == 302
    assert ada().excluded_reason == "staff"
    assert_exact(redis_client, events, excluded={1})
    done = admin_client.post(url, {"action": "include_contributors", "_selected_action": ["1"]})
    assert done.status_code == 302
    assert_exact(redis_client, events)


def test_a_bot_found_while_the_boards_lock_is_held_is_synced_later(redis_client, monkeypatch):
    monkeypatch.setattr(exclusions, "BOT_SYNC_WAIT", 0.2)
    before = [c("u1", 5, login="helper", at=START - DAY), c("h1", 1, login="ada")]
    ingest.batch_ingest(contributions=before)
    with psycopg.connect(database_url(), autocommit=True) as holder:  # a restore running elsewhere
        holder.execute("SELECT pg_advisory_lock(%s)", [BOARDS_LOCK])
        later = [c("u2", 5, login="helper", is_bot=True)]
        ingest.batch_ingest(contributions=later)  # waits a moment for the lock, then leaves it dirty
        found = Contributor.objects.get(id=5)
        assert (found.excluded_reason, found.boards_dirty) == ("bot", True)
        assert redis_client.zscore("leaderboard:global:all_time:all", "5") == 2  # its old points, until synced
        holder.execute("SELECT pg_advisory_unlock(%s)", [BOARDS_LOCK])
    exclusions.contributors_sync(wait=False)
    assert_exact(redis_client, before + later, excluded={5})


def test_an_exclusion_announces_the_boards_it_changed_to_the_live_pages(redis_client):
    ingest.batch_ingest(contributions=history())
    listener = redis_client.pubsub(ignore_subscribe_messages=True)
    db = redis_client.connection_pool.connection_kwargs["db"]
    listener.subscribe(f"leaderboard:boards:changed:{db}")
    wait_for(lambda: listener.get_message(timeout=0.1) is None and listener.subscribed, message="the subscription")
    exclusions.contributor_exclude(ada(), reason="cheating")
    message = listener.get_message(timeout=5)
    assert message is not None
    announced = set(message["data"].split())
    assert {"leaderboard:global:all_time:all", "leaderboard:project:11:all_time:all"} <= announced
    assert announced == {key for key, members in expected_boards(history()).items() if "1" in members}
    listener.close()
