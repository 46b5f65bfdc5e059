"""Django settings. Every value comes through `config.Config` (environment over YAML)."""

import logging
import logging.config
from pathlib import Path
from urllib.parse import urlsplit

from leaderboard_project.config import SCORING_DEFAULTS, Config, is_local_host, redis_caches
from leaderboard_project.logs import LOG_FORMATS, django_logging

BASE_DIR = Path(__file__).resolve().parent.parent
config = Config()

LOG_FORMAT = config.choice("LOG_FORMAT", "text", LOG_FORMATS)
LOGGING = django_logging(LOG_FORMAT)
logging.captureWarnings(LOG_FORMAT == "json")  # Python's warnings as log records: JSON lines too
# Configured now, not only when Django sets up: a warning while the settings load (an unset
# secret key) comes out in LOG_FORMAT too.
logging.config.dictConfig(LOGGING)

DEBUG = config.bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = config.list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1"])
HTTP_PORT = config.int("HTTP_PORT", 8000, minimum=1, maximum=65535)
# gRPC (SPEC section 13, `manage.py serve_grpc` in `make run`): rankr's port; 0 turns it off.
GRPC_PORT = config.int("GRPC_PORT", 8070, minimum=0, maximum=65535)
# serve_grpc's processes on that port (SO_REUSEPORT), as gunicorn's workers: one grpc.aio event
# loop keeps one core busy at about 4,000 GetLeaderboard calls/s (docs/BENCHMARKS.md, "gRPC").
GRPC_PROCESSES = config.int("GRPC_PROCESSES", 2, minimum=1, maximum=64)

# Behind a TLS proxy (README, "Behind a TLS proxy"): the header it sets to https, the origins
# of forms posted through it (the admin), cookies sent over https only, HSTS.
SECURE_PROXY_SSL_HEADER = config.proxy_ssl_header("DJANGO_SECURE_PROXY_SSL_HEADER")
CSRF_TRUSTED_ORIGINS = config.origins("DJANGO_CSRF_TRUSTED_ORIGINS")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = config.bool("DJANGO_SECURE_COOKIES", False)
SECURE_HSTS_SECONDS = config.int("DJANGO_SECURE_HSTS_SECONDS", 0, minimum=0)
# Whether HSTS covers the subdomains and asks for the browsers' preload list: the operator's
# domain's call (docs/SECURITY.md lists the production settings `check --deploy` passes with).
SECURE_HSTS_INCLUDE_SUBDOMAINS = config.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = config.bool("DJANGO_SECURE_HSTS_PRELOAD", False)
# Plain-http requests redirected to https by Django (a proxy usually does it; docs/SECURITY.md).
SECURE_SSL_REDIRECT = config.bool("DJANGO_SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^v1/health-check$", r"^metrics$"]  # probes and scrapes from inside
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Abuse limits (docs/SECURITY.md). Who the client is: the peer, or X-Forwarded-For's last
# untrusted entry when the peer is one of these proxies (guard/client.py).
TRUSTED_PROXIES = config.networks("TRUSTED_PROXIES")
# Open SSE streams and gRPC watches, together: per client address (429 past it) and in all (503).
STREAMS_PER_CLIENT = config.int("STREAMS_PER_CLIENT", 100, minimum=0)
STREAMS_TOTAL = config.int("STREAMS_TOTAL", 10_000, minimum=0)
# A stream whose reader leaves bytes unread this long is cut (checked at each heartbeat).
STREAM_SEND_TIMEOUT = config.float("STREAM_SEND_TIMEOUT", 30.0, minimum=1.0)
# Requests per client address (API, pages, admin), a token bucket in Redis; 0: off.
RATE_LIMIT_PER_SECOND = config.float("RATE_LIMIT_PER_SECOND", 0.0, minimum=0.0)
RATE_LIMIT_BURST = config.int("RATE_LIMIT_BURST", 200, minimum=1)
# GitHub deliveries failing their signature per source address; past them, deliveries larger
# than WEBHOOK_THROTTLED_MAX_BYTES are refused (429) unread. WEBHOOK_FAILURES_BURST=0: off.
WEBHOOK_FAILURES_PER_MINUTE = config.float("WEBHOOK_FAILURES_PER_MINUTE", 60.0, minimum=0.01)
WEBHOOK_FAILURES_BURST = config.int("WEBHOOK_FAILURES_BURST", 100, minimum=0)
WEBHOOK_THROTTLED_MAX_BYTES = config.int("WEBHOOK_THROTTLED_MAX_BYTES", 64 * 1024, minimum=0)
# Slow clients (web/gate.py): a request's head (and a body up to 1 MiB) must be in within this
# many seconds of its connection waiting for it; once a thread has it, its reads and writes
# must be done within HTTP_REQUEST_TIMEOUT. Idle kept-alive connections: gunicorn.conf.py.
HTTP_HEADER_TIMEOUT = config.float("HTTP_HEADER_TIMEOUT", 10.0, minimum=0.5)
HTTP_REQUEST_TIMEOUT = config.float("HTTP_REQUEST_TIMEOUT", 60.0, minimum=1.0)

