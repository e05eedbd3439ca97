"""Turn a Config into a runnable plan: source, encoder, servers, endpoints, the FFmpeg argv, and files to write."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from camstream import encoders, proc
from camstream.config import Config
from camstream.errors import ConfigError
from camstream.graph import build_argv
from camstream.net import host_addresses
from camstream.outputs.base import Endpoints, enabled_outputs
from camstream.outputs.rtmp import rtmp_publish_url
from camstream.recordings import ChunkWatcher, SnapshotWatcher
from camstream.retention import Housekeeper
from camstream.sources import Source, classify, passthrough
from camstream.servers.base import ManagedServer
from camstream.servers.mediamtx import choose_rtsp_server
from camstream.servers.registry import SERVERS
from camstream.supervise import Pipeline

log = logging.getLogger("camstream")

SEGMENT_LIST = "segments.csv"


@dataclass
class Plan:
    """Everything `camstream run` will do, decided before anything starts (and printed by --dry-run)."""

    cfg: Config
    source: Source
    encoder: str
    argv: list[str]
    servers: list[ManagedServer] = field(default_factory=list)
    files: dict[Path, str] = field(default_factory=dict)
    urls: list[str] = field(default_factory=list)
    rtsp_server: str | None = None
    argv_live_only: list[str] | None = None

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
            state_dir=cfg.state_dir, disk_path=cfg.paths.ssd_path,
        )


def check_writable(directory: Path, setting: str) -> None:
    """Fail early (exit 2) when recordings could not be written, without creating anything."""
    probe = directory
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{setting}={directory}: not writable: choose a directory you can write to (--ssd-path)")


def make_plan(cfg: Config, caps: encoders.Capabilities | None = None, dry_run: bool = False) -> Plan:
    """Decide everything for a run; raise a UsageError (exit 2) for anything the user must fix."""
    source = classify(cfg.source)
    caps = caps or encoders.detect(cfg.ffmpeg.path)
    copy = passthrough(source, cfg.video)
    encoder = "copy" if copy else encoders.choose_encoder(cfg.video.encoder, caps)
    if cfg.record.enabled or cfg.snapshots.enabled:
        check_writable(cfg.paths.ssd_path, "SSD_PATH")
    check_writable(cfg.state_dir, "paths.state_dir")

    servers: list[ManagedServer] = []
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
    argv = build_argv(cfg, source, graph_encoder, sinks, stamp=stamp)
    argv_live_only = None
    live_sinks = [s for s in sinks if s.name not in ("record", "snapshots")]
    if (cfg.record.enabled or cfg.snapshots.enabled) and live_sinks:
        argv_live_only = build_argv(cfg, source, graph_encoder, live_sinks, stamp=stamp)
    # Viewer URLs grouped by role, in the table's order (then SRT): the order they were always printed in.
    order = dict.fromkeys([*(c.role for c in SERVERS), "rtsp", "rtmp", "srt", *urls])
    viewer_urls = [u for role in order for u in urls.get(role, [])]
    return Plan(cfg, source, encoder, argv, servers, files, viewer_urls, rtsp_kind, argv_live_only)


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
