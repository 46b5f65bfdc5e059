"""Configuration: environment over the YAML file; a bad value names itself (no servers)."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from leaderboard_project.config import DEVELOPMENT_SECRET_KEY, Config, is_local_host


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


def test_grpc_port_defaults_to_rankrs_reads_the_grpc_server_section_and_names_itself(tmp_path):
    from django.conf import settings

    assert settings.GRPC_PORT == 8070  # nothing in the environment names it
    path = tmp_path / "leaderboard.yaml"
    path.write_text("grpc_server:\n  port: 0\n")
    assert Config({"LEADERBOARD_CONFIG": str(path)}).int("GRPC_PORT", 8070, minimum=0, maximum=65535) == 0
    import os
    import subprocess
    import sys

    env = {**os.environ, "GRPC_PORT": "70000"}
    result = subprocess.run([sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "GRPC_PORT: 70000 is out of range [0, 65535]" in result.stderr


def test_a_bad_setting_stops_a_command_with_its_name():
    import os
    import subprocess
    import sys

    env = {**os.environ, "CONSUMER_BATCH_SIZE": "lots"}
    result = subprocess.run([sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "CONSUMER_BATCH_SIZE" in result.stderr


# ---- the secret key: a development key only where it protects nothing


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("api.localhost", True),
        ("", True),  # no host: a Unix socket
        (None, True),
        ("/var/run/postgresql", True),
        ("postgres", False),
        ("10.0.0.5", False),
        ("example.com", False),
        ("*", False),
        (".example.com", False),
    ],
)
def test_local_hosts(host, local):
    assert is_local_host(host) is local


def test_the_secret_key_when_set_is_used():
    assert Config({"DJANGO_SECRET_KEY": "s3cret"}).secret_key(debug=False, local=False) == "s3cret"


@pytest.mark.parametrize(("debug", "local"), [(True, False), (False, True), (True, True)])
def test_unset_the_development_key_serves_debug_or_a_local_service(debug, local, caplog):
    assert Config({}).secret_key(debug=debug, local=local) == DEVELOPMENT_SECRET_KEY
    assert "DJANGO_SECRET_KEY is unset: using a development key" in caplog.text


def test_unset_a_reachable_service_without_debug_refuses_to_start():
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY is not set: it is required when DJANGO_DEBUG"):
        Config({"DJANGO_SECRET_KEY": ""}).secret_key(debug=False, local=False)


def run_check(**env: str):
    import os
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_", "NATS_"))}
    return subprocess.run(
        [sys.executable, "manage.py", "check"], env={**clean, **env}, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    "env",
    [
        {"DJANGO_ALLOWED_HOSTS": "api.example.com"},
        {"DATABASE_URL": "postgres://postgres:pw@postgres:5432/leaderboard"},
        {"REDIS_URL": "redis://redis:6379/0"},
        {"NATS_URL": "nats://nats:4222"},
    ],
)
def test_a_command_without_a_key_beyond_this_machine_stops_with_the_reason(env):
    result = run_check(**env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_with_only_the_defaults_every_command_starts():
    result = run_check()
    assert result.returncode == 0, result.stderr
    assert "using a development key" in result.stderr
    assert run_check(DJANGO_DEBUG="true", DJANGO_ALLOWED_HOSTS="api.example.com").returncode == 0


# ---- behind a TLS proxy


def test_tls_proxy_settings():
    config = Config(
        {
            "DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
            "DJANGO_CSRF_TRUSTED_ORIGINS": "https://scores.example.com,https://admin.example.com:8443",
        }
    )
    assert config.proxy_ssl_header("DJANGO_SECURE_PROXY_SSL_HEADER") == ("HTTP_X_FORWARDED_PROTO", "https")
    assert config.origins("DJANGO_CSRF_TRUSTED_ORIGINS") == [
        "https://scores.example.com",
        "https://admin.example.com:8443",
    ]
    assert Config({}).proxy_ssl_header("DJANGO_SECURE_PROXY_SSL_HEADER") is None
    assert Config({}).origins("DJANGO_CSRF_TRUSTED_ORIGINS") == []


@pytest.mark.parametrize(
    ("env", "read"),
    [
        ({"DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto: https"}, Config.proxy_ssl_header),
        ({"DJANGO_CSRF_TRUSTED_ORIGINS": "scores.example.com"}, Config.origins),
        ({"DJANGO_CSRF_TRUSTED_ORIGINS": "https://scores.example.com/admin"}, Config.origins),
    ],
)
def test_bad_tls_proxy_settings_name_themselves(env, read):
    (name,) = env
    with pytest.raises(ImproperlyConfigured, match=name):
        read(Config(env), name)


def test_notify_targets_are_kind_equals_url_and_the_results_settings_have_specs_defaults():
    config = Config({"LEADERBOARD_NOTIFY_URLS": "slack=https://hooks.example/a, webhook=http://127.0.0.1:9/x"})
    assert config.notify_targets("LEADERBOARD_NOTIFY_URLS") == [
        ("slack", "https://hooks.example/a"),
        ("webhook", "http://127.0.0.1:9/x"),
    ]
    assert Config({}).notify_targets("LEADERBOARD_NOTIFY_URLS") == []
    from django.conf import settings

    assert (settings.RESULTS_TOP_N, settings.LEADERBOARD_NOTIFY_TIMEOUT) == (10, 5.0)


@pytest.mark.parametrize("value", ["teams=https://x.example", "slack", "webhook=ftp://x.example"])
def test_a_bad_notify_target_names_the_setting(value):
    with pytest.raises(ImproperlyConfigured, match="LEADERBOARD_NOTIFY_URLS"):
        Config({"LEADERBOARD_NOTIFY_URLS": value}).notify_targets("LEADERBOARD_NOTIFY_URLS")


def test_the_results_settings_are_read_from_the_yaml_results_section(tmp_path):
    path = tmp_path / "leaderboard.yaml"
    path.write_text("results:\n  grace_seconds: 60\n  top_n: 3\n  notify_urls: discord=https://d.example/h\n")
    config = Config({"LEADERBOARD_CONFIG": str(path)})
    assert config.int("RESULTS_GRACE_SECONDS", 3600) == 60
    assert config.int("RESULTS_TOP_N", 10) == 3
    assert config.notify_targets("LEADERBOARD_NOTIFY_URLS") == [("discord", "https://d.example/h")]
