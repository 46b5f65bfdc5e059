"""Fixtures for the snapshot, restore, rebuild and verify tests (real Postgres and Redis)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence

import psycopg
import pytest
from django.core.management import call_command

from scoring.ingest import batch_ingest
from scoring.maintenance.verify import boards_verify
from scoring.rules import Contribution
from tests.fixtures import boards_flush, pg_connect
from tests.oracle import expected_boards, redis_boards_state


@pytest.fixture
def flush_redis(redis_client) -> Callable[[], None]:
    """FLUSHDB this run's Redis db — everything goes, as when Redis dies — keeping the run's claim."""

    return boards_flush


@pytest.fixture
def ingest() -> Callable[..., None]:
    """Record and apply contributions through the service, in batches, as the consumer does."""

    def run(contributions: Sequence[Contribution], batch: int = 100) -> None:
        for start in range(0, len(contributions), batch):
            batch_ingest(contributions=contributions[start : start + batch])

    return run


@pytest.fixture
def assert_exact(redis_client) -> Callable[[Sequence[Contribution]], None]:
    """Every board key in Redis equals the oracle's expectation from the events (under SPEC's
    retention and table unless `retention` or `table` rows are given), nothing else is there,
    and `boards_verify` and `verify_leaderboards` find no difference."""

    def check(
        contributions: Sequence[Contribution],
        retention: dict[str, int] | None = None,
        table: dict[str, int] | None = None,
    ) -> None:
        assert redis_boards_state(redis_client) == expected_boards(contributions, retention=retention, table=table)
        result = boards_verify()
        assert result.differences == []
        assert result.ready
        out = io.StringIO()
        call_command("verify_leaderboards", stdout=out)
        assert out.getvalue().splitlines()[-1].startswith("OK: ")

    return check


@pytest.fixture
def pg_session(transactional_db) -> Iterator[Callable[[], psycopg.Connection]]:
    """Open extra connections to the test database (another process's transaction, say)."""
    opened: list[psycopg.Connection] = []

    def open_one() -> psycopg.Connection:
        conn = pg_connect()
        opened.append(conn)
        return conn

    yield open_one
    for conn in opened:
        conn.close()
