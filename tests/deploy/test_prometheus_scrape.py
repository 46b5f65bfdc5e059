"""A real Prometheus (Debian's package) scraping a real gunicorn and a real consumer.

The test reads every answer from Prometheus's HTTP API, as an operator's dashboard would:
the counters equal what was published (events, duplicates, dead letters), the lag and the
JetStream backlog return to 0 once drained, the API's requests are counted across both of its
workers, the alerting rules load, and a killed consumer shows as `up == 0` with its alert
pending.
"""

from __future__ import annotations

import functools
import json
import shutil
import signal
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from scoring.event_generator import POISON, GeneratorOptions, events_generate, events_publish
from scoring.ingest.wire import decode
from scoring.rules import points
from scoring.rules.versions import settings_table
from tests.fixtures import free_port, process_stop, wait_for, wait_until_drained

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ALERTS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"


class Prometheus:
    """`prometheus` on a free port, with a storage directory of its own, scraping every second.

    Prometheus cannot be handed a socket nor report a port it chose, so the port is picked and
    bound later; when another process took it meanwhile, prometheus exits saying so and the start
    is tried again on a fresh port (a bind failure is detected, not waited out)."""

    ATTEMPTS = 5

    def __init__(self, directory: Path, targets: dict[str, str]) -> None:
        binary = shutil.which("prometheus")
        assert binary, "prometheus is missing: `make test` installs Debian's prometheus package"
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "900ms", "evaluation_interval": "1s"},
            "rule_files": [str(ALERTS)],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [target]}]} for job, target in targets.items()
            ],
        }
        (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log_path = directory / "prometheus.log"
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        for _ in range(self.ATTEMPTS):
            self.url = f"http://127.0.0.1:{free_port()}"
            self.proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={directory / 'prometheus.yml'}",
                    f"--storage.tsdb.path={directory / 'data'}",
                    f"--web.listen-address={self.url.removeprefix('http://')}",
                    "--storage.tsdb.retention.time=1h",
                ],
                stdout=self.log,
                stderr=subprocess.STDOUT,
            )
            if wait_for(self._ready, timeout=30, interval=0.2, message="prometheus to be ready") == "ready":
                return
            self.proc.wait(30)  # exited: its port was taken
        raise AssertionError(f"prometheus found its port taken {self.ATTEMPTS} times")

    def _ready(self) -> str | None:
        """ "ready", "taken" (it exited unable to bind its port; the start may be tried again)
        or None (not yet); any other exit fails."""
        if self.proc.poll() is not None:
            log = self.log_path.read_text(errors="replace")
            if "address already in use" in log.rsplit("Starting Prometheus", 1)[-1]:
                return "taken"
            raise AssertionError(f"prometheus exited with {self.proc.returncode}:\n{log[-3000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return "ready" if response.status == 200 else None
        except OSError:
            return None

    def api(self, path: str, **params: str) -> dict:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]

    def value(self, expression: str) -> float | None:
        """The value of an expression that yields one sample (None while it yields none)."""
        result = self.api("query", query=expression)["result"]
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def wait_value(self, expression: str, expected: float, timeout: float = 60) -> None:
        seen: list[float | None] = []

        def equal() -> bool:
            seen.append(self.value(expression))
            return seen[-1] == expected

        try:
            wait_for(equal, timeout=timeout, interval=0.5, message=f"{expression} == {expected}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last values {seen[-5:]}") from None

    def stop(self) -> None:
        process_stop(self.proc)
        self.log.close()


@pytest.fixture
def prometheus(tmp_path):
    started: list[Prometheus] = []

    def start(targets: dict[str, str]) -> Prometheus:
        directory = tmp_path / "prometheus"
        directory.mkdir()
        server = Prometheus(directory, targets)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def get(url: str) -> int:
    request = urllib.request.Request(url, headers={"Connection": "close"})
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
        return response.status


