"""Reads of contributors: names for board rows, a contributor by login or id, who is excluded."""

from __future__ import annotations

import logging
from collections.abc import Collection

from django.db import DatabaseError, connection

from scoring.models import Contributor

logger = logging.getLogger("leaderboard.selectors")

U64_DIGITS = 20


def contributor_names(user_ids: Collection[int]) -> dict[int, tuple[str | None, str | None]]:
    """(login, avatar_url) of each of `user_ids` that is a known contributor, None for what
    is not known: one query. Nothing when Postgres is down (callers answer without names)."""
    if not user_ids:
        return {}
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, login, avatar_url FROM scoring_contributor WHERE id = ANY(%s::numeric[])", [list(user_ids)]
            )
            found = cursor.fetchall()
    except DatabaseError as exc:
        logger.warning("contributor names unavailable: %s", exc)
        return {}
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
