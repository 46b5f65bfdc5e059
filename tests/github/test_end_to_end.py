"""GitHub's example deliveries, signed and posted, through a real consumer process onto the boards.

Each mapped row of SPEC section 8 from a real example payload (or the nearest real one, changed
only where tests/github/examples.py says) ends on the right boards with the right points, time
and login; a delivery posted twice, and again after it was consumed, counts once.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from nats.js.api import StreamConfig

from scoring.models import ContributionEvent, Contributor
from scoring.rules import EventKind
from tests.fixtures import nats_client, wait_for, wait_until_drained
from tests.github import examples
from tests.github.conftest import post, published

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CODERTOCAT, OCTOCAT, RENOVATE = 21031067, 5346, 29139614
REPOSITORY = 186853002
AVATARS = {
    CODERTOCAT: "https://avatars1.githubusercontent.com/u/21031067?v=4",
    OCTOCAT: "http://alambic.github.com/avatars/u/5346?",  # as the examples have it
}
HELLO = "https://github.com/Codertocat/Hello-World"

# (event, payload, credited user, kind, points, time, url)
ROWS = [
    (
        "pull_request",
        lambda: examples.example("pull_request", "opened"),
        CODERTOCAT,
        EventKind.PULL_REQUEST_OPENED,
        2,
        "2019-05-15T15:20:33Z",
        f"{HELLO}/pull/2",
    ),
    (
        "pull_request",
        lambda: examples.example("pull_request", "closed"),
        CODERTOCAT,
        EventKind.PULL_REQUEST_CLOSED,
        0,
        "2019-05-15T15:21:18Z",
        f"{HELLO}/pull/2",
    ),
    (
        "pull_request",
        lambda: examples.derived_pull_request_merged(merger="octocat"),
        CODERTOCAT,
        EventKind.PULL_REQUEST_CLOSED,
        10,
        "2019-05-15T15:21:18Z",
        f"{HELLO}/pull/2",
    ),
    *[
        (
            "pull_request_review",
            (lambda state=state: examples.derived_review(state)),
            CODERTOCAT,
            EventKind.PULL_REQUEST_REVIEW_SUBMITTED,
            points,
            "2019-05-15T15:20:38Z",
            f"{HELLO}/pull/2#pullrequestreview-237895671",
        )
        for state, points in (("commented", 1), ("approved", 3), ("changes_requested", 3))
    ],
    (
        "issues",
        lambda: examples.example("issues", "opened"),
        CODERTOCAT,
        EventKind.ISSUE_OPENED,
        2,
        "2019-05-15T15:20:18Z",
        f"{HELLO}/issues/1",
    ),
    (
        "issues",
        lambda: examples.derived_issue_closed("completed", closer="octocat"),
        OCTOCAT,
        EventKind.ISSUE_CLOSED,
        3,
        "2019-05-15T15:24:06Z",
        f"{HELLO}/issues/1",
    ),
    (
        "issues",
        lambda: examples.derived_issue_closed("not_planned", closer="octocat"),
        OCTOCAT,
        EventKind.ISSUE_CLOSED,
        0,
        "2019-05-15T15:24:06Z",
        f"{HELLO}/issues/1",
    ),
    (
        "issue_comment",
        lambda: examples.example("issue_comment", "created"),
        CODERTOCAT,
        EventKind.ISSUE_COMMENTED,
        1,
        "2019-05-15T15:20:21Z",
        f"{HELLO}/issues/1#issuecomment-492700400",
    ),
    (
        "issue_comment",
        lambda: examples.derived_bot_comment("renovate[bot]"),
        RENOVATE,
        EventKind.ISSUE_COMMENTED,
        1,
        "2019-05-15T15:20:21Z",
        f"{HELLO}/issues/1#issuecomment-492700400",
    ),
    (
        "push",
        lambda: examples.example("push", nth=4),
        CODERTOCAT,
        EventKind.PUSHED,
        1,
        "2019-05-15T15:19:25Z",
        f"{HELLO}/commit/6113728f27ae82c7b1a177c8d03f9e96e0adf246",
    ),
]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def board(client, **query) -> list[tuple]:
    body = client.get("/v1/leaderboard/public", query).json()
    return [(r["rank"], int(r["user_id"]), r["score"], r["login"], r["avatar_url"]) for r in body["results"]]


def test_every_mapped_row_ends_on_its_boards_with_its_points_time_and_login(
    client, webhook, nats_names, ready_boards, spawn_consumer
):
    consumer = spawn_consumer()
    deliveries = []
    for event, payload, user, kind, points, time, url in ROWS:
        guid = str(uuid.uuid4())
        response = post(client, event, payload(), delivery=guid)
        assert (response.status_code, response.json()) == (202, {"event_id": guid})
        deliveries.append((guid, user, kind, points, at(time), url))
    wait_until_drained(nats_names, processes=[consumer])

    logged = {e.event_id: e for e in ContributionEvent.objects.all()}
    assert len(logged) == len(ROWS)
    for guid, user, kind, points, time, url in deliveries:
        event = logged[guid]
        assert (int(event.user_id), event.kind, event.points, event.occurred_at, event.url, event.project_id) == (
            user,
            kind,
            points,
            time,
            url,
            REPOSITORY,
        ), guid

    codertocat = sum(points for _, user, _, points, _, _ in deliveries if user == CODERTOCAT)
    assert codertocat == 23
    expected = [  # renovate[bot], a Bot by the sender's type, is logged but on no board (SPEC section 9)
        (1, CODERTOCAT, 23, "Codertocat", AVATARS[CODERTOCAT]),
        (2, OCTOCAT, 3, "octocat", AVATARS[OCTOCAT]),
    ]
    assert board(client) == expected  # all time, global: from Redis
    assert board(client, project_id=REPOSITORY) == expected
    # 2019's daily, weekly, monthly and yearly boards have left Redis: read from the log
    assert board(client, timeframe="daily", period="2019-05-15") == expected
    assert board(client, timeframe="weekly", period="2019-W20", project_id=REPOSITORY) == expected
    assert board(client, timeframe="monthly", period="2019-06") == []

    events = client.get(f"/v1/users/{OCTOCAT}/events").json()
    assert (events["login"], [(e["points"], e["occurred_at"], e["url"]) for e in events["results"]]) == (
        "octocat",
        [(3, "2019-05-15T15:24:06Z", f"{HELLO}/issues/1")],
    )
    renovate = Contributor.objects.get(id=RENOVATE)
    assert (renovate.is_bot, renovate.excluded_reason) == (True, "bot")
    assert client.get(f"/v1/users/{RENOVATE}/events").status_code == 404
    assert client.get("/v1/contributors/Codertocat").json()["user_id"] == str(CODERTOCAT)
    call_command("verify_leaderboards", stdout=open("/dev/null", "w"))  # noqa: SIM115 - raises on a difference


async def _stream_create(duplicate_window: float) -> None:
    nc = await nats_client()
    try:
        config = StreamConfig(
            name=django_settings.NATS_STREAM, subjects=[django_settings.NATS_SUBJECT], duplicate_window=duplicate_window
        )
        await nc.jetstream().add_stream(config)
    finally:
        await nc.close()


def test_a_delivery_posted_twice_and_again_after_it_was_consumed_counts_once(
    client, webhook, nats_names, ready_boards, spawn_consumer
):
    # JetStream's duplicate window made short, so that the last redelivery reaches the log
    asyncio.run(_stream_create(duplicate_window=1.0))
    payload = examples.example("pull_request", "opened")
    guid = str(uuid.uuid4())
    assert post(client, "pull_request", payload, delivery=guid).status_code == 202
    assert post(client, "pull_request", payload, delivery=guid).json() == {"event_id": guid}
    assert [msg_id for msg_id, _ in published()] == [guid]  # JetStream dropped the second
    consumer = spawn_consumer()
    wait_until_drained(nats_names, processes=[consumer])
    assert board(client) == [(1, CODERTOCAT, 2, "Codertocat", AVATARS[CODERTOCAT])]

    # GitHub's redelivery, once JetStream no longer remembers the id: stored again, logged once
    wait_for(
        lambda: post(client, "pull_request", payload, delivery=guid).status_code == 202 and len(published()) == 2,
        timeout=20,
        interval=0.2,
        message="JetStream to store the redelivery",
    )
    wait_until_drained(nats_names, processes=[consumer])
    assert list(ContributionEvent.objects.values_list("event_id", "points")) == [(guid, 2)]
    assert board(client) == [(1, CODERTOCAT, 2, "Codertocat", AVATARS[CODERTOCAT])]
    call_command("verify_leaderboards", stdout=open("/dev/null", "w"))  # noqa: SIM115 - raises on a difference
