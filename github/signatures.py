"""GitHub's webhook signature: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`.

The key is the webhook's secret. Several secrets may be configured at once so that one can
be rotated (add the new one, change it on GitHub, drop the old one): any one matching is
enough. Every comparison is constant-time (`hmac.compare_digest`), and every configured
secret is tried, so the answer's timing says nothing about which one matched or how much of
a forged signature was right.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

PREFIX = "sha256="


def signature_of(body: bytes, secret: str) -> str:
    """The header value GitHub sends for `body` signed with `secret`."""
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(*, body: bytes, header: str, secrets: Sequence[str]) -> bool:
    """Whether `header` is the signature of `body` under any one of `secrets`."""
    try:
        given = header.strip().encode("ascii")
    except UnicodeEncodeError:
        return False  # a real signature is ASCII hex
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(signature_of(body, secret).encode("ascii"), given)
    return matched
