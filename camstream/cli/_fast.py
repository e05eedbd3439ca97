"""Answers for what scripts and health checks call often, without importing Typer, Rich or pydantic (issue 17).

`camstream --version`, `camstream status --json [--state-dir D] [--config F]` and `camstream --help` cost about a
bare interpreter start instead of ~0.4 s (several seconds on a Pi Zero). Anything else, or any other spelling,
returns None and goes to the Typer app, which stays the one definition of the interface.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

from camstream import __version__
from camstream.errors import CamstreamError

HELP_ARGS = (["--help"],)


def answer(args: list[str]) -> int | None:
    """The exit code when a fast path handled `args`, else None."""
    if args == ["--version"]:
        from camstream.versions import version_report

        print(version_report())
        return 0
    if args[:1] == ["status"] and "--json" in args:
        return _status_json(args[1:])
    if args in HELP_ARGS:
        return _cached_help(args)
    return None


def _status_options(args: list[str]) -> dict[str, str] | None:
    """{"--json": "", "--state-dir": D, "--config": F} for exactly these options, else None (Typer decides)."""
    out: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        if arg == "--json":
            out[arg] = ""
        elif name in ("--state-dir", "--config") and name not in out:
            if not eq:
                if i + 1 >= len(args) or args[i + 1].startswith("-"):
                    return None
                i += 1
                value = args[i]
            out[name] = value
        else:
            return None
        i += 1
    return out


def _status_json(args: list[str]) -> int | None:
    options = _status_options(args)
    if options is None:
        return None
    from camstream.status import load_status

    config = options.get("--config")
    try:
        data = load_status(Path(config) if config else None, options.get("--state-dir"))
    except CamstreamError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    print(json.dumps(data, indent=1))
    return 0


def _help_key(args: list[str]) -> str:
    """What the rendered help depends on: camstream's CLI sources, the library versions, the terminal."""
    cli = Path(__file__).parent
    parts: list[Any] = [__version__, args, sys.version]
    for path in sorted(cli.glob("*.py")):
        st = path.stat()
        parts.append((path.name, st.st_size, st.st_mtime_ns))
    for entry in sys.path:
        try:
            parts += sorted(n for n in os.listdir(entry or ".") if n.startswith(("typer-", "rich-")))
        except OSError:
            continue
    tty = sys.stdout.isatty()
    size = os.get_terminal_size(sys.stdout.fileno()) if tty else None
    parts += [tty, size and tuple(size)] + [os.environ.get(k) for k in
                                            ("COLUMNS", "LINES", "TERM", "COLORTERM", "NO_COLOR", "FORCE_COLOR",
                                             "TTY_COMPATIBLE", "TTY_INTERACTIVE", "_TYPER_FORCE_DISABLE_TERMINAL")]
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "camstream" / "help"


class _Tee(io.TextIOBase):
    """stdout that also keeps a copy, and still looks like the terminal it writes to (Rich asks)."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.copy = io.StringIO()

    def write(self, text: str) -> int:
        self.copy.write(text)
        return int(self.out.write(text))

    def flush(self) -> None:
        self.out.flush()

    def isatty(self) -> bool:
        return bool(self.out.isatty())

    def fileno(self) -> int:
        return int(self.out.fileno())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(self.out.encoding)


def _cached_help(args: list[str]) -> int:
    """Print the help Typer rendered last time for the same sources and terminal; render and keep it otherwise."""
    path: Path | None = None
    text: str | None = None
    try:
        path = _cache_dir() / f"{_help_key(args)}.txt"
        text = path.read_text()
    except (OSError, ValueError):
        pass
    if text is not None:
        sys.stdout.write(text)
        return 0
    from camstream.cli._app import run_app

    tee = _Tee(sys.stdout)
    real, sys.stdout = sys.stdout, tee
    try:
        code = run_app(args)
    finally:
        sys.stdout = real
    if code == 0 and path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(tee.copy.getvalue())
            tmp.replace(path)
        except OSError:
            pass  # no cache (read-only home): every --help renders, nothing else changes
    return code
