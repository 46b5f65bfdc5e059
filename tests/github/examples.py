"""GitHub's own example payloads (@octokit/webhooks-examples, tests/fixtures/github/).

`family(name)` gives every example of one event, as published. The package has no example
of a few mapped rows (an issue closed, a pull request merged, a review approved or asking
for changes, a bot as the credited user); `derived_*` make them from the nearest real example
and change only the fields named in each docstring.
"""

from __future__ import annotations

import copy
import functools
import gzip
import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "github"
INDEX = FIXTURES / "index.json.gz"
PAYLOADS = FIXTURES / "payloads"
VERSION = "7.6.1"
INDEX_SHA256 = "09d8f0c617876ae9dad22e26fea5510bfcaad50ee7e602659f6db25b87b25815"
MAPPED_FAMILIES = {"pull_request", "pull_request_review", "issues", "issue_comment", "push"}


@functools.cache
def index_bytes() -> bytes:
    return gzip.decompress(INDEX.read_bytes())


@functools.cache
def _index() -> dict[str, list[dict[str, Any]]]:
    return {entry["name"]: entry["examples"] for entry in json.loads(index_bytes())}


def families() -> list[str]:
    """Every event name the package has examples for."""
    return sorted(_index())


def family(name: str) -> list[dict[str, Any]]:
    """Every example of the event `name`, each a fresh copy (tests may change them)."""
    return copy.deepcopy(_index()[name])


def example(name: str, action: str | None = None, nth: int = 0) -> dict[str, Any]:
    """The `nth` example of event `name` with `action` (any action when None)."""
    found = [e for e in family(name) if action is None or e.get("action") == action]
    return found[nth]


def payload_file(name: str) -> Path:
    """One of the single-example files under tests/fixtures/github/payloads/."""
    return PAYLOADS / f"{name}.json"


def real_user(login: str) -> dict[str, Any]:
    """A user object exactly as some example carries it (e.g. "octocat", "renovate[bot]")."""

    def find(node: Any) -> dict[str, Any] | None:
        if isinstance(node, dict):
            if node.get("login") == login and "id" in node and "type" in node:
                return node
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            return None
        for child in children:
            if (hit := find(child)) is not None:
                return hit
        return None

    user = find(_index())
    assert user is not None, login
    return copy.deepcopy(user)


def derived_issue_closed(state_reason: str | None, closer: str = "octocat") -> dict[str, Any]:
    """The `issues` `opened` example, closed by `closer` (a real user of the examples):
    action "closed", issue.state "closed", issue.state_reason, issue.closed_at, sender."""
    payload = example("issues", "opened")
    payload["action"] = "closed"
    payload["issue"].update(state="closed", state_reason=state_reason, closed_at="2019-05-15T15:24:06Z")
    payload["sender"] = real_user(closer)
    return payload


def derived_pull_request_merged(merger: str = "octocat") -> dict[str, Any]:
    """The `pull_request` `closed` example (not merged), merged by `merger`: pull_request.merged
    true, merged_at, merged_by."""
    payload = example("pull_request", "closed")
    payload["pull_request"].update(merged=True, merged_at=payload["pull_request"]["closed_at"])
    payload["pull_request"]["merged_by"] = real_user(merger)
    return payload


def derived_review(state: str) -> dict[str, Any]:
    """The `pull_request_review` `submitted` example (commented) with review.state `state`."""
    payload = example("pull_request_review", "submitted")
    payload["review"]["state"] = state
    return payload


def derived_bot_comment(bot: str = "renovate[bot]") -> dict[str, Any]:
    """The `issue_comment` `created` example written by a real bot of the examples: comment.user
    and sender."""
    payload = example("issue_comment", "created")
    payload["comment"]["user"] = real_user(bot)
    payload["sender"] = real_user(bot)
    return payload
