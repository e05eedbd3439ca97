"""Log setup for the CLI: rich on a terminal, plain timestamped lines (journald-friendly) otherwise, or JSON."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable

from rich.console import Console
from rich.logging import RichHandler


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


def setup_logging(level: str = "info", json_lines: bool = False, verbose: int = 0, quiet: bool = False,
                  console: Console | None = None) -> None:
    """Configure the root logger once for a CLI invocation."""
    if verbose:
        level = "debug"
    if quiet:
        level = "warning"
    handler: logging.Handler
    if json_lines:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
    elif sys.stderr.isatty():
        handler = RichHandler(console=console or Console(stderr=True), show_path=False, rich_tracebacks=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(PlainFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
