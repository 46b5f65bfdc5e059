"""A GitHub webhook delivery as a ContributionEvent (SPEC section 8). Pure: no I/O.

`delivery_translate(event=..., payload=..., delivery_id=...)` returns the wire event to
publish, or an `Ignored` naming what was not scored, or raises `MissingField` /
`InvalidField` naming the part of the payload the mapping needs and did not get.

The mapping (`X-GitHub-Event` and `action`):

    pull_request        opened     PULL_REQUEST_OPENED            pull_request.user  pull_request.created_at
    pull_request        closed     PULL_REQUEST_CLOSED            pull_request.user  pull_request.closed_at
    pull_request_review submitted  PULL_REQUEST_REVIEW_SUBMITTED  review.user        review.submitted_at
    issues              opened     ISSUE_OPENED                   issue.user         issue.created_at
    issues              closed     ISSUE_CLOSED                   sender             issue.closed_at
    issue_comment       created    ISSUE_COMMENTED                comment.user       comment.created_at
    push                -          PUSHED                         sender             head_commit.timestamp,
                                                                                     else repository.pushed_at

A push that deletes a branch is ignored as `push.deleted`, one to a tag (or any ref that is
not a branch) as `push.tag`. Every other event or action is ignored as `<event>.<action>`
(`<event>` alone when the payload has no action).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from api.bounds import U64_MAX
from leaderboard_project.errors import ApplicationError
from proto.contributions.v1 import contribution_pb2 as pb

INT32_MAX = 2**31 - 1
BRANCH_PREFIX = "refs/heads/"
# A fenced code block: a line opening with ``` or ~~~ (CommonMark allows up to 3 spaces before).
FENCE = re.compile(r"^ {0,3}(```|~~~)", re.MULTILINE)

REVIEW_STATES = {"approved": pb.APPROVED, "changes_requested": pb.CHANGES_REQUESTED, "commented": pb.COMMENTED}
ISSUE_CLOSE_REASONS = {"completed": pb.COMPLETED, "not_planned": pb.NOT_PLANNED, "reopened": pb.REOPENED}


class MissingField(ApplicationError):
    """The payload lacks a field the mapping needs (a 400 that names it)."""

    code = "missing_field"

    def __init__(self, field: str) -> None:
        super().__init__(f"the payload has no {field}", details={"field": field})
        self.field = field


class InvalidField(ApplicationError):
    """A field the mapping needs holds a value it cannot use (a 400 that names it and why)."""

    code = "invalid_field"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"the payload's {field} {problem}", details={"field": field, "problem": problem})
        self.field = field


@dataclass(frozen=True, slots=True)
class Ignored:
    """A delivery that scores nothing: `what` is `<event>.<action>` (or `push.deleted`, `push.tag`)."""

    what: str


class _Payload:
    """Typed reads of dotted paths in the payload; each failure names the path."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def get(self, path: str) -> Any:
        """The value at `path`, or None when any step is absent or null."""
        value: Any = self.document
        for step in path.split("."):
            if not isinstance(value, dict):
                return None
            value = value.get(step)
        return value

    def required(self, path: str) -> Any:
        value = self.get(path)
        if value is None:
            raise MissingField(path)
        return value

    def id(self, path: str) -> int:
        """A GitHub id: a positive integer that fits the wire's uint64."""
        value = self.required(path)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= U64_MAX:
            raise InvalidField(path, "is not a positive 64-bit integer")
        return value

    def optional_id(self, path: str) -> int:
        """An id that may be absent (0 on the wire); present, it must be valid."""
        return 0 if self.get(path) is None else self.id(path)

    def text(self, path: str, *, required: bool = False) -> str:
        value = self.required(path) if required else self.get(path)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise InvalidField(path, "is not a string")
        return value

    def number(self, path: str) -> int:
        """An int32 count or number; absent is 0, and a count past int32 is held at its maximum."""
        value = self.get(path)
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidField(path, "is not a non-negative integer")
        return min(value, INT32_MAX)

    def flag(self, path: str) -> bool:
        value = self.required(path)
        if not isinstance(value, bool):
            raise InvalidField(path, "is not true or false")
        return value

    def items(self, path: str) -> list[Any]:
        value = self.get(path)
        if value is None:
            return []
        if not isinstance(value, list):
            raise InvalidField(path, "is not a list")
        return value

    def time(self, path: str) -> datetime:
        """An ISO 8601 time with a zone ("2019-05-15T15:20:33Z") or a Unix timestamp, in UTC."""
        value = self.required(path)
        try:
            if isinstance(value, int) and not isinstance(value, bool):
                return datetime.fromtimestamp(value, UTC)
            if isinstance(value, str):
                parsed = datetime.fromisoformat(value)
                if parsed.tzinfo is not None:
                    return parsed.astimezone(UTC)
        except (ValueError, OverflowError, OSError):
            pass
        raise InvalidField(path, "is not a time with a zone (ISO 8601) or a Unix timestamp")

    def labels(self, path: str) -> list[str]:
        return [label["name"] for label in self.items(path) if isinstance(label, dict) and label.get("name")]

    def user_ids(self, path: str) -> list[int]:
        return [
            user["id"]
            for user in self.items(path)
            if isinstance(user, dict) and isinstance(user.get("id"), int) and 0 < user["id"] <= U64_MAX
        ]


