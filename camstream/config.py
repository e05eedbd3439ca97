"""Typed settings and the one loader: defaults < YAML file < environment < command-line flags."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from camstream.errors import ConfigError

# ---------------------------------------------------------------------------
# Value parsers: each takes the raw value (str from env/flags, any from YAML) and
# returns the typed value or raises ValueError with "what is allowed".
# ---------------------------------------------------------------------------

Parser = Callable[[Any], Any]

_SIZE_UNITS = {"": 1, "B": 1, "K": 10**3, "KB": 10**3, "M": 10**6, "MB": 10**6, "G": 10**9, "GB": 10**9,
               "T": 10**12, "TB": 10**12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def whole(lo: int, hi: int) -> Parser:
    """A whole number in [lo, hi]."""

    def parse(raw: Any) -> int:
        if isinstance(raw, bool):
            raise ValueError(f"expected a whole number {lo}-{hi}")
        text = str(raw).strip()
        if not re.fullmatch(r"[+-]?\d+", text) or not lo <= int(text) <= hi:
            raise ValueError(f"expected a whole number {lo}-{hi}")
        return int(text)

    return parse


def number(lo: float, hi: float, what: str = "a number") -> Parser:
    """A decimal number in [lo, hi]."""

    def parse(raw: Any) -> float:
        try:
            if isinstance(raw, bool):
                raise ValueError
            value = float(str(raw).strip())
        except ValueError:
            raise ValueError(f"expected {what} {lo:g}-{hi:g}") from None
        if not lo <= value <= hi or value != value:
            raise ValueError(f"expected {what} {lo:g}-{hi:g}")
        return value

    return parse


def boolean(raw: Any) -> bool:
    """1/0, true/false, yes/no, on/off."""
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("expected 1/0, true/false, yes/no or on/off")


def choice(*options: str) -> Parser:
    """One of a fixed set of words."""

    def parse(raw: Any) -> str:
        text = str(raw).strip()
        if text not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return text

    return parse


def text(raw: Any) -> str:
    """Any string."""
    return "" if raw is None else str(raw)


def path(raw: Any) -> Path:
    """A filesystem path; `~` expands to the home directory."""
    value = str(raw).strip()
    if not value:
        raise ValueError("expected a directory path")
    return Path(os.path.expanduser(value))


def optional_path(raw: Any) -> Path | None:
    """A path, or empty for the default."""
    if raw is None or str(raw).strip() == "":
        return None
    return path(raw)


def size_bytes(raw: Any) -> int:
    """A size like 20GB, 500MB, 1.5G or a plain byte count."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(raw))
    unit = match.group(2).upper() if match else ""
    if not match or unit not in _SIZE_UNITS:
        raise ValueError("expected a size like 500MB, 20GB or 1TB")
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def optional_size(raw: Any) -> int | None:
    """A size, or empty/none/0 for no limit."""
    if raw is None or str(raw).strip().lower() in {"", "none", "0", "off"}:
        return None
    return size_bytes(raw)


def optional_duration(raw: Any) -> float | None:
    """A duration like 7d, 12h, 30m, 90s or plain seconds; empty/none for no limit."""
    if raw is None or str(raw).strip().lower() in {"", "none", "0", "off"}:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", str(raw))
    if not match:
        raise ValueError("expected a duration like 90s, 30m, 12h or 7d")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2) or "s"]


@dataclass(frozen=True)
class MinFree:
    """Free space to always leave on the recording disk: an absolute size or a percentage of the disk."""

    bytes: int = 0
    percent: float = 0.0

    def required(self, disk_total: int) -> int:
        """Bytes that must stay free on a disk of `disk_total` bytes."""
        return max(self.bytes, int(disk_total * self.percent / 100))

    def __str__(self) -> str:
        return f"{self.percent:g}%" if self.percent else str(self.bytes)


