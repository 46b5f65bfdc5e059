"""The maintenance tests share the snapshot tests' fixtures (real Postgres and Redis): a
restore, a rebuild, a verify and a rescore are checked as a snapshot is, against the oracle."""

from tests.snapshots.conftest import assert_exact, flush_redis, ingest, pg_session  # noqa: F401
