"""The oracle (tests/oracle.py) checked against SPEC's own examples, and the service's pure
code checked against the oracle on many generated messages (no servers).

The boards tests compare Redis with the oracle; these make sure that the oracle itself says
what SPEC says, and find a disagreement in decoding, points, periods or retention without
waiting for a consumer to meet the one event that shows it.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from proto.contributions.v1 import contribution_pb2 as pb
from scoring.boards import Timeframe, boards_of, expires_at, is_retained
from scoring.ingest.wire import InvalidEvent, decode
from scoring.rules import Contribution, EventKind, IssueCloseReason, ReviewState, ScoringTable, points
from tests import oracle
from tests.fixtures import ROOT

SPEC_SCORING = oracle.SPEC_TABLE  # SPEC section 2, as the settings name its rows
SPEC_RETENTION = {"daily": 35, "weekly": 91, "monthly": 400}


def _unconfigured_settings(*names: str) -> dict:
    """Settings as a process with no configuration at all (no environment, no file) sees them."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SCORING_", "BOARD_RETENTION_", "LEADERBOARD_", "DJANGO_"))
    }
    env["DJANGO_SETTINGS_MODULE"] = "leaderboard_project.settings"
    code = (
        "import json; from django.conf import settings;"
        f" print(json.dumps({{n: getattr(settings, n) for n in {names!r}}}))"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def test_the_default_scoring_table_and_retention_are_the_specs():
    found = _unconfigured_settings("SCORING", "BOARD_RETENTION_DAYS")
    assert found == {"SCORING": SPEC_SCORING, "BOARD_RETENTION_DAYS": SPEC_RETENTION}
    assert oracle.RETENTION_DAYS == SPEC_RETENTION


def _event(kind: EventKind, **facts) -> Contribution:
    return Contribution("e", kind, datetime(2026, 11, 29, tzinfo=UTC), 1, "o/r", 7, **facts)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (_event(EventKind.PULL_REQUEST_OPENED), 2),
        (_event(EventKind.PULL_REQUEST_CLOSED, merged=True), 10),
        (_event(EventKind.PULL_REQUEST_CLOSED, merged=False), 0),
        (_event(EventKind.PULL_REQUEST_REVIEW_SUBMITTED, review_state=ReviewState.APPROVED), 3),
        (_event(EventKind.PULL_REQUEST_REVIEW_SUBMITTED, review_state=ReviewState.CHANGES_REQUESTED), 3),
        (_event(EventKind.PULL_REQUEST_REVIEW_SUBMITTED, review_state=ReviewState.COMMENTED), 1),
        (_event(EventKind.ISSUE_OPENED), 2),
        (_event(EventKind.ISSUE_CLOSED, issue_close_reason=IssueCloseReason.COMPLETED), 3),
        (_event(EventKind.ISSUE_CLOSED, issue_close_reason=IssueCloseReason.NOT_PLANNED), 0),
        (_event(EventKind.ISSUE_COMMENTED), 1),
        (_event(EventKind.PUSHED, commits=4), 4),
        (_event(EventKind.PUSHED, commits=11), 10),
    ],
)
def test_the_oracle_scores_as_spec_section_2(event, expected):
    assert oracle.points(event) == expected


@pytest.mark.parametrize(
    ("moment", "weekly", "monthly", "yearly"),
    [
        (datetime(2025, 12, 30, 12, tzinfo=UTC), "2026-W01", "2025-12", "2025"),  # SPEC's own example
        (datetime(2025, 12, 28, 23, 59, 59, tzinfo=UTC), "2025-W52", "2025-12", "2025"),
        (datetime(2020, 12, 31, tzinfo=UTC), "2020-W53", "2020-12", "2020"),
        (datetime(2021, 1, 3, 23, 59, 59, 999999, tzinfo=UTC), "2020-W53", "2021-01", "2021"),
        (datetime(2021, 1, 4, tzinfo=UTC), "2021-W01", "2021-01", "2021"),
        (datetime(2027, 1, 1, tzinfo=UTC), "2026-W53", "2027-01", "2027"),
    ],
)
def test_the_oracles_periods_on_year_edges(moment, weekly, monthly, yearly):
    assert oracle.periods(moment) == {
        "all_time": "all",
        "yearly": yearly,
        "monthly": monthly,
        "weekly": weekly,
        "daily": moment.strftime("%Y-%m-%d"),
    }


def test_the_oracles_retention_counts_from_the_end_of_the_period():
    moment = datetime(2026, 1, 31, 10, tzinfo=UTC)  # a Saturday; ISO week 2026-W05 ends Mon 2 Feb
    assert oracle.expiry("daily", moment) == datetime(2026, 3, 8, tzinfo=UTC)  # 1 Feb + 35 days
    assert oracle.expiry("weekly", moment) == datetime(2026, 5, 4, tzinfo=UTC)  # 2 Feb + 91 days
    assert oracle.expiry("monthly", moment) == datetime(2027, 3, 8, tzinfo=UTC)  # 1 Feb 2026 + 400 days
    assert oracle.expiry("yearly", moment) is None
    assert oracle.expiry("all_time", moment) is None
    event = Contribution("e", EventKind.ISSUE_OPENED, moment, 5, "o/r", 7)
    just_before = oracle.expected_boards([event], now=datetime(2026, 3, 8, tzinfo=UTC) - timedelta(microseconds=1))
    at_expiry = oracle.expected_boards([event], now=datetime(2026, 3, 8, tzinfo=UTC))
    assert set(just_before) - set(at_expiry) == {
        "leaderboard:global:daily:2026-01-31",
        "leaderboard:project:5:daily:2026-01-31",
    }
    assert len(at_expiry) == 8


