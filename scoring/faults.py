"""Fault points: named instructions where a test kills this process, or runs code of its own.

`point(<name>)` marks a place where a fault can be injected, in one of two ways:

- **a kill**, for the crash tests run as processes: `CONSUMER_CRASH_AT=<point>[:<n>]` makes the
  n-th pass (default 1st) through `point(<point>)` SIGKILL the process, the way an OOM kill or
  a power cut would: no cleanup, no ack;
- **a hook**, for the tests run in process: `with faults.hooked(<point>, fn):` calls `fn()` at
  each pass through the point while the block runs (to commit a transaction just then, empty
  Redis, take a lock ...); what `fn` raises propagates from the point.

With neither (production) a pass costs one comparison and one dictionary lookup. The points, in
the order a batch meets them:

- `after_fetch`        messages fetched, nothing written
- `after_record`       log committed, boards untouched
- `after_redis_apply`  points on the boards and marked in Redis, log not yet `applied`
- `after_apply_commit` log says `applied`, Redis markers not yet cleared
- `before_ack`         everything written, nothing acked
- `mid_ack`            half of the batch acked

In an exclusion's two steps (scoring/exclusions.py), wherever one runs:

- `after_exclusion_mark` the new state committed, the boards not synced
- `after_exclusion_lua`  the boards synced in Redis, the sync not committed

In `rescore_leaderboards` (scoring/maintenance/rescore.py), in the order a rescore meets them
(docs/EXACTLY_ONCE.md, "The rescore, step by step"):

- `rescore_after_chunk`   a chunk of the log moved to the target version and committed
- `rescore_after_build`   the boards of the rows at the target built aside
- `rescore_before_switch` the catch-up done, the boards gate not asked for yet
- `rescore_before_commit` the switch done in its transaction, the sentinel aside, not committed
- `rescore_before_swap`   the switch committed, the boards not swapped in

In the results' finalizer (scoring/results/finalize.py) and the notifications' sender
(notify/sender.py; docs/EXACTLY_ONCE.md, "Period results"):

- `results_after_record`  results, placings and outbox rows written, not committed
- `results_after_commit`  all of it committed, the finalize lock not yet released
- `delivery_after_claim`  a delivery claimed (its lease committed), not sent
- `delivery_after_send`   a delivery sent and answered, the attempt not recorded

In the achievements' sweep (scoring/achievements/sweep.py):

- `achievements_after_award`  awards, days and the watermark written, not committed
- `achievements_after_commit` all of it committed, the sweep's lock not yet released

In a restore or rebuild (scoring/maintenance/restore.py) and a snapshot (snapshots/services.py):

- `restore_before_swap`   the boards built aside and caught up, applies paused, not swapped in
- `snapshot_after_start`  the snapshot's view of the log fixed, nothing aggregated yet
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator

from django.conf import settings

CRASH_POINTS = ("after_fetch", "after_record", "after_redis_apply", "after_apply_commit", "before_ack", "mid_ack")
EXCLUSION_CRASH_POINTS = ("after_exclusion_mark", "after_exclusion_lua")
RESCORE_CRASH_POINTS = ("rescore_after_chunk", "rescore_after_build", "rescore_before_commit", "rescore_before_swap")
RESULTS_CRASH_POINTS = ("results_after_record", "results_after_commit")
DELIVERY_CRASH_POINTS = ("delivery_after_claim", "delivery_after_send")
ACHIEVEMENTS_CRASH_POINTS = ("achievements_after_award", "achievements_after_commit")
_passes: dict[str, int] = {}
_hooks: dict[str, list[Callable[[], None]]] = {}


def point(name: str) -> None:
    """Pass the fault point `name`: SIGKILL this process if `CONSUMER_CRASH_AT` names it and its
    pass has come; else call the hooks a test registered for it (`hooked`)."""
    wanted = settings.CONSUMER_CRASH_AT
    if wanted:
        at, _, nth = wanted.partition(":")
        if at == name:
            _passes[name] = _passes.get(name, 0) + 1
            if _passes[name] >= int(nth or 1):
                os.kill(os.getpid(), signal.SIGKILL)
    for hook in tuple(_hooks.get(name, ())):  # a copy: a hook may end its block meanwhile
        hook()


@contextlib.contextmanager
def hooked(name: str, hook: Callable[[], None] | None) -> Iterator[None]:
    """Call `hook` at each pass through the point `name`, from any thread, until the block ends
    (`None`: no hook, so a test can pass one or not)."""
    if hook is None:
        yield
        return
    _hooks.setdefault(name, []).append(hook)
    try:
        yield
    finally:
        _hooks[name].remove(hook)
        if not _hooks[name]:
            del _hooks[name]
