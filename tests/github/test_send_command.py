"""`manage.py send_github_webhook`: a payload file signed and posted to a live server."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from github.translate import delivery_translate
from tests.github import examples
from tests.github.conftest import GUID, published

pytestmark = pytest.mark.django_db(transaction=True)  # live_server


def send(live_server, *args: str) -> str:
    out = io.StringIO()
    call_command("send_github_webhook", *args, "--url", f"{live_server.url}/v1/webhooks/github", stdout=out)
    return out.getvalue()


def test_a_real_payload_file_is_signed_posted_and_published(live_server, webhook):
    path = examples.payload_file("pull_request.opened")
    out = send(live_server, "--event", "pull_request", "--file", str(path), "--delivery", GUID)
    assert out == f'pull_request delivery {GUID} -> 202 {{"event_id":"{GUID}"}}\n'
    expected = delivery_translate(
        event="pull_request", payload=examples.example("pull_request", "opened"), delivery_id=GUID
    )
    assert published() == [(GUID, expected.SerializeToString())]


def test_ping_answers_ok(live_server, webhook):
    out = send(live_server, "--event", "ping", "--file", str(examples.payload_file("ping")), "--delivery", GUID)
    assert out == f'ping delivery {GUID} -> 200 {{"ok":true}}\n'


def test_a_refused_delivery_fails_the_command(live_server, webhook, tmp_path):
    path = tmp_path / "no-time.json"
    path.write_text('{"action": "opened", "pull_request": {}}')
    with pytest.raises(CommandError, match="the webhook answered 400"):
        send(live_server, "--event", "pull_request", "--file", str(path))
    assert published() == []


def test_no_secret_is_an_error_before_anything_is_sent(live_server, webhook, settings):
    settings.GITHUB_WEBHOOK_SECRETS = []
    with pytest.raises(CommandError, match="GITHUB_WEBHOOK_SECRET is not set"):
        send(live_server, "--event", "push", "--file", str(examples.payload_file("push")))


def test_a_file_that_is_not_json_is_an_error(live_server, webhook, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{nope")
    with pytest.raises(CommandError, match="is not JSON"):
        send(live_server, "--event", "push", "--file", str(path))
