"""Contributors kept from the events' actor: decoded at the edge, upserted with the batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from proto.contributions.v1 import contribution_pb2 as pb
from scoring import ingest
from scoring.event_generator import GeneratorOptions, event_build, events_generate, generated_login
from scoring.ingest.wire import decode
from scoring.models import ContributionEvent, Contributor
from tests.builders import pushes

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)


def wire(user_id: int = 42, **actor) -> bytes:
    event = event_build(event_id="ev", kind=pb.ISSUE_OPENED, user_id=user_id, project_id=9, occurred_at=T0, **actor)
    return event.SerializeToString()


def test_the_actor_and_url_are_decoded_into_the_contribution():
    data = wire(login="octocat", avatar_url="https://a/1.png", is_bot=False, url="https://github.com/o/r/issues/1")
    c = decode(data)
    assert (c.login, c.avatar_url, c.is_bot, c.url) == (
        "octocat",
        "https://a/1.png",
        False,
        "https://github.com/o/r/issues/1",
    )


def test_no_actor_is_no_login():
    c = decode(wire())
    assert (c.login, c.avatar_url, c.is_bot, c.url) == (None, "", False, "")


def test_an_actor_naming_another_user_is_not_trusted_with_this_ones_name():
    event = pb.ContributionEvent.FromString(wire(login="octocat"))
    event.actor.id = 7
    c = decode(event.SerializeToString())
    assert (c.user_id, c.login) == (42, None)


def test_nul_characters_are_dropped_from_the_texts():
    c = decode(wire(login="octo\x00cat", avatar_url="a\x00", url="u\x00rl"))
    assert (c.login, c.avatar_url, c.url) == ("octocat", "a", "url")


def named(event_id: str, user: int, at: datetime, login: str, **fields):
    (push,) = pushes(event_id, user, 1, at)
    return push._replace(login=login, **fields)


def contributors() -> list[tuple]:
    return list(
        Contributor.objects.order_by("id").values_list(
            "id", "login", "avatar_url", "is_bot", "first_seen_at", "last_seen_at"
        )
    )


@pytest.mark.usefixtures("ready_boards")
def test_a_batch_names_its_contributors_and_the_log_keeps_each_url():
    ingest.batch_ingest(
        contributions=[
            named("a", 5346, T0, "octocat", avatar_url="https://a/5346", url="https://github.com/o/r/pull/1"),
            named("b", 5346, T0 + timedelta(hours=1), "octocat", avatar_url="https://a/5346"),
            named("c", 29139614, T0, "renovate[bot]", is_bot=True),
            *pushes("d", 7, 1, T0),  # no actor: no contributor row
        ]
    )
    assert contributors() == [
        (5346, "octocat", "https://a/5346", False, T0, T0 + timedelta(hours=1)),
        (29139614, "renovate[bot]", "", True, T0, T0),
    ]
    assert dict(ContributionEvent.objects.values_list("event_id", "url")) == {
        "a-5346-0": "https://github.com/o/r/pull/1",
        "b-5346-0": "",
        "c-29139614-0": "",
        "d-7-0": "",
    }


@pytest.mark.usefixtures("ready_boards")
def test_the_newest_event_names_the_contributor_and_an_older_one_never_renames():
    ingest.batch_ingest(contributions=[named("new", 1, T0 + timedelta(days=1), "renamed", avatar_url="https://a/new")])
    ingest.batch_ingest(contributions=[named("old", 1, T0, "old-name", avatar_url="https://a/old", is_bot=True)])
    assert contributors() == [(1, "renamed", "https://a/new", False, T0, T0 + timedelta(days=1))]
    ingest.batch_ingest(contributions=[named("newer", 1, T0 + timedelta(days=2), "again", avatar_url="")])
    # an empty avatar keeps the one known
    assert contributors() == [(1, "again", "https://a/new", False, T0, T0 + timedelta(days=2))]


@pytest.mark.usefixtures("ready_boards")
def test_within_a_batch_the_newest_event_wins_whatever_the_order():
    ingest.batch_ingest(
        contributions=[
            named("z-late", 3, T0 + timedelta(minutes=5), "late"),
            named("a-early", 3, T0, "early"),
        ]
    )
    assert contributors() == [(3, "late", "", False, T0, T0 + timedelta(minutes=5))]


@pytest.mark.usefixtures("ready_boards")
def test_a_redelivered_batch_changes_nothing():
    batch = [named("a", 1, T0, "one"), named("b", 2, T0, "two")]
    ingest.batch_ingest(contributions=batch)
    before = contributors()
    result = ingest.batch_ingest(contributions=batch)
    assert (result.logged, result.duplicates) == (0, 2)
    assert contributors() == before


def test_generated_events_name_their_users_and_link_their_activity():
    for data in events_generate(GeneratorOptions(count=50, users=5, seed=3, duplicates=0)):
        c = decode(data)
        assert (c.login, c.avatar_url, c.is_bot) == (
            generated_login(c.user_id),
            f"https://github.com/identicons/user-{c.user_id}.png",
            False,
        )
        assert c.url.startswith(f"https://github.com/org/repo-{c.project_id}/")
