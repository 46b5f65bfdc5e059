"""Fixtures for the pages: a real gunicorn (with the stream worker) on this run's database
and Redis, events written through the service's own write path, and Debian's Chromium driven
by Playwright."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections

from scoring.ingest import batch_ingest
from scoring.rules import Contribution, EventKind
from tests.fixtures import ROOT, database_url, listening_socket

# Playwright's sync API keeps an event loop running in this thread, which Django's ORM takes
# for an async context; the tests' ORM calls are plain synchronous ones (Playwright's advice).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
AXE = ROOT / "tests" / "fixtures" / "axe-core" / "axe.min.js"


def push(
    user_id: int, points: int, *, project_id: int = 1, at: datetime, event_id: str | None = None, **named: str
) -> Contribution:
    """A push of `points` commits (a push scores 1 a commit, up to 10); `named` may give the
    actor's `login` and `avatar_url` and the activity's `url`."""
    assert 1 <= points <= 10
    return Contribution(
        event_id=event_id or uuid.uuid4().hex,
        kind=EventKind.PUSHED,
        occurred_at=at,
        project_id=project_id,
        project_name=f"org/repo-{project_id}",
        user_id=user_id,
        commits=points,
        **named,
    )


def ingest(*contributions: Contribution) -> None:
    """Log and apply events the way the consumer does."""
    batch_ingest(contributions=list(contributions))


class WebServer:
    """`bin/run`'s gunicorn (the stream worker, gthread) as a real process, serving on a
    listening socket this process binds and hands over (`fd://`), so the port is held from the
    moment it is chosen; `port` names the one of a server started again (a taken one fails at
    once)."""

    def __init__(
        self,
        log: Path,
        port: int | None = None,
        env: dict[str, str] | None = None,
        threads: int = 4,
        open_files: int | None = None,
    ) -> None:
        self.threads = threads
        self.open_files = open_files  # the server's soft limit on open files (None: this process's)
        self.listener = listening_socket(port or 0)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        base = {
            k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "API_", "DJANGO_ALLOW"))
        }
        base.update(
            DJANGO_SETTINGS_MODULE="leaderboard_project.settings",  # the test settings claim a Redis db
            DATABASE_URL=database_url(),
            REDIS_URL=settings.REDIS_URL,
            DJANGO_SECRET_KEY="test",
            API_MICROCACHE_SECONDS="0",
            PAGE_CACHE_SECONDS="0",  # tests read what they just wrote (test_pagecache turns it on)
            NAMES_CACHE_SECONDS="0",  # ... and the names too: the server outlives a test's database
        )
        self.env = {**base, **(env or {})}

    def start(self) -> WebServer:
        self.handle = open(self.log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "leaderboard_project.wsgi",
                "--bind",
                f"fd://{self.listener.fileno()}",
                "--workers",
                "1",
                "--threads",
                str(self.threads),
                "--worker-class",
                "web.worker.StreamingThreadWorker",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            pass_fds=(self.listener.fileno(),),
            preexec_fn=None if self.open_files is None else self._limit_open_files,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"gunicorn exited:\n{self.log.read_text()[-3000:]}")
            try:
                # one probe, however long the start takes: the listener is open already, so the request
                # waits for the first worker (a probe given up on would still be answered, and be
                # counted by a test of the request rate)
                with urllib.request.urlopen(f"{self.url}/static/web/site.css", timeout=30):
                    return self
            except OSError:
                time.sleep(0.1)
        raise AssertionError("gunicorn did not answer within 30 s")

    def _limit_open_files(self) -> None:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, hard))

    def workers(self) -> list[int]:
        """The pids of gunicorn's workers."""
        found = []
        for task in os.listdir(f"/proc/{self.proc.pid}/task"):
            found += [int(pid) for pid in Path(f"/proc/{self.proc.pid}/task/{task}/children").read_text().split()]
        return found

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)  # gunicorn's quick shutdown: open streams just drop
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.listener.close()  # the port is free again (a restart asks for it by number)
        self.handle.close()


@pytest.fixture(scope="module")
def web_server(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[WebServer]:
    server = WebServer(tmp_path_factory.mktemp("web") / "gunicorn.log").start()
    yield server
    server.stop()


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """Debian's Chromium under Playwright. While it is open, Playwright's event loop runs in
    this thread: code that calls asyncio.run (publishing to NATS) goes through `off_loop`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            # While Playwright's loop runs, Django keeps the ORM's connections per context, not
            # per thread: close them here, or they outlive the run and block dropping the test
            # database.
            connections.close_all()
            browser.close()


def off_loop(function, *args, **kwargs):
    """Run `function` on a thread of its own (away from Playwright's event loop)."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(function, *args, **kwargs).result()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as opened:
        yield opened


@pytest.fixture
def page(browser) -> Iterator[object]:
    # The tests' own probes (wait_for_function, set_content) are scripts the pages' CSP refuses;
    # the pages' keeping to it is tested without the bypass (tests/web/test_csp.py).
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    opened = context.new_page()
    yield opened
    context.close()


def screenshot(page, name: str) -> Path:
    """Keep a screenshot as a test artifact (artifacts/screenshots/, not committed)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
