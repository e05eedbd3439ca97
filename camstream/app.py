"""Turn a Config into a runnable plan: source, encoder, servers, endpoints, the FFmpeg argv, and files to write."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from camstream import audio as audio_mod
from camstream import encoders, proc, rpicam
from camstream.config import Config
from camstream.errors import CamstreamError, ConfigError
from camstream.graph import build_argv
from camstream.net import host_addresses
from camstream.outputs.base import EncodedSink, Endpoints, enabled_outputs
from camstream.outputs.rtmp import rtmp_publish_url
from camstream.servers.base import Server
from camstream.servers.mediamtx import choose_rtsp_server
from camstream.servers.registry import SERVERS
from camstream.servers.web import WebServer
from camstream.sources import Source, SourceKind, classify, passthrough
from camstream.storage.layout import SEGMENT_LIST
from camstream.storage.retention import Housekeeper
from camstream.storage.watchers import ChunkWatcher, SnapshotWatcher, recover_partials
from camstream.supervise import Pipeline

if TYPE_CHECKING:
    from camstream.instance import Instance

log = logging.getLogger("camstream")


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
    profile: str = ""  # the H.264 profile in use, in words (status, the page, /metrics, doctor)
    audio_codecs: str = "aac"  # the sound's encodes, e.g. "aac,opus" with the web view (status, /metrics)

    def pipeline(self) -> Pipeline:
        """The supervisor's view of this plan, with the disk watchers it needs."""
        cfg = self.cfg
        chunks = ChunkWatcher(cfg.state_dir / SEGMENT_LIST, cfg.video_dir, cfg.latest_dir) \
            if cfg.record.enabled else None
        snaps = SnapshotWatcher(cfg.images_dir, cfg.latest_dir) if cfg.snapshots.enabled else None
        # Retention and the disk-full pause (camstream/storage/retention.py).
        housekeeper = Housekeeper.from_config(cfg) if cfg.record.enabled or cfg.snapshots.enabled else None
        return Pipeline(
            argv=self.argv, argv_live_only=self.argv_live_only, source=self.source,
            encoder=self.encoder, servers=self.servers, housekeeper=housekeeper,
            chunks=chunks, snapshots=snaps, snapshot_interval=cfg.snapshots.interval,
            segment_seconds=cfg.record.segment_seconds, urls=self.urls,
            state_dir=cfg.state_dir, disk_path=cfg.paths.ssd_path, source_argv=self.source_argv,
            camera_probe=self._camera_listed if self.source.kind is SourceKind.RPICAM else None,
            audio_status=self._audio_status(),
            profile=self.profile,
        )

    def prepare(self, instance: Instance | None = None) -> None:
        """The run's side effects before anything starts: create its folders, lock the state directory
        (`instance.hold()` also stops what a dead instance left running), keep what an earlier crash left of a
        chunk, and log what will run. (Each server writes its own config file when it starts; mediamtx.yml holds
        the read password and is created with mode 0600 there, so plan.files are not written here.)"""
        cfg = self.cfg
        prepare_dirs(cfg)
        if instance is not None:
            instance.hold()  # before recovery: a leftover FFmpeg of a killed run may still write its .part
        if cfg.record.enabled:
            for saved in recover_partials(cfg.video_dir):
                log.warning("kept the unfinished chunk of an earlier run as %s", saved.name)
        log.info("source %s, encoder %s", self.source.spec, self.encoder)
        log.debug("ffmpeg command: %s", proc.quote(self.argv))
        for url in self.urls:
            log.info("viewers: %s", url)

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
        fixed = audio_mod.AudioStatus(self.cfg.audio.input, self.audio_codecs, "live")
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


# -profile:v values of every encoder (libx264/nvenc names, h264_vaapi names, h264_v4l2m2m's numeric
# AVCodecContext.profile: 578 = FF_PROFILE_H264_CONSTRAINED_BASELINE, 66 baseline, 77 main, 100 high).
PROFILE_LABELS = {
    "baseline": "constrained baseline", "constrained_baseline": "constrained baseline", "578": "constrained baseline",
    "66": "baseline", "main": "main", "77": "main", "high": "high", "100": "high",
}


