"""The one error policy (scoring/errors.py) on real exception objects: those the servers raise
(Postgres, Redis) where a test can make them cheaply, and those the client libraries build
from a server's reply (redis-py's parser, psycopg's SQLSTATE classes) for the rest."""

from __future__ import annotations

import psycopg
import pytest
import redis
from django.db import DataError, IntegrityError, OperationalError, ProgrammingError, connection, transaction
from nats import errors as nats_errors
from redis._parsers.base import BaseParser

from scoring.errors import describe, is_transient, sqlstate
from tests.fixtures import pg_connect


def redis_reply(text: str) -> redis.RedisError:
    """The exception redis-py raises for an error reply `text`."""
    return BaseParser.parse_error(text)


@pytest.mark.parametrize(
    "reply",
    [
        "OOM command not allowed when used memory > 'maxmemory'.",
        "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk.",
        "READONLY You can't write against a read only replica.",
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSCRIPT.",
        "LOADING Redis is loading the dataset in memory",
        "TRYAGAIN Multiple keys request during rehashing of slot",
        "CLUSTERDOWN The cluster is down",
        "ERR Error running script (call to f_0123): @user_script:40: -OOM command not allowed when used memory",
        "ERR max number of clients reached",
    ],
)
def test_redis_replies_that_pass_are_transient(reply):
    assert is_transient(redis_reply(reply))


@pytest.mark.parametrize(
    "reply",
    [
        "WRONGTYPE Operation against a key holding the wrong kind of value",
        "ERR Error running script (call to f_0123): @user_script:12: user_script:12: attempt to compare nil",
        "ERR value is not a valid float",
        "NOSCRIPT No matching script. Please use EVAL.",
    ],
)
def test_redis_replies_about_the_data_are_deterministic(reply):
    assert not is_transient(redis_reply(reply))


def test_redis_connection_errors_are_transient():
    client = redis.Redis(port=1, socket_connect_timeout=0.2)  # nothing listens on port 1
    with pytest.raises(redis.ConnectionError) as refused:
        client.ping()
    assert is_transient(refused.value)
    assert is_transient(redis.TimeoutError("Timeout reading from socket"))
    assert not is_transient(redis.DataError("Invalid input of type: 'NoneType'"))


@pytest.mark.django_db
def test_postgres_errors_from_the_data_are_deterministic():
    for sql, kind in [
        ("SELECT 1 / 0", DataError),
        ("SELECT 'x'::varchar(512)::integer", DataError),
        ("SELECT * FROM no_such_table", ProgrammingError),
        ("INSERT INTO scoring_project (id, name, event_count) VALUES (NULL, '', 0)", IntegrityError),
    ]:
        with pytest.raises(kind) as failed, transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
        assert sqlstate(failed.value) is not None
        assert not is_transient(failed.value), sql


@pytest.mark.django_db(transaction=True)
def test_postgres_admin_shutdown_of_the_session_is_transient():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    with pg_connect(autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    with pytest.raises(OperationalError) as killed, connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert is_transient(killed.value)
    connection.close()


@pytest.mark.parametrize("state", ["40001", "40P01", "57P01", "57014", "53300", "53100", "08006", "55P03"])
def test_postgres_states_that_pass_are_transient(state):
    """Serialization failure, deadlock, admin shutdown, statement timeout, too many
    connections, disk full, connection failure, lock not available — as psycopg builds them
    from the server's SQLSTATE, wrapped by Django as the consumer sees them."""
    cause = psycopg.errors.lookup(state)("from the server")
    wrapped = OperationalError("from the server")
    wrapped.__cause__ = cause
    assert is_transient(cause) and is_transient(wrapped)


def test_postgres_unreachable_is_transient():
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(host="127.0.0.1", port=1, connect_timeout=1)
    assert is_transient(refused.value)


def test_nats_timeouts_and_lost_connections_are_transient():
    for exc in (nats_errors.TimeoutError(), nats_errors.ConnectionClosedError(), nats_errors.NoServersError()):
        assert is_transient(exc)
    assert is_transient(TimeoutError()) and is_transient(ConnectionRefusedError())


def test_arithmetic_and_value_errors_are_deterministic():
    for exc in (ValueError("year 10000 is out of range"), OverflowError("date value out of range"), KeyError("x")):
        assert not is_transient(exc)


def test_a_reason_names_the_error_without_nuls_and_is_bounded():
    assert describe(ValueError("a\x00b")) == "ValueError: ab"
    assert len(describe(ValueError("x" * 10_000))) == 2000
