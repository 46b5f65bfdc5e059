"""The ready sentinel: present exactly when the boards are whole.

A restore or rebuild removes it first (`ready_clear`), or keeps it aside while it catches up
(`ready_pause`, `ready_resume`), and its swap sets it again. The apply script refuses to touch
boards without it, and a read of a live board raises `BoardsNotReady` without it. Also what
the restore asks of the server itself: its run id and its eviction policy.
"""

from __future__ import annotations

import redis

from scoring.redis_boards.client import connection, text
from scoring.redis_boards.keys import PAUSED_KEY, READY_KEY

NOT_READY = -1  # what a script answers when the sentinel (or a read's guard key) is missing


class BoardsNotReady(Exception):
    """The boards are being restored or rebuilt (or Redis was emptied): nothing was applied."""


def is_ready() -> bool:
    """Whether the sentinel is there (the boards are whole)."""
    return bool(connection().exists(READY_KEY))


def ready_token() -> str | None:
    """The token the sentinel holds (set by the swap that put the boards in), or None."""
    return text(connection().get(READY_KEY))


# Pause and resume: RENAME only (Redis never refuses it for memory), so that a restore failing
# under maxmemory can give the live boards their sentinel back.
_PAUSE_LUA = """
local token = redis.call('GET', KEYS[1])
if token then redis.call('RENAME', KEYS[1], KEYS[2]) end
return token
"""
_RESUME_LUA = """
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('RENAME', KEYS[2], KEYS[1]); return 1 end
return 0
"""


def ready_pause() -> str | None:
    """Take the sentinel away (no apply from here) but keep it aside, so that `ready_resume` can
    put the same one back if the boards it stands for stay. Returns its token, or None."""
    return text(connection().eval(_PAUSE_LUA, 2, READY_KEY, PAUSED_KEY))


def ready_resume() -> bool:
    """Put back the sentinel `ready_pause` kept aside — only if it is still there: Redis emptied
    meanwhile took it with the boards, and then the boards must be restored, not resumed."""
    return bool(connection().eval(_RESUME_LUA, 2, READY_KEY, PAUSED_KEY))


def ready_clear() -> None:
    """Stop all applying until `BoardBuild.swap` sets the sentinel again."""
    connection().delete(READY_KEY)


def server_run_id() -> str | None:
    """The Redis server's run id, new at every start; None when INFO is disabled or renamed."""
    try:
        return connection().info("server").get("run_id")
    except redis.ResponseError:
        return None


def eviction_policy() -> str | None:
    """Redis's maxmemory-policy; None when CONFIG is disabled or renamed (managed services)."""
    try:
        found = connection().config_get("maxmemory-policy")
    except redis.ResponseError:
        return None
    return text(found.get("maxmemory-policy") or found.get(b"maxmemory-policy"))
