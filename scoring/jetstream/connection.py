"""Every NATS connection of the service is opened here, and the long-lived ones run on a loop thread.

`connect` is the one place that opens a connection with nats-py: the servers' URLs come from settings here
(NATS_URL, one server or a cluster's, comma-separated: the client picks one and moves to another
when it is lost), and
each caller says only how its connection behaves (reconnect or not, buffer while down or not).
nats-py is asyncio while the consumer's batch loops and the web workers' request threads are
ordinary synchronous code: a `LoopThread` runs an event loop on a thread of its own, and they
hand it coroutines.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from typing import Any

import nats
from django.conf import settings
from nats.aio.client import Client

logger = logging.getLogger("leaderboard.nats")

# A server that stops answering (hung, or its host gone without a reset) is left after this many
# seconds between pings times this many pings unanswered, for another of NATS_URL's servers
# (nats-py's defaults, 120 s and 2, would hold a consumer on a hung node for 4 minutes).
PING_INTERVAL, PINGS_OUTSTANDING = 3, 2


async def _error_logged(exc: Exception) -> None:
    # Each failed (re)connect attempt: the owner's disconnected and reconnected messages say enough.
    logger.debug("nats: %s", exc)


async def connect(
    name: str,
    *,
    url: str | None = None,
    connect_timeout: float = 2.0,
    reconnect_wait: float | None = 1.0,
    buffer_while_down: bool = True,
    disconnected_cb: Callable[[], Awaitable[None]] | None = None,
    reconnected_cb: Callable[[], Awaitable[None]] | None = None,
) -> Client:
    """Open a connection to `url` (settings.NATS_URL by default; a comma-separated list of a
    cluster's servers), shown to the server as `name`.

    With `reconnect_wait` seconds, a lost connection is made again for ever, that often apart;
    nats-py then retries a failing *first* connect for ever too, so a caller that must give up
    bounds this call with a timeout. With `reconnect_wait=None` a server that refuses fails the
    call at once (after one immediate retry), and a lost connection stays lost.
    Without `buffer_while_down`, a publish while disconnected fails at once instead of waiting
    in the client's buffer for a reconnect.
    """
    if reconnect_wait is None:
        # nats-py reads 0 attempts as "no limit", and retries a first connect at least once:
        # one immediate retry, then NoServersError.
        options: dict[str, Any] = {"allow_reconnect": False, "max_reconnect_attempts": 1, "reconnect_time_wait": 0}
    else:
        options = {"max_reconnect_attempts": -1, "reconnect_time_wait": reconnect_wait}
    if not buffer_while_down:
        options["pending_size"] = 0
    return await nats.connect(
        [server.strip() for server in (url or settings.NATS_URL).split(",") if server.strip()],
        name=name,
        connect_timeout=connect_timeout,
        ping_interval=PING_INTERVAL,
        max_outstanding_pings=PINGS_OUTSTANDING,
        error_cb=_error_logged,
        disconnected_cb=disconnected_cb,
        reconnected_cb=reconnected_cb,
        **options,
    )


class LoopThread:
    """An asyncio event loop running on a daemon thread of its own, for synchronous callers."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def submit(self, coroutine: Coroutine) -> Future:
        """Start `coroutine` on the loop; its outcome arrives in the returned future."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def run(self, coroutine: Coroutine, timeout: float | None = None) -> Any:
        """Run `coroutine` on the loop and wait for its result or its exception. Past `timeout`
        seconds it is cancelled (it does not go on behind the caller's back) and TimeoutError
        is raised."""
        future = self.submit(coroutine)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop (whatever still runs on it is abandoned) and wait for its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout)
