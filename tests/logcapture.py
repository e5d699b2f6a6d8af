"""Capturing access-log lines in tests exactly as the JSON formatter writes them (request id included)."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from typing import Any

from streamfleet import accesslog
from streamfleet.logs import JsonFormatter


class _JsonLines(logging.Handler):
    def __init__(self, service: str) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter(service))
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@contextlib.contextmanager
def captured_access_lines(service: str) -> Iterator[list[dict[str, Any]]]:
    """The access lines (INFO and up) logged inside the block, parsed from their JSON."""
    handler = _JsonLines(service)
    logger = logging.getLogger(accesslog.LOGGER)
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
