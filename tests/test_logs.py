"""LOG_FORMAT=json: one JSON object a line, from the formatter and from a real gunicorn (its
error and access logs, and Django's lines in its workers)."""

from __future__ import annotations

import json
import logging
import signal
import urllib.error
import urllib.request

import pytest

from leaderboard_project.logs import JsonLineFormatter


def record(name: str, message: str, args=None, **extra) -> logging.LogRecord:
    made = logging.LogRecord(name, logging.WARNING, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


def test_a_record_is_one_json_line_with_its_extra_fields():
    line = JsonLineFormatter().format(record("leaderboard.consumer", "batch %d", (7,), seq_first=10, seq_last=12))
    assert "\n" not in line
    data = json.loads(line)
    assert data.pop("timestamp").endswith("+00:00")
    assert data == {
        "level": "WARNING",
        "logger": "leaderboard.consumer",
        "message": "batch 7",
        "seq_first": 10,
        "seq_last": 12,
    }


def test_an_exception_stays_on_the_line():
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        made = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, __import__("sys").exc_info())
    line = JsonLineFormatter().format(made)
    assert "\n" not in line
    assert "ValueError: bad\\nthing" in json.loads(line)["exc_info"].replace("\n", "\\n")


def test_a_gunicorn_access_record_gets_the_request_fields():
    atoms = {
        "h": "127.0.0.1",
        "m": "GET",
        "U": "/v1/projects",
        "q": "",
        "H": "HTTP/1.1",
        "s": "200",
        "B": "12",
        "f": "-",
        "a": "curl",
        "D": "1500",
    }
    data = json.loads(JsonLineFormatter().format(record("gunicorn.access", "%(h)s %(m)s", atoms)))
    assert data["message"] == "127.0.0.1 GET"
    assert {k: data[k] for k in ("remote_addr", "method", "path", "status", "response_bytes", "duration_seconds")} == {
        "remote_addr": "127.0.0.1",
        "method": "GET",
        "path": "/v1/projects",
        "status": 200,
        "response_bytes": "12",
        "duration_seconds": 0.0015,
    }
    assert "query" not in data and "referer" not in data


def json_lines(text: str) -> list[dict]:
    """Every line parsed (a line that is not one JSON object fails the test, naming it)."""
    parsed = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
        assert isinstance(value, dict), line
        assert {"timestamp", "level", "logger", "message"} <= value.keys(), line
        parsed.append(value)
    return parsed


@pytest.mark.slow
def test_gunicorn_writes_json_lines_only(spawn_api, ready_boards):
    api = spawn_api(workers=2, LOG_FORMAT="json", HTTP_ACCESS_LOG="true")
    for path, expected in [
        ("/v1/leaderboard/public?limit=3", 200),
        ("/v1/leaderboard/users/9", 404),
        ("/v1/leaderboard/public?limit=0", 400),
    ]:
        try:
            with urllib.request.urlopen(api.url + path, timeout=10) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        assert status == expected
    api.stop()

    access = json_lines(api.stdout_path.read_text())
    requests = [
        (line["method"], line["path"], line["status"]) for line in access if line["logger"] == "gunicorn.access"
    ]
    assert ("GET", "/v1/leaderboard/public", 200) in requests
    assert ("GET", "/v1/leaderboard/users/9", 404) in requests
    assert ("GET", "/v1/leaderboard/public", 400) in requests
    assert all(line["duration_seconds"] >= 0 for line in access if line["logger"] == "gunicorn.access")
    errors = json_lines(api.stderr_path.read_text())
    assert any(line["logger"] == "django.request" and line["status_code"] == 404 for line in errors), errors


@pytest.mark.slow
def test_the_consumer_writes_json_lines_with_each_batch_range_and_each_dead_letter_once(
    ready_boards, nats_names, spawn_consumer
):
    from scoring.event_generator import POISON, GeneratorOptions, events_generate, events_publish
    from tests.fixtures import wait_until_drained

    valid = list(events_generate(GeneratorOptions(count=120, seed=5, duplicates=0, invalid=0)))
    messages = [*valid[:60], POISON[0], *valid[60:], POISON[1], *valid[:10]]  # poison at seq 61 and 122
    consumer = spawn_consumer(LOG_FORMAT="json", CONSUMER_BATCH_SIZE="50")
    events_publish(iter(messages))
    wait_until_drained(nats_names, processes=[consumer])
    consumer.proc.send_signal(signal.SIGTERM)
    assert consumer.wait(30) == 0

    lines = json_lines(consumer.output())
    batches = [line for line in lines if line["message"].startswith("batch ")]
    assert batches
    assert sum(line["received"] for line in batches) == len(messages)
    covered = set()
    for line in batches:
        assert line["message"].startswith(f"batch seq={line['seq_first']}-{line['seq_last']} ")
        assert line["seq_first"] <= line["seq_last"]
        covered.update(range(line["seq_first"], line["seq_last"] + 1))
    assert covered == set(range(1, len(messages) + 1))
    dead = [line for line in lines if line["message"].startswith("dead letter")]
    # Two batch loops: the batch holding 122 may be written before the one holding 61.
    assert sorted((line["stream_sequence"], line["reason"]) for line in dead) == [
        (
            61,
            "undecodable: Error parsing message with type 'contributions.v1.ContributionEvent': "
            "Wire format was corrupt",
        ),
        (122, "id is empty"),
    ]
    assert lines[-1]["message"].startswith(f"consumed {len(messages)} messages in ")


def test_a_flood_of_one_warning_is_cut_and_counted():
    from leaderboard_project.logs import RepeatFilter

    repeats = RepeatFilter()

    def record(level: int, at: float, msg: str = "Unauthorized: %s") -> logging.LogRecord:
        made = logging.LogRecord("django.request", level, __file__, 1, msg, ("/v1/webhooks/github",), None)
        made.created = at
        return made

    minute = 60 * 1_000_000
    passed = [repeats.filter(record(logging.WARNING, minute + i / 100)) for i in range(25)]
    assert passed == [True] * 20 + [False] * 5
    assert repeats.filter(record(logging.WARNING, minute + 1, "another kind")) is True
    assert repeats.filter(record(logging.ERROR, minute + 2)) is True  # errors always
    later = record(logging.WARNING, minute + 60)
    assert repeats.filter(later) is True
    assert later.getMessage() == (
        "Unauthorized: /v1/webhooks/github (5 more like it were not logged in the minute before)"
    )


def test_the_services_own_lines_are_never_cut():
    from leaderboard_project.logs import RepeatFilter

    repeats = RepeatFilter()
    lines = [
        logging.LogRecord("leaderboard.consumer", logging.INFO, __file__, 1, "batch %s", (n,), None) for n in range(50)
    ]
    assert all(repeats.filter(line) for line in lines)
