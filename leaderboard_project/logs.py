"""Log output: readable text (the default) or, with `LOG_FORMAT=json`, one JSON object a line.

Every process shares one logging configuration: Django's (`settings.LOGGING`), the consumer's
(the same, it is a management command) and gunicorn's master and workers (its config file
hands `gunicorn_logging` to `logconfig_dict`). A JSON line holds `timestamp` (UTC, ISO 8601),
`level`, `logger`, `message` and the record's extra fields — the consumer passes a batch's
stream sequence range and counts as extras, so they are fields of their own, not text to parse.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

# gunicorn's access-log atoms (its `%(h)s`-style names) -> our field names.
_ACCESS_FIELDS = {
    "h": "remote_addr",
    "m": "method",
    "U": "path",
    "q": "query",
    "H": "protocol",
    "s": "status",
    "B": "response_bytes",
    "f": "referer",
    "a": "user_agent",
}


class JsonLineFormatter(JsonFormatter):
    """One JSON object a line: timestamp, level, logger, message, then the record's extras.

    gunicorn's access records carry their request as a mapping of atoms in `record.args`;
    those become fields too (method, path, status, duration_seconds...).
    """

    def __init__(self) -> None:
        super().__init__(
            "{levelname}{name}{message}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        log_data["timestamp"] = datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")
        super().add_fields(log_data, record, message_dict)
        if record.name == "gunicorn.access" and isinstance(record.args, Mapping):
            atoms = record.args
            for atom, field in _ACCESS_FIELDS.items():
                value = atoms.get(atom)
                if value not in (None, "-", ""):
                    log_data[field] = value
            if str(atoms.get("s", "")).isdigit():
                log_data["status"] = int(atoms["s"])
            if str(atoms.get("D", "")).isdigit():
                log_data["duration_seconds"] = int(atoms["D"]) / 1e6  # gunicorn's D is microseconds
            log_data.pop("args", None)


def _formatters() -> dict[str, dict[str, Any]]:
    return {
        "text": {"format": TEXT_FORMAT},
        "json": {"()": "leaderboard_project.logs.JsonLineFormatter"},
    }


class RepeatFilter(logging.Filter):
    """At most `PER_MINUTE` lines of one kind (logger and message template) a minute from the
    loggers that write one per refused request (`FLOODED`: Django's 4xx, axes' login failures),
    so that a flood of refused requests (forged webhooks, a login flood) does not flood the log.
    The first of a kind in a new minute says how many were dropped in the last. Errors, and
    every other logger (the service's own lines), always pass."""

    PER_MINUTE = 20
    FLOODED = ("django.request", "django.security", "axes")

    def __init__(self) -> None:
        super().__init__()
        self.window = 0
        self.counts: dict[tuple[str, str], int] = {}
        self.dropped: dict[tuple[str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR or not record.name.startswith(self.FLOODED):
            return True
        window = int(record.created // 60)
        if window != self.window:
            self.window, self.counts = window, {}
        kind = (record.name, str(record.msg))
        seen = self.counts[kind] = self.counts.get(kind, 0) + 1
        if seen > self.PER_MINUTE:
            self.dropped[kind] = self.dropped.get(kind, 0) + 1
            return False
        if dropped := self.dropped.pop(kind, 0):
            record.msg = f"{record.msg} ({dropped} more like it were not logged in the minute before)"
        return True


def django_logging(log_format: str) -> dict[str, Any]:
    """`settings.LOGGING`: warnings and up from everything, info from our own `leaderboard.*`;
    a warning repeated past `RepeatFilter.PER_MINUTE` a minute is dropped (and counted)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": _formatters(),
        "filters": {"repeats": {"()": RepeatFilter}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["repeats"]}},
        "root": {"handlers": ["console"], "level": "WARNING"},
        "loggers": {"leaderboard": {"level": "INFO", "propagate": True}},
    }


def gunicorn_logging(log_format: str, *, access_log: bool, level: str = "WARNING") -> dict[str, Any]:
    """gunicorn's `logconfig_dict`: its error log (to stderr) and, with `access_log`, one line per
    request (to stdout), in the same format as the application's lines."""
    handlers = {
        "console": {"class": "logging.StreamHandler", "formatter": log_format, "stream": "ext://sys.stdout"},
        "error_console": {"class": "logging.StreamHandler", "formatter": log_format, "stream": "ext://sys.stderr"},
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": _formatters(),
        "handlers": handlers,
        "root": {"handlers": ["error_console"], "level": "WARNING"},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["error_console"], "propagate": False},
            "gunicorn.access": {
                "level": "INFO" if access_log else "WARNING",
                "handlers": ["console"],
                "propagate": False,
            },
        },
    }
