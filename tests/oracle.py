"""The expected boards, written from SPEC sections 1-3 alone.

Nothing here imports the service's decoding, scoring, period or retention code: the scoring
table is SPEC section 2 written out as literal numbers, the periods are formatted by hand
(the ISO week by ISO 8601's Thursday rule), the retention from each period's own end, and wire messages are
read field by field from the generated protobuf module. So a wrong point value, period or
retention rule in the service makes the boards differ from these, instead of agreeing with
them by construction. The one thing shared is `scoring.rules.Contribution`, the plain value
type the services take as input (fields only, no logic), so that the events a test feeds to
the service and the events this module scores are the same objects.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from google.protobuf.message import DecodeError

from proto.contributions.v1 import contribution_pb2 as pb
from scoring import clock  # the time the test runs at (tests/clock.py), not service logic
from scoring.rules import Contribution, EventKind, IssueCloseReason, ReviewState

# SPEC section 6's defaults for how long period boards stay after their period ends; yearly
# and all-time boards stay for ever.
RETENTION_DAYS = {"daily": 35, "weekly": 91, "monthly": 400}

# SPEC section 1: the payload each event name carries, and the field naming the credited user.
PAYLOADS = {
    pb.PULL_REQUEST_OPENED: ("pr_opened_payload", "user_id"),
    pb.PULL_REQUEST_CLOSED: ("pr_closed_payload", "user_id"),
    pb.PULL_REQUEST_REVIEW_SUBMITTED: ("pr_review_payload", "reviewer_user_id"),
    pb.ISSUE_OPENED: ("issue_opened_payload", "user_id"),
    pb.ISSUE_CLOSED: ("issue_closed_payload", "user_id"),
    pb.ISSUE_COMMENTED: ("issue_commented_payload", "user_id"),
    pb.PUSHED: ("push_payload", "user_id"),
}
# What the log can hold (SPEC section 1: a value it cannot hold makes a dead letter).
MAX_ID_LENGTH = 256
MAX_LOGIN_LENGTH = 256  # a login is kept cut to this (an indexed column)


# SPEC section 2's default table, by the row names of SPEC section 6's SCORING_* settings (the
# names an operator changes a row by, and a rules version stores).
SPEC_TABLE = {
    "pull_request_opened": 2,
    "pull_request_merged": 10,
    "pull_request_closed_unmerged": 0,
    "review_approved_or_changes_requested": 3,
    "review_other": 1,
    "issue_opened": 2,
    "issue_closed_completed": 3,
    "issue_closed_other": 0,
    "issue_commented": 1,
    "push_per_commit": 1,
    "push_max_commits": 10,
}


def points(c: Contribution, table: dict[str, int] | None = None) -> int:
    """SPEC section 2's table, row by row — with the rows `table` gives changed."""
    t = SPEC_TABLE if table is None else {**SPEC_TABLE, **table}
    kind = int(c.kind)
    if kind == pb.PULL_REQUEST_OPENED:
        return t["pull_request_opened"]
    if kind == pb.PULL_REQUEST_CLOSED:
        return t["pull_request_merged"] if c.merged else t["pull_request_closed_unmerged"]
    if kind == pb.PULL_REQUEST_REVIEW_SUBMITTED:
        approving = int(c.review_state) in (pb.APPROVED, pb.CHANGES_REQUESTED)
        return t["review_approved_or_changes_requested"] if approving else t["review_other"]
    if kind == pb.ISSUE_OPENED:
        return t["issue_opened"]
    if kind == pb.ISSUE_CLOSED:
        return t["issue_closed_completed"] if int(c.issue_close_reason) == pb.COMPLETED else t["issue_closed_other"]
    if kind == pb.ISSUE_COMMENTED:
        return t["issue_commented"]
    if kind == pb.PUSHED:
        return t["push_per_commit"] * min(max(c.commits, 0), t["push_max_commits"])
    raise AssertionError(f"the oracle knows no event kind {kind}")