def min_free(raw: Any) -> MinFree:
    """A size (1GB) or a percentage (5%)."""
    if isinstance(raw, MinFree):
        return raw
    value = str(raw).strip()
    if value.lower() in {"", "none", "0", "off"}:
        return MinFree()
    if value.endswith("%"):
        pct = number(0, 99, "a percentage")(value[:-1])
        return MinFree(percent=pct)
    try:
        return MinFree(bytes=size_bytes(value))
    except ValueError:
        raise ValueError("expected a size like 1GB or a percentage like 5%") from None


def bitrate(raw: Any) -> int:
    """Bits per second: 2000000, 2M or 2000k; 16 kbit/s to 100 Mbit/s."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", str(raw))
    if isinstance(raw, bool) or not match:
        raise ValueError("expected bits per second 16000-100000000 (e.g. 2000000, 2M or 2000k)")
    value = int(float(match.group(1)) * {"": 1, "k": 1000, "m": 1_000_000}[match.group(2).lower()])
    if not 16_000 <= value <= 100_000_000:
        raise ValueError("expected bits per second 16000-100000000 (e.g. 2000000, 2M or 2000k)")
    return value


def port_number(raw: Any) -> int:
    """A TCP/UDP port 1-65535."""
    return whole(1, 65535)(raw)


def url_path(raw: Any) -> str:
    """An RTSP path segment such as `live` (no leading slash needed)."""
    value = str(raw).strip().strip("/")
    if not re.fullmatch(r"[A-Za-z0-9._~/-]+", value):
        raise ValueError("expected a path like live or cams/front (letters, digits, . _ ~ - /)")
    return value


def stream_key(raw: Any) -> str:
    """An RTMP stream key (letters, digits, . _ -)."""
    value = str(raw).strip()
    if not re.fullmatch(r"[A-Za-z0-9._-]+", value):
        raise ValueError("expected letters, digits, '.', '_' or '-' (e.g. cam)")
    return value


def rtmp_server(raw: Any) -> str:
    """`managed` (camstream runs nginx-rtmp) or an rtmp:// / rtmps:// application URL."""
    value = str(raw).strip().rstrip("/")
    if value == "managed" or re.fullmatch(r"rtmps?://[^\s/]+(/[^\s]*)?", value):
        return value
    raise ValueError("expected managed or a URL like rtmp://192.168.1.10:1935/live")


