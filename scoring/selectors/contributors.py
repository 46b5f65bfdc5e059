"""Reads of contributors: names for board rows, a contributor by login or id, who is excluded."""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection

from cachetools import TTLCache
from django.conf import settings
from django.db import DatabaseError, connection

from scoring import clock
from scoring.models import Contributor

logger = logging.getLogger("leaderboard.selectors")

U64_DIGITS = 20
MAX_NAMES = 200_000  # about 200 bytes each: 40 MB at most per process


Name = tuple[str | None, str | None]  # (login, avatar_url); None: not known


class NameCache:
    """(login, avatar_url) by user id, kept by this process for `NAMES_CACHE_SECONDS` (0: not
    kept), at most `MAX_NAMES` of them: a board page read again after its response-cache entry
    went stale needs no Postgres query for the names of its rows (docs/BENCHMARKS.md, "API
    reads"). A name changes only when a newer event names the user otherwise, or when it
    first appears: a board shows that within the setting's seconds. An id that is no
    contributor is kept too (as not known), so that a row without a name costs no query either."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ttl = -1.0
        self._kept: TTLCache[int, Name] | None = None

    def _cache(self) -> TTLCache[int, Name] | None:
        ttl = settings.NAMES_CACHE_SECONDS
        if ttl != self._ttl:  # a new setting (the tests change it): start over
            self._ttl, self._kept = ttl, TTLCache(MAX_NAMES, ttl, timer=lambda: clock.monotonic()) if ttl > 0 else None
        return self._kept

    def names(self, user_ids: Collection[int]) -> dict[int, Name]:
        with self._lock:
            kept = self._cache()
            if kept is None:
                return _names_query(user_ids) or {}
            found = {user_id: kept[user_id] for user_id in user_ids if user_id in kept}
        missing = [user_id for user_id in user_ids if user_id not in found]
        if missing:
            queried = _names_query(missing)
            if queried is None:
                return found  # Postgres is down: what is kept, and no more (nothing is kept of it)
            fetched = {user_id: queried.get(user_id, (None, None)) for user_id in missing}
            with self._lock:
                kept.update(fetched)
            found.update(fetched)
        return found

    def clear(self) -> None:
        with self._lock:
            if self._kept is not None:
                self._kept.clear()


names_cache = NameCache()


def contributor_names(user_ids: Collection[int]) -> dict[int, Name]:
    """(login, avatar_url) of each of `user_ids`: (None, None) for an id not known (or one left
    out). From this process's `names_cache`, with one query for those it does not hold; only
    what it holds when Postgres is down (callers answer without names)."""
    if not user_ids:
        return {}
    return names_cache.names(user_ids)


def _names_query(user_ids: Collection[int]) -> dict[int, Name] | None:
    """The names of those of `user_ids` that are known contributors: one query. None when
    Postgres is down."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, login, avatar_url FROM scoring_contributor WHERE id = ANY(%s::numeric[])", [list(user_ids)]
            )
            found = cursor.fetchall()
    except DatabaseError as exc:
        logger.warning("contributor names unavailable: %s", exc)
        return None
    return {int(user_id): (login or None, avatar_url or None) for user_id, login, avatar_url in found}


def contributor_find(*, key: str, excluded: bool = False) -> Contributor | None:
    """The contributor named by `key`: a user id (decimal) or a login (any case). An all-digit
    key is tried as an id first, since GitHub logins may be digits too. A login renamed away
    and taken by someone else names the one seen most recently. An excluded contributor is
    found only with `excluded` (the operator's tools): to the public it does not exist."""
    contributors = Contributor.objects.all() if excluded else Contributor.objects.on_boards()
    if key.isascii() and key.isdigit() and len(key) <= U64_DIGITS:
        found = contributors.filter(id=int(key)).first()
        if found is not None:
            return found
        if not excluded and user_is_excluded(int(key)):
            return None  # its id names it, whatever logins others have
    return contributors.filter(login__iexact=key).order_by("-last_seen_at", "-id").first()


def user_is_excluded(user_id: int) -> bool:
    """Whether the user is excluded from every board (SPEC section 9): the API and the pages
    answer 404 for it."""
    return Contributor.objects.excluded().filter(id=user_id).exists()
