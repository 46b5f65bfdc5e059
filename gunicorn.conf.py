"""gunicorn's settings for the API, found by gunicorn in the working directory (bin/run, the
container): `gunicorn leaderboard_project.wsgi --bind ... --workers ...`.

The bind address, workers and threads come from the command line. This file gives gunicorn the
service's log format (`LOG_FORMAT`; `HTTP_ACCESS_LOG=true` adds a line per request) and makes
the web metrics count every worker: prometheus-client's multiprocess mode, with each worker
writing its samples to files in `PROMETHEUS_MULTIPROC_DIR` and `/metrics` adding up all the
files. It also bounds what one client may hold (docs/SECURITY.md, "Slow and idle clients"): an
idle kept-alive connection is closed after `HTTP_KEEPALIVE_SECONDS`; a request line, its header
count and each header's size are gunicorn's defaults, said here; a worker holds at most
`worker_connections` connections (the stream worker hands streams off, so they do not count) and
past them leaves new ones in the listen queue. The master sets that directory (its own temporary
one unless one is named) and empties it before the first worker starts, since a file left by an
earlier server would count its requests again; a worker that exits keeps counting (its files
stay) but is marked dead.
"""

import os
import shutil
import tempfile
from pathlib import Path

from leaderboard_project.config import Config
from leaderboard_project.logs import LOG_FORMATS, gunicorn_logging

_config = Config()
_log_format = _config.choice("LOG_FORMAT", "text", LOG_FORMATS)
_access_log = _config.bool("HTTP_ACCESS_LOG", False)
_named_dir = _config.str("PROMETHEUS_MULTIPROC_DIR", None)
_metrics_dir = Path(_named_dir or tempfile.mkdtemp(prefix="leaderboard-web-metrics-"))
# The workers inherit the master's environment; prometheus-client reads it when they import it.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir)

keepalive = _config.int("HTTP_KEEPALIVE_SECONDS", 5, minimum=0)
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
worker_connections = 1000

loglevel = "warning"
if _log_format == "json" or _access_log:
    logconfig_dict = gunicorn_logging(_log_format, access_log=_access_log, level=loglevel.upper())


def on_starting(server) -> None:
    """Before any worker: an empty metrics directory (only the sample files are removed)."""
    _metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in _metrics_dir.glob("*.db"):
        stale.unlink()


def child_exit(server, worker) -> None:
    """A worker is gone: its counters still count; gauges of the `live*` modes forget it."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, path=str(_metrics_dir))


def on_exit(server) -> None:
    if not _named_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
