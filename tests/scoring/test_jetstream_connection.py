"""scoring/jetstream's own machinery against the real NATS: the loop thread, the one connection
maker, the acknowledged publisher with its message ids, and the health check's probe."""

from __future__ import annotations

import asyncio
import time

import pytest
from nats.errors import NoServersError

from scoring.jetstream import JetStreamPublisher, LoopThread, PublishFailed, jetstream_probe
from tests.fixtures import nats_client, refused_port


def test_the_loop_thread_runs_a_coroutine_and_cancels_it_past_its_timeout():
    loop = LoopThread("test-loop")
    cancelled = asyncio.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def seen_cancelled() -> bool:
        await asyncio.wait_for(cancelled.wait(), 5)
        return True

    try:
        assert loop.run(asyncio.sleep(0, result=7), timeout=5) == 7
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            loop.run(slow(), timeout=0.2)
        assert time.monotonic() - started < 5
        assert loop.run(seen_cancelled(), timeout=10)  # it does not go on behind the caller's back
    finally:
        loop.stop()
    assert not loop.thread.is_alive()


def test_a_connection_without_reconnects_fails_at_once_when_nats_is_away(settings):
    settings.NATS_URL = f"nats://127.0.0.1:{refused_port()}"
    started = time.monotonic()
    with pytest.raises(NoServersError):
        asyncio.run(nats_client())
    assert time.monotonic() - started < 5


async def _stored(stream: str) -> list[tuple[str | None, bytes]]:
    nc = await nats_client()
    try:
        js = nc.jetstream()
        state = (await js.stream_info(stream)).state
        found = []
        for seq in range(state.first_seq, state.last_seq + 1):
            msg = await js.get_msg(stream, seq)
            found.append(((msg.headers or {}).get("Nats-Msg-Id"), msg.data))
        return found
    finally:
        await nc.close()


def test_a_message_id_is_stored_once_and_messages_without_one_every_time(nats_names):
    publisher = JetStreamPublisher("test-publisher")
    try:
        first = publisher.publish(b"one", msg_id="a", timeout=5)
        assert publisher.publish(b"one again", msg_id="a", timeout=5) == first  # JetStream's duplicate window
        assert publisher.publish(b"two", msg_id="b", timeout=5) == first + 1
        progress: list[int] = []
        assert publisher.publish_many(iter([b"x", b"x", b"y"]), window=2, progress=progress.append) == 3
        assert progress == [2, 3]
    finally:
        publisher.close()
    stored = asyncio.run(_stored(nats_names["NATS_STREAM"]))
    assert stored == [("a", b"one"), ("b", b"two"), (None, b"x"), (None, b"x"), (None, b"y")]


def test_a_publisher_that_cannot_connect_fails_with_a_dependency_error(settings, nats_names):
    settings.NATS_URL = f"nats://127.0.0.1:{refused_port()}"
    publisher = JetStreamPublisher("test-publisher")
    try:
        with pytest.raises(PublishFailed) as failed:
            publisher.publish(b"lost", msg_id="a", timeout=0.3)
        assert failed.value.details == {"nats": f"not connected to {settings.NATS_URL}"}
    finally:
        publisher.close()


def test_the_probe_answers_for_a_reachable_jetstream_and_raises_for_an_absent_one(settings):
    jetstream_probe()
    settings.NATS_URL = f"nats://127.0.0.1:{refused_port()}"
    with pytest.raises(NoServersError):
        jetstream_probe()
