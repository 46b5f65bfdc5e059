"""The board pages' cache: a rendered board page is kept in the worker's memory until one of
the boards it shows changes, and for `PAGE_CACHE_SECONDS` (1 s) at most.

A board page is the same bytes for everybody until its board changes, and fifty visitors
reloading it ask for it hundreds of times a second. The page view names the boards it read
(`response.page_boards`: the board and, on a period board, the previous period's for the
moves); this middleware keeps the response under its URL, and the consumer's announcements
(`redis_boards.boards_changed`, followed from the start by each stream worker's `web.stream`
hub) mark every page showing a changed board stale — at once if the page is 0.1 s old, else
when it is (a board that every batch changes costs a render per page every 0.1 s, as the API's
micro-cache does, not one per batch). The time limit bounds what the announcements cannot
see: a page's project list, the current period turning over, an announcement lost while the
subscription was down (after a resubscription every page is marked stale), and a server
without the stream worker (runserver), which follows none.

A stale page is rendered again by one thread; the others meanwhile answer with the copy they
have (one render older), as the API's micro-cache does. Such a page is answered by the stream
worker (`web.worker`) before Django is called at all — the page's bytes, with its own headers,
in one write — which is what makes the hot page cheap (docs/BENCHMARKS.md).

Only what the view marks, with status 200, no cookie and no `Vary`, is kept; the key is the
scheme and the full path, so an `https` visitor never gets a copy rendered for `http`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import NamedTuple

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from scoring import clock

MAX_ENTRIES = 2048
MAX_CHANGES = 20_000
# A page stays fresh this long after its read even if its board changes meanwhile: a board
# that every batch changes (50 a second at 1,000 events/s) costs each worker a render per page
# every 0.1 s, as the API's micro-cache does, not one per batch.
MIN_FRESH_SECONDS = 0.1
# Headers the server writes itself on every answer (the worker writes its own, fresh).
SERVER_HEADERS = frozenset({"date", "server", "connection"})


class Page(NamedTuple):
    fresh_until: float  # clock.monotonic()
    read_at: float  # when its render began: a change makes it stale MIN_FRESH_SECONDS after this
    content: bytes
    headers: tuple[tuple[str, str], ...]
    resolver_match: object  # the route the metrics count a replay under
    boards: frozenset[str]
    wire: bytes  # the response after its status line, as the worker writes it


class PageCache:
    """Pages by (scheme, full path), and which pages show each board."""

    def __init__(self) -> None:
        self.pages: dict[tuple[str, str], Page] = {}
        self.by_board: dict[str, set[tuple[str, str]]] = {}
        self.changes: dict[str, int] = {}  # board key -> the change count when it last changed
        self.count = 0  # announcements seen: a render started at count N misses none after N
        self.forgotten = -1  # `changes` was emptied at this count: older renders are kept stale
        self.refreshing: set[tuple[str, str]] = set()
        self.lock = threading.Lock()

    def fresh(self, key: tuple[str, str]) -> Page | None:
        """The page if it is fresh (no lock: a dict read)."""
        page = self.pages.get(key)
        if page is not None and page.fresh_until > clock.monotonic():
            return page
        return None

    def servable(self, key: tuple[str, str]) -> Page | None:
        """The page if it is fresh, or stale while a thread renders it again."""
        page = self.pages.get(key)
        if page is not None and (page.fresh_until > clock.monotonic() or key in self.refreshing):
            return page
        return None

    def store(self, key: tuple[str, str], page: Page, *, started_at: int) -> None:
        """Keep `page`, rendered from reads begun when the change count was `started_at`: if
        one of its boards changed since, it is kept stale (the change may have come after
        the read)."""
        with self.lock:
            if started_at <= self.forgotten or any(self.changes.get(b, -1) > started_at for b in page.boards):
                page = _changed(page)
            if key not in self.pages and len(self.pages) >= MAX_ENTRIES:
                self._clear()  # many distinct pages: start over rather than track ages
            old = self.pages.get(key)
            if old is not None:
                self._unindex(key, old.boards)
            self.pages[key] = page
            for board in page.boards:
                self.by_board.setdefault(board, set()).add(key)

    def changed(self, boards: Iterable[str] | None) -> None:
        """These boards changed (None: any may have): their pages are stale from now on."""
        with self.lock:
            self.count += 1
            if len(self.changes) > MAX_CHANGES:  # boards of days long past: forget them all
                self.changes.clear()
                self.forgotten = self.count - 1
            if boards is None:
                for board in self.by_board:
                    self.changes[board] = self.count
                keys: Iterable[tuple[str, str]] = list(self.pages)
            else:
                keys = set()
                for board in boards:
                    self.changes[board] = self.count
                    keys.update(self.by_board.get(board, ()))
            for key in keys:
                page = self.pages.get(key)
                if page is not None:
                    self.pages[key] = _changed(page)

    def _unindex(self, key: tuple[str, str], boards: frozenset[str]) -> None:
        for board in boards:
            keys = self.by_board.get(board)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self.by_board[board]

    def _clear(self) -> None:
        self.pages.clear()
        self.by_board.clear()


cache = PageCache()


def _changed(page: Page) -> Page:
    """A page one of whose boards changed: stale once it is MIN_FRESH_SECONDS old."""
    return page._replace(fresh_until=min(page.fresh_until, page.read_at + MIN_FRESH_SECONDS))


def wire_of(content: bytes, headers: Iterable[tuple[str, str]]) -> bytes:
    """The headers and body of an answer, after the lines the server writes itself."""
    lines = [
        f"{name}: {len(content) if name.lower() == 'content-length' else value}\r\n"
        for name, value in headers
        if name.lower() not in SERVER_HEADERS
    ]
    if not any(name.lower() == "content-length" for name, _ in headers):
        lines.append(f"Content-Length: {len(content)}\r\n")
    return "".join(lines).encode("latin-1") + b"\r\n" + content


def key_of(scheme: str, full_path: str) -> tuple[str, str]:
    return scheme, full_path


def is_board_path(path: str) -> bool:
    """The board pages' paths (web/urls.py): the API and the other pages skip the cache at once."""
    return path == "/" or path.startswith("/projects/")


