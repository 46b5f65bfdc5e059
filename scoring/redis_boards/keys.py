"""Every Redis key and channel name of the service, in one place. Pure: no I/O.

A board's own key is spelled by the pure `scoring.boards.board_key` (`Board.key`), next to the
timeframes and periods that name it; everything else the service keeps in Redis is named here.
"""

from __future__ import annotations

from scoring.boards import BOARD_KEY_PATTERNS, KEY_PREFIX, Board

__all__ = [
    "ARCHIVE_BUILD_PREFIX",
    "ARCHIVE_INDEX",
    "ARCHIVE_PREFIX",
    "ARCHIVE_READY_PREFIX",
    "BOARD_KEY_PATTERNS",
    "BUILD_PATTERN",
    "BUILD_PREFIX",
    "CHANGED_CHANNEL",
    "EXCLUSIONS_EPOCH_KEY",
    "HEARTBEAT_PREFIX",
    "KEY_PREFIX",
    "LIMITS_PREFIX",
    "PAUSED_KEY",
    "PENDING_KEY",
    "READY_KEY",
    "archive_build_key",
    "archive_keys",
    "archive_keys_of",
    "bucket_key",
    "build_key",
    "changed_channel",
    "heartbeat_key",
    "slots_keys",
]

# The sentinel: present exactly when the boards are whole; it holds the token of the swap
# that put them in.
READY_KEY = f"{KEY_PREFIX}:meta:ready"
PAUSED_KEY = f"{KEY_PREFIX}:meta:paused"  # the sentinel, kept aside during a restore's catch-up
PENDING_KEY = f"{KEY_PREFIX}:meta:pending"  # hash: event id -> points of events in flight
BUILD_PREFIX = f"{KEY_PREFIX}:meta:build"  # + ":<token>:<board key>": a board built aside
BUILD_PATTERN = f"{BUILD_PREFIX}:*"
HEARTBEAT_PREFIX = f"{KEY_PREFIX}:meta:consumer"  # + ":<durable>": the consumers' heartbeat
EXCLUSIONS_EPOCH_KEY = f"{KEY_PREFIX}:meta:exclusions-epoch"  # how many exclusion syncs ran

ARCHIVE_PREFIX = f"{KEY_PREFIX}:archive"  # + ":<board key>": an expired board's sorted set
ARCHIVE_READY_PREFIX = f"{KEY_PREFIX}:archive-ready"  # + ":<board key>": its marker
ARCHIVE_BUILD_PREFIX = f"{ARCHIVE_PREFIX}-build"  # + ":<token>": one being written
ARCHIVE_INDEX = f"{KEY_PREFIX}:archive-index"  # every archive's board key, scored by its expiry

CHANGED_CHANNEL = f"{KEY_PREFIX}:boards:changed"  # + ":<db>": channels span a server's databases


def build_key(token: str, board_key: str) -> str:
    """The temporary key a build with `token` writes the board at `board_key` under."""
    return f"{BUILD_PREFIX}:{token}:{board_key}"


def heartbeat_key(durable: str) -> str:
    """The key of the heartbeat of the consumers of `durable`."""
    return f"{HEARTBEAT_PREFIX}:{durable}"


def archive_keys(board: Board) -> tuple[str, str]:
    """(the archive's sorted set, its marker) for `board`."""
    return archive_keys_of(board.key)


def archive_keys_of(board_key: str) -> tuple[str, str]:
    """(the archive's sorted set, its marker) for the board at `board_key` (as the index names it)."""
    return f"{ARCHIVE_PREFIX}:{board_key}", f"{ARCHIVE_READY_PREFIX}:{board_key}"


def archive_build_key(token: str) -> str:
    """The temporary key an archive is written under before it is renamed in."""
    return f"{ARCHIVE_BUILD_PREFIX}:{token}"


def changed_channel(db: int) -> str:
    """The changed-boards channel of Redis database `db`: channels are server-wide, so two
    deployments or test runs on one server do not wake each other."""
    return f"{CHANGED_CHANNEL}:{db}"


LIMITS_PREFIX = f"{KEY_PREFIX}:limits"  # the abuse limits' counters (guard/, docs/SECURITY.md)


def bucket_key(kind: str, client: str) -> str:
    """The token bucket of one client address for one kind of limit (`requests`, `webhook`)."""
    return f"{LIMITS_PREFIX}:bucket:{kind}:{client}"


def slots_keys(kind: str, client: str) -> tuple[str, str]:
    """The leases of open connections of one kind (`streams`): the client's, and everyone's."""
    return f"{LIMITS_PREFIX}:slots:{kind}:{client}", f"{LIMITS_PREFIX}:slots:{kind}"
