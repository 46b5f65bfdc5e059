"""Wire messages at the edges of what the wire format allows, for the poison tests.

Every field of every payload with the values its wire type allows at its ends and some odd
ones: strings empty, as long as the log keeps and longer (up to nearly NATS's 1 MB payload),
with NUL, a lone combining mark, right-to-left override, emoji and invalid UTF-8; integers 0,
1 and their maximum (u64), i32 at both ends (negative counts); enums beyond the known values;
the first and last instants a Timestamp holds and one nanosecond outside; missing and
mismatched payloads; unknown fields (ours, 200 and up, included). Some of these are valid
events (they must be scored exactly), the others invalid (they must be dead letters): the
tests decide which through tests/oracle.py's `valid_events`, not through this list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from proto.contributions.v1 import contribution_pb2 as pb
from scoring.event_generator import event_build

U64_MAX = 2**64 - 1
I32_MIN, I32_MAX = -(2**31), 2**31 - 1
BIG = 900_000  # characters: a message just under NATS's default max payload (1 MB)
STRINGS = {
    "empty": "",
    "one": "x",
    "512": "n" * 512,
    "513": "n" * 513,
    "nul": "a\x00b",
    "combining": "\u0301",
    "rtl": "\u202eevil\u202c",
    "emoji": "🦀🏳️‍🌈",
}
TIMES = {  # (seconds, nanos) of google.protobuf.Timestamp
    "first-instant": (-62135596800, 0),
    "last-instant": (253402300799, 999_999_999),
    "last-day-noon": (253402300799 - 12 * 3600, 0),
    "epoch": (0, 0),
    "one-ns-after-last": (253402300800, 0),
    "one-ns-before-first": (-62135596801, 999_999_999),
    "negative-nanos": (0, -1),
    "nanos-overflow": (0, 1_000_000_000),
    "i64-max": (2**63 - 1, 0),
    "i64-min": (-(2**63), 0),
}
KINDS = {
    pb.PULL_REQUEST_OPENED: "pr_opened_payload",
    pb.PULL_REQUEST_CLOSED: "pr_closed_payload",
    pb.PULL_REQUEST_REVIEW_SUBMITTED: "pr_review_payload",
    pb.ISSUE_OPENED: "issue_opened_payload",
    pb.ISSUE_CLOSED: "issue_closed_payload",
    pb.ISSUE_COMMENTED: "issue_commented_payload",
    pb.PUSHED: "push_payload",
}
INVALID_UTF8 = b"\xff\xfe\xc3("
_MARK = "\x01MARK\x01"  # replaced in the serialized bytes by INVALID_UTF8 (same length)
WHEN = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def base(event_id: str, kind: int = pb.PUSHED, **options) -> pb.ContributionEvent:
    return event_build(
        event_id=event_id, kind=kind, user_id=options.pop("user_id", 77), project_id=5, occurred_at=WHEN, **options
    )


def _scalar_values(field) -> list:
    """The ends of a scalar field's wire type."""
    t = field.type
    if t in (field.TYPE_UINT64, field.TYPE_FIXED64):
        return [0, 1, U64_MAX]
    if t in (field.TYPE_INT32, field.TYPE_SINT32, field.TYPE_SFIXED32):
        return [I32_MIN, -1, 0, I32_MAX]
    if t == field.TYPE_ENUM:
        return [0, *[v.number for v in field.enum_type.values][-1:], 4, 99, I32_MAX, -1]
    if t == field.TYPE_BOOL:
        return [False, True]
    if t == field.TYPE_STRING:
        return list(STRINGS.values())
    return []


