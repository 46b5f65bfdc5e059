"""The web server's Postgres sessions: a `statement_timeout`, so a slow read cannot hold the
log (and the consumer's writes behind it) for long; it is answered 503 instead.

Only the web entry points (`wsgi.py`, `asgi.py`; `runserver` loads `wsgi.py` too) call
`limit_api_queries`: the consumer, restores, rebuilds and snapshots run without a timeout.
"""

from __future__ import annotations

from django.conf import settings
from django.db.backends.signals import connection_created

_UID = "leaderboard.api_statement_timeout"


def _set_statement_timeout(sender, connection, **kwargs) -> None:
    timeout = settings.API_STATEMENT_TIMEOUT_MS
    if timeout and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', %s, false)", [f"{timeout}ms"])


def limit_api_queries() -> None:
    """From now on every new Postgres session of this process gets `API_STATEMENT_TIMEOUT_MS`
    (once per session: sessions live `CONN_MAX_AGE`)."""
    connection_created.connect(_set_statement_timeout, dispatch_uid=_UID)


def unlimit_api_queries() -> None:
    """Undo `limit_api_queries` (tests)."""
    connection_created.disconnect(dispatch_uid=_UID)
