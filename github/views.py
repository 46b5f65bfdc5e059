"""`POST /v1/webhooks/github`: check, translate, publish (SPEC section 8).

The order matters: a body is read (at most 25 MB) and its signature checked before anything
in it is looked at, so an unsigned or forged delivery changes nothing and learns nothing;
then the headers and the JSON are checked, the delivery is translated, and the event is
published. 202 `{"event_id": ...}` is the answer only once JetStream has acknowledged it.

Deliveries whose signature fails are counted per source address (`guard.limits`): past the
limit the address's deliveries are still checked — a valid one is still taken — but one larger
than `WEBHOOK_THROTTLED_MAX_BYTES` is refused 429 before its body is read, and the failures
are logged once a minute rather than one by one. A body trickled in slower than the server's
request timeout is answered 408. JSON nested deeper than `guard.bounds.JSON_MAX_DEPTH` is 400.

A plain Django view rather than a DRF one: the body must be read raw (the signature covers
the exact bytes), and it is not part of the query API's OpenAPI document.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import status

from github.signatures import signature_matches
from github.translate import Ignored, delivery_translate
from guard.bounds import JSON_MAX_DEPTH, json_depth
from guard.client import request_client
from guard.limits import retry_seconds, webhook_failed, webhook_throttled
from leaderboard_project.errors import ApplicationError
from leaderboard_project.exceptions import application_error_response
from scoring.jetstream import process_publisher

logger = logging.getLogger("leaderboard.github")

MAX_BODY_BYTES = 25 * 1024 * 1024  # GitHub caps a delivery's payload at 25 MB
MAX_DELIVERY_ID_LENGTH = 256  # what the log keeps as an event id
FORM = "application/x-www-form-urlencoded"


class WebhookNotConfigured(ApplicationError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "webhook_not_configured"


class SignatureRefused(ApplicationError):
    status_code = status.HTTP_401_UNAUTHORIZED
    code = "signature_invalid"


class SignatureMissing(SignatureRefused):
    code = "signature_missing"


class TooManyFailures(ApplicationError):
    """Past its budget of failed signatures, an address's large delivery is refused unread."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    code = "too_many_failed_signatures"
    retry_after: float = 60.0


class BodyTimeout(ApplicationError):
    """The body came slower than the worker's request timeout allows (web/gate.py)."""

    status_code = status.HTTP_408_REQUEST_TIMEOUT
    code = "request_timeout"


