"""Translating GitHub deliveries (SPEC section 8) on GitHub's own example payloads. No servers."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from github.translate import Ignored, InvalidField, MissingField, delivery_translate
from proto.contributions.v1 import contribution_pb2 as pb
from scoring.ingest.wire import decode
from scoring.rules import EventKind, ScoringTable, points
from tests.github import examples

GUID = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
CODERTOCAT = (21031067, "Codertocat", "https://avatars1.githubusercontent.com/u/21031067?v=4", False)
OCTOCAT = 5346
REPO = (186853002, "Codertocat/Hello-World")


def translate(event: str, payload: dict, delivery_id: str = GUID):
    return delivery_translate(event=event, payload=payload, delivery_id=delivery_id)


def scored(event: pb.ContributionEvent) -> tuple[EventKind, int, int, datetime]:
    """What the consumer makes of the wire event: kind, credited user, points, time."""
    contribution = decode(event.SerializeToString())
    return contribution.kind, contribution.user_id, points(contribution, ScoringTable()), contribution.occurred_at


def actor(event: pb.ContributionEvent) -> tuple[int, str, str, bool]:
    return event.actor.id, event.actor.login, event.actor.avatar_url, event.actor.is_bot


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_the_vendored_examples_are_the_package_file_unchanged():
    assert hashlib.sha256(examples.index_bytes()).hexdigest() == examples.INDEX_SHA256
    assert len(examples.families()) == 58


def expected_outcome(name: str, payload: dict) -> str:
    """What SPEC section 8 says an example becomes: "publish", or the `ignored` answer."""
    if name == "push":
        if payload["deleted"]:
            return "push.deleted"
        return "publish" if payload["ref"].startswith("refs/heads/") else "push.tag"
    action = payload.get("action")
    mapped = {
        "pull_request": {"opened", "closed"},
        "pull_request_review": {"submitted"},
        "issues": {"opened", "closed"},
        "issue_comment": {"created"},
    }
    return "publish" if action in mapped.get(name, set()) else f"{name}.{action}" if action else name


@pytest.mark.parametrize("name", sorted(examples.MAPPED_FAMILIES))
def test_every_example_of_a_mapped_event_translates_or_is_ignored_for_its_reason(name):
    outcomes = []
    for payload in examples.family(name):
        expected = expected_outcome(name, payload)
        result = translate(name, payload)
        if expected == "publish":
            assert isinstance(result, pb.ContributionEvent), (name, payload.get("action"))
            scored(result)  # decodes as a valid event (an invalid one would raise)
            assert (result.id, result.repository_id, result.repository_name) == (GUID, *REPO)
            assert actor(result)[:2] == CODERTOCAT[:2]
            assert result.url.startswith("https://github.com/Codertocat/Hello-World/")
        else:
            assert result == Ignored(expected)
        outcomes.append(expected)
    assert "publish" in outcomes  # each mapped family has at least one scored example


def test_the_examples_hold_ignored_actions_of_every_mapped_family_too():
    ignored = {
        name: sorted({expected_outcome(name, p) for p in examples.family(name)} - {"publish"})
        for name in examples.MAPPED_FAMILIES
    }
    assert ignored == {
        "pull_request": [
            "pull_request.assigned",
            "pull_request.converted_to_draft",
            "pull_request.labeled",
            "pull_request.locked",
            "pull_request.ready_for_review",
            "pull_request.reopened",
            "pull_request.review_request_removed",
            "pull_request.review_requested",
            "pull_request.synchronize",
            "pull_request.unassigned",
            "pull_request.unlabeled",
            "pull_request.unlocked",
        ],
        "pull_request_review": ["pull_request_review.dismissed"],
        "issues": [
            "issues.assigned",
            "issues.deleted",
            "issues.demilestoned",
            "issues.edited",
            "issues.labeled",
            "issues.locked",
            "issues.milestoned",
            "issues.pinned",
            "issues.reopened",
            "issues.transferred",
            "issues.unassigned",
            "issues.unlabeled",
            "issues.unlocked",
            "issues.unpinned",
        ],
        "issue_comment": ["issue_comment.deleted", "issue_comment.edited"],
        "push": ["push.deleted", "push.tag"],
    }


def test_every_example_of_every_other_event_is_ignored():
    others = [name for name in examples.families() if name not in examples.MAPPED_FAMILIES]
    assert len(others) == 53
    for name in others:
        for payload in examples.family(name):
            action = payload.get("action")
            assert translate(name, payload) == Ignored(f"{name}.{action}" if action else name)


def test_pull_request_opened():
    event = translate("pull_request", examples.example("pull_request", "opened"))
    assert scored(event) == (EventKind.PULL_REQUEST_OPENED, 21031067, 2, at("2019-05-15T15:20:33Z"))
    assert actor(event) == CODERTOCAT
    assert event.url == "https://github.com/Codertocat/Hello-World/pull/2"
    assert event.provider == pb.GITHUB
    opened = event.pr_opened_payload
    assert (opened.user_id, opened.pr_id, opened.pr_number, opened.title) == (
        21031067,
        279147437,
        2,
        "Update the README with new information.",
    )
    assert (opened.branch_name, opened.target_branch, list(opened.labels), list(opened.assignees)) == (
        "changes",
        "master",
        [],
        [],
    )


def test_pull_request_closed_without_merge_scores_nothing():
    event = translate("pull_request", examples.example("pull_request", "closed"))
    assert scored(event) == (EventKind.PULL_REQUEST_CLOSED, 21031067, 0, at("2019-05-15T15:21:18Z"))
    closed = event.pr_closed_payload
    assert (closed.merged, closed.close_reason, closed.merger_user_id) == (False, pb.CLOSED_WITHOUT_MERGE, 0)
    assert (closed.additions, closed.deletions, closed.files_changed, closed.commits_count) == (1, 1, 1, 1)


def test_pull_request_merged_credits_the_author_not_the_merger():
    event = translate("pull_request", examples.derived_pull_request_merged(merger="octocat"))
    assert scored(event) == (EventKind.PULL_REQUEST_CLOSED, 21031067, 10, at("2019-05-15T15:21:18Z"))
    closed = event.pr_closed_payload
    assert (closed.merged, closed.close_reason, closed.merger_user_id) == (True, pb.MERGED, OCTOCAT)
    assert actor(event) == CODERTOCAT


@pytest.mark.parametrize(
    ("state", "wire_state", "points_"),
    [
        ("commented", pb.COMMENTED, 1),
        ("approved", pb.APPROVED, 3),
        ("changes_requested", pb.CHANGES_REQUESTED, 3),
        ("APPROVED", pb.APPROVED, 3),
        ("something_new", pb.REVIEW_STATE_UNSPECIFIED, 1),
    ],
)
def test_review_submitted(state, wire_state, points_):
    payload = examples.example("pull_request_review", "submitted") if state == "commented" else None
    event = translate("pull_request_review", payload or examples.derived_review(state))
    assert scored(event) == (EventKind.PULL_REQUEST_REVIEW_SUBMITTED, 21031067, points_, at("2019-05-15T15:20:38Z"))
    review = event.pr_review_payload
    assert (review.state, review.reviewer_user_id, review.pr_author_user_id, review.pr_number) == (
        wire_state,
        21031067,
        21031067,
        2,
    )
    assert event.url == "https://github.com/Codertocat/Hello-World/pull/2#pullrequestreview-237895671"


def test_issue_opened():
    event = translate("issues", examples.example("issues", "opened"))
    assert scored(event) == (EventKind.ISSUE_OPENED, 21031067, 2, at("2019-05-15T15:20:18Z"))
    opened = event.issue_opened_payload
    assert (opened.issue_id, opened.issue_number, list(opened.labels)) == (444500041, 1, ["bug"])
    assert event.url == "https://github.com/Codertocat/Hello-World/issues/1"


@pytest.mark.parametrize(
    ("state_reason", "wire_reason", "points_"),
    [("completed", pb.COMPLETED, 3), ("not_planned", pb.NOT_PLANNED, 0), (None, pb.ISSUE_CLOSE_REASON_UNSPECIFIED, 0)],
)
def test_issue_closed_credits_who_closed_it(state_reason, wire_reason, points_):
    event = translate("issues", examples.derived_issue_closed(state_reason, closer="octocat"))
    assert scored(event) == (EventKind.ISSUE_CLOSED, OCTOCAT, points_, at("2019-05-15T15:24:06Z"))
    closed = event.issue_closed_payload
    assert (closed.close_reason, closed.issue_author_id, closed.issue_id, closed.issue_number) == (
        wire_reason,
        21031067,
        444500041,
        1,
    )
    assert closed.opened_at.ToDatetime(tzinfo=UTC) == at("2019-05-15T15:20:18Z")
    assert actor(event)[:2] == (OCTOCAT, "octocat")


def test_issue_comment_created():
    payload = examples.example("issue_comment", "created")
    event = translate("issue_comment", payload)
    assert scored(event) == (EventKind.ISSUE_COMMENTED, 21031067, 1, at("2019-05-15T15:20:21Z"))
    commented = event.issue_commented_payload
    body = payload["comment"]["body"]
    assert (commented.comment_length, commented.contains_code) == (len(body), False)
    assert (commented.issue_author_id, commented.issue_id, commented.issue_number) == (21031067, 444500041, 1)
    assert event.url == "https://github.com/Codertocat/Hello-World/issues/1#issuecomment-492700400"


@pytest.mark.parametrize(
    ("body", "has_code"),
    [
        ("Try this:\n```python\nprint(1)\n```\n", True),
        ("~~~\ncode\n~~~", True),
        ("   ```\nindented three\n```", True),
        ("use `inline` code only", False),
        ("mentions ``` mid-line", False),
    ],
)
def test_a_comment_contains_code_when_it_has_a_fenced_block(body, has_code):
    payload = examples.example("issue_comment", "created")
    payload["comment"]["body"] = body
    assert translate("issue_comment", payload).issue_commented_payload.contains_code is has_code


def test_a_bot_comment_carries_is_bot():
    event = translate("issue_comment", examples.derived_bot_comment("renovate[bot]"))
    assert actor(event) == (29139614, "renovate[bot]", "https://avatars.githubusercontent.com/in/2740?v=4", True)
    assert scored(event)[1] == 29139614


def test_push_to_a_branch_counts_its_commits_and_credits_the_sender():
    payload = examples.example("push", nth=4)
    event = translate("push", payload)
    assert scored(event) == (EventKind.PUSHED, 21031067, 1, at("2019-05-15T15:19:25Z"))
    push = event.push_payload
    assert (push.branch_name, push.commits_count) == ("master", 1)
    assert [(c.commit_id, c.author_name, c.message, c.modified) for c in push.commits] == [
        ("6113728f27ae82c7b1a177c8d03f9e96e0adf246", "Codertocat", "Initial commit", 1)
    ]
    assert event.url == payload["compare"]


def test_push_time_falls_back_to_the_repository_pushed_at():
    payload = examples.example("push", nth=4)
    payload["head_commit"] = None
    event = translate("push", payload)
    assert scored(event)[3] == datetime.fromtimestamp(1557933657, UTC)


def test_push_of_many_commits_is_capped_by_the_scoring_table():
    payload = examples.example("push", nth=4)
    payload["commits"] = payload["commits"] * 14
    event = translate("push", payload)
    assert (event.push_payload.commits_count, scored(event)[2]) == (14, 10)


def test_a_time_with_an_offset_is_taken_in_utc():
    payload = examples.example("pull_request", "opened")
    payload["pull_request"]["created_at"] = "2019-05-15T10:20:33-05:00"
    assert scored(translate("pull_request", payload))[3] == at("2019-05-15T15:20:33Z")


@pytest.mark.parametrize(
    ("name", "action", "remove", "field"),
    [
        ("pull_request", "opened", ("pull_request", "created_at"), "pull_request.created_at"),
        ("pull_request", "opened", ("pull_request", "user"), "pull_request.user.id"),
        ("pull_request", "closed", ("pull_request", "merged"), "pull_request.merged"),
        ("pull_request", "closed", ("pull_request", "closed_at"), "pull_request.closed_at"),
        ("pull_request_review", "submitted", ("review", "state"), "review.state"),
        ("issues", "opened", ("repository",), "repository.id"),
        ("issue_comment", "created", ("comment", "created_at"), "comment.created_at"),
        ("push", None, ("ref",), "ref"),
        ("push", None, ("sender",), "sender.id"),
    ],
)
def test_a_missing_field_is_named(name, action, remove, field):
    payload = examples.example(name, action, nth=4 if name == "push" else 0)
    node = payload
    for step in remove[:-1]:
        node = node[step]
    del node[remove[-1]]
    with pytest.raises(MissingField) as caught:
        translate(name, payload)
    assert caught.value.field == field
    assert caught.value.message == f"the payload has no {field}"


def test_a_null_field_is_missing_too():
    payload = examples.example("issues", "opened")
    payload["issue"]["created_at"] = None
    with pytest.raises(MissingField) as caught:
        translate("issues", payload)
    assert caught.value.field == "issue.created_at"


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        (("pull_request", "user", "id"), "21031067", "is not a positive 64-bit integer"),
        (("pull_request", "user", "id"), 0, "is not a positive 64-bit integer"),
        (("pull_request", "user", "id"), 2**64, "is not a positive 64-bit integer"),
        (("repository", "id"), True, "is not a positive 64-bit integer"),
        (("pull_request", "created_at"), "yesterday", "is not a time with a zone (ISO 8601) or a Unix timestamp"),
        (
            ("pull_request", "created_at"),
            "2019-05-15T15:20:33",
            "is not a time with a zone (ISO 8601) or a Unix timestamp",
        ),
        (("repository", "full_name"), 7, "is not a string"),
        (("pull_request", "number"), -1, "is not a non-negative integer"),
    ],
)
def test_an_unusable_field_is_named_with_why(path, value, problem):
    payload = examples.example("pull_request", "opened")
    node = payload
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    with pytest.raises(InvalidField) as caught:
        translate("pull_request", payload)
    assert caught.value.field == ".".join(path)
    assert caught.value.details == {"field": ".".join(path), "problem": problem}


def test_an_action_that_is_not_a_string_is_refused():
    with pytest.raises(InvalidField, match="action"):
        translate("issues", {"action": ["opened"]})


def test_an_event_without_an_action_is_ignored_by_its_name():
    assert translate("star", {}) == Ignored("star")
    assert translate("fork", examples.family("fork")[0]) == Ignored("fork")