# ------------------------------------------------- the service's pure code against the oracle

KINDS = list(oracle.PAYLOADS)
PAYLOAD_FIELDS = [field for field, _ in oracle.PAYLOADS.values()]


def _moment(rng: random.Random) -> datetime:
    """Around year ends (ISO weeks 52, 53 and 1), month ends, or anywhere in 1000..9997."""
    roll = rng.random()
    if roll < 0.5:
        year = rng.randint(1990, 2040)
        day = rng.choice(
            [datetime(year, 12, 31 - d, tzinfo=UTC) for d in range(5)]
            + [datetime(year, 1, 1 + d, tzinfo=UTC) for d in range(5)]
        )
        return day + timedelta(seconds=rng.choice([0, 1, 43200, 86399]), microseconds=rng.choice([0, 999999]))
    if roll < 0.7:
        month_end = datetime(rng.randint(2000, 2030), rng.randint(1, 12), 1, tzinfo=UTC) - timedelta(microseconds=1)
        return month_end + timedelta(microseconds=rng.choice([0, 1]))
    return datetime(rng.randint(1000, 9997), 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 365 * 86400))


def _message(rng: random.Random) -> bytes:
    """A message that is mostly valid, with each of SPEC's ways to be invalid now and then."""
    kind = rng.choice(KINDS) if rng.random() < 0.95 else rng.choice([0, 8, 100])
    event = pb.ContributionEvent(
        id=rng.choice(["", "x\x00y", "e" * 257]) if rng.random() < 0.03 else f"id-{rng.getrandbits(64)}",
        event_name=kind,
        repository_id=0 if rng.random() < 0.03 else rng.choice([1, 7, 2**64 - 1]),
        repository_name="org/repo",
    )
    if rng.random() < 0.97:
        event.time.FromDatetime(_moment(rng))
    field = oracle.PAYLOADS[kind][0] if kind in oracle.PAYLOADS and rng.random() < 0.95 else rng.choice(PAYLOAD_FIELDS)
    payload = getattr(event, field)
    user = 0 if rng.random() < 0.03 else rng.choice([1, 42, 2**64 - 1])
    payload.SetInParent()
    for name in ("user_id", "reviewer_user_id"):
        if name in payload.DESCRIPTOR.fields_by_name:
            setattr(payload, name, user)
            break
    if field == "pr_closed_payload":
        if rng.random() < 0.7:
            payload.merged = rng.random() < 0.5
        payload.close_reason = rng.randint(0, 4)
    elif field == "pr_review_payload":
        payload.state = rng.randint(0, 4)
    elif field == "issue_closed_payload":
        payload.close_reason = rng.randint(0, 4)
    elif field == "push_payload":
        payload.commits_count = rng.choice([0, 0, 1, 3, 10, 11, 40, -2])
        for n in range(rng.choice([0, 2, 12])):
            payload.commits.add(commit_id=f"c{n}")
    return event.SerializeToString()


def _service_decode(data: bytes) -> Contribution | None:
    try:
        return decode(data)
    except InvalidEvent:
        return None


def _service_boards(c: Contribution, now: datetime) -> dict[str, int | None]:
    """{key: expiry} of the boards the service's pure code puts `c` on at `now`."""
    retention = SPEC_RETENTION
    result = {}
    for board in boards_of(c.project_id, c.occurred_at):
        if is_retained(board, now, retention):
            at = expires_at(Timeframe(board.timeframe), board.period, retention)
            result[board.key] = None if at is None else int(at.timestamp())
    return result


def test_the_services_decoding_points_periods_and_retention_agree_with_the_oracle():
    rng = random.Random(14)
    table = ScoringTable.from_mapping(SPEC_SCORING)
    checked = 0
    for _ in range(4000):
        data = _message(rng)
        ours = oracle.valid_events([data])
        theirs = _service_decode(data)
        assert theirs == (ours[0] if ours else None), pb.ContributionEvent.FromString(data)
        if theirs is None:
            continue
        assert points(theirs, table) == oracle.points(theirs), theirs
        if oracle.points(theirs):
            later = theirs.occurred_at + timedelta(days=rng.choice([0, 1, 30, 35, 36, 90, 92, 400, 420]))
            now = later.replace(hour=rng.randint(0, 23))
            assert _service_boards(theirs, now) == oracle.expected_expiry([theirs], now=now), (theirs, now)
        checked += 1
    assert checked > 3000
