"""The time the tests run at, and the way a process a test starts gets the same time.

Every test starts with `scoring.clock.now` frozen at `START` (the autouse `clock` fixture in
tests/conftest.py): 10:00 UTC on the day after the run began. Frozen, so that nothing a test
decides (the current period, the boards still kept, when each expires) changes when the real
clock passes midnight; a day ahead of the real clock, so that every board the service writes
expires, by Redis' own clock, after the real now — no board is kept by the service's
reckoning yet already gone from Redis. A test may move the clock (`clock.set`), forward: an
instant before the real now would have Redis drop at once the boards it expires.

A consumer or command process runs as `python -m tests.clock <command> [args]` with
`TEST_CLOCK_NOW` (ISO 8601) in its environment: `manage.py` with the clock frozen at the
instant the test had when it started the process.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta

START = (datetime.now(UTC) + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
ENV = "TEST_CLOCK_NOW"


class TestClock:
    """A clock that stands still until the test moves it."""

    def __init__(self, at: datetime = START) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> None:
        assert at.tzinfo is not None, "the clock keeps UTC instants"
        self.at = at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


def manage(*args: str) -> list[str]:
    """The argv that runs `manage.py <args>` at the clock of `TEST_CLOCK_NOW`."""
    return [sys.executable, "-m", "tests.clock", *args]


def _main() -> None:
    from scoring import clock

    at = datetime.fromisoformat(os.environ[ENV])
    clock.now = lambda: at
    from django.core.management import execute_from_command_line

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard_project.settings")
    execute_from_command_line(["manage.py", *sys.argv[1:]])


if __name__ == "__main__":
    _main()
