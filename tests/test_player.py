"""`camstream play`: the exact ffplay argv, the OpenCV options, and which player is chosen when."""

from __future__ import annotations

import socket
import sys

import pytest
from typer.testing import CliRunner

from camstream import player, proc
from camstream.cli import app
from camstream.errors import MissingToolError, UsageError

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
