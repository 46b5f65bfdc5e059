"""Configuration: environment over the YAML file; a bad value names itself (no servers)."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from leaderboard_project.config import Config


def test_defaults_and_environment():
    config = Config({"CONSUMER_BATCH_SIZE": "250"})
    assert config.int("CONSUMER_BATCH_SIZE", 1000, minimum=1) == 250
    assert config.str("NATS_SUBJECT", "CONTRIBUTION_REGISTERED") == "CONTRIBUTION_REGISTERED"


def test_yaml_sections_map_to_settings_and_the_environment_wins(tmp_path):
    path = tmp_path / "leaderboard.yaml"
    path.write_text(
        "nats:\n  subject: FROM_FILE\n  stream: FILE_STREAM\n"
        "consumer:\n  batch_size: 500\n"
        "scoring:\n  pull_request_merged: 20\n"
        "http_server:\n  allowed_hosts: [a.example, b.example]\n  debug: true\n"
    )
    config = Config({"LEADERBOARD_CONFIG": str(path), "NATS_STREAM": "FROM_ENV"})
    assert config.str("NATS_SUBJECT", "x") == "FROM_FILE"
    assert config.str("NATS_STREAM", "x") == "FROM_ENV"
    assert config.int("CONSUMER_BATCH_SIZE", 1000) == 500
    assert config.int("SCORING_PULL_REQUEST_MERGED", 10) == 20
    assert config.list("DJANGO_ALLOWED_HOSTS", []) == ["a.example", "b.example"]
    assert config.bool("DJANGO_DEBUG", False) is True


@pytest.mark.parametrize(
    ("env", "read", "message"),
    [
        ({"CONSUMER_BATCH_SIZE": "many"}, lambda c: c.int("CONSUMER_BATCH_SIZE", 1), "CONSUMER_BATCH_SIZE"),
        ({"CONSUMER_BATCH_SIZE": "0"}, lambda c: c.int("CONSUMER_BATCH_SIZE", 1, minimum=1), "CONSUMER_BATCH_SIZE"),
        ({"DJANGO_DEBUG": "maybe"}, lambda c: c.bool("DJANGO_DEBUG", False), "DJANGO_DEBUG"),
        ({"REDIS_URL": "http://x"}, lambda c: c.url("REDIS_URL", "redis://", ("redis",)), "REDIS_URL"),
        ({"DATABASE_URL": "mysql://x/y"}, lambda c: c.db_url("DATABASE_URL", "postgres://"), "DATABASE_URL"),
        (
            {"CONSUMER_FETCH_TIMEOUT": "-1"},
            lambda c: c.float("CONSUMER_FETCH_TIMEOUT", 1.0, minimum=0.01),
            "CONSUMER_FETCH_TIMEOUT",
        ),
    ],
)
def test_a_bad_value_names_the_setting(env, read, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        read(Config(env))


def test_minimum_and_maximum_are_inclusive_for_ints_and_floats():
    config = Config({"A": "0", "B": "0.0", "C": "10", "D": "2.5"})
    assert config.int("A", 1, minimum=0) == 0
    assert config.float("B", 1.0, minimum=0.0) == 0.0
    assert config.int("C", 1, maximum=10) == 10
    assert config.float("D", 1.0, maximum=2.5) == 2.5
    with pytest.raises(ImproperlyConfigured, match=r"A: 0 is out of range \[1, None\]"):
        config.int("A", 1, minimum=1)
    with pytest.raises(ImproperlyConfigured, match=r"B: 0.0 is out of range \[0.01, None\]"):
        config.float("B", 1.0, minimum=0.01)


def test_a_bad_file_is_named(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("nats:\n  colour: blue\n")
    with pytest.raises(ImproperlyConfigured, match=r"unknown setting nats\.colour"):
        Config({"LEADERBOARD_CONFIG": str(path)})
    with pytest.raises(ImproperlyConfigured, match="LEADERBOARD_CONFIG"):
        Config({"LEADERBOARD_CONFIG": str(tmp_path / "missing.yaml")})


def test_a_bad_setting_stops_a_command_with_its_name():
    import os
    import subprocess
    import sys

    env = {**os.environ, "CONSUMER_BATCH_SIZE": "lots"}
    result = subprocess.run([sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "CONSUMER_BATCH_SIZE" in result.stderr
