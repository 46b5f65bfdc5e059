"""The guard's two middlewares (settings.MIDDLEWARE, docs/SECURITY.md).

`RequestGuard` (before the response cache: a refused request is never answered from it) answers
a query string past its bounds (`guard.bounds`) with a 400 and a client past its request
rate (`guard.limits.request_refusal`) with 429 and `Retry-After`, before any view runs.

`SecurityHeaders` (after the cache: what the cache keeps carries them, and the worker answers
cached pages with those very bytes) adds the Content-Security-Policy. Django's own middlewares
add the rest: `X-Content-Type-Options: nosniff` and `Referrer-Policy` (SecurityMiddleware), HSTS
when `DJANGO_SECURE_HSTS_SECONDS` is set, and `X-Frame-Options: DENY` (XFrameOptionsMiddleware).
The policy allows no inline script or style: the pages' scripts and styles are files, and the
per-row colours are set by those scripts (CSSOM, which the policy allows), never in markup.
"""

from __future__ import annotations

from django.conf import settings

from guard.bounds import query_problem
from guard.client import request_client
from guard.limits import refusal_response, request_refusal

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: https:",  # GitHub's avatars (their host varies) and the badges
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class RequestGuard:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        problem = query_problem(request.META.get("QUERY_STRING", ""))
        if problem is not None:
            return refusal_response(*problem)
        if settings.RATE_LIMIT_PER_SECOND > 0:
            wait = request_refusal(request_client(request))
            if wait is not None:
                return refusal_response(429, "rate_limited", "too many requests from this address", wait)
        return self.get_response(request)


class SecurityHeaders:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response
