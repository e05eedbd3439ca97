"""Turn a Config into a runnable plan: source, encoder, servers, endpoints, the FFmpeg argv, and files to write."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camstream import audio as audio_mod
from camstream import encoders, proc, rpicam
from camstream.config import Config
from camstream.errors import CamstreamError, ConfigError
from camstream.graph import build_argv
from camstream.net import check_port_free, free_port, host_addresses
from camstream.outputs.base import EncodedSink, Endpoints, enabled_outputs
from camstream.outputs.rtmp import rtmp_publish_url
from camstream.recordings import ChunkWatcher, SnapshotWatcher
from camstream.retention import Housekeeper
from camstream.sources import Source, SourceKind, classify, passthrough
from camstream.supervise import Pipeline, Server

log = logging.getLogger("camstream")

SEGMENT_LIST = "segments.csv"


@dataclass
class Plan:
    """Everything `camstream run` will do, decided before anything starts (and printed by --dry-run)."""

    cfg: Config
    source: Source
    encoder: str
    argv: list[str]
    servers: list[Server] = field(default_factory=list)
    files: dict[Path, str] = field(default_factory=dict)
    urls: list[str] = field(default_factory=list)
    rtsp_server: str | None = None
    argv_live_only: list[str] | None = None
    # rpicam sources: rpicam-vid's argv; its stdout is piped into FFmpeg's stdin (argv[0] is re-resolved
    # on every start, rpicam-vid else libcamera-vid).
    source_argv: list[str] | None = None
    knobs: encoders.Knobs | None = None
    audio: audio_mod.Feeder | None = None

    def pipeline(self) -> Pipeline:
        """The supervisor's view of this plan, with the disk watchers it needs."""
        cfg = self.cfg
        chunks = ChunkWatcher(cfg.state_dir / SEGMENT_LIST, cfg.video_dir, cfg.latest_dir) \
            if cfg.record.enabled else None
        snaps = SnapshotWatcher(cfg.images_dir, cfg.latest_dir) if cfg.snapshots.enabled else None
        # Retention and the disk-full pause (camstream/retention.py).
        housekeeper = Housekeeper.from_config(cfg) if cfg.record.enabled or cfg.snapshots.enabled else None
        return Pipeline(
            argv=self.argv, argv_live_only=self.argv_live_only, source=self.source,
            encoder=self.encoder, servers=self.servers, housekeeper=housekeeper,
            chunks=chunks, snapshots=snaps, snapshot_interval=cfg.snapshots.interval,
            segment_seconds=cfg.record.segment_seconds, urls=self.urls,
            state_dir=cfg.state_dir, disk_path=cfg.paths.ssd_path, source_argv=self.source_argv,
            camera_probe=self._camera_listed if self.source.kind is SourceKind.RPICAM else None,
            audio_status=self._audio_status(),
        )

    def _camera_listed(self) -> bool:
        """`rpicam-hello --list-cameras` shows this plan's camera (polled while it is unplugged)."""
        try:
            return any(c.index == self.source.camera for c in rpicam.list_cameras())
        except CamstreamError:
            return False

    def _audio_status(self) -> Callable[[], audio_mod.AudioStatus] | None:
        if self.audio is not None:
            return self.audio.status
        if not self.cfg.audio.enabled:
            return None
        fixed = audio_mod.AudioStatus(self.cfg.audio.input, "aac", "live")
        return lambda: fixed


def check_writable(directory: Path, setting: str) -> None:
    """Fail early (exit 2) when recordings could not be written, without creating anything."""
    probe = directory
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{setting}={directory}: not writable: choose a directory you can write to (--ssd-path)")


def choose_rtsp_server(cfg: Config) -> str:
    """auto -> mediamtx when its binary is found, else builtin."""
    if cfg.rtsp.server != "auto":
        return cfg.rtsp.server
    from camstream.servers.mediamtx import find_mediamtx

    return "mediamtx" if find_mediamtx(cfg.rtsp.mediamtx_path or None) else "builtin"


