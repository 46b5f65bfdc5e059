"""A micro-cache for the board reads: the same page asked again within a fraction of a second
is answered from this process's memory instead of being validated, read and rendered again.

Fifty clients polling the top of a board ask for the same few URLs hundreds of times a second;
with `API_MICROCACHE_SECONDS` (default 0.1 s) each worker computes such a page at most once per
that interval and serves the rest from here (docs/BENCHMARKS.md has what it saves). While one
thread renders an expired page again, the others answer with the copy they have, so a reader
sees a board at most that much (plus one render) older than Redis. Only 200 answers of GET
board reads and contributor pages are kept; 0 turns the cache off. The board pages have a
cache of their own that their board's changes empty (web/pagecache.py).
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from scoring import clock

# The board reads of the API, and the contributor pages (their rows come from the same reads;
# the board pages have a cache of their own, web/pagecache.py, dropped when their board changes).
CACHED_PREFIXES = ("/v1/leaderboard/", "/contributors/")
MAX_ENTRIES = 2048


class BoardReadMicroCache:
    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.entries: dict[str, tuple[float, bytes, list[tuple[str, str]], object]] = {}
        self.refreshing: set[str] = set()  # keys a thread is rendering again
        self.lock = threading.Lock()

    @staticmethod
    def cached(path: str) -> bool:
        return path.startswith(CACHED_PREFIXES)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        ttl = settings.API_MICROCACHE_SECONDS
        if ttl <= 0 or request.method != "GET" or not self.cached(request.path):
            return self.get_response(request)
        key = request.get_full_path()
        entry = self.entries.get(key)
        if entry is not None:
            if entry[0] > clock.monotonic():
                return self._replay(request, entry)
            # Expired: one thread renders it again; the others answer with the copy they have
            # meanwhile instead of all rendering the same page at once.
            with self.lock:
                if key in self.refreshing:
                    return self._replay(request, entry)
                self.refreshing.add(key)
        try:
            response = self.get_response(request)
            if response.status_code == 200 and not response.streaming:
                if len(self.entries) >= MAX_ENTRIES:
                    self.entries.clear()  # many distinct pages: start over rather than track ages
                self.entries[key] = (
                    clock.monotonic() + ttl,
                    response.content,
                    list(response.items()),
                    request.resolver_match,
                )
        finally:
            if entry is not None:
                with self.lock:
                    self.refreshing.discard(key)
        return response

    @staticmethod
    def _replay(request: HttpRequest, entry: tuple[float, bytes, list[tuple[str, str]], object]) -> HttpResponse:
        response = HttpResponse(entry[1])
        for name, value in entry[2]:
            response[name] = value
        request.resolver_match = entry[3]  # the route the metrics count it under
        return response
