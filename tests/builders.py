"""Events the tests build: plain `Contribution` values and wire messages.

`wire_events` and `contributions` make every kind (some worth 0 points), users and projects
near the u64 edges, times on UTC-day, ISO-week and year edges and past every board's
retention — so a restore that is exact on them is exact because it is right, not because the
data were easy. The expected boards come from tests/oracle.py, which is written from the
SPEC and imports none of the service's decoding, scoring, period or retention code.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from proto.contributions.v1 import contribution_pb2 as pb
from scoring import clock
from scoring.event_generator import GeneratorOptions, event_build, events_generate, events_publish
from scoring.rules import Contribution, EventKind
from tests.oracle import valid_events

USERS = [1, 2, 3, 42, 1000, 2**53 + 1, 2**63 + 5, 2**64 - 1]
PROJECTS = [1, 7, 2**32 + 3, 2**64 - 2]


def moment(rng: random.Random, now: datetime) -> datetime:
    """Mostly recent; some long past (beyond the daily, weekly and monthly retention); some on
    the first and last instant of a UTC day, and the Monday that starts ISO week 2026-W01."""
    roll = rng.random()
    if roll < 0.6:
        return now - timedelta(seconds=rng.uniform(0, 20 * 86400))
    if roll < 0.8:
        return now - timedelta(days=rng.choice([40, 95, 120, 420, 800]), seconds=rng.uniform(0, 86400))
    day = (now - timedelta(days=rng.randint(0, 60))).replace(hour=0, minute=0, second=0, microsecond=0)
    return rng.choice([day, day - timedelta(microseconds=1), datetime(2025, 12, 29, tzinfo=UTC)])


def wire_events(
    count: int, *, seed: int, prefix: str = "", projects: list[int] = PROJECTS, now: datetime | None = None
) -> list[bytes]:
    """`count` distinct valid wire messages."""
    rng = random.Random(seed)
    now = now or clock.now()
    messages = []
    for _ in range(count):
        event = event_build(
            event_id=f"{prefix}{uuid.UUID(int=rng.getrandbits(128), version=4)}",
            kind=rng.randint(1, 7),
            user_id=rng.choice(USERS),
            project_id=rng.choice(projects),
            occurred_at=moment(rng, now),
            merged=rng.random() < 0.7,
            review_state=rng.choice([pb.APPROVED, pb.CHANGES_REQUESTED, pb.COMMENTED]),
            issue_close_reason=rng.choice([pb.COMPLETED, pb.NOT_PLANNED]),
            commits=rng.randint(0, 14),
        )
        messages.append(event.SerializeToString())
    return messages


def contributions(count: int, *, seed: int, prefix: str = "", projects: list[int] = PROJECTS) -> list[Contribution]:
    """The same events as plain values, as the consumer hands them to the services."""
    return valid_events(wire_events(count, seed=seed, prefix=prefix, projects=projects))


def pushes(prefix: str, user: int, points: int, at: datetime, project: int = 7, name: str = "org/app"):
    """Events worth `points` in all: pushes of at most 10 commits (1 point each)."""
    events, n = [], 0
    while points > 0:
        commits = min(points, 10)
        events.append(Contribution(f"{prefix}-{user}-{n}", EventKind.PUSHED, at, project, name, user, commits=commits))
        points -= commits
        n += 1
    return events


def zero_point(event_id: str, user: int, at: datetime, project: int = 7) -> Contribution:
    """A pull request closed without merging: logged, worth 0."""
    return Contribution(event_id, EventKind.PULL_REQUEST_CLOSED, at, project, "org/app", user, merged=False)


def generate(count: int, seed: int, **options) -> list[bytes]:
    defaults = {"users": 40, "projects": 4, "days": 60, "duplicates": 0.1, "invalid": 0.02}
    return list(events_generate(GeneratorOptions(count=count, seed=seed, **{**defaults, **options})))


def publish(messages: list[bytes], rate: float = 0.0) -> None:
    assert events_publish(iter(messages), rate=rate) == len(messages)