def resolution(raw: Any) -> tuple[int, int]:
    """WIDTHxHEIGHT, each 16-7680 and even (H.264 with 4:2:0 needs even sizes)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(raw))
    allowed = "expected WIDTHxHEIGHT with even numbers 16-7680, e.g. 1280x720"
    if not match:
        raise ValueError(allowed)
    width, height = int(match.group(1)), int(match.group(2))
    for v in (width, height):
        if not 16 <= v <= 7680 or v % 2:
            raise ValueError(allowed)
    return width, height


def even_size(raw: Any) -> int:
    """A frame width or height: an even number 16-7680."""
    value = whole(16, 7680)(raw)
    if value % 2:
        raise ValueError("expected an even number 16-7680 (H.264 4:2:0 needs even sizes)")
    return value


def setting(default: Any, parser: Parser, help: str, env: tuple[str, ...] = ()) -> Any:
    """Declare one setting: its default, parser, one-line help, and legacy environment names."""
    meta = {"parser": parser, "help": help, "env": env}
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


# ---------------------------------------------------------------------------
# The typed model. Every field is documented in config/camstream.example.yaml
# (a test renders that file from these declarations and compares).
# ---------------------------------------------------------------------------

ENCODERS = ("auto", "libx264", "h264_v4l2m2m", "h264_vaapi", "h264_nvenc")
INPUT_FORMATS = ("auto", "mjpeg", "yuyv422", "h264")
# libx264's presets, fastest first (FFmpeg codecs manual, libx264 "preset"; x264 --fullhelp).
X264_PRESETS = ("auto", "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
                "veryslow", "placebo")
H264_PROFILES = ("auto", "baseline", "main", "high")


@dataclass
class VideoConfig:
    """What is captured and how it is encoded."""

    width: int = setting(1280, even_size, "frame width in pixels", ("VIDEO_WIDTH",))
    height: int = setting(720, even_size, "frame height in pixels", ("VIDEO_HEIGHT",))
    fps: int = setting(30, whole(1, 240), "frames per second", ("VIDEO_FPS",))
    bitrate: int = setting(2_000_000, bitrate, "H.264 bitrate in bits/s (2000000, 2M or 2000k)", ("VIDEO_BITRATE",))
    encoder: str = setting("auto", choice(*ENCODERS),
                           "auto tries h264_v4l2m2m with a real trial encode, else libx264")
    input_format: str = setting("mjpeg", choice(*INPUT_FORMATS),
                                "V4L2 pixel format to ask the camera for; h264 passes the camera's H.264 through")
    preset: str = setting("auto", choice(*X264_PRESETS),
                          "libx264 speed/quality preset; auto picks from CPU cores x pixel rate (see README)")
    profile: str = setting("auto", choice(*H264_PROFILES),
                           "H.264 profile: baseline (constrained baseline), main, high; auto = constrained "
                           "baseline when the web view is on (browsers' WebRTC needs it), else main")
    gop: float = setting(1.0, number(0.1, 60, "seconds"),
                         "seconds between keyframes (late viewers wait up to this long for a picture)")
    clock: bool = setting(False, boolean,
                          "stamp every frame with the wall clock (machine-readable strip) for latency probes")


def optional_number(lo: float, hi: float, what: str) -> Parser:
    """A number in [lo, hi], or empty for "not set"."""

    def parse(raw: Any) -> float | None:
        if raw is None or str(raw).strip() == "":
            return None
        return float(number(lo, hi, what)(raw))

    return parse


# rpicam-apps camera options (Raspberry Pi camera software docs, "Camera control options").
RPICAM_MODES = ("auto", "yuv", "h264")
RPICAM_AUTOFOCUS = ("default", "manual", "auto", "continuous")
RPICAM_AWB = ("auto", "incandescent", "tungsten", "fluorescent", "indoor", "daylight", "cloudy")


@dataclass
class RpicamConfig:
    """The Raspberry Pi camera module through rpicam-vid (--source rpicam or rpicam:N)."""

    mode: str = setting("auto", choice(*RPICAM_MODES),
                        "yuv = rpicam-vid sends raw YUV420 and camstream encodes; h264 = rpicam-vid's own "
                        "H.264 is the one encode; auto = h264 where the hardware encoder works (Pi 4), else yuv (Pi 5)")
    rotation: int = setting(0, lambda raw: int(choice("0", "180")(str(raw).strip())),
                            "rotate the picture: 0 or 180 (rpicam-vid --rotation)")
    hflip: bool = setting(False, boolean, "mirror left-right (rpicam-vid --hflip)")
    vflip: bool = setting(False, boolean, "flip upside down (rpicam-vid --vflip)")
    autofocus: str = setting("default", choice(*RPICAM_AUTOFOCUS),
                             "autofocus mode on cameras that have it (Camera Module 3); default = the camera's own")
    lens_position: float | None = setting(None, optional_number(0, 32, "dioptres"),
                                          "fixed focus in dioptres (0 = infinity) with autofocus=manual; empty = unset")
    shutter: int = setting(0, whole(0, 200_000_000), "fixed exposure time in microseconds; 0 = automatic")
    gain: float = setting(0.0, number(0, 64, "a gain"), "fixed analogue gain; 0 = automatic")
    ev: float = setting(0.0, number(-10, 10, "EV stops"), "exposure compensation in stops, -10 to 10")
    awb: str = setting("auto", choice(*RPICAM_AWB), "white balance mode")


@dataclass
class RtspConfig:
    """The RTSP endpoint viewers open: rtsp://<host>:<port>/<path>."""

    enabled: bool = setting(True, boolean, "publish the live stream over RTSP", ("ENABLE_RTSP",))
    server: str = setting("auto", choice("auto", "builtin", "mediamtx", "external"),
                          "auto = mediamtx when its binary is found, else the builtin server")
    url: str = setting("", text, "publish URL for server=external, e.g. rtsp://10.0.0.2:8554/cam")
    address: str = setting("0.0.0.0", text, "address the builtin/mediamtx server listens on")
    port: int = setting(8554, port_number, "RTSP port")
    path: str = setting("live", url_path, "RTSP path (the /live in rtsp://host:8554/live)")
    user: str = setting("", text, "optional viewer user name (needs password)")
    password: str = setting("", text, "optional viewer password")
    mediamtx_path: str = setting("", text, "mediamtx binary; empty = search PATH")


