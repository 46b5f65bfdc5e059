"""Helpers shared by the tests that talk to the real servers: consumer processes, waits, and
connections built from the configured URLs (never a hard-coded endpoint).

The pytest fixtures themselves are in tests/conftest.py; test modules import from here, never
from each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import redis
from django.conf import settings
from django.db import connection

from scoring import clock
from scoring.jetstream import connect
from tests.clock import ENV as CLOCK_ENV
from tests.clock import manage
from tests.redis_claim import CLAIM, CLAIM_KEY, CLAIM_SECONDS

ROOT = Path(__file__).resolve().parent.parent


def redis_connect(**options) -> redis.Redis:
    """A client of this run's Redis database (settings.REDIS_URL, as tests/settings.py set it)."""
    return redis.Redis.from_url(settings.REDIS_URL, **options)


def boards_flush() -> None:
    """FLUSHDB this run's Redis database — everything goes, as when Redis dies — and renew the
    run's claim on it."""
    client = redis_connect()
    client.flushdb()
    client.set(CLAIM_KEY, CLAIM, ex=CLAIM_SECONDS)
    client.close()


def database_url() -> str:
    """The test database as a postgres:// URL (for a consumer process)."""
    db = connection.settings_dict
    user = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "") + "@" if db["USER"] else ""
    host = db["HOST"] + (f":{db['PORT']}" if db["PORT"] else "")
    return f"postgres://{user}{host}/{db['NAME']}"


def pg_connect(**options) -> psycopg.Connection:
    """A connection of its own to the test database (another process's transaction, say)."""
    db = connection.settings_dict
    params = {"host": db["HOST"], "port": db["PORT"], "user": db["USER"], "password": db["PASSWORD"]}
    return psycopg.connect(dbname=db["NAME"], **{k: v for k, v in params.items() if v}, **options)


def consumer_env(nats_names: dict[str, str], **extra: str) -> dict[str, str]:
    """The environment for a consumer subprocess that talks to this test's servers, with the
    production settings module (the test settings would claim a Redis database of its own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "CONSUMER_", "DATABASE_", "REDIS_"))}
    env.update(nats_names)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "leaderboard_project.settings",
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "NATS_URL": settings.NATS_URL,
            "DJANGO_SECRET_KEY": "test",
            "CONSUMER_ACK_WAIT": "3",
            "CONSUMER_FETCH_TIMEOUT": "0.2",
            "CONSUMER_SWEEP_INTERVAL": "1",
            "CONSUMER_METRICS_PORT": "0",  # a test that scrapes a consumer gives it a port of its own
            "NAMES_CACHE_SECONDS": "0",  # an API process reads the names a test just wrote
            "PYTHONUNBUFFERED": "1",
            CLOCK_ENV: clock.now().isoformat(),  # the process runs at the test's time
        }
    )
    env.update(extra)
    return env


class ConsumerProcess:
    """`manage.py consume_contributions` as a real process."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.handle = open(log, "ab")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            manage("consume_contributions"),
            cwd=ROOT,
            env=env,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
        )

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self.handle.close()

    def kill(self) -> None:
        self.proc.kill()
        self.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


async def nats_client(url: str | None = None):
    """A short-lived connection of the test's own (settings.NATS_URL unless `url`), opened by
    the service's one connection maker; it fails at once when the server is away."""
    return await connect("tests", url=url, reconnect_wait=None)


async def stream_delete(name: str) -> None:
    """Delete a test's stream (best effort: the server may be the one a test stopped)."""
    with contextlib.suppress(Exception):
        nc = await nats_client()
        try:
            await nc.jetstream().delete_stream(name)
        finally:
            await nc.close()


async def _consumer_state(stream: str, durable: str) -> tuple[int, int]:
    nc = await nats_client()
    try:
        info = await nc.jetstream().consumer_info(stream, durable)
        return info.num_pending, info.num_ack_pending
    finally:
        await nc.close()


def durable_pending(nats_names: dict[str, str]) -> int:
    """How many messages wait undelivered on the test's durable."""
    pending, _ = asyncio.run(_consumer_state(nats_names["NATS_STREAM"], nats_names["NATS_DURABLE"]))
    return pending


