"""The wire format: protobuf bytes in, a plain `Contribution` (or the reason it is invalid) out.

Protobuf stops here. `decode` checks one message against SPEC section 1 and returns the plain
values the services take; `raw_as_json` shows stored bytes to people (the admin). Nothing here
does I/O, so every rule is tested without a server.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf.json_format import MessageToJson
from google.protobuf.message import DecodeError

from proto.contributions.v1 import contribution_pb2 as pb
from scoring.clock import EPOCH
from scoring.rules import Contribution, EventKind, IssueCloseReason, PrCloseReason, ReviewState, ScoringFacts

MAX_EVENT_ID_LENGTH = 256
# What the log keeps of a repository name (scoring_project.name is varchar(512)): a longer one
# is cut, not refused — the name scores nothing (SPEC section 1: "stored cut to what the log
# keeps, where cutting changes no score").
MAX_PROJECT_NAME_LENGTH = 512
# A login is cut too (GitHub's are at most 39 characters): it is indexed, and a btree entry
# above ~2.7 kB fails the insert for good; it scores nothing.
MAX_LOGIN_LENGTH = 256

# EventName -> (payload field, the field naming the credited user)
_PAYLOADS = {
    EventKind.PULL_REQUEST_OPENED: ("pr_opened_payload", "user_id"),
    EventKind.PULL_REQUEST_CLOSED: ("pr_closed_payload", "user_id"),
    EventKind.PULL_REQUEST_REVIEW_SUBMITTED: ("pr_review_payload", "reviewer_user_id"),
    EventKind.ISSUE_OPENED: ("issue_opened_payload", "user_id"),
    EventKind.ISSUE_CLOSED: ("issue_closed_payload", "user_id"),
    EventKind.ISSUE_COMMENTED: ("issue_commented_payload", "user_id"),
    EventKind.PUSHED: ("push_payload", "user_id"),
}
_KINDS = {kind.value: kind for kind in EventKind}


class InvalidEvent(ValueError):
    """The message is not a valid contribution event; the text says why."""


def decode(data: bytes) -> Contribution:
    """Decode and validate one wire message (SPEC section 1). Raises `InvalidEvent`.

    Each field is read once into a local: a read of a message's field builds a new Python
    object every time, and this runs for every event (docs/BENCHMARKS.md, Profiling)."""
    message = pb.ContributionEvent()
    try:
        message.ParseFromString(data)
    except (DecodeError, RuntimeWarning) as exc:
        raise InvalidEvent(f"undecodable: {exc}") from exc
    event_id = message.id
    if not event_id:
        raise InvalidEvent("id is empty")
    if "\x00" in event_id:
        raise InvalidEvent("id contains a NUL character (Postgres cannot store it)")
    if len(event_id) > MAX_EVENT_ID_LENGTH:
        raise InvalidEvent(f"id is longer than {MAX_EVENT_ID_LENGTH} characters")
    if not message.HasField("time"):
        raise InvalidEvent("time is missing")
    occurred_at = _occurred_at(message.time)
    kind = _KINDS.get(message.event_name)
    if kind is None:
        raise InvalidEvent(f"event_name {message.event_name} is unspecified or unknown")
    payload_field, user_field = _PAYLOADS[kind]
    present = message.WhichOneof("payload")
    if present is None:
        raise InvalidEvent(f"payload is missing (expected {payload_field})")
    if present != payload_field:
        raise InvalidEvent(f"payload {present} does not match event_name {kind.name} (expected {payload_field})")
    project_id = message.repository_id
    if project_id == 0:
        raise InvalidEvent("repository_id is 0")
    payload = getattr(message, present)
    user_id = getattr(payload, user_field)
    if user_id == 0:
        raise InvalidEvent(f"{payload_field}.{user_field} (the credited user) is 0")
    facts = _scoring_facts(kind, payload)
    # The actor names the credited user; one naming somebody else (or nobody) is not trusted
    # with this user's name, and the event is scored without it.
    if message.HasField("actor"):
        actor = message.actor
        if actor.id == user_id:
            facts["login"] = _text(actor.login)[:MAX_LOGIN_LENGTH]  # indexed: a btree entry is < 2.7 kB
            facts["avatar_url"] = _text(actor.avatar_url)
            facts["is_bot"] = actor.is_bot
    return Contribution(
        event_id=event_id,
        kind=kind,
        occurred_at=occurred_at,
        project_id=project_id,
        project_name=project_name(message.repository_name),
        user_id=user_id,
        raw=data,
        url=_text(message.url),
        **facts,
    )


# What a protobuf Timestamp may hold: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
_SECONDS_MIN, _SECONDS_MAX, _NANOS_PER_SECOND = -62_135_596_800, 253_402_300_799, 1_000_000_000


def _occurred_at(time) -> datetime:
    """The Timestamp as an aware UTC datetime, exactly `time.ToDatetime(tzinfo=UTC)` (nanoseconds
    cut to microseconds): computed here for a valid one, since that method reads each field
    twice and checks the range again (3.1 against 1.4 us); an invalid one gets its error."""
    seconds, nanos = time.seconds, time.nanos
    if _SECONDS_MIN <= seconds <= _SECONDS_MAX and 0 <= nanos < _NANOS_PER_SECOND:
        return EPOCH + timedelta(0, seconds, nanos // 1000)
    try:
        return time.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidEvent(f"time is out of range: {exc}") from exc


def _scoring_facts(kind: EventKind, payload) -> dict[str, object]:
    """The payload's facts that points depend on (the fields of `ScoringFacts` beyond the kind)."""
    if kind is EventKind.PULL_REQUEST_CLOSED:
        return {
            "merged": (payload.HasField("merged") and payload.merged) or payload.close_reason == PrCloseReason.MERGED
        }
    if kind is EventKind.PULL_REQUEST_REVIEW_SUBMITTED:
        return {"review_state": _enum(ReviewState, payload.state)}
    if kind is EventKind.ISSUE_CLOSED:
        return {"issue_close_reason": _enum(IssueCloseReason, payload.close_reason)}
    if kind is EventKind.PUSHED:
        return {"commits": payload.commits_count or len(payload.commits)}
    return {}


