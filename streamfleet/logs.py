"""Structured logging: one JSON object per line on stderr, tagged with the service name."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from streamfleet import requestid

# LogRecord's own attributes, plus uvicorn's ANSI-coloured duplicate of the message.
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "color_message",
}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(time.time(), 3),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = requestid.current.get()
        if rid is not None:
            out["request_id"] = rid
        # Fields passed through ``extra=`` become top-level keys.
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(service: str, level: str = "info") -> None:
    """Send every logger's records to stderr as JSON lines. Call once, from ``__main__``/CLI."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log duplicates our own request logging.
    logging.getLogger("uvicorn.access").disabled = True
