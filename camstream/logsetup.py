"""Log formats for every camstream process: plain timestamped lines (journald-friendly) or JSON; no Rich here.

The long-running service path (camstream/service.py) uses this directly; the CLI adds a Rich handler only when
stderr is a terminal (camstream/cli/_logging.py).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg."""

    def format(self, record: logging.LogRecord) -> str:
        """Render a record as JSON."""
        data = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data)


class PlainFormatter(logging.Formatter):
    """`2026-11-23T18:53:34Z camstream WARNING message`; UTC so logs from several machines line up."""

    converter: Callable[[float | None], time.struct_time] = time.gmtime

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(name)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%SZ")


def level_name(level: str = "info", verbose: int = 0, quiet: bool = False) -> str:
    """The effective level: -v means debug, -q means warning, else the configured level."""
    if verbose:
        return "debug"
    if quiet:
        return "warning"
    return level


def setup_logging(level: str = "info", json_lines: bool = False, verbose: int = 0, quiet: bool = False,
                  handler: logging.Handler | None = None) -> None:
    """Configure the root logger once for a process: the given handler, else JSON or plain lines on stderr."""
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter() if json_lines else PlainFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level_name(level, verbose, quiet).upper())