class PayloadTooLarge(ApplicationError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    code = "payload_too_large"


class HeaderInvalid(ApplicationError):
    code = "invalid_header"


class PayloadInvalid(ApplicationError):
    code = "invalid_payload"


class MethodNotAllowed(ApplicationError):
    status_code = status.HTTP_405_METHOD_NOT_ALLOWED
    code = "method_not_allowed"


def _json(body: dict[str, Any], status_code: int) -> JsonResponse:
    return JsonResponse(body, status=status_code, json_dumps_params={"separators": (",", ":")})


def _body(request: HttpRequest, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, refused past `limit` whatever the Content-Length says (it may lie or be absent)."""
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is {int(declared)} bytes; at most {limit} are accepted")
    # read() rather than .body: DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) is for forms, not deliveries
    try:
        body = request.read(limit + 1)
    except OSError:  # the worker's request timeout cut a body that came too slowly (web/gate.py)
        raise BodyTimeout("the body did not arrive in time") from None
    if len(body) > limit:
        raise PayloadTooLarge(f"the body is over {limit} bytes")
    return body


def _header(request: HttpRequest, name: str) -> str:
    value = request.headers.get(name, "").strip()
    if not value:
        raise HeaderInvalid(f"the {name} header is missing", details={"header": name})
    return value


def _delivery_id(request: HttpRequest) -> str:
    value = _header(request, "X-GitHub-Delivery")
    if len(value) > MAX_DELIVERY_ID_LENGTH or not value.isprintable():
        raise HeaderInvalid(
            f"the X-GitHub-Delivery header must be at most {MAX_DELIVERY_ID_LENGTH} printable characters",
            details={"header": "X-GitHub-Delivery"},
        )
    return value


def _payload(request: HttpRequest, body: bytes) -> dict[str, Any]:
    """The JSON document: the body itself, or its `payload` field when form-encoded."""
    document = body
    if request.content_type == FORM:
        fields = parse_qs(body, max_num_fields=100)
        if b"payload" not in fields:
            raise PayloadInvalid("a form-encoded delivery must carry the JSON in its payload field")
        document = fields[b"payload"][0]
    try:
        payload = json.loads(document)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested past the parser's depth
        raise PayloadInvalid(f"the payload is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise PayloadInvalid("the payload is JSON but not an object")
    if json_depth(payload) > JSON_MAX_DEPTH:
        raise PayloadInvalid(f"the payload nests deeper than {JSON_MAX_DEPTH} levels")
    return payload


@csrf_exempt
def github_webhook(request: HttpRequest) -> JsonResponse:
    """Take one GitHub webhook delivery."""
    try:
        return _deliver(request)
    except ApplicationError as exc:
        if exc.status_code >= 500:
            logger.warning("webhook delivery refused: %s", exc.message)
        response = application_error_response(exc)
        if isinstance(exc, MethodNotAllowed):
            response["Allow"] = "POST"
        if isinstance(exc, TooManyFailures):
            response["Retry-After"] = str(retry_seconds(exc.retry_after))
        return response


_last_warned: dict[str, float] = {}


def _failed(client: str) -> None:
    """Count a failed signature; the first past the limit, and then one a minute, is logged."""
    if webhook_failed(client):
        now = time.monotonic()
        if now - _last_warned.get(client, -60.0) >= 60.0:
            if len(_last_warned) > 10_000:
                _last_warned.clear()
            _last_warned[client] = now
            logger.warning("webhook deliveries with a bad signature from %s: past the limit, throttled", client)


def _deliver(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        raise MethodNotAllowed("webhook deliveries are POSTed")
    secrets = settings.GITHUB_WEBHOOK_SECRETS
    if not secrets:
        raise WebhookNotConfigured("GITHUB_WEBHOOK_SECRET is not set: no delivery can be verified, so none is accepted")
    client = request_client(request)
    throttled = webhook_throttled(client)
    if throttled:
        declared = request.META.get("CONTENT_LENGTH") or ""
        if not declared.isdigit() or int(declared) > settings.WEBHOOK_THROTTLED_MAX_BYTES:
            exc = TooManyFailures("too many deliveries with a bad signature from this address")
            exc.retry_after = throttled
            raise exc
    body = _body(request, settings.WEBHOOK_THROTTLED_MAX_BYTES if throttled else MAX_BODY_BYTES)
    signature = request.headers.get("X-Hub-Signature-256")
    if not signature or not signature_matches(body=body, header=signature, secrets=secrets):
        _failed(client)
        if not signature:
            raise SignatureMissing("the X-Hub-Signature-256 header is missing")
        raise SignatureRefused("the X-Hub-Signature-256 signature does not match the body")
    event = _header(request, "X-GitHub-Event")
    delivery_id = _delivery_id(request)
    payload = _payload(request, body)
    if event == "ping":
        return _json({"ok": True}, status.HTTP_200_OK)
    translated = delivery_translate(event=event, payload=payload, delivery_id=delivery_id)
    if isinstance(translated, Ignored):
        return _json({"ignored": translated.what}, status.HTTP_202_ACCEPTED)
    process_publisher().publish(
        translated.SerializeToString(), msg_id=delivery_id, timeout=settings.GITHUB_WEBHOOK_PUBLISH_TIMEOUT
    )
    return _json({"event_id": delivery_id}, status.HTTP_202_ACCEPTED)