def wait_until_drained(nats_names: dict[str, str], timeout: float = 60, processes=()) -> None:
    """Block until the durable has nothing pending and nothing unacked."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            pending, unacked = asyncio.run(_consumer_state(nats_names["NATS_STREAM"], nats_names["NATS_DURABLE"]))
            if pending == 0 and unacked == 0:
                return
        for process in processes:
            if process.proc.poll() is not None:
                raise AssertionError(f"consumer exited with {process.proc.returncode}:\n{process.output()[-3000:]}")
        time.sleep(0.1)
    raise AssertionError(f"the durable did not drain within {timeout}s")


def process_stop(proc: subprocess.Popen, timeout: float = 30) -> int:
    """SIGTERM a process this test started, wait for it; SIGKILL if it will not go. Its exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def wait_for(condition, timeout: float = 30, interval: float = 0.05, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def free_port() -> int:
    """A TCP port nothing listens on now (bound, read, released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening_socket(port: int = 0) -> socket.socket:
    """A TCP socket listening on 127.0.0.1 (`port` 0: one the kernel chooses), inheritable, to
    hand to a server (gunicorn `--bind fd://N` with `pass_fds`): the address is held from the
    moment it is chosen, so no other process can take it between a pick and a bind. A named
    port already taken fails here at once (EADDRINUSE), not as a server that never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart: the old one's TIME_WAIT
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    listener.set_inheritable(True)
    return listener


class ApiProcess:
    """The API as `make run` serves it: gunicorn with gunicorn.conf.py, gthread workers."""

    def __init__(self, env: dict[str, str], directory: Path, workers: int) -> None:
        self.listener = listening_socket()  # held until stop(): gunicorn serves on this very socket
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.stdout_path, self.stderr_path = directory / "api.out", directory / "api.err"
        self._out, self._err = open(self.stdout_path, "ab"), open(self.stderr_path, "ab")  # noqa: SIM115
        fd = self.listener.fileno()
        command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "leaderboard_project.wsgi"]
        command += ["--bind", f"fd://{fd}", "--workers", str(workers), "--worker-class", "gthread"]
        self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self._out, stderr=self._err, pass_fds=(fd,))

    def wait_ready(self, timeout: float = 30) -> None:
        import urllib.request

        def answers() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"gunicorn exited with {self.proc.returncode}:\n{self.stderr_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/metrics", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_for(answers, timeout=timeout, interval=0.1, message="gunicorn to answer")

    def stop(self) -> None:
        process_stop(self.proc)
        self.listener.close()
        self._out.close()
        self._err.close()


