"""The typed model: one dataclass per section, each field declared with its default, parser and help.

Every field is documented in config/camstream.example.yaml (a test renders that file from these declarations).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camstream.config.parsers import (
    MinFree, Parser, audio_channels, audio_input, bitrate, boolean, choice, even_size, min_free, name_list, number,
    optional_duration, optional_number, optional_path, optional_size, path, port_number, rtmp_server, stream_key,
    text, url_path, whole,
)
from camstream.storage import layout


def setting(default: Any, parser: Parser, help: str, env: tuple[str, ...] = ()) -> Any:
    """Declare one setting: its default, parser, one-line help, and legacy environment names."""
    meta = {"parser": parser, "help": help, "env": env}
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


ENCODERS = ("auto", "libx264", "h264_v4l2m2m", "h264_vaapi", "h264_nvenc")
INPUT_FORMATS = ("auto", "mjpeg", "yuyv422", "h264")
# libx264's presets, fastest first (FFmpeg codecs manual, libx264 "preset"; x264 --fullhelp).
X264_PRESETS = ("auto", "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
                "veryslow", "placebo")
H264_PROFILES = ("auto", "baseline", "main", "high")
# rpicam-apps camera options (Raspberry Pi camera software docs, "Camera control options").
RPICAM_MODES = ("auto", "yuv", "h264")
RPICAM_AUTOFOCUS = ("default", "manual", "auto", "continuous")
RPICAM_AWB = ("auto", "incandescent", "tungsten", "fluorescent", "indoor", "daylight", "cloudy")


@dataclass
class VideoConfig:
    """What is captured and how it is encoded."""

    width: int = setting(1280, even_size, "frame width in pixels", ("VIDEO_WIDTH",))
    height: int = setting(720, even_size, "frame height in pixels", ("VIDEO_HEIGHT",))
    fps: int = setting(30, whole(1, 240), "frames per second, 1-240", ("VIDEO_FPS",))
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
                         "seconds between keyframes, 0.1-60 (late viewers wait up to this long for a picture)")
    clock: bool = setting(False, boolean,
                          "stamp every frame with the wall clock (machine-readable strip) for latency probes")


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
    port: int = setting(8554, port_number, "RTSP port, 1-65535")
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
    port: int = setting(1935, port_number, "port of the managed nginx-rtmp server, 1-65535")
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
    segment_seconds: float = setting(5.5, number(1, 3600, "seconds"), "chunk length in seconds, 1-3600")
    max_age: float | None = setting(None, optional_duration,
                                    "delete recordings older than this (90s, 30m, 12h, 7d, 2w); empty = keep")
    max_size: int | None = setting(None, optional_size,
                                   "keep recordings under this total (500MB, 20GB, 1TB); empty = no cap")
    min_free: MinFree = setting(MinFree(), min_free, "always leave this free on the disk (1GB or 5%); 0 = off")


@dataclass
class SnapshotsConfig:
    """JPEG snapshots on disk."""

    enabled: bool = setting(True, boolean, "write JPEG snapshots to <ssd_path>/images", ("ENABLE_IMAGES",))
    interval: float = setting(1.0, number(1, 86400, "seconds"), "seconds between snapshots, 1-86400")
    quality: int = setting(3, whole(2, 31), "JPEG quality scale, 2 (best) to 31 (smallest)")


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
                                   "restart when no new frame arrives for this long, 1-600 seconds")
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
    extra_outputs: list[str] = setting([], name_list,
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
    # Not a setting: where state goes when paths.state_dir is empty. The loader fills it from the environment it
    # was given (XDG_RUNTIME_DIR), so the model itself never reads os.environ.
    default_state_dir: Path = field(default_factory=lambda: default_state_dir({}), repr=False, compare=False)

    # Derived paths ---------------------------------------------------------
    @property
    def video_dir(self) -> Path:
        """Where MP4 chunks are written."""
        return self.paths.ssd_path / layout.VIDEO_DIR

    @property
    def images_dir(self) -> Path:
        """Where JPEG snapshots are written."""
        return self.paths.ssd_path / layout.IMAGES_DIR

    @property
    def latest_dir(self) -> Path:
        """Where the latest_* links live (the first seed's drone_temp)."""
        return self.paths.latest_dir or self.paths.ssd_path / layout.LATEST_DIR

    @property
    def state_dir(self) -> Path:
        """Runtime state: rendered server configs, status file, segment lists."""
        return self.paths.state_dir or self.default_state_dir


def default_state_dir(env: Mapping[str, str]) -> Path:
    """Runtime state when paths.state_dir is empty: $XDG_RUNTIME_DIR/camstream, else ~/.local/state/camstream."""
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "camstream"
    return Path("~/.local/state/camstream").expanduser()
