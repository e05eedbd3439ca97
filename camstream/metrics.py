"""Prometheus text exposition of a running camstream: pure rendering from the status file and a few readings.

Series are `camstream_`-prefixed, with units in their names (Prometheus naming conventions). The text format is
the one described in https://prometheus.io/docs/instrumenting/exposition_formats/ (version 0.0.4).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
THERMAL_ROOT = Path("/sys/class/thermal")


@dataclass
class Readings:
    """What /metrics needs besides the status file: measured in the web process when it is scraped."""

    now: float = field(default_factory=time.time)
    last_chunk_mtime: float | None = None
    last_snapshot_mtime: float | None = None
    temperatures: dict[str, float] = field(default_factory=dict)  # thermal zone type -> degrees Celsius
    profile: str = ""  # the H.264 profile in use, e.g. "constrained baseline"


def soc_temperatures(root: Path = THERMAL_ROOT) -> dict[str, float]:
    """Degrees Celsius per thermal zone (by its `type`), where the board exposes /sys/class/thermal."""
    out: dict[str, float] = {}
    try:
        zones = sorted(root.glob("thermal_zone*"))
    except OSError:
        return out
    for zone in zones:
        try:
            millis = int((zone / "temp").read_text().strip())
            kind = (zone / "type").read_text().strip() or zone.name
        except (OSError, ValueError):
            continue  # some zones refuse reads (EINVAL/ENODATA) while their sensor is off
        name = kind if kind not in out else f"{kind}_{zone.name}"
        out[name] = millis / 1000.0
    return out


def _escape(value: str) -> str:
    # Label values escape backslash, double quote and line feed (exposition format, "Text format details").
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help: str, samples: list[tuple[Mapping[str, str], float]]) -> None:
        full = f"camstream_{name}"
        self.lines.append(f"# HELP {full} {help}")
        self.lines.append(f"# TYPE {full} {kind}")
        suffix = "_total" if kind == "counter" else ""
        for labels, value in samples:
            text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            self.lines.append(f"{full}{suffix}{{{text}}} {_number(value)}" if text else
                              f"{full}{suffix} {_number(value)}")

    def one(self, name: str, kind: str, help: str, value: float | None) -> None:
        if value is not None:
            self.family(name, kind, help, [({}, value)])


REASON_KINDS: tuple[tuple[str, str], ...] = (
    (r"^ffmpeg exited", "ffmpeg_exited"),
    (r"^stalled", "stalled"),
    (r"^no frame within", "no_first_frame"),
    (r"^source .* disappeared", "source_lost"),
    (r"^recording stalled", "recording_stalled"),
    (r"^snapshots stalled", "snapshots_stalled"),
    (r"^\S+ server did not come back", "server_failed"),
    (r"^\S+ server exited", "server_exited"),
)


def reason_kind(reason: str) -> str:
    """A restart reason reduced to a small fixed vocabulary, fit for a label (no numbers, no paths)."""
    for pattern, kind in REASON_KINDS:
        if re.search(pattern, reason):
            return kind
    return "other"


def render(status: Mapping[str, Any] | None, readings: Readings) -> str:
    """The whole /metrics page; `status` is the JSON of `camstream status --json` (None: not running)."""
    w = _Writer()
    running = status is not None and status.get("state") == "running"
    w.one("up", "gauge", "1 while the pipeline is running (FFmpeg up and producing frames)", 1 if running else 0)
    for zone, celsius in sorted(readings.temperatures.items()):
        w.family("soc_temperature_celsius", "gauge", "SoC temperature by thermal zone",
                 [({"zone": zone}, celsius)])
    if status is None:
        return "\n".join(w.lines) + "\n"
    s = status
    w.family("info", "gauge", "constant 1, with the source, encoder, H.264 profile and state as labels",
             [({"source": str(s.get("source", "")), "encoder": str(s.get("encoder", "")),
                "profile": readings.profile or str(s.get("profile") or ""), "state": str(s.get("state", ""))}, 1)])
    w.one("uptime_seconds", "gauge", "seconds since camstream started", _num(s.get("uptime")))
    w.one("frames", "counter", "frames encoded by the current FFmpeg run", _num(s.get("frames")))
    w.one("fps", "gauge", "frames per second FFmpeg reports", _num(s.get("fps")))
    w.one("dropped_frames", "counter", "frames FFmpeg dropped in the current run", _num(s.get("dropped_frames")))
    w.one("bitrate_bits_per_second", "gauge", "measured bitrate of the encode (from landed chunks or the ingest)",
          _num(s.get("bitrate_bps")))
    by_protocol = s.get("viewers_by_protocol") or {}
    if isinstance(by_protocol, dict) and by_protocol:
        w.family("viewers", "gauge", "viewers watching now, by protocol",
                 [({"protocol": str(p)}, float(n)) for p, n in sorted(by_protocol.items()) if _num(n) is not None])
    w.one("restarts", "counter", "pipeline restarts since camstream started", _num(s.get("restarts")))
    reasons = s.get("restart_reasons") or {}
    if isinstance(reasons, dict) and reasons:
        w.family("restart_reasons", "counter", "pipeline restarts by reason",
                 [({"reason": str(r)}, float(n)) for r, n in sorted(reasons.items()) if _num(n) is not None])
    w.one("recording_paused", "gauge", "1 while recording is paused because the disk is full",
          1 if s.get("recording_paused") else 0)
    w.one("disk_not_answering", "gauge", "1 while the recording disk holds FFmpeg's writes (live goes on)",
          1 if s.get("disk_not_answering") else 0)
    w.one("disk_free_bytes", "gauge", "free bytes on the recording disk", _num(s.get("disk_free_bytes")))
    _audio(w, s.get("audio"))
    if readings.last_chunk_mtime is not None:
        w.one("seconds_since_last_chunk", "gauge", "seconds since the newest MP4 chunk was finished",
              max(0.0, round(readings.now - readings.last_chunk_mtime, 3)))
    if readings.last_snapshot_mtime is not None:
        w.one("seconds_since_last_snapshot", "gauge", "seconds since the newest JPEG snapshot was written",
              max(0.0, round(readings.now - readings.last_snapshot_mtime, 3)))
    return "\n".join(w.lines) + "\n"


def _audio(w: _Writer, audio: Any) -> None:
    """The sound's series (issue 14), present only with --audio: what camstream/audio.py AudioStatus holds."""
    if not isinstance(audio, dict):
        return
    w.family("audio_info", "gauge", "constant 1 with --audio, with the input, the codecs it is encoded in, its state "
             "(live, silence: device gone, waiting: FFmpeg not reading yet) and the last device error as labels",
             [({"input": str(audio.get("input") or ""), "codec": str(audio.get("codec") or ""),
                "state": str(audio.get("state") or ""), "last_error": str(audio.get("last_error") or "")}, 1)])
    w.one("audio_up", "gauge", "1 while the microphone (or the source's sound) is delivering samples",
          1 if audio.get("state") == "live" else 0)
    w.one("audio_level_dbfs", "gauge", "RMS level of the microphone over the last second, in dBFS (devices only)",
          _num(audio.get("level_dbfs")))
    w.one("audio_device_restarts", "counter", "times the microphone was lost and reopened",
          _num(audio.get("device_restarts")))


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
