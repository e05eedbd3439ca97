"""`camstream play`: watch a stream with ffplay or GStreamer at low latency, or OpenCV when ffplay is missing."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from camstream import proc
from camstream.errors import MissingToolError, ProcessError, UsageError
from camstream.probe import check_transport

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8554
DEFAULT_PATH = "live"

FFPLAY = "ffplay"
OPENCV = "opencv"
GST = "gst"
PLAYERS = ("auto", FFPLAY, GST)
DEFAULT_VIDEO_SINK = "autovideosink"


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


def gst_argv(url: str, transport: str | None = None, video_sink: str = DEFAULT_VIDEO_SINK, frames: int | None = None,
             gst: str = "gst-launch-1.0") -> list[str]:
    """gst-launch argv that shows `url` with the least delay GStreamer allows (the bench's lowest-latency viewer).

    FFmpeg's RTP H.264 depacketiser ends a frame only when the next one starts (bench/gst_viewer.py), so ffplay
    shows every frame at least one frame interval late; rtph264depay ends it at the RTP marker bit.
    """
    check_transport(transport)
    if _is_rtsp(url):
        # latency=0: no jitterbuffer wait; buffer-mode=none: no timestamp smoothing (rtspsrc docs).
        source = ["rtspsrc", f"location={url}", "latency=0", "buffer-mode=none"]
        if transport:
            source.append(f"protocols={transport}")
        source += ["!", "rtph264depay"]
    elif urlsplit(url).scheme.lower() in ("rtmp", "rtmps"):
        source = ["rtmp2src", f"location={url}", "!", "flvdemux", "!", "h264parse"]
    else:
        raise UsageError(f"{proc.scrub(url)}: --player gst plays rtsp:// and rtmp:// URLs; use ffplay for others")
    if not re.fullmatch(r"[a-z0-9]+", video_sink):
        raise UsageError(f"--video-sink {video_sink}: expected a GStreamer sink element name, e.g. autovideosink, "
                         "xvimagesink, glimagesink, fakesink")
    # identity eos-after=N ends the pipeline (exit 0) after N decoded frames: a headless check of a stream.
    stop = ["identity", f"eos-after={frames}", "!"] if frames else []
    return [
        gst, "-q", *source, "!", "avdec_h264", "!", "videoconvert", "!", *stop,
        # sync=false: show each frame the moment it is decoded, as ffplay's -sync ext catches up to the live edge.
        video_sink, "sync=false",
    ]  # fmt: skip


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


def play(url: str, transport: str | None = None, player: str = "auto", video_sink: str = DEFAULT_VIDEO_SINK,
         frames: int | None = None) -> int:
    """Show `url` in a window until it is closed (or `frames` were shown, with GStreamer); the exit code."""
    check_transport(transport)
    if player not in PLAYERS:
        raise UsageError(f"--player {player}: expected one of {', '.join(PLAYERS)}")
    if player == GST:
        if video_sink != "fakesink" and not has_display(os.environ):
            choose_player(True, False, have_display=False)  # raises the same "no display" error as ffplay
        gst = proc.which("gst-launch-1.0")
        return _play("GStreamer", gst_argv(url, transport, video_sink, frames, gst), url, gst_failure)
    if player == FFPLAY:
        if not has_display(os.environ):
            choose_player(True, False, have_display=False)
        return _play("ffplay", ffplay_argv(url, transport, proc.which("ffplay")), url,
                     lambda tail, code: ffplay_failure(tail, url, code))
    ffplay = shutil.which("ffplay")
    display = has_display(os.environ)
    player = choose_player(ffplay is not None, ffplay is None and display and opencv_can_show(), display)
    if player == FFPLAY:
        assert ffplay is not None
        return _play("ffplay", ffplay_argv(url, transport, ffplay), url, lambda tail, code: ffplay_failure(tail, url, code))
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


def gst_failure(tail: list[str], returncode: int | None) -> str | None:
    """Why gst-launch stopped, or None after a normal end (window closed, EOS, or interrupted)."""
    errors = [line for line in tail if line.startswith("ERROR:")]
    for i, line in enumerate(tail):  # the element's own message comes first, "pipeline doesn't want to preroll" after
        match = re.match(r"ERROR: from element (\S+): (.*)", line)
        if match:
            # gst-launch prints "Additional debug info:", the source location, then the element's own detail
            # ("Failed to connect. (Generic error)"): the detail and the element say which step failed.
            element = match.group(1).rsplit("/", 1)[-1].partition(":")[2]
            rest = tail[i + 1 : i + 4]
            detail = rest[2].strip() if len(rest) == 3 and rest[0] == "Additional debug info:" else ""
            if detail.startswith("ERROR:"):
                detail = ""
            return f"{match.group(2).rstrip('.')} ({element}{': ' + detail.rstrip('.') if detail else ''})"
    if errors:
        return errors[0][len("ERROR:") :].strip()
    if returncode not in (0, None, -2, 130):
        return tail[-1] if tail else f"exit status {returncode}"
    return None


def _play(label: str, argv: list[str], url: str, why_stopped: Callable[[list[str], int | None], str | None]) -> int:
    """Run a player until it is closed or interrupted; a failure becomes one ProcessError line."""
    child = proc.Child(label, argv, tail_lines=20)
    child.start()
    try:
        child.wait()
    except KeyboardInterrupt:
        pass
    finally:
        info = child.stop(grace=2.0)
    why = why_stopped(info.tail, info.returncode)
    if why:
        raise ProcessError(f"{label} could not play {proc.scrub(url)}: {why.rstrip('.')}; check it with `camstream probe URL`")
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
