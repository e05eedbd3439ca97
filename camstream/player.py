"""`camstream play`: watch a stream with ffplay at low latency, or an OpenCV window when ffplay is missing."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from collections.abc import Mapping
from urllib.parse import urlsplit

from camstream import proc
from camstream.errors import MissingToolError, ProcessError, UsageError
from camstream.probe import check_transport

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8554
DEFAULT_PATH = "live"

FFPLAY = "ffplay"
OPENCV = "opencv"


def default_url(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, path: str = DEFAULT_PATH) -> str:
    """This machine's own live RTSP URL."""
    return f"rtsp://{host}:{port}/{path.lstrip('/')}"


def _is_rtsp(url: str) -> bool:
    return urlsplit(url).scheme.lower() in ("rtsp", "rtsps")


def ffplay_argv(url: str, transport: str | None = None, ffplay: str = "ffplay") -> list[str]:
    """ffplay argv tuned for latency rather than smoothness."""
    check_transport(transport)
    argv = [
        ffplay, "-hide_banner", "-loglevel", "warning",
        # No demuxer buffering, decoder low-delay mode (ffmpeg-formats fflags, ffmpeg-codecs flags).
        "-fflags", "nobuffer", "-flags", "low_delay",
        # Drop late frames instead of queueing them (ffplay: -framedrop).
        "-framedrop",
        # Do not read seconds of stream to guess parameters before showing the first frame.
        "-probesize", "32", "-analyzeduration", "0",
        # Clock to the external clock so ffplay speeds up to the live edge instead of holding a backlog
        # (ffplay: -sync ext).
        "-sync", "ext",
    ]  # fmt: skip
    if transport and _is_rtsp(url):
        argv += ["-rtsp_transport", transport]
    argv += ["-window_title", f"camstream: {proc.scrub(url)}", url]
    return argv


def opencv_capture_options(url: str, transport: str | None = None) -> str:
    """OPENCV_FFMPEG_CAPTURE_OPTIONS value (key;value|key;value) with the same low-latency choices as ffplay."""
    check_transport(transport)
    options = ["fflags;nobuffer", "flags;low_delay", "probesize;32", "analyzeduration;0"]
    if transport and _is_rtsp(url):
        options.insert(0, f"rtsp_transport;{transport}")
    return "|".join(options)


def has_display(env: Mapping[str, str]) -> bool:
    """True when an X11 or Wayland display is available to open a window on."""
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def choose_player(have_ffplay: bool, have_cv2: bool, have_display: bool) -> str:
    """FFPLAY or OPENCV; raises a UsageError saying what to do when nothing can show the stream."""
    if not have_display:
        raise UsageError(
            "no display to open a window on (DISPLAY and WAYLAND_DISPLAY are unset): "
            "run play from a desktop session, or use `camstream probe URL` for a headless check"
        )
    if have_ffplay:
        return FFPLAY
    if have_cv2:
        return OPENCV
    raise MissingToolError(
        "ffplay", "install it with `sudo apt install ffmpeg`, or `pip install 'camstream[opencv]'` for an OpenCV window"
    )


def gui_backend(build_information: str) -> str | None:
    """The highgui backend named in cv2.getBuildInformation(), or None for a build without one (headless)."""
    match = re.search(r"^\s*GUI:\s*(\S+)", build_information, re.MULTILINE)
    if not match or match.group(1).upper() == "NONE":
        return None
    return match.group(1)


def opencv_can_show() -> bool:
    """True when cv2 is importable and built with a GUI (opencv-python, not opencv-python-headless)."""
    if importlib.util.find_spec("cv2") is None:
        return False
    # opencv is an optional extra (camstream[opencv]) without type stubs; installed or not, mypy may not see it.
    import cv2  # type: ignore[import-not-found, unused-ignore]

    return gui_backend(cv2.getBuildInformation()) is not None


def play(url: str, transport: str | None = None) -> int:
    """Show `url` in a window until it is closed; the player's exit code."""
    check_transport(transport)
    ffplay = shutil.which("ffplay")
    display = has_display(os.environ)
    player = choose_player(ffplay is not None, ffplay is None and display and opencv_can_show(), display)
    if player == FFPLAY:
        assert ffplay is not None
        return _play_ffplay(ffplay_argv(url, transport, ffplay))
    return _play_opencv(url, transport)


def ffplay_failure(tail: list[str], url: str, returncode: int | None) -> str | None:
    """Why ffplay stopped, or None after a normal close.

    ffplay exits 0 even when it cannot open the stream; it then prints "<url>: <reason>" last.
    """
    prefix = f"{proc.scrub(url)}: "
    for line in reversed(tail):
        if line.startswith(prefix):
            return line[len(prefix) :]
    if returncode:
        return tail[-1] if tail else f"exit status {returncode}"
    return None


def _play_ffplay(argv: list[str]) -> int:
    child = proc.Child("ffplay", argv, tail_lines=20)
    child.start()
    try:
        child.wait()
    except KeyboardInterrupt:
        pass
    finally:
        info = child.stop(grace=2.0)
    why = ffplay_failure(info.tail, argv[-1], info.returncode)
    if why:
        raise ProcessError(f"ffplay could not play {proc.scrub(argv[-1])}: {why}; check it with `camstream probe URL`")
    return 0


def _play_opencv(url: str, transport: str | None) -> int:
    # OpenCV reads its FFmpeg options from this variable when the capture opens (OpenCV videoio docs).
    os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = opencv_capture_options(url, transport)
    import cv2  # optional extra: camstream[opencv]

    capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
    if not capture.isOpened():
        raise ProcessError(f"OpenCV could not open {proc.scrub(url)}: check the URL with `camstream probe URL`")
    title = f"camstream: {proc.scrub(url)} (q to quit)"
    try:
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            cv2.imshow(title, frame)
            if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                break
    except KeyboardInterrupt:
        pass
    finally:
        capture.release()
        cv2.destroyAllWindows()
    return 0
