"""`camstream run` and `camstream status`: flags translated to config keys, then handed to the core."""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar, cast

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from camstream import proc
from camstream.app import Plan, make_plan
from camstream.cli import replace_process_for_run
from camstream.cli._logging import setup_logging
from camstream.config import SETTINGS, help_for, load_config, resolution
from camstream.errors import ConfigError
from camstream.service import RunSpec, exec_service, serve
from camstream.status import load_status
from camstream.supervise import Status

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
    "web_port": "web.port",
    "web_address": "web.address",
}
SWITCH_KEYS: dict[str, str] = {
    "rtsp": "rtsp.enabled",
    "rtmp": "rtmp.enabled",
    "record": "record.enabled",
    "snapshots": "snapshots.enabled",
    "clock": "video.clock",
    "hflip": "rpicam.hflip",
    "vflip": "rpicam.vflip",
    "web": "web.enabled",
}


# Help panels (`camstream run --help`); the seed's flags end in "(seed)".
SOURCE, ENCODING, LIVE, RECORDING, RETENTION, WATCHDOG, LOGGING, RUNNING = (
    "Source", "Encoding", "Live outputs", "Recording", "Retention", "Watchdog", "Logging", "Run")
SEED = " (seed)"
SEED_EPILOG = ("(seed) marks the flags of the original streamer scripts, kept working. Sizes: 500MB, 20GB, 1TB, "
               "1.5GiB. Durations: 90s, 30m, 12h, 7d, 2w or plain seconds. Settings also come from the YAML file "
               "and CAMSTREAM_<SECTION>_<NAME> variables; `camstream config show` tells which one won.")


def _default(key: str) -> str:
    value = SETTINGS[key].default
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return " Default: on." if value else " Default: off."
    if isinstance(value, Path) and value.is_relative_to(Path.home()):
        value = "~/" + str(value.relative_to(Path.home()))
    return f" Default: {value}."


def _opt(metavar: str, panel: str, help: str = "", key: str | None = None, *, seed: bool = False,
         extra: str = "") -> Any:
    """A text option (checked by the config parsers, so every source gives the same error) with a typed metavar.

    An option that sets one setting takes that setting's own help (config.help_for): one wording, one place."""
    text = help_for(key, extra) + _default(key) if key else help
    return Annotated[Optional[str], typer.Option(  # noqa: UP007 - typer evaluates this at runtime
        metavar=metavar, rich_help_panel=panel, show_default=False, help=text + (SEED if seed else ""))]


def _switch(name: str, panel: str, key: str) -> Any:
    """An on/off option; None when not given, so the YAML/env value stands."""
    return Annotated[Optional[bool], typer.Option(  # noqa: UP007
        f"--{name}/--no-{name}", metavar="", rich_help_panel=panel, show_default=False,
        help=help_for(key) + _default(key))]