def assert_messages_exact(
    client: redis.Redis,
    messages: list[bytes],
    verify_env: dict[str, str] | None = None,
    excluded=(),
    table: dict[str, int] | None = None,
) -> None:
    """Boards, log and dead letters are exactly what the wire messages say (tests/oracle.py;
    scored by SPEC's table with `table`'s rows changed), and `verify_leaderboards` agrees — in
    this process, or (`verify_env`: boards on a private server) in a process of its own."""
    from django.core.management import call_command

    from scoring.models import ContributionEvent, DeadLetter
    from tests.oracle import expected_boards, redis_boards_state, valid_events

    events = valid_events(messages)
    invalid = [data for data in messages if not valid_events([data])]  # each one a dead letter
    assert redis_boards_state(client) == expected_boards(events, excluded=excluded, table=table)
    assert sorted(ContributionEvent.objects.values_list("event_id", flat=True)) == sorted(e.event_id for e in events)
    assert ContributionEvent.objects.unapplied().count() == 0
    assert DeadLetter.objects.count() == len(invalid)
    if verify_env is None:
        call_command("verify_leaderboards", stdout=open(os.devnull, "w"))  # noqa: SIM115 - raises CommandError on a diff
        return
    run = subprocess.run(
        manage("verify_leaderboards"), env=verify_env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stdout + run.stderr


class Background(threading.Thread):
    """A thread whose failure fails the test: `join` re-raises what the target raised, and
    fails if the thread is still running."""

    def __init__(self, target, *args, **kwargs) -> None:
        super().__init__(daemon=True, name=getattr(target, "__name__", "background"))
        self.call = (target, args, kwargs)
        self.result = None
        self.error: BaseException | None = None

    def run(self) -> None:
        target, args, kwargs = self.call
        try:
            self.result = target(*args, **kwargs)
        except BaseException as exc:  # handed to the test by join()
            self.error = exc
        finally:
            connection.close()  # this thread's own Postgres connection, if it opened one

    def join(self, timeout: float | None = 60) -> None:
        super().join(timeout)
        assert not self.is_alive(), f"thread {self.name} still running after {timeout}s"
        if self.error is not None:
            raise self.error


def started(target, *args, **kwargs) -> Background:
    """`target(*args, **kwargs)` running in a `Background` thread."""
    thread = Background(target, *args, **kwargs)
    thread.start()
    return thread


def log_inserts_waiting() -> list[int]:
    """Backends whose INSERT into the log waits for a lock on it — the batch's T1, not the
    sweep's SELECT … FOR UPDATE or a restore's read, which wait on the same table."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.relation = 'scoring_contributionevent'::regclass AND NOT l.granted"
            " AND l.mode = 'RowExclusiveLock' AND a.query LIKE %s",
            ["%INSERT INTO scoring_contributionevent%"],
        )
        return [pid for (pid,) in cursor.fetchall()]


def durable_info(names: dict[str, str], url: str | None = None):
    """The durable's state (JetStream consumer info)."""

    async def fetch():
        nc = await nats_client(url)
        try:
            return await nc.jetstream().consumer_info(names["NATS_STREAM"], names["NATS_DURABLE"])
        finally:
            await nc.close()

    return asyncio.run(fetch())


class PrivateRedis:
    """A redis-server of the test's own on a unix socket in its temporary directory (no TCP
    port to pick, none another process could take), killed and started again at will."""

    def __init__(self, directory: Path, *options: str) -> None:
        """`options`: more redis-server arguments (`--maxmemory-policy allkeys-lru`, ...). No
        automatic saves: the dump file in `directory` is written only by an explicit SAVE, and
        read at each start."""
        self.directory = directory
        self.socket = directory / "redis.sock"
        self.url = f"unix://{self.socket}?db=0"
        self.options = options
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                *("redis-server", "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.directory), *self.options),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._serving, timeout=10, message="the private redis-server")

    def _serving(self) -> bool:
        assert self.proc.poll() is None, f"redis-server exited with {self.proc.returncode}"
        try:
            with self.client() as client:
                return client.info("server")["process_id"] == self.proc.pid
        except redis.ConnectionError:
            return False

    def client(self, **options) -> redis.Redis:
        return redis.Redis.from_url(self.url, **options)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()


class PrivateNats:
    """A nats-server with JetStream of the test's own. The first start lets the server choose
    a free port (`-p -1`, read back from its ports file), so no port is picked here and bound
    later; a restart asks for the same port again (the consumer's URL names it) and fails
    loudly if another process took it meanwhile."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = -1
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                *("nats-server", "-js", "-a", "127.0.0.1", "-p", str(self.port)),
                *("-sd", str(self.directory / "jetstream"), "--ports_file_dir", str(self.directory)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        ports = wait_for(self._ports, timeout=10, message="the private nats-server's ports file")
        self.port = int(ports["nats"][0].rsplit(":", 1)[1])

    def _ports(self) -> dict | None:
        assert self.proc.poll() is None, f"nats-server exited with {self.proc.returncode} (port {self.port} taken?)"
        path = self.directory / f"nats-server_{self.proc.pid}.ports"  # written once it listens
        with contextlib.suppress(FileNotFoundError, ValueError):
            return json.loads(path.read_text())
        return None

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()


def advisory_waiters(key: int) -> int:
    """How many sessions of the test database wait for the advisory lock `key`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
            " WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()"
            " AND l.classid = %s AND l.objid = %s",
            [key >> 32, key & 0xFFFFFFFF],
        )
        return cursor.fetchone()[0]


_REFUSING: list = []  # sockets held until the run ends


def refused_port() -> int:
    """A local TCP port that refuses connections until the run ends: bound by this process and
    never listened on, so no other process can take it meanwhile (a port picked and released
    could be bound by anyone before the test connects to it)."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    _REFUSING.append(sock)
    return sock.getsockname()[1]