@dataclass
class RtmpConfig:
    """The RTMP endpoint: rtmp://<host>:<port>/live/<stream_key>."""

    enabled: bool = setting(False, boolean, "publish the live stream over RTMP")
    server: str = setting("managed", rtmp_server,
                          "managed = camstream runs its own nginx-rtmp; or an ingest URL like rtmp://host/live")
    stream_key: str = setting("cam", stream_key, "stream key appended to the server URL")
    port: int = setting(1935, port_number, "port of the managed nginx-rtmp server")
    stat_port: int = setting(8089, port_number, "localhost HTTP port of the managed server's /stat page")
    allow_publish: str = setting("localhost", choice("localhost", "all"),
                                 "who may publish to the managed server (the old setup allowed all)")


@dataclass
class SrtConfig:
    """An SRT (MPEG-TS) publish target."""

    enabled: bool = setting(False, boolean, "publish MPEG-TS over SRT")
    url: str = setting("", text, "SRT URL, e.g. srt://10.0.0.2:9000?mode=caller")


@dataclass
class RecordConfig:
    """MP4 chunks on disk, and the retention that keeps the disk from filling."""

    enabled: bool = setting(True, boolean, "write MP4 chunks to <ssd_path>/video", ("ENABLE_VIDEO",))
    segment_seconds: float = setting(5.5, number(1, 3600, "seconds"), "chunk length in seconds")
    max_age: float | None = setting(None, optional_duration, "delete recordings older than this (7d, 12h); empty = keep")
    max_size: int | None = setting(None, optional_size, "keep recordings under this total (20GB); empty = no cap")
    min_free: MinFree = setting(MinFree(), min_free, "always leave this free on the disk (1GB or 5%); 0 = off")


@dataclass
class SnapshotsConfig:
    """JPEG snapshots on disk."""

    enabled: bool = setting(True, boolean, "write JPEG snapshots to <ssd_path>/images", ("ENABLE_IMAGES",))
    interval: float = setting(1.0, number(1, 86400, "seconds"), "seconds between snapshots")
    quality: int = setting(3, whole(2, 31), "JPEG quality scale, 2 (best) to 31 (smallest)")


def audio_input(raw: Any) -> str:
    """none, source, pulse:NAME, or an ALSA device (default, hw:1,0, plughw:CARD=Device,DEV=0, ...)."""
    value = str(raw).strip()
    if value in ("", "none", "off", "0", "false"):
        return "none"
    if value == "source":
        return value
    if re.fullmatch(r"pulse:[A-Za-z0-9_.:@-]+", value):
        return value
    # ALSA PCM names: a plugin name, optionally with :ARGS (alsa-lib "PCM naming conventions").
    if re.fullmatch(r"(default|sysdefault|hw|plughw|dsnoop|front)(:[A-Za-z0-9_=,.-]+)?", value):
        return value
    raise ValueError("expected none, source, pulse:NAME, or an ALSA device like default, hw:1,0 or "
                     "plughw:CARD=Device (list them with `camstream devices`)")


