"""The Typer app: every camstream/cli/<name>.py with a register(app) adds its commands; errors become one line."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Sequence

import typer

import camstream.cli as _package
from camstream.cli._version import version_text
from camstream.errors import CamstreamError

app = typer.Typer(
    name="camstream",
    help="One camera in, a clean live stream and a safe local recording out.",
    no_args_is_help=True,
    add_completion=True,  # `camstream --install-completion` (bash, zsh, fish, PowerShell); README "Shell completion"
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Show camstream's version and those of FFmpeg, GStreamer and Python packages."),
) -> None:
    """camstream: live RTSP/RTMP/SRT plus MP4 chunks and JPEG snapshots from one camera."""


def _register_all() -> None:
    # Each camstream/cli/<name>.py that defines register(app) adds its commands; no central list to edit.
    for info in sorted(pkgutil.iter_modules(_package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{_package.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_all()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def usage_line(exc: typer.TyperException) -> str:
    """`<command>: <what was wrong>: <did you mean X? | see --help>` from a usage error of the installed Typer.

    Typer >= 0.29 carries its own copy of Click; every error it shows a user derives from the public
    `typer.TyperException` (message, format_message(), exit_code). A usage error also carries the Click context
    (`ctx`, for the command path); an unknown option carries the library's own close matches (`possibilities`,
    from difflib), an unknown command has Typer's "Did you mean 'x'?" appended to its message.
    """
    ctx = getattr(exc, "ctx", None)
    where = getattr(ctx, "command_path", "") or "camstream"
    possibilities: Sequence[str] | None = getattr(exc, "possibilities", None)
    message = exc.message if possibilities is not None else exc.format_message()
    message, _, typer_hint = message.partition(". Did you mean ")
    # Typer checks choices with pydantic, whose messages start "Value error, ": drop the library's prefix.
    message = _one_line(message).rstrip(".").replace(": Value error, ", ": ")
    message = message[:1].lower() + message[1:]
    if possibilities:
        hint = f"did you mean {possibilities[0]}?"
    elif typer_hint:
        hint = "did you mean " + _one_line(typer_hint).split(",")[0].strip().rstrip("?") + "?"
    else:
        hint = f"see `{where} --help`"
    return f"{where}: {message}: {hint}"


def _is_no_args_help(exc: typer.TyperException) -> bool:
    # `no_args_is_help` (bare `camstream`, `camstream recordings`) raises a usage error after the help was shown;
    # its message is what ctx.get_help() returned: "" when Rich printed the help itself, else the help text.
    return type(exc).__name__ == "NoArgsIsHelpError" or not exc.format_message().strip()


def run_app(args: list[str] | None = None) -> int:
    """Run the Typer app; CamstreamError and usage errors become `error: ...` on stderr. Returns the exit code."""
    try:
        # Non-standalone mode returns a command's exit code instead of exiting, so CamstreamError reaches us.
        result = app(args=args, prog_name="camstream", standalone_mode=False)
    except CamstreamError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        return 130
    except typer.TyperException as exc:
        if _is_no_args_help(exc):
            if exc.message.strip():
                print(exc.message)
            return 2
        print(f"error: {usage_line(exc)}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 2))
    return result if isinstance(result, int) else 0


