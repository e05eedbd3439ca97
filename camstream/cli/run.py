"""`camstream run` and `camstream status`: flags translated to config keys, then handed to the core."""

from __future__ import annotations

import json
import os
import shlex
import sys
import threading
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from camstream import proc
from camstream.app import make_plan, prepare_dirs
from camstream.cli._logging import setup_logging
from camstream.config import Config, help_for, load_config, resolution
from camstream.errors import ConfigError, NotRunningError
from camstream.supervise import Status, Supervisor, install_signal_handlers, read_status

# Flag name -> dotted config key. Values arrive as text and are checked by the config parsers, so a bad value
# gets the same one-line error whether it came from a flag, the environment or YAML.
FLAG_KEYS: dict[str, str] = {
    "source": "source",
    "fps": "video.fps",
    "bitrate": "video.bitrate",
    "input_format": "video.input_format",
    "encoder": "video.encoder",
    "server": "rtmp.server",
    "stream_key": "rtmp.stream_key",
    "rtmp_port": "rtmp.port",
    "rtmp_stat_port": "rtmp.stat_port",
    "rtsp_server": "rtsp.server",
    "rtsp_port": "rtsp.port",
    "rtsp_path": "rtsp.path",
    "rtsp_url": "rtsp.url",
    "srt_url": "srt.url",
    "ssd_path": "paths.ssd_path",
    "latest_dir": "paths.latest_dir",
    "state_dir": "paths.state_dir",
    "segment_seconds": "record.segment_seconds",
    "max_age": "record.max_age",
    "max_size": "record.max_size",
    "min_free": "record.min_free",
    "snapshot_interval": "snapshots.interval",
    "stall_seconds": "watchdog.stall_seconds",
}
SWITCH_KEYS: dict[str, str] = {
    "rtsp": "rtsp.enabled",
    "rtmp": "rtmp.enabled",
    "record": "record.enabled",
    "snapshots": "snapshots.enabled",
    "clock": "video.clock",
}


def _help(name: str, extra: str = "") -> str:
    """A run flag's help: the help of the setting it sets (see camstream.config), never a second wording."""
    return help_for(FLAG_KEYS.get(name) or SWITCH_KEYS[name], extra)


def flag_name(name: str) -> str:
    """--flag-name as the user typed it."""
    return "--" + name.replace("_", "-")


