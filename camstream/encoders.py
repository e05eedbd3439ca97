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
from camstream.config import Config, VideoConfig
from camstream.errors import ConfigError
from camstream.storage.atomic import write_atomic

log = logging.getLogger(__name__)

# Tried in this order by encoder=auto; libx264 is the software default that always works.
AUTO_ORDER = ("h264_v4l2m2m", "libx264")

# Pixels per second per CPU core up to which each libx264 preset is the automatic choice (first match wins).
# From bench/results.md "libx264 presets" (720p30 and 1080p30 on this 2-core box): veryfast costs about twice
# ultrafast's CPU, superfast about 1.5x. A Raspberry Pi 4/5 core is several times slower than a server core,
# so the thresholds keep the encoder well under one core's worth of the budget, the same call rpicam-apps
# makes when it picks ultrafast for its low-latency software encode.
AUTO_PRESETS: tuple[tuple[float, str], ...] = ((15e6, "veryfast"), (30e6, "superfast"), (float("inf"), "ultrafast"))

# -profile:v per encoder. libx264's "baseline" is constrained baseline (x264 sets constraint_set1, ffprobe says
# "Constrained Baseline"). h264_v4l2m2m has no named profiles (FFmpeg's v4l2_m2m_enc.c, options are only
# num_output_buffers/num_capture_buffers) and maps the generic numeric AVCodecContext.profile through
# v4l2_h264_profile_from_ff: 578 = FF_PROFILE_H264_CONSTRAINED_BASELINE (66 | 1 << 9), 77 main, 100 high.
# h264_vaapi names them constrained_baseline/main/high; h264_nvenc baseline/main/high.
PROFILE_NAMES: dict[str, dict[str, str]] = {
    "libx264": {"baseline": "baseline", "main": "main", "high": "high"},
    "h264_v4l2m2m": {"baseline": "578", "main": "77", "high": "100"},
    "h264_vaapi": {"baseline": "constrained_baseline", "main": "main", "high": "high"},
    "h264_nvenc": {"baseline": "baseline", "main": "main", "high": "high"},
}

# Raspberry Pi 4 hardware encoder (bcm2835-codec behind h264_v4l2m2m): H.264 level 4.1 limits, which put the
# ceiling at 1080p30 (ITU-T H.264 Table A-1: MaxFS 8192 macroblocks, MaxMBPS 245760), at most about 2032 px
# wide, and bitrates above ~25 Mb/s fail (issue 15).
V4L2M2M_MAX_WIDTH = 2032
V4L2M2M_MAX_FRAME_MBS = 8192
V4L2M2M_MAX_MBPS = 245_760
V4L2M2M_MAX_BITRATE = 25_000_000


@dataclass(frozen=True)
class Knobs:
    """Resolved encoder settings: the libx264 preset, the H.264 profile (baseline/main/high), GOP in frames."""

    preset: str = "veryfast"
    profile: str = "main"
    gop_frames: int = 30


def web_view_enabled(cfg: Config) -> bool:
    """Whether the browser view (WebRTC) is on: the one place profile=auto learns it.

    Reads the web view's settings once they exist (issue 13): `cfg.web_view` (web.enabled and a live output on)
    where the config has it, else `cfg.web.enabled`; until then there is no web view.
    """
    view = getattr(cfg, "web_view", None)
    if isinstance(view, bool):
        return view
    web = getattr(cfg, "web", None)
    return bool(getattr(web, "enabled", False))


def default_preset(cores: int, width: int, height: int, fps: int) -> str:
    """The libx264 preset for `cores` CPU cores encoding width x height at fps (AUTO_PRESETS)."""
    per_core = width * height * fps / max(1, cores)
    return next(name for limit, name in AUTO_PRESETS if per_core <= limit)


def auto_profile(web_view: bool) -> str:
    """profile=auto: constrained baseline when browsers watch over WebRTC (they need it), else main."""
    return "baseline" if web_view else "main"


def gop_frames(video: VideoConfig) -> int:
    """--gop seconds as a whole number of frames (at least 1)."""
    return max(1, round(video.gop * video.fps))


