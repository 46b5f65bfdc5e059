"""A full stop and start of a Postgres server under a running consumer and a running API.

The test creates a Postgres cluster of its own (`initdb` in a temporary directory, listening on
a unix socket there and on no TCP port, so there is no port to pick that another process could
take; run as the `postgres` user when the test runs as root, since initdb refuses root),
migrates a database there, and starts a real consumer process and a real API (gunicorn, on a
socket this test binds and hands over) against it. In the middle of the stream the server is
stopped (`pg_ctl stop -m fast`: every connection gone, the socket closed) and later started
again. Nothing is mocked, and the shared Postgres is never
touched. The cluster is removed whatever the outcome.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest

from scoring.event_generator import POISON
from tests.builders import generate, publish
from tests.clock import manage
from tests.fixtures import ROOT, consumer_env, listening_socket, wait_for, wait_until_drained
from tests.oracle import expected_boards, redis_boards_state, valid_events

pytestmark = [pytest.mark.slow]

DATABASE = "leaderboard_restart"


class PrivatePostgres:
    """A Postgres cluster in a temporary directory, owned by this test, listening on a unix
    socket in that directory only (no TCP: the address is its own, before and after a restart)."""

    def __init__(self) -> None:
        versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
        assert versions, "no Postgres server binaries under /usr/lib/postgresql/*/bin"
        self.bin = Path(versions[-1])
        self.root = Path(tempfile.mkdtemp(prefix="pg-restart-", dir="/tmp"))  # postgres must reach it
        self.data, self.sockets, self.log = self.root / "data", self.root / "sockets", self.root / "server.log"
        self.sockets.mkdir()
        self.port = 5432  # names the socket file (.s.PGSQL.5432) in a directory nobody else uses
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.sockets, "postgres", "postgres")

    @property
    def url(self) -> str:
        return f"postgres://postgres@/{DATABASE}?host={self.sockets}&port={self.port}"

    def _run(self, *argv: str) -> None:
        subprocess.run([*self.as_postgres, *argv], check=True, capture_output=True, timeout=120)

    def create(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        self.start()
        with psycopg.connect(
            host=str(self.sockets), port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as c:
            c.execute(f"CREATE DATABASE {DATABASE}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses='' -c fsync=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")

    def stop(self) -> None:
        """A full, clean stop: every session ends and the socket closes."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        """Stop the server however it is, and delete the cluster."""
        with contextlib.suppress(Exception):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():  # pg_ctl could not stop it: end the postmaster this test started
            with contextlib.suppress(Exception):
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)

    def query(self, sql: str) -> list[tuple]:
        with psycopg.connect(self.url) as conn:
            return conn.execute(sql).fetchall()


@pytest.fixture
def private_postgres():
    server = PrivatePostgres()
    try:
        server.create()
        yield server
    finally:
        server.remove()


class Api:
    """gunicorn serving the API, as in `make run`, against the given environment."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.listener = listening_socket()  # held until stop(): gunicorn serves on this very socket
        self.port, self.handle = self.listener.getsockname()[1], open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.log = log
        fd = self.listener.fileno()
        gunicorn = Path(sys.executable).parent / "gunicorn"
        argv = [str(gunicorn), "leaderboard_project.wsgi", "--bind", f"fd://{fd}", "--workers", "1"]
        argv += ["--worker-class", "gthread", "--threads", "4", "--timeout", "60"]
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self.handle, stderr=subprocess.STDOUT, pass_fds=(fd,)
        )

    def get(self, path: str) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def answers(self, path: str) -> bool:
        with contextlib.suppress(OSError):
            self.get(path)
            return True
        return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self.listener.close()
        self.handle.close()


@pytest.fixture
def spawn_api():
    started: list[Api] = []

    def spawn(env: dict[str, str], log: Path) -> Api:
        started.append(Api(env, log))
        return started[-1]

    yield spawn
    for api in started:
        api.stop()


POSTGRES_DOWN = {
    "error": {
        "code": "dependency_unavailable",
        "message": "postgres is unavailable",
        "details": {"postgres": "unavailable"},
    }
}


def test_a_postgres_stopped_and_started_under_the_consumer_and_the_api(
    private_postgres, nats_names, spawn_consumer, spawn_api, redis_client, tmp_path
):
    env = consumer_env(nats_names, DATABASE_URL=private_postgres.url, CONSUMER_BATCH_SIZE="100")
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input"], cwd=ROOT, env=env, check=True, timeout=120)
    messages = generate(2400, seed=31)
    before, during, after = messages[:800], messages[800:1600], messages[1600:]

    consumer = spawn_consumer(DATABASE_URL=private_postgres.url, CONSUMER_BATCH_SIZE="100")
    api = spawn_api(env, tmp_path / "api.log")
    wait_for(lambda: api.answers("/v1/health-check"), timeout=60, message="the API to listen")
    publish(before)
    wait_until_drained(nats_names, processes=[consumer])
    assert api.get("/v1/projects")[0] == 200

    private_postgres.stop()
    publish(during)  # events keep coming while the log is gone
    wait_for(lambda: "retrying" in consumer.output(), timeout=60, message="the consumer to retry a batch")
    assert api.get("/v1/projects") == (503, POSTGRES_DOWN)
    health = api.get("/v1/health-check")
    assert (health[0], health[1]["checks"]["postgres"]) == (503, "error: unavailable")
    board = api.get("/v1/leaderboard/public")  # boards are Redis: still answered
    assert board[0] == 200

    private_postgres.start()
    publish(after)
    wait_until_drained(nats_names, timeout=120, processes=[consumer])
    assert consumer.proc.poll() is None  # it recovered by itself; it did not exit
    wait_for(lambda: api.get("/v1/projects")[0] == 200, timeout=30, message="the API to answer again")
    code, health = api.get("/v1/health-check")
    consumer_health = health["checks"].pop("consumer")  # its batch age and pending count move on
    assert (code, health) == (200, {"status": "ok", "checks": dict.fromkeys(("postgres", "redis", "nats"), "ok")})
    assert consumer_health["status"] == "ok", consumer_health

    # nothing lost, nothing doubled: the log and every board are what the messages say
    events = valid_events(messages)
    assert sorted(row[0] for row in private_postgres.query("SELECT event_id FROM scoring_contributionevent")) == sorted(
        e.event_id for e in events
    )
    assert private_postgres.query("SELECT count(*) FROM scoring_unapplied") == [(0,)]
    assert private_postgres.query("SELECT count(*) FROM scoring_deadletter") == [
        (sum(1 for data in messages if data in POISON),)
    ]
    expected = expected_boards(events)
    assert redis_boards_state(redis_client) == expected
    top = api.get("/v1/leaderboard/public?limit=1000")[1]
    assert {row["user_id"]: row["score"] for row in top["results"]} == expected["leaderboard:global:all_time:all"]
    verify = subprocess.run(manage("verify_leaderboards"), cwd=ROOT, env=env, capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # the fault happened where it was meant to: the consumer retried, the API said 503
    assert re.search(r"batch seq=\d+-\d+ \(\d+ messages\) failed, retrying", consumer.output())
    assert "postgres unavailable" in api.log.read_text(errors="replace")
