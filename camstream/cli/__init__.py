"""The `camstream` command: the only package that imports typer or rich; it translates arguments and errors.

This module itself stays lean: `main()` answers what scripts and health checks call often without importing
Typer (see camstream/cli/_fast.py), and hands everything else to the Typer app in camstream/cli/_app.py.
"""

from __future__ import annotations

import sys
from typing import Any


_ENTRY_POINT = False


def replace_process_for_run() -> bool:
    """True when `camstream run` may exec the lean service process: only under main(), never in a test's process."""
    return _ENTRY_POINT


def __getattr__(name: str) -> Any:
    # `from camstream.cli import app` keeps working; Typer is imported only when somebody asks for the app.
    if name == "app":
        from camstream.cli._app import app

        return app
    raise AttributeError(name)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: fast paths first, then the Typer app; `error: ...` and an exit code on failure."""
    global _ENTRY_POINT
    args = sys.argv[1:] if argv is None else argv
    _ENTRY_POINT = True
    from camstream.cli._fast import answer

    code = answer(args)
    if code is not None:
        sys.exit(code)
    from camstream.cli._app import run_app

    sys.exit(run_app(args))
