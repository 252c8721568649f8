"""Worker log format: Faust's text lines by default, or one JSON object per line (`STREAMPROC_LOG_FORMAT=json`)."""

from __future__ import annotations

from typing import Any

from streamproc.config import Settings

JSON_FIELDS = ["asctime", "levelname", "name", "message", "process", "threadName"]
RENAMED = {"asctime": "time", "levelname": "level", "name": "logger", "threadName": "thread"}


def worker_logging_config(settings: Settings, level: str = "INFO") -> dict[str, Any] | None:
    """A `logging.config.dictConfig` for the Faust worker, or None to keep Faust's text format."""
    if settings.log_format != "json":
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,  # keep the levels set for noisy client libraries
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": " ".join(f"%({name})s" for name in JSON_FIELDS),
                "rename_fields": RENAMED,
                "json_ensure_ascii": False,
            }
        },
        "handlers": {"stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "json"}},
        "root": {"level": level, "handlers": ["stdout"]},
    }
