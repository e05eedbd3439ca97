"""Video sources (V4L2 device, test pattern, file, FIFO, URL) and the FFmpeg input arguments for each."""

from __future__ import annotations

import os
import re
import shutil
import stat
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from camstream.config import VideoConfig
from camstream.errors import SourceError

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


class SourceKind(str, Enum):
    """What a --source value names."""

    TESTSRC = "testsrc"
    V4L2 = "v4l2"
    FILE = "file"
    PIPE = "pipe"
    URL = "url"
    RPICAM = "rpicam"


# rpicam-apps' video tool; Raspberry Pi OS before Bookworm ships it as libcamera-vid (same options).
RPICAM_TOOLS = ("rpicam-vid", "libcamera-vid")
_RPICAM = re.compile(r"^(?:rpicam|libcamera)(?::(\d+))?$")


@dataclass(frozen=True)
class Source:
    """A classified source: kind plus the path or URL FFmpeg opens."""

    kind: SourceKind
    spec: str
    # rpicam only: rpicam-vid sends its own H.264 (the one encode) instead of raw YUV420 (see app.rpicam_mode).
    h264: bool = False

    @property
    def camera(self) -> int:
        """The libcamera camera index of an rpicam source (rpicam:N; 0 when not given)."""
        match = _RPICAM.match(self.spec)
        return int(match.group(1)) if match and match.group(1) else 0

    @property
    def is_live(self) -> bool:
        """Live sources pace themselves; files must be read at native rate (-re)."""
        return self.kind is not SourceKind.FILE

    @property
    def path(self) -> Path | None:
        """Filesystem path for device/file/pipe sources (what the watchdog waits for when it vanishes)."""
        return Path(self.spec) if self.kind in (SourceKind.V4L2, SourceKind.FILE, SourceKind.PIPE) else None


def classify(spec: str, *, check_exists: bool = True) -> Source:
    """Classify a --source value by looking at the filesystem; raise SourceError when it names nothing."""
    value = spec.strip()
    if value.lower() in ("testsrc", "test", "testpattern"):
        return Source(SourceKind.TESTSRC, "testsrc")
    if match := _RPICAM.match(value.lower()):
        return Source(SourceKind.RPICAM, f"rpicam:{int(match.group(1) or 0)}")
    if _URL.match(value):
        return Source(SourceKind.URL, value)
    path = Path(value)
    is_device_name = value.startswith("/dev/")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if not check_exists:
            return Source(SourceKind.V4L2 if is_device_name else SourceKind.FILE, value)
        if is_device_name:
            raise SourceError(
                f"source {value}: no such device: plug the camera in, list cameras with `camstream devices`, "
                "or try --source testsrc"
            ) from None
        raise SourceError(
            f"source {value}: no such file: give a V4L2 device, a file, a URL, or --source testsrc"
        ) from None
    except PermissionError:
        raise SourceError(f"source {value}: permission denied: add your user to the 'video' group") from None
    if stat.S_ISCHR(mode):
        return Source(SourceKind.V4L2, value)
    if stat.S_ISFIFO(mode):
        return Source(SourceKind.PIPE, value)
    if stat.S_ISREG(mode):
        return Source(SourceKind.FILE, value)
    raise SourceError(f"source {value}: not a camera device, file or pipe: give a V4L2 device, a file or a URL")


def find_rpicam() -> str | None:
    """Absolute path of rpicam-vid, else libcamera-vid, else None."""
    for tool in RPICAM_TOOLS:
        found = shutil.which(tool)
        if found:
            return found
    return None


def exists(source: Source) -> bool:
    """Whether the source is present now: its device/file/pipe, or rpicam-vid on PATH (URLs, testsrc always are)."""
    if source.kind is SourceKind.RPICAM:
        return find_rpicam() is not None
    return source.path is None or source.path.exists()


def input_args(source: Source, video: VideoConfig) -> list[str]:
    """FFmpeg arguments that open `source` (everything up to and including `-i`)."""
    size = f"{video.width}x{video.height}"
    if source.kind is SourceKind.TESTSRC:
        # lavfi generates as fast as the CPU allows; -re paces it to real time like a camera.
        return ["-re", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={video.fps}"]
    if source.kind is SourceKind.V4L2:
        args = ["-f", "v4l2", "-thread_queue_size", "64"]
        if video.input_format != "auto":
            args += ["-input_format", video.input_format]
        return [*args, "-video_size", size, "-framerate", str(video.fps), "-i", source.spec]
    if source.kind is SourceKind.FILE:
        # Loop the file forever, read at native speed so it behaves like a live camera.
        return ["-re", "-stream_loop", "-1", "-i", source.spec]
    if source.kind is SourceKind.PIPE:
        # A FIFO writer (e.g. a Y4M generator) paces itself; a small probe starts decoding sooner.
        return ["-probesize", "32768", "-i", source.spec]
    if source.kind is SourceKind.RPICAM:
        if source.h264:
            # rpicam-vid's Annex-B H.264 with SPS/PPS inline (--inline); the rate is not in the stream, so say it.
            return ["-f", "h264", "-framerate", str(video.fps), "-probesize", "32768", "-i", "pipe:0"]
        # rpicam-vid --codec yuv420 writes bare I420 frames: size and rate must be given (FFmpeg rawvideo demuxer).
        return ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-video_size", size, "-framerate", str(video.fps),
                "-i", "pipe:0"]
    if source.spec.startswith(("rtsp://", "rtsps://")):
        return ["-rtsp_transport", "tcp", "-i", source.spec]
    return ["-i", source.spec]


def passthrough(source: Source, video: VideoConfig) -> bool:
    """True when the camera already delivers H.264 and camstream should not re-encode it."""
    if source.kind is SourceKind.RPICAM:
        return source.h264
    return source.kind is SourceKind.V4L2 and video.input_format == "h264"


def clock_overlay() -> str:
    """drawtext filter showing the wall clock, so a viewer can see the test pattern is live."""
    # %{localtime} expands per frame (FFmpeg filters manual, drawtext "Text expansion").
    return "drawtext=text=%{localtime}:x=16:y=h-th-16:fontsize=h/18:fontcolor=white:box=1:boxcolor=black@0.6"
