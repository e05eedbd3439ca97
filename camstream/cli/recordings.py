"""`camstream recordings list|export|prune`: find, join and prune chunks on disk."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from camstream.cli._logging import setup_logging
from camstream.config import Config, help_for, load_config
from camstream.errors import ConfigError
from camstream.storage.export import TIME_HELP, export, find_chunks, iso, parse_time
from camstream.storage.layout import OVERRIDE_FILE
from camstream.storage.retention import human, prune, write_override

CONFIG_HELP = "YAML config (default ./camstream.yaml, /etc/camstream/camstream.yaml)."
SSD_HELP = help_for("paths.ssd_path", "chunks are in <ssd>/video")


def _config(config: Path | None, **flags: str | None) -> Config:
    keys = {"ssd_path": "paths.ssd_path", "state_dir": "paths.state_dir", "latest_dir": "paths.latest_dir",
            "max_age": "record.max_age", "max_size": "record.max_size", "min_free": "record.min_free"}
    settings = {keys[k]: ("--" + k.replace("_", "-"), v) for k, v in flags.items() if v is not None}
    return load_config(config, flags=settings)


def _video_dir(cfg: Config) -> Path:
    if not cfg.video_dir.is_dir():
        raise ConfigError(f"--ssd-path {cfg.paths.ssd_path}: no recordings there (no video/ folder): "
                          "give the ssd_path camstream run records to")
    return cfg.video_dir


def register(app: typer.Typer) -> None:
    """Add the `recordings` group."""
    rec = typer.Typer(name="recordings", help="List, export and prune recorded chunks.", no_args_is_help=True)
    app.add_typer(rec)

    @rec.command("list")
    def list_(
        config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
        ssd_path: str | None = typer.Option(None, help=SSD_HELP),
        since: str | None = typer.Option(None, help=f"Only chunks ending after this time: {TIME_HELP}."),
        until: str | None = typer.Option(None, help="Only chunks starting before this time."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON (one array of chunks)."),
    ) -> None:
        """Chunks with UTC start, duration and size."""
        cfg = _config(config, ssd_path=ssd_path)
        start = parse_time(since, "--since") if since else None
        end = parse_time(until, "--until") if until else None
        chunks = find_chunks(_video_dir(cfg), start, end)
        if as_json:
            typer.echo(json.dumps([c.to_json() for c in chunks], indent=1))
            return
        table = Table(show_header=True, header_style="bold", box=None)
        for column in ("start (UTC)", "duration", "size", "file"):
            table.add_column(column, justify="right" if column in ("duration", "size") else "left")
        for c in chunks:
            table.add_row(iso(c.start), f"{c.duration:.1f} s", human(c.size),
                          c.path.name + (" (recovered)" if c.recovered else ""))
        out = Console()
        out.print(table)
        total = sum(c.size for c in chunks)
        out.print(f"{len(chunks)} chunks, {sum(c.duration for c in chunks):.0f} s, {human(total)}", highlight=False)

    @rec.command("export")
    def export_(
        start: str = typer.Option(..., "--from", help=f"Start of the range: {TIME_HELP}."),
        end: str = typer.Option(..., "--to", help="End of the range."),
        out: Path = typer.Option(..., "-o", "--output", help="MP4 file to write."),
        config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
        ssd_path: str | None = typer.Option(None, help=SSD_HELP),
        verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More logging."),
    ) -> None:
        """Join the chunks covering a time range into one MP4, without re-encoding."""
        cfg = _config(config, ssd_path=ssd_path)
        setup_logging(cfg.log.level, cfg.log.json, verbose, False)
        t0, t1 = parse_time(start, "--from"), parse_time(end, "--to")
        result = export(_video_dir(cfg), t0, t1, out, cfg.ffmpeg.path)
        note = f", skipping {result.gaps:.0f} s with no recording" if result.gaps >= 1 else ""
        typer.echo(f"wrote {result.out} from {len(result.pieces)} chunks ({iso(t0)} to {iso(t1)}{note})")

    @rec.command("prune")
    def prune_(
        config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
        ssd_path: str | None = typer.Option(None, help=SSD_HELP),
        state_dir: str | None = typer.Option(None, help="State directory (its retention.yaml overrides apply)."),
        latest_dir: str | None = typer.Option(None, help=help_for("paths.latest_dir", "their targets are kept")),
        max_age: str | None = typer.Option(None, help=help_for("record.max_age")),
        max_size: str | None = typer.Option(None, help=help_for("record.max_size")),
        min_free: str | None = typer.Option(None, help=help_for("record.min_free")),
        dry_run: bool = typer.Option(False, "--dry-run", help="Only print what would be deleted."),
        verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More logging."),
    ) -> None:
        """Apply retention now (max_age, max_size, min_free): oldest recordings first."""
        cfg = _config(config, ssd_path=ssd_path, state_dir=state_dir, latest_dir=latest_dir, max_age=max_age,
                      max_size=max_size, min_free=min_free)
        setup_logging(cfg.log.level, cfg.log.json, verbose, False)
        _video_dir(cfg)
        deletions, free = prune(cfg, dry_run=dry_run)
        verb = "would delete" if dry_run else "deleted"
        for d in deletions:
            typer.echo(f"{verb} {d.path} ({human(d.size)}, {d.reason})")
        typer.echo(f"{verb} {len(deletions)} recordings, {human(sum(d.size for d in deletions))}; "
                   f"{human(free)} free{' after' if dry_run else ''}")

    @rec.command("limits")
    def limits(
        config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
        state_dir: str | None = typer.Option(None, help="State directory of the running camstream."),
        max_age: str | None = typer.Option(None, help="Delete recordings older than this (7d); 0 = no limit."),
        max_size: str | None = typer.Option(None, help="Keep recordings under this size (20GB); 0 = no cap."),
        min_free: str | None = typer.Option(None, help="Always leave this free on disk (1GB or 5%); 0 = off."),
        clear: bool = typer.Option(False, "--clear", help="Remove the override: back to the configured limits."),
    ) -> None:
        """Change retention limits of a running camstream without restarting it (<state_dir>/retention.yaml)."""
        cfg = _config(config, state_dir=state_dir)
        file = cfg.state_dir / OVERRIDE_FILE
        if clear:
            file.unlink(missing_ok=True)
            typer.echo(f"removed {file}: the configured limits apply again")
            return
        values = {key: (flag, raw) for key, flag, raw in (("max_age", "--max-age", max_age),
                                                          ("max_size", "--max-size", max_size),
                                                          ("min_free", "--min-free", min_free)) if raw is not None}
        if not values:
            raise ConfigError("recordings limits: nothing to set: give --max-age, --max-size, --min-free or --clear")
        written = write_override(cfg.state_dir, values)
        typer.echo(f"wrote {written}: " + ", ".join(f"{k}={v}" for k, (_, v) in values.items()))