def test_prometheus_reads_the_truth_from_the_api_and_the_consumer(
    ready_boards, nats_names, spawn_consumer, spawn_api, prometheus
):
    api = spawn_api(workers=2, HEALTH_CONSUMER_MAX_AGE="3")
    consumer, metrics_port = spawn_consumer_with_metrics(spawn_consumer)
    wait_for(lambda: _answers(f"http://127.0.0.1:{metrics_port}/metrics"), timeout=30, message="consumer metrics")
    server = prometheus(
        {"leaderboard-api": api.url.removeprefix("http://"), "leaderboard-consumer": f"127.0.0.1:{metrics_port}"}
    )
    consumer_job = '{job="leaderboard-consumer"}'
    server.wait_value(f"up{consumer_job}", 1)
    server.wait_value('up{job="leaderboard-api"}', 1)

    valid = list(events_generate(GeneratorOptions(count=300, seed=13, duplicates=0, invalid=0, users=30)))
    duplicates = valid[:40:2]  # 20 events sent again
    poison = [POISON[i % len(POISON)] for i in range(7)]
    events_publish(iter(valid[:150] + poison[:3] + duplicates + valid[150:] + poison[3:]))
    wait_until_drained(nats_names, processes=[consumer])
    scoring = [data for data in valid if points(decode(data), settings_table()) > 0]  # 0 points: no board changes

    for name, expected in [
        ("received", 327),
        ("logged", 300),
        ("duplicate", 20),
        ("dead_lettered", 7),
        ("applied", len(scoring)),
    ]:
        server.wait_value(f"sum(leaderboard_consumer_events_{name}_total{consumer_job})", expected)
    # drained: nothing waits in JetStream, nothing waits in the log, no lag
    server.wait_value(f"leaderboard_consumer_jetstream_pending_messages{consumer_job}", 0)
    server.wait_value(f"leaderboard_consumer_jetstream_ack_pending_messages{consumer_job}", 0)
    server.wait_value(f"leaderboard_consumer_lag_seconds{consumer_job}", 0)
    server.wait_value(f"leaderboard_consumer_log_unapplied_events{consumer_job}", 0)
    server.wait_value(f"leaderboard_consumer_boards_ready{consumer_job}", 1)
    # the health-check reads the consumer's heartbeat: a drained, live consumer is ok
    # (the heartbeat comes once a second: the one after the last batch carries its time)
    health = wait_for(
        lambda: (found := _consumer_health(api, "ok")) and found["last_batch_age_seconds"] is not None and found,
        timeout=30,
        message="the consumer check to be ok, with a batch's age",
    )
    assert (health["pending"], health["last_batch_age_seconds"] >= 0) == (0, True)
    assert server.value(f"sum(leaderboard_consumer_batch_duration_seconds_count{consumer_job})") >= 1
    assert server.value(f"sum(leaderboard_consumer_batch_lag_seconds_count{consumer_job})") >= 1

    # the API, over both workers: every request counted once
    for _ in range(60):
        assert get(f"{api.url}/v1/leaderboard/public?limit=3") == 200
    server.wait_value(
        'sum(http_requests_total{job="leaderboard-api",route="board-page",method="GET",status="200"})', 60
    )
    server.wait_value('sum(http_request_duration_seconds_count{job="leaderboard-api",route="board-page"})', 60)

    # the rules are loaded and healthy; the dead letters just seen fire theirs
    rules = {rule["name"]: rule for group in server.api("rules")["groups"] for rule in group["rules"]}
    assert {"LeaderboardConsumerDown", "LeaderboardDeadLetters", "LeaderboardApi5xx"} <= rules.keys()
    assert {rule["health"] for rule in rules.values()} == {"ok"}, rules
    wait_for(lambda: _alert_state(server, "LeaderboardDeadLetters") == "firing", timeout=30, message="dead letters")

    # a dead consumer: up == 0, and its alert goes pending (it fires after a minute of that)
    assert _alert_state(server, "LeaderboardConsumerDown") is None
    consumer.proc.send_signal(signal.SIGKILL)
    consumer.wait()
    server.wait_value(f"up{consumer_job}", 0)
    wait_for(
        lambda: _alert_state(server, "LeaderboardConsumerDown") in ("pending", "firing"),
        timeout=30,
        message="LeaderboardConsumerDown to be pending",
    )
    assert _alert_state(server, "LeaderboardApiDown") is None
    health = wait_for(lambda: _consumer_health(api, "degraded"), timeout=30, message="the consumer check to degrade")
    assert health["detail"].startswith("no consumer has reported for ")


def spawn_consumer_with_metrics(spawn_consumer, attempts: int = 5):
    """A consumer serving /metrics on a port of its own, and that port. The consumer binds the
    port it is given (picked here, so another process may take it first); it says in its log
    whether it serves there or found the port taken, and when taken, a new consumer is started
    on a fresh port (the bind failure is read, not waited out)."""
    for _ in range(attempts):
        port = free_port()
        consumer = spawn_consumer(CONSUMER_METRICS_PORT=str(port))

        outcome = wait_for(
            functools.partial(_metrics_outcome, consumer, port), timeout=30, message="the consumer to serve its metrics"
        )
        if outcome == "serving":
            return consumer, port
        consumer.kill()
    raise AssertionError(f"the consumer found its metrics port taken {attempts} times")


def _metrics_outcome(consumer, port: int) -> str | None:
    """ "serving" (its log says so), "taken" (it logged the port taken, and serves none) or None."""
    output = consumer.output()
    if f"metrics on http://0.0.0.0:{port}/metrics" in output:
        return "serving"
    if f"metrics port {port}:" in output:
        return "taken"
    assert consumer.proc.poll() is None, f"the consumer exited:\n{output[-3000:]}"
    return None


def _answers(url: str) -> bool:
    try:
        return get(url) == 200
    except OSError:
        return False


def _consumer_health(api, status: str) -> dict | None:
    """The health-check's consumer part once it has `status` (the endpoint answers 200 all along)."""
    request = urllib.request.Request(f"{api.url}/v1/health-check", headers={"Connection": "close"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        consumer = json.load(response)["checks"]["consumer"]
    return consumer if consumer["status"] == status else None


def _alert_state(server: Prometheus, name: str) -> str | None:
    states = [alert["state"] for alert in server.api("alerts")["alerts"] if alert["labels"]["alertname"] == name]
    return states[0] if states else None