def flags_to_settings(values: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """Translate the given (non-None) CLI values into {dotted key: (flag, raw value)} for load_config."""
    out: dict[str, tuple[str, Any]] = {}
    for name, value in values.items():
        if value is None:
            continue
        if name in FLAG_KEYS:
            out[FLAG_KEYS[name]] = (flag_name(name), value)
        elif name in SWITCH_KEYS:
            out[SWITCH_KEYS[name]] = ("--" + ("" if value else "no-") + name.replace("_", "-"), value)
    device = values.get("device")
    if device is not None:
        if values.get("source") is not None:
            raise ConfigError("--device and --source: give only one (--device is the same as --source for a camera)")
        out["source"] = ("--device", device)
    res = values.get("resolution")
    if res is not None:
        try:
            width, height = resolution(res)
        except ValueError as exc:
            raise ConfigError(f"--resolution {res}: {exc}") from None
        out["video.width"] = ("--resolution", width)
        out["video.height"] = ("--resolution", height)
    # The seed's --server URL means "publish RTMP there"; it turns RTMP on unless --no-rtmp says otherwise.
    if values.get("server") is not None and values.get("rtmp") is None:
        out["rtmp.enabled"] = ("--server", True)
    if values.get("srt_url") is not None:
        out["srt.enabled"] = ("--srt-url", True)
    if values.get("rtsp_url") is not None and values.get("rtsp_server") is None:
        out["rtsp.server"] = ("--rtsp-url", "external")
    return out


def _status_table(s: Status) -> Table:
    table = Table(title="camstream", show_header=False, expand=False)
    table.add_column(style="bold")
    table.add_column()
    free = f"{s.disk_free_bytes / 1e9:.1f} GB" if s.disk_free_bytes is not None else "-"
    rows = [
        ("state", s.state), ("source", s.source), ("encoder", s.encoder),
        ("fps", f"{s.fps:.1f}"), ("bitrate", s.bitrate or "-"), ("dropped frames", str(s.dropped_frames)),
        ("uptime", f"{s.uptime:.0f} s"),
        ("restarts", f"{s.restarts}" + (f" (last: {s.last_restart_reason})" if s.last_restart_reason else "")),
        ("viewers", "-" if s.viewers is None else str(s.viewers)), ("disk free", free),
        ("last chunk", os.path.basename(s.last_chunk or "-")), ("last snapshot", os.path.basename(s.last_snapshot or "-")),
    ]
    for url in s.urls:
        rows.append(("url", url))
    for key, value in rows:
        table.add_row(key, value)
    return table


def print_dry_run(plan: Any) -> None:
    """The exact FFmpeg command (shell-quoted) and every file camstream would write, as plain text."""
    typer.echo("# ffmpeg command")
    typer.echo(proc.quote(plan.argv))
    for path, text in plan.files.items():
        typer.echo(f"# file {path}")
        typer.echo(text.rstrip("\n"))


def register(app: typer.Typer) -> None:
    """Add `run` and `status`."""

    @app.command()
    def run(
        config: Path | None = typer.Option(None, "--config", help="YAML config (default ./camstream.yaml, "
                                           "/etc/camstream/camstream.yaml)."),
        device: str | None = typer.Option(None, help="V4L2 camera, e.g. /dev/video0 (same as --source)."),
        source: str | None = typer.Option(None, help=_help("source")),
        resolution: str | None = typer.Option(None, help="WIDTHxHEIGHT, e.g. 1280x720."),
        fps: str | None = typer.Option(None, help=_help("fps")),
        bitrate: str | None = typer.Option(None, help=_help("bitrate")),
        input_format: str | None = typer.Option(None, help=_help("input_format")),
        encoder: str | None = typer.Option(None, help=_help("encoder")),
        server: str | None = typer.Option(None, help=_help("server", "turns RTMP on")),
        stream_key: str | None = typer.Option(None, help=_help("stream_key")),
        rtsp: bool | None = typer.Option(None, "--rtsp/--no-rtsp", help=_help("rtsp")),
        rtmp: bool | None = typer.Option(None, "--rtmp/--no-rtmp", help=_help("rtmp")),
        record: bool | None = typer.Option(None, "--record/--no-record", help=_help("record")),
        snapshots: bool | None = typer.Option(None, "--snapshots/--no-snapshots", help=_help("snapshots")),
        clock: bool | None = typer.Option(None, "--clock/--no-clock", help=_help("clock")),
        rtsp_server: str | None = typer.Option(None, help=_help("rtsp_server")),
        rtsp_port: str | None = typer.Option(None, help=_help("rtsp_port")),
        rtsp_path: str | None = typer.Option(None, help=_help("rtsp_path")),
        rtsp_url: str | None = typer.Option(None, help=_help("rtsp_url")),
        rtmp_port: str | None = typer.Option(None, help=_help("rtmp_port")),
        rtmp_stat_port: str | None = typer.Option(None, help=_help("rtmp_stat_port")),
        srt_url: str | None = typer.Option(None, help=_help("srt_url", "turns SRT on")),
        ssd_path: str | None = typer.Option(None, help=_help("ssd_path")),
        latest_dir: str | None = typer.Option(None, help=_help("latest_dir")),
        state_dir: str | None = typer.Option(None, help=_help("state_dir")),
        segment_seconds: str | None = typer.Option(None, help=_help("segment_seconds")),
        snapshot_interval: str | None = typer.Option(None, help=_help("snapshot_interval")),
        max_age: str | None = typer.Option(None, help=_help("max_age")),
        max_size: str | None = typer.Option(None, help=_help("max_size")),
        min_free: str | None = typer.Option(None, help=_help("min_free")),
        stall_seconds: str | None = typer.Option(None, help=_help("stall_seconds")),
        duration: float | None = typer.Option(None, help="Stop cleanly after this many seconds."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the FFmpeg command and files; start nothing."),
        verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More logging."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Warnings and errors only."),
        log_json: bool = typer.Option(False, "--log-json", help="JSON log lines."),
    ) -> None:
        """Capture, encode once, stream live and record, until stopped."""
        values = dict(locals())
        settings = flags_to_settings(values)
        cfg = load_config(config, flags=settings)
        setup_logging(cfg.log.level, log_json or cfg.log.json, verbose, quiet)
        if duration is not None and duration <= 0:
            raise ConfigError(f"--duration {duration}: expected a positive number of seconds")
        plan = make_plan(cfg, dry_run=dry_run)
        if dry_run:
            print_dry_run(plan)
            return
        _run(cfg, plan, duration, Console())

    @app.command()
    def status(
        config: Path | None = typer.Option(None, "--config", help="YAML config, to find the state directory."),
        state_dir: str | None = typer.Option(None, help="Runtime state directory of the instance."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Show what a running camstream is doing."""
        settings = {"paths.state_dir": ("--state-dir", state_dir)} if state_dir else {}
        cfg = load_config(config, flags=settings)
        data = read_status(cfg.state_dir)
        if data is None:
            raise NotRunningError(f"camstream is not running (no live status in {cfg.state_dir}): "
                                  "start it with `camstream run`")
        if as_json:
            typer.echo(json.dumps(data, indent=1))
            return
        Console().print(_status_table(Status(**data)))


def _run(cfg: Config, plan: Any, duration: float | None, out: Console) -> None:
    import logging

    log = logging.getLogger("camstream")
    prepare_dirs(cfg)
    for path, text in plan.files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    from camstream.recordings import recover_partials

    if cfg.record.enabled:
        for saved in recover_partials(cfg.video_dir):
            log.warning("kept the unfinished chunk of an earlier run as %s", saved.name)
    log.info("source %s, encoder %s", plan.source.spec, plan.encoder)
    log.debug("ffmpeg command: %s", shlex.join(plan.argv))
    for url in plan.urls:
        log.info("viewers: %s", url)
    stop = threading.Event()
    live: Live | None = None
    on_status = None
    if sys.stdout.isatty() and not cfg.log.json:
        live = Live(console=out, refresh_per_second=2, transient=False)
        on_status = lambda s: live.update(_status_table(s))  # noqa: E731 - tiny adapter
    sup = Supervisor(plan.pipeline(), cfg.watchdog, stop, on_status=on_status)
    install_signal_handlers(sup)
    if live:
        with live:
            code = sup.run(duration)
    else:
        code = sup.run(duration)
    raise typer.Exit(code)