def periods(moment: datetime) -> dict[str, str]:
    """{timeframe: period} of the UTC instant `moment` (SPEC section 3's formats). The ISO week
    is the week of the Thursday of the same Monday-to-Sunday week (ISO 8601's rule), counted
    here by hand; years are zero-padded to four digits (strftime writes year 1 as "1")."""
    t = moment.astimezone(UTC)
    day = t.date()
    thursday = day + timedelta(days=3 - day.weekday())
    week = (thursday - date(thursday.year, 1, 1)).days // 7 + 1
    return {
        "all_time": "all",
        "yearly": f"{day.year:04d}",
        "monthly": f"{day.year:04d}-{day.month:02d}",
        "weekly": f"{thursday.year:04d}-W{week:02d}",
        "daily": f"{day.year:04d}-{day.month:02d}-{day.day:02d}",
    }


def _day_after(make) -> datetime | None:
    """The first instant of the day `make()` gives; None when that day is past 9999-12-31."""
    try:
        d = make()
    except (ValueError, OverflowError):
        return None
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def period_ends(moment: datetime) -> dict[str, datetime | None]:
    """{timeframe: the first instant after the period that holds `moment`}, for the
    timeframes whose boards expire; None for a period that ends past the last day a date holds."""
    day = moment.astimezone(UTC).date()
    monday = day - timedelta(days=day.weekday())
    return {
        "daily": _day_after(lambda: day + timedelta(days=1)),
        "weekly": _day_after(lambda: monday + timedelta(days=7)),
        "monthly": _day_after(
            lambda: date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)
        ),
    }


def expiry(timeframe: str, moment: datetime, retention: dict[str, int] | None = None) -> datetime | None:
    """When the board of `timeframe` holding `moment` leaves Redis; None: never (also for a
    board whose expiry would fall past 9999-12-31, which no date can hold)."""
    retention = RETENTION_DAYS if retention is None else retention
    if timeframe not in retention:
        return None
    end = period_ends(moment)[timeframe]
    if end is None:
        return None
    try:
        return end + timedelta(days=retention[timeframe])
    except OverflowError:
        return None


def keys(project_id: int, timeframe: str, period: str) -> tuple[str, str]:
    """The global and the project board keys of one (timeframe, period)."""
    return f"leaderboard:global:{timeframe}:{period}", f"leaderboard:project:{project_id}:{timeframe}:{period}"


def valid_events(messages: Iterable[bytes]) -> list[Contribution]:
    """The distinct valid events among wire messages (the first of each id wins), read field
    by field from the protobuf message; the invalid ones (SPEC section 1) are left out."""
    seen: dict[str, Contribution] = {}
    for data in messages:
        contribution = _read(data)
        if contribution is not None:
            seen.setdefault(contribution.event_id, contribution)
    return list(seen.values())


def _read(data: bytes) -> Contribution | None:
    message = pb.ContributionEvent()
    try:
        message.ParseFromString(data)
    except DecodeError:
        return None
    if not message.id or "\x00" in message.id or len(message.id) > MAX_ID_LENGTH:
        return None
    if not message.HasField("time") or message.event_name not in PAYLOADS or message.repository_id == 0:
        return None
    payload_field, user_field = PAYLOADS[message.event_name]
    if message.WhichOneof("payload") != payload_field:
        return None
    payload = getattr(message, payload_field)
    user_id = getattr(payload, user_field)
    if user_id == 0:
        return None
    if not 0 <= message.time.nanos <= 999_999_999:
        return None  # not a Timestamp (google/protobuf/timestamp.proto: nanos in [0, 1e9))
    try:
        occurred_at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
            seconds=message.time.seconds, microseconds=message.time.nanos // 1000
        )
    except OverflowError:
        return None
    facts = {}
    if message.event_name == pb.PULL_REQUEST_CLOSED:
        facts["merged"] = payload.merged or payload.close_reason == pb.MERGED
    elif message.event_name == pb.PULL_REQUEST_REVIEW_SUBMITTED:
        facts["review_state"] = ReviewState(payload.state) if 0 <= payload.state <= 3 else ReviewState.UNSPECIFIED
    elif message.event_name == pb.ISSUE_CLOSED:
        reason = payload.close_reason
        facts["issue_close_reason"] = IssueCloseReason(reason) if 0 <= reason <= 3 else IssueCloseReason.UNSPECIFIED
    elif message.event_name == pb.PUSHED:
        facts["commits"] = payload.commits_count or len(payload.commits)
    if message.HasField("actor") and message.actor.id == user_id:  # SPEC section 1: the credited user's actor
        facts["login"] = message.actor.login.replace("\x00", "")[:MAX_LOGIN_LENGTH]
        facts["is_bot"] = message.actor.is_bot
    return Contribution(
        event_id=message.id,
        kind=EventKind(message.event_name),
        occurred_at=occurred_at,
        project_id=message.repository_id,
        project_name=message.repository_name.replace("\x00", ""),
        user_id=user_id,
        raw=data,
        **facts,
    )


