"""The Raspberry Pi camera module through rpicam-apps: rpicam-vid's argv (pure) and `--list-cameras` parsing.

Options follow the Raspberry Pi camera software documentation (rpicam-apps "Common options", "Camera control
options" and "Video options"). rpicam-vid writes to `-o -`, i.e. its stdout, which the supervisor pipes into
FFmpeg's stdin.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from camstream import proc
from camstream.config import RpicamConfig, VideoConfig
from camstream.encoders import Knobs
from camstream.errors import MissingToolError
from camstream.sources import Source

# rpicam-hello is the listing tool; rpicam-vid accepts --list-cameras too; libcamera-* on older systems.
LIST_TOOLS = ("rpicam-hello", "rpicam-vid", "libcamera-hello", "libcamera-vid")


def mode(requested: str, hardware_encoder: bool) -> str:
    """rpicam.mode=auto: `h264` where the board has a working hardware H.264 encoder (Pi 4), else `yuv` (Pi 5).

    On a Pi 4 rpicam-vid feeds its frames straight to the hardware encoder, which costs almost no CPU and
    spares piping ~1.4 MB per 720p frame into FFmpeg. The Pi 5 has no H.264 hardware: rpicam-vid would encode
    with libav's libx264 at fixed settings, so camstream takes raw YUV420 and does the one encode itself, with
    --preset/--profile/--gop.
    """
    if requested != "auto":
        return requested
    return "h264" if hardware_encoder else "yuv"


def camera_args(rp: RpicamConfig) -> list[str]:
    """Orientation, focus and exposure options; only what differs from the camera's defaults is passed."""
    args: list[str] = []
    if rp.rotation:
        args += ["--rotation", str(rp.rotation)]
    if rp.hflip:
        args.append("--hflip")
    if rp.vflip:
        args.append("--vflip")
    if rp.autofocus != "default":
        args += ["--autofocus-mode", rp.autofocus]
    if rp.lens_position is not None:
        args += ["--lens-position", f"{rp.lens_position:g}"]
    if rp.shutter:
        args += ["--shutter", str(rp.shutter)]
    if rp.gain:
        args += ["--gain", f"{rp.gain:g}"]
    if rp.ev:
        args += ["--ev", f"{rp.ev:g}"]
    if rp.awb != "auto":
        args += ["--awb", rp.awb]
    return args


def vid_argv(source: Source, video: VideoConfig, rp: RpicamConfig, knobs: Knobs, tool: str = "rpicam-vid") -> list[str]:
    """rpicam-vid running forever (-t 0), no preview window, writing raw YUV420 or H.264 to stdout."""
    argv = [tool, "-t", "0", "--nopreview", "--camera", str(source.camera),
            "--width", str(video.width), "--height", str(video.height), "--framerate", str(video.fps),
            *camera_args(rp)]
    if source.h264:
        argv += [
            "--codec", "h264",
            "--inline",  # SPS/PPS before every I-frame, so a late viewer can start
            "--intra", str(knobs.gop_frames),  # keyframe period in frames (--gop)
            "--profile", knobs.profile, "--bitrate", str(video.bitrate),
            # Pi 5's software path: libx264 ultrafast + zerolatency (no B-frames); the Pi 4 hardware has none.
            "--low-latency",
            "--flush",  # write each frame out as soon as it is encoded
        ]
    else:
        argv += ["--codec", "yuv420"]
    return [*argv, "-o", "-"]


@dataclass
class SensorMode:
    """One sensor mode from --list-cameras: raw format, size, top frame rate, crop."""

    format: str
    width: int
    height: int
    fps: float
    crop: str = ""


@dataclass
class LibcameraCamera:
    """A camera libcamera sees: index, sensor, its full size, and modes."""

    index: int
    sensor: str
    width: int
    height: int
    bits: str = ""
    path: str = ""
    modes: list[SensorMode] = field(default_factory=list)


_CAMERA = re.compile(r"^\s*(\d+)\s*:\s*(\S+)\s*\[(\d+)x(\d+)(?:\s+([^\]]*))?\]\s*(?:\((.*)\))?\s*$")
_MODE = re.compile(r"^\s*(?:Modes:\s*)?(?:'([^']+)'\s*:\s*)?(\d+)x(\d+)\s*\[([\d.]+)\s*fps(?:\s*-\s*([^\]]*))?\]")


def parse_list_cameras(text: str) -> list[LibcameraCamera]:
    """Parse `rpicam-hello --list-cameras` (also the older layout without bit depth); unknown lines are ignored."""
    cameras: list[LibcameraCamera] = []
    fmt = ""
    for line in text.splitlines():
        if m := _CAMERA.match(line):
            cameras.append(LibcameraCamera(int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4)),
                                           (m.group(5) or "").strip(), (m.group(6) or "").strip()))
            fmt = ""
        elif (m := _MODE.match(line)) and cameras:
            fmt = m.group(1) or fmt
            cameras[-1].modes.append(SensorMode(fmt, int(m.group(2)), int(m.group(3)), float(m.group(4)),
                                                (m.group(5) or "").removesuffix(" crop").strip()))
    return cameras


Runner = Callable[[list[str]], str]


def _run_tool(argv: list[str]) -> str:
    result = proc.run(argv, timeout=20.0)
    return result.stdout + result.stderr


def find_list_tool() -> str | None:
    """The first rpicam/libcamera tool on PATH that can list cameras."""
    import shutil

    for tool in LIST_TOOLS:
        found = shutil.which(tool)
        if found:
            return found
    return None


def list_cameras(run: Runner = _run_tool, tool: str | None = None) -> list[LibcameraCamera]:
    """libcamera cameras via `rpicam-hello --list-cameras`; MissingToolError without rpicam-apps."""
    tool = tool or find_list_tool()
    if tool is None:
        raise MissingToolError("rpicam-hello", "install it with `sudo apt install rpicam-apps` (Raspberry Pi OS)")
    return parse_list_cameras(run([tool, "--list-cameras"]))


def format_cameras(cameras: list[LibcameraCamera]) -> str:
    """Human-readable listing for `camstream devices`."""
    out: list[str] = []
    for cam in cameras:
        detail = f"{cam.width}x{cam.height}" + (f" {cam.bits}" if cam.bits else "")
        out.append(f"rpicam:{cam.index}  {cam.sensor} [{detail}]" + (f" {cam.path}" if cam.path else ""))
        for m in cam.modes:
            crop = f" (crop {m.crop})" if m.crop else ""
            out.append(f"    {m.format:<14} {m.width}x{m.height}  up to {m.fps:g} fps{crop}")
    return "\n".join(out) + ("\n" if out else "")
