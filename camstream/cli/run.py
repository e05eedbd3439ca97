"""`camstream run` and `camstream status`: flags translated to config keys, then handed to the core."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from camstream import proc
from camstream.app import check_writable, make_plan, prepare_dirs
from camstream.cli._logging import setup_logging
from camstream.config import Config, load_config, resolution
from camstream.errors import ConfigError, NotRunningError
from camstream.instance import Instance, claim
from camstream.supervise import Status, Supervisor, install_signal_handlers, read_status

# Flag name -> dotted config key. Values arrive as text and are checked by the config parsers, so a bad value
# gets the same one-line error whether it came from a flag, the environment or YAML.
FLAG_KEYS: dict[str, str] = {
    "source": "source",
    "fps": "video.fps",
    "bitrate": "video.bitrate",
    "input_format": "video.input_format",
    "encoder": "video.encoder",
    "preset": "video.preset",
    "profile": "video.profile",
    "gop": "video.gop",
    "rpicam_mode": "rpicam.mode",
    "rotation": "rpicam.rotation",
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
    "audio": "audio.input",
    "audio_rate": "audio.rate",
    "audio_channels": "audio.channels",
    "audio_bitrate": "audio.bitrate",
}
SWITCH_KEYS: dict[str, str] = {
    "rtsp": "rtsp.enabled",
    "rtmp": "rtmp.enabled",
    "record": "record.enabled",
    "snapshots": "snapshots.enabled",
    "clock": "video.clock",
    "hflip": "rpicam.hflip",
    "vflip": "rpicam.vflip",
}


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
    if s.audio:
        a = s.audio
        level = "-" if a.get("level_dbfs") is None else f"{a['level_dbfs']:.1f} dBFS"
        text = f"{a.get('input')} {a.get('codec')} {a.get('state')}, {level}"
        if a.get("last_error"):
            text += f" (last error: {a['last_error']})"
        rows.append(("audio", text))
    for url in s.urls:
        rows.append(("url", url))
    for key, value in rows:
        table.add_row(key, value)
    return table


def print_dry_run(plan: Any) -> None:
    """The exact FFmpeg command (shell-quoted) and every file camstream would write, as plain text."""
    if getattr(plan, "source_argv", None):
        typer.echo("# camera command (its stdout is FFmpeg's stdin)")
        typer.echo(proc.quote(plan.source_argv))
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
        source: str | None = typer.Option(None, help="V4L2 device, rpicam[:N], testsrc, a file path or an FFmpeg URL."),
        resolution: str | None = typer.Option(None, help="WIDTHxHEIGHT, e.g. 1280x720."),
        fps: str | None = typer.Option(None, help="Frames per second."),
        bitrate: str | None = typer.Option(None, help="Bits per second (2000000, 2M, 2000k)."),
        input_format: str | None = typer.Option(None, help="Camera format: auto, mjpeg, yuyv422, h264."),
        encoder: str | None = typer.Option(None, help="auto, libx264, h264_v4l2m2m, h264_vaapi, h264_nvenc."),
        preset: str | None = typer.Option(None, help="libx264 preset: auto, ultrafast ... veryslow."),
        profile: str | None = typer.Option(None, help="H.264 profile: auto, baseline, main, high."),
        gop: str | None = typer.Option(None, help="Seconds between keyframes (default 1)."),
        rpicam_mode: str | None = typer.Option(None, help="Pi camera: auto, yuv (camstream encodes) or h264."),
        rotation: str | None = typer.Option(None, help="Pi camera rotation: 0 or 180."),
        hflip: bool | None = typer.Option(None, "--hflip/--no-hflip", help="Pi camera: mirror left-right."),
        vflip: bool | None = typer.Option(None, "--vflip/--no-vflip", help="Pi camera: flip upside down."),
        server: str | None = typer.Option(None, help="RTMP server URL, e.g. rtmp://host:1935/live (turns RTMP on)."),
        stream_key: str | None = typer.Option(None, help="RTMP stream key (default cam)."),
        rtsp: bool | None = typer.Option(None, "--rtsp/--no-rtsp", help="Live RTSP."),
        rtmp: bool | None = typer.Option(None, "--rtmp/--no-rtmp", help="Live RTMP."),
        record: bool | None = typer.Option(None, "--record/--no-record", help="MP4 chunks on disk."),
        snapshots: bool | None = typer.Option(None, "--snapshots/--no-snapshots", help="JPEG snapshots on disk."),
        clock: bool | None = typer.Option(None, "--clock/--no-clock", help="Stamp frames with the wall clock."),
        rtsp_server: str | None = typer.Option(None, help="auto, builtin, mediamtx or external."),
        rtsp_port: str | None = typer.Option(None, help="RTSP port (default 8554)."),
        rtsp_path: str | None = typer.Option(None, help="RTSP path (default live)."),
        rtsp_url: str | None = typer.Option(None, help="Publish to this external RTSP URL."),
        rtmp_port: str | None = typer.Option(None, help="Managed nginx-rtmp port (default 1935)."),
        rtmp_stat_port: str | None = typer.Option(None, help="Managed nginx-rtmp /stat port on localhost (default 8089)."),
        srt_url: str | None = typer.Option(None, help="Publish MPEG-TS over SRT to this URL."),
        audio: str | None = typer.Option(None, help="Sound: none, source, pulse:NAME, or an ALSA device "
                                         "(default, hw:1,0); see `camstream devices`."),
        audio_rate: str | None = typer.Option(None, help="Audio sample rate in Hz (default 48000)."),
        audio_channels: str | None = typer.Option(None, help="Audio channels: auto (1 for a microphone), 1-8."),
        audio_bitrate: str | None = typer.Option(None, help="AAC bitrate (default 96000)."),
        ssd_path: str | None = typer.Option(None, help="Recording root (SSD_PATH)."),
        latest_dir: str | None = typer.Option(None, help="Where latest_* links go (default <ssd>/drone_temp)."),
        state_dir: str | None = typer.Option(None, help="Runtime state directory."),
        segment_seconds: str | None = typer.Option(None, help="Chunk length in seconds (default 5.5)."),
        snapshot_interval: str | None = typer.Option(None, help="Seconds between snapshots (default 1)."),
        max_age: str | None = typer.Option(None, help="Delete recordings older than this (7d)."),
        max_size: str | None = typer.Option(None, help="Keep recordings under this size (20GB)."),
        min_free: str | None = typer.Option(None, help="Always leave this free on disk (1GB or 5%)."),
        stall_seconds: str | None = typer.Option(None, help="Restart when no frame arrives for this long."),
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
        instance = None
        if not dry_run:
            # Before any port check: a killed earlier instance's children may still hold the ports.
            check_writable(cfg.state_dir, "paths.state_dir")
            instance = claim(cfg.state_dir)
        try:
            plan = make_plan(cfg, dry_run=dry_run)
            if dry_run:
                print_dry_run(plan)
                return
            _run(cfg, plan, duration, Console(), instance)
        finally:
            if instance is not None:
                instance.release()

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


def _run(cfg: Config, plan: Any, duration: float | None, out: Console, instance: Instance | None = None) -> None:
    import logging

    log = logging.getLogger("camstream")
    prepare_dirs(cfg)
    if instance is not None:
        instance.hold()
    # plan.files are shown by --dry-run; each server writes its own file once when it starts (mediamtx.yml
    # holds the read password and is created with mode 0600 there), so nothing is written here.
    from camstream.recordings import recover_partials

    if cfg.record.enabled:
        for saved in recover_partials(cfg.video_dir):
            log.warning("kept the unfinished chunk of an earlier run as %s", saved.name)
    log.info("source %s, encoder %s", plan.source.spec, plan.encoder)
    log.debug("ffmpeg command: %s", proc.quote(plan.argv))
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
