"""The one response cache: an answer asked again is given from this worker's memory, under a
policy its route declares (`route_cached(policy, view)` in a urls.py).

- `MICRO` (`API_MICROCACHE_SECONDS`, 0.1 s): fifty clients polling the top of a board ask for
  the same few URLs hundreds of times a second; each worker renders such an answer at most
  once per interval. The contributor pages.
- `MICRO_BEFORE_DJANGO`: the same, and the stream worker answers it before Django: the API's
  board reads (a board's page, a user's standing) and the badges, asked for by every README
  that shows one: Django is most of a kept answer's CPU (docs/BENCHMARKS.md, "API reads"). A
  kept answer with an ETag is a 304 to a request whose If-None-Match names it, with the headers
  of the view's own 304 (here and in the worker).
- `UNTIL_BOARD_CHANGES` (`PAGE_CACHE_SECONDS`, 1 s at most): a board page is the same bytes
  for everybody until its board changes. The view names the boards it read
  (`response.page_boards`); the consumer's announcements (`redis_boards.boards_changed`,
  followed by each stream worker's `web.stream` hub) mark every page showing a changed board
  stale — at once if the page is 0.1 s old, else when it is (a board that every batch changes
  costs a render per page every 0.1 s, not one per batch). The time limit bounds what the
  announcements cannot see: the project list, a period turning over, an announcement lost
  while the subscription was down (after a resubscription every page is marked stale), a
  server without the stream worker. The stream worker answers these before Django
  (`web.worker`), with the bytes kept here.

A stale answer is rendered again by one thread; the others meanwhile answer with the copy
they have, for `MAX_STALE_SECONDS` at most past its time (a render stuck on a stalled Redis
does not keep an old answer going: past that, every request renders, and answers what Redis
or the error says). Only 200 answers, not streamed, with no cookie and no `Vary`, are kept. The key is
(scheme, host, path and query), decided once in `key_of`: an `https` visitor never gets a copy
rendered for `http`, nor one host the links written for another.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.utils.cache import _if_none_match_passes  # the test Django's own 304s use
from django.utils.http import parse_etags

from scoring import clock

MAX_ENTRIES = 4096  # the two caches this one replaced kept 2048 each
MAX_CHANGES = 20_000
# A page stays fresh this long after its read even if its board changes meanwhile.
MIN_FRESH_SECONDS = 0.1
# A stale answer stands in for one being rendered again this long at most past its time.
MAX_STALE_SECONDS = 1.0
# Headers the server writes itself on every answer (the worker writes its own, fresh).
SERVER_HEADERS = frozenset({"date", "server", "connection"})


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """How long a route's answers are kept: `seconds_setting` names the setting (0: off)."""

    seconds_setting: str
    follows_boards: bool = False  # stale once an announcement names a board the view marked
    before_django: bool = False  # the stream worker may answer it before Django is called

    def seconds(self) -> float:
        return getattr(settings, self.seconds_setting)


MICRO = CachePolicy("API_MICROCACHE_SECONDS")
# The board reads and the badges: MICRO's interval, answered by the stream worker too.
MICRO_BEFORE_DJANGO = CachePolicy("API_MICROCACHE_SECONDS", before_django=True)
UNTIL_BOARD_CHANGES = CachePolicy("PAGE_CACHE_SECONDS", follows_boards=True, before_django=True)


def route_cached(policy: CachePolicy, view: Callable) -> Callable:
    """`view`, whose answers the cache keeps under `policy` (for a urls.py)."""

    @functools.wraps(view)
    def route(*args, **kwargs):
        return view(*args, **kwargs)

    route.cache_policy = policy
    return route


Key = tuple[str, str, str]


def key_of(scheme: str, host: str, full_path: str) -> Key:
    """The one cache key: scheme, host, and the path with its query."""
    return scheme, host, full_path


def request_key(request: HttpRequest) -> Key:
    """The key of a request Django serves (a Host not allowed raises, a 400, as further in)."""
    return key_of(request.scheme, request.get_host(), request.get_full_path())


