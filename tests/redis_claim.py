"""This test run's own Redis database, claimed among 1..15 on the configured Redis server.

A claim is a key `CLAIM_KEY` set NX in the database, holding `<run id>:<pid>`; a claim whose
process is gone on this machine (a run that was killed) may be taken over. `tests/settings.py`
calls `redis_url_claimed` while the Django settings load, so the claim is made before anything
connects to Redis; `tests/conftest.py` renews and releases it.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import redis

RUN_ID = uuid.uuid4().hex[:8]
CLAIM_KEY = "leaderboard-test:claim"
CLAIM_SECONDS = 30 * 60  # a run lasts minutes; renewed by every test that empties the db
CLAIM = f"{RUN_ID}:{os.getpid()}"


def _claim_is_stale(value: bytes | None) -> bool:
    """A claim whose process is gone on this machine (a run that was killed) may be taken."""
    _, _, pid = (value or b"").decode(errors="replace").rpartition(":")
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def with_db(url: str, db: int) -> str:
    """`url` naming database `db` instead: the path of redis:// and rediss://, the query of unix://."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = [pair for pair in parts.query.split("&") if pair and not pair.startswith("db=")]
        return urlunsplit(parts._replace(query="&".join([*query, f"db={db}"])))
    return urlunsplit(parts._replace(path=f"/{db}"))


def redis_url_claimed(configured_url: str) -> str:
    """The configured Redis URL, naming a database this run has claimed for itself."""
    for db in range(1, 16):
        client = redis.Redis.from_url(with_db(configured_url, db))  # a db in the URL wins over db=
        try:
            if client.set(CLAIM_KEY, CLAIM, nx=True, ex=CLAIM_SECONDS):
                return with_db(configured_url, db)
            held = client.get(CLAIM_KEY)
            if _claim_is_stale(held) and client.set(CLAIM_KEY, CLAIM, xx=True, ex=CLAIM_SECONDS, get=True) == held:
                return with_db(configured_url, db)
        finally:
            client.close()
    raise RuntimeError("no free Redis database among 1..15 for this test run")