def _mutations() -> Iterator[tuple[str, int, Callable[[pb.ContributionEvent], None]]]:
    """(label, kind, change) for every field of every payload and of the envelope."""
    for kind, payload_name in KINDS.items():
        descriptor = getattr(pb.ContributionEvent(), payload_name).DESCRIPTOR
        for field in descriptor.fields:
            if field.type == field.TYPE_MESSAGE:
                if field.message_type.full_name == "google.protobuf.Timestamp":
                    for label, (seconds, nanos) in TIMES.items():

                        def stamp(e, f=field.name, p=payload_name, s=seconds, n=nanos):
                            ts = getattr(getattr(e, p), f)
                            ts.seconds, ts.nanos = s, n

                        yield f"{payload_name}.{field.name}={label}", kind, stamp
                elif field.is_repeated:  # commits

                    def commits(e, p=payload_name, f=field.name):
                        for n in range(1000):
                            c = getattr(getattr(e, p), f).add()
                            c.author_name, c.commit_id, c.message = STRINGS["emoji"], f"{n:040x}", STRINGS["rtl"]
                            c.additions, c.deletions, c.modified = I32_MAX, I32_MIN, -1

                    yield f"{payload_name}.{field.name}=1000", kind, commits
                continue
            for index, value in enumerate(_scalar_values(field)):
                if field.is_repeated:

                    def many(e, p=payload_name, f=field.name, v=value):
                        getattr(getattr(e, p), f).extend([v] * 50)

                    yield f"{payload_name}.{field.name}[]#{index}", kind, many
                else:

                    def assign(e, p=payload_name, f=field.name, v=value):
                        setattr(getattr(e, p), f, v)

                    yield f"{payload_name}.{field.name}#{index}", kind, assign
            if field.type == field.TYPE_STRING and not field.is_repeated:

                def utf8(e, p=payload_name, f=field.name):
                    setattr(getattr(e, p), f, _MARK)

                yield f"{payload_name}.{field.name}=invalid-utf8", kind, utf8
    # The envelope.
    for index, value in enumerate([0, 1, U64_MAX]):
        yield f"repository_id#{index}", pb.ISSUE_OPENED, lambda e, v=value: setattr(e, "repository_id", v)
    for label, value in [*STRINGS.items(), ("big", "r" * BIG), ("invalid-utf8", _MARK)]:
        yield f"repository_name={label}", pb.ISSUE_COMMENTED, lambda e, v=value: setattr(e, "repository_name", v)
    for index, value in enumerate([0, 2, 99, I32_MAX, -1]):
        yield f"provider#{index}", pb.PUSHED, lambda e, v=value: setattr(e, "provider", v)
    for index, value in enumerate([0, 8, 99, I32_MAX, -1]):
        yield f"event_name#{index}", pb.PUSHED, lambda e, v=value: setattr(e, "event_name", v)
    for label, (seconds, nanos) in TIMES.items():

        def when(e, s=seconds, n=nanos):
            e.time.seconds, e.time.nanos = s, n

        yield f"time={label}", pb.ISSUE_OPENED, when
    yield "time=missing", pb.ISSUE_OPENED, lambda e: e.ClearField("time")
    yield "payload=missing", pb.PUSHED, lambda e: e.ClearField("push_payload")
    yield "payload=mismatched", pb.PUSHED, lambda e: e.pr_opened_payload.SetInParent()


def _with_unknown_fields(data: bytes) -> bytes:
    """Fields 200 (actor: a message) and 201 (url: a string) and an unknown 999, odd content."""
    actor = b"\x08" + b"\xff" * 9 + b"\x01" + b"\x12\x04\xf0\x9f\xa6\x80" + b"\x20\x01"  # id u64 max, login, bot
    url = "https://example.com/\u202e\x00".encode()
    extra = b"\xc2\x0c" + bytes([len(actor)]) + actor + b"\xca\x0c" + bytes([len(url)]) + url + b"\xba\x3e\x00"
    return data + extra


def _invalid_utf8(data: bytes) -> bytes:
    """The serialized message with each _MARK string made invalid UTF-8 (same length)."""
    return data.replace(_MARK.encode(), INVALID_UTF8 + b"\x01" * (len(_MARK) - len(INVALID_UTF8)))


def edge_messages(prefix: str) -> list[tuple[str, bytes]]:
    """(label, wire bytes) for every edge value; each message has an id of its own."""
    out: list[tuple[str, bytes]] = []
    for n, (label, kind, change) in enumerate(_mutations()):
        event = base(f"{prefix}-edge-{n}", kind)
        change(event)
        out.append((label, _invalid_utf8(event.SerializeToString())))
    # The id itself.
    for label, value in [*STRINGS.items(), ("256", "i" * 256), ("257", "i" * 257), ("big", "i" * BIG)]:
        event = base("placeholder")
        event.id = value if label not in ("one", "512", "513") else f"{prefix}-id-{label}-{value}"
        out.append((f"id={label}", event.SerializeToString()))
    out.append(("id=invalid-utf8", _invalid_utf8(base(_MARK).SerializeToString())))
    out.append(("unknown-fields", _with_unknown_fields(base(f"{prefix}-unknown").SerializeToString())))
    out.append(("not-protobuf", b"\xff\xff not protobuf"))
    out.append(("empty-message", b""))
    return out