# Every option that maps to a config setting, shared by `run` and `install-service` (which writes them into
# /etc/camstream/camstream.yaml). Numeric, size and duration options stay text so the config parsers check them
# and the error names the accepted forms; the metavar says what is expected.
RUN_OPTIONS: dict[str, Any] = {
    "device": _opt("DEVICE", SOURCE, "V4L2 camera, e.g. /dev/video0 (same as --source).", seed=True),
    "source": _opt("SOURCE", SOURCE, key="source"),
    "resolution": _opt("WxH", SOURCE, "WIDTHxHEIGHT, even numbers 16-7680, e.g. 1280x720. Default: 1280x720.",
                       seed=True),
    "input_format": _opt("FORMAT", SOURCE, key="video.input_format", seed=True),
    "fps": _opt("INTEGER", ENCODING, key="video.fps", seed=True),
    "bitrate": _opt("BITRATE", ENCODING, key="video.bitrate", seed=True),
    "encoder": _opt("ENCODER", ENCODING, key="video.encoder", seed=True),
    "preset": _opt("PRESET", ENCODING, key="video.preset"),
    "profile": _opt("PROFILE", ENCODING, key="video.profile"),
    "gop": _opt("SECONDS", ENCODING, key="video.gop"),
    "rpicam_mode": _opt("MODE", SOURCE, key="rpicam.mode"),
    "rotation": _opt("[0|180]", SOURCE, key="rpicam.rotation"),
    "hflip": _switch("hflip", SOURCE, key="rpicam.hflip"),
    "vflip": _switch("vflip", SOURCE, key="rpicam.vflip"),
    "clock": _switch("clock", ENCODING, key="video.clock"),
    "audio": _opt("SPEC", ENCODING, key="audio.input"),
    "audio_rate": _opt("HZ", ENCODING, key="audio.rate"),
    "audio_channels": _opt("auto|1-8", ENCODING, key="audio.channels"),
    "audio_bitrate": _opt("BITRATE", ENCODING, key="audio.bitrate"),
    "rtsp": _switch("rtsp", LIVE, key="rtsp.enabled"),
    "rtsp_server": _opt("SERVER", LIVE, key="rtsp.server"),
    "rtsp_port": _opt("PORT", LIVE, key="rtsp.port"),
    "rtsp_path": _opt("PATH", LIVE, key="rtsp.path"),
    "rtsp_url": _opt("URL", LIVE, key="rtsp.url", extra="turns rtsp.server external"),
    "rtmp": _switch("rtmp", LIVE, key="rtmp.enabled"),
    "server": _opt("URL", LIVE, key="rtmp.server", seed=True, extra="turns RTMP on"),
    "stream_key": _opt("KEY", LIVE, key="rtmp.stream_key", seed=True),
    "rtmp_port": _opt("PORT", LIVE, key="rtmp.port"),
    "rtmp_stat_port": _opt("PORT", LIVE, key="rtmp.stat_port"),
    "srt_url": _opt("URL", LIVE, key="srt.url", extra="turns SRT on"),
    "web": _switch("web", LIVE, key="web.enabled"),
    "web_port": _opt("PORT", LIVE, key="web.port"),
    "web_address": _opt("ADDRESS", LIVE, key="web.address"),
    "record": _switch("record", RECORDING, key="record.enabled"),
    "snapshots": _switch("snapshots", RECORDING, key="snapshots.enabled"),
    "ssd_path": _opt("DIR", RECORDING, key="paths.ssd_path"),
    "latest_dir": _opt("DIR", RECORDING, key="paths.latest_dir"),
    "segment_seconds": _opt("SECONDS", RECORDING, key="record.segment_seconds"),
    "snapshot_interval": _opt("SECONDS", RECORDING, key="snapshots.interval"),
    "max_age": _opt("DURATION", RETENTION, key="record.max_age"),
    "max_size": _opt("SIZE", RETENTION, key="record.max_size"),
    "min_free": _opt("SIZE|PERCENT", RETENTION, key="record.min_free"),
    "stall_seconds": _opt("SECONDS", WATCHDOG, key="watchdog.stall_seconds"),
    "state_dir": _opt("DIR", RUNNING, key="paths.state_dir"),
}

def _show_help(ctx: typer.Context, value: bool) -> None:
    if value:
        text = ctx.get_help()  # Rich prints the help itself and returns ""
        if text:
            typer.echo(text)
        raise typer.Exit()


# --help declared here so it sits in a panel with a blank type column, instead of Typer's own "<bool>" row alone
# in an "Options" panel.
HELP_OPTION = Annotated[bool, typer.Option(
    "--help", metavar="", is_eager=True, expose_value=True, callback=_show_help, rich_help_panel=RUNNING,
    help="Show this message and exit.")]

F = TypeVar("F", bound=Callable[..., Any])


def with_run_options(options: Mapping[str, Any]) -> Callable[[F], F]:
    """Add `options` (name -> annotated typer option) to a command; it receives them through **kwargs.

    One declaration serves `run` and `install-service`, so a new run flag reaches the service installer too.
    """

    def decorate(func: F) -> F:
        sig = inspect.signature(func, eval_str=True)
        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in sig.parameters.values()
               if p.kind is not inspect.Parameter.VAR_KEYWORD]
        extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
                 for name, annotation in options.items()]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return func(*args, **kwargs)

        params = [*extra, *own]
        # typeshed's functools._Wrapped declares no __signature__, but inspect.signature() (and so Typer) reads it.
        wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        # Typer reads both the signature and get_type_hints(); give it evaluated annotations, since the strings
        # of `from __future__ import annotations` would be looked up in this module instead of func's.
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        del wrapper.__wrapped__  # typer must read the new signature, not the wrapped function's
        return cast(F, wrapper)

    return decorate


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


def _by_protocol(counts: dict[str, int]) -> str:
    """' (rtsp 1, webrtc 2)' when viewers are counted per protocol, else ''."""
    return f" ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})" if counts else ""


