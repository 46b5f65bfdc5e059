"""The consumer's Prometheus metrics (SPEC section 12), served on `CONSUMER_METRICS_PORT`.

They live in a registry of their own, so the web server — which imports the scoring modules
too — never exposes a consumer's figures, and each consumer process serves only its own: run
several and Prometheus scrapes each (sum the counters; take the max of the JetStream gauges,
which every consumer on the durable reads alike). Counters are added to once per batch, not
per event: a batch of 1000 events costs a handful of increments.
"""

from __future__ import annotations

import logging

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)

logger = logging.getLogger("leaderboard.consumer")

REGISTRY = CollectorRegistry(auto_describe=True)
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):  # CPU, memory, open files, GC
    REGISTRY.register(_collector)

# Seconds: a batch takes milliseconds; a restore, seconds to minutes; a lag, up to hours behind.
_BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
_RESTORE_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)

EVENTS_RECEIVED = Counter(
    "leaderboard_consumer_events_received_total",
    "Messages taken from JetStream and written (valid or not; a redelivery counts again).",
    registry=REGISTRY,
)
EVENTS_LOGGED = Counter(
    "leaderboard_consumer_events_logged_total",
    "Events new to the event log.",
    registry=REGISTRY,
)
EVENTS_DUPLICATE = Counter(
    "leaderboard_consumer_events_duplicate_total",
    "Valid events whose id the log already held (a publisher's duplicate or a redelivery).",
    registry=REGISTRY,
)
EVENTS_DEAD_LETTERED = Counter(
    "leaderboard_consumer_events_dead_lettered_total",
    "Invalid messages newly kept as dead letters (a redelivered one is kept, and counted, once).",
    registry=REGISTRY,
)
EVENTS_APPLIED = Counter(
    "leaderboard_consumer_events_applied_total",
    "Events whose points were added to the Redis boards, by a batch or the sweep (0 points: no board changes).",
    registry=REGISTRY,
)
BATCH_FAILURES = Counter(
    "leaderboard_consumer_batch_failures_total",
    "Attempts to write a batch that failed and will be retried, by error (Postgres or Redis away).",
    ["error"],
    registry=REGISTRY,
)
BATCH_DURATION = Histogram(
    "leaderboard_consumer_batch_duration_seconds",
    "Time to write one batch to the log and the boards (the successful attempt).",
    buckets=_BATCH_BUCKETS,
    registry=REGISTRY,
)
BATCH_LAG = Histogram(
    "leaderboard_consumer_batch_lag_seconds",
    "For each batch, seconds from its oldest message's arrival in JetStream to the batch's apply.",
    buckets=_LAG_BUCKETS,
    registry=REGISTRY,
)
LAG = Gauge(
    "leaderboard_consumer_lag_seconds",
    "The last batch's lag (its oldest message's arrival in JetStream to its apply); 0 once a fetch finds nothing.",
    registry=REGISTRY,
)
LAST_BATCH = Gauge(
    "leaderboard_consumer_last_batch_timestamp_seconds",
    "Unix time at which the last batch was applied.",
    registry=REGISTRY,
)
JETSTREAM_PENDING = Gauge(
    "leaderboard_consumer_jetstream_pending_messages",
    "Messages in the stream not yet delivered to the durable consumer (its num_pending).",
    registry=REGISTRY,
)
JETSTREAM_ACK_PENDING = Gauge(
    "leaderboard_consumer_jetstream_ack_pending_messages",
    "Messages delivered to the durable consumer and not yet acked (its num_ack_pending).",
    registry=REGISTRY,
)
LOG_UNAPPLIED = Gauge(
    "leaderboard_consumer_log_unapplied_events",
    "Event log rows not yet applied to the boards (read at each sweep).",
    registry=REGISTRY,
)
BOARDS_READY = Gauge(
    "leaderboard_consumer_boards_ready",
    "1 while the Redis boards are ready to apply to, 0 while they are missing or being restored.",
    registry=REGISTRY,
)
RESTORE_DURATION = Histogram(
    "leaderboard_consumer_restore_duration_seconds",
    "Restores of the Redis boards by this consumer, by source: a snapshot plus the log, or the log alone (a rebuild).",
    ["source"],
    buckets=_RESTORE_BUCKETS,
    registry=REGISTRY,
)
RESULTS_RECORDED = Counter(
    "leaderboard_consumer_results_recorded",
    "Period results recorded by this consumer's sweep (one per final board).",
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "leaderboard_consumer_result_deliveries",
    "Attempts to deliver a result to a notification target, by outcome: delivered, retry, rejected, expired.",
    ["outcome"],
    registry=REGISTRY,
)
UNDELIVERED_AGE = Gauge(
    "leaderboard_consumer_oldest_undelivered_result_seconds",
    "Age of the oldest result delivery still pending (0: none), read at each pass of the sender.",
    registry=REGISTRY,
)


def batch_count(*, received: int, logged: int, duplicates: int, dead_letters: int, applied: int) -> None:
    """Add one written batch's figures to the counters."""
    EVENTS_RECEIVED.inc(received)
    EVENTS_LOGGED.inc(logged)
    EVENTS_DUPLICATE.inc(duplicates)
    EVENTS_DEAD_LETTERED.inc(dead_letters)
    EVENTS_APPLIED.inc(applied)


def batch_timed(*, seconds: float, lag_seconds: float | None, applied_at: float) -> None:
    """One batch written in `seconds`, its oldest message `lag_seconds` behind (None: unknown)."""
    BATCH_DURATION.observe(seconds)
    LAST_BATCH.set(applied_at)
    BOARDS_READY.set(1)  # an apply succeeds only on ready boards
    if lag_seconds is not None:
        lag_seconds = max(lag_seconds, 0.0)  # clocks of two machines may disagree a little
        BATCH_LAG.observe(lag_seconds)
        LAG.set(lag_seconds)


def caught_up() -> None:
    """A fetch found nothing waiting: no event is behind."""
    LAG.set(0)


def restore_timed(*, source: str, seconds: float) -> None:
    """A restore this consumer ran: `source` is "snapshot" (a snapshot plus the log) or "log"."""
    RESTORE_DURATION.labels(source or "unknown").observe(seconds)


def failure_count(error: BaseException) -> None:
    """An attempt at a batch failed with `error` (it is retried): counted by the error's class."""
    BATCH_FAILURES.labels(type(error).__name__).inc()


def jetstream_follow(source) -> None:
    """The JetStream gauges show the source's last read of the durable (`pending` and
    `ack_pending`, None until the first read: NaN), read at each scrape."""
    JETSTREAM_PENDING.set_function(lambda: _known(source.pending))
    JETSTREAM_ACK_PENDING.set_function(lambda: _known(source.ack_pending))


def _known(value: int | None) -> float:
    return float("nan") if value is None else float(value)


def serve(port: int, addr: str = "0.0.0.0") -> object | None:
    """Serve /metrics on `port` from a thread of its own (0: not at all); returns the server."""
    if not port:
        return None
    server, _thread = start_http_server(port, addr=addr, registry=REGISTRY)
    logger.info("metrics on http://%s:%d/metrics", addr, port, extra={"metrics_port": port})
    return server
