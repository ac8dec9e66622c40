"""One structured line per event: JSON when stderr is not a terminal, readable text when it is.

Call sites pass context through ``extra`` (``log.info("solved", extra={"hash": h})``); every such
field is written into the JSON object, so a target hash can be followed across services.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

# uvicorn adds `color_message`, an ANSI-coloured copy of the message: not for log lines.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extra = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD)
        return f"{base} {extra}" if extra else base


def setup_logging(level: str | None = None, fmt: str | None = None) -> None:
    """Configure the root logger from ``LOG_LEVEL`` and ``LOG_FORMAT`` (``json``, ``text``, ``auto``)."""
    level = (level or os.environ.get("LOG_LEVEL", "INFO")).upper()
    fmt = fmt or os.environ.get("LOG_FORMAT", "auto")
    if fmt == "auto":
        fmt = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