def make_plan(cfg: Config, caps: encoders.Capabilities | None = None, dry_run: bool = False) -> Plan:
    """Decide everything for a run; raise a UsageError (exit 2) for anything the user must fix."""
    source = classify(cfg.source)
    web_view = encoders.web_view_enabled(cfg)
    knobs = encoders.resolve(cfg.video, os.cpu_count() or 1, web_view)
    caps = caps or encoders.detect(cfg.ffmpeg.path, video=cfg.video, knobs=knobs)
    source_argv = None
    if source.kind is SourceKind.RPICAM:
        hardware = caps.usable("h264_v4l2m2m") and cfg.video.encoder in ("auto", "h264_v4l2m2m")
        h264 = rpicam.mode(cfg.rpicam.mode, hardware) == "h264"
        if h264:
            # rpicam-vid's encoder obeys the same hardware limits as FFmpeg's h264_v4l2m2m on a Pi 4.
            encoders.check_limits("h264_v4l2m2m", cfg.video)
        source = dataclasses.replace(source, h264=h264)
        source_argv = rpicam.vid_argv(source, cfg.video, cfg.rpicam, knobs)
    copy = passthrough(source, cfg.video)
    if copy:
        encoder = "copy"
    else:
        encoder = encoders.choose_encoder(cfg.video.encoder, caps)
        if cfg.video.encoder == "auto" and not encoders.fits(encoder, cfg.video):
            log.info("%s cannot take %dx%d@%d at %d bit/s; using libx264", encoder, cfg.video.width,
                     cfg.video.height, cfg.video.fps, cfg.video.bitrate)
            encoder = "libx264"
        encoders.check_limits(encoder, cfg.video)
    if cfg.record.enabled or cfg.snapshots.enabled:
        check_writable(cfg.paths.ssd_path, "SSD_PATH")
    check_writable(cfg.state_dir, "paths.state_dir")

    servers: list[Server] = []
    files: dict[Path, str] = {}
    rtsp_publish = rtmp_publish = None
    rtsp_kind = None
    hosts = host_addresses() or ["127.0.0.1"]
    urls: list[str] = []
    if cfg.rtsp.enabled:
        rtsp_kind = choose_rtsp_server(cfg)
        if rtsp_kind == "builtin":
            from camstream.servers.rtsp_builtin import BuiltinRtspServer, bindings_installed

            ok, why = bindings_installed()
            if not ok:
                raise ConfigError(f"rtsp.server=builtin: {why}")
            if not dry_run:
                check_port_free(cfg.rtsp.address, cfg.rtsp.port, "--rtsp-port or rtsp.port")
            server = BuiltinRtspServer(
                port=cfg.rtsp.port, mount="/" + cfg.rtsp.path, ingest_port=free_port(), address=cfg.rtsp.address,
                user=cfg.rtsp.user or None, password=cfg.rtsp.password or None, state_dir=cfg.state_dir,
                audio=cfg.audio.enabled,
            )
            server.name = "rtsp"  # type: ignore[attr-defined]
            servers.append(server)  # type: ignore[arg-type]
            rtsp_publish = server.ingest_url()
        elif rtsp_kind == "mediamtx":
            from camstream.servers.mediamtx import MediamtxServer

            if not dry_run:
                check_port_free(cfg.rtsp.address, cfg.rtsp.port, "--rtsp-port or rtsp.port")
            mtx = MediamtxServer(cfg.state_dir / "mediamtx", binary=cfg.rtsp.mediamtx_path or None,
                                 rtsp_port=cfg.rtsp.port, path=cfg.rtsp.path,
                                 reader_user=cfg.rtsp.user or None, reader_pass=cfg.rtsp.password or None)
            mtx.name = "rtsp"  # type: ignore[attr-defined]
            files[mtx.conf_path] = mtx.render()
            servers.append(mtx)  # type: ignore[arg-type]
            rtsp_publish = mtx.publish_url()
        else:
            rtsp_publish = cfg.rtsp.url
        if rtsp_kind != "external":
            urls += [f"rtsp://{h}:{cfg.rtsp.port}/{cfg.rtsp.path}" for h in hosts]
        else:
            urls.append(proc.scrub(cfg.rtsp.url))
        log.info("RTSP server: %s", rtsp_kind)
    if cfg.rtmp.enabled:
        if cfg.rtmp.server == "managed":
            from camstream.servers.nginx_rtmp import NginxRtmpServer

            if not dry_run:
                check_port_free("0.0.0.0", cfg.rtmp.port, "--rtmp-port or rtmp.port")
            allow = "all" if cfg.rtmp.allow_publish == "all" else ("127.0.0.1",)
            nginx = NginxRtmpServer(cfg.state_dir / "nginx", port=cfg.rtmp.port, stat_port=cfg.rtmp.stat_port,
                                    allow_publish=allow)
            nginx.name = "rtmp"  # type: ignore[attr-defined]
            files[nginx.conf_path] = nginx.render()
            servers.append(nginx)  # type: ignore[arg-type]
            urls += [f"rtmp://{h}:{cfg.rtmp.port}/live/{cfg.rtmp.stream_key}" for h in hosts]
        else:
            urls.append(proc.scrub(rtmp_publish_url(cfg)))
        rtmp_publish = rtmp_publish_url(cfg)
    if cfg.srt.enabled:
        urls.append(proc.scrub(cfg.srt.url))

    endpoints = Endpoints(rtsp_publish=rtsp_publish, rtmp_publish=rtmp_publish,
                          segment_list=cfg.state_dir / SEGMENT_LIST if cfg.record.enabled else None)
    sinks = [sink for output in enabled_outputs(cfg) for sink in output.sinks(cfg, endpoints)]
    stamp = None
    if cfg.video.clock:
        from camstream.latency import stamp_filter

        stamp = stamp_filter(cfg.video.width, cfg.video.height)
    graph_encoder = "libx264" if copy else encoder
    fifo = str(cfg.state_dir / audio_mod.FIFO_NAME)
    feeder = plan_audio(cfg, source, sinks, servers, dry_run)
    argv = build_argv(cfg, source, graph_encoder, sinks, stamp=stamp, knobs=knobs, audio_fifo=fifo)
    argv_live_only = None
    live_sinks = [s for s in sinks if s.name not in ("record", "snapshots")]
    if (cfg.record.enabled or cfg.snapshots.enabled) and live_sinks:
        argv_live_only = build_argv(cfg, source, graph_encoder, live_sinks, stamp=stamp, knobs=knobs, audio_fifo=fifo)
    return Plan(cfg, source, encoder, argv, servers, files, urls, rtsp_kind, argv_live_only, source_argv, knobs,
                feeder)