def audio_channels(raw: Any) -> int:
    """auto (0: mono for microphones, stereo for a source's own track) or 1-8."""
    if str(raw).strip().lower() in ("auto", "0"):
        return 0
    try:
        return int(whole(1, 8)(raw))
    except ValueError:
        raise ValueError("expected auto or a whole number 1-8") from None


@dataclass
class AudioConfig:
    """Sound alongside the camera, captured in the same FFmpeg run and encoded once per codec."""

    input: str = setting("none", audio_input,
                         "none, source (the file/URL's own track; a tone for testsrc), pulse:NAME, "
                         "or an ALSA device (default, hw:1,0, plughw:CARD=Device)")
    rate: int = setting(48000, whole(8000, 192000), "sample rate in Hz")
    channels: int = setting(0, audio_channels, "channels; 0 = auto (1 for a microphone, 2 for a source's track)")
    bitrate: int = setting(96000, bitrate, "AAC bitrate in bits/s (96000, 96k)")

    @property
    def enabled(self) -> bool:
        """Whether any sound is captured."""
        return self.input != "none"

    @property
    def is_device(self) -> bool:
        """A capture device (PulseAudio or ALSA), as opposed to the source's own track."""
        return self.input not in ("none", "source")

    @property
    def layout_channels(self) -> int:
        """Channels actually encoded (auto resolved)."""
        if self.channels:
            return self.channels
        return 1 if self.is_device else 2


@dataclass
class PathsConfig:
    """Where files go."""

    ssd_path: Path = setting(Path("~/camstream").expanduser(), path,
                             "recording root: video/ and images/ are created inside", ("SSD_PATH",))
    latest_dir: Path | None = setting(None, optional_path,
                                      "where latest_video.mp4 / latest_image.jpg live; empty = <ssd_path>/drone_temp")
    state_dir: Path | None = setting(None, optional_path,
                                     "runtime state (server configs, status); empty = $XDG_RUNTIME_DIR/camstream "
                                     "or ~/.local/state/camstream")


@dataclass
class WatchdogConfig:
    """Restart policy for a crashed or hung pipeline."""

    stall_seconds: float = setting(5.0, number(1, 600, "seconds"),
                                   "restart when no new frame arrives for this long")
    backoff_initial: float = setting(0.5, number(0, 60, "seconds"), "first wait before a restart")
    backoff_max: float = setting(10.0, number(0.5, 600, "seconds"), "longest wait between restarts")
    max_restarts_per_minute: int = setting(10, whole(1, 1000),
                                           "above this rate restarts wait backoff_max")


@dataclass
class FfmpegConfig:
    """The FFmpeg binary."""

    path: str = setting("ffmpeg", text, "ffmpeg binary name or path")
    loglevel: str = setting("warning", choice("quiet", "error", "warning", "info", "verbose", "debug"),
                            "FFmpeg's own log level")


@dataclass
class LogConfig:
    """camstream's own logging."""

    level: str = setting("info", choice("debug", "info", "warning", "error"), "log level")
    json: bool = setting(False, boolean, "one JSON object per log line")


