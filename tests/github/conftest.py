"""Fixtures for the webhook tests: a configured secret, signed posts, the stream read back."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode

import pytest
from django.conf import settings as django_settings
from nats.js.errors import NotFoundError

from github.signatures import signature_of
from scoring.redis_boards.keys import bucket_key
from tests.fixtures import nats_client, redis_connect

SECRET = "It's a Secret to Everybody"
GUID = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
URL = "/v1/webhooks/github"


@pytest.fixture
def webhook(settings, nats_names):
    """The webhook configured with one secret, publishing to this test's stream."""
    settings.GITHUB_WEBHOOK_SECRETS = [SECRET]
    settings.GITHUB_WEBHOOK_PUBLISH_TIMEOUT = 3.0
    client = redis_connect()  # the test client's failed signatures start at none (guard/limits.py)
    client.delete(bucket_key("webhook", "127.0.0.1"))
    client.close()
    return settings


def post(
    client,
    event: str,
    payload: dict | bytes,
    *,
    delivery: str | None = GUID,
    secret: str | None = SECRET,
    signature: str | None = None,
    form: bool = False,
):
    """A delivery as GitHub sends it: the body signed with `secret` (unless `signature` is given)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    if form:
        body = urlencode({"payload": body.decode()}).encode()
    headers = {"X-GitHub-Event": event, "User-Agent": "GitHub-Hookshot/test"}
    if delivery is not None:
        headers["X-GitHub-Delivery"] = delivery
    if signature is None and secret is not None:
        signature = signature_of(body, secret)
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    content_type = "application/x-www-form-urlencoded" if form else "application/json"
    return client.post(URL, data=body, content_type=content_type, headers=headers)


async def _stream_messages(url: str, stream: str) -> list[tuple[str, bytes]]:
    nc = await nats_client(url)
    try:
        js = nc.jetstream()
        try:
            state = (await js.stream_info(stream)).state
        except NotFoundError:
            return []
        found = []
        for seq in range(state.first_seq, state.last_seq + 1) if state.messages else ():
            msg = await js.get_msg(stream, seq)
            found.append((msg.headers.get("Nats-Msg-Id"), msg.data))
        return found
    finally:
        await nc.close()


def published(url: str | None = None) -> list[tuple[str, bytes]]:
    """(Nats-Msg-Id, data) of every message in this test's stream."""
    return asyncio.run(_stream_messages(url or django_settings.NATS_URL, django_settings.NATS_STREAM))