def plan_audio(
    cfg: Config, source: Source, sinks: list[Any], servers: list[Server], dry_run: bool
) -> audio_mod.Feeder | None:
    """Check the configured sound input now (exit 2 if unusable) and, for a device, add its feeder."""
    akind = audio_mod.kind(cfg.audio, source.kind is SourceKind.TESTSRC)
    if akind is audio_mod.AudioKind.NONE or not any(isinstance(s, EncodedSink) for s in sinks):
        return None
    if akind is audio_mod.AudioKind.TRACK:
        if source.kind in (SourceKind.V4L2, SourceKind.PIPE, SourceKind.RPICAM):
            raise ConfigError(f"--audio source: {source.spec} is a camera/pipe without sound: give a microphone "
                              "(--audio pulse:NAME or an ALSA device, see `camstream devices`) or --audio none")
        if source.kind is SourceKind.FILE and not has_audio_track(cfg.ffmpeg.path, source.spec):
            raise ConfigError(f"--audio source: {source.spec} has no audio track: use --audio none or a microphone")
        return None
    if akind in (audio_mod.AudioKind.PULSE, audio_mod.AudioKind.ALSA):
        if not dry_run:
            audio_mod.check_device(cfg.ffmpeg.path, cfg.audio)
        feeder = audio_mod.Feeder(cfg.ffmpeg.path, cfg.audio, cfg.state_dir / audio_mod.FIFO_NAME)
        servers.append(feeder)  # type: ignore[arg-type]  # same lifecycle: started once, outlives FFmpeg restarts
        return feeder
    return None


def has_audio_track(ffmpeg: str, path: str) -> bool:
    """Whether a media file has at least one audio stream (ffprobe next to ffmpeg)."""
    ffprobe = os.path.join(os.path.dirname(ffmpeg), "ffprobe") if os.sep in ffmpeg else "ffprobe"
    out = proc.run([ffprobe, "-v", "error", "-select_streams", "a", "-show_entries", "stream=index",
                    "-of", "csv=p=0", path], timeout=20)
    return out.returncode == 0 and bool(out.stdout.strip())


def prepare_dirs(cfg: Config) -> None:
    """Create the directories a run writes into."""
    for directory in (cfg.state_dir,):
        directory.mkdir(parents=True, exist_ok=True)
    if cfg.record.enabled:
        cfg.video_dir.mkdir(parents=True, exist_ok=True)
    if cfg.snapshots.enabled:
        cfg.images_dir.mkdir(parents=True, exist_ok=True)
    if cfg.record.enabled or cfg.snapshots.enabled:
        cfg.latest_dir.mkdir(parents=True, exist_ok=True)
