"""`camstream config show` / `config check FILE`: the effective settings and where each came from; a file's errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from camstream import proc
from camstream.cli.run import HELP_OPTION, RUN_OPTIONS, RUNNING, flags_to_settings, with_run_options
from camstream.config import DEFAULT_SOURCE, SETTINGS, MinFree, get, load_config
from camstream.errors import ConfigError

SECRET_SUFFIXES = ("password",)


def show_value(key: str, value: Any) -> str:
    """One setting's value as text: what YAML would hold; secrets hidden, URL credentials scrubbed."""
    if value is None or value == "":
        return ""
    if key.endswith(SECRET_SUFFIXES):
        return "***"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, MinFree):
        return "0" if not value.bytes and not value.percent else str(value)
    return proc.scrub(str(value))


def rows(cfg: Any, sources: dict[str, str]) -> list[tuple[str, str, str]]:
    """(key, value, source) for every setting, in the order of config/camstream.example.yaml."""
    return [(key, show_value(key, get(cfg, key)), sources.get(key, DEFAULT_SOURCE)) for key in SETTINGS]


def register(app: typer.Typer) -> None:
    """Add the `config` command group."""
    group = typer.Typer(help="Settings: the effective values and where each came from (show); check a file (check).",
                        no_args_is_help=True)
    app.add_typer(group, name="config")

    @group.command("show", epilog="Precedence: flags > environment > YAML file > defaults. Source column: "
                   "default, FILE:LINE, env NAME or flag --name.")
    @with_run_options(RUN_OPTIONS)
    def show(
        config: Annotated[Optional[Path], typer.Option(  # noqa: UP007 - typer reads the annotation at runtime
            "--config", metavar="FILE", rich_help_panel=RUNNING,
            help="YAML config (default ./camstream.yaml, /etc/camstream/camstream.yaml).")] = None,
        as_json: Annotated[bool, typer.Option(
            "--json", metavar="", rich_help_panel=RUNNING, help="Print JSON: [{key, value, source}].")] = False,
        changed: Annotated[bool, typer.Option(
            "--changed", metavar="", rich_help_panel=RUNNING,
            help="Only settings that are not at their default.")] = False,
        show_help: HELP_OPTION = False,
        **flags: Any,
    ) -> None:
        """Every setting's effective value, as `camstream run` with the same flags would use it, and its source."""
        del show_help  # handled by its callback
        sources: dict[str, str] = {}
        cfg = load_config(config, flags=flags_to_settings(flags), sources=sources)
        table = [r for r in rows(cfg, sources) if not changed or r[2] != DEFAULT_SOURCE]
        if as_json:
            typer.echo(json.dumps([{"key": k, "value": v, "source": s} for k, v, s in table], indent=1))
            return
        width_key = max((len(k) for k, _v, _s in table), default=3)
        width_value = min(max((len(v) for _k, v, _s in table), default=5), 40)
        for key, value, source in table:
            typer.echo(f"{key.ljust(width_key)}  {value.ljust(width_value)}  {source}".rstrip())

    @group.command("check")
    def check(
        file: Annotated[Path, typer.Argument(metavar="FILE", help="camstream YAML file to check.")],
    ) -> None:
        """Check a YAML file alone (no environment, no flags): known keys, allowed values, consistent settings.

        Prints `FILE: ok` and exits 0, or one `error: FILE:LINE: ...` line and exits 2.
        """
        if not file.is_file():
            raise ConfigError(f"{file}: no such file: give the path of a camstream YAML file")
        sources: dict[str, str] = {}
        load_config(file, env={}, search_defaults=False, sources=sources)
        count = sum(1 for s in sources.values() if s != DEFAULT_SOURCE)
        typer.echo(f"{file}: ok ({count} setting{'s' if count != 1 else ''} set, the rest at their defaults)")