def forwarded_scheme(headers: Mapping[str, str], default: str) -> str:
    """`request.scheme` as Django will see it, from raw headers by upper-case name
    (SECURE_PROXY_SSL_HEADER, else the server's own)."""
    if settings.SECURE_PROXY_SSL_HEADER:
        header, secure = settings.SECURE_PROXY_SSL_HEADER
        value = headers.get(header.removeprefix("HTTP_").replace("_", "-"))
        if value is not None:
            return "https" if value.split(",", 1)[0].strip() == secure else "http"
    return default


def raw_key(headers: Mapping[str, str], scheme: str, path: str, query: str) -> Key:
    """The key of a request not parsed by Django yet (the stream worker's), by raw headers."""
    return key_of(forwarded_scheme(headers, scheme), headers.get("HOST", ""), path + (f"?{query}" if query else ""))


class Page(NamedTuple):
    """A kept answer."""

    fresh_until: float  # clock.monotonic()
    read_at: float  # when its render began: a change makes it stale MIN_FRESH_SECONDS after this
    content: bytes
    headers: tuple[tuple[str, str], ...]
    resolver_match: object  # the route the metrics count a replay under
    boards: frozenset[str]
    wire: bytes  # the response after its status line, as the worker writes it
    policy: CachePolicy | None = None  # the route's; None: kept by no route (the cache's own tests)
    not_modified_wire: bytes = b""  # the 304 for its ETag, as the worker writes it (b"": no ETag)

    @property
    def etag(self) -> str | None:
        return next((value for name, value in self.headers if name.lower() == "etag"), None)


class ResponseCache:
    """Answers by key, and which pages show each board."""

    def __init__(self) -> None:
        self.pages: dict[Key, Page] = {}
        self.paths: set[str] = set()  # the paths (no query) of what is kept: others skip the cache at once
        self.worker_paths: set[str] = set()  # ...of what the stream worker may answer
        self.by_board: dict[str, set[Key]] = {}
        self.changes: dict[str, int] = {}  # board key -> the change count when it last changed
        self.count = 0  # announcements seen: a render started at count N misses none after N
        self.forgotten = -1  # `changes` was emptied at this count: older renders are kept stale
        self.refreshing: set[Key] = set()
        self.lock = threading.Lock()

    def fresh(self, key: Key) -> Page | None:
        """The page if it is fresh (no lock: a dict read)."""
        page = self.pages.get(key)
        if page is not None and page.fresh_until > clock.monotonic():
            return page
        return None

    def servable(self, key: Key) -> Page | None:
        """The page if it is fresh, or stale (by MAX_STALE_SECONDS at most) while a thread renders
        it again."""
        page = self.pages.get(key)
        if page is not None and _servable(page, clock.monotonic(), refreshing=key in self.refreshing):
            return page
        return None

    def store(self, key: Key, page: Page, *, started_at: int) -> None:
        """Keep `page`, rendered from reads begun when the change count was `started_at`: if
        one of its boards changed since, it is kept stale (the change may have come after
        the read)."""
        with self.lock:
            if page.boards and (
                started_at <= self.forgotten or any(self.changes.get(b, -1) > started_at for b in page.boards)
            ):
                page = _changed(page)
            if key not in self.pages and len(self.pages) >= MAX_ENTRIES:
                self._clear()  # many distinct pages: start over rather than track ages
            old = self.pages.get(key)
            if old is not None:
                self._unindex(key, old.boards)
            self.pages[key] = page
            path = key[-1].split("?", 1)[0]
            self.paths.add(path)
            if page.policy is not None and page.policy.before_django:
                self.worker_paths.add(path)
            for board in page.boards:
                self.by_board.setdefault(board, set()).add(key)

    def changed(self, boards: Iterable[str] | None) -> None:
        """These boards changed (None: any may have): their pages are stale from now on."""
        with self.lock:
            self.count += 1
            if len(self.changes) > MAX_CHANGES:  # boards of days long past: forget them all
                self.changes.clear()
                self.forgotten = self.count - 1
            keys: set[Key] = set()
            for board in self.by_board if boards is None else boards:
                self.changes[board] = self.count
                keys.update(self.by_board.get(board, ()))
            for key in keys:
                page = self.pages.get(key)
                if page is not None:
                    self.pages[key] = _changed(page)

    def _unindex(self, key: Key, boards: frozenset[str]) -> None:
        for board in boards:
            keys = self.by_board.get(board)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self.by_board[board]

    def _clear(self) -> None:
        self.pages.clear()
        self.by_board.clear()
        self.paths.clear()
        self.worker_paths.clear()