# The admin: its path, how long a session lasts, and the login throttle (django-axes: per
# address, and per account at each address; docs/SECURITY.md says why not per account alone).
ADMIN_PATH = config.url_path("ADMIN_PATH", "admin/")
SESSION_COOKIE_AGE = config.int("ADMIN_SESSION_SECONDS", 8 * 3600, minimum=60)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
AXES_FAILURE_LIMIT = config.int("ADMIN_LOGIN_FAILURES", 5, minimum=1)
AXES_COOLOFF_TIME = config.int("ADMIN_LOCKOUT_SECONDS", 900, minimum=1) / 3600  # hours, as axes counts
AXES_LOCKOUT_PARAMETERS = ["ip_address", ["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "guard.client.axes_client_ip"
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"  # Redis: shared by the workers, no row per try
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served locally: /v1/docs needs no CDN
    "scoring",
    "snapshots",
    "github",
    "web",
    "rpc",
    "audit",
]

MIDDLEWARE = [
    "leaderboard_project.metrics.RequestMetrics",  # first: it times everything below it
    "guard.middleware.RequestGuard",  # query bounds and request rates, before the cache answers
    "api.cache.ResponseCacheMiddleware",  # what it keeps went through all the others
    "django.middleware.security.SecurityMiddleware",
    "guard.middleware.SecurityHeaders",  # the Content-Security-Policy, kept with cached pages
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]

ROOT_URLCONF = "leaderboard_project.urls"
WSGI_APPLICATION = "leaderboard_project.wsgi.application"
ASGI_APPLICATION = "leaderboard_project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": config.db_url("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/leaderboard")}
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["CONN_MAX_AGE"] = 60
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = config.url("REDIS_URL", "redis://127.0.0.1:6379/0", ("redis", "rediss", "unix"))
# SPEC section 16: with sentinels (`host:port`, comma-separated) the primary of REDIS_SENTINEL_MASTER
# is found through them, and found again after a failover; REDIS_URL gives only the database
# and the password then.
REDIS_SENTINELS = config.host_ports("REDIS_SENTINELS")
REDIS_SENTINEL_MASTER = config.str("REDIS_SENTINEL_MASTER", "leaderboard")
CACHES = redis_caches(REDIS_URL, REDIS_SENTINELS, REDIS_SENTINEL_MASTER)

# One server, or a cluster's (comma-separated): the client connects to any and fails over to
# the others (SPEC section 16).
NATS_SERVERS = config.urls("NATS_URL", "nats://127.0.0.1:4222", ("nats", "tls", "ws", "wss"))
NATS_URL = ",".join(NATS_SERVERS)
NATS_SUBJECT = config.str("NATS_SUBJECT", "CONTRIBUTION_REGISTERED")
NATS_STREAM = config.str("NATS_STREAM", "CONTRIBUTIONS")
NATS_DURABLE = config.str("NATS_DURABLE", "leaderboard-scoring")
NATS_STREAM_MAX_AGE_DAYS = config.int("NATS_STREAM_MAX_AGE_DAYS", 7, minimum=0)
# Copies of the stream and of the durable's state (3 on a three-node JetStream cluster); an
# existing stream with fewer is used but reported in the log at every start.
NATS_STREAM_REPLICAS = config.int("NATS_STREAM_REPLICAS", 1, minimum=1, maximum=5)