def _status_table(s: Status) -> Table:
    table = Table(title="camstream", show_header=False, expand=False)
    table.add_column(style="bold")
    table.add_column()
    free = f"{s.disk_free_bytes / 1e9:.1f} GB" if s.disk_free_bytes is not None else "-"
    rows = [
        ("state", s.state), ("source", s.source), ("encoder", s.encoder + (f" ({s.profile})" if s.profile else "")),
        ("fps", f"{s.fps:.1f}"), ("bitrate", s.bitrate or "-"), ("dropped frames", str(s.dropped_frames)),
        ("uptime", f"{s.uptime:.0f} s"),
        ("restarts", f"{s.restarts}" + (f" (last: {s.last_restart_reason})" if s.last_restart_reason else "")),
        ("viewers", "-" if s.viewers is None else str(s.viewers) + _by_protocol(s.viewers_by_protocol)),
        ("disk free", free),
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


def print_dry_run(plan: Plan) -> None:
    """The exact FFmpeg command (shell-quoted) and every file camstream would write, as plain text."""
    if plan.source_argv:
        typer.echo("# camera command (its stdout is FFmpeg's stdin)")
        typer.echo(proc.quote(plan.source_argv))
    typer.echo("# ffmpeg command")
    typer.echo(proc.quote(plan.argv))
    for path, text in plan.files.items():
        typer.echo(f"# file {path}")
        typer.echo(text.rstrip("\n"))


def register(app: typer.Typer) -> None:
    """Add `run` and `status`."""

    @app.command(epilog=SEED_EPILOG)
    @with_run_options(RUN_OPTIONS)
    def run(
        config: Annotated[Optional[Path], typer.Option(  # noqa: UP007 - typer reads the annotation at runtime
            "--config", metavar="FILE", rich_help_panel=SOURCE,
            help="YAML config (default ./camstream.yaml, /etc/camstream/camstream.yaml).")] = None,
        duration: Annotated[Optional[float], typer.Option(  # noqa: UP007
            metavar="SECONDS", rich_help_panel=RUNNING, help="Stop cleanly after this many seconds.")] = None,
        dry_run: Annotated[bool, typer.Option(
            "--dry-run", metavar="", rich_help_panel=RUNNING,
            help="Print the FFmpeg command and files; start nothing.")] = False,
        verbose: Annotated[int, typer.Option(
            "--verbose", "-v", count=True, metavar="", show_default=False, rich_help_panel=LOGGING,
            help="More logging (repeat for more).")] = 0,
        quiet: Annotated[bool, typer.Option(
            "--quiet", "-q", metavar="", rich_help_panel=LOGGING, help="Warnings and errors only.")] = False,
        log_json: Annotated[bool, typer.Option(
            "--log-json", metavar="", rich_help_panel=LOGGING, help="One JSON object per log line.")] = False,
        show_help: HELP_OPTION = False,
        **settings_flags: Any,
    ) -> None:
        """Capture, encode once, stream live and record, until stopped."""
        del show_help  # handled by its callback
        settings = flags_to_settings(settings_flags)
        cfg = load_config(config, flags=settings)
        if duration is not None and duration <= 0:
            raise ConfigError(f"--duration {duration}: expected a positive number of seconds")
        spec = RunSpec(str(config) if config else None, settings, duration, log_json, verbose, quiet)
        panel = sys.stdout.isatty() and not (log_json or cfg.log.json)
        if not dry_run and not panel and replace_process_for_run():
            # The service path (systemd, pipes, --log-json): the supervising process needs neither Typer nor Rich,
            # so this process becomes `python -m camstream.service` (same pid) with the checked settings.
            exec_service(spec)
        setup_logging(cfg.log.level, log_json or cfg.log.json, verbose, quiet)
        if dry_run:
            print_dry_run(make_plan(cfg, dry_run=True))
            return
        if not panel:  # in-process: a test driving the Typer app directly
            raise typer.Exit(serve(spec, cfg))
        live = Live(console=Console(), refresh_per_second=2, transient=False)
        raise typer.Exit(serve(spec, cfg, on_status=lambda s: live.update(_status_table(s)), around=live))

    @app.command()
    def status(
        config: Path | None = typer.Option(None, "--config", help="YAML config, to find the state directory."),
        state_dir: str | None = typer.Option(None, help="Runtime state directory of the instance."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Show what a running camstream is doing."""
        data = load_status(config, state_dir)  # `status --json` is answered by cli/_fast.py without Typer
        if as_json:
            typer.echo(json.dumps(data, indent=1))
            return
        Console().print(_status_table(Status(**data)))