@dataclass
class Config:
    """Everything camstream run needs."""

    source: str = setting("/dev/video0", text,
                          "a V4L2 device, rpicam or rpicam:N (Raspberry Pi camera module), testsrc, "
                          "a file path (looped) or an FFmpeg URL", ("CAMERA",))
    extra_outputs: list[str] = setting([], lambda raw: _name_list(raw),
                                       "names of third-party output plug-ins to enable")
    video: VideoConfig = field(default_factory=VideoConfig)
    rpicam: RpicamConfig = field(default_factory=RpicamConfig)
    rtsp: RtspConfig = field(default_factory=RtspConfig)
    rtmp: RtmpConfig = field(default_factory=RtmpConfig)
    srt: SrtConfig = field(default_factory=SrtConfig)
    record: RecordConfig = field(default_factory=RecordConfig)
    snapshots: SnapshotsConfig = field(default_factory=SnapshotsConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    watchdog: WatchdogConfig = field(default_factory=WatchdogConfig)
    ffmpeg: FfmpegConfig = field(default_factory=FfmpegConfig)
    log: LogConfig = field(default_factory=LogConfig)

    # Derived paths ---------------------------------------------------------
    @property
    def video_dir(self) -> Path:
        """Where MP4 chunks are written."""
        return self.paths.ssd_path / "video"

    @property
    def images_dir(self) -> Path:
        """Where JPEG snapshots are written."""
        return self.paths.ssd_path / "images"

    @property
    def latest_dir(self) -> Path:
        """Where the latest_* links live (the first seed's drone_temp)."""
        return self.paths.latest_dir or self.paths.ssd_path / "drone_temp"

    @property
    def state_dir(self) -> Path:
        """Runtime state: rendered server configs, status file, segment lists."""
        if self.paths.state_dir:
            return self.paths.state_dir
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        if runtime:
            return Path(runtime) / "camstream"
        return Path("~/.local/state/camstream").expanduser()


def _name_list(raw: Any) -> list[str]:
    items = raw if isinstance(raw, list) else [s for s in re.split(r"[,\s]+", str(raw)) if s]
    for item in items:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", str(item)):
            raise ValueError("expected plug-in names (letters, digits, _ . -), comma separated")
    return [str(i) for i in items]


# ---------------------------------------------------------------------------
# Schema walking
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One leaf setting of the model, addressed by its dotted key (e.g. video.fps)."""

    key: str
    parser: Parser
    help: str
    env: tuple[str, ...]
    default: Any

    @property
    def generic_env(self) -> str:
        """The CAMSTREAM_<SECTION>_<NAME> environment variable for this setting."""
        return "CAMSTREAM_" + self.key.replace(".", "_").upper()


def _walk(cls: type, prefix: str = "") -> Iterator[Setting]:
    instance = cls()
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        if "parser" in f.metadata:
            yield Setting(key, f.metadata["parser"], f.metadata["help"], f.metadata["env"], getattr(instance, f.name))
        elif dataclasses.is_dataclass(f.type) or (isinstance(f.type, str) and f.type.endswith("Config")):
            yield from _walk(type(getattr(instance, f.name)), key + ".")


SETTINGS: dict[str, Setting] = {s.key: s for s in _walk(Config)}
SECTIONS: dict[str, str] = {
    f.name: (type(getattr(Config(), f.name)).__doc__ or "").strip()
    for f in dataclasses.fields(Config)
    if "parser" not in f.metadata
}
LEGACY_ENV: dict[str, str] = {name: s.key for s in SETTINGS.values() for name in s.env}


def _set(cfg: Config, key: str, value: Any) -> None:
    target: Any = cfg
    *parents, leaf = key.split(".")
    for part in parents:
        target = getattr(target, part)
    setattr(target, leaf, value)


def get(cfg: Config, key: str) -> Any:
    """Read a setting by dotted key."""
    target: Any = cfg
    for part in key.split("."):
        target = getattr(target, part)
    return target


# ---------------------------------------------------------------------------
# YAML with line numbers
# ---------------------------------------------------------------------------

DEFAULT_CONFIG_PATHS = (Path("camstream.yaml"), Path("/etc/camstream/camstream.yaml"))


def _yaml_values(file: Path) -> dict[str, tuple[Any, int]]:
    """Flatten a YAML file to {dotted key: (value, line)}; unknown keys are errors with file and line."""
    try:
        node = yaml.compose(file.read_text())
    except OSError as exc:
        raise ConfigError(f"--config {file}: cannot read it ({exc.strerror}): check the path") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark else str(file)
        raise ConfigError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)}): fix the syntax") from None
    out: dict[str, tuple[Any, int]] = {}
    if node is None:
        return out
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{file}:{node.start_mark.line + 1}: expected a mapping of settings at the top level")
    _flatten(file, node, "", out)
    return out


def _flatten(file: Path, node: yaml.MappingNode, prefix: str, out: dict[str, tuple[Any, int]]) -> None:
    for key_node, value_node in node.value:
        name = str(key_node.value)
        key = prefix + name
        line = key_node.start_mark.line + 1
        if key in out or any(k.startswith(key + ".") for k in out):
            first = out[key][1] if key in out else min(v[1] for k, v in out.items() if k.startswith(key + "."))
            raise ConfigError(f"{file}:{line}: '{key}' is given twice (first at line {first}): keep one")
        if key in SETTINGS:
            try:
                value = yaml.SafeLoader("").construct_object(value_node, deep=True)
            except yaml.YAMLError as exc:
                raise ConfigError(f"{file}:{line}: {key}: not a plain YAML value ({getattr(exc, 'problem', exc)}): "
                                  "write a number, word, quoted string or list") from None
            out[key] = (value, line)
        elif key in SECTIONS and isinstance(value_node, yaml.MappingNode):
            _flatten(file, value_node, key + ".", out)
        elif key in SECTIONS:
            example = next(k for k in SETTINGS if k.startswith(key + "."))
            raise ConfigError(f"{file}:{line}: '{key}' is a section, not a value: put its settings on the lines "
                              f"below it, indented (e.g. '  {example.split('.', 1)[1]}: ...')")
        else:
            section = prefix.rstrip(".")
            known = sorted(k[len(prefix):] for k in SETTINGS if k.startswith(prefix) and "." not in k[len(prefix):])
            if not section:
                known = sorted(set(known) | set(SECTIONS))
            where = f"in {section}" if section else "at the top level"
            raise ConfigError(f"{file}:{line}: unknown setting '{key}': known settings {where} are {', '.join(known)}")


def find_config_file(explicit: Path | None) -> Path | None:
    """The --config file, or the first default location that exists."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"--config {explicit}: no such file: give an existing YAML file")
        return explicit
    for candidate in DEFAULT_CONFIG_PATHS:
        if candidate.is_file():
            return candidate
    return None


# ---------------------------------------------------------------------------
# The loader
# ---------------------------------------------------------------------------


DEFAULT_SOURCE = "default"


def load_config(
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, tuple[str, Any]] | None = None,
    search_defaults: bool = True,
    sources: dict[str, str] | None = None,
) -> Config:
    """Build the Config: defaults < YAML file < environment < flags; every error names its origin.

    `flags` maps dotted keys to (flag as typed, value), e.g. {"video.fps": ("--fps", "0")}. `sources`, when
    given, is filled with where each setting's value came from: "default", "FILE:LINE", "env NAME", "flag --x".
    """
    env = os.environ if env is None else env
    cfg = Config()
    origin_of = {key: DEFAULT_SOURCE for key in SETTINGS}
    file = find_config_file(config_file) if (config_file or search_defaults) else None
    if file is not None:
        for key, (raw, line) in _yaml_values(file).items():
            _apply(cfg, key, raw, f"{file}:{line}: {key}={raw}")
            origin_of[key] = f"{file}:{line}"
    for key, setting_ in SETTINGS.items():
        # The seeds' names (VIDEO_FPS, SSD_PATH, ...) and CAMSTREAM_VIDEO_FPS both work; the latter wins.
        for name in (*setting_.env, setting_.generic_env):
            if name in env:
                _apply(cfg, key, env[name], f"{name}={env[name]}")
                origin_of[key] = f"env {name}"
    for key, (flag, raw) in (flags or {}).items():
        _apply(cfg, key, raw, f"{flag} {raw}")
        origin_of[key] = f"flag {flag}"
    if sources is not None:
        sources.update(origin_of)
    try:
        validate(cfg)
    except ConfigError as err:
        raise ConfigError(locate(str(err), origin_of)) from None
    return cfg


