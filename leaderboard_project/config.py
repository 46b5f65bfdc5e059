"""One reader for every setting: the environment, over an optional YAML file.

`LEADERBOARD_CONFIG` may name a YAML file with the sections `http_server`, `grpc_server`,
`postgres_db`, `redis`, `nats`, `consumer`, `scoring`, `results`, `github`, `limits` and
`admin`; each key in a section maps to one environment variable (see `YAML_KEYS`). The
environment wins over the file. A value that does not parse stops the start with an
`ImproperlyConfigured` naming the variable.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any
from urllib.parse import urlsplit

import environ
import yaml
from django.core.exceptions import ImproperlyConfigured
from redis.connection import parse_url

from scoring.rules import ScoringTable  # pure: the table's defaults are the settings' defaults

# (section, key) in the YAML file -> environment variable.
YAML_KEYS: dict[tuple[str, str], str] = {
    ("http_server", "port"): "HTTP_PORT",
    ("http_server", "allowed_hosts"): "DJANGO_ALLOWED_HOSTS",
    ("http_server", "debug"): "DJANGO_DEBUG",
    ("http_server", "secret_key"): "DJANGO_SECRET_KEY",
    ("http_server", "secure_proxy_ssl_header"): "DJANGO_SECURE_PROXY_SSL_HEADER",
    ("http_server", "csrf_trusted_origins"): "DJANGO_CSRF_TRUSTED_ORIGINS",
    ("http_server", "secure_cookies"): "DJANGO_SECURE_COOKIES",
    ("http_server", "hsts_seconds"): "DJANGO_SECURE_HSTS_SECONDS",
    ("http_server", "microcache_seconds"): "API_MICROCACHE_SECONDS",
    ("http_server", "page_cache_seconds"): "PAGE_CACHE_SECONDS",
    ("http_server", "archive_seconds"): "API_ARCHIVE_SECONDS",
    ("http_server", "archive_max_boards"): "API_ARCHIVE_MAX_BOARDS",
    ("http_server", "statement_timeout_ms"): "API_STATEMENT_TIMEOUT_MS",
    ("http_server", "log_format"): "LOG_FORMAT",  # every process: the API, the consumer, the commands
    ("http_server", "access_log"): "HTTP_ACCESS_LOG",
    ("http_server", "trusted_proxies"): "TRUSTED_PROXIES",
    ("http_server", "header_timeout"): "HTTP_HEADER_TIMEOUT",
    ("http_server", "request_timeout"): "HTTP_REQUEST_TIMEOUT",
    ("http_server", "keepalive"): "HTTP_KEEPALIVE_SECONDS",
    ("http_server", "ssl_redirect"): "DJANGO_SECURE_SSL_REDIRECT",
    ("http_server", "hsts_include_subdomains"): "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS",
    ("http_server", "hsts_preload"): "DJANGO_SECURE_HSTS_PRELOAD",
    ("grpc_server", "port"): "GRPC_PORT",
    ("grpc_server", "processes"): "GRPC_PROCESSES",
    ("postgres_db", "url"): "DATABASE_URL",
    ("redis", "url"): "REDIS_URL",
    ("redis", "sentinels"): "REDIS_SENTINELS",
    ("redis", "sentinel_master"): "REDIS_SENTINEL_MASTER",
    ("nats", "url"): "NATS_URL",
    ("nats", "subject"): "NATS_SUBJECT",
    ("nats", "stream"): "NATS_STREAM",
    ("nats", "durable"): "NATS_DURABLE",
    ("nats", "stream_max_age_days"): "NATS_STREAM_MAX_AGE_DAYS",
    ("nats", "stream_replicas"): "NATS_STREAM_REPLICAS",
    ("consumer", "batch_size"): "CONSUMER_BATCH_SIZE",
    ("consumer", "fetch_timeout"): "CONSUMER_FETCH_TIMEOUT",
    ("consumer", "ack_wait"): "CONSUMER_ACK_WAIT",
    ("consumer", "max_deliver"): "CONSUMER_MAX_DELIVER",
    ("consumer", "sweep_interval"): "CONSUMER_SWEEP_INTERVAL",
    ("consumer", "achievements_interval"): "ACHIEVEMENTS_SWEEP_INTERVAL",
    ("consumer", "fetch_max_bytes"): "CONSUMER_FETCH_MAX_BYTES",
    ("consumer", "metrics_port"): "CONSUMER_METRICS_PORT",
    ("consumer", "health_max_age"): "HEALTH_CONSUMER_MAX_AGE",
    ("consumer", "health_max_pending"): "HEALTH_CONSUMER_MAX_PENDING",
    ("consumer", "retention_daily_days"): "BOARD_RETENTION_DAILY_DAYS",
    ("consumer", "retention_weekly_days"): "BOARD_RETENTION_WEEKLY_DAYS",
    ("consumer", "retention_monthly_days"): "BOARD_RETENTION_MONTHLY_DAYS",
    ("consumer", "snapshot_retention"): "SNAPSHOT_RETENTION",
    ("scoring", "excluded_logins"): "LEADERBOARD_EXCLUDED_LOGINS",
    ("results", "grace_seconds"): "RESULTS_GRACE_SECONDS",
    ("results", "top_n"): "RESULTS_TOP_N",
    ("results", "announce_max_age_days"): "RESULTS_ANNOUNCE_MAX_AGE_DAYS",
    ("results", "notify_urls"): "LEADERBOARD_NOTIFY_URLS",
    ("results", "notify_secret"): "LEADERBOARD_NOTIFY_SECRET",
    ("results", "notify_timeout"): "LEADERBOARD_NOTIFY_TIMEOUT",
    ("results", "public_url"): "LEADERBOARD_PUBLIC_URL",
    ("github", "webhook_secret"): "GITHUB_WEBHOOK_SECRET",
    ("github", "publish_timeout"): "GITHUB_WEBHOOK_PUBLISH_TIMEOUT",
    ("limits", "streams_per_client"): "STREAMS_PER_CLIENT",
    ("limits", "streams_total"): "STREAMS_TOTAL",
    ("limits", "stream_send_timeout"): "STREAM_SEND_TIMEOUT",
    ("limits", "rate_per_second"): "RATE_LIMIT_PER_SECOND",
    ("limits", "rate_burst"): "RATE_LIMIT_BURST",
    ("limits", "webhook_failures_per_minute"): "WEBHOOK_FAILURES_PER_MINUTE",
    ("limits", "webhook_failures_burst"): "WEBHOOK_FAILURES_BURST",
    ("limits", "webhook_throttled_max_bytes"): "WEBHOOK_THROTTLED_MAX_BYTES",
    ("admin", "path"): "ADMIN_PATH",
    ("admin", "session_seconds"): "ADMIN_SESSION_SECONDS",
    ("admin", "login_failures"): "ADMIN_LOGIN_FAILURES",
    ("admin", "lockout_seconds"): "ADMIN_LOCKOUT_SECONDS",
}

# Django's own key for a machine that only talks to itself (SPEC section 6; README, "The secret key").
DEVELOPMENT_SECRET_KEY = "django-insecure-development-key-set-DJANGO_SECRET_KEY-in-production"
LOCAL_NAMES = {"", "localhost"}
NOTIFY_KINDS = (
    "slack",
    "discord",
    "webhook",
)  # SPEC section 14: what a notification target may be  # "": no host, a Unix socket


def is_local_host(host: str | None) -> bool:
    """Whether `host` (a name, an address or a socket path) is this machine."""
    host = (host or "").strip("[]").lower()
    if host in LOCAL_NAMES or host.startswith("/") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# The scoring table (SPEC section 2; its rows and defaults are written once, in scoring/rules.py):
# YAML `scoring.<row>` or env `SCORING_<ROW>`.
SCORING_DEFAULTS: dict[str, int] = {row.name: row.default for row in fields(ScoringTable)}
YAML_KEYS.update({("scoring", row): f"SCORING_{row.upper()}" for row in SCORING_DEFAULTS})


def _yaml_values(path: str) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8") as fh:
            document = yaml.safe_load(fh) or {}
    except OSError as exc:
        raise ImproperlyConfigured(f"LEADERBOARD_CONFIG: cannot read {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ImproperlyConfigured(f"LEADERBOARD_CONFIG: {path} is not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise ImproperlyConfigured(f"LEADERBOARD_CONFIG: {path} must hold a mapping of sections")
    values: dict[str, str] = {}
    for section, body in document.items():
        if not isinstance(body, dict):
            raise ImproperlyConfigured(f"LEADERBOARD_CONFIG: section {section!r} must be a mapping")
        for key, value in body.items():
            name = YAML_KEYS.get((section, key))
            if name is None:
                raise ImproperlyConfigured(f"LEADERBOARD_CONFIG: unknown setting {section}.{key}")
            if isinstance(value, list):
                value = ",".join(str(v) for v in value)
            values[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return values


class Config:
    """Typed access to the merged settings; every failure names its variable."""

    def __init__(self, environment: Mapping[str, str] | None = None) -> None:
        environment = dict(os.environ if environment is None else environment)
        merged: dict[str, str] = {}
        if path := environment.get("LEADERBOARD_CONFIG"):
            merged.update(_yaml_values(path))
        merged.update(environment)
        self.env = environ.Env()
        self.env.ENVIRON = merged

    def _read(self, name: str, reader: Callable[..., Any], default: Any) -> Any:
        try:
            return reader(name, default=default)
        except (ValueError, TypeError, environ.ImproperlyConfigured) as exc:
            raise ImproperlyConfigured(f"{name}: {self.env.ENVIRON.get(name)!r} is not valid ({exc})") from exc

    def str(self, name: str, default: str | None) -> str | None:
        return self._read(name, self.env.str, default)

    def bool(self, name: str, default: bool) -> bool:
        raw = self.env.ENVIRON.get(name)
        if raw is not None and raw.strip().lower() not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
            raise ImproperlyConfigured(f"{name}: {raw!r} is not a boolean (use true or false)")
        return self._read(name, self.env.bool, default)

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = (self.str(name, default) or "").strip().lower()
        if value not in choices:
            raise ImproperlyConfigured(f"{name}: {value!r} is not one of {', '.join(choices)}")
        return value

    def list(self, name: str, default: list[str]) -> list[str]:
        return [item.strip() for item in self._read(name, self.env.list, default) if item.strip()]

    def int(self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
        """An integer within [`minimum`, `maximum`] (both inclusive, either may be None)."""
        return _in_range(name, self._read(name, self.env.int, default), minimum, maximum)

    def float(self, name: str, default: float, *, minimum: float | None = None, maximum: float | None = None) -> float:
        """A number within [`minimum`, `maximum`] (both inclusive, either may be None)."""
        return _in_range(name, self._read(name, self.env.float, default), minimum, maximum)

    def db_url(self, name: str, default: str) -> dict[str, Any]:
        url = self.str(name, default)
        if not url or not url.startswith(("postgres://", "postgresql://", "pgsql://")):
            raise ImproperlyConfigured(f"{name}: {url!r} is not a postgres:// URL")
        return self._read(name, self.env.db_url, default)

    def url(self, name: str, default: str, schemes: tuple[str, ...]) -> str:
        url = self.str(name, default) or ""
        if not url.startswith(tuple(f"{scheme}://" for scheme in schemes)):
            raise ImproperlyConfigured(f"{name}: {url!r} must start with {' or '.join(s + '://' for s in schemes)}")
        return url

    def urls(self, name: str, default: str, schemes: tuple[str, ...]) -> list[str]:
        """A comma-separated list of URLs (one at least), each starting with one of `schemes`."""
        urls = self.list(name, [default])
        if not urls:
            raise ImproperlyConfigured(f"{name}: names no server")
        for url in urls:
            if not url.startswith(tuple(f"{scheme}://" for scheme in schemes)):
                raise ImproperlyConfigured(f"{name}: {url!r} must start with {' or '.join(s + '://' for s in schemes)}")
        return urls

    def host_ports(self, name: str) -> list[tuple[str, int]]:
        """A comma-separated list of `host:port` (`[v6]:port` for an IPv6 address); empty: none."""
        found = []
        for item in self.list(name, []):
            host, _, port = item.rpartition(":")
            host = host.strip("[]")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ImproperlyConfigured(f"{name}: {item!r} is not host:port")
            found.append((host, int(port)))
        return found

    def notify_targets(self, name: str) -> list[tuple[str, str]]:
        """Notification targets as `kind=url` items (comma-separated): [(kind, url)], each kind
        one of NOTIFY_KINDS and each URL http(s)."""
        targets = []
        for item in self.list(name, []):
            kind, _, url = item.partition("=")
            kind, url = kind.strip(), url.strip()
            if kind not in NOTIFY_KINDS or not url.startswith(("http://", "https://")):
                raise ImproperlyConfigured(
                    f"{name}: {item!r} is not kind=url (kind {', '.join(NOTIFY_KINDS)}; url http:// or https://)"
                )
            targets.append((kind, url))
        return targets

    def secret_key(self, *, debug: bool, local: bool) -> str:
        """`DJANGO_SECRET_KEY`; unset, the development key with a warning, but only where that
        key protects nothing: with `DJANGO_DEBUG` true, or when every service and every allowed
        host is this machine (`make run`, the tests). Anywhere else the start stops here."""
        key = self.str("DJANGO_SECRET_KEY", None)
        if key:
            return key
        if not (debug or local):
            raise ImproperlyConfigured(
                "DJANGO_SECRET_KEY is not set: it is required when DJANGO_DEBUG is false and the service "
                "is reachable beyond this machine (DJANGO_ALLOWED_HOSTS) or uses services on other hosts; "
                "set it to a long random value (python -c 'import secrets; print(secrets.token_urlsafe(50))')"
            )
        logging.getLogger("leaderboard").warning(
            "DJANGO_SECRET_KEY is unset: using a development key (allowed only for DEBUG or a service that "
            "runs and answers on this machine alone); set it in production"
        )
        return DEVELOPMENT_SECRET_KEY

    def proxy_ssl_header(self, name: str) -> tuple[str, str] | None:
        """The header a TLS proxy sets to `https` (e.g. `X-Forwarded-Proto`) as Django's
        SECURE_PROXY_SSL_HEADER; unset: none (requests are trusted as they arrive)."""
        header = (self.str(name, "") or "").strip()
        if not header:
            return None
        if not all(part.isalnum() for part in header.split("-")):
            raise ImproperlyConfigured(f"{name}: {header!r} is not a header name (e.g. X-Forwarded-Proto)")
        return "HTTP_" + header.upper().replace("-", "_"), "https"

    def networks(self, name: str) -> list[str]:
        """A list of addresses or networks (`10.0.0.0/8`, `::1`), e.g. the trusted proxies."""
        entries = self.list(name, [])
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ImproperlyConfigured(f"{name}: {entry!r} is not an address or network (10.0.0.0/8)") from None
        return entries

    def url_path(self, name: str, default: str) -> str:
        """A path prefix without a leading slash and with a trailing one (`admin/`)."""
        path = (self.str(name, default) or "").strip().strip("/")
        if not path or not all(part and all(c.isalnum() or c in "-_." for c in part) for part in path.split("/")):
            raise ImproperlyConfigured(f"{name}: {path!r} is not a path (letters, digits, - _ . and /)")
        return path + "/"

    def origins(self, name: str) -> list[str]:
        """A list of origins (`https://host[:port]`), as CSRF_TRUSTED_ORIGINS wants them."""
        origins = self.list(name, [])
        for origin in origins:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
                raise ImproperlyConfigured(f"{name}: {origin!r} is not an origin (https://host[:port])")
        return origins


# The host name django-redis is given for the Sentinel-watched primary: never resolved (the pool
# asks the sentinels for the address), only parsed (scoring/redis_boards/client.py).
SENTINEL_PRIMARY_HOST = "sentinel-primary"


def redis_caches(url: str, sentinels: list[tuple[str, int]], master: str) -> dict[str, dict[str, Any]]:
    """Django's CACHES: django-redis on `url`, or, with `sentinels`, on the primary the sentinels
    name for `master` (SPEC section 16) with `url`'s database and password. Every process's
    Redis client is the pool this builds (`scoring.redis_boards.connection`)."""
    options: dict[str, Any] = {
        "CLIENT_CLASS": "django_redis.client.DefaultClient",
        "SOCKET_CONNECT_TIMEOUT": 2,
        "SOCKET_TIMEOUT": 30,
        "CONNECTION_POOL_KWARGS": {"health_check_interval": 30},
    }
    location: str | list[str] = url
    if sentinels:
        parsed = parse_url(url)
        # One pool, on the primary only: SentinelClient would read from replicas, which lag and
        # keep the boards of a primary that failed over (scoring/redis_boards/client.py).
        location = [f"redis://{SENTINEL_PRIMARY_HOST}/{parsed.get('db', 0)}?is_master=1"]
        for key in ("username", "password"):
            if parsed.get(key):
                options["CONNECTION_POOL_KWARGS"][key] = parsed[key]
        options.update(
            {
                "CLIENT_CLASS": "django_redis.client.SentinelClient",
                "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
                "CONNECTION_POOL_CLASS": "scoring.redis_boards.primary.PrimaryPool",
                "SENTINELS": sentinels,
                "SENTINEL_KWARGS": {"socket_connect_timeout": 2, "socket_timeout": 2},
            }
        )
    cache = {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": location, "OPTIONS": options}
    return {"default": {**cache, "KEY_PREFIX": "cache"}}


def _in_range(name: str, value, minimum, maximum):
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ImproperlyConfigured(f"{name}: {value} is out of range [{minimum}, {maximum}]")
    return value
