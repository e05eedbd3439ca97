"""H.264 encoder presets (pure argv), the one-frame trial encode, and the cached Capabilities value."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from camstream import proc
from camstream.config import VideoConfig
from camstream.errors import ConfigError

log = logging.getLogger(__name__)

# Tried in this order by encoder=auto; libx264 is the software default that always works.
AUTO_ORDER = ("h264_v4l2m2m", "libx264")


def _rate_control(video: VideoConfig) -> list[str]:
    # maxrate = bitrate with a one-second buffer caps bursts so a live link is not flooded.
    b = str(video.bitrate)
    return ["-b:v", b, "-maxrate", b, "-bufsize", b]


def _gop(video: VideoConfig) -> list[str]:
    # One keyframe per second: late joiners lock within a second, chunks cut on time.
    return ["-g", str(video.fps), "-keyint_min", str(video.fps)]


def libx264_args(video: VideoConfig) -> list[str]:
    """Software H.264 tuned for live: no B-frames, zerolatency, fixed GOP, no scene-cut keyframes."""
    return [
        "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "main",
        *_rate_control(video), *_gop(video),
        "-bf", "0",
        "-sc_threshold", "0",  # keep the GOP regular; scene cuts would add keyframes at random
    ]


def v4l2m2m_args(video: VideoConfig) -> list[str]:
    """Hardware H.264 through the V4L2 memory-to-memory encoder (Raspberry Pi and other SoCs)."""
    return [
        "-c:v", "h264_v4l2m2m",
        *_rate_control(video)[:2], *_gop(video)[:2],
        # The Pi's bcm2835 encoder rejects more than a few capture buffers at 720p+.
        "-num_capture_buffers", "16",
    ]


def vaapi_args(video: VideoConfig) -> list[str]:
    """Intel/AMD VAAPI H.264 (frames are uploaded by the filter chain, see hw_filter)."""
    return ["-c:v", "h264_vaapi", *_rate_control(video), *_gop(video), "-bf", "0"]


def nvenc_args(video: VideoConfig) -> list[str]:
    """NVIDIA NVENC H.264 with its low-latency preset."""
    return ["-c:v", "h264_nvenc", "-preset", "p1", "-tune", "ll", *_rate_control(video), *_gop(video), "-bf", "0"]


@dataclass(frozen=True)
class EncoderPreset:
    """One H.264 encoder: its argv builder, the pixel format it wants, and device options before -i."""

    name: str
    args: Callable[[VideoConfig], list[str]]
    pix_fmt_filter: str
    global_args: tuple[str, ...] = ()


PRESETS: dict[str, EncoderPreset] = {
    "libx264": EncoderPreset("libx264", libx264_args, "format=yuv420p"),
    "h264_v4l2m2m": EncoderPreset("h264_v4l2m2m", v4l2m2m_args, "format=yuv420p"),
    "h264_vaapi": EncoderPreset(
        "h264_vaapi", vaapi_args, "format=nv12,hwupload", ("-vaapi_device", "/dev/dri/renderD128")
    ),
    "h264_nvenc": EncoderPreset("h264_nvenc", nvenc_args, "format=yuv420p"),
}


@dataclass(frozen=True)
class Capabilities:
    """What this machine's FFmpeg can do: its version, compiled-in encoders, and trial-encode verdicts."""

    ffmpeg: str
    version: str
    encoders: frozenset[str]
    working: dict[str, bool] = field(default_factory=dict)

    def usable(self, name: str) -> bool:
        """Compiled in and (where tried) passed a real trial encode."""
        return name in self.encoders and self.working.get(name, True)


def choose_encoder(requested: str, caps: Capabilities) -> str:
    """Resolve encoder=auto to the first working preset; check an explicit one is compiled in."""
    if requested == "auto":
        for name in AUTO_ORDER:
            if caps.usable(name):
                return name
        raise ConfigError("video.encoder=auto: this ffmpeg has no working H.264 encoder: install ffmpeg with libx264")
    if requested not in caps.encoders:
        have = ", ".join(n for n in PRESETS if n in caps.encoders) or "none"
        raise ConfigError(f"--encoder {requested}: not in this ffmpeg: choose one of {have}, or auto")
    return requested


def _parse_version(text: str) -> str:
    match = re.search(r"ffmpeg version (\S+)", text)
    return match.group(1) if match else "unknown"


def _parse_encoders(text: str) -> frozenset[str]:
    names = set()
    for line in text.splitlines():
        match = re.match(r"\s*V[.A-Z]{5}\s+(\S+)", line)
        if match:
            names.add(match.group(1))
    return frozenset(names)


def trial_encode(ffmpeg_path: str, encoder: str, timeout: float = 15.0) -> tuple[bool, str]:
    """Encode one real frame with `encoder`; (True, "") when it works, else (False, FFmpeg's last error line)."""
    preset = PRESETS.get(encoder)
    hw = list(preset.global_args) if preset else []
    vf = preset.pix_fmt_filter if preset else "format=yuv420p"
    argv = [ffmpeg_path, "-hide_banner", "-nostdin", "-loglevel", "error", *hw,
            "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=30", "-frames:v", "1",
            "-vf", vf, "-c:v", encoder, "-f", "null", "-"]
    result = proc.run(argv, timeout=timeout)
    if result.returncode == 0:
        return True, ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return False, lines[-1] if lines else f"exit code {result.returncode}"


def _cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "camstream" / "encoders.json"


def _load_cache(cache: Path) -> dict[str, dict[str, bool]]:
    try:
        data = json.loads(cache.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _store(cache: Path, key: str, working: dict[str, bool]) -> None:
    stored = _load_cache(cache)
    if stored.get(key) == working:
        return
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps({**stored, key: working}, indent=1))
        tmp.replace(cache)
    except OSError:
        log.debug("cannot write encoder cache %s", cache)


def _cache_key(path: str) -> str:
    version = _parse_version(proc.run([path, "-hide_banner", "-version"]).stdout)
    return f"{path}|{version}"


def detect(ffmpeg: str = "ffmpeg", refresh: bool = False, cache: Path | None = None) -> Capabilities:
    """Probe FFmpeg once: version, encoders, and a cached trial-encode verdict for hardware encoders."""
    path = proc.which("ffmpeg", ffmpeg)
    key = _cache_key(path)
    encoders = _parse_encoders(proc.run([path, "-hide_banner", "-encoders"]).stdout)
    cache = cache or _cache_file()
    working = {} if refresh else dict(_load_cache(cache).get(key, {}))
    for name in AUTO_ORDER:
        if name in encoders and name not in working:
            ok, why = trial_encode(path, name)
            working[name] = ok
            log.debug("trial encode %s: %s", name, "ok" if ok else why)
    _store(cache, key, working)
    return Capabilities(path, key.split("|", 1)[1], encoders, working)


def retrial(ffmpeg_path: str, encoder: str, cache: Path | None = None) -> tuple[bool, str]:
    """Trial-encode again and replace the cached verdict (what `camstream doctor` does)."""
    ok, why = trial_encode(ffmpeg_path, encoder)
    cache = cache or _cache_file()
    key = _cache_key(ffmpeg_path)
    _store(cache, key, {**_load_cache(cache).get(key, {}), encoder: ok})
    return ok, why