def locate(message: str, origin_of: Mapping[str, str]) -> str:
    """Prefix a cross-setting error with the FILE:LINE of the first setting it names that came from a YAML file."""
    named = [k for k in SETTINGS if re.search(rf"(?<![\w.]){re.escape(k)}(?![\w])", message)]
    if not named and message.startswith("every output is off"):
        named = [k for k in SETTINGS if k.endswith(".enabled")]
    # Then the other settings of the same sections (srt.enabled, for "srt.url: ... when SRT is on").
    sections = {k.split(".")[0] for k in named if "." in k}
    named += [k for k in SETTINGS if k.split(".")[0] in sections and k not in named]
    for key in named:
        origin = origin_of.get(key, DEFAULT_SOURCE)
        if origin != DEFAULT_SOURCE and not origin.startswith(("env ", "flag ")):
            return f"{origin}: {message}"
    return message


def _apply(cfg: Config, key: str, raw: Any, origin: str) -> None:
    try:
        value = SETTINGS[key].parser(raw)
    except ValueError as exc:
        raise ConfigError(f"{origin}: {exc}") from None
    _set(cfg, key, value)


def validate(cfg: Config) -> None:
    """Checks that span several settings."""
    if cfg.rtsp.enabled and cfg.rtsp.server == "external" and not cfg.rtsp.url:
        raise ConfigError("rtsp.server=external needs rtsp.url: give --rtsp-url rtsp://host:port/path")
    if cfg.rtsp.url and not re.match(r"rtsps?://", cfg.rtsp.url):
        raise ConfigError(f"rtsp.url={cfg.rtsp.url}: expected a URL starting with rtsp://")
    if cfg.srt.enabled and not cfg.srt.url.startswith("srt://"):
        raise ConfigError("srt.url: expected a URL like srt://10.0.0.2:9000 when SRT is on (--srt-url)")
    if bool(cfg.rtsp.user) != bool(cfg.rtsp.password):
        raise ConfigError("rtsp.user and rtsp.password: set both or neither")
    if not any((cfg.rtsp.enabled, cfg.rtmp.enabled, cfg.srt.enabled, cfg.record.enabled, cfg.snapshots.enabled,
                cfg.extra_outputs)):
        raise ConfigError("every output is off: turn on at least one of --rtsp, --rtmp, --srt, --record, --snapshots")


