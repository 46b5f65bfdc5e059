"""The one error policy: is a failure transient (try the same thing again later) or
deterministic (it will fail the same way every time)?

Every loop of the consumer (batches, the restore at start, the idle check, the sweep) asks
`is_transient` and nothing else. Transient failures are a server away for a while: they are
waited out, never fatal. Everything else fails again on the same input, so retrying it would
stop the consumer for ever: a batch that fails so is split until the message at fault is
found, and that message becomes a dead letter (SPEC section 1, docs/FAILURES.md).

Unknown errors count as deterministic: a message they keep failing on is kept as a dead
letter with its bytes and the error, so nothing is lost and nothing stops.
"""

from __future__ import annotations

import asyncio
import socket

import nats.errors
import psycopg
import redis
from django.db import DatabaseError, InterfaceError, OperationalError

# Redis replies whose first word says "not now": out of memory under maxmemory (OOM), a failed
# background save refusing writes (MISCONF), a replica (READONLY), a script running (BUSY),
# a dataset being loaded (LOADING), a cluster resharding or down. redis-py maps some to classes
# (OutOfMemoryError, ReadOnlyError, BusyLoadingError) without the prefix, the others stay plain
# ResponseErrors with it; inside a Lua script the server reports the inner error in the text.
_REDIS_TRANSIENT_CODES = ("OOM", "MISCONF", "READONLY", "BUSY", "LOADING", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN")
_REDIS_TRANSIENT_CLASSES = (
    redis.ConnectionError,  # includes BusyLoadingError and AuthenticationError (a password being fixed)
    redis.TimeoutError,
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
)

# Postgres SQLSTATE classes and codes that pass: connection exceptions (08), serialization
# failure and deadlock (40001, 40P01), insufficient resources (53: disk full, out of memory,
# too many connections), operator intervention (57: admin or crash shutdown, cannot connect
# now, query cancelled by a statement timeout), system errors (58: I/O), lock not available.
_PG_TRANSIENT_CLASSES = ("08", "53", "57", "58")
_PG_TRANSIENT_CODES = ("40001", "40P01", "55P03", "55006")

_NATS_TRANSIENT = (
    nats.errors.TimeoutError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.ConnectionDrainingError,
    nats.errors.NoServersError,
    nats.errors.StaleConnectionError,
    nats.errors.UnexpectedEOF,
    nats.errors.OutboundBufferLimitError,
    nats.errors.FlushTimeoutError,
    nats.errors.NoRespondersError,
)


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a Postgres error (Django wraps psycopg's as its cause), or None."""
    for candidate in (exc, exc.__cause__):
        state = getattr(candidate, "sqlstate", None)
        if state:
            return state
    return None


def _redis_transient(exc: redis.RedisError) -> bool:
    if isinstance(exc, _REDIS_TRANSIENT_CLASSES):
        return True
    if isinstance(exc, redis.ResponseError):
        text = str(exc)
        if text.startswith(_REDIS_TRANSIENT_CODES):
            return True
        # An error inside a script: "... @user_script:12: OOM command not allowed ..." or
        # "-OOM ..." after the script's name.
        return any(f" {code} " in text or f"-{code} " in text for code in _REDIS_TRANSIENT_CODES)
    return False


def _postgres_transient(exc: BaseException) -> bool:
    state = sqlstate(exc)
    if state is None:
        # No server reply at all: the connection failed or was lost.
        return isinstance(exc, InterfaceError | OperationalError | psycopg.OperationalError | psycopg.InterfaceError)
    return state[:2] in _PG_TRANSIENT_CLASSES or state in _PG_TRANSIENT_CODES


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` says "a server is away or busy; the same work may succeed later"."""
    if isinstance(exc, redis.RedisError):
        return _redis_transient(exc)
    if isinstance(exc, DatabaseError | psycopg.Error):
        return _postgres_transient(exc)
    if isinstance(exc, _NATS_TRANSIENT):
        return True
    return isinstance(exc, TimeoutError | asyncio.TimeoutError | ConnectionError | socket.gaierror)


def describe(exc: BaseException, limit: int = 2000) -> str:
    """An error as a dead letter's reason: its class and text, cut to `limit`, without NULs
    (Postgres text cannot hold them)."""
    text = f"{type(exc).__name__}: {exc}".replace("\x00", "")
    return text if len(text) <= limit else text[: limit - 1] + "…"