def resolve(video: VideoConfig, cores: int, web_view: bool) -> Knobs:
    """Turn preset/profile `auto` into concrete values for this machine and run."""
    preset = video.preset if video.preset != "auto" else default_preset(cores, video.width, video.height, video.fps)
    profile = video.profile if video.profile != "auto" else auto_profile(web_view)
    return Knobs(preset, profile, gop_frames(video))


def _rate_control(video: VideoConfig) -> list[str]:
    # maxrate = bitrate with a one-second buffer caps bursts so a live link is not flooded.
    b = str(video.bitrate)
    return ["-b:v", b, "-maxrate", b, "-bufsize", b]


def _gop(knobs: Knobs) -> list[str]:
    # A fixed GOP: late joiners lock within --gop seconds, chunks cut on time.
    g = str(knobs.gop_frames)
    return ["-g", g, "-keyint_min", g]


def _profile(encoder: str, knobs: Knobs) -> list[str]:
    return ["-profile:v", PROFILE_NAMES[encoder][knobs.profile]]


def libx264_args(video: VideoConfig, knobs: Knobs) -> list[str]:
    """Software H.264 tuned for live: no B-frames, zerolatency, fixed GOP, no scene-cut keyframes."""
    return [
        "-c:v", "libx264", "-preset", knobs.preset, "-tune", "zerolatency", *_profile("libx264", knobs),
        *_rate_control(video), *_gop(knobs),
        "-bf", "0",
        "-sc_threshold", "0",  # keep the GOP regular; scene cuts would add keyframes at random
    ]


def v4l2m2m_args(video: VideoConfig, knobs: Knobs) -> list[str]:
    """Hardware H.264 through the V4L2 memory-to-memory encoder (Raspberry Pi 4 and other SoCs).

    The wrapper honours only bit_rate, gop_size, profile and qmin/qmax (FFmpeg v4l2_m2m_enc.c,
    v4l2_prepare_encoder); it has no B-frames and no preset. Input must be yuv420p (the graph's format filter).
    """
    return [
        "-c:v", "h264_v4l2m2m", *_profile("h264_v4l2m2m", knobs),
        *_rate_control(video)[:2], *_gop(knobs)[:2],
        # The Pi's bcm2835 encoder rejects more than a few capture buffers at 720p+.
        "-num_capture_buffers", "16",
    ]


def vaapi_args(video: VideoConfig, knobs: Knobs) -> list[str]:
    """Intel/AMD VAAPI H.264 (frames are uploaded by the filter chain, see hw_filter)."""
    return ["-c:v", "h264_vaapi", *_profile("h264_vaapi", knobs), *_rate_control(video), *_gop(knobs), "-bf", "0"]


def nvenc_args(video: VideoConfig, knobs: Knobs) -> list[str]:
    """NVIDIA NVENC H.264 with its low-latency preset."""
    return ["-c:v", "h264_nvenc", "-preset", "p1", "-tune", "ll", *_profile("h264_nvenc", knobs),
            *_rate_control(video), *_gop(knobs), "-bf", "0"]