def profile_in_use(argv: list[str], encoder: str, source_argv: list[str] | None = None) -> str:
    """The H.264 profile the commands that will run ask for, in words (FFmpeg's, or rpicam-vid's own encode)."""
    if encoder == "copy":
        if source_argv and "--profile" in source_argv:
            value = source_argv[source_argv.index("--profile") + 1]
            return PROFILE_LABELS.get(value, value)
        return "the source's own (passed through)"
    if "-profile:v" in argv:
        value = argv[argv.index("-profile:v") + 1]
        return PROFILE_LABELS.get(value, value)
    return f"{encoder} default"


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
        if h264 and caps.usable("h264_v4l2m2m"):
            # rpicam-vid on a Pi 4 encodes with the same hardware as FFmpeg's h264_v4l2m2m, with its limits
            # (a Pi 5 encodes in software through libav: no such limits).
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
    hosts = host_addresses() or ["127.0.0.1"]
    publish: dict[str, str] = {}  # role -> where FFmpeg sends that role's stream
    urls: dict[str, list[str]] = {}  # role -> what viewers open
    rtsp_kind = choose_rtsp_server(cfg) if cfg.rtsp.enabled else None
    for server_class in SERVERS:  # servers/registry.py: one line per server
        if not server_class.wanted(cfg):
            continue
        server = server_class.from_config(cfg, dry_run=dry_run)
        servers.append(server)
        files.update(server.files())
        url = server.publish_url()
        if url is not None:
            publish[server.role] = url
        urls.setdefault(server.role, []).extend(server.viewer_urls(hosts))
    # Endpoints camstream does not serve itself: an external RTSP server, an RTMP ingest, an SRT peer.
    if cfg.rtsp.enabled and "rtsp" not in publish:
        publish["rtsp"] = cfg.rtsp.url
        urls.setdefault("rtsp", []).append(proc.scrub(cfg.rtsp.url))
    if cfg.rtmp.enabled and "rtmp" not in publish:
        publish["rtmp"] = rtmp_publish_url(cfg)
        urls.setdefault("rtmp", []).append(proc.scrub(publish["rtmp"]))
    if cfg.srt.enabled:
        urls.setdefault("srt", []).append(proc.scrub(cfg.srt.url))
    if rtsp_kind is not None:
        log.info("RTSP server: %s", rtsp_kind)

    endpoints = Endpoints(rtsp_publish=publish.get("rtsp"), rtmp_publish=publish.get("rtmp"),
                          segment_list=cfg.state_dir / SEGMENT_LIST if cfg.record.enabled else None,
                          publish=publish)
    sinks = [sink for output in enabled_outputs(cfg) for sink in output.sinks(cfg, endpoints)]
    stamp = None
    if cfg.video.clock:
        from camstream.latency import stamp_filter

        stamp = stamp_filter(cfg.video.width, cfg.video.height)
    graph_encoder = "libx264" if copy else encoder
    fifo = str(cfg.state_dir / audio_mod.FIFO_NAME)
    audio_codecs = ",".join(audio_mod.codecs([s for s in sinks if isinstance(s, EncodedSink)])) or "aac"
    feeder = plan_audio(cfg, source, sinks, servers, dry_run, audio_codecs)
    argv = build_argv(cfg, source, graph_encoder, sinks, stamp=stamp, knobs=knobs, audio_fifo=fifo)
    argv_live_only = None
    live_sinks = [s for s in sinks if s.name not in ("record", "snapshots")]
    if (cfg.record.enabled or cfg.snapshots.enabled) and live_sinks:
        argv_live_only = build_argv(cfg, source, graph_encoder, live_sinks, stamp=stamp, knobs=knobs, audio_fifo=fifo)
    # Viewer URLs grouped by role, in the table's order (then SRT): the order they were always printed in.
    # The web page is first in the table: its URL is the first a user sees (issue 13).
    order = dict.fromkeys([*(c.role for c in SERVERS), "rtsp", "rtmp", "srt", *urls])
    viewer_urls = [u for role in order for u in urls.get(role, [])]
    profile = profile_in_use(argv, encoder, source_argv)
    for planned in servers:
        if isinstance(planned, WebServer):
            planned.profile = profile  # the page shows it
    return Plan(cfg, source, encoder, argv, servers, files, viewer_urls, rtsp_kind, argv_live_only, source_argv,
                knobs, feeder, profile, audio_codecs)


def plan_audio(
    cfg: Config, source: Source, sinks: list[Any], servers: list[Server], dry_run: bool, codecs: str = "aac"
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
        feeder = audio_mod.Feeder(cfg.ffmpeg.path, cfg.audio, cfg.state_dir / audio_mod.FIFO_NAME, codecs)
        servers.append(feeder)  # the Server protocol: started once, outlives FFmpeg restarts
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
