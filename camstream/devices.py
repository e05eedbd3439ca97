"""V4L2 cameras: parse `v4l2-ctl --list-formats-ext` (old and new layouts) and list /dev/video* devices."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from camstream import proc
from camstream.errors import SourceError

NO_CAMERA = (
    "no camera found (/dev/video* missing): plug in a USB camera (or enable the Pi camera), "
    "check `ls /dev/video*`, or use --source testsrc"
)

# v4l-utils <= 1.20 prints one block per format:   Index : 0 / Type : Video Capture / Pixel Format: 'MJPG' (compressed)
# / Name : Motion-JPEG.  v4l-utils >= 1.22 prints   Type: Video Capture  once, then  [0]: 'MJPG' (Motion-JPEG, compressed).
_OLD_INDEX = re.compile(r"^\s*Index\s*:\s*(\d+)\s*$")
_OLD_TYPE = re.compile(r"^\s*Type\s*:\s*(.+?)\s*$")
_OLD_PIXFMT = re.compile(r"^\s*Pixel Format\s*:\s*'(.{1,4})'\s*(?:\((.*)\))?\s*$")
_OLD_NAME = re.compile(r"^\s*Name\s*:\s*(.*?)\s*$")
_NEW_FORMAT = re.compile(r"^\s*\[(\d+)\]:\s*'(.{1,4})'\s*\((.*)\)\s*$")
_SIZE_DISCRETE = re.compile(r"^\s*Size:\s*Discrete\s+(\d+)x(\d+)\s*$")
_SIZE_RANGE = re.compile(
    r"^\s*Size:\s*(Stepwise|Continuous)\s+(\d+)x(\d+)\s*-\s*(\d+)x(\d+)(?:\s+with step\s+(\d+)/(\d+))?\s*$"
)
_INTERVAL_DISCRETE = re.compile(r"^\s*Interval:\s*Discrete\s+[\d.]+s\s*\(([\d.]+) fps\)\s*$")
_INTERVAL_RANGE = re.compile(r"^\s*Interval:\s*(?:Stepwise|Continuous)\s+.*\(([\d.]+)-([\d.]+) fps\)\s*$")
_FLAGS = ("compressed", "emulated")


@dataclass
class FrameSize:
    """One discrete size and the frame rates offered at it (fps_range when the driver gives a range)."""

    width: int
    height: int
    fps: list[float] = field(default_factory=list)
    fps_range: tuple[float, float] | None = None


@dataclass(frozen=True)
class SizeRange:
    """A stepwise or continuous size range (the Pi camera's bcm2835-v4l2 driver, codecs)."""

    min_width: int
    min_height: int
    max_width: int
    max_height: int
    step_width: int = 1
    step_height: int = 1


@dataclass
class PixelFormat:
    """One pixel format of a device: FourCC, description, flags, and its sizes."""

    fourcc: str
    description: str
    buffer_type: str = "Video Capture"
    compressed: bool = False
    emulated: bool = False
    sizes: list[FrameSize] = field(default_factory=list)
    size_range: SizeRange | None = None


@dataclass
class Device:
    """A /dev/video* node, its card name, and its capture formats."""

    path: str
    card: str
    formats: list[PixelFormat]


def _split_flags(text: str) -> tuple[str, set[str]]:
    """'Motion-JPEG, compressed' -> ('Motion-JPEG', {'compressed'}); old style passes just the flags."""
    parts = [p.strip() for p in text.split(",")]
    flags = set()
    while parts and parts[-1] in _FLAGS:
        flags.add(parts.pop())
    return ", ".join(parts), flags


def parse_list_formats_ext(text: str) -> list[PixelFormat]:
    """Parse `v4l2-ctl --list-formats-ext` output, either layout; unknown lines are ignored."""
    formats: list[PixelFormat] = []
    buffer_type = "Video Capture"
    current: PixelFormat | None = None
    size: FrameSize | None = None
    for line in text.splitlines():
        if m := _NEW_FORMAT.match(line):
            desc, flags = _split_flags(m.group(3))
            current = PixelFormat(m.group(2).strip(), desc, buffer_type, "compressed" in flags, "emulated" in flags)
            formats.append(current)
            size = None
        elif m := _OLD_PIXFMT.match(line):
            _, flags = _split_flags(m.group(2) or "")
            current = PixelFormat(m.group(1).strip(), "", buffer_type, "compressed" in flags, "emulated" in flags)
            formats.append(current)
            size = None
        elif m := _OLD_NAME.match(line):
            if current is not None:
                current.description = m.group(1)
        elif _OLD_INDEX.match(line):
            current, size = None, None
        elif m := _OLD_TYPE.match(line):
            buffer_type = m.group(1)
        elif m := _SIZE_DISCRETE.match(line):
            if current is not None:
                size = FrameSize(int(m.group(1)), int(m.group(2)))
                current.sizes.append(size)
        elif m := _SIZE_RANGE.match(line):
            if current is not None:
                step_w, step_h = (int(m.group(6)), int(m.group(7))) if m.group(6) else (1, 1)
                current.size_range = SizeRange(int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5)), step_w, step_h)
                size = None
        elif m := _INTERVAL_DISCRETE.match(line):
            if size is not None:
                size.fps.append(float(m.group(1)))
        elif m := _INTERVAL_RANGE.match(line):
            if size is not None:
                size.fps_range = (float(m.group(1)), float(m.group(2)))
    return formats


