"""The results' writes as the consumer and the `results` command call them."""

from __future__ import annotations

import logging

from django.db import DatabaseError, connection

from scoring import clock, metrics
from scoring.errors import describe
from scoring.results.finalize import FinalizeSummary, results_finalize

logger = logging.getLogger("leaderboard.results")

__all__ = ["FinalizeSummary", "results_finalize", "results_sweep"]


def results_sweep() -> FinalizeSummary | None:
    """The consumer's sweep's turn: finalize what is final now. A failure is logged, not
    raised: the next sweep tries again, and ingest never waits for it."""
    try:
        done = results_finalize(now=clock.now())
    except Exception as exc:  # never the sweep's failure: its applies must go on
        logger.warning("finalizing results failed: %s", describe(exc, 300))
        if isinstance(exc, DatabaseError):
            connection.close()  # a broken connection is opened afresh by the next use
        return None
    metrics.RESULTS_RECORDED.inc(done.results)
    return done
