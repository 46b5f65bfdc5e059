"""The deployment files say what docs/FAILURES.md and README promise (no servers, no Docker):
the image runs the runtime alone as an unprivileged user; compose requires the secrets and runs
Redis without persistence and without eviction."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import yaml

from tests.fixtures import ROOT

DEV_TOOLS = {
    "pytest",
    "pytest-django",
    "pytest-xdist",
    "schemathesis",
    "ruff",
    "grpcio-tools",
    "pyinstrument",
    "py-spy",
}


def pins(path: str) -> dict[str, str]:
    found = {}
    for line in (ROOT / path).read_text().splitlines():
        if line and not line.startswith(("#", "-r ")):
            name, _, version = line.partition("==")
            found[name.lower()] = version
    return found


def test_the_runtime_requirements_hold_no_dev_tool_and_dev_includes_them():
    runtime, dev = pins("requirements.txt"), pins("requirements-dev.txt")
    assert not DEV_TOOLS & set(runtime)
    assert set(dev) >= DEV_TOOLS
    assert not set(runtime) & set(dev)  # each pin in one file
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text().splitlines()
    assert "-r requirements.in" in (ROOT / "requirements-dev.in").read_text().splitlines()


def test_the_image_installs_the_runtime_only_and_runs_unprivileged():
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = re.findall(r"pip install [^\n]*-r (\S+)", dockerfile)
    assert installs == ["requirements.txt"]
    users = re.findall(r"^USER (\S+)", dockerfile, flags=re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert {"tests", "bench", ".venv"} <= set(ignored)


def test_the_image_serves_as_bin_run_does_and_compose_runs_every_process_of_it():
    (cmd,) = re.findall(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), flags=re.MULTILINE)
    image = json.loads(cmd)
    run = (ROOT / "bin" / "run").read_text()
    for flag in ("-c", "--worker-class"):  # the same config file and worker class as make run
        assert image[image.index(flag) + 1] in run, flag
    assert image[image.index("--worker-class") + 1] == "web.worker.StreamingThreadWorker"
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    commands = {" ".join(service.get("command", [])) for service in services.values()}
    assert {"python manage.py consume_contributions", "python manage.py serve_grpc"} <= commands
    assert services["api"]["ulimits"]["nofile"]["soft"] >= 10_000  # STREAMS_TOTAL's descriptors


def test_compose_requires_the_secrets_and_runs_redis_without_persistence_or_eviction():
    text = (ROOT / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    app = compose["x-app"]["environment"]
    assert app["DJANGO_SECRET_KEY"].startswith("${DJANGO_SECRET_KEY:?")
    assert "${POSTGRES_PASSWORD:?" in app["DATABASE_URL"]
    assert compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert "postgres:postgres@" not in text and "change-me" not in text
    command = compose["services"]["redis"]["command"]
    assert command[command.index("--save") + 1] == ""
    assert command[command.index("--appendonly") + 1] == "no"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


def test_the_compose_settings_start_only_with_a_key():
    """The app's environment from compose (hosts postgres, redis, nats): without the key a
    command stops with the reason; with it, it starts."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_", "NATS_"))}
    env.update(
        {
            "DATABASE_URL": "postgres://postgres:pw@postgres:5432/leaderboard",
            "REDIS_URL": "redis://redis:6379/0",
            "NATS_URL": "nats://nats:4222",
            "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1,api",
            "DJANGO_SECURE_PROXY_SSL_HEADER": "",
            "DJANGO_CSRF_TRUSTED_ORIGINS": "",
            "DJANGO_SECURE_COOKIES": "false",
            "DJANGO_SECURE_HSTS_SECONDS": "0",
        }
    )
    check = [sys.executable, "manage.py", "check"]
    refused = subprocess.run(check, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert refused.returncode != 0 and "DJANGO_SECRET_KEY is not set" in refused.stderr
    started = subprocess.run(
        check, cwd=ROOT, env={**env, "DJANGO_SECRET_KEY": "k" * 50}, capture_output=True, text=True, check=False
    )
    assert started.returncode == 0, started.stderr


# The production settings docs/SECURITY.md gives: behind a TLS proxy, on a public host name.
PRODUCTION = {
    "DJANGO_SECRET_KEY": "a-long-random-production-key-" + "x7Qp2" * 10,
    "DJANGO_ALLOWED_HOSTS": "scores.example.com",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://scores.example.com",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    "DJANGO_SECURE_SSL_REDIRECT": "true",
    "DJANGO_SECURE_COOKIES": "true",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "DJANGO_SECURE_HSTS_PRELOAD": "true",
    "TRUSTED_PROXIES": "10.0.0.0/8",
}


def test_check_deploy_is_clean_under_the_production_settings():
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TRUSTED_"))}
    env.update(PRODUCTION, DJANGO_SETTINGS_MODULE="leaderboard_project.settings")
    check = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    result = subprocess.run(check, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
