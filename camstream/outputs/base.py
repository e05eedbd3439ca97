"""The output plug-in interface: sinks an output asks for, and loading plug-ins by entry point."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from camstream.config import Config
from camstream.errors import ConfigError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "camstream.outputs"
# Audio codecs a sink can ask for (camstream/audio.py encodes each needed one once).
AAC = "aac"
OPUS = "opus"


@dataclass(frozen=True)
class Endpoints:
    """Where live outputs publish, resolved by the runner once servers are chosen (plain values, no I/O)."""

    rtsp_publish: str | None = None  # rtsp://... (mediamtx/external) or tcp://127.0.0.1:P (builtin ingest)
    rtmp_publish: str | None = None  # rtmp://host:port/app/key
    segment_list: Path | None = None  # CSV the segment muxer appends to as each chunk closes
    # Every managed server's ingest by role (servers/base.py publish_url), e.g. {"web": "tcp://127.0.0.1:P"}:
    # an output for a new server reads its own role here, so Endpoints needs no new field per server.
    publish: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EncodedSink:
    """A destination for the one H.264 encode: one slave of FFmpeg's tee muxer."""

    name: str
    muxer: str
    target: str
    options: tuple[tuple[str, str], ...] = ()
    # Network peers go through tee's fifo so a stalled peer drops packets instead of stalling the encoder.
    isolate: bool = True
    # In-band SPS/PPS before every keyframe, for muxers without global headers (MPEG-TS).
    inband_headers: bool = False
    # The codec of the sound this sink carries when --audio is on: AAC, or Opus for the web view (WebRTC).
    audio: str = AAC


@dataclass(frozen=True)
class FrameSink:
    """A destination that takes decoded frames through its own filter and encoder (e.g. JPEG snapshots)."""

    name: str
    filter: str
    args: tuple[str, ...] = field(default=())
    target: str = ""
    # With a muxer, the frames are written through a one-slave tee with fifo and onfail=ignore, like the
    # encoded sinks: a failed write (disk full, read-only, unmounted) is retried instead of ending FFmpeg.
    muxer: str = ""
    options: tuple[tuple[str, str], ...] = ()


Sink = EncodedSink | FrameSink


@runtime_checkable
class Output(Protocol):
    """An output plug-in. Register a class under the `camstream.outputs` entry-point group."""

    name: str

    def enabled(self, cfg: Config) -> bool:
        """Whether this output is switched on by the configuration."""
        ...

    def sinks(self, cfg: Config, endpoints: Endpoints) -> list[Sink]:
        """The sinks this output adds to the graph (pure: no I/O)."""
        ...


def load_outputs() -> dict[str, Output]:
    """Every installed output plug-in, by name."""
    found: dict[str, Output] = {}
    from camstream.versions import entry_points  # not importlib.metadata: ~3 MB less in the supervisor

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            plugin = ep.load()()
        except Exception as exc:  # a broken third-party plug-in must not take the core down
            log.warning("output plug-in %s failed to load: %s", ep.name, exc)
            continue
        found[ep.name] = plugin
    return found


def enabled_outputs(cfg: Config, available: dict[str, Output] | None = None) -> list[Output]:
    """The outputs switched on for this run, in a stable order; unknown extra_outputs are an error."""
    available = load_outputs() if available is None else available
    for name in cfg.extra_outputs:
        if name not in available:
            raise ConfigError(
                f"extra_outputs: no output plug-in named {name}: installed are {', '.join(sorted(available))}"
            )
    return [out for name, out in sorted(available.items()) if out.enabled(cfg) or name in cfg.extra_outputs]
