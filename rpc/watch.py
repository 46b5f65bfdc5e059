"""WatchLeaderboard's side of the process's board hub (`api.watch.BoardHub`): the hub decides
when a watched board is read and sent again (the SSE stream's coalescing, written once there);
each call is a `Subscriber` the hub writes the board's new first page to."""

from __future__ import annotations

import asyncio

from api.watch import BoardHub, Event
from proto.leaderboard.v1 import leaderboard_pb2 as ours
from rpc.messages import board_page_message
from scoring.boards import Board
from scoring.selectors import board_page

PAGE_SIZE = 50  # the first page, as the SSE stream and the board page send it


def page_event(board: Board) -> Event:
    """The board's first page as a WatchLeaderboard update: (its version, the message)."""
    message = board_page_message(board_page(board=board, limit=PAGE_SIZE, offset=0))
    return message.version, message


class Subscriber:
    """One WatchLeaderboard call: the newest page not yet sent. A client slower than the board's
    changes skips pages, it never falls behind: each page is the whole board's top."""

    def __init__(self) -> None:
        self.seen: str | None = None
        self.pending: ours.BoardPage | None = None
        self.closed = False
        self.ready = asyncio.Event()

    def write(self, page: ours.BoardPage) -> None:
        self.pending = page
        self.ready.set()

    def close(self) -> None:
        """The server is stopping: the call ends (OK) after what it is sending now."""
        self.closed = True
        self.ready.set()

    async def next(self) -> ours.BoardPage | None:
        """The next page to send; None once the server stops."""
        await self.ready.wait()
        self.ready.clear()
        if self.closed:
            return None
        page, self.pending = self.pending, None
        return page


def board_hub(loop: asyncio.AbstractEventLoop) -> BoardHub:
    """The hub of this process's WatchLeaderboard calls, on the server's loop."""
    return BoardHub(read=page_event, loop=loop)


def close_all(hub: BoardHub) -> None:
    """End every WatchLeaderboard call (the server is stopping)."""
    for channel in list(hub.channels.values()):
        for subscriber in list(channel.watchers):
            subscriber.close()