class BoardPageCache:
    """The middleware: answers a page from the cache, or renders it and keeps it when the
    view marked it. Second in MIDDLEWARE (after the metrics): what it keeps has been through
    every other middleware, so a replay carries the same headers."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        ttl = settings.PAGE_CACHE_SECONDS
        if ttl <= 0 or request.method != "GET" or not is_board_path(request.path):
            return self.get_response(request)
        request.get_host()  # a Host not allowed is a 400 here as it is further in (CommonMiddleware)
        key = key_of(request.scheme, request.get_full_path())
        page = cache.pages.get(key)
        if page is not None:
            if page.fresh_until > clock.monotonic():
                return _replay(request, page)
            with cache.lock:  # stale: one thread renders it again, the others answer with this copy
                if key in cache.refreshing:
                    return _replay(request, page)
                cache.refreshing.add(key)
        try:
            started_at, read_at = cache.count, clock.monotonic()
            response = self.get_response(request)
            boards = getattr(response, "page_boards", None)
            if (
                boards
                and response.status_code == 200
                and not response.streaming
                and not response.cookies
                and not response.has_header("Vary")
            ):
                headers = tuple(response.items())
                cache.store(
                    key,
                    Page(
                        clock.monotonic() + ttl,
                        read_at,
                        response.content,
                        headers,
                        request.resolver_match,
                        frozenset(boards),
                        wire_of(response.content, headers),
                    ),
                    started_at=started_at,
                )
        finally:
            if page is not None:
                with cache.lock:
                    cache.refreshing.discard(key)
        return response


def _replay(request: HttpRequest, page: Page) -> HttpResponse:
    response = HttpResponse(page.content)
    for name, value in page.headers:
        response[name] = value
    request.resolver_match = page.resolver_match  # the route the metrics count it under
    return response
