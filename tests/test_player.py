"""`camstream play`: the exact ffplay argv, the OpenCV options, and which player is chosen when."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from camstream import player, proc
from camstream.cli import app
from camstream.errors import MissingToolError, UsageError
from support import ffprobe_stream, free_port

LOW = [
    "-hide_banner", "-loglevel", "warning",
    "-fflags", "nobuffer", "-flags", "low_delay", "-framedrop",
    "-probesize", "32", "-analyzeduration", "0", "-sync", "ext",
]  # fmt: skip


@pytest.mark.parametrize(
    ("url", "transport", "expected"),
    [
        pytest.param(
            "rtsp://127.0.0.1:8554/live", None,
            ["ffplay", *LOW, "-window_title", "camstream: rtsp://127.0.0.1:8554/live", "rtsp://127.0.0.1:8554/live"],
            id="rtsp-auto",
        ),
        pytest.param(
            "rtsp://127.0.0.1:8554/live", "tcp",
            ["ffplay", *LOW, "-rtsp_transport", "tcp",
             "-window_title", "camstream: rtsp://127.0.0.1:8554/live", "rtsp://127.0.0.1:8554/live"],
            id="rtsp-tcp",
        ),
        pytest.param(
            "rtsp://u:secret@10.42.0.1:8554/live", "udp",
            ["ffplay", *LOW, "-rtsp_transport", "udp",
             "-window_title", "camstream: rtsp://***:***@10.42.0.1:8554/live", "rtsp://u:secret@10.42.0.1:8554/live"],
            id="rtsp-credentials-hidden-in-title",
        ),
        pytest.param(
            "rtmp://10.42.0.1:1935/live/cam", "tcp",
            ["ffplay", *LOW, "-window_title", "camstream: rtmp://10.42.0.1:1935/live/cam",
             "rtmp://10.42.0.1:1935/live/cam"],
            id="rtmp-no-rtsp-transport",
        ),
    ],
)  # fmt: skip
def test_ffplay_argv(url: str, transport: str | None, expected: list[str]) -> None:
    assert player.ffplay_argv(url, transport) == expected


def test_ffplay_argv_rejects_an_unknown_transport() -> None:
    with pytest.raises(UsageError, match="udp or tcp"):
        player.ffplay_argv("rtsp://h/live", "http")


@pytest.mark.parametrize(
    ("url", "transport", "expected"),
    [
        pytest.param("rtsp://h/live", "tcp",
                     "rtsp_transport;tcp|fflags;nobuffer|flags;low_delay|probesize;32|analyzeduration;0", id="rtsp"),
        pytest.param("rtmp://h/live/cam", "tcp",
                     "fflags;nobuffer|flags;low_delay|probesize;32|analyzeduration;0", id="rtmp"),
    ],
)  # fmt: skip
def test_opencv_capture_options(url: str, transport: str | None, expected: str) -> None:
    assert player.opencv_capture_options(url, transport) == expected


@pytest.mark.parametrize(
    ("have_ffplay", "have_cv2", "expected"),
    [
        pytest.param(True, True, player.FFPLAY, id="ffplay-preferred"),
        pytest.param(True, False, player.FFPLAY, id="ffplay-only"),
        pytest.param(False, True, player.OPENCV, id="opencv-fallback"),
    ],
)
def test_choose_player(have_ffplay: bool, have_cv2: bool, expected: str) -> None:
    assert player.choose_player(have_ffplay, have_cv2, have_display=True) == expected


def test_choose_player_without_either_says_how_to_get_one() -> None:
    with pytest.raises(MissingToolError, match=r"apt install ffmpeg.*camstream\[opencv\]"):
        player.choose_player(False, False, True)


@pytest.mark.parametrize("have_ffplay", [pytest.param(True, id="ffplay"), pytest.param(False, id="none")])
def test_choose_player_without_display_points_to_probe(have_ffplay: bool) -> None:
    with pytest.raises(UsageError, match="camstream probe") as caught:
        player.choose_player(have_ffplay, True, have_display=False)
    assert not isinstance(caught.value, MissingToolError)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param({}, False, id="none"),
        pytest.param({"DISPLAY": ""}, False, id="empty"),
        pytest.param({"DISPLAY": ":0"}, True, id="x11"),
        pytest.param({"WAYLAND_DISPLAY": "wayland-0"}, True, id="wayland"),
    ],
)
def test_has_display(env: dict[str, str], expected: bool) -> None:
    assert player.has_display(env) is expected


def test_default_url() -> None:
    assert player.default_url() == "rtsp://127.0.0.1:8554/live"
    assert player.default_url("10.42.0.1", 8555, "/cam") == "rtsp://10.42.0.1:8555/cam"


def test_play_without_display_exits_2_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    result = CliRunner().invoke(app, ["play", "rtsp://127.0.0.1:9/live"])
    assert isinstance(result.exception, UsageError)
    assert "no display" in str(result.exception)


def test_play_command_without_display_prints_error_and_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    done = proc.run([sys.executable, "-m", "camstream", "play"], timeout=30)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("error: no display to open a window on")


@pytest.mark.parametrize(
    ("build_information", "expected"),
    [
        pytest.param("  GUI:                           GTK3\n    GTK+:   YES (ver 3.24)\n", "GTK3", id="gtk"),
        pytest.param("  GUI:                           QT5\n", "QT5", id="qt"),
        pytest.param("  GUI:                           NONE\n", None, id="headless-wheel"),
        pytest.param("General configuration for OpenCV 4.9.0\n", None, id="no-gui-line"),
    ],
)
def test_gui_backend(build_information: str, expected: str | None) -> None:
    assert player.gui_backend(build_information) == expected


REFUSED_TAIL = [
    "[tcp @ 0x7fc130001ec0] Connection to tcp://127.0.0.1:1?tcp_nodelay=0 failed: Connection refused",
    "[rtmp @ 0x7fc1300015c0] Cannot open connection tcp://127.0.0.1:1?tcp_nodelay=0",
    "rtmp://127.0.0.1:1/live/cam: Connection refused",
]


@pytest.mark.parametrize(
    ("tail", "url", "code", "expected"),
    [
        pytest.param(REFUSED_TAIL, "rtmp://127.0.0.1:1/live/cam", 0, "Connection refused", id="exit-0-but-failed"),
        pytest.param(["rtsp://***:***@h/live: 401 Unauthorized"], "rtsp://u:p@h/live", 0, "401 Unauthorized",
                     id="scrubbed-url"),
        pytest.param(["nan    :  0.000 fd=   0"], "rtsp://h/live", 0, None, id="closed-by-user"),
        pytest.param(["SDL error"], "rtsp://h/live", 1, "SDL error", id="nonzero-exit"),
    ],
)  # fmt: skip
def test_ffplay_failure(tail: list[str], url: str, code: int, expected: str | None) -> None:
    assert player.ffplay_failure(tail, url, code) == expected


def test_play_command_reports_a_refused_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real ffplay (SDL dummy drivers, no window) against a closed port: exit 1 and the reason, not silence."""
    try:
        proc.which("ffplay")
    except MissingToolError:
        pytest.skip("ffplay is not installed")
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    url = f"rtmp://127.0.0.1:{closed}/live/cam"
    done = proc.run([sys.executable, "-m", "camstream", "play", url], timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == f"error: ffplay could not play {url}: Connection refused; check it with `camstream probe URL`"


GST_TAIL = ["!", "avdec_h264", "!", "videoconvert", "!"]


@pytest.mark.parametrize(
    ("url", "transport", "sink", "frames", "expected"),
    [
        pytest.param("rtsp://127.0.0.1:8554/live", None, "autovideosink", None,
                     ["gst-launch-1.0", "-q", "rtspsrc", "location=rtsp://127.0.0.1:8554/live", "latency=0",
                      "buffer-mode=none", "!", "rtph264depay", *GST_TAIL, "autovideosink", "sync=false"],
                     id="rtsp-window"),
        pytest.param("rtsp://127.0.0.1:8554/live", "tcp", "autovideosink", None,
                     ["gst-launch-1.0", "-q", "rtspsrc", "location=rtsp://127.0.0.1:8554/live", "latency=0",
                      "buffer-mode=none", "protocols=tcp", "!", "rtph264depay", *GST_TAIL, "autovideosink",
                      "sync=false"],
                     id="rtsp-tcp"),
        pytest.param("rtsp://h:8554/live", "udp", "fakesink", 30,
                     ["gst-launch-1.0", "-q", "rtspsrc", "location=rtsp://h:8554/live", "latency=0",
                      "buffer-mode=none", "protocols=udp", "!", "rtph264depay", *GST_TAIL,
                      "identity", "eos-after=30", "!", "fakesink", "sync=false"],
                     id="rtsp-headless-frames"),
        pytest.param("rtmp://h:1935/live/cam", None, "xvimagesink", None,
                     ["gst-launch-1.0", "-q", "rtmp2src", "location=rtmp://h:1935/live/cam", "!", "flvdemux", "!",
                      "h264parse", *GST_TAIL, "xvimagesink", "sync=false"],
                     id="rtmp"),
    ],
)  # fmt: skip
def test_gst_argv(url: str, transport: str | None, sink: str, frames: int | None, expected: list[str]) -> None:
    assert player.gst_argv(url, transport, sink, frames) == expected


@pytest.mark.parametrize(
    ("url", "sink", "match"),
    [
        pytest.param("srt://h:9000", "autovideosink", "rtsp:// and rtmp://", id="scheme"),
        pytest.param("rtsp://h/live", "fakesink ! x", "sink element name", id="sink-injection"),
    ],
)
def test_gst_argv_rejects(url: str, sink: str, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        player.gst_argv(url, None, sink)


@pytest.mark.parametrize(
    ("tail", "returncode", "expected"),
    [
        pytest.param(["ERROR: from element /GstPipeline:pipeline0/GstRTSPSrc:rtspsrc0: Could not open resource.",
                      "Additional debug info:", "ERROR: pipeline doesn't want to preroll."], 1,
                     "Could not open resource (rtspsrc0)", id="element-error"),
        pytest.param(["Progress: (connect) Connecting to rtsp://127.0.0.1:9/live",
                      "ERROR: from element /GstPipeline:pipeline0/GstRTSPSrc:rtspsrc0: Could not open resource for "
                      "reading and writing.",
                      "Additional debug info:",
                      "../gst/rtsp/gstrtspsrc.c(8336): gst_rtspsrc_retrieve_sdp (): /GstPipeline:pipeline0/"
                      "GstRTSPSrc:rtspsrc0:",
                      "Failed to connect. (Generic error)",
                      "ERROR: pipeline doesn't want to preroll."], 1,
                     "Could not open resource for reading and writing (rtspsrc0: Failed to connect. (Generic error))",
                     id="element-error-with-detail"),  # gst-launch-1.0 1.22, nothing listening
        pytest.param([], 0, None, id="eos"),
        pytest.param([], -2, None, id="interrupted"),
        pytest.param(["something odd"], 3, "something odd", id="other-exit"),
    ],
)  # fmt: skip
def test_gst_failure(tail: list[str], returncode: int, expected: str | None) -> None:
    assert player.gst_failure(tail, returncode) == expected


def test_play_gst_without_display_exits_2_unless_headless(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    done = subprocess.run([sys.executable, "-m", "camstream", "play", "--player", "gst", "rtsp://127.0.0.1:9/live"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: no display to open a window on")
    # fakesink needs no display: it gets as far as connecting, and says why it could not.
    refused = subprocess.run([sys.executable, "-m", "camstream", "play", "--player", "gst", "--video-sink", "fakesink",
                              f"rtsp://127.0.0.1:{free_port()}/live"], capture_output=True, text=True, timeout=60,
                             env=env)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.startswith("error: GStreamer could not play rtsp://127.0.0.1:"), refused.stderr
    assert len(refused.stderr.splitlines()) == 1


def test_video_sink_needs_the_gst_player() -> None:
    done = subprocess.run([sys.executable, "-m", "camstream", "play", "--video-sink", "fakesink", "rtsp://h/live"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr == "error: --video-sink and --frames: only with --player gst\n"


@pytest.mark.slow
def test_play_gst_decodes_a_real_camstream_rtsp_stream(camstream_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Headless: `camstream play --player gst --video-sink fakesink --frames 30` against a real camstream run."""
    port = free_port()
    cs = camstream_run("--source", "testsrc", "--resolution", "320x240", "--rtsp", "--rtsp-port", str(port),
                       "--no-record", "--no-snapshots", "--state-dir", str(tmp_path / "state"), "--duration", "60")
    url = f"rtsp://127.0.0.1:{port}/live"
    cs.wait_for(lambda: ffprobe_stream(url, "-rtsp_transport", "tcp").get("codec_name") == "h264", 30, "RTSP stream")
    for transport in ("udp", "tcp"):
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "camstream", "play", "--player", "gst", "--transport", transport,
                               "--video-sink", "fakesink", "--frames", "30", url],
                              capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, (transport, done.stderr)
        assert done.stderr == "" and done.stdout == ""
        assert time.monotonic() - started >= 0.9  # 30 frames at 30 fps really flowed (not an instant EOS)
