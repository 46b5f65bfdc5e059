"""GET /metrics on the web server: requests by route name and status, latency histograms, and
the figures of every gunicorn worker (a real gunicorn with two workers)."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from leaderboard_project.metrics import REQUEST_DURATION, REQUESTS


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """{(sample name, labels): value} of a Prometheus text exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def requests_counted(text: str, route: str, status: str, method: str = "GET") -> float:
    key = ("http_requests_total", frozenset({"route": route, "status": status, "method": method}.items()))
    return samples(text).get(key, 0.0)


def get(url: str) -> int:
    request = urllib.request.Request(url, headers={"Connection": "close"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_requests_are_counted_by_route_name_never_by_path(client, ready_boards):
    before = REQUESTS.labels("user-standing", "GET", "404")._value.get()
    latency_before = REQUEST_DURATION.labels("user-standing", "GET")._sum.get()
    for user in (1, 2, 3):  # three paths, one route
        assert client.get(f"/v1/leaderboard/users/{user}").status_code == 404
    assert client.get("/v1/no-such-thing").status_code == 404

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    assert requests_counted(text, "user-standing", "404") == before + 3
    assert requests_counted(text, "unmatched", "404") >= 1
    assert "/v1/leaderboard/users/1" not in text
    assert REQUEST_DURATION.labels("user-standing", "GET")._sum.get() > latency_before
    histogram = samples(text)
    bucket = (
        "http_request_duration_seconds_bucket",
        frozenset({"route": "user-standing", "method": "GET", "le": "+Inf"}.items()),
    )
    count = ("http_request_duration_seconds_count", frozenset({"route": "user-standing", "method": "GET"}.items()))
    assert histogram[bucket] == histogram[count] >= 3


def test_a_micro_cached_answer_is_counted_under_its_route(client, ready_boards, settings):
    settings.API_MICROCACHE_SECONDS = 60
    before = REQUESTS.labels("board-page", "GET", "200")._value.get()
    for _ in range(3):  # the first is computed, the next two come from the cache
        assert client.get("/v1/leaderboard/public?limit=7").status_code == 200
    assert REQUESTS.labels("board-page", "GET", "200")._value.get() == before + 3


@pytest.mark.slow
def test_every_gunicorn_worker_is_counted(spawn_api, ready_boards, tmp_path):
    metrics_dir = tmp_path / "web-metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left by an earlier server")  # emptied at start
    api = spawn_api(workers=2, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    url = f"{api.url}/v1/leaderboard/public?limit=5"

    sent, statuses = 0, []
    lock = threading.Lock()

    def client() -> None:
        for _ in range(25):
            status = get(url)
            with lock:
                statuses.append(status)

    # Rounds of concurrent clients on fresh connections, until both workers have answered some.
    for _ in range(20):
        threads = [threading.Thread(target=client) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        sent += 8 * 25
        if len(list(metrics_dir.glob("counter_*.db"))) == 2:
            break
    workers = {path.name for path in metrics_dir.glob("counter_*.db")}
    assert len(workers) == 2 and "counter_999999.db" not in workers, workers
    assert statuses == [200] * sent

    # Each scrape lands on one worker or the other; every one of them reads the sum of both.
    for _ in range(6):
        with urllib.request.urlopen(f"{api.url}/metrics", timeout=10) as response:
            text = response.read().decode()
        assert requests_counted(text, "board-page", "200") == sent
    count = ("http_request_duration_seconds_count", frozenset({"route": "board-page", "method": "GET"}.items()))
    assert samples(text)[count] == sent