def bots(contributions: Iterable[Contribution], excluded_logins: Iterable[str] = ()) -> set[int]:
    """The users SPEC section 9 keeps off the boards by themselves: as their newest named event
    (by time, then id) says, `actor.is_bot`, a login ending in "[bot]", or one of
    `excluded_logins` (any case)."""
    listed = {login.upper() for login in excluded_logins}
    newest: dict[int, Contribution] = {}
    for c in contributions:
        if c.login is None:
            continue
        known = newest.get(c.user_id)
        if known is None or (c.occurred_at, c.event_id) >= (known.occurred_at, known.event_id):
            newest[c.user_id] = c
    return {
        user_id for user_id, c in newest.items() if c.is_bot or c.login.endswith("[bot]") or c.login.upper() in listed
    }


def expected_boards(
    contributions: Iterable[Contribution],
    now: datetime | None = None,
    retention: dict[str, int] | None = None,
    excluded: Iterable[int] = (),
    table: dict[str, int] | None = None,
) -> dict[str, dict[str, int]]:
    """{board key: {user id: score}} for the distinct events (first of each id), scored by SPEC's
    table with `table`'s rows changed, on the boards still kept at `now` under `retention`
    (SPEC's defaults unless given), leaving out the events of the `excluded` users."""
    now = now or clock.now()
    excluded = set(excluded)
    boards: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    seen: set[str] = set()
    for c in contributions:
        if c.event_id in seen:
            continue
        seen.add(c.event_id)
        if c.user_id in excluded:
            continue
        earned = points(c, table)
        if earned == 0:
            continue
        for timeframe, period in periods(c.occurred_at).items():
            expires = expiry(timeframe, c.occurred_at, retention)
            if expires is not None and now >= expires:
                continue
            for key in keys(c.project_id, timeframe, period):
                boards[key][str(c.user_id)] += earned
    return {key: dict(members) for key, members in boards.items()}


def expected_expiry(
    contributions: Iterable[Contribution],
    now: datetime | None = None,
    retention: dict[str, int] | None = None,
    table: dict[str, int] | None = None,
) -> dict[str, int | None]:
    """{board key: unix second it expires at (None: never)} for every expected board."""
    now = now or clock.now()
    result: dict[str, int | None] = {}
    for c in contributions:
        if points(c, table) == 0:
            continue
        for timeframe, period in periods(c.occurred_at).items():
            expires = expiry(timeframe, c.occurred_at, retention)
            if expires is not None and now >= expires:
                continue
            for key in keys(c.project_id, timeframe, period):
                result[key] = None if expires is None else int(expires.timestamp())
    return result


def redis_boards_state(client) -> dict[str, dict[str, int]]:
    """Every board in Redis as {key: {member: score}}."""
    state = {}
    for pattern in ("leaderboard:global:*", "leaderboard:project:*"):
        for key in client.scan_iter(match=pattern, count=1000):
            key = key.decode() if isinstance(key, bytes) else key
            members = client.zrange(key, 0, -1, withscores=True)
            state[key] = {(m.decode() if isinstance(m, bytes) else m): int(s) for m, s in members}
    return state


def snapshot_state(snapshot) -> dict[str, dict[str, int]]:
    """What a saved snapshot holds, as {board key: {user id: score}} (project 0: global)."""
    from snapshots.models import SnapshotBoard

    state = {}
    for row in SnapshotBoard.objects.filter(snapshot=snapshot):
        assert row.members == len(row.user_ids) == len(row.scores)
        global_key, project_key = keys(int(row.project_id), row.timeframe, row.period)
        key = global_key if int(row.project_id) == 0 else project_key
        state[key] = {str(user_id): score for user_id, score in zip(row.user_ids, row.scores, strict=True)}
    return state