def parse_card(text: str) -> str:
    """The `Card type` line of `v4l2-ctl --info`."""
    m = re.search(r"^\s*Card type\s*:\s*(.*?)\s*$", text, re.MULTILINE)
    return m.group(1) if m else ""


def video_nodes(dev_dir: Path) -> list[Path]:
    """/dev/video* in numeric order (video2 before video10)."""
    nodes = [p for p in dev_dir.glob("video*") if re.fullmatch(r"video\d+", p.name)]
    return sorted(nodes, key=lambda p: int(p.name[5:]))


Runner = Callable[[list[str]], str]


def _v4l2_ctl(argv: list[str]) -> str:
    return proc.run([proc.which("v4l2-ctl"), *argv], timeout=10.0).stdout


def list_devices(dev_dir: Path = Path("/dev"), run: Runner = _v4l2_ctl) -> list[Device]:
    """Every /dev/video* with its formats; SourceError when there is none.

    `dev_dir` is only where nodes are discovered (a re-rooted host in tests); devices are always named
    and opened as /dev/videoN.
    """
    nodes = video_nodes(dev_dir)
    if not nodes:
        raise SourceError(NO_CAMERA)
    devices = []
    for node in nodes:
        path = f"/dev/{node.name}"
        card = parse_card(run(["--device", path, "--info"]))
        formats = parse_list_formats_ext(run(["--device", path, "--list-formats-ext"]))
        devices.append(Device(path, card, formats))
    return devices


def _fps_text(fps: float) -> str:
    return f"{fps:g}"


def format_devices(devices: list[Device]) -> str:
    """Human-readable listing for `camstream devices`."""
    out: list[str] = []
    for dev in devices:
        out.append(f"{dev.path}  {dev.card}".rstrip())
        capture = [f for f in dev.formats if f.buffer_type.startswith("Video Capture")]
        if not capture:
            out.append("  no capture formats (a metadata or codec node, not a camera input)")
        for fmt in capture:
            flags = [f for f, on in (("compressed", fmt.compressed), ("emulated", fmt.emulated)) if on]
            out.append(f"  {fmt.fourcc:<4}  {fmt.description}" + (f" ({', '.join(flags)})" if flags else ""))
            if fmt.size_range:
                r = fmt.size_range
                out.append(
                    f"    any size {r.min_width}x{r.min_height} to {r.max_width}x{r.max_height}"
                    f" in steps of {r.step_width}/{r.step_height}"
                )
            for size in fmt.sizes:
                if size.fps_range:
                    rates = f"{_fps_text(size.fps_range[0])}-{_fps_text(size.fps_range[1])} fps"
                elif size.fps:
                    rates = ", ".join(_fps_text(f) for f in size.fps) + " fps"
                else:
                    rates = "frame rate not reported"
                out.append(f"    {size.width}x{size.height}  {rates}")
    return "\n".join(out) + "\n"
