"""The whole clustered topology on loopback, for `bin/cluster` and the cluster tests.

Three nats-servers (Debian's /usr/sbin/nats-server) forming one JetStream cluster through their
routes, each with its own store directory; a Redis primary, a replica and three sentinels
(redis-server, the sentinels as `redis-server <conf> --sentinel`). Every server listens on
127.0.0.1 only, on ports free when it starts, and keeps its files under one directory. No
Django settings here (bin/cluster runs it before any exist): NATS is reached through the
service's one connection maker with the URLs given.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from scoring.jetstream.connection import connect

MASTER = "leaderboard"  # REDIS_SENTINEL_MASTER's default
NATS_BINARY = shutil.which("nats-server") or "/usr/sbin/nats-server"
REDIS_BINARY = shutil.which("redis-server") or "/usr/bin/redis-server"
# Sentinel calls a primary down after this long without an answer, and fails over after that.
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000


def free_port() -> int:
    """A loopback TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, timeout: float, what: str, interval: float = 0.1):
    """Poll `condition` until it returns something true (returned); TimeoutError past `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if found := condition():
                return found
        time.sleep(interval)
    raise TimeoutError(f"{what}: not within {timeout:g}s")


async def _connect(urls: str):
    # The service's one connection maker, with the URLs given (it reads no setting then).
    return await connect("cluster-probe", url=urls, connect_timeout=1, reconnect_wait=None)


@dataclass
class Server:
    """One server process: started, SIGKILLed, hung (SIGSTOP) and resumed at will."""

    name: str
    directory: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        log = open(self.directory / "server.log", "ab")  # noqa: SIM115 - the child holds it
        self.proc = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.directory, start_new_session=True
        )
        log.close()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: the server dies with whatever it had not written."""
        if self.running:
            self.proc.kill()
            self.proc.wait(10)

    def hang(self) -> None:
        """SIGSTOP: the server holds its connections but answers nothing."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """SIGTERM (after SIGCONT, were it hung), SIGKILL if it will not go."""
        if not self.running:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class NatsNode(Server):
    cluster_port: int = field(default_factory=free_port)
    routes: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        routes = ", ".join(f"nats-route://127.0.0.1:{port}" for port in self.routes)
        config = self.directory / "nats.conf"
        config.write_text(
            f'server_name: "{self.name}"\nlisten: "127.0.0.1:{self.port}"\n'
            f'jetstream {{ store_dir: "{self.directory / "store"}", max_memory_store: 256MB, max_file_store: 2GB }}\n'
            f'cluster {{ name: "leaderboard", listen: "127.0.0.1:{self.cluster_port}", routes: [{routes}] }}\n'
        )
        return [NATS_BINARY, "-c", str(config)]


@dataclass
class RedisNode(Server):
    replica_of: int | None = None

    def command(self) -> list[str]:
        command = [REDIS_BINARY, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        command += ["--save", "", "--appendonly", "no"]  # as the shared one: what Sentinel may lose, it loses
        if self.replica_of is not None:
            command += ["--replicaof", "127.0.0.1", str(self.replica_of)]
        return command

    def client(self, **options) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, **options)

    def run_id(self) -> str:
        with self.client(decode_responses=True) as client:
            return client.info("server")["run_id"]

    def role(self) -> str:
        with self.client(decode_responses=True) as client:
            return client.info("replication")["role"]


@dataclass
class SentinelNode(Server):
    primary_port: int = 0

    def command(self) -> list[str]:
        config = self.directory / "sentinel.conf"  # Sentinel rewrites it with what it learns
        if not config.exists():
            config.write_text(
                f"port {self.port}\nbind 127.0.0.1\ndir {self.directory}\n"
                f"sentinel monitor {MASTER} 127.0.0.1 {self.primary_port} 2\n"
                f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}\n"
                f"sentinel parallel-syncs {MASTER} 1\n"
            )
        return [REDIS_BINARY, str(config), "--sentinel"]

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, decode_responses=True)


class Topology:
    """Three nats-servers in one JetStream cluster, a Redis primary with a replica and three
    sentinels, all under `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.nats = [NatsNode(f"n{i}", directory / f"nats-{i}") for i in (1, 2, 3)]
        for node in self.nats:
            node.routes = [other.cluster_port for other in self.nats if other is not node]
        primary = RedisNode("redis-a", directory / "redis-a")
        self.redis = [primary, RedisNode("redis-b", directory / "redis-b", replica_of=primary.port)]
        self.sentinels = [
            SentinelNode(f"sentinel-{i}", directory / f"sentinel-{i}", primary_port=primary.port) for i in (1, 2, 3)
        ]

    @property
    def servers(self) -> list[Server]:
        return [*self.nats, *self.redis, *self.sentinels]

    def start(self, timeout: float = 60) -> None:
        """Start every server and wait until JetStream has a meta leader, the replica is in
        sync and every sentinel knows the replica and the two other sentinels."""
        try:
            for server in self.servers:
                server.start()
            wait_until(self.jetstream_ready, timeout, "the JetStream cluster to elect a meta leader")
            wait_until(lambda: self.redis[1].role() == "slave" and self._replica_synced(), timeout, "the replica")
            wait_until(self.sentinels_ready, timeout, "the sentinels to know each other")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()

    # NATS ---------------------------------------------------------------------------------

    @property
    def nats_url(self) -> str:
        return ",".join(node.url for node in self.nats)

    def node(self, name: str) -> NatsNode:
        return next(node for node in self.nats if node.name == name)

    def jetstream_ready(self, urls: str | None = None) -> bool:
        async def probe() -> bool:
            nc = await _connect(urls or self.nats_url)
            try:
                await nc.jetstream().account_info()
                return True
            finally:
                await nc.close()

        return asyncio.run(asyncio.wait_for(probe(), 5))

    def leaders(self, stream: str, durable: str | None = None, *, skip: str = "") -> tuple[str | None, str | None]:
        """The names of the stream's leader and (with `durable`) its consumer's leader, as the
        running nodes but `skip` (a hung one, say) tell."""

        async def ask() -> tuple[str | None, str | None]:
            nc = await _connect(",".join(node.url for node in self.nats if node.running and node.name != skip))
            try:
                js = nc.jetstream()
                stream_leader = (await js.stream_info(stream)).cluster.leader
                durable_leader = (await js.consumer_info(stream, durable)).cluster.leader if durable else None
                return stream_leader, durable_leader
            finally:
                await nc.close()

        return asyncio.run(asyncio.wait_for(ask(), 5))

    # Redis --------------------------------------------------------------------------------

    @property
    def sentinels_setting(self) -> str:
        return ",".join(f"127.0.0.1:{sentinel.port}" for sentinel in self.sentinels)

    def primary_port(self) -> int | None:
        """The primary's port as the running sentinels agree on it (None while they differ)."""
        answers = set()
        for sentinel in self.sentinels:
            if sentinel.running:
                with sentinel.client() as client:
                    host_port = client.sentinel_get_master_addr_by_name(MASTER)
                answers.add(int(host_port[1]) if host_port else None)
        return answers.pop() if len(answers) == 1 else None

    def primary(self) -> RedisNode:
        """The Redis server the sentinels name the primary."""
        port = wait_until(self.primary_port, 30, "the sentinels to agree on a primary")
        return next(node for node in self.redis if node.port == port)

    def _replica_synced(self) -> bool:
        with self.redis[1].client(decode_responses=True) as client:
            return client.info("replication")["master_link_status"] == "up"

    def sentinels_ready(self) -> bool:
        for sentinel in self.sentinels:
            with sentinel.client() as client:
                if len(client.sentinel_sentinels(MASTER)) < 2 or len(client.sentinel_slaves(MASTER)) < 1:
                    return False
        return True

    def settings(self) -> dict[str, str]:
        """The settings a process of the service needs to run on this topology (SPEC section 16)."""
        return {
            "NATS_URL": self.nats_url,
            "NATS_STREAM_REPLICAS": "3",
            "REDIS_SENTINELS": self.sentinels_setting,
            "REDIS_SENTINEL_MASTER": MASTER,
        }
