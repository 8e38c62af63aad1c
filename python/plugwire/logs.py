"""hclog-style JSON log lines on stderr, the format a plugwire (and go-plugin) host parses
into structured records: ``{"@level", "@message", "@timestamp", "@module", ...fields}``."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import sys
from typing import Any, TextIO

# LogRecord attributes that are not user fields.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


def level_name(levelno: int) -> str:
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warn"
    if levelno >= logging.INFO:
        return "info"
    if levelno >= logging.DEBUG:
        return "debug"
    return "trace"


class HclogFormatter(logging.Formatter):
    """One JSON object per record; ``extra={...}`` members become fields of the record."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "@level": level_name(record.levelno),
            "@message": record.getMessage(),
            "@timestamp": _dt.datetime.fromtimestamp(record.created, _dt.timezone.utc)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "@module": record.name,
        }
        for k, v in vars(record).items():
            if k not in _STANDARD and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["error"] = repr(record.exc_info[1])
            out["stack"] = self.formatException(record.exc_info)
        return json.dumps(out, default=repr, ensure_ascii=False)


class HclogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream or sys.stderr)
        self.setFormatter(HclogFormatter())

    def handleError(self, record: logging.LogRecord) -> None:
        pass  # the host is gone (EPIPE): nothing to report to


def install(level: int = logging.INFO) -> None:
    """Sends the root logger's records to stderr as hclog JSON, unless the application
    configured logging itself."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(HclogHandler())
        root.setLevel(level)
