"""Snapshot, restore, rebuild and verify the boards — all exact, all from the event log.

One module per subject: `aggregate` (the log as boards, in SQL, shared by the others),
`snapshot`, `restore` (restore and rebuild) and `verify`. The names the commands and tests use
are re-exported here.
"""

from snapshots.services.restore import RESTORE_LOCK, RestoreResult, boards_restore
from snapshots.services.snapshot import SNAPSHOT_LOCK, SnapshotResult, snapshot_prune, snapshot_take
from snapshots.services.verify import Difference, VerifyResult, boards_verify

__all__ = [
    "RESTORE_LOCK",
    "SNAPSHOT_LOCK",
    "Difference",
    "RestoreResult",
    "SnapshotResult",
    "VerifyResult",
    "boards_restore",
    "boards_verify",
    "snapshot_prune",
    "snapshot_take",
]