# The development key only where it protects nothing: DEBUG, or everything on this machine.
_LOCAL = all(is_local_host(host) for host in ALLOWED_HOSTS) and all(
    is_local_host(host)
    for host in (
        DATABASES["default"].get("HOST"),
        *([host for host, _ in REDIS_SENTINELS] or [urlsplit(REDIS_URL).hostname]),
        *(urlsplit(url).hostname for url in NATS_SERVERS),
    )
)
SECRET_KEY = config.secret_key(debug=DEBUG, local=_LOCAL)

# The consumer: events fetched per batch, seconds to wait for a batch, JetStream ack_wait
# (seconds) and max_deliver (-1: redeliver until acked, so a valid event is never dropped).
# The most messages one batch takes (a quiet stream's batches are smaller: a fetch returns what
# is there). 8,000 rather than 1,000 or 3,000: fewer ZINCRBYs and statements per event, for a
# Lua call that holds Redis ~0.1 s while a backlog drains (docs/BENCHMARKS.md, "The batch size").
CONSUMER_BATCH_SIZE = config.int("CONSUMER_BATCH_SIZE", 8000, minimum=1, maximum=10000)
CONSUMER_FETCH_TIMEOUT = config.float("CONSUMER_FETCH_TIMEOUT", 1.0, minimum=0.01)
CONSUMER_ACK_WAIT = config.int("CONSUMER_ACK_WAIT", 60, minimum=1)
CONSUMER_MAX_DELIVER = config.int("CONSUMER_MAX_DELIVER", -1, minimum=-1)
CONSUMER_SWEEP_INTERVAL = config.float("CONSUMER_SWEEP_INTERVAL", 30.0, minimum=0.01)
# How often the consumer awards streak days and achievements of the rows logged since (how
# fresh a profile's streaks and achievements are).
ACHIEVEMENTS_SWEEP_INTERVAL = config.float("ACHIEVEMENTS_SWEEP_INTERVAL", 2.0, minimum=0.01)
# Bytes per pull request at most (0: no limit), so that a burst of large messages cannot fill
# the memory; a single larger message is still fetched, alone.
CONSUMER_FETCH_MAX_BYTES = config.int("CONSUMER_FETCH_MAX_BYTES", 16 * 1024 * 1024, minimum=0)
# The consumer's /metrics port (0: none); the health-check calls the consumer degraded when its
# heartbeat is older than HEALTH_CONSUMER_MAX_AGE seconds, or more events than
# HEALTH_CONSUMER_MAX_PENDING wait in JetStream.
CONSUMER_METRICS_PORT = config.int("CONSUMER_METRICS_PORT", 9108, minimum=0, maximum=65535)
HEALTH_CONSUMER_MAX_AGE = config.float("HEALTH_CONSUMER_MAX_AGE", 60.0, minimum=0.1)
HEALTH_CONSUMER_MAX_PENDING = config.int("HEALTH_CONSUMER_MAX_PENDING", 10_000, minimum=0)
# Fault injection for the crash tests: "<crash point>[:<nth hit>]" (see scoring/faults.py).
CONSUMER_CRASH_AT = config.str("CONSUMER_CRASH_AT", "")

# How long a period board lives in Redis after its period ends (docs/EXACTLY_ONCE.md).
BOARD_RETENTION_DAYS = {
    "daily": config.int("BOARD_RETENTION_DAILY_DAYS", 35, minimum=1),
    "weekly": config.int("BOARD_RETENTION_WEEKLY_DAYS", 91, minimum=1),
    "monthly": config.int("BOARD_RETENTION_MONTHLY_DAYS", 400, minimum=1),
}
SNAPSHOT_RETENTION = config.int("SNAPSHOT_RETENTION", 3, minimum=1)

SCORING = {row: config.int(f"SCORING_{row.upper()}", points, minimum=0) for row, points in SCORING_DEFAULTS.items()}
# Logins kept off every board like bots (SPEC section 9), compared case-insensitively.
LEADERBOARD_EXCLUDED_LOGINS = config.list("LEADERBOARD_EXCLUDED_LOGINS", [])

