"""The batch loops: fetch a batch, decode it, hand plain values to the write services, ack.

The edge is three modules: scoring/ingest/wire.py decodes (protobuf stops there),
scoring/jetstream/ talks to NATS, and this module runs the loops between them.

Threads of one consumer process, and what each owns:

- the batch loops (`INGEST_WORKERS` of them: the main thread, which also sweeps and watches for
  an emptied Redis, and `ingest-N` helpers): each owns its own Postgres connection and the batch
  in its hands, from fetch to ack; they take row locks in event-id order, like separate
  consumers on the durable;
- `nats` (scoring/jetstream/source.py): the asyncio loop of the NATS client; it owns the connection,
  the pull requests and the messages not yet handed out, and sends the acks;
- `boards-apply` (scoring/ingest/apply.py): runs a batch's Lua apply on Redis while the batch loop
  that asked has Postgres mark the rows applied, inside that loop's transaction;
- `board-writer` (scoring/maintenance/build.py): during a restore, feeds the boards built
  aside to Redis while the restoring loop streams the aggregate from Postgres;
- `awards` (this module): a turn of streak days and achievements every
  ACHIEVEMENTS_SWEEP_INTERVAL seconds, on its own Postgres connection, so that no batch waits
  for one.

Every retry through an outage of Postgres or Redis goes through `Consumer._until_done`.

What the loops do is counted in scoring/metrics.py (once per batch, not per event) and told in
the log: each line about a batch names its stream sequence range. The main loop also writes
the consumers' heartbeat to Redis (at most once a second) for the health-check.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import timedelta
from typing import TypeVar

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection

from scoring import exclusions, faults, ingest, metrics, redis_boards, selectors
from scoring.achievements.services import achievements_sweep
from scoring.errors import describe, is_transient
from scoring.ingest.messages import batch_items, batch_name
from scoring.ingest.poison import batch_ingest_isolating
from scoring.jetstream import BatchSpan, JetStreamSource, batch_span
from scoring.redis_boards import BoardsNotReady, Heartbeat
from scoring.results.services import results_sweep
from scoring.rules.versions import ActiveRules, rules_check

logger = logging.getLogger("leaderboard.consumer")

T = TypeVar("T")


RETRY_FIRST, RETRY_MAX = 0.2, 5.0  # seconds: the first wait after a failure, doubling up to the last

# Batch loops per process: while one batch waits on Postgres or Redis, the other is decoded and
# written (docs/BENCHMARKS.md has the gain).
INGEST_WORKERS = 2
HEARTBEAT_EVERY = 1.0  # seconds between two heartbeats of the main loop
AWARD_SHARE = 20  # an achievements turn waits at least this many times its own length
# While a backlog drains (a full batch or more waits undelivered on the durable), a due turn
# yields to the batches, for up to AWARDS_YIELD_MAX seconds since the last turn: on two cores a
# turn's CPU comes out of the drain (docs/ACHIEVEMENTS.md, "Freshness").
AWARDS_YIELD_MAX = 30.0
AWARDS_STOP_WAIT = 30.0  # seconds a stopping consumer waits for an achievements turn to end


def awards_yield(pending: int | None, batch_size: int, since_last_turn: float) -> bool:
    """Whether a due achievements turn waits: a full batch or more waits undelivered (`pending`,
    the durable's count; None before it was first read) and the last turn (or the start) was
    less than AWARDS_YIELD_MAX seconds ago."""
    return pending is not None and pending >= batch_size and since_last_turn < AWARDS_YIELD_MAX


class Consumer:
    """The batch loops: fetch, ingest (retrying until it succeeds), ack; stop between batches."""

    def __init__(
        self,
        source: JetStreamSource,
        restore: Callable[[], object],
        stop: threading.Event,
        workers: int = INGEST_WORKERS,
    ) -> None:
        self.source = source
        self.restore = restore
        self.stop = stop
        self.workers = workers
        self.stats = ingest.BatchResult()
        self.batch_size = settings.CONSUMER_BATCH_SIZE
        self.fetch_timeout = settings.CONSUMER_FETCH_TIMEOUT
        self.sweep_every = settings.CONSUMER_SWEEP_INTERVAL
        self._next_sweep = time.monotonic() + self.sweep_every
        self.award_every = settings.ACHIEVEMENTS_SWEEP_INTERVAL
        self._stats_lock = threading.Lock()
        self._failure: BaseException | None = None
        self._last_batch_at: float | None = None  # unix time of the last batch applied, any loop
        self._next_heartbeat = 0.0
        metrics.jetstream_follow(source)

    def run(self) -> ingest.BatchResult:
        """Run the loops (this thread is one of them) until told to stop; re-raise what broke one."""
        helpers = [
            threading.Thread(target=self._helper, name=f"ingest-{n}", daemon=True) for n in range(1, self.workers)
        ]
        awards = threading.Thread(target=self._awards, name="awards", daemon=True)
        for thread in (*helpers, awards):
            thread.start()
        try:
            self._loop(sweeps=True)
        except BaseException:
            self.stop.set()  # the other loops finish their batch and stop too
            raise
        finally:
            for helper in helpers:
                helper.join()
            awards.join(AWARDS_STOP_WAIT)  # a turn is one transaction: cut short, it rolls back
        if self._failure is not None:
            raise self._failure
        return self.stats

    def _helper(self) -> None:
        try:
            self._loop(sweeps=False)
        except BaseException as exc:
            self._failure = exc
            self.stop.set()
        finally:
            connection.close()  # this thread's own Postgres connection

    def _loop(self, sweeps: bool) -> None:
        upcoming = self.source.fetch_start(self.batch_size, self.fetch_timeout)
        acks: Future | None = None
        while True:
            msgs = upcoming.result()
            if self.stop.is_set():
                if msgs:
                    self.source.nak(msgs).result(10)
                break
            upcoming = self.source.fetch_start(self.batch_size, self.fetch_timeout)
            if msgs:
                faults.point("after_fetch")
                if not self._ingest(msgs):
                    self.source.nak(msgs).result(10)
                    break
                faults.point("before_ack")
                if acks is not None:
                    acks.result(30)
                acks = self.source.ack(msgs)
            else:
                metrics.caught_up()  # nothing waited: no event is behind
                if sweeps:
                    self._restore_if_emptied()
                    self._until_done(lambda: exclusions.contributors_sync(wait=False), "exclusions sync")
            if sweeps:
                self._maybe_sweep()
                self._heartbeat()
        msgs = upcoming.result()
        if msgs:
            self.source.nak(msgs).result(10)
        if acks is not None:
            acks.result(30)

    def _ingest(self, msgs: list) -> bool:
        """Write one batch, retrying through outages. False if told to stop before it succeeded."""
        span = batch_span(msgs)
        done = self.ingest(msgs, span)
        if done is None:
            return False
        result, seconds = done
        self._count(result, seconds, span)
        return True

    def _count(self, result: ingest.BatchResult, seconds: float, span: BatchSpan) -> None:
        """A batch is written: add it to the totals and the metrics, and say so in the log."""
        now = time.time()
        lag = None if span.first_arrival is None else now - span.first_arrival
        with self._stats_lock:
            self.stats += result
            self._last_batch_at = now
        metrics.batch_count(
            received=result.received,
            logged=result.logged,
            duplicates=result.duplicates,
            dead_letters=result.dead_letters,
            applied=result.applied,
        )
        metrics.batch_timed(seconds=seconds, lag_seconds=lag, applied_at=now)
        fields = {
            "seq_first": span.first,
            "seq_last": span.last,
            "received": result.received,
            "logged": result.logged,
            "duplicates": result.duplicates,
            "dead_letters": result.dead_letters,
            "applied": result.applied,
            "already_applied": result.skipped,
            "ms": round(seconds * 1000, 1),
            "lag_seconds": None if lag is None else round(max(lag, 0.0), 3),
        }
        logger.info(
            "batch %s received=%d logged=%d duplicates=%d dead_letters=%d applied=%d already_applied=%d ms=%.1f",
            span,
            result.received,
            result.logged,
            result.duplicates,
            result.dead_letters,
            result.applied,
            result.skipped,
            seconds * 1000,
            extra=fields,
        )

    def ingest(self, msgs: list, span: BatchSpan | None = None) -> tuple[ingest.BatchResult, float] | None:
        """Decode and write one batch (poison isolated), retrying through outages until it is
        written: what it did and how long its successful attempt took; None if told to stop
        first. The caller acks."""
        items = batch_items(msgs)

        def attempt() -> tuple[ingest.BatchResult, float]:
            started = time.perf_counter()
            result = batch_ingest_isolating(items)
            return result, time.perf_counter() - started

        return self._until_done(attempt, batch_name(msgs, span))

    def _until_done(self, action: Callable[[], T], what: str) -> T | None:
        """Run `action` until it succeeds; None if told to stop first. The one retry loop.

        A transient error (scoring/errors.py: a server restarting, a dropped connection, Redis
        out of memory) resets the Postgres connection and waits, RETRY_FIRST seconds doubling
        up to RETRY_MAX. `BoardsNotReady` (Redis was emptied, or a restore holds the boards)
        restores them, then tries again. Anything else reaching here (a batch isolates its
        poison before) is logged with its traceback and retried at RETRY_MAX: nothing stops
        the process but a stop request."""
        delay = RETRY_FIRST
        while True:
            try:
                return action()
            except BoardsNotReady:
                logger.warning("boards are not ready: restoring before applying (%s)", what)
                if self._until_done(self._restore, "restore") is None:
                    return None
            except Exception as exc:
                metrics.failure_count(exc)
                if is_transient(exc):
                    logger.warning(
                        "%s failed, retrying in %.1fs: %s",
                        what,
                        delay,
                        describe(exc, 500),
                        extra={"error": type(exc).__name__},
                    )
                else:
                    delay = RETRY_MAX
                    logger.exception(
                        "%s failed (not a known outage), retrying in %.1fs",
                        what,
                        delay,
                        extra={"error": type(exc).__name__},
                    )
                self._reset_connections()
                if self.stop.wait(delay):
                    return None
                delay = min(delay * 2, RETRY_MAX)

    def restore_at_start(self):
        """Restore the boards if Redis holds none, retrying through outages like a batch does
        (Postgres or Redis may be restarting while the consumer starts), then bring the
        automatic exclusions in line with the settings. None if told to stop."""
        result = self._until_done(self._restore, "restore at start")
        self._until_done(exclusions.bots_reconcile, "exclusions at start")
        return result

    def _restore(self):
        """Restore the boards (unless another consumer just did), timed and counted."""
        metrics.BOARDS_READY.set(0)
        result = self.restore()
        if getattr(result, "restored", False):
            metrics.restore_timed(source="snapshot" if result.snapshot_id else "log", seconds=result.seconds)
        metrics.BOARDS_READY.set(1)
        return result

    def _restore_if_emptied(self) -> None:
        """On a quiet stream nothing would notice that Redis lost the boards (a FLUSHDB, a
        restart) or came back from an old dump, so an idle loop checks them once per fetch
        timeout (and the sweep once per sweep): `self.restore` compares the ready sentinel's
        token with the one Postgres keeps, and restores when they differ."""
        self._until_done(self._restore, "boards check")

    def rules_check(self) -> tuple[ActiveRules, list] | None:
        """The active rules version and how the settings' table differs from it (waiting for
        Postgres if it is away); None if told to stop first."""
        return self._until_done(rules_check, "rules check")

    def eviction_check(self) -> str | None:
        """Redis's maxmemory-policy (waiting for Redis if it is away); None if CONFIG is
        disabled or renamed, or if told to stop first."""
        found = self._until_done(lambda: (redis_boards.eviction_policy(),), "redis check")
        return None if found is None else found[0]

    def _maybe_sweep(self) -> None:
        if time.monotonic() < self._next_sweep:
            return
        self._next_sweep = time.monotonic() + self.sweep_every
        self._restore_if_emptied()  # a busy stream has no idle loop to check the boards
        older_than = timedelta(seconds=settings.CONSUMER_ACK_WAIT)
        try:
            exclusions.contributors_sync(wait=False)  # any left dirty by a crash or a restore
            applied, skipped = ingest.pending_sweep(older_than=older_than)
            metrics.EVENTS_APPLIED.inc(applied)
            metrics.LOG_UNAPPLIED.set(selectors.unapplied_count())
            results_sweep()  # period results final by now (scoring/results/)
        except BoardsNotReady:
            self._until_done(self._restore, "restore")
            return
        except Exception as exc:  # not retried here: the next sweep is due soon enough
            self._reset_connections()
            if is_transient(exc):
                logger.warning("sweep failed: %s", describe(exc, 500))
                return
            logger.warning("sweep failed for good (%s): sweeping event by event", describe(exc, 300))
            applied, skipped = self._sweep_one_by_one(older_than)
        if applied or skipped:
            logger.info("sweep applied=%d already_applied=%d", applied, skipped)

    def _awards(self) -> None:
        """The `awards` thread: streak days and achievements of the rows logged since the last
        turn (scoring/achievements/), every ACHIEVEMENTS_SWEEP_INTERVAL seconds: a profile is
        that fresh. On a thread of its own, so that no batch waits for a turn (on the main loop
        a turn held that loop's batch for its whole length: docs/BENCHMARKS.md, "Ingest").
        While a backlog drains, a due turn yields to it (`awards_yield`), and the turns are
        spaced out to AWARD_SHARE times their own length (a turn re-reads every contributor
        the rows name): they take a small share of the machine, whatever the rate. A failure
        is logged and waits for the next turn (`achievements_sweep`); a stop request ends the
        thread between turns."""
        wait = self.award_every
        last = time.monotonic()  # the last turn, or the start
        try:
            while not self.stop.wait(wait):
                wait = self.award_every
                if awards_yield(self.source.pending, self.batch_size, time.monotonic() - last):
                    continue
                started = time.monotonic()
                achievements_sweep()
                last = time.monotonic()
                wait = max(self.award_every, AWARD_SHARE * (last - started))
        finally:
            connection.close()  # this thread's own Postgres connection

    def _sweep_one_by_one(self, older_than: timedelta) -> tuple[int, int]:
        """The sweep, one event at a time: an event whose apply fails for good is moved from
        the log to the dead letters, the others are applied. Transient errors end it early."""
        applied = skipped = 0
        try:
            for event_id in ingest.pending_ids(older_than=older_than):
                try:
                    a, s = ingest.pending_sweep(older_than=older_than, event_ids=[event_id])
                except Exception as exc:
                    if is_transient(exc) or isinstance(exc, BoardsNotReady):
                        raise
                    reason = f"the boards cannot hold it: {describe(exc)}"
                    if ingest.event_quarantine(event_id=event_id, reason=reason):
                        logger.error("dead letter (event %r, taken out of the log): %s", event_id, reason)
                    continue
                applied, skipped = applied + a, skipped + s
        except Exception as exc:
            logger.warning("sweep failed: %s", describe(exc, 500))
            self._reset_connections()
        return applied, skipped

    def _heartbeat(self) -> None:
        """Tell the health-check this consumer is alive (best effort: it never stops the loop)."""
        now = time.time()
        if now < self._next_heartbeat:
            return
        self._next_heartbeat = now + HEARTBEAT_EVERY
        heartbeat = Heartbeat(seen_at=now, last_batch_at=self._last_batch_at, pending=self.source.pending)
        try:
            redis_boards.heartbeat_write(settings.NATS_DURABLE, heartbeat)
        except Exception as exc:  # best effort, whatever the error
            logger.debug("heartbeat failed: %s", describe(exc, 500))

    @staticmethod
    def _reset_connections() -> None:
        with contextlib.suppress(DatabaseError):
            connection.close()
        close_old_connections()
