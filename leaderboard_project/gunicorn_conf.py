"""gunicorn's settings for the API: `gunicorn -c python:leaderboard_project.gunicorn_conf leaderboard_project.wsgi`.

The bind address, workers and threads come from the command line (bin/run, the Dockerfile).
This file gives gunicorn the service's log format (`LOG_FORMAT`; `HTTP_ACCESS_LOG` adds a
line per request) and keeps the web metrics right across workers: a worker that exits leaves
its counters in `PROMETHEUS_MULTIPROC_DIR` (they still count) and its live gauges are dropped.
"""

from leaderboard_project.config import Config
from leaderboard_project.logs import LOG_FORMATS, gunicorn_logging

_config = Config()
_log_format = _config.choice("LOG_FORMAT", "text", LOG_FORMATS)
_access_log = _config.bool("HTTP_ACCESS_LOG", False)

loglevel = "warning"
if _log_format == "json" or _access_log:
    logconfig_dict = gunicorn_logging(_log_format, access_log=_access_log, level=loglevel.upper())


def child_exit(server, worker) -> None:
    """A worker is gone: mark its multiprocess files dead (gauges of mode `live*` forget it)."""
    if _config.str("PROMETHEUS_MULTIPROC_DIR", None):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