def check_limits(encoder: str, video: VideoConfig) -> None:
    """Refuse settings the hardware encoder cannot do, before anything starts (ConfigError, exit 2)."""
    if encoder != "h264_v4l2m2m":
        return
    fix = "lower it or use --encoder libx264"
    size = f"{video.width}x{video.height}"
    mbs = ((video.width + 15) // 16) * ((video.height + 15) // 16)
    if video.width > V4L2M2M_MAX_WIDTH or mbs > V4L2M2M_MAX_FRAME_MBS:
        raise ConfigError(f"--resolution {size}: h264_v4l2m2m encodes at most {V4L2M2M_MAX_WIDTH} px wide and "
                          f"{V4L2M2M_MAX_FRAME_MBS} macroblocks a frame (1920x1080): {fix}")
    if mbs * video.fps > V4L2M2M_MAX_MBPS:
        raise ConfigError(f"--resolution {size} --fps {video.fps}: h264_v4l2m2m (H.264 level 4.1) encodes at most "
                          f"{V4L2M2M_MAX_MBPS} macroblocks a second (1080p30, 720p60): {fix}")
    if video.bitrate > V4L2M2M_MAX_BITRATE:
        raise ConfigError(f"--bitrate {video.bitrate}: h264_v4l2m2m fails above {V4L2M2M_MAX_BITRATE} bits/s: {fix}")


def fits(encoder: str, video: VideoConfig) -> bool:
    """True when `encoder` can take these settings (check_limits passes)."""
    try:
        check_limits(encoder, video)
    except ConfigError:
        return False
    return True


@dataclass(frozen=True)
class EncoderPreset:
    """One H.264 encoder: its argv builder, the pixel format it wants, and device options before -i."""

    name: str
    args: Callable[[VideoConfig, Knobs], list[str]]
    pix_fmt_filter: str
    global_args: tuple[str, ...] = ()


PRESETS: dict[str, EncoderPreset] = {
    "libx264": EncoderPreset("libx264", libx264_args, "format=yuv420p"),
    # h264_v4l2m2m takes yuv420p only ("Encoder requires yuv420p pixel format", v4l2_encode_init).
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


def trial_argv(ffmpeg_path: str, encoder: str, video: VideoConfig | None = None, knobs: Knobs | None = None,
               frames: int = 1) -> list[str]:
    """The trial encode: a test pattern at the run's size and rate through exactly the run's encoder argv."""
    video = video or VideoConfig()
    knobs = knobs or Knobs(gop_frames=gop_frames(video))
    preset = PRESETS.get(encoder)
    hw = list(preset.global_args) if preset else []
    vf = preset.pix_fmt_filter if preset else "format=yuv420p"
    codec = preset.args(video, knobs) if preset else ["-c:v", encoder]
    return [ffmpeg_path, "-hide_banner", "-nostdin", "-loglevel", "error", *hw,
            "-f", "lavfi", "-i", f"testsrc2=size={video.width}x{video.height}:rate={video.fps}",
            "-frames:v", str(frames), "-vf", vf, *codec, "-f", "null", "-"]


def trial_encode(ffmpeg_path: str, encoder: str, timeout: float = 15.0, video: VideoConfig | None = None,
                 knobs: Knobs | None = None) -> tuple[bool, str]:
    """Encode one real frame with `encoder`; (True, "") when it works, else (False, FFmpeg's last error line)."""
    result = proc.run(trial_argv(ffmpeg_path, encoder, video, knobs), timeout=timeout)
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
        write_atomic(cache, json.dumps({**stored, key: working}, indent=1))
    except OSError:
        log.debug("cannot write encoder cache %s", cache)


def _cache_key(path: str) -> str:
    version = _parse_version(proc.run([path, "-hide_banner", "-version"]).stdout)
    return f"{path}|{version}"


def detect(ffmpeg: str = "ffmpeg", refresh: bool = False, cache: Path | None = None,
           video: VideoConfig | None = None, knobs: Knobs | None = None) -> Capabilities:
    """Probe FFmpeg once: version, encoders, and a cached trial-encode verdict (with the run's encoder argv
    when `video`/`knobs` are given) for each encoder encoder=auto may pick."""
    path = proc.which("ffmpeg", ffmpeg)
    key = _cache_key(path)
    encoders = _parse_encoders(proc.run([path, "-hide_banner", "-encoders"]).stdout)
    cache = cache or _cache_file()
    working = {} if refresh else dict(_load_cache(cache).get(key, {}))
    for name in AUTO_ORDER:
        if name in encoders and name not in working:
            ok, why = trial_encode(path, name, video=video, knobs=knobs)
            working[name] = ok
            log.debug("trial encode %s: %s", name, "ok" if ok else why)
    _store(cache, key, working)
    return Capabilities(path, key.split("|", 1)[1], encoders, working)


def retrial(ffmpeg_path: str, encoder: str, cache: Path | None = None, video: VideoConfig | None = None,
            knobs: Knobs | None = None) -> tuple[bool, str]:
    """Trial-encode again, with the run's own argv, and replace the cached verdict (what `camstream doctor` does)."""
    ok, why = trial_encode(ffmpeg_path, encoder, video=video, knobs=knobs)
    cache = cache or _cache_file()
    key = _cache_key(ffmpeg_path)
    _store(cache, key, {**_load_cache(cache).get(key, {}), encoder: ok})
    return ok, why
