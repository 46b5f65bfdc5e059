"""The two services: rankr's `LeaderboardScoringService` and our `LeaderboardService`.

Every read goes through `scoring.selectors` (as the REST API's), so ranks, ties, exclusions
and the restore's 503 are the same by construction. The blocking reads (Django, Redis) run in
the server's reader threads; errors become status codes in one place (`Reads.answer`):
a `QueryError` INVALID_ARGUMENT (its message names each bad field), a user not on the board
NOT_FOUND, a dependency down or the boards being restored UNAVAILABLE (rankr's callers retry).

GetLeaderboard's answers are kept in the API's one response cache (`api.cache`) under the REST
API's `MICRO` policy (`API_MICROCACHE_SECONDS`, 0.1 s), encoded, keyed by the validated board
and page and the project as spelled: a poller's call is then answered on the event loop,
without a thread or a Redis trip, from an answer read at most that long ago. A call that finds
no fresh answer waits for the read already under way for its key, if any, else starts one.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import grpc
from django.db import DatabaseError, close_old_connections

from api.cache import MICRO, Key, Page, cache, key_of
from api.query import BoardQuery, QueryError
from api.watch import BoardHub, Refused
from guard.client import grpc_client
from leaderboard_project.errors import DependencyUnavailable, NotFound, dependency_failure
from proto.leaderboard.v1 import leaderboard_pb2 as ours
from proto.leaderboard.v1 import leaderboard_pb2_grpc as ours_grpc
from proto.leaderboardscoring.v1 import leaderboardscoring_pb2 as rankr
from proto.leaderboardscoring.v1 import leaderboardscoring_pb2_grpc as rankr_grpc
from rpc.messages import leaderboard_response, standing_response
from rpc.requests import leaderboard_query, standing_query, watched_board
from rpc.watch import Subscriber
from scoring import clock
from scoring.selectors import board_page, user_standing

T = TypeVar("T")
GET_LEADERBOARD = (
    rankr.DESCRIPTOR.services_by_name["LeaderboardScoringService"].methods_by_name["GetLeaderboard"].full_name
)
CONNECTION_CHECK_SECONDS = 1.0  # how often a reader thread drops a Postgres session gone bad or old


class Reads:
    """The reader threads, the kept answers' reads under way, and the one mapping of errors to
    status codes."""

    def __init__(self, threads: int) -> None:
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="grpc-read")
        self.checked = threading.local()
        self.reading: dict[Key, asyncio.Future[bytes]] = {}

    def _fresh(self, read: Callable[[], T]) -> T:
        # Django drops its sessions between requests; these threads have no requests, so a
        # session is checked (gone bad, or past CONN_MAX_AGE) at most once a second, and after
        # a database error at once.
        now = time.monotonic()
        if now - getattr(self.checked, "at", 0.0) >= CONNECTION_CHECK_SECONDS:
            close_old_connections()
            self.checked.at = now
        try:
            return read()
        except DatabaseError:
            self.checked.at = 0.0
            raise

    def _kept(self, key: Key, read: Callable[[], bytes]) -> bytes:
        started_at, read_at = cache.count, clock.monotonic()
        content = self._fresh(read)
        cache.store(
            key,
            Page(clock.monotonic() + MICRO.seconds(), read_at, content, (), None, frozenset(), b"", MICRO),
            started_at=started_at,
        )
        return content

    async def encoded(self, context: grpc.aio.ServicerContext, key: Key, read: Callable[[], bytes]) -> bytes:
        """The encoded answer `read()` gives, kept under `MICRO` for `key` (0 s: read each time)."""
        if MICRO.seconds() <= 0:
            return await self.answer(context, read)
        page = cache.fresh(key)
        if page is not None:
            return page.content
        reading = self.reading.get(key)
        if reading is None:
            reading = asyncio.get_running_loop().run_in_executor(self.pool, self._kept, key, read)
            self.reading[key] = reading
            reading.add_done_callback(lambda _: self.reading.pop(key, None))
        return await self._status(context, asyncio.shield(reading))  # a caller gone cancels no one else's

    async def answer(self, context: grpc.aio.ServicerContext, read: Callable[[], T]) -> T:
        """`read()` in a reader thread; its errors as status codes."""
        return await self._status(context, asyncio.get_running_loop().run_in_executor(self.pool, self._fresh, read))

    async def parse(self, context: grpc.aio.ServicerContext, parse: Callable[[], T]) -> T:
        """`parse()` (no I/O) on the event loop; a `QueryError` as INVALID_ARGUMENT."""
        return await self._status(context, _called(parse))

    async def _status(self, context: grpc.aio.ServicerContext, pending: Awaitable[T]) -> T:
        try:
            return await pending
        except QueryError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, exc.message)
        except NotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, exc.message)
        except DependencyUnavailable as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, exc.message)
        except Exception as exc:
            failed = dependency_failure(exc)
            if failed is None:
                raise
            await context.abort(grpc.StatusCode.UNAVAILABLE, failed.message)


async def _called(function: Callable[[], T]) -> T:
    return function()


def answer_key(method: str, query: BoardQuery, project_id: str | None) -> Key:
    """A kept answer's key: the validated board and page, and the project as the request spelled
    it (the answer echoes it)."""
    page = f"board={query.board.key}&page_size={query.page_size}&offset={query.offset}"
    return key_of("grpc", "", f"/{method}?{page}" + ("" if project_id is None else f"&project_id={project_id}"))


class LeaderboardScoring(rankr_grpc.LeaderboardScoringServiceServicer):
    """rankr's service (SPEC §13): one page of the current period's board."""

    def __init__(self, reads: Reads) -> None:
        self.reads = reads

    async def GetLeaderboard(
        self, request: rankr.GetLeaderboardRequest, context: grpc.aio.ServicerContext
    ) -> rankr.GetLeaderboardResponse:
        now = clock.now()
        query = await self.reads.parse(context, lambda: leaderboard_query(request, now=now))

        def read() -> bytes:  # rankr's rows carry no names: Postgres is not asked
            page = board_page(board=query.board, limit=query.page_size, offset=query.offset, now=now, named=False)
            return leaderboard_response(request, page).SerializeToString()

        project_id = request.project_id if request.HasField("project_id") else None
        encoded = await self.reads.encoded(context, answer_key(GET_LEADERBOARD, query, project_id), read)
        return rankr.GetLeaderboardResponse.FromString(encoded)


class Leaderboard(ours_grpc.LeaderboardServiceServicer):
    """Ours: a user's standing, and a board watched live."""

    def __init__(self, reads: Reads, hub: BoardHub) -> None:
        self.reads, self.hub = reads, hub

    async def GetStanding(
        self, request: ours.GetStandingRequest, context: grpc.aio.ServicerContext
    ) -> ours.GetStandingResponse:
        def read() -> ours.GetStandingResponse:
            now = clock.now()
            query = standing_query(request, now=now)
            standing = user_standing(board=query.board, user_id=query.user_id, around=query.around, now=now)
            if standing is None:
                raise NotFound(f"user {query.user_id} is not on this board")
            return standing_response(standing)

        return await self.reads.answer(context, read)

    async def WatchLeaderboard(
        self, request: ours.WatchLeaderboardRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[ours.BoardPage]:
        try:
            board = watched_board(request, now=clock.now())
        except QueryError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, exc.message)
        loop = asyncio.get_running_loop()
        client = grpc_client(context.peer(), context.invocation_metadata())
        lease = await loop.run_in_executor(self.reads.pool, self.hub.admit, client)
        if isinstance(lease, Refused):  # SSE's 429 and 503: a limit, the client's or everyone's
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, lease.message)
        subscriber = Subscriber()
        channel = self.hub.channel(board)
        self.hub.join(subscriber, channel)
        try:
            while (page := await subscriber.next()) is not None:
                yield page
        finally:
            self.hub.leave(subscriber, channel)
            self.hub.release_soon(lease)
