"""The request limits per client address (docs/SECURITY.md), over Redis' token buckets
(`redis_boards.bucket_take`), shared by every worker:

- `request_refusal`: the API's and the pages' requests, `RATE_LIMIT_PER_SECOND` a second with
  bursts of `RATE_LIMIT_BURST` (0: off, the default);
- `webhook_throttled` / `webhook_failed`: GitHub deliveries whose signature fails, at most
  `WEBHOOK_FAILURES_BURST` at once, refilled at `WEBHOOK_FAILURES_PER_MINUTE`. Past them the
  address's deliveries are still checked (GitHub delivers from shared addresses: a stranger's
  forged deliveries must not lock out ours), but only up to `WEBHOOK_THROTTLED_MAX_BYTES`: a
  larger one is refused 429 before its body is read, and failures are no longer logged one by one.

The answers with their bodies are written here too, for Django (`refusal_response`) and for the
worker that answers before Django (`refusal_bytes`). Redis unreachable: nothing is limited.
"""

from __future__ import annotations

import json
import logging
import math

from django.conf import settings
from django.http import JsonResponse

from api.errors import error_body
from scoring import redis_boards

logger = logging.getLogger("leaderboard.guard")

REASONS = {429: "Too Many Requests", 503: "Service Unavailable"}  # the refusals the worker writes itself


def _take(kind: str, client: str, *, rate: float, burst: int, take: bool = True) -> float:
    try:
        return redis_boards.bucket_take(kind, client, rate=rate, burst=burst, take=take)
    except Exception as exc:
        logger.warning("%s limit not checked (%s): allowing %s", kind, exc, client)
        return 0.0


def request_refusal(client: str) -> float | None:
    """None when `client` may make a request now (one token taken), else the seconds to wait."""
    rate = settings.RATE_LIMIT_PER_SECOND
    if rate <= 0:
        return None
    wait = _take("requests", client, rate=rate, burst=settings.RATE_LIMIT_BURST)
    return wait or None


def _webhook_bucket() -> dict:
    return {"rate": settings.WEBHOOK_FAILURES_PER_MINUTE / 60, "burst": settings.WEBHOOK_FAILURES_BURST}


def webhook_throttled(client: str) -> float:
    """0.0 when `client` has failures left, else the seconds until it has one again."""
    if settings.WEBHOOK_FAILURES_BURST <= 0:
        return 0.0
    return _take("webhook", client, take=False, **_webhook_bucket())


def webhook_failed(client: str) -> float:
    """Count a delivery from `client` whose signature failed: 0.0 while it had failures left."""
    if settings.WEBHOOK_FAILURES_BURST <= 0:
        return 0.0
    return _take("webhook", client, **_webhook_bucket())


def retry_seconds(wait: float) -> int:
    return max(1, math.ceil(wait))


def refusal_response(status: int, code: str, message: str, retry_after: float | None = None) -> JsonResponse:
    """A refusal in the API's error shape, never cached, with `Retry-After` when given."""
    response = JsonResponse(error_body(code, message, {}), status=status, json_dumps_params={"separators": (",", ":")})
    response["Cache-Control"] = "no-store"
    if retry_after is not None:
        response["Retry-After"] = str(retry_seconds(retry_after))
    return response


def refusal_bytes(status: int, code: str, message: str, retry_after: float | None = None) -> bytes:
    """The same refusal as a whole HTTP/1.1 response that closes the connection."""
    body = json.dumps(error_body(code, message, {}), separators=(",", ":")).encode()
    head = [
        f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Cache-Control: no-store",
        "X-Content-Type-Options: nosniff",
        "Connection: close",
    ]
    if retry_after is not None:
        head.append(f"Retry-After: {retry_seconds(retry_after)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body
