"""`POST /v1/webhooks/github` against the real NATS: signatures, bodies, errors, outages.

What was published is read back from the test's own JetStream stream, message by message,
with its `Nats-Msg-Id` header. The outage tests use a private nats-server on a free port
(the shared one is never stopped).
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from github.signatures import signature_of
from github.translate import delivery_translate
from github.views import MAX_BODY_BYTES
from proto.contributions.v1 import contribution_pb2 as pb
from scoring.jetstream import process_publisher
from tests.fixtures import PrivateNats, refused_port, wait_for
from tests.github import examples
from tests.github.conftest import GUID, SECRET, URL, post, published


def error(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_a_signed_delivery_is_published_once_acknowledged(client, webhook):
    payload = examples.example("pull_request", "opened")
    response = post(client, "pull_request", payload)
    assert (response.status_code, response.json()) == (202, {"event_id": GUID})
    expected = delivery_translate(event="pull_request", payload=payload, delivery_id=GUID)
    assert published() == [(GUID, expected.SerializeToString())]


def test_a_form_encoded_delivery_is_the_same_event(client, webhook):
    payload = examples.example("issues", "opened")
    response = post(client, "issues", payload, form=True)
    assert (response.status_code, response.json()) == (202, {"event_id": GUID})
    expected = delivery_translate(event="issues", payload=payload, delivery_id=GUID)
    assert published() == [(GUID, expected.SerializeToString())]


def test_a_form_encoded_delivery_without_its_payload_field_is_a_400(client, webhook):
    body = b"other=1"
    response = client.post(
        URL,
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers={
            "X-GitHub-Event": "issues",
            "X-GitHub-Delivery": GUID,
            "X-Hub-Signature-256": signature_of(body, SECRET),
        },
    )
    assert error(response) == (400, "invalid_payload")
    assert "payload field" in response.json()["error"]["message"]


def test_the_same_delivery_twice_is_stored_once(client, webhook):
    payload = examples.example("push", nth=4)
    assert post(client, "push", payload).status_code == 202
    assert post(client, "push", payload).json() == {"event_id": GUID}
    assert [msg_id for msg_id, _ in published()] == [GUID]


def test_a_missing_signature_is_a_401_and_nothing_is_published(client, webhook):
    response = post(client, "pull_request", examples.example("pull_request", "opened"), secret=None)
    assert error(response) == (401, "signature_missing")
    assert published() == []


def test_a_signature_with_another_secret_is_a_401(client, webhook):
    response = post(client, "pull_request", examples.example("pull_request", "opened"), secret="not the secret")
    assert error(response) == (401, "signature_invalid")
    assert response.json()["error"]["message"] == "the X-Hub-Signature-256 signature does not match the body"
    assert published() == []


def test_a_body_changed_by_one_byte_is_a_401(client, webhook):
    body = json.dumps(examples.example("pull_request", "opened")).encode()
    signature = signature_of(body, SECRET)
    changed = body.replace(b'"number": 2', b'"number": 3', 1)
    assert len(changed) == len(body) and changed != body
    assert error(post(client, "pull_request", changed, signature=signature)) == (401, "signature_invalid")
    assert published() == []


@pytest.mark.parametrize(
    "signature",
    ["sha256=", "sha1=" + "0" * 40, "garbage", "sha256=" + "0" * 64, "sha256=ünicode"],
)
def test_malformed_signatures_are_401s(client, webhook, signature):
    payload = examples.example("pull_request", "opened")
    assert error(post(client, "pull_request", payload, signature=signature)) == (401, "signature_invalid")
    assert published() == []


def test_secrets_rotate_any_configured_one_matches_and_a_dropped_one_no_longer_does(client, webhook):
    payload = examples.example("issues", "opened")
    webhook.GITHUB_WEBHOOK_SECRETS = ["new secret", SECRET]  # rotating: both are accepted
    assert post(client, "issues", payload, delivery="d-old", secret=SECRET).status_code == 202
    assert post(client, "issues", payload, delivery="d-new", secret="new secret").status_code == 202
    webhook.GITHUB_WEBHOOK_SECRETS = ["new secret"]  # rotated: the old secret is refused
    assert error(post(client, "issues", payload, delivery="d-late", secret=SECRET)) == (401, "signature_invalid")
    assert [msg_id for msg_id, _ in published()] == ["d-old", "d-new"]


def test_no_secret_configured_is_a_503_even_for_a_signed_delivery(client, webhook):
    webhook.GITHUB_WEBHOOK_SECRETS = []
    response = post(client, "pull_request", examples.example("pull_request", "opened"), secret="anything")
    assert error(response) == (503, "webhook_not_configured")
    assert published() == []


def test_ping_is_a_200(client, webhook):
    response = post(client, "ping", examples.example("ping"))
    assert (response.status_code, response.json()) == (200, {"ok": True})
    assert published() == []


@pytest.mark.parametrize(
    ("event", "payload", "ignored"),
    [
        ("pull_request", examples.example("pull_request", "labeled"), "pull_request.labeled"),
        ("issues", examples.example("issues", "reopened"), "issues.reopened"),
        ("push", examples.example("push", nth=0), "push.tag"),
        ("push", examples.example("push", nth=1), "push.deleted"),
        ("star", examples.example("star", "created"), "star.created"),
        ("fork", examples.example("fork"), "fork"),
    ],
)
def test_other_events_and_actions_are_ignored_and_nothing_is_published(client, webhook, event, payload, ignored):
    response = post(client, event, payload)
    assert (response.status_code, response.json()) == (202, {"ignored": ignored})
    assert published() == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"action": "opened", ', "the payload is not JSON"),
        (b"\xff\xfe not utf-8", "the payload is not JSON"),
        (b"[" * 100_000, "the payload is not JSON"),
        (b"[1, 2]", "the payload is JSON but not an object"),
        (b"", "the payload is not JSON"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_400(client, webhook, body, message):
    response = post(client, "pull_request", body)
    assert error(response) == (400, "invalid_payload")
    assert response.json()["error"]["message"].startswith(message)
    assert published() == []


def test_a_missing_field_is_a_400_naming_it(client, webhook):
    payload = examples.example("pull_request", "opened")
    del payload["pull_request"]["created_at"]
    response = post(client, "pull_request", payload)
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "missing_field",
        "message": "the payload has no pull_request.created_at",
        "details": {"field": "pull_request.created_at"},
    }
    assert published() == []


def test_an_unusable_field_is_a_400_naming_it(client, webhook):
    payload = examples.example("issue_comment", "created")
    payload["comment"]["user"]["id"] = "21031067"
    response = post(client, "issue_comment", payload)
    assert error(response) == (400, "invalid_field")
    assert response.json()["error"]["details"] == {
        "field": "comment.user.id",
        "problem": "is not a positive 64-bit integer",
    }


@pytest.mark.parametrize("header", ["X-GitHub-Delivery", "X-GitHub-Event"])
def test_a_missing_github_header_is_a_400_naming_it(client, webhook, header):
    body = json.dumps(examples.example("pull_request", "opened")).encode()
    headers = {
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": GUID,
        "X-Hub-Signature-256": signature_of(body, SECRET),
    }
    del headers[header]
    response = client.post(URL, data=body, content_type="application/json", headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid_header",
        "message": f"the {header} header is missing",
        "details": {"header": header},
    }
    assert published() == []


def test_a_delivery_id_too_long_for_the_log_is_a_400(client, webhook):
    response = post(client, "pull_request", examples.example("pull_request", "opened"), delivery="x" * 257)
    assert error(response) == (400, "invalid_header")


def test_a_body_over_25_mb_is_a_413(client, webhook):
    body = b" " * (MAX_BODY_BYTES + 1)
    response = post(client, "pull_request", body)
    assert error(response) == (413, "payload_too_large")
    assert (
        response.json()["error"]["message"]
        == f"the body is {MAX_BODY_BYTES + 1} bytes; at most {MAX_BODY_BYTES} are accepted"
    )
    assert published() == []


def test_a_large_delivery_under_25_mb_is_accepted(client, webhook):
    """Past Django's 2.5 MB form limit (DATA_UPLOAD_MAX_MEMORY_SIZE), well under GitHub's cap."""
    payload = examples.example("issue_comment", "created")
    payload["comment"]["body"] = "x" * (4 * 1024 * 1024)
    response = post(client, "issue_comment", payload)
    assert (response.status_code, response.json()) == (202, {"event_id": GUID})
    ((_, data),) = published()
    assert pb.ContributionEvent.FromString(data).issue_commented_payload.comment_length == 4 * 1024 * 1024


def test_get_is_a_405(client, webhook):
    response = client.get(URL)
    assert error(response) == (405, "method_not_allowed")
    assert response["Allow"] == "POST"


def test_a_bot_as_the_credited_user_carries_is_bot(client, webhook):
    response = post(client, "issue_comment", examples.derived_bot_comment("renovate[bot]"))
    assert response.status_code == 202
    ((_, data),) = published()
    actor = pb.ContributionEvent.FromString(data).actor
    assert (actor.id, actor.login, actor.is_bot) == (29139614, "renovate[bot]", True)


@pytest.fixture
def nats_elsewhere(webhook):
    """Point the webhook at another NATS URL for the test; the shared one is back before the
    test's stream is deleted (a client of a dead URL would retry for ever)."""
    shared = webhook.NATS_URL

    def point(url: str) -> None:
        webhook.NATS_URL = url

    yield point
    webhook.NATS_URL = shared