def scoring_facts(data: bytes) -> ScoringFacts:
    """What the points of a logged message depend on — the rescore's decoder, ten times leaner
    than `decode`: the log holds only messages `decode` accepted, so nothing is checked again
    but what the points need. Raises `InvalidEvent` for bytes that are not such a message."""
    message = pb.ContributionEvent()
    try:
        message.ParseFromString(data)
    except (DecodeError, RuntimeWarning) as exc:
        raise InvalidEvent(f"undecodable: {exc}") from exc
    kind = _KINDS.get(message.event_name)
    if kind is None or message.WhichOneof("payload") != _PAYLOADS[kind][0]:
        raise InvalidEvent(
            f"not a logged event (event_name {message.event_name}, payload {message.WhichOneof('payload')})"
        )
    return ScoringFacts(kind, **_scoring_facts(kind, getattr(message, _PAYLOADS[kind][0])))


def project_name(name: str) -> str:
    """The repository name as the log keeps it: without NULs (Postgres text holds none), cut
    to MAX_PROJECT_NAME_LENGTH characters."""
    return name.replace("\x00", "")[:MAX_PROJECT_NAME_LENGTH]


def _text(value: str) -> str:
    return value.replace("\x00", "")  # Postgres text holds no NUL


def _enum(enum_type, value: int):
    try:
        return enum_type(value)
    except ValueError:
        return enum_type(0)  # an unknown state scores like UNSPECIFIED


def raw_as_json(data: bytes) -> str:
    """A wire message as indented JSON, for people (the admin); the reason if it does not decode."""
    message = pb.ContributionEvent()
    try:
        message.ParseFromString(bytes(data))
    except DecodeError as exc:
        return f"(not a ContributionEvent: {exc})"
    return MessageToJson(message, indent=2, preserving_proto_field_name=True)
