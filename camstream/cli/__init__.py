"""Typer CLI: the only package that imports typer or rich; it translates arguments and errors, nothing more."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

from camstream import __version__
from camstream.errors import CamstreamError

app = typer.Typer(
    name="camstream",
    help="One camera in, a clean live stream and a safe local recording out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"camstream {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """camstream: live RTSP/RTMP/SRT plus MP4 chunks and JPEG snapshots from one camera."""


def _register_all() -> None:
    # Each camstream/cli/<name>.py that defines register(app) adds its commands; no central list to edit.
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_all()


def main() -> None:
    """Console entry point: run the app, turning CamstreamError into `error: ...` and its exit code."""
    try:
        # Non-standalone mode returns a command's exit code instead of exiting, so CamstreamError reaches us.
        result = app(standalone_mode=False)
    except CamstreamError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.exceptions.ClickException):
            print(f"error: {exc.format_message()}", file=sys.stderr)
            sys.exit(exc.exit_code)
        raise
    sys.exit(result if isinstance(result, int) else 0)
