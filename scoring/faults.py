"""Crash points for the fault tests: kill this process, on purpose, at a named instruction.

`CONSUMER_CRASH_AT=<point>[:<n>]` makes the n-th pass (default 1st) through `crash_point(<point>)`
SIGKILL the process, the way an OOM kill or a power cut would: no cleanup, no ack. Unset (the
default) it costs one comparison per batch. The points, in the order a batch meets them:

- `after_fetch`        messages fetched, nothing written
- `after_record`       log committed, boards untouched
- `after_redis_apply`  points on the boards and marked in Redis, log not yet `applied`
- `after_apply_commit` log says `applied`, Redis markers not yet cleared
- `before_ack`         everything written, nothing acked
- `mid_ack`            half of the batch acked

And in an exclusion's two steps (scoring/exclusions.py), wherever one runs:

- `after_exclusion_mark` the new state committed, the boards not synced
- `after_exclusion_lua`  the boards synced in Redis, the sync not committed

`rescore_leaderboards` has its own, in the order a rescore meets them (docs/EXACTLY_ONCE.md,
"The rescore, step by step"):

- `rescore_after_chunk`   a chunk of the log moved to the target version and committed
- `rescore_after_build`   the boards of the rows at the target built aside
- `rescore_before_commit` the switch done in its transaction, the sentinel aside, not committed
- `rescore_before_swap`   the switch committed, the boards not swapped in
"""

from __future__ import annotations

import os
import signal

from django.conf import settings

CRASH_POINTS = ("after_fetch", "after_record", "after_redis_apply", "after_apply_commit", "before_ack", "mid_ack")
EXCLUSION_CRASH_POINTS = ("after_exclusion_mark", "after_exclusion_lua")
RESCORE_CRASH_POINTS = ("rescore_after_chunk", "rescore_after_build", "rescore_before_commit", "rescore_before_swap")
_passes: dict[str, int] = {}


def crash_point(name: str) -> None:
    """SIGKILL this process if the configured crash point is `name` and its pass has come."""
    wanted = settings.CONSUMER_CRASH_AT
    if not wanted:
        return
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    _passes[name] = _passes.get(name, 0) + 1
    if _passes[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