@pytest.fixture
def private_nats(tmp_path: Path, webhook, nats_elsewhere):
    """A nats-server of this test's own, which the webhook publishes to."""
    server = PrivateNats(tmp_path)  # it chooses its own port
    server.start()
    nats_elsewhere(server.url)
    webhook.GITHUB_WEBHOOK_PUBLISH_TIMEOUT = 1.0
    yield server
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGCONT)
    server.stop()


def stopped(pid: int) -> bool:
    """Whether the process is stopped (SIGSTOP takes effect asynchronously)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rpartition(")")[2].split()[0] == "T"


def connected() -> bool:
    nc = process_publisher().nc
    return nc is not None and nc.is_connected


def test_nats_stopped_is_a_503_and_nothing_is_published(client, private_nats):
    url = django_settings.NATS_URL
    payload = examples.example("issues", "opened")
    assert post(client, "issues", payload, delivery="before").status_code == 202
    private_nats.kill()
    wait_for(lambda: not connected(), timeout=10, message="the publisher to see NATS go")
    response = post(client, "issues", payload, delivery="during")
    assert error(response) == (503, "dependency_unavailable")
    assert response.json()["error"]["message"].startswith("nats is unavailable")
    private_nats.start()
    # GitHub's redelivery of the failed delivery, once NATS is back: accepted, stored once
    wait_for(lambda: post(client, "issues", payload, delivery="during").status_code == 202, timeout=20)
    assert [msg_id for msg_id, _ in published(url)] == ["before", "during"]


def test_no_acknowledgement_in_time_is_a_503(client, private_nats):
    url = django_settings.NATS_URL
    payload = examples.example("issues", "opened")
    assert post(client, "issues", payload, delivery="before").status_code == 202
    private_nats.proc.send_signal(signal.SIGSTOP)  # the server takes the bytes but never answers
    wait_for(lambda: stopped(private_nats.proc.pid), timeout=10, message="nats-server to stop")
    response = post(client, "issues", payload, delivery="late")
    assert error(response) == (503, "dependency_unavailable")
    assert response.json()["error"]["details"] == {"nats": "no acknowledgement from JetStream within 1s"}
    private_nats.proc.send_signal(signal.SIGCONT)
    # whether or not the late one was stored after all, its redelivery counts once
    wait_for(lambda: post(client, "issues", payload, delivery="late").status_code == 202, timeout=20)
    assert [msg_id for msg_id, _ in published(url)] == ["before", "late"]


def test_nats_unreachable_from_the_start_is_a_503(client, webhook, nats_elsewhere):
    nats_elsewhere(f"nats://127.0.0.1:{refused_port()}")
    webhook.GITHUB_WEBHOOK_PUBLISH_TIMEOUT = 0.5
    response = post(client, "issues", examples.example("issues", "opened"))
    assert error(response) == (503, "dependency_unavailable")
    assert response.json()["error"]["details"] == {"nats": f"not connected to {webhook.NATS_URL}"}