def _event(
    payload: _Payload, *, delivery_id: str, name: int, user: str, time: str, url: str | None
) -> pb.ContributionEvent:
    """The fields every mapped delivery has: id, time, repository, actor (from `user`), url."""
    event = pb.ContributionEvent(
        id=delivery_id,
        event_name=name,
        repository_id=payload.id("repository.id"),
        repository_name=payload.text("repository.full_name", required=True),
        provider=pb.GITHUB,
        url=payload.text(url) if url else "",
    )
    event.time.FromDatetime(payload.time(time))
    event.actor.id = payload.id(f"{user}.id")
    event.actor.login = payload.text(f"{user}.login", required=True)
    event.actor.avatar_url = payload.text(f"{user}.avatar_url")
    event.actor.is_bot = payload.get(f"{user}.type") == "Bot"
    return event


def _pull_request_opened(payload: _Payload, delivery_id: str) -> pb.ContributionEvent:
    event = _event(
        payload,
        delivery_id=delivery_id,
        name=pb.PULL_REQUEST_OPENED,
        user="pull_request.user",
        time="pull_request.created_at",
        url="pull_request.html_url",
    )
    opened = event.pr_opened_payload
    opened.user_id = event.actor.id
    opened.pr_id = payload.id("pull_request.id")
    opened.pr_number = payload.number("pull_request.number")
    opened.title = payload.text("pull_request.title")
    opened.branch_name = payload.text("pull_request.head.ref")
    opened.target_branch = payload.text("pull_request.base.ref")
    opened.labels.extend(payload.labels("pull_request.labels"))
    opened.assignees.extend(payload.user_ids("pull_request.assignees"))
    return event


def _pull_request_closed(payload: _Payload, delivery_id: str) -> pb.ContributionEvent:
    event = _event(
        payload,
        delivery_id=delivery_id,
        name=pb.PULL_REQUEST_CLOSED,
        user="pull_request.user",
        time="pull_request.closed_at",
        url="pull_request.html_url",
    )
    merged = payload.flag("pull_request.merged")
    closed = event.pr_closed_payload
    closed.user_id = event.actor.id
    closed.merger_user_id = payload.optional_id("pull_request.merged_by.id")
    closed.pr_id = payload.id("pull_request.id")
    closed.pr_number = payload.number("pull_request.number")
    closed.close_reason = pb.MERGED if merged else pb.CLOSED_WITHOUT_MERGE
    closed.merged = merged
    closed.additions = payload.number("pull_request.additions")
    closed.deletions = payload.number("pull_request.deletions")
    closed.files_changed = payload.number("pull_request.changed_files")
    closed.commits_count = payload.number("pull_request.commits")
    closed.labels.extend(payload.labels("pull_request.labels"))
    closed.target_branch = payload.text("pull_request.base.ref")
    closed.assignees.extend(payload.user_ids("pull_request.assignees"))
    return event


def _review_submitted(payload: _Payload, delivery_id: str) -> pb.ContributionEvent:
    event = _event(
        payload,
        delivery_id=delivery_id,
        name=pb.PULL_REQUEST_REVIEW_SUBMITTED,
        user="review.user",
        time="review.submitted_at",
        url="review.html_url",
    )
    review = event.pr_review_payload
    review.reviewer_user_id = event.actor.id
    review.pr_author_user_id = payload.optional_id("pull_request.user.id")
    review.pr_id = payload.optional_id("pull_request.id")
    review.pr_number = payload.number("pull_request.number")
    # Webhooks spell states in lower case, the REST API in upper case; an unknown one scores
    # as UNSPECIFIED ("other states" in the scoring table).
    review.state = REVIEW_STATES.get(payload.text("review.state", required=True).lower(), pb.REVIEW_STATE_UNSPECIFIED)
    return event