cache = ResponseCache()


def _servable(page: Page, now: float, *, refreshing: bool) -> bool:
    return page.fresh_until > now or (refreshing and page.fresh_until + MAX_STALE_SECONDS > now)


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


def not_modified_headers(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The headers of the 304 for an answer with `headers`: Django's for a view's 304 (the
    view's `get_conditional_response`, then the middleware): all but the body's type, and an
    empty body."""
    kept = tuple((name, value) for name, value in headers if name.lower() not in ("content-type", "content-length"))
    return (*kept, ("Content-Length", "0"))


def not_modified(page: Page, if_none_match: str | None) -> bool:
    """Whether a request with this If-None-Match header is a 304 for `page` (Django's test)."""
    if not if_none_match:
        return False
    if if_none_match == page.etag:  # what a client sends back: no parse
        return True
    return not _if_none_match_passes(page.etag, parse_etags(if_none_match))


def _policy_of(request: HttpRequest) -> CachePolicy | None:
    match = getattr(request, "resolver_match", None)
    return getattr(match.func, "cache_policy", None) if match is not None else None


def _keepable(response: HttpResponse, policy: CachePolicy) -> bool:
    return (
        response.status_code == 200
        and not response.streaming
        and not response.cookies
        and not response.has_header("Vary")
        and (not policy.follows_boards or bool(getattr(response, "page_boards", None)))
    )


class ResponseCacheMiddleware:
    """Answers from the cache, or renders and keeps what the route's policy allows. Second in
    MIDDLEWARE (after the metrics): what it keeps has been through every other middleware, so
    a replay (here or in the stream worker) carries the same headers."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method != "GET":
            return self.get_response(request)
        kept, key, page = cache, None, None
        if request.path in kept.paths:
            key = request_key(request)
            page = kept.pages.get(key)
            if page is not None and page.policy is not None and page.policy.seconds() > 0:
                now = clock.monotonic()
                if page.fresh_until > now:
                    return _replay(request, page)
                with kept.lock:  # stale: one thread renders it again, the others answer with this copy
                    if key in kept.refreshing:
                        if _servable(page, now, refreshing=True):
                            return _replay(request, page)
                        page = None  # too old to stand in: render it too (the other render owns the mark)
                    else:
                        kept.refreshing.add(key)
            else:
                page = None
        # A kept answer rendered again is rendered whole: with the request's If-None-Match the
        # view would answer a 304, which is not kept, and every request after it would render
        # again. The request is then answered from what was kept, a 304 where its ETag matches.
        etags = request.META.pop("HTTP_IF_NONE_MATCH", None) if page is not None else None
        try:
            started_at, read_at = kept.count, clock.monotonic()
            response = self.get_response(request)
            policy = _policy_of(request)
            if policy is not None and _keepable(response, policy) and (seconds := policy.seconds()) > 0:
                headers = tuple(response.items())
                worker = policy.before_django
                fresh = Page(
                    clock.monotonic() + seconds,
                    read_at,
                    response.content,
                    headers,
                    request.resolver_match,
                    frozenset(getattr(response, "page_boards", None) or ()),
                    wire_of(response.content, headers) if worker else b"",
                    policy,
                    wire_of(b"", not_modified_headers(headers)) if worker and response.has_header("ETag") else b"",
                )
                kept.store(key or request_key(request), fresh, started_at=started_at)
                if etags is not None:
                    request.META["HTTP_IF_NONE_MATCH"] = etags
                    response = _replay(request, fresh)
        finally:
            if etags is not None:
                request.META["HTTP_IF_NONE_MATCH"] = etags
            if page is not None:
                with kept.lock:
                    kept.refreshing.discard(key)
        return response


def _replay(request: HttpRequest, page: Page) -> HttpResponse:
    """The kept answer; the 304 the view would answer when the request's If-None-Match names
    its ETag."""
    request.resolver_match = page.resolver_match  # the route the metrics count it under
    if page.etag is not None and not_modified(page, request.headers.get("If-None-Match")):
        response = HttpResponseNotModified()
        for name, value in not_modified_headers(page.headers):
            response[name] = value
        return response
    response = HttpResponse(page.content)
    for name, value in page.headers:
        response[name] = value
    return response