# ---------------------------------------------------------------------------
# Rendering (the example file and --dry-run)
# ---------------------------------------------------------------------------


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Path):
        return str(value).replace(str(Path.home()), "~", 1) if str(value).startswith(str(Path.home())) else str(value)
    if isinstance(value, MinFree):
        return "0" if not value.bytes and not value.percent else str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(value) + "]"
    if isinstance(value, str) and (value == "" or re.search(r"[:#\s]", value)):
        return f'"{value}"'
    return str(value)


def render_example() -> str:
    """The documented example YAML: every setting with its default and help (config/camstream.example.yaml)."""
    lines = [
        "# camstream configuration. Every key is optional; the value shown is the default.",
        "# Precedence: command-line flags > environment > this file > defaults.",
        "# Every key also reads CAMSTREAM_<SECTION>_<KEY> from the environment (e.g. CAMSTREAM_VIDEO_FPS);",
        "# older names noted below keep working.",
        "",
    ]
    section = None
    for s in SETTINGS.values():
        parent = s.key.split(".")[0] if "." in s.key else None
        if parent != section:
            section = parent
            if parent:
                lines.append("")
                lines.append(f"{parent}:  # {SECTIONS[parent]}")
        indent = "  " if parent else ""
        name = s.key.split(".")[-1]
        legacy = f" (env {', '.join(s.env)})" if s.env else ""
        lines.append(f"{indent}# {s.help}{legacy}")
        value = _yaml_scalar(s.default)
        lines.append(f"{indent}{name}: {value}".rstrip())
    return "\n".join(lines) + "\n"