def _issue_opened(payload: _Payload, delivery_id: str) -> pb.ContributionEvent:
    event = _event(
        payload,
        delivery_id=delivery_id,
        name=pb.ISSUE_OPENED,
        user="issue.user",
        time="issue.created_at",
        url="issue.html_url",
    )
    opened = event.issue_opened_payload
    opened.user_id = event.actor.id
    opened.issue_id = payload.id("issue.id")
    opened.issue_number = payload.number("issue.number")
    opened.title = payload.text("issue.title")
    opened.labels.extend(payload.labels("issue.labels"))
    return event


def _issue_closed(payload: _Payload, delivery_id: str) -> pb.ContributionEvent:
    event = _event(
        payload,
        delivery_id=delivery_id,
        name=pb.ISSUE_CLOSED,
        user="sender",
        time="issue.closed_at",
        url="issue.html_url",
    )
    closed = event.issue_closed_payload
    closed.user_id = event.actor.id
    closed.issue_author_id = payload.optional_id("issue.user.id")
    closed.issue_id = payload.id("issue.id")
    closed.issue_number = payload.number("issue.number")
    # `state_reason` is null on servers that predate it: no reason, so no completion points.
    reason = payload.text("issue.state_reason")
    closed.close_reason = ISSUE_CLOSE_REASONS.get(reason, pb.ISSUE_CLOSE_REASON_UNSPECIFIED)
    closed.labels.extend(payload.labels("issue.labels"))
    if payload.get("issue.created_at") is not None:
        closed.opened_at.FromDatetime(payload.time("issue.created_at"))
    closed.comments_count = payload.number("issue.comments")
    return event


def _comment_created(payload: _Payload, delivery_id: str) -> pb.ContributionEvent:
    event = _event(
        payload,
        delivery_id=delivery_id,
        name=pb.ISSUE_COMMENTED,
        user="comment.user",
        time="comment.created_at",
        url="comment.html_url",
    )
    body = payload.text("comment.body")
    commented = event.issue_commented_payload
    commented.user_id = event.actor.id
    commented.issue_author_id = payload.optional_id("issue.user.id")
    commented.issue_id = payload.optional_id("issue.id")
    commented.issue_number = payload.number("issue.number")
    commented.comment_length = min(len(body), INT32_MAX)
    commented.contains_code = FENCE.search(body) is not None
    return event


def _push(payload: _Payload, delivery_id: str) -> pb.ContributionEvent | Ignored:
    ref = payload.text("ref", required=True)
    if payload.get("deleted") is True:
        return Ignored("push.deleted")
    if not ref.startswith(BRANCH_PREFIX):
        return Ignored("push.tag")
    time = "head_commit.timestamp" if payload.get("head_commit.timestamp") is not None else "repository.pushed_at"
    event = _event(payload, delivery_id=delivery_id, name=pb.PUSHED, user="sender", time=time, url="compare")
    commits = [commit for commit in payload.items("commits") if isinstance(commit, dict)]
    push = event.push_payload
    push.user_id = event.actor.id
    push.branch_name = ref.removeprefix(BRANCH_PREFIX)
    push.commits_count = len(commits)
    for commit in commits:
        files = sum(len(commit.get(key) or []) for key in ("added", "removed", "modified"))
        author = commit.get("author") if isinstance(commit.get("author"), dict) else {}
        push.commits.add(
            author_name=str(author.get("name") or ""),
            commit_id=str(commit.get("id") or ""),
            message=str(commit.get("message") or ""),
            modified=min(files, INT32_MAX),  # a webhook lists files, not line counts
        )
    return event


_Translator = Callable[[_Payload, str], "pb.ContributionEvent | Ignored"]
MAPPED: dict[tuple[str, str | None], _Translator] = {
    ("pull_request", "opened"): _pull_request_opened,
    ("pull_request", "closed"): _pull_request_closed,
    ("pull_request_review", "submitted"): _review_submitted,
    ("issues", "opened"): _issue_opened,
    ("issues", "closed"): _issue_closed,
    ("issue_comment", "created"): _comment_created,
    ("push", None): _push,
}


def delivery_translate(*, event: str, payload: dict[str, Any], delivery_id: str) -> pb.ContributionEvent | Ignored:
    """One delivery (the `X-GitHub-Event` name, the decoded JSON body, the `X-GitHub-Delivery`
    GUID) as the ContributionEvent to publish, or `Ignored`. Raises `MissingField` or
    `InvalidField` when the mapping needs a part of the payload that is absent or unusable."""
    action = payload.get("action") if event != "push" else None
    if action is not None and not isinstance(action, str):
        raise InvalidField("action", "is not a string")
    translator = MAPPED.get((event, action))
    if translator is None:
        return Ignored(f"{event}.{action}" if action else event)
    return translator(_Payload(payload), delivery_id)