# Period results (SPEC section 14, docs/EXACTLY_ONCE.md "Period results"): a period's boards are
# final this long after the period ends; the top this many of each are recorded.
RESULTS_GRACE_SECONDS = config.int("RESULTS_GRACE_SECONDS", 3600, minimum=0)
RESULTS_TOP_N = config.int("RESULTS_TOP_N", 10, minimum=1, maximum=1000)
# A result recorded more than this many days after it became final is not announced (0: every
# result is, as SPEC section 14 asks); for a first run over a long log.
RESULTS_ANNOUNCE_MAX_AGE_DAYS = config.int("RESULTS_ANNOUNCE_MAX_AGE_DAYS", 0, minimum=0)
# Notification targets besides the admin's (comma-separated `kind=url`, kind slack, discord or
# webhook), the secret a webhook's body is signed with, and how long one attempt may take.
LEADERBOARD_NOTIFY_URLS = config.notify_targets("LEADERBOARD_NOTIFY_URLS")
LEADERBOARD_NOTIFY_SECRET = config.str("LEADERBOARD_NOTIFY_SECRET", None)
LEADERBOARD_NOTIFY_TIMEOUT = config.float("LEADERBOARD_NOTIFY_TIMEOUT", 5.0, minimum=0.1)
# Where the pages are served, for the links in a Slack or Discord message.
LEADERBOARD_PUBLIC_URL = config.url("LEADERBOARD_PUBLIC_URL", "http://localhost:8000", ("http", "https"))

# Boards past their retention are aggregated from the log once and kept in Redis this long, at
# most this many of them (docs/API.md, "Expired periods").
API_ARCHIVE_SECONDS = config.int("API_ARCHIVE_SECONDS", 3600, minimum=1)
API_ARCHIVE_MAX_BOARDS = config.int("API_ARCHIVE_MAX_BOARDS", 50, minimum=1)
# Postgres statement_timeout of the web server's sessions, in milliseconds (0: none): a slow
# read is a 503 instead of a query that holds the log for ever (leaderboard_project/wsgi.py).
API_STATEMENT_TIMEOUT_MS = config.int("API_STATEMENT_TIMEOUT_MS", 5000, minimum=0)
# GitHub webhooks (SPEC section 8): the secrets a delivery may be signed with (comma-separated,
# so that one can be rotated) and how long a delivery waits for JetStream's acknowledgement
# before it is answered 503 (GitHub gives up on an answer after 10 s).
GITHUB_WEBHOOK_SECRETS = config.list("GITHUB_WEBHOOK_SECRET", [])
GITHUB_WEBHOOK_PUBLISH_TIMEOUT = config.float("GITHUB_WEBHOOK_PUBLISH_TIMEOUT", 3.0)

# The response cache's policies (api/cache.py), declared by the routes: the API's board reads and
# the contributor pages asked again within this many seconds come from the worker's memory (0: off).
API_MICROCACHE_SECONDS = config.float("API_MICROCACHE_SECONDS", 0.1, minimum=0.0)
# A board page is kept until one of its boards changes, and this many seconds at most (0: off).
PAGE_CACHE_SECONDS = config.float("PAGE_CACHE_SECONDS", 1.0, minimum=0.0)
# The names (login, avatar) on board rows are kept this many seconds by each process (0: a query
# for every board read the response cache does not answer): a rename shows within that.
NAMES_CACHE_SECONDS = config.float("NAMES_CACHE_SECONDS", 60.0, minimum=0.0)

# The live stream (docs/LIVE.md): a comment line this often keeps idle connections open.
STREAM_HEARTBEAT_SECONDS = config.float("STREAM_HEARTBEAT_SECONDS", 15.0)

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "leaderboard_project.exceptions.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Leaderboard Scoring Service",
    "DESCRIPTION": "Real-time contribution leaderboards, each event counted exactly once.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# WhiteNoise also serves the apps' static files where `collectstatic` has not run (tests).
WHITENOISE_USE_FINDERS = True

# Web metrics across gunicorn's workers: prometheus-client's multiprocess mode, on when
# gunicorn.conf.py has named (and emptied) the workers' shared directory.
PROMETHEUS_MULTIPROC_DIR = config.str("PROMETHEUS_MULTIPROC_DIR", None)
