"""The long-running consumer: serve its metrics, connect, restore the boards if Redis lost them,
loop, stop cleanly."""

import contextlib
import gc
import logging
import signal
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from notify.sender import SenderLoop
from scoring import metrics
from scoring.ingest.consumer import Consumer
from scoring.jetstream import JetStreamSource
from scoring.maintenance.restore import boards_restore
from scoring.rules import RowChange
from scoring.rules.versions import ActiveRules

logger = logging.getLogger("leaderboard.consumer")

# The exit code of a consumer whose scoring settings differ from the active rules version
# (sysexits' EX_CONFIG): a supervisor should not restart it until the settings or the active
# version change (docs/OPERATIONS.md).
RULES_MISMATCH_EXIT = 78


def rules_refuse(found: tuple[ActiveRules, list[RowChange]] | None) -> None:
    """Refuse to consume when the settings' scoring table is not the active rules version's:
    two consumers must never score by different tables (SPEC section 10)."""
    if found is None:
        return  # told to stop first
    active, changes = found
    if not changes:
        logger.info("scoring by rules version %d (the settings' table)", active.number)
        return
    rows = "; ".join(
        f"SCORING_{c.row.upper()} (yaml scoring.{c.row}) is {c.wanted} in the settings, {c.active} in version"
        f" {active.number}"
        for c in changes
    )
    raise CommandError(
        f"the scoring settings differ from the active rules version {active.number}: {rows}. Run"
        " `python manage.py rescore_leaderboards` to rescore the log under the settings and make them the active"
        " version (or set the settings back to the active version's table, GET /v1/rules).",
        returncode=RULES_MISMATCH_EXIT,
    )


# CPython's collector runs its youngest generation every 700 new container objects and, every
# hundred of those runs, a full collection that walks every object the process holds (Django's
# included) with the GIL held: ~1,000 collections in a drain of 100,000 events, eight of them
# full, 15 % of the consumer's CPU (docs/BENCHMARKS.md, "Ingest"). A batch of 8,000 makes and
# drops a few hundred thousand objects, nearly all freed by their reference counts.
GC_THRESHOLD = (50_000, 10, 10)


@contextlib.contextmanager
def collector_tuned():
    """Collect less often, and never walk again what start-up made: it lives as long as the
    process (`gc.freeze` moves it to a generation no collection visits; the few cycles start-up
    left unreachable stay with it, as a collection first would cost ~80 ms of the start). The
    collector's settings are put back when the consumer returns."""
    previous = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLD)
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*previous)


def restore_if_missing() -> object:
    """Restore the boards unless another consumer already did."""
    return boards_restore(only_if_missing=True)


def eviction_refuse(policy: str | None, stop: threading.Event) -> None:
    """Refuse to run on a Redis that may evict keys: an evicted board, marker or sentinel
    would silently make the boards wrong. A Redis whose CONFIG is disabled or renamed (some
    managed services) cannot say: the consumer runs, with a warning (docs/FAILURES.md)."""
    if stop.is_set():
        return
    if policy is None:
        logger.warning(
            "cannot read Redis's maxmemory-policy (CONFIG is disabled or renamed): make sure it is"
            " noeviction, or an evicted board will make the boards wrong"
        )
    elif policy != "noeviction":
        raise CommandError(
            f"Redis's maxmemory-policy is {policy}: it may evict boards, markers or the ready sentinel"
            " and make the boards wrong. Set maxmemory-policy noeviction (redis.conf, or CONFIG SET)."
        )


class Command(BaseCommand):
    help = "Consume contribution events from NATS JetStream into the event log and the boards."
    requires_system_checks = []  # a long-running worker: the checks slow every start (docs/BENCHMARKS.md)

    def handle(self, *args, **options):
        stop = threading.Event()

        def request_stop(signum, frame):
            # Set the flag from another thread: the main thread may be inside the Event's own
            # lock (or the logging lock) when the signal lands, and the handler runs on it.
            def stop_now() -> None:
                stop.set()
                logger.warning("%s: stopping after the batch in hand", signal.Signals(signum).name)

            threading.Thread(target=stop_now, daemon=True).start()

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, request_stop)
        self.serve_metrics(settings.CONSUMER_METRICS_PORT)
        source = JetStreamSource()
        started = time.monotonic()
        try:
            consumer = Consumer(source, restore_if_missing, stop)
            eviction_refuse(consumer.eviction_check(), stop)
            rules_refuse(consumer.rules_check())
            if not source.connect(stop):
                return  # told to stop before NATS could be reached
            consumer.restore_at_start()  # the restore logs what it did
            SenderLoop(stop).start()  # the results' notifications, beside the batch loops
            with collector_tuned():
                stats = consumer.run()
        finally:
            source.close()
        elapsed = time.monotonic() - started
        # A log line, not stdout: with LOG_FORMAT=json every line the consumer writes is JSON.
        logger.info(
            "consumed %d messages in %d batches over %.1fs: %d logged, %d duplicates, %d dead letters, %d applied",
            stats.received,
            stats.batches,
            elapsed,
            stats.logged,
            stats.duplicates,
            stats.dead_letters,
            stats.applied,
            extra={"received": stats.received, "batches": stats.batches, "seconds": round(elapsed, 1)},
        )

    @staticmethod
    def serve_metrics(port: int) -> None:
        """/metrics on `port` (0: none). A port already taken is a warning, not a stop: consuming
        matters more than being measured, and several consumers may share a machine."""
        try:
            metrics.serve(port)
        except OSError as exc:
            logger.warning("metrics port %d: %s; this consumer serves no metrics", port, exc)
