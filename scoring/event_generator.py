"""Generated contribution events of the usual mix, published to JetStream (`manage.py
publish_events`, demos, load tests, benchmarks, and the tests' event builder `event_build`).

This sits at the edge like the consumer: it is the only other module that builds protobuf.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from proto.contributions.v1 import contribution_pb2 as pb
from scoring import clock
from scoring.jetstream import JetStreamPublisher

POISON = (
    b"\xff\xff not protobuf",
    pb.ContributionEvent(id="", event_name=pb.PUSHED).SerializeToString(),
)


@dataclass(frozen=True)
class GeneratorOptions:
    count: int = 1000
    users: int = 50
    projects: int = 5
    days: int = 30
    duplicates: float = 0.05
    invalid: float = 0.0
    bots: int = 0  # how many of the users are bots (the highest ids): SPEC section 9 keeps them off the boards
    seed: int | None = None
    end: datetime | None = None


def event_build(
    *,
    event_id: str,
    kind: int,
    user_id: int,
    project_id: int,
    occurred_at: datetime,
    project_name: str | None = None,
    merged: bool = True,
    review_state: int = pb.APPROVED,
    issue_close_reason: int = pb.COMPLETED,
    commits: int = 1,
    login: str | None = None,
    avatar_url: str = "",
    is_bot: bool = False,
    url: str = "",
) -> pb.ContributionEvent:
    """One valid wire event of `kind` crediting `user_id`; with `login`, its actor names that
    user (fields 200-201 are left out otherwise, as rankr's publishers do)."""
    event = pb.ContributionEvent(
        id=event_id,
        event_name=kind,
        repository_id=project_id,
        repository_name=project_name if project_name is not None else f"org/repo-{project_id}",
        provider=pb.GITHUB,
        url=url,
    )
    event.time.FromDatetime(occurred_at)
    if login is not None:
        event.actor.id = user_id
        event.actor.login = login
        event.actor.avatar_url = avatar_url
        event.actor.is_bot = is_bot
    if kind == pb.PULL_REQUEST_OPENED:
        event.pr_opened_payload.user_id = user_id
    elif kind == pb.PULL_REQUEST_CLOSED:
        event.pr_closed_payload.user_id = user_id
        event.pr_closed_payload.merged = merged
        if merged:
            event.pr_closed_payload.close_reason = pb.MERGED
    elif kind == pb.PULL_REQUEST_REVIEW_SUBMITTED:
        event.pr_review_payload.reviewer_user_id = user_id
        event.pr_review_payload.state = review_state
    elif kind == pb.ISSUE_OPENED:
        event.issue_opened_payload.user_id = user_id
    elif kind == pb.ISSUE_CLOSED:
        event.issue_closed_payload.user_id = user_id
        event.issue_closed_payload.close_reason = issue_close_reason
    elif kind == pb.ISSUE_COMMENTED:
        event.issue_commented_payload.user_id = user_id
    elif kind == pb.PUSHED:
        event.push_payload.user_id = user_id
        event.push_payload.commits_count = commits
    return event


# Where a generated event's activity would be on GitHub, by kind (n: a number from its id).
_URLS = {
    pb.PULL_REQUEST_OPENED: "pull/{n}",
    pb.PULL_REQUEST_CLOSED: "pull/{n}",
    pb.PULL_REQUEST_REVIEW_SUBMITTED: "pull/{n}#pullrequestreview-{n}",
    pb.ISSUE_OPENED: "issues/{n}",
    pb.ISSUE_CLOSED: "issues/{n}",
    pb.ISSUE_COMMENTED: "issues/{n}#issuecomment-{n}",
    pb.PUSHED: "compare/{n:x}...{n:x}",
}


def generated_login(user_id: int, *, bot: bool = False) -> str:
    """The login `publish_events` gives a generated user (GitHub names apps "<name>[bot]")."""
    return f"app-{user_id}[bot]" if bot else f"user-{user_id}"


def events_generate(options: GeneratorOptions) -> Iterator[bytes]:
    """`options.count` messages: valid events, re-sends of earlier ones (duplicates) and
    invalid ones, in the given ratios, over `options.days` days ending at `options.end`.
    Each valid event names its user (a generated login, GitHub's identicon as the avatar) and
    links its activity, so that demos show names."""
    rng = random.Random(options.seed)
    end = options.end or clock.now()
    span = max(options.days, 0) * 86400
    sent: list[bytes] = []
    for _ in range(options.count):
        roll = rng.random()
        if sent and roll < options.duplicates:
            yield rng.choice(sent)
            continue
        if roll < options.duplicates + options.invalid:
            yield rng.choice(POISON)
            continue
        event_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        kind, user_id, project_id = rng.randint(1, 7), rng.randint(1, options.users), rng.randint(1, options.projects)
        bot = user_id > options.users - options.bots
        login = generated_login(user_id, bot=bot)
        event = event_build(
            event_id=str(event_id),
            kind=kind,
            user_id=user_id,
            project_id=project_id,
            occurred_at=end - timedelta(seconds=rng.uniform(0, span)),
            merged=rng.random() < 0.7,
            review_state=rng.randint(1, 3),
            issue_close_reason=rng.randint(1, 3),
            commits=rng.randint(0, 15),
            login=login,
            is_bot=bot,
            avatar_url=f"https://github.com/identicons/{login}.png",
            url=f"https://github.com/org/repo-{project_id}/" + _URLS[kind].format(n=event_id.int % 100_000 + 1),
        )
        data = event.SerializeToString()
        if len(sent) < 100_000:
            sent.append(data)
        yield data


def events_publish(
    messages: Iterator[bytes], *, rate: float = 0.0, window: int = 500, progress: Callable[[int], None] = lambda n: None
) -> int:
    """Publish `messages` to the configured subject (with JetStream acks, without message ids:
    the generated duplicates must reach the consumer), at most `rate` per second when `rate`
    > 0, on a connection of this run's own. Returns how many were published."""
    publisher = JetStreamPublisher("publish_events")
    try:
        return publisher.publish_many(messages, rate=rate, window=window, progress=progress)
    finally:
        publisher.close()
