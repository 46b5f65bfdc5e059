"""A micro-cache for the board reads: the same page asked again within a fraction of a second
is answered from this process's memory instead of being validated, read and rendered again.

Fifty clients polling the top of a board ask for the same few URLs hundreds of times a second;
with `API_MICROCACHE_SECONDS` (default 0.1 s) each worker computes such a page at most once per
that interval and serves the rest from here (docs/BENCHMARKS.md has what it saves). A reader
sees a board at most that much older than Redis. Only 200 answers of GET board reads are kept; 0 turns the cache off.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse

CACHED_PREFIXES = ("/v1/leaderboard/",)
MAX_ENTRIES = 2048


class BoardReadMicroCache:
    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.entries: dict[str, tuple[float, bytes, list[tuple[str, str]], object]] = {}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        ttl = settings.API_MICROCACHE_SECONDS
        if ttl <= 0 or request.method != "GET" or not request.path.startswith(CACHED_PREFIXES):
            return self.get_response(request)
        key = request.get_full_path()
        now = time.monotonic()
        entry = self.entries.get(key)
        if entry is not None and entry[0] > now:
            response = HttpResponse(entry[1])
            for name, value in entry[2]:
                response[name] = value
            request.resolver_match = entry[3]  # the route the metrics count it under
            return response
        response = self.get_response(request)
        if response.status_code == 200 and not response.streaming:
            if len(self.entries) >= MAX_ENTRIES:
                self.entries.clear()  # many distinct pages: start over rather than track ages
            self.entries[key] = (now + ttl, response.content, list(response.items()), request.resolver_match)
        return response
