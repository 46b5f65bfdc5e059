"""The stream hub's pace, on its own loop with a read that takes time and watchers without
sockets: a board that changes all the time gets one event per interval, never two closer
together, each read once and written to every watcher, and the last change always arrives.
No server: the hub's loop runs in the test's thread."""

from __future__ import annotations

import asyncio
import itertools
import time

from scoring.boards import GLOBAL, Board, Timeframe
from web.live import board_frame
from web.stream import Channel, StreamHub

BOARD = Board(GLOBAL, Timeframe.ALL_TIME, "all")
INTERVAL = 0.2


class FakeWatcher:
    """Where the hub writes a frame: the loop time of each."""

    def __init__(self, hub: StreamHub) -> None:
        self.hub, self.seen, self.frames = hub, None, []

    def write(self, frame: bytes) -> None:
        self.frames.append((self.hub.loop.time(), frame))


def run_on_hub(hub: StreamHub, changes) -> None:
    """Run the coroutine `changes` on the hub's loop (this thread), then close the hub."""
    try:
        hub.loop.run_until_complete(changes)
    finally:
        hub.readers.shutdown()
        hub.loop.close()


def test_a_board_that_always_changes_gets_one_event_per_interval_read_once_for_all():
    state = {"version": 0, "reads": 0}

    def read(board: Board) -> tuple[str, bytes]:
        state["reads"] += 1
        version = state["version"]
        time.sleep(0.03)  # a read takes a while: the hub starts it ahead of the event's turn
        return f"v{version}", b'{"version":%d}' % version

    hub = StreamHub(read=read, min_interval=INTERVAL)
    channel = hub.channels[BOARD.key] = Channel(BOARD)
    watchers = [FakeWatcher(hub) for _ in range(50)]
    channel.watchers.update(watchers)

    async def changes() -> None:
        for _ in range(100):  # a change every 10 ms for a second
            state["version"] += 1
            hub._changed(channel)
            await asyncio.sleep(0.01)
        while channel.reading or channel.timer is not None:
            await asyncio.sleep(0.01)

    run_on_hub(hub, changes())
    sent = watchers[0].frames
    frames = [frame for _, frame in sent]
    assert all([frame for _, frame in watcher.frames] == frames for watcher in watchers)  # the same bytes
    assert state["reads"] <= len(sent) + 1  # a read per event (the last may find nothing new), not per watcher
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(sent)]
    assert len(sent) >= 3 and min(gaps) >= INTERVAL - 1e-6  # paced (asyncio may wake 1 ns early)
    assert len(sent) < 20  # a hundred changes, coalesced
    assert sent[-1][1] == board_frame("v100", b'{"version":100}')  # the last change arrives


def test_by_default_a_change_waits_at_most_the_specs_250_ms_window():
    """SPEC §11: a change to a board quiet for 250 ms goes out at once; one inside the window
    goes out at its end — not a second later, as the hub's first window had it."""
    state = {"version": 0}

    def read(board: Board) -> tuple[str, bytes]:
        return f"v{state['version']}", b'{"version":%d}' % state["version"]

    hub = StreamHub(read=read)  # the default window
    channel = hub.channels[BOARD.key] = Channel(BOARD)
    watcher = FakeWatcher(hub)
    channel.watchers.add(watcher)
    changed_at = []

    async def changes() -> None:
        for _ in range(2):  # two changes 50 ms apart: the first at once, the second at the window's end
            state["version"] += 1
            changed_at.append(hub.loop.time())
            hub._changed(channel)
            await asyncio.sleep(0.05)
        while channel.reading or channel.timer is not None:
            await asyncio.sleep(0.01)

    run_on_hub(hub, changes())
    (first, _), (second, frame) = watcher.frames
    assert first - changed_at[0] < 0.1  # the leading edge: at once
    assert 0.25 - 1e-6 <= second - first < 0.25 + 0.1  # the window's end, not a second later
    assert frame == board_frame("v2", b'{"version":2}')
