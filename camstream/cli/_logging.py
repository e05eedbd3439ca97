"""Log setup for the CLI: Rich on a terminal, else the plain or JSON lines of camstream/logsetup.py."""

from __future__ import annotations

import logging
import sys

from rich.console import Console

from camstream import logsetup
from camstream.logsetup import JsonFormatter, PlainFormatter

__all__ = ["JsonFormatter", "PlainFormatter", "setup_logging"]


def setup_logging(level: str = "info", json_lines: bool = False, verbose: int = 0, quiet: bool = False,
                  console: Console | None = None) -> None:
    """Configure the root logger once for a CLI invocation."""
    handler: logging.Handler | None = None
    if not json_lines and sys.stderr.isatty():
        from rich.logging import RichHandler

        handler = RichHandler(console=console or Console(stderr=True), show_path=False, rich_tracebacks=False)
    logsetup.setup_logging(level, json_lines, verbose, quiet, handler=handler)
