"""The time, asked in one place.

Every decision that depends on "now" — which period is current, which boards are still kept,
when a board expires, which snapshot covers today's retention — reads `now()`, and the
micro-cache ages its pages with `monotonic()`. Production never changes either; the tests
replace them (tests/clock.py) so that a run across midnight UTC, or on any date, decides the
same things.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

# The Unix epoch, which the integer times of the ingest path (microseconds in the COPY, a
# protobuf Timestamp's seconds) count from.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


def monotonic() -> float:
    """Seconds on a clock that never goes back (for ages within one process)."""
    return time.monotonic()
